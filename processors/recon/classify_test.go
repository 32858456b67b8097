package recon

import (
	"slices"
	"testing"
)

func TestClassify(t *testing.T) {
	eth := func(v string) transferRec { return transferRec{Value: v, Asset: "ETH"} }
	late := func(v string) transferRec { return transferRec{Value: v, Asset: "ETH", Late: true} }
	other := transferRec{Value: "5", Asset: usdc}
	tests := []struct {
		name      string
		kind      string
		transfers []transferRec
		want      []role
	}{
		{"exact", subjIntent, []transferRec{eth("100")}, []role{roleMatched}},
		{"partial then top-up", subjIntent, []transferRec{eth("40"), eth("60")}, []role{roleMatched, roleMatched}},
		{"over in one", subjIntent, []transferRec{eth("150")}, []role{roleMatched}},
		{"paid then more", subjIntent, []transferRec{eth("100"), eth("1"), eth("100")}, []role{roleMatched, roleDuplicate, roleDuplicate}},
		{"over then more", subjIntent, []transferRec{eth("60"), eth("60"), eth("1")}, []role{roleMatched, roleMatched, roleDuplicate}},
		{"other asset never counts", subjIntent, []transferRec{other, eth("100"), other}, []role{roleWrongAsset, roleMatched, roleWrongAsset}},
		{"late when unpaid", subjIntent, []transferRec{eth("40"), late("60")}, []role{roleMatched, roleLate}},
		{"paid beats late", subjIntent, []transferRec{eth("100"), late("60")}, []role{roleMatched, roleDuplicate}},
		{"payout sums everything", subjPayout, []transferRec{eth("100"), eth("100")}, []role{roleMatched, roleMatched}},
		{"uint256 max", subjIntent, []transferRec{eth("115792089237316195423570985008687907853269984665640564039457584007913129639935")}, []role{roleMatched}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &subject{Kind: tt.kind, Value: "100", Asset: "ETH", Transfers: tt.transfers}
			if got := classify(s); !slices.Equal(got, tt.want) {
				t.Errorf("classify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBroadcastKeys(t *testing.T) {
	for _, n := range []int32{1, 2, 6, 12, 64} {
		keys := broadcastKeys(n)
		if len(keys) != int(n) {
			t.Fatalf("%d partitions: %d keys", n, len(keys))
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[string(k)] {
				t.Fatalf("%d partitions: key %q twice", n, k)
			}
			seen[string(k)] = true
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := (Config{App: "bad name"}).Validate(); err == nil {
		t.Error("app with a space: no error")
	}
	if err := (Config{Replicas: -2}).Validate(); err == nil {
		t.Error("replicas -2: no error")
	}
	c := Config{Depths: map[uint64]uint64{5: 0}}.withDefaults()
	if c.depth(5) != 0 || c.depth(1) != DefaultDepth {
		t.Errorf("depths: chain 5 %d, chain 1 %d", c.depth(5), c.depth(1))
	}
}
