package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

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
	return &gateway.Service{
		Addr: cfg.Gateway.Addr, Brokers: cfg.Kafka.Brokers, MasterKey: key,
		Redis:       redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr}),
		RedisPrefix: gatewayRedisPrefix,
		Server:      gateway.Options{Assets: gatewayAssets(cfg)},
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
