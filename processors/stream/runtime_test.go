package stream

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/kafkatest"
)

// cluster is one test's kfake broker and a plain client to it.
type cluster struct {
	t       *testing.T
	brokers []string
	cl      *kgo.Client
	adm     *kadm.Client
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	brokers := kafkatest.Cluster(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &cluster{t: t, brokers: brokers, cl: cl, adm: kadm.NewClient(cl)}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (c *cluster) createTopic(name string, partitions int32) {
	c.t.Helper()
	resp, err := c.adm.CreateTopic(testCtx(c.t), partitions, -1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.t.Fatalf("create %s: %v", name, err)
	}
}

// partitions returns the partition count of each topic named that exists. It asks with
// a new client: a client answers metadata requests from a cache for a few seconds.
func (c *cluster) partitions(names ...string) map[string]int {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(testCtx(c.t), names...)
	if err != nil {
		c.t.Fatal(err)
	}
	got := map[string]int{}
	for _, n := range names {
		if d, ok := details[n]; ok && d.Err == nil {
			got[n] = len(d.Partitions)
		}
	}
	return got
}

func (c *cluster) produce(recs ...*kgo.Record) {
	c.t.Helper()
	if err := c.cl.ProduceSync(testCtx(c.t), recs...).FirstErr(); err != nil {
		c.t.Fatalf("produce: %v", err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last error: %v)", what, timeout, err)
		}
		<-tick.C
	}
}

// waitConsumed waits until group has committed every offset of topic.
func (c *cluster) waitConsumed(group, topic string) {
	c.t.Helper()
	kafkatest.WaitConsumed(c.t, c.brokers, group, topic, 15*time.Second)
}

// readCommitted reads every committed record of topic, up to its last stable offset,
// in partition order.
func (c *cluster) readCommitted(topic string) []*kgo.Record {
	c.t.Helper()
	return kafkatest.ReadCommitted(c.t, c.brokers, topic)
}

// countHandler counts records per key in store "counts" and emits each new count; a record
// whose value is "poison" fails.
type countHandler struct{ output string }

func (h countHandler) Process(c *Context, r *kgo.Record) error {
	if string(r.Value) == "poison" {
		return errors.New("poison record")
	}
	s, err := c.Store("counts")
	if err != nil {
		return err
	}
	v, ok, err := s.Get(r.Key)
	if err != nil {
		return err
	}
	n := 0
	if ok {
		if n, err = strconv.Atoi(string(v)); err != nil {
			return fmt.Errorf("count of %q: %w", r.Key, err)
		}
	}
	n++
	if err := s.Put(r.Key, []byte(strconv.Itoa(n))); err != nil {
		return err
	}
	return c.Emit(h.output, r.Key, []byte(strconv.Itoa(n)))
}

func (countHandler) OnTimer(*Context, time.Time, []byte) error { return nil }

func counterTopology() Topology {
	return Topology{App: "counter", Inputs: []string{"events"}, Outputs: []string{"counts"},
		Stores: []string{"counts"}, Handler: countHandler{output: "counts"}}
}

// start runs a Runtime in the background; stop cancels it and returns Run's error.
func start(t *testing.T, topo Topology, brokers []string, opts ...Option) (stop func() error) {
	t.Helper()
	opts = append([]Option{
		WithInstanceID("a"),
		WithCommitInterval(50 * time.Millisecond),
		WithGroupTimeouts(6*time.Second, 10*time.Second),
		WithTransactionTimeout(10 * time.Second),
	}, opts...)
	rt, err := New(topo, brokers, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return errors.New("Run did not return within 20s of cancellation")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestTopologyValidate(t *testing.T) {
	h := countHandler{}
	valid := func() Topology {
		return Topology{App: "app", Inputs: []string{"in"}, Outputs: []string{"out"}, Stores: []string{"s"}, Handler: h}
	}
	tests := []struct {
		name   string
		change func(*Topology)
		want   []string // substrings of the error; none for valid
	}{
		{"valid", func(*Topology) {}, nil},
		{"valid without outputs and stores", func(tp *Topology) { tp.Outputs, tp.Stores = nil, nil }, nil},
		{"reserved store name", func(tp *Topology) { tp.Stores = []string{"s", TimersStore} }, []string{`store "timers": name is reserved`}},
		{"duplicate store", func(tp *Topology) { tp.Stores = []string{"s", "s"} }, []string{`store "s" declared twice`}},
		{"bad store name", func(tp *Topology) { tp.Stores = []string{"a b"} }, []string{`store "a b"`}},
		{"empty store name", func(tp *Topology) { tp.Stores = []string{""} }, []string{`store ""`}},
		{"no handler", func(tp *Topology) { tp.Handler = nil }, []string{"no handler"}},
		{"no inputs", func(tp *Topology) { tp.Inputs = nil }, []string{"no input topics"}},
		{"empty app", func(tp *Topology) { tp.App = "" }, []string{`app ""`}},
		{"bad app", func(tp *Topology) { tp.App = "my app/1" }, []string{`app "my app/1"`}},
		{"long app", func(tp *Topology) { tp.App = strings.Repeat("a", 201) }, []string{"want 1-200 characters"}},
		{"bad input", func(tp *Topology) { tp.Inputs = []string{"in", "bad topic"} }, []string{`topic "bad topic": not a valid topic name`}},
		{"bad output", func(tp *Topology) { tp.Outputs = []string{"ü"} }, []string{`topic "ü"`}},
		{"every error at once", func(tp *Topology) { *tp = Topology{Stores: []string{TimersStore}} },
			[]string{`app ""`, "no input topics", "no handler", "reserved"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp := valid()
			tc.change(&tp)
			err := tp.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, want it to mention %q", err, w)
				}
			}
			if _, err := New(tp, []string{"localhost:9092"}); err == nil || !strings.Contains(err.Error(), "stream: topology") {
				t.Errorf("New with an invalid topology = %v", err)
			}
		})
	}
}

func TestNewChecksOptions(t *testing.T) {
	tests := []struct {
		name    string
		brokers []string
		opts    []Option
		want    string
	}{
		{"no brokers", nil, nil, "no brokers"},
		{"empty instance", []string{"b:9092"}, []Option{WithInstanceID("")}, "empty instance id"},
		{"empty state dir", []string{"b:9092"}, []Option{WithStateDir("")}, "empty state dir"},
		{"zero commit interval", []string{"b:9092"}, []Option{WithCommitInterval(0)}, "commit interval"},
		{"zero poll records", []string{"b:9092"}, []Option{WithMaxPollRecords(0)}, "max poll records"},
		{"zero buffer", []string{"b:9092"}, []Option{WithMaxBufferedRecords(0)}, "max buffered records"},
		{"zero task buffer", []string{"b:9092"}, []Option{WithTaskBuffer(0)}, "task buffer"},
		{"zero cache", []string{"b:9092"}, []Option{WithStateMemory(0, 32<<20)}, "state memory"},
		{"small memtable", []string{"b:9092"}, []Option{WithStateMemory(1<<20, 1<<10)}, "state memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(counterTopology(), tc.brokers, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := New(counterTopology(), []string{"b:9092"}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

func TestRunMissingTopic(t *testing.T) {
	c := newCluster(t)
	c.createTopic("present", 2)
	tests := []struct {
		name            string
		inputs, outputs []string
		missing         string
	}{
		{"input", []string{"absent-in"}, []string{"present"}, "absent-in"},
		{"second input", []string{"present", "absent-in"}, nil, "absent-in"},
		{"output", []string{"present"}, []string{"absent-out"}, "absent-out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := "missing-" + strings.ReplaceAll(tc.name, " ", "-")
			topo := Topology{App: app, Inputs: tc.inputs, Outputs: tc.outputs, Stores: []string{"s"}, Handler: countHandler{}}
			rt, err := New(topo, c.brokers, WithStateDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			err = rt.Run(testCtx(t))
			want := fmt.Sprintf("topic %q does not exist", tc.missing)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run = %v, want an error saying %s", err, want)
			}
			if got := c.partitions(ChangelogTopic(app, "s"), DLQTopic("present")); len(got) != 0 {
				t.Errorf("Run created %v before failing", got)
			}
		})
	}
}

func TestEnsureTopics(t *testing.T) {
	c := newCluster(t)
	c.createTopic("in-a", 3)
	c.createTopic("in-b", 3)
	c.createTopic("in-c", 2)
	c.createTopic("out", 5) // outputs need not be co-partitioned
	runtime := func(t *testing.T, app string, inputs ...string) *Runtime {
		t.Helper()
		topo := Topology{App: app, Inputs: inputs, Outputs: []string{"out"}, Stores: []string{"s", "u"}, Handler: countHandler{}}
		r, err := New(topo, c.brokers)
		if err != nil {
			t.Fatal(err)
		}
		r.adm = c.adm
		return r
	}

	t.Run("creates changelogs and DLQs", func(t *testing.T) {
		r := runtime(t, "app1", "in-a", "in-b")
		for range 2 { // the second call finds everything in place
			n, err := r.ensureTopics(testCtx(t))
			if err != nil || n != 3 {
				t.Fatalf("ensureTopics = %d, %v; want 3 partitions", n, err)
			}
		}
		changelogs := []string{"app1.s.changelog", "app1.u.changelog", "app1.timers.changelog"}
		dlqs := []string{"in-a.dlq", "in-b.dlq"}
		got := c.partitions(append(append([]string{}, changelogs...), dlqs...)...)
		for _, name := range append(append([]string{}, changelogs...), dlqs...) {
			if got[name] != 3 {
				t.Errorf("%s: %d partitions (0: missing), want the inputs' 3", name, got[name])
			}
		}
		configs, err := c.adm.DescribeTopicConfigs(testCtx(t), append(append([]string{}, changelogs...), dlqs...)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range configs {
			policy := ""
			for _, cfg := range rc.Configs {
				if cfg.Key == "cleanup.policy" && cfg.Value != nil {
					policy = *cfg.Value
				}
			}
			want := "compact"
			if strings.HasSuffix(rc.Name, DLQSuffix) {
				want = "delete"
			}
			if policy != want {
				t.Errorf("%s: cleanup.policy %q, want %q", rc.Name, policy, want)
			}
		}
	})

	t.Run("refuses inputs that are not co-partitioned", func(t *testing.T) {
		r := runtime(t, "app2", "in-a", "in-c")
		_, err := r.ensureTopics(testCtx(t))
		if err == nil || !strings.Contains(err.Error(), "not co-partitioned") {
			t.Fatalf("ensureTopics = %v, want a co-partitioning error", err)
		}
		if got := c.partitions("app2.s.changelog", "in-c.dlq"); len(got) != 0 {
			t.Errorf("created %v despite the error", got)
		}
	})

	t.Run("refuses a changelog with the wrong partition count", func(t *testing.T) {
		c.createTopic("app3.u.changelog", 1)
		r := runtime(t, "app3", "in-a")
		_, err := r.ensureTopics(testCtx(t))
		if err == nil || !strings.Contains(err.Error(), "changelog app3.u.changelog has 1 partitions, inputs have 3") {
			t.Fatalf("ensureTopics = %v, want a changelog partition error", err)
		}
	})
}

// TestCountingRestarts runs a counting processor three times over a growing input: again
// on its own state, then on an empty state directory that must be restored from the
// changelog. The committed output must count every record exactly once throughout.
func TestCountingRestarts(t *testing.T) {
	c := newCluster(t)
	const parts = 2
	c.createTopic("events", parts)
	c.createTopic("counts", parts)
	topo := counterTopology()
	dir := t.TempDir()

	total := map[string]int{}
	batch := func(n, from int) []*kgo.Record {
		var recs []*kgo.Record
		for i := range n {
			k := fmt.Sprintf("key-%02d", (from+i)%13)
			total[k]++
			recs = append(recs, &kgo.Record{Topic: "events", Key: []byte(k), Value: []byte(strconv.Itoa(from + i))})
		}
		return recs
	}
	check := func(phase string) {
		t.Helper()
		seen := map[string]int{}
		for _, r := range c.readCommitted("counts") {
			k := string(r.Key)
			seen[k]++
			if string(r.Value) != strconv.Itoa(seen[k]) {
				t.Fatalf("%s: output %d for %s is %q, want %d (a count reset or repeated)", phase, seen[k], k, r.Value, seen[k])
			}
		}
		for k, n := range total {
			if seen[k] != n {
				t.Errorf("%s: %s counted to %d, want %d", phase, k, seen[k], n)
			}
		}
	}

	// 1: a fresh instance, with a poison record among good ones.
	c.produce(batch(150, 0)...)
	c.produce(&kgo.Record{Topic: "events", Key: []byte("key-00"), Value: []byte("poison")})
	c.produce(batch(50, 150)...)
	stop := start(t, topo, c.brokers, WithStateDir(filepath.Join(dir, "one")))
	c.waitConsumed(topo.App, "events")
	if err := stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	check("first run")

	// 2: the same state directory; input arrives while it runs.
	stop = start(t, topo, c.brokers, WithStateDir(filepath.Join(dir, "one")))
	c.produce(batch(100, 200)...)
	c.produce(batch(100, 300)...)
	c.waitConsumed(topo.App, "events")
	if err := stop(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	check("second run, same state")

	// 3: an empty state directory: everything comes from the changelog.
	reg := prometheus.NewRegistry()
	stop = start(t, topo, c.brokers, WithStateDir(filepath.Join(dir, "two")), WithRegisterer(reg))
	c.produce(batch(100, 400)...)
	c.waitConsumed(topo.App, "events")
	if err := stop(); err != nil {
		t.Fatalf("third run: %v", err)
	}
	check("third run, restored state")
	if n := metricSum(t, reg, "weir_stream_restored_records_total", map[string]string{"store": "counts"}); n < 13 {
		t.Errorf("restored %v records of store counts, want at least one per key (13)", n)
	}

	dlq := c.readCommitted(DLQTopic("events"))
	if len(dlq) != 1 {
		t.Fatalf("DLQ holds %d records, want the one poison record", len(dlq))
	}
	h := headerMap(dlq[0])
	if string(dlq[0].Value) != "poison" || h[HeaderError] != "poison record" || h[HeaderTopic] != "events" ||
		h[HeaderApp] != topo.App || h[HeaderOffset] == "" {
		t.Errorf("DLQ record: value %q headers %v", dlq[0].Value, h)
	}

	// The changelog is partitioned like the input: each key on its task's partition, and
	// its last value is the key's count.
	part := kgo.StickyKeyPartitioner(nil).ForTopic("events")
	last := map[string]string{}
	for _, r := range c.readCommitted(ChangelogTopic(topo.App, "counts")) {
		if want := int32(part.Partition(r, parts)); r.Partition != want {
			t.Errorf("changelog record %q on partition %d, want the key's input partition %d", r.Key, r.Partition, want)
		}
		last[string(r.Key)] = string(r.Value)
	}
	for k, n := range total {
		if last[k] != strconv.Itoa(n) {
			t.Errorf("changelog's last count of %s is %q, want %d", k, last[k], n)
		}
	}
}

// metricSum returns the sum of the values (counters, gauges) or sample counts
// (histograms) of the series of name whose labels include labels.
func metricSum(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				sum += m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				sum += float64(m.GetHistogram().GetSampleCount())
			default:
				t.Fatalf("metric %s has unexpected type %v", name, mf.GetType())
			}
		}
	}
	return sum
}

func TestMetrics(t *testing.T) {
	c := newCluster(t)
	c.createTopic("events", 2)
	c.createTopic("counts", 2)
	topo := counterTopology()
	const n = 40
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "events", Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte("x")})
	}
	recs = append(recs, &kgo.Record{Topic: "events", Key: []byte("k0"), Value: []byte("poison")})
	c.produce(recs...)

	reg := prometheus.NewRegistry()
	stop := start(t, topo, c.brokers, WithStateDir(t.TempDir()), WithRegisterer(reg))
	c.waitConsumed(topo.App, "events")
	// The lag gauge is set from the polls; the last poll saw the end of both partitions.
	eventually(t, 5*time.Second, "tasks gauge", func() (bool, error) {
		return metricSum(t, reg, "weir_stream_tasks", nil) == 2, nil
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	app := map[string]string{"app": topo.App}
	aborts := metricSum(t, reg, "weir_stream_transaction_seconds", map[string]string{"outcome": "abort"})
	in := metricSum(t, reg, "weir_stream_records_in_total", map[string]string{"topic": "events"})
	out := metricSum(t, reg, "weir_stream_records_out_total", map[string]string{"topic": "counts"})
	// Records are counted each time they are processed, so an aborted transaction
	// (none is expected here) would count its records twice.
	if in < n+1 || (in != n+1 && aborts == 0) {
		t.Errorf("records in = %v, want %d", in, n+1)
	}
	if out < n || (out != n && aborts == 0) {
		t.Errorf("records out = %v, want %d", out, n)
	}
	if got := metricSum(t, reg, "weir_stream_dlq_records_total", map[string]string{"topic": "events"}); got < 1 || (got != 1 && aborts == 0) {
		t.Errorf("DLQ records = %v, want 1", got)
	}
	// One restore per store (counts and timers) per task.
	for _, store := range []string{"counts", TimersStore} {
		if got := metricSum(t, reg, "weir_stream_restore_seconds", map[string]string{"store": store}); got != 2 {
			t.Errorf("restore_seconds{store=%q} has %v samples, want one per task (2)", store, got)
		}
	}
	if got := metricSum(t, reg, "weir_stream_transaction_seconds", map[string]string{"outcome": "commit"}); got < 1 {
		t.Errorf("no committed transaction observed")
	}
	if got := metricSum(t, reg, "weir_stream_consumer_lag_records", app); got != 0 {
		t.Errorf("lag after consuming everything = %v, want 0", got)
	}
	if got := metricSum(t, reg, "weir_stream_tasks", app); got != 0 {
		t.Errorf("tasks after Run returned = %v, want 0", got)
	}
}

// TestInputsShareTasks reads two co-partitioned inputs: partition N of both must reach
// the same task, so a key counted from both inputs is counted in one store.
func TestInputsShareTasks(t *testing.T) {
	c := newCluster(t)
	for _, topic := range []string{"left", "right", "counts"} {
		c.createTopic(topic, 3)
	}
	topo := Topology{App: "both", Inputs: []string{"left", "right"}, Outputs: []string{"counts"},
		Stores: []string{"counts"}, Handler: countHandler{output: "counts"}}
	want := map[string]int{}
	var recs []*kgo.Record
	for i := range 90 {
		k := fmt.Sprintf("k%d", i%9)
		topic := "left"
		if i%3 == 0 {
			topic = "right"
		}
		want[k]++
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte("x")})
	}
	c.produce(recs...)
	stop := start(t, topo, c.brokers, WithStateDir(t.TempDir()))
	c.waitConsumed(topo.App, "left")
	c.waitConsumed(topo.App, "right")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range c.readCommitted("counts") {
		k := string(r.Key)
		seen[k]++
		if string(r.Value) != strconv.Itoa(seen[k]) {
			t.Fatalf("output %d for %s is %q: the inputs' records of a key were counted apart", seen[k], k, r.Value)
		}
	}
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("%s counted to %d, want %d", k, seen[k], n)
		}
	}
}
