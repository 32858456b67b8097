package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ts returns the time s seconds after the epoch, in UTC.
func ts(s int64) time.Time { return time.Unix(s, 0).UTC() }

// input returns a record of the first input topic at event time at.
func input(partition int32, offset int64, key string, at time.Time) *kgo.Record {
	return &kgo.Record{Topic: testInput, Partition: partition, Offset: offset, Key: []byte(key),
		Value: []byte("v" + key), Timestamp: at}
}

// scripted is a Handler whose Process runs the step planned for the record's offset and
// whose OnTimer records what fired and runs onTimer, if set.
type scripted struct {
	plan    map[int64]func(*Context, *kgo.Record) error
	onTimer func(*Context, time.Time, []byte) error
	fired   []string // "at key" of each OnTimer call
}

func (h *scripted) Process(c *Context, r *kgo.Record) error {
	if step := h.plan[r.Offset]; step != nil {
		return step(c, r)
	}
	return nil
}

func (h *scripted) OnTimer(c *Context, at time.Time, key []byte) error {
	if !c.Time().Equal(at) {
		return fmt.Errorf("OnTimer(%v): Context.Time() is %v", at, c.Time())
	}
	h.fired = append(h.fired, fmt.Sprintf("%d %s", at.Unix(), key))
	if h.onTimer != nil {
		return h.onTimer(c, at, key)
	}
	return nil
}

// takeFired returns what fired since the last call.
func (h *scripted) takeFired() []string {
	f := h.fired
	h.fired = nil
	return f
}

// endTxn does to tk what Runtime.cycle does to a touched task before it ends the
// transaction: write the watermark and send the transaction's changes to the changelogs.
func endTxn(tk *task) {
	tk.flushWatermark()
	tk.flushChangelog()
}

// lastByKey returns the last record of each key in recs.
func lastByKey(recs []*kgo.Record) map[string]*kgo.Record {
	m := map[string]*kgo.Record{}
	for _, r := range recs {
		m[string(r.Key)] = r
	}
	return m
}

// keysOf returns the keys of m, sorted.
func keysOf(m map[string]*kgo.Record) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// must fails the test on err; for handler steps that cannot fail.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func headerMap(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range r.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

func get(t *testing.T, s *Store, key string) (string, bool) {
	t.Helper()
	v, ok, err := s.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v), ok
}

func TestProcessCommitsRecord(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	h := &scripted{plan: map[int64]func(*Context, *kgo.Record) error{
		5: func(c *Context, r *kgo.Record) error {
			s, err := c.Store("s")
			must(t, err)
			must(t, s.Put(r.Key, r.Value))
			must(t, s.Delete([]byte("old")))
			if c.Partition() != 3 {
				t.Errorf("Partition = %d, want 3", c.Partition())
			}
			if !c.Time().Equal(ts(100)) {
				t.Errorf("Time = %v, want the record's timestamp", c.Time())
			}
			if !c.Watermark().IsZero() {
				t.Errorf("Watermark before the first record = %v, want zero", c.Watermark())
			}
			must(t, c.Schedule(ts(160), r.Key))
			return c.Emit("out", r.Key, []byte("n=1"), kgo.RecordHeader{Key: "h", Value: []byte("1")})
		},
	}}
	tk := newTestTask(t, db, f, 3, testTopology(h, "s"))
	tk.process(input(3, 5, "k", ts(100)))

	if v, ok := get(t, tk.stores["s"], "k"); !ok || v != "vk" {
		t.Errorf("Get after a successful record = %q, %v", v, ok)
	}
	if len(tk.stores["s"].rec) != 0 || len(tk.stores["s"].txn) != 2 {
		t.Errorf("record writes not moved to the transaction: rec %v txn %v", tk.stores["s"].rec, tk.stores["s"].txn)
	}
	if tk.watermark != ts(100).UnixNano() {
		t.Errorf("watermark = %d, want the record's time", tk.watermark)
	}

	endTxn(tk)
	cl := f.take(ChangelogTopic(testApp, "s"))
	byKey := lastByKey(cl)
	if len(byKey) != 2 {
		t.Fatalf("changelog of store s holds keys %q, want k and old", keysOf(byKey))
	}
	for _, r := range cl {
		if r.Partition != 3 {
			t.Errorf("changelog record %q went to partition %d, want the task's 3", r.Key, r.Partition)
		}
		if !r.Timestamp.Equal(ts(100)) {
			t.Errorf("changelog record %q has timestamp %v, want the input record's", r.Key, r.Timestamp)
		}
	}
	if r := byKey["k"]; r == nil || string(r.Value) != "vk" {
		t.Errorf("changelog of the put: %+v", r)
	}
	if r := byKey["old"]; r == nil || r.Value != nil {
		t.Errorf("changelog of the delete must have a nil value: %+v", r)
	}

	timers := lastByKey(f.take(ChangelogTopic(testApp, TimersStore)))
	tk160 := string(timerKey(ts(160).UnixNano(), []byte("k")))
	if len(timers) != 2 || timers[tk160] == nil || timers[string(watermarkKey)] == nil {
		t.Errorf("timers changelog holds keys %q, want the timer and the watermark", keysOf(timers))
	}
	for _, r := range timers {
		if r.Partition != 3 {
			t.Errorf("timers changelog record %q went to partition %d, want 3", r.Key, r.Partition)
		}
	}

	out := f.take("out")
	if len(out) != 1 {
		t.Fatalf("%d outputs, want 1", len(out))
	}
	if o := out[0]; string(o.Key) != "k" || string(o.Value) != "n=1" || !o.Timestamp.Equal(ts(100)) ||
		headerMap(o)["h"] != "1" {
		t.Errorf("output = key %q value %q time %v headers %v", o.Key, o.Value, o.Timestamp, o.Headers)
	}
	if rest := f.take(DLQTopic(testInput)); len(rest) != 0 {
		t.Errorf("a successful record produced %d DLQ records", len(rest))
	}
}

func TestContextRejectsUndeclared(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	var storeErr, timersErr, emitErr error
	h := &scripted{plan: map[int64]func(*Context, *kgo.Record) error{
		0: func(c *Context, _ *kgo.Record) error {
			_, storeErr = c.Store("nope")
			_, timersErr = c.Store(TimersStore)
			emitErr = c.Emit("in", nil, nil)
			return emitErr
		},
	}}
	tk := newTestTask(t, db, f, 0, testTopology(h, "s"))
	tk.process(input(0, 0, "k", ts(1)))
	if !errors.Is(storeErr, ErrUnknownStore) || !errors.Is(timersErr, ErrUnknownStore) {
		t.Errorf("Store of an undeclared name: %v; of the timers store: %v; want ErrUnknownStore", storeErr, timersErr)
	}
	if !errors.Is(emitErr, ErrUnknownOutput) {
		t.Errorf("Emit to an undeclared topic: %v, want ErrUnknownOutput", emitErr)
	}
	if dlq := f.take(DLQTopic(testInput)); len(dlq) != 1 || !strings.Contains(headerMap(dlq[0])[HeaderError], "not a declared output") {
		t.Errorf("a failed Emit must dead-letter the record: %v", dlq)
	}
}

func TestProcessErrorDiscards(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	h := &scripted{plan: map[int64]func(*Context, *kgo.Record) error{
		16: func(c *Context, _ *kgo.Record) error {
			s, _ := c.Store("s")
			must(t, s.Put([]byte("k"), []byte("v1")))
			must(t, s.Put([]byte("del"), []byte("x")))
			must(t, c.Schedule(ts(110), []byte("a")))
			return c.Emit("out", []byte("k"), []byte("1"))
		},
		17: func(c *Context, _ *kgo.Record) error {
			s, _ := c.Store("s")
			must(t, s.Put([]byte("k"), []byte("v2")))
			must(t, s.Put([]byte("k2"), []byte("v2")))
			must(t, s.Delete([]byte("del")))
			must(t, c.Schedule(ts(120), []byte("b")))
			must(t, c.Cancel(ts(110), []byte("a")))
			c.SetTime(ts(1000))
			must(t, c.Emit("out", []byte("k"), []byte("2")))
			// The failed call sees its own writes.
			if v, ok, _ := s.Get([]byte("k")); !ok || string(v) != "v2" {
				t.Errorf("Get inside the call = %q, %v", v, ok)
			}
			return errors.New("boom")
		},
	}}
	tk := newTestTask(t, db, f, 3, testTopology(h, "s"))
	tk.process(input(3, 16, "k", ts(100)))
	f.take("out")

	bad := input(3, 17, "k", ts(105))
	bad.Headers = []kgo.RecordHeader{{Key: "trace", Value: []byte("t-1")}}
	tk.process(bad)

	s := tk.stores["s"]
	for k, want := range map[string]string{"k": "v1", "del": "x"} {
		if v, ok := get(t, s, k); !ok || v != want {
			t.Errorf("after a failed record, Get(%q) = %q, %v; want %q", k, v, ok, want)
		}
	}
	if _, ok := get(t, s, "k2"); ok {
		t.Error("a failed record's Put is visible")
	}
	if len(s.rec) != 0 || len(tk.timers.rec) != 0 {
		t.Errorf("record layers not cleared: %v %v", s.rec, tk.timers.rec)
	}
	if got := f.take("out"); len(got) != 0 {
		t.Errorf("a failed record emitted %d records", len(got))
	}
	if tk.watermark != ts(100).UnixNano() {
		t.Errorf("a failed record moved the watermark to %v", time.Unix(0, tk.watermark).UTC())
	}

	dlq := f.take(DLQTopic(testInput))
	if len(dlq) != 1 {
		t.Fatalf("%d DLQ records, want exactly 1", len(dlq))
	}
	d := dlq[0]
	// Stamped when dead-lettered (so that the DLQ's retention counts from then); the
	// source's timestamp travels in a header.
	if string(d.Key) != "k" || string(d.Value) != "vk" || time.Since(d.Timestamp) > time.Minute {
		t.Errorf("DLQ record: key %q value %q time %v; want the input's key and value, stamped now", d.Key, d.Value, d.Timestamp)
	}
	want := map[string]string{"trace": "t-1", HeaderError: "boom", HeaderTopic: testInput, HeaderPartition: "3",
		HeaderOffset: "17", HeaderApp: testApp, HeaderTimestamp: strconv.FormatInt(ts(105).UnixMilli(), 10)}
	if got := headerMap(d); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DLQ headers = %v, want %v", got, want)
	}
	if len(bad.Headers) != 1 {
		t.Errorf("dead-lettering changed the input record's headers: %v", bad.Headers)
	}

	// The changelogs hold the first record's writes only.
	endTxn(tk)
	for k, r := range lastByKey(f.take(ChangelogTopic(testApp, "s"))) {
		want := map[string]string{"k": "v1", "del": "x"}[k]
		if want == "" || string(r.Value) != want {
			t.Errorf("store changelog: %q = %q, want only k=v1 and del=x", k, r.Value)
		}
	}
	for k := range lastByKey(f.take(ChangelogTopic(testApp, TimersStore))) {
		if k != string(watermarkKey) && k != string(timerKey(ts(110).UnixNano(), []byte("a"))) {
			t.Errorf("timers changelog holds %q, from the failed record", k)
		}
	}

	// The cancel of "a" was discarded and "b" never scheduled: at 200 only "a" fires.
	tk.process(input(3, 18, "k", ts(200)))
	if got := h.takeFired(); fmt.Sprint(got) != "[110 a]" {
		t.Errorf("timers fired %v, want [110 a]", got)
	}
}

func TestEventTimeError(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	called := false
	topo := testTopology(&funcHandler{process: func(*Context, *kgo.Record) error { called = true; return nil }})
	topo.EventTime = func(r *kgo.Record) (time.Time, error) {
		if string(r.Key) == "bad" {
			return time.Time{}, errors.New("no time")
		}
		return ts(int64(r.Offset)), nil
	}
	tk := newTestTask(t, db, f, 0, topo)
	tk.process(input(0, 50, "ok", ts(1)))
	if tk.watermark != ts(50).UnixNano() {
		t.Errorf("watermark %v, want the EventTime of the record (50s)", time.Unix(0, tk.watermark).UTC())
	}
	called = false
	tk.process(input(0, 60, "bad", ts(1)))
	if called {
		t.Error("the Handler was called for a record without an event time")
	}
	dlq := f.take(DLQTopic(testInput))
	if len(dlq) != 1 || headerMap(dlq[0])[HeaderError] != "event time: no time" {
		t.Errorf("DLQ = %v, want one record with the event time error", dlq)
	}
}

func TestTimersFireInOrderOnce(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	h := &scripted{
		plan: map[int64]func(*Context, *kgo.Record) error{
			0: func(c *Context, _ *kgo.Record) error {
				for _, tm := range []struct {
					at  int64
					key string
				}{{130, "c"}, {110, "a"}, {120, "b"}, {120, "a"}, {200, "x"}, {110, "a"}, {90, "past"}, {-5, "neg"}} {
					must(t, c.Schedule(ts(tm.at), []byte(tm.key)))
				}
				return nil
			},
			3: func(c *Context, _ *kgo.Record) error {
				// Cancel one timer; cancel, then reset another (it stays set, once).
				must(t, c.Cancel(ts(200), []byte("x")))
				must(t, c.Cancel(ts(130), []byte("c")))
				must(t, c.Schedule(ts(130), []byte("c")))
				return c.Cancel(ts(999), []byte("never set"))
			},
		},
		onTimer: func(c *Context, at time.Time, key []byte) error {
			return c.Emit("out", key, []byte(c.Watermark().Format(time.RFC3339)))
		},
	}
	tk := newTestTask(t, db, f, 0, testTopology(h))
	steps := []struct {
		offset int64
		at     int64
		fired  string
	}{
		{0, 100, "[-5 neg 90 past]"}, // due at once: at <= watermark
		{1, 105, "[]"},
		{2, 120, "[110 a 120 a 120 b]"}, // a timer at the watermark fires; ties by key
		{3, 115, "[]"},                  // late record: the watermark stays at 120
		{4, 500, "[130 c]"},             // x was cancelled
		{5, 600, "[]"},                  // each fired once
	}
	for _, st := range steps {
		tk.process(input(0, st.offset, "r", ts(st.at)))
		if got := fmt.Sprint(h.takeFired()); got != st.fired {
			t.Errorf("record %d at %ds fired %s, want %s", st.offset, st.at, got, st.fired)
		}
	}
	if tk.watermark != ts(600).UnixNano() {
		t.Errorf("watermark %v, want 600s", time.Unix(0, tk.watermark))
	}
	// Emits from OnTimer carry the timer's time; the watermark is that of the record.
	out := f.take("out")
	if len(out) != 6 {
		t.Fatalf("%d timer outputs, want 6", len(out))
	}
	if o := out[3]; string(o.Key) != "a" || !o.Timestamp.Equal(ts(120)) || string(o.Value) != ts(120).Format(time.RFC3339) {
		t.Errorf("output of timer 120/a: key %q time %v value %q", o.Key, o.Timestamp, o.Value)
	}
	if len(tk.queue) != 0 || len(tk.live) != 0 {
		t.Errorf("timers left: queue %v live %v", tk.queue, tk.live)
	}
	// Every timer write is undone in the timers store: nothing left but the watermark.
	endTxn(tk)
	f.ack()
	must(t, tk.committed())
	var left []string
	must(t, tk.timers.Scan(nil, func(k, _ []byte) error { left = append(left, fmt.Sprintf("%q", k)); return nil }))
	if len(left) != 1 || left[0] != fmt.Sprintf("%q", watermarkKey) {
		t.Errorf("timers store holds %v, want only the watermark", left)
	}
}

func TestTimerSchedulesTimer(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	h := &scripted{
		plan: map[int64]func(*Context, *kgo.Record) error{
			0: func(c *Context, _ *kgo.Record) error { return c.Schedule(ts(50), []byte("k")) },
		},
		onTimer: func(c *Context, at time.Time, key []byte) error {
			return c.Schedule(at.Add(20*time.Second), key)
		},
	}
	tk := newTestTask(t, db, f, 0, testTopology(h))
	tk.process(input(0, 0, "r", ts(100)))
	if got := fmt.Sprint(h.takeFired()); got != "[50 k 70 k 90 k]" {
		t.Errorf("chained timers fired %s, want [50 k 70 k 90 k]", got)
	}
	tk.process(input(0, 1, "r", ts(110)))
	if got := fmt.Sprint(h.takeFired()); got != "[110 k]" {
		t.Errorf("then %s, want [110 k]", got)
	}
}

func TestTimerRescheduledForeverIsBounded(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	calls := 0
	h := &funcHandler{
		process: func(c *Context, _ *kgo.Record) error { return c.Schedule(ts(1), []byte("k")) },
		onTimer: func(c *Context, at time.Time, key []byte) error { calls++; return c.Schedule(at, key) },
	}
	tk := newTestTask(t, db, f, 0, testTopology(h))
	tk.process(input(0, 0, "r", ts(2))) // returns: that is the test
	if calls != maxTimerRounds {
		t.Errorf("OnTimer called %d times, want the bound %d", calls, maxTimerRounds)
	}
}

func TestFailingTimerIsSpent(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	h := &scripted{
		plan: map[int64]func(*Context, *kgo.Record) error{
			0: func(c *Context, _ *kgo.Record) error {
				must(t, c.Schedule(ts(110), []byte("a")))
				return c.Schedule(ts(110), []byte("b"))
			},
		},
		onTimer: func(c *Context, _ time.Time, key []byte) error {
			s, _ := c.Store("s")
			must(t, s.Put(key, []byte("fired")))
			must(t, c.Emit("out", key, nil))
			if string(key) == "a" {
				must(t, c.Schedule(ts(300), []byte("from-a")))
				return errors.New("boom")
			}
			return nil
		},
	}
	topo := testTopology(h, "s")
	tk := newTestTask(t, db, f, 2, topo)
	tk.process(input(2, 0, "r", ts(100)))
	tk.process(input(2, 1, "r", ts(120)))
	if got := fmt.Sprint(h.takeFired()); got != "[110 a 110 b]" {
		t.Fatalf("fired %s, want [110 a 110 b]", got)
	}

	if _, ok := get(t, tk.stores["s"], "a"); ok {
		t.Error("the failed timer's write is visible")
	}
	if v, ok := get(t, tk.stores["s"], "b"); !ok || v != "fired" {
		t.Errorf("the good timer's write: %q, %v", v, ok)
	}
	endTxn(tk)
	if cl := lastByKey(f.take(ChangelogTopic(testApp, "s"))); len(cl) != 1 || cl["b"] == nil {
		t.Errorf("store changelog holds keys %q, want only b's write", keysOf(cl))
	}
	if out := f.take("out"); len(out) != 1 || string(out[0].Key) != "b" {
		t.Errorf("outputs = %v, want only b's", out)
	}

	dlq := f.take(DLQTopic(testInput)) // the first input's DLQ
	if len(dlq) != 1 {
		t.Fatalf("%d DLQ records, want 1", len(dlq))
	}
	d := dlq[0]
	want := map[string]string{HeaderError: "timer at 1970-01-01T00:01:50Z: boom", HeaderPartition: "2", HeaderApp: testApp}
	if string(d.Key) != "a" || time.Since(d.Timestamp) > time.Minute || fmt.Sprint(headerMap(d)) != fmt.Sprint(want) {
		t.Errorf("DLQ record: key %q time %v headers %v; want a, stamped now, %v", d.Key, d.Timestamp, headerMap(d), want)
	}

	// Spent: neither fired again nor left in the committed timers.
	tk.process(input(2, 2, "r", ts(1000)))
	if got := h.takeFired(); len(got) != 0 {
		t.Errorf("fired again: %v (from-a must not have been scheduled either)", got)
	}
	endTxn(tk)
	f.ack()
	must(t, tk.committed())
	again := newTestTask(t, db, f, 2, topo)
	if len(again.queue) != 0 {
		t.Errorf("a reloaded task still has timers %v", again.queue)
	}
}

func TestCommittedAppliesAndCheckpoints(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(100) // changelogs already hold offsets below 100
	h := &scripted{plan: map[int64]func(*Context, *kgo.Record) error{
		0: func(c *Context, _ *kgo.Record) error {
			s, _ := c.Store("s")
			u, _ := c.Store("u")
			must(t, s.Put([]byte("a"), []byte("1")))
			must(t, s.Put([]byte("b"), []byte("1")))
			must(t, u.Put([]byte("x"), []byte("1")))
			return c.Schedule(ts(500), []byte("t"))
		},
		1: func(c *Context, _ *kgo.Record) error {
			s, _ := c.Store("s")
			must(t, s.Put([]byte("a"), []byte("2")))
			return s.Delete([]byte("b"))
		},
		2: func(c *Context, _ *kgo.Record) error {
			s, _ := c.Store("s")
			return s.Put([]byte("c"), []byte("3"))
		},
	}}
	topo := testTopology(h, "s", "u", "empty")
	tk := newTestTask(t, db, f, 2, topo)
	tk.process(input(2, 0, "r", ts(10)))
	tk.process(input(2, 1, "r", ts(20)))
	endTxn(tk)
	f.ack()
	must(t, tk.committed())

	checkPebble := func(store string, want map[string]string) {
		t.Helper()
		var got []string
		it, err := db.NewIter(nil)
		must(t, err)
		p := dataPrefix(store, 2)
		for ok := it.SeekGE(p); ok && bytes.HasPrefix(it.Key(), p); ok = it.Next() {
			got = append(got, fmt.Sprintf("%s=%s", it.Key()[len(p):], it.Value()))
		}
		must(t, it.Close())
		var w []string
		for _, k := range []string{"a", "b", "c", "x"} {
			if v, ok := want[k]; ok {
				w = append(w, k+"="+v)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("Pebble holds %v for store %s, want %v", got, store, w)
		}
	}
	checkCheckpoints := func() {
		t.Helper()
		for _, store := range topo.allStores() {
			want := f.lastOffset(ChangelogTopic(testApp, store), 2) + 1 // 0: none written
			got, err := readCheckpoint(db, store, 2)
			must(t, err)
			if got != want {
				t.Errorf("checkpoint of %s/2 = %d, want the last changelog offset + 1 = %d", store, got, want)
			}
		}
	}
	checkPebble("s", map[string]string{"a": "2"})
	checkPebble("u", map[string]string{"x": "1"})
	checkCheckpoints()
	// One changelog record per key per transaction, with the key's last value.
	cl := f.take(ChangelogTopic(testApp, "s"))
	if last := lastByKey(cl); len(cl) != 2 || string(last["a"].Value) != "2" || last["b"] == nil || last["b"].Value != nil {
		t.Errorf("store s changelog: %d records %q, want a=2 and a tombstone for b", len(cl), keysOf(last))
	}
	if got, _ := readCheckpoint(db, "s", 2); got != 102 {
		t.Errorf("store s wrote offsets 100 and 101, checkpoint %d, want 102", got)
	}
	for name, s := range tk.stores {
		if len(s.txn) != 0 || len(s.rec) != 0 {
			t.Errorf("store %s keeps pending writes after commit: txn %v rec %v", name, s.txn, s.rec)
		}
	}
	if tk.persisted != tk.watermark {
		t.Errorf("persisted watermark %d, want %d", tk.persisted, tk.watermark)
	}

	// A second transaction moves only the checkpoints of the stores it wrote.
	uBefore, _ := readCheckpoint(db, "u", 2)
	f.take(ChangelogTopic(testApp, TimersStore))
	tk.process(input(2, 2, "r", ts(15))) // late: the watermark does not move
	endTxn(tk)
	if got := f.take(ChangelogTopic(testApp, TimersStore)); len(got) != 0 {
		t.Errorf("a transaction without timer or watermark changes wrote %d timers changelog records", len(got))
	}
	f.ack()
	must(t, tk.committed())
	checkPebble("s", map[string]string{"a": "2", "c": "3"})
	checkCheckpoints()
	if got, _ := readCheckpoint(db, "u", 2); got != uBefore {
		t.Errorf("checkpoint of an untouched store moved from %d to %d", uBefore, got)
	}
	if got, _ := readCheckpoint(db, "s", 1); got != 0 {
		t.Errorf("another partition's checkpoint moved to %d", got)
	}
}

func TestAbortedRevertsToCommitted(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	h := &scripted{plan: map[int64]func(*Context, *kgo.Record) error{
		0: func(c *Context, _ *kgo.Record) error {
			s, _ := c.Store("s")
			must(t, s.Put([]byte("k"), []byte("committed")))
			must(t, s.Put([]byte("gone"), []byte("committed")))
			return c.Schedule(ts(150), []byte("old"))
		},
		1: func(c *Context, _ *kgo.Record) error {
			s, _ := c.Store("s")
			must(t, s.Put([]byte("k"), []byte("aborted")))
			must(t, s.Put([]byte("new"), []byte("aborted")))
			must(t, s.Delete([]byte("gone")))
			must(t, c.Cancel(ts(150), []byte("old")))
			return c.Schedule(ts(160), []byte("new"))
		},
		2: func(c *Context, _ *kgo.Record) error {
			s, _ := c.Store("s")
			// The record being processed when the transaction fails, left half done.
			return s.Put([]byte("half"), []byte("x"))
		},
	}}
	topo := testTopology(h, "s")
	tk := newTestTask(t, db, f, 0, topo)
	tk.process(input(0, 0, "r", ts(100)))
	endTxn(tk)
	f.ack()
	must(t, tk.committed())
	cpBefore, _ := readCheckpoint(db, "s", 0)

	tk.process(input(0, 1, "r", ts(140)))
	must(t, h.plan[2](&tk.ctx, nil))
	endTxn(tk)
	f.ack() // acknowledged, but the transaction aborts
	must(t, tk.aborted())

	s := tk.stores["s"]
	for k, want := range map[string]string{"k": "committed", "gone": "committed"} {
		if v, ok := get(t, s, k); !ok || v != want {
			t.Errorf("after abort, Get(%q) = %q, %v; want %q", k, v, ok, want)
		}
	}
	for _, k := range []string{"new", "half"} {
		if _, ok := get(t, s, k); ok {
			t.Errorf("after abort, the aborted write of %q is visible", k)
		}
	}
	if tk.watermark != ts(100).UnixNano() || tk.persisted != tk.watermark {
		t.Errorf("after abort, watermark %v persisted %v; want the committed 100s",
			time.Unix(0, tk.watermark).UTC(), time.Unix(0, tk.persisted).UTC())
	}
	if len(tk.queue) != 1 || tk.queue[0].at != ts(150).UnixNano() || string(tk.queue[0].key) != "old" {
		t.Errorf("after abort, timers %v, want only the committed 150/old", tk.queue)
	}
	if len(tk.ctx.emits) != 0 || len(tk.ctx.timerOps) != 0 {
		t.Errorf("after abort, pending emits %v timer ops %v", tk.ctx.emits, tk.ctx.timerOps)
	}

	// Committing an empty transaction now must not move the checkpoint to the offsets
	// of the aborted one.
	must(t, tk.committed())
	if got, _ := readCheckpoint(db, "s", 0); got != cpBefore {
		t.Errorf("checkpoint %d after an aborted transaction, want %d", got, cpBefore)
	}

	// Reprocessing runs on the committed state: the committed timer fires, the aborted
	// one does not exist.
	tk.process(input(0, 3, "r", ts(200)))
	if got := fmt.Sprint(h.takeFired()); got != "[150 old]" {
		t.Errorf("after abort, timers fired %s, want [150 old]", got)
	}
}

func TestFlushWatermarkAndLoad(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	var seen time.Time
	h := &funcHandler{process: func(c *Context, r *kgo.Record) error {
		seen = c.Watermark()
		if string(r.Key) == "set" {
			c.SetTime(ts(300)) // the event time read from the payload
		}
		return nil
	}}
	topo := testTopology(h)
	tk := newTestTask(t, db, f, 7, topo)

	endTxn(tk)
	if got := f.take(ChangelogTopic(testApp, TimersStore)); len(got) != 0 {
		t.Errorf("flushWatermark without a record produced %d records", len(got))
	}
	tk.process(input(7, 0, "r", ts(-50))) // pre-epoch times are fine
	tk.process(input(7, 1, "set", ts(1)))
	if tk.watermark != ts(300).UnixNano() {
		t.Errorf("SetTime: watermark %v, want 300s", time.Unix(0, tk.watermark).UTC())
	}
	tk.process(input(7, 2, "r", ts(5)))
	if !seen.Equal(ts(300)) {
		t.Errorf("Context.Watermark = %v, want 300s", seen)
	}
	endTxn(tk)
	cl := f.take(ChangelogTopic(testApp, TimersStore))
	if len(cl) != 1 || !bytes.Equal(cl[0].Key, watermarkKey) || cl[0].Partition != 7 ||
		!bytes.Equal(cl[0].Value, binary.BigEndian.AppendUint64(nil, uint64(ts(300).UnixNano()))) {
		t.Fatalf("flushWatermark produced %+v, want the watermark to partition 7", cl)
	}
	f.ack()
	must(t, tk.committed())
	endTxn(tk)
	if got := f.take(ChangelogTopic(testApp, TimersStore)); len(got) != 0 {
		t.Errorf("flushWatermark of an unchanged watermark produced %d records", len(got))
	}

	again := newTestTask(t, db, f, 7, topo)
	if again.watermark != ts(300).UnixNano() || again.persisted != again.watermark {
		t.Errorf("load: watermark %d persisted %d, want 300s", again.watermark, again.persisted)
	}
	again.process(input(7, 3, "r", ts(2)))
	if !seen.Equal(ts(300)) {
		t.Errorf("after load, Context.Watermark = %v, want 300s", seen)
	}
	if other := newTestTask(t, db, f, 6, topo); other.watermark != noWatermark {
		t.Errorf("partition 6 loaded partition 7's watermark")
	}
}

func TestLoadRestoresTimers(t *testing.T) {
	db := openDB(t)
	f := newFakeProducer(0)
	h := &scripted{plan: map[int64]func(*Context, *kgo.Record) error{
		0: func(c *Context, _ *kgo.Record) error {
			must(t, c.Schedule(ts(-20), []byte("pre-epoch"))) // sorts first despite its sign
			must(t, c.Schedule(ts(30), []byte("b")))
			must(t, c.Schedule(ts(30), []byte("a")))
			return c.Schedule(ts(20), []byte("z"))
		},
	}}
	topo := testTopology(h)
	tk := newTestTask(t, db, f, 0, topo)
	tk.process(input(0, 0, "r", ts(-100)))
	endTxn(tk)
	f.ack()
	must(t, tk.committed())

	again := newTestTask(t, db, f, 0, topo)
	if len(again.queue) != 4 || len(again.live) != 4 {
		t.Fatalf("load: %d timers queued, %d live; want 4", len(again.queue), len(again.live))
	}
	again.process(input(0, 1, "r", ts(100)))
	if got := fmt.Sprint(h.takeFired()); got != "[-20 pre-epoch 20 z 30 a 30 b]" {
		t.Errorf("loaded timers fired %s", got)
	}

	// A corrupt timers store is an error, not a silent loss of timers.
	must(t, db.Set(append(dataPrefix(TimersStore, 1), 'x'), []byte{1}, nil))
	bad := newTask(1, topo, db, f.produce, newMetrics(testApp, nil), nil)
	if err := bad.load(); err == nil || !strings.Contains(err.Error(), "malformed timer key") {
		t.Errorf("load of a corrupt timers store: %v", err)
	}
}

func TestTimerKeyOrder(t *testing.T) {
	ats := []int64{-1 << 62, -1, 0, 1, 1 << 62}
	var prev []byte
	for _, at := range ats {
		k := timerKey(at, []byte("k"))
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			t.Errorf("timerKey(%d) does not sort after the previous time", at)
		}
		prev = k
		gotAt, gotKey, ok := parseTimerKey(k)
		if !ok || gotAt != at || string(gotKey) != "k" {
			t.Errorf("parseTimerKey(timerKey(%d, k)) = %d, %q, %v", at, gotAt, gotKey, ok)
		}
	}
	for _, k := range [][]byte{nil, {'t'}, []byte("w"), append([]byte{'x'}, make([]byte, 8)...)} {
		if _, _, ok := parseTimerKey(k); ok {
			t.Errorf("parseTimerKey(%x) accepted a malformed key", k)
		}
	}
}
