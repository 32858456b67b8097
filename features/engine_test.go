package features

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"testing"
	"time"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

const (
	addrA = "1:0x00000000000000000000000000000000000000aa"
	addrB = "1:0x00000000000000000000000000000000000000bb"
	addrC = "1:0x00000000000000000000000000000000000000cc"
	addrD = "1:0x00000000000000000000000000000000000000dd"
	addrS = "1:0x00000000000000000000000000000000000000ee" // sanctioned
)

type fakeSanctions map[string]bool

func (f fakeSanctions) Sanctioned(e string) bool { return f[e] }
func (f fakeSanctions) Version() string          { return "test-list:1" }

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// harness applies transfers to one State as the processor does: a sender event and a
// recipient event per transfer, with a watermark that is the largest time applied.
type harness struct {
	t         *testing.T
	e         *Engine
	st        *MemState
	watermark time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	e, err := New(Config{
		Thresholds: map[string]*big.Int{"ETH": big.NewInt(1000)},
		Sanctions:  fakeSanctions{addrS: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, e: e, st: NewMemState()}
}

// transfer applies from→to and returns (sender vector, recipient vector).
func (h *harness) transfer(id, from, to string, amount int64, at time.Time) (*riskv1.FeatureVector, *riskv1.FeatureVector, error) {
	h.t.Helper()
	var vecs [2]*riskv1.FeatureVector
	for i, ev := range []Event{
		{ID: id, Entity: from, Direction: Out, Counterparty: to, Asset: "ETH", Amount: big.NewInt(amount), Time: at},
		{ID: id, Entity: to, Direction: In, Counterparty: from, Asset: "ETH", Amount: big.NewInt(amount), Time: at},
	} {
		v, err := h.e.Apply(h.st, ev, h.watermark)
		if err != nil {
			return nil, nil, err
		}
		vecs[i] = v
	}
	if at.After(h.watermark) {
		h.watermark = at
	}
	return vecs[0], vecs[1], nil
}

func (h *harness) must(id, from, to string, amount int64, at time.Time) (*riskv1.FeatureVector, *riskv1.FeatureVector) {
	h.t.Helper()
	s, r, err := h.transfer(id, from, to, amount, at)
	if err != nil {
		h.t.Fatalf("transfer %s: %v", id, err)
	}
	return s, r
}

// render turns a vector into name → "value" (scale-0 fixed), "value e-6" (scale-6
// fixed) or "units asset".
func render(v *riskv1.FeatureVector) map[string]string {
	m := map[string]string{}
	for _, f := range v.GetFeatures() {
		switch x := f.GetValue().(type) {
		case *riskv1.Feature_Fixed:
			s := strconv.FormatInt(x.Fixed.GetValue(), 10)
			if x.Fixed.GetScale() != 0 {
				s += fmt.Sprintf("e-%d", x.Fixed.GetScale())
			}
			m[f.GetName()] = s
		case *riskv1.Feature_Units:
			m[f.GetName()] = x.Units + " " + f.GetAsset()
		}
	}
	return m
}

// expect checks every feature of v: want lists the values that differ from base.
func expect(t *testing.T, step string, v *riskv1.FeatureVector, want map[string]string) {
	t.Helper()
	full := map[string]string{
		"transfers_out_count_1m": "0", "transfers_out_count_1h": "0", "transfers_out_count_24h": "0", "transfers_out_count_7d": "0",
		"transfers_in_count_1m": "0", "transfers_in_count_1h": "0", "transfers_in_count_24h": "0", "transfers_in_count_7d": "0",
		"value_out_sum_1h": "0 ETH", "value_out_sum_24h": "0 ETH", "value_in_sum_1h": "0 ETH", "value_in_sum_24h": "0 ETH",
		"distinct_counterparties_out_1h": "0", "distinct_counterparties_out_24h": "0",
		"seconds_since_last_out": "-1", "seconds_since_last_in": "-1",
		"amount_zscore": "0e-6", "new_counterparty": "0", "new_counterparty_out_ratio_1h": "0e-6",
		"in_out_ratio_24h": "0e-6", "passthrough_ratio_1h": "0e-6", "near_threshold_out_count_24h": "0",
		"sanctioned_counterparty": "0", "sanctioned_exposure_count_7d": "0",
	}
	for k, w := range want {
		if _, ok := full[k]; !ok {
			t.Fatalf("%s: test expects unknown feature %q", step, k)
		}
		full[k] = w
	}
	got := render(v)
	if len(v.GetFeatures()) != len(full) {
		t.Errorf("%s: %d features, want %d", step, len(v.GetFeatures()), len(full))
	}
	for _, k := range slices.Sorted(maps.Keys(full)) {
		if got[k] != full[k] {
			t.Errorf("%s: %s = %q, want %q", step, k, got[k], full[k])
		}
	}
}

// counts sets the four windows of one count feature family.
func counts(prefix string, m1, h1, d1, w1 int) map[string]string {
	return map[string]string{
		prefix + "_1m": strconv.Itoa(m1), prefix + "_1h": strconv.Itoa(h1),
		prefix + "_24h": strconv.Itoa(d1), prefix + "_7d": strconv.Itoa(w1),
	}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// TestAddressActivityExact walks entity A through in-order, out-of-order, too-late and
// retracted transfers and checks every feature of every vector.
func TestAddressActivityExact(t *testing.T) {
	h := newHarness(t)
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	// 1. A→B 100 at t0: A's first transfer.
	v, rb := h.must("tx1", addrA, addrB, 100, sec(0))
	if v.GetEntityId() != addrA || v.GetSubjectEventId() != "tx1" || v.GetFeatureSet() != "address_activity" ||
		v.GetFeatureSetVersion() != 1 || v.GetSanctionsListVersion() != "test-list:1" ||
		!v.GetMeta().GetEventTime().AsTime().Equal(sec(0)) || v.GetMeta().GetEventId() != VectorID(AddressActivity, "tx1", addrA) ||
		v.GetMeta().GetEventId() == rb.GetMeta().GetEventId() {
		t.Fatalf("step 1: bad vector header: %v", v)
	}
	expect(t, "1 A out", v, merge(counts("transfers_out_count", 1, 1, 1, 1), map[string]string{
		"value_out_sum_1h": "100 ETH", "value_out_sum_24h": "100 ETH",
		"distinct_counterparties_out_1h": "1", "distinct_counterparties_out_24h": "1",
		"new_counterparty": "1", "new_counterparty_out_ratio_1h": "1000000e-6",
	}))
	expect(t, "1 B in", rb, merge(counts("transfers_in_count", 1, 1, 1, 1), map[string]string{
		"value_in_sum_1h": "100 ETH", "value_in_sum_24h": "100 ETH",
		"new_counterparty": "1", "in_out_ratio_24h": "1000000e-6",
	}))

	// 2. C→A 200 at +30s.
	_, v = h.must("tx2", addrC, addrA, 200, sec(30))
	expect(t, "2 A in", v, merge(counts("transfers_out_count", 1, 1, 1, 1), counts("transfers_in_count", 1, 1, 1, 1), map[string]string{
		"value_out_sum_1h": "100 ETH", "value_out_sum_24h": "100 ETH", "value_in_sum_1h": "200 ETH", "value_in_sum_24h": "200 ETH",
		"distinct_counterparties_out_1h": "1", "distinct_counterparties_out_24h": "1",
		"seconds_since_last_out": "30", "new_counterparty": "1", "new_counterparty_out_ratio_1h": "1000000e-6",
		"in_out_ratio_24h": "1000000e-6", "passthrough_ratio_1h": "500000e-6",
	}))

	// 3. A→B 950 at +120s: just under the 1000 threshold, B already known.
	v, _ = h.must("tx3", addrA, addrB, 950, sec(120))
	expect(t, "3 A out", v, merge(counts("transfers_out_count", 1, 2, 2, 2), counts("transfers_in_count", 0, 1, 1, 1), map[string]string{
		"value_out_sum_1h": "1050 ETH", "value_out_sum_24h": "1050 ETH", "value_in_sum_1h": "200 ETH", "value_in_sum_24h": "200 ETH",
		"distinct_counterparties_out_1h": "1", "distinct_counterparties_out_24h": "1",
		"seconds_since_last_out": "120", "seconds_since_last_in": "90",
		"new_counterparty_out_ratio_1h": "500000e-6", "in_out_ratio_24h": "500000e-6",
		"passthrough_ratio_1h": "190476e-6", "near_threshold_out_count_24h": "1",
	}))

	// 4. Out of order within grace: A→D 300 at +60s arrives after the +120s event. Its
	// windows end at +60s: tx3 (later) is not in them, tx1 at exactly t0 is not in the
	// 1m window (t0, t0+1m].
	v, _ = h.must("tx4", addrA, addrD, 300, sec(60))
	expect(t, "4 A out (late, in grace)", v, merge(counts("transfers_out_count", 1, 2, 2, 2), counts("transfers_in_count", 1, 1, 1, 1), map[string]string{
		"value_out_sum_1h": "400 ETH", "value_out_sum_24h": "400 ETH", "value_in_sum_1h": "200 ETH", "value_in_sum_24h": "200 ETH",
		"distinct_counterparties_out_1h": "2", "distinct_counterparties_out_24h": "2",
		"seconds_since_last_out": "60", "seconds_since_last_in": "30",
		"new_counterparty": "1", "new_counterparty_out_ratio_1h": "1000000e-6", "in_out_ratio_24h": "500000e-6",
		"passthrough_ratio_1h": "500000e-6",
	}))

	// 5. A→S 10 at +180s, S sanctioned: the late tx4 is in every window now.
	v, _ = h.must("tx5", addrA, addrS, 10, sec(180))
	expect(t, "5 A out to sanctioned", v, merge(counts("transfers_out_count", 1, 4, 4, 4), counts("transfers_in_count", 0, 1, 1, 1), map[string]string{
		"value_out_sum_1h": "1360 ETH", "value_out_sum_24h": "1360 ETH", "value_in_sum_1h": "200 ETH", "value_in_sum_24h": "200 ETH",
		"distinct_counterparties_out_1h": "3", "distinct_counterparties_out_24h": "3",
		"seconds_since_last_out": "60", "seconds_since_last_in": "150",
		// prior out amounts 100, 300, 950: (3·10 − 1350) / √(3·1002500 − 1350²) = −1.2125921…
		"amount_zscore":    "-1212592e-6",
		"new_counterparty": "1", "new_counterparty_out_ratio_1h": "750000e-6", "in_out_ratio_24h": "250000e-6",
		"passthrough_ratio_1h": "147058e-6", "near_threshold_out_count_24h": "1",
		"sanctioned_counterparty": "1", "sanctioned_exposure_count_7d": "1",
	}))

	// 6. Beyond grace: 6 minutes behind the watermark (+180s) is refused, nothing changes.
	before := h.st.Len()
	if _, _, err := h.transfer("tx-late", addrA, addrC, 999, sec(180-360)); !errors.Is(err, ErrLate) {
		t.Fatalf("step 6: got %v, want ErrLate", err)
	}
	if h.st.Len() != before {
		t.Fatalf("step 6: a late event changed the state (%d → %d keys)", before, h.st.Len())
	}

	// 7. A reorg retracts tx3 (the 950 near-threshold transfer to B); then B→A 50 at +240s.
	touched, err := h.e.Retract(h.st, []string{"tx3", "block-hash-not-a-transfer"}, sec(200))
	if err != nil || !slices.Equal(touched, []string{addrA, addrB}) {
		t.Fatalf("step 7: retract touched %v, %v", touched, err)
	}
	// A's history changed: its generation moves on and its refresh vector is tx5's
	// recomputed without tx3, under an id of its own.
	if g, err := h.e.Generation(h.st, addrA); err != nil || g != 1 {
		t.Fatalf("step 7: generation %d, %v; want 1", g, err)
	}
	if g, _ := h.e.Generation(h.st, addrC); g != 0 {
		t.Fatalf("step 7: untouched entity has generation %d", g)
	}
	v, err = h.e.Refresh(h.st, addrA, "reorg-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.GetSubjectEventId() != "tx5" || v.GetMeta().GetEventId() == VectorID(AddressActivity, "tx5", addrA) ||
		!v.GetMeta().GetEventTime().AsTime().Equal(sec(180)) {
		t.Fatalf("step 7: refresh header %v", v)
	}
	expect(t, "7 A refresh", v, merge(counts("transfers_out_count", 1, 3, 3, 3), counts("transfers_in_count", 0, 1, 1, 1), map[string]string{
		"value_out_sum_1h": "410 ETH", "value_out_sum_24h": "410 ETH", "value_in_sum_1h": "200 ETH", "value_in_sum_24h": "200 ETH",
		"distinct_counterparties_out_1h": "3", "distinct_counterparties_out_24h": "3",
		"seconds_since_last_out": "120", "seconds_since_last_in": "150",
		"new_counterparty": "1", "new_counterparty_out_ratio_1h": "1000000e-6", "in_out_ratio_24h": "333333e-6",
		"passthrough_ratio_1h": "487804e-6", "sanctioned_counterparty": "1", "sanctioned_exposure_count_7d": "1",
	}))
	if v, err := h.e.Refresh(h.st, "1:0x00000000000000000000000000000000000000ff", "reorg-1"); v != nil || err != nil {
		t.Fatalf("refresh of an unknown entity: %v, %v", v, err)
	}

	_, v = h.must("tx6", addrB, addrA, 50, sec(240))
	expect(t, "7 A in after retraction", v, merge(counts("transfers_out_count", 0, 3, 3, 3), counts("transfers_in_count", 1, 2, 2, 2), map[string]string{
		"value_out_sum_1h": "410 ETH", "value_out_sum_24h": "410 ETH", "value_in_sum_1h": "250 ETH", "value_in_sum_24h": "250 ETH",
		"distinct_counterparties_out_1h": "3", "distinct_counterparties_out_24h": "3",
		"seconds_since_last_out": "60", "seconds_since_last_in": "210",
		"new_counterparty_out_ratio_1h": "1000000e-6", "in_out_ratio_24h": "666666e-6",
		"passthrough_ratio_1h": "609756e-6", "sanctioned_exposure_count_7d": "1",
	}))

	// 8. Retract tx1 (A's first transfer with B): tx6 (B→A) becomes the first with B.
	// A retraction that arrives before its transfer (tx8) makes the transfer a no-op.
	if _, err := h.e.Retract(h.st, []string{"tx1", "tx8"}, sec(250)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.transfer("tx8", addrA, addrC, 1, sec(250)); !errors.Is(err, ErrRetracted) {
		t.Fatalf("step 8: retracted-first transfer: %v, want ErrRetracted", err)
	}
	v, _ = h.must("tx7", addrA, addrB, 20, sec(300))
	expect(t, "8 A out after second retraction", v, merge(counts("transfers_out_count", 1, 3, 3, 3), counts("transfers_in_count", 0, 2, 2, 2), map[string]string{
		"value_out_sum_1h": "330 ETH", "value_out_sum_24h": "330 ETH", "value_in_sum_1h": "250 ETH", "value_in_sum_24h": "250 ETH",
		"distinct_counterparties_out_1h": "3", "distinct_counterparties_out_24h": "3",
		"seconds_since_last_out": "120", "seconds_since_last_in": "60",
		// prior out amounts 300, 10 only: fewer than 3.
		"new_counterparty_out_ratio_1h": "666666e-6", "in_out_ratio_24h": "666666e-6",
		"passthrough_ratio_1h": "757575e-6", "sanctioned_exposure_count_7d": "1",
	}))

	// 9. A duplicate delivery changes nothing.
	if _, _, err := h.transfer("tx7", addrA, addrB, 20, sec(300)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("step 9: duplicate: %v, want ErrDuplicate", err)
	}

	// 10. Two hours on: only the day and week windows still hold the history.
	v, _ = h.must("tx9", addrA, addrC, 7, sec(300+7200))
	expect(t, "10 A out two hours later", v, merge(counts("transfers_out_count", 1, 1, 4, 4), counts("transfers_in_count", 0, 0, 2, 2), map[string]string{
		"value_out_sum_1h": "7 ETH", "value_out_sum_24h": "337 ETH", "value_in_sum_1h": "0 ETH", "value_in_sum_24h": "250 ETH",
		"distinct_counterparties_out_1h": "1", "distinct_counterparties_out_24h": "4",
		"seconds_since_last_out": "7200", "seconds_since_last_in": "7260",
		// prior out 300, 10, 20 (n=3, Σ=330, Σ²=90500): (3·7−330)/√(3·90500−330²) = −0.7662989…
		"amount_zscore":                 "-766298e-6",
		"new_counterparty_out_ratio_1h": "0e-6", "in_out_ratio_24h": "500000e-6",
		"sanctioned_exposure_count_7d": "1",
	}))

	// 11. Expiry: past the week and the grace, every event goes, counterparties stay.
	for _, e := range []string{addrA, addrB, addrC, addrD, addrS} {
		if _, err := h.e.Expire(h.st, e, sec(300+7200).Add(h.e.Retention())); err != nil {
			t.Fatal(err)
		}
	}
	for k := range h.st.m {
		if k[0] == tagEvent || k[0] == tagIndex {
			t.Errorf("after expiry the state still holds %q", k)
		}
	}
	v, _ = h.must("tx10", addrA, addrC, 5, sec(300+7200).Add(h.e.Retention()+time.Second))
	expect(t, "11 A out after expiry", v, merge(counts("transfers_out_count", 1, 1, 1, 1), map[string]string{
		"value_out_sum_1h": "5 ETH", "value_out_sum_24h": "5 ETH",
		"distinct_counterparties_out_1h": "1", "distinct_counterparties_out_24h": "1",
	}))
}
