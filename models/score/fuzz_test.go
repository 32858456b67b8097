package score_test

import (
	"errors"
	"testing"

	"github.com/weirhq/weir/models/score"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// FuzzScore: a feature with any name and value either makes Score fail with
// ErrBadVector or gives a score in range that logs the feature.
func FuzzScore(f *testing.F) {
	f.Add("amount_zscore", int64(1), uint32(6), "", "")
	f.Add("value_out_sum_1h", int64(0), uint32(0), "115792089237316195423570985008687907853269984665640564039457584007913129639935", "ETH")
	f.Add("sanctioned_counterparty", int64(1), uint32(0), "", "")
	f.Add("transfers_out_count_1h", int64(-1<<63), uint32(19), "", "")
	s := newScorer(f)
	f.Fuzz(func(t *testing.T, name string, v int64, scale uint32, units, asset string) {
		var ft *riskv1.Feature
		if units != "" {
			ft = &riskv1.Feature{Name: name, Value: &riskv1.Feature_Units{Units: units}, Asset: asset}
		} else {
			ft = &riskv1.Feature{Name: name, Value: &riskv1.Feature_Fixed{Fixed: &riskv1.Fixed{Value: v, Scale: scale}}}
		}
		vec := set(quiet(), ft)
		got, err := s.Score(vec, score.Subject{})
		if err != nil {
			if !errors.Is(err, score.ErrBadVector) {
				t.Fatalf("error %v does not wrap ErrBadVector", err)
			}
			return
		}
		if got.ScoreBp > 10000 || got.Decision == riskv1.Decision_DECISION_UNSPECIFIED || len(got.Features) != len(vec.Features) {
			t.Fatalf("score %v", got)
		}
	})
}
