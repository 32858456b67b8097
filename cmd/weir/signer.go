package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/spf13/cobra"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
)

// The signer's settings come from the environment (internal/config has no signer
// section yet); secrets are read from it and never logged.
const (
	// envSignerAddr is the API's listen address, and the address `weir keys` talks to.
	// Default signer.DefaultAddr (127.0.0.1:8090).
	envSignerAddr = "WEIR_SIGNER_ADDR"
	// envSignerKeystore is the keystore directory. Default <state_dir>/signer/keystore.
	envSignerKeystore = "WEIR_SIGNER_KEYSTORE"
	// envSignerPassphrase is the keystore passphrase. Required by `weir run signer`.
	envSignerPassphrase = "WEIR_SIGNER_PASSPHRASE"
	// envSignerToken is the operator token(s): "token" (operator id "operator") or a
	// comma-separated list of "id=token". Required.
	envSignerToken = "WEIR_SIGNER_TOKEN"
	// envSignerPKCS11Module is the PKCS#11 module (shared library) of the HSM backend.
	// Default envSoftHSMModule's value; both unset runs without an HSM.
	envSignerPKCS11Module = "WEIR_SIGNER_PKCS11_MODULE"
	// envSoftHSMModule is SoftHSM2's module (deploy/local/stack.env sets it), the HSM
	// backend's module when envSignerPKCS11Module is unset.
	envSoftHSMModule = "WEIR_SOFTHSM2_MODULE"
	// envSignerHSMToken is the label of the HSM token holding the keys. Default
	// keys.DefaultTokenLabel ("weir").
	envSignerHSMToken = "WEIR_SIGNER_HSM_TOKEN"
	// envSignerHSMPIN is the HSM user PIN, a secret: read at login, never logged.
	// Required with a module.
	envSignerHSMPIN = "WEIR_SIGNER_HSM_PIN"
)

// parseOperators reads envSignerToken's value.
func parseOperators(v string) ([]signer.Operator, error) {
	var ops []signer.Operator
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		op := signer.Operator{ID: "operator", Token: part}
		if id, tok, ok := strings.Cut(part, "="); ok {
			op = signer.Operator{ID: strings.TrimSpace(id), Token: strings.TrimSpace(tok)}
		}
		if op.ID == "" || len(op.Token) < 16 {
			return nil, fmt.Errorf("%s: every token needs an operator id and at least 16 characters", envSignerToken)
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("signer: no operator token: set %s", envSignerToken)
	}
	return ops, nil
}

// chainClients dials each chain's node on first use, so that building the component
// contacts nothing.
type chainClients struct {
	mu    sync.Mutex
	urls  map[uint64]string
	conns map[uint64]*ethclient.Client
}

func (c *chainClients) client(ctx context.Context, chain uint64) (*ethclient.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.conns[chain]; ok {
		return cl, nil
	}
	url, ok := c.urls[chain]
	if !ok {
		return nil, fmt.Errorf("signer: no node for chain %d", chain)
	}
	cl, err := ethclient.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("signer: dial chain %d: %w", chain, err)
	}
	c.conns[chain] = cl
	return cl, nil
}

func (c *chainClients) pendingNonce(ctx context.Context, chain uint64, from common.Address) (uint64, error) {
	cl, err := c.client(ctx, chain)
	if err != nil {
		return 0, err
	}
	return cl.PendingNonceAt(ctx, from)
}

func (c *chainClients) balance(ctx context.Context, chain uint64, addr common.Address) (*big.Int, error) {
	cl, err := c.client(ctx, chain)
	if err != nil {
		return nil, err
	}
	return cl.BalanceAt(ctx, addr, nil)
}

// signerComponent builds `weir run signer` from cfg (Kafka, the chains, the state dir)
// and the WEIR_SIGNER_* environment.
func signerComponent(cfg config.Config, lookup func(string) (string, bool), logger *slog.Logger) (Component, error) {
	env := func(k string) string { v, _ := lookup(k); return v }
	ops, err := parseOperators(env(envSignerToken))
	if err != nil {
		return nil, err
	}
	if env(envSignerPassphrase) == "" {
		return nil, fmt.Errorf("signer: no keystore passphrase: set %s", envSignerPassphrase)
	}
	state := filepath.Join(cfg.StateDir, signer.DefaultComponent)
	ksDir := env(envSignerKeystore)
	if ksDir == "" {
		ksDir = filepath.Join(state, "keystore")
	}
	addr := env(envSignerAddr)
	if addr == "" {
		addr = signer.DefaultAddr
	}
	chains := &chainClients{urls: map[uint64]string{}, conns: map[uint64]*ethclient.Client{}}
	var ids []uint64
	for _, c := range cfg.Ethereum.IndexedChains() {
		chains.urls[c.ChainID] = c.RPCURL
		ids = append(ids, c.ChainID)
	}
	svc := &signer.Service{
		Addr: addr, Brokers: cfg.Kafka.Brokers, StateDir: state, KeystoreDir: ksDir,
		// The passphrase is looked up at each use, never kept in the Service.
		Passphrase: func(context.Context) (string, error) {
			if v := env(envSignerPassphrase); v != "" {
				return v, nil
			}
			return "", fmt.Errorf("signer: %s is not set", envSignerPassphrase)
		},
		Operators: ops, ChainIDs: ids, PendingNonce: chains.pendingNonce, Balance: chains.balance,
		Logger: logger.With("component", signer.DefaultComponent),
	}
	if svc.RecoveryMinDelay, err = recoveryMinDelay(env(envSignerRecoveryMinDelay)); err != nil { // keys_recovery.go
		return nil, err
	}
	mod, modVar := env(envSignerPKCS11Module), envSignerPKCS11Module
	if mod == "" {
		mod, modVar = env(envSoftHSMModule), envSoftHSMModule
	}
	if mod != "" {
		if env(envSignerHSMPIN) == "" {
			return nil, fmt.Errorf("signer: %s is set but %s is not", modVar, envSignerHSMPIN)
		}
		svc.HSMModule = mod
		svc.HSMOpts = []keys.HSMOption{keys.WithPIN(func(context.Context) (string, error) { return env(envSignerHSMPIN), nil })}
		if tok := env(envSignerHSMToken); tok != "" {
			svc.HSMOpts = append(svc.HSMOpts, keys.WithTokenLabel(tok))
		}
	}
	return svc, nil
}

// newKeysCmd is `weir keys`: operator commands over the signer's API (the signer must
// run: the keystore belongs to it while it does). The address is --addr, else
// WEIR_SIGNER_ADDR, else 127.0.0.1:8090; the token is WEIR_SIGNER_TOKEN (its first
// token, if it lists several).
func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create, list, split, recover, rotate and freeze the signer's keys (through the signer's API)", Args: cobra.NoArgs}
	var addr, label, backend string
	client := func(cmd *cobra.Command) (*signerClient, error) {
		if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
			return nil, err
		}
		ops, err := parseOperators(os.Getenv(envSignerToken))
		if err != nil {
			return nil, err
		}
		a := addr
		if a == "" {
			a = os.Getenv(envSignerAddr)
		}
		if a == "" {
			a = signer.DefaultAddr
		}
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		return &signerClient{base: a, token: ops[0].Token}, nil
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a key in the keystore or the HSM; prints its id and address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/v1/keys", map[string]string{"label": label, "backend": backend}, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	create.Flags().StringVar(&label, "label", "", "the key's name (1 to 128 bytes)")
	create.Flags().StringVar(&backend, "backend", keys.BackendKeystore, "keystore or hsm")
	_ = create.MarkFlagRequired("label")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the signer's keys (public data only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := c.do(cmd.Context(), "GET", "/v1/keys", nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	for _, c := range []*cobra.Command{create, list} {
		c.Flags().StringVar(&addr, "addr", "", "the signer's API address (default $"+envSignerAddr+" or "+signer.DefaultAddr+")")
		cmd.AddCommand(c)
	}
	addRecoveryCmds(cmd, client, &addr) // split, recover, rotate, freeze, unfreeze: keys_recovery.go
	return cmd
}

func printJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// signerClient calls the signer's API with an operator token.
type signerClient struct {
	base  string
	token string
}

func (c *signerClient) do(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("signer API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Message string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("signer API: %s: %s", e.Error, e.Message)
		}
		return fmt.Errorf("signer API: %s", resp.Status)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return errors.Join(errors.New("signer API: malformed answer"), err)
	}
	return nil
}
