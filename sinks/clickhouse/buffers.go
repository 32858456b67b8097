package clickhouse

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/weirhq/weir/sinks"
)

// source is one row to compute: a record, the messages of its event (the nodes of the
// table: msgs[0] is the event), which of the record's rows (a retraction gives one per
// retracted event id) and the time of the Write.
type source struct {
	rec      *sinks.Record
	msgs     []protoreflect.Message
	row      int
	ingested time.Time
}

// appender is the part of a clickhouse-go batch column (driver.BatchColumn) that a
// colBuf appends to.
type appender interface {
	// Append appends a slice of values, one per row.
	Append(v any) error
	// AppendRow appends the value of one row.
	AppendRow(v any) error
}

// colBuf collects the values of one column for one INSERT in a typed slice, so that
// clickhouse-go appends them without boxing each value or reflecting on it.
type colBuf interface {
	// add appends the column's value for s; on error it appends nothing.
	add(s *source) error
	// len is the number of values held.
	len() int
	// truncate keeps the first n values.
	truncate(n int)
	// appendTo appends the values to c.
	appendTo(c appender) error
	// value returns value i as clickhouse-go's row-wise Append takes it (a nil pointer
	// for NULL).
	value(i int) any
}

// plainBuf holds the values of a column that is not Nullable; rowWise appends them one
// row at a time (arrays: clickhouse-go appends a []T row without reflection, but
// reflects on a [][]T).
type plainBuf[T any] struct {
	vals    []T
	rowWise bool
	get     func(s *source) (T, error)
}

func (b *plainBuf[T]) add(s *source) error {
	v, err := b.get(s)
	if err != nil {
		return err
	}
	b.vals = append(b.vals, v)
	return nil
}

func (b *plainBuf[T]) len() int { return len(b.vals) }

func (b *plainBuf[T]) truncate(n int) {
	clear(b.vals[n:])
	b.vals = b.vals[:n]
}

func (b *plainBuf[T]) appendTo(c appender) error {
	if !b.rowWise {
		return c.Append(b.vals)
	}
	for _, v := range b.vals {
		if err := c.AppendRow(v); err != nil {
			return err
		}
	}
	return nil
}

func (b *plainBuf[T]) value(i int) any { return b.vals[i] }

// nullBuf holds the values of a Nullable column: the values and which are NULL, sent as
// a []*T pointing into vals (one allocation per INSERT, not one per value).
type nullBuf[T any] struct {
	vals []T
	null []bool
	ptrs []*T
	get  func(s *source) (v T, ok bool, err error)
}

func (b *nullBuf[T]) add(s *source) error {
	v, ok, err := b.get(s)
	if err != nil {
		return err
	}
	b.vals = append(b.vals, v)
	b.null = append(b.null, !ok)
	return nil
}

func (b *nullBuf[T]) len() int { return len(b.vals) }

func (b *nullBuf[T]) truncate(n int) {
	clear(b.vals[n:])
	b.vals, b.null = b.vals[:n], b.null[:n]
}

func (b *nullBuf[T]) appendTo(c appender) error {
	b.ptrs = b.ptrs[:0]
	for i := range b.vals {
		b.ptrs = append(b.ptrs, b.ptr(i))
	}
	err := c.Append(b.ptrs)
	clear(b.ptrs)
	return err
}

func (b *nullBuf[T]) ptr(i int) *T {
	if b.null[i] {
		return nil
	}
	return &b.vals[i]
}

func (b *nullBuf[T]) value(i int) any { return b.ptr(i) }

// plain returns a column that is not Nullable whose values get computes.
func plain[T any](name, chType string, get func(s *source) (T, error)) column {
	return column{name: name, chType: chType, newBuf: func() colBuf { return &plainBuf[T]{get: get} }}
}

// rows collects the rows of one INSERT into a table, column by column. It is reused
// from one Write to the next.
type rows struct {
	table *Table
	cols  []colBuf
	n     int
	src   source
}

func (t *Table) newRows() *rows {
	rs := &rows{table: t, cols: make([]colBuf, len(t.columns))}
	rs.src.msgs = make([]protoreflect.Message, max(len(t.nodes), 1))
	for i, c := range t.columns {
		rs.cols[i] = c.newBuf()
	}
	return rs
}

// add appends the rows of record r; on error (a value a column cannot take) it appends
// nothing.
func (rs *rows) add(r *sinks.Record, ingested time.Time) error {
	n, err := rs.table.rowsOf(r)
	if err != nil {
		return err
	}
	s := &rs.src
	s.rec, s.ingested = r, ingested
	s.msgs[0] = r.Event.ProtoReflect()
	for i := 1; i < len(rs.table.nodes); i++ {
		n := rs.table.nodes[i]
		s.msgs[i] = s.msgs[n.parent].Get(n.fd).Message()
	}
	defer func() {
		s.rec = nil
		clear(s.msgs)
	}()
	for s.row = range n {
		for i, c := range rs.cols {
			if err := c.add(s); err != nil {
				rs.truncate(rs.n)
				return fmt.Errorf("column %s: %w", rs.table.columns[i].name, err)
			}
		}
	}
	rs.n += n
	return nil
}

// truncate keeps the first n rows; truncate(0) empties rs.
func (rs *rows) truncate(n int) {
	for _, c := range rs.cols {
		if c.len() > n {
			c.truncate(n)
		}
	}
	rs.n = n
}

// row returns row i as clickhouse-go's row-wise Append takes it.
func (rs *rows) row(i int) []any {
	out := make([]any, len(rs.cols))
	for j, c := range rs.cols {
		out[j] = c.value(i)
	}
	return out
}
