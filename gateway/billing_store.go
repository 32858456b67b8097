package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// The billing part of the Store. Keys (after the store prefix):
//
//	sub:{id}             hash v (version), pb (Subscription)            projection
//	subs:{merchant}      zset of subscription ids by creation time (ms) projection
//	subdue               zset of live subscription ids by next renewal  projection
//	subplan:{id}:{ms}    the planned renewal of the period starting ms  until produced
//	subpay:{id}          hash renewal intent id → "version state"      projection (hook)
//	subcheck             set of subscriptions whose intents changed      until followed
//	ur:{usage id}        UsageRecord                                    projection
//	usage:{sub}          zset of usage ids by usage time (ms)           projection
//	usageq:{sub}         hash usage id → quantity                       projection
//	urplan:{usage id}    a usage record planned under a client usage_id until produced
//	ch:{charge id}       MicroCharge                                    projection
//	chtab:{charge id}    the Redis key of the charge's tab               projection
//	chdone:{merchant}    set of the merchant's netted charge ids         projection
//	tab:{tab}            hash of the tab's open charges: id → amount    projection
//	tabplan:{tab}        the planned settlement of the tab              until produced
//	cs:{settlement id}   ChargeSettlement                               projection
//
// {tab} is tabKey(merchant, customer, asset, chain). Everything marked projection is
// rebuilt from the billing topics; applying a record twice changes nothing.

// tabKey names a tab in Redis (customers are opaque strings: hashed).
func tabKey(merchant, customer, asset string, chain uint64) string {
	h := sha256.New()
	for _, p := range []string{merchant, customer, asset, strconv.FormatUint(chain, 10)} {
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// applySubscription stores a subscription version if it is newer than the stored one,
// indexes it under its merchant and keeps the renewal schedule.
// KEYS: sub hash, merchant's zset, due zset. ARGV: version, pb, created ms, id, due ms
// (negative: not due any more).
var applySubscription = redis.NewScript(`
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if tonumber(ARGV[1]) <= v then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'pb', ARGV[2])
if tonumber(ARGV[5]) < 0 then
  redis.call('ZREM', KEYS[3], ARGV[4])
else
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
end
return 1
`)

// ApplySubscription stores sub unless the stored version is the same or newer, and
// schedules its next renewal (none once canceled). It reports whether it stored it.
func (s *Store) ApplySubscription(ctx context.Context, sub *paymentsv1.Subscription) (bool, error) {
	b, err := proto.Marshal(sub)
	if err != nil {
		return false, fmt.Errorf("gateway: encode subscription: %w", err)
	}
	due := int64(-1)
	if sub.GetState() != paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_CANCELED && sub.GetCurrentPeriodEndTime() != nil {
		due = sub.GetCurrentPeriodEndTime().AsTime().UnixMilli()
	}
	n, err := applySubscription.Run(ctx, s.rdb,
		[]string{s.key("sub", sub.GetSubscriptionId()), s.key("subs", sub.GetMerchantId()), s.key("subdue")},
		sub.GetVersion(), b, sub.GetCreatedTime().AsTime().UnixMilli(), sub.GetSubscriptionId(), due).Int()
	if err != nil {
		return false, fmt.Errorf("gateway: store subscription %s: %w", sub.GetSubscriptionId(), err)
	}
	return n == 1, nil
}

// Subscription returns the stored subscription id, or ErrNotFound.
func (s *Store) Subscription(ctx context.Context, id string) (*paymentsv1.Subscription, error) {
	return readRecord[paymentsv1.Subscription](ctx, s, s.key("sub", id), "subscription", id)
}

// Subscriptions returns up to limit of merchant's subscriptions, newest first, starting
// after the subscription id after ("" for the newest), and whether more follow.
func (s *Store) Subscriptions(ctx context.Context, merchant, after string, limit int) ([]*paymentsv1.Subscription, bool, error) {
	return readPage(ctx, s, s.key("subs", merchant), "subscriptions", after, limit, s.Subscription)
}

// DueSubscriptions returns up to limit ids of live subscriptions whose period ended by
// now, the longest overdue first.
func (s *Store) DueSubscriptions(ctx context.Context, now time.Time, limit int) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, s.key("subdue"), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("gateway: due subscriptions: %w", err)
	}
	return ids, nil
}

// plan reads a stored plan (nil when none).
func (s *Store) billingPlan(ctx context.Context, key string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: read plan: %w", err)
	}
	return b, nil
}

// billingPlanTTL bounds how long an unfinished plan is kept: far longer than any retry.
const billingPlanTTL = 30 * 24 * time.Hour

func (s *Store) setBillingPlan(ctx context.Context, key string, b []byte) error {
	if err := s.rdb.Set(ctx, key, b, billingPlanTTL).Err(); err != nil {
		return fmt.Errorf("gateway: store plan: %w", err)
	}
	return nil
}

// markRenewal records the state of a subscription's renewal intent unless a newer
// version of it is recorded, and queues the subscription. KEYS: the subscription's
// intent states, the check set. ARGV: intent id, version, state, subscription id.
var markRenewal = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(string.match(cur, '^%d+')) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
`)

// MarkRenewalIntent records it, a transition of a subscription's renewal intent, and
// queues the subscription for a check (RenewalChecks). Idempotent and version-guarded.
func (s *Store) MarkRenewalIntent(ctx context.Context, it *paymentsv1.IntentTransition) error {
	sub := it.GetSubscriptionId()
	if err := markRenewal.Run(ctx, s.rdb, []string{s.key("subpay", sub), s.key("subcheck")},
		it.GetIntentId(), it.GetVersion(), int32(it.GetState()), sub).Err(); err != nil {
		return fmt.Errorf("gateway: mark renewal intent %s: %w", it.GetIntentId(), err)
	}
	return nil
}

// RenewalIntentState returns the recorded state of subscription sub's renewal intent
// (INTENT_STATE_UNSPECIFIED when none is recorded).
func (s *Store) RenewalIntentState(ctx context.Context, sub, intent string) (paymentsv1.IntentState, error) {
	v, err := s.rdb.HGet(ctx, s.key("subpay", sub), intent).Result()
	if errors.Is(err, redis.Nil) {
		return paymentsv1.IntentState_INTENT_STATE_UNSPECIFIED, nil
	}
	if err != nil {
		return 0, fmt.Errorf("gateway: read renewal intent: %w", err)
	}
	_, state, _ := strings.Cut(v, " ")
	n, err := strconv.ParseInt(state, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("gateway: corrupt renewal intent state %q", v)
	}
	return paymentsv1.IntentState(n), nil
}

// RenewalChecks returns the subscriptions queued by MarkRenewalIntent.
func (s *Store) RenewalChecks(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.key("subcheck")).Result()
	if err != nil {
		return nil, fmt.Errorf("gateway: renewal checks: %w", err)
	}
	return ids, nil
}

// DoneRenewalCheck unqueues sub (before it is checked: a mark made meanwhile queues it
// again).
func (s *Store) DoneRenewalCheck(ctx context.Context, sub string) error {
	return s.rdb.SRem(ctx, s.key("subcheck"), sub).Err()
}

// QueueRenewalCheck queues sub again after a failed check.
func (s *Store) QueueRenewalCheck(ctx context.Context, sub string) error {
	return s.rdb.SAdd(ctx, s.key("subcheck"), sub).Err()
}

// applyUsage stores a usage record once. KEYS: record, sub's usage zset, sub's quantity
// hash. ARGV: pb, time ms, id, quantity.
var applyUsage = redis.NewScript(`
if redis.call('SETNX', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
return 1
`)

// ApplyUsage stores u unless a record with its id is stored; it reports whether it
// stored it.
func (s *Store) ApplyUsage(ctx context.Context, u *paymentsv1.UsageRecord) (bool, error) {
	b, err := proto.Marshal(u)
	if err != nil {
		return false, fmt.Errorf("gateway: encode usage: %w", err)
	}
	sub := u.GetSubscriptionId()
	n, err := applyUsage.Run(ctx, s.rdb, []string{s.key("ur", u.GetUsageId()), s.key("usage", sub), s.key("usageq", sub)},
		b, u.GetUsageTime().AsTime().UnixMilli(), u.GetUsageId(), u.GetQuantity()).Int()
	if err != nil {
		return false, fmt.Errorf("gateway: store usage %s: %w", u.GetUsageId(), err)
	}
	return n == 1, nil
}

// Usage returns the stored usage record id, or ErrNotFound.
func (s *Store) Usage(ctx context.Context, id string) (*paymentsv1.UsageRecord, error) {
	b, err := s.rdb.Get(ctx, s.key("ur", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: read usage: %w", err)
	}
	u := new(paymentsv1.UsageRecord)
	if err := proto.Unmarshal(b, u); err != nil {
		return nil, fmt.Errorf("gateway: decode usage %s: %w", id, err)
	}
	return u, nil
}

// PeriodUsage returns the ids (in time order) and the total quantity of sub's usage in
// [start, end).
func (s *Store) PeriodUsage(ctx context.Context, sub string, start, end time.Time) ([]string, uint64, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, s.key("usage", sub), &redis.ZRangeBy{
		Min: strconv.FormatInt(start.UnixMilli(), 10), Max: "(" + strconv.FormatInt(end.UnixMilli(), 10)}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("gateway: read usage of %s: %w", sub, err)
	}
	if len(ids) == 0 {
		return nil, 0, nil
	}
	qs, err := s.rdb.HMGet(ctx, s.key("usageq", sub), ids...).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("gateway: read usage of %s: %w", sub, err)
	}
	var total uint64
	for i, q := range qs {
		str, _ := q.(string)
		n, err := strconv.ParseUint(str, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("gateway: usage %s of %s has no quantity", ids[i], sub)
		}
		if total+n < total {
			return nil, 0, fmt.Errorf("gateway: usage of %s overflows", sub)
		}
		total += n
	}
	return ids, total, nil
}

// applyCharge stores a micro-charge, remembers its tab, and puts it on the tab unless a
// settlement netted it already. KEYS: record, charge's tab pointer, merchant's netted
// set, tab's open hash. ARGV: pb, id, amount.
var applyCharge = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], KEYS[4])
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then return 0 end
return redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
`)

func chargeTab(c *paymentsv1.MicroCharge) string {
	return tabKey(c.GetMerchantId(), c.GetCustomerId(), c.GetAmount().GetAsset(), c.GetChainId())
}

// ApplyCharge stores c and adds it to its tab's open charges, unless a settlement netted
// it already.
func (s *Store) ApplyCharge(ctx context.Context, c *paymentsv1.MicroCharge) error {
	b, err := proto.Marshal(c)
	if err != nil {
		return fmt.Errorf("gateway: encode charge: %w", err)
	}
	id := c.GetChargeId()
	if err := applyCharge.Run(ctx, s.rdb,
		[]string{s.key("ch", id), s.key("chtab", id), s.key("chdone", c.GetMerchantId()), s.key("tab", chargeTab(c))},
		b, id, c.GetAmount().GetValue()).Err(); err != nil {
		return fmt.Errorf("gateway: store charge %s: %w", id, err)
	}
	return nil
}

// Charge returns the stored micro-charge id, or ErrNotFound.
func (s *Store) Charge(ctx context.Context, id string) (*paymentsv1.MicroCharge, error) {
	b, err := s.rdb.Get(ctx, s.key("ch", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: read charge: %w", err)
	}
	c := new(paymentsv1.MicroCharge)
	if err := proto.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("gateway: decode charge %s: %w", id, err)
	}
	return c, nil
}

// Tab returns the open charges of a tab (sorted by id) and their total.
func (s *Store) Tab(ctx context.Context, tab string) ([]string, *big.Int, error) {
	m, err := s.rdb.HGetAll(ctx, s.key("tab", tab)).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: read tab: %w", err)
	}
	ids := make([]string, 0, len(m))
	total := new(big.Int)
	for id, v := range m {
		n, ok := new(big.Int).SetString(v, 10)
		if !ok {
			return nil, nil, fmt.Errorf("gateway: charge %s has a corrupt amount", id)
		}
		total.Add(total, n)
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, total, nil
}

// applySettlement stores a settlement and, for a micro one, marks its charges netted
// and takes them off the open tab they are on (the tab pointer the charge left, if it
// was stored already). KEYS: record, merchant's netted set. ARGV: pb, the key prefix of
// tab pointers, then charge ids. (The tab keys are computed here, so this script, like
// the rest of the Store, needs a Redis that is not a cluster.)
var applySettlement = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1])
for i = 3, #ARGV do
  redis.call('SADD', KEYS[2], ARGV[i])
  local tab = redis.call('GET', ARGV[2] .. ARGV[i])
  if tab then redis.call('HDEL', tab, ARGV[i]) end
end
return 1
`)

// ApplySettlement stores cs; a MICRO settlement takes its charges off the customer's
// open tab for good.
func (s *Store) ApplySettlement(ctx context.Context, cs *paymentsv1.ChargeSettlement) error {
	b, err := proto.Marshal(cs)
	if err != nil {
		return fmt.Errorf("gateway: encode settlement: %w", err)
	}
	args := []any{b, s.key("chtab") + ":"}
	if cs.GetKind() == paymentsv1.SettlementKind_SETTLEMENT_KIND_MICRO {
		for _, id := range cs.GetChargeIds() {
			args = append(args, id)
		}
	}
	if err := applySettlement.Run(ctx, s.rdb, []string{s.key("cs", cs.GetSettlementId()), s.key("chdone", cs.GetMerchantId())},
		args...).Err(); err != nil {
		return fmt.Errorf("gateway: store settlement %s: %w", cs.GetSettlementId(), err)
	}
	return nil
}

// Settlement returns the stored settlement id, or ErrNotFound.
func (s *Store) Settlement(ctx context.Context, id string) (*paymentsv1.ChargeSettlement, error) {
	b, err := s.rdb.Get(ctx, s.key("cs", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: read settlement: %w", err)
	}
	cs := new(paymentsv1.ChargeSettlement)
	if err := proto.Unmarshal(b, cs); err != nil {
		return nil, fmt.Errorf("gateway: decode settlement %s: %w", id, err)
	}
	return cs, nil
}
