package window_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/processors/window"
)

// slidingSum emits, for every record "millis,amount" of a key, the sum of that key's
// amounts in the 10-second sliding window ending at the record's time.
type slidingSum struct{ spec window.Spec }

var errLate = errors.New("late")

func (h slidingSum) Process(c *stream.Context, r *kgo.Record) error {
	ms, amount, ok := strings.Cut(string(r.Value), ",")
	if !ok {
		return fmt.Errorf("malformed %q", r.Value)
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return err
	}
	at := time.UnixMilli(n).UTC()
	c.SetTime(at)
	if wm := c.Watermark(); !wm.IsZero() && h.spec.Closed(h.spec.Assign(at)[0], wm) {
		return errLate
	}
	st, err := c.Store("events")
	if err != nil {
		return err
	}
	log := window.EventLog{Store: st, Spec: h.spec}
	if err := log.Add(r.Key, at, []byte(strconv.FormatInt(r.Offset, 10)), []byte(amount)); err != nil {
		return err
	}
	sum := 0
	err = log.Window(r.Key, at, func(_ time.Time, _, v []byte) error {
		x, err := strconv.Atoi(string(v))
		sum += x
		return err
	})
	if err != nil {
		return err
	}
	if _, err := log.Expire(r.Key, c.Watermark()); err != nil {
		return err
	}
	return c.Emit("sums", r.Key, []byte(fmt.Sprintf("%d:%d", n, sum)))
}

func (slidingSum) OnTimer(*stream.Context, time.Time, []byte) error { return nil }

// TestSlidingSumOnRuntime runs a sliding-window sum on the stream runtime (kfake) over
// in-order and out-of-order (within grace) events, restarting it midway with an empty
// state directory, and checks every emitted sum against a direct computation.
func TestSlidingSumOnRuntime(t *testing.T) {
	brokers := kafkatest.Cluster(t, kfake.SeedTopics(2, "events", "sums"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	spec := window.Sliding(10 * time.Second).WithGrace(3 * time.Second)
	topo := stream.Topology{App: "sliding", Inputs: []string{"events"}, Outputs: []string{"sums"},
		Stores: []string{"events"}, Handler: slidingSum{spec: spec}}

	// Per key: times advancing 500ms per event (so some events sit exactly on a window boundary), every fifth one 2s in the past (within
	// the 3s grace); expected sums computed over what the key has seen so far.
	type ev struct {
		ms     int64
		amount int
	}
	keys := []string{"a", "b", "c", "d", "e"}
	seen := map[string][]ev{}
	want := map[string]string{} // key + ":" + ms -> sum
	var recs []*kgo.Record
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := range 300 {
		k := keys[i%len(keys)]
		ms := base + int64(i/len(keys))*500
		if i%5 == 0 && i > 50 {
			ms -= 2000
		}
		e := ev{ms, 1 + i%13}
		seen[k] = append(seen[k], e)
		sum := 0
		for _, s := range seen[k] {
			if s.ms > ms-10000 && s.ms <= ms {
				sum += s.amount
			}
		}
		want[k+":"+strconv.FormatInt(ms, 10)+":"+strconv.Itoa(i)] = strconv.Itoa(sum)
		recs = append(recs, &kgo.Record{Topic: "events", Key: []byte(k), Value: []byte(fmt.Sprintf("%d,%d", ms, e.amount))})
	}

	run := func(dir string) {
		ctx, cancel := context.WithCancel(context.Background())
		rt, err := stream.New(topo, brokers, stream.WithStateDir(dir), stream.WithInstanceID("t"))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- rt.Run(ctx) }()
		kafkatest.WaitConsumed(t, brokers, "sliding", "events", 30*time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	half := len(recs) / 2
	if err := cl.ProduceSync(context.Background(), recs[:half]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	run(t.TempDir())
	if err := cl.ProduceSync(context.Background(), recs[half:]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	run(t.TempDir()) // empty state dir: the event log is restored from the changelog

	// Read the sums in order per key and match them to the inputs in order per key.
	out := kafkatest.ReadCommitted(t, brokers, "sums")
	if len(out) != len(recs) {
		t.Fatalf("%d sums emitted for %d records", len(out), len(recs))
	}
	perKey := map[string][]string{}
	for _, r := range out {
		perKey[string(r.Key)] = append(perKey[string(r.Key)], string(r.Value))
	}
	idx := map[string]int{}
	for i, r := range recs {
		k := string(r.Key)
		ms, _, _ := strings.Cut(string(r.Value), ",")
		got := perKey[k][idx[k]]
		idx[k]++
		gotMs, gotSum, _ := strings.Cut(got, ":")
		if gotMs != ms || gotSum != want[k+":"+ms+":"+strconv.Itoa(i)] {
			t.Errorf("record %d (key %s at %s): emitted %s, want sum %s", i, k, ms, got, want[k+":"+ms+":"+strconv.Itoa(i)])
		}
	}
}
