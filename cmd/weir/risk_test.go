package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weirhq/weir/internal/telemetry"
	"github.com/weirhq/weir/internal/testenv"
)

// TestRunRisk runs `weir run risk` on the real Kafka and Redis from an empty working
// directory, with a sanctions list file named by WEIR_SANCTIONS_FILE: the model and the
// rules come from the binary (the banner names the shipped model and the file's list
// version), /healthz reports Kafka and the online store's Redis healthy, and Ctrl-C
// stops it cleanly. A model directory that does not hold a model stops the command
// with an error naming it.
func TestRunRisk(t *testing.T) {
	brokers := testenv.Kafka(t)
	raddr := testenv.Redis(t)
	t.Chdir(t.TempDir())
	list := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(list, []byte("# version: test-sdn:2026-11-25\n0x00000000000000000000000000000000000000ee\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envSanctionsFile, list)
	t.Setenv(envRiskModelDir, "")
	t.Setenv(envRiskRulesFile, "")
	args := []string{"run", "risk", "--brokers", strings.Join(brokers, ","), "--redis-addr", raddr,
		"--http", "127.0.0.1:0", "--state-dir", t.TempDir()}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	l, errc := startWeir(t, ctx, args...)
	banner := l.waitFor(t, "weir run risk: ")
	for _, want := range []string{"reads chain.transfers and chain.retractions", "writes risk.features and risk.scores",
		"model address_activity_gbm", "sanctions list test-sdn:2026-11-25", "online store (Redis at " + raddr + ")"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner %q lacks %q", banner, want)
		}
	}
	health := field(t, l, "health")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body := httpGet(t, health)
		var h telemetry.Health
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("/healthz: %v: %s", err, body)
		}
		if code == http.StatusOK && len(h.Checks) == 2 && h.Checks[1].Name == "risk" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz = %d %s", code, body)
		}
	}
	cancel()
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("weir run risk: %v", err)
	}

	t.Setenv(envRiskModelDir, filepath.Join(t.TempDir(), "no-model"))
	_, errc = startWeir(t, t.Context(), args...)
	if err := waitErr(t, errc, time.Minute); err == nil || !strings.Contains(err.Error(), "no-model") {
		t.Fatalf("weir run risk with a missing model dir: %v", err)
	}
}

// TestGatewayRiskCheckSetting checks WEIR_GATEWAY_RISK_CHECK: unset or false, no check;
// true, a check with the shipped model and list; anything else, an error naming it.
func TestGatewayRiskCheckSetting(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, v := range []string{"", "false", "0"} {
		if rc, err := gatewayRiskCheck(env(envGatewayRiskCheck, v), rdb); rc != nil || err != nil {
			t.Errorf("%q: %v, %v; want no check", v, rc, err)
		}
	}
	rc, err := gatewayRiskCheck(env(envGatewayRiskCheck, "true"), rdb)
	if err != nil || rc == nil || rc.Scorer == nil || rc.Features == nil || rc.Sanctions == nil || rc.Sanctions.Version() == "" {
		t.Fatalf("true: %+v, %v", rc, err)
	}
	if _, err := gatewayRiskCheck(env(envGatewayRiskCheck, "yes please"), rdb); err == nil || !strings.Contains(err.Error(), envGatewayRiskCheck) {
		t.Errorf("bad value: %v", err)
	}
	if _, err := gatewayRiskCheck(env(envGatewayRiskCheck, "1", envRiskRulesFile, "/nonexistent/rules.yaml"), rdb); err == nil {
		t.Error("a missing rules file: no error")
	}
}
