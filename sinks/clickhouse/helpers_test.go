package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
	"github.com/weirhq/weir/sinks"
)

// testDB is a fresh database on the real server, dropped when the test ends.
type testDB struct {
	opts Options
	conn driver.Conn
}

func newTestDB(t testing.TB) *testDB {
	t.Helper()
	addr := testenv.ClickHouse(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	opts := Options{Addr: addr, Database: "weir_test_" + hex.EncodeToString(b[:])}
	ctx := context.Background()
	conn, err := Dial(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+quote(opts.Database)); err != nil {
			t.Errorf("drop %s: %v", opts.Database, err)
		}
		_ = conn.Close()
	})
	return &testDB{opts: opts, conn: conn}
}

// migrated returns a migrated database and a Writer on it, closed at the end.
func migrated(t testing.TB) (*testDB, *Writer) {
	t.Helper()
	db := newTestDB(t)
	ctx := context.Background()
	if _, err := Migrate(ctx, db.opts); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, db.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return db, w
}

func (db *testDB) count(t *testing.T, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := db.conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// topicOf returns the catalogue topic whose value is msg.
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

// populated returns a record of topic at partition/offset holding the event that
// codectest.Populate makes for seed.
func populated(t testing.TB, topic catalog.Topic, seed int, partition int32, offset int64) sinks.Record {
	t.Helper()
	ev, err := codec.New(topic.Value)
	if err != nil {
		t.Fatal(err)
	}
	codectest.Populate(ev.ProtoReflect(), seed)
	if err := codec.Validate(ev); err != nil {
		t.Fatal(err)
	}
	return record(topic, ev, partition, offset)
}

func record(topic catalog.Topic, ev codec.Event, partition int32, offset int64) sinks.Record {
	return sinks.Record{
		Topic: topic.Name, Partition: partition, Offset: offset,
		Timestamp: time.Now(), Type: topic.Value, Event: ev,
	}
}

// rows runs query and returns each row's values rendered by canon, joined by spaces.
func (db *testDB) rows(t *testing.T, query string, args ...any) []string {
	t.Helper()
	rows, err := db.conn.Query(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	cts := rows.ColumnTypes()
	for rows.Next() {
		dest := make([]any, len(cts))
		for i, ct := range cts {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(dest))
		for i := range dest {
			parts[i] = canon(dest[i])
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// recordRows returns the rows of one record, with the system columns, as the writer
// computes them, in the types clickhouse-go's row-wise Append takes.
func (t *Table) recordRows(r sinks.Record, ingested time.Time) ([][]any, error) {
	rs := t.newRows()
	if err := rs.add(&r, ingested); err != nil {
		return nil, err
	}
	out := make([][]any, rs.n)
	for i := range out {
		out[i] = rs.row(i)
	}
	return out, nil
}

// value returns the value of column name for record r.
func (t *Table) value(name string, r sinks.Record) (any, error) {
	rows, err := t.recordRows(r, time.Time{})
	if err != nil {
		return nil, err
	}
	names, _ := t.Columns()
	i := slices.Index(names, name)
	if i < 0 {
		return nil, fmt.Errorf("no column %s in %s", name, t.Name)
	}
	return rows[0][i], nil
}
