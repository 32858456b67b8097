package score_test

import (
	"errors"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/models/score"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// TestUnknownAssetsMissing checks WithUnknownAssetsMissing: a money feature in an asset
// the model does not know is read as missing (NaN) — the same row, probability and
// score as a vector without those features — while the rules still see it, a money
// feature without an asset is still refused, and a known asset is read as before.
func TestUnknownAssetsMissing(t *testing.T) {
	const token = "erc20:1337:0x00000000000000000000000000000000000000cc"
	s := newScorer(t, score.WithUnknownAssetsMissing())
	money := []string{"value_out_sum_1h", "value_out_sum_24h", "value_in_sum_1h", "value_in_sum_24h"}

	tokenVec := quiet()
	for _, name := range money {
		set(tokenVec, units(name, "123456789000000", token))
	}
	without := quiet()
	var kept []*riskv1.Feature
	for _, f := range without.Features {
		if f.GetAsset() == "" {
			kept = append(kept, f)
		}
	}
	without.Features = kept

	gotRow, err := s.Row(tokenVec, nil)
	if err != nil {
		t.Fatalf("token vector: %v", err)
	}
	wantRow, err := s.Row(without, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gotRow {
		if !(math.IsNaN(gotRow[i]) && math.IsNaN(wantRow[i])) && gotRow[i] != wantRow[i] {
			t.Errorf("column %d: %v, want %v (as without the money features)", i, gotRow[i], wantRow[i])
		}
	}
	got, err := s.Score(tokenVec, score.Subject{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Score(without, score.Subject{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ScoreBp != want.ScoreBp || got.Decision != want.Decision {
		t.Errorf("token vector scored %d bp %v, without money features %d bp %v", got.ScoreBp, got.Decision, want.ScoreBp, want.Decision)
	}
	// Feature logging: the token features are on the score as served.
	if len(got.Features) != len(tokenVec.Features) {
		t.Fatalf("%d features logged, want %d", len(got.Features), len(tokenVec.Features))
	}
	for i, f := range got.Features {
		if !proto.Equal(f, tokenVec.Features[i]) {
			t.Errorf("logged feature %d = %v, want %v", i, f, tokenVec.Features[i])
		}
	}

	// ETH is still read with its decimals: same row as without the option.
	strict := newScorer(t)
	a, err := s.Row(quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := strict.Row(quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			t.Errorf("ETH column %d: %v with the option, %v without", i, a[i], b[i])
		}
	}
	// Without the option the token vector is refused; with it, no asset still is.
	if _, err := strict.Score(tokenVec, score.Subject{}); !errors.Is(err, score.ErrUnknownAsset) {
		t.Errorf("strict scorer: %v, want ErrUnknownAsset", err)
	}
	if _, err := s.Score(set(quiet(), units("value_out_sum_1h", "5", "")), score.Subject{}); !errors.Is(err, score.ErrUnknownAsset) {
		t.Errorf("money feature without asset: %v, want ErrUnknownAsset", err)
	}
	// A rule over a token amount is still evaluated in that asset: the ETH velocity rule
	// does not fire on a huge token sum.
	huge := set(quiet(), units("value_out_sum_1h", "100000000000000000000000", token))
	hs, err := s.Score(huge, score.Subject{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range hs.Reasons {
		if r.GetRuleId() == "rule:velocity_value_1h_eth" || r.GetRuleId() == "velocity_value_1h_eth" {
			t.Errorf("ETH velocity rule fired on a token amount: %v", r)
		}
	}
}
