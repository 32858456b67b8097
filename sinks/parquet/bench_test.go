package parquet

import (
	"context"
	"testing"

	"github.com/weirhq/weir/sinks"
)

// BenchmarkWrite archives 100k transfers (12 partitions, two dates) per iteration in
// Writes of 20,000 records, the runner's default batch, and reports rows/s.
func BenchmarkWrite(b *testing.B) {
	const n, batch = 100_000, 20_000
	recs := make([]sinks.Record, n)
	for i := range recs {
		at := day1
		if i%3 == 0 {
			at = day2
		}
		recs[i] = transfer(b, i, int32(i%12), int64(i/12), at, uint64(i/100))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		w := openWriter(b, b.TempDir())
		b.StartTimer()
		for i := 0; i < n; i += batch {
			if err := w.Write(context.Background(), recs[i:i+batch]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
