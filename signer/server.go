package signer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/signer/keys"
	"github.com/weirhq/weir/signer/nonce"
	"github.com/weirhq/weir/signer/policy"
	"github.com/weirhq/weir/signer/recovery"
)

// DefaultPolicyID is the policy a signing request is judged by when it names none,
// unless Options.DefaultPolicy says otherwise.
const DefaultPolicyID = "default"

// MaxBodyBytes is the largest request body the API reads; larger bodies get 413.
const MaxBodyBytes = 1 << 20

// Operator is one holder of an API bearer token.
type Operator struct {
	// ID identifies the operator in events and policies ("operator:alice"). Required.
	ID string
	// Token is the bearer token. Required, at least 16 bytes. Only its SHA-256 digest is
	// kept by the Server; it is never logged.
	Token string
}

// BalanceFunc returns the native-coin balance, in wei, of addr on chain.
type BalanceFunc func(ctx context.Context, chain uint64, addr common.Address) (*big.Int, error)

// Options configure a Server. Every field without a default is required.
type Options struct {
	// Backends are the key backends by name (keys.BackendKeystore, keys.BackendHSM); at
	// least one.
	Backends map[string]keys.Backend
	// Policies is the policy store; Engine evaluates over it. Both required.
	Policies *policy.Store
	Engine   *policy.Engine
	// Nonces is the nonce manager and double-sign guard. Required.
	Nonces *nonce.Manager
	// Requests is the request-id log that makes POST /v1/sign/transaction idempotent.
	// Required.
	Requests *RequestLog
	// Client produces the signer's events (an idempotent producer with acks=all, the
	// franz-go default). Required.
	Client *kgo.Client
	// TopicPrefix is put before every topic name. Default "".
	TopicPrefix string
	// Operators are the API's token holders; at least one.
	Operators []Operator
	// ChainIDs are the chains the signer signs for; a request for another chain is
	// refused. At least one.
	ChainIDs []uint64
	// DefaultPolicy is the policy id of requests that name none. Default DefaultPolicyID.
	DefaultPolicy string
	// Balance, if set, gives policies their balance_share input for native transfers.
	// Default none: a balance_share rule then denies (policy.ErrBalanceRequired).
	Balance BalanceFunc
	// Source is Meta.source of the events. Default "signer/default".
	Source string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives the server's logs (never a token or key). Default slog.Default().
	Logger *slog.Logger
	// Recovery, if set, is the key-recovery store (signer/recovery): it serves the
	// recovery API (recovery_api.go), and frozen or retired keys then sign nothing.
	// Default none: no recovery routes, no freeze check.
	Recovery *recovery.Store
}

// Server is the signer's HTTP/JSON API. It is an http.Handler, safe for concurrent use.
// Every request must carry "Authorization: Bearer <token>" of one of the Operators.
//
//	POST /v1/keys                         create a key {label, backend}
//	GET  /v1/keys                         list keys
//	POST /v1/sign/transaction             sign a legacy or EIP-1559 transaction
//	POST /v1/sign/typed-data              sign EIP-712 typed data
//	POST /v1/policies                     create or edit a policy draft
//	POST /v1/policies/{id}/{version}/publish  publish a draft
//	POST /v1/policies/dry-run             evaluate a request against a policy version
//
// Each answer is produced only after its events (signer.requests, signer.signed,
// signer.audit) are acknowledged by Kafka; if they cannot be, nothing is returned but
// a 503, and nothing signed is handed out.
type Server struct {
	o      Options
	tokens []tokenDigest
	chains map[uint64]bool
	mux    *http.ServeMux
	log    *slog.Logger
}

type tokenDigest struct {
	id     string
	digest [sha256.Size]byte
}

// NewServer checks o and returns the API. It does not block.
func NewServer(o Options) (*Server, error) {
	switch {
	case len(o.Backends) == 0:
		return nil, errors.New("signer: no key backend")
	case o.Policies == nil || o.Engine == nil:
		return nil, errors.New("signer: policy store and engine are required")
	case o.Nonces == nil:
		return nil, errors.New("signer: nonce manager is required")
	case o.Requests == nil:
		return nil, errors.New("signer: request log is required")
	case o.Client == nil:
		return nil, errors.New("signer: kafka client is required")
	case len(o.Operators) == 0:
		return nil, errors.New("signer: at least one operator token is required")
	case len(o.ChainIDs) == 0:
		return nil, errors.New("signer: at least one chain id is required")
	}
	if o.DefaultPolicy == "" {
		o.DefaultPolicy = DefaultPolicyID
	}
	if o.Source == "" {
		o.Source = "signer/default"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Recovery != nil {
		o.Backends = guardBackends(o.Backends, o.Recovery) // key recovery: frozen keys sign nothing
	}
	s := &Server{o: o, chains: make(map[uint64]bool), mux: http.NewServeMux(), log: o.Logger}
	for _, op := range o.Operators {
		if op.ID == "" || len(op.Token) < 16 {
			return nil, errors.New("signer: an operator needs an id and a token of at least 16 bytes")
		}
		s.tokens = append(s.tokens, tokenDigest{id: op.ID, digest: sha256.Sum256([]byte(op.Token))})
	}
	for _, c := range o.ChainIDs {
		s.chains[c] = true
	}
	s.mux.HandleFunc("POST /v1/keys", s.auth(s.createKey))
	s.mux.HandleFunc("GET /v1/keys", s.auth(s.listKeys))
	s.mux.HandleFunc("POST /v1/sign/transaction", s.auth(s.signTransaction))
	s.mux.HandleFunc("POST /v1/sign/typed-data", s.auth(s.signTypedData))
	s.mux.HandleFunc("POST /v1/policies", s.auth(s.draftPolicy))
	s.mux.HandleFunc("POST /v1/policies/dry-run", s.auth(s.dryRun))
	s.mux.HandleFunc("POST /v1/policies/{id}/{version}/publish", s.auth(s.publishPolicy))
	s.mux.HandleFunc("POST /v1/requests/{id}/approvals", s.auth(s.approve)) // approvals.go
	s.mux.HandleFunc("GET /v1/requests/{id}", s.auth(s.getRequest))         // approvals.go
	s.mux.HandleFunc("POST /v1/sign/safe", s.auth(s.signSafe))              // safe.go
	if o.Recovery != nil {
		s.recoveryRoutes() // key recovery and freeze: recovery_api.go
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// caller is who made a request.
type caller struct {
	id     string
	remote string
}

type handler func(w http.ResponseWriter, r *http.Request, c caller)

// auth checks the bearer token: its SHA-256 digest is compared in constant time with
// every operator's, so neither the token nor which operator matched leaks by timing.
func (s *Server) auth(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		d := sha256.Sum256([]byte(tok))
		id := ""
		for _, t := range s.tokens {
			if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 && ok && tok != "" {
				id = t.id
			}
		}
		if id == "" {
			writeError(w, http.StatusUnauthorized, "unauthorized", "a valid operator bearer token is required", nil)
			return
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h(w, r, caller{id: id, remote: host})
	}
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Error   string   `json:"error"`
	Message string   `json:"message"`
	Reasons []string `json:"reasons,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string, reasons []string) {
	writeJSON(w, status, apiError{Error: code, Message: msg, Reasons: reasons})
}

// decode reads one JSON object into v, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("malformed JSON body: trailing data")
	}
	return nil
}

// keyJSON is a key as the API shows it: public data only.
type keyJSON struct {
	ID        string    `json:"id"`
	Label     string    `json:"label"`
	Address   string    `json:"address"`
	PublicKey string    `json:"public_key,omitempty"`
	Backend   string    `json:"backend"`
	Created   time.Time `json:"created,omitzero"`
}

func toKeyJSON(k keys.KeyInfo) keyJSON {
	out := keyJSON{ID: k.ID, Label: k.Label, Address: k.Address.Hex(), Backend: k.Backend, Created: k.Created}
	if k.PublicKey != nil {
		out.PublicKey = publicKeyHex(k.PublicKey)
	}
	return out
}

// findKey returns the key keyID and its backend, or keys.ErrNotFound.
func (s *Server) findKey(ctx context.Context, keyID string) (keys.KeyInfo, keys.Backend, error) {
	for _, b := range s.o.Backends {
		ks, err := b.List(ctx)
		if err != nil {
			return keys.KeyInfo{}, nil, err
		}
		for _, k := range ks {
			if k.ID == keyID {
				return k, b, nil
			}
		}
	}
	return keys.KeyInfo{}, nil, keys.ErrNotFound
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		Label   string `json:"label"`
		Backend string `json:"backend"`
	}
	ctx := r.Context()
	if err := decode(r, &req); err != nil {
		s.refuse(ctx, w, c, "key.create", "", "", http.StatusBadRequest, "bad_request", err.Error(), nil)
		return
	}
	if req.Backend == "" {
		req.Backend = keys.BackendKeystore
	}
	b, ok := s.o.Backends[req.Backend]
	if !ok {
		s.refuse(ctx, w, c, "key.create", "", "", http.StatusBadRequest, "unknown_backend",
			fmt.Sprintf("backend %q is not configured (have %s)", req.Backend, strings.Join(s.backendNames(), ", ")), nil)
		return
	}
	k, err := b.Create(ctx, req.Label)
	if err != nil {
		status, code := http.StatusInternalServerError, "backend_error"
		if errors.Is(err, keys.ErrInvalidLabel) {
			status, code = http.StatusBadRequest, "invalid_label"
		}
		s.refuse(ctx, w, c, "key.create", "", "", status, code, err.Error(), nil)
		return
	}
	if err := s.produce(ctx, s.audit(c, "key.create", k.ID, "backend:"+k.Backend, "", auditAllowed, "")); err != nil {
		s.unavailable(w, err)
		return
	}
	s.log.Info("key created", "key_id", k.ID, "backend", k.Backend, "address", k.Address.Hex(), "operator", c.id)
	writeJSON(w, http.StatusCreated, toKeyJSON(k))
}

func (s *Server) backendNames() []string {
	var names []string
	for n := range s.o.Backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c caller) {
	out := []keyJSON{}
	for _, n := range s.backendNames() {
		ks, err := s.o.Backends[n].List(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, "backend_error", err.Error(), nil)
			return
		}
		for _, k := range ks {
			out = append(out, toKeyJSON(k))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

// refuse answers a refused request after its audit record is on Kafka.
func (s *Server) refuse(ctx context.Context, w http.ResponseWriter, c caller, action, keyID, requestID string,
	status int, code, msg string, reasons []string) {
	outcome := auditDenied
	if status >= 500 {
		outcome = auditError
	}
	reason := code + ": " + msg
	if len(reasons) > 0 {
		reason += " (" + strings.Join(reasons, "; ") + ")"
	}
	if err := s.produce(ctx, s.audit(c, action, keyID, "", requestID, outcome, reason)); err != nil {
		s.unavailable(w, err)
		return
	}
	writeError(w, status, code, msg, reasons)
}

func (s *Server) unavailable(w http.ResponseWriter, err error) {
	s.log.Error("audit events not produced", "err", err)
	writeError(w, http.StatusServiceUnavailable, "audit_unavailable", "the audit trail could not be written; nothing was done", nil)
}
