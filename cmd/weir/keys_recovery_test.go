package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/weirhq/weir/internal/testenv"
)

func TestKeysRecoveryParseGuardian(t *testing.T) {
	k, _ := crypto.GenerateKey()
	pub := hexutil.Encode(crypto.CompressPubkey(&k.PublicKey))
	if g, err := parseGuardian("guardian:a=" + pub); err != nil || g.ID != "guardian:a" || g.PublicKey != pub {
		t.Fatalf("%+v %v", g, err)
	}
	if g, err := parseGuardian("b=" + pub[2:]); err != nil || g.PublicKey != pub {
		t.Fatalf("without 0x: %+v %v", g, err)
	}
	for _, bad := range []string{"", "a", "=" + pub, "a=0x1234", "a=" + crypto.PubkeyToAddress(k.PublicKey).Hex()} {
		if _, err := parseGuardian(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if d, err := recoveryMinDelay(""); err != nil || d != 0 {
		t.Fatal(d, err)
	}
	if _, err := recoveryMinDelay("-1s"); err == nil {
		t.Fatal("negative minimum delay accepted")
	}
	if got := shareFileName("/d", "guardian:a/../x"); got != "/d/guardian_a_.._x.share.json" {
		t.Fatal(got)
	}
}

// TestKeysRecoveryCLI runs `weir run signer` on the real Kafka and geth and drives a
// whole ceremony with `weir keys`: split to three guardians (share files written),
// recover start, two guardian approvals signed from key files, status, reconstruct
// once the delay passed, rotate; then a freeze and an unfreeze of another key by
// guardian votes.
func TestKeysRecoveryCLI(t *testing.T) {
	brokers := testenv.Kafka(t)
	gethURL := testenv.EthRPC(t)
	addr := freeAddr(t)
	const token = "cmd-recovery-operator-token-0123"
	t.Setenv(envSignerAddr, addr)
	t.Setenv(envSignerToken, "operator:test="+token)
	t.Setenv(envSignerPassphrase, "cmd test passphrase")
	t.Setenv(envSignerKeystore, "")
	t.Setenv(envSoftHSMModule, "")
	t.Setenv(envSignerRecoveryMinDelay, "1s")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, errc := startWeir(t, ctx, "run", "signer", "--brokers", brokers[0], "--http", "127.0.0.1:0",
		"--state-dir", t.TempDir(), "--eth-rpc-url", gethURL, "--eth-chain-id", "1337")
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/keys", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("weir run signer did not serve its API")
		}
		time.Sleep(100 * time.Millisecond) // polling a starting process, with a deadline
	}
	run := func(args ...string) ([]byte, error) {
		var out bytes.Buffer
		cmd := newRootCmd()
		cmd.SetArgs(append([]string{"keys"}, args...))
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(ctx)
		return out.Bytes(), err
	}
	keys := func(out any, args ...string) {
		t.Helper()
		b, err := run(args...)
		if err != nil {
			t.Fatalf("weir keys %v: %v", args, err)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("weir keys %v: %s: %v", args, b, err)
			}
		}
	}
	dir := t.TempDir()
	var gargs []string
	keyFiles := map[string]string{}
	for _, id := range []string{"alice", "bob", "carol"} {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, id+".key")
		if err := os.WriteFile(f, []byte(hex.EncodeToString(crypto.FromECDSA(k))), 0o600); err != nil {
			t.Fatal(err)
		}
		keyFiles[id] = f
		gargs = append(gargs, "--guardian", id+"="+hexutil.Encode(crypto.FromECDSAPub(&k.PublicKey)))
	}
	split := func(keyID string) {
		t.Helper()
		var sp struct {
			SplitID string `json:"split_id"`
			Shares  []struct {
				GuardianID string `json:"guardian_id"`
			} `json:"shares"`
		}
		keys(&sp, append([]string{"split", keyID, "--threshold", "2", "--out", filepath.Join(dir, "shares-"+keyID)}, gargs...)...)
		if sp.SplitID == "" || len(sp.Shares) != 3 {
			t.Fatalf("split: %+v", sp)
		}
	}

	var key struct{ ID, Address string }
	keys(&key, "create", "--label", "cold")
	split(key.ID)
	var rec struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	keys(&rec, "recover", "start", key.ID, "--delay", "2s")
	for _, g := range []string{"alice", "carol"} {
		keys(&rec, "recover", "approve", rec.ID, "--guardian", g, "--guardian-key", keyFiles[g],
			"--share", shareFileName(filepath.Join(dir, "shares-"+key.ID), g))
	}
	if rec.State != "delaying" {
		t.Fatalf("after two approvals: %+v", rec)
	}
	keys(&rec, "recover", "status", rec.ID)
	var kv struct {
		ActiveRecovery string `json:"active_recovery"`
	}
	keys(&kv, "recover", "status", "--key", key.ID)
	if kv.ActiveRecovery != rec.ID {
		t.Fatalf("key status %+v", kv)
	}
	// Reconstruction is refused until the delay has passed.
	for {
		b, err := run("recover", "reconstruct", rec.ID)
		if err == nil {
			if err := json.Unmarshal(b, &rec); err != nil || rec.State != "reconstructed" {
				t.Fatalf("reconstruct: %s %v", b, err)
			}
			break
		}
		if !strings.Contains(err.Error(), "delay_not_elapsed") || time.Now().After(deadline.Add(time.Minute)) {
			t.Fatalf("reconstruct: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // waiting out the real delay of a real process, with a deadline
	}
	var rot struct {
		Recovery struct{ State string } `json:"recovery"`
		NewKey   struct{ ID string }    `json:"new_key"`
	}
	keys(&rot, "rotate", key.ID, "--chain-id", "1337", "--max-fee-per-gas", "1000000000", "--value", "0")
	if rot.Recovery.State != "rotated" || rot.NewKey.ID == "" {
		t.Fatalf("rotate: %+v", rot)
	}
	if _, err := run("recover", "cancel", rec.ID); err == nil || !strings.Contains(err.Error(), "invalid_state") {
		t.Fatalf("cancel after rotation: %v", err)
	}

	var other struct{ ID string }
	keys(&other, "create", "--label", "hot")
	split(other.ID)
	var fz struct {
		Frozen bool   `json:"frozen"`
		Epoch  uint64 `json:"epoch"`
	}
	for i, g := range []string{"bob", "alice"} {
		keys(&fz, "freeze", other.ID, "--guardian", g, "--guardian-key", keyFiles[g])
		if fz.Frozen != (i == 1) {
			t.Fatalf("after %s's freeze vote: %+v", g, fz)
		}
	}
	for i, g := range []string{"carol", "bob"} {
		keys(&fz, "unfreeze", other.ID, "--guardian", g, "--guardian-key", keyFiles[g])
		if fz.Frozen != (i == 0) || (i == 1 && fz.Epoch != 2) {
			t.Fatalf("after %s's unfreeze vote: %+v", g, fz)
		}
	}
	if _, err := run("recover", "start", "nope", "--delay", "2s"); err == nil || !strings.Contains(err.Error(), "unknown_key") {
		t.Fatalf("unknown key: %v", err)
	}
	cancel()
	if err := waitErr(t, errc, 30*time.Second); err != nil {
		t.Fatalf("weir run signer: %v", err)
	}
}
