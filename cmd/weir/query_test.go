package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/codectest"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks"
	"github.com/weirhq/weir/sinks/clickhouse"
	"github.com/weirhq/weir/sinks/elasticsearch"
	"github.com/weirhq/weir/sinks/parquet"
)

func TestPrintRows(t *testing.T) {
	huge, _ := new(big.Int).SetString(codectest.MaxUint256, 10)
	at := time.Date(2026, 11, 25, 1, 2, 3, 456, time.UTC)
	dec := decimal.RequireFromString("123456789012345678901234567890")
	var null *string
	cols := []string{"big", "dec", "n", "t", "s", "null"}
	rows := [][]any{{huge, dec, uint64(1) << 60, at, "a,b", null}}
	var out bytes.Buffer
	if err := printRows(&out, "csv", cols, rows); err != nil {
		t.Fatal(err)
	}
	want := "big,dec,n,t,s,null\n" + codectest.MaxUint256 + ",123456789012345678901234567890,1152921504606846976,2026-11-25T01:02:03.000000456Z,\"a,b\",NULL\n"
	if out.String() != want {
		t.Errorf("csv:\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	if err := printRows(&out, "json", cols, rows); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got[0]["big"] != codectest.MaxUint256 || got[0]["n"] != "1152921504606846976" || got[0]["null"] != nil {
		t.Errorf("json: %s", out.String())
	}
	out.Reset()
	if err := printRows(&out, "table", cols, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), codectest.MaxUint256) || !strings.HasSuffix(out.String(), "(1 rows)\n") {
		t.Errorf("table:\n%s", out.String())
	}
}

// TestSQLAndSearch lands transfers through the sinks' writers into the default database
// and indices, then finds them with `weir sql` and `weir search`, as an analyst and an
// auditor would, with exact amounts.
func TestSQLAndSearch(t *testing.T) {
	chAddr, esURL := testenv.ClickHouse(t), testenv.Elasticsearch(t)
	ctx := t.Context()
	seed := int(time.Now().UnixNano() % 1_000_000_000)
	var recs []sinks.Record
	var ids []string
	for i := 0; i < 3; i++ {
		tr := new(chainv1.Transfer)
		codectest.Populate(tr.ProtoReflect(), seed+i)
		ids = append(ids, tr.GetMeta().GetEventId())
		recs = append(recs, sinks.Record{Topic: "chain.transfers", Partition: 0, Offset: int64(seed + i),
			Type: "weir.chain.v1.Transfer", Event: tr})
	}
	if _, err := clickhouse.Migrate(ctx, clickhouse.Options{Addr: chAddr}); err != nil {
		t.Fatal(err)
	}
	cw, err := clickhouse.Open(ctx, clickhouse.Options{Addr: chAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer cw.Close()
	// A partition of its own, so that the offset high-water mark of earlier runs does
	// not hide these records.
	for i := range recs {
		recs[i].Partition = int32(seed % 100000)
	}
	if err := cw.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	ew, err := elasticsearch.Open(ctx, elasticsearch.Options{URL: esURL})
	if err != nil {
		t.Fatal(err)
	}
	defer ew.Close(context.Background())
	if err := ew.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}

	query := fmt.Sprintf("SELECT event_id, amount_value FROM chain_transfers WHERE event_id IN ('%s') ORDER BY event_id",
		strings.Join(ids, "','"))
	l, errc := startWeir(t, ctx, "sql", "--format", "csv", "--clickhouse-addr", chAddr, query)
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("weir sql: %v", err)
	}
	l.waitFor(t, "event_id,amount_value")
	for _, r := range recs {
		tr := r.Event.(*chainv1.Transfer)
		l.waitFor(t, tr.GetMeta().GetEventId()+","+tr.GetAmount().GetValue())
	}

	if _, err := httpPost(esURL + "/weir-chain.transfers-*/_refresh"); err != nil {
		t.Fatal(err)
	}
	l, errc = startWeir(t, ctx, "search", "--elasticsearch-url", esURL, "--format", "json", "meta.event_id:"+ids[1])
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("weir search: %v", err)
	}
	l.waitFor(t, `    "amount": {`)
	l.waitFor(t, fmt.Sprintf(`      "event_id": %q`, ids[1]))
}

func httpPost(url string) (int, error) {
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestArchiveCompactor lands records in small archive files and lets the compactor merge
// them: DuckDB then counts the same rows from fewer files.
func TestArchiveCompactor(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := parquet.Open(ctx, parquet.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		tr := new(chainv1.Transfer)
		codectest.Populate(tr.ProtoReflect(), 0) // one day
		tr.Meta.EventId = fmt.Sprintf("%064x", i)
		if err := w.Write(ctx, []sinks.Record{{Topic: "chain.transfers", Partition: 0, Offset: int64(i),
			Type: "weir.chain.v1.Transfer", Event: tr}}); err != nil {
			t.Fatal(err)
		}
	}
	files := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "chain.transfers", "*", "*.parquet"))
		return len(m)
	}
	if files() != 20 {
		t.Fatalf("%d files before compaction, want 20", files())
	}
	c := &archiveCompactor{dir: dir, every: 10 * time.Millisecond, log: discard}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for deadline := time.Now().Add(time.Minute); files() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d files after a minute of compaction, want 1", files())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, rows, err := parquet.Query(t.Context(), dir, "SELECT count(*) FROM chain_transfers")
	if err != nil || fmt.Sprint(rows[0][0]) != "20" {
		t.Fatalf("count after compaction: %v %v", rows, err)
	}
}
