package stream

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// noWatermark is the watermark of a task that has not seen a record yet.
const noWatermark = math.MinInt64

// maxTimerRounds bounds the timers fired after one record, so that a handler that keeps
// scheduling timers in the past cannot spin forever.
const maxTimerRounds = 1 << 16

// Keys of the timers store: 't' at(8, big endian unix nanos) key -> {1}; 'w' -> watermark.
var watermarkKey = []byte{'w'}

func timerKey(at int64, key []byte) []byte {
	b := make([]byte, 0, 9+len(key))
	b = append(b, 't')
	b = binary.BigEndian.AppendUint64(b, uint64(at)^(1<<63)) // sign-flipped: sorts negatives first
	return append(b, key...)
}

func parseTimerKey(k []byte) (int64, []byte, bool) {
	if len(k) < 9 || k[0] != 't' {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(k[1:9]) ^ (1 << 63)), k[9:], true
}

// producer sends one record in the open transaction; onOffset, if not nil, is called with
// the record's offset once the broker acknowledged it.
type producer func(r *kgo.Record, onOffset func(int64))

// task is the processing of one partition number of every input: its stores, timers and
// watermark. A task is used by one goroutine at a time.
type task struct {
	partition int32
	topo      *Topology
	db        *pebble.DB
	produce   producer
	m         *metrics
	outputs   map[string]bool

	stores    map[string]*Store
	list      []*Store // the stores, for iteration on the per-record path
	timers    *Store
	queue     timerQueue
	live      map[string]bool // encoded timer keys that are scheduled
	watermark int64           // unix nanos; noWatermark before the first record
	persisted int64           // watermark as last written to the timers store
	ctx       Context

	in, out map[string]prometheus.Counter // per topic, cached off the hot path

	mu     sync.Mutex
	clNext map[string]int64 // per store: next changelog offset written by the open transaction
}

func newTask(partition int32, topo *Topology, db *pebble.DB, produce producer, m *metrics, outputs map[string]bool) *task {
	t := &task{
		partition: partition,
		topo:      topo,
		db:        db,
		produce:   produce,
		m:         m,
		outputs:   outputs,
		stores:    map[string]*Store{},
		clNext:    map[string]int64{},
		in:        map[string]prometheus.Counter{},
		out:       map[string]prometheus.Counter{},
	}
	for _, name := range topo.allStores() {
		t.stores[name] = &Store{name: name, t: t, prefix: dataPrefix(name, partition),
			txn: map[string]change{}, order: newKeyOrder(), rec: map[string]change{}}
	}
	for _, name := range topo.allStores() {
		t.list = append(t.list, t.stores[name])
	}
	t.timers = t.stores[TimersStore]
	t.ctx.t = t
	return t
}

// load reads the timers and watermark from the committed state.
func (t *task) load() error {
	t.queue = t.queue[:0]
	t.live = map[string]bool{}
	t.watermark, t.persisted = noWatermark, noWatermark
	err := t.timers.Scan(nil, func(k, v []byte) error {
		if bytes.Equal(k, watermarkKey) {
			if len(v) != 8 {
				return fmt.Errorf("watermark: %d bytes, want 8", len(v))
			}
			t.watermark = int64(binary.BigEndian.Uint64(v))
			t.persisted = t.watermark
			return nil
		}
		at, key, ok := parseTimerKey(k)
		if !ok {
			return fmt.Errorf("malformed timer key %x", k)
		}
		t.live[string(k)] = true
		t.queue = append(t.queue, timerItem{at: at, key: bytes.Clone(key)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("task %d: load timers: %w", t.partition, err)
	}
	heap.Init(&t.queue)
	return nil
}

// process runs the handler on one record and commits or dead-letters what it did, then
// fires the timers the record's event time made due.
func (t *task) process(rec *kgo.Record) {
	counter(t.in, t.m.recordsIn, rec.Topic).Inc()
	t.ctx.origin = rec.Timestamp
	at, err := t.eventTime(rec)
	if err == nil {
		t.ctx.reset(at)
		err = t.handle(rec)
	}
	if err != nil {
		t.discardRecord()
		t.deadLetter(rec, err)
		return
	}
	t.commitRecord()
	if n := t.ctx.now.UnixNano(); n > t.watermark {
		t.watermark = n
	}
	t.fireTimers()
}

func (t *task) eventTime(rec *kgo.Record) (time.Time, error) {
	if t.topo.EventTime == nil {
		return rec.Timestamp, nil
	}
	at, err := t.topo.EventTime(rec)
	if err != nil {
		return time.Time{}, fmt.Errorf("event time: %w", err)
	}
	return at, nil
}

// handle calls Handler.Process, turning a panic into an error.
func (t *task) handle(rec *kgo.Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return t.topo.Handler.Process(&t.ctx, rec)
}

// safely calls a Handler method, turning a panic into an error so that the record goes
// to the DLQ like any other failure instead of taking the process down.
func safely(call func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return call()
}

func counter(cache map[string]prometheus.Counter, vec *prometheus.CounterVec, topic string) prometheus.Counter {
	c, ok := cache[topic]
	if !ok {
		c = vec.WithLabelValues(topic)
		cache[topic] = c
	}
	return c
}

// fireTimers calls OnTimer for every timer at or before the watermark, oldest first.
func (t *task) fireTimers() {
	for range maxTimerRounds {
		if len(t.queue) == 0 || t.queue[0].at > t.watermark {
			return
		}
		it := heap.Pop(&t.queue).(timerItem)
		k := string(timerKey(it.at, it.key))
		if !t.live[k] {
			continue // cancelled, or a duplicate of one already fired
		}
		t.m.timersFired.Inc()
		at := time.Unix(0, it.at).UTC()
		t.ctx.reset(at)
		_ = t.ctx.Cancel(at, it.key)
		if err := safely(func() error { return t.topo.Handler.OnTimer(&t.ctx, at, it.key) }); err != nil {
			t.discardRecord()
			_ = t.ctx.Cancel(at, it.key) // the timer is spent even though its handler failed
			t.commitRecord()
			t.deadLetterTimer(at, it.key, err)
			continue
		}
		t.commitRecord()
	}
}

// commitRecord moves the current call's writes into the transaction: store changes to
// the transaction's write set (sent to the changelogs by flushChangelog), timer changes to
// the queue, outputs to their topics.
func (t *task) commitRecord() {
	for _, s := range t.list {
		if len(s.rec) == 0 {
			continue
		}
		for k, c := range s.rec {
			c.origin = t.ctx.origin
			s.putTxn(k, c)
		}
		clear(s.rec)
	}
	for _, op := range t.ctx.timerOps {
		k := string(timerKey(op.at, op.key))
		if op.add {
			if !t.live[k] {
				t.live[k] = true
				heap.Push(&t.queue, timerItem{at: op.at, key: op.key})
			}
		} else {
			delete(t.live, k)
		}
	}
	t.ctx.timerOps = t.ctx.timerOps[:0]
	for _, r := range t.ctx.emits {
		counter(t.out, t.m.recordsOut, r.Topic).Inc()
		t.produce(r, nil)
	}
	t.ctx.emits = t.ctx.emits[:0]
}

// discardRecord forgets everything the current call wrote.
func (t *task) discardRecord() {
	for _, s := range t.list {
		clear(s.rec)
	}
	t.ctx.timerOps = t.ctx.timerOps[:0]
	t.ctx.emits = t.ctx.emits[:0]
}

func (t *task) changelogWritten(store string, offset int64) {
	t.mu.Lock()
	if offset+1 > t.clNext[store] {
		t.clNext[store] = offset + 1
	}
	t.mu.Unlock()
}

func (t *task) deadLetter(rec *kgo.Record, cause error) {
	t.m.dlq.WithLabelValues(rec.Topic).Inc()
	headers := append(append([]kgo.RecordHeader{}, rec.Headers...),
		kgo.RecordHeader{Key: HeaderError, Value: []byte(cause.Error())},
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
		kgo.RecordHeader{Key: HeaderOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
		kgo.RecordHeader{Key: HeaderApp, Value: []byte(t.topo.App)},
	)
	// The dead-letter record is stamped with the time it was dead-lettered, not the
	// source record's time: a poison record met while reprocessing old data would
	// otherwise be past the DLQ's retention the moment it is written.
	headers = append(headers, kgo.RecordHeader{Key: HeaderTimestamp,
		Value: strconv.AppendInt(nil, rec.Timestamp.UnixMilli(), 10)})
	t.produce(&kgo.Record{
		Topic:     DLQTopic(rec.Topic),
		Key:       rec.Key,
		Value:     rec.Value,
		Headers:   headers,
		Timestamp: time.Now(),
	}, nil)
}

func (t *task) deadLetterTimer(at time.Time, key []byte, cause error) {
	topic := t.topo.Inputs[0]
	t.m.dlq.WithLabelValues(topic).Inc()
	t.produce(&kgo.Record{
		Topic: DLQTopic(topic),
		Key:   bytes.Clone(key),
		Headers: []kgo.RecordHeader{
			{Key: HeaderError, Value: []byte("timer at " + at.Format(time.RFC3339Nano) + ": " + cause.Error())},
			{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(t.partition), 10)},
			{Key: HeaderApp, Value: []byte(t.topo.App)},
		},
		Timestamp: time.Now(),
	}, nil)
}

// flushWatermark writes the watermark to the timers store if it moved in this
// transaction, so that it is restored with the rest of the state.
func (t *task) flushWatermark() {
	if t.watermark == t.persisted {
		return
	}
	t.timers.rec[string(watermarkKey)] = change{val: binary.BigEndian.AppendUint64(nil, uint64(t.watermark))}
	t.commitRecord()
}

// flushChangelog sends the transaction's write set to the changelogs: the last value of
// each key written in the transaction, or a tombstone, on the task's partition, stamped
// with the Kafka timestamp of the input record that last wrote it. Writing each key once
// per transaction rather than once per write is what keeps the changelog's cost in
// proportion to the keys touched, not to the records processed.
func (t *task) flushChangelog() {
	for name, s := range t.stores {
		topic := ChangelogTopic(t.topo.App, name)
		for k, c := range s.txn {
			var val []byte
			if !c.del {
				val = c.val
			}
			store := name
			t.produce(&kgo.Record{
				Topic:     topic,
				Partition: t.partition,
				Key:       []byte(k),
				Value:     val,
				Timestamp: c.origin,
			}, func(off int64) { t.changelogWritten(store, off) })
		}
	}
}

// committed applies the transaction's writes to Pebble with the new checkpoints, once
// the transaction committed.
func (t *task) committed() error {
	b := t.db.NewBatch()
	defer b.Close()
	for name, s := range t.stores {
		for k, c := range s.txn {
			key := append(bytes.Clone(s.prefix), k...)
			var err error
			if c.del {
				err = b.Delete(key, nil)
			} else {
				err = b.Set(key, c.val, nil)
			}
			if err != nil {
				return fmt.Errorf("task %d: stage %s: %w", t.partition, name, err)
			}
		}
	}
	t.mu.Lock()
	for name, next := range t.clNext {
		if err := putCheckpoint(b, name, t.partition, next); err != nil {
			t.mu.Unlock()
			return fmt.Errorf("task %d: stage checkpoint: %w", t.partition, err)
		}
	}
	clear(t.clNext)
	t.mu.Unlock()
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("task %d: apply committed state: %w", t.partition, err)
	}
	for _, s := range t.stores {
		clear(s.txn)
		s.order.Clear(true)
	}
	t.persisted = t.watermark
	return nil
}

// aborted forgets the transaction's writes and reloads timers and watermark from the
// committed state.
func (t *task) aborted() error {
	for _, s := range t.stores {
		clear(s.txn)
		s.order.Clear(true)
		clear(s.rec)
	}
	t.mu.Lock()
	clear(t.clNext)
	t.mu.Unlock()
	t.ctx.timerOps, t.ctx.emits = t.ctx.timerOps[:0], t.ctx.emits[:0]
	return t.load()
}

// Context is what a Handler sees of its task during one call. It must not be retained
// after the call returns.
type Context struct {
	t        *task
	now      time.Time
	origin   time.Time // Kafka timestamp of the input record that caused this call
	emits    []*kgo.Record
	timerOps []timerOp
}

type timerOp struct {
	at  int64
	key []byte
	add bool
}

func (c *Context) reset(at time.Time) { c.now = at }

// SetTime sets the event time of the record being processed, for handlers that read it
// from the decoded event rather than through Topology.EventTime. Once the call succeeds,
// the task's watermark advances to it. Outputs emitted after SetTime carry it as their
// timestamp.
func (c *Context) SetTime(at time.Time) { c.now = at }

// Partition returns the partition number of the task.
func (c *Context) Partition() int32 { return c.t.partition }

// Time returns the event time of the record (or timer) being handled.
func (c *Context) Time() time.Time { return c.now }

// Watermark returns the largest event time the task has processed before this call, or
// the zero Time if none.
func (c *Context) Watermark() time.Time {
	if c.t.watermark == noWatermark {
		return time.Time{}
	}
	return time.Unix(0, c.t.watermark).UTC()
}

// ErrUnknownStore is returned by Store for a name the Topology did not declare.
var ErrUnknownStore = errors.New("unknown store")

// Store returns the named store of this task.
func (c *Context) Store(name string) (*Store, error) {
	s, ok := c.t.stores[name]
	if !ok || name == TimersStore {
		return nil, fmt.Errorf("%w %q", ErrUnknownStore, name)
	}
	return s, nil
}

// ErrUnknownOutput is returned by Emit for a topic the Topology did not declare.
var ErrUnknownOutput = errors.New("topic is not a declared output")

// Emit sends a record to an output topic, partitioned by key, with the current event
// time as its timestamp. It is sent only if the call succeeds, and visible to
// read_committed consumers only once the transaction commits.
func (c *Context) Emit(topic string, key, value []byte, headers ...kgo.RecordHeader) error {
	if !c.t.outputs[topic] {
		return fmt.Errorf("emit to %q: %w", topic, ErrUnknownOutput)
	}
	c.emits = append(c.emits, &kgo.Record{
		Topic: topic, Key: bytes.Clone(key), Value: bytes.Clone(value), Headers: headers, Timestamp: c.now,
	})
	return nil
}

// Schedule sets a timer that calls OnTimer(at, key) once the task's watermark reaches
// at. Scheduling the same (at, key) twice sets one timer.
func (c *Context) Schedule(at time.Time, key []byte) error {
	k := timerKey(at.UnixNano(), key)
	c.t.timers.rec[string(k)] = change{val: []byte{1}}
	c.timerOps = append(c.timerOps, timerOp{at: at.UnixNano(), key: bytes.Clone(key), add: true})
	return nil
}

// Cancel removes a timer set with Schedule; cancelling a timer that is not set is a no-op.
func (c *Context) Cancel(at time.Time, key []byte) error {
	k := timerKey(at.UnixNano(), key)
	c.t.timers.rec[string(k)] = change{del: true}
	c.timerOps = append(c.timerOps, timerOp{at: at.UnixNano(), key: bytes.Clone(key)})
	return nil
}

// timerQueue is a min-heap of timers by time.
type timerItem struct {
	at  int64
	key []byte
}

type timerQueue []timerItem

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return bytes.Compare(q[i].key, q[j].key) < 0
}
func (q timerQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *timerQueue) Push(x any)   { *q = append(*q, x.(timerItem)) }
func (q *timerQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
