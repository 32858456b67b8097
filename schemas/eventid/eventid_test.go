package eventid

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestNewIsTheDocumentedEncoding(t *testing.T) {
	// SHA-256 of len("k")=1 as 8 bytes, "k", len("ab")=2, "ab".
	in := []byte{0, 0, 0, 0, 0, 0, 0, 1, 'k', 0, 0, 0, 0, 0, 0, 0, 2, 'a', 'b'}
	sum := sha256.Sum256(in)
	if got, want := New("k", "ab"), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("New(k, ab) = %s, want %s", got, want)
	}
}

func TestNewDistinguishes(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"part boundaries", New("k", "ab", "c"), New("k", "a", "bc")},
		{"kind vs part", New("ka", "b"), New("k", "ab")},
		{"empty part", New("k", "a", ""), New("k", "a")},
		{"order", New("k", "a", "b"), New("k", "b", "a")},
		{"kind", New("weir.chain.v1.Log", "x"), New("weir.chain.v1.Transfer", "x")},
		{"reorged tx", ChainTx("k", 1, "0xaa", "0x01"), ChainTx("k", 1, "0xbb", "0x01")},
		{"chain", ChainTx("k", 1, "0xaa", "0x01"), ChainTx("k", 10, "0xaa", "0x01")},
		{"log index", ChainLog("k", 1, "0xaa", "0x01", 1, 0), ChainLog("k", 1, "0xaa", "0x01", 10, 0)},
		{"batch index", ChainLog("k", 1, "0xaa", "0x01", 1, 0), ChainLog("k", 1, "0xaa", "0x01", 1, 1)},
		{"trace address", ChainTrace("k", 1, "0xaa", "0x01", ""), ChainTrace("k", 1, "0xaa", "0x01", "0")},
		{"log vs trace", ChainLog("k", 1, "0xaa", "0x01", 0, 0), ChainTrace("k", 1, "0xaa", "0x01", "0")},
		{"block vs tx", ChainBlock("k", 1, "0xaa"), ChainTx("k", 1, "0xaa", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a == tt.b {
				t.Fatalf("ids collide: %s", tt.a)
			}
		})
	}
}

func TestDeterministicAndCaseInsensitiveHashes(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"repeat", New("k", "a", "b"), New("k", "a", "b")},
		{"block hash case", ChainBlock("k", 1, "0xABcd"), ChainBlock("k", 1, "0xabcd")},
		{"tx hash case", ChainTx("k", 1, "0xAA", "0xBEEF"), ChainTx("k", 1, "0xaa", "0xbeef")},
		{"log hash case", ChainLog("k", 1, "0xAA", "0xBEEF", 3, 0), ChainLog("k", 1, "0xaa", "0xbeef", 3, 0)},
		{"trace hash case", ChainTrace("k", 1, "0xAA", "0xBEEF", "1"), ChainTrace("k", 1, "0xaa", "0xbeef", "1")},
		{"chain helper is New", ChainBlock("k", 5, "0xaa"), New("k", "block", "5", "0xaa")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a != tt.b {
				t.Fatalf("ids differ: %s vs %s", tt.a, tt.b)
			}
		})
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{New("k"), true},
		{ChainLog("weir.chain.v1.Log", 1, "0xaa", "0xbb", 2, 0), true},
		{"", false},
		{New("k")[:63], false},
		{New("k") + "0", false},
		{"ABCDEF" + New("k")[6:], false},
		{"g" + New("k")[1:], false},
	}
	for _, tt := range tests {
		if got := Valid(tt.id); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func BenchmarkChainLog(b *testing.B) {
	const hash = "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060"
	b.ReportAllocs()
	for b.Loop() {
		_ = ChainLog("weir.chain.v1.Transfer", 1, hash, hash, 17, 0)
	}
}
