package gatewaybench

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testenv"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one", ms(7), 0.5, 7 * time.Millisecond},
		{"one p99", ms(7), 0.99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of four is the last", ms(1, 2, 3, 4), 0.99, 4 * time.Millisecond},
		{"p99 of 1..100", hundred, 0.99, 99 * time.Millisecond},
		{"p50 of 1..100", hundred, 0.50, 50 * time.Millisecond},
		{"p100", hundred, 1, 100 * time.Millisecond},
	} {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: percentile(%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := slices.Clone(c.xs)
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
		if !slices.Equal(in, c.xs) {
			t.Errorf("median reordered its input: %v", c.xs)
		}
	}
}

// TestRunGatewaySmall runs the whole benchmark, small, against the real Kafka and Redis: both
// servers answer every request with 2xx (Run fails above 0.1% errors; here there must
// be none), the rates and the p99 are measured, and the JSON has exactly the four keys.
func TestRunGatewaySmall(t *testing.T) {
	brokers := testenv.Kafka(t)
	raddr := testenv.Redis(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := Run(ctx, Options{Brokers: brokers, RedisAddr: raddr, Connections: 4, Duration: time.Second,
		Warmup: 200 * time.Millisecond, Repetitions: 1, Partitions: 3, Progress: &progress})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.RPS <= 0 || res.BareRPS <= 0 || res.Ratio <= 0 || res.P99Ms <= 0 {
		t.Errorf("not measured: %+v", res)
	}
	if len(res.Full) != 1 || len(res.Bare) != 1 {
		t.Fatalf("runs: %d full, %d bare", len(res.Full), len(res.Bare))
	}
	for _, r := range []RunStats{res.Full[0], res.Bare[0]} {
		// A connection the server closed is dialled again (at most one open per client),
		// so a busy machine may show one more than 4.
		if r.Errors != 0 || r.OK == 0 || r.Dials < 4 {
			t.Errorf("run %+v: want no errors and at least 4 connections", r)
		}
	}
	for _, step := range []string{"repetition 1/1, bare", "repetition 1/1, full", "records for"} {
		if !strings.Contains(progress.String(), step) {
			t.Errorf("progress lacks %q", step)
		}
	}
	line, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]float64
	if err := json.Unmarshal(line, &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Errorf("JSON %s, want exactly rps, bare_rps, ratio, p99_ms", line)
	}
	for _, k := range []string{"rps", "bare_rps", "ratio", "p99_ms"} {
		if keys[k] <= 0 {
			t.Errorf("JSON %s: %s = %v", line, k, keys[k])
		}
	}
}
