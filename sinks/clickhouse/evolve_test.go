package clickhouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/weirhq/weir/schemas/catalog"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	"github.com/weirhq/weir/sinks"
)

// older describes the catalogue of an older weir, relative to this one.
type older struct {
	// missing topics.
	topics []string
	// drop lists, per table, the columns it did not have yet.
	drop map[string][]string
	// retype gives, per table and column, the type it had.
	retype map[string]map[string]string
	// extra gives, per table, a String column it had and this catalogue has not,
	// after the column named by the value's first element; the second is its name.
	extra map[string][2]string
}

// set returns the tables of the older catalogue.
func (o older) set(types Types) ([]*Table, error) {
	var topics []catalog.Topic
	for _, tp := range catalog.All() {
		if !slices.Contains(o.topics, tp.Name) {
			topics = append(topics, tp)
		}
	}
	tables, err := Tables(topics, types)
	if err != nil {
		return nil, err
	}
	for i, t := range tables {
		c := *t
		c.columns = nil
		for _, col := range t.columns {
			if slices.Contains(o.drop[t.Name], col.name) {
				continue
			}
			if typ, ok := o.retype[t.Name][col.name]; ok {
				col.chType = typ
			}
			c.columns = append(c.columns, col)
			if x, ok := o.extra[t.Name]; ok && x[0] == col.name {
				c.columns = append(c.columns, plain(x[1], "String", func(*source) (string, error) { return "old", nil }))
			}
		}
		tables[i] = &c
	}
	return tables, nil
}

// intentFields are the fields IntentTransition gained with payments.merchants.
var intentFields = []string{"metadata_key", "metadata_value", "address_index", "cause_event_id", "request_id", "confirmations"}

// TestMigrateEvolves migrates a database with an older catalogue (no payments.merchants,
// payments.intents without its newest fields, chain.transfers without two columns and
// with one since removed), writes to it, then runs the normal Migrate: the tables and
// columns appear in the code's order, the rows survive, the writer lands and reads back
// the new fields, and a second Migrate does nothing.
func TestMigrateEvolves(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	d, name := quote(db.opts.Database), db.opts.Database
	old := older{
		topics: []string{"payments.merchants"},
		drop: map[string][]string{
			"payments_intents": intentFields,
			"chain_transfers":  {"token_name", "amount_value_num"},
		},
		extra: map[string][2]string{"chain_transfers": {"confirmation", "retired"}},
	}
	if _, err := migrate(ctx, db.conn, db.opts, old.set); err != nil {
		t.Fatal(err)
	}
	ow, err := openTables(ctx, db.conn, name, old.set)
	if err != nil {
		t.Fatal(err)
	}
	intents, trs := topicOf(t, "payments.intents"), topicOf(t, "chain.transfers")
	if err := ow.Write(ctx, []sinks.Record{
		populated(t, intents, 1, 0, 0), populated(t, intents, 2, 0, 1),
		populated(t, trs, 1, 0, 0), populated(t, trs, 2, 0, 1),
	}); err != nil {
		t.Fatal(err)
	}
	oldSum := db.rows(t, "SELECT checksum FROM "+d+".schema_migrations WHERE version = 1")

	if _, err := Open(ctx, db.opts); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Open before the evolution: %v, want ErrNotMigrated", err)
	}
	var logged bytes.Buffer
	opts := db.opts
	opts.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	applied, err := Migrate(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0001_tables (evolved)"}; !slices.Equal(applied, want) {
		t.Fatalf("Migrate applied %v, want %v", applied, want)
	}
	if !strings.Contains(logged.String(), "column=chain_transfers.retired") {
		t.Errorf("Migrate did not log the column it left alone:\n%s", logged.String())
	}

	// The server's tables are the code's, in its order, plus the column left alone.
	have, err := serverSchema(ctx, db.conn, name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan(ctx, db.conn, name, catalogTables)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range p.all[0].tables {
		ht := have[tb.Name]
		if ht == nil {
			t.Errorf("table %s missing", tb.Name)
			continue
		}
		var got []string
		for _, c := range ht.columns {
			if tb.Name == "chain_transfers" && c.name == "retired" {
				continue
			}
			got = append(got, c.name+" "+normType(c.chType))
		}
		var want []string
		for _, c := range tb.columns {
			want = append(want, c.name+" "+normType(c.chType))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: columns\n%s\nwant\n%s", tb.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if ht := have["chain_transfers"]; ht == nil || !slices.ContainsFunc(ht.columns, func(c serverColumn) bool { return c.name == "retired" }) {
		t.Error("chain_transfers.retired was dropped")
	}
	sums := db.rows(t, "SELECT checksum FROM "+d+".schema_migrations WHERE version = 1 ORDER BY checksum")
	wantSums := append(slices.Clone(oldSum), p.all[0].Checksum())
	slices.Sort(wantSums)
	if len(oldSum) != 1 || !slices.Equal(sums, wantSums) {
		t.Errorf("recorded checksums of 0001_tables: %v, want the old %v and the new %s", sums, oldSum, p.all[0].Checksum())
	}

	// The old rows survive, with the defaults of the new columns.
	if got := db.rows(t, "SELECT _offset, confirmations, request_id, length(metadata_key) FROM "+d+".payments_intents ORDER BY _offset"); !slices.Equal(got, []string{"0 0  0", "1 0  0"}) {
		t.Errorf("old payments_intents rows: %q", got)
	}
	if got := db.rows(t, "SELECT _offset, retired, token_name FROM "+d+".chain_transfers ORDER BY _offset"); !slices.Equal(got, []string{"0 old ", "1 old "}) {
		t.Errorf("old chain_transfers rows: %q", got)
	}

	// The writer lands the new fields and the new topic in the evolved tables.
	w, err := Open(ctx, db.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	in, mc, tr := populated(t, intents, 3, 0, 2), populated(t, topicOf(t, "payments.merchants"), 1, 0, 0), populated(t, trs, 3, 0, 2)
	if err := w.Write(ctx, []sinks.Record{in, mc, tr}); err != nil {
		t.Fatal(err)
	}
	it := in.Event.(*paymentsv1.IntentTransition)
	var keys []string
	for _, e := range it.GetMetadata() {
		keys = append(keys, e.GetKey())
	}
	want := fmt.Sprintf("%d %s %d %s %s [%s]", it.GetConfirmations(), it.GetRequestId(), it.GetAddressIndex(), it.GetCauseEventId(), it.GetMerchantId(), strings.Join(keys, " "))
	got := db.rows(t, "SELECT confirmations, request_id, address_index, cause_event_id, merchant_id, metadata_key FROM "+d+".payments_intents WHERE _offset = 2")
	if len(got) != 1 || got[0] != want {
		t.Errorf("new payments_intents row: %q, want %q", got, want)
	}
	if it.GetConfirmations() == 0 || it.GetRequestId() == "" || len(keys) == 0 {
		t.Errorf("the record does not populate the new fields: %v", it)
	}
	if got := db.rows(t, "SELECT merchant_id FROM "+d+".payments_merchants"); !slices.Equal(got, []string{mc.Event.(*paymentsv1.MerchantConfig).GetMerchantId()}) {
		t.Errorf("payments_merchants: %q", got)
	}
	// The canonical view was re-created with the added columns.
	name3 := tr.Event.(*chainv1.Transfer).GetToken().GetName()
	if got := db.rows(t, "SELECT _offset, retired, token_name FROM "+d+".chain_transfers_canonical ORDER BY _offset"); !slices.Equal(got, []string{"0 old ", "1 old ", "2  " + name3}) {
		t.Errorf("chain_transfers_canonical: %q", got)
	}

	applied, err = Migrate(ctx, db.opts)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate: applied %v, %v; want nothing", applied, err)
	}
	if n := db.count(t, "SELECT count() FROM "+d+".schema_migrations"); n != 4 {
		t.Errorf("schema_migrations: %d rows, want 4", n)
	}
}

// TestMigrateRefusesRetype migrates a database whose column has another type than the
// code's: Migrate fails naming it and changes nothing.
func TestMigrateRefusesRetype(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	old := older{
		topics: []string{"payments.merchants"},
		retype: map[string]map[string]string{"payments_intents": {"confirmations": "UInt32"}},
	}
	if _, err := migrate(ctx, db.conn, db.opts, old.set); err != nil {
		t.Fatal(err)
	}
	_, err := Migrate(ctx, db.opts)
	if !errors.Is(err, ErrColumnType) {
		t.Fatalf("Migrate: %v, want ErrColumnType", err)
	}
	for _, s := range []string{"payments_intents", "confirmations", "UInt32", "UInt64"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if n := db.count(t, "SELECT count() FROM system.tables WHERE database = ? AND name = 'payments_merchants'", db.opts.Database); n != 0 {
		t.Error("Migrate created payments_merchants before refusing")
	}
	if _, err := Open(ctx, db.opts); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Open: %v, want ErrNotMigrated", err)
	}
}

func TestPlanEvolution(t *testing.T) {
	cols := func(spec ...string) []column {
		var out []column
		for _, s := range spec {
			n, typ, _ := strings.Cut(s, " ")
			out = append(out, column{name: n, chType: typ})
		}
		return out
	}
	have := func(spec ...string) *serverTable {
		var out []serverColumn
		for _, c := range cols(spec...) {
			out = append(out, serverColumn{c.name, c.chType})
		}
		return &serverTable{engine: "ReplacingMergeTree", columns: out}
	}
	want := []*Table{
		{Name: "chain_x", Topic: "chain.x", OrderBy: []string{"b"}, columns: cols("a String", "b UInt64", "c Nullable(Decimal(38, 0))", "d DateTime('UTC')")},
		{Name: "payments_y", Topic: "payments.y", OrderBy: []string{"b"}, columns: cols("b UInt64")},
	}
	for _, tc := range []struct {
		name   string
		have   map[string]*serverTable
		stmts  []string
		extra  []string
		errors []string
	}{
		{name: "same, types spelled apart", have: map[string]*serverTable{
			"chain_x":    have("a String", "b UInt64", "c Nullable(Decimal(38,0))", "d DateTime('UTC')"),
			"payments_y": have("b UInt64"),
		}},
		{name: "missing table and columns", have: map[string]*serverTable{
			"chain_x":           have("b UInt64", "old String"),
			"chain_x_canonical": {engine: "View"},
		}, stmts: []string{
			"ALTER TABLE `w`.`chain_x` ADD COLUMN `a` String",
			"ALTER TABLE `w`.`chain_x` ADD COLUMN `c` Nullable(Decimal(38, 0)) AFTER `b`",
			"ALTER TABLE `w`.`chain_x` ADD COLUMN `d` DateTime('UTC') AFTER `c`",
			"DROP TABLE IF EXISTS `w`.`chain_x_canonical`",
			canonicalViewSQL("w", "chain_x"),
			want[1].createSQL("w"),
		}, extra: []string{"chain_x.old"}},
		{name: "retyped", have: map[string]*serverTable{
			"chain_x":    have("a String", "b UInt32", "c Nullable(Decimal(38, 0))", "d DateTime"),
			"payments_y": have("b UInt64"),
		}, errors: []string{"chain_x column b is UInt32, the code wants UInt64", "chain_x column d is DateTime, the code wants DateTime('UTC')"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := planEvolution("w", want, tc.have)
			if len(tc.errors) > 0 {
				if !errors.Is(err, ErrColumnType) {
					t.Fatalf("%v, want ErrColumnType", err)
				}
				for _, s := range tc.errors {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ev.statements, tc.stmts) {
				t.Errorf("statements\n%s\nwant\n%s", strings.Join(ev.statements, "\n"), strings.Join(tc.stmts, "\n"))
			}
			if !slices.Equal(ev.extra, tc.extra) {
				t.Errorf("extra %v, want %v", ev.extra, tc.extra)
			}
		})
	}
}
