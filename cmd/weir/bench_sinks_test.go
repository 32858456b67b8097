package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testenv"
)

// TestBenchSinks runs `weir bench sinks --records 5000` against the real stack and
// checks that every phase reported its exact count (the harness fails the run
// otherwise) and that the last line is the report's JSON with its six keys.
func TestBenchSinks(t *testing.T) {
	brokers := testenv.Kafka(t)
	ch := testenv.ClickHouse(t)
	es := testenv.Elasticsearch(t)
	l, errc := startWeir(t, t.Context(), "bench", "sinks", "--records", "5000", "--partitions", "3",
		"--brokers", strings.Join(brokers, ","), "--clickhouse-addr", ch, "--elasticsearch-url", es, "--log-level", "warn")
	if err := waitErr(t, errc, 5*time.Minute); err != nil {
		t.Fatalf("weir bench sinks: %v", err)
	}
	l.waitFor(t, "  clickhouse sink ")
	l.waitFor(t, "  elasticsearch raw (bulk) ")
	last := l.waitFor(t, `{"clickhouse_rows_per_s":`)
	l.mu.Lock()
	final := l.all[len(l.all)-1]
	l.mu.Unlock()
	if final != last {
		t.Fatalf("the JSON is not the last line: %q", final)
	}
	var rep map[string]float64
	if err := json.Unmarshal([]byte(last), &rep); err != nil {
		t.Fatalf("last line %q: %v", last, err)
	}
	for _, k := range []string{"clickhouse_rows_per_s", "clickhouse_raw_rows_per_s", "clickhouse_ratio", "es_docs_per_s", "es_raw_docs_per_s", "es_ratio"} {
		if rep[k] <= 0 {
			t.Errorf("%s = %v in %q", k, rep[k], last)
		}
	}
	if len(rep) != 6 {
		t.Errorf("last line %q has %d keys, want 6", last, len(rep))
	}
}
