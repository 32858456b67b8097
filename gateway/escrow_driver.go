package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// errNotProjected is returned while a transition the escrow driver read has not reached
// the projection yet; the record is retried.
var errNotProjected = errors.New("gateway: transition not projected yet")

// projectionWait is how long the escrow driver waits for a transition to reach the
// projection before it logs and skips it.
const projectionWait = 5 * time.Minute

// consume runs a consumer group on topic (read_committed, from the start for a new
// group) until ctx is done, calling handle for each record in order and committing the
// offsets of a poll once every record of it was handled. A failing handle is retried
// with backoff; the partition waits. It returns nil when ctx is done. The client is built
// from the options of the Server's client (seed brokers, TLS, SASL).
func (s *Server) consume(ctx context.Context, group, topic string, handle func(context.Context, *kgo.Record) error) error {
	// The client's own context, cancelled once a leave has had reconLeaveWait (as the
	// ReconDriver's: a leave can wait for a dead member's session to expire).
	cctx, cancelClient := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelClient()
	opts := append(append([]kgo.Opt{}, s.o.Client.Opts()...),
		kgo.WithContext(cctx),
		kgo.ConsumerGroup(s.o.TopicPrefix+group),
		kgo.ConsumeTopics(s.o.TopicPrefix+topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("gateway: %s client: %w", group, err)
	}
	defer func() {
		t := time.AfterFunc(reconLeaveWait, cancelClient)
		defer t.Stop()
		cl.Close() // offsets are committed after each poll: nothing is lost by giving up
	}()
	for {
		fs := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			s.o.Logger.Warn("fetch failed; retrying", "group", group, "topic", t, "partition", p, "err", err)
		})
		recs := fs.Records()
		for _, r := range recs {
			if err := retry(ctx, func() error {
				err := handle(ctx, r)
				if err != nil && ctx.Err() == nil && !errors.Is(err, errNotProjected) {
					s.o.Logger.Error("record not handled; retrying", "group", group, "partition", r.Partition, "offset", r.Offset, "err", err)
				}
				return err
			}); err != nil {
				cl.AllowRebalance()
				return nil
			}
		}
		if len(recs) > 0 {
			if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
				s.o.Logger.Warn("offset commit failed; records will be seen again", "group", group, "err", err)
			}
		}
		cl.AllowRebalance()
	}
}

// runEscrowDriver indexes the escrows reconciliation made HELD and releases those whose
// condition was met before: a consumer group on payments.intents, so that its position
// is Kafka's and a rebuild of the projection replays no decision.
func (s *Server) runEscrowDriver(ctx context.Context) error {
	return s.consume(ctx, escrowIntentsGr, TopicIntents, s.handleEscrowIntent)
}

// handleEscrowIntent handles one payments.intents record for the escrow driver: a HELD
// escrow is indexed (so condition events and the time lock find it) and then released
// if its condition is remembered. Indexing before looking makes a condition event handled
// meanwhile find it in the index.
func (s *Server) handleEscrowIntent(ctx context.Context, r *kgo.Record) error {
	it := new(paymentsv1.IntentTransition)
	if err := proto.Unmarshal(r.Value, it); err != nil || it.GetEscrow() == nil ||
		it.GetState() != paymentsv1.IntentState_INTENT_STATE_HELD {
		return nil
	}
	err := s.withIntent(ctx, it.GetIntentId(), func(cur *paymentsv1.IntentTransition) error {
		switch {
		case cur.GetVersion() < it.GetVersion():
			return errNotProjected
		case cur.GetVersion() > it.GetVersion() || cur.GetState() != paymentsv1.IntentState_INTENT_STATE_HELD:
			return nil // moved on already
		}
		if err := s.o.Store.indexEscrow(ctx, cur); err != nil {
			return err
		}
		return s.releaseIfMet(ctx, cur)
	})
	if errors.Is(err, errNotProjected) && time.Since(r.Timestamp) > projectionWait {
		s.o.Logger.Error("held escrow skipped: never projected", "intent", it.GetIntentId(), "version", it.GetVersion())
		return nil
	}
	return err
}

// withIntent runs f with the stored intent id under its lock. It returns
// errNotProjected if the projection does not have it.
func (s *Server) withIntent(ctx context.Context, id string, f func(cur *paymentsv1.IntentTransition) error) error {
	unlock, err := s.o.Store.Lock(ctx, id, lockTTL, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := s.o.Store.Intent(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return errNotProjected
	}
	if err != nil {
		return err
	}
	return f(cur)
}

// releaseIfMet releases the HELD escrow cur if its condition was met before its time lock
// expired. The caller holds the intent's lock.
func (s *Server) releaseIfMet(ctx context.Context, cur *paymentsv1.IntentTransition) error {
	c, err := s.o.Store.conditionMet(ctx, cur.GetEscrow().GetConditionId(), cur.GetMerchantId())
	if err != nil || c == nil {
		return err
	}
	return s.release(ctx, cur, c)
}

// release makes the HELD escrow cur RELEASED by condition event c, if c came before the
// time lock expired. The caller holds the intent's lock.
func (s *Server) release(ctx context.Context, cur *paymentsv1.IntentTransition, c *metCondition) error {
	if cur.GetState() != paymentsv1.IntentState_INTENT_STATE_HELD ||
		!c.at.Before(cur.GetEscrow().GetTimeLockExpiresTime().AsTime()) {
		return nil // not held, or the condition came too late: the time lock refunds
	}
	n, err := transition(cur, paymentsv1.IntentState_INTENT_STATE_RELEASED, s.o.Now())
	if err != nil {
		return nil
	}
	n.Escrow.ConditionEventId = c.eventID
	n.CauseEventId = c.eventID
	return s.commitIntent(ctx, n)
}

// runConditions consumes payments.conditions and releases the escrows each condition
// event names.
func (s *Server) runConditions(ctx context.Context) error {
	return s.consume(ctx, conditionsGroup, TopicConditions, func(ctx context.Context, r *kgo.Record) error {
		ev := new(paymentsv1.ConditionEvent)
		if err := proto.Unmarshal(r.Value, ev); err != nil || ev.GetConditionId() == "" {
			s.o.Logger.Error("condition event skipped: it does not decode", "partition", r.Partition, "offset", r.Offset)
			return nil
		}
		return s.handleCondition(ctx, ev, conditionTime(ev, r.Timestamp))
	})
}

// handleCondition remembers condition event ev (met at time at) and then releases the
// HELD escrows waiting for it. Remembering first makes an escrow that becomes HELD
// meanwhile find the condition (it is indexed before it looks).
func (s *Server) handleCondition(ctx context.Context, ev *paymentsv1.ConditionEvent, at time.Time) error {
	if ev.GetMeta().GetEventId() == "" {
		ev = proto.Clone(ev).(*paymentsv1.ConditionEvent)
		if ev.Meta == nil {
			ev.Meta = &commonv1.Meta{}
		}
		ev.Meta.EventId = conditionEventID(ev.GetConditionId())
	}
	if err := s.o.Store.rememberCondition(ctx, ev, at); err != nil {
		return err
	}
	ids, err := s.o.Store.heldByCondition(ctx, ev.GetConditionId())
	if err != nil {
		return err
	}
	c := &metCondition{eventID: ev.GetMeta().GetEventId(), at: at}
	for _, id := range ids {
		err := s.withIntent(ctx, id, func(cur *paymentsv1.IntentTransition) error {
			if cur.GetEscrow().GetConditionId() != ev.GetConditionId() ||
				(ev.GetMerchantId() != "" && ev.GetMerchantId() != cur.GetMerchantId()) {
				return nil
			}
			return s.release(ctx, cur, c)
		})
		if err != nil && !errors.Is(err, errNotProjected) {
			return err
		}
	}
	return nil
}

// runEscrowTimeLocks refunds HELD escrows whose time lock passed, every escrowTick.
func (s *Server) runEscrowTimeLocks(ctx context.Context) error {
	t := time.NewTicker(escrowTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := s.expireEscrows(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("escrow time locks not checked; retrying", "err", err)
		}
	}
}

// expireEscrows refunds the HELD escrows whose time lock is at or before Options.Now:
// REFUNDED, amount_refunded = amount_received, a new refund id. An escrow whose condition
// was met in time (but not applied yet) is released instead. It returns how many escrows
// it moved; it is one tick of runEscrowTimeLocks.
func (s *Server) expireEscrows(ctx context.Context) (int, error) {
	now := s.o.Now()
	ids, err := s.o.Store.dueEscrows(ctx, now, escrowBatch)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, id := range ids {
		err := s.withIntent(ctx, id, func(cur *paymentsv1.IntentTransition) error {
			if cur.GetState() != paymentsv1.IntentState_INTENT_STATE_HELD {
				return s.o.Store.indexEscrow(ctx, cur) // a stale index entry
			}
			lock := cur.GetEscrow().GetTimeLockExpiresTime().AsTime()
			if now.Before(lock) {
				return nil
			}
			c, err := s.o.Store.conditionMet(ctx, cur.GetEscrow().GetConditionId(), cur.GetMerchantId())
			if err != nil {
				return err
			}
			if c != nil && c.at.Before(lock) {
				moved++
				return s.release(ctx, cur, c)
			}
			n, err := transition(cur, paymentsv1.IntentState_INTENT_STATE_REFUNDED, now)
			if err != nil {
				return nil
			}
			n.RefundId = newID("re_")
			rec := cur.GetAmountReceived()
			n.AmountRefunded = &commonv1.Amount{Value: orZero(rec.GetValue()), Asset: cur.GetAmount().GetAsset(), Decimals: cur.GetAmount().GetDecimals()}
			moved++
			return s.commitIntent(ctx, n)
		})
		if err != nil && !errors.Is(err, errNotProjected) {
			return moved, err
		}
	}
	return moved, nil
}

// afterProjection returns loop, run once the projection has caught up with
// payments.intents and payments.approvals as they were when it starts: the loops decide
// from stored versions, and a projection being rebuilt (a Redis that lost its data) would
// let them fork one. Tests drive the loops directly.
func (s *Server) afterProjection(loop func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := s.waitProjected(ctx); err != nil {
			return nil // ctx is done
		}
		return loop(ctx)
	}
}

// waitProjected blocks until the Projector's stored positions reach the end offsets of
// payments.intents and payments.approvals as they are now, or ctx is done.
func (s *Server) waitProjected(ctx context.Context) error {
	topics := []string{s.o.TopicPrefix + TopicIntents, s.o.TopicPrefix + TopicApprovals}
	target := map[string]int64{}
	warned := false
	if err := retry(ctx, func() error {
		ends, err := kadm.NewClient(s.o.Client).ListEndOffsets(ctx, topics...)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			if !warned && ctx.Err() == nil {
				s.o.Logger.Warn("escrow and approval loops wait: end offsets unavailable", "err", err)
				warned = true
			}
			return err
		}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 {
				target[tpKey(o.Topic, o.Partition)] = o.Offset
			}
		})
		return nil
	}); err != nil {
		return err
	}
	return retry(ctx, func() error {
		at, err := s.o.Store.offsets(ctx, "projector")
		if err != nil {
			return err
		}
		for k, end := range target {
			if at[k] < end {
				return errNotProjected
			}
		}
		return nil
	})
}
