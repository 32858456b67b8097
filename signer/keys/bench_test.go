package keys

import (
	"context"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// BenchmarkSign compares each backend's Sign with go-ethereum's crypto.Sign, the floor:
//
//	go test -run '^$' -bench Sign -benchmem ./signer/keys/
//
// The HSM case needs WEIR_SOFTHSM2_MODULE (deploy/local/stack.env).
func BenchmarkSign(b *testing.B) {
	ctx := context.Background()
	digest := digestOf("benchmark")
	run := func(b *testing.B, sign func() ([]byte, error)) {
		b.ReportAllocs()
		b.SetBytes(int64(len(digest)))
		for b.Loop() {
			if _, err := sign(); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("crypto.Sign", func(b *testing.B) {
		priv, _ := crypto.GenerateKey()
		run(b, func() ([]byte, error) { return crypto.Sign(digest[:], priv) })
	})

	b.Run("keystore/unlocked", func(b *testing.B) {
		k := newTestKeystore(b, b.TempDir())
		info, err := k.Create(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := k.Unlock(ctx, info.ID); err != nil {
			b.Fatal(err)
		}
		run(b, func() ([]byte, error) { return k.Sign(ctx, info.ID, digest) })
	})

	b.Run("keystore/unlocked/parallel", func(b *testing.B) {
		k := newTestKeystore(b, b.TempDir())
		info, err := k.Create(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := k.Unlock(ctx, info.ID); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(digest)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := k.Sign(ctx, info.ID, digest); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	// Every Sign decrypts the key file: the cost of an unlock duration of 0, with the
	// light scrypt parameters (the standard ones take about a second).
	b.Run("keystore/locked-light-scrypt", func(b *testing.B) {
		k := newTestKeystore(b, b.TempDir(), WithUnlockDuration(0))
		info, err := k.Create(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		run(b, func() ([]byte, error) { return k.Sign(ctx, info.ID, digest) })
	})

	b.Run("hsm/softhsm2", func(b *testing.B) {
		h := openTestHSM(b, newTestToken(b))
		info, err := h.Create(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		run(b, func() ([]byte, error) { return h.Sign(ctx, info.ID, digest) })
	})
}

// BenchmarkEthSignature is what the HSM backend adds to the token's CKM_ECDSA: low-S
// normalization and the recovery id by trial recovery (1.5 Ecrecover on average).
func BenchmarkEthSignature(b *testing.B) {
	priv, _ := crypto.GenerateKey()
	pub := crypto.FromECDSAPub(&priv.PublicKey)
	var raws [][]byte
	var digests [][32]byte
	for i := range 64 {
		d := digestOf(string(rune('a' + i)))
		sig, err := crypto.Sign(d[:], priv)
		if err != nil {
			b.Fatal(err)
		}
		raws, digests = append(raws, sig[:64]), append(digests, d)
	}
	b.ReportAllocs()
	b.SetBytes(32)
	i := 0
	for b.Loop() {
		if _, err := ethSignature(digests[i%64], raws[i%64], pub); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
