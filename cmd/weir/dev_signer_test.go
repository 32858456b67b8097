package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
)

// TestDevSigner runs `weir dev` with the signer: the banner names it with its address;
// its keystore passphrase and operator token are generated into 0600 files under the
// data dir and appear nowhere in the output; with the token, a key is created, a policy
// published and an EIP-1559 transaction on the simulated chain signed by that key.
func TestDevSigner(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l, errc := startWeir(t, t.Context(), "dev", "--for", "15s", "--data", dir, "--broker-port", "0", "--http", "127.0.0.1:0",
		"--gateway-addr", "", "--signer-addr", addr, "--chain-rate", "1", "--log-level", "warn")
	l.waitFor(t, "running for")
	l.mu.Lock()
	banner := strings.Join(l.all, "\n")
	l.mu.Unlock()
	if !strings.Contains(banner, "signer: the signing API on http://"+addr) {
		t.Fatalf("no signer line with %s in the banner:\n%s", addr, banner)
	}
	call := func(path string, body string, out any) int {
		t.Helper()
		var res *http.Response
		deadline := time.Now().Add(30 * time.Second)
		for {
			tok, rerr := os.ReadFile(filepath.Join(dir, "signer", "operator-token"))
			err = rerr
			if err == nil {
				req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
				res, err = http.DefaultClient.Do(req)
			}
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // poll: the signer starts in the background
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s: %d %s", path, res.StatusCode, b)
			}
		}
		return res.StatusCode
	}
	var key struct{ ID, Address string }
	if st := call("/v1/keys", `{"label": "dev-hot"}`, &key); st != http.StatusCreated {
		t.Fatalf("create key: %d", st)
	}
	if st := call("/v1/policies", `{"id": "default", "rules": [{"name": "eth", "action": "allow", "match": {"assets": ["ETH"]}}]}`, nil); st != http.StatusCreated {
		t.Fatalf("policy: %d", st)
	}
	if st := call("/v1/policies/default/1/publish", "", nil); st != 200 {
		t.Fatalf("publish: %d", st)
	}
	secrets := map[string]string{}
	for _, f := range []string{"keystore-passphrase", "operator-token"} {
		p := filepath.Join(dir, "signer", f)
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v, want 0600", p, err, fi)
		}
		b, _ := os.ReadFile(p)
		secrets[f] = strings.TrimSpace(string(b))
		if len(secrets[f]) < 32 || strings.Contains(banner, secrets[f]) {
			t.Fatalf("%s: %d characters, or printed", f, len(secrets[f]))
		}
	}
	var signed struct {
		RawTx string `json:"raw_tx"`
		Nonce uint64 `json:"nonce"`
	}
	if st := call("/v1/sign/transaction", `{"request_id": "dev-1", "key_id": "`+key.ID+`", "chain_id": 1337,
		"to": "0x00000000000000000000000000000000000000b0", "value": "1", "gas": 21000, "max_fee_per_gas": "2000000000"}`, &signed); st != 200 {
		t.Fatalf("sign: %d", st)
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(hexutil.MustDecode(signed.RawTx)); err != nil {
		t.Fatal(err)
	}
	if from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), &tx); err != nil || from != common.HexToAddress(key.Address) || signed.Nonce != 0 {
		t.Fatalf("sender %v (%v) nonce %d, want %s at 0", from, err, signed.Nonce, key.Address)
	}
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("weir dev: %v", err)
	}
	l.mu.Lock()
	all := strings.Join(l.all, "\n")
	l.mu.Unlock()
	for f, s := range secrets {
		if bytes.Contains([]byte(all), []byte(s)) {
			t.Errorf("%s in the output", f)
		}
	}
}
