package clickhouse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	chcolumn "github.com/ClickHouse/clickhouse-go/v2/lib/column"
	clproto "github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
	"github.com/weirhq/weir/sinks"
)

// EnvChdbPython names the python of a virtualenv with chdb-core, which
// deploy/local/chdb.sh installs and deploy/local/stack.env names.
const EnvChdbPython = "WEIR_CHDB_PYTHON"

// currentVersion is the ClickHouse version whose types TestCurrentClickHouse generates:
// that of the engine chdb-core 26.9.0 embeds.
const currentVersion = "26.9"

// chdbScript runs the steps of the JSON file argv[1] in one chdb session on the database
// directory argv[2] and prints, as JSON, for each step its error (null when it
// succeeded) and its output in base64. A failed step does not stop the others.
const chdbScript = `
import base64, json, sys
import chdb
from chdb import session

steps = json.load(open(sys.argv[1]))
s = session.Session(sys.argv[2])
out = {"engine": chdb.engine_version, "results": []}
for st in steps:
    r = {"id": st["id"], "error": None, "data": ""}
    try:
        res = s.query(st["sql"], st["format"])
        r["data"] = base64.b64encode(res.bytes()).decode()
    except Exception as e:
        r["error"] = "%s: %s" % (type(e).__name__, e)
    out["results"].append(r)
s.close()
json.dump(out, sys.stdout)
`

// chdbStep is one statement the script runs; format is its output format.
type chdbStep struct {
	ID     string `json:"id"`
	SQL    string `json:"sql"`
	Format string `json:"format"`
}

type chdbResult struct {
	ID    string  `json:"id"`
	Error *string `json:"error"`
	Data  []byte  `json:"data"`
}

// chdbRun runs steps in one chdb session (on a fresh database directory) and returns
// the engine's version and the results by step id.
func chdbRun(t *testing.T, python string, steps []chdbStep) (string, map[string]chdbResult) {
	t.Helper()
	dir := t.TempDir()
	script, input := filepath.Join(dir, "run.py"), filepath.Join(dir, "steps.json")
	js, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(chdbScript), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, js, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, python, script, input, filepath.Join(dir, "db"))
	cmd.Dir = dir
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", python, script, err, stderr.String())
	}
	var out struct {
		Engine  string       `json:"engine"`
		Results []chdbResult `json:"results"`
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("chdb output: %v\n%.2000s\n%s", err, stdout, stderr.String())
	}
	byID := map[string]chdbResult{}
	for _, r := range out.Results {
		byID[r.ID] = r
	}
	if len(byID) != len(steps) {
		t.Fatalf("chdb: %d results for %d steps", len(byID), len(steps))
	}
	return out.Engine, byID
}

// sqlString is s as a ClickHouse string literal, byte for byte: bytes outside printable
// ASCII (and quotes and backslashes) escaped as \xNN.
func sqlString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '\'' || c == '\\' {
			fmt.Fprintf(&b, "\\x%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// baseType strips Array(…) and Nullable(…) from a column type.
func baseType(chType string) string {
	for {
		inner, ok := strings.CutPrefix(chType, "Array(")
		if !ok {
			inner, ok = strings.CutPrefix(chType, "Nullable(")
		}
		if !ok {
			return chType
		}
		chType = strings.TrimSuffix(inner, ")")
	}
}

// sqlLiteral renders v, a value of column type chType as the writer gives it to
// clickhouse-go (rows.row), as an exact ClickHouse SQL expression: big integers,
// decimals and times through their text (never a float), NULL for a nil pointer,
// arrays element by element.
func sqlLiteral(chType string, v any) (string, error) {
	rv := reflectValue(v)
	if rv == nil {
		return "NULL", nil
	}
	base := baseType(chType)
	switch x := rv.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			p, err := sqlLiteral(base, e)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case string:
		return sqlString(x), nil
	case int32, int64, uint8, uint32, uint64:
		return fmt.Sprint(x), nil
	case float32:
		return "toFloat32(" + strconv.FormatFloat(float64(x), 'g', -1, 32) + ")", nil
	case float64:
		return "toFloat64(" + strconv.FormatFloat(x, 'g', -1, 64) + ")", nil
	case big.Int:
		if base != "UInt256" {
			return "", fmt.Errorf("big.Int for %s", chType)
		}
		return "toUInt256(" + sqlString(x.String()) + ")", nil
	case decimal.Decimal:
		var p, s int
		if _, err := fmt.Sscanf(base, "Decimal(%d, %d)", &p, &s); err != nil || p != 38 {
			return "", fmt.Errorf("decimal for %s", chType)
		}
		return fmt.Sprintf("toDecimal128(%s, %d)", sqlString(x.StringFixed(int32(s))), s), nil
	case time.Time:
		x = x.UTC()
		switch base {
		case "DateTime64(9, 'UTC')":
			return fmt.Sprintf("toDateTime64(%s, 9, 'UTC')", sqlString(x.Format("2006-01-02 15:04:05.000000000"))), nil
		case "DateTime('UTC')":
			if x.Nanosecond() != 0 {
				return "", fmt.Errorf("%s with nanoseconds for %s", x, chType)
			}
			return fmt.Sprintf("toDateTime(%s, 'UTC')", sqlString(x.Format(time.DateTime))), nil
		}
		return "", fmt.Errorf("time for %s", chType)
	}
	return "", fmt.Errorf("no literal for %T (%s)", rv, chType)
}

// reflectValue dereferences pointers (nil for a nil one) and turns slices into []any.
func reflectValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case *string:
		return deref(x)
	case *int32:
		return deref(x)
	case *int64:
		return deref(x)
	case *uint8:
		return deref(x)
	case *uint32:
		return deref(x)
	case *uint64:
		return deref(x)
	case *float32:
		return deref(x)
	case *float64:
		return deref(x)
	case *big.Int:
		return deref(x)
	case *decimal.Decimal:
		return deref(x)
	case *time.Time:
		return deref(x)
	case []string:
		return anys(x)
	case []int32:
		return anys(x)
	case []int64:
		return anys(x)
	case []uint8:
		return anys(x)
	case []uint32:
		return anys(x)
	case []uint64:
		return anys(x)
	case []float32:
		return anys(x)
	case []float64:
		return anys(x)
	case []big.Int:
		return anys(x)
	case []decimal.Decimal:
		return anys(x)
	case []time.Time:
		return anys(x)
	case []*string:
		return anys(x)
	case []*uint32:
		return anys(x)
	case []*int64:
		return anys(x)
	case []*big.Int:
		return anys(x)
	case []*decimal.Decimal:
		return anys(x)
	case []*time.Time:
		return anys(x)
	}
	return v
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func anys[T any](s []T) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = e
	}
	return out
}

// setUint256 sets every uint256 string field of m, recursively, to v.
func setUint256(m protoreflect.Message, v string) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				m.Get(fd).Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					setUint256(mv.Message(), v)
					return true
				})
			}
		case fd.IsList():
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				if fd.Message() != nil {
					setUint256(l.Get(j).Message(), v)
				} else if fd.Kind() == protoreflect.StringKind && isUint256(fd) {
					l.Set(j, protoreflect.ValueOfString(v))
				}
			}
		case fd.Message() != nil:
			if m.Has(fd) {
				setUint256(m.Get(fd).Message(), v)
			}
		case fd.Kind() == protoreflect.StringKind && isUint256(fd):
			m.Set(fd, protoreflect.ValueOfString(v))
		}
	}
}

// decodeNative decodes ClickHouse Native output (the file format: no block info) with
// clickhouse-go's own columns and returns its rows, each value as clickhouse-go's Row
// gives it.
func decodeNative(data []byte) ([][]any, error) {
	r := chproto.NewReader(bytes.NewReader(data))
	var out [][]any
	for {
		b := &clproto.Block{ServerContext: &chcolumn.ServerContext{Timezone: time.UTC}}
		if err := b.Decode(r, 0); err != nil {
			if errors.Is(err, io.EOF) && len(b.Columns) == 0 {
				return out, nil
			}
			return nil, err
		}
		for i := 0; i < b.Rows(); i++ {
			row := make([]any, len(b.Columns))
			for j, c := range b.Columns {
				row[j] = c.Row(i, false)
			}
			out = append(out, row)
		}
	}
}

// encodeNative encodes the rows in rs as the Native block clickhouse-go sends for an
// INSERT into rs's table: the writer's column buffers appended to clickhouse-go's columns
// of the table's types.
func encodeNative(rs *rows) ([]byte, error) {
	b := &clproto.Block{ServerContext: &chcolumn.ServerContext{Timezone: time.UTC}}
	for i, c := range rs.table.columns {
		if err := b.AddColumn(c.name, chcolumn.Type(c.chType)); err != nil {
			return nil, err
		}
		if err := rs.cols[i].appendTo(columnAppender{b.Columns[i]}); err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	var buf chproto.Buffer
	if err := b.Encode(&buf, 0); err != nil {
		return nil, err
	}
	return buf.Buf, nil
}

// TestCurrentClickHouse runs the DDL of a current ClickHouse (UInt256, DateTime64) on
// ClickHouse 26.9's own engine, in process through chdb-core (no current server runs
// here; the local stack's server is 18.16): every migration must apply; every table
// gets the rows of fully populated events of seeds 1 and 2 and of one whose uint256
// fields are 0, as the writer computes them, inserted both as exact SQL literals and
// as the Native block clickhouse-go encodes from the writer's buffers, and each row
// must read back (decoded by clickhouse-go) equal to what was sent; the *_canonical
// views must leave retracted events out and keep one copy of a redelivered row; the
// rollups must count and sum exactly (UInt256 sums above 38 digits, 2^256-1).
//
// It runs when WEIR_CHDB_PYTHON names a python with chdb-core (deploy/local/chdb.sh
// installs one; up.sh puts it in stack.env), is skipped otherwise, and fails in CI.
func TestCurrentClickHouse(t *testing.T) {
	python := strings.TrimSpace(os.Getenv(EnvChdbPython))
	if python == "" {
		msg := EnvChdbPython + " is not set: run deploy/local/chdb.sh (or up.sh) and source deploy/local/stack.env"
		if testenv.InCI() {
			t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
		}
		t.Skip(msg)
	}
	began := time.Now()
	types, err := TypesForVersion(currentVersion)
	if err != nil {
		t.Fatal(err)
	}
	if !types.DateTime64 || !types.UInt256 {
		t.Fatalf("types of %s: %+v, want DateTime64 and UInt256", currentVersion, types)
	}
	const db = "weir_current"
	q := func(name string) string { return quote(db) + "." + quote(name) }
	migrations, err := Migrations(db, types)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := Tables(catalog.All(), types)
	if err != nil {
		t.Fatal(err)
	}

	var steps []chdbStep
	step := func(id, sql, format string) { steps = append(steps, chdbStep{ID: id, SQL: sql, Format: format}) }
	step("version", "SELECT version()", "TSV")
	nStatements := 0
	for _, m := range migrations {
		for i, s := range m.Statements {
			step(fmt.Sprintf("migration %s #%d", m.ID(), i), s, "TSV")
			nStatements++
		}
	}

	// The records: per topic, populated events of seeds 1 and 2 and one (seed 3) with
	// every uint256 field 0, inserted as SQL literals; the same for seeds 11, 12 and 13,
	// inserted as clickhouse-go's Native block. The retraction of seed 1 retracts the
	// block and the transfer of seed 1.
	ingested := time.Now().UTC().Truncate(time.Second)
	type batch struct {
		native bool
		seeds  [3]int
	}
	batches := []batch{{false, [3]int{1, 2, 3}}, {true, [3]int{11, 12, 13}}}
	recs := map[string][][]sinks.Record{} // topic → per batch
	var retracted []string
	for bi, bt := range batches {
		for _, topic := range catalog.All() {
			var rs []sinks.Record
			for k, seed := range bt.seeds {
				ev, err := codec.New(topic.Value)
				if err != nil {
					t.Fatal(err)
				}
				codectest.Populate(ev.ProtoReflect(), seed)
				if k == 2 {
					setUint256(ev.ProtoReflect(), "0")
				}
				if r, ok := ev.(*chainv1.Retraction); ok && k == 0 {
					ids := []string{
						recs["chain.blocks"][bi][0].Event.GetMeta().GetEventId(),
						recs["chain.transfers"][bi][0].Event.GetMeta().GetEventId(),
					}
					slices.Sort(ids)
					r.RetractedEventIds = ids
					retracted = append(retracted, ids...)
				}
				if err := codec.Validate(ev); err != nil {
					t.Fatalf("%s seed %d: %v", topic.Name, seed, err)
				}
				rs = append(rs, record(topic, ev, 0, int64(seed)))
			}
			recs[topic.Name] = append(recs[topic.Name], rs)
		}
	}
	if len(retracted) != 4 {
		t.Fatalf("retracted %v: chain.retractions must come after chain.blocks and chain.transfers in the catalogue", retracted)
	}

	// want holds each table's rows as sent, in the order of (_offset, event_id).
	want := map[string][][]any{}
	var selects []chdbStep
	dir := t.TempDir()
	for _, tb := range tables {
		names, _ := tb.Columns()
		cols := make([]string, len(names))
		for i, n := range names {
			cols[i] = quote(n)
		}
		for bi, bt := range batches {
			rs := tb.newRows()
			for _, r := range recs[tb.Topic][bi] {
				if err := rs.add(&r, ingested); err != nil {
					t.Fatalf("%s: %v", tb.Name, err)
				}
			}
			for i := 0; i < rs.n; i++ {
				want[tb.Name] = append(want[tb.Name], rs.row(i))
			}
			insert := fmt.Sprintf("INSERT INTO %s (%s)", q(tb.Name), strings.Join(cols, ", "))
			if bt.native {
				data, err := encodeNative(rs)
				if err != nil {
					t.Fatalf("%s: encode Native: %v", tb.Name, err)
				}
				file := filepath.Join(dir, tb.Name+".native")
				if err := os.WriteFile(file, data, 0o644); err != nil {
					t.Fatal(err)
				}
				step("insert native "+tb.Name, fmt.Sprintf("%s SELECT * FROM file(%s, 'Native')", insert, sqlString(file)), "TSV")
				continue
			}
			_, chTypes := tb.Columns()
			var values []string
			for i := 0; i < rs.n; i++ {
				row := rs.row(i)
				lits := make([]string, len(row))
				for j, v := range row {
					if lits[j], err = sqlLiteral(chTypes[j], v); err != nil {
						t.Fatalf("%s.%s: %v", tb.Name, names[j], err)
					}
				}
				values = append(values, "SELECT "+strings.Join(lits, ", "))
			}
			step("insert sql "+tb.Name, insert+" "+strings.Join(values, " UNION ALL "), "TSV")
		}
		selects = append(selects, chdbStep{"select " + tb.Name, fmt.Sprintf("SELECT %s FROM %s ORDER BY _offset, event_id", strings.Join(cols, ", "), q(tb.Name)), "Native"})
		if strings.HasPrefix(tb.Topic, "chain.") && tb.Topic != retractionsTopic {
			selects = append(selects, chdbStep{"select view " + tb.Name, fmt.Sprintf("SELECT %s FROM %s ORDER BY _offset, event_id", strings.Join(cols, ", "), q(tb.Name+"_canonical")), "Native"})
		}
	}
	// Read after all inserts: the views depend on chain_retracted_events.
	steps = append(steps, selects...)

	// The documented specifics, spelled out, read as text by ClickHouse itself.
	step("transfers text", fmt.Sprintf("SELECT _offset, amount_value, toString(amount_value_num), toString(event_time), toTypeName(amount_value_num), toTypeName(event_time) FROM %s ORDER BY _offset", q("chain_transfers")), "TSV")

	// Rollups: intents, scores and alerts of an hour no populated event is in.
	hour := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	ten40 := new(big.Int).Exp(big.NewInt(10), big.NewInt(40), nil) // more than 38 digits
	rollupRecs := map[string][]sinks.Record{}
	n := 0
	add := func(topic string, ev codec.Event) {
		n++
		if err := codec.Validate(ev); err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		rollupRecs[topic] = append(rollupRecs[topic], record(topicOf(t, topic), ev, 0, int64(1000+n)))
	}
	const (
		proc = paymentsv1.IntentState_INTENT_STATE_PROCESSING
		ok   = paymentsv1.IntentState_INTENT_STATE_SUCCEEDED
	)
	for _, in := range []struct {
		merchant   string
		prev, next paymentsv1.IntentState
		amount     string
		at         time.Duration
	}{
		{"m1", proc, ok, ten40.String(), time.Minute},
		{"m1", proc, ok, "1", 59*time.Minute + 999999999},
		{"m1", proc, ok, "0", 2 * time.Minute},
		{"m1", ok, ok, "5", 3 * time.Minute}, // already succeeded: not counted
		{"m1", proc, paymentsv1.IntentState_INTENT_STATE_FAILED, "500", 4 * time.Minute},
		{"m1", proc, ok, "10", time.Hour},
		{"m2", proc, ok, codectest.MaxUint256, time.Minute},
	} {
		at := hour.Add(in.at)
		add("payments.intents", &paymentsv1.IntentTransition{
			Meta: meta("rollup-intent", fmt.Sprint(n), at), IntentId: fmt.Sprint("pi_", n), MerchantId: in.merchant,
			Version: 2, PreviousState: in.prev, State: in.next,
			Amount:      &commonv1.Amount{Value: in.amount, Asset: "EUR", Decimals: 2},
			CreatedTime: timestamppb.New(at),
		})
	}
	for i, bp := range []uint32{0, 999, 1000, 10000} {
		add("risk.scores", &riskv1.RiskScore{
			Meta: meta("rollup-score", fmt.Sprint(n), hour.Add(time.Duration(i)*time.Minute)), EntityType: riskv1.EntityType_ENTITY_TYPE_ADDRESS,
			EntityId: "0xaa", ModelId: "fraud", ModelVersion: "v7", ScoreBp: bp, Decision: riskv1.Decision_DECISION_ALLOW,
		})
	}
	for i, version := range []uint64{1, 2, 1} {
		add("risk.alerts", &riskv1.RiskAlert{
			Meta: meta("rollup-alert", fmt.Sprint(n), hour.Add(time.Duration(i)*time.Minute)), AlertId: fmt.Sprint("al_", i), Version: version,
			EntityType: riskv1.EntityType_ENTITY_TYPE_ADDRESS, EntityId: "0xaa", Severity: riskv1.Severity_SEVERITY_CRITICAL,
			Status: riskv1.AlertStatus_ALERT_STATUS_OPEN, RuleId: "r1",
		})
	}
	for _, tb := range tables {
		if len(rollupRecs[tb.Topic]) == 0 {
			continue
		}
		rs := tb.newRows()
		for _, r := range rollupRecs[tb.Topic] {
			if err := rs.add(&r, ingested); err != nil {
				t.Fatalf("%s: %v", tb.Name, err)
			}
		}
		data, err := encodeNative(rs)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, tb.Name+".rollup.native")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		names, _ := tb.Columns()
		for i := range names {
			names[i] = quote(names[i])
		}
		step("insert rollup "+tb.Name, fmt.Sprintf("INSERT INTO %s (%s) SELECT * FROM file(%s, 'Native')", q(tb.Name), strings.Join(names, ", "), sqlString(file)), "TSV")
	}
	h := fmt.Sprintf("hour >= toDateTime('%s', 'UTC')", hour.Format(time.DateTime))
	step("rollup volume", fmt.Sprintf("SELECT merchant_id, asset, decimals, toString(hour), sum(payments), toString(sum(amount)), sum(oversized), toTypeName(sum(amount)) FROM %s WHERE %s GROUP BY merchant_id, asset, decimals, hour ORDER BY merchant_id, hour", q(VolumeTable), h), "TSV")
	step("rollup scores", fmt.Sprintf("SELECT model_id, model_version, toString(hour), bucket_bp, sum(scores), sum(score_bp_sum) FROM %s WHERE %s GROUP BY model_id, model_version, hour, bucket_bp ORDER BY bucket_bp", q(ScoresTable), h), "TSV")
	step("rollup alerts", fmt.Sprintf("SELECT severity, toString(hour), sum(raised), sum(events) FROM %s WHERE %s GROUP BY severity, hour ORDER BY severity", q(AlertsTable), h), "TSV")

	// The same rows again (a redelivery): the table keeps both copies, the view (FINAL)
	// one.
	for _, st := range steps {
		if st.ID == "insert sql chain_transfers" {
			step("insert again chain_transfers", st.SQL, "TSV")
		}
	}
	step("count again chain_transfers", fmt.Sprintf("SELECT (SELECT count() FROM %s), (SELECT count() FROM %s)", q("chain_transfers"), q("chain_transfers_canonical")), "TSV")

	// Evolution: a database migrated with an older catalogue (see TestMigrateEvolves),
	// brought to this one by the statements Migrate plans from its tables.
	const evolveDB = "weir_evolve"
	old := older{
		topics: []string{"payments.merchants"},
		drop: map[string][]string{
			"payments_intents": intentFields,
			"chain_transfers":  {"token_name", "amount_value_num"},
		},
		extra: map[string][2]string{"chain_transfers": {"confirmation", "retired"}},
	}
	oldTables, err := old.set(types)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]*serverTable{}
	for _, m := range migrationsOf(evolveDB, types, oldTables) {
		for i, s := range m.Statements {
			step(fmt.Sprintf("migration old %s #%d", m.ID(), i), s, "TSV")
		}
	}
	for _, tb := range oldTables {
		st := &serverTable{engine: "ReplacingMergeTree"}
		for _, c := range tb.columns {
			st.columns = append(st.columns, serverColumn{c.name, c.chType})
		}
		have[tb.Name] = st
		if hasCanonicalView(tb) {
			have[tb.Name+"_canonical"] = &serverTable{engine: "View"}
		}
	}
	ev, err := planEvolution(evolveDB, tables, have)
	if err != nil {
		t.Fatal(err)
	}
	if ev.tables != 1 || ev.columns != len(intentFields)+2 || !slices.Equal(ev.extra, []string{"chain_transfers.retired"}) {
		t.Fatalf("evolution: %d tables, %d columns, extra %v", ev.tables, ev.columns, ev.extra)
	}
	for i, s := range ev.statements {
		step(fmt.Sprintf("migration evolve #%d", i), s, "TSV")
	}
	step("evolved columns", fmt.Sprintf("SELECT table, name, type FROM system.columns WHERE database = %s ORDER BY table, position", sqlString(evolveDB)), "TSVRaw")
	step("evolved view", fmt.Sprintf("SELECT count(), count(token_name), count(retired) FROM %s.%s", quote(evolveDB), quote("chain_transfers_canonical")), "TSV")

	engine, res := chdbRun(t, python, steps)
	t.Logf("chdb engine ClickHouse %s: %d steps (%d migration statements) in %s", engine, len(steps), nStatements, time.Since(began).Round(time.Millisecond))
	text := func(id string) string {
		t.Helper()
		r := res[id]
		if r.Error != nil {
			t.Fatalf("%s: %s", id, *r.Error)
		}
		return strings.TrimSuffix(string(r.Data), "\n")
	}
	if v := text("version"); !strings.HasPrefix(v, currentVersion+".") {
		t.Fatalf("chdb runs ClickHouse %s, want %s.x", v, currentVersion)
	}
	for _, s := range steps {
		if r := res[s.ID]; r.Error != nil && (strings.HasPrefix(s.ID, "migration") || strings.HasPrefix(s.ID, "insert")) {
			t.Errorf("%s failed on ClickHouse %s: %s\n%s", s.ID, engine, *r.Error, s.SQL)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The evolved database has this catalogue's tables, in its column order, and the
	// column left alone.
	var wantCols []string
	for _, tb := range slices.SortedFunc(slices.Values(tables), func(a, b *Table) int { return strings.Compare(a.Name, b.Name) }) {
		for _, c := range tb.columns {
			if tb.Name == "chain_transfers" && c.name == "_topic" {
				wantCols = append(wantCols, "chain_transfers\tretired\tString")
			}
			wantCols = append(wantCols, tb.Name+"\t"+c.name+"\t"+c.chType)
		}
	}
	var gotCols []string
	for _, l := range strings.Split(text("evolved columns"), "\n") {
		if tb, _, _ := strings.Cut(l, "\t"); tb != MigrationsTable && !strings.HasSuffix(tb, "_canonical") && !slices.Contains([]string{VolumeTable, ScoresTable, AlertsTable}, tb) && !strings.HasPrefix(tb, ".inner") && !strings.HasSuffix(tb, "_mv") {
			gotCols = append(gotCols, l)
		}
	}
	if !slices.Equal(gotCols, wantCols) {
		t.Errorf("evolved columns:\n%s\nwant\n%s", strings.Join(gotCols, "\n"), strings.Join(wantCols, "\n"))
	}
	if got := text("evolved view"); got != "0\t0\t0" {
		t.Errorf("evolved view: %q", got)
	}

	// Every row reads back as sent.
	compare := func(id string, names []string, want [][]any) int {
		t.Helper()
		r := res[id]
		if r.Error != nil {
			t.Errorf("%s: %s", id, *r.Error)
			return 0
		}
		got, err := decodeNative(r.Data)
		if err != nil {
			t.Errorf("%s: decode Native: %v", id, err)
			return 0
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d rows, want %d", id, len(got), len(want))
			return 0
		}
		checked := 0
		for i := range want {
			for j, name := range names {
				if g, w := canon(got[i][j]), canon(want[i][j]); g != w {
					t.Errorf("%s row %d: %s = %s, want %s", id, i, name, g, w)
				}
				checked++
			}
		}
		return checked
	}
	checked := 0
	for _, tb := range tables {
		names, _ := tb.Columns()
		rows := want[tb.Name]
		// Sent in batch order; read in (_offset, event_id) order.
		iOff, iID := slices.Index(names, "_offset"), slices.Index(names, "event_id")
		slices.SortStableFunc(rows, func(a, b []any) int {
			if c := a[iOff].(int64) - b[iOff].(int64); c != 0 {
				return int(c)
			}
			return strings.Compare(a[iID].(string), b[iID].(string))
		})
		checked += compare("select "+tb.Name, names, rows)
		if strings.HasPrefix(tb.Topic, "chain.") && tb.Topic != retractionsTopic {
			var kept [][]any
			for _, row := range rows {
				if !slices.Contains(retracted, row[iID].(string)) {
					kept = append(kept, row)
				}
			}
			if tb.Topic == "chain.blocks" || tb.Topic == "chain.transfers" {
				if len(kept) != len(rows)-2 {
					t.Errorf("%s: %d rows kept of %d, want 2 retracted", tb.Name, len(kept), len(rows))
				}
			}
			checked += compare("select view "+tb.Name, names, kept)
		}
	}
	t.Logf("%d values compared over %d tables", checked, len(tables))

	// uint256 0, 10^18+2 and 2^256-1 and nanosecond times, as ClickHouse prints them.
	ts := func(seed int) string {
		return codectest.BaseTime.Add(time.Duration(seed) * time.Second).Format("2006-01-02 15:04:05.000000000")
	}
	var wantText []string
	for _, seed := range []int{1, 2, 3, 11, 12, 13} {
		amount := codectest.MaxUint256
		switch {
		case seed == 3 || seed == 13:
			amount = "0"
		case seed%2 == 0:
			amount = fmt.Sprint(1_000_000_000_000_000_000 + seed)
		}
		wantText = append(wantText, fmt.Sprintf("%d\t%s\t%s\t%s\tUInt256\tDateTime64(9, \\'UTC\\')", seed, amount, amount, ts(seed)))
	}
	if got := text("transfers text"); got != strings.Join(wantText, "\n") {
		t.Errorf("chain_transfers as text:\n%s\nwant\n%s", got, strings.Join(wantText, "\n"))
	}

	// 6 rows and 3 literal ones again; the view: 6 less the retracted 2.
	if got := text("count again chain_transfers"); got != "9\t4" {
		t.Errorf("chain_transfers and its view after a redelivery: %q rows, want 9 and 4", got)
	}

	sum := new(big.Int).Add(ten40, big.NewInt(1))
	for id, w := range map[string]string{
		"rollup volume": "m1\tEUR\t2\t2025-06-01 10:00:00\t3\t" + sum.String() + "\t0\tUInt256\n" +
			"m1\tEUR\t2\t2025-06-01 11:00:00\t1\t10\t0\tUInt256\n" +
			"m2\tEUR\t2\t2025-06-01 10:00:00\t1\t" + codectest.MaxUint256 + "\t0\tUInt256",
		"rollup scores": "fraud\tv7\t2025-06-01 10:00:00\t0\t2\t999\n" +
			"fraud\tv7\t2025-06-01 10:00:00\t1000\t1\t1000\n" +
			"fraud\tv7\t2025-06-01 10:00:00\t10000\t1\t10000",
		"rollup alerts": "SEVERITY_CRITICAL\t2025-06-01 10:00:00\t2\t3",
	} {
		if got := text(id); got != w {
			t.Errorf("%s:\n%s\nwant\n%s", id, got, w)
		}
	}
	t.Logf("done in %s", time.Since(began).Round(time.Millisecond))
}
