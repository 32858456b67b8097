package main

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirhq/weir/bench/loadgen"
	"github.com/weirhq/weir/gateway"
	"github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/processors/recon"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/processors/totals"
	"github.com/weirhq/weir/signer"
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
	// RPC is the Ethereum node to index (--rpc); "" runs the simulated chain.
	RPC string
	// ChainID is the chain RPC must serve (--chain-id); 0 accepts the node's.
	ChainID uint64
	// ChainRate is the simulated chain's transactions per second (--chain-rate).
	ChainRate int
	// ReorgEvery is how many blocks apart the simulated chain reorganises (--reorg-every).
	ReorgEvery int
	// GatewayAddr is the merchant API's listen address (--gateway-addr); "" runs no gateway.
	GatewayAddr string
	// SignerAddr is the signing API's listen address (--signer-addr); "" runs no signer.
	SignerAddr string
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
	rec, err := devReconComponent(env)
	if err != nil {
		return nil, err
	}
	comps := []Component{tot, rec}
	riskComp, err := devRiskComponent(env)
	if err != nil {
		return nil, err
	}
	alertsComp, err := devAlertsComponent(env)
	if err != nil {
		return nil, err
	}
	comps = append(comps, riskComp, alertsComp)
	comps = append(comps, devChainComponents(env)...)
	comps = append(comps, devSinkComponents(env)...)
	if env.GatewayAddr != "" {
		comps = append(comps, &devGateway{addr: env.GatewayAddr, brokers: env.Brokers, dir: env.StateDir(gateway.DefaultComponent),
			assets: []gateway.Asset{{Code: "ETH", Decimals: 18, ChainIDs: []uint64{config.DefaultEthChainID}}},
			logger: env.Logger.With("component", gateway.DefaultComponent), risk: riskComp.gatewayCheck})
	}
	if env.SignerAddr != "" {
		comps = append(comps, &devSigner{addr: env.SignerAddr, brokers: env.Brokers, dir: env.StateDir(signer.DefaultComponent),
			rpc: env.RPC, chainID: env.ChainID, logger: env.Logger.With("component", signer.DefaultComponent)})
	}
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
	factories := map[string]componentFactory{
		ethereum.DefaultComponent: func() (Component, error) {
			return ingestComponent(cfg.Ethereum.IndexedChains(), cfg.Kafka.Brokers, env.Registry, env.Logger)
		},
		totals.DefaultApp: func() (Component, error) {
			return totals.New(totals.Config{}, cfg.Kafka.Brokers,
				stream.WithStateDir(filepath.Join(cfg.StateDir, totals.DefaultApp)),
				stream.WithRegisterer(env.Registry),
				stream.WithLogger(env.Logger.With("component", totals.DefaultApp)))
		},
	}
	factories[gateway.DefaultComponent] = func() (Component, error) { return gatewayComponent(cfg, env.Logger) }
	factories[recon.DefaultApp] = func() (Component, error) { return reconComponent(cfg, env.Registry, env.Logger) }
	factories["risk"] = func() (Component, error) { return riskClusterComponent(cfg, os.LookupEnv, env.Registry, env.Logger) }
	factories[signer.DefaultComponent] = func() (Component, error) { return signerComponent(cfg, os.LookupEnv, env.Logger) }
	addAlertsComponents(factories, cfg, env)
	for name, f := range sinkComponents(cfg, env.Registry, env.Logger) {
		factories[name] = f
	}
	return factories
}

// ingestComponent builds the Ethereum indexers of chains as one component.
func ingestComponent(chains []config.Chain, brokers []string, reg prometheus.Registerer, logger *slog.Logger) (Component, error) {
	metrics := ethereum.NewMetrics(reg)
	cfgs := make([]ethereum.Config, len(chains))
	for i, c := range chains {
		cfgs[i] = ethereum.Config{
			Name: c.Name, RPCURL: c.RPCURL, WSURL: c.WSURL, ChainID: c.ChainID, Brokers: brokers,
			StartBlock: c.StartBlock, StartAtHead: c.StartAtHead, FinalityDepth: c.FinalityDepth,
			InternalTransfers: c.InternalTransfers,
			Metrics:           metrics, Logger: logger.With("component", ethereum.DefaultComponent),
		}
	}
	return ethereum.NewGroup(ethereum.DefaultComponent, cfgs)
}
