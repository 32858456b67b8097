package signer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/weirhq/weir/signer/keys"
	"github.com/weirhq/weir/signer/nonce"
	"github.com/weirhq/weir/signer/policy"
	"github.com/weirhq/weir/signer/recovery"
)

// DefaultComponent is the signer's component name (`weir run signer`).
const DefaultComponent = "signer"

// DefaultAddr is the API's listen address unless Service.Addr says otherwise: loopback,
// since the API signs for whoever holds a token.
const DefaultAddr = "127.0.0.1:8090"

// Service is the signer as one component: the key backends, the policy store and
// engine, the nonce manager, the request log and the HTTP API, on one Kafka client.
// Run owns them all.
//
// Local state lives under StateDir: nonces/ (signer/nonce), policy/ (signer/policy's
// PebbleState: usage and policy versions), requests/ (the RequestLog) and recovery/
// (signer/recovery: splits, ceremonies, freezes and their event outbox). Each
// directory belongs to one process.
type Service struct {
	// ComponentName is the component name. Default DefaultComponent.
	ComponentName string
	// Addr is the API's listen address. Default DefaultAddr.
	Addr string
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// TopicPrefix is put before topic names. Default "".
	TopicPrefix string
	// KafkaOpts are extra client options (TLS, SASL).
	KafkaOpts []kgo.Opt
	// StateDir holds the local state. Required.
	StateDir string
	// KeystoreDir is the encrypted keystore's directory. Required.
	KeystoreDir string
	// Passphrase gives the keystore passphrase. Required.
	Passphrase keys.PassphraseFunc
	// KeystoreOpts are extra keystore options (scrypt cost, unlock duration).
	KeystoreOpts []keys.KeystoreOption
	// HSMModule is the PKCS#11 module of the HSM backend; "" runs without one.
	HSMModule string
	// HSMOpts are the HSM's options; WithPIN is required with HSMModule.
	HSMOpts []keys.HSMOption
	// Operators are the API's token holders. Required.
	Operators []Operator
	// ChainIDs are the chains the signer signs for. Required.
	ChainIDs []uint64
	// PendingNonce gives the chain's pending nonce of an account, asked on its first
	// Reserve. Required.
	PendingNonce nonce.NonceFunc
	// Balance, if set, is the native balance source for balance_share rules.
	Balance BalanceFunc
	// DefaultPolicy is the policy of requests that name none. Default DefaultPolicyID.
	DefaultPolicy string
	// RecoveryMinDelay is the shortest delay between a guardian quorum and the
	// reconstruction of a key (the owner's cancel window). Default
	// recovery.DefaultMinDelay (24 h).
	RecoveryMinDelay time.Duration
	// OnListen, if set, is called with the API's address once it listens.
	OnListen func(addr string)
	// Logger receives the logs (never a token, passphrase or key). Default slog.Default().
	Logger *slog.Logger
}

// Name returns the component name.
func (s *Service) Name() string {
	if s.ComponentName == "" {
		return DefaultComponent
	}
	return s.ComponentName
}

// Describe says what the signer serves and writes.
func (s *Service) Describe() string {
	return fmt.Sprintf("serves the signing API on %s (keystore %s%s); writes %s, %s, %s",
		s.addr(), s.KeystoreDir, map[bool]string{true: ", HSM " + s.HSMModule}[s.HSMModule != ""],
		TopicRequests, TopicSigned, TopicAudit+", "+TopicApprovals+", "+TopicRecovery)
}

func (s *Service) addr() string {
	if s.Addr == "" {
		return DefaultAddr
	}
	return s.Addr
}

// Check reports whether the configuration is complete; it contacts nothing.
func (s *Service) Check(context.Context) error { return s.validate() }

func (s *Service) validate() error {
	var errs []error
	if len(s.Brokers) == 0 {
		errs = append(errs, errors.New("signer: no Kafka brokers"))
	}
	if s.StateDir == "" {
		errs = append(errs, errors.New("signer: no state directory"))
	}
	if s.KeystoreDir == "" || s.Passphrase == nil {
		errs = append(errs, errors.New("signer: a keystore directory and passphrase are required"))
	}
	if len(s.Operators) == 0 {
		errs = append(errs, errors.New("signer: no operator token"))
	}
	if len(s.ChainIDs) == 0 || s.PendingNonce == nil {
		errs = append(errs, errors.New("signer: chain ids and a pending-nonce source are required"))
	}
	return errors.Join(errs...)
}

// Open opens the state, the key backends and the Kafka client exactly as Run does and
// returns the API over them, without serving it; close releases everything (call it
// once, after the last request). Run serves what Open returns; the benchmark harness
// (bench/signerbench) drives it in-process. It blocks while the backends open (an HSM
// login, no scrypt: keystore keys are decrypted on first use).
func (s *Service) Open(ctx context.Context) (api *Server, close func() error, err error) {
	if err := s.validate(); err != nil {
		return nil, nil, err
	}
	log := s.logger()
	var closers []func() error
	close = func() error {
		var err error
		for i := len(closers) - 1; i >= 0; i-- {
			err = errors.Join(err, closers[i]())
		}
		closers = nil
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, close())
		}
	}()
	for _, d := range []string{"nonces", "policy", "requests", "recovery"} {
		if err := os.MkdirAll(filepath.Join(s.StateDir, d), 0o700); err != nil {
			return nil, nil, fmt.Errorf("signer: state dir: %w", err)
		}
	}
	ks, err := keys.NewKeystore(s.KeystoreDir, append([]keys.KeystoreOption{keys.WithPassphrase(s.Passphrase)}, s.KeystoreOpts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("signer: keystore: %w", err)
	}
	closers = append(closers, ks.Close)
	backends := map[string]keys.Backend{keys.BackendKeystore: ks}
	if s.HSMModule != "" {
		h, err := keys.NewHSM(ctx, s.HSMModule, s.HSMOpts...)
		if err != nil {
			return nil, nil, fmt.Errorf("signer: hsm: %w", err)
		}
		closers = append(closers, h.Close)
		backends[keys.BackendHSM] = h
	}
	nm, err := nonce.Open(filepath.Join(s.StateDir, "nonces"), s.PendingNonce)
	if err != nil {
		return nil, nil, fmt.Errorf("signer: nonces: %w", err)
	}
	closers = append(closers, nm.Close)
	ps, err := policy.OpenPebbleState(filepath.Join(s.StateDir, "policy"), log)
	if err != nil {
		return nil, nil, fmt.Errorf("signer: policy state: %w", err)
	}
	closers = append(closers, ps.Close)
	store, err := policy.OpenStore(ps)
	if err != nil {
		return nil, nil, fmt.Errorf("signer: policy store: %w", err)
	}
	rl, err := OpenRequestLog(filepath.Join(s.StateDir, "requests"), log)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, rl.Close)
	var recOpts []recovery.Option
	if s.RecoveryMinDelay > 0 {
		recOpts = append(recOpts, recovery.WithMinDelay(s.RecoveryMinDelay))
	}
	rs, err := recovery.Open(filepath.Join(s.StateDir, "recovery"), append(recOpts, recovery.WithLogger(log))...)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, rs.Close)
	// franz-go's producer is idempotent with acks=all by default; said here so that no
	// option in KafkaOpts is needed for it, and ProducerLinger(0) sends at once since
	// every answer waits for its events.
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0)}, s.KafkaOpts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("signer: kafka client: %w", err)
	}
	closers = append(closers, func() error { cl.Close(); return nil })
	api, err = NewServer(Options{Backends: backends, Policies: store, Engine: policy.NewEngine(store, ps), Nonces: nm,
		Requests: rl, Client: cl, TopicPrefix: s.TopicPrefix, Operators: s.Operators, ChainIDs: s.ChainIDs,
		DefaultPolicy: s.DefaultPolicy, Balance: s.Balance, Source: s.Name() + "/" + hostname(), Logger: log,
		Recovery: rs})
	if err != nil {
		return nil, nil, err
	}
	return api, close, nil
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Run opens the state and the backends (Open), serves until ctx is done, then shuts the
// API down (in-flight requests get 10 s) and closes everything. It returns nil then, or
// the first failure.
func (s *Service) Run(ctx context.Context) (err error) {
	api, closeAll, err := s.Open(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeAll()) }()
	log := s.logger()
	ps := api.o.Engine.State()
	ln, err := net.Listen("tcp", s.addr())
	if err != nil {
		return fmt.Errorf("signer: listen: %w", err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if s.OnListen != nil {
			s.OnListen(ln.Addr().String())
		}
		log.Info("signer listening", "addr", ln.Addr().String(), "backends", strings.Join(api.backendNames(), ","))
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("signer: serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	g.Go(func() error { return prune(gctx, ps, api.o.Requests, log) })
	return g.Wait()
}

// prune drops policy usage older than policy.MaxWindow, and held requests finished for
// HeldRetention, once an hour, bounding the state.
func prune(ctx context.Context, st policy.State, rl *RequestLog, log *slog.Logger) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if err := st.Prune(ctx, now.Add(-policy.MaxWindow)); err != nil && ctx.Err() == nil {
				log.Warn("policy state prune failed", "err", err)
			}
			if _, err := rl.PruneHeld(now); err != nil {
				log.Warn("held requests prune failed", "err", err)
			}
		}
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "default"
	}
	return h
}
