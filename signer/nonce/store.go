package nonce

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
)

// Key layout: 'a' | chain (8, big endian) | address (20) → account state;
// 'r' | chain | address | nonce (8, big endian) → record. Records of an account sort by
// nonce, so settling the floor is one range deletion.
const (
	prefixAccount = 'a'
	prefixRecord  = 'r'
	acctKeyLen    = 1 + 8 + common.AddressLength
)

type account struct {
	chain uint64
	from  common.Address
}

func (a account) key(prefix byte) []byte {
	k := make([]byte, acctKeyLen, acctKeyLen+8)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:9], a.chain)
	copy(k[9:], a.from[:])
	return k
}

func (a account) recordKey(nonce uint64) []byte {
	return binary.BigEndian.AppendUint64(a.key(prefixRecord), nonce)
}

// state is an account's persisted counters; see the package doc.
type state struct {
	initialized bool     // next came from the chain since the last Resync
	next        uint64   // lowest nonce never handed out
	floor       uint64   // every nonce below is settled
	free        []uint64 // released nonces in [floor, next), ascending
}

const stateVersion = 1

func (s state) encode() []byte {
	b := make([]byte, 0, 2+8+8+4+8*len(s.free))
	flags := byte(0)
	if s.initialized {
		flags = 1
	}
	b = append(b, stateVersion, flags)
	b = binary.BigEndian.AppendUint64(b, s.next)
	b = binary.BigEndian.AppendUint64(b, s.floor)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.free)))
	for _, n := range s.free {
		b = binary.BigEndian.AppendUint64(b, n)
	}
	return b
}

func decodeState(b []byte) (state, error) {
	if len(b) < 22 || b[0] != stateVersion {
		return state{}, errors.New("nonce: corrupt account state")
	}
	s := state{initialized: b[1]&1 == 1, next: binary.BigEndian.Uint64(b[2:10]), floor: binary.BigEndian.Uint64(b[10:18])}
	n := int(binary.BigEndian.Uint32(b[18:22]))
	if len(b) != 22+8*n {
		return state{}, errors.New("nonce: corrupt account state")
	}
	for i := range n {
		s.free = append(s.free, binary.BigEndian.Uint64(b[22+8*i:]))
	}
	return s, nil
}

func (s state) clone() state {
	s.free = slices.Clone(s.free)
	return s
}

func (s state) isFree(n uint64) bool {
	_, ok := slices.BinarySearch(s.free, n)
	return ok
}

// Replacement is how a caller declares a payload at a nonce that already has one.
type Replacement uint8

// Kinds of payload. The Manager trusts the declaration; see [Classify].
const (
	// Original is a payload that replaces nothing.
	Original Replacement = iota
	// SpeedUp is the same transaction (to, value, data) with higher fees.
	SpeedUp
	// Cancel is a zero-value transfer to the sender itself with higher fees.
	Cancel
)

func (r Replacement) String() string {
	switch r {
	case Original:
		return "original"
	case SpeedUp:
		return "speed-up"
	case Cancel:
		return "cancel"
	}
	return fmt.Sprintf("replacement(%d)", uint8(r))
}

// Payload is one payload hash accepted at a nonce and how it was declared.
type Payload struct {
	Hash [32]byte
	Kind Replacement
}

// Record is what was accepted for signing at one nonce: the original first, then the
// accepted replacements in order.
type Record struct {
	Nonce    uint64
	Payloads []Payload
}

// Replacements is the number of replacements accepted at the nonce.
func (r Record) Replacements() int { return max(len(r.Payloads)-1, 0) }

// Has reports whether hash was accepted at the nonce.
func (r Record) Has(hash [32]byte) bool {
	return slices.ContainsFunc(r.Payloads, func(p Payload) bool { return p.Hash == hash })
}

const recordVersion = 1

func (r Record) encode() []byte {
	b := make([]byte, 0, 2+33*len(r.Payloads))
	b = append(b, recordVersion, byte(len(r.Payloads)))
	for _, p := range r.Payloads {
		b = append(b, byte(p.Kind))
		b = append(b, p.Hash[:]...)
	}
	return b
}

func decodeRecord(nonce uint64, b []byte) (Record, error) {
	if len(b) < 2 || b[0] != recordVersion || len(b) != 2+33*int(b[1]) || b[1] == 0 {
		return Record{}, fmt.Errorf("nonce: corrupt record at nonce %d", nonce)
	}
	r := Record{Nonce: nonce, Payloads: make([]Payload, b[1])}
	for i := range r.Payloads {
		o := 2 + 33*i
		r.Payloads[i].Kind = Replacement(b[o])
		copy(r.Payloads[i].Hash[:], b[o+1:o+33])
	}
	return r, nil
}
