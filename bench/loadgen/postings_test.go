package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/schemas/codec"
	ledgerv1 "github.com/weirhq/weir/schemas/gen/weir/ledger/v1"
)

func TestGeneratorPosting(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		gen  Generator
		i    int
		size int // want len(value) == size when > 0
	}{
		{"defaults", Generator{}, 7, 0},
		{"padded to 200 bytes", Generator{Accounts: 10, Size: 200}, 12345, 200},
		{"padded to 1000 bytes", Generator{Size: 1000, IDPrefix: "x-"}, 3, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, v, err := tc.gen.Posting(tc.i, at)
			if err != nil {
				t.Fatal(err)
			}
			if tc.size > 0 && len(v) != tc.size {
				t.Errorf("value is %d bytes, want %d", len(v), tc.size)
			}
			var back ledgerv1.Posting
			if err := codec.Unmarshal(v, &back); err != nil {
				t.Fatalf("generated posting does not pass the codec: %v", err)
			}
			if back.GetAccountId() != p.GetAccountId() || !back.GetMeta().GetEventTime().AsTime().Equal(at) {
				t.Errorf("round trip: %v", &back)
			}
			wantDir := ledgerv1.Direction_DIRECTION_CREDIT
			if tc.i%2 == 0 {
				wantDir = ledgerv1.Direction_DIRECTION_DEBIT
			}
			if back.GetDirection() != wantDir {
				t.Errorf("direction %v, want %v", back.GetDirection(), wantDir)
			}
		})
	}
}

// TestPostingsComponent runs the generator at 200/s on kfake for a moment and checks
// that valid postings arrive, spread over the accounts, at roughly the rate.
func TestPostingsComponent(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "ledger.postings"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	g := &Postings{Brokers: c.ListenAddrs(), Rate: 200, Accounts: 5}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("ledger.postings"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	accounts := map[string]bool{}
	n := 0
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	for n < 100 {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("only %d postings within 10s at 200/s", n)
		}
		for _, r := range fs.Records() {
			var p ledgerv1.Posting
			if err := codec.Unmarshal(r.Value, &p); err != nil {
				t.Fatalf("invalid posting: %v", err)
			}
			if string(r.Key) != p.GetAccountId() {
				t.Errorf("key %q, account %q", r.Key, p.GetAccountId())
			}
			accounts[p.GetAccountId()] = true
			n++
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(accounts) != 5 {
		t.Errorf("postings over %d accounts, want 5", len(accounts))
	}
	if err := (&Postings{Rate: 0, Brokers: c.ListenAddrs()}).Run(context.Background()); err == nil {
		t.Error("Run with rate 0: want an error")
	}
}
