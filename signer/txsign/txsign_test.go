package txsign_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/weirhq/weir/signer/txsign"
)

// keySigner is a txsign.Signer over an in-memory key and crypto.Sign (RFC 6979, low S).
type keySigner struct {
	key  *ecdsa.PrivateKey
	addr common.Address
	// mangle, when set, alters the signature before it is returned.
	mangle func([]byte) []byte
}

func newKeySigner(t testing.TB) *keySigner {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &keySigner{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
}

func (s *keySigner) Sign(_ context.Context, digest [32]byte) ([]byte, error) {
	sig, err := crypto.Sign(digest[:], s.key)
	if err != nil {
		return nil, err
	}
	if s.mangle != nil {
		sig = s.mangle(sig)
	}
	return sig, nil
}

func (s *keySigner) Address() common.Address { return s.addr }

var (
	chain1337 = big.NewInt(1337)
	to        = common.HexToAddress("0x00000000000000000000000000000000000000aa")
)

func legacy(mod func(*types.LegacyTx)) *types.Transaction {
	tx := &types.LegacyTx{Nonce: 7, GasPrice: big.NewInt(2e9), Gas: 21000, To: &to, Value: big.NewInt(1)}
	if mod != nil {
		mod(tx)
	}
	return types.NewTx(tx)
}

func dynamic(mod func(*types.DynamicFeeTx)) *types.Transaction {
	tx := &types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: 7, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(3e9),
		Gas: 21000, To: &to, Value: big.NewInt(1), Data: []byte{1, 2}}
	if mod != nil {
		mod(tx)
	}
	return types.NewTx(tx)
}

func TestSignTx(t *testing.T) {
	ctx := context.Background()
	s := newKeySigner(t)
	for name, tx := range map[string]*types.Transaction{"legacy": legacy(nil), "dynamic": dynamic(nil)} {
		t.Run(name, func(t *testing.T) {
			signed, err := txsign.SignTx(ctx, s, tx, chain1337)
			if err != nil {
				t.Fatal(err)
			}
			from, err := types.Sender(types.LatestSignerForChainID(chain1337), signed)
			if err != nil || from != s.addr {
				t.Fatalf("sender %s %v, want %s", from.Hex(), err, s.addr.Hex())
			}
			if !signed.Protected() || signed.ChainId().Cmp(chain1337) != 0 {
				t.Fatalf("chain id %v protected %v", signed.ChainId(), signed.Protected())
			}
			if signed.Nonce() != 7 || signed.To() == nil || *signed.To() != to || signed.Type() != tx.Type() {
				t.Fatalf("fields changed: %+v", signed)
			}
			// The signed transaction survives the wire encoding.
			raw, err := signed.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back types.Transaction
			if err := back.UnmarshalBinary(raw); err != nil {
				t.Fatal(err)
			}
			if from, err := types.Sender(types.LatestSignerForChainID(chain1337), &back); err != nil || from != s.addr {
				t.Fatalf("decoded sender %s %v", from.Hex(), err)
			}
			// Another chain's signer does not recover the same address.
			if from, err := types.Sender(types.LatestSignerForChainID(big.NewInt(1)), &back); err == nil && from == s.addr {
				t.Fatal("signature replays on chain 1")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	huge := new(big.Int).Lsh(big.NewInt(1), 256)
	cases := []struct {
		name    string
		tx      *types.Transaction
		chainID *big.Int
		want    error
		msg     string
	}{
		{"nil chain id", legacy(nil), nil, txsign.ErrChainID, "not positive"},
		{"zero chain id", legacy(nil), big.NewInt(0), txsign.ErrChainID, "not positive"},
		{"chain mismatch", dynamic(nil), big.NewInt(1), txsign.ErrChainID, "chain 1337, signing for chain 1"},
		{"missing chain id", dynamic(func(tx *types.DynamicFeeTx) { tx.ChainID = nil }), chain1337, txsign.ErrChainID, "no chain id"},
		{"tip above cap", dynamic(func(tx *types.DynamicFeeTx) { tx.GasTipCap = big.NewInt(4e9) }), chain1337, txsign.ErrInvalidTx, "exceeds max fee"},
		{"zero fee cap", dynamic(func(tx *types.DynamicFeeTx) { tx.GasFeeCap, tx.GasTipCap = nil, nil }), chain1337, txsign.ErrInvalidTx, "max fee per gas"},
		{"negative tip", dynamic(func(tx *types.DynamicFeeTx) { tx.GasTipCap = big.NewInt(-1) }), chain1337, txsign.ErrInvalidTx, "priority fee"},
		{"zero gas price", legacy(func(tx *types.LegacyTx) { tx.GasPrice = nil }), chain1337, txsign.ErrInvalidTx, "gas price"},
		{"gas below intrinsic", legacy(func(tx *types.LegacyTx) { tx.Gas = 20999 }), chain1337, txsign.ErrInvalidTx, "intrinsic"},
		{"creation gas", dynamic(func(tx *types.DynamicFeeTx) { tx.To = nil; tx.Gas = 50000 }), chain1337, txsign.ErrInvalidTx, "intrinsic minimum 53000"},
		{"creation without code", dynamic(func(tx *types.DynamicFeeTx) { tx.To = nil; tx.Data = nil; tx.Gas = 60000 }), chain1337, txsign.ErrInvalidTx, "without code"},
		{"negative value", legacy(func(tx *types.LegacyTx) { tx.Value = big.NewInt(-1) }), chain1337, txsign.ErrInvalidTx, "negative"},
		{"value overflow", legacy(func(tx *types.LegacyTx) { tx.Value = huge }), chain1337, txsign.ErrInvalidTx, "value"},
		{"fee overflow", legacy(func(tx *types.LegacyTx) { tx.GasPrice = huge }), chain1337, txsign.ErrInvalidTx, "overflows"},
		{"cost overflow", legacy(func(tx *types.LegacyTx) {
			tx.GasPrice = new(big.Int).Rsh(huge, 10)
			tx.Gas = 1 << 20
		}), chain1337, txsign.ErrInvalidTx, "gas × fee + value"},
		{"access list type", types.NewTx(&types.AccessListTx{ChainID: chain1337, GasPrice: big.NewInt(1), Gas: 21000, To: &to}), chain1337, txsign.ErrUnsupportedType, "type 1"},
		{"nil tx", nil, chain1337, txsign.ErrInvalidTx, "nil"},
		{"legacy ok", legacy(nil), chain1337, nil, ""},
		{"dynamic ok, zero tip", dynamic(func(tx *types.DynamicFeeTx) { tx.GasTipCap = big.NewInt(0) }), chain1337, nil, ""},
		{"creation ok", dynamic(func(tx *types.DynamicFeeTx) { tx.To = nil; tx.Gas = 60000 }), chain1337, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := txsign.Validate(c.tx, c.chainID)
			if !errors.Is(err, c.want) || (err != nil && !strings.Contains(err.Error(), c.msg)) {
				t.Fatalf("Validate = %v, want %v containing %q", err, c.want, c.msg)
			}
			if c.want != nil {
				if _, err := txsign.SignTx(context.Background(), newKeySigner(t), c.tx, c.chainID); !errors.Is(err, c.want) {
					t.Fatalf("SignTx = %v, want %v", err, c.want)
				}
			}
		})
	}
}

func TestSignTxRefusesBadSignatures(t *testing.T) {
	other := newKeySigner(t)
	n := crypto.S256().Params().N
	cases := map[string]func([]byte) []byte{
		"short": func(sig []byte) []byte { return sig[:64] },
		"bad v": func(sig []byte) []byte { sig[64] = 5; return sig },
		"high s": func(sig []byte) []byte {
			s := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:64]))
			copy(sig[32:64], math.U256Bytes(s))
			sig[64] ^= 1
			return sig
		},
		"flipped v": func(sig []byte) []byte { sig[64] ^= 1; return sig },
		"other key": func(sig []byte) []byte { return sig },
	}
	for name, mangle := range cases {
		t.Run(name, func(t *testing.T) {
			s := newKeySigner(t)
			s.mangle = mangle
			if name == "other key" {
				s.key = other.key // signs with a key that is not s.addr's
			}
			if _, err := txsign.SignTx(context.Background(), s, dynamic(nil), chain1337); !errors.Is(err, txsign.ErrBadSignature) {
				t.Fatalf("SignTx = %v, want ErrBadSignature", err)
			}
			if _, _, err := txsign.SignTypedData(context.Background(), s, mailTypedData()); !errors.Is(err, txsign.ErrBadSignature) {
				t.Fatalf("SignTypedData = %v, want ErrBadSignature", err)
			}
		})
	}
	// V given as 27/28 by a backend is accepted.
	s := newKeySigner(t)
	s.mangle = func(sig []byte) []byte { sig[64] += 27; return sig }
	if _, err := txsign.SignTx(context.Background(), s, legacy(nil), chain1337); err != nil {
		t.Fatalf("V 27/28: %v", err)
	}
}

// mailTypedData is the example of EIP-712 itself (eip-712.md, "Example").
func mailTypedData() apitypes.TypedData {
	return apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {{Name: "name", Type: "string"}, {Name: "version", Type: "string"},
				{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"}},
			"Person": {{Name: "name", Type: "string"}, {Name: "wallet", Type: "address"}},
			"Mail":   {{Name: "from", Type: "Person"}, {Name: "to", Type: "Person"}, {Name: "contents", Type: "string"}},
		},
		PrimaryType: "Mail",
		Domain: apitypes.TypedDataDomain{Name: "Ether Mail", Version: "1", ChainId: math.NewHexOrDecimal256(1),
			VerifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
		Message: apitypes.TypedDataMessage{
			"from":     map[string]any{"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
			"to":       map[string]any{"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
			"contents": "Hello, Bob!",
		},
	}
}

// TestSignTypedDataEIP712Vector signs the EIP-712 example with its key,
// keccak256("cow"), and compares hash and signature with the ones the EIP publishes
// (crypto.Sign is deterministic, RFC 6979).
func TestSignTypedDataEIP712Vector(t *testing.T) {
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("cow")))
	if err != nil {
		t.Fatal(err)
	}
	s := &keySigner{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
	if s.addr != common.HexToAddress("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826") {
		t.Fatalf("cow address %s", s.addr.Hex())
	}
	sig, hash, err := txsign.SignTypedData(context.Background(), s, mailTypedData())
	if err != nil {
		t.Fatal(err)
	}
	if got := hexutil.Encode(hash[:]); got != "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2" {
		t.Fatalf("hash %s", got)
	}
	want := "0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d" +
		"07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562" + "1c"
	if got := hexutil.Encode(sig); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if addr, err := txsign.Recover(hash, sig); err != nil || addr != s.addr {
		t.Fatalf("recover %s %v", addr.Hex(), err)
	}
	bad := mailTypedData()
	bad.PrimaryType = "Nope"
	if _, _, err := txsign.SignTypedData(context.Background(), s, bad); err == nil {
		t.Fatal("unknown primary type signed")
	}
}
