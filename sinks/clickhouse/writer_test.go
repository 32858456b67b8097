package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
	"github.com/weirhq/weir/sinks"
)

func transfers(t *testing.T, partition int32, from, to int64) []sinks.Record {
	topic := topicOf(t, "chain.transfers")
	var out []sinks.Record
	for off := from; off < to; off++ {
		out = append(out, populated(t, topic, int(off)+1000*int(partition), partition, off))
	}
	return out
}

// TestExactlyOnce writes the same records again, overlapping batches, through a new
// writer (as after a crash) and after a rebalance: the rows are counted without FINAL.
func TestExactlyOnce(t *testing.T) {
	db, w := migrated(t)
	ctx := context.Background()
	count := func() uint64 {
		return db.count(t, fmt.Sprintf("SELECT count() FROM %s.chain_transfers", quote(db.opts.Database)))
	}
	write := func(w *Writer, recs []sinks.Record) {
		t.Helper()
		if err := w.Write(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	write(w, transfers(t, 0, 0, 10))
	write(w, transfers(t, 0, 0, 10))
	if n := count(); n != 10 {
		t.Fatalf("same records twice: %d rows, want 10", n)
	}
	write(w, append(transfers(t, 0, 5, 15), transfers(t, 1, 0, 3)...))
	if n := count(); n != 18 {
		t.Fatalf("overlapping batch: %d rows, want 18", n)
	}
	// Duplicates inside one batch.
	write(w, append(transfers(t, 1, 2, 5), transfers(t, 1, 3, 6)...))
	if n := count(); n != 21 {
		t.Fatalf("batch with duplicates: %d rows, want 21", n)
	}

	// A writer that starts afresh (after a crash) learns the offsets from ClickHouse.
	w2, err := Open(ctx, db.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	write(w2, append(transfers(t, 0, 0, 20), transfers(t, 1, 0, 6)...))
	if n := count(); n != 26 {
		t.Fatalf("replay through a new writer: %d rows, want 26", n)
	}

	// w2 wrote partition 0 up to 19 meanwhile: w's cache says 14, Assigned forgets it.
	if err := w.Assigned(ctx, map[string][]int32{"chain.transfers": {0}}); err != nil {
		t.Fatal(err)
	}
	write(w, transfers(t, 0, 10, 22))
	if n := count(); n != 28 {
		t.Fatalf("after Assigned: %d rows, want 28", n)
	}
	if n := db.count(t, fmt.Sprintf("SELECT count() FROM (SELECT event_id FROM %s.chain_transfers GROUP BY event_id HAVING count() > 1)", quote(db.opts.Database))); n != 0 {
		t.Fatalf("%d event ids twice", n)
	}
}

// TestOffsetZero checks that an empty partition is not mistaken for one holding offset 0.
func TestOffsetZero(t *testing.T) {
	db, w := migrated(t)
	if err := w.Write(context.Background(), transfers(t, 3, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if n := db.count(t, fmt.Sprintf("SELECT count() FROM %s.chain_transfers", quote(db.opts.Database))); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func TestPoison(t *testing.T) {
	_, w := migrated(t)
	ctx := context.Background()
	good := transfers(t, 0, 0, 1)[0]

	unknown := good
	unknown.Topic = "chain.nope"
	wrongType := good
	wrongType.Topic = "chain.blocks"
	old := transfers(t, 0, 1, 2)[0]
	old.Event.GetMeta().EventTime = timestamppb.New(time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC))
	for name, rec := range map[string]sinks.Record{"unknown topic": unknown, "wrong type": wrongType, "time out of range": old} {
		err := w.Write(ctx, []sinks.Record{good, rec})
		if !errors.Is(err, sinks.ErrPoison) {
			t.Errorf("%s: %v, want ErrPoison", name, err)
		}
	}
	if err := w.Write(ctx, []sinks.Record{good}); err != nil {
		t.Fatal(err)
	}
	// Trouble with the server is not poison.
	_ = w.Close()
	err := w.Write(ctx, transfers(t, 0, 5, 6))
	if err == nil || errors.Is(err, sinks.ErrPoison) {
		t.Errorf("write on a closed connection: %v, want a plain error", err)
	}
	if err := w.Ping(ctx); err == nil {
		t.Error("Ping on a closed connection: nil")
	}
}

func meta(kind string, key string, at time.Time) *commonv1.Meta {
	return &commonv1.Meta{EventId: eventid.New(kind, key), EventTime: timestamppb.New(at), Source: "test/1"}
}

// chainEvents returns a block and two transfers of block number n.
func chainEvents(n uint64, at time.Time) (*chainv1.Block, []*chainv1.Transfer) {
	hash := fmt.Sprintf("0x%064x", n)
	b := &chainv1.Block{
		Meta: meta("block", hash, at), ChainId: 1, Number: n, Hash: hash,
		ParentHash: fmt.Sprintf("0x%064x", n-1), Timestamp: timestamppb.New(at),
		Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST,
	}
	var ts []*chainv1.Transfer
	for i := range 2 {
		ts = append(ts, &chainv1.Transfer{
			Meta: meta("transfer", fmt.Sprint(hash, i), at), ChainId: 1,
			Block:           &chainv1.BlockRef{Number: n, Hash: hash},
			TransactionHash: fmt.Sprintf("0x%063x%d", n, i),
			Kind:            chainv1.TransferKind_TRANSFER_KIND_NATIVE,
			From:            "0xaa", To: "0xbb",
			Amount:       &commonv1.Amount{Value: codectest.MaxUint256, Asset: "ETH", Decimals: 18},
			Confirmation: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST,
		})
	}
	return b, ts
}

func mustValid(t *testing.T, ev codec.Event) codec.Event {
	t.Helper()
	if err := codec.Validate(ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// writeChain writes blocks 1 and 2 with their transfers, then retracts block 2.
func writeChain(t *testing.T, w *Writer) (kept, retracted []string) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	var blocks, trs []sinks.Record
	var ids [3][]string
	for n := uint64(1); n <= 2; n++ {
		b, ts := chainEvents(n, at.Add(time.Duration(n)*12*time.Second))
		blocks = append(blocks, record(topicOf(t, "chain.blocks"), mustValid(t, b), 0, int64(n)))
		ids[n] = append(ids[n], b.Meta.EventId)
		for _, tr := range ts {
			trs = append(trs, record(topicOf(t, "chain.transfers"), mustValid(t, tr), 0, int64(len(trs))))
			ids[n] = append(ids[n], tr.Meta.EventId)
		}
	}
	if err := w.Write(ctx, append(blocks, trs...)); err != nil {
		t.Fatal(err)
	}
	r := &chainv1.Retraction{
		Meta: meta("retraction", "2", at.Add(time.Minute)), ChainId: 1,
		OrphanedBlock:     &chainv1.BlockRef{Number: 2, Hash: fmt.Sprintf("0x%064x", 2)},
		ReplacedBy:        &chainv1.BlockRef{Number: 2, Hash: "0xfeed"},
		Depth:             1,
		RetractedEventIds: ids[2],
		Part:              1, Parts: 1,
	}
	rec := record(topicOf(t, "chain.retractions"), mustValid(t, r), 0, 0)
	for range 2 { // twice: still one row per retracted id
		if err := w.Write(ctx, []sinks.Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	return ids[1], ids[2]
}

func TestRetractions(t *testing.T) {
	db, w := migrated(t)
	ctx := context.Background()
	kept, retracted := writeChain(t, w)
	d := quote(db.opts.Database)
	if n := db.count(t, "SELECT count() FROM "+d+".chain_retracted_events"); n != uint64(len(retracted)) {
		t.Fatalf("chain_retracted_events: %d rows, want %d", n, len(retracted))
	}
	var (
		orphan, replaced string
		depth            uint32
	)
	if err := db.conn.QueryRow(ctx, "SELECT orphaned_block_hash, replaced_by_hash, depth FROM "+d+".chain_retracted_events WHERE event_id = ?", retracted[0]).
		Scan(&orphan, &replaced, &depth); err != nil {
		t.Fatal(err)
	}
	if orphan != fmt.Sprintf("0x%064x", 2) || replaced != "0xfeed" || depth != 1 {
		t.Errorf("retracted event row: %s %s %d", orphan, replaced, depth)
	}
	for _, view := range []string{"chain_blocks_canonical", "chain_transfers_canonical"} {
		rows, err := db.conn.Query(ctx, "SELECT event_id, block_number FROM "+d+"."+view)
		if view == "chain_blocks_canonical" {
			rows, err = db.conn.Query(ctx, "SELECT event_id, number FROM "+d+"."+view)
		}
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var (
				id string
				n  uint64
			)
			if err := rows.Scan(&id, &n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%s: a row of block %d", view, n)
			}
			got = append(got, id)
		}
		rows.Close()
		for _, id := range got {
			if !slices.Contains(kept, id) {
				t.Errorf("%s: event %s is not one of block 1", view, id)
			}
		}
		want := map[string]int{"chain_blocks_canonical": 1, "chain_transfers_canonical": 2}[view]
		if len(got) != want {
			t.Errorf("%s: %d rows, want %d", view, len(got), want)
		}
	}
	// The tables themselves keep everything.
	if n := db.count(t, "SELECT count() FROM "+d+".chain_transfers"); n != 4 {
		t.Errorf("chain_transfers: %d rows, want 4", n)
	}
}

// TestClickHouseClient reads the canonical view with the real clickhouse-client, as an
// analyst does.
func TestClickHouseClient(t *testing.T) {
	db, w := migrated(t)
	kept, _ := writeChain(t, w)
	bin, err := exec.LookPath("clickhouse-client")
	if err != nil {
		t.Fatalf("clickhouse-client: %v", err)
	}
	host, port, err := net.SplitHostPort(db.opts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--host", host, "--port", port, "--database", db.opts.Database,
		"--query", "SELECT event_id, block_number, amount_value FROM chain_transfers_canonical ORDER BY event_id FORMAT TSV").CombinedOutput()
	if err != nil {
		t.Fatalf("clickhouse-client: %v\n%s", err, out)
	}
	var want []string
	for _, id := range kept[1:] { // kept[0] is the block
		want = append(want, id+"\t1\t"+codectest.MaxUint256)
	}
	slices.Sort(want)
	if got := strings.TrimSpace(string(out)); got != strings.Join(want, "\n") {
		t.Errorf("clickhouse-client printed\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestMigrate(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	if _, err := Open(ctx, db.opts); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Open before Migrate: %v, want ErrNotMigrated", err)
	}
	applied, err := Migrate(ctx, db.opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0001_tables", "0002_canonical_views", "0003_rollups"}; !slices.Equal(applied, want) {
		t.Fatalf("first Migrate applied %v, want %v", applied, want)
	}
	applied, err = Migrate(ctx, db.opts)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate: applied %v, %v; want nothing", applied, err)
	}
	var types string
	if err := db.conn.QueryRow(ctx, "SELECT any(types) FROM "+quote(db.opts.Database)+".schema_migrations").Scan(&types); err != nil {
		t.Fatal(err)
	}
	st, version, err := ServerTypes(ctx, db.conn)
	if err != nil {
		t.Fatal(err)
	}
	if types != st.String() {
		t.Errorf("recorded types %s, server %s offers %s", types, version, st)
	}

	// Tamper: a recorded checksum that is not the code's.
	q := fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, applied_at, checksum, types)", quote(db.opts.Database))
	b, err := db.conn.PrepareBatch(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(2), "canonical_views", time.Now().UTC(), strings.Repeat("0", 64), types); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, db.opts); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Migrate with a tampered checksum: %v, want ErrChecksum", err)
	}
	if _, err := Open(ctx, db.opts); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Open with a tampered checksum: %v, want ErrChecksum", err)
	}
}

// TestMigrationChecksumsStable checks that the checksums depend on the catalogue and
// nothing else: equal for equal catalogues, and an added topic or field changes only
// that of the generated tables migration (which Migrate evolves); the hand-written
// ones, checked strictly, stay.
func TestMigrationChecksumsStable(t *testing.T) {
	old := older{
		topics: []string{"payments.merchants"},
		drop:   map[string][]string{"payments_intents": intentFields},
	}
	for _, types := range allTypes {
		a, err := Migrations("weir", types)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Migrations("weir", types)
		for i := range a {
			if a[i].Checksum() != b[i].Checksum() || a[i].Version != uint32(i+1) {
				t.Fatalf("migration %s: unstable", a[i].ID())
			}
			if a[i].Generated != (a[i].Name == "tables") {
				t.Errorf("migration %s: Generated %v", a[i].ID(), a[i].Generated)
			}
		}
		oldTables, err := old.set(types)
		if err != nil {
			t.Fatal(err)
		}
		o := migrationsOf("weir", types, oldTables)
		for i := range a {
			if same := a[i].Checksum() == o[i].Checksum(); same == a[i].Generated {
				t.Errorf("types %s: migration %s: checksum of an older catalogue equal: %v", types, a[i].ID(), same)
			}
		}
	}
}

func TestRollups(t *testing.T) {
	db, w := migrated(t)
	ctx := context.Background()
	hour := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	n := 0
	intent := func(merchant string, prev, state paymentsv1.IntentState, amount string, at time.Time) sinks.Record {
		n++
		ev := &paymentsv1.IntentTransition{
			Meta: meta("intent", fmt.Sprint(n), at), IntentId: fmt.Sprint("pi_", n), MerchantId: merchant,
			Version: 2, PreviousState: prev, State: state,
			Amount:      &commonv1.Amount{Value: amount, Asset: "EUR", Decimals: 2},
			CreatedTime: timestamppb.New(at),
		}
		return record(topicOf(t, "payments.intents"), mustValid(t, ev), 0, int64(n))
	}
	const (
		proc = paymentsv1.IntentState_INTENT_STATE_PROCESSING
		ok   = paymentsv1.IntentState_INTENT_STATE_SUCCEEDED
		ref  = paymentsv1.IntentState_INTENT_STATE_REFUNDED
	)
	big1 := "123456789012345678901234567890123456" // 36 digits
	intents := []sinks.Record{
		intent("m1", proc, ok, big1, hour.Add(time.Minute)),
		intent("m1", proc, ok, "1", hour.Add(59*time.Minute)),
		intent("m1", proc, paymentsv1.IntentState_INTENT_STATE_FAILED, "500", hour.Add(2*time.Minute)),
		intent("m1", ok, ref, "7", hour.Add(3*time.Minute)),
		intent("m1", proc, ok, "10", hour.Add(time.Hour)),
		intent("m2", proc, ok, codectest.MaxUint256, hour.Add(time.Minute)),
	}
	var scores, alerts []sinks.Record
	for i, bp := range []uint32{500, 1500, 1999, 10000} {
		ev := &riskv1.RiskScore{
			Meta: meta("score", fmt.Sprint(i), hour.Add(time.Duration(i)*time.Minute)), EntityType: riskv1.EntityType_ENTITY_TYPE_ADDRESS,
			EntityId: "0xaa", ModelId: "fraud", ModelVersion: "v7", ScoreBp: bp, Decision: riskv1.Decision_DECISION_ALLOW,
		}
		scores = append(scores, record(topicOf(t, "risk.scores"), mustValid(t, ev), 0, int64(i)))
	}
	for i, a := range []struct {
		sev     riskv1.Severity
		version uint64
	}{{riskv1.Severity_SEVERITY_HIGH, 1}, {riskv1.Severity_SEVERITY_HIGH, 1}, {riskv1.Severity_SEVERITY_HIGH, 2}, {riskv1.Severity_SEVERITY_LOW, 1}} {
		ev := &riskv1.RiskAlert{
			Meta: meta("alert", fmt.Sprint(i), hour.Add(time.Duration(i)*time.Minute)), AlertId: fmt.Sprint("al_", i%2), Version: a.version,
			EntityType: riskv1.EntityType_ENTITY_TYPE_ADDRESS, EntityId: "0xaa", Severity: a.sev,
			Status: riskv1.AlertStatus_ALERT_STATUS_OPEN, RuleId: "r1",
		}
		alerts = append(alerts, record(topicOf(t, "risk.alerts"), mustValid(t, ev), 0, int64(i)))
	}
	all := slices.Concat(intents, scores, alerts)
	// Written twice, split in two Writes: the rollups count each event once.
	if err := w.Write(ctx, all[:5]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, all); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, all); err != nil {
		t.Fatal(err)
	}
	d := quote(db.opts.Database)
	st, _, err := ServerTypes(ctx, db.conn)
	if err != nil {
		t.Fatal(err)
	}

	// Scanned natively: toString of a 38-digit Decimal128 is wrong on 18.16.
	got := db.rows(t, "SELECT merchant_id, hour, sum(payments), sum(amount), sum(oversized) FROM "+d+".payments_volume_hourly GROUP BY merchant_id, hour ORDER BY merchant_id, hour")
	sum := new(big.Int)
	sum.SetString(big1, 10)
	sum.Add(sum, big.NewInt(1))
	m2 := "1 0 1"
	if st.UInt256 {
		m2 = "1 " + codectest.MaxUint256 + " 0"
	}
	want := []string{
		"m1 2025-06-01T10:00:00Z 2 " + sum.String() + " 0",
		"m1 2025-06-01T11:00:00Z 1 10 0",
		"m2 2025-06-01T10:00:00Z " + m2,
	}
	if !slices.Equal(got, want) {
		t.Errorf("payments_volume_hourly:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	got = db.rows(t, "SELECT model_version, bucket_bp, sum(scores), sum(score_bp_sum) FROM "+d+".risk_score_distribution_hourly GROUP BY model_version, bucket_bp ORDER BY bucket_bp")
	if want := []string{"v7 0 1 500", "v7 1000 2 3499", "v7 10000 1 10000"}; !slices.Equal(got, want) {
		t.Errorf("risk_score_distribution_hourly: %v, want %v", got, want)
	}

	got = db.rows(t, "SELECT severity, sum(raised), sum(events) FROM "+d+".risk_alerts_hourly GROUP BY severity ORDER BY severity")
	if want := []string{"SEVERITY_HIGH 2 3", "SEVERITY_LOW 1 1"}; !slices.Equal(got, want) {
		t.Errorf("risk_alerts_hourly: %v, want %v", got, want)
	}
}
