package nonce_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/weirhq/weir/internal/proctest"
	"github.com/weirhq/weir/signer/nonce"
)

// childEnv makes the test binary run crashChild instead of the tests; its value is the
// directory holding the state ("state") and the signature log ("signed").
const childEnv = "WEIR_NONCE_CHILD"

// crashMaxReplacements is the replacement policy of the crash test's signer.
const crashMaxReplacements = 3

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := crashChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "nonce child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashKey is the child's signing key, fixed so the parent can verify the log.
func crashKey() *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("weir nonce crash test")))
	if err != nil {
		panic(err)
	}
	return k
}

// crashChild signs in a loop until it is killed, as a careless caller would: half the
// time at a freshly reserved nonce, sometimes releasing it instead, and otherwise at one
// of the last few nonces again with a new random payload (a restarted caller that
// rebuilt its transaction), one time in eight declaring it a speed-up. Every signature
// it produces is appended to the log with O_APPEND|O_SYNC after it is produced, as
// "nonce payload kind signature"; an ErrDoubleSign refusal appends the nonce to
// "refused" (no fsync: a count for the report, not evidence).
func crashChild(dir string) error {
	key := crashKey()
	from := crypto.PubkeyToAddress(key.PublicKey)
	m, err := nonce.Open(filepath.Join(dir, "state"), fixed(0), nonce.WithMaxReplacements(crashMaxReplacements))
	if err != nil {
		return err
	}
	defer m.Close()
	log, err := os.OpenFile(filepath.Join(dir, "signed"), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_SYNC, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	refusals, err := os.OpenFile(filepath.Join(dir, "refused"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer refusals.Close()
	entries, err := readSigned(filepath.Join(dir, "signed"))
	if err != nil {
		return err
	}
	var top uint64 // highest nonce reserved or signed, as far as this process knows
	for _, e := range entries {
		top = max(top, e.nonce)
	}
	ctx := context.Background()
	for {
		var n uint64
		kind := nonce.Original
		switch r := rand.IntN(16); {
		case r < 8:
			if n, err = m.Reserve(ctx, chain, from); err != nil {
				return err
			}
			top = max(top, n)
			if r == 0 {
				if err := m.Release(chain, from, n); err != nil {
					return fmt.Errorf("release %d: %w", n, err)
				}
				continue
			}
		default:
			n = top - min(top, rand.Uint64N(6))
			if r == 15 {
				kind = nonce.SpeedUp
			}
		}
		var p [32]byte
		for i := range p {
			p[i] = byte(rand.Uint32())
		}
		switch err := m.Record(chain, from, n, p, kind); {
		case errors.Is(err, nonce.ErrDoubleSign):
			if _, err := fmt.Fprintf(refusals, "%d\n", n); err != nil {
				return err
			}
			continue
		case errors.Is(err, nonce.ErrNotReserved):
			continue
		case err != nil:
			return fmt.Errorf("record %d: %w", n, err)
		}
		sig, err := crypto.Sign(p[:], key)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%d %x %d %x\n", n, p, kind, sig)
		if _, err := log.WriteString(line); err != nil {
			return err
		}
	}
}

type signedEntry struct {
	nonce   uint64
	payload [32]byte
	kind    nonce.Replacement
	sig     []byte
}

// readSigned parses the signature log, ignoring a last line cut by a kill.
func readSigned(path string) ([]signedEntry, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []signedEntry
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil { // io.EOF: an unterminated last line is a write the kill cut short
			return out, nil
		}
		fs := strings.Fields(line)
		if len(fs) != 4 {
			return nil, fmt.Errorf("bad log line %q", line)
		}
		var e signedEntry
		n, err1 := strconv.ParseUint(fs[0], 10, 64)
		p, err2 := hex.DecodeString(fs[1])
		k, err3 := strconv.ParseUint(fs[2], 10, 8)
		sig, err4 := hex.DecodeString(fs[3])
		if err := errors.Join(err1, err2, err3, err4); err != nil || len(p) != 32 {
			return nil, fmt.Errorf("bad log line %q: %v", line, err)
		}
		e.nonce, e.kind, e.sig = n, nonce.Replacement(k), sig
		copy(e.payload[:], p)
		out = append(out, e)
	}
}

// TestSIGKILLNeverDoubleSigns runs the signing loop of crashChild in a child process,
// kills it with SIGKILL at a random point many times, restarting it each time on the
// same state, then checks the signature log against the state: every signed payload
// was recorded at its nonce before it was signed; a nonce never has two originals; a
// nonce's other payloads are declared replacements within the policy's maximum.
func TestSIGKILLNeverDoubleSigns(t *testing.T) {
	cycles := 30
	if testing.Short() {
		cycles = 5
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "signed")
	for cycle := range cycles {
		before, err := readSigned(logPath)
		if err != nil {
			t.Fatal(err)
		}
		c := proctest.Start(t, childEnv+"="+dir)
		// Kill once the child has signed 1 to 40 more payloads: by the time the parent
		// sees the log grow, the child is somewhere else in its loop.
		target := len(before) + 1 + rand.IntN(40)
		deadline := time.Now().Add(time.Minute)
		tick := time.NewTicker(2 * time.Millisecond)
		for {
			got, err := readSigned(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) >= target {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: the child signed %d of %d payloads in a minute", cycle, len(got)-len(before), target-len(before))
			}
			<-tick.C
		}
		tick.Stop()
		c.Kill(t)
	}

	entries, err := readSigned(logPath)
	if err != nil {
		t.Fatal(err)
	}
	m := open(t, filepath.Join(dir, "state"), fixed(0))
	from := crypto.PubkeyToAddress(crashKey().PublicKey)
	type perNonce struct {
		originals map[[32]byte]bool
		payloads  map[[32]byte]bool
	}
	byNonce := map[uint64]*perNonce{}
	replaced := 0
	for i, e := range entries {
		if got, err := crypto.SigToPub(e.payload[:], e.sig); err != nil || crypto.PubkeyToAddress(*got) != from {
			t.Fatalf("log line %d: signature does not verify", i)
		}
		rec, ok, err := m.Lookup(chain, from, e.nonce)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || !rec.Has(e.payload) {
			t.Fatalf("nonce %d: payload %x signed without being recorded first (record %+v)", e.nonce, e.payload, rec)
		}
		pn := byNonce[e.nonce]
		if pn == nil {
			pn = &perNonce{originals: map[[32]byte]bool{}, payloads: map[[32]byte]bool{}}
			byNonce[e.nonce] = pn
		}
		pn.payloads[e.payload] = true
		if rec.Payloads[0].Hash == e.payload {
			pn.originals[e.payload] = true
		} else if !slicesHasReplacement(rec, e.payload) {
			t.Fatalf("nonce %d: payload %x is neither the original nor a declared replacement", e.nonce, e.payload)
		}
	}
	for n, pn := range byNonce {
		if len(pn.originals) > 1 {
			t.Fatalf("nonce %d: %d different originals signed", n, len(pn.originals))
		}
		if len(pn.payloads) > 1+crashMaxReplacements {
			t.Fatalf("nonce %d: %d payloads signed, policy allows %d", n, len(pn.payloads), 1+crashMaxReplacements)
		}
		if len(pn.payloads) > 1 {
			replaced++
		}
	}
	refused, err := os.ReadFile(filepath.Join(dir, "refused"))
	if err != nil {
		t.Fatal(err)
	}
	doubles := strings.Count(string(refused), "\n")
	if doubles == 0 {
		t.Fatal("the child never tried to sign a second payload: the guard was not exercised")
	}
	// Every recorded nonce still refuses a new payload.
	for n := range byNonce {
		if err := m.Record(chain, from, n, crypto.Keccak256Hash([]byte("late"), []byte(strconv.FormatUint(n, 10))), nonce.Original); !errors.Is(err, nonce.ErrDoubleSign) {
			t.Fatalf("nonce %d after the kills: %v, want ErrDoubleSign", n, err)
		}
	}
	if len(byNonce) < cycles {
		t.Fatalf("only %d nonces signed in %d cycles", len(byNonce), cycles)
	}
	t.Logf("%d kills, %d signatures over %d nonces (%d with declared replacements), %d second payloads refused, no double sign",
		cycles, len(entries), len(byNonce), replaced, doubles)
}

func slicesHasReplacement(rec nonce.Record, p [32]byte) bool {
	for _, x := range rec.Payloads[1:] {
		if x.Hash == p && x.Kind != nonce.Original {
			return true
		}
	}
	return false
}
