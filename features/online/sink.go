package online

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/schemas/codec"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// SinkConfig configures a Sink.
type SinkConfig struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Topic is the FeatureVector topic. Default: "risk.features".
	Topic string
	// Group is the consumer group. Default: "features-online". A new group rebuilds
	// the store from the start of the topic.
	Group string
	// KafkaOpts are appended to the consumer's options (TLS, SASL…).
	KafkaOpts []kgo.Opt
	// Logger logs retries. Default: discard.
	Logger *slog.Logger
	// MaxBackoff caps the wait between retries of a failed Redis write. Default: 5s.
	MaxBackoff time.Duration
}

// Sink copies committed vectors from risk.features into a Store: poll, write the batch
// (version-guarded), commit the offsets. A Redis outage stops it (retrying with
// backoff, never skipping) until Redis is back: backpressure, not loss.
type Sink struct {
	cfg   SinkConfig
	store *Store
}

// NewSink returns a Sink writing into store. It does no I/O.
func NewSink(cfg SinkConfig, store *Store) (*Sink, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("online: sink without brokers")
	}
	if cfg.Topic == "" {
		cfg.Topic = "risk.features"
	}
	if cfg.Group == "" {
		cfg.Group = "features-online"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	return &Sink{cfg: cfg, store: store}, nil
}

// Run consumes until ctx is cancelled; it returns ctx's error then, or a fatal Kafka
// error. It blocks.
func (s *Sink) Run(ctx context.Context) error {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...), kgo.ConsumerGroup(s.cfg.Group), kgo.ConsumeTopics(s.cfg.Topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.BlockRebalanceOnPoll(),
	}, s.cfg.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("online: sink client: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return ctx.Err()
		}
		var fatal error
		fs.EachError(func(_ string, _ int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			s.cfg.Logger.Warn("online sink fetch", "err", err)
			if !kgo.IsRetryableBrokerErr(err) {
				fatal = err
			}
		})
		if fatal != nil {
			cl.AllowRebalance()
			return fmt.Errorf("online: sink fetch: %w", fatal)
		}
		var batch []Versioned
		fs.EachRecord(func(r *kgo.Record) {
			var v riskv1.FeatureVector
			if err := codec.Unmarshal(r.Value, &v); err != nil || v.GetFeatureSet() != s.store.set {
				return // not a vector of this store's set: nothing to serve
			}
			var gen uint64
			for _, h := range r.Headers {
				if h.Key == features.HeaderGeneration {
					gen, _ = strconv.ParseUint(string(h.Value), 10, 64)
				}
			}
			batch = append(batch, Versioned{Vector: &v, Generation: gen, Seq: uint64(r.Offset)})
		})
		if err := s.write(ctx, batch); err != nil {
			cl.AllowRebalance()
			return err
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("online sink commit", "err", err) // the batch is re-written, harmlessly
		}
		cl.AllowRebalance()
	}
}

func (s *Sink) write(ctx context.Context, batch []Versioned) error {
	backoff := 50 * time.Millisecond
	for {
		_, err := s.store.WriteBatch(ctx, batch)
		if err == nil {
			return nil
		}
		s.cfg.Logger.Warn("online sink write; retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}
