package parquet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/file"
)

// smallFiles writes 120 transfers over 2 partitions in batches of 10: many small
// files per partition and date.
func smallFiles(t *testing.T, dir string) {
	recs := transfers(t, 120, 2)
	w := openWriter(t, dir)
	for i := 0; i < len(recs); i += 10 {
		write(t, w, recs[i:i+10])
	}
}

func parquetFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, suffix) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// copyFiles copies paths to a temporary dir and returns a function restoring them.
func copyFiles(t *testing.T, paths []string) func(which func(i int) bool) {
	saved := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		saved[p] = b
	}
	return func(which func(int) bool) {
		for i, p := range paths {
			if which(i) {
				if err := os.WriteFile(p, saved[p], 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestCompact: the small files of each partition and date become one; the rows are
// the same; the merged file's metadata lists what it replaced; the offset scan still
// skips replays.
func TestCompact(t *testing.T) {
	dir := t.TempDir()
	smallFiles(t, dir)
	before := parquetFiles(t, dir)
	st, err := Compact(context.Background(), dir, CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := parquetFiles(t, dir)
	if st.Merged != 4 || st.Inputs != len(before) || len(after) != 4 {
		t.Fatalf("stats %+v, %d files before, %d after (%v); want 4 merged files (2 partitions × 2 dates)", st, len(before), len(after), after)
	}
	if n, d := count(t, dir, countTransfers), distinct(t, dir); n != 120 || d != 120 {
		t.Fatalf("after compaction: %d rows (%d distinct), want 120", n, d)
	}
	for _, p := range after {
		r, err := file.OpenParquetFile(p, false)
		if err != nil {
			t.Fatal(err)
		}
		kv := r.MetaData().KeyValueMetadata()
		merged, last := kv.FindValue(MetaMerged), kv.FindValue(MetaLastOffset)
		if merged == nil || strings.Count(*merged, ",") < 1 || last == nil || !strings.HasSuffix(*merged, "-"+*last) {
			t.Errorf("%s: merged %v, last %v", filepath.Base(p), merged, last)
		}
		r.Close()
	}
	// A replay after compaction adds nothing; new records still land.
	w := openWriter(t, dir)
	all := transfers(t, 140, 2)
	write(t, w, all)
	if n := count(t, dir, countTransfers); n != 140 {
		t.Fatalf("replay after compaction: %d rows, want 140", n)
	}
	// Compacting again merges the new files into the merged ones.
	if _, err := Compact(context.Background(), dir, CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, f := count(t, dir, countTransfers), len(parquetFiles(t, dir)); n != 140 || f != 4 {
		t.Fatalf("second compaction: %d rows in %d files, want 140 in 4", n, f)
	}
	// TargetRows splits.
	dir2 := t.TempDir()
	smallFiles(t, dir2)
	if _, err := Compact(context.Background(), dir2, CompactOptions{TargetRows: 12}); err != nil {
		t.Fatal(err)
	}
	if n, f := count(t, dir2, countTransfers), len(parquetFiles(t, dir2)); n != 120 || f <= 4 {
		t.Fatalf("TargetRows 12: %d rows in %d files, want 120 in more than 4", n, f)
	}
}

// TestCompactInterrupted: a crash at each step of a compaction leaves a state in which
// every record counts once, and the next Compact finishes the job.
func TestCompactInterrupted(t *testing.T) {
	steps := []struct {
		name string
		// crash turns the archive after a finished compaction into what a crash at the
		// step leaves; restore puts back the inputs for which it returns true.
		crash func(t *testing.T, dir string, restore func(func(int) bool))
	}{
		{"temporary merged file written, not renamed", func(t *testing.T, dir string, restore func(func(int) bool)) {
			for _, p := range parquetFiles(t, dir) {
				tmp := filepath.Join(filepath.Dir(p), compactTmp+strings.TrimSuffix(filepath.Base(p), suffix)+tmpSuffix)
				if err := os.Rename(p, tmp); err != nil {
					t.Fatal(err)
				}
			}
			restore(func(int) bool { return true })
		}},
		{"renamed, no input removed", func(t *testing.T, dir string, restore func(func(int) bool)) {
			restore(func(int) bool { return true })
		}},
		{"renamed, some inputs removed", func(t *testing.T, dir string, restore func(func(int) bool)) {
			restore(func(i int) bool { return i%2 == 0 })
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			dir := t.TempDir()
			smallFiles(t, dir)
			restore := copyFiles(t, parquetFiles(t, dir))
			if _, err := Compact(context.Background(), dir, CompactOptions{}); err != nil {
				t.Fatal(err)
			}
			s.crash(t, dir, restore)
			if n, d := count(t, dir, countTransfers), distinct(t, dir); n != 120 || d != 120 {
				t.Fatalf("after the crash: %d rows (%d distinct), want 120", n, d)
			}
			// The writer's offset scan is not fooled either.
			write(t, openWriter(t, dir), transfers(t, 130, 2))
			if n := count(t, dir, countTransfers); n != 130 {
				t.Fatalf("replay after the crash: %d rows, want 130", n)
			}
			st, err := Compact(context.Background(), dir, CompactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Leftovers == 0 {
				t.Errorf("stats %+v: no leftovers removed", st)
			}
			if n, f := count(t, dir, countTransfers), len(parquetFiles(t, dir)); n != 130 || f != 4 {
				t.Fatalf("after the next compaction: %d rows in %d files, want 130 in 4", n, f)
			}
			matches, _ := filepath.Glob(filepath.Join(dir, "*", "*", ".*"+tmpSuffix))
			if len(matches) != 0 {
				t.Errorf("temporary files left: %v", matches)
			}
		})
	}
}
