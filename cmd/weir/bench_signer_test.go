package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testenv"
)

// TestBenchSigner runs `weir bench signer` briefly against the real Kafka and checks
// that the signer path signed without errors, that every signed answer has its
// SignedTransaction on Kafka (the harness checks the topic's end offsets), and that the
// last line of stdout is the report's JSON with exactly its four keys.
func TestBenchSigner(t *testing.T) {
	brokers := testenv.Kafka(t)
	l, errc := startWeir(t, t.Context(), "bench", "signer", "--duration", "1s", "--warmup", "200ms",
		"--workers", "4", "--keys", "2", "--chains", "2", "--partitions", "1",
		"--brokers", strings.Join(brokers, ","), "--log-level", "warn")
	if err := waitErr(t, errc, 2*time.Minute); err != nil {
		t.Fatalf("weir bench signer: %v", err)
	}
	l.waitFor(t, "  signer ")
	last := l.waitFor(t, `{"signs_per_s":`)
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
	for _, k := range []string{"signs_per_s", "raw_signs_per_s", "ratio", "p99_ms"} {
		if rep[k] <= 0 {
			t.Errorf("%s = %v in %q", k, rep[k], last)
		}
	}
	if len(rep) != 4 {
		t.Errorf("last line %q has %d keys, want 4", last, len(rep))
	}
	if r := rep["signs_per_s"] / rep["raw_signs_per_s"]; r < rep["ratio"]*0.999 || r > rep["ratio"]*1.001 {
		t.Errorf("ratio %v is not signs_per_s / raw_signs_per_s = %v", rep["ratio"], r)
	}
}
