package sinks_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
	ledgerv1 "github.com/weirhq/weir/schemas/gen/weir/ledger/v1"
	"github.com/weirhq/weir/sinks"
)

// memWriter is a store in memory, keyed by event id like the real ones, that can be
// taken down.
type memWriter struct {
	mu     sync.Mutex
	rows   map[string]sinks.Record
	writes int
	down   bool
	refuse string // an event id refused as poison
}

func (w *memWriter) Name() string { return "mem" }

func (w *memWriter) Write(_ context.Context, recs []sinks.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.down {
		return errors.New("store down")
	}
	for _, r := range recs {
		if r.Event.GetMeta().GetEventId() == w.refuse {
			return fmt.Errorf("column overflow: %w", sinks.ErrPoison)
		}
	}
	for _, r := range recs {
		w.rows[r.Event.GetMeta().GetEventId()] = r
	}
	return nil
}

func (w *memWriter) Ping(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down {
		return errors.New("store down")
	}
	return nil
}

func (w *memWriter) setDown(d bool) {
	w.mu.Lock()
	w.down = d
	w.mu.Unlock()
}

func (w *memWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.rows)
}

func postings(t *testing.T, topic string, from, n int) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		p := new(ledgerv1.Posting)
		codectest.Populate(p.ProtoReflect(), i)
		v, err := codec.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(p.GetAccountId()), Value: v})
	}
	return recs
}

// TestRunThroughAnOutage lands records, takes the store down mid-stream and brings it
// back: every record ends in the store, the undecodable one and the one the store
// refuses are skipped and counted, and the group's offsets reach the end.
func TestRunThroughAnOutage(t *testing.T) {
	brokers := kafkatest.Cluster(t)
	topics := catalog.WithPrefix("t.", []catalog.Topic{{Name: "ledger.postings", Key: "account id", Value: "weir.ledger.v1.Posting", Partitions: 3, Doc: "test"}})
	topic := topics[0].Name
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := catalog.Apply(ctx, kadm.NewClient(cl), topics); err != nil {
		t.Fatal(err)
	}
	first := postings(t, topic, 0, 500)
	first = append(first, &kgo.Record{Topic: topic, Value: []byte("\xff not protobuf")})
	if err := cl.ProduceSync(ctx, first...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	refused := new(ledgerv1.Posting)
	codectest.Populate(refused.ProtoReflect(), 7)
	w := &memWriter{rows: map[string]sinks.Record{}, refuse: refused.GetMeta().GetEventId()}
	reg := prometheus.NewRegistry()
	m := sinks.NewMetrics(reg)
	done := make(chan error, 1)
	go func() {
		done <- sinks.Run(ctx, w, sinks.Options{Brokers: brokers, Topics: []string{topic}, Catalog: topics,
			MaxBatch: 100, RetryBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Metrics: m})
	}()
	waitFor(t, func() bool { return w.count() == 499 }, "the first 499 records in the store")

	w.setDown(true)
	if err := cl.ProduceSync(ctx, postings(t, topic, 500, 500)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return value(t, m.Paused("mem")) == 1 }, "the sink to pause")
	if n := w.count(); n != 499 {
		t.Fatalf("%d records stored while the store was down", n)
	}
	w.setDown(false)
	waitFor(t, func() bool { return w.count() == 999 }, "every record in the store after the outage")
	kafkatest.WaitConsumed(t, brokers, "weir-sink-mem", topic, time.Minute)
	if got := value(t, m.Poison("mem")); got != 2 {
		t.Errorf("poison count %v, want 2 (one undecodable, one refused)", got)
	}
	if value(t, m.Paused("mem")) != 0 {
		t.Error("still paused after the store came back")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// value reads a gauge or counter.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}
