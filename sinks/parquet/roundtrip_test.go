package parquet

import (
	"slices"
	"testing"
	"time"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codectest"
	"github.com/weirhq/weir/sinks"
	"github.com/weirhq/weir/sinks/clickhouse"
)

// TestColumnsMatchClickHouse: every topic's columns are those of its ClickHouse table
// on 18.16 (the legacy types: DateTime + _nanos, String + Decimal(38, 0) _num), in the
// same order.
func TestColumnsMatchClickHouse(t *testing.T) {
	chTables, err := clickhouse.Tables(catalog.All(), clickhouse.Types{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]string{}
	for _, tb := range chTables {
		names, _ := tb.Columns()
		byName[tb.Name] = names
	}
	for _, topic := range catalog.All() {
		tb, err := newTable(topic)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range tb.schema.Fields() {
			got = append(got, f.Name)
		}
		if want := byName[TableName(topic.Name)]; !slices.Equal(got, want) {
			t.Errorf("%s: columns\n%v\nwant (ClickHouse)\n%v", topic.Name, got, want)
		}
	}
}

// TestRoundTrip writes a populated event of every topic for several seeds and reads
// every column back through DuckDB: each equals the event's value exactly.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, dir)
	const seeds = 3
	var recs []sinks.Record
	for _, topic := range catalog.All() {
		for seed := 1; seed <= seeds; seed++ {
			recs = append(recs, populated(t, topic, seed, 2, int64(100+seed)))
		}
	}
	write(t, w, recs)
	checked := 0
	for _, topic := range catalog.All() {
		view := TableName(topic.Name)
		for seed := 1; seed <= seeds; seed++ {
			rec := populated(t, topic, seed, 2, int64(100+seed))
			want := map[string]string{}
			expected(rec.Event.ProtoReflect(), "", want)
			want["_topic"] = topic.Name
			want["_partition"] = "2"
			want["_offset"] = canon(rec.Offset)
			want["date"] = rec.Event.GetMeta().GetEventTime().AsTime().UTC().Truncate(24 * time.Hour).Format(time.RFC3339Nano)
			cols, rows := query(t, dir, "SELECT * FROM "+ident(view)+" WHERE event_id = "+literal(rec.Event.GetMeta().GetEventId()))
			if len(rows) != 1 {
				t.Fatalf("%s seed %d: %d rows, want 1", view, seed, len(rows))
			}
			if len(cols) != len(want)+1 { // + _ingested_at
				t.Errorf("%s: %d columns, want %d: %v", view, len(cols), len(want)+1, cols)
			}
			for i, c := range cols {
				if c == "_ingested_at" {
					continue
				}
				w, ok := want[c]
				if !ok {
					t.Errorf("%s: unexpected column %s", view, c)
					continue
				}
				if g := canon(rows[0][i]); g != w {
					t.Errorf("%s seed %d: %s = %s, want %s", view, seed, c, g, w)
				}
				checked++
			}
		}
	}
	t.Logf("%d values compared", checked)

	// The documented specifics, spelled out.
	_, rows := query(t, dir, `SELECT amount_value, amount_value_num, typeof(amount_value_num) FROM chain_transfers ORDER BY _offset`)
	if got := canon(rows[0][0]); got != codectest.MaxUint256 || rows[0][1] != nil {
		t.Errorf("seed 1: amount %s (num %v), want 2^256-1 and NULL", got, rows[0][1])
	}
	if got := canon(rows[1][0]); got != "1000000000000000002" || canon(rows[1][1]) != "1000000000000000002e-0" || rows[1][2] != "DECIMAL(38,0)" {
		t.Errorf("seed 2: amount %s (num %v, %v), want 1000000000000000002 in both", got, rows[1][1], rows[1][2])
	}
}
