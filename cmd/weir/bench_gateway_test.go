package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testenv"
)

// TestBenchGateway runs `weir bench gateway` briefly against the real Kafka and Redis
// and checks that both servers were measured without errors (the harness fails the run
// above 0.1%) and that the last line is the report's JSON with its four keys.
func TestBenchGateway(t *testing.T) {
	brokers := testenv.Kafka(t)
	raddr := testenv.Redis(t)
	l, errc := startWeir(t, t.Context(), "bench", "gateway", "--repetitions", "1", "--duration", "1s",
		"--warmup", "200ms", "--connections", "4", "--partitions", "3",
		"--brokers", strings.Join(brokers, ","), "--redis-addr", raddr, "--log-level", "warn")
	if err := waitErr(t, errc, 2*time.Minute); err != nil {
		t.Fatalf("weir bench gateway: %v", err)
	}
	l.waitFor(t, "  gateway ")
	last := l.waitFor(t, `{"rps":`)
	l.mu.Lock()
	final := l.all[len(l.all)-1]
	all := slices.Clone(l.all)
	l.mu.Unlock()
	for _, name := range []string{"bare", "full"} {
		// A run's line: "15:04:05      bare: 1315 req/s, …; 1315 ok, 0 errors, 4 connections opened".
		i := slices.IndexFunc(all, func(s string) bool { return strings.Contains(s, "      "+name+": ") && strings.Contains(s, " ok, ") })
		if i < 0 {
			t.Errorf("no line reports the %s run", name)
		} else if !strings.Contains(all[i], " ok, 0 errors, ") {
			t.Errorf("run %q: want no errors", all[i])
		}
	}
	if final != last {
		t.Fatalf("the JSON is not the last line: %q", final)
	}
	var rep map[string]float64
	if err := json.Unmarshal([]byte(last), &rep); err != nil {
		t.Fatalf("last line %q: %v", last, err)
	}
	for _, k := range []string{"rps", "bare_rps", "ratio", "p99_ms"} {
		if rep[k] <= 0 {
			t.Errorf("%s = %v in %q", k, rep[k], last)
		}
	}
	if len(rep) != 4 {
		t.Errorf("last line %q has %d keys, want 4", last, len(rep))
	}
}
