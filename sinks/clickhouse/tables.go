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
	// nodes are the messages of an event that columns read (see node).
	nodes []node
	// rowsOf returns how many rows record r gives (one, or one per retracted event id
	// of a retraction); an error marks a record the table cannot take.
	rowsOf func(r *sinks.Record) (int, error)
}

// systemColumns end every table; the writer fills them from the record.
func systemColumns() []column {
	return []column{
		plain("_topic", "String", func(s *source) (string, error) { return s.rec.Topic, nil }),
		plain("_partition", "Int32", func(s *source) (int32, error) { return s.rec.Partition, nil }),
		plain("_offset", "Int64", func(s *source) (int64, error) { return s.rec.Offset, nil }),
		plain("_ingested_at", "DateTime('UTC')", func(s *source) (time.Time, error) { return s.ingested, nil }),
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

// eventTable returns the table of topic, one row per record.
func eventTable(topic catalog.Topic, types Types) (*Table, error) {
	ev, err := codec.New(topic.Value)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: topic %s: %w", topic.Name, err)
	}
	md := ev.ProtoReflect().Descriptor()
	cols, nodes, err := eventColumns(md, types)
	if err != nil {
		return nil, err
	}
	t := &Table{
		Name:    TableName(topic.Name),
		Topic:   topic.Name,
		OrderBy: SortKey(topic.Name),
		msg:     md,
		columns: append(cols, systemColumns()...),
		nodes:   nodes,
	}
	t.rowsOf = func(*sinks.Record) (int, error) { return 1, nil }
	return t, t.check()
}

// retractedEventsTable returns RetractedEventsTable: one row per retracted event id of
// each chain.retractions record.
func retractedEventsTable(types Types) *Table {
	timeType := "DateTime('UTC')"
	if types.DateTime64 {
		timeType = "DateTime64(9, 'UTC')"
	}
	retraction := func(s *source) *chainv1.Retraction { return s.rec.Event.(*chainv1.Retraction) }
	cols := []column{
		plain("event_id", "String", func(s *source) (string, error) { return retraction(s).GetRetractedEventIds()[s.row], nil }),
		plain("chain_id", "UInt64", func(s *source) (uint64, error) { return retraction(s).GetChainId(), nil }),
		plain("orphaned_block_number", "UInt64", func(s *source) (uint64, error) { return retraction(s).GetOrphanedBlock().GetNumber(), nil }),
		plain("orphaned_block_hash", "String", func(s *source) (string, error) { return retraction(s).GetOrphanedBlock().GetHash(), nil }),
		plain("replaced_by_number", "UInt64", func(s *source) (uint64, error) { return retraction(s).GetReplacedBy().GetNumber(), nil }),
		plain("replaced_by_hash", "String", func(s *source) (string, error) { return retraction(s).GetReplacedBy().GetHash(), nil }),
		plain("depth", "UInt32", func(s *source) (uint32, error) { return retraction(s).GetDepth(), nil }),
		plain("retraction_event_id", "String", func(s *source) (string, error) { return retraction(s).GetMeta().GetEventId(), nil }),
		plain("event_time", timeType, func(s *source) (time.Time, error) {
			at := retraction(s).GetMeta().GetEventTime().AsTime().UTC()
			lo, hi := minDateTime, maxDateTime
			if types.DateTime64 {
				lo, hi = minDateTime64, maxDateTime64
			} else {
				at = at.Truncate(time.Second)
			}
			if at.Before(lo) || at.After(hi) {
				return time.Time{}, fmt.Errorf("%w: %s", errValue, at.Format(time.RFC3339Nano))
			}
			return at, nil
		}),
	}
	return &Table{
		Name:    RetractedEventsTable,
		Topic:   retractionsTopic,
		OrderBy: []string{"chain_id", "retraction_event_id", "event_id"},
		msg:     (&chainv1.Retraction{}).ProtoReflect().Descriptor(),
		columns: append(cols, systemColumns()...),
		rowsOf: func(r *sinks.Record) (int, error) {
			ev, ok := r.Event.(*chainv1.Retraction)
			if !ok {
				return 0, fmt.Errorf("%w: %T is not a chain retraction", errValue, r.Event)
			}
			return len(ev.GetRetractedEventIds()), nil
		},
	}
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
