package streambench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestRunSmall runs the whole benchmark, small, on kfake: both phases drain every
// record, the latency phase sees every update, and the figures are filled in. It keeps
// the harness working; the figures themselves come from `weir bench runtime`.
func TestRunSmall(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{
		Brokers: c.ListenAddrs(), Records: 5000, Partitions: 3, Accounts: 50,
		LatencyRate: 500, LatencyDuration: time.Second, StateDir: t.TempDir(), Progress: &progress,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	if res.PassthroughRPS <= 0 || res.StatefulEOSRPS <= 0 || res.Ratio <= 0 {
		t.Errorf("rates not measured: %+v", res)
	}
	if res.LatencySamples < 500 || res.P50Ms <= 0 || res.P99Ms < res.P50Ms {
		t.Errorf("latency not measured: %+v", res)
	}
	for _, step := range []string{"preloading", "pass-through: 5000 records", "stateful exactly-once: 5000 records", "latency: 500 records"} {
		if !strings.Contains(progress.String(), step) {
			t.Errorf("progress lacks %q:\n%s", step, progress.String())
		}
	}
}
