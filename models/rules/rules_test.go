package rules

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

func fixed(name string, v int64, scale uint32) *riskv1.Feature {
	return &riskv1.Feature{Name: name, Value: &riskv1.Feature_Fixed{Fixed: &riskv1.Fixed{Value: v, Scale: scale}}}
}

func units(name, u, asset string) *riskv1.Feature {
	return &riskv1.Feature{Name: name, Value: &riskv1.Feature_Units{Units: u}, Asset: asset}
}

func vec(fs ...*riskv1.Feature) *riskv1.FeatureVector {
	return &riskv1.FeatureVector{FeatureSet: "address_activity", FeatureSetVersion: 1, Features: fs}
}

func defaultEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ids(hits []*Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

// TestDefaultRules covers every rule of default.yaml, each at its boundary: the
// threshold itself, one unit (or one ulp of the scale) either side.
func TestDefaultRules(t *testing.T) {
	e := defaultEngine(t)
	const eth = "1000000000000000000"
	for _, tc := range []struct {
		name string
		fs   []*riskv1.Feature
		want []string
	}{
		{"nothing", nil, nil},
		{"quiet address", []*riskv1.Feature{
			fixed("transfers_out_count_1h", 2, 0), fixed("new_counterparty_out_ratio_1h", 500000, 6),
			fixed("sanctioned_counterparty", 0, 0), fixed("sanctioned_exposure_count_7d", 0, 0),
			units("value_out_sum_1h", eth, "ETH"),
		}, nil},

		{"sanctioned counterparty", []*riskv1.Feature{fixed("sanctioned_counterparty", 1, 0)}, []string{"sanctioned_counterparty"}},
		{"not sanctioned", []*riskv1.Feature{fixed("sanctioned_counterparty", 0, 0)}, nil},
		{"exposure 1", []*riskv1.Feature{fixed("sanctioned_exposure_count_7d", 1, 0)}, []string{"sanctioned_exposure_7d"}},
		{"exposure 0", []*riskv1.Feature{fixed("sanctioned_exposure_count_7d", 0, 0)}, nil},
		{"exposure at a finer scale", []*riskv1.Feature{fixed("sanctioned_exposure_count_7d", 1, 6)}, []string{"sanctioned_exposure_7d"}},
		{"both sanctions", []*riskv1.Feature{fixed("sanctioned_exposure_count_7d", 3, 0), fixed("sanctioned_counterparty", 1, 0)},
			[]string{"sanctioned_counterparty", "sanctioned_exposure_7d"}},

		{"drain at both thresholds", []*riskv1.Feature{fixed("transfers_out_count_1m", 12, 0), fixed("new_counterparty_out_ratio_1h", 800000, 6)}, []string{"drain_to_fresh_1m", "velocity_count_1m"}},
		{"drain one transfer short", []*riskv1.Feature{fixed("transfers_out_count_1m", 11, 0), fixed("new_counterparty_out_ratio_1h", 1000000, 6)}, nil},
		{"drain ratio one ulp short", []*riskv1.Feature{fixed("transfers_out_count_1m", 12, 0), fixed("new_counterparty_out_ratio_1h", 799999, 6)}, []string{"velocity_count_1m"}},
		{"drain ratio missing", []*riskv1.Feature{fixed("transfers_out_count_1m", 12, 0)}, []string{"velocity_count_1m"}},
		{"drain over the hour is no burst", []*riskv1.Feature{fixed("transfers_out_count_1h", 12, 0), fixed("new_counterparty_out_ratio_1h", 1000000, 6)}, nil},

		{"structuring at 3", []*riskv1.Feature{fixed("near_threshold_out_count_24h", 3, 0)}, []string{"structuring_24h"}},
		{"structuring at 2", []*riskv1.Feature{fixed("near_threshold_out_count_24h", 2, 0)}, nil},

		{"passthrough at 0.9", []*riskv1.Feature{fixed("transfers_in_count_1h", 1, 0), fixed("transfers_out_count_1h", 1, 0), fixed("passthrough_ratio_1h", 900000, 6)}, []string{"passthrough_1h"}},
		{"passthrough just under", []*riskv1.Feature{fixed("transfers_in_count_1h", 1, 0), fixed("transfers_out_count_1h", 1, 0), fixed("passthrough_ratio_1h", 899999, 6)}, nil},
		{"passthrough nothing in", []*riskv1.Feature{fixed("transfers_in_count_1h", 0, 0), fixed("transfers_out_count_1h", 1, 0), fixed("passthrough_ratio_1h", 1000000, 6)}, nil},
		{"passthrough at 3 each way", []*riskv1.Feature{fixed("transfers_in_count_1h", 3, 0), fixed("transfers_out_count_1h", 3, 0), fixed("passthrough_ratio_1h", 900000, 6)}, []string{"passthrough_1h"}},
		{"passthrough, 4 in", []*riskv1.Feature{fixed("transfers_in_count_1h", 4, 0), fixed("transfers_out_count_1h", 1, 0), fixed("passthrough_ratio_1h", 1000000, 6)}, nil},
		{"passthrough, 4 out", []*riskv1.Feature{fixed("transfers_in_count_1h", 1, 0), fixed("transfers_out_count_1h", 4, 0), fixed("passthrough_ratio_1h", 1000000, 6)}, nil},

		{"round trip", []*riskv1.Feature{fixed("transfers_out_count_24h", 1, 0), fixed("in_out_ratio_24h", 1000000, 6), fixed("passthrough_ratio_1h", 970000, 6)}, []string{"round_trip_24h"}},
		{"round trip, 3 out", []*riskv1.Feature{fixed("transfers_out_count_24h", 3, 0), fixed("in_out_ratio_24h", 1, 0), fixed("passthrough_ratio_1h", 999999, 6)}, []string{"round_trip_24h"}},
		{"round trip, 4 out", []*riskv1.Feature{fixed("transfers_out_count_24h", 4, 0), fixed("in_out_ratio_24h", 1000000, 6), fixed("passthrough_ratio_1h", 999999, 6)}, nil},
		{"round trip, none out", []*riskv1.Feature{fixed("transfers_out_count_24h", 0, 0), fixed("in_out_ratio_24h", 1000000, 6), fixed("passthrough_ratio_1h", 999999, 6)}, nil},
		{"round trip, one more in", []*riskv1.Feature{fixed("transfers_out_count_24h", 2, 0), fixed("in_out_ratio_24h", 1500000, 6), fixed("passthrough_ratio_1h", 999999, 6)}, nil},
		{"round trip, ratio one ulp over", []*riskv1.Feature{fixed("transfers_out_count_24h", 1, 0), fixed("in_out_ratio_24h", 1000001, 6), fixed("passthrough_ratio_1h", 999999, 6)}, nil},
		{"round trip, ratio one ulp under", []*riskv1.Feature{fixed("transfers_out_count_24h", 1, 0), fixed("in_out_ratio_24h", 999999, 6), fixed("passthrough_ratio_1h", 999999, 6)}, nil},
		{"round trip, cut over 3%", []*riskv1.Feature{fixed("transfers_out_count_24h", 1, 0), fixed("in_out_ratio_24h", 1000000, 6), fixed("passthrough_ratio_1h", 969999, 6)}, nil},
		{"round trip and passthrough", []*riskv1.Feature{fixed("transfers_in_count_1h", 1, 0), fixed("transfers_out_count_1h", 1, 0),
			fixed("transfers_out_count_24h", 1, 0), fixed("in_out_ratio_24h", 1000000, 6), fixed("passthrough_ratio_1h", 985000, 6)}, []string{"round_trip_24h", "passthrough_1h"}},

		{"velocity 12 per minute", []*riskv1.Feature{fixed("transfers_out_count_1m", 12, 0)}, []string{"velocity_count_1m"}},
		{"velocity 11 per minute", []*riskv1.Feature{fixed("transfers_out_count_1m", 11, 0)}, nil},
		{"velocity 150 per hour", []*riskv1.Feature{fixed("transfers_out_count_1h", 150, 0)}, []string{"velocity_count_1h"}},
		{"velocity 149 per hour", []*riskv1.Feature{fixed("transfers_out_count_1h", 149, 0)}, nil},
		{"value 100 ETH in 1h", []*riskv1.Feature{units("value_out_sum_1h", "100000000000000000000", "ETH")}, []string{"velocity_value_1h_eth"}},
		{"value 100 ETH - 1 wei in 1h", []*riskv1.Feature{units("value_out_sum_1h", "99999999999999999999", "ETH")}, nil},
		{"value of another asset", []*riskv1.Feature{units("value_out_sum_1h", "100000000000000000000", "erc20:1337:0x0000000000000000000000000000000000000001")}, nil},
		{"value beyond uint64", []*riskv1.Feature{units("value_out_sum_24h", "115792089237316195423570985008687907853269984665640564039457584007913129639935", "ETH")}, []string{"velocity_value_24h_eth"}},
		{"value 1000 ETH - 1 wei in 24h", []*riskv1.Feature{units("value_out_sum_24h", "999999999999999999999", "ETH")}, nil},
		{"value 1000 ETH in 24h", []*riskv1.Feature{units("value_out_sum_24h", "1000000000000000000000", "ETH")}, []string{"velocity_value_24h_eth"}},

		{"strongest first", []*riskv1.Feature{
			fixed("transfers_out_count_1m", 12, 0), fixed("transfers_out_count_1h", 170, 0),
			fixed("new_counterparty_out_ratio_1h", 1000000, 6), fixed("near_threshold_out_count_24h", 4, 0),
			fixed("sanctioned_counterparty", 1, 0), units("value_out_sum_1h", "100000000000000000000", "ETH"),
		}, []string{"sanctioned_counterparty", "drain_to_fresh_1m", "structuring_24h", "velocity_value_1h_eth", "velocity_count_1m", "velocity_count_1h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits, err := e.Evaluate(vec(tc.fs...), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(hits); !slices.Equal(got, append([]string{}, tc.want...)) {
				t.Errorf("hits = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHitFields(t *testing.T) {
	e := defaultEngine(t)
	hits, err := e.Evaluate(vec(fixed("sanctioned_counterparty", 1, 0), fixed("transfers_out_count_1m", 12, 0)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 {
		t.Fatalf("hits = %v", ids(hits))
	}
	want := Hit{ID: "sanctioned_counterparty", RuleID: "rule:sanctioned_counterparty", Reason: "SANCTIONED_COUNTERPARTY",
		Detail: "the transfer's counterparty is on the sanctions list", Decision: riskv1.Decision_DECISION_BLOCK, Severity: riskv1.Severity_SEVERITY_CRITICAL}
	if *hits[0] != want {
		t.Errorf("hit = %+v, want %+v", *hits[0], want)
	}
	// A rule without description spells out its conditions.
	want = Hit{ID: "velocity_count_1m", RuleID: "rule:velocity_count_1m", Reason: "VELOCITY",
		Detail: "transfers_out_count_1m >= 12", Decision: riskv1.Decision_DECISION_REVIEW, Severity: riskv1.Severity_SEVERITY_MEDIUM}
	if *hits[1] != want {
		t.Errorf("hit = %+v, want %+v", *hits[1], want)
	}
}

func TestBadFeatures(t *testing.T) {
	e := defaultEngine(t)
	for _, tc := range []struct {
		name string
		f    []*riskv1.Feature
		msg  string
	}{
		{"money where fixed expected", []*riskv1.Feature{units("transfers_out_count_1m", "10", "ETH")}, "is money"},
		{"fixed where money expected", []*riskv1.Feature{fixed("value_out_sum_1h", 10, 0)}, "is fixed-point"},
		{"scale over 18", []*riskv1.Feature{fixed("transfers_out_count_1m", 10, 19)}, "scale 19"},
		{"non-canonical units", []*riskv1.Feature{units("value_out_sum_1h", "0100", "ETH")}, "leading zero"},
		{"negative units", []*riskv1.Feature{units("value_out_sum_1h", "-1", "ETH")}, "not a decimal"},
		{"no value", []*riskv1.Feature{{Name: "transfers_out_count_1m"}}, "no value"},
		{"twice", []*riskv1.Feature{fixed("transfers_out_count_1m", 1, 0), fixed("transfers_out_count_1m", 1, 0)}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Evaluate(vec(tc.f...), nil)
			if !errors.Is(err, ErrBadFeature) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want ErrBadFeature containing %q", err, tc.msg)
			}
		})
	}
}

func TestCompareFixed(t *testing.T) {
	for _, tc := range []struct {
		a    int64
		as   uint32
		b    int64
		bs   uint32
		want int
	}{
		{8, 1, 800000, 6, 0},
		{8, 1, 800001, 6, -1},
		{8, 1, 799999, 6, 1},
		{-8, 1, -800001, 6, 1},
		{-8, 1, 799999, 6, -1},
		{0, 0, 0, 18, 0},
		{0, 3, -1, 18, 1},
		{math.MaxInt64, 0, math.MaxInt64, 18, 1},
		{math.MinInt64, 0, math.MinInt64, 18, -1},
		{math.MaxInt64, 18, 9, 0, 1}, // 9.22… > 9
		{math.MaxInt64, 18, 10, 0, -1},
		{math.MinInt64, 18, -9, 0, -1},
		{1, 18, 0, 0, 1},
		{5, 0, 5, 0, 0},
	} {
		if got := CompareFixed(tc.a, tc.as, tc.b, tc.bs); got != tc.want {
			t.Errorf("CompareFixed(%d/10^%d, %d/10^%d) = %d, want %d", tc.a, tc.as, tc.b, tc.bs, got, tc.want)
		}
		if got := CompareFixed(tc.b, tc.bs, tc.a, tc.as); got != -tc.want {
			t.Errorf("CompareFixed(%d/10^%d, %d/10^%d) = %d, want %d", tc.b, tc.bs, tc.a, tc.as, got, -tc.want)
		}
	}
}

func TestCompareUnits(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"0", "0", 0}, {"9", "10", -1}, {"100", "99", 1}, {"123", "124", -1}, {"124", "124", 0},
	} {
		if got := CompareUnits(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareUnits(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in    string
		v     int64
		s     uint32
		fails bool
	}{
		{"0.8", 8, 1, false}, {"20", 20, 0, false}, {"-1", -1, 0, false}, {"+1.50", 150, 2, false},
		{"9223372036854775807", math.MaxInt64, 0, false},
		{"0.000000000000000001", 1, 18, false},
		{"0.0000000000000000001", 0, 0, true}, {"9223372036854775808", 0, 0, true},
		{"", 0, 0, true}, {".5", 0, 0, true}, {"5.", 0, 0, true}, {"1e3", 0, 0, true}, {" 1", 0, 0, true}, {"1,000", 0, 0, true}, {"--1", 0, 0, true},
	} {
		v, s, err := ParseDecimal(tc.in)
		if (err != nil) != tc.fails || (err == nil && (v != tc.v || s != tc.s)) {
			t.Errorf("ParseDecimal(%q) = %d, %d, %v; want %d, %d, fails=%v", tc.in, v, s, err, tc.v, tc.s, tc.fails)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	good := func() Rule {
		return Rule{ID: "r", Reason: "R", Decision: "REVIEW", Severity: "LOW", When: []Condition{{Feature: "f", Op: OpGE, Fixed: "1"}}}
	}
	for _, tc := range []struct {
		name string
		edit func(r *Rule)
		msg  string
	}{
		{"bad id", func(r *Rule) { r.ID = "Bad-Id" }, "lower_snake_case"},
		{"bad reason", func(r *Rule) { r.Reason = "velocity" }, "UPPER_SNAKE"},
		{"allow", func(r *Rule) { r.Decision = "ALLOW" }, "not REVIEW or BLOCK"},
		{"severity", func(r *Rule) { r.Severity = "UNSPECIFIED" }, "severity"},
		{"no conditions", func(r *Rule) { r.When = nil }, "no conditions"},
		{"no feature", func(r *Rule) { r.When[0].Feature = "" }, "no feature"},
		{"bad op", func(r *Rule) { r.When[0].Op = "=>" }, "op"},
		{"both", func(r *Rule) { r.When[0].Units = "1"; r.When[0].Asset = "ETH" }, "both"},
		{"neither", func(r *Rule) { r.When[0].Fixed = "" }, "neither"},
		{"float", func(r *Rule) { r.When[0].Fixed = "1e-3" }, "not a decimal"},
		{"units without asset", func(r *Rule) { r.When[0].Fixed = ""; r.When[0].Units = "1" }, "without asset"},
		{"units not canonical", func(r *Rule) { r.When[0].Fixed = ""; r.When[0].Units = "01"; r.When[0].Asset = "ETH" }, "leading zero"},
		{"asset on fixed", func(r *Rule) { r.When[0].Asset = "ETH" }, "asset on a fixed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.edit(&r)
			_, err := Compile(RuleSet{Rules: []Rule{r}})
			if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want ErrInvalidRule containing %q", err, tc.msg)
			}
		})
	}
	_, err := Compile(RuleSet{Rules: []Rule{good(), good()}})
	if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate id: err = %v", err)
	}
}

func TestParse(t *testing.T) {
	if _, err := Parse([]byte("name: x\nrules:\n  - id: a\n    reason: A\n    decision: BLOCK\n    severity: LOW\n    when: [{feature: f, op: '>=', fixd: 1}]\n")); !errors.Is(err, ErrInvalidRule) {
		t.Errorf("unknown field: err = %v", err)
	}
	if _, err := Parse(nil); !errors.Is(err, ErrInvalidRule) {
		t.Errorf("empty: err = %v", err)
	}
	// A YAML number keeps its literal text: 0.10 is not turned into the float 0.1.
	set, err := Parse([]byte(`{"name": "x", "rules": [{"id": "a", "reason": "A", "decision": "BLOCK", "severity": "LOW", "when": [{"feature": "f", "op": ">=", "fixed": 0.10}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Rules[0].When[0].Fixed; got != "0.10" {
		t.Errorf("fixed = %q, want the literal 0.10", got)
	}
}

// TestVersion: the version is the content hash, the same for a Go table and its YAML,
// and different when any threshold changes.
func TestVersion(t *testing.T) {
	table := RuleSet{Name: "x", Rules: []Rule{{ID: "a", Reason: "A", Decision: "BLOCK", Severity: "LOW",
		When: []Condition{{Feature: "f", Op: OpGE, Fixed: "0.8"}, {Feature: "g", Op: OpLT, Units: "100", Asset: "ETH"}}}}}
	yml := "name: x\nrules:\n  - id: a\n    reason: A\n    decision: BLOCK\n    severity: LOW\n    when:\n" +
		"      - {feature: f, op: '>=', fixed: 0.8}\n      - {feature: g, op: '<', units: 100, asset: ETH}\n"
	set, err := Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	a, b := MustCompile(table), MustCompile(set)
	if a.Version() != b.Version() || len(a.Version()) != 64 {
		t.Errorf("versions %s (Go) and %s (YAML) differ", a.Version(), b.Version())
	}
	table.Rules[0].When[0].Fixed = "0.9"
	if MustCompile(table).Version() == a.Version() {
		t.Error("changing a threshold kept the version")
	}
	d1, d2 := defaultEngine(t), defaultEngine(t)
	if d1.Version() != d2.Version() {
		t.Error("default version is not stable")
	}
	if !slices.Contains(d1.Features(), "sanctioned_counterparty") || d1.NumRules() != 10 {
		t.Errorf("default: features %v, %d rules", d1.Features(), d1.NumRules())
	}
}

func benchVector() *riskv1.FeatureVector {
	names := []string{"transfers_out_count_1m", "transfers_out_count_1h", "transfers_out_count_24h", "transfers_out_count_7d",
		"transfers_in_count_1m", "transfers_in_count_1h", "transfers_in_count_24h", "transfers_in_count_7d",
		"distinct_counterparties_out_1h", "distinct_counterparties_out_24h", "seconds_since_last_out", "seconds_since_last_in",
		"new_counterparty", "near_threshold_out_count_24h", "sanctioned_counterparty", "sanctioned_exposure_count_7d"}
	var fs []*riskv1.Feature
	for i, n := range names {
		fs = append(fs, fixed(n, int64(i%3), 0))
	}
	for _, n := range []string{"amount_zscore", "new_counterparty_out_ratio_1h", "in_out_ratio_24h", "passthrough_ratio_1h"} {
		fs = append(fs, fixed(n, 970000, 6))
	}
	for _, n := range []string{"value_out_sum_1h", "value_out_sum_24h", "value_in_sum_1h", "value_in_sum_24h"} {
		fs = append(fs, units(n, "12345678901234567890", "ETH"))
	}
	return vec(fs...)
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	e := defaultEngine(t)
	v := benchVector()
	dst := make([]*Hit, 0, e.NumRules())
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = e.Evaluate(v, dst[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Evaluate allocates %v times", allocs)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	e := defaultEngine(b)
	v := benchVector()
	dst := make([]*Hit, 0, e.NumRules())
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = e.Evaluate(v, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
