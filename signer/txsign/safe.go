package txsign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// SafeOperation is how a Safe runs a SafeTx: a call or a delegate call.
type SafeOperation uint8

// The two operations of a Safe.
const (
	SafeCall         SafeOperation = 0
	SafeDelegateCall SafeOperation = 1
)

// The EIP-712 type hashes of Safe v1.3.0 and later (GnosisSafe.sol / Safe.sol constants).
var (
	// SafeDomainTypeHash is keccak256("EIP712Domain(uint256 chainId,address verifyingContract)").
	SafeDomainTypeHash = common.HexToHash("0x47e79534a245952e8b16893a336b85a3d9ea9fa8c573f3d803afb92a79469218")
	// SafeTxTypeHash is keccak256("SafeTx(address to,uint256 value,bytes data,uint8 operation,
	// uint256 safeTxGas,uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,
	// uint256 nonce)").
	SafeTxTypeHash = common.HexToHash("0xbb8310d486368db6bd6f849402fdd73ad53d316b5a4b2644ad6efe0f941286d8")
)

// SafeTx is a Safe multisig transaction as execTransaction takes it. Nil integers are zero.
type SafeTx struct {
	To             common.Address
	Value          *big.Int
	Data           []byte
	Operation      SafeOperation
	SafeTxGas      *big.Int
	BaseGas        *big.Int
	GasPrice       *big.Int
	GasToken       common.Address
	RefundReceiver common.Address
	Nonce          *big.Int
}

// ErrSafeTx is a SafeTx, chain id or Safe signature that cannot be hashed or packed.
var ErrSafeTx = errors.New("txsign: invalid safe transaction")

// Validate checks that the integers fit in uint256 and the operation is a call or a
// delegate call.
func (t SafeTx) Validate() error {
	if t.Operation > SafeDelegateCall {
		return fmt.Errorf("%w: operation %d", ErrSafeTx, t.Operation)
	}
	for _, f := range []struct {
		name string
		v    *big.Int
	}{{"value", t.Value}, {"safeTxGas", t.SafeTxGas}, {"baseGas", t.BaseGas}, {"gasPrice", t.GasPrice}, {"nonce", t.Nonce}} {
		if f.v != nil && (f.v.Sign() < 0 || f.v.BitLen() > 256) {
			return fmt.Errorf("%w: %s %v is not a uint256", ErrSafeTx, f.name, f.v)
		}
	}
	return nil
}

// SafeDomainSeparator is the EIP-712 domain separator of the Safe at safe on chainID,
// keccak256(abi.encode(SafeDomainTypeHash, chainId, safe)), as Safe v1.3+ computes it.
func SafeDomainSeparator(chainID *big.Int, safe common.Address) ([32]byte, error) {
	if chainID == nil || chainID.Sign() <= 0 || chainID.BitLen() > 256 {
		return [32]byte{}, fmt.Errorf("%w: chain id %v", ErrChainID, chainID)
	}
	return crypto.Keccak256Hash(SafeDomainTypeHash[:], word(chainID), addrWord(safe)), nil
}

// SafeTxStructHash is hashStruct(SafeTx): keccak256 of the type hash and the ten fields
// ABI-encoded, data replaced by its keccak256.
func SafeTxStructHash(t SafeTx) ([32]byte, error) {
	if err := t.Validate(); err != nil {
		return [32]byte{}, err
	}
	return crypto.Keccak256Hash(
		SafeTxTypeHash[:],
		addrWord(t.To),
		word(t.Value),
		crypto.Keccak256(t.Data),
		word(big.NewInt(int64(t.Operation))),
		word(t.SafeTxGas),
		word(t.BaseGas),
		word(t.GasPrice),
		addrWord(t.GasToken),
		addrWord(t.RefundReceiver),
		word(t.Nonce),
	), nil
}

// SafeTxHash is the hash the owners of the Safe at safe on chainID sign to approve t:
// keccak256(0x19 0x01 || SafeDomainSeparator || SafeTxStructHash), what the Safe's
// getTransactionHash returns (v1.3.0 and later).
func SafeTxHash(chainID *big.Int, safe common.Address, t SafeTx) ([32]byte, error) {
	dom, err := SafeDomainSeparator(chainID, safe)
	if err != nil {
		return [32]byte{}, err
	}
	st, err := SafeTxStructHash(t)
	if err != nil {
		return [32]byte{}, err
	}
	return crypto.Keccak256Hash([]byte{0x19, 0x01}, dom[:], st[:]), nil
}

// SafeTypedData is t as EIP-712 typed data (what a wallet shows and signs with
// eth_signTypedData_v4); apitypes.TypedDataAndHash of it equals SafeTxHash.
func SafeTypedData(chainID *big.Int, safe common.Address, t SafeTx) apitypes.TypedData {
	return apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"}},
			"SafeTx": {
				{Name: "to", Type: "address"}, {Name: "value", Type: "uint256"}, {Name: "data", Type: "bytes"},
				{Name: "operation", Type: "uint8"}, {Name: "safeTxGas", Type: "uint256"}, {Name: "baseGas", Type: "uint256"},
				{Name: "gasPrice", Type: "uint256"}, {Name: "gasToken", Type: "address"},
				{Name: "refundReceiver", Type: "address"}, {Name: "nonce", Type: "uint256"},
			},
		},
		PrimaryType: "SafeTx",
		Domain: apitypes.TypedDataDomain{
			ChainId:           (*math.HexOrDecimal256)(chainID),
			VerifyingContract: safe.Hex(),
		},
		Message: apitypes.TypedDataMessage{
			"to":             t.To.Hex(),
			"value":          orZero(t.Value),
			"data":           hexutil.Bytes(t.Data),
			"operation":      big.NewInt(int64(t.Operation)),
			"safeTxGas":      orZero(t.SafeTxGas),
			"baseGas":        orZero(t.BaseGas),
			"gasPrice":       orZero(t.GasPrice),
			"gasToken":       t.GasToken.Hex(),
			"refundReceiver": t.RefundReceiver.Hex(),
			"nonce":          orZero(t.Nonce),
		},
	}
}

// SignSafeTx signs the SafeTxHash of t through s, for the Safe at safe on chainID, and
// returns the 65-byte owner signature R || S || V with V = 27 or 28 (an ECDSA
// signature of the hash itself, as checkSignatures expects) and the hash. It blocks for
// as long as s.Sign does.
func SignSafeTx(ctx context.Context, s Signer, chainID *big.Int, safe common.Address, t SafeTx) (sig []byte, hash [32]byte, err error) {
	hash, err = SafeTxHash(chainID, safe, t)
	if err != nil {
		return nil, hash, err
	}
	sig, err = signDigest(ctx, s, hash)
	if err != nil {
		return nil, hash, err
	}
	sig[64] += 27
	return sig, hash, nil
}

// PackSafeSignatures concatenates owner signatures for execTransaction's signatures
// argument, ordered by owner address ascending, as checkSignatures requires (it refuses
// an owner not strictly greater than the previous one). Each signature must be 65 bytes
// with V = 27 or 28; the zero address is refused. It does not check that a signature
// recovers to its owner: use [VerifySafeSignature] for that.
func PackSafeSignatures(sigs map[common.Address][]byte) ([]byte, error) {
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: no signatures", ErrSafeTx)
	}
	owners := make([]common.Address, 0, len(sigs))
	for o, sig := range sigs {
		if o == (common.Address{}) {
			return nil, fmt.Errorf("%w: signature for the zero address", ErrSafeTx)
		}
		if len(sig) != crypto.SignatureLength || (sig[64] != 27 && sig[64] != 28) {
			return nil, fmt.Errorf("%w: signature of %s is not 65 bytes with V 27 or 28", ErrSafeTx, o.Hex())
		}
		owners = append(owners, o)
	}
	slices.SortFunc(owners, func(a, b common.Address) int { return bytes.Compare(a[:], b[:]) })
	out := make([]byte, 0, len(owners)*crypto.SignatureLength)
	for _, o := range owners {
		out = append(out, sigs[o]...)
	}
	return out, nil
}

// VerifySafeSignature checks that sig (V = 27 or 28) is owner's ECDSA signature of the
// SafeTx hash.
func VerifySafeSignature(hash [32]byte, owner common.Address, sig []byte) error {
	if len(sig) != crypto.SignatureLength || (sig[64] != 27 && sig[64] != 28) {
		return fmt.Errorf("%w: signature is not 65 bytes with V 27 or 28", ErrSafeTx)
	}
	got, err := Recover(hash, sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSafeTx, err)
	}
	if got != owner {
		return fmt.Errorf("%w: signature recovers to %s, not %s", ErrSafeTx, got.Hex(), owner.Hex())
	}
	return nil
}

func orZero(v *big.Int) *big.Int {
	if v == nil {
		return new(big.Int)
	}
	return v
}

func word(v *big.Int) []byte { return math.U256Bytes(new(big.Int).Set(orZero(v))) }

func addrWord(a common.Address) []byte { return common.LeftPadBytes(a[:], 32) }
