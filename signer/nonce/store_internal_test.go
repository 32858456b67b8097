package nonce

import (
	"bytes"
	"testing"
)

// FuzzDecode checks that the decoders of persisted state never panic and that what
// they accept encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(state{initialized: true, next: 9, floor: 3, free: []uint64{4, 7}}.encode())
	f.Add(Record{Nonce: 1, Payloads: []Payload{{Hash: [32]byte{1}}, {Hash: [32]byte{2}, Kind: Cancel}}}.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeState(b); err == nil {
			if b[1] <= 1 && !bytes.Equal(s.encode(), b) {
				t.Fatalf("state %x re-encodes to %x", b, s.encode())
			}
		}
		if r, err := decodeRecord(5, b); err == nil && !bytes.Equal(r.encode(), b) {
			t.Fatalf("record %x re-encodes to %x", b, r.encode())
		}
	})
}
