package ethereum_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/internal/proctest"
)

// childEnv makes the test binary run an indexer instead of the tests (TestMain); the
// indexer's settings come from the CHILD_* variables.
const childEnv = "WEIR_INGEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ix, err := ethereum.New(ethereum.Config{
		RPCURL: os.Getenv("CHILD_RPC"), ChainID: simChainID,
		Brokers: strings.Split(os.Getenv("CHILD_BROKERS"), ","),
		Topics:  ethereum.DefaultTopics().WithPrefix(os.Getenv("CHILD_PREFIX")),
		// Small transactions and batches, so that a kill lands mid-range often.
		BatchBlocks: 3, TxnBlocks: 4, Parallelism: 3, PollInterval: 20 * time.Millisecond, FinalityDepth: 8,
	})
	if err == nil {
		err = ix.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// startChild runs the indexer as a separate process (see proctest).
func startChild(t *testing.T, c *simChain, k kafkaFixture) *proctest.Child {
	t.Helper()
	prefix := strings.TrimSuffix(k.topics.Blocks, "chain.blocks")
	return proctest.Start(t, childEnv+"=1", "CHILD_RPC="+c.url,
		"CHILD_BROKERS="+strings.Join(k.brokers, ","), "CHILD_PREFIX="+prefix)
}

// TestKillNine kills the indexer process with SIGKILL twice during a backfill and twice
// while it follows the head (with a reorg in between), restarting it each time, and
// checks that the topics hold every event of the canonical chain exactly once (read
// committed), with the orphaned branch retracted.
func TestKillNine(t *testing.T) {
	for _, real := range []bool{false, true} {
		t.Run(map[bool]string{false: "kfake", true: "kafka"}[real], func(t *testing.T) {
			c := newSimChain(t, 8)
			for i := 0; i < 240; i++ {
				c.block(3)
			}
			k := newKafka(t, brokersFor(t, real))

			// Backfill: kill at a third and at two thirds of the way.
			ch := startChild(t, c, k)
			waitCheckpoint(t, k, 80, 2*time.Minute)
			ch.Kill(t)
			ch = startChild(t, c, k)
			waitCheckpoint(t, k, 160, 2*time.Minute)
			ch.Kill(t)

			// Follow: new blocks arrive while the indexer is killed and restarted.
			ch = startChild(t, c, k)
			waitCheckpoint(t, k, c.head(t), 2*time.Minute)
			for round := 0; round < 2; round++ {
				for i := 0; i < 20; i++ {
					c.block(2)
					time.Sleep(5 * time.Millisecond)
				}
				if round == 0 {
					// Caught up, then a reorg while the indexer is down.
					waitCheckpoint(t, k, c.head(t), 2*time.Minute)
					ch.Kill(t)
					c.fork(3)
				} else {
					ch.Kill(t) // mid-follow
				}
				for i := 0; i < 5; i++ {
					c.block(2)
				}
				ch = startChild(t, c, k)
			}
			head := c.head(t)
			waitCheckpoint(t, k, head, 2*time.Minute)
			ch.Stop(t)

			x := readIndexed(t, k)
			if d := x.duplicates(); len(d) > 0 {
				t.Fatalf("%d events emitted more than once, e.g. %s", len(d), d[0])
			}
			if len(x.retractions) != 3 {
				t.Errorf("%d retractions, want 3 (the reorg made while the indexer was down)", len(x.retractions))
			}
			want := canonicalIDs(t, c.url, simChainID, 0, head)
			if missing, extra := diff(want, x.live()); missing+extra > 0 {
				t.Fatalf("%d canonical events missing, %d events left that are not canonical", missing, extra)
			}
			if got := len(x.blocks) - len(x.retractions); got != int(head)+1 {
				t.Errorf("%d blocks emitted less %d retracted, want %d", len(x.blocks), len(x.retractions), head+1)
			}
		})
	}
}
