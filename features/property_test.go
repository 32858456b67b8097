package features

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// TestRetractionEqualsNeverApplied: for random histories, applying every event in a
// random order and then retracting a random subset leaves the same state as applying
// only the survivors in another order — checked through the vector of every surviving
// event, all features included.
func TestRetractionEqualsNeverApplied(t *testing.T) {
	entities := []string{addrA, addrB, addrC, addrD, addrS}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var events []Event
		for i := range 80 {
			from := entities[rng.IntN(len(entities))]
			to := entities[rng.IntN(len(entities))]
			id := fmt.Sprintf("s%d-tx%d", seed, i)
			at := t0.Add(time.Duration(rng.IntN(3*3600)) * time.Second)
			amount := big.NewInt(int64(1 + rng.IntN(2000)))
			asset := []string{"ETH", "erc20:1:0xusdc"}[rng.IntN(2)]
			events = append(events,
				Event{ID: id, Entity: from, Direction: Out, Counterparty: to, Asset: asset, Amount: amount, Time: at},
				Event{ID: id, Entity: to, Direction: In, Counterparty: from, Asset: asset, Amount: amount, Time: at})
		}
		retracted := map[string]bool{}
		for i := range 80 {
			if rng.IntN(4) == 0 {
				retracted[fmt.Sprintf("s%d-tx%d", seed, i)] = true
			}
		}
		e, err := New(Config{Thresholds: map[string]*big.Int{"ETH": big.NewInt(1500)}, Sanctions: fakeSanctions{addrS: true}})
		if err != nil {
			t.Fatal(err)
		}
		all, survivors := NewMemState(), NewMemState()
		for _, i := range rng.Perm(len(events)) {
			if _, err := e.Apply(all, events[i], time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		for id := range retracted {
			ids = append(ids, id)
		}
		if _, err := e.Retract(all, ids, t0); err != nil {
			t.Fatal(err)
		}
		for _, i := range rng.Perm(len(events)) {
			if !retracted[events[i].ID] {
				if _, err := e.Apply(survivors, events[i], time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, ev := range events {
			if retracted[ev.ID] {
				continue
			}
			got, err := e.Compute(all, ev)
			if err != nil {
				t.Fatal(err)
			}
			want, err := e.Compute(survivors, ev)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("seed %d, %s %s: after retraction\n%v\nnever applied\n%v", seed, ev.ID, ev.Direction, render(got), render(want))
			}
		}
	}
}
