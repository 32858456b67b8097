package score_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/models"
	"github.com/weirhq/weir/models/rules"
	"github.com/weirhq/weir/models/score"
	"github.com/weirhq/weir/models/train/reference"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

const defaultDir = "../default"

// ReadReferences reads path into vectors, LightGBM's probabilities and score_bp.
func ReadReferences(tb testing.TB, path string) ([]*riskv1.FeatureVector, []float64, []uint32) {
	tb.Helper()
	rows, err := reference.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var (
		vs  []*riskv1.FeatureVector
		ps  []float64
		bps []uint32
	)
	for _, r := range rows {
		vs, ps, bps = append(vs, r.Vector), append(ps, r.Probability), append(bps, r.ScoreBP)
	}
	return vs, ps, bps
}

func vector(entity, subject string) *riskv1.FeatureVector {
	return &riskv1.FeatureVector{
		Meta: &commonv1.Meta{
			EventId:   eventid.New("weir.risk.v1.FeatureVector", "address_activity", "1", subject),
			EventTime: timestamppb.New(time.Date(2026, 11, 25, 7, 0, 0, 123456789, time.UTC)),
			Source:    "features/test",
			TraceId:   "4bf92f3577b34da6a3ce929d0e0e4736",
		},
		EntityType:           riskv1.EntityType_ENTITY_TYPE_ADDRESS,
		EntityId:             entity,
		SubjectEventId:       subject,
		FeatureSet:           "address_activity",
		FeatureSetVersion:    1,
		SanctionsListVersion: "ofac-sdn:2026-11-20",
	}
}

func fixed(name string, v int64, scale uint32) *riskv1.Feature {
	return &riskv1.Feature{Name: name, Value: &riskv1.Feature_Fixed{Fixed: &riskv1.Fixed{Value: v, Scale: scale}}}
}

func units(name, u, asset string) *riskv1.Feature {
	return &riskv1.Feature{Name: name, Value: &riskv1.Feature_Units{Units: u}, Asset: asset}
}

// quiet is a vector of an ordinary address that no rule fires on.
func quiet() *riskv1.FeatureVector {
	v := vector("1337:0x00000000000000000000000000000000000000aa", eventid.New("weir.chain.v1.Transfer", "quiet"))
	v.Features = []*riskv1.Feature{
		fixed("transfers_out_count_1m", 0, 0), fixed("transfers_out_count_1h", 1, 0), fixed("transfers_out_count_24h", 2, 0),
		fixed("transfers_out_count_7d", 9, 0), fixed("transfers_in_count_1m", 0, 0), fixed("transfers_in_count_1h", 0, 0),
		fixed("transfers_in_count_24h", 1, 0), fixed("transfers_in_count_7d", 7, 0),
		units("value_out_sum_1h", "250000000000000000", "ETH"), units("value_out_sum_24h", "700000000000000000", "ETH"),
		units("value_in_sum_1h", "0", "ETH"), units("value_in_sum_24h", "1000000000000000000", "ETH"),
		fixed("distinct_counterparties_out_1h", 1, 0), fixed("distinct_counterparties_out_24h", 2, 0),
		fixed("seconds_since_last_out", 5400, 0), fixed("seconds_since_last_in", 40000, 0),
		fixed("amount_zscore", -250000, 6), fixed("new_counterparty", 0, 0), fixed("new_counterparty_out_ratio_1h", 0, 6),
		fixed("in_out_ratio_24h", 1428571, 6), fixed("passthrough_ratio_1h", 0, 6), fixed("near_threshold_out_count_24h", 0, 0),
		fixed("sanctioned_counterparty", 0, 0), fixed("sanctioned_exposure_count_7d", 0, 0),
	}
	return v
}

// set replaces (or adds) features of v.
func set(v *riskv1.FeatureVector, fs ...*riskv1.Feature) *riskv1.FeatureVector {
	for _, f := range fs {
		i := slices.IndexFunc(v.Features, func(g *riskv1.Feature) bool { return g.GetName() == f.GetName() })
		if i < 0 {
			v.Features = append(v.Features, f)
		} else {
			v.Features[i] = f
		}
	}
	return v
}

func newScorer(tb testing.TB, opts ...score.Option) *score.Scorer {
	tb.Helper()
	s, err := models.DefaultScorer(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestMatchesLightGBM: for every reference row of the shipped model (test rows of its
// training data and crafted rows with missing features), the probability is LightGBM's
// within 1e-12 and score_bp is exactly LightGBM's rounded.
func TestMatchesLightGBM(t *testing.T) {
	s := newScorer(t)
	vs, ps, bps := ReadReferences(t, filepath.Join(defaultDir, "reference.jsonl"))
	if len(vs) < 100 {
		t.Fatalf("%d reference rows, want at least 100", len(vs))
	}
	for i, v := range vs {
		p, err := s.Probability(v)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if math.Abs(p-ps[i]) > 1e-12 { // an ulp or two: LightGBM adds the trees in another order
			t.Errorf("row %d (%s): probability %v, LightGBM %v", i, v.SubjectEventId, p, ps[i])
		}
		got, err := s.Score(v, score.Subject{})
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if got.ScoreBp != bps[i] {
			t.Errorf("row %d (%s): score_bp %d, LightGBM %d", i, v.SubjectEventId, got.ScoreBp, bps[i])
		}
	}
}

// TestRow: the model's input row is bit for bit what train.py computed from the same
// features, extreme values included (uint256 max, int64 min and max, beyond 2^53, scale
// 18), and a missing feature is NaN in both.
func TestRow(t *testing.T) {
	s := newScorer(t)
	rows, err := reference.ReadFile(filepath.Join(defaultDir, "reference.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	extreme := 0
	for i, r := range rows {
		if strings.HasPrefix(r.Vector.SubjectEventId, "crafted:extreme:") {
			extreme++
		}
		if r.X == nil {
			t.Fatalf("row %d has no x", i)
		}
		x, err := s.Row(r.Vector, nil)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if len(x) != len(r.X) {
			t.Fatalf("row %d: %d values, train.py %d", i, len(x), len(r.X))
		}
		for j := range x {
			if math.Float64bits(x[j]) != math.Float64bits(r.X[j]) && !(math.IsNaN(x[j]) && math.IsNaN(r.X[j])) {
				t.Errorf("row %d (%s) column %d: %v (%#x), train.py %v (%#x)", i, r.Vector.SubjectEventId, j, x[j], math.Float64bits(x[j]), r.X[j], math.Float64bits(r.X[j]))
			}
		}
	}
	if extreme == 0 {
		t.Error("reference.jsonl has no crafted:extreme rows")
	}
}

// TestProbabilityDoesNotAllocate: the model part of a score costs no allocation.
func TestProbabilityDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items; run without -race")
	}
	s := newScorer(t)
	v := quiet()
	if _, err := s.Probability(v); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.Probability(v); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Probability allocates %v times", n)
	}
}

func TestDefaultModel(t *testing.T) {
	m, meta, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(defaultDir, "model.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(text)
	if meta.Version != hex.EncodeToString(sum[:]) || m.Version() != meta.Version {
		t.Errorf("version %s, model %s, file sha256 %x", meta.Version, m.Version(), sum)
	}
	if meta.ModelID != "address_activity_gbm" || meta.FeatureSet != "address_activity" || meta.FeatureSetVersion != 1 {
		t.Errorf("metadata %+v", meta)
	}
	if meta.ThresholdBP == 0 || meta.ThresholdBP >= 10000 {
		t.Errorf("threshold_bp %d", meta.ThresholdBP)
	}
	// LoadDir reads the same files from disk.
	m2, meta2, err := score.LoadDir(defaultDir)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Version() != m.Version() || meta2.ThresholdBP != meta.ThresholdBP {
		t.Error("LoadDir and Default differ")
	}
}

func reasons(rs []*riskv1.Reason) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.GetCode()+"/"+r.GetRuleId())
	}
	return out
}

// TestDecision: the stricter of the model and the rules wins, and reasons come strongest
// first, the rules before the model at equal decision.
func TestDecision(t *testing.T) {
	const model = "MODEL_SCORE/model:address_activity_gbm"
	sanctioned := fixed("sanctioned_counterparty", 1, 0)
	structuring := fixed("near_threshold_out_count_24h", 3, 0)
	for _, tc := range []struct {
		name    string
		opts    []score.Option
		fs      []*riskv1.Feature
		want    riskv1.Decision
		reasons []string
	}{
		{"quiet", []score.Option{score.WithThreshold(10001)}, nil, riskv1.Decision_DECISION_ALLOW, []string{}},
		{"model alone", []score.Option{score.WithThreshold(0)}, nil, riskv1.Decision_DECISION_REVIEW, []string{model}},
		{"rule review alone", []score.Option{score.WithThreshold(10001)}, []*riskv1.Feature{structuring},
			riskv1.Decision_DECISION_REVIEW, []string{"STRUCTURING/rule:structuring_24h"}},
		{"rule review and model review", []score.Option{score.WithThreshold(0)}, []*riskv1.Feature{structuring},
			riskv1.Decision_DECISION_REVIEW, []string{"STRUCTURING/rule:structuring_24h", model}},
		{"rule block beats model review", []score.Option{score.WithThreshold(0)}, []*riskv1.Feature{structuring, sanctioned},
			riskv1.Decision_DECISION_BLOCK, []string{"SANCTIONED_COUNTERPARTY/rule:sanctioned_counterparty", "STRUCTURING/rule:structuring_24h", model}},
		{"rule block, model allow", []score.Option{score.WithThreshold(10001)}, []*riskv1.Feature{sanctioned},
			riskv1.Decision_DECISION_BLOCK, []string{"SANCTIONED_COUNTERPARTY/rule:sanctioned_counterparty"}},
		{"model block beats rule review", []score.Option{score.WithThreshold(0), score.WithBlockThreshold(1)}, []*riskv1.Feature{structuring},
			riskv1.Decision_DECISION_BLOCK, []string{model, "STRUCTURING/rule:structuring_24h"}},
		{"model block and rule block", []score.Option{score.WithThreshold(0), score.WithBlockThreshold(1)}, []*riskv1.Feature{structuring, sanctioned},
			riskv1.Decision_DECISION_BLOCK, []string{"SANCTIONED_COUNTERPARTY/rule:sanctioned_counterparty", model, "STRUCTURING/rule:structuring_24h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScorer(t, tc.opts...)
			v := set(quiet(), tc.fs...)
			got, err := s.Score(v, score.Subject{})
			if err != nil {
				t.Fatal(err)
			}
			if got.ScoreBp < 1 {
				t.Fatalf("score_bp %d: the model-block cases need a score of at least 1 bp", got.ScoreBp)
			}
			if got.Decision != tc.want {
				t.Errorf("decision %v, want %v", got.Decision, tc.want)
			}
			if r := reasons(got.Reasons); !slices.Equal(r, tc.reasons) {
				t.Errorf("reasons %v, want %v", r, tc.reasons)
			}
		})
	}
}

// TestThreshold: at the threshold exactly the model recommends REVIEW, one below it ALLOW.
func TestThreshold(t *testing.T) {
	bp, err := newScorer(t).Score(quiet(), score.Subject{})
	if err != nil {
		t.Fatal(err)
	}
	at, err := newScorer(t, score.WithThreshold(bp.ScoreBp)).Score(quiet(), score.Subject{})
	if err != nil {
		t.Fatal(err)
	}
	above, err := newScorer(t, score.WithThreshold(bp.ScoreBp+1)).Score(quiet(), score.Subject{})
	if err != nil {
		t.Fatal(err)
	}
	if at.Decision != riskv1.Decision_DECISION_REVIEW || at.ThresholdBp != bp.ScoreBp {
		t.Errorf("at threshold: %v, threshold_bp %d", at.Decision, at.ThresholdBp)
	}
	if want := "score " + strconv.Itoa(int(bp.ScoreBp)) + " bp at or above threshold " + strconv.Itoa(int(bp.ScoreBp)) + " bp"; at.Reasons[0].Detail != want {
		t.Errorf("detail %q, want %q", at.Reasons[0].Detail, want)
	}
	if above.Decision != riskv1.Decision_DECISION_ALLOW || len(above.Reasons) != 0 {
		t.Errorf("below threshold: %v %v", above.Decision, reasons(above.Reasons))
	}
}

// TestStamped: ids, versions and copied fields of the score, and the features logged
// exactly as served (every one, in order, unknown ones too).
func TestStamped(t *testing.T) {
	s := newScorer(t, score.WithSource("processors/score:7"))
	engine, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	v := set(quiet(), fixed("not_a_model_feature", 42, 3))
	v.TransactionHash = "0x" + strings.Repeat("ab", 32)
	want := proto.Clone(v).(*riskv1.FeatureVector)
	got, err := s.Score(v, score.Subject{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("event_id", got.Meta.EventId, eventid.New("weir.risk.v1.RiskScore", "address_activity_gbm", meta.Version, v.SubjectEventId, v.EntityId))
	check("event_time", got.Meta.EventTime.AsTime(), v.Meta.EventTime.AsTime())
	check("source", got.Meta.Source, "processors/score:7")
	check("trace_id", got.Meta.TraceId, v.Meta.TraceId)
	check("entity_type", got.EntityType, riskv1.EntityType_ENTITY_TYPE_ADDRESS)
	check("entity_id", got.EntityId, v.EntityId)
	check("subject_event_id", got.SubjectEventId, v.SubjectEventId)
	check("transaction_hash", got.TransactionHash, v.TransactionHash)
	check("feature_vector_event_id", got.FeatureVectorEventId, v.Meta.EventId)
	check("model_id", got.ModelId, "address_activity_gbm")
	check("model_version", got.ModelVersion, meta.Version)
	check("threshold_bp", got.ThresholdBp, meta.ThresholdBP)
	check("feature_set", got.FeatureSet, "address_activity")
	check("feature_set_version", got.FeatureSetVersion, uint32(1))
	check("sanctions_list_version", got.SanctionsListVersion, "ofac-sdn:2026-11-20")
	check("rules_version", got.RulesVersion, engine.Version())
	check("rules_version length", len(got.RulesVersion), 64)
	if len(got.Features) != len(want.Features) {
		t.Fatalf("%d features logged, %d served", len(got.Features), len(want.Features))
	}
	for i := range want.Features {
		if !proto.Equal(got.Features[i], want.Features[i]) {
			t.Errorf("feature %d logged as %v, served %v", i, got.Features[i], want.Features[i])
		}
	}
	if len(got.Contributions) != 0 {
		t.Errorf("contributions %v", got.Contributions)
	}
	// The score is a valid event: it survives a round trip through the wire format.
	b, err := proto.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back := &riskv1.RiskScore{}
	if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(back, got) {
		t.Errorf("round trip: %v", err)
	}

	// A subject given by the caller (the gateway scoring a payout) names the event.
	payout := eventid.New("weir.payments.v1.Payout", "p-1")
	got, err = s.Score(v, score.Subject{EntityID: v.EntityId, EventID: payout})
	if err != nil {
		t.Fatal(err)
	}
	check("subject_event_id", got.SubjectEventId, payout)
	check("transaction_hash of another subject", got.TransactionHash, "")
	check("event_id", got.Meta.EventId, eventid.New("weir.risk.v1.RiskScore", "address_activity_gbm", meta.Version, payout, v.EntityId))
}

// TestMissing: a vector with no features, or without the features of a rule, scores as
// LightGBM scores NaN and fires no rule.
func TestMissing(t *testing.T) {
	s := newScorer(t)
	vs, _, bps := ReadReferences(t, filepath.Join(defaultDir, "reference.jsonl"))
	i := slices.IndexFunc(vs, func(v *riskv1.FeatureVector) bool { return v.SubjectEventId == "crafted:empty" })
	if i < 0 {
		t.Fatal("reference.jsonl has no crafted:empty row")
	}
	empty := vector("1337:0x00000000000000000000000000000000000000bb", "crafted:empty")
	got, err := s.Score(empty, score.Subject{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ScoreBp != bps[i] {
		t.Errorf("empty vector: score_bp %d, LightGBM %d", got.ScoreBp, bps[i])
	}
	if len(got.Features) != 0 {
		t.Errorf("features %v", got.Features)
	}
	// The drain rule needs both of its features; with one missing it does not fire.
	v := quiet()
	v.Features = slices.DeleteFunc(v.Features, func(f *riskv1.Feature) bool { return f.GetName() == "new_counterparty_out_ratio_1h" })
	set(v, fixed("transfers_out_count_1m", 12, 0))
	got, err = s.Score(v, score.Subject{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got.Reasons {
		if r.Code == "DRAIN_TO_FRESH" {
			t.Errorf("drain fired without new_counterparty_out_ratio_1h")
		}
	}
}

func TestBadVector(t *testing.T) {
	s := newScorer(t)
	for _, tc := range []struct {
		name string
		edit func(v *riskv1.FeatureVector) *riskv1.FeatureVector
		subj score.Subject
		is   error
		msg  string
	}{
		{"nil", func(*riskv1.FeatureVector) *riskv1.FeatureVector { return nil }, score.Subject{}, score.ErrBadVector, "nil vector"},
		{"other feature set", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { v.FeatureSet = "wallet_outflow"; return v }, score.Subject{}, score.ErrFeatureSet, `"wallet_outflow" version 1`},
		{"other version", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { v.FeatureSetVersion = 2; return v }, score.Subject{}, score.ErrFeatureSet, `"address_activity" version 2`},
		{"unknown asset", func(v *riskv1.FeatureVector) *riskv1.FeatureVector {
			return set(v, units("value_out_sum_1h", "5", "erc20:1337:0x00000000000000000000000000000000000000cc"))
		}, score.Subject{}, score.ErrUnknownAsset, `value_out_sum_1h: asset "erc20:1337:0x00000000000000000000000000000000000000cc"`},
		{"unknown asset on a logged-only feature", func(v *riskv1.FeatureVector) *riskv1.FeatureVector {
			return set(v, units("value_out_sum_30d", "5", "DOGE"))
		}, score.Subject{}, score.ErrUnknownAsset, `"DOGE"`},
		{"no asset", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { return set(v, units("value_out_sum_1h", "5", "")) }, score.Subject{}, score.ErrUnknownAsset, `asset ""`},
		{"no entity", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { v.EntityId = ""; return v }, score.Subject{}, score.ErrBadVector, "no entity_id"},
		{"other entity", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { return v }, score.Subject{EntityID: "1337:0x01"}, score.ErrBadVector, "scored for entity"},
		{"no entity type", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { v.EntityType = 0; return v }, score.Subject{}, score.ErrBadVector, "no entity_type"},
		{"no subject", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { v.SubjectEventId = ""; return v }, score.Subject{}, score.ErrBadVector, "no subject"},
		{"no meta", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { v.Meta = nil; return v }, score.Subject{}, score.ErrBadVector, "event_time"},
		{"bad time", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { v.Meta.EventTime.Nanos = -1; return v }, score.Subject{}, score.ErrBadVector, "event_time"},
		{"scale 19", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { return set(v, fixed("amount_zscore", 1, 19)) }, score.Subject{}, score.ErrBadVector, "scale 19"},
		{"negative units", func(v *riskv1.FeatureVector) *riskv1.FeatureVector {
			return set(v, units("value_in_sum_1h", "-5", "ETH"))
		}, score.Subject{}, score.ErrBadVector, "not a decimal"},
		{"units over 2^256", func(v *riskv1.FeatureVector) *riskv1.FeatureVector {
			return set(v, units("value_in_sum_1h", "115792089237316195423570985008687907853269984665640564039457584007913129639936", "ETH"))
		}, score.Subject{}, score.ErrBadVector, "larger than 2^256-1"},
		{"leading zero", func(v *riskv1.FeatureVector) *riskv1.FeatureVector {
			return set(v, units("value_in_sum_1h", "05", "ETH"))
		}, score.Subject{}, score.ErrBadVector, "leading zero"},
		{"money as fixed", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { return set(v, fixed("value_in_sum_1h", 5, 0)) }, score.Subject{}, score.ErrBadVector, "the model reads it as money"},
		{"fixed as money", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { return set(v, units("amount_zscore", "5", "ETH")) }, score.Subject{}, score.ErrBadVector, "the model reads it as fixed point"},
		{"rule feature as money", func(v *riskv1.FeatureVector) *riskv1.FeatureVector {
			return set(v, units("sanctioned_counterparty", "1", "ETH"))
		}, score.Subject{}, score.ErrBadVector, "the model reads it as fixed point"},
		{"asset on fixed", func(v *riskv1.FeatureVector) *riskv1.FeatureVector {
			f := fixed("amount_zscore", 1, 6)
			f.Asset = "ETH"
			return set(v, f)
		}, score.Subject{}, score.ErrBadVector, "asset \"ETH\" on a fixed-point value"},
		{"no value", func(v *riskv1.FeatureVector) *riskv1.FeatureVector {
			return set(v, &riskv1.Feature{Name: "amount_zscore"})
		}, score.Subject{}, score.ErrBadVector, "has no value"},
		{"no name", func(v *riskv1.FeatureVector) *riskv1.FeatureVector { return set(v, fixed("", 1, 0)) }, score.Subject{}, score.ErrBadVector, "without a name"},
		{"twice", func(v *riskv1.FeatureVector) *riskv1.FeatureVector {
			v.Features = append(v.Features, fixed("transfers_out_count_1h", 1, 0))
			return v
		}, score.Subject{}, score.ErrBadVector, "transfers_out_count_1h twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Score(tc.edit(quiet()), tc.subj)
			if got != nil || !errors.Is(err, score.ErrBadVector) || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Score = %v, %v; want ErrBadVector, %v, containing %q", got, err, tc.is, tc.msg)
			}
		})
	}
	// An asset added by option is accepted.
	tok := "erc20:1337:0x00000000000000000000000000000000000000cc"
	s2 := newScorer(t, score.WithAsset(tok, 18))
	if _, err := s2.Score(set(quiet(), units("value_out_sum_1h", "5", tok)), score.Subject{}); err != nil {
		t.Errorf("WithAsset: %v", err)
	}
}

func TestMetadataMismatch(t *testing.T) {
	m, meta, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	bad := meta
	bad.Version = strings.Repeat("0", 64)
	if _, err := score.New(m, bad, nil); !errors.Is(err, score.ErrMetadata) {
		t.Errorf("wrong version: %v", err)
	}
	bad = meta
	bad.FeatureNames = slices.Clone(meta.FeatureNames)
	bad.FeatureNames[0], bad.FeatureNames[1] = bad.FeatureNames[1], bad.FeatureNames[0]
	if _, err := score.New(m, bad, nil); !errors.Is(err, score.ErrMetadata) {
		t.Errorf("wrong feature order: %v", err)
	}
	bad = meta
	bad.ThresholdBP = 10001
	if _, err := score.New(m, bad, nil); !errors.Is(err, score.ErrMetadata) {
		t.Errorf("threshold over 10000: %v", err)
	}
	// Without rules the scorer still scores, with an empty rules_version.
	s, err := score.New(m, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Score(set(quiet(), fixed("sanctioned_counterparty", 1, 0)), score.Subject{})
	if err != nil || got.RulesVersion != "" || got.Decision == riskv1.Decision_DECISION_BLOCK {
		t.Errorf("no rules: %v, %v", got, err)
	}
}

// TestConcurrent scores from several goroutines at once (run with -race): every result
// equals the sequential one.
func TestConcurrent(t *testing.T) {
	s := newScorer(t)
	vs, _, _ := ReadReferences(t, filepath.Join(defaultDir, "reference.jsonl"))
	want := make([]*riskv1.RiskScore, len(vs))
	for i, v := range vs {
		var err error
		if want[i], err = s.Score(v, score.Subject{}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range vs {
				i := (k + g*31) % len(vs)
				got, err := s.Score(vs[i], score.Subject{})
				if err != nil || !proto.Equal(got, want[i]) {
					t.Errorf("row %d differs when concurrent: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkScore(b *testing.B) {
	s := newScorer(b)
	vs, _, _ := ReadReferences(b, filepath.Join(defaultDir, "reference.jsonl"))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Score(vs[i%len(vs)], score.Subject{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDecodeAndScore is what a processor does per record: decode the FeatureVector
// from the wire (as read from Kafka or the online store), score it and encode the score.
// It reports the latency percentiles of single calls.
func BenchmarkDecodeAndScore(b *testing.B) {
	s := newScorer(b)
	vs, _, _ := ReadReferences(b, filepath.Join(defaultDir, "reference.jsonl"))
	wire := make([][]byte, len(vs))
	for i, v := range vs {
		var err error
		if wire[i], err = proto.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(wire[0])))
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1<<16)
	i := 0
	for b.Loop() {
		start := time.Now()
		v := &riskv1.FeatureVector{}
		if err := proto.Unmarshal(wire[i%len(wire)], v); err != nil {
			b.Fatal(err)
		}
		sc, err := s.Score(v, score.Subject{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := proto.Marshal(sc); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
		i++
	}
	sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
	if n := len(lat); n > 0 {
		b.ReportMetric(float64(lat[n/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[n*99/100].Nanoseconds()), "p99-ns")
	}
}
