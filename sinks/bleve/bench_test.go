package bleve

import (
	"encoding/json"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	"github.com/weirhq/weir/sinks"
	"github.com/weirhq/weir/sinks/elasticsearch"
)

// BenchmarkWrite measures Write throughput of 1000-record batches of payment intents
// (new events each batch, each batch durable); bytes are the documents' JSON.
func BenchmarkWrite(b *testing.B) {
	w := newWriter(b)
	base := populated(b, "weir.payments.v1.IntentTransition", 1).(*paymentsv1.IntentTransition)
	const batch = 1000
	recs := make([]sinks.Record, batch)
	var size int64
	for i := range recs {
		ev := proto.Clone(base).(*paymentsv1.IntentTransition)
		recs[i] = record("payments.intents", ev, int64(i))
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		size = 0
		for i := range recs {
			ev := recs[i].Event.(*paymentsv1.IntentTransition)
			ev.Meta.EventId = "bench-" + strconv.Itoa(n)
			n++
			if i == 0 {
				doc, _ := elasticsearch.EventFields(ev.ProtoReflect())
				d, _ := json.Marshal(doc)
				size = int64(len(d)) * batch
			}
		}
		if err := w.Write(b.Context(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
