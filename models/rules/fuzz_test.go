package rules

import (
	"testing"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// FuzzParse: any rule file either fails with an error or compiles into an engine that
// evaluates vectors without panicking.
func FuzzParse(f *testing.F) {
	f.Add(defaultYAML)
	f.Add([]byte(`{"name": "x", "rules": [{"id": "a", "reason": "A", "decision": "BLOCK", "severity": "LOW", "when": [{"feature": "f", "op": ">=", "fixed": 0.10}]}]}`))
	f.Add([]byte("rules: [{id: a, reason: A, decision: REVIEW, severity: HIGH, when: [{feature: v, op: '<', units: 5, asset: ETH}]}]"))
	v := benchVector()
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Parse(data)
		if err != nil {
			return
		}
		e, err := Compile(set)
		if err != nil {
			return
		}
		if len(e.Version()) != 64 {
			t.Fatalf("version %q", e.Version())
		}
		_, _ = e.Evaluate(v, nil)
	})
}

// FuzzEvaluate: any feature value either is refused with ErrBadFeature or compared.
func FuzzEvaluate(f *testing.F) {
	f.Add("transfers_out_count_1h", int64(6), uint32(0), "", "")
	f.Add("value_out_sum_1h", int64(0), uint32(0), "100000000000000000000", "ETH")
	f.Add("new_counterparty_out_ratio_1h", int64(-1<<63), uint32(18), "", "")
	e, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string, v int64, scale uint32, units, asset string) {
		var ft *riskv1.Feature
		if units != "" {
			ft = &riskv1.Feature{Name: name, Value: &riskv1.Feature_Units{Units: units}, Asset: asset}
		} else {
			ft = &riskv1.Feature{Name: name, Value: &riskv1.Feature_Fixed{Fixed: &riskv1.Fixed{Value: v, Scale: scale}}}
		}
		_, _ = e.Evaluate(vec(ft, fixed("transfers_out_count_1h", 7, 0)), nil)
	})
}
