package features

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/axiomhq/hyperloglog"
	"google.golang.org/protobuf/proto"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// referenceCompute is the Engine's first Compute, kept as the oracle of the optimised
// one: every event of the entity decoded with decodeStored, every feature a plain loop
// over its window in big integers, the sketch fed every event, lookups uncached.
func referenceCompute(t *testing.T, e *Engine, st State, ev Event) *riskv1.FeatureVector {
	t.Helper()
	evRef := ref(ev.Direction, ev.ID)
	var events []stored
	from := ev.Time.Add(-e.set.Retention())
	prefix := entityPrefix(tagEvent, ev.Entity)
	if err := st.Scan(prefix, func(k, v []byte) error {
		s, err := decodeStored(len(prefix), k, v)
		if err != nil {
			return err
		}
		if s.at.After(from) && !s.at.After(ev.Time) {
			events = append(events, s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	isFirst := func(cp string, at time.Time, r []byte) bool {
		p, _, err := e.pair(st, pairKey(ev.Entity, cp))
		if err != nil {
			t.Fatal(err)
		}
		return at.Equal(p.firstAt) && string(r) == string(p.firstRef)
	}
	sanctioned := func(x string) bool { return e.sanctions != nil && e.sanctions.Sanctioned(x) }
	sum := func(evs []stored, dir Direction) *big.Int {
		s := new(big.Int)
		for _, x := range evs {
			if x.dir() == dir && x.asset == ev.Asset {
				s.Add(s, x.amount)
			}
		}
		return s
	}
	fx := func(v int64, scale uint32) *riskv1.Feature {
		return &riskv1.Feature{Value: &riskv1.Feature_Fixed{Fixed: fixed(v, scale)}}
	}
	vec := &riskv1.FeatureVector{}
	for _, d := range e.set.Features {
		lo := 0
		if d.Window > 0 {
			for lo < len(events) && !events[lo].at.After(ev.Time.Add(-d.Window)) {
				lo++
			}
		} else {
			lo = len(events)
		}
		evs := events[lo:]
		var f *riskv1.Feature
		switch a := d.Aggregate.(type) {
		case Count:
			var n int64
			for _, x := range evs {
				if x.dir() == a.Dir {
					n++
				}
			}
			f = fx(n, 0)
		case Sum:
			s := sum(evs, a.Dir)
			if s.Cmp(maxUint256) > 0 {
				s = maxUint256
			}
			f = &riskv1.Feature{Value: &riskv1.Feature_Units{Units: s.String()}, Asset: ev.Asset}
		case DistinctCounterparties:
			sk := hyperloglog.New14()
			for _, x := range evs {
				if x.dir() == a.Dir {
					sk.Insert([]byte(x.counterparty))
				}
			}
			f = fx(int64(sk.Estimate()), 0)
		case SinceLast:
			v := int64(-1)
			for _, x := range evs {
				if x.dir() == a.Dir && before(x.at, x.ref, ev.Time, evRef) {
					v = int64(ev.Time.Sub(x.at) / time.Second)
				}
			}
			f = fx(v, 0)
		case ZScore:
			n, s1, s2 := new(big.Int), new(big.Int), new(big.Int)
			for _, x := range evs {
				if x.dir() != ev.Direction || x.asset != ev.Asset || !before(x.at, x.ref, ev.Time, evRef) {
					continue
				}
				n.Add(n, big.NewInt(1))
				s1.Add(s1, x.amount)
				s2.Add(s2, new(big.Int).Mul(x.amount, x.amount))
			}
			f = fx(zscore(n, s1, s2, ev.Amount), RatioScale)
		case NewCounterparty:
			v := int64(0)
			if isFirst(ev.Counterparty, ev.Time, evRef) {
				v = 1
			}
			f = fx(v, 0)
		case NewCounterpartyRatio:
			var total, first int64
			for _, x := range evs {
				if x.dir() == a.Dir {
					total++
					if isFirst(x.counterparty, x.at, x.ref) {
						first++
					}
				}
			}
			v := int64(0)
			if total > 0 {
				v = first * 1_000_000 / total
			}
			f = fx(v, RatioScale)
		case InOutRatio:
			var in, out int64
			for _, x := range evs {
				if x.dir() == In {
					in++
				} else {
					out++
				}
			}
			v := in * 1_000_000
			if out > 0 {
				v /= out
			}
			f = fx(v, RatioScale)
		case Passthrough:
			in, out := sum(evs, In), sum(evs, Out)
			v := int64(0)
			if in.Sign() > 0 && out.Sign() > 0 {
				lo, hi := in, out
				if lo.Cmp(hi) > 0 {
					lo, hi = hi, lo
				}
				r := new(big.Int).Mul(lo, ratioOne)
				v = r.Quo(r, hi).Int64()
			}
			f = fx(v, RatioScale)
		case NearThreshold:
			var n int64
			for _, x := range evs {
				th := e.thresholds[x.asset]
				if x.dir() != a.Dir || th == nil {
					continue
				}
				if x.amount.Cmp(th) < 0 && new(big.Int).Mul(x.amount, big.NewInt(10)).Cmp(new(big.Int).Mul(th, big.NewInt(9))) >= 0 {
					n++
				}
			}
			f = fx(n, 0)
		case SanctionedCounterparty:
			v := int64(0)
			if sanctioned(ev.Counterparty) {
				v = 1
			}
			f = fx(v, 0)
		case SanctionedExposure:
			var n int64
			for _, x := range evs {
				if sanctioned(x.counterparty) {
					n++
				}
			}
			f = fx(n, 0)
		default:
			t.Fatalf("no reference for %T", a)
		}
		f.Name = d.Name
		vec.Features = append(vec.Features, f)
	}
	return vec
}

// TestComputeEqualsReference: on random histories — late events, retractions, amounts
// up to 2^256 and around the thresholds, several assets, a sanctioned counterparty,
// many counterparties — every vector Apply returns, and every surviving event's vector
// recomputed at the end, has exactly the features of referenceCompute.
func TestComputeEqualsReference(t *testing.T) {
	entities := []string{addrA, addrB, addrC, addrD, addrS}
	for i := range 40 {
		entities = append(entities, fmt.Sprintf("1:0x%040x", 0x1000+i))
	}
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 11))
		e, err := New(Config{
			Thresholds: map[string]*big.Int{
				"ETH": big.NewInt(1000), "erc20:1:0xusdc": big.NewInt(1001), "erc20:1:0xbig": new(big.Int).Lsh(big.NewInt(3), 70),
			},
			Sanctions: fakeSanctions{addrS: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		st := NewMemState()
		amount := func() *big.Int {
			switch rng.IntN(6) {
			case 0:
				b := make([]byte, 1+rng.IntN(32)) // up to 2^256-1
				for i := range b {
					b[i] = byte(rng.IntN(256))
				}
				return new(big.Int).SetBytes(b)
			case 1:
				return new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(int64(rng.IntN(3))-1)) // around 2^64
			case 2:
				return big.NewInt(int64(895 + rng.IntN(110))) // around the ETH and usdc near-threshold bands
			case 3:
				return new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(3), 70), big.NewInt(int64(rng.IntN(1<<20)))) // below big's threshold
			case 4:
				return new(big.Int).SetUint64(rng.Uint64()) // a full machine word: squares carry
			}
			return big.NewInt(int64(rng.IntN(2000)))
		}
		var applied []Event
		watermark := time.Time{}
		for n := range 400 {
			if n%37 == 36 && len(applied) > 0 { // a reorg of a few transfers
				var ids []string
				for range 1 + rng.IntN(3) {
					ids = append(ids, applied[rng.IntN(len(applied))].ID)
				}
				if _, err := e.Retract(st, ids, watermark); err != nil {
					t.Fatal(err)
				}
				continue
			}
			from, to := entities[rng.IntN(5)], entities[rng.IntN(len(entities))]
			if rng.IntN(2) == 0 {
				from, to = to, from
			}
			// Mostly forward in time, sometimes late within grace, sometimes the same instant.
			at := t0.Add(time.Duration(n*20+rng.IntN(400)-200) * time.Second)
			if n%5 == 0 {
				at = at.Add(time.Duration(rng.IntN(3)) * Day / 3)
			}
			asset := []string{"ETH", "ETH", "erc20:1:0xbig", "erc20:1:0xusdc"}[rng.IntN(4)]
			x := amount()
			id := fmt.Sprintf("s%d-%d", seed, n)
			for _, ev := range []Event{
				{ID: id, Entity: from, Direction: Out, Counterparty: to, Asset: asset, Amount: x, Time: at},
				{ID: id, Entity: to, Direction: In, Counterparty: from, Asset: asset, Amount: x, Time: at},
			} {
				got, err := e.Apply(st, ev, time.Time{})
				if err != nil {
					continue // duplicates or retracted ids: nothing to compare
				}
				applied = append(applied, ev)
				if want := referenceCompute(t, e, st, ev); !sameFeatures(got, want) {
					t.Fatalf("seed %d, apply %s %s:\ngot  %v\nwant %v", seed, ev.ID, ev.Direction, render(got), render(want))
				}
			}
			if at.After(watermark) {
				watermark = at
			}
		}
		for _, ev := range applied {
			got, err := e.Compute(st, ev)
			if err != nil {
				t.Fatal(err)
			}
			if want := referenceCompute(t, e, st, ev); !sameFeatures(got, want) {
				t.Fatalf("seed %d, recompute %s %s:\ngot  %v\nwant %v", seed, ev.ID, ev.Direction, render(got), render(want))
			}
		}
	}
}

func sameFeatures(got, want *riskv1.FeatureVector) bool {
	if len(got.GetFeatures()) != len(want.GetFeatures()) {
		return false
	}
	for i := range want.GetFeatures() {
		if !proto.Equal(got.GetFeatures()[i], want.GetFeatures()[i]) {
			return false
		}
	}
	return true
}

// TestAppendWordsEqualsSetBytes: the allocation-free amount decoding is SetBytes.
func TestAppendWordsEqualsSetBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ws []big.Word
	for n := range 2000 {
		b := make([]byte, n%40)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		if n%3 == 0 && len(b) > 0 {
			b[0] = 0 // leading zeros
		}
		var z big.Int
		ws = appendWords(ws, &z, b)
		if want := new(big.Int).SetBytes(b); z.Cmp(want) != 0 {
			t.Fatalf("%x: got %s, want %s", b, z.String(), want.String())
		}
	}
}
