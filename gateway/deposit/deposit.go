package deposit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

var (
	// ErrPrivateKey is returned by [NewDeriver] for an extended private key (xprv, tprv).
	ErrPrivateKey = errors.New("deposit: extended private key refused; export the account xpub, never the xprv")
	// ErrMalformed is wrapped by [NewDeriver] errors for a string that is not a valid
	// serialized extended public key (bad base58, length, checksum, version or point).
	ErrMalformed = errors.New("deposit: malformed extended public key")
	// ErrNotAccount is wrapped by [NewDeriver] errors for a valid extended public key that
	// is not at an account level (depth 3, hardened, like m/44'/60'/0').
	ErrNotAccount = errors.New("deposit: not an account-level extended public key")
	// ErrIndex is wrapped by [Deriver.Address] errors for an index of 2^31 or more.
	ErrIndex = errors.New("deposit: index out of range")
)

const (
	// MaxIndex is the largest deposit index, 2^31-1; larger indexes would be hardened.
	MaxIndex = hdkeychain.HardenedKeyStart - 1

	// accountDepth is the depth of m/44'/60'/0' (purpose, coin type, account).
	accountDepth = 3
	// externalChain is the BIP-44 chain of receiving addresses.
	externalChain = 0
	// maxKeyLen bounds the input before base58 decoding, whose cost is quadratic;
	// a serialized extended key is 111 characters.
	maxKeyLen = 120
)

// Deriver derives deposit addresses from one merchant account. It holds the account's
// external chain node (xpub/0), so each [Deriver.Address] is one public derivation.
// A Deriver is immutable and safe for concurrent use.
type Deriver struct {
	chain *hdkeychain.ExtendedKey // account/0, public

	// The chain node, parsed once: hdkeychain's Derive re-parses (decompresses) the
	// parent key on every call and its ECPubKey the child, which doubled the cost of an
	// address.
	chainCode []byte
	parentSer []byte              // compressed public key of account/0
	parent    btcec.JacobianPoint // the same point
}

// NewDeriver parses an account-level extended public key (mainnet "xpub…" or testnet "tpub…"
// version bytes; Ethereum addresses do not depend on which) and returns a Deriver for it.
// The key must be at depth 3 with a hardened child number, as m/44'/60'/0' is; see the
// package documentation for the path the merchant's wallet must use.
//
// It returns [ErrPrivateKey] for an extended private key (or any string starting "xprv" or
// "tprv", valid or not), errors wrapping [ErrMalformed] for a string that is not a valid
// extended public key (including a failed checksum), and errors wrapping [ErrNotAccount] for
// one at another level. Errors never quote the input. It does not block.
func NewDeriver(xpub string) (*Deriver, error) {
	// Refuse what looks like a private key before anything else, even if it is also malformed,
	// so that the merchant is told not to paste it rather than that it was mistyped.
	if strings.HasPrefix(xpub, "xprv") || strings.HasPrefix(xpub, "tprv") {
		return nil, ErrPrivateKey
	}
	if len(xpub) > maxKeyLen {
		return nil, fmt.Errorf("%w: %d characters, want 111", ErrMalformed, len(xpub))
	}
	key, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	version := key.Version()
	if key.IsPrivate() ||
		bytes.Equal(version, chaincfg.MainNetParams.HDPrivateKeyID[:]) ||
		bytes.Equal(version, chaincfg.TestNet3Params.HDPrivateKeyID[:]) {
		return nil, ErrPrivateKey
	}
	if !bytes.Equal(version, chaincfg.MainNetParams.HDPublicKeyID[:]) &&
		!bytes.Equal(version, chaincfg.TestNet3Params.HDPublicKeyID[:]) {
		return nil, fmt.Errorf("%w: version bytes %x, want xpub (0488b21e) or tpub (043587cf)", ErrMalformed, version)
	}
	if key.Depth() != accountDepth || key.ChildIndex() < hdkeychain.HardenedKeyStart {
		return nil, fmt.Errorf("%w: depth %d, child %d; want depth %d with a hardened child, like m/44'/60'/0'",
			ErrNotAccount, key.Depth(), key.ChildIndex(), accountDepth)
	}
	chain, err := key.Derive(externalChain)
	if err != nil { // ErrInvalidChild, probability below 2^-127
		return nil, fmt.Errorf("deposit: derive external chain: %w", err)
	}
	pub, err := chain.ECPubKey()
	if err != nil {
		return nil, fmt.Errorf("deposit: external chain public key: %w", err)
	}
	d := &Deriver{chain: chain, chainCode: chain.ChainCode(), parentSer: pub.SerializeCompressed()}
	pub.AsJacobian(&d.parent)
	return d, nil
}

// Address returns the Ethereum address of the key at xpub/0/index (m/44'/60'/0'/0/index in
// the merchant's wallet): the last 20 bytes of the Keccak-256 of its uncompressed public key.
// index must be at most [MaxIndex]; larger indexes return an error wrapping [ErrIndex].
// It does not block and is safe for concurrent use.
func (d *Deriver) Address(index uint32) (common.Address, error) {
	if index > MaxIndex {
		return common.Address{}, fmt.Errorf("%w: %d is hardened (at least 2^31)", ErrIndex, index)
	}
	// BIP-32 CKDpub: I = HMAC-SHA512(chain code, serP(K) || ser32(index)); the child
	// key is parse256(I_L)·G + K. hdkeychain.Derive computes the same (the tests compare
	// them); this path skips its parsing of points that are already parsed.
	mac := hmac.New(sha512.New, d.chainCode)
	mac.Write(d.parentSer)
	var ser [4]byte
	binary.BigEndian.PutUint32(ser[:], index)
	mac.Write(ser[:])
	var il btcec.ModNScalar
	if overflow := il.SetByteSlice(mac.Sum(nil)[:32]); overflow || il.IsZero() {
		return d.slowAddress(index) // invalid child (probability below 2^-127): hdkeychain's error
	}
	var child btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&il, &child)
	btcec.AddNonConst(&child, &d.parent, &child)
	if (child.X.IsZero() && child.Y.IsZero()) || child.Z.IsZero() {
		return d.slowAddress(index)
	}
	child.ToAffine()
	var xy [64]byte
	child.X.PutBytesUnchecked(xy[:32])
	child.Y.PutBytesUnchecked(xy[32:])
	return common.BytesToAddress(crypto.Keccak256(xy[:])[12:]), nil
}

// slowAddress derives index with hdkeychain: the reference Address must agree with.
func (d *Deriver) slowAddress(index uint32) (common.Address, error) {
	child, err := d.chain.Derive(index)
	if err != nil { // ErrInvalidChild, probability below 2^-127
		return common.Address{}, fmt.Errorf("deposit: derive index %d: %w", index, err)
	}
	pub, err := child.ECPubKey()
	if err != nil {
		return common.Address{}, fmt.Errorf("deposit: index %d public key: %w", index, err)
	}
	// SerializeUncompressed is 0x04 || X || Y; the address hashes X || Y.
	return common.BytesToAddress(crypto.Keccak256(pub.SerializeUncompressed()[1:])[12:]), nil
}
