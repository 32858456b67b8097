package shamir

import (
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/crypto/ecies"
)

// ErrGuardianKey: the guardian key is missing, not on secp256k1 or not a valid point.
var ErrGuardianKey = errors.New("shamir: invalid guardian key")

// ErrDecrypt: a share ciphertext could not be decrypted: wrong key, corrupted or not a
// ciphertext of this package.
var ErrDecrypt = errors.New("shamir: cannot decrypt share")

// eciesInfo is ECIES shared information (fed into both the KDF and the MAC), so a
// ciphertext made for another purpose with the same key does not decrypt as a share.
var eciesInfo = []byte("weir/signer/shamir/v1 share")

// Encrypt encrypts share to a guardian's secp256k1 public key (an Ethereum account key)
// with go-ethereum's ECIES (ephemeral ECDH, concat KDF, AES-128-CTR, HMAC-SHA-256), so
// only the holder of the matching private key can read it; the MAC makes tampering
// detectable on Decrypt. The ciphertext is 65+16+len(encoding)+32 bytes and carries no
// guardian identity. Randomness comes from crypto/rand. Safe for concurrent use.
func Encrypt(share Share, guardianPub *ecdsa.PublicKey) ([]byte, error) {
	pub, err := guardian(guardianPub)
	if err != nil {
		return nil, err
	}
	pt, err := share.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer Zero(pt)
	ct, err := ecies.Encrypt(rand.Reader, ecies.ImportECDSAPublic(pub), pt, eciesInfo, eciesInfo)
	if err != nil {
		return nil, fmt.Errorf("shamir: encrypt share: %w", err)
	}
	return ct, nil
}

// Decrypt decrypts a ciphertext made by Encrypt with the guardian's private key. A wrong
// key or altered ciphertext returns an error wrapping ErrDecrypt; a plaintext that is
// not a share returns one wrapping ErrMalformed. Safe for concurrent use.
func Decrypt(ciphertext []byte, guardianKey *ecdsa.PrivateKey) (Share, error) {
	if guardianKey == nil || guardianKey.D == nil {
		return Share{}, fmt.Errorf("%w: no private key", ErrGuardianKey)
	}
	pub, err := guardian(&guardianKey.PublicKey)
	if err != nil {
		return Share{}, err
	}
	key := &ecdsa.PrivateKey{PublicKey: *pub, D: guardianKey.D}
	pt, err := ecies.ImportECDSA(key).Decrypt(ciphertext, eciesInfo, eciesInfo)
	if err != nil {
		return Share{}, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	defer Zero(pt)
	var s Share
	if err := s.UnmarshalBinary(pt); err != nil {
		return Share{}, err
	}
	return s, nil
}

// guardian checks that pub is a point on secp256k1 and returns it with go-ethereum's
// curve instance, the one ECIES knows parameters for. The curve is compared by its
// parameters, not by interface equality, which panics on a non-comparable curve type.
func guardian(pub *ecdsa.PublicKey) (*ecdsa.PublicKey, error) {
	if pub == nil || pub.Curve == nil || pub.X == nil || pub.Y == nil {
		return nil, fmt.Errorf("%w: no public key", ErrGuardianKey)
	}
	want, got := crypto.S256().Params(), pub.Curve.Params()
	if got == nil || !eq(got.P, want.P) || !eq(got.N, want.N) || !eq(got.B, want.B) ||
		!eq(got.Gx, want.Gx) || !eq(got.Gy, want.Gy) {
		return nil, fmt.Errorf("%w: not secp256k1", ErrGuardianKey)
	}
	c := crypto.S256()
	if !c.IsOnCurve(pub.X, pub.Y) {
		return nil, fmt.Errorf("%w: point not on curve", ErrGuardianKey)
	}
	return &ecdsa.PublicKey{Curve: c, X: pub.X, Y: pub.Y}, nil
}

func eq(a, b *big.Int) bool { return a != nil && a.Cmp(b) == 0 }
