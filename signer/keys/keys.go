package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Backend holds secp256k1 keys and signs with them. Implementations are safe for
// concurrent use by multiple goroutines; every method but Close may block (on scrypt, on
// the token) and checks ctx before it does. After Close every method returns ErrClosed.
type Backend interface {
	// Create makes a new secp256k1 key with the given label (1 to MaxLabelLen bytes of
	// UTF-8; labels need not be unique) and returns its description.
	Create(ctx context.Context, label string) (KeyInfo, error)
	// List returns every key of the backend, ordered by ID.
	List(ctx context.Context) ([]KeyInfo, error)
	// Sign signs a 32-byte digest with the key keyID and returns the 65-byte Ethereum
	// signature [R || S || V], V in {0, 1}, S in the lower half of the curve order.
	// ErrNotFound if there is no such key.
	Sign(ctx context.Context, keyID string, digest [32]byte) ([]byte, error)
	// Import stores an existing private key (after a recovery ceremony or a rotation)
	// with the given label. The caller keeps ownership of priv and should zero it.
	// ErrExists if the backend already holds a key with the same address.
	Import(ctx context.Context, label string, priv *ecdsa.PrivateKey) (KeyInfo, error)
	// Export returns a copy of the private key keyID, for the recovery ceremony only;
	// the caller must zero it (ZeroKey) when done. ErrNotExportable where the backend
	// does not allow it.
	Export(ctx context.Context, keyID string) (*ecdsa.PrivateKey, error)
	// Close wipes what the backend holds in memory, waits for operations in flight and
	// releases its resources. It is safe to call more than once.
	Close() error
}

// KeyInfo describes a key. It holds no secret.
type KeyInfo struct {
	// ID names the key within its backend: the keystore file's UUID, or the hex of the
	// PKCS#11 CKA_ID.
	ID string
	// Label is the human name given at Create or Import.
	Label string
	// Address is the Ethereum address of the key.
	Address common.Address
	// PublicKey is the secp256k1 public key.
	PublicKey *ecdsa.PublicKey
	// Backend is "keystore" or "hsm".
	Backend string
	// Created is when the key was made or imported, as the keystore records it; zero
	// for HSM keys (PKCS#11 keeps no creation time; CKA_START_DATE is a validity date,
	// and SoftHSM2 2.6.1 cannot read it back).
	Created time.Time
}

// Backend names, as in KeyInfo.Backend.
const (
	BackendKeystore = "keystore"
	BackendHSM      = "hsm"
)

// MaxLabelLen is the longest label, in bytes.
const MaxLabelLen = 128

// Errors returned by the backends; test with errors.Is.
var (
	// ErrNotFound: no key with that ID.
	ErrNotFound = errors.New("keys: no such key")
	// ErrExists: the backend already holds a key with that address.
	ErrExists = errors.New("keys: key already present")
	// ErrNotExportable: the backend never lets the private key out (the HSM).
	ErrNotExportable = errors.New("keys: key is not exportable")
	// ErrWrongPassphrase: the keystore passphrase does not decrypt the key file.
	ErrWrongPassphrase = errors.New("keys: wrong passphrase")
	// ErrInvalidLabel: the label is empty, too long or not UTF-8.
	ErrInvalidLabel = errors.New("keys: invalid label")
	// ErrInvalidKey: the key is not a usable secp256k1 private key.
	ErrInvalidKey = errors.New("keys: invalid secp256k1 private key")
	// ErrBadSignature: a signature from the token does not recover to the key (a
	// faulty or misconfigured token).
	ErrBadSignature = errors.New("keys: signature does not recover to the key")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("keys: backend closed")
)

func checkLabel(label string) error {
	if label == "" || len(label) > MaxLabelLen || !utf8.ValidString(label) {
		return fmt.Errorf("%w: want 1 to %d bytes of UTF-8", ErrInvalidLabel, MaxLabelLen)
	}
	return nil
}

// canonicalKey checks that priv is a secp256k1 key with 0 < D < N whose public key, if
// set, matches D, and returns a fresh copy derived from D on go-ethereum's curve.
func canonicalKey(priv *ecdsa.PrivateKey) (*ecdsa.PrivateKey, error) {
	if priv == nil || priv.D == nil || priv.D.Sign() <= 0 || priv.D.Cmp(secp256k1N) >= 0 {
		return nil, ErrInvalidKey
	}
	if priv.Curve != nil {
		p := priv.Curve.Params()
		if p.N.Cmp(secp256k1N) != 0 || p.P.Cmp(crypto.S256().Params().P) != 0 {
			return nil, ErrInvalidKey
		}
	}
	d := make([]byte, 32)
	priv.D.FillBytes(d)
	defer clear(d)
	c, err := crypto.ToECDSA(d)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	if (priv.X != nil || priv.Y != nil) && (priv.X == nil || priv.Y == nil || priv.X.Cmp(c.X) != 0 || priv.Y.Cmp(c.Y) != 0) {
		ZeroKey(c)
		return nil, fmt.Errorf("%w: public key does not match the private scalar", ErrInvalidKey)
	}
	return c, nil
}

// ZeroKey overwrites the private scalar of priv in place. Use it on what Export returns.
func ZeroKey(priv *ecdsa.PrivateKey) {
	if priv == nil || priv.D == nil {
		return
	}
	clear(priv.D.Bits())
	priv.D.SetInt64(0)
}

// copyKey returns a deep copy of priv, so that zeroing one leaves the other intact.
func copyKey(priv *ecdsa.PrivateKey) *ecdsa.PrivateKey {
	c := *priv
	c.D = new(big.Int).Set(priv.D)
	return &c
}

var (
	secp256k1N     = crypto.S256().Params().N
	secp256k1HalfN = new(big.Int).Rsh(secp256k1N, 1)
)

// ethSignature turns a raw ECDSA signature rs = r || s (32 bytes each, as PKCS#11's
// CKM_ECDSA returns it) over digest into the Ethereum form [R || S || V]: s is replaced by
// N - s when it is in the upper half (both verify; Ethereum accepts only the lower one),
// and V is the recovery id, 0 or 1, for which crypto.Ecrecover yields pub (given as the
// 65-byte uncompressed encoding). ErrBadSignature if neither does.
func ethSignature(digest [32]byte, rs []byte, pub []byte) ([]byte, error) {
	if len(rs) != 64 {
		return nil, fmt.Errorf("%w: raw signature is %d bytes, want 64", ErrBadSignature, len(rs))
	}
	r := new(big.Int).SetBytes(rs[:32])
	s := new(big.Int).SetBytes(rs[32:])
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(secp256k1N) >= 0 || s.Cmp(secp256k1N) >= 0 {
		return nil, fmt.Errorf("%w: r or s out of range", ErrBadSignature)
	}
	if s.Cmp(secp256k1HalfN) > 0 {
		s.Sub(secp256k1N, s)
	}
	sig := make([]byte, 65)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:64])
	for v := byte(0); v <= 1; v++ {
		sig[64] = v
		got, err := crypto.Ecrecover(digest[:], sig)
		if err == nil && bytes.Equal(got, pub) {
			return sig, nil
		}
	}
	return nil, ErrBadSignature
}
