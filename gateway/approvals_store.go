package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// The approvals part of the projection, all rebuilt from payments.approvals by the
// Projector:
//
//	apr:<id>       hash v, pb: the latest version of an approval request
//	aprp           sorted set of PENDING requests by expiry (unix ms)
//	apra           set of APPROVED requests (executed next)
//	rsv:<intent>   hash approval id → amount: refunds PENDING or APPROVED on the intent,
//	               which new refunds may not take

// applyApproval (KEYS: request hash, pending set, approved set, reservations of the
// intent; ARGV: version, protobuf, id, state, expiry ms, refund amount or "") stores a
// request version unless the stored one is the same or newer, and updates the indexes.
var applyApproval = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if tonumber(ARGV[1]) <= v then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'pb', ARGV[2])
local st = tonumber(ARGV[4])
if st == 1 then redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3]) else redis.call('ZREM', KEYS[2], ARGV[3]) end
if st == 2 then redis.call('SADD', KEYS[3], ARGV[3]) else redis.call('SREM', KEYS[3], ARGV[3]) end
if ARGV[6] ~= '' then
  if st == 1 or st == 2 then redis.call('HSET', KEYS[4], ARGV[3], ARGV[6]) else redis.call('HDEL', KEYS[4], ARGV[3]) end
end
return 1
`)

// ApplyApproval stores a unless the stored version is the same or newer; it reports
// whether it stored it.
func (s *Store) ApplyApproval(ctx context.Context, a *paymentsv1.ApprovalRequest) (bool, error) {
	b, err := proto.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("gateway: encode approval: %w", err)
	}
	reserve, intent := "", "-"
	if a.GetAction() == paymentsv1.ApprovalAction_APPROVAL_ACTION_REFUND {
		reserve, intent = a.GetAmount().GetValue(), a.GetIntentId()
	}
	n, err := applyApproval.Run(ctx, s.rdb,
		[]string{s.key("apr", a.GetApprovalId()), s.key("aprp"), s.key("apra"), s.key("rsv", intent)},
		a.GetVersion(), b, a.GetApprovalId(), int(a.GetState()), a.GetExpiresTime().AsTime().UnixMilli(), reserve).Int()
	if err != nil {
		return false, fmt.Errorf("gateway: store approval %s: %w", a.GetApprovalId(), err)
	}
	return n == 1, nil
}

// Approval returns the stored approval request id, or ErrNotFound.
func (s *Store) Approval(ctx context.Context, id string) (*paymentsv1.ApprovalRequest, error) {
	return readRecord[paymentsv1.ApprovalRequest](ctx, s, s.key("apr", id), "approval", id)
}

// dueApprovals returns up to limit PENDING requests that expire at or before now.
func (s *Store) dueApprovals(ctx context.Context, now time.Time, limit int64) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, s.key("aprp"), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: limit}).Result()
	if err != nil {
		return nil, fmt.Errorf("gateway: due approvals: %w", err)
	}
	return ids, nil
}

// approvedApprovals returns up to limit APPROVED requests (not executed yet).
func (s *Store) approvedApprovals(ctx context.Context, limit int64) ([]string, error) {
	ids, err := s.rdb.SRandMemberN(ctx, s.key("apra"), limit).Result()
	if err != nil {
		return nil, fmt.Errorf("gateway: approved approvals: %w", err)
	}
	return ids, nil
}

// reserved returns the sum of the refunds of intent waiting for approval.
func (s *Store) reserved(ctx context.Context, intent string) (*big.Int, error) {
	m, err := s.rdb.HGetAll(ctx, s.key("rsv", intent)).Result()
	if err != nil {
		return nil, fmt.Errorf("gateway: read reservations: %w", err)
	}
	sum := new(big.Int)
	for id, v := range m {
		n, ok := new(big.Int).SetString(v, 10)
		if !ok {
			return nil, errors.New("gateway: corrupt reservation " + id)
		}
		sum.Add(sum, n)
	}
	return sum, nil
}

// payoutProduced reports whether payout id was produced (by this gateway).
func (s *Store) payoutProduced(ctx context.Context, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.key("po", id)).Result()
	if err != nil {
		return false, fmt.Errorf("gateway: read payout: %w", err)
	}
	return n == 1, nil
}

// markPayout records that payout id was produced.
func (s *Store) markPayout(ctx context.Context, id string) error {
	return s.rdb.Set(ctx, s.key("po", id), 1, 0).Err()
}
