package nonce_test

import (
	"context"
	"testing"

	"github.com/weirhq/weir/signer/nonce"
)

// BenchmarkReserveRecord measures one reservation and one record, two fsynced
// commits: the floor of the signer's latency per transaction on this disk.
func BenchmarkReserveRecord(b *testing.B) {
	m, err := nonce.Open(b.TempDir(), fixed(0))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n, err := m.Reserve(ctx, chain, alice)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Record(chain, alice, n, payload(string(rune(i))), nonce.Original); err != nil {
			b.Fatal(err)
		}
	}
}
