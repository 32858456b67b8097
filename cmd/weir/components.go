package main

import (
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirhq/weir/bench/loadgen"
	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/processors/totals"
)

// This file is the one place where components are wired into the binary: devComponents
// for `weir dev`, clusterComponents for `weir run`. Adding a component means adding it
// to both.

// devEnv is what `weir dev` hands to the components it runs.
type devEnv struct {
	// Brokers are the seed brokers of the embedded broker.
	Brokers []string
	// DataDir is the --data directory. A component keeps its local state under
	// StateDir(name); the broker's state is under DataDir/broker.
	DataDir string
	// Registry is the metrics registry served on /metrics; components register their
	// collectors on it (never on the global default registry).
	Registry *prometheus.Registry
	// Logger is the process logger; components add their own attributes
	// (logger.With("component", name)).
	Logger *slog.Logger
	// DemoPostings is the rate of generated ledger postings (--demo-postings); 0: none.
	DemoPostings int
}

// StateDir returns the directory for the local state of the component called name.
func (e devEnv) StateDir(name string) string { return filepath.Join(e.DataDir, name) }

// devComponents builds every component that `weir dev` runs, in start order. It must not
// block or contact anything: components connect in Run.
func devComponents(env devEnv) ([]Component, error) {
	tot, err := totals.New(totals.Config{}, env.Brokers,
		stream.WithStateDir(env.StateDir(totals.DefaultApp)),
		stream.WithInstanceID("dev"),
		stream.WithRegisterer(env.Registry),
		stream.WithLogger(env.Logger.With("component", totals.DefaultApp)))
	if err != nil {
		return nil, err
	}
	comps := []Component{tot}
	if env.DemoPostings > 0 {
		comps = append(comps, &loadgen.Postings{Brokers: env.Brokers, Rate: env.DemoPostings,
			Logger: env.Logger.With("component", "demo-postings")})
	}
	return comps, nil
}

// clusterEnv is what `weir run` hands to the component it runs, besides the Config.
type clusterEnv struct {
	// Registry is the metrics registry served on /metrics.
	Registry *prometheus.Registry
	// Logger is the process logger.
	Logger *slog.Logger
}

// componentFactory builds one component. It must not block or contact anything:
// components connect in Run.
type componentFactory func() (Component, error)

// clusterComponents maps each component name that `weir run NAME` accepts to its
// factory, which builds it from cfg (the servers' addresses; its local state under
// cfg.StateDir/NAME). Only the chosen component is built.
func clusterComponents(cfg config.Config, env clusterEnv) map[string]componentFactory {
	return map[string]componentFactory{
		totals.DefaultApp: func() (Component, error) {
			return totals.New(totals.Config{}, cfg.Kafka.Brokers,
				stream.WithStateDir(filepath.Join(cfg.StateDir, totals.DefaultApp)),
				stream.WithRegisterer(env.Registry),
				stream.WithLogger(env.Logger.With("component", totals.DefaultApp)))
		},
	}
}
