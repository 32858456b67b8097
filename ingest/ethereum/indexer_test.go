package ethereum_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/testenv"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
)

func brokersFor(t *testing.T, real bool) []string {
	if real {
		return testenv.Kafka(t)
	}
	return kafkatest.Cluster(t)
}

// runIndexer runs an indexer until the test ends; it returns a channel with Run's error.
func runIndexer(t *testing.T, cfg ethereum.Config) <-chan error {
	t.Helper()
	ix, err := ethereum.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("indexer: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("indexer did not stop within 30s")
		}
	})
	return done
}

func testConfig(c *simChain, k kafkaFixture) ethereum.Config {
	return ethereum.Config{
		RPCURL: c.url, ChainID: simChainID, Brokers: k.brokers, Topics: k.topics,
		BatchBlocks: 5, TxnBlocks: 7, PollInterval: 20 * time.Millisecond, FinalityDepth: 3,
	}
}

// TestBackfillThenFollow indexes a chain that already has blocks (backfill), then blocks
// made while it runs (follow), and checks every record against the node's chain.
func TestBackfillThenFollow(t *testing.T) {
	for _, real := range []bool{false, true} {
		t.Run(map[bool]string{false: "kfake", true: "kafka"}[real], func(t *testing.T) {
			c := newSimChain(t, 6)
			for i := 0; i < 30; i++ {
				c.block(4)
			}
			k := newKafka(t, brokersFor(t, real))
			runIndexer(t, testConfig(c, k))
			waitCheckpoint(t, k, c.head(t), time.Minute)
			for i := 0; i < 10; i++ {
				c.block(3)
				time.Sleep(30 * time.Millisecond)
			}
			head := c.head(t)
			waitCheckpoint(t, k, head, time.Minute)

			x := readIndexed(t, k)
			if d := x.duplicates(); len(d) > 0 {
				t.Fatalf("%d events emitted more than once, e.g. %s", len(d), d[0])
			}
			if len(x.blocks) != int(head)+1 {
				t.Fatalf("%d blocks, want %d", len(x.blocks), head+1)
			}
			for i, b := range x.blocks {
				if b.GetNumber() != uint64(i) {
					t.Fatalf("block %d at position %d: not in order", b.GetNumber(), i)
				}
				if i > 0 && b.GetParentHash() != x.blocks[i-1].GetHash() {
					t.Fatalf("block %d does not link to block %d", i, i-1)
				}
			}
			want := canonicalIDs(t, c.url, simChainID, 0, head)
			if missing, extra := diff(want, x.live()); missing+extra > 0 {
				t.Fatalf("%d events missing, %d not on the chain", missing, extra)
			}
			if len(x.txs) != 30*4+10*3+1+6 || len(x.receipts) != len(x.txs) {
				t.Errorf("%d transactions and %d receipts, want %d", len(x.txs), len(x.receipts), 30*4+10*3+7)
			}
			if len(x.finality) == 0 {
				t.Fatal("no finality marker")
			}
			last := x.finality[len(x.finality)-1]
			if last.GetBlock().GetNumber()+3 < head-1 || last.GetStatus() != chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED {
				t.Errorf("last finality marker %v, head %d with depth 3", last.GetBlock(), head)
			}
			for i := 1; i < len(x.finality); i++ {
				if x.finality[i].GetBlock().GetNumber() <= x.finality[i-1].GetBlock().GetNumber() {
					t.Errorf("finality went from %d to %d", x.finality[i-1].GetBlock().GetNumber(), x.finality[i].GetBlock().GetNumber())
				}
			}
			// Every record's confirmation is what the block had when it was emitted.
			status := map[string]chainv1.ConfirmationStatus{}
			for _, b := range x.blocks {
				status[b.GetHash()] = b.GetStatus()
			}
			for _, tr := range x.transfers {
				if tr.GetConfirmation() != status[tr.GetBlock().GetHash()] {
					t.Fatalf("transfer %s: confirmation %v, block %v", tr.GetMeta().GetEventId(), tr.GetConfirmation(), status[tr.GetBlock().GetHash()])
				}
			}
		})
	}
}

// TestReorg forks the simulated chain at depth 1 and then at depth 5 while the indexer
// follows it, and checks the retractions: exactly the orphaned blocks' events, newest
// block first, and a consumer applying them ends with the canonical chain's events.
func TestReorg(t *testing.T) {
	for _, depth := range []int{1, 5} {
		t.Run(map[int]string{1: "depth1", 5: "depth5"}[depth], func(t *testing.T) {
			c := newSimChain(t, 6)
			for i := 0; i < 12; i++ {
				c.block(3)
			}
			k := newKafka(t, kafkatest.Cluster(t))
			cfg := testConfig(c, k)
			cfg.FinalityDepth = 20
			runIndexer(t, cfg)
			waitCheckpoint(t, k, c.head(t), time.Minute)

			before := readIndexed(t, k)
			hashes := map[uint64]string{}
			for _, b := range before.blocks {
				hashes[b.GetNumber()] = b.GetHash()
			}
			oldHead := c.head(t)
			c.fork(depth)
			head := c.head(t)
			waitCheckpoint(t, k, head, time.Minute)

			x := readIndexed(t, k)
			if d := x.duplicates(); len(d) > 0 {
				t.Fatalf("%d events emitted more than once", len(d))
			}
			if len(x.retractions) != depth {
				t.Fatalf("%d retractions, want %d", len(x.retractions), depth)
			}
			emitted := map[string][]string{} // block hash -> ids retracted with it
			for i, r := range x.retractions {
				wantNum := oldHead - uint64(i) // newest first
				if r.GetOrphanedBlock().GetNumber() != wantNum || r.GetOrphanedBlock().GetHash() != hashes[wantNum] {
					t.Errorf("retraction %d: block %v, want #%d %s", i, r.GetOrphanedBlock(), wantNum, hashes[wantNum])
				}
				if r.GetDepth() != uint32(depth) {
					t.Errorf("retraction %d: depth %d, want %d", i, r.GetDepth(), depth)
				}
				// replaced_by is set when the new branch already reached the height as
				// the indexer walked back (the simulated fork first drops the head).
				if rb := r.GetReplacedBy(); rb != nil && rb.GetHash() != x.canonicalHash(rb.GetNumber()) {
					t.Errorf("retraction %d: replaced by %v, not the canonical block", i, rb)
				}
				emitted[r.GetOrphanedBlock().GetHash()] = r.GetRetractedEventIds()
			}
			// The retracted ids are exactly the events emitted for the orphaned blocks.
			for hash, ids := range emitted {
				want := idsOfBlock(before, hash)
				got := append([]string(nil), ids...)
				sort.Strings(got)
				if len(got) != len(want) {
					t.Errorf("block %s: %d ids retracted, %d emitted", hash, len(got), len(want))
					continue
				}
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("block %s: retracted %s, emitted %s", hash, got[i], want[i])
						break
					}
				}
			}
			want := canonicalIDs(t, c.url, simChainID, 0, head)
			if missing, extra := diff(want, x.live()); missing+extra > 0 {
				t.Fatalf("after applying retractions: %d canonical events missing, %d orphaned events left", missing, extra)
			}
		})
	}
}

// idsOfBlock returns the sorted ids of the events x holds for the block with hash.
func idsOfBlock(x *indexed, hash string) []string {
	var ids []string
	for _, b := range x.blocks {
		if b.GetHash() == hash {
			ids = append(ids, b.GetMeta().GetEventId())
		}
	}
	for _, e := range x.txs {
		if e.GetBlock().GetHash() == hash {
			ids = append(ids, e.GetMeta().GetEventId())
		}
	}
	for _, e := range x.receipts {
		if e.GetBlock().GetHash() == hash {
			ids = append(ids, e.GetMeta().GetEventId())
		}
	}
	for _, e := range x.logs {
		if e.GetBlock().GetHash() == hash {
			ids = append(ids, e.GetMeta().GetEventId())
		}
	}
	for _, e := range x.transfers {
		if e.GetBlock().GetHash() == hash {
			ids = append(ids, e.GetMeta().GetEventId())
		}
	}
	for _, e := range x.approvals {
		if e.GetBlock().GetHash() == hash {
			ids = append(ids, e.GetMeta().GetEventId())
		}
	}
	sort.Strings(ids)
	return ids
}

// TestStartErrors: a node of another chain and an unreachable node fail Run at once.
func TestStartErrors(t *testing.T) {
	c := newSimChain(t, 1)
	k := newKafka(t, kafkatest.Cluster(t))
	cfg := testConfig(c, k)
	cfg.ChainID = 1
	ix, err := ethereum.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ix.Run(ctx); !errors.Is(err, ethereum.ErrWrongChain) {
		t.Errorf("wrong chain: Run = %v, want ErrWrongChain", err)
	}
	cfg = testConfig(c, k)
	cfg.RPCURL = "http://127.0.0.1:1"
	cfg.Node = ethereum.NodeOptions{Retries: 1, Backoff: time.Millisecond}
	ix, _ = ethereum.New(cfg)
	if err := ix.Run(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("unreachable node: Run = %v, want an error at once", err)
	}
}

// canonicalHash is the hash of the last block x holds at number (the canonical one once
// the indexer has caught up).
func (x *indexed) canonicalHash(number uint64) string {
	hash := ""
	for _, b := range x.blocks {
		if b.GetNumber() == number {
			hash = b.GetHash()
		}
	}
	return hash
}
