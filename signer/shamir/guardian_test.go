package shamir

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

func TestEncryptDecrypt(t *testing.T) {
	secret := []byte("a 32 byte secp256k1 private key!")
	shares, err := Split(secret, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	guardians := make([]*ecdsa.PrivateKey, len(shares))
	cts := make([][]byte, len(shares))
	for i, s := range shares {
		if guardians[i], err = crypto.GenerateKey(); err != nil {
			t.Fatal(err)
		}
		if cts[i], err = Encrypt(s, &guardians[i].PublicKey); err != nil {
			t.Fatal(err)
		}
		plain, _ := s.MarshalBinary()
		if bytes.Contains(cts[i], plain[headerSize:]) {
			t.Fatal("ciphertext contains the share value")
		}
	}
	var back []Share
	for i, ct := range cts[1:] {
		s, err := Decrypt(ct, guardians[i+1])
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, s)
	}
	got, err := Combine(back)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Combine = %q, %v", got, err)
	}

	// The key of guardian 0 does not open guardian 1's share.
	if _, err := Decrypt(cts[1], guardians[0]); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: err = %v, want ErrDecrypt", err)
	}
	// Any altered byte fails the MAC (or the ephemeral point).
	for _, k := range []int{0, 1, 70, len(cts[1]) / 2, len(cts[1]) - 1} {
		bad := bytes.Clone(cts[1])
		bad[k] ^= 0x80
		if _, err := Decrypt(bad, guardians[1]); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("byte %d altered: err = %v, want ErrDecrypt", k, err)
		}
	}
	for _, ct := range [][]byte{nil, {4}, cts[1][:len(cts[1])-1]} {
		if _, err := Decrypt(ct, guardians[1]); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("truncated ciphertext: err = %v, want ErrDecrypt", err)
		}
	}
}

func TestGuardianKeyRefused(t *testing.T) {
	shares, err := Split([]byte("k"), 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	offCurve := &ecdsa.PublicKey{Curve: crypto.S256(), X: big.NewInt(1), Y: big.NewInt(1)}
	for name, pub := range map[string]*ecdsa.PublicKey{
		"nil":       nil,
		"no point":  {Curve: crypto.S256()},
		"P-256":     &p256.PublicKey,
		"off curve": offCurve,
	} {
		if _, err := Encrypt(shares[0], pub); !errors.Is(err, ErrGuardianKey) {
			t.Errorf("Encrypt to %s: err = %v, want ErrGuardianKey", name, err)
		}
	}
	ct, err := Encrypt(shares[0], &k1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]*ecdsa.PrivateKey{
		"nil":   nil,
		"no D":  {PublicKey: k1.PublicKey},
		"P-256": p256,
	} {
		if _, err := Decrypt(ct, key); !errors.Is(err, ErrGuardianKey) {
			t.Errorf("Decrypt with %s: err = %v, want ErrGuardianKey", name, err)
		}
	}
	if _, err := Encrypt(Share{}, &k1.PublicKey); !errors.Is(err, ErrMalformed) {
		t.Errorf("Encrypt of zero Share: err = %v, want ErrMalformed", err)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	shares, _ := Split(bytes.Repeat([]byte{1}, 32), 2, 2)
	key, _ := crypto.GenerateKey()
	b.ReportAllocs()
	b.SetBytes(32)
	for b.Loop() {
		if _, err := Encrypt(shares[0], &key.PublicKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	shares, _ := Split(bytes.Repeat([]byte{1}, 32), 2, 2)
	key, _ := crypto.GenerateKey()
	ct, _ := Encrypt(shares[0], &key.PublicKey)
	b.ReportAllocs()
	b.SetBytes(32)
	for b.Loop() {
		if _, err := Decrypt(ct, key); err != nil {
			b.Fatal(err)
		}
	}
}
