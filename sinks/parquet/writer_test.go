package parquet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/catalog"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks"
)

var (
	day1 = time.Date(2025, 3, 14, 23, 59, 59, 999_999_999, time.UTC)
	day2 = time.Date(2025, 3, 15, 0, 0, 0, 1, time.UTC)
)

// transfer returns a chain.transfers record with a distinct event id per seed, at
// partition/offset, of event time at and in block number block.
func transfer(t testing.TB, seed int, partition int32, offset int64, at time.Time, block uint64) sinks.Record {
	r := populated(t, topicOf(t, "chain.transfers"), seed, partition, offset)
	tr := r.Event.(*chainv1.Transfer)
	tr.Meta.EventTime = timestamppb.New(at)
	tr.Block.Number = block
	tr.Block.Hash = fmt.Sprintf("0x%064x", block)
	return r
}

// transfers returns n transfer records over partitions 0..parts-1, offsets from 0 per
// partition, event times alternating between day1 and day2.
func transfers(t testing.TB, n, parts int) []sinks.Record {
	recs := make([]sinks.Record, n)
	for i := range recs {
		at := day1
		if i%3 == 0 {
			at = day2
		}
		recs[i] = transfer(t, i, int32(i%parts), int64(i/parts), at, uint64(100+i%7))
	}
	return recs
}

const countTransfers = "SELECT count(*) FROM chain_transfers"

func distinct(t testing.TB, dir string) int64 {
	return count(t, dir, "SELECT count(DISTINCT (_partition, _offset)) FROM chain_transfers")
}

// TestReplay: the same records twice, overlapping batches, a fresh Writer on the same
// dir (as after a crash): every record is archived once.
func TestReplay(t *testing.T) {
	dir := t.TempDir()
	recs := transfers(t, 300, 3)
	w := openWriter(t, dir)
	write(t, w, recs[:100])
	write(t, w, recs[:100]) // the same again
	write(t, w, recs[50:200])
	if n := count(t, dir, countTransfers); n != 200 {
		t.Fatalf("after overlapping batches: %d rows, want 200", n)
	}
	w2 := openWriter(t, dir) // a restart: replays from an older committed offset
	write(t, w2, recs[120:300])
	write(t, w2, recs)
	if err := w2.Assigned(context.Background(), map[string][]int32{"chain.transfers": {0, 1, 2}}); err != nil {
		t.Fatal(err)
	}
	write(t, w2, recs[250:])
	if n, d := count(t, dir, countTransfers), distinct(t, dir); n != 300 || d != 300 {
		t.Fatalf("after restart: %d rows (%d distinct), want 300", n, d)
	}
	// Records of one batch in one file per partition and date: the records of a Write
	// with the same offsets twice are written once.
	w3 := openWriter(t, t.TempDir())
	dup := append(slices.Clone(recs[:10]), recs[:10]...)
	write(t, w3, dup)
}

// TestCrashBetweenDates: a Write whose records of one partition span two dates with
// interleaved offsets wrote the file of the first date and crashed before the second:
// the replay archives the second date's records (the skip is per partition and date,
// not per partition).
func TestCrashBetweenDates(t *testing.T) {
	dir := t.TempDir()
	recs := transfers(t, 60, 1) // partition 0, offsets 0..59, dates interleaved
	var first []sinks.Record
	for _, r := range recs {
		if eventDate(r) == "2025-03-14" {
			first = append(first, r)
		}
	}
	write(t, openWriter(t, dir), first) // only the day-1 file made it
	write(t, openWriter(t, dir), recs)  // the replay after the crash
	if n, d := count(t, dir, countTransfers), distinct(t, dir); n != 60 || d != 60 {
		t.Fatalf("%d rows (%d distinct), want 60", n, d)
	}
}

// TestCrashLeavesTempFile: a crash between writing the temporary file and the rename
// leaves it: readers ignore it, and the writer removes it and writes the records.
func TestCrashLeavesTempFile(t *testing.T) {
	dir := t.TempDir()
	recs := transfers(t, 30, 1)
	w := openWriter(t, dir)
	write(t, w, recs[:10])
	dateDir := filepath.Join(dir, "chain.transfers", "date=2025-03-14")
	tmp := filepath.Join(dateDir, writerTmpPrefix+"0-10-29"+tmpSuffix)
	if err := os.WriteFile(tmp, []byte("PAR1 half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := count(t, dir, countTransfers); n != 10 {
		t.Fatalf("with a leftover temporary file: %d rows, want 10", n)
	}
	w2 := openWriter(t, dir)
	write(t, w2, recs)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temporary file still there: %v", err)
	}
	if n := count(t, dir, countTransfers); n != 30 {
		t.Fatalf("%d rows, want 30", n)
	}
}

// TestDatePartitioning: events of two dates land in two directories; each file's
// name and key-value metadata hold its topic, partition and offsets.
func TestDatePartitioning(t *testing.T) {
	dir := t.TempDir()
	recs := []sinks.Record{
		transfer(t, 1, 4, 10, day1, 1),
		transfer(t, 2, 4, 11, day2, 1),
		transfer(t, 3, 4, 12, day1, 1),
		transfer(t, 4, 4, 13, day2, 1),
		transfer(t, 5, 4, 14, day2, 1),
	}
	write(t, openWriter(t, dir, func(o *Options) { o.Compression = Snappy }), recs)
	want := map[string][3]int64{
		"date=2025-03-14/4-10-12.parquet": {4, 10, 12},
		"date=2025-03-15/4-11-14.parquet": {4, 11, 14},
	}
	var got []string
	filepath.WalkDir(filepath.Join(dir, "chain.transfers"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(dir, "chain.transfers"), p)
			got = append(got, rel)
		}
		return nil
	})
	if len(got) != len(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for rel, w := range want {
		r, err := file.OpenParquetFile(filepath.Join(dir, "chain.transfers", rel), false)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		kv := r.MetaData().KeyValueMetadata()
		for k, v := range map[string]string{MetaTopic: "chain.transfers", MetaPartition: strconv.FormatInt(w[0], 10),
			MetaFirstOffset: strconv.FormatInt(w[1], 10), MetaLastOffset: strconv.FormatInt(w[2], 10)} {
			if g := kv.FindValue(k); g == nil || *g != v {
				t.Errorf("%s: %s = %v, want %s", rel, k, g, v)
			}
		}
		r.Close()
	}
	_, rows := query(t, dir, "SELECT CAST(date AS VARCHAR), count(*), min(event_time_nanos), max(event_time_nanos) FROM chain_transfers GROUP BY ALL ORDER BY 1")
	if canon(rows) != "[[2025-03-14 2 999999999 999999999] [2025-03-15 3 1 1]]" {
		t.Errorf("per date: %v", canon(rows))
	}
}

// TestRetractions: transfers of two blocks and a retraction of one: the canonical
// view shows only the other block's.
func TestRetractions(t *testing.T) {
	dir := t.TempDir()
	var recs []sinks.Record
	var orphaned []string
	for i := range 6 {
		block := uint64(500 + i%2)
		r := transfer(t, i, 0, int64(i), day1, block)
		if block == 500 {
			orphaned = append(orphaned, r.Event.GetMeta().GetEventId())
		}
		recs = append(recs, r)
	}
	ret := populated(t, topicOf(t, "chain.retractions"), 1, 0, 0)
	ret.Event.(*chainv1.Retraction).RetractedEventIds = orphaned
	recs = append(recs, ret)
	w := openWriter(t, dir)
	write(t, w, recs)
	if n := count(t, dir, "SELECT count(*) FROM chain_transfers"); n != 6 {
		t.Errorf("chain_transfers: %d rows, want 6", n)
	}
	_, rows := query(t, dir, "SELECT block_number, count(*) FROM chain_transfers_canonical GROUP BY ALL")
	if canon(rows) != "[[501 3]]" {
		t.Errorf("canonical transfers: %s, want block 501 only, 3 rows", canon(rows))
	}
	if n := count(t, dir, "SELECT count(*) FROM chain_retracted_events WHERE retraction_event_id = "+literal(ret.Event.GetMeta().GetEventId())); n != 3 {
		t.Errorf("chain_retracted_events: %d rows, want 3", n)
	}
}

// TestEmptyArchive: every view exists before anything was written.
func TestEmptyArchive(t *testing.T) {
	dir := t.TempDir()
	for _, topic := range catalog.All() {
		if n := count(t, dir, "SELECT count(*) FROM "+ident(TableName(topic.Name))); n != 0 {
			t.Errorf("%s: %d rows", topic.Name, n)
		}
	}
	if n := count(t, dir, "SELECT count(*) FROM chain_transfers_canonical WHERE amount_value_num > 0 AND event_time_nanos >= 0"); n != 0 {
		t.Errorf("canonical: %d rows", n)
	}
	// One topic with files, the others still empty: both kinds of view side by side.
	write(t, openWriter(t, dir), transfers(t, 5, 1))
	if n := count(t, dir, "SELECT (SELECT count(*) FROM chain_transfers_canonical) + (SELECT count(*) FROM chain_blocks_canonical)"); n != 5 {
		t.Errorf("%d rows, want 5", n)
	}
}

// TestPoison: a record of a topic the writer does not archive, or of the wrong type,
// is poison and nothing is written.
func TestPoison(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, dir, func(o *Options) { o.Topics = []catalog.Topic{topicOf(t, "chain.transfers")} })
	ok := transfer(t, 1, 0, 0, day1, 1)
	blocks := populated(t, topicOf(t, "chain.blocks"), 1, 0, 0)
	wrongType := ok
	wrongType.Type = "weir.chain.v1.Block"
	for _, bad := range []sinks.Record{blocks, wrongType} {
		if err := w.Write(context.Background(), []sinks.Record{ok, bad}); !errors.Is(err, sinks.ErrPoison) {
			t.Errorf("%s %s: err %v, want ErrPoison", bad.Topic, bad.Type, err)
		}
	}
	if n := count(t, dir, countTransfers); n != 0 {
		t.Errorf("%d rows after poison, want 0", n)
	}
	if err := w.Ping(context.Background()); err != nil {
		t.Error(err)
	}
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Error("Open without Dir succeeded")
	}
	if _, err := Open(context.Background(), Options{Dir: dir, Compression: "gzip"}); err == nil {
		t.Error("Open with gzip succeeded")
	}
}
