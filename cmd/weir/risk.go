package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/features/online"
	"github.com/weirhq/weir/features/processor"
	"github.com/weirhq/weir/features/sanctions"
	"github.com/weirhq/weir/gateway"
	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/models/score"
	"github.com/weirhq/weir/processors/alerts"
	"github.com/weirhq/weir/processors/risk"
	"github.com/weirhq/weir/processors/stream"
)

// The risk component's settings come from the environment (internal/config has no risk
// section yet). Every one defaults to what ships inside the binary, so `weir run risk`
// works from any working directory with no files at all.
const (
	// envRiskModelDir is a directory with model.txt and model.json (models/train writes
	// them). Default "": the shipped model (models/default, embedded).
	envRiskModelDir = "WEIR_RISK_MODEL_DIR"
	// envRiskRulesFile is a rule set in YAML (models/rules). Default "": the default rules
	// (models/rules/default.yaml, embedded).
	envRiskRulesFile = "WEIR_RISK_RULES_FILE"
	// envSanctionsFile is a sanctions list: OFAC sdn.xml, SDN_ADVANCED.XML, sdn.csv or
	// weir's address list (features/sanctions). Default "": the shipped excerpt, which is
	// NOT the current SDN list.
	envSanctionsFile = "WEIR_SANCTIONS_FILE"
	// envGatewayRiskCheck turns on the gateway's risk check of payouts (gateway.RiskCheck)
	// in `weir run gateway`: "true" or "1". The check reads the online store on the
	// gateway's Redis (so `weir run risk` must write to the same one) and scores with the
	// model, rules and sanctions list above. Default off.
	envGatewayRiskCheck = "WEIR_GATEWAY_RISK_CHECK"
)

// riskSettings are the risk component's files, from the environment.
type riskSettings struct {
	Scorer    risk.ScorerConfig
	Sanctions string
}

func riskSettingsFrom(lookup func(string) (string, bool)) riskSettings {
	get := func(k string) string { v, _ := lookup(k); return v }
	return riskSettings{
		Scorer:    risk.ScorerConfig{ModelDir: get(envRiskModelDir), RulesFile: get(envRiskRulesFile)},
		Sanctions: get(envSanctionsFile),
	}
}

// gatewayRiskCheck returns the gateway's risk check on rdb when envGatewayRiskCheck
// turns it on, else nil.
func gatewayRiskCheck(lookup func(string) (string, bool), rdb redis.UniversalClient) (*gateway.RiskCheck, error) {
	v, _ := lookup(envGatewayRiskCheck)
	if on, err := strconv.ParseBool(strings.TrimSpace(v)); v == "" || (err == nil && !on) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("%s=%q: want true or false", envGatewayRiskCheck, v)
	}
	set := riskSettingsFrom(lookup)
	scorer, err := risk.LoadScorer(set.Scorer)
	if err != nil {
		return nil, err
	}
	list, err := risk.LoadSanctions(set.Sanctions)
	if err != nil {
		return nil, err
	}
	return &gateway.RiskCheck{Scorer: scorer, Features: online.New(rdb, features.AddressActivity.Name), Sanctions: list}, nil
}

// riskComponent is `weir run risk`: the risk processor (processors/risk: the features
// stages with the scorer in their transaction; chain.transfers → risk.features and
// risk.scores) and the online store's sink (features/online: risk.features → Redis),
// in one process. They are one component because the online store is what makes the
// features usable outside the stream (the gateway reads it to score a payout) and the
// sink is light: it scales with the processor, and each has its own consumer group, so
// either may be restarted or lag without the other losing anything.
type riskComponent struct {
	proc      *processor.Processor
	sinkCfg   online.SinkConfig
	redis     func(ctx context.Context) (redis.UniversalClient, func(), error)
	redisDesc string
	desc      string
	logger    *slog.Logger
	// resetSink deletes the sink's consumer group before it starts (an empty store).
	resetSink bool
	// rdb is the online store's Redis once Run made it, for Check and gatewayCheck.
	rdb atomic.Pointer[redis.UniversalClient]
	// up is closed once rdb is set.
	up     chan struct{}
	upOnce sync.Once
	// scorer and list are the processor's, for gatewayCheck.
	scorer *score.Scorer
	list   *sanctions.List
}

// gatewayCheck returns a gateway risk check over this component's online store, with
// its scorer and sanctions list, once Run has made the store's Redis client (it blocks
// until then or until ctx is done). For `weir dev`, where the store is in-process.
func (c *riskComponent) gatewayCheck(ctx context.Context) (*gateway.RiskCheck, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.up:
	}
	rdb := c.rdb.Load()
	if rdb == nil {
		return nil, errors.New("risk: the online store stopped")
	}
	return &gateway.RiskCheck{Scorer: c.scorer, Features: online.New(*rdb, features.AddressActivity.Name), Sanctions: c.list}, nil
}

// Check reports whether the online store's Redis answers. Until Run has made its
// client, it waits for it (or for ctx).
func (c *riskComponent) Check(ctx context.Context) error {
	select {
	case <-c.up:
	case <-ctx.Done():
		return fmt.Errorf("online store not started: %w", ctx.Err())
	}
	rdb := c.rdb.Load()
	if rdb == nil {
		return errors.New("online store not started")
	}
	return (*rdb).Ping(ctx).Err()
}

func (c *riskComponent) Name() string { return "risk" }

func (c *riskComponent) Describe() string {
	return c.desc + "; copies risk.features into the online store (" + c.redisDesc + ")"
}

// Run runs the processor and the sink until ctx is done. It blocks.
func (c *riskComponent) Run(ctx context.Context) error {
	rdb, closeRedis, err := c.redis(ctx)
	if err != nil {
		return err
	}
	defer closeRedis()
	c.rdb.Store(&rdb)
	defer c.rdb.Store(nil)
	c.upOnce.Do(func() { close(c.up) })
	sink, err := online.NewSink(c.sinkCfg, online.New(rdb, features.AddressActivity.Name))
	if err != nil {
		return err
	}
	if c.resetSink {
		if err := deleteGroup(ctx, c.sinkCfg.Brokers, c.sinkCfg.Group); err != nil {
			return fmt.Errorf("online sink: reset: %w", err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.proc.Run(gctx) })
	g.Go(func() error {
		err := sink.Run(gctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("online sink: %w", err)
	})
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// newRiskComponent builds the risk component from its settings; state under stateDir,
// Redis from redisFn. It reads the model, rules and sanctions files, contacts nothing.
func newRiskComponent(set riskSettings, brokers []string, stateDir string, reg prometheus.Registerer, logger *slog.Logger,
	redisFn func(ctx context.Context) (redis.UniversalClient, func(), error), redisDesc string, opts ...stream.Option,
) (*riskComponent, error) {
	scorer, err := risk.LoadScorer(set.Scorer)
	if err != nil {
		return nil, err
	}
	list, err := risk.LoadSanctions(set.Sanctions)
	if err != nil {
		return nil, err
	}
	logger = logger.With("component", "risk")
	proc, err := risk.New(risk.Config{
		Features:   processor.Config{StateDir: stateDir, Engine: features.Config{Sanctions: list}},
		Scorer:     scorer,
		Registerer: reg,
	}, brokers, append([]stream.Option{stream.WithRegisterer(reg), stream.WithLogger(logger)}, opts...)...)
	if err != nil {
		return nil, err
	}
	short := func(s string) string { return s[:min(len(s), 12)] }
	desc := fmt.Sprintf("reads %s and %s, writes %s and %s (model %s %s, rules %s, sanctions list %s)",
		processor.DefaultTransfers, processor.DefaultRetractions, processor.DefaultOutput, risk.DefaultScores,
		scorer.ModelID(), short(scorer.ModelVersion()), short(scorer.RulesVersion()), list.Version())
	return &riskComponent{proc: proc, redis: redisFn, redisDesc: redisDesc, desc: desc, logger: logger,
		up: make(chan struct{}), scorer: scorer, list: list,
		sinkCfg: online.SinkConfig{Brokers: brokers, Logger: logger.With("stage", "online")}}, nil
}

// riskClusterComponent builds `weir run risk`: Redis at cfg.Redis.Addr, state under
// cfg.StateDir/risk, files from the environment.
func riskClusterComponent(cfg config.Config, lookup func(string) (string, bool), reg prometheus.Registerer, logger *slog.Logger) (Component, error) {
	addr := cfg.Redis.Addr
	return newRiskComponent(riskSettingsFrom(lookup), cfg.Kafka.Brokers, filepath.Join(cfg.StateDir, "risk"), reg, logger,
		func(context.Context) (redis.UniversalClient, func(), error) {
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			return rdb, func() { _ = rdb.Close() }, nil
		}, "Redis at "+addr)
}

// devRiskComponent builds the risk component of `weir dev`: an in-process Redis
// (miniredis, rebuilt from risk.features at each start: the sink's group starts anew
// with it), state under the data dir, the shipped model, rules and sanctions list unless
// the environment names others. Its Redis address is written to <data>/risk/redis-addr.
func devRiskComponent(env devEnv) (*riskComponent, error) {
	dir := env.StateDir("risk")
	c, err := newRiskComponent(riskSettingsFrom(os.LookupEnv), env.Brokers, filepath.Join(dir, "state"), env.Registry, env.Logger,
		func(context.Context) (redis.UniversalClient, func(), error) {
			mr := miniredis.NewMiniRedis()
			if err := mr.StartAddr("127.0.0.1:0"); err != nil {
				return nil, nil, fmt.Errorf("risk: in-process redis: %w", err)
			}
			if err := os.MkdirAll(dir, 0o700); err == nil {
				_ = os.WriteFile(filepath.Join(dir, "redis-addr"), []byte(mr.Addr()+"\n"), 0o600)
			}
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
		}, "in-process Redis, address in "+filepath.Join(dir, "redis-addr"),
		stream.WithInstanceID("dev"))
	if err != nil {
		return nil, err
	}
	// The in-process Redis is empty at each start: the sink's group is deleted first, so
	// that it rebuilds the store from the beginning of risk.features.
	c.sinkCfg.Group = "features-online-dev"
	c.resetSink = true
	return c, nil
}

// devAlertsComponent builds the alerts processor of `weir dev` (processors/alerts:
// risk.scores → risk.alerts), so that the risk component's scores of the simulated
// chain raise alerts; `weir alerts` shows them.
func devAlertsComponent(env devEnv) (Component, error) {
	return alerts.New(alerts.Config{}, env.Brokers,
		stream.WithStateDir(env.StateDir(alerts.DefaultComponent)),
		stream.WithInstanceID("dev"),
		stream.WithRegisterer(env.Registry),
		stream.WithLogger(env.Logger.With("component", alerts.DefaultComponent)))
}

// deleteGroup deletes a consumer group that has no members, if it exists.
func deleteGroup(ctx context.Context, brokers []string, group string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).DeleteGroup(ctx, group)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil
	}
	return err
}

var (
	_ Describer = (*riskComponent)(nil)
	_ Checker   = (*riskComponent)(nil)
)
