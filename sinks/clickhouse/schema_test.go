package clickhouse

import (
	"slices"
	"strings"
	"testing"
	"time"

	chcolumn "github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
	"github.com/weirhq/weir/sinks"
)

var allTypes = []Types{{}, {DateTime64: true, UInt256: true}, {DateTime64: true}}

func TestTableName(t *testing.T) {
	for in, want := range map[string]string{
		"chain.transfers":          "chain_transfers",
		"ledger.account-totals.1m": "ledger_account_totals_1m",
	} {
		if got := TableName(in); got != want {
			t.Errorf("TableName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTypesForVersion(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want Types
	}{
		{"18.16.1", Types{}},
		{"20.3.5.21", Types{DateTime64: true}},
		{"21.7.1", Types{DateTime64: true, UInt256: true}},
		{"24.8.4.13", Types{DateTime64: true, UInt256: true}},
	} {
		got, err := TypesForVersion(tc.v)
		if err != nil || got != tc.want {
			t.Errorf("TypesForVersion(%q) = %+v, %v; want %+v", tc.v, got, err, tc.want)
		}
		back, err := parseTypes(got.String())
		if err != nil || back != got {
			t.Errorf("parseTypes(%q) = %+v, %v", got.String(), back, err)
		}
	}
	if _, err := TypesForVersion("x"); err == nil {
		t.Error("TypesForVersion(x): no error")
	}
}

// wantColumns derives, independently of the builder, the column names the package
// documentation promises for md.
func wantColumns(md protoreflect.MessageDescriptor, prefix string, types Types) []string {
	var out []string
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := string(fd.Name())
		if prefix != "" {
			name = prefix + "_" + name
		}
		if prefix == "meta" && (fd.Name() == "event_id" || fd.Name() == "event_time") {
			name = string(fd.Name())
		}
		switch {
		case fd.IsMap():
			out = append(out, name+"_keys", name+"_values")
		case fd.Message() != nil && fd.Message().FullName() == timestampName:
			out = append(out, name)
			if !types.DateTime64 {
				out = append(out, name+"_nanos")
			}
		case fd.Message() != nil && fd.Message().FullName() == durationName:
			out = append(out, name)
		case fd.Message() != nil:
			out = append(out, wantColumns(fd.Message(), name, types)...)
		case isUint256(fd):
			out = append(out, name, name+"_num")
		default:
			out = append(out, name)
		}
	}
	return out
}

// TestColumnsCoverEveryField checks, for every topic and every set of types, that each
// field of the event has its column(s), named as documented, plus the system columns,
// and that sort keys and partitions name plain columns.
func TestColumnsCoverEveryField(t *testing.T) {
	for _, types := range allTypes {
		tables, err := Tables(catalog.All(), types)
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) != len(catalog.All())+1 {
			t.Fatalf("%d tables for %d topics", len(tables), len(catalog.All()))
		}
		for _, tb := range tables {
			if tb.Name == RetractedEventsTable {
				continue
			}
			names, chTypes := tb.Columns()
			want := append(wantColumns(tb.msg, "", types), "_topic", "_partition", "_offset", "_ingested_at")
			if !slices.Equal(names, want) {
				t.Errorf("%s (%s): columns\n%v\nwant\n%v", tb.Name, types, names, want)
			}
			for i, typ := range chTypes {
				if strings.Contains(typ, "Float") && !strings.HasSuffix(names[i], "_num") {
					continue
				}
				if strings.HasSuffix(names[i], "_num") && (strings.Contains(typ, "Float") || !strings.Contains(typ, map[bool]string{true: "UInt256", false: "Decimal(38, 0)"}[types.UInt256])) {
					t.Errorf("%s.%s is %s", tb.Name, names[i], typ)
				}
			}
			if err := tb.check(); err != nil {
				t.Error(err)
			}
			if tb.OrderBy[len(tb.OrderBy)-1] != "event_id" {
				t.Errorf("%s: sort key %v does not end in event_id", tb.Name, tb.OrderBy)
			}
		}
	}
}

func TestColumnTypes(t *testing.T) {
	legacy, err := Tables(catalog.All(), Types{})
	if err != nil {
		t.Fatal(err)
	}
	modern, err := Tables(catalog.All(), Types{DateTime64: true, UInt256: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{ // table.column: legacy, modern
		"chain_transfers.amount_value":               {"String", "String"},
		"chain_transfers.amount_value_num":           {"Nullable(Decimal(38, 0))", "UInt256"},
		"chain_transfers.token_id":                   {"Nullable(String)", "Nullable(String)"},
		"chain_transfers.token_id_num":               {"Nullable(Decimal(38, 0))", "Nullable(UInt256)"},
		"chain_transfers.log_index":                  {"Nullable(UInt32)", "Nullable(UInt32)"},
		"chain_transfers.event_time":                 {"DateTime('UTC')", "DateTime64(9, 'UTC')"},
		"chain_transfers.event_time_nanos":           {"UInt32", ""},
		"chain_transfers.kind":                       {"String", "String"},
		"chain_transfers.block_number":               {"UInt64", "UInt64"},
		"chain_transfers.token_address":              {"String", "String"},
		"chain_transfers.meta_source":                {"String", "String"},
		"chain_logs.topics":                          {"Array(String)", "Array(String)"},
		"chain_logs.data":                            {"String", "String"},
		"chain_approvals.unlimited":                  {"UInt8", "UInt8"},
		"payments_intents.expires_time":              {"Nullable(DateTime('UTC'))", "Nullable(DateTime64(9, 'UTC'))"},
		"payments_intents.expires_time_nanos":        {"Nullable(UInt32)", ""},
		"payments_intents.amount_received_value_num": {"Nullable(Decimal(38, 0))", "Nullable(UInt256)"},
		"payments_webhooks.latency":                  {"Nullable(Decimal(38, 9))", "Nullable(Decimal(38, 9))"},
		"risk_features.features_name":                {"Array(String)", "Array(String)"},
		"risk_features.features_units":               {"Array(Nullable(String))", "Array(Nullable(String))"},
		"risk_features.features_units_num":           {"Array(Nullable(Decimal(38, 0)))", "Array(Nullable(UInt256))"},
		"risk_features.features_fixed_value":         {"Array(Int64)", "Array(Int64)"},
		"chain_checkpoints.canonical_hash":           {"Array(String)", "Array(String)"},
		"chain_retracted_events.event_id":            {"String", "String"},
	}
	find := func(tables []*Table, tc string) string {
		tn, cn, _ := strings.Cut(tc, ".")
		for _, tb := range tables {
			if tb.Name == tn {
				if c := tb.column(cn); c != nil {
					return c.chType
				}
			}
		}
		return ""
	}
	for tc, w := range want {
		if got := find(legacy, tc); got != w[0] {
			t.Errorf("legacy %s: %q, want %q", tc, got, w[0])
		}
		if got := find(modern, tc); got != w[1] {
			t.Errorf("modern %s: %q, want %q", tc, got, w[1])
		}
	}
}

// TestValuesEncode appends the values of populated events of every topic to
// clickhouse-go's own columns of the generated types, column by column as the writer
// does, for every set of types: this is how the types of a current server (not running
// here) are checked.
func TestValuesEncode(t *testing.T) {
	sc := &chcolumn.ServerContext{Timezone: time.UTC}
	for _, types := range allTypes {
		tables, err := Tables(catalog.All(), types)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if tb.Name == RetractedEventsTable {
				continue
			}
			topic := topicOf(t, tb.Topic)
			rs := tb.newRows()
			const seeds = 3
			for seed := 1; seed <= seeds; seed++ {
				rec := populated(t, topic, seed, 0, int64(seed))
				if err := rs.add(&rec, time.Now().UTC().Truncate(time.Second)); err != nil {
					t.Fatalf("%s seed %d: %v", tb.Name, seed, err)
				}
			}
			for i, c := range tb.columns {
				col, err := chcolumn.Type(c.chType).Column(c.name, sc)
				if err != nil {
					t.Fatalf("%s.%s %s: %v", tb.Name, c.name, c.chType, err)
				}
				if err := rs.cols[i].appendTo(columnAppender{col}); err != nil {
					t.Errorf("%s.%s %s (%s): append %T: %v", tb.Name, c.name, c.chType, types, rs.cols[i].value(0), err)
				} else if col.Rows() != seeds {
					t.Errorf("%s.%s %s (%s): %d rows, want %d", tb.Name, c.name, c.chType, types, col.Rows(), seeds)
				}
			}
		}
	}
}

// columnAppender appends to a clickhouse-go column as a batch column does.
type columnAppender struct{ col chcolumn.Interface }

func (c columnAppender) Append(v any) error {
	_, err := c.col.Append(v)
	return err
}

func (c columnAppender) AppendRow(v any) error { return c.col.AppendRow(v) }

func TestUint256Values(t *testing.T) {
	ev, _ := codec.New("weir.chain.v1.Transfer")
	codectest.Populate(ev.ProtoReflect(), 1)
	for _, tc := range []struct {
		types Types
		want  string
	}{
		{Types{}, "<nil>"},
		{Types{DateTime64: true, UInt256: true}, codectest.MaxUint256},
	} {
		tables, err := Tables([]catalog.Topic{topicOf(t, "chain.transfers")}, tc.types)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tables[0].value("amount_value_num", sinks.Record{Topic: "chain.transfers", Event: ev})
		if err != nil {
			t.Fatal(err)
		}
		if got := canon(v); got != tc.want {
			t.Errorf("%s: amount_value_num of 2^256-1 = %s, want %s", tc.types, got, tc.want)
		}
	}
}
