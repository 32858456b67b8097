package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/sync/errgroup"
)

func digestOf(s string) [32]byte { return [32]byte(crypto.Keccak256([]byte(s))) }

// checkSig fails t unless sig is a canonical Ethereum signature of digest by pub.
func checkSig(t testing.TB, pub *ecdsa.PublicKey, digest [32]byte, sig []byte) {
	t.Helper()
	if len(sig) != 65 {
		t.Fatalf("signature is %d bytes, want 65", len(sig))
	}
	if v := sig[64]; v > 1 {
		t.Fatalf("V = %d, want 0 or 1", v)
	}
	if s := new(big.Int).SetBytes(sig[32:64]); s.Cmp(secp256k1HalfN) > 0 {
		t.Fatalf("S is in the upper half: %x", sig[32:64])
	}
	rec, err := crypto.Ecrecover(digest[:], sig)
	if err != nil {
		t.Fatalf("Ecrecover: %v", err)
	}
	if !bytes.Equal(rec, crypto.FromECDSAPub(pub)) {
		t.Fatalf("Ecrecover gives another public key")
	}
	got, err := crypto.SigToPub(digest[:], sig)
	if err != nil {
		t.Fatalf("SigToPub: %v", err)
	}
	if crypto.PubkeyToAddress(*got) != crypto.PubkeyToAddress(*pub) {
		t.Fatalf("SigToPub recovers %s, want %s", crypto.PubkeyToAddress(*got), crypto.PubkeyToAddress(*pub))
	}
	if !crypto.VerifySignature(crypto.FromECDSAPub(pub), digest[:], sig[:64]) {
		t.Fatalf("VerifySignature fails")
	}
}

// TestEthSignature checks the low-S normalization and the recovery id against
// go-ethereum's crypto.Sign: a raw r || s, with s in either half, must come out as
// exactly what crypto.Sign returns.
func TestEthSignature(t *testing.T) {
	n := secp256k1N
	highS := func(sig []byte) []byte { // r || N-s: the other valid signature
		out := slices.Clone(sig[:64])
		s := new(big.Int).SetBytes(sig[32:64])
		new(big.Int).Sub(n, s).FillBytes(out[32:])
		return out
	}
	other, _ := crypto.GenerateKey()
	type tc struct {
		name    string
		raw     func(sig []byte) []byte // from crypto.Sign's output
		pub     func(k *ecdsa.PrivateKey) []byte
		wantErr bool
	}
	own := func(k *ecdsa.PrivateKey) []byte { return crypto.FromECDSAPub(&k.PublicKey) }
	cases := []tc{
		{name: "low S as is", raw: func(s []byte) []byte { return slices.Clone(s[:64]) }, pub: own},
		{name: "high S normalized", raw: highS, pub: own},
		{name: "another key's public key", raw: func(s []byte) []byte { return slices.Clone(s[:64]) },
			pub: func(*ecdsa.PrivateKey) []byte { return crypto.FromECDSAPub(&other.PublicKey) }, wantErr: true},
		{name: "short", raw: func(s []byte) []byte { return slices.Clone(s[:63]) }, pub: own, wantErr: true},
		{name: "DER, not raw", raw: func(s []byte) []byte { return append([]byte{0x30, 0x44}, s[:64]...) }, pub: own, wantErr: true},
		{name: "r = 0", raw: func(s []byte) []byte { o := slices.Clone(s[:64]); clear(o[:32]); return o }, pub: own, wantErr: true},
		{name: "s = 0", raw: func(s []byte) []byte { o := slices.Clone(s[:64]); clear(o[32:]); return o }, pub: own, wantErr: true},
		{name: "s = N", raw: func(s []byte) []byte { o := slices.Clone(s[:64]); n.FillBytes(o[32:]); return o }, pub: own, wantErr: true},
	}
	// Enough keys and digests that both recovery ids occur.
	seenV := map[byte]bool{}
	for i := range 16 {
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256(fmt.Appendf(nil, "digest %d", i))
		want, err := crypto.Sign(digest[:], key)
		if err != nil {
			t.Fatal(err)
		}
		seenV[want[64]] = true
		for _, c := range cases {
			t.Run(fmt.Sprintf("%d/%s", i, c.name), func(t *testing.T) {
				got, err := ethSignature(digest, c.raw(want), c.pub(key))
				if c.wantErr {
					if !errors.Is(err, ErrBadSignature) {
						t.Fatalf("err = %v, want ErrBadSignature", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("got %x\nwant %x (crypto.Sign)", got, want)
				}
				checkSig(t, &key.PublicKey, digest, got)
			})
		}
	}
	if !seenV[0] || !seenV[1] {
		t.Fatalf("recovery ids seen: %v; want both", seenV)
	}
}

func TestCanonicalKey(t *testing.T) {
	good, _ := crypto.GenerateKey()
	other, _ := crypto.GenerateKey()
	mismatched := copyKey(good)
	mismatched.PublicKey = other.PublicKey
	for _, c := range []struct {
		name string
		key  *ecdsa.PrivateKey
		ok   bool
	}{
		{"nil", nil, false},
		{"good", good, true},
		{"scalar only", &ecdsa.PrivateKey{D: new(big.Int).Set(good.D)}, true},
		{"D = 0", &ecdsa.PrivateKey{D: new(big.Int)}, false},
		{"D = N", &ecdsa.PrivateKey{D: new(big.Int).Set(secp256k1N)}, false},
		{"public key of another key", mismatched, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := canonicalKey(c.key)
			if !c.ok {
				if !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("err = %v, want ErrInvalidKey", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.D.Cmp(good.D) != 0 || got.X.Cmp(good.X) != 0 {
				t.Fatal("canonical key differs")
			}
		})
	}
}

// testBackend runs the checks that every Backend must pass on a fresh one.
func testBackend(t *testing.T, b Backend, name string) {
	ctx := context.Background()

	a, err := b.Create(ctx, "hot wallet")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	c, err := b.Create(ctx, "cold wallet")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	for _, k := range []KeyInfo{a, c} {
		if k.ID == "" || k.Backend != name || k.PublicKey == nil {
			t.Fatalf("KeyInfo %+v: want an ID, Backend %q and a public key", k, name)
		}
		if name == BackendKeystore && k.Created.IsZero() {
			t.Fatalf("KeyInfo %+v: want a creation time", k)
		}
		if crypto.PubkeyToAddress(*k.PublicKey) != k.Address {
			t.Fatalf("KeyInfo address %s does not match its public key", k.Address)
		}
	}

	t.Run("List", func(t *testing.T) {
		list, err := b.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("List: %d keys, want 2", len(list))
		}
		byID := map[string]KeyInfo{}
		for _, k := range list {
			byID[k.ID] = k
		}
		for _, want := range []KeyInfo{a, c} {
			got, ok := byID[want.ID]
			if !ok || got.Label != want.Label || got.Address != want.Address {
				t.Fatalf("List has %+v, want %+v", got, want)
			}
		}
	})

	t.Run("Sign", func(t *testing.T) {
		for i := range 20 {
			d := digestOf(fmt.Sprint("payment ", i))
			sig, err := b.Sign(ctx, a.ID, d)
			if err != nil {
				t.Fatal(err)
			}
			checkSig(t, a.PublicKey, d, sig)
		}
	})

	t.Run("errors", func(t *testing.T) {
		if _, err := b.Sign(ctx, "no-such-key", digestOf("x")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Sign unknown key: %v, want ErrNotFound", err)
		}
		if _, err := b.Export(ctx, "no-such-key"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Export unknown key: %v, want ErrNotFound", err)
		}
		for _, l := range []string{"", string(make([]byte, MaxLabelLen+1)), "\xff"} {
			if _, err := b.Create(ctx, l); !errors.Is(err, ErrInvalidLabel) {
				t.Errorf("Create(%q): %v, want ErrInvalidLabel", l, err)
			}
		}
		if _, err := b.Import(ctx, "bad", &ecdsa.PrivateKey{D: new(big.Int)}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Import of D = 0: %v, want ErrInvalidKey", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := b.Sign(cctx, a.ID, digestOf("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Sign with a canceled context: %v", err)
		}
	})

	t.Run("Import", func(t *testing.T) {
		priv, _ := crypto.GenerateKey()
		k, err := b.Import(ctx, "recovered", priv)
		if err != nil {
			t.Fatal(err)
		}
		if k.Address != crypto.PubkeyToAddress(priv.PublicKey) || k.Label != "recovered" {
			t.Fatalf("Import: %+v", k)
		}
		d := digestOf("after recovery")
		sig, err := b.Sign(ctx, k.ID, d)
		if err != nil {
			t.Fatal(err)
		}
		checkSig(t, &priv.PublicKey, d, sig)
		if _, err := b.Import(ctx, "again", priv); !errors.Is(err, ErrExists) {
			t.Fatalf("second Import of the same key: %v, want ErrExists", err)
		}
		list, _ := b.List(ctx)
		if len(list) != 3 {
			t.Fatalf("List after Import: %d keys, want 3", len(list))
		}
	})

	t.Run("concurrent Sign", func(t *testing.T) {
		var g errgroup.Group
		for w := range 8 {
			g.Go(func() error {
				for i := range 25 {
					k := a
					if i%2 == 1 {
						k = c
					}
					d := digestOf(fmt.Sprintf("worker %d sig %d", w, i))
					sig, err := b.Sign(ctx, k.ID, d)
					if err != nil {
						return err
					}
					rec, err := crypto.SigToPub(d[:], sig)
					if err != nil {
						return err
					}
					if crypto.PubkeyToAddress(*rec) != k.Address {
						return fmt.Errorf("worker %d: signature recovers %s, want %s", w, crypto.PubkeyToAddress(*rec), k.Address)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Close", func(t *testing.T) {
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := b.Sign(ctx, a.ID, digestOf("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("Sign after Close: %v, want ErrClosed", err)
		}
		if _, err := b.Create(ctx, "late"); !errors.Is(err, ErrClosed) {
			t.Errorf("Create after Close: %v, want ErrClosed", err)
		}
		if _, err := b.List(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("List after Close: %v, want ErrClosed", err)
		}
	})
}
