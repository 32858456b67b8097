package nonce_test

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/weirhq/weir/signer/nonce"
)

func TestClassify(t *testing.T) {
	from := alice
	merchant := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	tx := func(nonceV uint64, tip, cap int64, to common.Address, value int64, data []byte) *types.Transaction {
		return types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(chain), Nonce: nonceV, GasTipCap: big.NewInt(tip),
			GasFeeCap: big.NewInt(cap), Gas: 50000, To: &to, Value: big.NewInt(value), Data: data})
	}
	prev := tx(4, 100, 1000, merchant, 7, []byte{1})
	cases := []struct {
		name string
		next *types.Transaction
		want nonce.Replacement
		err  bool
	}{
		{"speed-up", tx(4, 110, 1100, merchant, 7, []byte{1}), nonce.SpeedUp, false},
		{"cancel", tx(4, 200, 2000, from, 0, nil), nonce.Cancel, false},
		{"bump under 10%", tx(4, 109, 1100, merchant, 7, []byte{1}), 0, true},
		{"fee cap not raised", tx(4, 200, 1000, merchant, 7, []byte{1}), 0, true},
		{"other recipient", tx(4, 200, 2000, bob, 7, []byte{1}), 0, true},
		{"other value", tx(4, 200, 2000, merchant, 8, []byte{1}), 0, true},
		{"other data", tx(4, 200, 2000, merchant, 7, []byte{2}), 0, true},
		{"cancel with value", tx(4, 200, 2000, from, 1, nil), 0, true},
		{"other nonce", tx(5, 200, 2000, merchant, 7, []byte{1}), 0, true},
		{"legacy speed-up of a dynamic-fee tx", types.NewTx(&types.LegacyTx{Nonce: 4, GasPrice: big.NewInt(2000), Gas: 50000,
			To: &merchant, Value: big.NewInt(7), Data: []byte{1}}), 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := nonce.Classify(prev, c.next, from)
			if c.err {
				if !errors.Is(err, nonce.ErrNotReplacement) {
					t.Fatalf("Classify = %v %v, want ErrNotReplacement", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Classify = %v %v, want %v", got, err, c.want)
			}
		})
	}
}
