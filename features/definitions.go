package features

import (
	"math"
	"math/big"
	"math/bits"
	"time"

	"github.com/axiomhq/hyperloglog"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// Direction is which side of a transfer an entity is on.
type Direction uint8

// Directions. The values are part of the State layout: do not renumber.
const (
	// Out: the entity sent the transfer.
	Out Direction = 1
	// In: the entity received it.
	In Direction = 2
)

func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	}
	return "unknown"
}

// RatioScale is the Fixed scale of every ratio feature: 6 decimal places, truncated
// toward zero.
const RatioScale = 6

var ratioOne = big.NewInt(1_000_000)

// Definition declares one feature: its name, the sliding window of event time it
// aggregates — (t-Window, t] for a vector computed at an event at t — and how.
// Window 0 means the feature looks only at the triggering event (and the state kept
// about its counterparty).
type Definition struct {
	Name      string
	Window    time.Duration
	Aggregate Aggregate
}

// Set is a versioned list of Definitions over one kind of entity: the unit a model is
// trained on. Names are unique within a Set.
type Set struct {
	Name    string
	Version uint32
	Entity  riskv1.EntityType
	// Features in the order they appear in every vector.
	Features []Definition
}

// Retention returns the longest window of the set: how far back an entity's events
// are kept (plus the grace period).
func (s Set) Retention() time.Duration {
	var r time.Duration
	for _, d := range s.Features {
		r = max(r, d.Window)
	}
	return r
}

// Aggregate computes one feature from the events of the entity in its window, in log
// order (time, direction, event id), the triggering event among them.
type Aggregate interface {
	compute(q *query, events []stored) *riskv1.Feature
}

// Windows used by AddressActivity.
const (
	Minute = time.Minute
	Hour   = time.Hour
	Day    = 24 * time.Hour
	Week   = 7 * Day
)

// AddressActivity is feature set "address_activity" version 1: the activity of a chain
// address computed at every transfer it sends (direction out) or receives (in). Money
// features are in the asset of the triggering transfer.
var AddressActivity = Set{
	Name:    "address_activity",
	Version: 1,
	Entity:  riskv1.EntityType_ENTITY_TYPE_ADDRESS,
	Features: []Definition{
		{"transfers_out_count_1m", Minute, Count{Dir: Out}},
		{"transfers_out_count_1h", Hour, Count{Dir: Out}},
		{"transfers_out_count_24h", Day, Count{Dir: Out}},
		{"transfers_out_count_7d", Week, Count{Dir: Out}},
		{"transfers_in_count_1m", Minute, Count{Dir: In}},
		{"transfers_in_count_1h", Hour, Count{Dir: In}},
		{"transfers_in_count_24h", Day, Count{Dir: In}},
		{"transfers_in_count_7d", Week, Count{Dir: In}},
		{"value_out_sum_1h", Hour, Sum{Dir: Out}},
		{"value_out_sum_24h", Day, Sum{Dir: Out}},
		{"value_in_sum_1h", Hour, Sum{Dir: In}},
		{"value_in_sum_24h", Day, Sum{Dir: In}},
		{"distinct_counterparties_out_1h", Hour, DistinctCounterparties{Dir: Out}},
		{"distinct_counterparties_out_24h", Day, DistinctCounterparties{Dir: Out}},
		{"seconds_since_last_out", Week, SinceLast{Dir: Out}},
		{"seconds_since_last_in", Week, SinceLast{Dir: In}},
		{"amount_zscore", Week, ZScore{}},
		{"new_counterparty", 0, NewCounterparty{}},
		{"new_counterparty_out_ratio_1h", Hour, NewCounterpartyRatio{Dir: Out}},
		{"in_out_ratio_24h", Day, InOutRatio{}},
		{"passthrough_ratio_1h", Hour, Passthrough{}},
		{"near_threshold_out_count_24h", Day, NearThreshold{Dir: Out}},
		{"sanctioned_counterparty", 0, SanctionedCounterparty{}},
		{"sanctioned_exposure_count_7d", Week, SanctionedExposure{}},
	},
}

func fixed(v int64, scale uint32) *riskv1.Fixed { return &riskv1.Fixed{Value: v, Scale: scale} }

func clampInt64(x *big.Int) int64 {
	switch {
	case x.IsInt64():
		return x.Int64()
	case x.Sign() > 0:
		return math.MaxInt64
	}
	return math.MinInt64
}

// maxUint256 caps a money sum, which Feature.units must fit.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// Count is the number of events in the window in direction Dir (Fixed scale 0).
type Count struct{ Dir Direction }

func (a Count) compute(q *query, evs []stored) *riskv1.Feature {
	var n int64
	for i := range evs {
		if evs[i].dir() == a.Dir {
			n++
		}
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(n, 0)}}
}

// Sum is the sum of amounts in direction Dir and in the triggering event's asset, as
// units of that asset (saturating at 2^256-1).
type Sum struct{ Dir Direction }

func (a Sum) compute(q *query, evs []stored) *riskv1.Feature {
	s := sumOf(evs, a.Dir, q.ev.Asset)
	if s.Cmp(maxUint256) > 0 {
		s = maxUint256
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Units{Units: s.String()}, Asset: q.ev.Asset}
}

func sumOf(evs []stored, dir Direction, asset string) *big.Int {
	var s acc
	for i := range evs {
		if evs[i].dir() == dir && evs[i].asset == asset {
			s.add(evs[i].amount)
		}
	}
	return s.result()
}

// acc is an exact sum of non-negative big.Ints that adds those below 2^64 in two
// machine words, touching big arithmetic only for larger ones. The zero value is 0.
type acc struct {
	lo, hi uint64   // hi·2^64 + lo: at most 2^64 addends below 2^64, so hi cannot overflow
	big    *big.Int // the larger addends, nil when none
}

func (a *acc) add(x *big.Int) {
	if x.IsUint64() {
		var c uint64
		a.lo, c = bits.Add64(a.lo, x.Uint64(), 0)
		a.hi += c
		return
	}
	if a.big == nil {
		a.big = new(big.Int)
	}
	a.big.Add(a.big, x)
}

// addProduct adds x² (x below 2^64) into the words top·2^128 + hi·2^64 + lo; top
// counts the carries out of hi (at most one per addend, so it cannot overflow).
func (a *acc) addProduct(x uint64, top *uint64) {
	h, l := bits.Mul64(x, x)
	var c uint64
	a.lo, c = bits.Add64(a.lo, l, 0)
	a.hi, c = bits.Add64(a.hi, h, c)
	*top += c
}

func (a *acc) result() *big.Int { return a.resultTop(0) }

// resultTop returns top·2^128 + hi·2^64 + lo + big.
func (a *acc) resultTop(top uint64) *big.Int {
	s := new(big.Int).SetUint64(top)
	s.Lsh(s, 64)
	s.Add(s, new(big.Int).SetUint64(a.hi))
	s.Lsh(s, 64)
	s.Add(s, new(big.Int).SetUint64(a.lo))
	if a.big != nil {
		s.Add(s, a.big)
	}
	return s
}

// DistinctCounterparties estimates the number of distinct counterparties in direction
// Dir with a HyperLogLog sketch (precision 14; sparse, so exact in practice below a few
// thousand). The sketch is built from the window's kept events at each computation: a
// sketch cannot subtract, and rebuilding it is what lets windows slide and retractions
// undo (see the package doc).
type DistinctCounterparties struct{ Dir Direction }

func (a DistinctCounterparties) compute(q *query, evs []stored) *riskv1.Feature {
	sk := hyperloglog.New14()
	// Each counterparty is inserted once: inserting it again leaves the sketch's set of
	// hashes, and so its estimate, unchanged.
	q.stamp++
	for i := range evs {
		if evs[i].dir() != a.Dir {
			continue
		}
		if c := &q.cps[evs[i].cp]; c.seen != q.stamp {
			c.seen = q.stamp
			sk.Insert(c.b)
		}
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(int64(sk.Estimate()), 0)}}
}

// SinceLast is the whole seconds (truncated) from the latest event in direction Dir
// before the triggering one (log order) to the triggering one; -1 when there is none
// within the window (the kept history).
type SinceLast struct{ Dir Direction }

func (a SinceLast) compute(q *query, evs []stored) *riskv1.Feature {
	v := int64(-1)
	// The latest event before the triggering one: the first from the end (log order).
	for i := len(evs) - 1; i >= 0; i-- {
		e := &evs[i]
		if e.dir() == a.Dir && before(e.at, e.ref, q.ev.Time, q.ref) {
			v = int64(q.ev.Time.Sub(e.at) / time.Second)
			break
		}
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(v, 0)}}
}

// ZScore is (x - mean) / stddev (population) of the triggering amount x against the
// amounts of the entity's earlier events in the window with the same direction and
// asset, at scale 6 truncated toward zero; 0 with fewer than 3 earlier events or when
// they are all equal. Computed exactly in integers: z = (n·x − Σ) / √(n·Σx² − Σ²).
type ZScore struct{}

func (ZScore) compute(q *query, evs []stored) *riskv1.Feature {
	// Amounts below 2^64 are summed in machine words (acc; their squares in three
	// words), larger ones in big.Ints: the sums are exact either way.
	var count int64
	var a1, a2 acc
	var top uint64
	s2big, sq := new(big.Int), new(big.Int)
	for i := range evs {
		e := &evs[i]
		if e.dir() != q.ev.Direction || e.asset != q.ev.Asset || !before(e.at, e.ref, q.ev.Time, q.ref) {
			continue
		}
		count++
		a1.add(e.amount)
		if e.amount.IsUint64() {
			a2.addProduct(e.amount.Uint64(), &top)
		} else {
			s2big.Add(s2big, sq.Mul(e.amount, e.amount))
		}
	}
	n, s1, s2 := big.NewInt(count), a1.result(), a2.resultTop(top)
	s2.Add(s2, s2big)
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(zscore(n, s1, s2, q.ev.Amount), RatioScale)}}
}

func zscore(n, s1, s2, x *big.Int) int64 {
	if n.Cmp(big.NewInt(3)) < 0 {
		return 0
	}
	d := new(big.Int).Mul(n, s2)
	d.Sub(d, new(big.Int).Mul(s1, s1))
	if d.Sign() <= 0 {
		return 0
	}
	num := new(big.Int).Mul(n, x)
	num.Sub(num, s1)
	// z·10^6 = num·10^6/√d = num·10^18 / √(d·10^24); the square root is floored, which
	// moves the result by far less than one unit of the last place for any real amount.
	root := new(big.Int).Sqrt(d.Mul(d, new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil)))
	num.Mul(num, new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	return clampInt64(num.Quo(num, root))
}

// NewCounterparty is 1 when the triggering event is the entity's first (in log order)
// with its counterparty, in either direction, else 0.
type NewCounterparty struct{}

func (NewCounterparty) compute(q *query, _ []stored) *riskv1.Feature {
	v := int64(0)
	if q.isFirst(q.ev.Counterparty, q.ev.Time, q.ref) {
		v = 1
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(v, 0)}}
}

// NewCounterpartyRatio is the share of the window's events in direction Dir that were
// the entity's first with their counterparty (scale 6); 0 when there are none.
type NewCounterpartyRatio struct{ Dir Direction }

func (a NewCounterpartyRatio) compute(q *query, evs []stored) *riskv1.Feature {
	var total, first int64
	for i := range evs {
		e := &evs[i]
		if e.dir() != a.Dir {
			continue
		}
		total++
		if q.isFirstID(e.cp, e.at, e.ref) {
			first++
		}
	}
	v := int64(0)
	if total > 0 {
		v = first * 1_000_000 / total
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(v, RatioScale)}}
}

// InOutRatio is incoming count / outgoing count in the window (scale 6); with no
// outgoing events it is the incoming count (× 10^6).
type InOutRatio struct{}

func (InOutRatio) compute(q *query, evs []stored) *riskv1.Feature {
	var in, out int64
	for i := range evs {
		if evs[i].dir() == In {
			in++
		} else {
			out++
		}
	}
	v := in * 1_000_000
	if out > 0 {
		v /= out
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(v, RatioScale)}}
}

// Passthrough is min(in sum, out sum) / max(in sum, out sum) in the window, in the
// triggering event's asset (scale 6); 0 when either sum is 0. Near 1: what came in went
// out (a mule or a peel chain).
type Passthrough struct{}

func (Passthrough) compute(q *query, evs []stored) *riskv1.Feature {
	in, out := sumOf(evs, In, q.ev.Asset), sumOf(evs, Out, q.ev.Asset)
	v := int64(0)
	if in.Sign() > 0 && out.Sign() > 0 {
		lo, hi := in, out
		if lo.Cmp(hi) > 0 {
			lo, hi = hi, lo
		}
		r := new(big.Int).Mul(lo, ratioOne)
		v = r.Quo(r, hi).Int64()
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(v, RatioScale)}}
}

// NearThreshold counts the window's events in direction Dir whose amount is in
// [90%, 100%) of the reporting threshold of their asset (Config.Thresholds); assets
// without a threshold never count. Structuring keeps amounts just under it.
type NearThreshold struct{ Dir Direction }

func (a NearThreshold) compute(q *query, evs []stored) *riskv1.Feature {
	var n int64
	for i := range evs {
		e := &evs[i]
		if e.dir() != a.Dir {
			continue
		}
		t := q.near[e.aid] // threshold, ceil(threshold·9/10)
		if t[0] == nil {
			continue
		}
		// amount·10 >= t·9, as amount >= ceil(t·9/10) (Engine.nearLow).
		if e.amount.Cmp(t[0]) < 0 && e.amount.Cmp(t[1]) >= 0 {
			n++
		}
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(n, 0)}}
}

// SanctionedCounterparty is 1 when the triggering event's counterparty is on the
// sanctions list, else 0.
type SanctionedCounterparty struct{}

func (SanctionedCounterparty) compute(q *query, _ []stored) *riskv1.Feature {
	v := int64(0)
	if q.sanctioned(q.ev.Counterparty) {
		v = 1
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(v, 0)}}
}

// SanctionedExposure counts the window's events, both directions, whose counterparty is
// on the sanctions list as loaded now (a list update applies to the kept history).
type SanctionedExposure struct{}

func (SanctionedExposure) compute(q *query, evs []stored) *riskv1.Feature {
	var n int64
	for i := range evs {
		if q.sanctionedID(evs[i].cp) {
			n++
		}
	}
	return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(n, 0)}}
}
