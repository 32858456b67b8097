package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Retention is how long a finished (succeeded or failed) delivery is kept for Replay,
// and how long Enqueue of its id stays a no-op.
const Retention = 30 * 24 * time.Hour

var (
	// ErrNotFound: Replay found no pending or finished delivery with that id.
	ErrNotFound = errors.New("webhook: delivery not found")
	// ErrInvalidDelivery: Enqueue was given a delivery without a required field.
	ErrInvalidDelivery = errors.New("webhook: invalid delivery")
)

// Queue holds pending deliveries durably in Redis, so that a crash loses none:
//
//	{prefix}:due        sorted set, delivery id scored by next-attempt time (unix ms)
//	{prefix}:pending    hash, delivery id -> Delivery JSON
//	{prefix}:done:<id>  Delivery JSON of a finished delivery, expiring after Retention
//
// The braces make the prefix a Redis Cluster hash tag: all keys of one queue live in one
// slot, so every operation is a single atomic script. Deliveries are at-least-once: a
// worker claims a delivery for a lease, and one that dies before Done or Reschedule
// leaves it to be claimed again when the lease ends.
//
// A Queue is safe for concurrent use, by goroutines and by processes sharing the prefix.
// Every method blocks for one Redis round trip.
type Queue struct {
	rdb     redis.UniversalClient
	due     string
	pending string
	done    string // prefix of done keys
}

// NewQueue returns the queue stored under prefix (e.g. "weir:webhooks") in rdb. It does
// not contact Redis.
func NewQueue(rdb redis.UniversalClient, prefix string) *Queue {
	tag := "{" + prefix + "}"
	return &Queue{
		rdb:     rdb,
		due:     tag + ":due",
		pending: tag + ":pending",
		done:    tag + ":done:",
	}
}

// score is the sorted-set score of a due time: unix milliseconds, 0 for the zero time.
func score(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// KEYS: due, pending, done:<id>. ARGV: id, json, score.
var enqueueScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// Enqueue adds d, due at d.NextAttempt (at once when zero), with Attempt 0 taken as 1.
// It is idempotent on d.DeliveryID: when a delivery with that id is pending, or
// finished less than Retention ago, it does nothing and returns false, so a producer
// that re-reads its input after a crash does not deliver twice. It returns an error
// wrapping ErrInvalidDelivery when a required field is missing.
func (q *Queue) Enqueue(ctx context.Context, d Delivery) (added bool, err error) {
	if err := d.validate(); err != nil {
		return false, err
	}
	if d.Attempt == 0 {
		d.Attempt = 1
	}
	b, err := json.Marshal(d)
	if err != nil {
		return false, fmt.Errorf("webhook: encode delivery: %w", err)
	}
	n, err := enqueueScript.Run(ctx, q.rdb, []string{q.due, q.pending, q.done + d.DeliveryID},
		d.DeliveryID, b, score(d.NextAttempt)).Int()
	if err != nil {
		return false, fmt.Errorf("webhook: enqueue: %w", err)
	}
	return n == 1, nil
}

// KEYS: due, pending. ARGV: now score, lease-end score, max.
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local d = redis.call('HGET', KEYS[2], id)
  if d then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = d
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`)

// Claim atomically takes up to max deliveries due at now, earliest first, and moves
// their due time to now+lease: if the claimer does not call Done or Reschedule by then
// (it crashed, or its attempt overran the lease), another Claim returns them again. It
// returns no deliveries and no error when none is due.
func (q *Queue) Claim(ctx context.Context, now time.Time, lease time.Duration, max int) ([]Delivery, error) {
	if max <= 0 {
		return nil, nil
	}
	raw, err := claimScript.Run(ctx, q.rdb, []string{q.due, q.pending},
		score(now), score(now.Add(lease)), max).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("webhook: claim: %w", err)
	}
	out := make([]Delivery, 0, len(raw))
	var errs []error
	for _, r := range raw {
		var d Delivery
		if err := json.Unmarshal([]byte(r), &d); err != nil {
			errs = append(errs, fmt.Errorf("webhook: decode delivery: %w", err))
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

// KEYS: due, pending. ARGV: id, json, score.
var rescheduleScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// Reschedule stores d (its Attempt, FirstAttempt, …, as the caller updated them) with
// NextAttempt set to at, and makes it due then. It does nothing when d is no longer
// pending (another worker finished it after a lease overrun).
func (q *Queue) Reschedule(ctx context.Context, d Delivery, at time.Time) error {
	d.NextAttempt = at
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("webhook: encode delivery: %w", err)
	}
	if err := rescheduleScript.Run(ctx, q.rdb, []string{q.due, q.pending},
		d.DeliveryID, b, score(at)).Err(); err != nil {
		return fmt.Errorf("webhook: reschedule: %w", err)
	}
	return nil
}

// KEYS: due, pending, done:<id>. ARGV: id, json, retention ms.
var doneScript = redis.NewScript(`
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

// Done removes d from the pending deliveries, whether it succeeded or was given up, and
// keeps it (as given) for Retention so that Replay can find it and Enqueue of its id
// stays a no-op.
func (q *Queue) Done(ctx context.Context, d Delivery) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("webhook: encode delivery: %w", err)
	}
	if err := doneScript.Run(ctx, q.rdb, []string{q.due, q.pending, q.done + d.DeliveryID},
		d.DeliveryID, b, Retention.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("webhook: done: %w", err)
	}
	return nil
}

// Pending returns the number of deliveries not yet finished, due or not.
func (q *Queue) Pending(ctx context.Context) (int64, error) {
	n, err := q.rdb.ZCard(ctx, q.due).Result()
	if err != nil {
		return 0, fmt.Errorf("webhook: pending: %w", err)
	}
	return n, nil
}

// Lookup returns the delivery with id id, pending or finished less than Retention ago,
// and whether it is finished. It returns ErrNotFound when there is none.
func (q *Queue) Lookup(ctx context.Context, id string) (d Delivery, finished bool, err error) {
	raw, err := q.rdb.Get(ctx, q.done+id).Result()
	switch {
	case err == nil:
		finished = true
	case errors.Is(err, redis.Nil):
		raw, err = q.rdb.HGet(ctx, q.pending, id).Result()
		if errors.Is(err, redis.Nil) {
			return Delivery{}, false, fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		if err != nil {
			return Delivery{}, false, fmt.Errorf("webhook: lookup: %w", err)
		}
	default:
		return Delivery{}, false, fmt.Errorf("webhook: lookup: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return Delivery{}, false, fmt.Errorf("webhook: decode delivery: %w", err)
	}
	return d, finished, nil
}

// Replay enqueues, for the replay endpoint, a copy of delivery id (pending, or finished
// less than Retention ago) with the new delivery id newID, due at once, attempt 1 and a
// fresh retry window. The copy keeps SubjectEventID, so the receiver sees the same
// HeaderEventID and can deduplicate. Replay is idempotent on newID (derive it from the
// replay request's idempotency key). It returns the copy, and an error wrapping
// ErrNotFound when id is unknown.
func (q *Queue) Replay(ctx context.Context, id, newID string) (Delivery, error) {
	d, _, err := q.Lookup(ctx, id)
	if err != nil {
		return Delivery{}, err
	}
	d.DeliveryID = newID
	d.Attempt = 1
	d.NextAttempt = time.Time{}
	d.FirstAttempt = time.Time{}
	if _, err := q.Enqueue(ctx, d); err != nil {
		return Delivery{}, err
	}
	return d, nil
}
