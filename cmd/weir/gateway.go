package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/gateway"
	"github.com/weirhq/weir/gateway/apikey"
	"github.com/weirhq/weir/internal/config"
)

// gatewayRedisPrefix prefixes the gateway's Redis keys.
const gatewayRedisPrefix = "weir:gw"

// masterKey returns the gateway's master key from cfg: the env value, else the file.
func masterKey(cfg config.Config) ([]byte, error) {
	v := cfg.Gateway.MasterKey
	if v == "" && cfg.Gateway.MasterKeyFile != "" {
		b, err := os.ReadFile(cfg.Gateway.MasterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: master key file: %w", err)
		}
		v = string(b)
	}
	if v == "" {
		return nil, fmt.Errorf("gateway: no master key: set %s (hex, at least 64 digits) or gateway.master_key_file", config.EnvGatewayKey)
	}
	return gateway.ParseMasterKey(v)
}

// gatewayAssets are the assets intents may be made in: ETH on every indexed chain.
func gatewayAssets(cfg config.Config) []gateway.Asset {
	var ids []uint64
	for _, c := range cfg.Ethereum.IndexedChains() {
		ids = append(ids, c.ChainID)
	}
	return []gateway.Asset{{Code: "ETH", Decimals: 18, ChainIDs: ids}}
}

// gatewayComponent builds `weir run gateway`.
func gatewayComponent(cfg config.Config, logger *slog.Logger) (Component, error) {
	key, err := masterKey(cfg)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr, PoolSize: gateway.RedisPoolSize})
	rc, err := gatewayRiskCheck(os.LookupEnv, rdb) // nil unless WEIR_GATEWAY_RISK_CHECK
	if err != nil {
		return nil, err
	}
	return &gateway.Service{
		Addr: cfg.Gateway.Addr, Brokers: cfg.Kafka.Brokers, MasterKey: key,
		Redis:       rdb,
		RedisPrefix: gatewayRedisPrefix,
		Server:      gateway.Options{Assets: gatewayAssets(cfg), Risk: rc},
		Logger:      logger.With("component", gateway.DefaultComponent),
	}, nil
}

// newGatewayCmd is `weir gateway`: operator commands of the payment gateway.
func newGatewayCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "gateway", Short: "Operate the payment gateway: merchants and their API keys", Args: cobra.NoArgs}
	var file, name, xpub, kind string
	var rate uint32
	var grace time.Duration
	admin := func(cmd *cobra.Command) (*gateway.Admin, func(), error) {
		if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
			return nil, nil, err
		}
		cfg, err := loadConfig(cmd, file)
		if err != nil {
			return nil, nil, err
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...))
		if err != nil {
			return nil, nil, err
		}
		rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr})
		a := &gateway.Admin{Client: cl, Store: gateway.NewStore(rdb, gatewayRedisPrefix)}
		return a, func() { cl.Close(); _ = rdb.Close() }, nil
	}
	print := func(cmd *cobra.Command, v any) error {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	create := &cobra.Command{
		Use:   "create-merchant",
		Short: "Register a merchant with its account xpub; prints its API keys (shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			m, keys, err := a.CreateMerchant(ctx, name, xpub, rate)
			if err != nil {
				return err
			}
			return print(cmd, map[string]any{"merchant_id": m.GetMerchantId(), "name": m.GetName(),
				"secret_key": keys.Secret, "publishable_key": keys.Publishable})
		},
	}
	create.Flags().StringVar(&name, "name", "", "the merchant's display name")
	create.Flags().StringVar(&xpub, "xpub", "", "the merchant's account-level extended public key (m/44'/60'/0'); deposit addresses are its children /0/i")
	create.Flags().Uint32Var(&rate, "rate", 0, "requests per second (0: the gateway's default, 100)")
	_ = create.MarkFlagRequired("xpub")

	var merchant string
	roll := &cobra.Command{
		Use:   "roll-key",
		Short: "Make a new API key for a merchant; the old keys of that kind stop working after --grace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k := apikey.Secret
			switch kind {
			case "secret":
			case "publishable":
				k = apikey.Publishable
			default:
				return fmt.Errorf("--kind must be secret or publishable, not %q", kind)
			}
			a, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			_, keys, err := a.RollKey(ctx, merchant, k, grace)
			if err != nil {
				return err
			}
			return print(cmd, map[string]any{"merchant_id": merchant, "secret_key": keys.Secret, "publishable_key": keys.Publishable})
		},
	}
	roll.Flags().StringVar(&merchant, "merchant", "", "merchant id (m_…)")
	roll.Flags().StringVar(&kind, "kind", "secret", "secret or publishable")
	roll.Flags().DurationVar(&grace, "grace", 24*time.Hour, "how long the old keys keep working")
	_ = roll.MarkFlagRequired("merchant")

	for _, c := range []*cobra.Command{create, roll} {
		c.Flags().StringVar(&file, "config", "", "YAML config file (see internal/config)")
		config.AddFlags(c.Flags(), config.FlagBrokers, config.FlagRedisAddr)
		cmd.AddCommand(c)
	}
	return cmd
}

// devGateway is the gateway of `weir dev`: the same gateway.Service on the embedded
// broker, with an in-process Redis (miniredis) whose projection is rebuilt from the
// broker at each start, a master key kept under the data directory, and a demo merchant
// whose keys are written (once) to demo-merchant.json there.
type devGateway struct {
	addr    string
	brokers []string
	dir     string // <data>/gateway
	assets  []gateway.Asset
	logger  *slog.Logger
	// risk, when set, returns the payout risk check (the risk component's online store
	// and scorer); it may block until that store is up.
	risk func(ctx context.Context) (*gateway.RiskCheck, error)
}

func (d *devGateway) Name() string { return gateway.DefaultComponent }

func (d *devGateway) Describe() string {
	return fmt.Sprintf("the merchant API on http://%s (demo merchant keys in %s)", d.addr, filepath.Join(d.dir, demoMerchantFile))
}

// demoMerchantFile holds the demo merchant's id and keys.
const demoMerchantFile = "demo-merchant.json"

func (d *devGateway) Run(ctx context.Context) error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	key, err := devMasterKey(filepath.Join(d.dir, "master.key"))
	if err != nil {
		return err
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return fmt.Errorf("gateway: in-process redis: %w", err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), PoolSize: gateway.RedisPoolSize})
	defer rdb.Close()
	var rc *gateway.RiskCheck
	if d.risk != nil {
		if rc, err = d.risk(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("gateway: risk check: %w", err)
		}
	}
	svc := &gateway.Service{Addr: d.addr, Brokers: d.brokers, Redis: rdb, RedisPrefix: gatewayRedisPrefix, MasterKey: key,
		Server: gateway.Options{Assets: d.assets, Risk: rc}, Logger: d.logger,
		OnListen: func(string) {
			if err := d.demoMerchant(ctx, rdb); err != nil {
				d.logger.Error("demo merchant not created", "err", err)
			}
		}}
	return svc.Run(ctx)
}

// demoMerchant creates the demo merchant unless its file exists.
func (d *devGateway) demoMerchant(ctx context.Context, rdb *redis.Client) error {
	path := filepath.Join(d.dir, demoMerchantFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	a := &gateway.Admin{Client: cl, Store: gateway.NewStore(rdb, gatewayRedisPrefix)}
	m, keys, err := a.CreateMerchant(ctx, "Demo Shop", demoXpub(), 0)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(map[string]string{"merchant_id": m.GetMerchantId(), "secret_key": keys.Secret,
		"publishable_key": keys.Publishable, "xpub": m.GetXpub()}, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	d.logger.Info("demo merchant created", "merchant", m.GetMerchantId(), "keys", path)
	return nil
}

// demoXpub is the account xpub m/44'/60'/0' of a fixed, public seed: deposit addresses of
// the demo merchant, for development only (anyone can derive their private keys).
func demoXpub() string {
	k, err := hdkeychain.NewMaster([]byte("weir dev demo merchant seed, public"), &chaincfg.MainNetParams)
	if err != nil {
		panic(err)
	}
	for _, i := range []uint32{44, 60, 0} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			panic(err)
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		panic(err)
	}
	return pub.String()
}

// devMasterKey reads the dev master key at path, making a random one the first time.
func devMasterKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return gateway.ParseMasterKey(string(b))
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}
