package riskbench

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/features/online"
	"github.com/weirhq/weir/internal/testenv"
)

// TestAlertsOnLabeledHoldout is the acceptance test: labelled generator traffic
// (seed EvalSeed, not a seed the shipped model was trained on) indexed by the real
// indexer into the real Kafka, scored by the risk processor with the shipped model and
// rules (vectors also copied to the real Redis), alerted by processors/alerts; on the
// holdout (the later half of the blocks) the alerts reach precision ≥ 0.9 and recall
// ≥ 0.8 per address (see Evaluation).
//
// Under the race detector the in-process pipeline runs about ten times slower, beyond
// this test's budget for the DefaultBlocks it needs to judge dozens of patterns: with
// -race it runs raceBlocks blocks through the same harness and checks the plumbing
// (scores, online store, an evaluation) but not the figures; run it without -race for
// the judgement (about 2 minutes).
func TestAlertsOnLabeledHoldout(t *testing.T) {
	blocks := DefaultBlocks
	if raceEnabled {
		blocks = raceBlocks
	}
	brokers := testenv.Kafka(t)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	topics := Topics{Prefix: NewPrefix("riskbench-test")}
	run, err := RunLabeled(ctx, RunOptions{
		StateDir: t.TempDir(), Redis: rdb,
		Traffic: TrafficOptions{Brokers: brokers, Topics: topics, Seed: EvalSeed, Blocks: blocks, Progress: testWriter{t}},
	})
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := topics.Delete(cctx, kadmFor(t, brokers)); err != nil {
			t.Logf("delete topics: %v", err)
		}
		if err := deleteKeys(cctx, rdb, topics.Prefix); err != nil {
			t.Logf("delete keys: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if run.DLQ != 0 {
		t.Errorf("%d dead letters", run.DLQ)
	}
	tr := run.Traffic
	// A score per side of each transfer; mints (the setup's grants, the drains' refills)
	// have one side, the zero address being no entity.
	if run.Scores < int(tr.Transfers) || run.Scores > 2*int(tr.Transfers) {
		t.Errorf("%d scores of %d transfers", run.Scores, tr.Transfers)
	}

	// The online store holds the latest vector of the scored entities.
	store := online.New(rdb, features.AddressActivity.Name, online.WithPrefix(topics.Prefix))
	victim := tr.Patterns[0].Labels[0].GetEntityId()
	if _, err := store.Read(ctx, victim); err != nil {
		t.Errorf("online store, %s: %v", victim, err)
	}

	ev, err := Evaluate(ctx, brokers, run.Topics, tr, HoldoutBlock(tr, DefaultHoldoutFrom))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(ev)
	t.Logf("false positives (address: rules) %v; missed (address: pattern) %v", ev.FalsePositives, ev.Missed)
	if raceEnabled {
		return
	}
	if ev.Positives < 30 {
		t.Fatalf("%d positives in the holdout: too few to judge", ev.Positives)
	}
	if ev.Precision < 0.9 || ev.Recall < 0.8 {
		t.Errorf("precision %.3f (want ≥ 0.9), recall %.3f (want ≥ 0.8)", ev.Precision, ev.Recall)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func kadmFor(t *testing.T, brokers []string) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}
