package parquet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Defaults of CompactOptions.
const (
	DefaultTargetRows  = 1_000_000
	DefaultTargetBytes = 128 << 20
)

// CompactOptions configures Compact. Every field has a default.
type CompactOptions struct {
	// TargetRows bounds the rows of a merged file. Default DefaultTargetRows (1M).
	TargetRows int64
	// TargetBytes bounds the summed size of the files merged into one; a file at least
	// this large is left as it is. Default DefaultTargetBytes (128 MiB).
	TargetBytes int64
	// Topics limits compaction to these topics. Default: every topic directory.
	Topics []string
	// Dates limits compaction to these dates (YYYY-MM-DD). Default: every date.
	Dates []string
	// Compression is the codec of merged files: Zstd or Snappy. Default Zstd.
	Compression string
	// Allocator allocates the Arrow buffers. Default memory.DefaultAllocator.
	Allocator memory.Allocator
}

func (o *CompactOptions) setDefaults() error {
	if o.TargetRows <= 0 {
		o.TargetRows = DefaultTargetRows
	}
	if o.TargetBytes <= 0 {
		o.TargetBytes = DefaultTargetBytes
	}
	if o.Compression == "" {
		o.Compression = Zstd
	}
	if _, err := codecOf(o.Compression); err != nil {
		return err
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	return nil
}

// CompactStats says what Compact did.
type CompactStats struct {
	// Merged counts the merged files written, Inputs the files they replaced.
	Merged, Inputs int
	// Leftovers counts the files an interrupted compaction left and this one removed:
	// inputs a merged file already covered, and temporary files.
	Leftovers int
}

// Compact merges, in every date directory of the archive under dir (or of
// opts.Topics and opts.Dates), the consecutive small files of each partition into
// files of up to opts.TargetRows rows and opts.TargetBytes bytes. A merged file is
// named after the offset range it spans, <partition>-<first>-<last>.parquet, so its
// name says which files it replaces (those of its partition inside that range); its
// key-value metadata lists their ranges (MetaMerged).
//
// Crash safety comes from the order: the merged file is written to a temporary file,
// synced, renamed into place and the directory synced; only then are its inputs
// removed. A crash before the rename leaves a temporary file that nobody reads; after
// it, the inputs are covered by the merged file and readers (Query, the Writer's offset
// scan) ignore them, and the next Compact removes them. So a reader sees every record
// exactly once at every step.
//
// Compact blocks until done or ctx ends. It takes an exclusive lock on dir/.compact.lock
// (on Unix), so two compactions never interleave; it may run while a Writer writes to
// the same directory.
func Compact(ctx context.Context, dir string, opts CompactOptions) (CompactStats, error) {
	var st CompactStats
	if err := opts.setDefaults(); err != nil {
		return st, err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return st, fmt.Errorf("parquet: compact: %w", err)
	}
	defer unlock()
	topics := opts.Topics
	if topics == nil {
		if topics, err = topicDirs(dir); err != nil {
			return st, fmt.Errorf("parquet: compact: %w", err)
		}
	}
	c := &compactor{opts: opts, st: &st}
	c.codec, _ = codecOf(opts.Compression)
	for _, topic := range topics {
		dates, err := dateDirs(filepath.Join(dir, topic))
		if err != nil {
			return st, fmt.Errorf("parquet: compact: %w", err)
		}
		for _, d := range dates {
			if opts.Dates != nil && !slices.Contains(opts.Dates, strings.TrimPrefix(d, datePrefix)) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return st, err
			}
			if err := c.date(ctx, topic, filepath.Join(dir, topic, d)); err != nil {
				return st, fmt.Errorf("parquet: compact %s/%s: %w", topic, d, err)
			}
		}
	}
	return st, nil
}

// topicDirs returns the topic directories under dir: those not starting with '.'.
func topicDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

type compactor struct {
	opts  CompactOptions
	codec compress.Compression
	st    *CompactStats
}

// date compacts one date directory.
func (c *compactor) date(ctx context.Context, topic, dir string) error {
	l, err := listDate(dir)
	if err != nil {
		return err
	}
	// Finish what an interrupted compaction left: covered inputs and its temporary
	// files (the writer's temporary files belong to the writer).
	var leftovers []string
	for _, s := range l.covered {
		leftovers = append(leftovers, s.path)
	}
	for _, name := range l.tmp {
		if strings.HasPrefix(name, compactTmp) {
			leftovers = append(leftovers, filepath.Join(dir, name))
		}
	}
	if err := removeSynced(dir, leftovers); err != nil {
		return err
	}
	c.st.Leftovers += len(leftovers)

	var run []span
	var rows, bytes int64
	flush := func() error {
		defer func() { run, rows, bytes = nil, 0, 0 }()
		if len(run) < 2 {
			return nil
		}
		return c.merge(ctx, topic, dir, run)
	}
	for i, s := range l.live {
		if i > 0 && s.partition != l.live[i-1].partition {
			if err := flush(); err != nil {
				return err
			}
		}
		if s.size >= c.opts.TargetBytes {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		n, err := numRows(s.path)
		if err != nil {
			return err
		}
		if n >= c.opts.TargetRows {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if rows+n > c.opts.TargetRows || bytes+s.size > c.opts.TargetBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		run = append(run, s)
		rows += n
		bytes += s.size
	}
	return flush()
}

func numRows(path string) (int64, error) {
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	defer r.Close()
	return r.NumRows(), nil
}

// removeSynced removes paths (missing ones are fine) and syncs dir.
func removeSynced(dir string, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return syncPath(dir)
}

// merge writes the files of run (one partition, consecutive in offset order) into one
// and removes them.
func (c *compactor) merge(ctx context.Context, topic, dir string, run []span) error {
	readers := make([]*pqarrow.FileReader, len(run))
	defer func() {
		for _, r := range readers {
			if r != nil {
				r.ParquetReader().Close()
			}
		}
	}()
	var fields []arrow.Field
	index := map[string]int{}
	ranges := make([]string, len(run))
	for i, s := range run {
		pr, err := file.OpenParquetFile(s.path, false)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(s.path), err)
		}
		fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024}, c.opts.Allocator)
		if err != nil {
			pr.Close()
			return fmt.Errorf("%s: %w", filepath.Base(s.path), err)
		}
		readers[i] = fr
		sc, err := fr.Schema()
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(s.path), err)
		}
		// The union of the inputs' columns, by name (a schema may have gained fields).
		for _, f := range sc.Fields() {
			j, ok := index[f.Name]
			if !ok {
				index[f.Name] = len(fields)
				fields = append(fields, arrow.Field{Name: f.Name, Type: f.Type, Nullable: true})
				continue
			}
			if !arrow.TypeEqual(fields[j].Type, f.Type) {
				return fmt.Errorf("%s: column %s is %s, elsewhere %s", filepath.Base(s.path), f.Name, f.Type, fields[j].Type)
			}
		}
		ranges[i] = strconv.FormatInt(s.first, 10) + "-" + strconv.FormatInt(s.last, 10)
	}
	schema := arrow.NewSchema(fields, nil)
	p, first, last := run[0].partition, run[0].first, run[len(run)-1].last
	name := fileName(p, first, last)
	tmp := compactTmp + strings.TrimSuffix(name, suffix) + tmpSuffix
	meta := [][2]string{
		{MetaTopic, topic},
		{MetaPartition, strconv.Itoa(int(p))},
		{MetaFirstOffset, strconv.FormatInt(first, 10)},
		{MetaLastOffset, strconv.FormatInt(last, 10)},
		{MetaMerged, strings.Join(ranges, ",")},
	}
	err := writeAtomic(dir, tmp, name, schema, c.codec, meta, func(fw *pqarrow.FileWriter) error {
		fw.NewBufferedRowGroup()
		for _, fr := range readers {
			if err := c.copy(ctx, fw, fr, schema); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The merged file is in place and synced: from now on the inputs are covered.
	inputs := make([]string, len(run))
	for i, s := range run {
		inputs[i] = s.path
	}
	if err := removeSynced(dir, inputs); err != nil {
		return err
	}
	c.st.Merged++
	c.st.Inputs += len(run)
	return nil
}

// maxRowGroup is the most rows of a row group in a merged file.
const maxRowGroup = 128 * 1024

// copy appends every row of fr to fw, with schema's columns (NULL for those fr lacks).
func (c *compactor) copy(ctx context.Context, fw *pqarrow.FileWriter, fr *pqarrow.FileReader, schema *arrow.Schema) error {
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		cols := make([]arrow.Array, len(schema.Fields()))
		var made []arrow.Array
		for i, f := range schema.Fields() {
			if idx := rec.Schema().FieldIndices(f.Name); len(idx) > 0 {
				cols[i] = rec.Column(idx[0])
				continue
			}
			a := array.MakeArrayOfNull(c.opts.Allocator, f.Type, int(rec.NumRows()))
			made = append(made, a)
			cols[i] = a
		}
		out := array.NewRecordBatch(schema, cols, rec.NumRows())
		err := fw.WriteBuffered(out)
		out.Release()
		for _, a := range made {
			a.Release()
		}
		if err != nil {
			return err
		}
		if n, err := fw.RowGroupNumRows(); err == nil && n >= maxRowGroup {
			fw.NewBufferedRowGroup()
		}
	}
	return rr.Err()
}
