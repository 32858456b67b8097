package parquet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/sinks"
)

// Compression codecs of Options.Compression.
const (
	Zstd   = "zstd"
	Snappy = "snappy"
)

// Options configures Open. Dir is required; every other field has a default.
type Options struct {
	// Dir is the archive's root directory; it is created if missing. Required.
	Dir string
	// Topics are the topics the writer accepts, each with its value type; a record of
	// another topic, or of another type, is refused as poison. Default catalog.All();
	// tests pass prefixed names (catalog.WithPrefix).
	Topics []catalog.Topic
	// Compression is the Parquet codec: Zstd or Snappy. Default Zstd.
	Compression string
	// MaxRowsPerFile splits the records of one (topic, partition, date) of a Write into
	// files of at most this many rows. Default 0: one file per Write and group.
	MaxRowsPerFile int
	// Allocator allocates the Arrow buffers. Default memory.DefaultAllocator.
	Allocator memory.Allocator
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return errors.New("parquet: no archive directory (Options.Dir)")
	}
	if o.Topics == nil {
		o.Topics = catalog.All()
	}
	if o.Compression == "" {
		o.Compression = Zstd
	}
	if _, err := codecOf(o.Compression); err != nil {
		return err
	}
	if o.MaxRowsPerFile < 0 {
		return fmt.Errorf("parquet: MaxRowsPerFile %d is negative", o.MaxRowsPerFile)
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	return nil
}

func codecOf(name string) (compress.Compression, error) {
	switch name {
	case Zstd:
		return compress.Codecs.Zstd, nil
	case Snappy:
		return compress.Codecs.Snappy, nil
	}
	return 0, fmt.Errorf("parquet: compression %q: want %q or %q", name, Zstd, Snappy)
}

// Writer archives records as Parquet files; it implements sinks.Writer and
// sinks.Assigner. It is used by one goroutine (as sinks.Run does); Compact and Query
// may run at the same time on the same directory, from other goroutines or processes.
type Writer struct {
	opts   Options
	codec  compress.Compression
	tables map[string]*table // by topic
	// archived maps a partition to the highest offset archived per date, read from the
	// file names when the partition is first seen and after Assigned.
	archived map[topicPartition]map[string]int64
	now      func() time.Time
}

type topicPartition struct {
	topic     string
	partition int32
}

// Open checks opts, creates opts.Dir if missing and returns a Writer. It builds the
// schema of every topic up front, so a topic whose message cannot be archived fails
// here.
func Open(ctx context.Context, opts Options) (*Writer, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	codec, _ := codecOf(opts.Compression)
	w := &Writer{opts: opts, codec: codec, tables: map[string]*table{},
		archived: map[topicPartition]map[string]int64{}, now: time.Now}
	for _, t := range opts.Topics {
		tb, err := newTable(t)
		if err != nil {
			return nil, err
		}
		w.tables[t.Name] = tb
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	return w, w.Ping(ctx)
}

// Name returns "parquet".
func (w *Writer) Name() string { return "parquet" }

// Ping reports whether the archive directory is writable, by creating and removing a
// temporary file in it.
func (w *Writer) Ping(context.Context) error {
	f, err := os.CreateTemp(w.opts.Dir, ".ping-*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("parquet: archive not writable: %w", err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Close releases the writer. It does not block; files are complete when Write returns.
func (w *Writer) Close() error { return nil }

// Assigned forgets what the writer knew of the given partitions: another instance
// may have archived records of them meanwhile. The next Write of one rescans the
// archive.
func (w *Writer) Assigned(_ context.Context, partitions map[string][]int32) error {
	for topic, ps := range partitions {
		for _, p := range ps {
			delete(w.archived, topicPartition{topic, p})
		}
	}
	return nil
}

// group is the records of one file-to-be: one topic, partition and date, in offset
// order.
type group struct {
	tb        *table
	partition int32
	date      string
	recs      []sinks.Record
}

// Write archives recs: it groups them by topic, partition and event date, leaves out
// the records at or below the highest offset already archived for their partition and
// date, and writes each group (split at MaxRowsPerFile) to
// <Dir>/<topic>/date=<date>/<partition>-<first>-<last>.parquet through a synced
// temporary file and a rename. It blocks until every file is synced. Records of a
// topic or type the writer does not know, or with a value a column cannot hold, make
// it return an error wrapping sinks.ErrPoison before anything is written.
func (w *Writer) Write(ctx context.Context, recs []sinks.Record) error {
	groups := map[string]*group{}
	var order []*group
	for _, r := range recs {
		tb := w.tables[r.Topic]
		if tb == nil {
			return fmt.Errorf("parquet: %w: topic %s is not archived", sinks.ErrPoison, r.Topic)
		}
		if r.Type != "" && r.Type != tb.value {
			return fmt.Errorf("parquet: %w: %s[%d]@%d is a %s, want %s", sinks.ErrPoison, r.Topic, r.Partition, r.Offset, r.Type, tb.value)
		}
		if r.Event == nil {
			return fmt.Errorf("parquet: %w: %s[%d]@%d has no event", sinks.ErrPoison, r.Topic, r.Partition, r.Offset)
		}
		dates, err := w.partitionState(topicPartition{r.Topic, r.Partition})
		if err != nil {
			return err
		}
		date := eventDate(r)
		if last, ok := dates[date]; ok && r.Offset <= last {
			continue // archived before a crash or by an earlier attempt
		}
		k := r.Topic + "\x00" + strconv.Itoa(int(r.Partition)) + "\x00" + date
		g := groups[k]
		if g == nil {
			g = &group{tb: tb, partition: r.Partition, date: date}
			groups[k] = g
			order = append(order, g)
		}
		g.recs = append(g.recs, r)
	}
	// Build every batch first, so that poison fails the Write before any file exists.
	type file struct {
		g     *group
		recs  []sinks.Record
		batch arrow.RecordBatch
	}
	var files []file
	defer func() {
		for _, f := range files {
			f.batch.Release()
		}
	}()
	ingested := w.now()
	for _, g := range order {
		slices.SortStableFunc(g.recs, func(a, b sinks.Record) int { return cmp.Compare(a.Offset, b.Offset) })
		g.recs = slices.CompactFunc(g.recs, func(a, b sinks.Record) bool { return a.Offset == b.Offset })
		for chunk := range slices.Chunk(g.recs, w.maxRows(len(g.recs))) {
			b, err := g.tb.build(w.opts.Allocator, chunk, ingested)
			if err != nil {
				if errors.Is(err, errValue) {
					return fmt.Errorf("parquet: %w: %w", sinks.ErrPoison, err)
				}
				return fmt.Errorf("parquet: %w", err)
			}
			files = append(files, file{g: g, recs: chunk, batch: b})
		}
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		first, last := f.recs[0].Offset, f.recs[len(f.recs)-1].Offset
		if err := w.writeFile(f.g, first, last, f.batch); err != nil {
			return fmt.Errorf("parquet: write %s[%d] %s: %w", f.g.tb.topic, f.g.partition, f.g.date, err)
		}
		w.archived[topicPartition{f.g.tb.topic, f.g.partition}][f.g.date] = last
	}
	return nil
}

func (w *Writer) maxRows(n int) int {
	if w.opts.MaxRowsPerFile > 0 {
		return w.opts.MaxRowsPerFile
	}
	return max(n, 1)
}

// writeFile writes one batch of group g, offsets first to last.
func (w *Writer) writeFile(g *group, first, last int64, batch arrow.RecordBatch) error {
	dir := filepath.Join(w.opts.Dir, g.tb.topic, datePrefix+g.date)
	if err := mkdirSynced(w.opts.Dir, dir); err != nil {
		return err
	}
	name := fileName(g.partition, first, last)
	tmp := writerTmpPrefix + strings.TrimSuffix(name, suffix) + tmpSuffix
	meta := [][2]string{
		{MetaTopic, g.tb.topic},
		{MetaPartition, strconv.Itoa(int(g.partition))},
		{MetaFirstOffset, strconv.FormatInt(first, 10)},
		{MetaLastOffset, strconv.FormatInt(last, 10)},
	}
	return writeAtomic(dir, tmp, name, g.tb.schema, w.codec, meta, func(fw *pqarrow.FileWriter) error {
		return fw.Write(batch)
	})
}

// partitionState returns the highest archived offset per date of tp, scanning the
// archive the first time (and after Assigned): the names of the files of tp's
// partition in every date directory of the topic. It also removes the temporary files
// the writer of that partition left in a crash (nobody else writes them: a partition
// has one writer at a time).
func (w *Writer) partitionState(tp topicPartition) (map[string]int64, error) {
	if s, ok := w.archived[tp]; ok {
		return s, nil
	}
	topicDir := filepath.Join(w.opts.Dir, tp.topic)
	dates, err := dateDirs(topicDir)
	if err != nil {
		return nil, fmt.Errorf("parquet: scan %s: %w", topicDir, err)
	}
	s := map[string]int64{}
	tmpPrefix := writerTmpPrefix + strconv.Itoa(int(tp.partition)) + "-"
	for _, d := range dates {
		dir := filepath.Join(topicDir, d)
		l, err := listDate(dir)
		if err != nil {
			return nil, fmt.Errorf("parquet: scan %s: %w", dir, err)
		}
		date := strings.TrimPrefix(d, datePrefix)
		// Covered files lie inside a live one: the live ones give the highest offset.
		for _, f := range l.live {
			if f.partition == tp.partition {
				if last, ok := s[date]; !ok || f.last > last {
					s[date] = f.last
				}
			}
		}
		removed := false
		for _, name := range l.tmp {
			if strings.HasPrefix(name, tmpPrefix) {
				if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return nil, fmt.Errorf("parquet: remove leftover %s: %w", name, err)
				}
				removed = true
			}
		}
		if removed {
			if err := syncPath(dir); err != nil {
				return nil, err
			}
		}
	}
	w.archived[tp] = s
	return s, nil
}
