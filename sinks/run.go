package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
)

// Options configures Run. Brokers is required; every other field has a default.
type Options struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Group is the consumer group. Default "weir-sink-" + the writer's name.
	Group string
	// Topics are the topics sunk, each a catalogue topic (its value type comes from the
	// catalogue). Default: every topic of the catalogue but the indexer's own
	// chain.checkpoints.
	Topics []string
	// Catalog maps topics to their value types. Default catalog.All(); tests pass
	// prefixed names.
	Catalog []catalog.Topic
	// MaxBatch bounds the records of one Write. Default 20,000.
	MaxBatch int
	// RetryBackoff is the first wait after a failed Write before the store is pinged
	// again; it doubles up to MaxBackoff. Defaults 500ms and 30s.
	RetryBackoff, MaxBackoff time.Duration
	// Logger receives errors and pauses. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives the sink's measurements. Default: none.
	Metrics *Metrics
	// KafkaOpts are extra franz-go options (TLS, SASL).
	KafkaOpts []kgo.Opt
}

func (o *Options) setDefaults(w Writer) {
	if o.Group == "" {
		o.Group = "weir-sink-" + w.Name()
	}
	if o.Catalog == nil {
		o.Catalog = catalog.All()
	}
	if len(o.Topics) == 0 {
		for _, t := range o.Catalog {
			if t.Name != "chain.checkpoints" {
				o.Topics = append(o.Topics, t.Name)
			}
		}
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 20_000
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Run consumes opts.Topics as a member of opts.Group (read committed) and lands every
// record through w, until ctx is done; then it returns nil. The offsets of a poll are
// committed only after Write returned nil for its records, so a crash at any point
// replays at most the records of the poll in flight, which the Writer absorbs
// (Writer.Write is idempotent).
//
// When Write fails (the store is down or refuses the load) Run pauses fetching, waits
// with a doubling backoff, pings the store, and writes the same records again once it
// answers: an outage costs time, never records. Rebalances wait for the poll in hand
// to be written. A record that does not decode as its topic's type is logged and
// counted (weir_sink_poison_total) and skipped; so is a record the Writer reports as
// ErrPoison.
func Run(ctx context.Context, w Writer, opts Options) error {
	if len(opts.Brokers) == 0 {
		return errors.New("sink: no Kafka brokers")
	}
	opts.setDefaults(w)
	types := map[string]string{}
	for _, t := range opts.Catalog {
		types[t.Name] = t.Value
	}
	for _, t := range opts.Topics {
		if types[t] == "" {
			return fmt.Errorf("sink %s: topic %s is not in the catalogue", w.Name(), t)
		}
	}
	r := &runner{w: w, o: opts, types: types, log: opts.Logger.With("sink", w.Name())}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(opts.Brokers...),
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeTopics(opts.Topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(r.assigned),
	}, opts.KafkaOpts...)...)
	if err != nil {
		return err
	}
	defer func() {
		// A poll in hand blocks rebalances (BlockRebalanceOnPoll), and leaving the group
		// on Close is one: allow it, or Close waits forever.
		cl.AllowRebalance()
		cl.Close()
	}()
	r.cl = cl
	r.log.Info("sink started", "group", opts.Group, "topics", len(opts.Topics))
	// Two stages overlap: while one poll's records are written (and the store works on
	// them), the next poll's records, when the client already holds some, are fetched
	// and decoded. Rebalances are held back while records are in hand (the client
	// blocks them between a poll and AllowRebalance), so the pipeline drains, and lets
	// one through, whenever nothing is buffered and at least every drainEvery: a
	// partition is never written to by two members at once.
	cur, err := r.poll(ctx)
	lastDrain := time.Now()
	for {
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wrote := make(chan error, 1)
		go func(b batch) { wrote <- r.write(ctx, b) }(cur)
		var next batch
		prefetched := false
		if cl.BufferedFetchRecords() > 0 && time.Since(lastDrain) < drainEvery {
			next, err = r.poll(ctx)
			prefetched = true
		}
		if werr := <-wrote; werr != nil {
			if ctx.Err() != nil {
				return nil
			}
			return werr
		}
		if err != nil {
			continue // the poll failed: returned above
		}
		if !prefetched {
			cl.AllowRebalance()
			lastDrain = time.Now()
			next, err = r.poll(ctx)
		}
		cur = next
	}
}

// runner is the state of one Run.
type runner struct {
	w     Writer
	o     Options
	types map[string]string
	log   *slog.Logger
	cl    *kgo.Client

	mu      sync.Mutex
	pending map[string][]int32 // set by a rebalance, handed to an Assigner before the next Write
	owned   map[string][]int32
}

// assigned runs in the client's group goroutine while no poll is being handled
// (BlockRebalanceOnPoll).
func (r *runner) assigned(_ context.Context, _ *kgo.Client, added map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owned == nil {
		r.owned = map[string][]int32{}
	}
	for t, ps := range added {
		r.owned[t] = append(r.owned[t], ps...)
	}
	r.pending = r.owned
	r.log.Info("partitions assigned", "added", added)
}

// drainEvery bounds how long the pipeline holds rebalances back under a steady load.
const drainEvery = 2 * time.Second

// batch is one poll's records, raw and decoded.
type batch struct {
	raw  []*kgo.Record
	recs []Record
}

// poll fetches up to MaxBatch records and decodes them; records that do not decode are
// counted as poison and left out of recs (their offsets are still committed).
func (r *runner) poll(ctx context.Context) (batch, error) {
	fs := r.cl.PollRecords(ctx, r.o.MaxBatch)
	if err := ctx.Err(); err != nil {
		return batch{}, err
	}
	var ferr error
	fs.EachError(func(topic string, p int32, err error) {
		ferr = errors.Join(ferr, fmt.Errorf("%s[%d]: %w", topic, p, err))
	})
	if ferr != nil {
		r.log.Warn("fetch failed; retrying", "err", ferr)
	}
	b := batch{raw: fs.Records()}
	b.recs = make([]Record, 0, len(b.raw))
	for _, k := range b.raw {
		typ := r.types[k.Topic]
		ev, err := codec.Decode(typ, k.Value)
		if err != nil {
			r.poison(k.Topic, k.Partition, k.Offset, err)
			continue
		}
		b.recs = append(b.recs, Record{Topic: k.Topic, Partition: k.Partition, Offset: k.Offset, Key: k.Key,
			Timestamp: k.Timestamp, Type: typ, Event: ev})
	}
	return b, nil
}

// write lands a batch through the writer and commits its offsets. It tells an Assigner
// about a rebalance first.
func (r *runner) write(ctx context.Context, b batch) error {
	r.mu.Lock()
	pending := r.pending
	r.pending = nil
	r.mu.Unlock()
	if a, ok := r.w.(Assigner); ok && pending != nil {
		if err := r.retry(ctx, "assign", func() error { return a.Assigned(ctx, pending) }); err != nil {
			return err
		}
	}
	if len(b.raw) == 0 {
		return nil
	}
	start := time.Now()
	if len(b.recs) > 0 {
		err := r.retry(ctx, "write", func() error {
			err := r.w.Write(ctx, b.recs)
			if errors.Is(err, ErrPoison) {
				return r.oneByOne(ctx, b.recs)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	r.o.Metrics.wrote(r.w.Name(), len(b.recs), time.Since(start))
	if err := r.cl.CommitRecords(ctx, b.raw...); err != nil {
		// The records are in the store; they come again after a restart and the
		// writer absorbs them.
		r.log.Warn("offset commit failed", "err", err)
	}
	return nil
}

// oneByOne writes recs one at a time after a batch was refused as poison, skipping
// the records that are refused alone.
func (r *runner) oneByOne(ctx context.Context, recs []Record) error {
	for _, rec := range recs {
		err := r.w.Write(ctx, []Record{rec})
		switch {
		case errors.Is(err, ErrPoison):
			r.poison(rec.Topic, rec.Partition, rec.Offset, err)
		case err != nil:
			return err
		}
	}
	return nil
}

func (r *runner) poison(topic string, partition int32, offset int64, err error) {
	r.log.Error("record skipped: it cannot be stored", "topic", topic, "partition", partition, "offset", offset, "err", err)
	r.o.Metrics.poisoned(r.w.Name())
}

// retry runs f until it succeeds or ctx is done. After a failure it pauses fetching,
// and waits with a doubling backoff until the store answers a ping before trying
// again.
func (r *runner) retry(ctx context.Context, what string, f func() error) error {
	wait := r.o.RetryBackoff
	paused := false
	defer func() {
		if paused {
			r.cl.ResumeFetchTopics(r.o.Topics...)
			r.o.Metrics.pause(r.w.Name(), false)
			r.log.Info("store is back; consuming again")
		}
	}()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !paused {
			paused = true
			r.cl.PauseFetchTopics(r.o.Topics...)
			r.o.Metrics.pause(r.w.Name(), true)
		}
		r.log.Warn("store failed; paused, will retry", "op", what, "err", err, "backoff", wait)
		r.o.Metrics.failed(r.w.Name())
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait = min(2*wait, r.o.MaxBackoff)
			if err := r.w.Ping(ctx); err == nil {
				break
			}
		}
	}
}

// Metrics are a sink's Prometheus collectors, labelled by sink name. A nil *Metrics
// records nothing.
type Metrics struct {
	records  *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	failures *prometheus.CounterVec
	poison   *prometheus.CounterVec
	paused   *prometheus.GaugeVec
}

// NewMetrics registers the sinks' collectors on reg:
//
//	weir_sink_records_total{sink}        records written
//	weir_sink_write_seconds{sink}        time of one Write, retries included
//	weir_sink_write_failures_total{sink} failed Write attempts (outages)
//	weir_sink_poison_total{sink}         records skipped as impossible to store
//	weir_sink_paused{sink}               1 while consumption is paused by an outage
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weir_sink_records_total",
			Help: "Records written to the store."}, []string{"sink"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "weir_sink_write_seconds",
			Help: "Time of one Write, retries included.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"sink"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weir_sink_write_failures_total",
			Help: "Failed Write attempts."}, []string{"sink"}),
		poison: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weir_sink_poison_total",
			Help: "Records skipped because they cannot be stored."}, []string{"sink"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "weir_sink_paused",
			Help: "1 while consumption is paused by a store outage."}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.seconds, m.failures, m.poison, m.paused)
	}
	return m
}

func (m *Metrics) wrote(sink string, n int, d time.Duration) {
	if m != nil {
		m.records.WithLabelValues(sink).Add(float64(n))
		m.seconds.WithLabelValues(sink).Observe(d.Seconds())
	}
}

func (m *Metrics) failed(sink string) {
	if m != nil {
		m.failures.WithLabelValues(sink).Inc()
	}
}

func (m *Metrics) poisoned(sink string) {
	if m != nil {
		m.poison.WithLabelValues(sink).Inc()
	}
}

func (m *Metrics) pause(sink string, on bool) {
	if m != nil {
		v := 0.0
		if on {
			v = 1
		}
		m.paused.WithLabelValues(sink).Set(v)
	}
}

// Paused returns the paused gauge of sink, for tests and dashboards.
func (m *Metrics) Paused(sink string) prometheus.Gauge { return m.paused.WithLabelValues(sink) }

// Poison returns the poison counter of sink.
func (m *Metrics) Poison(sink string) prometheus.Counter { return m.poison.WithLabelValues(sink) }
