package riskbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/models"
	"github.com/weirhq/weir/models/score"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// NewPrefix returns a fresh topic prefix: "<name>-<8 random hex digits>.".
func NewPrefix(name string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return name + "-" + hex.EncodeToString(b) + "."
}

// ScorerFor returns a Scorer of the shipped model (models.Default) and the default
// rules that knows the generator's token (18 decimals) and NFT (0) of tr as assets:
// the generator deploys its contracts at addresses that depend on its seed.
func ScorerFor(tr *Traffic, opts ...score.Option) (*score.Scorer, error) {
	opts = append([]score.Option{score.WithSource("bench/riskbench"),
		score.WithAsset(tr.TokenAsset, 18), score.WithAsset(tr.NFTAsset, 0)}, opts...)
	return models.DefaultScorer(opts...)
}

// Thresholds returns the features engine's reporting thresholds for tr: the token's
// structuring threshold.
func Thresholds(tr *Traffic) map[string]*big.Int {
	return map[string]*big.Int{tr.TokenAsset: new(big.Int).Set(tr.StructuringThreshold)}
}

// LabeledRun is one labelled run: traffic generated, indexed and labelled, then
// processed by the risk pipeline and the alerts processor (RunAlerts). Its topics stay until Cleanup.
type LabeledRun struct {
	Brokers []string
	Topics  Topics
	Traffic *Traffic
	// Scores, Alerts and DLQ count the records of risk.scores, risk.alerts and the
	// features stage's dead letters.
	Scores, Alerts, DLQ int
}

// RunOptions configures RunLabeled.
type RunOptions struct {
	Traffic TrafficOptions
	// StateDir holds the processors' state. Required.
	StateDir string
	// Scorer, when set, scores the run; else ScorerFor(traffic).
	Scorer func(*Traffic) (*score.Scorer, error)
	// Redis, when set, also fills the online store (under the topic prefix).
	Redis redis.UniversalClient
	// OnScore is the risk processor's OnScore hook. Default nil.
	OnScore func(*riskv1.RiskScore, time.Duration)
	// Timeout bounds the pipeline's drain. Default 10 minutes.
	Timeout time.Duration
}

// RunLabeled generates a labelled run (Generate), runs the risk pipeline over it until
// everything is consumed, then the alerts processor (RunAlerts). It blocks.
func RunLabeled(ctx context.Context, o RunOptions) (*LabeledRun, error) {
	if o.StateDir == "" {
		return nil, errors.New("riskbench: no state dir")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	progress := o.Traffic.Progress
	if progress == nil {
		progress = io.Discard
	}
	tr, err := Generate(ctx, o.Traffic)
	if err != nil {
		return nil, err
	}
	run := &LabeledRun{Brokers: o.Traffic.Brokers, Topics: o.Traffic.Topics, Traffic: tr}
	mk := o.Scorer
	if mk == nil {
		mk = func(tr *Traffic) (*score.Scorer, error) { return ScorerFor(tr) }
	}
	sc, err := mk(tr)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	p, err := StartPipeline(ctx, PipelineOptions{
		Brokers: run.Brokers, Topics: run.Topics, StateDir: o.StateDir, Scorer: sc, Thresholds: Thresholds(tr),
		Redis: o.Redis, RedisPrefix: run.Topics.Prefix, OnScore: o.OnScore, Progress: progress,
	})
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	err = p.WaitDrained(dctx)
	cancel()
	if serr := p.Stop(); err == nil {
		err = serr
	}
	if err == nil {
		err = RunAlerts(ctx, run.Brokers, run.Topics, filepath.Join(o.StateDir, "alerts"))
	}
	if err != nil {
		return nil, fmt.Errorf("riskbench: pipeline: %w", err)
	}
	fmt.Fprintf(progress, "riskbench: risk pipeline drained %d transfers in %v\n", tr.Transfers, time.Since(began).Round(time.Millisecond))
	for _, c := range []struct {
		n     *int
		topic string
	}{{&run.Scores, run.Topics.Scores()}, {&run.Alerts, run.Topics.Alerts()}, {&run.DLQ, run.Topics.Internal() + ".dlq"}} {
		if *c.n, err = countRecords(ctx, run.Brokers, c.topic); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(progress, "riskbench: %d scores, %d alerts, %d dead letters\n", run.Scores, run.Alerts, run.DLQ)
	return run, nil
}

// Cleanup deletes the run's topics.
func (r *LabeledRun) Cleanup(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.Brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	return r.Topics.Delete(ctx, kadm.NewClient(cl))
}

// countRecords returns the committed records of topic (0 when it does not exist).
func countRecords(ctx context.Context, brokers []string, topic string) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	d, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	if t, ok := d[topic]; !ok || t.Err != nil {
		return 0, nil
	}
	n := 0
	err = ReadTopic(ctx, brokers, topic, func(*kgo.Record) error { n++; return nil })
	return n, err
}
