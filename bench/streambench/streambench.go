// Package streambench measures the stream runtime on one broker, in one run:
//
//   - pass-through: a consumer-group member that copies every record of a topic to another
//     topic (no state, no transactions, at-least-once offsets): the ceiling of what a
//     consume→produce loop does on this broker and machine;
//   - stateful EOS: the reference processor (processors/totals: per-account 1-minute
//     window totals in Pebble, changelogged, exactly-once through Kafka transactions) on
//     records of the same size.
//
// Both drain a topic preloaded with the same number of records; the rate is records
// divided by the time from the first record consumed to the last offset committed. Then
// a latency phase feeds the stateful processor at a fixed rate (below its throughput)
// and measures, for every record, the time from its produce to the moment the
// transaction that consumed it has committed (its offset shows in the group's committed
// offsets, so its state change and outputs are visible to read_committed readers): the
// end-to-end latency of an exactly-once update, commit included.
package streambench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/weirhq/weir/bench/loadgen"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/processors/totals"
)

// Options configures a run. Zero fields take the defaults stated on each.
type Options struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Records is the number of records each throughput phase drains. Default 500000:
	// the pass-through drains it in about half a second here; fewer makes its rate noisy.
	Records int
	// RecordSize is the size in bytes of each record value. Default 200.
	RecordSize int
	// Partitions is the partition count of the benchmark topics. Default 6.
	Partitions int32
	// Accounts is the number of distinct keys. Default 10000.
	Accounts int
	// CommitInterval is the stateful processor's transaction commit interval.
	// Default 100ms.
	CommitInterval time.Duration
	// LatencyRate is the records per second fed during the latency phase. Default 2000.
	LatencyRate int
	// LatencyDuration is how long the latency phase feeds records. Default 10s.
	LatencyDuration time.Duration
	// Repetitions is how many times both throughput phases run, each on fresh topics;
	// the rates reported are the medians. Default 3.
	Repetitions int
	// StateDir holds the stateful processor's Pebble database. Required.
	StateDir string
	// Progress receives one line per step. Default: discarded.
	Progress io.Writer
}

func (o *Options) setDefaults() {
	if o.Records <= 0 {
		o.Records = 500000
	}
	if o.RecordSize <= 0 {
		o.RecordSize = 200
	}
	if o.Partitions <= 0 {
		o.Partitions = 6
	}
	if o.Accounts <= 0 {
		o.Accounts = 10000
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = 100 * time.Millisecond
	}
	if o.LatencyRate <= 0 {
		o.LatencyRate = 2000
	}
	if o.LatencyDuration <= 0 {
		o.LatencyDuration = 10 * time.Second
	}
	if o.Repetitions <= 0 {
		o.Repetitions = 3
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Result is what a run measured. Its JSON form is the benchmark's last output line.
type Result struct {
	PassthroughRPS float64 `json:"passthrough_rps"`
	StatefulEOSRPS float64 `json:"stateful_eos_rps"`
	Ratio          float64 `json:"ratio"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`

	Records          int       `json:"records"`
	RecordSize       int       `json:"record_size"`
	Partitions       int32     `json:"partitions"`
	CommitIntervalMs float64   `json:"commit_interval_ms"`
	LatencySamples   int       `json:"latency_samples"`
	Repetitions      int       `json:"repetitions"`
	PassthroughRuns  []float64 `json:"passthrough_rps_runs"`
	StatefulEOSRuns  []float64 `json:"stateful_eos_rps_runs"`
}

// Run performs both phases and the latency phase on fresh topics, and deletes them
// afterwards. It blocks for the whole run.
func Run(ctx context.Context, o Options) (Result, error) {
	o.setDefaults()
	if len(o.Brokers) == 0 {
		return Result{}, errors.New("streambench: no brokers")
	}
	if o.StateDir == "" {
		return Result{}, errors.New("streambench: no state dir")
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	prefix := "bench-" + hex.EncodeToString(suffix) + "."
	b := &bench{o: o, prefix: prefix, base: prefix,
		gen: loadgen.Generator{Accounts: o.Accounts, Size: o.RecordSize, IDPrefix: "bench-"}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100000))
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	b.cl, b.adm = cl, kadm.NewClient(cl)
	defer b.cleanup()

	res := Result{Records: o.Records, RecordSize: o.RecordSize, Partitions: o.Partitions,
		CommitIntervalMs: float64(o.CommitInterval) / float64(time.Millisecond), Repetitions: o.Repetitions}
	base := b.prefix
	var lat []time.Duration
	for rep := 1; rep <= o.Repetitions; rep++ {
		b.prefix = fmt.Sprintf("%sr%d.", base, rep)
		last := rep == o.Repetitions
		b.progress("repetition %d of %d", rep, o.Repetitions)
		pass, stateful, l, err := b.repetition(ctx, last)
		if err != nil {
			return res, err
		}
		res.PassthroughRuns = append(res.PassthroughRuns, float64(o.Records)/pass.Seconds())
		res.StatefulEOSRuns = append(res.StatefulEOSRuns, float64(o.Records)/stateful.Seconds())
		if last {
			lat = l
		}
	}
	res.PassthroughRPS, res.StatefulEOSRPS = median(res.PassthroughRuns), median(res.StatefulEOSRuns)
	res.Ratio = res.StatefulEOSRPS / res.PassthroughRPS
	res.LatencySamples = len(lat)
	res.P50Ms, res.P99Ms = percentileMs(lat, 0.50), percentileMs(lat, 0.99)
	return res, nil
}

// repetition creates fresh topics, preloads them, runs both throughput phases and, if
// latency is set, the latency phase.
func (b *bench) repetition(ctx context.Context, latency bool) (pass, stateful time.Duration, lat []time.Duration, err error) {
	// Event times end about now, as live traffic's do. Records stamped far in the past
	// make the broker expire the producer's state (producer.id.expiration.ms counts from
	// the records' timestamps), and the producer then stalls for seconds re-establishing
	// it: worth knowing for backfills, not what this benchmark measures.
	b.base0 = time.Now().Add(-time.Duration(b.o.Records) * time.Millisecond).Truncate(time.Minute)
	for _, t := range []string{b.t("pass.in"), b.t("pass.out"), b.t("ledger.postings"), b.t("totals.out")} {
		if err := b.create(ctx, t); err != nil {
			return 0, 0, nil, err
		}
	}
	b.progress("preloading %d records of %d bytes into each input topic", b.o.Records, b.o.RecordSize)
	if err := b.preload(ctx, b.t("pass.in")); err != nil {
		return 0, 0, nil, err
	}
	if err := b.preload(ctx, b.t("ledger.postings")); err != nil {
		return 0, 0, nil, err
	}

	b.progress("pass-through: consume → produce, no state, no transactions")
	if pass, err = b.passthrough(ctx); err != nil {
		return 0, 0, nil, fmt.Errorf("pass-through: %w", err)
	}
	b.progress("pass-through: %d records in %v = %.0f records/s", b.o.Records, pass.Round(time.Millisecond),
		float64(b.o.Records)/pass.Seconds())

	b.progress("stateful exactly-once: the totals processor, commit interval %v", b.o.CommitInterval)
	if lat, stateful, err = b.stateful(ctx, latency); err != nil {
		return 0, 0, nil, fmt.Errorf("stateful: %w", err)
	}
	return pass, stateful, lat, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type bench struct {
	o      Options
	base0  time.Time // event time of the first record
	base   string    // prefix of every topic and group of the run
	gen    loadgen.Generator
	prefix string
	cl     *kgo.Client
	adm    *kadm.Client
}

func (b *bench) t(name string) string { return b.prefix + name }

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *bench) create(ctx context.Context, topic string) error {
	// Kept forever: the records' event times are synthetic and in the past, and a
	// time-based retention would delete them (and the producer's state) mid-run.
	forever := "-1"
	resp, err := b.adm.CreateTopic(ctx, b.o.Partitions, -1, map[string]*string{"retention.ms": &forever}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	return nil
}

func (b *bench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics, err := b.adm.ListTopics(ctx)
	if err != nil {
		return
	}
	var mine []string
	for name := range topics {
		if strings.HasPrefix(name, b.base) {
			mine = append(mine, name)
		}
	}
	_, _ = b.adm.DeleteTopics(ctx, mine...)
	groups, err := b.adm.ListGroups(ctx)
	if err != nil {
		return
	}
	var mineGroups []string
	for _, g := range groups.Groups() {
		if strings.HasPrefix(g, b.base) {
			mineGroups = append(mineGroups, g)
		}
	}
	_, _ = b.adm.DeleteGroups(ctx, mineGroups...)
}

// The event time of the first record is set per run, so that the last preloaded record
// is about now; event times advance 1ms per record,
// so windows close as the stream advances, as they would live.

// posting returns the i-th benchmark record: a generated posting of RecordSize bytes.
func (b *bench) posting(topic string, i int, at time.Time) (*kgo.Record, error) {
	p, v, err := b.gen.Posting(i, at)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Key: []byte(p.GetAccountId()), Value: v}, nil
}

func (b *bench) preload(ctx context.Context, topic string) error {
	var failed error
	for i := range b.o.Records {
		r, err := b.posting(topic, i, b.base0.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			return err
		}
		b.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil && failed == nil {
				failed = err
			}
		})
	}
	if err := b.cl.Flush(ctx); err != nil {
		return err
	}
	return failed
}

// passthrough drains pass.in into pass.out with a plain group consumer and producer.
func (b *bench) passthrough(ctx context.Context) (time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.o.Brokers...), kgo.ConsumerGroup(b.t("pass")),
		kgo.ConsumeTopics(b.t("pass.in")), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100000), kgo.DisableAutoCommit())
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var start time.Time
	n := 0
	var produceErr error
	for n < b.o.Records {
		fs := cl.PollRecords(ctx, 10000)
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := fs.Err0(); err != nil {
			return 0, err
		}
		if start.IsZero() && fs.NumRecords() > 0 {
			start = time.Now()
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			cl.Produce(ctx, &kgo.Record{Topic: b.t("pass.out"), Key: r.Key, Value: r.Value, Timestamp: r.Timestamp},
				func(_ *kgo.Record, err error) {
					if err != nil && produceErr == nil {
						produceErr = err
					}
				})
		})
		if err := cl.Flush(ctx); err != nil {
			return 0, err
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return 0, err
		}
	}
	return time.Since(start), produceErr
}

// stateful drains the postings topic through the totals processor, then runs the
// latency phase against the same running processor.
func (b *bench) stateful(ctx context.Context, latency bool) ([]time.Duration, time.Duration, error) {
	reg := prometheus.NewRegistry()
	proc, err := totals.New(totals.Config{App: b.t("totals"), Input: b.t("ledger.postings"), Output: b.t("totals.out")},
		b.o.Brokers,
		stream.WithStateDir(filepath.Join(b.o.StateDir, b.prefix+"totals")),
		stream.WithInstanceID("bench"),
		stream.WithCommitInterval(b.o.CommitInterval),
		stream.WithRegisterer(reg),
		stream.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, 0, err
	}
	runCtx, stop := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return proc.Run(gctx) })
	defer func() {
		stop()
		_ = g.Wait()
	}()

	// Throughput: from the first record counted in to every input offset committed.
	start, err := waitFor(gctx, 5*time.Millisecond, func() (bool, error) { return recordsIn(reg) > 0, nil })
	if err != nil {
		return nil, 0, err
	}
	end, err := waitFor(gctx, 10*time.Millisecond, func() (bool, error) {
		return b.consumed(gctx, b.t("totals"), b.t("ledger.postings"))
	})
	if err != nil {
		return nil, 0, err
	}
	took := end.Sub(start)
	txns, txnTime := histogram(reg, "weir_stream_transaction_seconds", "")
	aborts, _ := histogram(reg, "weir_stream_transaction_seconds", "abort")
	b.progress("stateful exactly-once: %d records in %v = %.0f records/s (%d transactions, %d aborted, %v ending them)",
		b.o.Records, took.Round(time.Millisecond), float64(b.o.Records)/took.Seconds(), txns, aborts, txnTime.Round(time.Millisecond))

	if !latency {
		return nil, took, nil
	}
	lat, err := b.latency(gctx)
	return lat, took, err
}

// latency feeds the running processor at LatencyRate for LatencyDuration and measures,
// for every record, the time from its produce to the moment the processor's group
// offsets show it committed: the transaction that carries its state change, outputs and
// offset is then visible to read_committed readers. The group's offsets are read every
// pollEvery, which bounds the measurement's resolution.
func (b *bench) latency(ctx context.Context) ([]time.Duration, error) {
	const pollEvery = 2 * time.Millisecond
	total := int(float64(b.o.LatencyRate) * b.o.LatencyDuration.Seconds())
	b.progress("latency: %d records at %d/s for %v", total, b.o.LatencyRate, b.o.LatencyDuration)

	type sent struct {
		offset int64
		at     time.Time
	}
	var mu sync.Mutex
	pending := map[int32][]sent{} // per partition, in offset order
	acked := 0
	var produceErr error

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		perTick := max(1, b.o.LatencyRate/100)
		next := b.base0.Add(time.Duration(b.o.Records) * time.Millisecond)
		for n := 0; n < total; {
			select {
			case <-gctx.Done():
				return gctx.Err()
			case <-tick.C:
			}
			for i := 0; i < perTick && n < total; i++ {
				r, err := b.posting(b.t("ledger.postings"), b.o.Records+n, next)
				if err != nil {
					return err
				}
				next = next.Add(time.Millisecond)
				r.Timestamp = time.Now()
				b.cl.Produce(gctx, r, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						if produceErr == nil {
							produceErr = err
						}
						return
					}
					acked++
					pending[r.Partition] = append(pending[r.Partition], sent{r.Offset, r.Timestamp})
				})
				n++
			}
		}
		return b.cl.Flush(gctx)
	})
	lat := make([]time.Duration, 0, total)
	g.Go(func() error {
		deadline := time.Now().Add(b.o.LatencyDuration + 30*time.Second)
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			committed, err := b.adm.FetchOffsets(gctx, b.t("totals"))
			now := time.Now()
			if err != nil && !kerr.IsRetriable(err) { // retriable: the coordinator is loading; no offsets yet
				return err
			}
			mu.Lock()
			for p, recs := range pending {
				c, ok := committed.Lookup(b.t("ledger.postings"), p)
				if !ok {
					continue
				}
				i := 0
				for i < len(recs) && recs[i].offset < c.At {
					lat = append(lat, now.Sub(recs[i].at))
					i++
				}
				pending[p] = recs[i:]
			}
			done, perr := len(lat) == total, produceErr
			mu.Unlock()
			switch {
			case perr != nil:
				return perr
			case done:
				return nil
			case now.After(deadline):
				return fmt.Errorf("latency: %d of %d records committed within the deadline (%d acknowledged)", len(lat), total, acked)
			}
			select {
			case <-gctx.Done():
				return gctx.Err()
			case <-tick.C:
			}
		}
	})
	return lat, g.Wait()
}

// consumed reports whether the group has committed the end offset of every partition.
func (b *bench) consumed(ctx context.Context, group, topic string) (bool, error) {
	ends, err := b.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, err
	}
	committed, err := b.adm.FetchOffsets(ctx, group)
	if kerr.IsRetriable(err) {
		return false, nil // e.g. the group coordinator is still loading
	}
	if err != nil {
		return false, err
	}
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		if c, ok := committed.Lookup(topic, o.Partition); !ok || c.At < o.Offset {
			done = false
		}
	})
	return done, nil
}

func recordsIn(reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "weir_stream_records_in_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// histogram returns the sample count and sum of a histogram in reg, of the series whose
// outcome label is outcome ("" for all).
func histogram(reg *prometheus.Registry, name, outcome string) (uint64, time.Duration) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, 0
	}
	var n uint64
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				if outcome != "" && !hasLabel(m.GetLabel(), "outcome", outcome) {
					continue
				}
				n += m.GetHistogram().GetSampleCount()
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return n, time.Duration(sum * float64(time.Second))
}

func hasLabel(labels []*dto.LabelPair, name, value string) bool {
	for _, l := range labels {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// waitFor polls cond every interval until it holds, and returns when it first held.
func waitFor(ctx context.Context, interval time.Duration, cond func() (bool, error)) (time.Time, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil && ctx.Err() == nil {
			return time.Time{}, err
		}
		if ok {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-t.C:
		}
	}
}

func percentileMs(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i]) / float64(time.Millisecond)
}
