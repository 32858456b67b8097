package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/bench/chaingen"
	"github.com/weirhq/weir/internal/embedded"
	"github.com/weirhq/weir/internal/telemetry"
	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
)

// devOptions are the flags of `weir dev`.
type devOptions struct {
	// DataDir is --data: where all state lives (the broker's under DataDir/broker).
	// Default ".weir".
	DataDir string
	// BrokerPort is --broker-port: the loopback port of the embedded broker; 0 picks a
	// free port. Default 9092.
	BrokerPort int
	// HTTPAddr is --http: the listen address of /metrics and /healthz; port 0 picks a
	// free port. Default "127.0.0.1:9464".
	HTTPAddr string
	// For is --for: stop after this long and exit 0; 0 runs until Ctrl-C or SIGTERM.
	// Default 0.
	For time.Duration
	// ShutdownTimeout is --shutdown-timeout: the bound on each shutdown stage
	// (components, telemetry, broker). Default 10s.
	ShutdownTimeout time.Duration
	// DemoPostings is --demo-postings: generated ledger postings per second written to
	// ledger.postings, so that the processors have something to work on; 0 generates
	// none. Default 0.
	DemoPostings int
	// RPC is --rpc: index this Ethereum node instead of the simulated chain. Default "":
	// the simulated chain.
	RPC string
	// ChainID is --chain-id: the chain --rpc must serve; 0 accepts the node's. Default 0.
	ChainID uint64
	// ChainRate is --chain-rate: transactions per second of the simulated chain's
	// traffic generator. Default 20.
	ChainRate int
	// ReorgEvery is --reorg-every: the simulated chain reorganises every so many blocks
	// (depth 1 to 3); 0 never. Default 60.
	ReorgEvery int
	// GatewayAddr is --gateway-addr: the merchant API's listen address; "" runs no
	// gateway. Default "127.0.0.1:8080".
	GatewayAddr string
	// SignerAddr is --signer-addr: the signing API's listen address; "" runs no
	// signer. Default signer.DefaultAddr ("127.0.0.1:8090").
	SignerAddr string
}

// validate checks the options' shapes.
func (o devOptions) validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	}
	if o.DemoPostings < 0 {
		errs = append(errs, fmt.Errorf("--demo-postings %d: want 0 or more per second", o.DemoPostings))
	}
	if o.ChainRate < 0 || o.ChainRate > 200 {
		errs = append(errs, fmt.Errorf("--chain-rate %d: want 0..200 transactions per second", o.ChainRate))
	}
	if o.ReorgEvery < 0 {
		errs = append(errs, fmt.Errorf("--reorg-every %d: want 0 or more blocks", o.ReorgEvery))
	}
	if o.ChainID != 0 && o.RPC == "" {
		errs = append(errs, errors.New("--chain-id goes with --rpc (the simulated chain is 1337)"))
	}
	if o.BrokerPort < 0 || o.BrokerPort > 65535 {
		errs = append(errs, fmt.Errorf("--broker-port %d: want 0..65535", o.BrokerPort))
	}
	if _, _, err := net.SplitHostPort(o.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http %q: want host:port", o.HTTPAddr))
	}
	if o.For < 0 {
		errs = append(errs, fmt.Errorf("--for %s: must not be negative", o.For))
	}
	if o.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: must be positive", o.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

func newDevCmd(g *globals) *cobra.Command {
	opts := devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole platform in one process on an embedded broker",
		Long: `Run the whole platform in one process: an embedded Kafka-protocol broker
persisted under --data, the topic catalogue applied to it, /metrics and /healthz on
--http, and every component. Runs until Ctrl-C or SIGTERM (or for --for), then stops
the components, the telemetry server and the broker, in that order. Running it again
on the same --data resumes from the persisted state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runDev(cmd.Context(), opts, devComponents, cmd.OutOrStdout(), logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data", ".weir", "directory for all state; the broker's is under DIR/broker")
	f.IntVar(&opts.BrokerPort, "broker-port", 9092, "loopback port of the embedded broker (0: any free port)")
	f.StringVar(&opts.HTTPAddr, "http", telemetry.DefaultAddr, "listen address of /metrics and /healthz")
	f.DurationVar(&opts.For, "for", 0, "stop after this long and exit 0 (0: run until Ctrl-C)")
	f.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "bound on each shutdown stage")
	f.IntVar(&opts.DemoPostings, "demo-postings", 0, "generate this many ledger postings per second into ledger.postings (0: none)")
	f.StringVar(&opts.RPC, "rpc", "", "index this Ethereum JSON-RPC node instead of the simulated chain")
	f.Uint64Var(&opts.ChainID, "chain-id", 0, "with --rpc: the chain id the node must serve (0: the node's)")
	f.IntVar(&opts.ChainRate, "chain-rate", 20, "transactions per second on the simulated chain")
	f.IntVar(&opts.ReorgEvery, "reorg-every", 60, "reorganise the simulated chain every N blocks (0: never)")
	f.StringVar(&opts.GatewayAddr, "gateway-addr", "127.0.0.1:8080", `listen address of the merchant API ("" runs no gateway)`)
	f.StringVar(&opts.SignerAddr, "signer-addr", signer.DefaultAddr, `listen address of the signing API ("" runs no signer)`)
	return cmd
}

// runDev is `weir dev`: it starts the embedded broker, applies the topic catalogue,
// starts telemetry and the components that build returns, prints what runs where to out,
// and blocks until ctx is done (or opts.For elapsed) or a component fails. It then stops
// the components, the telemetry server and the broker, in that order, each within
// opts.ShutdownTimeout.
func runDev(ctx context.Context, opts devOptions, build func(devEnv) ([]Component, error), out io.Writer, logger *slog.Logger) (err error) {
	if err := opts.validate(); err != nil {
		return err
	}
	brokerDir := filepath.Join(opts.DataDir, "broker")
	broker, err := embedded.Start(embedded.Options{
		DataDir: brokerDir,
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.BrokerPort)),
		Logger:  logger,
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
		defer cancel()
		if cerr := broker.Close(cctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	// One client serves the catalogue and the broker's health check.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()))
	if err != nil {
		return fmt.Errorf("broker client: %w", err)
	}
	defer cl.Close()
	topics, err := applyCatalog(ctx, kadm.NewClient(cl))
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	tel, err := telemetry.New(reg, telemetry.Options{Addr: opts.HTTPAddr, ShutdownTimeout: opts.ShutdownTimeout, Logger: logger})
	if err != nil {
		return err
	}
	if err := tel.AddCheck("broker", cl.Ping); err != nil {
		return err
	}
	comps, err := build(devEnv{Brokers: []string{broker.Addr()}, DataDir: opts.DataDir, Registry: reg, Logger: logger,
		DemoPostings: opts.DemoPostings, RPC: opts.RPC, ChainID: opts.ChainID, ChainRate: opts.ChainRate,
		ReorgEvery: opts.ReorgEvery, GatewayAddr: opts.GatewayAddr, SignerAddr: opts.SignerAddr})
	if err != nil {
		return fmt.Errorf("build components: %w", err)
	}
	if err := checkNames(comps); err != nil {
		return err
	}
	for _, c := range comps {
		if c.Name() == "broker" { // its state dir and health check would be the broker's
			return errors.New(`a component may not be named "broker" in weir dev`)
		}
		if ch, ok := c.(Checker); ok {
			if err := tel.AddCheck(c.Name(), ch.Check); err != nil {
				return err
			}
		}
	}
	httpAddr, err := tel.Listen()
	if err != nil {
		return err
	}

	printDev(out, opts, broker.Addr(), brokerDir, httpAddr, topics, comps)
	runCtx := ctx
	if opts.For > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.For)
		defer cancel()
	}
	logger.Info("weir dev running", "broker", broker.Addr(), "data", opts.DataDir, "components", len(comps))
	err = runStages(runCtx, opts.ShutdownTimeout, logger,
		[]task{{name: "telemetry", run: tel.Run}},
		componentTasks(comps),
	)
	if err == nil {
		fmt.Fprintf(out, "weir dev stopped; state kept in %s (run again to resume)\n", opts.DataDir)
	}
	return err
}

// printDev prints what runs where.
func printDev(out io.Writer, opts devOptions, brokerAddr, brokerDir string, httpAddr net.Addr, topics catalogResult, comps []Component) {
	base := "http://" + displayAddr(httpAddr)
	p := func(label, format string, args ...any) {
		fmt.Fprintf(out, "  %-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintln(out, "weir dev: the whole platform in one process")
	p("broker", "%s (Kafka protocol, state in %s)", brokerAddr, brokerDir)
	p("data dir", "%s", absOrSame(opts.DataDir))
	p("metrics", "%s/metrics", base)
	p("health", "%s/healthz", base)
	if len(topics.changes) == 0 {
		p("topics", "%d in the catalogue, no changes", topics.total)
	} else {
		p("topics", "%d in the catalogue, %d changes:", topics.total, len(topics.changes))
	}
	for _, c := range append(topics.changes, topics.notes...) {
		fmt.Fprintf(out, "  %-11s   %s\n", "", c)
	}
	if len(comps) == 0 {
		p("components", "none yet")
	}
	for _, c := range comps {
		desc := ""
		if d, ok := c.(Describer); ok {
			desc = ": " + d.Describe()
		}
		p("component", "%s%s", c.Name(), desc)
	}
	if opts.For > 0 {
		fmt.Fprintf(out, "running for %s (Ctrl-C stops earlier)\n", opts.For)
	} else {
		fmt.Fprintln(out, "running until Ctrl-C or SIGTERM")
	}
}

// displayAddr returns addr as a host:port a browser can open: an unspecified host
// (listening on all interfaces) is shown as 127.0.0.1.
func displayAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// absOrSame returns the absolute form of path, or path when that fails.
func absOrSame(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// devSigner is the signer of `weir dev`: the same signer.Service on the embedded broker,
// with a keystore under the data directory whose passphrase is generated on the first
// run and kept in a 0600 file there (never logged or printed), and one operator,
// "operator:dev", whose token is kept the same way. Its chain is the simulated chain
// (chaingen.ChainID; the dev keys are new, so their first nonce is 0), or with --rpc the
// node's chain, whose pending nonces it asks.
type devSigner struct {
	addr    string
	brokers []string
	dir     string // <data>/signer
	rpc     string
	chainID uint64
	logger  *slog.Logger
}

// Files of the dev signer under its directory, mode 0600.
const (
	devSignerPassFile  = "keystore-passphrase"
	devSignerTokenFile = "operator-token"
)

func (d *devSigner) Name() string { return signer.DefaultComponent }

func (d *devSigner) Describe() string {
	return fmt.Sprintf("the signing API on http://%s (operator:dev's bearer token in %s; keystore in %s)",
		d.addr, filepath.Join(d.dir, devSignerTokenFile), filepath.Join(d.dir, "keystore"))
}

// The address the dev signer listens on is written to <data>/signer/addr (the flag's,
// or a free port's when that one is taken).

func (d *devSigner) Run(ctx context.Context) error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	pass, err := devSecret(filepath.Join(d.dir, devSignerPassFile))
	if err != nil {
		return fmt.Errorf("signer: keystore passphrase: %w", err)
	}
	token, err := devSecret(filepath.Join(d.dir, devSignerTokenFile))
	if err != nil {
		return fmt.Errorf("signer: operator token: %w", err)
	}
	chain := uint64(chaingen.ChainID)
	pending := func(context.Context, uint64, common.Address) (uint64, error) { return 0, nil }
	if d.rpc != "" {
		ec, err := ethclient.DialContext(ctx, d.rpc)
		if err != nil {
			return fmt.Errorf("signer: ethereum node %s: %w", d.rpc, err)
		}
		defer ec.Close()
		if chain = d.chainID; chain == 0 {
			id, err := ec.ChainID(ctx)
			if err != nil {
				return fmt.Errorf("signer: ethereum node %s: chain id: %w", d.rpc, err)
			}
			chain = id.Uint64()
		}
		pending = func(ctx context.Context, _ uint64, from common.Address) (uint64, error) {
			return ec.PendingNonceAt(ctx, from)
		}
	}
	addr := d.addr
	if ln, err := net.Listen("tcp", addr); err != nil {
		// Another weir dev (or a signer) holds the port: take a free one rather than fail
		// the whole platform; the log says which.
		d.logger.Warn("signer address taken, listening on a free port instead", "addr", addr, "err", err)
		addr = "127.0.0.1:0"
	} else {
		_ = ln.Close()
	}
	svc := &signer.Service{Addr: addr, Brokers: d.brokers, StateDir: filepath.Join(d.dir, "state"),
		KeystoreDir: filepath.Join(d.dir, "keystore"),
		// Light scrypt: the passphrase sits next to the keystore, so a dear KDF protects
		// nothing in development.
		KeystoreOpts: []keys.KeystoreOption{keys.WithScrypt(keys.ScryptLight)},
		Passphrase:   func(context.Context) (string, error) { return pass, nil },
		Operators:    []signer.Operator{{ID: "operator:dev", Token: token}}, ChainIDs: []uint64{chain},
		PendingNonce: pending, Logger: d.logger,
		OnListen: func(a string) {
			if err := os.WriteFile(filepath.Join(d.dir, "addr"), []byte(a+"\n"), 0o600); err != nil {
				d.logger.Warn("signer address not written", "err", err)
			}
		}}
	return svc.Run(ctx)
}

// devSecret reads the secret in path, making a random one (32 bytes, hex) the first
// time, written with mode 0600.
func devSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= 16 {
			return s, nil
		}
		return "", fmt.Errorf("%s: too short", path)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	s := hex.EncodeToString(k)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return s, f.Close()
}
