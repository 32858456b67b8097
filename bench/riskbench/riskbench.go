package riskbench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/bench/streambench"
	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/features/online"
	"github.com/weirhq/weir/models/score"
	"github.com/weirhq/weir/processors/alerts"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// Options configures Run. Zero fields take the defaults stated.
type Options struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// RedisAddr is the Redis of the online store (host:port). Required.
	RedisAddr string
	// Traffic configures the labelled traffic; its Brokers, Topics and Progress are
	// set by Run. Default seed: EvalSeed (not the seed the shipped model was trained
	// on); default blocks: DefaultBlocks.
	Traffic TrafficOptions
	// LatencyShare is the share of the transfers held back from the throughput phase
	// and fed at LatencyRate to measure end-to-end latency. Default 0.25.
	LatencyShare float64
	// LatencyRate is the transfers per second fed in the latency phase. Default: half
	// the throughput measured.
	LatencyRate int
	// Samples is the number of entities whose feature fetch + inference is timed.
	// Default 20000 (entities are reused round robin when there are fewer).
	Samples int
	// Passthrough configures the pass-through measurement (bench/streambench, whose
	// pass-through rate is reported); Brokers, StateDir and Progress are set by Run.
	// Default: 300,000 records of the size of the run's transfers, one repetition.
	Passthrough streambench.Options
	// StateDir holds the processors' state. Required.
	StateDir string
	// Scorer, when set, makes the run's Scorer; default ScorerFor.
	Scorer func(*Traffic) (*score.Scorer, error)
	// Progress receives a line per step. Default: discarded.
	Progress io.Writer
}

// EvalSeed is the generator seed of the benchmark's and the evaluation test's traffic:
// not DefaultTrainSeed, the seed of the traffic the shipped model is trained on.
const EvalSeed = 7

// DefaultTrainSeed is the generator seed of the traffic models/default is trained on
// (models/train/default.sh), the seed `weir dev` runs its chain with.
const DefaultTrainSeed = 1

// Result is what Run measured. Line is the benchmark's last output line.
type Result struct {
	Line Line `json:"result"`
	// Transfers is the number of transfers of the run; Throughput of them drained in
	// the throughput phase, Latency fed in the latency phase.
	Transfers, Throughput, Latency int `json:"-"`
	ThroughputTime                 time.Duration
	E2EP50Ms                       float64
	ScoreP50Us                     float64
	Evaluation                     Evaluation
	StatefulEOSRPS                 float64
	RecordSize                     int
}

// Line is the benchmark's summary, printed as the last line of `weir bench risk`.
type Line struct {
	// EventsPerS is transfers per second through features + scoring (both sides of
	// each transfer get a vector and a score), from the first score to the last
	// offset committed.
	EventsPerS float64 `json:"events_per_s"`
	// PassthroughRPS is the stream runtime's pass-through rate on the same broker
	// (bench/streambench).
	PassthroughRPS float64 `json:"passthrough_rps"`
	// Ratio is EventsPerS / PassthroughRPS.
	Ratio float64 `json:"ratio"`
	// E2EP99Ms is the p99, in milliseconds, from a transfer's append to
	// chain.transfers to its score's append to risk.scores (broker LogAppendTime on
	// both), transfers fed at a fixed rate below the throughput.
	E2EP99Ms float64 `json:"e2e_p99_ms"`
	// ScoreP99Us is the p99, in microseconds, of one feature fetch from the Redis
	// online store (one HGETALL) plus inference in-process (Scorer.Score).
	ScoreP99Us float64 `json:"score_p99_us"`
	// Precision and Recall are the alerts' against the generator's labels (Evaluation).
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// Run generates labelled traffic, then measures on the real Kafka and Redis: the risk
// pipeline draining most of the transfers (events/s), end-to-end latency on the rest fed
// at a fixed rate, feature fetch + inference over many entities, the alerts against the
// labels, and the runtime's pass-through rate. Every topic and key it creates is deleted
// at the end. It blocks; a run of the defaults takes a few minutes.
func Run(ctx context.Context, o Options) (Result, error) {
	if len(o.Brokers) == 0 || o.RedisAddr == "" || o.StateDir == "" {
		return Result{}, errors.New("riskbench: brokers, a Redis address and a state dir are required")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Traffic.Seed == 0 {
		o.Traffic.Seed = EvalSeed
	}
	if o.Traffic.Blocks == 0 {
		o.Traffic.Blocks = DefaultBlocks
	}
	if o.LatencyShare <= 0 || o.LatencyShare >= 1 {
		o.LatencyShare = 0.25
	}
	if o.Samples <= 0 {
		o.Samples = 20000
	}
	if o.Scorer == nil {
		o.Scorer = func(tr *Traffic) (*score.Scorer, error) { return ScorerFor(tr) }
	}
	progress := func(format string, args ...any) { fmt.Fprintf(o.Progress, "riskbench: "+format+"\n", args...) }

	cl, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(200_000), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	rdb := redis.NewClient(&redis.Options{Addr: o.RedisAddr})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return Result{}, fmt.Errorf("riskbench: redis %s: %w", o.RedisAddr, err)
	}

	gen, bench := Topics{Prefix: NewPrefix("riskbench-gen")}, Topics{Prefix: NewPrefix("riskbench")}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, t := range []Topics{gen, bench} {
			if err := t.Delete(dctx, adm); err != nil {
				progress("deleting %s*: %v", t.Prefix, err)
			}
		}
		if err := deleteKeys(dctx, rdb, bench.Prefix); err != nil {
			progress("deleting Redis keys %s*: %v", bench.Prefix, err)
		}
	}()

	// 1. Labelled traffic, indexed into gen's topics.
	to := o.Traffic
	to.Brokers, to.Topics, to.Progress = o.Brokers, gen, o.Progress
	var tr *Traffic
	if err := labeled(ctx, "generate", func(ctx context.Context) (err error) {
		tr, err = Generate(ctx, to)
		return err
	}); err != nil {
		return Result{}, err
	}
	sc, err := o.Scorer(tr)
	if err != nil {
		return Result{}, err
	}
	var records []*kgo.Record
	var bytes int
	if err := ReadTopic(ctx, o.Brokers, gen.Transfers(), func(r *kgo.Record) error {
		records = append(records, r)
		bytes += len(r.Value)
		return nil
	}); err != nil {
		return Result{}, err
	}
	if len(records) == 0 {
		return Result{}, errors.New("riskbench: no transfers")
	}
	// In event time order (partition order is block order per partition already).
	if err := sortByBlock(records); err != nil {
		return Result{}, err
	}
	res := Result{Transfers: len(records), RecordSize: bytes / len(records)}
	res.Latency = int(float64(len(records)) * o.LatencyShare)
	res.Throughput = len(records) - res.Latency

	// 2. The bench's topics: the catalogue's, with the broker stamping append times on
	// the transfers and the scores.
	if err := bench.Create(ctx, adm); err != nil {
		return res, err
	}
	appendTime := "LogAppendTime"
	for _, t := range []string{bench.Transfers(), bench.Scores()} {
		r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: &appendTime}}, t)
		if err == nil {
			_, err = r.On(t, nil)
		}
		if err != nil {
			return res, fmt.Errorf("riskbench: %s: LogAppendTime: %w", t, err)
		}
	}
	progress("pre-producing %d of %d transfers (%d bytes each on average) into %s", res.Throughput, len(records), res.RecordSize, bench.Transfers())
	if err := produceAll(ctx, cl, bench.Transfers(), records[:res.Throughput]); err != nil {
		return res, err
	}

	// 3. Throughput: the pipeline drains the backlog.
	var first atomic.Int64
	var p *Pipeline
	err = labeled(ctx, "pipeline", func(ctx context.Context) (err error) {
		p, err = StartPipeline(ctx, PipelineOptions{
			Brokers: o.Brokers, Topics: bench, StateDir: filepath.Join(o.StateDir, "pipeline"), Scorer: sc,
			Thresholds: Thresholds(tr), Redis: rdb, RedisPrefix: bench.Prefix,
			OnScore: func(*riskv1.RiskScore, time.Duration) {
				if first.Load() == 0 {
					first.CompareAndSwap(0, time.Now().UnixNano())
				}
			},
		})
		return err
	})
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.Stop()
		}
	}()
	progress("throughput: features + scoring draining %d transfers", res.Throughput)
	if err := p.WaitDrained(ctx); err != nil {
		return res, err
	}
	res.ThroughputTime = time.Since(time.Unix(0, first.Load()))
	res.Line.EventsPerS = float64(res.Throughput) / res.ThroughputTime.Seconds()
	progress("throughput: %d transfers in %v = %.0f transfers/s", res.Throughput, res.ThroughputTime.Round(time.Millisecond), res.Line.EventsPerS)

	// 4. Latency: the rest fed at a fixed rate.
	rate := o.LatencyRate
	if rate <= 0 {
		rate = max(100, int(res.Line.EventsPerS/2))
	}
	progress("latency: feeding %d transfers at %d/s", res.Latency, rate)
	if err := producePaced(ctx, cl, bench.Transfers(), records[res.Throughput:], rate); err != nil {
		return res, err
	}
	if err := p.WaitDrained(ctx); err != nil {
		return res, err
	}
	stopped = true
	if err := p.Stop(); err != nil {
		return res, err
	}
	lat, err := e2eLatencies(ctx, o.Brokers, bench, records[res.Throughput:])
	if err != nil {
		return res, err
	}
	res.Line.E2EP99Ms = float64(percentile(lat, 0.99)) / float64(time.Millisecond)
	res.E2EP50Ms = float64(percentile(lat, 0.50)) / float64(time.Millisecond)
	progress("latency: %d scores, e2e p50 %.1f ms, p99 %.1f ms", len(lat), res.E2EP50Ms, res.Line.E2EP99Ms)

	// 5. Feature fetch from Redis + inference.
	var took []time.Duration
	if err := labeled(ctx, "fetch-score", func(ctx context.Context) (err error) {
		took, err = fetchAndScore(ctx, rdb, bench.Prefix, sc, o.Brokers, bench, o.Samples)
		return err
	}); err != nil {
		return res, err
	}
	res.Line.ScoreP99Us = float64(percentile(took, 0.99)) / float64(time.Microsecond)
	res.ScoreP50Us = float64(percentile(took, 0.50)) / float64(time.Microsecond)
	progress("feature fetch + inference: %d samples, p50 %.0f µs, p99 %.0f µs", len(took), res.ScoreP50Us, res.Line.ScoreP99Us)

	// 6. Alerts against the labels.
	if err := labeled(ctx, "alerts", func(ctx context.Context) error {
		return RunAlerts(ctx, o.Brokers, bench, filepath.Join(o.StateDir, "alerts"))
	}); err != nil {
		return res, err
	}
	ev, err := Evaluate(ctx, o.Brokers, bench, tr, HoldoutBlock(tr, DefaultHoldoutFrom))
	if err != nil {
		return res, err
	}
	res.Evaluation = ev
	res.Line.Precision, res.Line.Recall = ev.Precision, ev.Recall
	progress("alerts vs labels: %s", ev)

	// 7. The runtime's pass-through on the same broker.
	po := o.Passthrough
	po.Brokers, po.StateDir, po.Progress = o.Brokers, filepath.Join(o.StateDir, "streambench"), o.Progress
	if po.Records == 0 {
		po.Records = 300_000
	}
	if po.RecordSize == 0 {
		po.RecordSize = res.RecordSize
	}
	if po.Repetitions == 0 {
		po.Repetitions = 1
	}
	if po.LatencyDuration == 0 {
		po.LatencyDuration = time.Second
	}
	var sr streambench.Result
	if err := labeled(ctx, "passthrough", func(ctx context.Context) (err error) {
		sr, err = streambench.Run(ctx, po)
		return err
	}); err != nil {
		return res, fmt.Errorf("riskbench: pass-through: %w", err)
	}
	res.Line.PassthroughRPS, res.StatefulEOSRPS = sr.PassthroughRPS, sr.StatefulEOSRPS
	res.Line.Ratio = res.Line.EventsPerS / res.Line.PassthroughRPS
	return res, nil
}

// labeled runs f with the profiler label phase=name on its goroutine and on those it
// starts, so that a CPU profile of the run (weir bench risk --cpuprofile) splits by phase.
func labeled(ctx context.Context, name string, f func(context.Context) error) error {
	var err error
	pprof.Do(ctx, pprof.Labels("phase", name), func(ctx context.Context) { err = f(ctx) })
	return err
}

// HoldoutBlock returns the first block of tr's holdout: the block at share from of
// its blocks.
func HoldoutBlock(tr *Traffic, from float64) uint64 {
	return tr.FirstBlock + uint64(float64(tr.LastBlock-tr.FirstBlock)*from)
}

// RunAlerts runs processors/alerts over topics' risk.scores until it has consumed them
// all, with a suppression window of one minute: the generator seals a block a second,
// so the default hour would span the whole run and fold a later trigger into an alert
// raised minutes of blocks before.
func RunAlerts(ctx context.Context, brokers []string, topics Topics, stateDir string) error {
	cfg := alerts.Config{App: topics.Prefix + "alerts", Input: topics.Scores(), Output: topics.Alerts(),
		SuppressionWindow: AlertSuppression}
	ap, err := alerts.New(cfg, brokers, stream.WithInstanceID("riskbench"), stream.WithStateDir(stateDir),
		stream.WithCommitInterval(100*time.Millisecond), stream.WithGroupTimeouts(6*time.Second, 10*time.Second))
	if err != nil {
		return err
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ap.Run(rctx) }()
	var werr error
	for {
		ok, err := consumed(ctx, adm, cfg.App, cfg.Input, true)
		if err != nil {
			werr = err
			break
		}
		if ok {
			break
		}
		select {
		case err := <-done:
			cancel()
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("riskbench: alerts: %w", err)
		case <-ctx.Done():
			werr = ctx.Err()
		case <-time.After(50 * time.Millisecond): // polling broker state
		}
		if werr != nil {
			break
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) && werr == nil {
		werr = fmt.Errorf("riskbench: alerts: %w", err)
	}
	return werr
}

// AlertSuppression is the alerts processor's suppression window in the harness (see
// RunAlerts).
const AlertSuppression = time.Minute

// sortByBlock orders transfers by block, then by their order in the block.
func sortByBlock(records []*kgo.Record) error {
	type key struct{ block, tx, log uint64 }
	keys := make(map[*kgo.Record]key, len(records))
	for _, r := range records {
		var t chainv1.Transfer
		if err := codec.Unmarshal(r.Value, &t); err != nil {
			return fmt.Errorf("riskbench: transfer: %w", err)
		}
		keys[r] = key{t.GetBlock().GetNumber(), uint64(t.GetTransactionIndex()), uint64(t.GetLogIndex())}
	}
	slices.SortStableFunc(records, func(a, b *kgo.Record) int {
		ka, kb := keys[a], keys[b]
		switch {
		case ka.block != kb.block:
			return cmp.Compare(ka.block, kb.block)
		case ka.tx != kb.tx:
			return cmp.Compare(ka.tx, kb.tx)
		}
		return cmp.Compare(ka.log, kb.log)
	})
	return nil
}

// copyRecord returns a record for topic with r's key, value and partition.
func copyRecord(topic string, r *kgo.Record) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers}
}

// produceAll produces records to topic (each to its original partition) and waits for
// them all.
func produceAll(ctx context.Context, cl *kgo.Client, topic string, records []*kgo.Record) error {
	var failed atomic.Value
	for _, r := range records {
		cl.Produce(ctx, copyRecord(topic, r), func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err, ok := failed.Load().(error); ok {
		return fmt.Errorf("riskbench: produce: %w", err)
	}
	return nil
}

// producePaced produces records to topic at rate records per second, in ticks of
// 10 ms, and waits for them all.
func producePaced(ctx context.Context, cl *kgo.Client, topic string, records []*kgo.Record, rate int) error {
	var failed atomic.Value
	start := time.Now()
	for i, r := range records {
		if due := start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second))); time.Until(due) > 10*time.Millisecond {
			t := time.NewTimer(time.Until(due))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		cl.Produce(ctx, copyRecord(topic, r), func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err, ok := failed.Load().(error); ok {
		return fmt.Errorf("riskbench: produce: %w", err)
	}
	return nil
}

// e2eLatencies returns, for every score of a fed transfer, the time from the
// transfer's append to the bench's chain.transfers to the score's append to its
// risk.scores.
func e2eLatencies(ctx context.Context, brokers []string, t Topics, fed []*kgo.Record) ([]time.Duration, error) {
	want := make(map[string]bool, len(fed))
	for _, r := range fed {
		var tr chainv1.Transfer
		if err := codec.Unmarshal(r.Value, &tr); err != nil {
			return nil, err
		}
		want[tr.GetMeta().GetEventId()] = true
	}
	appended := make(map[string]time.Time, len(fed))
	if err := ReadTopic(ctx, brokers, t.Transfers(), func(r *kgo.Record) error {
		var tr chainv1.Transfer
		if err := codec.Unmarshal(r.Value, &tr); err != nil {
			return err
		}
		if id := tr.GetMeta().GetEventId(); want[id] {
			appended[id] = r.Timestamp
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var lat []time.Duration
	err := ReadTopic(ctx, brokers, t.Scores(), func(r *kgo.Record) error {
		var s riskv1.RiskScore
		if err := codec.Unmarshal(r.Value, &s); err != nil {
			return err
		}
		if at, ok := appended[s.GetSubjectEventId()]; ok {
			lat = append(lat, r.Timestamp.Sub(at))
		}
		return nil
	})
	if err == nil && len(lat) == 0 {
		err = errors.New("riskbench: no score of a fed transfer")
	}
	return lat, err
}

// fetchAndScore times n rounds of one online-store read and one Score, over the
// entities of the run's scores round robin.
func fetchAndScore(ctx context.Context, rdb redis.UniversalClient, prefix string, sc *score.Scorer,
	brokers []string, t Topics, n int) ([]time.Duration, error) {
	seen := map[string]bool{}
	var entities []string
	if err := ReadTopic(ctx, brokers, t.Scores(), func(r *kgo.Record) error {
		if e := string(r.Key); !seen[e] {
			seen[e] = true
			entities = append(entities, e)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(entities) == 0 {
		return nil, errors.New("riskbench: no entities")
	}
	store := online.New(rdb, features.AddressActivity.Name, online.WithPrefix(prefix))
	took := make([]time.Duration, 0, n)
	for i := range n + n/10 {
		e := entities[i%len(entities)]
		start := time.Now()
		v, err := store.Read(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("riskbench: online store: %w", err)
		}
		if _, err := sc.Score(v, score.Subject{}); err != nil {
			return nil, fmt.Errorf("riskbench: score %s: %w", e, err)
		}
		if i >= n/10 { // the first tenth warms up connections and caches
			took = append(took, time.Since(start))
		}
	}
	return took, nil
}

// deleteKeys deletes the Redis keys under prefix.
func deleteKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	var keys []string
	it := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for it.Next(ctx) {
		keys = append(keys, it.Val())
		if len(keys) == 1000 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return err
			}
			keys = keys[:0]
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if len(keys) > 0 {
		return rdb.Del(ctx, keys...).Err()
	}
	return nil
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
