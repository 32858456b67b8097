package nonce

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// ErrNotReplacement is a transaction that is neither a speed-up nor a cancel of another.
var ErrNotReplacement = errors.New("nonce: not a valid replacement")

// PriceBumpPercent is the minimum fee increase of a replacement, the default of geth's
// transaction pool (txpool.pricebump); a smaller bump is refused by the node.
const PriceBumpPercent = 10

// Classify says whether next, sent by from, replaces prev at the same nonce as a
// speed-up (same type, recipient, value and data) or a cancel (a zero-value transfer to
// from with no data), and refuses anything else. Either way both the fee cap and the
// priority fee (the gas price for legacy transactions) must rise by at least
// PriceBumpPercent, and the chain id must not change. It never returns Original.
func Classify(prev, next *types.Transaction, from common.Address) (Replacement, error) {
	if prev == nil || next == nil {
		return 0, fmt.Errorf("%w: nil transaction", ErrNotReplacement)
	}
	if prev.Nonce() != next.Nonce() {
		return 0, fmt.Errorf("%w: nonce %d is not %d", ErrNotReplacement, next.Nonce(), prev.Nonce())
	}
	if prev.ChainId().Cmp(next.ChainId()) != 0 {
		return 0, fmt.Errorf("%w: chain id changed", ErrNotReplacement)
	}
	if !bumped(prev.GasFeeCap(), next.GasFeeCap()) || !bumped(prev.GasTipCap(), next.GasTipCap()) {
		return 0, fmt.Errorf("%w: fees must rise by at least %d%%", ErrNotReplacement, PriceBumpPercent)
	}
	if next.To() != nil && *next.To() == from && next.Value().Sign() == 0 && len(next.Data()) == 0 {
		return Cancel, nil
	}
	sameTo := (prev.To() == nil) == (next.To() == nil) && (prev.To() == nil || *prev.To() == *next.To())
	if prev.Type() == next.Type() && sameTo && prev.Value().Cmp(next.Value()) == 0 && bytes.Equal(prev.Data(), next.Data()) {
		return SpeedUp, nil
	}
	return 0, fmt.Errorf("%w: recipient, value or data changed and it is not a cancel", ErrNotReplacement)
}

// bumped reports whether next ≥ prev × (100 + PriceBumpPercent) / 100 and next > prev.
func bumped(prev, next *big.Int) bool {
	if next.Cmp(prev) <= 0 {
		return false
	}
	lhs := new(big.Int).Mul(next, big.NewInt(100))
	rhs := new(big.Int).Mul(prev, big.NewInt(100+PriceBumpPercent))
	return lhs.Cmp(rhs) >= 0
}
