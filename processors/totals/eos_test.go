package totals

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/processors/stream"
	ledgerv1 "github.com/weirhq/weir/schemas/gen/weir/ledger/v1"
)

// Each scenario runs on kfake (in-process, over loopback TCP) and on the real Kafka of
// deploy/local.
func brokersFor(t *testing.T, real bool) []string {
	if real {
		return testenv.Kafka(t)
	}
	return kafkatest.Cluster(t)
}

func TestKillNine(t *testing.T) {
	for _, real := range []bool{false, true} {
		t.Run(map[bool]string{false: "kfake", true: "kafka"}[real], func(t *testing.T) {
			testKillNine(t, brokersFor(t, real))
		})
	}
}

// testKillNine runs the processor as a child process, kills it with SIGKILL three times
// mid-stream (once also deleting its local state, so that it restores from the
// changelog alone), and checks that every window total is emitted exactly once with
// exact sums.
func testKillNine(t *testing.T, brokers []string) {
	s := newScenario(t, brokers)
	const minutes = 12
	w := s.genWorkload(12000, 40, minutes)
	state := filepath.Join(t.TempDir(), "state")

	c := s.startChild(state, "a")
	half := len(w.records) / 2
	s.produce(w.records[:half])
	s.waitOutput(20, 2*time.Minute)
	c.Kill(t)

	c = s.startChild(state, "a")
	s.produce(w.records[half:])
	s.waitOutput(int64(len(w.expected)/2), 2*time.Minute)
	c.Kill(t)

	// Lose the local state entirely: the restart must rebuild it from the changelog.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	c = s.startChild(state, "a")
	s.produce(s.closers(minutes))
	s.waitOutput(int64(len(w.expected))*2/3, 2*time.Minute)
	c.Kill(t)

	c = s.startChild(state, "a")
	s.waitConsumed(3 * time.Minute)
	c.Stop(t)
	s.checkTotals(w)
}

func TestRebalance(t *testing.T) {
	for _, real := range []bool{false, true} {
		t.Run(map[bool]string{false: "kfake", true: "kafka"}[real], func(t *testing.T) {
			testRebalance(t, brokersFor(t, real))
		})
	}
}

// testRebalance runs two instances of the processor: the second joins mid-stream and
// takes half the partitions, then the first leaves and the second takes everything.
func testRebalance(t *testing.T, brokers []string) {
	s := newScenario(t, brokers)
	const minutes = 10
	w := s.genWorkload(8000, 30, minutes)
	dir := t.TempDir()

	regs := map[string]*prometheus.Registry{}
	run := func(id string) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		regs[id] = prometheus.NewRegistry()
		go func() {
			done <- runProcessor(ctx, childConfig{brokers: brokers, prefix: s.prefix,
				state: filepath.Join(dir, id), id: id, reg: regs[id]})
		}()
		return func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("instance %s: %v", id, err)
				}
			case <-time.After(time.Minute):
				t.Errorf("instance %s did not stop", id)
			}
		}
	}

	stopA := run("a")
	third := len(w.records) / 3
	s.produce(w.records[:third])
	s.waitOutput(10, 2*time.Minute)

	stopB := run("b")
	// Wait until b owns tasks and has processed records of its own, so that both
	// instances really shared the stream before a leaves.
	waitMetric(t, regs["b"], "weir_stream_tasks", 1, time.Minute)
	s.produce(w.records[third : 2*third])
	waitMetric(t, regs["b"], "weir_stream_records_in_total", 1, time.Minute)
	stopA()

	s.produce(w.records[2*third:])
	s.produce(s.closers(minutes))
	s.waitConsumed(3 * time.Minute)
	if n := metric(regs["b"], "weir_stream_tasks"); n != testPartitions {
		t.Errorf("after a left, b owns %v tasks, want all %d", n, testPartitions)
	}
	stopB()
	if a, b := metric(regs["a"], "weir_stream_records_in_total"), metric(regs["b"], "weir_stream_records_in_total"); a == 0 || b == 0 {
		t.Errorf("records processed: a %v, b %v; want both to have worked", a, b)
	}
	s.checkTotals(w)
}

// metric sums the values of a counter or gauge family in reg.
func metric(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return v
}

func waitMetric(t *testing.T, reg *prometheus.Registry, name string, atLeast float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for metric(reg, name) < atLeast {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed below %v for %v", name, atLeast, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling the instance's own metrics, with a deadline
	}
}

func TestPoisonToDLQ(t *testing.T) {
	for _, real := range []bool{false, true} {
		t.Run(map[bool]string{false: "kfake", true: "kafka"}[real], func(t *testing.T) {
			testPoison(t, brokersFor(t, real))
		})
	}
}

// testPoison mixes undecodable and invalid postings into a good stream: each lands in
// the DLQ with its error while the good ones are totalled exactly.
func testPoison(t *testing.T, brokers []string) {
	s := newScenario(t, brokers)
	const minutes = 4
	w := s.genWorkload(2000, 8, minutes)

	late := posting("late", "acct-000", "USDC", 6, ledgerv1.Direction_DIRECTION_CREDIT, "5", base.Add(-time.Hour))
	// A decimals mismatch with the window the previous record of the stream opened.
	mid := len(w.records) / 2
	var prev ledgerv1.Posting
	if err := proto.Unmarshal(w.records[mid-1].Value, &prev); err != nil {
		t.Fatal(err)
	}
	dec := posting("dec", prev.GetAccountId(), prev.GetAmount().GetAsset(), prev.GetAmount().GetDecimals()+1,
		ledgerv1.Direction_DIRECTION_DEBIT, "5", prev.GetMeta().GetEventTime().AsTime())
	bad := []struct {
		rec  *kgo.Record
		want string
	}{
		{&kgo.Record{Topic: s.input, Key: []byte("acct-001"), Value: []byte("\xff\xff not protobuf")}, "decode posting"},
		{record(s.input, posting("neg", "acct-002", "USDC", 6, ledgerv1.Direction_DIRECTION_DEBIT, "-5", base)), "not a decimal number"},
		{record(s.input, posting("huge", "acct-003", "USDC", 6, ledgerv1.Direction_DIRECTION_DEBIT, strings.Repeat("9", 79), base)), "not a uint256"},
		{record(s.input, posting("noasset", "acct-004", "", 6, ledgerv1.Direction_DIRECTION_DEBIT, "5", base)), "amount.asset: required"},
		{record(s.input, dec), "decimals"},
		{record(s.input, late), "late posting"},
	}
	// Poison in the middle of the stream, after enough good records that the late one
	// is behind the watermark of its partition.
	var recs []*kgo.Record
	recs = append(recs, w.records[:mid]...)
	for _, b := range bad {
		recs = append(recs, b.rec)
	}
	recs = append(recs, w.records[mid:]...)
	recs = append(recs, s.closers(minutes)...)
	s.produce(recs)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runProcessor(ctx, childConfig{brokers: brokers, prefix: s.prefix, state: t.TempDir(), id: "a"})
	}()
	s.waitConsumed(2 * time.Minute)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.checkTotals(w)

	dlq := s.readAll(stream.DLQTopic(s.input))
	if len(dlq) != len(bad) {
		t.Fatalf("DLQ holds %d records, want %d", len(dlq), len(bad))
	}
	for _, r := range dlq {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h[stream.HeaderTopic] != s.input || h[stream.HeaderOffset] == "" || h[stream.HeaderApp] != s.app() {
			t.Errorf("DLQ record lacks its source headers: %v", h)
		}
		found := false
		for _, b := range bad {
			if string(b.rec.Value) == string(r.Value) {
				found = true
				if !strings.Contains(h[stream.HeaderError], b.want) {
					t.Errorf("DLQ error %q, want it to mention %q", h[stream.HeaderError], b.want)
				}
			}
		}
		if !found {
			t.Errorf("DLQ holds a record that was not poison: key %q", r.Key)
		}
	}
}
