package clickhouse

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks"
)

// RetractedEventsTable is the table with one row per event id that a chain.retractions
// record retracted; the *_canonical views leave those events out.
const RetractedEventsTable = "chain_retracted_events"

// retractionsTopic is the topic whose records also land in RetractedEventsTable.
const retractionsTopic = "chain.retractions"

// TableName returns the table of topic: '.' and '-' replaced by '_'
// (ledger.account-totals.1m → ledger_account_totals_1m).
func TableName(topic string) string {
	return strings.NewReplacer(".", "_", "-", "_").Replace(topic)
}

// sortKeys are the ORDER BY keys of the tables, chosen for the queries analysts run
// (a chain address's history, a merchant's payments, an entity's risk, an account's
// postings); each ends in event_id so that ReplacingMergeTree collapses only copies of
// one event. Tables not listed get defaultSortKey.
var sortKeys = map[string][]string{
	"chain.blocks":             {"chain_id", "number", "event_id"},
	"chain.transactions":       {"chain_id", "from", "event_time", "event_id"},
	"chain.receipts":           {"chain_id", "from", "event_time", "event_id"},
	"chain.logs":               {"chain_id", "address", "event_time", "event_id"},
	"chain.transfers":          {"chain_id", "to", "event_time", "event_id"},
	"chain.approvals":          {"chain_id", "owner", "event_time", "event_id"},
	"chain.retractions":        {"chain_id", "orphaned_block_number", "event_id"},
	"chain.finality":           {"chain_id", "block_number", "event_id"},
	"chain.checkpoints":        {"indexer", "chain_id", "event_time", "event_id"},
	"payments.intents":         {"merchant_id", "event_time", "intent_id", "event_id"},
	"payments.webhooks":        {"merchant_id", "event_time", "event_id"},
	"signer.requests":          {"key_id", "event_time", "event_id"},
	"signer.approvals":         {"key_id", "event_time", "event_id"},
	"signer.signed":            {"key_id", "event_time", "event_id"},
	"signer.recovery":          {"key_id", "event_time", "event_id"},
	"signer.audit":             {"actor_id", "event_time", "event_id"},
	"ledger.postings":          {"account_id", "event_time", "event_id"},
	"ledger.account-totals.1m": {"account_id", "asset", "window_start", "event_id"},
	"risk.features":            {"entity_type", "entity_id", "event_time", "event_id"},
	"risk.scores":              {"entity_type", "entity_id", "event_time", "event_id"},
	"risk.alerts":              {"entity_type", "entity_id", "event_time", "event_id"},
	"risk.labels":              {"entity_type", "entity_id", "event_time", "event_id"},
	"recon.results":            {"merchant_id", "event_time", "event_id"},
	"settlement.batches":       {"merchant_id", "event_time", "event_id"},
	"settlement.payouts":       {"merchant_id", "event_time", "event_id"},
}

// defaultSortKey orders a table not in sortKeys.
var defaultSortKey = []string{"event_time", "event_id"}

// SortKey returns the ORDER BY columns of topic's table.
func SortKey(topic string) []string {
	if k, ok := sortKeys[topic]; ok {
		return slices.Clone(k)
	}
	return slices.Clone(defaultSortKey)
}

// Table is one table the writer fills: its columns, sort key and how a record becomes
// rows.
type Table struct {
	// Name is the table's name in the database, Topic the topic whose records fill it.
	Name, Topic string
	// OrderBy is the sort key.
	OrderBy []string

	msg     protoreflect.MessageDescriptor
	columns []column
	// rows turns one record into the values of its rows, in column order without the
	// system columns.
	rows func(ev codec.Event) ([][]any, error)
}

// systemColumns end every table; the writer fills them from the record.
func systemColumns() []column {
	return []column{
		{name: "_topic", chType: "String"},
		{name: "_partition", chType: "Int32"},
		{name: "_offset", chType: "Int64"},
		{name: "_ingested_at", chType: "DateTime('UTC')"},
	}
}

// Columns returns the names and types of t's columns, in order.
func (t *Table) Columns() (names, types []string) {
	for _, c := range t.columns {
		names = append(names, c.name)
		types = append(types, c.chType)
	}
	return names, types
}

func (t *Table) column(name string) *column {
	for i := range t.columns {
		if t.columns[i].name == name {
			return &t.columns[i]
		}
	}
	return nil
}

// recordRows returns the full rows (with the system columns) of one record.
func (t *Table) recordRows(r sinks.Record, ingested time.Time) ([][]any, error) {
	rows, err := t.rows(r.Event)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i] = append(rows[i], r.Topic, r.Partition, r.Offset, ingested)
	}
	return rows, nil
}

// eventTable returns the table of topic, one row per record.
func eventTable(topic catalog.Topic, types Types) (*Table, error) {
	ev, err := codec.New(topic.Value)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: topic %s: %w", topic.Name, err)
	}
	md := ev.ProtoReflect().Descriptor()
	cols, err := eventColumns(md, types)
	if err != nil {
		return nil, err
	}
	t := &Table{
		Name:    TableName(topic.Name),
		Topic:   topic.Name,
		OrderBy: SortKey(topic.Name),
		msg:     md,
		columns: append(cols, systemColumns()...),
	}
	n := len(cols)
	t.rows = func(ev codec.Event) ([][]any, error) {
		m := ev.ProtoReflect()
		row := make([]any, n, n+4)
		for i, c := range cols {
			v, err := c.value(m)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", c.name, err)
			}
			row[i] = v
		}
		return [][]any{row}, nil
	}
	return t, t.check()
}

// retractedEventsTable returns RetractedEventsTable: one row per retracted event id of
// each chain.retractions record.
func retractedEventsTable(types Types) *Table {
	timeType := "DateTime('UTC')"
	if types.DateTime64 {
		timeType = "DateTime64(9, 'UTC')"
	}
	cols := []column{
		{name: "event_id", chType: "String"},
		{name: "chain_id", chType: "UInt64"},
		{name: "orphaned_block_number", chType: "UInt64"},
		{name: "orphaned_block_hash", chType: "String"},
		{name: "replaced_by_number", chType: "UInt64"},
		{name: "replaced_by_hash", chType: "String"},
		{name: "depth", chType: "UInt32"},
		{name: "retraction_event_id", chType: "String"},
		{name: "event_time", chType: timeType},
	}
	t := &Table{
		Name:    RetractedEventsTable,
		Topic:   retractionsTopic,
		OrderBy: []string{"chain_id", "retraction_event_id", "event_id"},
		msg:     (&chainv1.Retraction{}).ProtoReflect().Descriptor(),
		columns: append(cols, systemColumns()...),
	}
	t.rows = func(ev codec.Event) ([][]any, error) {
		r, ok := ev.(*chainv1.Retraction)
		if !ok {
			return nil, fmt.Errorf("%w: %T is not a chain retraction", errValue, ev)
		}
		at := r.GetMeta().GetEventTime().AsTime().UTC()
		lo, hi := minDateTime, maxDateTime
		if types.DateTime64 {
			lo, hi = minDateTime64, maxDateTime64
		} else {
			at = at.Truncate(time.Second)
		}
		if at.Before(lo) || at.After(hi) {
			return nil, fmt.Errorf("column event_time: %w: %s", errValue, at.Format(time.RFC3339Nano))
		}
		rows := make([][]any, 0, len(r.GetRetractedEventIds()))
		for _, id := range r.GetRetractedEventIds() {
			rows = append(rows, []any{
				id, r.GetChainId(),
				r.GetOrphanedBlock().GetNumber(), r.GetOrphanedBlock().GetHash(),
				r.GetReplacedBy().GetNumber(), r.GetReplacedBy().GetHash(),
				r.GetDepth(), r.GetMeta().GetEventId(), at,
			})
		}
		return rows, nil
	}
	return t
}

// check verifies that the sort key names plain columns (not Nullable, not arrays) and
// that the table has the event_time it is partitioned by.
func (t *Table) check() error {
	for _, k := range append(slices.Clone(t.OrderBy), "event_time") {
		c := t.column(k)
		switch {
		case c == nil:
			return fmt.Errorf("clickhouse: table %s: no column %s for its sort key or partition", t.Name, k)
		case strings.HasPrefix(c.chType, "Nullable("), strings.HasPrefix(c.chType, "Array("):
			return fmt.Errorf("clickhouse: table %s: column %s of the sort key is %s", t.Name, k, c.chType)
		}
	}
	return nil
}

// createSQL is the CREATE TABLE statement of t in db.
func (t *Table) createSQL(db string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (\n", quote(db), quote(t.Name))
	for i, c := range t.columns {
		sep := ","
		if i == len(t.columns)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s\n", quote(c.name), c.chType, sep)
	}
	keys := make([]string, len(t.OrderBy))
	for i, k := range t.OrderBy {
		keys[i] = quote(k)
	}
	fmt.Fprintf(&b, ") ENGINE = ReplacingMergeTree\nPARTITION BY toYYYYMM(event_time)\nORDER BY (%s)", strings.Join(keys, ", "))
	return b.String()
}

// insertSQL is the INSERT of t's columns, named (ClickHouse 18.16 needs the list).
func (t *Table) insertSQL(db string) string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = quote(c.name)
	}
	return fmt.Sprintf("INSERT INTO %s.%s (%s)", quote(db), quote(t.Name), strings.Join(names, ", "))
}

// Tables returns the tables of topics (usually catalog.All()) with types: one per
// topic plus RetractedEventsTable when chain.retractions is among them.
func Tables(topics []catalog.Topic, types Types) ([]*Table, error) {
	var out []*Table
	for _, topic := range topics {
		t, err := eventTable(topic, types)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		if topic.Name == retractionsTopic {
			out = append(out, retractedEventsTable(types))
		}
	}
	return out, nil
}
