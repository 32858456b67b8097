package sinkbench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks/clickhouse"
)

// TestTransfers checks the generator: deterministic, valid events with unique ids and
// the advertised variety.
func TestTransfers(t *testing.T) {
	const n = 20_000
	a, b := NewTransfers(7, n), NewTransfers(7, n)
	ids := map[string]bool{}
	kinds := map[chainv1.TransferKind]int{}
	long, months := 0, map[time.Month]bool{}
	for i := range n {
		x, y := a.Next(), b.Next()
		vx, err := codec.Marshal(x)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		vy, _ := codec.Marshal(y)
		if !bytes.Equal(vx, vy) {
			t.Fatalf("event %d differs between two generators of the same seed", i)
		}
		if ids[x.GetMeta().GetEventId()] {
			t.Fatalf("event %d: duplicate id %s", i, x.GetMeta().GetEventId())
		}
		ids[x.GetMeta().GetEventId()] = true
		kinds[x.GetKind()]++
		if len(x.GetAmount().GetValue()) > 38 || len(x.GetTokenId()) > 38 {
			long++
		}
		months[x.GetMeta().GetEventTime().AsTime().Month()] = true
	}
	if len(kinds) != 5 || long == 0 {
		t.Errorf("kinds %v, %d values beyond 38 digits", kinds, long)
	}
	if c := NewTransfers(8, 1).Next(); c.GetMeta().GetEventId() == NewTransfers(7, 1).Next().GetMeta().GetEventId() {
		t.Error("another seed gives the same first event")
	}
	if len(NewTransfers(1, 0).addrs) != addresses {
		t.Error("address pool")
	}
}

// TestRawColumnsCoverTheSchema checks that the raw mapping knows every column of
// chain_transfers for both generations of ClickHouse types.
func TestRawColumnsCoverTheSchema(t *testing.T) {
	for _, types := range []clickhouse.Types{{}, {DateTime64: true, UInt256: true}} {
		names, colTypes, err := transfersColumns(types)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rawColumns(names, colTypes); err != nil {
			t.Errorf("types %s: %v", types, err)
		}
	}
}

// TestRunSmall runs the whole benchmark, small, against the real stack: Run fails
// unless every path loaded exactly the records (the counts are checked inside), and
// the rates are filled in and print as the six-key JSON object.
func TestRunSmall(t *testing.T) {
	brokers := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)
	esURL := testenv.Elasticsearch(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := Run(ctx, Options{Brokers: brokers, ClickHouseAddr: chAddr, ElasticsearchURL: esURL,
		Records: 5000, Partitions: 3, Batch: 700, Compare: true, Progress: &progress})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	if res.ClickHouseRowsPerS <= 0 || res.ClickHouseRawRowsPerS <= 0 || res.ClickHouseRatio <= 0 ||
		res.ESDocsPerS <= 0 || res.ESRawDocsPerS <= 0 || res.ESRatio <= 0 {
		t.Errorf("rates not measured: %+v", res)
	}
	for _, step := range []string{"produced 5000 records", "clickhouse sink: 5000 rows", "clickhouse raw: 5000 rows",
		"elasticsearch sink: 5000 documents", "elasticsearch raw: 5000 documents",
		"clickhouse: the rows of both paths are equal", "elasticsearch: 200 sampled documents"} {
		if !strings.Contains(progress.String(), step) {
			t.Errorf("progress lacks %q:\n%s", step, progress.String())
		}
	}
	t.Logf("progress:\n%s", progress.String())
	line, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]float64
	if err := json.Unmarshal(line, &keys); err != nil {
		t.Fatal(err)
	}
	want := []string{"clickhouse_rows_per_s", "clickhouse_raw_rows_per_s", "clickhouse_ratio", "es_docs_per_s", "es_raw_docs_per_s", "es_ratio"}
	if len(keys) != len(want) {
		t.Errorf("JSON %s, want exactly the keys %v", line, want)
	}
	for _, k := range want {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON %s lacks %s", line, k)
		}
	}
}
