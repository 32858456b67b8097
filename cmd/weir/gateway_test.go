package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevGateway runs `weir dev` with its gateway: the demo merchant's keys appear under
// the data dir, and a payment intent made with them is created and read back; a second
// run (Redis rebuilt from the broker) accepts the same key and hands out the next deposit
// address index.
func TestDevGateway(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	run := func(want uint32) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		_, errc := startWeir(t, ctx, "dev", "--for", "2m", "--data", dir, "--broker-port", "0", "--http", "127.0.0.1:0",
			"--gateway-addr", addr, "--chain-rate", "5")
		keyFile := filepath.Join(dir, "gateway", demoMerchantFile)
		var keys struct {
			SecretKey string `json:"secret_key"`
		}
		var created struct {
			ID           string `json:"id"`
			Status       string `json:"status"`
			AddressIndex uint32 `json:"address_index"`
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			if b, err := os.ReadFile(keyFile); err == nil && json.Unmarshal(b, &keys) == nil && keys.SecretKey != "" {
				status, body := post(t, "http://"+addr+"/v1/payment_intents", keys.SecretKey, `{"amount":"1000","asset":"ETH","chain_id":1337}`)
				if status == http.StatusCreated {
					if err := json.Unmarshal(body, &created); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("the dev gateway did not create an intent with the demo merchant's key")
			}
			time.Sleep(200 * time.Millisecond) // polling a starting process, with a deadline
		}
		if created.Status != "requires_payment" || created.AddressIndex != want {
			t.Fatalf("created intent = %+v, want address index %d", created, want)
		}
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/payment_intents/"+created.ID, nil)
		req.Header.Set("Authorization", "Bearer "+keys.SecretKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET intent: %d", res.StatusCode)
		}
		cancel()
		if err := waitErr(t, errc, time.Minute); err != nil {
			t.Fatalf("weir dev: %v", err)
		}
	}
	run(0)
	run(1)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func post(t *testing.T, url, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil // not listening yet
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}
