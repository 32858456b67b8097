package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/internal/telemetry"
)

func factories(comps ...Component) func(config.Config, clusterEnv) map[string]componentFactory {
	return func(config.Config, clusterEnv) map[string]componentFactory {
		m := map[string]componentFactory{}
		for _, c := range comps {
			m[c.Name()] = func() (Component, error) { return c, nil }
		}
		return m
	}
}

func TestRunUnknownComponent(t *testing.T) {
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	err := runCluster(t.Context(), "nope", cfg, clusterComponents, io.Discard, discard)
	if err == nil || !strings.Contains(err.Error(), `unknown component "nope"`) {
		t.Errorf("with the real (empty) map: %v", err)
	}
	err = runCluster(t.Context(), "nope", cfg, factories(fakeComp{name: "settle"}, fakeComp{name: "ledger"}), io.Discard, discard)
	if err == nil || !strings.Contains(err.Error(), `unknown component "nope"; known components: ledger, settle`) {
		t.Errorf("with two components: %v", err)
	}
}

func TestRunComponent(t *testing.T) {
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	// Nothing listens here: the kafka check fails, the component's passes.
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"}

	pr, pw := io.Pipe()
	l := newLines()
	go l.consume(pr)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		err := runCluster(ctx, "settle", cfg, factories(fakeComp{name: "settle"}), pw, discard)
		_ = pw.Close()
		errc <- err
	}()
	l.waitFor(t, "weir run settle: reads a.in; writes a.out")
	code, body := httpGet(t, field(t, l, "health"))
	var h telemetry.Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || len(h.Checks) != 2 ||
		h.Checks[0].Name != "kafka" || h.Checks[0].Status != telemetry.StatusFail ||
		h.Checks[1].Name != "settle" || h.Checks[1].Status != telemetry.StatusOK {
		t.Errorf("/healthz = %d %s", code, body)
	}
	if code, _ := httpGet(t, field(t, l, "metrics")); code != http.StatusOK {
		t.Errorf("/metrics = %d", code)
	}
	cancel()
	if err := waitErr(t, errc, 30*time.Second); err != nil {
		t.Fatalf("runCluster: %v", err)
	}
}

func TestRunComponentFails(t *testing.T) {
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	boom := errors.New("ledger out of balance")
	err := runCluster(t.Context(), "ledger", cfg, factories(fakeComp{name: "ledger", failAfter: 100 * time.Millisecond, failErr: boom}), io.Discard, discard)
	if !errors.Is(err, boom) {
		t.Fatalf("runCluster = %v, want %v", err, boom)
	}
}

func TestRunConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "weir.yaml")
	if err := os.WriteFile(bad, []byte("kafka:\n  brokerz: [a:1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "x", "--config", bad}, "field brokerz not found"},
		{[]string{"run", "x", "--brokers", "nohost"}, `kafka.brokers[0]: "nohost": want host:port`},
		{[]string{"run", "x", "--http", "127.0.0.1:0", "--config", filepath.Join(t.TempDir(), "absent.yaml")}, "read file"},
		{[]string{"run", "x", "--http", "127.0.0.1:0"}, `unknown component "x"`},
		{[]string{"run"}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		cmd := newRootCmd()
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(t.Context())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("weir %v = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestVersion(t *testing.T) {
	cmd := newRootCmd()
	cmd.SetArgs([]string{"version"})
	var out strings.Builder
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "weir ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("version = %q", out.String())
	}
}
