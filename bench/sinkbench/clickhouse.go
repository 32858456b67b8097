package sinkbench

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/weirhq/weir/schemas/catalog"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks/clickhouse"
)

// clickhouse loads the records into a fresh database through the sink, then the same
// rows into another with clickhouse-go's batch insert, and drops both.
func (b *bench) clickhouse(ctx context.Context) (sink, raw time.Duration, err error) {
	conn, err := clickhouse.Dial(ctx, clickhouse.Options{Addr: b.o.ClickHouseAddr})
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	b.quietCH = func(ctx context.Context) (bool, error) {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&n); err != nil {
			return false, fmt.Errorf("system.merges: %w", err)
		}
		return n == 0, nil
	}
	defer func() { b.quietCH = nil }() // the databases are dropped: no merge outlives them
	db := strings.ReplaceAll(b.id, "-", "_")
	sinkDB, rawDB := db+"_sink", db+"_raw"
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, d := range []string{sinkDB, rawDB} {
			_ = conn.Exec(cctx, "DROP DATABASE IF EXISTS `"+d+"`")
		}
	}()
	for _, d := range []string{sinkDB, rawDB} {
		if _, err := clickhouse.MigrateConn(ctx, conn, clickhouse.Options{Addr: b.o.ClickHouseAddr, Database: d}); err != nil {
			return 0, 0, err
		}
	}
	table := clickhouse.TableName(Topic)

	// The sink.
	w, err := clickhouse.Open(ctx, clickhouse.Options{Addr: b.o.ClickHouseAddr, Database: sinkDB})
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	if err := b.quiet(ctx); err != nil {
		return 0, 0, err
	}
	b.progress("clickhouse sink: sinks.Run with the clickhouse writer into %s.%s, batches of up to %d", sinkDB, table, b.o.Batch)
	if err := phase(ctx, "clickhouse-sink", func(ctx context.Context) error {
		sink, err = b.drain(ctx, w)
		return err
	}); err != nil {
		return 0, 0, err
	}
	if err := b.countRows(ctx, conn, sinkDB, table); err != nil {
		return 0, 0, err
	}
	b.progress("  clickhouse sink: %d rows in %v = %.0f rows/s", b.o.Records, sink.Round(time.Millisecond), b.rate(sink))

	// clickhouse-go's batch insert.
	types, _, err := clickhouse.ServerTypes(ctx, conn)
	if err != nil {
		return 0, 0, err
	}
	names, colTypes, err := transfersColumns(types)
	if err != nil {
		return 0, 0, err
	}
	cols, err := rawColumns(names, colTypes)
	if err != nil {
		return 0, 0, err
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "`" + n + "`"
	}
	insert := fmt.Sprintf("INSERT INTO `%s`.`%s` (%s)", rawDB, table, strings.Join(quoted, ", "))
	events := b.generated()
	if err := b.quiet(ctx); err != nil {
		return 0, 0, err
	}
	b.progress("clickhouse raw: clickhouse-go PrepareBatch/Append/Send of the same rows into %s.%s, batches of %d (events from memory, no Kafka)",
		rawDB, table, b.o.Batch)
	if err := phase(ctx, "clickhouse-raw", func(ctx context.Context) error {
		raw, err = b.rawClickHouse(ctx, conn, insert, cols, events)
		return err
	}); err != nil {
		return 0, 0, err
	}
	if err := b.countRows(ctx, conn, rawDB, table); err != nil {
		return 0, 0, err
	}
	b.progress("  clickhouse raw: %d rows in %v = %.0f rows/s", b.o.Records, raw.Round(time.Millisecond), b.rate(raw))
	if b.o.Compare {
		if err := b.sameRows(ctx, conn, sinkDB, rawDB, table, names, colTypes); err != nil {
			return 0, 0, err
		}
		b.progress("  clickhouse: the rows of both paths are equal")
	}
	return sink, raw, nil
}

// sameRows checks that every row of sinkDB.table has its equal, by event id, in
// rawDB.table, in every column but _ingested_at.
func (b *bench) sameRows(ctx context.Context, conn driver.Conn, sinkDB, rawDB, table string, names, types []string) error {
	var sel, cond []string
	for i, n := range names {
		if n == "event_id" || n == "_ingested_at" {
			continue
		}
		sel = append(sel, fmt.Sprintf("`%s` AS `r_%s`", n, n))
		eq := fmt.Sprintf("`%s` = `r_%s`", n, n)
		if strings.HasPrefix(types[i], "Nullable(") {
			eq = fmt.Sprintf("(isNull(`%s`) AND isNull(`r_%s`) OR %s)", n, n, eq)
		}
		cond = append(cond, eq)
	}
	q := fmt.Sprintf("SELECT count() FROM `%s`.`%s` ANY INNER JOIN (SELECT event_id, %s FROM `%s`.`%s`) USING event_id WHERE %s",
		sinkDB, table, strings.Join(sel, ", "), rawDB, table, strings.Join(cond, " AND "))
	var n uint64
	if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
		return fmt.Errorf("compare rows: %w", err)
	}
	if n != uint64(b.o.Records) {
		return fmt.Errorf("%d of %d rows of %s.%s equal their row in %s", n, b.o.Records, sinkDB, table, rawDB)
	}
	return nil
}

// rawClickHouse inserts the rows of events in batches of Options.Batch and returns the
// time it took, from the first row built to the last batch acknowledged.
func (b *bench) rawClickHouse(ctx context.Context, conn driver.Conn, insert string, cols []rawColumn, events []*chainv1.Transfer) (time.Duration, error) {
	start := time.Now()
	lastReport := start
	for lo := 0; lo < len(events); lo += b.o.Batch {
		hi := min(lo+b.o.Batch, len(events))
		batch, err := conn.PrepareBatch(ctx, insert)
		if err != nil {
			return 0, fmt.Errorf("prepare: %w", err)
		}
		ingested := time.Now().UTC().Truncate(time.Second)
		for i := lo; i < hi; i++ {
			row := make([]any, len(cols))
			for j, c := range cols {
				row[j] = c(events[i], b.pos[i], ingested)
			}
			if err := batch.Append(row...); err != nil {
				_ = batch.Abort()
				return 0, fmt.Errorf("append record %d: %w", i, err)
			}
		}
		if err := batch.Send(); err != nil {
			return 0, fmt.Errorf("send: %w", err)
		}
		if now := time.Now(); now.Sub(lastReport) >= progressEvery {
			lastReport = now
			b.progress("  clickhouse raw: %d/%d inserted (%.0f rows/s)", hi, len(events), float64(hi)/now.Sub(start).Seconds())
		}
	}
	return time.Since(start), nil
}

// countRows checks that db.table holds exactly Options.Records rows (no FINAL: the
// rows themselves must not be doubled).
func (b *bench) countRows(ctx context.Context, conn driver.Conn, db, table string) error {
	var n uint64
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count() FROM `%s`.`%s`", db, table)).Scan(&n); err != nil {
		return fmt.Errorf("count %s.%s: %w", db, table, err)
	}
	if n != uint64(b.o.Records) {
		return fmt.Errorf("%s.%s holds %d rows, want %d", db, table, n, b.o.Records)
	}
	return nil
}

// transfersColumns returns the columns of the chain.transfers table for types.
func transfersColumns(types clickhouse.Types) (names, colTypes []string, err error) {
	var topics []catalog.Topic
	for _, t := range catalog.All() {
		if t.Name == Topic {
			topics = append(topics, t)
		}
	}
	tables, err := clickhouse.Tables(topics, types)
	if err != nil {
		return nil, nil, err
	}
	names, colTypes = tables[0].Columns()
	return names, colTypes, nil
}

// rawColumn computes one column of a transfer's row, as a hand-written loader would.
type rawColumn func(t *chainv1.Transfer, pos position, ingested time.Time) any

// rawColumns returns the row builder of the chain.transfers table with the given
// columns: the simplest honest mapping, field by field, with the Go types
// clickhouse-go takes for each ClickHouse type. It fails on a column it does not know,
// so a schema change shows up here instead of as different rows.
func rawColumns(names, types []string) ([]rawColumn, error) {
	cols := make([]rawColumn, len(names))
	for i, name := range names {
		c, err := rawColumnOf(name, types[i])
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return cols, nil
}

func rawColumnOf(name, typ string) (rawColumn, error) {
	str := func(f func(*chainv1.Transfer) string) rawColumn {
		return func(t *chainv1.Transfer, _ position, _ time.Time) any { return f(t) }
	}
	u32 := func(f func(*chainv1.Transfer) uint32) rawColumn {
		return func(t *chainv1.Transfer, _ position, _ time.Time) any { return f(t) }
	}
	switch name {
	case "event_id":
		return str(func(t *chainv1.Transfer) string { return t.GetMeta().GetEventId() }), nil
	case "event_time":
		if typ == "DateTime('UTC')" {
			return func(t *chainv1.Transfer, _ position, _ time.Time) any {
				return t.GetMeta().GetEventTime().AsTime().Truncate(time.Second)
			}, nil
		}
		return func(t *chainv1.Transfer, _ position, _ time.Time) any { return t.GetMeta().GetEventTime().AsTime() }, nil
	case "event_time_nanos":
		return u32(func(t *chainv1.Transfer) uint32 { return uint32(t.GetMeta().GetEventTime().GetNanos()) }), nil
	case "meta_source":
		return str(func(t *chainv1.Transfer) string { return t.GetMeta().GetSource() }), nil
	case "meta_trace_id":
		return str(func(t *chainv1.Transfer) string { return t.GetMeta().GetTraceId() }), nil
	case "chain_id":
		return func(t *chainv1.Transfer, _ position, _ time.Time) any { return t.GetChainId() }, nil
	case "block_number":
		return func(t *chainv1.Transfer, _ position, _ time.Time) any { return t.GetBlock().GetNumber() }, nil
	case "block_hash":
		return str(func(t *chainv1.Transfer) string { return t.GetBlock().GetHash() }), nil
	case "transaction_hash":
		return str((*chainv1.Transfer).GetTransactionHash), nil
	case "transaction_index":
		return u32((*chainv1.Transfer).GetTransactionIndex), nil
	case "kind":
		return str(func(t *chainv1.Transfer) string { return t.GetKind().String() }), nil
	case "log_index":
		return func(t *chainv1.Transfer, _ position, _ time.Time) any { return t.LogIndex }, nil
	case "trace_address":
		return str((*chainv1.Transfer).GetTraceAddress), nil
	case "batch_index":
		return u32((*chainv1.Transfer).GetBatchIndex), nil
	case "from":
		return str((*chainv1.Transfer).GetFrom), nil
	case "to":
		return str((*chainv1.Transfer).GetTo), nil
	case "operator":
		return str((*chainv1.Transfer).GetOperator), nil
	case "amount_value":
		return str(func(t *chainv1.Transfer) string { return t.GetAmount().GetValue() }), nil
	case "amount_value_num":
		return numeric(typ, func(t *chainv1.Transfer) *string {
			v := t.GetAmount().GetValue()
			return &v
		})
	case "amount_asset":
		return str(func(t *chainv1.Transfer) string { return t.GetAmount().GetAsset() }), nil
	case "amount_decimals":
		return u32(func(t *chainv1.Transfer) uint32 { return t.GetAmount().GetDecimals() }), nil
	case "token_id":
		return func(t *chainv1.Transfer, _ position, _ time.Time) any { return t.TokenId }, nil
	case "token_id_num":
		return numeric(typ, func(t *chainv1.Transfer) *string { return t.TokenId })
	case "token_address":
		return str(func(t *chainv1.Transfer) string { return t.GetToken().GetAddress() }), nil
	case "token_standard":
		return str(func(t *chainv1.Transfer) string { return t.GetToken().GetStandard().String() }), nil
	case "token_symbol":
		return str(func(t *chainv1.Transfer) string { return t.GetToken().GetSymbol() }), nil
	case "token_name":
		return str(func(t *chainv1.Transfer) string { return t.GetToken().GetName() }), nil
	case "token_decimals":
		return u32(func(t *chainv1.Transfer) uint32 { return t.GetToken().GetDecimals() }), nil
	case "confirmation":
		return str(func(t *chainv1.Transfer) string { return t.GetConfirmation().String() }), nil
	case "_topic":
		return func(*chainv1.Transfer, position, time.Time) any { return Topic }, nil
	case "_partition":
		return func(_ *chainv1.Transfer, p position, _ time.Time) any { return p.partition }, nil
	case "_offset":
		return func(_ *chainv1.Transfer, p position, _ time.Time) any { return p.offset }, nil
	case "_ingested_at":
		return func(_ *chainv1.Transfer, _ position, at time.Time) any { return at }, nil
	}
	return nil, fmt.Errorf("raw mapping: no column %s %s: the chain.transfers schema changed", name, typ)
}

// numeric is the numeric column of a uint256 string (nil: absent): on ClickHouse
// 18.16 Nullable(Decimal(38, 0)), NULL above 38 digits; on newer servers UInt256.
func numeric(typ string, f func(*chainv1.Transfer) *string) (rawColumn, error) {
	switch typ {
	case "Nullable(Decimal(38, 0))":
		return func(t *chainv1.Transfer, _ position, _ time.Time) any {
			s := f(t)
			if s == nil || *s == "" || len(*s) > 38 {
				return (*decimal.Decimal)(nil)
			}
			d, err := decimal.NewFromString(*s)
			if err != nil {
				return (*decimal.Decimal)(nil)
			}
			return &d
		}, nil
	case "UInt256", "Nullable(UInt256)":
		nullable := typ != "UInt256"
		return func(t *chainv1.Transfer, _ position, _ time.Time) any {
			s := f(t)
			if nullable && (s == nil || *s == "") {
				return (*big.Int)(nil)
			}
			n, _ := new(big.Int).SetString(*s, 10)
			if nullable {
				return n
			}
			return *n
		}, nil
	}
	return nil, fmt.Errorf("raw mapping: numeric column of type %s", typ)
}
