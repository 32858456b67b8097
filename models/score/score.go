package score

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/models/gbdt"
	"github.com/weirhq/weir/models/rules"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// ReasonModel is the reason code of a model score at or above its threshold.
const ReasonModel = "MODEL_SCORE"

// DefaultSource is Meta.source of the scores a Scorer makes unless WithSource says
// otherwise.
const DefaultSource = "models/score"

var (
	// ErrBadVector is wrapped by every error of Score about its input: a nil vector,
	// missing required fields, a feature with no value, a scale over 18, a money value
	// that is not a canonical uint256, a feature named twice, a money feature where the
	// model expects a fixed-point one or the reverse.
	ErrBadVector = errors.New("bad feature vector")
	// ErrFeatureSet is wrapped (with ErrBadVector) when the vector's feature set or its
	// version is not the one the model was trained on.
	ErrFeatureSet = errors.New("wrong feature set")
	// ErrUnknownAsset is wrapped (with ErrBadVector) when a money feature is in an asset
	// the model does not know (Metadata.Assets, WithAsset).
	ErrUnknownAsset = errors.New("unknown asset")
)

// Option configures a Scorer.
type Option func(*config)

type config struct {
	source      string
	threshold   *uint32
	block       uint32
	modelSev    riskv1.Severity
	extraAssets map[string]uint32
	unknownNaN  bool
}

// WithSource sets Meta.source of the scores ("processors/score:3"). Default DefaultSource.
func WithSource(source string) Option { return func(c *config) { c.source = source } }

// WithThreshold overrides the model's threshold (Metadata.ThresholdBP): scores at or above
// bp recommend REVIEW. Values over 10000 mean the model never does.
func WithThreshold(bp uint32) Option { return func(c *config) { c.threshold = &bp } }

// WithBlockThreshold makes scores at or above bp recommend BLOCK instead of REVIEW.
// Default 0: the model alone never blocks; only rules do.
func WithBlockThreshold(bp uint32) Option { return func(c *config) { c.block = bp } }

// WithAsset adds (or overrides) an asset that money features may be in, with its decimals
// (at most 77), to those of the model's metadata.
func WithAsset(asset string, decimals uint32) Option {
	return func(c *config) {
		if c.extraAssets == nil {
			c.extraAssets = map[string]uint32{}
		}
		c.extraAssets[asset] = decimals
	}
}

// WithUnknownAssetsMissing makes the model read a money feature in an asset it does not
// know (neither in Metadata.Assets nor added by WithAsset) as missing (NaN), instead of
// Score refusing the vector with ErrUnknownAsset. The rules still see the feature (a
// money condition only ever compares units of its own asset). Default: refuse.
//
// This is the rule for a stream of many assets scored by a model trained on a few: the
// model's money splits are in units of the assets it was trained on (ETH), and an amount
// of another asset cannot be put on that scale by its decimals alone (1 USDC is not
// 1 ETH), so the honest input is "unknown", which LightGBM routes down each split's
// missing-value branch as it learned in training. The feature is logged on the score as
// served, so a model trained later can learn the asset. A money feature without an asset
// is still refused.
func WithUnknownAssetsMissing() Option { return func(c *config) { c.unknownNaN = true } }

// Subject names what is scored. Empty fields are taken from the vector: a stream
// processor scoring the vector of a transfer passes the zero Subject; the gateway scoring
// a payout against an address's current features passes the payout's event id.
type Subject struct {
	// EntityID is the entity scored; if set it must equal the vector's entity_id.
	EntityID string
	// EventID is the event scored (RiskScore.subject_event_id); default the vector's
	// subject_event_id. One of the two must be set.
	EventID string
}

// Scorer scores feature vectors with a GBDT model and a rule set. It is immutable and
// safe for concurrent use; Score does not block.
type Scorer struct {
	model       *gbdt.Model
	meta        Metadata
	rules       *rules.Engine
	source      string
	threshold   uint32
	block       uint32
	assets      map[string]uint32
	unknownNaN  bool             // WithUnknownAssetsMissing
	index       map[string]int32 // feature name -> slot
	slots       []slot
	ruleSlots   int // rules' features are slots [0, ruleSlots)
	modelRuleID string
	pool        sync.Pool // *scratch
}

type slot struct {
	name  string
	col   int32 // model column, -1 if the model does not read it
	money int8  // model's kind: 1 money, 0 fixed, -1 not a model feature
}

type scratch struct {
	x     []float64
	seen  []bool
	rslot []*riskv1.Feature
	hits  []*rules.Hit
}

// New returns a Scorer of model, described by meta (see Metadata.Check), and the rule
// set engine (nil: no rules).
func New(model *gbdt.Model, meta Metadata, engine *rules.Engine, opts ...Option) (*Scorer, error) {
	if err := meta.validate(); err != nil {
		return nil, err
	}
	if err := meta.Check(model); err != nil {
		return nil, err
	}
	cfg := config{source: DefaultSource}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Scorer{
		model:       model,
		meta:        meta,
		rules:       engine,
		source:      cfg.source,
		threshold:   meta.ThresholdBP,
		block:       cfg.block,
		assets:      map[string]uint32{},
		unknownNaN:  cfg.unknownNaN,
		index:       map[string]int32{},
		modelRuleID: "model:" + meta.ModelID,
	}
	if cfg.threshold != nil {
		s.threshold = *cfg.threshold
	}
	for a, d := range meta.Assets {
		s.assets[a] = d
	}
	for a, d := range cfg.extraAssets {
		if a == "" || d > codec.MaxDecimals {
			return nil, fmt.Errorf("score: asset %q with %d decimals", a, d)
		}
		s.assets[a] = d
	}
	add := func(name string) int32 {
		if i, ok := s.index[name]; ok {
			return i
		}
		i := int32(len(s.slots))
		s.index[name] = i
		s.slots = append(s.slots, slot{name: name, col: -1, money: -1})
		return i
	}
	if engine != nil {
		for _, name := range engine.Features() {
			add(name)
		}
		s.ruleSlots = len(s.slots)
	}
	money := map[string]bool{}
	for _, f := range meta.MoneyFeatures {
		money[f] = true
	}
	for col, name := range meta.FeatureNames {
		i := add(name)
		s.slots[i].col = int32(col)
		s.slots[i].money = 0
		if money[name] {
			s.slots[i].money = 1
		}
	}
	nf, ns, nr := model.NumFeatures(), len(s.slots), s.ruleSlots
	nh := 1
	if engine != nil {
		nh = engine.NumRules()
	}
	s.pool.New = func() any {
		return &scratch{x: make([]float64, nf), seen: make([]bool, ns), rslot: make([]*riskv1.Feature, nr), hits: make([]*rules.Hit, 0, nh)}
	}
	return s, nil
}

// ModelID returns the model's id (RiskScore.model_id).
func (s *Scorer) ModelID() string { return s.meta.ModelID }

// ModelVersion returns the model's version, the SHA-256 of its text (RiskScore.model_version).
func (s *Scorer) ModelVersion() string { return s.meta.Version }

// RulesVersion returns the rule set's version (RiskScore.rules_version), "" without rules.
func (s *Scorer) RulesVersion() string {
	if s.rules == nil {
		return ""
	}
	return s.rules.Version()
}

// ThresholdBP returns the threshold in force (RiskScore.threshold_bp).
func (s *Scorer) ThresholdBP() uint32 { return s.threshold }

// FeatureSet returns the feature set and version the scorer accepts.
func (s *Scorer) FeatureSet() (string, uint32) { return s.meta.FeatureSet, s.meta.FeatureSetVersion }

func bad(format string, args ...any) error {
	return fmt.Errorf("score: %s: %w", fmt.Sprintf(format, args...), ErrBadVector)
}

// Score scores v and returns the RiskScore to publish on risk.scores:
//
//   - score_bp is math.Round(p*10000) of the model's probability p, where the model reads
//     each of its features as float64(value)/float64(10^scale) for fixed point and
//     float64(units)/float64(10^decimals) for money (each step rounded to nearest-even,
//     as train.py computes them), and a feature the vector lacks (or, with
//     WithUnknownAssetsMissing, a money feature in an asset it does not know) as
//     missing (NaN);
//   - decision is the stricter of the model's (REVIEW at or above threshold_bp, BLOCK at
//     or above WithBlockThreshold, else ALLOW) and the rules' (the strongest hit);
//   - reasons are the rule hits and MODEL_SCORE when the model is at or above its
//     threshold, strongest first: by decision, and at equal decision the rules (by
//     severity) before the model;
//   - features are the vector's features, every one of them, as given (feature logging):
//     the score shares the Feature messages with v, so v must not be modified after;
//   - model id and version, rules_version, threshold_bp, feature_set(_version) and
//     sanctions_list_version are stamped; Meta.event_id is eventid.New(
//     "weir.risk.v1.RiskScore", model_id, model_version, subject_event_id, entity_id)
//     (a transfer's sender and recipient are scored at the same subject), Meta.event_time
//     and trace_id those of v.
//
// Contributions are not computed. Errors wrap ErrBadVector (and ErrFeatureSet or
// ErrUnknownAsset); a bad vector belongs in the DLQ with its error.
func (s *Scorer) Score(v *riskv1.FeatureVector, subj Subject) (*riskv1.RiskScore, error) {
	if v == nil {
		return nil, bad("nil vector")
	}
	if err := s.checkSet(v); err != nil {
		return nil, err
	}
	entity := v.GetEntityId()
	if entity == "" {
		return nil, bad("no entity_id")
	}
	if subj.EntityID != "" && subj.EntityID != entity {
		return nil, bad("vector of entity %q scored for entity %q", entity, subj.EntityID)
	}
	if v.GetEntityType() == riskv1.EntityType_ENTITY_TYPE_UNSPECIFIED {
		return nil, bad("no entity_type")
	}
	subject := subj.EventID
	if subject == "" {
		subject = v.GetSubjectEventId()
	}
	if subject == "" {
		return nil, bad("no subject event id (vector or Subject)")
	}
	ts := v.GetMeta().GetEventTime()
	if ts == nil || ts.CheckValid() != nil {
		return nil, bad("no valid meta.event_time")
	}

	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	if err := s.fill(sc, v); err != nil {
		return nil, err
	}

	p := s.model.Predict(sc.x)
	bp := uint32(math.Round(p * 10000))
	modelDecision := riskv1.Decision_DECISION_ALLOW
	switch {
	case s.block > 0 && bp >= s.block:
		modelDecision = riskv1.Decision_DECISION_BLOCK
	case bp >= s.threshold:
		modelDecision = riskv1.Decision_DECISION_REVIEW
	}
	hits := sc.hits[:0]
	if s.rules != nil {
		var err error
		if hits, err = s.rules.EvaluateSlots(sc.rslot, hits); err != nil {
			return nil, fmt.Errorf("score: %w: %w", err, ErrBadVector)
		}
	}
	sc.hits = hits[:0]

	decision := modelDecision
	if len(hits) > 0 && hits[0].Decision > decision {
		decision = hits[0].Decision
	}
	n := len(hits)
	if modelDecision != riskv1.Decision_DECISION_ALLOW {
		n++
	}
	var reasons []*riskv1.Reason
	if n > 0 {
		reasons = make([]*riskv1.Reason, 0, n)
		backing := make([]riskv1.Reason, n)
		modelAdded := modelDecision == riskv1.Decision_DECISION_ALLOW
		for _, h := range hits {
			if !modelAdded && h.Decision < modelDecision {
				reasons = append(reasons, s.modelReason(&backing[len(reasons)], bp))
				modelAdded = true
			}
			r := &backing[len(reasons)]
			r.Code, r.RuleId, r.Detail = h.Reason, h.RuleID, h.Detail
			reasons = append(reasons, r)
		}
		if !modelAdded {
			reasons = append(reasons, s.modelReason(&backing[len(reasons)], bp))
		}
	}

	out := &riskv1.RiskScore{
		Meta: &commonv1.Meta{
			EventId:   eventid.New("weir.risk.v1.RiskScore", s.meta.ModelID, s.meta.Version, subject, entity),
			EventTime: &timestamppb.Timestamp{Seconds: ts.GetSeconds(), Nanos: ts.GetNanos()},
			Source:    s.source,
			TraceId:   v.GetMeta().GetTraceId(),
		},
		EntityType:           v.GetEntityType(),
		EntityId:             entity,
		SubjectEventId:       subject,
		FeatureVectorEventId: v.GetMeta().GetEventId(),
		ModelId:              s.meta.ModelID,
		ModelVersion:         s.meta.Version,
		ScoreBp:              bp,
		ThresholdBp:          s.threshold,
		Decision:             decision,
		Reasons:              reasons,
		Features:             append([]*riskv1.Feature(nil), v.GetFeatures()...),
		FeatureSet:           v.GetFeatureSet(),
		FeatureSetVersion:    v.GetFeatureSetVersion(),
		SanctionsListVersion: v.GetSanctionsListVersion(),
		RulesVersion:         s.RulesVersion(),
	}
	if subject == v.GetSubjectEventId() {
		out.TransactionHash = v.GetTransactionHash()
	}
	return out, nil
}

// Probability returns the model's probability for v, as Score computes it before
// rounding to basis points, with the same checks of the features; it ignores the rules
// and the subject. It does not allocate unless it returns an error.
func (s *Scorer) Probability(v *riskv1.FeatureVector) (float64, error) {
	if v == nil {
		return 0, bad("nil vector")
	}
	if err := s.checkSet(v); err != nil {
		return 0, err
	}
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	if err := s.fill(sc, v); err != nil {
		return 0, err
	}
	return s.model.Predict(sc.x), nil
}

// Row appends to dst the model's input row for v, in the order of the model's feature
// names (NaN for a missing feature), with the same checks of the features as Score: what
// Probability predicts from. For tests and offline comparisons with train.py.
func (s *Scorer) Row(v *riskv1.FeatureVector, dst []float64) ([]float64, error) {
	if v == nil {
		return dst, bad("nil vector")
	}
	if err := s.checkSet(v); err != nil {
		return dst, err
	}
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	if err := s.fill(sc, v); err != nil {
		return dst, err
	}
	return append(dst, sc.x...), nil
}

func (s *Scorer) checkSet(v *riskv1.FeatureVector) error {
	if v.GetFeatureSet() != s.meta.FeatureSet || v.GetFeatureSetVersion() != s.meta.FeatureSetVersion {
		return fmt.Errorf("score: vector of feature set %q version %d, model %s reads %q version %d: %w: %w",
			v.GetFeatureSet(), v.GetFeatureSetVersion(), s.meta.ModelID, s.meta.FeatureSet, s.meta.FeatureSetVersion, ErrFeatureSet, ErrBadVector)
	}
	return nil
}

// fill resets sc and loads the features of v into it.
func (s *Scorer) fill(sc *scratch, v *riskv1.FeatureVector) error {
	for i := range sc.x {
		sc.x[i] = math.NaN()
	}
	clear(sc.seen)
	clear(sc.rslot)
	for _, f := range v.GetFeatures() {
		if err := s.load(sc, f); err != nil {
			return err
		}
	}
	return nil
}

// modelReason fills r with the model's reason.
func (s *Scorer) modelReason(r *riskv1.Reason, bp uint32) *riskv1.Reason {
	r.Code = ReasonModel
	r.RuleId = s.modelRuleID
	r.Detail = "score " + strconv.FormatUint(uint64(bp), 10) + " bp at or above threshold " + strconv.FormatUint(uint64(s.threshold), 10) + " bp"
	return r
}

// load checks one feature and puts it in the model row and the rules' slots.
func (s *Scorer) load(sc *scratch, f *riskv1.Feature) error {
	name := f.GetName()
	if name == "" {
		return bad("feature without a name")
	}
	var (
		x     float64
		money bool
	)
	switch val := f.GetValue().(type) {
	case *riskv1.Feature_Fixed:
		if val.Fixed == nil {
			return bad("feature %s: fixed without a value", name)
		}
		scale := val.Fixed.GetScale()
		if scale > rules.MaxScale {
			return bad("feature %s: scale %d over %d", name, scale, rules.MaxScale)
		}
		if f.GetAsset() != "" {
			return bad("feature %s: asset %q on a fixed-point value", name, f.GetAsset())
		}
		x = float64(val.Fixed.GetValue()) / pow10[scale]
	case *riskv1.Feature_Units:
		if err := codec.CheckUint256(val.Units); err != nil {
			return fmt.Errorf("score: feature %s: %w: %w", name, err, ErrBadVector)
		}
		d, ok := s.assets[f.GetAsset()]
		switch {
		case ok:
			u, err := strconv.ParseFloat(val.Units, 64)
			if err != nil { // cannot happen for a uint256: it is below 1.2e77
				return fmt.Errorf("score: feature %s: %w: %w", name, err, ErrBadVector)
			}
			x = u / pow10[d]
		case s.unknownNaN && f.GetAsset() != "":
			x = math.NaN() // WithUnknownAssetsMissing
		default:
			return fmt.Errorf("score: feature %s: asset %q: %w: %w", name, f.GetAsset(), ErrUnknownAsset, ErrBadVector)
		}
		money = true
	default:
		return bad("feature %s has no value", name)
	}
	i, ok := s.index[name]
	if !ok {
		return nil // logged, read by neither the model nor the rules
	}
	if sc.seen[i] {
		return bad("feature %s twice", name)
	}
	sc.seen[i] = true
	sl := &s.slots[i]
	if sl.col >= 0 {
		if money != (sl.money == 1) {
			if money {
				return bad("feature %s is money, the model reads it as fixed point", name)
			}
			return bad("feature %s is fixed point, the model reads it as money", name)
		}
		sc.x[sl.col] = x
	}
	if int(i) < s.ruleSlots {
		sc.rslot[i] = f
	}
	return nil
}

// pow10[d] is 10^d as the nearest float64 (strconv.ParseFloat is correctly rounded, as
// Python's float(10**d) is), for every decimals and scale a feature may have.
var pow10 = func() (t [codec.MaxDecimals + 1]float64) {
	for d := range t {
		f, err := strconv.ParseFloat("1e"+strconv.Itoa(d), 64)
		if err != nil {
			panic(err)
		}
		t[d] = f
	}
	return t
}()
