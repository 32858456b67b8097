package features

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestMemStateScan: after random puts and deletes (enough to split and empty chunks),
// every prefix scan visits exactly the keys with that prefix, in order, with their values.
func TestMemStateScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	st, model := NewMemState(), map[string]string{}
	for n := range 20000 {
		k := fmt.Sprintf("%c%03d", 'a'+rng.IntN(4), rng.IntN(1500))
		if rng.IntN(3) == 0 {
			if err := st.Delete([]byte(k)); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		} else {
			v := fmt.Sprint(n)
			if err := st.Put([]byte(k), []byte(v)); err != nil {
				t.Fatal(err)
			}
			model[k] = v
		}
		if n%997 != 0 && n != 19999 {
			continue
		}
		for _, p := range []string{"", "a", "b0", "c1", "d149", "e", "a000"} {
			var got []string
			if err := st.Scan([]byte(p), func(k, v []byte) error {
				got = append(got, string(k)+"="+string(v))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, k := range slices.Sorted(maps.Keys(model)) {
				if strings.HasPrefix(k, p) {
					want = append(want, k+"="+model[k])
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("step %d, prefix %q: scan gave %d keys, want %d", n, p, len(got), len(want))
			}
		}
		if st.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", n, st.Len(), len(model))
		}
	}
}
