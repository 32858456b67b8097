package clickhouse

import (
	"context"
	"testing"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/sinks"
)

func TestSmoke(t *testing.T) {
	_, w := migrated(t)
	var recs []sinks.Record
	for i, tp := range catalog.All() {
		recs = append(recs, populated(t, tp, 1, 0, int64(i)))
	}
	if err := w.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}
