package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/miekg/pkcs11"
)

// envSoftHSM2Module names the SoftHSM2 PKCS#11 module; deploy/local/stack.env sets it.
const envSoftHSM2Module = "WEIR_SOFTHSM2_MODULE"

const (
	testToken = "test"
	testPIN   = "1234"
	testSOPIN = "5678"
)

// inCI is internal/testenv's rule: CI set and not "false" or "0".
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// softHSM2 returns the module path and the softhsm2-util binary, skipping the test on a
// developer's machine without them and failing it in CI.
func softHSM2(t testing.TB) (module, util string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + ": run deploy/local/up.sh (it installs softhsm2) and source deploy/local/stack.env"
		if inCI() {
			t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
		}
		t.Skip(msg)
	}
	module = strings.TrimSpace(os.Getenv(envSoftHSM2Module))
	if module == "" {
		missing("%s is not set", envSoftHSM2Module)
	}
	if _, err := os.Stat(module); err != nil {
		missing("%s=%s: %v", envSoftHSM2Module, module, err)
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		missing("softhsm2-util: %v", err)
	}
	return module, util
}

// newTestToken makes a SoftHSM2 token of its own for the test, in a temporary directory,
// and points the process's SOFTHSM2_CONF at it (read by the module at C_Initialize).
// It returns the module path.
func newTestToken(t testing.TB) string {
	t.Helper()
	module, util := softHSM2(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command(util, "--init-token", "--free", "--label", testToken,
		"--pin", testPIN, "--so-pin", testSOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return module
}

func pin(p string) PINFunc { return func(context.Context) (string, error) { return p, nil } }

func openTestHSM(t testing.TB, module string, opts ...HSMOption) *HSM {
	t.Helper()
	opts = append([]HSMOption{WithTokenLabel(testToken), WithPIN(pin(testPIN))}, opts...)
	h, err := NewHSM(context.Background(), module, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// TestHSMBackend: SoftHSM2 creates secp256k1 keys, signs, and the signatures verify and
// recover the keys' addresses.
func TestHSMBackend(t *testing.T) {
	testBackend(t, openTestHSM(t, newTestToken(t)), BackendHSM)
}

// TestHSMNotExportable: Export refuses, and the token itself holds the private key as
// sensitive and not extractable (its value cannot be read) — for created and imported keys.
func TestHSMNotExportable(t *testing.T) {
	ctx := context.Background()
	h := openTestHSM(t, newTestToken(t))
	created, err := h.Create(ctx, "made on the token")
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := crypto.GenerateKey()
	imported, err := h.Import(ctx, "imported", priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range []KeyInfo{created, imported} {
		if k, err := h.Export(ctx, info.ID); !errors.Is(err, ErrNotExportable) || k != nil {
			t.Fatalf("Export(%s) = %v, %v; want ErrNotExportable", info.Label, k, err)
		}
		hk, err := h.key(info.ID)
		if err != nil {
			t.Fatal(err)
		}
		err = h.session(ctx, func(s pkcs11.SessionHandle) error {
			attrs, err := h.p.GetAttributeValue(s, hk.priv, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
			})
			if err != nil {
				return err
			}
			if v := attrs[0].Value; len(v) != 1 || v[0] != 0 {
				return fmt.Errorf("CKA_EXTRACTABLE = %x, want false", v)
			}
			if v := attrs[1].Value; len(v) != 1 || v[0] != 1 {
				return fmt.Errorf("CKA_SENSITIVE = %x, want true", v)
			}
			if v := attrs[2].Value; len(v) != 1 || v[0] != 1 {
				return fmt.Errorf("CKA_TOKEN = %x, want true", v)
			}
			if v := attrs[3].Value; string(v) != string(secp256k1OID) {
				return fmt.Errorf("CKA_EC_PARAMS = %x, want secp256k1's OID", v)
			}
			_, err = h.p.GetAttributeValue(s, hk.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
			if !isCKR(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
				return fmt.Errorf("reading CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", info.Label, err)
		}
	}
}

// TestHSMImportFromKeystore is the recovery path: a keystore key exported (as in the
// ceremony) and imported into the HSM signs there for the same address.
func TestHSMImportFromKeystore(t *testing.T) {
	ctx := context.Background()
	h := openTestHSM(t, newTestToken(t))
	ks := newTestKeystore(t, t.TempDir())
	info, err := ks.Create(ctx, "rotating to the HSM")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ks.Export(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	hi, err := h.Import(ctx, "from keystore", priv)
	ZeroKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if hi.Address != info.Address {
		t.Fatalf("imported address %s, want %s", hi.Address, info.Address)
	}
	d := digestOf("signed on the HSM")
	sig, err := h.Sign(ctx, hi.ID, d)
	if err != nil {
		t.Fatal(err)
	}
	checkSig(t, info.PublicKey, d, sig)
}

// TestHSMReopen: keys live on the token, and a new HSM finds them with their labels.
func TestHSMReopen(t *testing.T) {
	ctx := context.Background()
	module := newTestToken(t)
	h := openTestHSM(t, module)
	a, err := h.Create(ctx, "persistent")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := openTestHSM(t, module, WithMaxSessions(1))
	list, err := h2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != a.ID || list[0].Label != "persistent" || list[0].Address != a.Address ||
		!list[0].Created.Equal(a.Created) {
		t.Fatalf("reopened token lists %+v, want %+v", list, a)
	}
	d := digestOf("after reopen")
	sig, err := h2.Sign(ctx, a.ID, d)
	if err != nil {
		t.Fatal(err)
	}
	checkSig(t, a.PublicKey, d, sig)
}

func TestHSMOpenErrors(t *testing.T) {
	ctx := context.Background()
	module := newTestToken(t)
	const wrong = "9999"
	_, err := NewHSM(ctx, module, WithTokenLabel(testToken), WithPIN(pin(wrong)))
	if err == nil || !strings.Contains(err.Error(), "wrong PIN") || strings.Contains(err.Error(), wrong) {
		t.Fatalf("wrong PIN: %v; want an error saying so, without the PIN", err)
	}
	if _, err := NewHSM(ctx, module, WithTokenLabel("nope"), WithPIN(pin(testPIN))); err == nil ||
		!strings.Contains(err.Error(), `no token labelled "nope"`) {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := NewHSM(ctx, module, WithTokenLabel(testToken)); err == nil {
		t.Fatal("no PIN source: accepted")
	}
	if _, err := NewHSM(ctx, filepath.Join(t.TempDir(), "missing.so"), WithPIN(pin(testPIN))); err == nil {
		t.Fatal("missing module: accepted")
	}
	// The token still opens after all that.
	openTestHSM(t, module)
}
