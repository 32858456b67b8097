package rules

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/weirhq/weir/schemas/codec"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

var (
	// ErrInvalidRule is wrapped by every error of Compile and Parse about a rule set that
	// is not well formed.
	ErrInvalidRule = errors.New("invalid rule")
	// ErrBadFeature is wrapped by the errors of Evaluate about a feature value a rule
	// cannot compare: a fixed-point threshold against a money feature or the reverse, a
	// scale over 18, a money value that is not a canonical uint256 decimal, a feature
	// named twice in one vector.
	ErrBadFeature = errors.New("bad feature")
)

// MaxScale is the largest Fixed scale a feature or a threshold may have (risk.proto).
const MaxScale = 18

// Op is the comparison of a condition: feature Op threshold.
type Op string

// The comparisons a condition may make.
const (
	OpGE Op = ">="
	OpGT Op = ">"
	OpLE Op = "<="
	OpLT Op = "<"
	OpEQ Op = "=="
	OpNE Op = "!="
)

// RuleSet is a list of rules as data: what Parse reads from YAML or JSON and what a Go
// table declares. Its content hash (Version) identifies it in RiskScore.rules_version.
type RuleSet struct {
	// Name names the rule set for people ("address_activity_v1"); it is part of the hash.
	Name string `json:"name" yaml:"name"`
	// Rules are the rules; their order breaks ties between hits of equal decision and
	// severity.
	Rules []Rule `json:"rules" yaml:"rules"`
}

// Rule fires when all of its conditions hold.
type Rule struct {
	// ID names the rule, lower_snake_case and unique in its set ("velocity_count_1h");
	// reasons carry it as "rule:<ID>". Required.
	ID string `json:"id" yaml:"id"`
	// Reason is the reason code of a hit, UPPER_SNAKE ("VELOCITY"). Several rules may
	// share one. Required.
	Reason string `json:"reason" yaml:"reason"`
	// Decision is what a hit recommends: "REVIEW" or "BLOCK". Required.
	Decision string `json:"decision" yaml:"decision"`
	// Severity is how urgent a hit is: "LOW", "MEDIUM", "HIGH" or "CRITICAL". Required.
	Severity string `json:"severity" yaml:"severity"`
	// Description is one line for people (no personal data); Hit.Detail when set,
	// otherwise the conditions are spelled out.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// When are the conditions, all of which must hold. At least one.
	When []Condition `json:"when" yaml:"when"`
}

// Condition compares one feature with a threshold. Exactly one of Fixed and Units is set.
// A condition on a feature the vector does not hold is false: a missing feature never
// fires a rule.
type Condition struct {
	// Feature is the feature name ("transfers_out_count_1h"). Required.
	Feature string `json:"feature" yaml:"feature"`
	// Op is the comparison. Required.
	Op Op `json:"op" yaml:"op"`
	// Fixed is the threshold of a fixed-point feature (count, flag, ratio) as an exact
	// decimal: "20", "0.8", "-1", at most 18 decimal places. It is compared with
	// value/10^scale exactly, in integers.
	Fixed string `json:"fixed,omitempty" yaml:"fixed,omitempty"`
	// Units is the threshold of a money feature in base units, a canonical uint256
	// decimal ("100000000000000000000" is 100 ETH). It is compared exactly, as an integer.
	Units string `json:"units,omitempty" yaml:"units,omitempty"`
	// Asset is the asset of Units ("ETH"); required with Units. A money feature of
	// another asset does not satisfy the condition.
	Asset string `json:"asset,omitempty" yaml:"asset,omitempty"`
}

// Hit is a rule that fired: what a RiskScore's Reason is made of. Hits are owned by their
// Engine and must not be modified.
type Hit struct {
	// ID is Rule.ID.
	ID string
	// RuleID is "rule:" + ID, as Reason.rule_id.
	RuleID string
	// Reason is Rule.Reason, as Reason.code.
	Reason string
	// Detail is Rule.Description, or the conditions spelled out
	// ("transfers_out_count_1h >= 50"), as Reason.detail.
	Detail string
	// Decision is Rule.Decision.
	Decision riskv1.Decision
	// Severity is Rule.Severity.
	Severity riskv1.Severity
}

// Engine evaluates a compiled rule set. It is immutable and safe for concurrent use.
type Engine struct {
	name     string
	version  string
	features []string       // slot -> feature name
	index    map[string]int // feature name -> slot
	rules    []compiled     // strongest first
}

type compiled struct {
	hit   Hit
	conds []cond
}

type cond struct {
	slot    int
	op      Op
	money   bool
	fv      int64  // fixed threshold value
	fs      uint32 // fixed threshold scale
	units   string // money threshold
	asset   string
	feature string
}

var (
	idRE     = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	reasonRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

// Compile checks set and builds its Engine: feature names are resolved to slots once, so
// that evaluation compares integers only. Errors wrap ErrInvalidRule and name the rule.
func Compile(set RuleSet) (*Engine, error) {
	canon, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("rules: hash rule set: %w", err)
	}
	sum := sha256.Sum256(canon)
	e := &Engine{name: set.Name, version: hex.EncodeToString(sum[:]), index: map[string]int{}}
	ids := map[string]bool{}
	for i, r := range set.Rules {
		c, err := e.compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("rules: rule %d (%q): %w", i, r.ID, err)
		}
		if ids[r.ID] {
			return nil, fmt.Errorf("rules: rule %d: id %q declared twice: %w", i, r.ID, ErrInvalidRule)
		}
		ids[r.ID] = true
		e.rules = append(e.rules, c)
	}
	// Strongest first: decision, then severity, then declaration order.
	slices.SortStableFunc(e.rules, func(a, b compiled) int {
		if a.hit.Decision != b.hit.Decision {
			return int(b.hit.Decision) - int(a.hit.Decision)
		}
		return int(b.hit.Severity) - int(a.hit.Severity)
	})
	return e, nil
}

// MustCompile is Compile that panics on error, for rule sets declared in Go.
func MustCompile(set RuleSet) *Engine {
	e, err := Compile(set)
	if err != nil {
		panic(err)
	}
	return e
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidRule)
}

func (e *Engine) compileRule(r Rule) (compiled, error) {
	var c compiled
	if !idRE.MatchString(r.ID) {
		return c, invalid("id %q is not lower_snake_case", r.ID)
	}
	if !reasonRE.MatchString(r.Reason) {
		return c, invalid("reason %q is not UPPER_SNAKE", r.Reason)
	}
	switch r.Decision {
	case "REVIEW":
		c.hit.Decision = riskv1.Decision_DECISION_REVIEW
	case "BLOCK":
		c.hit.Decision = riskv1.Decision_DECISION_BLOCK
	default:
		return c, invalid("decision %q is not REVIEW or BLOCK", r.Decision)
	}
	sev, ok := riskv1.Severity_value["SEVERITY_"+r.Severity]
	if !ok || sev == 0 {
		return c, invalid("severity %q is not LOW, MEDIUM, HIGH or CRITICAL", r.Severity)
	}
	c.hit.Severity = riskv1.Severity(sev)
	if len(r.When) == 0 {
		return c, invalid("no conditions")
	}
	spelled := make([]string, 0, len(r.When))
	for j, w := range r.When {
		k, err := e.compileCond(w)
		if err != nil {
			return c, fmt.Errorf("condition %d: %w", j, err)
		}
		c.conds = append(c.conds, k)
		if k.money {
			spelled = append(spelled, fmt.Sprintf("%s %s %s %s", w.Feature, w.Op, w.Units, w.Asset))
		} else {
			spelled = append(spelled, fmt.Sprintf("%s %s %s", w.Feature, w.Op, w.Fixed))
		}
	}
	c.hit.ID = r.ID
	c.hit.RuleID = "rule:" + r.ID
	c.hit.Reason = r.Reason
	c.hit.Detail = r.Description
	if c.hit.Detail == "" {
		c.hit.Detail = strings.Join(spelled, " and ")
	}
	return c, nil
}

func (e *Engine) compileCond(w Condition) (cond, error) {
	var k cond
	if w.Feature == "" {
		return k, invalid("no feature")
	}
	switch w.Op {
	case OpGE, OpGT, OpLE, OpLT, OpEQ, OpNE:
	default:
		return k, invalid("op %q is not one of >= > <= < == !=", w.Op)
	}
	k.op, k.feature = w.Op, w.Feature
	switch {
	case w.Fixed != "" && w.Units != "":
		return k, invalid("%s: both fixed and units set", w.Feature)
	case w.Units != "":
		if err := codec.CheckUint256(w.Units); err != nil {
			return k, invalid("%s: units: %v", w.Feature, err)
		}
		if w.Asset == "" {
			return k, invalid("%s: units without asset", w.Feature)
		}
		k.money, k.units, k.asset = true, w.Units, w.Asset
	case w.Fixed != "":
		if w.Asset != "" {
			return k, invalid("%s: asset on a fixed threshold", w.Feature)
		}
		v, s, err := ParseDecimal(w.Fixed)
		if err != nil {
			return k, invalid("%s: fixed: %v", w.Feature, err)
		}
		k.fv, k.fs = v, s
	default:
		return k, invalid("%s: neither fixed nor units set", w.Feature)
	}
	slot, ok := e.index[w.Feature]
	if !ok {
		slot = len(e.features)
		e.index[w.Feature] = slot
		e.features = append(e.features, w.Feature)
	}
	k.slot = slot
	return k, nil
}

// ParseDecimal parses an exact decimal ("-12", "0.8", "3.000") into value and scale, so
// that the number is value/10^scale: "0.8" is (8, 1). It accepts an optional sign, digits
// and an optional fraction of at most MaxScale digits; no exponent, spaces or separators.
func ParseDecimal(s string) (value int64, scale uint32, err error) {
	t := s
	neg := false
	if t != "" && (t[0] == '-' || t[0] == '+') {
		neg, t = t[0] == '-', t[1:]
	}
	intPart, frac, dot := strings.Cut(t, ".")
	if intPart == "" || (dot && frac == "") {
		return 0, 0, fmt.Errorf("%q is not a decimal", s)
	}
	if len(frac) > MaxScale {
		return 0, 0, fmt.Errorf("%q has more than %d decimal places", s, MaxScale)
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, 0, fmt.Errorf("%q is not a decimal", s)
			}
		}
	}
	u, err := strconv.ParseUint(intPart+frac, 10, 64)
	if err != nil || u > math.MaxInt64 {
		return 0, 0, fmt.Errorf("%q does not fit a fixed-point int64", s)
	}
	value = int64(u)
	if neg {
		value = -value
	}
	return value, uint32(len(frac)), nil
}

// Name returns RuleSet.Name.
func (e *Engine) Name() string { return e.name }

// Version returns the lowercase hex SHA-256 of the rule set's canonical JSON encoding
// (encoding/json of the RuleSet as given, in declaration order): equal rule sets have equal
// versions whether declared in Go, YAML or JSON, and any change of a threshold, decision or
// order changes it. RiskScore.rules_version carries it.
func (e *Engine) Version() string { return e.version }

// Features returns a copy of the names of the features the rules read, in slot order:
// EvaluateSlots takes the vector's features in this order.
func (e *Engine) Features() []string { return slices.Clone(e.features) }

// NumRules returns the number of rules.
func (e *Engine) NumRules() int { return len(e.rules) }

// maxStackSlots bounds the slot table Evaluate keeps on the stack.
const maxStackSlots = 64

// Evaluate resolves the features of v by name and appends the rules that fire to dst,
// strongest first (BLOCK before REVIEW, then by severity, then in declaration order). It
// does not allocate when the rules read at most 64 features and dst has room, except for
// an error. Errors wrap ErrBadFeature.
func (e *Engine) Evaluate(v *riskv1.FeatureVector, dst []*Hit) ([]*Hit, error) {
	var buf [maxStackSlots]*riskv1.Feature
	var slots []*riskv1.Feature
	if len(e.features) <= maxStackSlots {
		slots = buf[:len(e.features)]
	} else {
		slots = make([]*riskv1.Feature, len(e.features))
	}
	for _, f := range v.GetFeatures() {
		i, ok := e.index[f.GetName()]
		if !ok {
			continue
		}
		if slots[i] != nil {
			return dst, fmt.Errorf("rules: feature %q twice in one vector: %w", f.GetName(), ErrBadFeature)
		}
		slots[i] = f
	}
	return e.EvaluateSlots(slots, dst)
}

// EvaluateSlots is Evaluate with the features already resolved: slots[i] is the feature
// named Features()[i], nil when the vector does not have it. It panics if len(slots) !=
// len(Features()). It does not allocate when dst has room, except for an error.
func (e *Engine) EvaluateSlots(slots []*riskv1.Feature, dst []*Hit) ([]*Hit, error) {
	if len(slots) != len(e.features) {
		panic(fmt.Sprintf("rules: %d slots, engine reads %d features", len(slots), len(e.features)))
	}
	for i := range e.rules {
		r := &e.rules[i]
		fire := true
		for j := range r.conds {
			ok, err := r.conds[j].holds(slots[r.conds[j].slot])
			if err != nil {
				return dst, fmt.Errorf("rules: rule %s: %w", r.hit.ID, err)
			}
			if !ok {
				fire = false
				break
			}
		}
		if fire {
			dst = append(dst, &r.hit)
		}
	}
	return dst, nil
}

// holds reports whether f satisfies the condition; a nil f (missing feature) does not.
func (k *cond) holds(f *riskv1.Feature) (bool, error) {
	if f == nil {
		return false, nil
	}
	switch val := f.GetValue().(type) {
	case *riskv1.Feature_Fixed:
		if k.money {
			return false, fmt.Errorf("%s is fixed-point, the rule compares money: %w", k.feature, ErrBadFeature)
		}
		s := val.Fixed.GetScale()
		if s > MaxScale {
			return false, fmt.Errorf("%s has scale %d, over %d: %w", k.feature, s, MaxScale, ErrBadFeature)
		}
		return k.op.test(CompareFixed(val.Fixed.GetValue(), s, k.fv, k.fs)), nil
	case *riskv1.Feature_Units:
		if !k.money {
			return false, fmt.Errorf("%s is money, the rule compares a fixed-point value: %w", k.feature, ErrBadFeature)
		}
		if err := codec.CheckUint256(val.Units); err != nil {
			return false, fmt.Errorf("%s: %w: %w", k.feature, err, ErrBadFeature)
		}
		if f.GetAsset() != k.asset {
			return false, nil
		}
		return k.op.test(CompareUnits(val.Units, k.units)), nil
	}
	return false, fmt.Errorf("%s has no value: %w", k.feature, ErrBadFeature)
}

func (op Op) test(c int) bool {
	switch op {
	case OpGE:
		return c >= 0
	case OpGT:
		return c > 0
	case OpLE:
		return c <= 0
	case OpLT:
		return c < 0
	case OpEQ:
		return c == 0
	case OpNE:
		return c != 0
	}
	return false
}

// CompareUnits compares two canonical uint256 decimals (codec.CheckUint256) as integers:
// -1 if a < b, 0 if equal, +1 if a > b. Canonical decimals have no leading zeros, so the
// longer is the larger and equal lengths compare as strings. It does not allocate.
func CompareUnits(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// pow10 holds 10^0 .. 10^18, all of which fit a uint64.
var pow10 = [MaxScale + 1]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// CompareFixed compares a/10^as with b/10^bs exactly: -1, 0 or +1. Scales must be at most
// MaxScale. The magnitudes are brought to one scale in 128 bits, so nothing overflows
// or rounds. It does not allocate.
func CompareFixed(a int64, as uint32, b int64, bs uint32) int {
	if as == bs {
		return cmp.Compare(a, b)
	}
	sa, sb := sign(a), sign(b)
	if sa != sb || sa == 0 {
		return cmp.Compare(int64(sa), int64(sb))
	}
	ma, mb := abs(a), abs(b)
	var ahi, alo, bhi, blo uint64
	if as < bs {
		ahi, alo = bits.Mul64(ma, pow10[bs-as])
		bhi, blo = 0, mb
	} else {
		ahi, alo = 0, ma
		bhi, blo = bits.Mul64(mb, pow10[as-bs])
	}
	c := 0
	switch {
	case ahi != bhi:
		c = cmp.Compare(ahi, bhi)
	default:
		c = cmp.Compare(alo, blo)
	}
	if sa < 0 {
		c = -c
	}
	return c
}

func sign(x int64) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// abs returns |x| as a uint64; |MinInt64| = 2^63 fits.
func abs(x int64) uint64 {
	if x < 0 {
		return -uint64(x)
	}
	return uint64(x)
}
