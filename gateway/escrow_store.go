package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// The escrow part of the projection, all rebuilt from Kafka by the Projector:
//
//	esc:<intent>      hash v: the intent version the indexes below reflect
//	escc:<condition>  set of HELD escrows waiting for the condition
//	escl              sorted set of HELD escrows by time lock (unix ms)
//	cond:<condition>  hash: merchant id ("" for any merchant) → "<event id> <unix ms>" of
//	                  the first condition event seen for it
//	rfd:<intent>      set of the refund ids applied to the intent

// indexEscrow (KEYS: version hash, condition set, time-lock set; ARGV: version, 1 when
// HELD, intent id, time lock ms) moves an escrow in or out of the HELD indexes unless a
// newer version was indexed already.
var indexEscrow = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if tonumber(ARGV[1]) <= v then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1])
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
else
  redis.call('SREM', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[3], ARGV[3])
end
return 1
`)

// indexEscrow indexes the escrowed intent version it (a no-op for a plain intent).
func (s *Store) indexEscrow(ctx context.Context, it *paymentsv1.IntentTransition) error {
	e := it.GetEscrow()
	if e == nil {
		return nil
	}
	held := "0"
	if it.GetState() == paymentsv1.IntentState_INTENT_STATE_HELD {
		held = "1"
	}
	err := indexEscrow.Run(ctx, s.rdb,
		[]string{s.key("esc", it.GetIntentId()), s.key("escc", e.GetConditionId()), s.key("escl")},
		it.GetVersion(), held, it.GetIntentId(), e.GetTimeLockExpiresTime().AsTime().UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("gateway: index escrow %s: %w", it.GetIntentId(), err)
	}
	return nil
}

// heldByCondition returns the HELD escrows waiting for condition.
func (s *Store) heldByCondition(ctx context.Context, condition string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.key("escc", condition)).Result()
	if err != nil {
		return nil, fmt.Errorf("gateway: escrows of condition: %w", err)
	}
	return ids, nil
}

// dueEscrows returns up to limit HELD escrows whose time lock is at or before now.
func (s *Store) dueEscrows(ctx context.Context, now time.Time, limit int64) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, s.key("escl"), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: limit}).Result()
	if err != nil {
		return nil, fmt.Errorf("gateway: due escrows: %w", err)
	}
	return ids, nil
}

// metCondition is a remembered condition event.
type metCondition struct {
	eventID string
	at      time.Time
}

// rememberCondition keeps the first event of ev's condition (per merchant restriction).
func (s *Store) rememberCondition(ctx context.Context, ev *paymentsv1.ConditionEvent, at time.Time) error {
	v := ev.GetMeta().GetEventId() + " " + strconv.FormatInt(at.UnixMilli(), 10)
	if err := s.rdb.HSetNX(ctx, s.key("cond", ev.GetConditionId()), ev.GetMerchantId(), v).Err(); err != nil {
		return fmt.Errorf("gateway: remember condition: %w", err)
	}
	return nil
}

// conditionMet returns the remembered event of condition that applies to merchant (one
// restricted to the merchant, else one for any merchant), or nil.
func (s *Store) conditionMet(ctx context.Context, condition, merchant string) (*metCondition, error) {
	vs, err := s.rdb.HMGet(ctx, s.key("cond", condition), merchant, "").Result()
	if err != nil {
		return nil, fmt.Errorf("gateway: read condition: %w", err)
	}
	var out *metCondition
	for _, v := range vs {
		str, ok := v.(string)
		if !ok {
			continue
		}
		id, ms, ok := strings.Cut(str, " ")
		n, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil {
			return nil, errors.New("gateway: corrupt condition record of " + condition)
		}
		c := &metCondition{eventID: id, at: time.UnixMilli(n)}
		if out == nil || c.at.Before(out.at) {
			out = c
		}
	}
	return out, nil
}

// markRefund records that refund id was applied to intent.
func (s *Store) markRefund(ctx context.Context, intent, id string) error {
	if err := s.rdb.SAdd(ctx, s.key("rfd", intent), id).Err(); err != nil {
		return fmt.Errorf("gateway: index refund: %w", err)
	}
	return nil
}

// refunded reports whether refund id was applied to intent.
func (s *Store) refunded(ctx context.Context, intent, id string) (bool, error) {
	ok, err := s.rdb.SIsMember(ctx, s.key("rfd", intent), id).Result()
	if err != nil {
		return false, fmt.Errorf("gateway: read refunds: %w", err)
	}
	return ok, nil
}
