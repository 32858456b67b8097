package main

import (
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/processors/recon"
	"github.com/weirhq/weir/processors/stream"
)

// reconComponent builds the reconciliation processor of `weir run recon`: the catalogue's
// topics, its stages' state under cfg.StateDir/recon, and the confirmation depth of each
// indexed chain that sets a finality depth (recon.DefaultDepth for the others).
func reconComponent(cfg config.Config, reg prometheus.Registerer, logger *slog.Logger) (Component, error) {
	depths := map[uint64]uint64{}
	for _, c := range cfg.Ethereum.IndexedChains() {
		if c.FinalityDepth > 0 {
			depths[c.ChainID] = c.FinalityDepth
		}
	}
	return recon.New(recon.Config{StateDir: filepath.Join(cfg.StateDir, recon.DefaultApp), Depths: depths},
		cfg.Kafka.Brokers,
		stream.WithRegisterer(reg),
		stream.WithLogger(logger.With("component", recon.DefaultApp)))
}

// devReconComponent builds the reconciliation processor of `weir dev`: one block of
// confirmation (recon.DevDepth), state under the data dir.
func devReconComponent(env devEnv) (Component, error) {
	return recon.New(recon.Config{StateDir: env.StateDir(recon.DefaultApp), DefaultDepth: recon.DevDepth},
		env.Brokers,
		stream.WithInstanceID("dev"),
		stream.WithRegisterer(env.Registry),
		stream.WithLogger(env.Logger.With("component", recon.DefaultApp)))
}
