// Package eventid derives deterministic event ids (weir.common.v1.Meta.event_id).
//
// An id is 64 lowercase hex digits: the SHA-256 of the event kind followed by the parts
// that make the event unique, each written as its length in bytes (8 bytes, big-endian)
// and then its bytes. Length-prefixing makes the encoding unambiguous: ("ab", "c") and
// ("a", "bc") give different ids. The same inputs always give the same id, so a producer
// that crashes and re-emits an event, or two indexers reading the same chain, produce
// the same id, and consumers deduplicate on it.
//
// The kind is the full name of the event's protobuf message ("weir.chain.v1.Transfer"), so
// two different events derived from the same source (a log that is both a Log and a
// Transfer) get different ids. The chain helpers include the block hash, so a transaction
// that a reorg moves into another block is a new event, distinct from the retracted one.
//
// All functions are pure and safe for concurrent use.
package eventid

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
)

// Len is the length of every id: 64 lowercase hex digits.
const Len = 2 * sha256.Size

// New returns the id of an event of the given kind (its message's full name) whose
// natural key is parts, e.g. New("weir.payments.v1.IntentTransition", intentID, "3").
// Numbers are passed in decimal (strconv.FormatUint).
func New(kind string, parts ...string) string {
	h := sha256.New()
	var n [8]byte
	write := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	write(kind)
	for _, p := range parts {
		write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ChainBlock returns the id of a block-level event (weir.chain.v1.Block): New(kind,
// "block", chain id, block hash). Hashes are lowercased first, so checksummed or
// upper-case hex gives the same id.
func ChainBlock(kind string, chainID uint64, blockHash string) string {
	return New(kind, "block", u64(chainID), strings.ToLower(blockHash))
}

// ChainTx returns the id of a transaction-level event (Transaction, Receipt): New(kind,
// "tx", chain id, block hash, tx hash), hashes lowercased.
func ChainTx(kind string, chainID uint64, blockHash, txHash string) string {
	return New(kind, "tx", u64(chainID), strings.ToLower(blockHash), strings.ToLower(txHash))
}

// ChainLog returns the id of a log-level event (Log, ERC-20/721/1155 Transfer, Approval):
// New(kind, "log", chain id, block hash, tx hash, log index, sub index), hashes
// lowercased. logIndex is the block-wide log index; subIndex tells apart several events
// of one log (the position in an ERC-1155 TransferBatch) and is 0 otherwise.
func ChainLog(kind string, chainID uint64, blockHash, txHash string, logIndex, subIndex uint32) string {
	return New(kind, "log", u64(chainID), strings.ToLower(blockHash), strings.ToLower(txHash),
		u64(uint64(logIndex)), u64(uint64(subIndex)))
}

// ChainTrace returns the id of a call-level event (a native or internal Transfer):
// New(kind, "trace", chain id, block hash, tx hash, trace address), hashes lowercased.
// traceAddress is the call's path in the call tree, "" for the top-level call, "0.2.1"
// for the second child's first child of the first call.
func ChainTrace(kind string, chainID uint64, blockHash, txHash, traceAddress string) string {
	return New(kind, "trace", u64(chainID), strings.ToLower(blockHash), strings.ToLower(txHash), traceAddress)
}

// Valid reports whether id has the form of an id made by this package: 64 lowercase hex
// digits. It cannot tell how the id was derived.
func Valid(id string) bool {
	if len(id) != Len {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
