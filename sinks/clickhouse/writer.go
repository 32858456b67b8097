package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/sinks"
)

// Writer lands records in the tables of one database; it implements sinks.Writer and
// sinks.Assigner. Like every sinks.Writer it is used by one goroutine: its methods are
// not safe for concurrent use.
type Writer struct {
	conn driver.Conn
	db   string
	// byTopic lists the tables each topic's records land in (the retractions topic
	// fills two).
	byTopic map[string][]*Table
	// highest caches, per table and partition, the highest _offset the table holds;
	// missing means "ask ClickHouse".
	highest map[partitionKey]int64
	// rows holds each table's column buffers, reused by every Write (and emptied at
	// its end): they grow to the rows of the largest Write.
	rows map[*Table]*rows
	now  func() time.Time
}

type partitionKey struct {
	table     string
	partition int32
}

var (
	_ sinks.Writer   = (*Writer)(nil)
	_ sinks.Assigner = (*Writer)(nil)
)

// Open connects to the server of opts (see Dial) and returns a Writer for every topic of
// the catalogue. The database must be migrated (see Migrate): Open fails with an error
// wrapping ErrNotMigrated when a migration is missing or the tables are not evolved to
// this catalogue yet, and ErrChecksum when a recorded hand-written one differs from the
// code's. The types of the columns are those recorded by Migrate. Its INSERTs name
// their columns, so columns the catalogue no longer has (left alone by Migrate) take
// their defaults.
func Open(ctx context.Context, opts Options) (*Writer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	conn, err := Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	w, err := newWriter(ctx, conn, opts.Database)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return w, nil
}

func newWriter(ctx context.Context, conn driver.Conn, db string) (*Writer, error) {
	return openTables(ctx, conn, db, catalogTables)
}

// openTables returns a Writer for the tables of set, once db is migrated to them.
func openTables(ctx context.Context, conn driver.Conn, db string, set tableSet) (*Writer, error) {
	p, err := plan(ctx, conn, db, set)
	if err != nil {
		return nil, err
	}
	if ids := p.ids(); len(ids) > 0 {
		return nil, fmt.Errorf("clickhouse: database %s lacks migrations %v: %w (run weir sinks migrate)", db, ids, ErrNotMigrated)
	}
	tables, err := set(p.types)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		conn:    conn,
		db:      db,
		byTopic: map[string][]*Table{},
		highest: map[partitionKey]int64{},
		rows:    map[*Table]*rows{},
		now:     time.Now,
	}
	for _, t := range tables {
		w.byTopic[t.Topic] = append(w.byTopic[t.Topic], t)
	}
	return w, nil
}

// Name returns "clickhouse".
func (w *Writer) Name() string { return "clickhouse" }

// Ping reports whether the server answers.
func (w *Writer) Ping(ctx context.Context) error {
	if err := w.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: ping: %w", err)
	}
	return nil
}

// Close closes the connections to the server.
func (w *Writer) Close() error { return w.conn.Close() }

// Assigned forgets every cached offset, so that the next Write of a partition asks
// ClickHouse what it holds: another instance may have written the partition since.
func (w *Writer) Assigned(ctx context.Context, partitions map[string][]int32) error {
	clear(w.highest)
	return nil
}

// batch is the rows one Write inserts into one table.
type batch struct {
	table *Table
	rows  *rows
	// last is the highest offset per partition among the records of rows.
	last map[int32]int64
}

// Write inserts the records that their tables do not hold yet (offset above the highest
// _offset of their table and partition), with one INSERT per table. Records of a topic
// outside the catalogue, of the wrong type, or with a value a column cannot take fail
// the whole Write, before anything is inserted, with an error wrapping sinks.ErrPoison.
// Other errors (the server, the network) are plain: call Write again with the same
// records. It blocks until ClickHouse acknowledged the inserts.
func (w *Writer) Write(ctx context.Context, recs []sinks.Record) error {
	ingested := w.now().UTC().Truncate(time.Second)
	batches := map[*Table]*batch{}
	var order []*batch
	defer func() {
		for _, b := range order {
			b.rows.truncate(0) // let go of the events until the next Write
		}
	}()
	for i := range recs {
		r := &recs[i]
		tables, ok := w.byTopic[r.Topic]
		if !ok {
			return fmt.Errorf("clickhouse: %s/%d@%d: %w: topic not in the catalogue", r.Topic, r.Partition, r.Offset, sinks.ErrPoison)
		}
		if r.Event == nil {
			return fmt.Errorf("clickhouse: %s/%d@%d: %w: no event", r.Topic, r.Partition, r.Offset, sinks.ErrPoison)
		}
		for _, t := range tables {
			if got := r.Event.ProtoReflect().Descriptor().FullName(); got != t.msg.FullName() {
				return fmt.Errorf("clickhouse: %s/%d@%d: %w: event is %s, the topic holds %s", r.Topic, r.Partition, r.Offset, sinks.ErrPoison, got, t.msg.FullName())
			}
			b := batches[t]
			if b == nil {
				rs := w.rows[t]
				if rs == nil {
					rs = t.newRows()
					w.rows[t] = rs
				}
				b = &batch{table: t, rows: rs, last: map[int32]int64{}}
				batches[t] = b
				order = append(order, b)
			}
			hi, err := w.highestOffset(ctx, t, r.Partition)
			if err != nil {
				return err
			}
			if last, ok := b.last[r.Partition]; ok && last > hi {
				hi = last
			}
			if r.Offset <= hi {
				continue // the table has it already
			}
			if err := b.rows.add(r, ingested); err != nil {
				return fmt.Errorf("clickhouse: %s/%d@%d into %s: %w: %w", r.Topic, r.Partition, r.Offset, t.Name, sinks.ErrPoison, err)
			}
			b.last[r.Partition] = r.Offset
		}
	}
	for _, b := range order {
		if b.rows.n == 0 {
			continue
		}
		if err := w.insert(ctx, b.table, b.rows); err != nil {
			// The insert may or may not have landed: ask ClickHouse next time.
			for p := range b.last {
				delete(w.highest, partitionKey{b.table.Name, p})
			}
			return err
		}
		for p, off := range b.last {
			w.highest[partitionKey{b.table.Name, p}] = off
		}
	}
	return nil
}

// highestOffset returns the highest _offset table t holds for partition p, -1 when
// none, from the cache or from ClickHouse.
func (w *Writer) highestOffset(ctx context.Context, t *Table, p int32) (int64, error) {
	k := partitionKey{t.Name, p}
	if hi, ok := w.highest[k]; ok {
		return hi, nil
	}
	var (
		n  uint64
		hi int64
	)
	// count() tells an empty partition (max is then 0) from one holding offset 0.
	q := fmt.Sprintf("SELECT count(), max(_offset) FROM %s.%s WHERE _topic = ? AND _partition = ?", quote(w.db), quote(t.Name))
	if err := w.conn.QueryRow(ctx, q, t.Topic, p).Scan(&n, &hi); err != nil {
		return 0, fmt.Errorf("clickhouse: highest offset of %s partition %d: %w", t.Name, p, err)
	}
	if n == 0 {
		hi = -1
	}
	w.highest[k] = hi
	return hi, nil
}

// insert sends rs to t in one INSERT, column by column.
func (w *Writer) insert(ctx context.Context, t *Table, rs *rows) error {
	b, err := w.conn.PrepareBatch(ctx, t.insertSQL(w.db))
	if err != nil {
		return fmt.Errorf("clickhouse: insert into %s: %w", t.Name, err)
	}
	for i, c := range rs.cols {
		if err := c.appendTo(b.Column(i)); err != nil {
			_ = b.Abort()
			return fmt.Errorf("clickhouse: insert into %s: column %s: %w: %w", t.Name, t.columns[i].name, sinks.ErrPoison, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("clickhouse: insert %d rows into %s: %w", rs.n, t.Name, err)
	}
	return nil
}
