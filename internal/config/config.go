// Package config is the configuration of a weir deployable in cluster mode (`weir run`):
// where the real servers are (Kafka, ClickHouse, Elasticsearch, Redis, an Ethereum node),
// where metrics and health are served, and where local state lives.
//
// A Config is built in layers, each overriding the one before it:
//
//  1. the documented defaults ([Default]);
//  2. environment variables (WEIR_KAFKA_BROKERS, WEIR_CLICKHOUSE_ADDR, …; see the Env*
//     constants), which is what deploy/local/stack.env exports;
//  3. a YAML file (`--config weir.yaml`), in which unknown keys are an error;
//  4. command-line flags the user set explicitly ([AddFlags]).
//
// [Load] does all four and [Config.Validate] checks the result. Nothing here is global:
// a Config is a plain value handed to the constructors that need it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Config is the configuration of a weir deployable. The zero value is not useful: start
// from [Default] (or use [Load]). Each field documents its default, its YAML key, its
// environment variable and its flag.
type Config struct {
	// Kafka is where the brokers are.
	Kafka Kafka `yaml:"kafka"`
	// ClickHouse is the analytics store.
	ClickHouse ClickHouse `yaml:"clickhouse"`
	// Elasticsearch is the audit search store.
	Elasticsearch Elasticsearch `yaml:"elasticsearch"`
	// Redis is the online feature store.
	Redis Redis `yaml:"redis"`
	// Ethereum is the chain node the indexer reads.
	Ethereum Ethereum `yaml:"ethereum"`
	// Gateway is the merchant payment API.
	Gateway Gateway `yaml:"gateway"`
	// HTTP is the metrics and health endpoint.
	HTTP HTTP `yaml:"http"`
	// StateDir is the directory under which components keep their local state (one
	// sub-directory per component; always rebuildable from changelog topics).
	// Default ".weir". YAML state_dir, env WEIR_STATE_DIR, flag --state-dir.
	StateDir string `yaml:"state_dir"`
	// ShutdownTimeout bounds each stage of a graceful shutdown (components, then the
	// telemetry server). Default 10s. YAML shutdown_timeout (e.g. "30s"), env
	// WEIR_SHUTDOWN_TIMEOUT, flag --shutdown-timeout.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Kafka configures the Kafka client.
type Kafka struct {
	// Brokers are the seed brokers, host:port each. Default ["127.0.0.1:9092"].
	// YAML kafka.brokers (a list), env WEIR_KAFKA_BROKERS (comma-separated),
	// flag --brokers (comma-separated or repeated).
	Brokers []string `yaml:"brokers"`
}

// ClickHouse configures the ClickHouse client.
type ClickHouse struct {
	// Addr is the host:port of ClickHouse's native protocol (not HTTP).
	// Default "127.0.0.1:9000". YAML clickhouse.addr, env WEIR_CLICKHOUSE_ADDR,
	// flag --clickhouse-addr.
	Addr string `yaml:"addr"`
}

// Elasticsearch configures the Elasticsearch client.
type Elasticsearch struct {
	// URL is the base URL, http or https. Default "http://127.0.0.1:9200".
	// YAML elasticsearch.url, env WEIR_ELASTICSEARCH_URL, flag --elasticsearch-url.
	URL string `yaml:"url"`
}

// Redis configures the Redis client.
type Redis struct {
	// Addr is the host:port of Redis. Default "127.0.0.1:6379". YAML redis.addr,
	// env WEIR_REDIS_ADDR, flag --redis-addr.
	Addr string `yaml:"addr"`
}

// Ethereum configures the chain's JSON-RPC client.
type Ethereum struct {
	// RPCURL is the JSON-RPC endpoint (http, https, ws or wss).
	// Default "http://127.0.0.1:8545". YAML ethereum.rpc_url, env WEIR_ETH_RPC_URL,
	// flag --eth-rpc-url.
	RPCURL string `yaml:"rpc_url"`
	// WSURL is the WebSocket JSON-RPC endpoint (ws or wss) for subscriptions (new
	// heads, logs); empty means none, and readers poll RPCURL instead. Default "".
	// YAML ethereum.ws_url, env WEIR_ETH_WS_URL, flag --eth-ws-url.
	WSURL string `yaml:"ws_url"`
	// ChainID is the EIP-155 chain id RPCURL must serve; a node of another chain is an
	// error at start. Default 1337 (geth --dev, the default RPCURL). YAML
	// ethereum.chain_id, env WEIR_ETH_CHAIN_ID, flag --eth-chain-id.
	ChainID uint64 `yaml:"chain_id"`
	// Chains, when not empty, are the chains the indexer follows, each with its own
	// node; RPCURL, WSURL and ChainID are then not used by the indexer. YAML only
	// (ethereum.chains). Default: none, so the one chain above.
	Chains []Chain `yaml:"chains"`
}

// Chain is one chain the Ethereum indexer follows. RPCURL and ChainID are required.
type Chain struct {
	// Name names the chain's indexer; with the chain id it keys the indexer's position.
	// Default "ingest-eth".
	Name string `yaml:"name"`
	// RPCURL is the node's JSON-RPC endpoint (http, https, ws or wss). Required.
	RPCURL string `yaml:"rpc_url"`
	// WSURL is a WebSocket endpoint for the newHeads subscription. Default "": poll.
	WSURL string `yaml:"ws_url"`
	// ChainID is the chain the node must serve. Required.
	ChainID uint64 `yaml:"chain_id"`
	// StartBlock is the first block of a new indexer (one with no position yet).
	// Default 0.
	StartBlock uint64 `yaml:"start_block"`
	// StartAtHead starts a new indexer at the node's head instead. Default false.
	StartAtHead bool `yaml:"start_at_head"`
	// FinalityDepth, when not 0, deems a block final under that many blocks; 0 (the
	// default) uses the node's "finalized" tag.
	FinalityDepth uint64 `yaml:"finality_depth"`
	// InternalTransfers adds internal transfers from the node's callTracer (the node
	// must serve the debug API). Default false.
	InternalTransfers bool `yaml:"internal_transfers"`
}

// IndexedChains returns the chains the indexer follows: Chains, or the one chain of
// RPCURL, WSURL and ChainID when Chains is empty.
func (e Ethereum) IndexedChains() []Chain {
	if len(e.Chains) > 0 {
		return append([]Chain(nil), e.Chains...)
	}
	return []Chain{{RPCURL: e.RPCURL, WSURL: e.WSURL, ChainID: e.ChainID}}
}

// Gateway configures the merchant payment API (`weir run gateway`).
type Gateway struct {
	// Addr is the host:port the API listens on. Default ":8080". YAML gateway.addr, env
	// WEIR_GATEWAY_ADDR, flag --gateway-addr.
	Addr string `yaml:"addr"`
	// MasterKeyFile is a file holding the gateway's master key in hex (at least 64 hex
	// digits), from which webhook signing secrets are derived; keep it like any other
	// secret. Default "": the key comes from env WEIR_GATEWAY_MASTER_KEY (hex) instead.
	// YAML gateway.master_key_file.
	MasterKeyFile string `yaml:"master_key_file"`
	// MasterKey is the key itself, from env WEIR_GATEWAY_MASTER_KEY only (never YAML).
	MasterKey string `yaml:"-"`
}

// Validate checks Addr is host:port.
func (g Gateway) Validate() error {
	return wrapKey("gateway.addr", g.Addr, checkHostPort(g.Addr, true))
}

// HTTP configures the metrics (/metrics) and health (/healthz) endpoint.
type HTTP struct {
	// Addr is the host:port to listen on; port 0 picks a free port. Default ":9464"
	// (all interfaces, so that Prometheus and the orchestrator's probes can reach it).
	// YAML http.addr, env WEIR_HTTP_ADDR, flag --http.
	Addr string `yaml:"addr"`
}

// Defaults, as documented on the fields of [Config].
const (
	DefaultKafkaBroker     = "127.0.0.1:9092"
	DefaultClickHouseAddr  = "127.0.0.1:9000"
	DefaultElasticURL      = "http://127.0.0.1:9200"
	DefaultRedisAddr       = "127.0.0.1:6379"
	DefaultEthRPCURL       = "http://127.0.0.1:8545"
	DefaultEthChainID      = 1337
	DefaultHTTPAddr        = ":9464"
	DefaultGatewayAddr     = ":8080"
	DefaultStateDir        = ".weir"
	DefaultShutdownTimeout = 10 * time.Second
)

// Default returns the configuration with every field at its documented default.
func Default() Config {
	return Config{
		Kafka:           Kafka{Brokers: []string{DefaultKafkaBroker}},
		ClickHouse:      ClickHouse{Addr: DefaultClickHouseAddr},
		Elasticsearch:   Elasticsearch{URL: DefaultElasticURL},
		Redis:           Redis{Addr: DefaultRedisAddr},
		Ethereum:        Ethereum{RPCURL: DefaultEthRPCURL, ChainID: DefaultEthChainID},
		Gateway:         Gateway{Addr: DefaultGatewayAddr},
		HTTP:            HTTP{Addr: DefaultHTTPAddr},
		StateDir:        DefaultStateDir,
		ShutdownTimeout: DefaultShutdownTimeout,
	}
}

// Validate reports every problem with c at once (joined with [errors.Join]), or nil.
// It checks shapes only (host:port, URL schemes, positive durations); it does not
// contact any server. Commands that use only part of the config (e.g. `weir topics
// apply` needs Kafka alone) call that section's Validate instead.
func (c Config) Validate() error {
	var errs []error
	errs = append(errs,
		c.Kafka.Validate(),
		c.ClickHouse.Validate(),
		c.Elasticsearch.Validate(),
		c.Redis.Validate(),
		c.Ethereum.Validate(),
		c.Gateway.Validate(),
		c.HTTP.Validate(),
	)
	if strings.TrimSpace(c.StateDir) == "" {
		errs = append(errs, errors.New("config: state_dir: must not be empty"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("config: shutdown_timeout: %s: must be positive", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// Validate checks that there is at least one broker and each is host:port.
func (k Kafka) Validate() error {
	if len(k.Brokers) == 0 {
		return errors.New("config: kafka.brokers: at least one broker is required")
	}
	var errs []error
	for i, b := range k.Brokers {
		if err := checkHostPort(b, false); err != nil {
			errs = append(errs, fmt.Errorf("config: kafka.brokers[%d]: %q: %w", i, b, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks that Addr is host:port.
func (c ClickHouse) Validate() error {
	return wrapKey("clickhouse.addr", c.Addr, checkHostPort(c.Addr, false))
}

// Validate checks that URL is an http or https URL with a host.
func (e Elasticsearch) Validate() error {
	return wrapKey("elasticsearch.url", e.URL, checkURL(e.URL, "http", "https"))
}

// Validate checks that Addr is host:port.
func (r Redis) Validate() error {
	return wrapKey("redis.addr", r.Addr, checkHostPort(r.Addr, false))
}

// Validate checks that RPCURL is an http, https, ws or wss URL with a host, and WSURL,
// when set, a ws or wss one.
func (e Ethereum) Validate() error {
	err := wrapKey("ethereum.rpc_url", e.RPCURL, checkURL(e.RPCURL, "http", "https", "ws", "wss"))
	if e.WSURL != "" {
		err = errors.Join(err, wrapKey("ethereum.ws_url", e.WSURL, checkURL(e.WSURL, "ws", "wss")))
	}
	if e.ChainID == 0 {
		err = errors.Join(err, errors.New("config: ethereum.chain_id: must be set (1 for Ethereum mainnet)"))
	}
	ids := map[string]bool{}
	for i, c := range e.Chains {
		key := fmt.Sprintf("ethereum.chains[%d]", i)
		err = errors.Join(err, wrapKey(key+".rpc_url", c.RPCURL, checkURL(c.RPCURL, "http", "https", "ws", "wss")))
		if c.WSURL != "" {
			err = errors.Join(err, wrapKey(key+".ws_url", c.WSURL, checkURL(c.WSURL, "ws", "wss")))
		}
		if c.ChainID == 0 {
			err = errors.Join(err, fmt.Errorf("config: %s.chain_id: must be set", key))
		}
		id := fmt.Sprintf("%s/%d", c.Name, c.ChainID)
		if ids[id] {
			err = errors.Join(err, fmt.Errorf("config: %s: chain %d named %q twice; give each indexer of a chain its own name", key, c.ChainID, c.Name))
		}
		ids[id] = true
	}
	return err
}

// Validate checks that Addr is a listen address: [host]:port, port 0 allowed.
func (h HTTP) Validate() error {
	return wrapKey("http.addr", h.Addr, checkHostPort(h.Addr, true))
}

// wrapKey prefixes a field's error with its YAML key and value; nil stays nil.
func wrapKey(key, value string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("config: %s: %q: %w", key, value, err)
}

// checkHostPort checks that s is host:port with a numeric port in 1..65535 (0 also
// allowed when listen is set). The host may be empty only when listen is set (":9464"
// listens on all interfaces).
func checkHostPort(s string, listen bool) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" && !listen {
		return errors.New("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !listen) {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// checkURL checks that s is an absolute URL with one of the given schemes and a host.
func checkURL(s string, schemes ...string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	ok := false
	for _, sc := range schemes {
		ok = ok || u.Scheme == sc
	}
	if !ok {
		return fmt.Errorf("scheme must be one of %s", strings.Join(schemes, ", "))
	}
	if u.Host == "" {
		return errors.New("missing host")
	}
	return nil
}

// Environment variables read by [Load]; an empty value counts as unset. The first six
// are what deploy/local/stack.env exports.
const (
	EnvKafkaBrokers    = "WEIR_KAFKA_BROKERS"
	EnvClickHouseAddr  = "WEIR_CLICKHOUSE_ADDR"
	EnvElasticURL      = "WEIR_ELASTICSEARCH_URL"
	EnvRedisAddr       = "WEIR_REDIS_ADDR"
	EnvEthRPCURL       = "WEIR_ETH_RPC_URL"
	EnvEthWSURL        = "WEIR_ETH_WS_URL"
	EnvEthChainID      = "WEIR_ETH_CHAIN_ID"
	EnvHTTPAddr        = "WEIR_HTTP_ADDR"
	EnvStateDir        = "WEIR_STATE_DIR"
	EnvShutdownTimeout = "WEIR_SHUTDOWN_TIMEOUT"
	EnvGatewayAddr     = "WEIR_GATEWAY_ADDR"
	EnvGatewayKey      = "WEIR_GATEWAY_MASTER_KEY"
)

// Flag names defined by [AddFlags].
const (
	FlagBrokers         = "brokers"
	FlagClickHouseAddr  = "clickhouse-addr"
	FlagElasticURL      = "elasticsearch-url"
	FlagRedisAddr       = "redis-addr"
	FlagEthRPCURL       = "eth-rpc-url"
	FlagEthWSURL        = "eth-ws-url"
	FlagEthChainID      = "eth-chain-id"
	FlagHTTPAddr        = "http"
	FlagStateDir        = "state-dir"
	FlagShutdownTimeout = "shutdown-timeout"
	FlagGatewayAddr     = "gateway-addr"
)

// flagSpec describes one override flag.
type flagSpec struct {
	name  string
	usage string
	// duration marks a time.Duration flag, uint a uint64 one; brokers is the only list
	// flag.
	duration, uint bool
}

var flagSpecs = []flagSpec{
	{name: FlagBrokers, usage: "Kafka seed brokers, host:port, comma-separated (env " + EnvKafkaBrokers + "; default " + DefaultKafkaBroker + ")"},
	{name: FlagClickHouseAddr, usage: "ClickHouse native protocol host:port (env " + EnvClickHouseAddr + "; default " + DefaultClickHouseAddr + ")"},
	{name: FlagElasticURL, usage: "Elasticsearch base URL (env " + EnvElasticURL + "; default " + DefaultElasticURL + ")"},
	{name: FlagRedisAddr, usage: "Redis host:port (env " + EnvRedisAddr + "; default " + DefaultRedisAddr + ")"},
	{name: FlagEthRPCURL, usage: "Ethereum JSON-RPC URL (env " + EnvEthRPCURL + "; default " + DefaultEthRPCURL + ")"},
	{name: FlagEthWSURL, usage: "Ethereum WebSocket JSON-RPC URL for subscriptions (env " + EnvEthWSURL + "; default none)"},
	{name: FlagEthChainID, usage: "chain id the Ethereum node must serve (env " + EnvEthChainID + "; default 1337)", uint: true},
	{name: FlagGatewayAddr, usage: "listen address of the gateway's merchant API (env " + EnvGatewayAddr + "; default " + DefaultGatewayAddr + ")"},
	{name: FlagHTTPAddr, usage: "listen address of /metrics and /healthz (env " + EnvHTTPAddr + "; default " + DefaultHTTPAddr + ")"},
	{name: FlagStateDir, usage: "directory for local component state (env " + EnvStateDir + "; default " + DefaultStateDir + ")"},
	{name: FlagShutdownTimeout, usage: "bound on each graceful shutdown stage (env " + EnvShutdownTimeout + "; default " + DefaultShutdownTimeout.String() + ")", duration: true},
}

// AddFlags defines on fs the flags that override the configuration, one per field (see
// the Flag* constants). names selects which to define; none means all. The flags carry
// no defaults of their own: [Load] applies only those the user set explicitly, so the
// environment and the file still count. It panics on an unknown name (a programming
// error).
func AddFlags(fs *pflag.FlagSet, names ...string) {
	all := len(names) == 0
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, s := range flagSpecs {
		if !all && !want[s.name] {
			continue
		}
		delete(want, s.name)
		switch {
		case s.name == FlagBrokers:
			fs.StringSlice(s.name, nil, s.usage)
		case s.duration:
			fs.Duration(s.name, 0, s.usage)
		case s.uint:
			fs.Uint64(s.name, 0, s.usage)
		default:
			fs.String(s.name, "", s.usage)
		}
	}
	for n := range want {
		panic(fmt.Sprintf("config: AddFlags: unknown flag %q", n))
	}
}

// Sources says where [Load] reads from. Every source is optional.
type Sources struct {
	// LookupEnv looks up an environment variable, like [os.LookupEnv] (which is what a
	// command passes). Nil means no environment.
	LookupEnv func(key string) (string, bool)
	// File is the path of a YAML config file; "" means none. A file that does not exist
	// is an error.
	File string
	// Flags holds flags defined by [AddFlags]; only those set explicitly (Changed)
	// override. Nil means no flags.
	Flags *pflag.FlagSet
}

// Load builds a Config from the defaults, then the environment, then the file, then the
// flags, each overriding the previous. It does not call Validate: callers do, after any
// adjustments of their own.
func Load(src Sources) (Config, error) {
	cfg := Default()
	if src.LookupEnv != nil {
		if err := applyEnv(&cfg, src.LookupEnv); err != nil {
			return Config{}, err
		}
	}
	if src.File != "" {
		data, err := os.ReadFile(src.File)
		if err != nil {
			return Config{}, fmt.Errorf("config: read file: %w", err)
		}
		if err := decodeYAML(&cfg, data); err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", src.File, err)
		}
	}
	if src.Flags != nil {
		if err := applyFlags(&cfg, src.Flags); err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// applyEnv overrides cfg with the non-empty environment variables.
func applyEnv(cfg *Config, lookup func(string) (string, bool)) error {
	get := func(key string) (string, bool) {
		v, ok := lookup(key)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	if v, ok := get(EnvKafkaBrokers); ok {
		cfg.Kafka.Brokers = splitList(v)
	}
	if v, ok := get(EnvClickHouseAddr); ok {
		cfg.ClickHouse.Addr = v
	}
	if v, ok := get(EnvElasticURL); ok {
		cfg.Elasticsearch.URL = v
	}
	if v, ok := get(EnvRedisAddr); ok {
		cfg.Redis.Addr = v
	}
	if v, ok := get(EnvEthRPCURL); ok {
		cfg.Ethereum.RPCURL = v
	}
	if v, ok := get(EnvEthWSURL); ok {
		cfg.Ethereum.WSURL = v
	}
	if v, ok := get(EnvEthChainID); ok {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("config: env %s: %q: not a chain id", EnvEthChainID, v)
		}
		cfg.Ethereum.ChainID = id
	}
	if v, ok := get(EnvHTTPAddr); ok {
		cfg.HTTP.Addr = v
	}
	if v, ok := get(EnvGatewayAddr); ok {
		cfg.Gateway.Addr = v
	}
	if v, ok := get(EnvGatewayKey); ok {
		cfg.Gateway.MasterKey = v
	}
	if v, ok := get(EnvStateDir); ok {
		cfg.StateDir = v
	}
	if v, ok := get(EnvShutdownTimeout); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("config: %s=%q: %w", EnvShutdownTimeout, v, err)
		}
		cfg.ShutdownTimeout = d
	}
	return nil
}

// decodeYAML overrides cfg with the keys present in data; unknown keys are an error.
// An empty document changes nothing.
func decodeYAML(cfg *Config, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// applyFlags overrides cfg with the flags of fs that were set explicitly.
func applyFlags(cfg *Config, fs *pflag.FlagSet) error {
	str := func(name string, dst *string) error {
		if f := fs.Lookup(name); f == nil || !f.Changed {
			return nil
		}
		v, err := fs.GetString(name)
		if err != nil {
			return fmt.Errorf("config: flag --%s: %w", name, err)
		}
		*dst = strings.TrimSpace(v)
		return nil
	}
	if f := fs.Lookup(FlagBrokers); f != nil && f.Changed {
		v, err := fs.GetStringSlice(FlagBrokers)
		if err != nil {
			return fmt.Errorf("config: flag --%s: %w", FlagBrokers, err)
		}
		cfg.Kafka.Brokers = splitList(strings.Join(v, ","))
	}
	if f := fs.Lookup(FlagEthChainID); f != nil && f.Changed {
		id, err := fs.GetUint64(FlagEthChainID)
		if err != nil {
			return fmt.Errorf("config: flag --%s: %w", FlagEthChainID, err)
		}
		cfg.Ethereum.ChainID = id
	}
	if f := fs.Lookup(FlagShutdownTimeout); f != nil && f.Changed {
		d, err := fs.GetDuration(FlagShutdownTimeout)
		if err != nil {
			return fmt.Errorf("config: flag --%s: %w", FlagShutdownTimeout, err)
		}
		cfg.ShutdownTimeout = d
	}
	return errors.Join(
		str(FlagClickHouseAddr, &cfg.ClickHouse.Addr),
		str(FlagElasticURL, &cfg.Elasticsearch.URL),
		str(FlagRedisAddr, &cfg.Redis.Addr),
		str(FlagEthRPCURL, &cfg.Ethereum.RPCURL),
		str(FlagEthWSURL, &cfg.Ethereum.WSURL),
		str(FlagHTTPAddr, &cfg.HTTP.Addr),
		str(FlagGatewayAddr, &cfg.Gateway.Addr),
		str(FlagStateDir, &cfg.StateDir),
	)
}

// splitList splits a comma-separated list, trimming spaces and dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
