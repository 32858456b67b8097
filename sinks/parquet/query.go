package parquet

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	_ "github.com/duckdb/duckdb-go/v2" // the "duckdb" database/sql driver

	"github.com/weirhq/weir/schemas/catalog"
)

// Query runs sql on an in-memory DuckDB over the archive under dir and returns the
// result's column names and rows, with the values the DuckDB driver gives (string,
// []byte, int32, int64, uint32, uint64, bool, time.Time, duckdb.Decimal, []any for
// lists, nil for NULL). It blocks until the query is done or ctx ends.
//
// The views, named like the ClickHouse tables:
//
//   - <table> for every topic of the catalogue and every other topic directory under
//     dir: read_parquet over the topic's live files (covered inputs of an interrupted
//     compaction left out), hive_partitioning (so a date column is added) and
//     union_by_name (files written before a schema change lack its new columns, NULL
//     there). A catalogue topic with no files yet gets an empty view with the columns
//     of its current schema, so queries on it work from the start.
//   - chain_retracted_events: one row per event id retracted by a chain.retractions
//     record (event_id, chain_id, orphaned_block_number, orphaned_block_hash,
//     replaced_by_number, replaced_by_hash, depth, retraction_event_id, event_time).
//   - <table>_canonical for every chain table but chain_retractions: its rows whose
//     event_id was not retracted. The archive holds each record once, so unlike
//     ClickHouse no FINAL is needed.
//
// Timestamps read as TIMESTAMP WITH TIME ZONE at microsecond precision (DuckDB has no
// nanosecond instant type); <name>_nanos holds the nanoseconds. A Compact running at
// the same time may remove a file between the listing and the read: the query then
// fails (it never double counts) and can be retried.
func Query(ctx context.Context, dir, query string) (columns []string, rows [][]any, err error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, nil, fmt.Errorf("parquet: duckdb: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection, so the views are where the query runs
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("parquet: duckdb: %w", err)
	}
	defer conn.Close()
	stmts, err := viewsSQL(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, nil, fmt.Errorf("parquet: %s: %w", s, err)
		}
	}
	rs, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, fmt.Errorf("parquet: query: %w", err)
	}
	defer rs.Close()
	if columns, err = rs.Columns(); err != nil {
		return nil, nil, fmt.Errorf("parquet: query: %w", err)
	}
	for rs.Next() {
		row := make([]any, len(columns))
		ptrs := make([]any, len(columns))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, fmt.Errorf("parquet: query: %w", err)
		}
		rows = append(rows, row)
	}
	if err := rs.Err(); err != nil {
		return nil, nil, fmt.Errorf("parquet: query: %w", err)
	}
	return columns, rows, nil
}

// viewsSQL returns the statements creating Query's views over dir.
func viewsSQL(dir string) ([]string, error) {
	topics := map[string]catalog.Topic{}
	var names []string
	for _, t := range catalog.All() {
		topics[t.Name] = t
		names = append(names, t.Name)
	}
	dirs, err := topicDirs(dir)
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	for _, d := range dirs {
		if _, ok := topics[d]; !ok {
			names = append(names, d)
		}
	}
	var stmts []string
	views := map[string]bool{}
	for _, topic := range names {
		files, err := liveFiles(filepath.Join(dir, topic))
		if err != nil {
			return nil, fmt.Errorf("parquet: %w", err)
		}
		view := TableName(topic)
		switch {
		case len(files) > 0:
			quoted := make([]string, len(files))
			for i, f := range files {
				quoted[i] = literal(f)
			}
			stmts = append(stmts, fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet([%s], hive_partitioning = true, union_by_name = true)",
				ident(view), strings.Join(quoted, ", ")))
		case topics[topic].Value != "":
			tb, err := newTable(topics[topic])
			if err != nil {
				return nil, err
			}
			stmts = append(stmts, emptyViewSQL(view, tb.schema))
		default:
			continue
		}
		views[topic] = true
	}
	if views[retractionsTopic] {
		stmts = append(stmts, fmt.Sprintf(`CREATE VIEW %s AS SELECT unnest(retracted_event_ids) AS event_id, chain_id,
  orphaned_block_number, orphaned_block_hash, replaced_by_number, replaced_by_hash, depth,
  event_id AS retraction_event_id, event_time, _topic, _partition, _offset
FROM %s`, ident(RetractedEventsView), ident(TableName(retractionsTopic))))
		for _, topic := range names {
			if views[topic] && strings.HasPrefix(topic, "chain.") && topic != retractionsTopic {
				t := TableName(topic)
				stmts = append(stmts, fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM %s WHERE event_id NOT IN (SELECT event_id FROM %s)",
					ident(t+"_canonical"), ident(t), ident(RetractedEventsView)))
			}
		}
	}
	return stmts, nil
}

// emptyViewSQL creates a view with schema's columns (and the hive date) and no rows.
func emptyViewSQL(view string, schema *arrow.Schema) string {
	cols := make([]string, 0, len(schema.Fields())+1)
	for _, f := range schema.Fields() {
		cols = append(cols, fmt.Sprintf("CAST(NULL AS %s) AS %s", duckType(f.Type), ident(f.Name)))
	}
	cols = append(cols, "CAST(NULL AS DATE) AS date")
	return fmt.Sprintf("CREATE VIEW %s AS SELECT %s WHERE false", ident(view), strings.Join(cols, ", "))
}

// duckType is the DuckDB type read_parquet gives a column of Arrow type t.
func duckType(t arrow.DataType) string {
	switch t := t.(type) {
	case *arrow.ListType:
		return duckType(t.Elem()) + "[]"
	case *arrow.Decimal128Type:
		return fmt.Sprintf("DECIMAL(%d, %d)", t.Precision, t.Scale)
	case *arrow.TimestampType:
		return "TIMESTAMP WITH TIME ZONE"
	}
	switch t.ID() {
	case arrow.STRING:
		return "VARCHAR"
	case arrow.BINARY:
		return "BLOB"
	case arrow.BOOL:
		return "BOOLEAN"
	case arrow.INT32:
		return "INTEGER"
	case arrow.INT64:
		return "BIGINT"
	case arrow.UINT32:
		return "UINTEGER"
	case arrow.UINT64:
		return "UBIGINT"
	case arrow.FLOAT32:
		return "FLOAT"
	case arrow.FLOAT64:
		return "DOUBLE"
	}
	return "VARCHAR"
}

// ident quotes a DuckDB identifier.
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// literal quotes a DuckDB string literal.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
