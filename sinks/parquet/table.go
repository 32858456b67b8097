package parquet

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/sinks"
)

// RetractedEventsView is the view Query creates with one row per event id that a
// chain.retractions record retracted; the *_canonical views leave those events out.
const RetractedEventsView = "chain_retracted_events"

// retractionsTopic is the topic whose records feed RetractedEventsView.
const retractionsTopic = "chain.retractions"

// TableName returns the view of topic in Query, the name of its ClickHouse table:
// '.' and '-' replaced by '_' (ledger.account-totals.1m → ledger_account_totals_1m).
func TableName(topic string) string {
	return strings.NewReplacer(".", "_", "-", "_").Replace(topic)
}

// table is the Arrow schema of one topic and how its records become a record batch.
type table struct {
	topic  string
	value  string // the full name of the topic's message
	schema *arrow.Schema
	cols   []column // event columns, then the system columns (add nil)
}

// systemFields end every schema; the writer fills them from the record.
var systemFields = []arrow.Field{
	{Name: "_topic", Type: arrow.BinaryTypes.String},
	{Name: "_partition", Type: arrow.PrimitiveTypes.Int32},
	{Name: "_offset", Type: arrow.PrimitiveTypes.Int64},
	{Name: "_ingested_at", Type: timestampType},
}

// newTable returns the table of topic.
func newTable(topic catalog.Topic) (*table, error) {
	ev, err := codec.New(topic.Value)
	if err != nil {
		return nil, fmt.Errorf("parquet: topic %s: %w", topic.Name, err)
	}
	cols, err := eventColumns(ev.ProtoReflect().Descriptor())
	if err != nil {
		return nil, err
	}
	for _, f := range systemFields {
		cols = append(cols, column{field: f})
	}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = c.field
	}
	return &table{topic: topic.Name, value: topic.Value, schema: arrow.NewSchema(fields, nil), cols: cols}, nil
}

// build returns the record batch of recs (all of t's topic). An error wraps errValue
// and names the record whose value a column cannot take.
func (t *table) build(mem memory.Allocator, recs []sinks.Record, ingested time.Time) (arrow.RecordBatch, error) {
	rb := array.NewRecordBuilder(mem, t.schema)
	defer rb.Release()
	rb.Reserve(len(recs))
	n := len(t.cols) - len(systemFields)
	for _, r := range recs {
		m := r.Event.ProtoReflect()
		for i, c := range t.cols[:n] {
			if err := c.add(rb.Field(i), m); err != nil {
				return nil, fmt.Errorf("%s[%d]@%d: column %s: %w", r.Topic, r.Partition, r.Offset, c.field.Name, err)
			}
		}
		rb.Field(n).(*array.StringBuilder).Append(r.Topic)
		rb.Field(n + 1).(*array.Int32Builder).Append(r.Partition)
		rb.Field(n + 2).(*array.Int64Builder).Append(r.Offset)
		rb.Field(n + 3).(*array.TimestampBuilder).Append(arrow.Timestamp(ingested.UnixNano()))
	}
	return rb.NewRecordBatch(), nil
}

// eventDate returns the UTC date of r's event (Meta.event_time; the record's
// timestamp if the event has none), as in the directory name date=YYYY-MM-DD.
func eventDate(r sinks.Record) string {
	if ts := r.Event.GetMeta().GetEventTime(); ts != nil {
		return ts.AsTime().UTC().Format(time.DateOnly)
	}
	return r.Timestamp.UTC().Format(time.DateOnly)
}
