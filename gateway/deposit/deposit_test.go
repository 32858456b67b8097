package deposit

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

const hard = hdkeychain.HardenedKeyStart

// derive follows path from k, failing the test on error.
func derive(t testing.TB, k *hdkeychain.ExtendedKey, path ...uint32) *hdkeychain.ExtendedKey {
	t.Helper()
	for _, i := range path {
		var err error
		if k, err = k.Derive(i); err != nil {
			t.Fatalf("derive %d: %v", i, err)
		}
	}
	return k
}

func master(t testing.TB, seed []byte) *hdkeychain.ExtendedKey {
	t.Helper()
	m, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// account returns the master key of seed and the xpub string of its m/44'/60'/0'.
func account(t testing.TB, seed []byte) (*hdkeychain.ExtendedKey, string) {
	t.Helper()
	m := master(t, seed)
	pub, err := derive(t, m, 44+hard, 60+hard, 0+hard).Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return m, pub.String()
}

// privateAddress derives m/44'/60'/0'/0/i privately and returns its address, computed by
// go-ethereum from the private key: an independent path to compare Deriver.Address with.
func privateAddress(t testing.TB, m *hdkeychain.ExtendedKey, i uint32) common.Address {
	t.Helper()
	priv, err := derive(t, m, 44+hard, 60+hard, 0+hard, 0, i).ECPrivKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.ToECDSA(priv.Serialize())
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(key.PublicKey)
}

func testSeed() []byte {
	seed := sha256.Sum256([]byte("weir gateway/deposit test seed"))
	return seed[:]
}

// BIP-32 test vector 1, chain m/0'/1: checks the hdkeychain derivation this package relies on.
func TestBIP32Vector1(t *testing.T) {
	seed, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	m := master(t, seed)
	const (
		wantMasterPub = "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8"
		wantPriv      = "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs"
		wantPub       = "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ"
	)
	mPub, err := m.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	if got := mPub.String(); got != wantMasterPub {
		t.Errorf("m xpub = %s\nwant %s", got, wantMasterPub)
	}
	node := derive(t, m, 0+hard, 1)
	if got := node.String(); got != wantPriv {
		t.Errorf("m/0'/1 xprv = %s\nwant %s", got, wantPriv)
	}
	pub, err := node.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	if got := pub.String(); got != wantPub {
		t.Errorf("m/0'/1 xpub = %s\nwant %s", got, wantPub)
	}
	// Public derivation of the non-hardened step agrees: N(m/0')/1 = N(m/0'/1).
	hardPub, err := derive(t, m, 0+hard).Neuter()
	if err != nil {
		t.Fatal(err)
	}
	if got := derive(t, hardPub, 1).String(); got != wantPub {
		t.Errorf("N(m/0')/1 = %s\nwant %s", got, wantPub)
	}
}

// Public derivation by the Deriver agrees with private derivation along m/44'/60'/0'/0/i.
func TestAddressMatchesPrivatePath(t *testing.T) {
	m, xpub := account(t, testSeed())
	if !strings.HasPrefix(xpub, "xpub") {
		t.Fatalf("account key %s is not an xpub", xpub)
	}
	d, err := NewDeriver(xpub)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[common.Address]bool{}
	for i := range uint32(21) {
		got, err := d.Address(i)
		if err != nil {
			t.Fatalf("Address(%d): %v", i, err)
		}
		if want := privateAddress(t, m, i); got != want {
			t.Errorf("Address(%d) = %s, private path gives %s", i, got, want)
		}
		if seen[got] {
			t.Errorf("Address(%d) = %s repeats", i, got)
		}
		seen[got] = true
	}
	got, err := d.Address(MaxIndex)
	if err != nil {
		t.Fatalf("Address(MaxIndex): %v", err)
	}
	if want := privateAddress(t, m, MaxIndex); got != want {
		t.Errorf("Address(MaxIndex) = %s, private path gives %s", got, want)
	}
}

// The tpub serialization of the same account derives the same addresses.
func TestTestnetVersion(t *testing.T) {
	m, xpub := account(t, testSeed())
	key, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil {
		t.Fatal(err)
	}
	tkey, err := key.CloneWithVersion(chaincfg.TestNet3Params.HDPublicKeyID[:])
	if err != nil {
		t.Fatal(err)
	}
	tpub := tkey.String()
	if !strings.HasPrefix(tpub, "tpub") {
		t.Fatalf("%s is not a tpub", tpub)
	}
	d, err := NewDeriver(tpub)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{0, 7} {
		if got, want := mustAddress(t, d, i), privateAddress(t, m, i); got != want {
			t.Errorf("tpub Address(%d) = %s, want %s", i, got, want)
		}
	}
}

func mustAddress(t testing.TB, d *Deriver, i uint32) common.Address {
	t.Helper()
	a, err := d.Address(i)
	if err != nil {
		t.Fatalf("Address(%d): %v", i, err)
	}
	return a
}

// The well-known BIP-39/BIP-44 vector: "abandon ×11 about", empty passphrase, first Ethereum
// address at m/44'/60'/0'/0/0.
func TestAbandonAboutVector(t *testing.T) {
	const (
		mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
		want     = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
	)
	// BIP-39 seed: PBKDF2-HMAC-SHA512(password = mnemonic, salt = "mnemonic" + passphrase,
	// 2048 iterations, 64 bytes). The mnemonic is ASCII, so NFKD leaves it unchanged.
	seed, err := pbkdf2.Key(sha512.New, mnemonic, []byte("mnemonic"), 2048, 64)
	if err != nil {
		t.Fatal(err)
	}
	m, xpub := account(t, seed)
	d, err := NewDeriver(xpub)
	if err != nil {
		t.Fatal(err)
	}
	got := mustAddress(t, d, 0)
	if got.Hex() != want { // Hex is EIP-55 checksummed: compares the case too
		t.Errorf("Address(0) = %s, want %s", got.Hex(), want)
	}
	if priv := privateAddress(t, m, 0); priv.Hex() != want {
		t.Errorf("private path m/44'/60'/0'/0/0 = %s, want %s", priv.Hex(), want)
	}
}

func TestNewDeriverRefuses(t *testing.T) {
	m, xpub := account(t, testSeed())
	xprv := derive(t, m, 44+hard, 60+hard, 0+hard).String()
	tprvKey, err := derive(t, m, 44+hard, 60+hard, 0+hard).CloneWithVersion(chaincfg.TestNet3Params.HDPrivateKeyID[:])
	if err != nil {
		t.Fatal(err)
	}
	masterPub, err := m.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	chainPub, err := derive(t, m, 44+hard, 60+hard, 0+hard, 0).Neuter()
	if err != nil {
		t.Fatal(err)
	}
	// A depth-3 public key whose last step is not hardened: not a BIP-44 account.
	softPub, err := derive(t, m, 44+hard, 60+hard, 0).Neuter()
	if err != nil {
		t.Fatal(err)
	}
	// An xpub-versioned payload carrying a private key.
	key, err := hdkeychain.NewKeyFromString(xprv)
	if err != nil {
		t.Fatal(err)
	}
	mislabelled, err := key.CloneWithVersion(chaincfg.MainNetParams.HDPublicKeyID[:])
	if err != nil {
		t.Fatal(err)
	}
	// A SLIP-132 zpub (BIP-84) version.
	pubKey, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil {
		t.Fatal(err)
	}
	zpub, err := pubKey.CloneWithVersion([]byte{0x04, 0xb2, 0x47, 0x46})
	if err != nil {
		t.Fatal(err)
	}
	badChecksum := xpub[:len(xpub)-1] + string("12"[boolInt(xpub[len(xpub)-1] == '1')])

	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"xprv", xprv, ErrPrivateKey},
		{"tprv", tprvKey.String(), ErrPrivateKey},
		{"master xprv", m.String(), ErrPrivateKey},
		{"truncated xprv", xprv[:len(xprv)-3], ErrPrivateKey},
		{"xpub label on private key", mislabelled.String(), ErrPrivateKey},
		{"empty", "", ErrMalformed},
		{"garbage", "hello world", ErrMalformed},
		{"not base58", strings.Replace(xpub, xpub[10:11], "0", 1), ErrMalformed},
		{"checksum", badChecksum, ErrMalformed},
		{"truncated", xpub[:len(xpub)-1], ErrMalformed},
		{"too long", xpub + "1", ErrMalformed},
		{"huge", strings.Repeat("x", 1<<16), ErrMalformed},
		{"zpub", zpub.String(), ErrMalformed},
		{"master xpub", masterPub.String(), ErrNotAccount},
		{"chain xpub", chainPub.String(), ErrNotAccount},
		{"non-hardened account", softPub.String(), ErrNotAccount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDeriver(tc.in)
			if !errors.Is(err, tc.want) || d != nil {
				t.Fatalf("NewDeriver = %v, %v; want nil, %v", d, err, tc.want)
			}
			if len(tc.in) > 20 && strings.Contains(err.Error(), tc.in) {
				t.Fatalf("error %q quotes the input", err)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAddressIndexRange(t *testing.T) {
	_, xpub := account(t, testSeed())
	d, err := NewDeriver(xpub)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{hard, hard + 1, 1<<32 - 1} {
		if a, err := d.Address(i); !errors.Is(err, ErrIndex) || a != (common.Address{}) {
			t.Errorf("Address(%d) = %s, %v; want zero, ErrIndex", i, a, err)
		}
	}
}

func TestConcurrentAddress(t *testing.T) {
	m, xpub := account(t, testSeed())
	d, err := NewDeriver(xpub)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]common.Address, 8)
	for i := range want {
		want[i] = privateAddress(t, m, uint32(i))
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range want {
				if got, err := d.Address(uint32(i)); err != nil || got != want[i] {
					t.Errorf("Address(%d) = %s, %v; want %s", i, got, err, want[i])
				}
			}
		})
	}
	wg.Wait()
}

func FuzzNewDeriver(f *testing.F) {
	m, xpub := account(f, testSeed())
	f.Add(xpub)
	f.Add(derive(f, m, 44+hard, 60+hard, 0+hard).String())
	f.Add(m.String())
	f.Add("")
	f.Add("xpub")
	f.Add(xpub[:len(xpub)-1] + "z")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := NewDeriver(s)
		if err != nil {
			if d != nil {
				t.Fatal("NewDeriver returned a Deriver and an error")
			}
			return
		}
		if !strings.HasPrefix(s, "xpub") && !strings.HasPrefix(s, "tpub") {
			t.Fatalf("NewDeriver accepted %q", s)
		}
		if _, err := d.Address(0); err != nil {
			t.Fatalf("Address(0) of an accepted key: %v", err)
		}
	})
}

func BenchmarkAddress(b *testing.B) {
	_, xpub := account(b, testSeed())
	d, err := NewDeriver(xpub)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		if _, err := d.Address(i % (MaxIndex + 1)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestAddressAgreesWithHdkeychain: the direct derivation gives hdkeychain's address for
// the first 2000 indexes and for indexes spread over the whole range.
func TestAddressAgreesWithHdkeychain(t *testing.T) {
	_, xpub := account(t, testSeed())
	d, err := NewDeriver(xpub)
	if err != nil {
		t.Fatal(err)
	}
	check := func(i uint32) {
		fast, err1 := d.Address(i)
		slow, err2 := d.slowAddress(i)
		if err1 != nil || err2 != nil || fast != slow {
			t.Fatalf("index %d: %s (%v), hdkeychain %s (%v)", i, fast, err1, slow, err2)
		}
	}
	for i := uint32(0); i < 2000; i++ {
		check(i)
	}
	for i := uint32(1); i < 1<<31-1 && i > 0; i = i*7 + 13 {
		check(i)
	}
	check(MaxIndex)
}
