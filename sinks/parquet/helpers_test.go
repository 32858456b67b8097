package parquet

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
	"github.com/weirhq/weir/sinks"
)

// topicOf returns the catalogue topic name.
func topicOf(t testing.TB, name string) catalog.Topic {
	t.Helper()
	for _, tp := range catalog.All() {
		if tp.Name == name {
			return tp
		}
	}
	t.Fatalf("no topic %s", name)
	return catalog.Topic{}
}

// populated returns a record of topic at partition/offset with a fully populated
// event of seed.
func populated(t testing.TB, topic catalog.Topic, seed int, partition int32, offset int64) sinks.Record {
	t.Helper()
	ev, err := codec.New(topic.Value)
	if err != nil {
		t.Fatal(err)
	}
	codectest.Populate(ev.ProtoReflect(), seed)
	if err := codec.Validate(ev); err != nil {
		t.Fatalf("%s seed %d: %v", topic.Name, seed, err)
	}
	return sinks.Record{Topic: topic.Name, Partition: partition, Offset: offset, Type: topic.Value,
		Event: ev, Timestamp: codectest.BaseTime}
}

// openWriter opens a Writer on dir and closes it at the end of the test.
func openWriter(t testing.TB, dir string, opts ...func(*Options)) *Writer {
	t.Helper()
	o := Options{Dir: dir}
	for _, f := range opts {
		f(&o)
	}
	w, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func write(t testing.TB, w *Writer, recs []sinks.Record) {
	t.Helper()
	if err := w.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// query runs q on dir and fails the test on error.
func query(t testing.TB, dir, q string) ([]string, [][]any) {
	t.Helper()
	cols, rows, err := Query(context.Background(), dir, q)
	if err != nil {
		t.Fatal(err)
	}
	return cols, rows
}

// count returns the single integer q selects.
func count(t testing.TB, dir, q string) int64 {
	t.Helper()
	_, rows := query(t, dir, q)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: %v, want one value", q, rows)
	}
	return reflect.ValueOf(rows[0][0]).Int()
}

// canon renders a value read through Query canonically: times in UTC with
// nanoseconds, decimals as <unscaled>e-<scale>, bytes in hex, lists in brackets.
func canon(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case duckdb.Decimal:
		return fmt.Sprintf("%se-%d", x.Value, x.Scale)
	case []byte:
		return hex.EncodeToString(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = canon(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprint(v)
}

// expected flattens an event into the canonical values of its columns, independently
// of the writer's code: the layout of the package comment, spelled out again.
func expected(m protoreflect.Message, prefix string, out map[string]string) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := join(prefix, string(fd.Name()))
		if m.Descriptor().FullName() == metaName && (fd.Name() == "event_id" || fd.Name() == "event_time") {
			name = string(fd.Name())
		}
		switch {
		case fd.IsMap():
			panic("no maps in the schemas yet")
		case fd.IsList() && fd.Message() != nil && !isWellKnown(fd.Message()):
			names := map[string]string{}
			expected(dynamicpb.NewMessage(fd.Message()), name, names) // the column names
			cols := map[string][]string{}
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				e := map[string]string{}
				expected(l.Get(j).Message(), name, e)
				for k, v := range e {
					cols[k] = append(cols[k], v)
				}
			}
			for k := range names {
				out[k] = "[" + strings.Join(cols[k], " ") + "]"
			}
		case fd.IsList():
			l := m.Get(fd).List()
			cols := map[string][]string{}
			for j := 0; j < l.Len(); j++ {
				for k, v := range leafValues(fd, name, l.Get(j), true) {
					cols[k] = append(cols[k], v)
				}
			}
			for k := range leafValues(fd, name, fd.Default(), false) {
				out[k] = "[" + strings.Join(cols[k], " ") + "]"
			}
		case fd.Message() != nil && !isWellKnown(fd.Message()):
			expected(m.Get(fd).Message(), name, out)
		default:
			present := !fd.HasPresence() || m.Has(fd)
			for k, v := range leafValues(fd, name, m.Get(fd), present) {
				out[k] = v
			}
		}
	}
}

// leafValues returns the canonical values of the column(s) of one scalar value.
func leafValues(fd protoreflect.FieldDescriptor, name string, v protoreflect.Value, present bool) map[string]string {
	null := func(s string) string {
		if !present {
			return "<nil>"
		}
		return s
	}
	if fd.Message() != nil {
		switch fd.Message().FullName() {
		case timestampName:
			var at time.Time
			if present {
				at = protoTime(v)
			}
			return map[string]string{
				name:            null(at.Truncate(time.Microsecond).Format(time.RFC3339Nano)),
				name + "_nanos": null(fmt.Sprint(at.Nanosecond())),
			}
		case durationName:
			s := "<nil>"
			if present {
				mm := v.Message()
				n := new(big.Int).Mul(big.NewInt(mm.Get(mm.Descriptor().Fields().ByName("seconds")).Int()), big.NewInt(1e9))
				n.Add(n, big.NewInt(mm.Get(mm.Descriptor().Fields().ByName("nanos")).Int()))
				s = n.String() + "e-9"
			}
			return map[string]string{name: s}
		}
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		if isUint256(fd) {
			num := "<nil>"
			if s := v.String(); present && s != "" && len(s) <= 38 {
				num = s + "e-0"
			}
			return map[string]string{name: null(v.String()), name + "_num": num}
		}
		return map[string]string{name: null(v.String())}
	case protoreflect.BytesKind:
		return map[string]string{name: null(hex.EncodeToString(v.Bytes()))}
	case protoreflect.EnumKind:
		return map[string]string{name: null(string(fd.Enum().Values().ByNumber(v.Enum()).Name()))}
	}
	return map[string]string{name: null(fmt.Sprint(v.Interface()))}
}
