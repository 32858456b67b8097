package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "weir.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		file  string // YAML body; "" means no file
		flags []string
		want  func(c *Config)
	}{
		{
			name: "defaults",
			want: func(*Config) {},
		},
		{
			name: "env overrides defaults",
			env: map[string]string{
				EnvKafkaBrokers:    " k1:9092, k2:9092 ,",
				EnvClickHouseAddr:  "ch:9000",
				EnvElasticURL:      "http://es:9200",
				EnvRedisAddr:       "redis:6379",
				EnvEthRPCURL:       "ws://geth:8546",
				EnvEthWSURL:        "wss://geth:8546",
				EnvHTTPAddr:        "127.0.0.1:0",
				EnvStateDir:        "/state",
				EnvShutdownTimeout: "3s",
			},
			want: func(c *Config) {
				c.Kafka.Brokers = []string{"k1:9092", "k2:9092"}
				c.ClickHouse.Addr = "ch:9000"
				c.Elasticsearch.URL = "http://es:9200"
				c.Redis.Addr = "redis:6379"
				c.Ethereum.RPCURL = "ws://geth:8546"
				c.Ethereum.WSURL = "wss://geth:8546"
				c.HTTP.Addr = "127.0.0.1:0"
				c.StateDir = "/state"
				c.ShutdownTimeout = 3 * time.Second
			},
		},
		{
			name: "empty env counts as unset",
			env:  map[string]string{EnvKafkaBrokers: "  ", EnvRedisAddr: ""},
			want: func(*Config) {},
		},
		{
			name: "file overrides env, keys absent from the file keep the env value",
			env:  map[string]string{EnvKafkaBrokers: "env:9092", EnvRedisAddr: "env-redis:6379"},
			file: "kafka:\n  brokers: [file1:9092, file2:9092]\nshutdown_timeout: 30s\n",
			want: func(c *Config) {
				c.Kafka.Brokers = []string{"file1:9092", "file2:9092"}
				c.Redis.Addr = "env-redis:6379"
				c.ShutdownTimeout = 30 * time.Second
			},
		},
		{
			name:  "flags override file and env",
			env:   map[string]string{EnvKafkaBrokers: "env:9092", EnvHTTPAddr: "env:1"},
			file:  "kafka:\n  brokers: [file:9092]\nhttp:\n  addr: file:2\nredis:\n  addr: file-redis:6379\n",
			flags: []string{"--brokers=flag1:9092,flag2:9092", "--http", "127.0.0.1:9999", "--shutdown-timeout=1m", "--eth-ws-url", "ws://flag:8546"},
			want: func(c *Config) {
				c.Ethereum.WSURL = "ws://flag:8546"
				c.Kafka.Brokers = []string{"flag1:9092", "flag2:9092"}
				c.HTTP.Addr = "127.0.0.1:9999"
				c.Redis.Addr = "file-redis:6379"
				c.ShutdownTimeout = time.Minute
			},
		},
		{
			name:  "repeated brokers flag",
			flags: []string{"--brokers", "a:1", "--brokers", "b:2"},
			want:  func(c *Config) { c.Kafka.Brokers = []string{"a:1", "b:2"} },
		},
		{
			name: "empty file changes nothing",
			file: "# nothing here\n",
			want: func(*Config) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			AddFlags(fs)
			if err := fs.Parse(tt.flags); err != nil {
				t.Fatal(err)
			}
			src := Sources{LookupEnv: envOf(tt.env), Flags: fs}
			if tt.file != "" {
				src.File = writeFile(t, tt.file)
			}
			got, err := Load(src)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		file    string
		noFile  bool
		wantErr string
	}{
		{name: "unknown top-level key", file: "kafka_brokers: [a:1]\n", wantErr: "field kafka_brokers not found"},
		{name: "unknown nested key", file: "kafka:\n  seeds: [a:1]\n", wantErr: "field seeds not found"},
		{name: "wrong type", file: "kafka:\n  brokers: 12\n", wantErr: "cannot unmarshal"},
		{name: "bad duration in file", file: "shutdown_timeout: soon\n", wantErr: "into time.Duration"},
		{name: "bad duration in env", env: map[string]string{EnvShutdownTimeout: "soon"}, wantErr: EnvShutdownTimeout},
		{name: "missing file", noFile: true, wantErr: "read file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Sources{LookupEnv: envOf(tt.env)}
			switch {
			case tt.noFile:
				src.File = filepath.Join(t.TempDir(), "absent.yaml")
			case tt.file != "":
				src.File = writeFile(t, tt.file)
			}
			_, err := Load(src)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(c *Config)
		want []string // substrings of the error; none means valid
	}{
		{name: "defaults are valid", mod: func(*Config) {}},
		{name: "listen on any port", mod: func(c *Config) { c.HTTP.Addr = "127.0.0.1:0" }},
		{name: "wss rpc", mod: func(c *Config) { c.Ethereum.RPCURL = "wss://node.example:443/v1" }},
		{name: "no brokers", mod: func(c *Config) { c.Kafka.Brokers = nil }, want: []string{"kafka.brokers: at least one broker"}},
		{name: "broker without port", mod: func(c *Config) { c.Kafka.Brokers = []string{"a:1", "kafka"} }, want: []string{`kafka.brokers[1]: "kafka": want host:port`}},
		{name: "broker port zero", mod: func(c *Config) { c.Kafka.Brokers = []string{"a:0"} }, want: []string{"bad port"}},
		{name: "broker without host", mod: func(c *Config) { c.Kafka.Brokers = []string{":9092"} }, want: []string{"missing host"}},
		{name: "clickhouse port not a number", mod: func(c *Config) { c.ClickHouse.Addr = "ch:native" }, want: []string{"clickhouse.addr", "bad port"}},
		{name: "elasticsearch scheme", mod: func(c *Config) { c.Elasticsearch.URL = "es:9200" }, want: []string{"elasticsearch.url", "scheme must be one of http, https"}},
		{name: "elasticsearch no host", mod: func(c *Config) { c.Elasticsearch.URL = "http://" }, want: []string{"elasticsearch.url", "missing host"}},
		{name: "redis empty", mod: func(c *Config) { c.Redis.Addr = "" }, want: []string{"redis.addr", "must not be empty"}},
		{name: "ws url set", mod: func(c *Config) { c.Ethereum.WSURL = "ws://127.0.0.1:8546" }},
		{name: "ws url scheme", mod: func(c *Config) { c.Ethereum.WSURL = "http://127.0.0.1:8546" }, want: []string{"ethereum.ws_url", "scheme must be one of ws, wss"}},
		{name: "rpc scheme", mod: func(c *Config) { c.Ethereum.RPCURL = "ftp://x" }, want: []string{"ethereum.rpc_url"}},
		{name: "http port out of range", mod: func(c *Config) { c.HTTP.Addr = ":70000" }, want: []string{"http.addr", "bad port"}},
		{name: "state dir empty", mod: func(c *Config) { c.StateDir = " " }, want: []string{"state_dir"}},
		{name: "shutdown timeout", mod: func(c *Config) { c.ShutdownTimeout = 0 }, want: []string{"shutdown_timeout"}},
		{
			name: "all problems reported at once",
			mod:  func(c *Config) { c.Redis.Addr = ""; c.StateDir = ""; c.ShutdownTimeout = -1 },
			want: []string{"redis.addr", "state_dir", "shutdown_timeout"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestAddFlagsSubset(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs, FlagBrokers)
	if fs.Lookup(FlagBrokers) == nil {
		t.Fatal("--brokers not defined")
	}
	if fs.Lookup(FlagRedisAddr) != nil {
		t.Fatal("--redis-addr defined although not asked for")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("AddFlags with an unknown name did not panic")
		}
	}()
	AddFlags(pflag.NewFlagSet("x", pflag.ContinueOnError), "nope")
}

func TestEthereumChains(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/weir.yaml"
	yaml := `
ethereum:
  chains:
    - {rpc_url: "http://node-a:8545", ws_url: "ws://node-a:8546", chain_id: 1, finality_depth: 64}
    - {name: sepolia, rpc_url: "https://node-b", chain_id: 11155111, start_at_head: true, internal_transfers: true}
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvEthChainID: "5"}
	cfg, err := Load(Sources{File: file, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	chains := cfg.Ethereum.IndexedChains()
	if len(chains) != 2 || chains[0].ChainID != 1 || chains[0].FinalityDepth != 64 || chains[0].WSURL != "ws://node-a:8546" ||
		chains[1].Name != "sepolia" || !chains[1].StartAtHead || !chains[1].InternalTransfers {
		t.Errorf("chains = %+v", chains)
	}
	if cfg.Ethereum.ChainID != 5 {
		t.Errorf("chain id from env = %d, want 5", cfg.Ethereum.ChainID)
	}

	one := Default().Ethereum.IndexedChains()
	if len(one) != 1 || one[0].ChainID != DefaultEthChainID || one[0].RPCURL != DefaultEthRPCURL {
		t.Errorf("default chains = %+v", one)
	}

	bad := Default()
	bad.Ethereum.Chains = []Chain{{RPCURL: "ftp://x", ChainID: 1}, {RPCURL: "http://a", ChainID: 0},
		{RPCURL: "http://a", ChainID: 7}, {RPCURL: "http://b", ChainID: 7}}
	err = bad.Validate()
	for _, want := range []string{"chains[0].rpc_url", "chains[1].chain_id", "chains[3]: chain 7 named \"\" twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to mention %q", err, want)
		}
	}
	if _, err := Load(Sources{LookupEnv: func(k string) (string, bool) {
		if k == EnvEthChainID {
			return "mainnet", true
		}
		return "", false
	}}); err == nil {
		t.Error("a chain id that is not a number: want an error")
	}
}
