package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/gateway/apikey"
	"github.com/weirhq/weir/gateway/deposit"
	"github.com/weirhq/weir/gateway/webhook"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// openAPIFiles are the OpenAPI document's parts: base.json (the document, with the
// payment-intent and webhook operations) and one file per feature with its "paths" and
// "components"/"schemas", merged into it.
//
//go:embed openapi/*.json
var openAPIFiles embed.FS

// openAPI is the merged document, built once.
var openAPI = sync.OnceValue(func() []byte {
	b, err := mergeOpenAPI(openAPIFiles)
	if err != nil {
		panic(err) // the files are embedded; a test checks they merge
	}
	return b
})

// OpenAPI returns the OpenAPI 3 document of the API (served at /openapi.json).
func OpenAPI() []byte { return append([]byte(nil), openAPI()...) }

// mergeOpenAPI merges openapi/*.json into base.json: paths and component schemas of the
// feature files are added; a name defined twice is an error.
func mergeOpenAPI(fsys fs.FS) ([]byte, error) {
	read := func(name string) (map[string]any, error) {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("gateway: %s: %w", name, err)
		}
		return doc, nil
	}
	base, err := read("openapi/base.json")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	section := func(doc map[string]any, keys ...string) map[string]any {
		for _, k := range keys {
			next, _ := doc[k].(map[string]any)
			if next == nil {
				next = map[string]any{}
				doc[k] = next
			}
			doc = next
		}
		return doc
	}
	for _, name := range names {
		if name == "openapi/base.json" {
			continue
		}
		part, err := read(name)
		if err != nil {
			return nil, err
		}
		for _, keys := range [][]string{{"paths"}, {"components", "schemas"}} {
			dst := section(base, keys...)
			for k, v := range section(part, keys...) {
				if _, dup := dst[k]; dup {
					return nil, fmt.Errorf("gateway: %s: %s %q is defined twice", name, strings.Join(keys, "."), k)
				}
				dst[k] = v
			}
		}
	}
	return json.MarshalIndent(base, "", "  ")
}

// Topic names (before Options.TopicPrefix).
const (
	TopicIntents   = "payments.intents"
	TopicMerchants = "payments.merchants"
	TopicRecon     = "recon.results"
	TopicWebhooks  = "payments.webhooks"
)

// Options configures a Server. Client and Store are required.
type Options struct {
	// Client produces the gateway's events. It should be idempotent with acks=all (the
	// franz-go defaults); the gateway answers a request only after Kafka acknowledged
	// its record.
	Client *kgo.Client
	// Store is the Redis projection.
	Store *Store
	// TopicPrefix is put before every topic name (e.g. "bench-1."). Default "".
	TopicPrefix string
	// Assets are the assets intents may be created in. Default: ETH (18 decimals) on
	// chains 1 and 1337.
	Assets []Asset
	// MaxBody bounds a request body. Default 64 KiB.
	MaxBody int64
	// IntentTTL is how long an intent waits for payment unless the request says
	// otherwise. Default 1 h.
	IntentTTL time.Duration
	// RateLimit is the requests per second a merchant may make when its configuration
	// names none (a burst of twice as many is allowed). Default 100.
	RateLimit int
	// IdempotencyTTL is how long an Idempotency-Key and its response are kept. Default
	// 24 h.
	IdempotencyTTL time.Duration
	// IdempotencyHold is how long a request holds its key before a retry may take over
	// (after a crash). Default 30 s.
	IdempotencyHold time.Duration
	// MerchantCacheTTL is how long a merchant's configuration is cached in process (so a
	// revoked key works for at most this long). Default 1 s.
	MerchantCacheTTL time.Duration
	// Webhooks is the webhook delivery queue, for the replay endpoint. Default: none (the
	// webhook routes answer 404).
	Webhooks *webhook.Queue
	// MasterKey derives webhook signing secrets (webhook.SecretFor); at least 32 bytes
	// when Webhooks is set.
	MasterKey []byte
	// Risk, when set, scores every payout before accepting it (see RiskCheck). Default
	// nil: no check.
	Risk *RiskCheck
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives request failures. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Client == nil || o.Store == nil {
		return o, errors.New("gateway: Options.Client and Options.Store are required")
	}
	if len(o.Assets) == 0 {
		o.Assets = []Asset{{Code: "ETH", Decimals: 18, ChainIDs: []uint64{1, 1337}}}
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 10
	}
	if o.IntentTTL <= 0 {
		o.IntentTTL = time.Hour
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 100
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = 24 * time.Hour
	}
	if o.IdempotencyHold <= 0 {
		o.IdempotencyHold = 30 * time.Second
	}
	if o.MerchantCacheTTL <= 0 {
		o.MerchantCacheTTL = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Webhooks != nil && len(o.MasterKey) < 32 {
		return o, errors.New("gateway: Options.MasterKey must have at least 32 bytes")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Risk != nil && (o.Risk.Scorer == nil || o.Risk.Features == nil) {
		return o, errors.New("gateway: Options.Risk needs a Scorer and a Features store")
	}
	return o, nil
}

// Server is the merchant HTTP/JSON API. It is an http.Handler; safe for concurrent use.
type Server struct {
	o     Options
	mux   *http.ServeMux
	admin *Admin

	// hooks run after the projector applied an intent transition (IntentHooks);
	// background are the feature loops Service runs (Background). Both are filled by the
	// feature files' route functions, before the Server is used.
	hooks       []func(ctx context.Context, it *paymentsv1.IntentTransition) error
	background  []func(ctx context.Context) error
	projections map[string]func(ctx context.Context, value []byte) error

	mu        sync.Mutex
	merchants map[string]cachedMerchant // by key id
	derivers  map[string]*deposit.Deriver
}

// IntentHooks returns what must run after each intent transition is projected (the
// features that follow intents: subscriptions, escrow); Service chains them after the
// webhook fan-out on the Projector.
func (s *Server) IntentHooks() []func(ctx context.Context, it *paymentsv1.IntentTransition) error {
	return s.hooks
}

// Projections returns how the features' own topics (named without the topic prefix) are
// projected into the store; Service hands them to the Projector (Projector.Extra).
func (s *Server) Projections() map[string]func(ctx context.Context, value []byte) error {
	return s.projections
}

// Background returns the loops of the features (renewals, escrow time locks, condition
// events); Service runs them. Each returns nil when ctx is done.
func (s *Server) Background() []func(ctx context.Context) error { return s.background }

type cachedMerchant struct {
	m  *paymentsv1.MerchantConfig
	at time.Time
}

// NewServer returns the API on o's Kafka client and store.
func NewServer(o Options) (*Server, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, mux: http.NewServeMux(), merchants: map[string]cachedMerchant{}, derivers: map[string]*deposit.Deriver{},
		admin:       &Admin{Client: o.Client, Store: o.Store, TopicPrefix: o.TopicPrefix, Now: o.Now},
		projections: map[string]func(context.Context, []byte) error{}}
	s.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI())
	})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("POST /v1/payment_intents", s.authOnly(apikey.Secret, s.createIntent))
	s.mux.HandleFunc("GET /v1/payment_intents", s.authed(apikey.Secret, s.listIntents))
	s.mux.HandleFunc("GET /v1/payment_intents/{id}", s.authed(apikey.Publishable, s.getIntent))
	s.mux.HandleFunc("POST /v1/payment_intents/{id}/cancel", s.authed(apikey.Secret, s.cancelIntent))
	s.billingRoutes()
	s.escrowRoutes()
	s.approvalRoutes()
	if o.Webhooks != nil {
		s.mux.HandleFunc("POST /v1/webhook_endpoints", s.authed(apikey.Secret, s.createEndpoint))
		s.mux.HandleFunc("POST /v1/webhook_endpoints/{id}/roll_secret", s.authed(apikey.Secret, s.rollEndpointSecret))
		s.mux.HandleFunc("POST /v1/webhook_deliveries/{id}/replay", s.authed(apikey.Secret, s.replayDelivery))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, r, &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "route_unknown",
			Message: fmt.Sprintf("no route %s %s", r.Method, clip(r.URL.Path, 100))})
	})
	return s, nil
}

// ServeHTTP gives every request an id (the Request-Id header of the response) and routes
// it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := newID("req_")
	w.Header().Set("Request-Id", id)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	s.mux.ServeHTTP(w, r)
}

type requestIDKey struct{}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

// fail writes e with the request's id.
func fail(w http.ResponseWriter, r *http.Request, e *APIError) {
	e.RequestID = requestID(r)
	writeJSON(w, e.Status, errorBody(e))
}

// internal writes a 500 (or 503 for an unavailable dependency) and logs err; the client
// sees no detail.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, code string, err error) {
	s.o.Logger.Error("request failed", "request_id", requestID(r), "path", r.URL.Path, "code", code, "err", err)
	status := http.StatusInternalServerError
	if code == "kafka_unavailable" || code == "store_unavailable" {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	fail(w, r, &APIError{Status: status, Type: typeAPI, Code: code, Message: "the request could not be completed; retry with the same Idempotency-Key"})
}

// handler is an authenticated handler.
type handler func(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig)

// authed authenticates the request's API key (Authorization: Bearer <key>), checks it may
// do what least allows (a publishable key only what Publishable may), and applies the
// merchant's rate limit.
func (s *Server) authed(least apikey.Kind, h handler) http.HandlerFunc {
	return s.authOnly(least, func(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
		rate := s.rate(m)
		wait, err := s.o.Store.Allow(r.Context(), m.GetMerchantId(), rate, s.o.Now())
		if err != nil {
			s.internal(w, r, "store_unavailable", err)
			return
		}
		if wait > 0 {
			rateLimited(w, r, rate, wait)
			return
		}
		h(w, r, m)
	})
}

// authOnly is authed without the rate limit, for a handler that applies it in its own
// store call (createIntent: one Redis round trip for limit, idempotency and address).
func (s *Server) authOnly(least apikey.Kind, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m, kind, aerr := s.authenticate(r)
		if aerr != nil {
			if aerr.Status == 0 {
				s.internal(w, r, "store_unavailable", errors.New(aerr.Message))
				return
			}
			fail(w, r, aerr)
			return
		}
		if least == apikey.Secret && kind != apikey.Secret {
			fail(w, r, &APIError{Status: http.StatusForbidden, Type: typePermission, Code: "secret_key_required",
				Message: "this request needs a secret key (sk_…); publishable keys may only read payment intents"})
			return
		}
		h(w, r, m)
	}
}

// rate is the merchant's requests per second.
func (s *Server) rate(m *paymentsv1.MerchantConfig) int {
	if r := int(m.GetRateLimitPerSecond()); r > 0 {
		return r
	}
	return s.o.RateLimit
}

// rateLimited writes the 429 of a request refused by the merchant's bucket.
func rateLimited(w http.ResponseWriter, r *http.Request, rate int, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
	fail(w, r, &APIError{Status: http.StatusTooManyRequests, Type: typeRateLimit, Code: "rate_limited",
		Message: fmt.Sprintf("more than %d requests per second; retry later", rate)})
}

// authenticate returns the merchant and kind of the request's key. An APIError with
// Status 0 means the store failed.
func (s *Server) authenticate(r *http.Request) (*paymentsv1.MerchantConfig, apikey.Kind, *APIError) {
	unauth := func(code, msg string) *APIError {
		return &APIError{Status: http.StatusUnauthorized, Type: typeAuthentication, Code: code, Message: msg}
	}
	auth := r.Header.Get("Authorization")
	plain, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return nil, 0, unauth("api_key_missing", "send your API key as Authorization: Bearer sk_…")
	}
	kind, keyID, err := apikey.Parse(strings.TrimSpace(plain))
	if err != nil {
		return nil, 0, unauth("api_key_malformed", "the API key is malformed")
	}
	m, err := s.merchantByKey(r.Context(), keyID)
	if errors.Is(err, ErrNotFound) {
		return nil, 0, unauth("api_key_invalid", "the API key is not valid")
	}
	if err != nil {
		return nil, 0, &APIError{Message: err.Error()}
	}
	now := s.o.Now()
	for _, k := range m.GetApiKeys() {
		if k.GetKeyId() != keyID || !apikey.Match(strings.TrimSpace(plain), k.GetSha256()) {
			continue
		}
		if k.GetExpiresTime() != nil && !now.Before(k.GetExpiresTime().AsTime()) {
			return nil, 0, unauth("api_key_expired", "the API key has expired; use the key that replaced it")
		}
		if m.GetDisabled() {
			return nil, 0, &APIError{Status: http.StatusForbidden, Type: typePermission, Code: "merchant_disabled",
				Message: "this merchant account is disabled"}
		}
		return m, kind, nil
	}
	return nil, 0, unauth("api_key_invalid", "the API key is not valid")
}

func (s *Server) merchantByKey(ctx context.Context, keyID string) (*paymentsv1.MerchantConfig, error) {
	now := s.o.Now()
	s.mu.Lock()
	c, ok := s.merchants[keyID]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < s.o.MerchantCacheTTL {
		return c.m, nil
	}
	m, err := s.o.Store.MerchantByKey(ctx, keyID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.merchants) > 10000 {
		clear(s.merchants)
	}
	s.merchants[keyID] = cachedMerchant{m: m, at: now}
	s.mu.Unlock()
	return m, nil
}

func (s *Server) deriver(xpub string) (*deposit.Deriver, error) {
	s.mu.Lock()
	d, ok := s.derivers[xpub]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := deposit.NewDeriver(xpub)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.derivers[xpub] = d
	s.mu.Unlock()
	return d, nil
}

// produce writes it to payments.intents and waits for Kafka's acknowledgement.
func (s *Server) produce(ctx context.Context, it *paymentsv1.IntentTransition) error {
	return produceIntent(ctx, s.o.Client, s.o.TopicPrefix, it)
}

func produceIntent(ctx context.Context, cl *kgo.Client, prefix string, it *paymentsv1.IntentTransition) error {
	b, err := proto.Marshal(it)
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: prefix + TopicIntents, Key: []byte(it.GetMerchantId()), Value: b}
	return cl.ProduceSync(ctx, rec).FirstErr()
}

// idem runs the idempotency protocol of a POST around do. With no Idempotency-Key, do
// runs with a nil plan. Otherwise a repeated request gets the first response, a different
// request with the same key a 409, and a request resuming one that died gets the plan the
// dead one stored. do returns the response status and body, or an APIError; finish marks
// what do planned (and produced).
func (s *Server) idem(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig, body []byte,
	do func(planned []byte, plan func([]byte) error) (int, any, *APIError)) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		status, v, aerr := do(nil, func([]byte) error { return nil })
		if aerr != nil {
			fail(w, r, aerr)
			return
		}
		writeJSON(w, status, v)
		return
	}
	if len(key) > 255 || strings.ContainsFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		fail(w, r, invalid("Idempotency-Key", "idempotency_key_invalid", "Idempotency-Key must be 1 to 255 printable ASCII characters"))
		return
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", r.Method, r.URL.Path)
	h.Write(body)
	hash := hex.EncodeToString(h.Sum(nil))
	ctx := r.Context()
	merchant := m.GetMerchantId()
	rec, err := s.o.Store.BeginIdempotent(ctx, merchant, key, hash, s.o.Now(), s.o.IdempotencyHold, s.o.IdempotencyTTL)
	if err != nil {
		s.internal(w, r, "store_unavailable", err)
		return
	}
	switch rec.State {
	case IdemDone:
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Status)
		_, _ = w.Write(rec.Body)
		return
	case IdemMismatch:
		fail(w, r, &APIError{Status: http.StatusConflict, Type: typeIdempotency, Code: "idempotency_key_reused",
			Message: "this Idempotency-Key was used with a different request", Param: "Idempotency-Key"})
		return
	case IdemInFlight:
		w.Header().Set("Retry-After", "1")
		fail(w, r, &APIError{Status: http.StatusConflict, Type: typeIdempotency, Code: "idempotency_key_in_use",
			Message: "a request with this Idempotency-Key is in progress; retry later", Param: "Idempotency-Key"})
		return
	}
	planned := false
	status, v, aerr := do(rec.Planned, func(p []byte) error {
		planned = true
		return s.o.Store.PlanIdempotent(ctx, merchant, key, p)
	})
	if aerr != nil {
		if aerr.Status >= 500 {
			// The plan stays: a retry (after the hold) produces the same thing.
			s.o.Logger.Error("request failed", "request_id", requestID(r), "code", aerr.Code)
		} else if !planned && len(rec.Planned) == 0 {
			_ = s.o.Store.AbandonIdempotent(context.WithoutCancel(ctx), merchant, key)
		}
		fail(w, r, aerr)
		return
	}
	b, err := jsonBytes(v)
	if err != nil {
		s.internal(w, r, "encode_failed", err)
		return
	}
	stored := b
	if sv, ok := v.(secretView); ok {
		// The replay of a response that showed a secret once does not show it again:
		// Redis never holds it.
		if stored, err = jsonBytes(sv.withoutSecret()); err != nil {
			s.internal(w, r, "encode_failed", err)
			return
		}
	}
	if err := s.o.Store.FinishIdempotent(context.WithoutCancel(ctx), merchant, key, status, stored); err != nil {
		s.o.Logger.Error("idempotent response not stored", "request_id", requestID(r), "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// secretView is a response that shows a secret once (a new key or signing secret); its
// idempotent replay is withoutSecret.
type secretView interface {
	withoutSecret() any
}

func unavailable(code string) *APIError {
	return &APIError{Status: http.StatusServiceUnavailable, Type: typeAPI, Code: code,
		Message: "the request could not be completed; retry with the same Idempotency-Key"}
}

// newIntent builds the first transition of a new intent.
func (s *Server) newIntent(merchant string, c createIntent, addr string, index uint32, reqID string) *paymentsv1.IntentTransition {
	return buildIntent(merchant, c, addr, index, reqID, newID("pi_"), s.o.Now())
}

// buildIntent builds the first transition of intent id, created at now: the same inputs
// give the same record (a resumed request rebuilds its planned intent with it).
func buildIntent(merchant string, c createIntent, addr string, index uint32, reqID, id string, now time.Time) *paymentsv1.IntentTransition {
	return &paymentsv1.IntentTransition{
		Meta: &commonv1.Meta{
			EventId:   eventid.New(intentKind, id, "1"),
			EventTime: timestamppb.New(now),
			Source:    source,
		},
		IntentId:       id,
		MerchantId:     merchant,
		Version:        1,
		State:          paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT,
		Amount:         c.amount,
		AmountReceived: &commonv1.Amount{Value: "0", Asset: c.amount.GetAsset(), Decimals: c.amount.GetDecimals()},
		AmountRefunded: &commonv1.Amount{Value: "0", Asset: c.amount.GetAsset(), Decimals: c.amount.GetDecimals()},
		Method:         paymentsv1.PaymentMethod_PAYMENT_METHOD_ONCHAIN,
		CustomerId:     c.customer,
		ChainId:        c.chainID,
		DepositAddress: addr,
		AddressIndex:   index,
		NextAction:     "send_funds",
		ExpiresTime:    timestamppb.New(now.Add(c.expires)),
		CreatedTime:    timestamppb.New(now),
		Metadata:       c.metadata,
		RequestId:      reqID,
	}
}

// getIntent handles GET /v1/payment_intents/{id}.
func (s *Server) getIntent(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	it, err := s.o.Store.Intent(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) || (err == nil && it.GetMerchantId() != m.GetMerchantId()) {
		fail(w, r, &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "intent_unknown",
			Message: "no such payment intent", Param: "id"})
		return
	}
	if err != nil {
		s.internal(w, r, "store_unavailable", err)
		return
	}
	writeJSON(w, http.StatusOK, intentView(it))
}

// pageLimit parses a list's limit parameter: 1 to 100, default 10.
func pageLimit(v string) (int, *APIError) {
	if v == "" {
		return 10, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, invalid("limit", "parameter_invalid", "limit must be an integer from 1 to 100")
	}
	return n, nil
}

// listIntents handles GET /v1/payment_intents?limit=&starting_after=.
func (s *Server) listIntents(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	q := r.URL.Query()
	limit, aerr := pageLimit(q.Get("limit"))
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	after := q.Get("starting_after")
	if after != "" {
		it, err := s.o.Store.Intent(r.Context(), after)
		if errors.Is(err, ErrNotFound) || (err == nil && it.GetMerchantId() != m.GetMerchantId()) {
			fail(w, r, invalid("starting_after", "cursor_invalid", "starting_after is not one of your payment intents"))
			return
		}
		if err != nil {
			s.internal(w, r, "store_unavailable", err)
			return
		}
	}
	its, more, err := s.o.Store.Intents(r.Context(), m.GetMerchantId(), after, limit)
	if errors.Is(err, ErrNotFound) {
		fail(w, r, invalid("starting_after", "cursor_invalid", "starting_after is not one of your payment intents"))
		return
	}
	if err != nil {
		s.internal(w, r, "store_unavailable", err)
		return
	}
	page := IntentList{Object: "list", Data: make([]Intent, 0, len(its)), HasMore: more}
	for _, it := range its {
		page.Data = append(page.Data, intentView(it))
	}
	if more && len(its) > 0 {
		page.NextCursor = its[len(its)-1].GetIntentId()
	}
	writeJSON(w, http.StatusOK, page)
}

// cancelIntent handles POST /v1/payment_intents/{id}/cancel.
func (s *Server) cancelIntent(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	id := r.PathValue("id")
	ctx := r.Context()
	s.idem(w, r, m, body, func(planned []byte, plan func([]byte) error) (int, any, *APIError) {
		unlock, err := s.o.Store.Lock(ctx, id, lockTTL, lockWait)
		if err != nil {
			return 0, nil, unavailable("intent_busy")
		}
		defer unlock()
		cur, err := s.o.Store.Intent(ctx, id)
		if errors.Is(err, ErrNotFound) || (err == nil && cur.GetMerchantId() != m.GetMerchantId()) {
			return 0, nil, &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "intent_unknown", Message: "no such payment intent", Param: "id"}
		}
		if err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		if cur.GetState() == paymentsv1.IntentState_INTENT_STATE_CANCELED {
			return http.StatusOK, intentView(cur), nil
		}
		n, err := transition(cur, paymentsv1.IntentState_INTENT_STATE_CANCELED, s.o.Now())
		if err != nil {
			return 0, nil, &APIError{Status: http.StatusConflict, Type: typeInvalidRequest, Code: "intent_unexpected_state",
				Message: fmt.Sprintf("a %s payment intent cannot be canceled", Status(cur.GetState()))}
		}
		n.RequestId = requestID(r)
		if err := s.produce(ctx, n); err != nil {
			s.o.Logger.Error("produce failed", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		if _, err := s.o.Store.ApplyIntent(context.WithoutCancel(ctx), n); err != nil {
			s.o.Logger.Warn("intent not projected; the projector will", "intent", id, "err", err)
		}
		return http.StatusOK, intentView(n), nil
	})
}

// Intent locks: held at most lockTTL (longer than a produce normally takes); a request
// waits at most lockWait for one.
const (
	lockTTL  = 10 * time.Second
	lockWait = 2 * time.Second
)

// newID returns prefix followed by 26 characters of base32 (130 random bits).
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
