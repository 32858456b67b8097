package riskbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/features/online"
	"github.com/weirhq/weir/features/processor"
	"github.com/weirhq/weir/models/score"
	"github.com/weirhq/weir/processors/risk"
	"github.com/weirhq/weir/processors/stream"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// DefaultGrace is the features engine's grace in the harness: a backfill re-keys
// partitions at different speeds, and an event that arrives later than the grace is
// dead-lettered rather than counted.
const DefaultGrace = time.Hour

// PipelineOptions configures RunPipeline.
type PipelineOptions struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Topics are the run's topics. Required.
	Topics Topics
	// StateDir holds the processors' state. Required.
	StateDir string
	// Scorer scores every vector. Required.
	Scorer *score.Scorer
	// Thresholds are the features engine's reporting thresholds (NearThreshold) per
	// asset. Default: none.
	Thresholds map[string]*big.Int
	// Redis, when set, runs the online store's sink (features/online) from risk.features
	// into Redis under RedisPrefix. Default nil: no online store.
	Redis       redis.UniversalClient
	RedisPrefix string
	// OnScore is the risk processor's OnScore hook. Default nil.
	OnScore func(*riskv1.RiskScore, time.Duration)
	// Progress receives a line per step. Default: discarded.
	Progress io.Writer
}

// Pipeline is a running risk pipeline: the risk processor (features and scoring in one
// transaction) and optionally the online store's sink.
type Pipeline struct {
	opts   PipelineOptions
	feat   processor.Config
	cancel context.CancelFunc
	g      *errgroup.Group
	adm    *kadm.Client
	admCl  *kgo.Client
}

// Group names of the pipeline's consumers.
func (o PipelineOptions) featuresApp() string { return o.Topics.Prefix + "features" }
func (o PipelineOptions) onlineGroup() string { return o.Topics.Prefix + "features-online" }

// StartPipeline starts the pipeline's processors in the background over the run's
// topics (consuming from their start). Stop ends them.
func StartPipeline(ctx context.Context, opts PipelineOptions) (*Pipeline, error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Scorer == nil || opts.StateDir == "" || len(opts.Brokers) == 0 || opts.Topics.Prefix == "" {
		return nil, errors.New("riskbench: pipeline needs brokers, topics, a state dir and a scorer")
	}
	t := opts.Topics
	p := &Pipeline{opts: opts}
	p.feat = processor.Config{
		App: opts.featuresApp(), Transfers: t.Transfers(), Retractions: t.Retractions(), Internal: t.Internal(),
		Output: t.Features(), StateDir: filepath.Join(opts.StateDir, "risk"),
		Engine: features.Config{Grace: DefaultGrace, Thresholds: opts.Thresholds},
	}
	sopts := []stream.Option{
		stream.WithInstanceID("riskbench"),
		stream.WithCommitInterval(100 * time.Millisecond),
		stream.WithGroupTimeouts(6*time.Second, 10*time.Second),
	}
	rp, err := risk.New(risk.Config{Features: p.feat, Scores: t.Scores(), Scorer: opts.Scorer, OnScore: opts.OnScore},
		opts.Brokers, sopts...)
	if err != nil {
		return nil, err
	}
	var sink *online.Sink
	if opts.Redis != nil {
		store := online.New(opts.Redis, features.AddressActivity.Name, online.WithPrefix(opts.RedisPrefix))
		sink, err = online.NewSink(online.SinkConfig{Brokers: opts.Brokers, Topic: t.Features(), Group: opts.onlineGroup()}, store)
		if err != nil {
			return nil, err
		}
	}
	if p.admCl, err = kgo.NewClient(kgo.SeedBrokers(opts.Brokers...)); err != nil {
		return nil, err
	}
	p.adm = kadm.NewClient(p.admCl)

	ctx, p.cancel = context.WithCancel(ctx)
	p.g, ctx = errgroup.WithContext(ctx)
	run := func(name string, f func(context.Context) error) {
		p.g.Go(func() error {
			if err := f(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("riskbench: %s: %w", name, err)
			}
			return nil
		})
	}
	run("risk", rp.Run)
	if sink != nil {
		run("online sink", func(ctx context.Context) error {
			if err := sink.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	return p, nil
}

// Stop stops the processors and waits for them; it returns the first error one of
// them failed with.
func (p *Pipeline) Stop() error {
	p.cancel()
	err := p.g.Wait()
	p.admCl.Close()
	return err
}

// WaitDrained blocks until every stage has consumed everything upstream of it: the
// risk processor's three stages their inputs, then (when running) the alerts processor
// the online sink the vectors. It returns early with the error of a
// failed processor, or ctx's.
func (p *Pipeline) WaitDrained(ctx context.Context) error {
	o, t := p.opts, p.opts.Topics
	type stage struct {
		group, topic string
		txn          bool // the topic is written in transactions: the last offset is a marker
	}
	stages := []stage{
		{o.featuresApp() + "-rekey", t.Transfers(), true},
		{o.featuresApp() + "-retractions", t.Retractions(), true},
		{o.featuresApp(), t.Internal(), true},
	}
	if o.Redis != nil {
		stages = append(stages, stage{o.onlineGroup(), t.Features(), true})
	}
	failed := make(chan struct{})
	go func() { _ = p.g.Wait(); close(failed) }()
	for _, s := range stages {
		for {
			done, err := consumed(ctx, p.adm, s.group, s.topic, s.txn)
			if err != nil {
				return err
			}
			if done {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-failed:
				if err := p.g.Wait(); err != nil {
					return err
				}
				return errors.New("riskbench: the pipeline stopped")
			case <-time.After(50 * time.Millisecond): // polling broker state
			}
		}
	}
	return nil
}

// consumed reports whether group has committed the end of every non-empty partition
// of topic. On a transactionally written topic a group's committed offset stops before
// the trailing transaction marker, one short of the end.
func consumed(ctx context.Context, adm *kadm.Client, group, topic string, txn bool) (bool, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, err
	}
	if err := ends.Error(); err != nil {
		if kerr.IsRetriable(err) {
			return false, nil
		}
		return false, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if kerr.IsRetriable(err) || errors.Is(err, kerr.GroupIDNotFound) {
		return false, nil // e.g. the coordinator is still loading
	}
	if err != nil {
		return false, err
	}
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		want := o.Offset
		if txn {
			want--
		}
		if o.Offset == 0 {
			return
		}
		if c, ok := committed.Lookup(topic, o.Partition); !ok || c.At < want {
			done = false
		}
	})
	return done, nil
}
