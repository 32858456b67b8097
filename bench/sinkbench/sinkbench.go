package sinkbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks"
)

// Topic is the catalogue topic the benchmark loads.
const Topic = "chain.transfers"

// progressEvery is the interval of the progress lines while loading.
const progressEvery = 3 * time.Second

// Run generates Options.Records transfers, produces them to a fresh topic, and loads
// them into each store through the sink and through the store's own client (see the
// package documentation), checking the exact counts. It deletes what it created and
// returns the rates. It blocks for the whole run (about a minute per store for a
// million records here). CPU samples of each timed phase carry the profiler label
// phase=<store>-sink or <store>-raw.
func Run(ctx context.Context, o Options) (Result, error) {
	o.setDefaults()
	if len(o.Brokers) == 0 {
		return Result{}, errors.New("sinkbench: no brokers")
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	b := &bench{o: o, id: "bench-" + hex.EncodeToString(suffix)}
	b.topic = b.id + "." + Topic
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	b.cl, b.adm = cl, kadm.NewClient(cl)
	defer b.cleanupKafka()

	if err := b.produce(ctx); err != nil {
		return Result{}, fmt.Errorf("sinkbench: produce: %w", err)
	}
	res := Result{Records: o.Records, Batch: o.Batch}
	if !o.SkipClickHouse {
		if res.ClickHouseSink, res.ClickHouseRaw, err = b.clickhouse(ctx); err != nil {
			return res, fmt.Errorf("sinkbench: clickhouse: %w", err)
		}
		res.ClickHouseRowsPerS = b.rate(res.ClickHouseSink)
		res.ClickHouseRawRowsPerS = b.rate(res.ClickHouseRaw)
		res.ClickHouseRatio = res.ClickHouseRowsPerS / res.ClickHouseRawRowsPerS
	}
	if !o.SkipElasticsearch {
		if res.ESSink, res.ESRaw, err = b.elasticsearch(ctx); err != nil {
			return res, fmt.Errorf("sinkbench: elasticsearch: %w", err)
		}
		res.ESDocsPerS = b.rate(res.ESSink)
		res.ESRawDocsPerS = b.rate(res.ESRaw)
		res.ESRatio = res.ESDocsPerS / res.ESRawDocsPerS
	}
	return res, nil
}

// bench is the state of one run.
type bench struct {
	o     Options
	id    string // prefix of everything the run creates: bench-<8 hex digits>
	topic string
	cl    *kgo.Client
	adm   *kadm.Client

	// pos[i] is where the i-th generated record landed.
	pos []position
	// ends are the end offsets of the topic's partitions after producing.
	ends map[int32]int64
	// groups are the consumer groups the sinks used.
	groups []string
	// events are the generated records, decoded, for the raw paths; made on first use.
	events []*chainv1.Transfer
	// quiet reports whether the stores are idle (no background merge); nil pieces are
	// skipped.
	quietCH, quietES func(context.Context) (bool, error)
}

type position struct {
	partition int32
	offset    int64
}

func (b *bench) rate(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(b.o.Records) / d.Seconds()
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// produce creates the topic and writes the records to it.
func (b *bench) produce(ctx context.Context) error {
	// Kept forever: event times are in the past, and a time-based retention must not
	// delete records mid-run.
	forever := "-1"
	resp, err := b.adm.CreateTopic(ctx, b.o.Partitions, -1, map[string]*string{"retention.ms": &forever}, b.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", b.topic, err)
	}
	b.progress("producing %d %s records (seed %d) to %s, %d partitions", b.o.Records, Topic, b.o.Seed, b.topic, b.o.Partitions)
	b.pos = make([]position, b.o.Records)
	gen := NewTransfers(b.o.Seed, b.o.Records)
	var (
		mu     sync.Mutex
		failed error
		bytes  atomic.Int64
	)
	start := time.Now()
	for i := range b.o.Records {
		t := gen.Next()
		v, err := codec.Marshal(t)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		bytes.Add(int64(len(v)))
		b.cl.Produce(ctx, &kgo.Record{Topic: b.topic, Key: []byte(t.GetTo()), Value: v}, func(r *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = errors.Join(failed, err)
				mu.Unlock()
				return
			}
			b.pos[i] = position{r.Partition, r.Offset}
		})
		if n := i + 1; n%250_000 == 0 && n < b.o.Records {
			b.progress("  produced %d/%d", n, b.o.Records)
		}
	}
	if err := b.cl.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		return failed
	}
	ends, err := b.adm.ListEndOffsets(ctx, b.topic)
	if err != nil {
		return err
	}
	b.ends = map[int32]int64{}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		b.ends[o.Partition] = o.Offset
		total += o.Offset
	})
	if total != int64(b.o.Records) {
		return fmt.Errorf("the topic holds %d records, want %d", total, b.o.Records)
	}
	b.progress("  produced %d records (%d MB of protobuf values) in %v", b.o.Records, bytes.Load()>>20, time.Since(start).Round(time.Millisecond))
	return nil
}

// generated returns the records of the run, decoded, generating them the first time.
func (b *bench) generated() []*chainv1.Transfer {
	if b.events == nil {
		gen := NewTransfers(b.o.Seed, b.o.Records)
		b.events = make([]*chainv1.Transfer, b.o.Records)
		for i := range b.events {
			b.events[i] = gen.Next()
		}
	}
	return b.events
}

// drain runs the sink with w on the topic until its group has committed every record,
// and returns the time from the first fetch to that commit.
func (b *bench) drain(ctx context.Context, w sinks.Writer) (time.Duration, error) {
	group := b.id + ".sink-" + w.Name()
	b.groups = append(b.groups, group)
	first := &firstFetch{}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	called := time.Now()
	go func() {
		errc <- sinks.Run(runCtx, renamed{w: w, from: b.topic, to: Topic}, sinks.Options{
			Brokers:  b.o.Brokers,
			Group:    group,
			Topics:   []string{b.topic},
			Catalog:  []catalog.Topic{{Name: b.topic, Key: "recipient address", Value: "weir.chain.v1.Transfer", Partitions: b.o.Partitions}},
			MaxBatch: b.o.Batch,
			Logger:   b.o.Logger,
			KafkaOpts: []kgo.Opt{
				kgo.WithHooks(first),
			},
		})
	}()
	defer func() {
		stop()
		<-errc
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	lastReport := time.Now()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case err := <-errc:
			errc <- err // for the deferred wait
			return 0, fmt.Errorf("sink stopped before the end: %v", err)
		case <-tick.C:
		}
		committed, done, err := b.committed(ctx, group)
		if kerr.IsRetriable(err) {
			continue // e.g. the group coordinator is still loading
		}
		if err != nil {
			return 0, err
		}
		now := time.Now()
		start := first.time()
		if done {
			if start.IsZero() {
				return 0, errors.New("every offset committed before the first fetch")
			}
			b.progress("  %s sink: first fetch %v after start (group join), %d records committed %v after it",
				w.Name(), start.Sub(called).Round(time.Millisecond), committed, now.Sub(start).Round(time.Millisecond))
			return now.Sub(start), nil
		}
		if now.Sub(lastReport) >= progressEvery && !start.IsZero() {
			lastReport = now
			b.progress("  %s sink: %d/%d committed (%.0f records/s)", w.Name(), committed, b.o.Records,
				float64(committed)/now.Sub(start).Seconds())
		}
	}
}

// committed returns the records group has committed and whether that is all of them.
func (b *bench) committed(ctx context.Context, group string) (int64, bool, error) {
	offsets, err := b.adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, false, err
	}
	var n int64
	done := true
	for p, end := range b.ends {
		c, ok := offsets.Lookup(b.topic, p)
		if ok && c.At > 0 {
			n += c.At
		}
		if !ok || c.At < end {
			done = false
		}
	}
	return n, done, nil
}

// quiet waits, at most Options.QuietWait, until the stores run no background merge.
func (b *bench) quiet(ctx context.Context) error {
	deadline := time.Now().Add(b.o.QuietWait)
	for {
		busy := false
		for _, q := range []func(context.Context) (bool, error){b.quietCH, b.quietES} {
			if q == nil {
				continue
			}
			ok, err := q(ctx)
			if err != nil {
				return err
			}
			busy = busy || !ok
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			b.progress("  the stores still merge after %v; going on", b.o.QuietWait)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// phase runs f with the profiler label phase=name.
func phase(ctx context.Context, name string, f func(context.Context) error) error {
	var err error
	pprof.Do(ctx, pprof.Labels("phase", name), func(ctx context.Context) { err = f(ctx) })
	return err
}

func (b *bench) cleanupKafka() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = b.adm.DeleteTopics(ctx, b.topic)
	if len(b.groups) > 0 {
		_, _ = b.adm.DeleteGroups(ctx, b.groups...)
	}
}

// firstFetch records when the client first read a batch: the start of consumption.
type firstFetch struct{ at atomic.Int64 }

var _ kgo.HookFetchBatchRead = (*firstFetch)(nil)

func (f *firstFetch) OnFetchBatchRead(kgo.BrokerMetadata, string, int32, kgo.FetchBatchMetrics) {
	f.at.CompareAndSwap(0, time.Now().UnixNano())
}

func (f *firstFetch) time() time.Time {
	if ns := f.at.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// renamed hands a writer the records of topic from as records of topic to: the sink
// writers know the catalogue's names, the benchmark's topic is prefixed. The rename
// is an assignment per record, done in place.
type renamed struct {
	w        sinks.Writer
	from, to string
}

var _ sinks.Assigner = renamed{}

func (r renamed) Name() string                   { return r.w.Name() }
func (r renamed) Ping(ctx context.Context) error { return r.w.Ping(ctx) }

func (r renamed) Write(ctx context.Context, recs []sinks.Record) error {
	for i := range recs {
		if recs[i].Topic == r.from {
			recs[i].Topic = r.to
		}
	}
	return r.w.Write(ctx, recs)
}

func (r renamed) Assigned(ctx context.Context, partitions map[string][]int32) error {
	a, ok := r.w.(sinks.Assigner)
	if !ok {
		return nil
	}
	out := make(map[string][]int32, len(partitions))
	for t, ps := range partitions {
		if t == r.from {
			t = r.to
		}
		out[t] = ps
	}
	return a.Assigned(ctx, out)
}
