package signerbench

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestResultJSON: the report's JSON line has exactly its four figures.
func TestResultJSON(t *testing.T) {
	b, err := json.Marshal(Result{SignsPerS: 1, RawSignsPerS: 2, Ratio: 0.5, P99Ms: 3, P50Ms: 4, Signed: 5, Workers: 6, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]float64
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"signs_per_s": 1, "raw_signs_per_s": 2, "ratio": 0.5, "p99_ms": 3}
	if len(m) != len(want) {
		t.Fatalf("%s: want exactly %v", b, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

// TestOptions: defaults, and the required fields.
func TestOptions(t *testing.T) {
	var o Options
	o.setDefaults()
	if o.Workers != 32 || o.Keys != 8 || o.Chains != 2 || o.Duration != 10*time.Second || o.Warmup != 2*time.Second ||
		o.Partitions != 3 || o.Progress == nil || o.Logger == nil {
		t.Errorf("defaults %+v", o)
	}
	if _, err := Run(context.Background(), Options{Dir: t.TempDir()}); err == nil {
		t.Error("Run without brokers must fail")
	}
	if _, err := Run(context.Background(), Options{Brokers: []string{"127.0.0.1:1"}}); err == nil {
		t.Error("Run without a directory must fail")
	}
}
