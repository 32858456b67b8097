package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testenv"
)

// TestBenchRisk runs a small `weir bench risk` (200 blocks) against the real Kafka and
// Redis and checks that the last line is the report's JSON with its seven keys and that
// every rate and latency was measured.
func TestBenchRisk(t *testing.T) {
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	l, errc := startWeir(t, t.Context(), "bench", "risk", "--blocks", "200", "--samples", "2000",
		"--passthrough-records", "20000", "--brokers", strings.Join(brokers, ","), "--redis-addr", redisAddr,
		"--log-level", "warn")
	if err := waitErr(t, errc, 8*time.Minute); err != nil {
		t.Fatalf("weir bench risk: %v", err)
	}
	l.waitFor(t, "  features + scoring ")
	last := l.waitFor(t, `{"events_per_s":`)
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
	for _, k := range []string{"events_per_s", "passthrough_rps", "ratio", "e2e_p99_ms", "score_p99_us"} {
		if rep[k] <= 0 {
			t.Errorf("%s = %v in %q", k, rep[k], last)
		}
	}
	for _, k := range []string{"precision", "recall"} {
		if v, ok := rep[k]; !ok || v < 0 || v > 1 {
			t.Errorf("%s = %v in %q", k, v, last)
		}
	}
	if len(rep) != 7 {
		t.Errorf("last line %q has %d keys, want 7", last, len(rep))
	}
}
