package txsign_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/weirhq/weir/signer/txsign"
)

func TestSafeTypeHashes(t *testing.T) {
	if h := crypto.Keccak256Hash([]byte("EIP712Domain(uint256 chainId,address verifyingContract)")); h != txsign.SafeDomainTypeHash {
		t.Fatalf("domain type hash %s", h.Hex())
	}
	st := "SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas," +
		"uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
	if h := crypto.Keccak256Hash([]byte(st)); h != txsign.SafeTxTypeHash {
		t.Fatalf("safe tx type hash %s", h.Hex())
	}
	td := txsign.SafeTypedData(big.NewInt(1), common.Address{1}, txsign.SafeTx{})
	if got := td.TypeHash("SafeTx"); !bytes.Equal(got, txsign.SafeTxTypeHash[:]) {
		t.Fatalf("apitypes type hash %x", got)
	}
}

// TestSafeTxHashVector checks a Safe v1.3 transaction on Base (chain 8453, an ERC-20
// transfer at Safe nonce 11) against the domain separator, struct hash and SafeTx hash
// published with morpho-org/safe-tx-hash (test.py), computed there with eth_abi
// independently of go-ethereum; and against apitypes' EIP-712 hash of the same data.
func TestSafeTxHashVector(t *testing.T) {
	chainID := big.NewInt(8453)
	safe := common.HexToAddress("0xcBa28b38103307Ec8dA98377ffF9816C164f9AFa")
	tx := txsign.SafeTx{
		To:    common.HexToAddress("0xBAa5CC21fd487B8Fcc2F632f3F4E8D37262a0842"),
		Value: big.NewInt(0),
		Data: hexutil.MustDecode("0xa9059cbb000000000000000000000000f057afeec22e220f47ad4220871364e9e828b2e9" +
			"00000000000000000000000000000000000000000001a784379d99db42000000"),
		Nonce: big.NewInt(11),
	}
	dom, err := txsign.SafeDomainSeparator(chainID, safe)
	if err != nil {
		t.Fatal(err)
	}
	st, err := txsign.SafeTxStructHash(tx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := txsign.SafeTxHash(chainID, safe, tx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  [32]byte
		want string
	}{
		{"domain separator", dom, "0x837b1eb3bcc66a4b6bd9f0d8c876e31648b46ac2e66e4080ee93e97e51074cb9"},
		{"struct hash", st, "0x18100568166f32d42c2c1d01c907dabc9bec58334a125da2a2a43742764183cd"},
		{"safe tx hash", h, "0x1bf99e3cf2d2272960c8a02ca4163459ad240de7995bec237a886b84968a077c"},
	} {
		if got := hexutil.Encode(c.got[:]); got != c.want {
			t.Errorf("%s %s, want %s", c.name, got, c.want)
		}
	}
	ah, _, err := apitypes.TypedDataAndHash(txsign.SafeTypedData(chainID, safe, tx))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ah, h[:]) {
		t.Fatalf("apitypes hash %x, SafeTxHash %x", ah, h)
	}
}

// TestSafeTxHashAgreesWithTypedData compares the hand-encoded hash with apitypes'
// EIP-712 hash over transactions that use every field.
func TestSafeTxHashAgreesWithTypedData(t *testing.T) {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	txs := []txsign.SafeTx{
		{},
		{To: common.HexToAddress("0x1111111111111111111111111111111111111111"), Value: big.NewInt(3), Data: []byte{0x44, 0x44},
			Operation: txsign.SafeDelegateCall, SafeTxGas: big.NewInt(5), BaseGas: big.NewInt(6), GasPrice: big.NewInt(7),
			GasToken:       common.HexToAddress("0x8888888888888888888888888888888888888888"),
			RefundReceiver: common.HexToAddress("0x9999999999999999999999999999999999999999"), Nonce: big.NewInt(10)},
		{To: common.Address{0xff}, Value: max, SafeTxGas: max, BaseGas: max, GasPrice: max, Nonce: max, Data: make([]byte, 1000)},
	}
	for i, tx := range txs {
		for _, chainID := range []*big.Int{big.NewInt(1), big.NewInt(1337), big.NewInt(11155111)} {
			safe := common.BigToAddress(big.NewInt(int64(0x5afe + i)))
			h, err := txsign.SafeTxHash(chainID, safe, tx)
			if err != nil {
				t.Fatal(err)
			}
			ah, _, err := apitypes.TypedDataAndHash(txsign.SafeTypedData(chainID, safe, tx))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ah, h[:]) {
				t.Fatalf("tx %d chain %v: apitypes %x, SafeTxHash %x", i, chainID, ah, h)
			}
		}
	}
	bad := []txsign.SafeTx{
		{Operation: 2},
		{Value: big.NewInt(-1)},
		{Nonce: new(big.Int).Add(max, big.NewInt(1))},
	}
	for _, tx := range bad {
		if _, err := txsign.SafeTxHash(big.NewInt(1), common.Address{1}, tx); !errors.Is(err, txsign.ErrSafeTx) {
			t.Fatalf("%+v: %v, want ErrSafeTx", tx, err)
		}
	}
	if _, err := txsign.SafeTxHash(nil, common.Address{1}, txsign.SafeTx{}); !errors.Is(err, txsign.ErrChainID) {
		t.Fatalf("nil chain id: %v", err)
	}
}

func TestSignAndPackSafeSignatures(t *testing.T) {
	ctx := context.Background()
	chainID, safe := big.NewInt(1337), common.HexToAddress("0x5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe")
	tx := txsign.SafeTx{To: to, Value: big.NewInt(1e18), Nonce: big.NewInt(4)}
	sigs := map[common.Address][]byte{}
	var hash [32]byte
	for range 5 {
		s := newKeySigner(t)
		sig, h, err := txsign.SignSafeTx(ctx, s, chainID, safe, tx)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 65 || (sig[64] != 27 && sig[64] != 28) {
			t.Fatalf("signature %x: want 65 bytes with V 27/28", sig)
		}
		if err := txsign.VerifySafeSignature(h, s.addr, sig); err != nil {
			t.Fatal(err)
		}
		// What Safe's checkSignatures does for V 27/28: ecrecover(dataHash, v, r, s).
		pub, err := crypto.SigToPub(h[:], append(slices.Clone(sig[:64]), sig[64]-27))
		if err != nil || crypto.PubkeyToAddress(*pub) != s.addr {
			t.Fatalf("ecrecover: %v", err)
		}
		hash = h
		sigs[s.addr] = sig
	}
	if err := txsign.VerifySafeSignature(hash, to, sigs[slices.Collect(maps.Keys(sigs))[0]]); !errors.Is(err, txsign.ErrSafeTx) {
		t.Fatalf("wrong owner: %v", err)
	}
	packed, err := txsign.PackSafeSignatures(sigs)
	if err != nil {
		t.Fatal(err)
	}
	if len(packed) != 65*len(sigs) {
		t.Fatalf("packed %d bytes", len(packed))
	}
	// Walk the packed bytes as checkSignatures does: each owner recovered must be
	// strictly greater than the previous one, and be one of the signers.
	var last common.Address
	for i := 0; i < len(packed); i += 65 {
		sig := packed[i : i+65]
		owner, err := txsign.Recover(hash, sig)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Compare(owner[:], last[:]) <= 0 {
			t.Fatalf("owner %s not above %s", owner.Hex(), last.Hex())
		}
		if !bytes.Equal(sigs[owner], sig) {
			t.Fatalf("signature at %d is not %s's", i/65, owner.Hex())
		}
		last = owner
	}
	for name, bad := range map[string]map[common.Address][]byte{
		"empty":        {},
		"zero address": {{}: packed[:65]},
		"v 0":          {{1}: append(slices.Clone(packed[:64]), 0)},
		"short":        {{1}: packed[:64]},
	} {
		if _, err := txsign.PackSafeSignatures(bad); !errors.Is(err, txsign.ErrSafeTx) {
			t.Errorf("%s: %v, want ErrSafeTx", name, err)
		}
	}
}
