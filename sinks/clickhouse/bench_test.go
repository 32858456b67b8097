package clickhouse

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/sinks"
)

// BenchmarkWrite writes 100,000 populated chain.transfers records, in Writes of 20,000
// (the runner's default batch), to the real server; each iteration lands new offsets.
func BenchmarkWrite(b *testing.B) {
	const (
		records = 100_000
		batch   = 20_000
	)
	_, w := migrated(b)
	topic := topicOf(b, "chain.transfers")
	recs := make([]sinks.Record, records)
	size := 0
	for i := range recs {
		recs[i] = populated(b, topic, i+1, 0, int64(i))
		size += proto.Size(recs[i].Event)
	}
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		for i := range recs {
			recs[i].Offset = int64(n*records + i)
		}
		for lo := 0; lo < records; lo += batch {
			if err := w.Write(ctx, recs[lo:min(lo+batch, records)]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "rows/s")
}
