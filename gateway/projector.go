package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Projector keeps the Store in step with Kafka: it reads payments.merchants and
// payments.intents (every partition, read_committed) and applies each record to the
// store, version-guarded. Its position is kept in the store itself, so a Redis that lost
// its data (or a new one) is rebuilt from the start of the topics, and a projector that
// restarts resumes where the store is. Applying a record twice is harmless.
//
// After a record is applied, OnIntent (if set) is called with it: the webhook fan-out
// hangs there. A failing OnIntent is retried with the record, never skipped.
type Projector struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Store is the projection. Required.
	Store *Store
	// TopicPrefix is put before the topic names. Default "".
	TopicPrefix string
	// OnIntent, if set, is called after each intent record is applied.
	OnIntent func(ctx context.Context, it *paymentsv1.IntentTransition) error
	// Extra projects more topics (named without TopicPrefix): each record of such a
	// topic is passed to its function, which must be idempotent (version-guarded). A
	// failure is retried, never skipped. See Server.Projections.
	Extra map[string]func(ctx context.Context, value []byte) error
	// KafkaOpts are extra client options (TLS, SASL).
	KafkaOpts []kgo.Opt
	// Logger receives progress and failures. Default slog.Default().
	Logger *slog.Logger

	readyOnce sync.Once
	ready     chan struct{}
}

// Ready returns a channel closed once the projection has caught up with the topics as they
// were when Run started (at once for empty topics). Until then the store may lack records
// Kafka has: Service does not serve the API before it.
func (p *Projector) Ready() <-chan struct{} {
	p.readyOnce.Do(func() { p.ready = make(chan struct{}) })
	return p.ready
}

// Run projects until ctx is done; it returns nil then. It blocks.
func (p *Projector) Run(ctx context.Context) error {
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	topics := []string{p.TopicPrefix + TopicMerchants, p.TopicPrefix + TopicIntents}
	for t := range p.Extra {
		topics = append(topics, p.TopicPrefix+t)
	}
	offsets, err := p.Store.offsets(ctx, "projector")
	if err != nil {
		return err
	}
	// Every partition is consumed from the start (so partitions the store has not seen,
	// new ones included, are read whole), and one the store is past jumps to where the
	// store is on its first fetch. (franz-go refuses ConsumePartitions for a topic that
	// ConsumeTopics names too, so the positions cannot be given up front.)
	stored := map[string]map[int32]int64{}
	for k, off := range offsets {
		topic, part, ok := splitTP(k)
		if !ok {
			continue
		}
		if stored[topic] == nil {
			stored[topic] = map[int32]int64{}
		}
		stored[topic][part] = off
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(p.Brokers...),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, p.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("gateway: projector client: %w", err)
	}
	defer cl.Close()
	p.Ready()
	ready := p.ready
	var target map[string]int64 // topic/partition → end offset at start
	if err := retry(ctx, func() error {
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			log.Warn("projector: end offsets unavailable; retrying", "err", err)
			return err
		}
		target = map[string]int64{}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > offsets[tpKey(o.Topic, o.Partition)] {
				target[tpKey(o.Topic, o.Partition)] = o.Offset
			}
		})
		return nil
	}); err != nil {
		return nil
	}
	caughtUp := func(next map[string]int64) {
		for k, off := range next {
			if target[k] <= off {
				delete(target, k)
			}
		}
		if len(target) == 0 {
			select {
			case <-ready:
			default:
				log.Info("projection caught up with Kafka")
				close(ready)
			}
		}
	}
	caughtUp(nil)
	for {
		fs := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, part int32, err error) {
			log.Warn("projector fetch failed; retrying", "topic", t, "partition", part, "err", err)
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		next := map[string]int64{}
		jump := map[string]map[int32]kgo.EpochOffset{}
		for _, r := range recs {
			if at, ok := stored[r.Topic][r.Partition]; ok && r.Offset < at {
				if jump[r.Topic] == nil {
					jump[r.Topic] = map[int32]kgo.EpochOffset{}
				}
				jump[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: -1, Offset: at}
				continue // applied before the restart
			}
			if err := p.apply(ctx, r); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Error("projector apply failed; retrying", "topic", r.Topic, "offset", r.Offset, "err", err)
				if err := retry(ctx, func() error { return p.apply(ctx, r) }); err != nil {
					return nil
				}
			}
			next[tpKey(r.Topic, r.Partition)] = r.Offset + 1
		}
		cl.SetOffsets(jump)
		if len(next) == 0 {
			continue
		}
		if err := retry(ctx, func() error { return p.Store.saveOffsets(ctx, "projector", next) }); err != nil {
			return nil
		}
		caughtUp(next)
	}
}

func (p *Projector) apply(ctx context.Context, r *kgo.Record) error {
	topic := strings.TrimPrefix(r.Topic, p.TopicPrefix)
	if f, ok := p.Extra[topic]; ok {
		return f(ctx, r.Value)
	}
	switch topic {
	case TopicMerchants:
		m := new(paymentsv1.MerchantConfig)
		if err := proto.Unmarshal(r.Value, m); err != nil {
			return nil // not ours to fix: the sinks' poison counters show it
		}
		_, err := p.Store.ApplyMerchant(ctx, m)
		return err
	case TopicIntents:
		it := new(paymentsv1.IntentTransition)
		if err := proto.Unmarshal(r.Value, it); err != nil {
			return nil
		}
		if _, err := p.Store.ApplyIntent(ctx, it); err != nil {
			return err
		}
		if p.OnIntent != nil {
			return p.OnIntent(ctx, it)
		}
	}
	return nil
}

// retry runs f with a doubling backoff (10 ms to 2 s) until it succeeds or ctx is done.
func retry(ctx context.Context, f func() error) error {
	wait := 10 * time.Millisecond
	for {
		if err := f(); err == nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func tpKey(topic string, part int32) string { return topic + "/" + strconv.Itoa(int(part)) }

func splitTP(k string) (string, int32, bool) {
	i := strings.LastIndexByte(k, '/')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(k[i+1:], 10, 32)
	if err != nil {
		return "", 0, false
	}
	return k[:i], int32(n), true
}

// offsets returns the positions saved under name ("topic/partition" → next offset).
func (s *Store) offsets(ctx context.Context, name string) (map[string]int64, error) {
	m, err := s.rdb.HGetAll(ctx, s.key("offsets", name)).Result()
	if err != nil {
		return nil, fmt.Errorf("gateway: read %s offsets: %w", name, err)
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, errors.New("gateway: corrupt offset " + k)
		}
		out[k] = n
	}
	return out, nil
}

func (s *Store) saveOffsets(ctx context.Context, name string, next map[string]int64) error {
	args := make([]any, 0, 2*len(next))
	for k, v := range next {
		args = append(args, k, v)
	}
	return s.rdb.HSet(ctx, s.key("offsets", name), args...).Err()
}
