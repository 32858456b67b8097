package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/processors/recon"
)

// TestReconComponent: `weir run recon` and `weir dev` both build the reconciliation
// processor, without contacting anything.
func TestReconComponent(t *testing.T) {
	cfg := config.Default()
	cfg.Ethereum.Chains = []config.Chain{{RPCURL: "http://127.0.0.1:8545", ChainID: 5, FinalityDepth: 3}}
	f, ok := clusterComponents(cfg, clusterEnv{Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})[recon.DefaultApp]
	if !ok {
		t.Fatalf("weir run has no %q component", recon.DefaultApp)
	}
	c, err := f()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := c.(Describer)
	if c.Name() != recon.DefaultApp || !ok || !strings.Contains(d.Describe(), "writes recon.results") {
		t.Errorf("component %q", c.Name())
	}

	comps, err := devComponents(devEnv{Brokers: []string{"127.0.0.1:1"}, DataDir: t.TempDir(),
		Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range comps {
		found = found || c.Name() == recon.DefaultApp
	}
	if !found {
		t.Errorf("weir dev does not run %q", recon.DefaultApp)
	}
}
