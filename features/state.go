package features

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// State is where an Engine keeps its per-entity history: a key-value map with ordered
// prefix scans. *stream.Store (the runtime's changelogged store) satisfies it, so does
// MemState. Scan's fn must not write to the State.
type State interface {
	Get(key []byte) ([]byte, bool, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	Scan(prefix []byte, fn func(key, value []byte) error) error
}

// MemState is an in-memory State for tests and offline backfills: a map plus a sorted
// key index kept in chunks of at most memChunk keys, so that Put and Delete cost
// O(log n + memChunk) and Scan O(log n + matches). Not safe for concurrent use.
type MemState struct {
	m      map[string][]byte
	chunks [][]memKey // each sorted and non-empty; chunk i's keys sort before chunk i+1's
}

// memKey is a key of MemState's index, also as bytes for Scan.
type memKey struct {
	s string
	b []byte
}

func cmpKey(k memKey, s string) int { return strings.Compare(k.s, s) }

// memChunk is the largest chunk of MemState's key index: inserting into one sorted
// slice of every key moved O(n) keys per Put.
const memChunk = 256

// NewMemState returns an empty MemState.
func NewMemState() *MemState { return &MemState{m: map[string][]byte{}} }

// Get returns the value of key.
func (s *MemState) Get(key []byte) ([]byte, bool, error) {
	v, ok := s.m[string(key)]
	return v, ok, nil
}

// chunk returns the index of the chunk that holds k, or would: the first whose last key
// is >= k, else the last chunk.
func (s *MemState) chunk(k string) int {
	i, _ := slices.BinarySearchFunc(s.chunks, k, func(c []memKey, k string) int { return cmpKey(c[len(c)-1], k) })
	return min(i, len(s.chunks)-1)
}

// Put sets key to a copy of value.
func (s *MemState) Put(key, value []byte) error {
	k := string(key)
	if _, ok := s.m[k]; !ok {
		mk := memKey{s: k, b: []byte(k)}
		if len(s.chunks) == 0 {
			s.chunks = append(s.chunks, []memKey{mk})
		} else {
			c := s.chunk(k)
			i, _ := slices.BinarySearchFunc(s.chunks[c], k, cmpKey)
			s.chunks[c] = slices.Insert(s.chunks[c], i, mk)
			if n := len(s.chunks[c]); n > memChunk {
				hi := slices.Clone(s.chunks[c][n/2:])
				s.chunks[c] = slices.Clip(s.chunks[c][:n/2])
				s.chunks = slices.Insert(s.chunks, c+1, hi)
			}
		}
	}
	s.m[k] = bytes.Clone(value)
	return nil
}

// Delete removes key.
func (s *MemState) Delete(key []byte) error {
	k := string(key)
	if _, ok := s.m[k]; ok {
		c := s.chunk(k)
		i, _ := slices.BinarySearchFunc(s.chunks[c], k, cmpKey)
		s.chunks[c] = slices.Delete(s.chunks[c], i, i+1)
		if len(s.chunks[c]) == 0 {
			s.chunks = slices.Delete(s.chunks, c, c+1)
		}
		delete(s.m, k)
	}
	return nil
}

// Scan calls fn for every key with prefix, in key order. fn must not write to s, nor
// modify the key or the value.
func (s *MemState) Scan(prefix []byte, fn func(key, value []byte) error) error {
	if len(s.chunks) == 0 {
		return nil
	}
	p := string(prefix)
	c := s.chunk(p)
	i, _ := slices.BinarySearchFunc(s.chunks[c], p, cmpKey)
	for ; c < len(s.chunks); c, i = c+1, 0 {
		for _, k := range s.chunks[c][i:] {
			if !strings.HasPrefix(k.s, p) {
				return nil
			}
			if err := fn(k.b, s.m[k.s]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Len returns the number of keys held.
func (s *MemState) Len() int { return len(s.m) }

// Key layout of the Engine's State:
//
//	'e' len(entity)(2) entity at(8, sign-flipped nanos) dir(1) eventID -> counterparty, asset, amount
//	'i' dir(1) eventID                                         -> at(8) entity
//	'p' len(entity)(2) entity counterparty                     -> count(uvarint) firstAt(8) firstRef
//	'x' eventID                                                -> retraction time(8)
//	'g' entity                                                 -> generation(uvarint)
//
// 'e' is the event log, visited in (time, direction, id) order — the order that defines
// "before" for the point-in-time features. 'i' finds an event's log entry from its id
// (for retractions and duplicate checks). 'p' is what the entity has done with one
// counterparty, for new_counterparty; firstRef is dir+eventID of the earliest live event
// ("" once that event has been retracted and the next earliest is older than the log).
// 'x' remembers a retracted id so that the event, if it arrives after its retraction,
// is dropped. 'g' counts the retractions that changed the entity's history (see
// Engine.Generation).
const (
	tagGeneration = 'g'
	tagEvent      = 'e'
	tagIndex      = 'i'
	tagPair       = 'p'
	tagRetracted  = 'x'
)

var errMalformed = errors.New("features: malformed state entry")

func appendTime(b []byte, at time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(at.UnixNano())^(1<<63))
}

func readTime(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)^(1<<63))).UTC()
}

func entityPrefix(tag byte, entity string) []byte {
	p := make([]byte, 0, 3+len(entity)+8+1+64)
	p = append(p, tag)
	p = binary.BigEndian.AppendUint16(p, uint16(len(entity)))
	return append(p, entity...)
}

// ref is what orders and names one event of an entity's log: dir + event id.
func ref(dir Direction, id string) []byte { return append([]byte{byte(dir)}, id...) }

func eventKey(entity string, at time.Time, r []byte) []byte {
	return append(appendTime(entityPrefix(tagEvent, entity), at), r...)
}

func indexKey(r []byte) []byte { return append([]byte{tagIndex}, r...) }

func pairKey(entity, counterparty string) []byte {
	return append(entityPrefix(tagPair, entity), counterparty...)
}

func retractedKey(id string) []byte { return append([]byte{tagRetracted}, id...) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, errMalformed
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

// readBytes is readString without the copy: the result slices b.
func readBytes(b []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, errMalformed
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// stored is one event of an entity's log.
type stored struct {
	at           time.Time
	ref          []byte // dir + id
	counterparty string
	cp           int32 // in a query's events: the counterparty's id there (query.cps)
	aid          int32 // and the asset's (query.assets)
	asset        string
	amount       *big.Int
}

func (s *stored) dir() Direction { return Direction(s.ref[0]) }

func encodeStored(counterparty, asset string, amount *big.Int) []byte {
	b := appendString(nil, counterparty)
	b = appendString(b, asset)
	return append(b, amount.Bytes()...)
}

func decodeStored(prefixLen int, k, v []byte) (stored, error) {
	rest := k[prefixLen:]
	if len(rest) < 9 {
		return stored{}, fmt.Errorf("%w: event key", errMalformed)
	}
	s := stored{at: readTime(rest), ref: bytes.Clone(rest[8:])}
	var err error
	if s.counterparty, v, err = readString(v); err != nil {
		return stored{}, err
	}
	if s.asset, v, err = readString(v); err != nil {
		return stored{}, err
	}
	s.amount = new(big.Int).SetBytes(v)
	return s, nil
}

// pair is what an entity has done with one counterparty.
type pair struct {
	count    uint64
	firstAt  time.Time
	firstRef []byte
}

func encodePair(p pair) []byte {
	b := binary.AppendUvarint(nil, p.count)
	b = appendTime(b, p.firstAt)
	return append(b, p.firstRef...)
}

func decodePair(v []byte) (pair, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || len(v) < k+8 {
		return pair{}, fmt.Errorf("%w: pair", errMalformed)
	}
	return pair{count: n, firstAt: readTime(v[k:]), firstRef: bytes.Clone(v[k+8:])}, nil
}

// before reports whether (a, ra) sorts before (b, rb) in log order.
func before(a time.Time, ra []byte, b time.Time, rb []byte) bool {
	if !a.Equal(b) {
		return a.Before(b)
	}
	return bytes.Compare(ra, rb) < 0
}
