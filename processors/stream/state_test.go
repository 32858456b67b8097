package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeProducer stands in for the transactional producer: it records what a task
// produces and gives each record the next offset of its topic and partition. The
// offsets reach the task's onOffset callbacks when ack is called, as the broker's
// acknowledgements would before a transaction ends.
type fakeProducer struct {
	mu      sync.Mutex
	recs    []*kgo.Record
	next    map[string]int64 // "topic/partition" -> next offset
	start   int64            // first offset of every partition
	pending []func()
}

func newFakeProducer(start int64) *fakeProducer {
	return &fakeProducer{next: map[string]int64{}, start: start}
}

func (f *fakeProducer) produce(r *kgo.Record, onOffset func(int64)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tp := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
	off, ok := f.next[tp]
	if !ok {
		off = f.start
	}
	f.next[tp] = off + 1
	r.Offset = off
	f.recs = append(f.recs, r)
	if onOffset != nil {
		f.pending = append(f.pending, func() { onOffset(off) })
	}
}

// ack delivers the offsets of every record produced since the last ack.
func (f *fakeProducer) ack() {
	f.mu.Lock()
	p := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, fn := range p {
		fn()
	}
}

// take returns the records produced to topic since the last take, and forgets them.
func (f *fakeProducer) take(topic string) []*kgo.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var got, rest []*kgo.Record
	for _, r := range f.recs {
		if r.Topic == topic {
			got = append(got, r)
		} else {
			rest = append(rest, r)
		}
	}
	f.recs = rest
	return got
}

// lastOffset returns the offset of the last record produced to topic/partition, or -1.
func (f *fakeProducer) lastOffset(topic string, partition int32) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.next[fmt.Sprintf("%s/%d", topic, partition)]
	if !ok {
		return -1
	}
	return n - 1
}

// funcHandler is a Handler made of two functions; a nil one does nothing.
type funcHandler struct {
	process func(*Context, *kgo.Record) error
	onTimer func(*Context, time.Time, []byte) error
}

func (h *funcHandler) Process(c *Context, r *kgo.Record) error {
	if h.process == nil {
		return nil
	}
	return h.process(c, r)
}

func (h *funcHandler) OnTimer(c *Context, at time.Time, key []byte) error {
	if h.onTimer == nil {
		return nil
	}
	return h.onTimer(c, at, key)
}

const (
	testApp   = "app"
	testInput = "in"
)

func testTopology(h Handler, stores ...string) *Topology {
	return &Topology{App: testApp, Inputs: []string{testInput, "in2"}, Outputs: []string{"out"}, Stores: stores, Handler: h}
}

func openDB(t *testing.T) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close pebble: %v", err)
		}
	})
	return db
}

// newTestTask returns a loaded task of partition over db, producing to f.
func newTestTask(t *testing.T, db *pebble.DB, f *fakeProducer, partition int32, topo *Topology) *task {
	t.Helper()
	tk := newTask(partition, topo, db, f.produce, newMetrics(topo.App, nil), map[string]bool{"out": true})
	if err := tk.load(); err != nil {
		t.Fatalf("load: %v", err)
	}
	return tk
}

// layer is the contents of one layer of a store for a test: value, or nil for a delete.
type layer map[string]*string

func sp(s string) *string { return &s }

// setLayers puts committed straight into Pebble (deletes are ignored there) and txn and
// rec into the store's in-memory layers.
func setLayers(t *testing.T, s *Store, committed map[string]string, txn, rec layer) {
	t.Helper()
	b := s.t.db.NewBatch()
	defer b.Close()
	for k, v := range committed {
		if err := b.Set(append(bytes.Clone(s.prefix), k...), []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	for k, v := range txn {
		if v == nil {
			s.putTxn(k, change{del: true})
		} else {
			s.putTxn(k, change{val: []byte(*v)})
		}
	}
	for k, v := range rec {
		if v == nil {
			s.rec[k] = change{del: true}
		} else {
			s.rec[k] = change{val: []byte(*v)}
		}
	}
}

type kv struct{ k, v string }

func scanAll(t *testing.T, s *Store, prefix string) []kv {
	t.Helper()
	var got []kv
	if err := s.Scan([]byte(prefix), func(k, v []byte) error {
		got = append(got, kv{string(k), string(v)})
		return nil
	}); err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	return got
}

func TestStoreLayers(t *testing.T) {
	tests := []struct {
		name      string
		committed map[string]string
		txn, rec  layer
		prefix    string
		want      []kv // the scan of prefix; Get is checked against it for every key named
	}{
		{name: "empty"},
		{
			name:      "committed only",
			committed: map[string]string{"b": "1", "a": "2", "c": "3"},
			want:      []kv{{"a", "2"}, {"b", "1"}, {"c", "3"}},
		},
		{
			name: "transaction only",
			txn:  layer{"b": sp("1"), "a": sp("2"), "gone": nil},
			want: []kv{{"a", "2"}, {"b", "1"}},
		},
		{
			name: "record only",
			rec:  layer{"b": sp("1"), "a": sp("2"), "gone": nil},
			want: []kv{{"a", "2"}, {"b", "1"}},
		},
		{
			name:      "record over transaction over committed",
			committed: map[string]string{"k": "c"},
			txn:       layer{"k": sp("t")},
			rec:       layer{"k": sp("r")},
			want:      []kv{{"k", "r"}},
		},
		{
			name:      "transaction over committed",
			committed: map[string]string{"k": "c"},
			txn:       layer{"k": sp("t")},
			want:      []kv{{"k", "t"}},
		},
		{
			name:      "deletes hide lower layers",
			committed: map[string]string{"a": "c", "b": "c", "c": "c"},
			txn:       layer{"a": nil, "b": sp("t")},
			rec:       layer{"b": nil},
			want:      []kv{{"c", "c"}},
		},
		{
			name:      "record put revives a transaction delete",
			committed: map[string]string{"a": "c"},
			txn:       layer{"a": nil},
			rec:       layer{"a": sp("r")},
			want:      []kv{{"a", "r"}},
		},
		{
			name:      "interleaved in key order",
			committed: map[string]string{"a": "c", "c": "c", "e": "c", "g": "c"},
			txn:       layer{"b": sp("t"), "e": sp("t"), "h": sp("t")},
			rec:       layer{"0": sp("r"), "d": sp("r"), "g": nil, "z": sp("r")},
			want: []kv{{"0", "r"}, {"a", "c"}, {"b", "t"}, {"c", "c"}, {"d", "r"}, {"e", "t"},
				{"h", "t"}, {"z", "r"}},
		},
		{
			name:      "prefix",
			committed: map[string]string{"user/1": "c", "user/3": "c", "users": "c", "usea": "c", "x": "c"},
			txn:       layer{"user/2": sp("t"), "user/3": nil, "usex": sp("t")},
			rec:       layer{"user/0": sp("r"), "user": sp("r"), "v": sp("r")},
			prefix:    "user/",
			want:      []kv{{"user/0", "r"}, {"user/1", "c"}, {"user/2", "t"}},
		},
		{
			name:      "prefix of 0xff bytes",
			committed: map[string]string{"\xff": "c", "\xff\xff": "c", "\xfe\xff": "c", "\xff\x00\x01": "c"},
			txn:       layer{"\xff\xff\xff": sp("t"), "\xfe": sp("t")},
			rec:       layer{"\xff\x01": sp("r")},
			prefix:    "\xff",
			want:      []kv{{"\xff", "c"}, {"\xff\x00\x01", "c"}, {"\xff\x01", "r"}, {"\xff\xff", "c"}, {"\xff\xff\xff", "t"}},
		},
		{
			name:      "binary keys sort as bytes",
			committed: map[string]string{"\x00": "c", "\x80": "c"},
			txn:       layer{"\x7f": sp("t"), "\xff": sp("t")},
			rec:       layer{"\x01": sp("r")},
			want:      []kv{{"\x00", "c"}, {"\x01", "r"}, {"\x7f", "t"}, {"\x80", "c"}, {"\xff", "t"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			topo := testTopology(&funcHandler{}, "s", "s2")
			// Partition 255 ends its prefix in 0xff: the next partition must not leak in.
			tk := newTestTask(t, db, newFakeProducer(0), 255, topo)
			s := tk.stores["s"]
			setLayers(t, s, tc.committed, tc.txn, tc.rec)

			// Neighbours: the same keys in another store and in the next partition.
			other := newTestTask(t, db, newFakeProducer(0), 256, topo)
			all := map[string]string{}
			for k := range tc.committed {
				all[k] = "other"
			}
			for k := range tc.txn {
				all[k] = "other"
			}
			for k := range tc.rec {
				all[k] = "other"
			}
			all[tc.prefix+"\xff\xff"] = "other"
			setLayers(t, other.stores["s"], all, nil, nil)
			setLayers(t, tk.stores["s2"], all, nil, nil)

			got := scanAll(t, s, tc.prefix)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Scan(%q) = %q, want %q", tc.prefix, got, tc.want)
			}

			want := map[string]string{}
			for _, e := range tc.want {
				want[e.k] = e.v
			}
			for _, keys := range []map[string]*string{toLayer(tc.committed), tc.txn, tc.rec} {
				for k := range keys {
					if !strings.HasPrefix(k, tc.prefix) {
						continue
					}
					v, ok, err := s.Get([]byte(k))
					if err != nil {
						t.Fatalf("Get(%q): %v", k, err)
					}
					wv, wok := want[k]
					if ok != wok || string(v) != wv {
						t.Errorf("Get(%q) = %q, %v; want %q, %v", k, v, ok, wv, wok)
					}
				}
			}
			if v, ok, err := s.Get([]byte("never written")); err != nil || ok || v != nil {
				t.Errorf("Get of an absent key = %q, %v, %v; want nil, false, nil", v, ok, err)
			}
		})
	}
}

func toLayer(m map[string]string) layer {
	l := layer{}
	for k, v := range m {
		l[k] = sp(v)
	}
	return l
}

func TestStorePutDelete(t *testing.T) {
	db := openDB(t)
	tk := newTestTask(t, db, newFakeProducer(0), 0, testTopology(&funcHandler{}, "s"))
	s := tk.stores["s"]
	if s.Name() != "s" {
		t.Errorf("Name = %q", s.Name())
	}
	if err := s.Put([]byte("k"), nil); err == nil || !strings.Contains(err.Error(), "use Delete") {
		t.Errorf("Put of a nil value = %v, want an error", err)
	}
	if _, ok, _ := s.Get([]byte("k")); ok {
		t.Error("a failed Put wrote the key")
	}

	// Put copies key and value: the caller may reuse its buffers.
	key, val := []byte("k"), []byte("v1")
	if err := s.Put(key, val); err != nil {
		t.Fatal(err)
	}
	key[0], val[0] = 'x', 'x'
	if v, ok, _ := s.Get([]byte("k")); !ok || string(v) != "v1" {
		t.Errorf("Get after Put = %q, %v; want v1", v, ok)
	}
	if err := s.Put([]byte("empty"), []byte{}); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := s.Get([]byte("empty")); !ok || len(v) != 0 {
		t.Errorf("Get of an empty value = %q, %v; want present and empty", v, ok)
	}

	// Through the transaction into Pebble, then delete in a new record.
	tk.commitRecord()
	if err := tk.committed(); err != nil {
		t.Fatal(err)
	}
	v, ok, err := s.Get([]byte("k"))
	if err != nil || !ok || string(v) != "v1" {
		t.Fatalf("Get from Pebble = %q, %v, %v; want v1", v, ok, err)
	}
	v[0] = 'x' // the value is the caller's: it must not alias Pebble's memory
	if v, _, _ := s.Get([]byte("k")); string(v) != "v1" {
		t.Errorf("Get returned memory shared with the store: now %q", v)
	}
	if v, ok, _ := s.Get([]byte("empty")); !ok || len(v) != 0 {
		t.Errorf("Get of a committed empty value = %q, %v; want present and empty", v, ok)
	}
	if err := s.Delete([]byte("k")); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := s.Get([]byte("k")); ok || v != nil {
		t.Errorf("Get after Delete = %q, %v; want absent", v, ok)
	}
	if err := s.Delete([]byte("never")); err != nil {
		t.Errorf("Delete of an absent key: %v", err)
	}
	tk.commitRecord()
	if err := tk.committed(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get([]byte("k")); ok {
		t.Error("committed Delete left the key in Pebble")
	}
	if got := scanAll(t, s, ""); fmt.Sprint(got) != fmt.Sprint([]kv{{"empty", ""}}) {
		t.Errorf("Scan after Delete = %q", got)
	}
}

func TestScanStopsOnError(t *testing.T) {
	stop := errors.New("stop")
	// The error may come from a key of any layer; the scan must stop there.
	for _, from := range []string{"a", "b", "c"} {
		t.Run(from, func(t *testing.T) {
			db := openDB(t)
			tk := newTestTask(t, db, newFakeProducer(0), 0, testTopology(&funcHandler{}, "s"))
			s := tk.stores["s"]
			setLayers(t, s, map[string]string{"a": "c", "d": "c"}, layer{"b": sp("t")}, layer{"c": sp("r"), "e": sp("r")})
			var seen []string
			err := s.Scan(nil, func(k, _ []byte) error {
				seen = append(seen, string(k))
				if string(k) == from {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) {
				t.Errorf("Scan = %v, want the callback's error", err)
			}
			if seen[len(seen)-1] != from {
				t.Errorf("Scan went on after the error: saw %q", seen)
			}
		})
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		p, want []byte
	}{
		{nil, nil},
		{[]byte{}, nil},
		{[]byte{0x00}, []byte{0x01}},
		{[]byte("ab"), []byte("ac")},
		{[]byte{0x01, 0xff}, []byte{0x02}},
		{[]byte{0x61, 0xfe, 0xff, 0xff}, []byte{0x61, 0xff}},
		{[]byte{0xff}, nil},
		{[]byte{0xff, 0xff, 0xff}, nil},
		{[]byte{0xfe}, []byte{0xff}},
		{[]byte{0xff, 0x00}, []byte{0xff, 0x01}},
	}
	for _, tc := range tests {
		in := bytes.Clone(tc.p)
		got := prefixEnd(tc.p)
		if !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("prefixEnd(%x) = %x, want %x", tc.p, got, tc.want)
		}
		if !bytes.Equal(in, tc.p) {
			t.Errorf("prefixEnd(%x) modified its argument to %x", in, tc.p)
		}
		// Every key with the prefix sorts below the end; the end itself does not have it.
		if got != nil {
			for _, suffix := range [][]byte{nil, {0x00}, {0xff, 0xff, 0xff}} {
				if k := append(bytes.Clone(tc.p), suffix...); bytes.Compare(k, got) >= 0 {
					t.Errorf("prefixEnd(%x) = %x is not above %x", tc.p, got, k)
				}
			}
			if bytes.HasPrefix(got, tc.p) {
				t.Errorf("prefixEnd(%x) = %x has the prefix", tc.p, got)
			}
		}
	}
}

func TestKeyLayout(t *testing.T) {
	// Store names are not prefix-free ("a", "a.b"): the 0 terminator keeps their ranges
	// apart, and data and checkpoints never share a key.
	keys := map[string]string{}
	for _, store := range []string{"a", "a.b", "ab", TimersStore} {
		for _, p := range []int32{0, 1, 255, 256} {
			for name, k := range map[string][]byte{"data": dataPrefix(store, p), "checkpoint": checkpointKey(store, p)} {
				id := fmt.Sprintf("%s %s/%d", name, store, p)
				if prev, dup := keys[string(k)]; dup {
					t.Errorf("%s and %s share the key %x", prev, id, k)
				}
				keys[string(k)] = id
			}
		}
	}
	for k1, id1 := range keys {
		for k2, id2 := range keys {
			if k1 != k2 && strings.HasPrefix(id1, "data") && strings.HasPrefix(k2, k1) {
				t.Errorf("%s (%x) is a prefix of %s (%x)", id1, k1, id2, k2)
			}
		}
	}
	if got, want := dataPrefix("s", 258), []byte{'d', 's', 0, 0, 0, 1, 2}; !bytes.Equal(got, want) {
		t.Errorf("dataPrefix(s, 258) = %x, want %x", got, want)
	}
	if got, want := checkpointKey("s", 1), []byte{'c', 's', 0, 0, 0, 0, 1}; !bytes.Equal(got, want) {
		t.Errorf("checkpointKey(s, 1) = %x, want %x", got, want)
	}
}

func TestCheckpoint(t *testing.T) {
	db := openDB(t)
	if off, err := readCheckpoint(db, "s", 0); err != nil || off != 0 {
		t.Fatalf("checkpoint of a fresh database = %d, %v; want 0, nil", off, err)
	}
	b := db.NewBatch()
	for _, c := range []struct {
		store string
		p     int32
		next  int64
	}{{"s", 0, 42}, {"s", 1, 7}, {"t", 0, 1 << 40}, {"s", 0, 43}} {
		if err := putCheckpoint(b, c.store, c.p, c.next); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		store string
		p     int32
		want  int64
	}{{"s", 0, 43}, {"s", 1, 7}, {"t", 0, 1 << 40}, {"t", 1, 0}, {"u", 0, 0}} {
		if got, err := readCheckpoint(db, c.store, c.p); err != nil || got != c.want {
			t.Errorf("checkpoint of %s/%d = %d, %v; want %d", c.store, c.p, got, err, c.want)
		}
	}

	if err := db.Set(checkpointKey("bad", 0), []byte{1, 2, 3, 4}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := readCheckpoint(db, "bad", 0); err == nil || !strings.Contains(err.Error(), "4 bytes, want 8") {
		t.Errorf("malformed checkpoint: %v, want a length error", err)
	}
	// The encoding is 8 bytes big endian, which restore and committed share.
	v, closer, err := db.Get(checkpointKey("s", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if !bytes.Equal(v, binary.BigEndian.AppendUint64(nil, 7)) {
		t.Errorf("checkpoint bytes %x", v)
	}
}
