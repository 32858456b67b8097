package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/bench/chaingen"
	"github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/schemas/codec"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// labelsTopic is where the generator's fraud labels go (schemas/catalog).
const labelsTopic = "risk.labels"

// endpoint is where a chain's node answers.
type endpoint struct {
	RPCURL, WSURL string
	ChainID       uint64
}

// simChain is the `weir dev` chain: go-ethereum's simulated backend on loopback, driven
// by the traffic generator (bench/chaingen), its fraud labels written to risk.labels.
// The indexer learns its address through ready.
type simChain struct {
	cfg     chaingen.Config
	brokers []string
	log     *slog.Logger

	ready chan endpoint // receives the endpoint once the chain is up, then is closed
}

func newSimChain(cfg chaingen.Config, brokers []string, logger *slog.Logger) *simChain {
	return &simChain{cfg: cfg, brokers: brokers, log: logger, ready: make(chan endpoint, 1)}
}

func (s *simChain) Name() string { return "chain-sim" }

func (s *simChain) Describe() string {
	return fmt.Sprintf("simulated Ethereum chain %d, %d tx/s, a block every %s, fraud patterns, reorgs every %d blocks; writes %s",
		chaingen.ChainID, s.cfg.Rate, s.cfg.BlockInterval, s.cfg.ReorgEvery, labelsTopic)
}

func (s *simChain) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.DefaultProduceTopic(labelsTopic))
	if err != nil {
		return err
	}
	defer cl.Close()
	cfg := s.cfg
	cfg.OnLabel = func(l *riskv1.RiskLabel) {
		v, err := codec.Marshal(l)
		if err != nil {
			s.log.Error("label not written", "err", err)
			return
		}
		cl.Produce(ctx, &kgo.Record{Key: []byte(l.GetEntityId()), Value: v, Timestamp: l.GetMeta().GetEventTime().AsTime()},
			func(_ *kgo.Record, err error) {
				if err != nil && ctx.Err() == nil {
					s.log.Error("label not written", "err", err)
				}
			})
	}
	cfg.OnReorg = func(r chaingen.ReorgInfo) {
		s.log.Info("simulated chain reorganised", "depth", r.Depth, "ancestor", r.Ancestor.Number, "new_head", r.NewHead.Number)
	}
	chain, err := chaingen.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("simulated chain: %w", err)
	}
	defer chain.Close()
	s.ready <- endpoint{RPCURL: chain.URL(), WSURL: chain.WSURL(), ChainID: chaingen.ChainID}
	close(s.ready)
	s.log.Info("simulated chain up", "rpc", chain.URL(), "ws", chain.WSURL(), "token", chain.Token().Hex())
	err = chain.Run(ctx)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = cl.Flush(fctx)
	return err
}

// lazyIngest is the `weir dev` indexer: its node is known only at run time (the
// simulated chain's ports, or the chain id of --rpc), so it builds the indexer in Run.
type lazyIngest struct {
	resolve func(ctx context.Context) (endpoint, error)
	desc    string
	brokers []string
	metrics *ethereum.Metrics
	log     *slog.Logger
}

func (l *lazyIngest) Name() string     { return ethereum.DefaultComponent }
func (l *lazyIngest) Describe() string { return l.desc }

func (l *lazyIngest) Run(ctx context.Context) error {
	ep, err := l.resolve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	g, err := ethereum.NewGroup(ethereum.DefaultComponent, []ethereum.Config{{
		RPCURL: ep.RPCURL, WSURL: ep.WSURL, ChainID: ep.ChainID, Brokers: l.brokers,
		Metrics: l.metrics, Logger: l.log,
	}})
	if err != nil {
		return err
	}
	l.log.Info("indexing", "rpc", ep.RPCURL, "chain", ep.ChainID)
	return g.Run(ctx)
}

// devChainComponents returns the chain components of `weir dev`: the simulated chain and
// its indexer, or with rpc set an indexer of that node alone (chainID 0: whatever chain
// the node serves).
func devChainComponents(env devEnv) []Component {
	logger := env.Logger.With("component", ethereum.DefaultComponent)
	metrics := ethereum.NewMetrics(env.Registry)
	if env.RPC != "" {
		return []Component{&lazyIngest{
			desc:    fmt.Sprintf("indexes the node at %s into chain.*", env.RPC),
			brokers: env.Brokers, metrics: metrics, log: logger,
			resolve: func(ctx context.Context) (endpoint, error) {
				ep := endpoint{RPCURL: env.RPC, ChainID: env.ChainID}
				if ep.ChainID != 0 {
					return ep, nil
				}
				c, err := ethclient.DialContext(ctx, env.RPC)
				if err != nil {
					return ep, fmt.Errorf("ethereum node %s: %w", env.RPC, err)
				}
				defer c.Close()
				id, err := c.ChainID(ctx)
				if err != nil {
					return ep, fmt.Errorf("ethereum node %s: chain id: %w", env.RPC, err)
				}
				ep.ChainID = id.Uint64()
				return ep, nil
			},
		}}
	}
	sim := newSimChain(chaingen.Config{Rate: env.ChainRate, BlockInterval: time.Second, ReorgEvery: env.ReorgEvery},
		env.Brokers, env.Logger.With("component", "chain-sim"))
	return []Component{sim, &lazyIngest{
		desc:    "indexes the simulated chain into chain.*",
		brokers: env.Brokers, metrics: metrics, log: logger,
		resolve: func(ctx context.Context) (endpoint, error) {
			select {
			case ep, ok := <-sim.ready:
				if !ok {
					return endpoint{}, fmt.Errorf("simulated chain stopped")
				}
				return ep, nil
			case <-ctx.Done():
				return endpoint{}, ctx.Err()
			}
		},
	}}
}

var (
	_ Describer = (*simChain)(nil)
	_ Describer = (*lazyIngest)(nil)
)
