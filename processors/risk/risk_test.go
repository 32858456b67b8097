package risk

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/processors/stream"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

func hasReason(sc *riskv1.RiskScore, code string) bool {
	for _, r := range sc.GetReasons() {
		if r.GetCode() == code {
			return true
		}
	}
	return false
}

// TestScoresOnKafka runs the processor in-process on the real Kafka and feeds it
// crafted transfers one at a time: ETH and ERC-20 ("erc20:1:0x…", 6 decimals) transfers
// between ordinary addresses, a token mint, a transfer to a sanctioned address and one
// after it. Every committed FeatureVector must have exactly one committed RiskScore,
// with feature_vector_event_id the vector's event id, the vector's features unchanged
// (feature logging), the model, rules and sanctions list versions stamped, a distinct
// event id per (subject, entity), and the score, decision and reasons the Scorer gives
// that vector in-process. The transfer to the sanctioned address gives its sender a
// BLOCK with SANCTIONED_COUNTERPARTY, and so does the sender's next transfer (7-day
// exposure). The vectors re-published after a reorg are not scored. Token transfers are scored (their money features are missing to the
// model), not dead-lettered: the DLQs stay empty.
func TestScoresOnKafka(t *testing.T) {
	brokers := testenv.Kafka(t)
	s := newScenario(t, brokers)
	scorer, err := LoadScorer(ScorerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := testConfig(s.prefix, t.TempDir(), scorer)
	cfg.Registerer = reg
	p, err := New(cfg, brokers, stream.WithInstanceID("i1"), stream.WithCommitInterval(50*time.Millisecond),
		stream.WithGroupTimeouts(6*time.Second, 10*time.Second), stream.WithTransactionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	}()

	A, B, C, D, S := addr("A"), addr("B"), addr("C"), addr("D"), sanctionedAddr
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	s.send(transfer("tx1", A, B, 1_000_000_000_000_000, at(0)))
	s.send(transfer("tx2", C, A, 2_000_000_000_000_000, at(30)))
	s.send(tokenTransfer("tok1", A, B, 250_000_000, at(60)))
	s.send(tokenTransfer("tok2", B, A, 249_000_000, at(90)))
	s.send(tokenTransfer("mint", "0x0000000000000000000000000000000000000000", C, 5_000_000, at(100)))
	s.send(transfer("to-sanctioned", A, S, 10, at(120)))
	s.send(transfer("after", A, D, 300, at(180)))
	s.send(transfer("unrelated", C, D, 300, at(200)))
	// A reorg retracts "unrelated": C's and D's vectors are re-published without it
	// (features.HeaderRefresh), and not scored: they have no subject event.
	s.retract("reorg", at(210), "unrelated")
	for deadline := time.Now().Add(60 * time.Second); s.refreshes() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d re-published vectors after the reorg, want 2", s.refreshes())
		}
	}
	s.send(transfer("after-reorg", D, B, 300, at(220)))

	pairs := s.check(scorer)
	find := func(tx, entity string) *riskv1.RiskScore {
		t.Helper()
		for _, p := range pairs {
			if p.vector.GetEntityId() == entityID(entity) &&
				p.vector.GetMeta().GetTraceId() == tx && len(p.scores) == 1 {
				return p.scores[0]
			}
		}
		t.Fatalf("no score of %s at %s", entity, tx)
		return nil
	}
	for _, tc := range []struct{ tx, entity string }{{"to-sanctioned", A}, {"after", A}} {
		sc := find(tc.tx, tc.entity)
		if sc.GetDecision() != riskv1.Decision_DECISION_BLOCK || !hasReason(sc, "SANCTIONED_COUNTERPARTY") {
			t.Errorf("%s: score of the sender: %v %v, want BLOCK with SANCTIONED_COUNTERPARTY", tc.tx, sc.GetDecision(), sc.GetReasons())
		}
	}
	if sc := find("unrelated", C); sc.GetDecision() == riskv1.Decision_DECISION_BLOCK {
		t.Errorf("unrelated transfer: %v %v, want no block", sc.GetDecision(), sc.GetReasons())
	}
	tok := find("tok2", A)
	var tokenMoney int
	for _, f := range tok.GetFeatures() {
		if f.GetAsset() == tokenAsset {
			tokenMoney++
		}
	}
	if tokenMoney == 0 {
		t.Errorf("the token transfer's score logs no money feature in %s: %v", tokenAsset, tok.GetFeatures())
	}
	for _, topic := range []string{stream.DLQTopic(cfg.Features.Internal), stream.DLQTopic(cfg.Features.Transfers)} {
		if n := len(kafkatest.ReadCommitted(t, brokers, topic)); n != 0 {
			t.Errorf("%s holds %d records, want none", topic, n)
		}
	}
	// Every committed score was counted by decision.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var counted float64
	for _, mf := range mfs {
		if mf.GetName() == "weir_risk_decisions_total" {
			for _, m := range mf.GetMetric() {
				counted += m.GetCounter().GetValue()
			}
		}
	}
	if int(counted) < s.want {
		t.Errorf("weir_risk_decisions_total sums to %v, want at least %d", counted, s.want)
	}
}

// TestKillNineNoDuplicateNoMissingScore runs the processor as a child process on the
// real Kafka and kills it with SIGKILL twice while transfers flow: once restarting on
// the same state directory (Pebble after a crash), once on an empty one (state from the
// changelogs only); transfers are produced while it is down. In the end every vector is
// committed once, each with exactly one score equal to the in-process score of that
// vector; no score is committed twice or for a vector that was not.
func TestKillNineNoDuplicateNoMissingScore(t *testing.T) {
	brokers := testenv.Kafka(t)
	s := newScenario(t, brokers)
	scorer, err := LoadScorer(ScorerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	child := s.startChild(state)

	names := []string{"A", "B", "C", "D", "E", "F"}
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	chunk := func(c int) {
		for j := range 40 {
			i := c*40 + j
			from, to := addr(names[i%3]), addr(names[3+i%3]) // each sender pays one recipient
			name := fmt.Sprintf("k-%d", i)
			if i%5 == 0 {
				s.produce(tokenTransfer(name, from, to, int64(1+(i*37)%1000)*1_000_000, at(i)))
			} else {
				s.produce(transfer(name, from, to, int64(1+(i*37)%1000), at(i)))
			}
		}
	}
	chunk(0)
	s.wait(30, 60*time.Second)
	child.Kill(t) // mid-chunk, or just after it
	chunk(1)      // while the processor is down
	child = s.startChild(state)
	s.wait(s.want, 90*time.Second)
	chunk(2)
	s.wait(s.want-50, 60*time.Second)
	child.Kill(t)
	chunk(3)
	child = s.startChild(filepath.Join(t.TempDir(), "fresh"))
	s.wait(s.want, 90*time.Second)
	child.Stop(t)
	s.check(scorer)
}
