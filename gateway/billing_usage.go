package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Usage is a usage record as the API shows it.
type Usage struct {
	ID             string    `json:"id"`
	Object         string    `json:"object"`
	SubscriptionID string    `json:"subscription_id"`
	Quantity       uint64    `json:"quantity"`
	Timestamp      time.Time `json:"timestamp"`
	Created        time.Time `json:"created"`
}

func usageView(u *paymentsv1.UsageRecord) Usage {
	return Usage{ID: u.GetUsageId(), Object: "usage_record", SubscriptionID: u.GetSubscriptionId(), Quantity: u.GetQuantity(),
		Timestamp: u.GetUsageTime().AsTime().UTC(), Created: u.GetMeta().GetEventTime().AsTime().UTC()}
}

// usageID is the id of a usage record: derived from the client's usage_id (so a repeat
// is the same record), else random.
func usageID(merchant, sub, clientID string) string {
	if clientID == "" {
		return newID("ur_")
	}
	return billingID("ur_", merchant, sub, clientID)
}

// createUsage handles POST /v1/subscriptions/{id}/usage. The record is produced under
// the subscription's lock, after checking that the period containing its timestamp is
// still open: a renewal (which sums the period under the same lock) never misses usage
// it accepted, and usage of a period already charged is refused.
func (s *Server) createUsage(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req CreateUsageRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	c, aerr := req.validate(s.o.Now())
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	subID := r.PathValue("id")
	merchant := m.GetMerchantId()
	ctx := r.Context()
	s.idem(w, r, m, body, func(planned []byte, plan func([]byte) error) (int, any, *APIError) {
		unlock, err := s.o.Store.Lock(ctx, subLock(subID), lockTTL, billingLockWait)
		if err != nil {
			return 0, nil, unavailable("subscription_busy")
		}
		defer unlock()
		if _, err := s.finishCancel(context.WithoutCancel(ctx), subID); err != nil {
			s.o.Logger.Error("cancel not finished", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		sub, aerr := s.subscriptionOf(ctx, merchant, subID)
		if aerr != nil {
			return 0, nil, aerr
		}
		u := new(paymentsv1.UsageRecord)
		var planKey string
		switch {
		case len(planned) > 0:
			if err := proto.Unmarshal(planned, u); err != nil {
				return 0, nil, &APIError{Status: http.StatusInternalServerError, Type: typeAPI, Code: "plan_corrupt", Message: "the stored plan of this request is unreadable"}
			}
		case c.clientID != "":
			id := usageID(merchant, subID, c.clientID)
			if cur, err := s.o.Store.Usage(ctx, id); err == nil {
				if cur.GetQuantity() != c.quantity {
					return 0, nil, &APIError{Status: http.StatusConflict, Type: typeIdempotency, Code: "usage_id_reused",
						Message: "this usage_id was recorded with another quantity", Param: "usage_id"}
				}
				return http.StatusOK, usageView(cur), nil // a repeat: counted once
			} else if !errors.Is(err, ErrNotFound) {
				return 0, nil, unavailable("store_unavailable")
			}
			planKey = s.o.Store.key("urplan", id)
			b, err := s.o.Store.billingPlan(ctx, planKey)
			if err != nil {
				return 0, nil, unavailable("store_unavailable")
			}
			if b != nil {
				if err := proto.Unmarshal(b, u); err != nil {
					return 0, nil, &APIError{Status: http.StatusInternalServerError, Type: typeAPI, Code: "plan_corrupt", Message: "the stored plan of this usage is unreadable"}
				}
				break
			}
			fallthrough
		default:
			u = s.newUsage(merchant, subID, c)
		}
		if aerr := usageAccepted(sub, u); aerr != nil {
			if planKey != "" {
				_ = s.o.Store.rdb.Del(ctx, planKey).Err()
			}
			return 0, nil, aerr
		}
		b, err := proto.Marshal(u)
		if err != nil {
			return 0, nil, &APIError{Status: http.StatusInternalServerError, Type: typeAPI, Code: "encode_failed", Message: "the usage could not be encoded"}
		}
		if err := plan(b); err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		if planKey != "" {
			if err := s.o.Store.setBillingPlan(ctx, planKey, b); err != nil {
				return 0, nil, unavailable("store_unavailable")
			}
		}
		if _, err := s.o.Store.Usage(ctx, u.GetUsageId()); err != nil { // else produced before a crash
			if !errors.Is(err, ErrNotFound) {
				return 0, nil, unavailable("store_unavailable")
			}
			if err := s.produceBilling(ctx, TopicUsage, merchant, u); err != nil {
				s.o.Logger.Error("produce failed", "request_id", requestID(r), "err", err)
				return 0, nil, unavailable("kafka_unavailable")
			}
		}
		// Stored before the lock is released, so the renewal that sums this period sees
		// it; retried on a failure (Kafka has it, and the projector stores it too).
		actx := context.WithoutCancel(ctx)
		if err := billingRetry(actx, 3, func() error { _, err := s.o.Store.ApplyUsage(actx, u); return err }); err != nil {
			s.o.Logger.Warn("usage not projected; the projector will", "usage", u.GetUsageId(), "err", err)
		}
		if planKey != "" {
			_ = s.o.Store.rdb.Del(actx, planKey).Err()
		}
		return http.StatusCreated, usageView(u), nil
	})
}

// newUsage builds a usage record of c.
func (s *Server) newUsage(merchant, sub string, c createUsage) *paymentsv1.UsageRecord {
	id := usageID(merchant, sub, c.clientID)
	return &paymentsv1.UsageRecord{
		Meta:    &commonv1.Meta{EventId: eventid.New(usageKind, id), EventTime: timestamppb.New(s.o.Now()), Source: source},
		UsageId: id, MerchantId: merchant, SubscriptionId: sub, Quantity: c.quantity,
		UsageTime: timestamppb.New(c.at),
	}
}

// usageAccepted says whether sub takes usage u: a live metered subscription, and u in
// its current (open) period or later.
func usageAccepted(sub *paymentsv1.Subscription, u *paymentsv1.UsageRecord) *APIError {
	switch {
	case sub.GetScheme() != paymentsv1.BillingScheme_BILLING_SCHEME_METERED:
		return invalid("id", "subscription_not_metered", "usage can only be recorded on a metered subscription")
	case sub.GetState() == paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_CANCELED:
		return &APIError{Status: http.StatusConflict, Type: typeInvalidRequest, Code: "subscription_canceled",
			Message: "the subscription is canceled", Param: "id"}
	case u.GetUsageTime().AsTime().Before(sub.GetCurrentPeriodStartTime().AsTime()):
		return invalid("timestamp", "usage_period_closed",
			fmt.Sprintf("the period containing timestamp is closed; the current period began %s",
				sub.GetCurrentPeriodStartTime().AsTime().UTC().Format(time.RFC3339)))
	}
	return nil
}

// billingRetry runs f up to n times, until it succeeds.
func billingRetry(ctx context.Context, n int, f func() error) error {
	var err error
	for range n {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// projectUsage is the projection of payments.usage.
func (s *Server) projectUsage(ctx context.Context, value []byte) error {
	u := new(paymentsv1.UsageRecord)
	if err := proto.Unmarshal(value, u); err != nil || u.GetUsageId() == "" {
		return nil
	}
	_, err := s.o.Store.ApplyUsage(ctx, u)
	return err
}
