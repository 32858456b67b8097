package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
)

const testPassphrase = "correct horse battery staple"

func passphrase(p string) PassphraseFunc {
	return func(context.Context) (string, error) { return p, nil }
}

func newTestKeystore(t testing.TB, dir string, opts ...KeystoreOption) *Keystore {
	t.Helper()
	opts = append([]KeystoreOption{WithPassphrase(passphrase(testPassphrase)), WithScrypt(ScryptLight)}, opts...)
	k, err := NewKeystore(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func TestKeystoreBackend(t *testing.T) {
	testBackend(t, newTestKeystore(t, t.TempDir()), BackendKeystore)
}

// TestKeystoreBackendNoUnlock runs the Backend checks with every Sign decrypting its key;
// scrypt is made trivially cheap (N=16) to keep that affordable under the race detector.
func TestKeystoreBackendNoUnlock(t *testing.T) {
	k := newTestKeystore(t, t.TempDir(), WithUnlockDuration(0), WithScrypt(ScryptParams{N: 16, P: 1}))
	testBackend(t, k, BackendKeystore)
}

func TestKeystoreOptions(t *testing.T) {
	if _, err := NewKeystore(t.TempDir()); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("no passphrase source: %v", err)
	}
	if _, err := NewKeystore(t.TempDir(), WithPassphrase(passphrase("x")), WithScrypt(ScryptParams{N: 1000, P: 1})); err == nil {
		t.Fatal("N not a power of two: accepted")
	}
}

// TestKeystoreFiles: the files survive a reopen, are private, and are geth keystore files
// that go-ethereum decrypts.
func TestKeystoreFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	k := newTestKeystore(t, dir)
	info, err := k.Create(ctx, "treasury")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, info.ID+".json")
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(file)
	if bytes.Contains(data, []byte(testPassphrase)) {
		t.Fatal("the key file holds the passphrase")
	}
	gk, err := keystore.DecryptKey(data, testPassphrase)
	if err != nil {
		t.Fatalf("go-ethereum cannot decrypt the file: %v", err)
	}
	if gk.Address != info.Address || gk.Id.String() != info.ID {
		t.Fatalf("geth reads address %s id %s, want %s %s", gk.Address, gk.Id, info.Address, info.ID)
	}
	_ = k.Close()

	k2 := newTestKeystore(t, dir)
	list, err := k2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("reopened: %d keys, want 1", len(list))
	}
	got := list[0]
	if got.ID != info.ID || got.Label != "treasury" || got.Address != info.Address ||
		!got.Created.Equal(info.Created) || got.PublicKey == nil || !got.PublicKey.Equal(info.PublicKey) {
		t.Fatalf("reopened: %+v, want %+v", got, info)
	}
	d := digestOf("reopened")
	sig, err := k2.Sign(ctx, info.ID, d)
	if err != nil {
		t.Fatal(err)
	}
	checkSig(t, info.PublicKey, d, sig)
}

// TestKeystoreGethFile: a key file written by go-ethereum's keystore is listed and signs.
func TestKeystoreGethFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	acct, err := keystore.StoreKey(dir, testPassphrase, keystore.LightScryptN, keystore.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	k := newTestKeystore(t, dir)
	list, err := k.List(ctx)
	if err != nil || len(list) != 1 || list[0].Address != acct.Address {
		t.Fatalf("List = %+v, %v; want the geth key %s", list, err, acct.Address)
	}
	d := digestOf("geth file")
	sig, err := k.Sign(ctx, list[0].ID, d)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := crypto.SigToPub(d[:], sig)
	if err != nil || crypto.PubkeyToAddress(*pub) != acct.Address {
		t.Fatalf("signature recovers %v (%v), want %s", pub, err, acct.Address)
	}
}

func TestKeystoreWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	info, err := newTestKeystore(t, dir).Create(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "Tr0ub4dor&3"
	k := newTestKeystore(t, dir, WithPassphrase(passphrase(wrong)))
	for name, f := range map[string]func() error{
		"Sign":   func() error { _, err := k.Sign(ctx, info.ID, digestOf("x")); return err },
		"Export": func() error { _, err := k.Export(ctx, info.ID); return err },
		"Unlock": func() error { return k.Unlock(ctx, info.ID) },
	} {
		err := f()
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("%s with a wrong passphrase: %v, want ErrWrongPassphrase", name, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "wrong passphrase") || !strings.Contains(msg, info.ID) ||
			strings.Contains(msg, wrong) {
			t.Fatalf("%s: error %q should say wrong passphrase and the key, never the passphrase", name, msg)
		}
	}
	// A passphrase source that fails is reported as such.
	boom := errors.New("vault sealed")
	k3 := newTestKeystore(t, dir, WithPassphrase(func(context.Context) (string, error) { return "", boom }))
	if _, err := k3.Sign(ctx, info.ID, digestOf("x")); !errors.Is(err, boom) {
		t.Fatalf("failing passphrase source: %v", err)
	}
}

// TestKeystoreExport: Export returns an independent copy (zeroing it leaves the
// keystore working), which another keystore imports and signs with identically
// (crypto.Sign is deterministic).
func TestKeystoreExport(t *testing.T) {
	ctx := context.Background()
	src := newTestKeystore(t, t.TempDir())
	info, err := src.Create(ctx, "to split")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := src.Export(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if crypto.PubkeyToAddress(priv.PublicKey) != info.Address {
		t.Fatal("exported key has another address")
	}
	dst := newTestKeystore(t, t.TempDir())
	imported, err := dst.Import(ctx, "recovered", priv)
	if err != nil {
		t.Fatal(err)
	}
	ZeroKey(priv)
	if priv.D.Sign() != 0 {
		t.Fatal("ZeroKey left the scalar")
	}
	d := digestOf("same key, same signature")
	s1, err := src.Sign(ctx, info.ID, d)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := dst.Sign(ctx, imported.ID, d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s1, s2) {
		t.Fatal("the imported key signs differently")
	}
	checkSig(t, info.PublicKey, d, s1)
}

// TestKeystoreUnlockDuration: a key is kept decrypted while used and zeroed once idle for
// the unlock duration; with 0 it is never kept.
func TestKeystoreUnlockDuration(t *testing.T) {
	unlocked := func(k *Keystore, id string) bool {
		k.mu.RLock()
		defer k.mu.RUnlock()
		return k.keys[id].priv != nil
	}
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		k := newTestKeystore(t, t.TempDir(), WithUnlockDuration(time.Minute))
		info, err := k.Create(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if unlocked(k, info.ID) {
			t.Fatal("Create left the key unlocked")
		}
		if _, err := k.Sign(ctx, info.ID, digestOf("a")); err != nil {
			t.Fatal(err)
		}
		// Used every 40s: never idle for a minute, stays unlocked.
		for range 3 {
			time.Sleep(40 * time.Second)
			synctest.Wait()
			if !unlocked(k, info.ID) {
				t.Fatal("key locked while in use")
			}
			if _, err := k.Sign(ctx, info.ID, digestOf("b")); err != nil {
				t.Fatal(err)
			}
		}
		cached := func() *ecdsa.PrivateKey { k.mu.RLock(); defer k.mu.RUnlock(); return k.keys[info.ID].priv }()
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if unlocked(k, info.ID) {
			t.Fatal("key still unlocked after a minute idle")
		}
		if cached.D.Sign() != 0 {
			t.Fatal("the expired key was not zeroed")
		}
		// Signs again (decrypting again) after expiry.
		d := digestOf("c")
		sig, err := k.Sign(ctx, info.ID, d)
		if err != nil {
			t.Fatal(err)
		}
		checkSig(t, info.PublicKey, d, sig)
		_ = k.Close()
		if unlocked(k, info.ID) {
			t.Fatal("Close left the key unlocked")
		}
	})

	k := newTestKeystore(t, t.TempDir(), WithUnlockDuration(0))
	info, err := k.Create(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Unlock(context.Background(), info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(context.Background(), info.ID, digestOf("a")); err != nil {
		t.Fatal(err)
	}
	if unlocked(k, info.ID) {
		t.Fatal("unlock duration 0 kept the key")
	}
}
