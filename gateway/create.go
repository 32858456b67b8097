package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Creating an intent takes two Redis round trips besides the produce: admit (rate limit,
// Idempotency-Key, address index and the plan, in one script) before producing, and
// commit (the projection and the idempotent response, in one script) after. The plan is
// small — intent id, creation time, request id, address index — and, with the request
// body (which the key's hash pins), rebuilds the planned intent exactly, so a retry after
// a crash produces the same intent.

// admitCreate is the admission of a create-intent request.
// KEYS: rate bucket, idempotency record (unused without a key), address counter.
// ARGV: rate, burst, now µs, use idempotency (0/1), request hash, now ms, hold ms, ttl ms,
// plan prefix (the plan without its index).
// Returns {0, wait µs} when limited; else {1, state, …}: state 0 claimed (index, plan),
// 1 resumed (plan), 2 in flight, 3 done (status, body), 4 mismatch.
var admitCreate = redis.NewScript(`
local rate, burst, nowus = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or nowus
tokens = math.min(burst, tokens + (nowus - at) * rate / 1e6)
if tokens < 1 then
  redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', nowus)
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
  return {0, math.ceil((1 - tokens) * 1e6 / rate)}
end
redis.call('HSET', KEYS[1], 't', tostring(tokens - 1), 'at', nowus)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local function plan()
  local index = redis.call('INCR', KEYS[3]) - 1
  return ARGV[9] .. '|' .. index
end
if ARGV[4] == '0' then return {1, 0, plan()} end
local now, hold = tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('HSETNX', KEYS[2], 'h', ARGV[5]) == 1 then
  local p = plan()
  redis.call('HSET', KEYS[2], 'l', now + hold, 'p', p)
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
  return {1, 0, p}
end
local r = redis.call('HMGET', KEYS[2], 'h', 'l', 'p', 's', 'b')
if r[1] ~= ARGV[5] then return {1, 4} end
if r[4] then return {1, 3, r[4], r[5]} end
if tonumber(r[2] or '0') > now then return {1, 2} end
redis.call('HSET', KEYS[2], 'l', now + hold)
if r[3] then return {1, 1, r[3]} end
local p = plan()
redis.call('HSET', KEYS[2], 'p', p)
return {1, 0, p}
`)

// commitCreate stores the intent (as applyIntent) and, with a key, the response.
// KEYS: intent hash, merchant's intent list, address counter, idempotency record.
// ARGV: version, protobuf bytes, created ms, intent id, address index, use idempotency,
// status, body.
var commitCreate = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
local nextIndex = tonumber(ARGV[5]) + 1
if tonumber(redis.call('GET', KEYS[3]) or '0') < nextIndex then
  redis.call('SET', KEYS[3], nextIndex)
end
if tonumber(ARGV[1]) > v then
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'pb', ARGV[2])
end
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[4], 's', ARGV[7], 'b', ARGV[8])
  redis.call('HDEL', KEYS[4], 'l', 'p')
end
return 1
`)

// createPlan is what admitCreate keeps of a planned intent.
type createPlan struct {
	id        string
	created   time.Time
	requestID string
	index     uint32
}

func (p createPlan) prefix() string {
	return "v1|" + p.id + "|" + strconv.FormatInt(p.created.UnixNano(), 10) + "|" + p.requestID
}

func parsePlan(s string) (createPlan, error) {
	f := strings.Split(s, "|")
	if len(f) != 5 || f[0] != "v1" {
		return createPlan{}, fmt.Errorf("gateway: unreadable plan %q", clip(s, 60))
	}
	ns, err1 := strconv.ParseInt(f[2], 10, 64)
	idx, err2 := strconv.ParseUint(f[4], 10, 32)
	if err1 != nil || err2 != nil {
		return createPlan{}, fmt.Errorf("gateway: unreadable plan %q", clip(s, 60))
	}
	return createPlan{id: f[1], created: time.Unix(0, ns).UTC(), requestID: f[3], index: uint32(idx)}, nil
}

// releaseHold lets a retry take key over at once, after the request holding it failed
// to produce (its plan stays: the retry produces the same intent).
func (st *Store) releaseHold(ctx context.Context, merchant, key string) {
	_ = st.rdb.HSet(ctx, st.key("idem", merchant, key), "l", 0).Err()
}

// createIntent handles POST /v1/payment_intents.
func (s *Server) createIntent(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req CreateIntentRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	c, aerr := req.validate(s.o.Assets, s.o.IntentTTL)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	s.create(w, r, m, body, c, nil, func(it *paymentsv1.IntentTransition) any { return intentView(it) })
}

// create makes a new intent from the validated request c whose raw body is body: the
// admit script, the address, the produce, the commit script. decorate, if set, adds what
// a kind of intent carries beyond c (an escrow's terms); it must depend only on c and the
// intent as built, so that a resumed request rebuilds the same record. view renders the
// answer.
func (s *Server) create(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig, body []byte, c createIntent,
	decorate func(*paymentsv1.IntentTransition), view func(*paymentsv1.IntentTransition) any) {
	d, err := s.deriver(m.GetXpub())
	if err != nil {
		s.internal(w, r, "merchant_xpub_invalid", err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key != "" && (len(key) > 255 || strings.ContainsFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e })) {
		fail(w, r, invalid("Idempotency-Key", "idempotency_key_invalid", "Idempotency-Key must be 1 to 255 printable ASCII characters"))
		return
	}
	ctx, st, merchant := r.Context(), s.o.Store, m.GetMerchantId()
	now := s.o.Now()
	rate := s.rate(m)
	useIdem, hash := "0", ""
	if key != "" {
		useIdem = "1"
		h := sha256.New()
		fmt.Fprintf(h, "%s %s\n", r.Method, r.URL.Path)
		h.Write(body)
		hash = hex.EncodeToString(h.Sum(nil))
	}
	fresh := createPlan{id: newID("pi_"), created: now, requestID: requestID(r)}
	res, err := admitCreate.Run(ctx, st.rdb,
		[]string{st.key("rl", merchant), st.key("idem", merchant, key), st.key("addr", merchant)},
		rate, 2*rate, now.UnixMicro(), useIdem, hash, now.UnixMilli(), s.o.IdempotencyHold.Milliseconds(),
		s.o.IdempotencyTTL.Milliseconds(), fresh.prefix()).Slice()
	if err != nil {
		s.internal(w, r, "store_unavailable", err)
		return
	}
	if res[0].(int64) == 0 {
		rateLimited(w, r, rate, time.Duration(res[1].(int64))*time.Microsecond)
		return
	}
	resumed := false
	var planStr string
	switch Idempotency(res[1].(int64)) {
	case IdemClaimed:
		planStr, _ = res[2].(string)
	case IdemResumed:
		planStr, _ = res[2].(string)
		resumed = true
	case IdemInFlight:
		w.Header().Set("Retry-After", "1")
		fail(w, r, &APIError{Status: http.StatusConflict, Type: typeIdempotency, Code: "idempotency_key_in_use",
			Message: "a request with this Idempotency-Key is in progress; retry later", Param: "Idempotency-Key"})
		return
	case IdemDone:
		status, _ := strconv.Atoi(res[2].(string))
		b, _ := res[3].(string)
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(b))
		return
	default:
		fail(w, r, &APIError{Status: http.StatusConflict, Type: typeIdempotency, Code: "idempotency_key_reused",
			Message: "this Idempotency-Key was used with a different request", Param: "Idempotency-Key"})
		return
	}
	plan, err := parsePlan(planStr)
	if err != nil {
		s.internal(w, r, "plan_corrupt", err)
		return
	}
	addr, err := d.Address(plan.index)
	if err != nil {
		s.internal(w, r, "address_derivation_failed", err)
		return
	}
	it := buildIntent(merchant, c, strings.ToLower(addr.Hex()), plan.index, plan.requestID, plan.id, plan.created)
	if decorate != nil {
		decorate(it)
	}
	produce := true
	if resumed {
		// The request that planned it may have produced it before it died: the
		// projection says so (the API serves only once the projection caught up).
		if _, err := st.Intent(ctx, it.GetIntentId()); err == nil {
			produce = false
		} else if !errors.Is(err, ErrNotFound) {
			s.internal(w, r, "store_unavailable", err)
			return
		}
	}
	if produce {
		if err := s.produce(ctx, it); err != nil {
			if key != "" {
				st.releaseHold(context.WithoutCancel(ctx), merchant, key)
			}
			s.o.Logger.Error("produce failed", "request_id", requestID(r), "err", err)
			fail(w, r, unavailable("kafka_unavailable"))
			return
		}
	}
	respBody, err := jsonBytes(view(it))
	if err != nil {
		s.internal(w, r, "encode_failed", err)
		return
	}
	pb, err := proto.Marshal(it)
	if err == nil {
		err = commitCreate.Run(context.WithoutCancel(ctx), st.rdb,
			[]string{st.key("pi", it.GetIntentId()), st.key("pis", merchant), st.key("addr", merchant), st.key("idem", merchant, key)},
			it.GetVersion(), pb, it.GetCreatedTime().AsTime().UnixMilli(), it.GetIntentId(), it.GetAddressIndex(),
			useIdem, http.StatusCreated, respBody).Err()
	}
	if err != nil {
		// Kafka has it; the projector will store it, and a retry resumes the plan.
		s.o.Logger.Warn("intent not projected; the projector will", "intent", it.GetIntentId(), "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(respBody)
}
