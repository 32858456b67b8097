package parquet

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Key-value metadata of every archive file.
const (
	MetaTopic       = "weir.topic"
	MetaPartition   = "weir.partition"
	MetaFirstOffset = "weir.first_offset"
	MetaLastOffset  = "weir.last_offset"
	// MetaMerged lists, in a file written by Compact, the offset ranges of the files it
	// replaces: "first-last,first-last,…".
	MetaMerged = "weir.merged"
)

const (
	datePrefix = "date="
	suffix     = ".parquet"
	// Temporary files start with '.' (no glob *.parquet matches them) and end in .tmp;
	// the writer's start with .w-<partition>-, Compact's with .c-<partition>-.
	tmpSuffix       = ".tmp"
	writerTmpPrefix = ".w-"
	compactTmp      = ".c-"
)

// span is an archive file: the records of one partition from offset first to last
// (some offsets between may belong to other dates), named
// <partition>-<first>-<last>.parquet.
type span struct {
	path        string
	partition   int32
	first, last int64
	size        int64
}

func fileName(partition int32, first, last int64) string {
	return fmt.Sprintf("%d-%d-%d%s", partition, first, last, suffix)
}

// parseName parses an archive file name; ok is false for any other name.
func parseName(name string) (partition int32, first, last int64, ok bool) {
	base, found := strings.CutSuffix(name, suffix)
	if !found {
		return 0, 0, 0, false
	}
	parts := strings.Split(base, "-")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	p, err1 := strconv.ParseInt(parts[0], 10, 32)
	f, err2 := strconv.ParseInt(parts[1], 10, 64)
	l, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || p < 0 || f < 0 || l < f {
		return 0, 0, 0, false
	}
	return int32(p), f, l, true
}

// dateDirs returns the date=YYYY-MM-DD directories of topicDir, sorted; none if
// topicDir does not exist.
func dateDirs(topicDir string) ([]string, error) {
	entries, err := os.ReadDir(topicDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), datePrefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// listing is what one date directory holds.
type listing struct {
	// live are the files a reader reads: every archive file not covered by another.
	live []span
	// covered are the inputs of a compaction whose merged file is in place (a crash
	// left them): readers ignore them, Compact deletes them.
	covered []span
	// tmp are the names of temporary files.
	tmp []string
}

// listDate lists dateDir. A file is covered when another file of its partition spans
// its whole offset range: only a merged file of Compact does (the writer's files of
// one partition and date never overlap, see the package comment), and it holds every
// record of its inputs.
func listDate(dateDir string) (listing, error) {
	var l listing
	entries, err := os.ReadDir(dateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	var all []span
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, tmpSuffix) {
			l.tmp = append(l.tmp, name)
			continue
		}
		p, f, last, ok := parseName(name)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed meanwhile by Compact
				continue
			}
			return l, err
		}
		all = append(all, span{path: filepath.Join(dateDir, name), partition: p, first: f, last: last, size: info.Size()})
	}
	// By partition, first offset ascending and, for equal firsts, the widest first: a
	// file is covered when an earlier one reaches at least as far.
	slices.SortFunc(all, func(a, b span) int {
		switch {
		case a.partition != b.partition:
			return int(a.partition) - int(b.partition)
		case a.first != b.first:
			return cmp.Compare(a.first, b.first)
		}
		return cmp.Compare(b.last, a.last)
	})
	reach, part := int64(-1), int32(-1)
	for _, s := range all {
		if s.partition != part {
			reach, part = -1, s.partition
		}
		if s.last <= reach {
			l.covered = append(l.covered, s)
			continue
		}
		l.live = append(l.live, s)
		reach = s.last
	}
	return l, nil
}

// liveFiles returns the paths of the files a reader of topicDir reads, in directory
// and offset order.
func liveFiles(topicDir string) ([]string, error) {
	dates, err := dateDirs(topicDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range dates {
		l, err := listDate(filepath.Join(topicDir, d))
		if err != nil {
			return nil, err
		}
		for _, s := range l.live {
			out = append(out, s.path)
		}
	}
	return out, nil
}

// writerProps returns the Parquet properties of archive files.
func writerProps(codec compress.Compression) *pq.WriterProperties {
	return pq.NewWriterProperties(
		pq.WithCompression(codec),
		pq.WithVersion(pq.V2_LATEST), // timestamp[ns] stays nanoseconds
		pq.WithStats(true),
		pq.WithMaxRowGroupLength(128*1024),
	)
}

// writeAtomic writes the batches produced by write to dir/name through a temporary
// file dir/tmpName: the file is synced, renamed into place and the directory synced,
// so that the name appears only with the complete file and stays after a crash. meta is
// the file's key-value metadata, in order.
func writeAtomic(dir, tmpName, name string, schema *arrow.Schema, codec compress.Compression, meta [][2]string, write func(*pqarrow.FileWriter) error) (err error) {
	tmp := filepath.Join(dir, tmpName)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	fw, err := pqarrow.NewFileWriter(schema, noClose{f}, writerProps(codec), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return err
	}
	if err := write(fw); err != nil {
		fw.Close()
		return err
	}
	for _, kv := range meta {
		if err := fw.AppendKeyValueMetadata(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if err := fw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncPath(dir)
}

// noClose hides the Close of a file from the Parquet writer, which would close it
// before it is synced.
type noClose struct{ io.Writer }

// syncPath fsyncs a file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirSynced creates dir and its missing parents up to root, syncing each parent
// after a child was created so that the new directories survive a crash.
func mkdirSynced(root, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if dir != root && parent != dir {
		if err := mkdirSynced(root, parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncPath(parent)
}
