package txsign

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
)

// Signer signs 32-byte digests with one secp256k1 key.
//
// Sign returns 65 bytes R || S || V with V in {0, 1} (27 and 28 are accepted too) and S
// in the lower half of the curve order. Implementations must be safe for concurrent use
// if the caller shares them between goroutines; this package calls Sign once per
// signature and never retains the result.
type Signer interface {
	Sign(ctx context.Context, digest [32]byte) ([]byte, error)
	Address() common.Address
}

// Errors returned by this package, wrapped with details; test with errors.Is.
var (
	// ErrInvalidTx is a transaction refused before signing: a missing or out-of-range
	// field, or fees that make no sense.
	ErrInvalidTx = errors.New("txsign: invalid transaction")
	// ErrChainID is a chain id that is missing, not positive, or different from the
	// one the caller signs for.
	ErrChainID = errors.New("txsign: chain id mismatch")
	// ErrUnsupportedType is a transaction type other than legacy and EIP-1559.
	ErrUnsupportedType = errors.New("txsign: unsupported transaction type")
	// ErrBadSignature is a signature from the Signer that is malformed (length, V, R,
	// high S) or does not recover to Signer.Address.
	ErrBadSignature = errors.New("txsign: bad signature from signer")
)

// SignTx validates tx for chainID, signs its EIP-155 / EIP-1559 signing hash
// (types.LatestSignerForChainID) through s and returns the signed copy, after checking
// that the sender recovers to s.Address(). tx must be a legacy or dynamic-fee
// transaction; any signature it already carries is replaced. It blocks for as long as
// s.Sign does and is safe for concurrent use if s is.
func SignTx(ctx context.Context, s Signer, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	if err := Validate(tx, chainID); err != nil {
		return nil, err
	}
	signer := types.LatestSignerForChainID(chainID)
	digest := signer.Hash(tx)
	sig, err := signDigest(ctx, s, digest)
	if err != nil {
		return nil, err
	}
	signed, err := tx.WithSignature(signer, sig)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	// signDigest has recovered s.Address() from sig over digest, which is the signed
	// transaction's signing hash: checking that the transaction holds exactly sig's R, S
	// and V is that check again without a second public-key recovery (about a fifth of
	// the signer's CPU per transaction).
	if v, r, ss := signed.RawSignatureValues(); r.Cmp(new(big.Int).SetBytes(sig[:32])) != 0 ||
		ss.Cmp(new(big.Int).SetBytes(sig[32:64])) != 0 || !vMatches(tx.Type(), chainID, v, sig[64]) {
		return nil, fmt.Errorf("%w: the signed transaction does not carry the signature", ErrBadSignature)
	}
	return signed, nil
}

// vMatches reports whether v, as a transaction of type typ for chainID stores it, encodes
// the recovery id rec: rec for typed transactions, rec + 35 + 2 × chainID for EIP-155
// legacy ones.
func vMatches(typ uint8, chainID, v *big.Int, rec byte) bool {
	want := new(big.Int).SetUint64(uint64(rec))
	if typ == types.LegacyTxType {
		want.Add(want, new(big.Int).Add(big.NewInt(35), new(big.Int).Lsh(chainID, 1)))
	}
	return v.Cmp(want) == 0
}

// Validate checks tx before it is signed for chainID: the type is legacy or EIP-1559,
// an EIP-1559 chain id equals chainID, gas covers the intrinsic minimum of a plain
// transfer (21000, or 53000 for a contract creation), fees are positive, the priority
// fee does not exceed the fee cap, and value and gas × fee cap + value fit in 256 bits.
// It does not know the account's balance or the chain's base fee.
func Validate(tx *types.Transaction, chainID *big.Int) error {
	if tx == nil {
		return fmt.Errorf("%w: nil transaction", ErrInvalidTx)
	}
	if chainID == nil || chainID.Sign() <= 0 {
		return fmt.Errorf("%w: signing chain id %v is not positive", ErrChainID, chainID)
	}
	if chainID.BitLen() > 64 {
		return fmt.Errorf("%w: signing chain id %v does not fit in 64 bits", ErrChainID, chainID)
	}
	var feeCap *big.Int
	switch tx.Type() {
	case types.LegacyTxType:
		feeCap = tx.GasPrice()
		if err := positive("gas price", feeCap); err != nil {
			return err
		}
	case types.DynamicFeeTxType:
		if id := tx.ChainId(); id == nil || id.Sign() == 0 {
			return fmt.Errorf("%w: transaction has no chain id", ErrChainID)
		} else if id.Cmp(chainID) != 0 {
			return fmt.Errorf("%w: transaction is for chain %v, signing for chain %v", ErrChainID, id, chainID)
		}
		feeCap = tx.GasFeeCap()
		if err := positive("max fee per gas", feeCap); err != nil {
			return err
		}
		tip := tx.GasTipCap()
		if tip == nil || tip.Sign() < 0 {
			return fmt.Errorf("%w: max priority fee per gas %v is missing or negative", ErrInvalidTx, tip)
		}
		if tip.Cmp(feeCap) > 0 {
			return fmt.Errorf("%w: max priority fee per gas %v exceeds max fee per gas %v", ErrInvalidTx, tip, feeCap)
		}
	default:
		return fmt.Errorf("%w: type %d (only legacy and EIP-1559 are signed)", ErrUnsupportedType, tx.Type())
	}
	if feeCap.BitLen() > 256 {
		return fmt.Errorf("%w: fee %v overflows 256 bits", ErrInvalidTx, feeCap)
	}
	minGas := params.TxGas
	if tx.To() == nil {
		minGas = params.TxGasContractCreation
		if len(tx.Data()) == 0 {
			return fmt.Errorf("%w: contract creation without code", ErrInvalidTx)
		}
	}
	if tx.Gas() < minGas {
		return fmt.Errorf("%w: gas limit %d below the intrinsic minimum %d", ErrInvalidTx, tx.Gas(), minGas)
	}
	value := tx.Value()
	if value == nil || value.Sign() < 0 {
		return fmt.Errorf("%w: value %v is missing or negative", ErrInvalidTx, value)
	}
	if value.BitLen() > 256 {
		return fmt.Errorf("%w: value %v overflows 256 bits", ErrInvalidTx, value)
	}
	cost := new(big.Int).Mul(new(big.Int).SetUint64(tx.Gas()), feeCap)
	cost.Add(cost, value)
	if cost.BitLen() > 256 {
		return fmt.Errorf("%w: gas × fee + value overflows 256 bits", ErrInvalidTx)
	}
	return nil
}

func positive(name string, v *big.Int) error {
	if v == nil || v.Sign() <= 0 {
		return fmt.Errorf("%w: %s %v is missing, zero or negative", ErrInvalidTx, name, v)
	}
	return nil
}

// signDigest has s sign digest and returns the 65-byte signature with V in {0, 1},
// refusing one that is malformed, has a high S or recovers to another address.
func signDigest(ctx context.Context, s Signer, digest [32]byte) ([]byte, error) {
	if s == nil {
		return nil, errors.New("txsign: nil signer")
	}
	raw, err := s.Sign(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("txsign: sign: %w", err)
	}
	if len(raw) != crypto.SignatureLength {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, len(raw), crypto.SignatureLength)
	}
	sig := make([]byte, crypto.SignatureLength)
	copy(sig, raw)
	if sig[64] == 27 || sig[64] == 28 {
		sig[64] -= 27
	}
	r, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
	if !crypto.ValidateSignatureValues(sig[64], r, ss, true) {
		return nil, fmt.Errorf("%w: V, R or S out of range (high S?)", ErrBadSignature)
	}
	pub, err := crypto.SigToPub(digest[:], sig)
	if err != nil {
		return nil, fmt.Errorf("%w: recover: %v", ErrBadSignature, err)
	}
	if got := crypto.PubkeyToAddress(*pub); got != s.Address() {
		return nil, fmt.Errorf("%w: recovers to %s, not %s", ErrBadSignature, got.Hex(), s.Address().Hex())
	}
	return sig, nil
}

// Recover returns the address that signed digest with sig (65 bytes R || S || V, V in
// {0, 1} or {27, 28}). It refuses high-S signatures.
func Recover(digest [32]byte, sig []byte) (common.Address, error) {
	if len(sig) != crypto.SignatureLength {
		return common.Address{}, fmt.Errorf("txsign: signature is %d bytes, want %d", len(sig), crypto.SignatureLength)
	}
	c := make([]byte, crypto.SignatureLength)
	copy(c, sig)
	if c[64] == 27 || c[64] == 28 {
		c[64] -= 27
	}
	if !crypto.ValidateSignatureValues(c[64], new(big.Int).SetBytes(c[:32]), new(big.Int).SetBytes(c[32:64]), true) {
		return common.Address{}, errors.New("txsign: signature V, R or S out of range")
	}
	pub, err := crypto.SigToPub(digest[:], c)
	if err != nil {
		return common.Address{}, fmt.Errorf("txsign: recover: %w", err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}
