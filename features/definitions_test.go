package features

import (
	"fmt"
	"math/big"
	"testing"
	"time"
)

// TestDistinctCounterpartiesExactForSmallSets: the HyperLogLog sketch (sparse mode)
// counts small sets exactly, repeats included, and per window.
func TestDistinctCounterpartiesExactForSmallSets(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 17, 100, 500} {
		st := NewMemState()
		var last Event
		for i := range 2 * n { // every counterparty twice
			last = Event{
				ID: fmt.Sprintf("t%d", i), Entity: addrA, Direction: Out,
				Counterparty: fmt.Sprintf("1:0x%040x", i%n), Asset: "ETH", Amount: big.NewInt(1),
				Time: t0.Add(time.Duration(i) * time.Second),
			}
			if _, err := e.Apply(st, last, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		v, err := e.Compute(st, last)
		if err != nil {
			t.Fatal(err)
		}
		got := render(v)
		want := fmt.Sprint(n)
		if got["distinct_counterparties_out_1h"] != fmt.Sprint(min(n, 3600)) || got["distinct_counterparties_out_24h"] != want {
			t.Errorf("n=%d: distinct 1h %s 24h %s, want %s", n, got["distinct_counterparties_out_1h"], got["distinct_counterparties_out_24h"], want)
		}
	}
}

func TestZScore(t *testing.T) {
	for _, c := range []struct {
		prior []int64
		x     int64
		want  int64
	}{
		{nil, 5, 0},
		{[]int64{1, 2}, 5, 0},           // fewer than 3 points
		{[]int64{4, 4, 4}, 9, 0},        // no spread
		{[]int64{1, 2, 3}, 4, 2449489},  // √6
		{[]int64{1, 2, 3}, 2, 0},        // the mean
		{[]int64{1, 2, 3}, 0, -2449489}, // truncated toward zero
		{[]int64{100, 300, 950}, 10, -1212592},
	} {
		n, s1, s2 := new(big.Int), new(big.Int), new(big.Int)
		for _, p := range c.prior {
			n.Add(n, big.NewInt(1))
			s1.Add(s1, big.NewInt(p))
			s2.Add(s2, big.NewInt(p*p))
		}
		if got := zscore(n, s1, s2, big.NewInt(c.x)); got != c.want {
			t.Errorf("zscore(%v, %d) = %d, want %d", c.prior, c.x, got, c.want)
		}
	}
}
