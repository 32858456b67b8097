package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testenv"
)

func TestParseOperators(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    string // "id:token;…"
		wantErr bool
	}{
		{"0123456789abcdef", "operator:0123456789abcdef", false},
		{"alice=0123456789abcdef, bob = fedcba9876543210", "alice:0123456789abcdef;bob:fedcba9876543210", false},
		{"", "", true},
		{"short", "", true},
		{"=0123456789abcdef", "", true},
		{"alice=short", "", true},
	} {
		ops, err := parseOperators(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("%q: error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "0123456789") {
				t.Errorf("%q: the error shows the token: %v", c.in, err)
			}
			continue
		}
		var got []string
		for _, o := range ops {
			got = append(got, o.ID+":"+o.Token)
		}
		if strings.Join(got, ";") != c.want {
			t.Errorf("%q: %v, want %s", c.in, got, c.want)
		}
	}
}

// TestRunSignerAndKeys runs `weir run signer` on the real Kafka and geth and makes and
// lists a key with `weir keys`.
func TestRunSignerAndKeys(t *testing.T) {
	brokers := testenv.Kafka(t)
	gethURL := testenv.EthRPC(t)
	addr := freeAddr(t)
	const token = "cmd-test-operator-token-0123"
	t.Setenv(envSignerAddr, addr)
	t.Setenv(envSignerToken, "operator:test="+token)
	t.Setenv(envSignerPassphrase, "cmd test passphrase")
	t.Setenv(envSignerKeystore, "")
	t.Setenv(envSoftHSMModule, "")
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
	keys := func(args ...string) []byte {
		var out bytes.Buffer
		cmd := newRootCmd()
		cmd.SetArgs(append([]string{"keys"}, args...))
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("weir keys %v: %v", args, err)
		}
		return out.Bytes()
	}
	var created struct{ ID, Address, Backend string }
	if err := json.Unmarshal(keys("create", "--label", "ops"), &created); err != nil || created.ID == "" || created.Backend != "keystore" {
		t.Fatalf("keys create: %+v %v", created, err)
	}
	var listed struct {
		Keys []struct{ ID, Address string } `json:"keys"`
	}
	if err := json.Unmarshal(keys("list"), &listed); err != nil || len(listed.Keys) != 1 || listed.Keys[0].Address != created.Address {
		t.Fatalf("keys list: %+v %v", listed, err)
	}
	cancel()
	if err := waitErr(t, errc, 30*time.Second); err != nil {
		t.Fatalf("weir run signer: %v", err)
	}
}
