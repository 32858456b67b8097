package main

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/weirhq/weir/bench/ingestbench"
)

// TestBenchIngest runs `weir bench ingest --embedded` on a small prepared chain and
// checks that the indexer backfilled every block and log (the harness fails the run
// otherwise) and that the last line is the report's JSON.
func TestBenchIngest(t *testing.T) {
	if _, err := ingestbench.FindGeth("", ""); errors.Is(err, ingestbench.ErrNoGeth) {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %v", err)
		}
		t.Skip(err)
	}
	l, errc := startWeir(t, t.Context(), "bench", "ingest", "--embedded", "--blocks", "40", "--tx-per-block", "4",
		"--batch-blocks", "7", "--txn-blocks", "9", "--log-level", "warn")
	if err := waitErr(t, errc, 5*time.Minute); err != nil {
		t.Fatalf("weir bench ingest: %v", err)
	}
	l.waitFor(t, "  weir:         40 blocks")
	last := l.waitFor(t, `{"blocks_per_s":`)
	var rep struct {
		BlocksPerS float64 `json:"blocks_per_s"`
		LogsPerS   float64 `json:"logs_per_s"`
		PeerPerS   float64 `json:"peer_blocks_per_s"`
		Ratio      float64 `json:"ratio"`
	}
	if err := json.Unmarshal([]byte(last), &rep); err != nil || rep.BlocksPerS <= 0 || rep.LogsPerS <= 0 || rep.Ratio != 0 {
		t.Fatalf("last line %q: %+v %v", last, rep, err)
	}
}
