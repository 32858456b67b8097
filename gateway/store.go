package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Store is the gateway's projection in Redis: the latest version of every payment intent
// and merchant configuration, each merchant's intents in creation order, the next deposit
// address index per merchant, idempotency records, rate-limit buckets and per-intent
// locks. Everything in it but idempotency records and buckets is rebuilt from Kafka (the
// payments.intents and payments.merchants topics) by the Projector; an Apply never moves a
// record back to an older version. Safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewStore returns a Store on rdb whose keys begin with prefix + ":" (e.g. "weir:gw").
func NewStore(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix}
}

func (s *Store) key(parts ...string) string {
	k := s.prefix
	for _, p := range parts {
		k += ":" + p
	}
	return k
}

// applyIntent stores an intent version if it is newer than the stored one, indexes it
// under its merchant, and raises the merchant's next address index past its own.
// KEYS: intent hash, merchant's intent list, merchant's address counter.
// ARGV: version, protobuf bytes, created unix ms, intent id, address index.
var applyIntent = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
local nextIndex = tonumber(ARGV[5]) + 1
if tonumber(redis.call('GET', KEYS[3]) or '0') < nextIndex then
  redis.call('SET', KEYS[3], nextIndex)
end
if tonumber(ARGV[1]) <= v then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'pb', ARGV[2])
return 1
`)

// ApplyIntent stores it unless the stored version is the same or newer; it reports
// whether it stored it.
func (s *Store) ApplyIntent(ctx context.Context, it *paymentsv1.IntentTransition) (bool, error) {
	b, err := proto.Marshal(it)
	if err != nil {
		return false, fmt.Errorf("gateway: encode intent: %w", err)
	}
	n, err := applyIntent.Run(ctx, s.rdb,
		[]string{s.key("pi", it.GetIntentId()), s.key("pis", it.GetMerchantId()), s.key("addr", it.GetMerchantId())},
		it.GetVersion(), b, it.GetCreatedTime().AsTime().UnixMilli(), it.GetIntentId(), it.GetAddressIndex()).Int()
	if err != nil {
		return false, fmt.Errorf("gateway: store intent %s: %w", it.GetIntentId(), err)
	}
	return n == 1, nil
}

// Intent returns the stored intent id, or ErrNotFound.
func (s *Store) Intent(ctx context.Context, id string) (*paymentsv1.IntentTransition, error) {
	return readRecord[paymentsv1.IntentTransition](ctx, s, s.key("pi", id), "intent", id)
}

// Intents returns up to limit of merchant's intents, newest first, starting after the
// intent id after ("" for the newest), and whether more follow.
func (s *Store) Intents(ctx context.Context, merchant, after string, limit int) ([]*paymentsv1.IntentTransition, bool, error) {
	return readPage(ctx, s, s.key("pis", merchant), "intents", after, limit, s.Intent)
}

// readRecord reads the protobuf record stored in field "pb" of the hash key (what names
// it in errors); a missing record is ErrNotFound.
func readRecord[T any, P interface {
	*T
	proto.Message
}](ctx context.Context, s *Store, key, what, id string) (*T, error) {
	b, err := s.rdb.HGet(ctx, key, "pb").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: read %s: %w", what, err)
	}
	m := P(new(T))
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("gateway: decode %s %s: %w", what, id, err)
	}
	return (*T)(m), nil
}

// readPage returns up to limit records of the sorted set list, highest score first,
// starting after the member after ("" for the first; ErrNotFound when it is not in the
// list), read with get, and whether more follow. A member whose record get does not find
// (indexed by a projector that has not stored it yet) is left out.
func readPage[T any](ctx context.Context, s *Store, list, what, after string, limit int,
	get func(context.Context, string) (*T, error)) ([]*T, bool, error) {
	start := int64(0)
	if after != "" {
		rank, err := s.rdb.ZRevRank(ctx, list, after).Result()
		if errors.Is(err, redis.Nil) {
			return nil, false, ErrNotFound
		}
		if err != nil {
			return nil, false, fmt.Errorf("gateway: list %s: %w", what, err)
		}
		start = rank + 1
	}
	ids, err := s.rdb.ZRevRange(ctx, list, start, start+int64(limit)).Result()
	if err != nil {
		return nil, false, fmt.Errorf("gateway: list %s: %w", what, err)
	}
	more := len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	out := make([]*T, 0, len(ids))
	for _, id := range ids {
		r, err := get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		out = append(out, r)
	}
	return out, more, nil
}

// NextAddressIndex reserves the merchant's next deposit address index. Indexes are never
// handed out twice: the counter only grows, and the Projector raises it past every index
// it sees in payments.intents (so a Redis rebuilt from Kafka does not reuse one).
func (s *Store) NextAddressIndex(ctx context.Context, merchant string) (uint32, error) {
	n, err := s.rdb.Incr(ctx, s.key("addr", merchant)).Result()
	if err != nil {
		return 0, fmt.Errorf("gateway: reserve address index: %w", err)
	}
	if n < 1 || n > 1<<31 {
		return 0, fmt.Errorf("gateway: merchant %s has used every non-hardened address index", merchant)
	}
	return uint32(n - 1), nil
}

// applyMerchant stores a merchant configuration if it is newer than the stored one and
// indexes its API keys. KEYS: merchant hash. ARGV: version, protobuf bytes, then key ids.
var applyMerchant = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if tonumber(ARGV[1]) <= v then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'pb', ARGV[2])
return 1
`)

// ApplyMerchant stores m unless the stored version is the same or newer, and indexes its
// API keys by key id; it reports whether it stored it.
func (s *Store) ApplyMerchant(ctx context.Context, m *paymentsv1.MerchantConfig) (bool, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("gateway: encode merchant: %w", err)
	}
	pipe := s.rdb.TxPipeline()
	for _, k := range m.GetApiKeys() {
		pipe.Set(ctx, s.key("key", k.GetKeyId()), m.GetMerchantId(), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("gateway: index API keys of %s: %w", m.GetMerchantId(), err)
	}
	n, err := applyMerchant.Run(ctx, s.rdb, []string{s.key("m", m.GetMerchantId())}, m.GetVersion(), b).Int()
	if err != nil {
		return false, fmt.Errorf("gateway: store merchant %s: %w", m.GetMerchantId(), err)
	}
	return n == 1, nil
}

// Merchant returns the stored configuration of merchant id, or ErrNotFound.
func (s *Store) Merchant(ctx context.Context, id string) (*paymentsv1.MerchantConfig, error) {
	return readRecord[paymentsv1.MerchantConfig](ctx, s, s.key("m", id), "merchant", id)
}

// MerchantByKey returns the merchant owning API key id keyID, or ErrNotFound.
func (s *Store) MerchantByKey(ctx context.Context, keyID string) (*paymentsv1.MerchantConfig, error) {
	id, err := s.rdb.Get(ctx, s.key("key", keyID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: look up API key: %w", err)
	}
	return s.Merchant(ctx, id)
}

// unlock deletes a lock only if it still holds the caller's token.
var unlock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lock takes the lock of intent id for at most ttl, waiting up to wait for another holder
// to let go (ErrBusy after that). It returns the function that releases it. Every change
// of an intent happens under its lock, so versions never fork.
func (s *Store) Lock(ctx context.Context, id string, ttl, wait time.Duration) (func(), error) {
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	key := s.key("lock", id)
	deadline := time.Now().Add(wait)
	backoff := 2 * time.Millisecond
	for {
		ok, err := s.rdb.SetNX(ctx, key, token, ttl).Result()
		if err != nil {
			return nil, fmt.Errorf("gateway: lock intent %s: %w", id, err)
		}
		if ok {
			return func() { _ = unlock.Run(context.WithoutCancel(ctx), s.rdb, []string{key}, token).Err() }, nil
		}
		if time.Now().After(deadline) {
			return nil, ErrBusy
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// takeToken is a token bucket: KEYS: bucket hash. ARGV: rate per second, burst, now in
// microseconds. It returns 1 when a token was taken, else the microseconds until one is.
var takeToken = redis.NewScript(`
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1e6)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
if ok == 1 then return -1 end
return math.ceil((1 - tokens) * 1e6 / rate)
`)

// Allow takes one request token from merchant's bucket (rate per second, burst 2×rate).
// It returns 0 when the request may go ahead, else how long until it may.
func (s *Store) Allow(ctx context.Context, merchant string, rate int, now time.Time) (time.Duration, error) {
	n, err := takeToken.Run(ctx, s.rdb, []string{s.key("rl", merchant)}, rate, 2*rate, now.UnixMicro()).Int64()
	if err != nil {
		return 0, fmt.Errorf("gateway: rate limit: %w", err)
	}
	if n < 0 {
		return 0, nil
	}
	return time.Duration(n) * time.Microsecond, nil
}

// Idempotency is what BeginIdempotent found for a key.
type Idempotency int

const (
	// IdemClaimed: this request is the first with the key and now holds it.
	IdemClaimed Idempotency = iota
	// IdemResumed: an earlier request with the key died in flight (its hold lapsed); this
	// request holds it now and must finish what Planned says was planned, if anything.
	IdemResumed
	// IdemInFlight: a request with the key is still in flight.
	IdemInFlight
	// IdemDone: the first request finished; Status and Body are its response.
	IdemDone
	// IdemMismatch: the key was used with a different request.
	IdemMismatch
)

// IdemRecord is the state of an idempotency key.
type IdemRecord struct {
	// State says what was found.
	State Idempotency
	// Planned is what the holder stored with PlanIdempotent before producing (IdemResumed).
	Planned []byte
	// Status and Body are the first response (IdemDone).
	Status int
	Body   []byte
}

// beginIdem claims an idempotency key. KEYS: record. ARGV: request hash, now ms, hold ms,
// record ttl ms. Fields: h request hash, l hold expiry (ms), p plan, s status, b body.
var beginIdem = redis.NewScript(`
local now, hold = tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('HSETNX', KEYS[1], 'h', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'l', now + hold)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {0}
end
local r = redis.call('HMGET', KEYS[1], 'h', 'l', 'p', 's', 'b')
if r[1] ~= ARGV[1] then return {4} end
if r[4] then return {3, r[4], r[5]} end
if tonumber(r[2] or '0') > now then return {2} end
redis.call('HSET', KEYS[1], 'l', now + hold)
return {1, r[3] or ''}
`)

// BeginIdempotent looks up key for merchant: a new key is claimed for this request (held
// for hold, after which a retry may take it over); otherwise the record says what the
// first request did. hash identifies the request (method, path and body); the record
// lives for ttl from its claim.
func (s *Store) BeginIdempotent(ctx context.Context, merchant, key, hash string, now time.Time, hold, ttl time.Duration) (IdemRecord, error) {
	res, err := beginIdem.Run(ctx, s.rdb, []string{s.key("idem", merchant, key)}, hash,
		now.UnixMilli(), hold.Milliseconds(), ttl.Milliseconds()).Slice()
	if err != nil {
		return IdemRecord{}, fmt.Errorf("gateway: idempotency key: %w", err)
	}
	rec := IdemRecord{State: Idempotency(res[0].(int64))}
	switch rec.State {
	case IdemResumed:
		p, _ := res[1].(string)
		rec.Planned = []byte(p)
	case IdemDone:
		st, _ := res[1].(string)
		rec.Status, _ = strconv.Atoi(st)
		b, _ := res[2].(string)
		rec.Body = []byte(b)
	}
	return rec, nil
}

// ErrPlanTaken is returned by PlanIdempotent when the key already holds a plan: a retry
// took the key over (the hold lapsed) and planned first, and its plan is the one that
// counts.
var ErrPlanTaken = errors.New("gateway: the idempotency key holds another plan")

// PlanIdempotent stores, under the held key, what the request is about to produce, so a
// retry after a crash produces the same thing rather than something new. Only the first
// plan is kept: a second returns ErrPlanTaken, and its request must produce nothing.
func (s *Store) PlanIdempotent(ctx context.Context, merchant, key string, plan []byte) error {
	ok, err := s.rdb.HSetNX(ctx, s.key("idem", merchant, key), "p", plan).Result()
	if err != nil {
		return fmt.Errorf("gateway: idempotency plan: %w", err)
	}
	if !ok {
		return ErrPlanTaken
	}
	return nil
}

// FinishIdempotent stores the response of the request holding key.
func (s *Store) FinishIdempotent(ctx context.Context, merchant, key string, status int, body []byte) error {
	k := s.key("idem", merchant, key)
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, k, "s", status, "b", body)
	pipe.HDel(ctx, k, "l", "p")
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("gateway: store idempotent response: %w", err)
	}
	return nil
}

// AbandonIdempotent releases key after its request failed before producing anything, so
// the same key may be retried at once.
func (s *Store) AbandonIdempotent(ctx context.Context, merchant, key string) error {
	return s.rdb.Del(ctx, s.key("idem", merchant, key)).Err()
}
