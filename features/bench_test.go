package features

import (
	"fmt"
	"math/big"
	"testing"
	"time"
)

// BenchmarkApply measures one event of an entity that already holds history events in
// its 7-day log (spread over 50 counterparties): the cost grows with the history, which
// is the scan every vector makes.
func BenchmarkApply(b *testing.B) {
	for _, history := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			e, err := New(Config{Thresholds: map[string]*big.Int{"ETH": big.NewInt(1000)}})
			if err != nil {
				b.Fatal(err)
			}
			st := NewMemState()
			ev := func(i int) Event {
				return Event{
					ID: fmt.Sprintf("tx%d", i), Entity: addrA, Direction: Direction(1 + i%2),
					Counterparty: fmt.Sprintf("1:0x%040x", i%50), Asset: "ETH", Amount: big.NewInt(int64(i%1000 + 1)),
					Time: t0.Add(time.Duration(i) * time.Minute),
				}
			}
			for i := range history {
				if _, err := e.Apply(st, ev(i), time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				x := ev(history + i)
				x.Time = t0.Add(time.Duration(history) * time.Minute) // same instant: the log does not grow past the window
				if _, err := e.Apply(st, x, time.Time{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := e.Retract(st, []string{x.ID}, x.Time); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkCompute measures Compute alone (no write, no timer stops) at an event of an
// entity that holds history events in its 7-day log, spread over 50 counterparties.
func BenchmarkCompute(b *testing.B) {
	for _, history := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			e, err := New(Config{Thresholds: map[string]*big.Int{"ETH": big.NewInt(1000)}})
			if err != nil {
				b.Fatal(err)
			}
			st := NewMemState()
			var last Event
			for i := range history {
				last = Event{
					ID: fmt.Sprintf("tx%d", i), Entity: addrA, Direction: Direction(1 + i%2),
					Counterparty: fmt.Sprintf("1:0x%040x", i%50), Asset: "ETH", Amount: big.NewInt(int64(i%1000 + 1)),
					Time: t0.Add(time.Duration(i) * time.Minute),
				}
				if _, err := e.Apply(st, last, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := e.Compute(st, last); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
