package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Subscription is a subscription as the API shows it. Price is in base units of Asset:
// per period (scheme "fixed") or per unit of usage ("metered").
type Subscription struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Status             string            `json:"status"`
	Customer           string            `json:"customer,omitempty"`
	PlanID             string            `json:"plan_id,omitempty"`
	Scheme             string            `json:"scheme"`
	Price              string            `json:"price"`
	Asset              string            `json:"asset"`
	Decimals           uint32            `json:"decimals"`
	ChainID            uint64            `json:"chain_id"`
	IntervalSeconds    int64             `json:"interval_seconds"`
	TrialEnd           *time.Time        `json:"trial_end,omitempty"`
	CurrentPeriodStart time.Time         `json:"current_period_start"`
	CurrentPeriodEnd   time.Time         `json:"current_period_end"`
	LatestIntentID     string            `json:"latest_intent_id,omitempty"`
	CanceledAt         *time.Time        `json:"canceled_at,omitempty"`
	Metadata           map[string]string `json:"metadata"`
	Version            uint64            `json:"version"`
	Created            time.Time         `json:"created"`
	Updated            time.Time         `json:"updated"`
}

// SubscriptionList is a page of subscriptions. NextCursor is the starting_after of the
// next page.
type SubscriptionList struct {
	Object     string         `json:"object"`
	Data       []Subscription `json:"data"`
	HasMore    bool           `json:"has_more"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

var subStatusNames = map[paymentsv1.SubscriptionState]string{
	paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING: "trialing",
	paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE:   "active",
	paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_PAST_DUE: "past_due",
	paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_CANCELED: "canceled",
}

func subscriptionView(sub *paymentsv1.Subscription) Subscription {
	v := Subscription{
		ID: sub.GetSubscriptionId(), Object: "subscription", Status: subStatusNames[sub.GetState()],
		Customer: sub.GetCustomerId(), PlanID: sub.GetPlanId(), Scheme: "fixed",
		Price: sub.GetPrice().GetValue(), Asset: sub.GetPrice().GetAsset(), Decimals: sub.GetPrice().GetDecimals(),
		ChainID: sub.GetChainId(), IntervalSeconds: int64(sub.GetInterval().AsDuration() / time.Second),
		CurrentPeriodStart: sub.GetCurrentPeriodStartTime().AsTime().UTC(),
		CurrentPeriodEnd:   sub.GetCurrentPeriodEndTime().AsTime().UTC(),
		LatestIntentID:     sub.GetLatestIntentId(),
		Metadata:           make(map[string]string, len(sub.GetMetadata())),
		Version:            sub.GetVersion(),
		Created:            sub.GetCreatedTime().AsTime().UTC(),
		Updated:            sub.GetMeta().GetEventTime().AsTime().UTC(),
	}
	if v.Status == "" {
		v.Status = sub.GetState().String()
	}
	if sub.GetScheme() == paymentsv1.BillingScheme_BILLING_SCHEME_METERED {
		v.Scheme = "metered"
	}
	if sub.GetTrialEndTime() != nil {
		t := sub.GetTrialEndTime().AsTime().UTC()
		v.TrialEnd = &t
	}
	if sub.GetCanceledTime() != nil {
		t := sub.GetCanceledTime().AsTime().UTC()
		v.CanceledAt = &t
	}
	for _, e := range sub.GetMetadata() {
		v.Metadata[e.GetKey()] = e.GetValue()
	}
	return v
}

// billingPlanJSON is what creating a subscription (or renewing it) will produce, stored
// before producing: the settlement and the intent (either may be absent) and the
// subscription's new version.
type billingPlanJSON struct {
	Settlement []byte `json:"settlement,omitempty"`
	Intent     []byte `json:"intent,omitempty"`
	Sub        []byte `json:"sub"`
}

type billingPlan struct {
	cs  *paymentsv1.ChargeSettlement
	it  *paymentsv1.IntentTransition
	sub *paymentsv1.Subscription
}

func encodeBillingPlan(cs *paymentsv1.ChargeSettlement, it *paymentsv1.IntentTransition, sub *paymentsv1.Subscription) ([]byte, error) {
	var p billingPlanJSON
	var err error
	if cs != nil {
		if p.Settlement, err = proto.Marshal(cs); err != nil {
			return nil, err
		}
	}
	if it != nil {
		if p.Intent, err = proto.Marshal(it); err != nil {
			return nil, err
		}
	}
	if sub != nil {
		if p.Sub, err = proto.Marshal(sub); err != nil {
			return nil, err
		}
	}
	return json.Marshal(p)
}

func decodeBillingPlan(b []byte) (billingPlan, error) {
	var p billingPlanJSON
	var d billingPlan
	if err := json.Unmarshal(b, &p); err != nil {
		return d, fmt.Errorf("gateway: plan: %w", err)
	}
	if len(p.Settlement) > 0 {
		d.cs = new(paymentsv1.ChargeSettlement)
		if err := proto.Unmarshal(p.Settlement, d.cs); err != nil {
			return d, fmt.Errorf("gateway: plan: %w", err)
		}
	}
	if len(p.Intent) > 0 {
		d.it = new(paymentsv1.IntentTransition)
		if err := proto.Unmarshal(p.Intent, d.it); err != nil {
			return d, fmt.Errorf("gateway: plan: %w", err)
		}
	}
	if len(p.Sub) > 0 {
		d.sub = new(paymentsv1.Subscription)
		if err := proto.Unmarshal(p.Sub, d.sub); err != nil {
			return d, fmt.Errorf("gateway: plan: %w", err)
		}
	}
	return d, nil
}

// runBillingPlan produces what p planned, in order (settlement, intent, subscription), each
// only if the projection does not have it yet, and stores it. Running it again after a
// failure, or after a crash, produces nothing new.
func (s *Server) runBillingPlan(ctx context.Context, p billingPlan) error {
	if p.cs != nil {
		if err := s.billingProduceSettlement(ctx, p.cs); err != nil {
			return err
		}
	}
	if p.it != nil {
		if err := s.billingProduceIntent(ctx, p.it); err != nil {
			return err
		}
	}
	if p.sub != nil {
		return s.produceSubscription(ctx, p.sub)
	}
	return nil
}

// produceSubscription produces sub unless the projection has its version already, and
// stores it.
func (s *Server) produceSubscription(ctx context.Context, sub *paymentsv1.Subscription) error {
	if cur, err := s.o.Store.Subscription(ctx, sub.GetSubscriptionId()); err == nil && cur.GetVersion() >= sub.GetVersion() {
		return nil
	}
	if err := s.produceBilling(ctx, TopicSubscriptions, sub.GetMerchantId(), sub); err != nil {
		return err
	}
	_, err := s.o.Store.ApplySubscription(ctx, sub)
	return err
}

// renewalIntentID is the id of the intent charging a fixed subscription's period that
// starts at start: one intent per period, whoever renews it and however often.
func renewalIntentID(sub string, start time.Time) string {
	return billingID("pi_", "renewal", sub, strconv.FormatInt(start.UnixMilli(), 10))
}

// createSubscription handles POST /v1/subscriptions.
func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req CreateSubscriptionRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	c, aerr := req.validate(s.o.Assets)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	ctx := r.Context()
	merchant := m.GetMerchantId()
	s.idem(w, r, m, body, func(planned []byte, plan func([]byte) error) (int, any, *APIError) {
		var p billingPlan
		if len(planned) > 0 {
			var err error
			if p, err = decodeBillingPlan(planned); err != nil || p.sub == nil {
				return 0, nil, &APIError{Status: http.StatusInternalServerError, Type: typeAPI, Code: "plan_corrupt", Message: "the stored plan of this request is unreadable"}
			}
		} else {
			now := s.o.Now()
			p.sub = c.subscription(newID("sub_"), merchant, now)
			if c.trial == 0 && c.scheme == paymentsv1.BillingScheme_BILLING_SCHEME_FIXED {
				// The first period is charged at once.
				addr, index, err := s.billingDepositAddress(ctx, merchant)
				if err != nil {
					s.o.Logger.Error("deposit address", "request_id", requestID(r), "err", err)
					return 0, nil, unavailable("store_unavailable")
				}
				p.it = s.billingIntent(merchant, renewalIntentID(p.sub.GetSubscriptionId(), now), c.price, c.chainID,
					c.customer, c.metadata, addr, index, now)
				p.it.SubscriptionId = p.sub.GetSubscriptionId()
				p.it.RequestId = requestID(r)
				p.sub.LatestIntentId = p.it.GetIntentId()
			}
			b, err := encodeBillingPlan(nil, p.it, p.sub)
			if err != nil {
				return 0, nil, &APIError{Status: http.StatusInternalServerError, Type: typeAPI, Code: "encode_failed", Message: "the subscription could not be encoded"}
			}
			if err := plan(b); err != nil {
				return 0, nil, unavailable("store_unavailable")
			}
		}
		if err := s.runBillingPlan(ctx, p); err != nil {
			s.o.Logger.Error("subscription not created", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		return http.StatusCreated, subscriptionView(p.sub), nil
	})
}

// subscriptionOf returns merchant's subscription id, or a 404 APIError.
func (s *Server) subscriptionOf(ctx context.Context, merchant, id string) (*paymentsv1.Subscription, *APIError) {
	sub, err := s.o.Store.Subscription(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && sub.GetMerchantId() != merchant) {
		return nil, &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "subscription_unknown",
			Message: "no such subscription", Param: "id"}
	}
	if err != nil {
		return nil, unavailable("store_unavailable")
	}
	return sub, nil
}

// getSubscription handles GET /v1/subscriptions/{id}.
func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	sub, aerr := s.subscriptionOf(r.Context(), m.GetMerchantId(), r.PathValue("id"))
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	writeJSON(w, http.StatusOK, subscriptionView(sub))
}

// listSubscriptions handles GET /v1/subscriptions?limit=&starting_after=.
func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	q := r.URL.Query()
	limit, aerr := pageLimit(q.Get("limit"))
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	after := q.Get("starting_after")
	bad := invalid("starting_after", "cursor_invalid", "starting_after is not one of your subscriptions")
	if after != "" {
		if _, aerr := s.subscriptionOf(r.Context(), m.GetMerchantId(), after); aerr != nil {
			if aerr.Status == http.StatusNotFound {
				aerr = bad
			}
			fail(w, r, aerr)
			return
		}
	}
	subs, more, err := s.o.Store.Subscriptions(r.Context(), m.GetMerchantId(), after, limit)
	if errors.Is(err, ErrNotFound) {
		fail(w, r, bad)
		return
	}
	if err != nil {
		s.internal(w, r, "store_unavailable", err)
		return
	}
	page := SubscriptionList{Object: "list", Data: make([]Subscription, 0, len(subs)), HasMore: more}
	for _, sub := range subs {
		page.Data = append(page.Data, subscriptionView(sub))
	}
	if more && len(subs) > 0 {
		page.NextCursor = subs[len(subs)-1].GetSubscriptionId()
	}
	writeJSON(w, http.StatusOK, page)
}

// nextSubVersion returns sub's next version, at time at, in state.
func nextSubVersion(sub *paymentsv1.Subscription, state paymentsv1.SubscriptionState, at time.Time) *paymentsv1.Subscription {
	n := proto.Clone(sub).(*paymentsv1.Subscription)
	n.Version = sub.GetVersion() + 1
	n.State = state
	n.Meta = &commonv1.Meta{EventId: subEventID(n.GetSubscriptionId(), n.GetVersion()), EventTime: timestamppb.New(at), Source: source}
	return n
}

func subLock(id string) string { return "sub:" + id }

// cancelSubscription handles POST /v1/subscriptions/{id}/cancel. A metered
// subscription's usage in its open period so far is charged at once (one settlement, one
// intent); the cancellation is planned in Redis before it is produced.
func (s *Server) cancelSubscription(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	id := r.PathValue("id")
	ctx := r.Context()
	s.idem(w, r, m, body, func(planned []byte, plan func([]byte) error) (int, any, *APIError) {
		unlock, err := s.o.Store.Lock(ctx, subLock(id), lockTTL, billingLockWait)
		if err != nil {
			return 0, nil, unavailable("subscription_busy")
		}
		defer unlock()
		actx := context.WithoutCancel(ctx)
		if _, err := s.finishCancel(actx, id); err != nil {
			s.o.Logger.Error("cancel not finished", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		sub, aerr := s.subscriptionOf(ctx, m.GetMerchantId(), id)
		if aerr != nil {
			return 0, nil, aerr
		}
		if sub.GetState() == paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_CANCELED {
			return http.StatusOK, subscriptionView(sub), nil
		}
		now := s.o.Now()
		p := billingPlan{sub: nextSubVersion(sub, paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_CANCELED, now)}
		p.sub.CanceledTime = timestamppb.New(now)
		start := sub.GetCurrentPeriodStartTime().AsTime()
		if sub.GetScheme() == paymentsv1.BillingScheme_BILLING_SCHEME_METERED &&
			sub.GetState() != paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING && now.After(start) {
			// The open period's usage so far is charged now: nothing renews it later.
			csID := billingID("cs_", "metered", id, strconv.FormatInt(start.UnixMilli(), 10), "canceled")
			if err := s.planMetered(actx, &p, sub, start, now, csID, now); err != nil {
				s.o.Logger.Error("final usage not planned", "request_id", requestID(r), "err", err)
				return 0, nil, unavailable("store_unavailable")
			}
		}
		b, err := encodeBillingPlan(p.cs, p.it, p.sub)
		if err != nil {
			return 0, nil, &APIError{Status: http.StatusInternalServerError, Type: typeAPI, Code: "encode_failed", Message: "the cancellation could not be encoded"}
		}
		if err := s.o.Store.setBillingPlan(actx, s.cancelPlanKey(id), b); err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		if _, err := s.finishCancel(actx, id); err != nil {
			s.o.Logger.Error("cancel not produced", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		return http.StatusOK, subscriptionView(p.sub), nil
	})
}

// renewLoop renews due subscriptions (renewDue) every renewEvery until ctx is done; it
// returns nil then. It starts renewing once the projection has caught up with Kafka.
func (s *Server) renewLoop(ctx context.Context) error {
	t := time.NewTicker(renewEvery)
	defer t.Stop()
	ready := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !ready {
			ok, err := s.projectionCaughtUp(ctx)
			if err != nil && ctx.Err() == nil {
				s.o.Logger.Warn("renewals wait for the projection", "err", err)
			}
			if ready = ok; !ready {
				continue
			}
		}
		if _, err := s.renewDue(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("renewals failed; retrying", "err", err)
		}
	}
}

// maxRenewalsPerPass bounds one renewDue call (the next call continues).
const maxRenewalsPerPass = 1000

// renewDue makes subscriptions follow their renewal intents (followRenewalIntents), then
// renews every live subscription whose current period ended by the Server's clock, one
// period at a time (so a subscription several periods behind gets each period's
// renewal). It returns how many renewals it made, and the first error after trying every
// due subscription. Safe to run concurrently, and in several gateways: each renewal
// happens under the subscription's lock and is planned with deterministic ids before
// anything is produced. Tests call it to drive simulated time.
func (s *Server) renewDue(ctx context.Context) (int, error) {
	// Payments first: a subscription whose intent expired is past due before it renews.
	_, firstErr := s.followRenewalIntents(ctx)
	renewed := 0
	failed := map[string]bool{}
	for renewed < maxRenewalsPerPass {
		ids, err := s.o.Store.DueSubscriptions(ctx, s.o.Now(), 100)
		if err != nil {
			return renewed, err
		}
		progress := false
		for _, id := range ids {
			if failed[id] {
				continue
			}
			ok, err := s.renewOne(ctx, id)
			if err != nil {
				failed[id] = true
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if ok {
				renewed++
				progress = true
			}
		}
		if !progress {
			return renewed, firstErr
		}
	}
	return renewed, firstErr
}

// renewOne renews subscription id for one period if its current period has ended; it
// reports whether it did. ErrBusy (another renewal holds it) reports false.
func (s *Server) renewOne(ctx context.Context, id string) (bool, error) {
	unlock, err := s.o.Store.Lock(ctx, subLock(id), lockTTL, billingLockWait)
	if errors.Is(err, ErrBusy) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer unlock()
	if canceled, err := s.finishCancel(ctx, id); err != nil || canceled {
		return false, err
	}
	sub, err := s.o.Store.Subscription(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil // scheduled by a projector that has not stored it yet
	}
	if err != nil {
		return false, err
	}
	now := s.o.Now()
	end := sub.GetCurrentPeriodEndTime().AsTime()
	if sub.GetState() == paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_CANCELED || end.After(now) {
		return false, nil
	}
	key := s.o.Store.key("subplan", id, strconv.FormatInt(end.UnixMilli(), 10))
	b, err := s.o.Store.billingPlan(ctx, key)
	if err != nil {
		return false, err
	}
	var p billingPlan
	if b != nil {
		if p, err = decodeBillingPlan(b); err != nil {
			return false, err
		}
		if p.sub.GetVersion() <= sub.GetVersion() {
			// The subscription changed after the plan was made (a crash, then a hook made
			// it past due): renew its current version, with the planned charge.
			n := renewedVersion(sub, now)
			n.LatestIntentId = p.sub.GetLatestIntentId()
			p.sub = n
			if b, err = encodeBillingPlan(p.cs, p.it, p.sub); err != nil {
				return false, err
			}
			if err := s.o.Store.setBillingPlan(ctx, key, b); err != nil {
				return false, err
			}
		}
	} else {
		if p, err = s.planRenewal(ctx, sub, now); err != nil {
			return false, err
		}
		if b, err = encodeBillingPlan(p.cs, p.it, p.sub); err != nil {
			return false, err
		}
		if err := s.o.Store.setBillingPlan(ctx, key, b); err != nil {
			return false, err
		}
	}
	if err := s.runBillingPlan(ctx, p); err != nil {
		return false, fmt.Errorf("gateway: renew %s: %w", id, err)
	}
	_ = s.o.Store.rdb.Del(ctx, key).Err() // a leftover plan is only replayed to no effect
	return true, nil
}

// planRenewal plans the renewal of sub at the end of its current period: the next
// period, and the charge — a fixed plan's price for the next period (in advance), or a
// metered plan's usage of the period that ended (in arrears; none for a trial).
func (s *Server) planRenewal(ctx context.Context, sub *paymentsv1.Subscription, now time.Time) (billingPlan, error) {
	p := billingPlan{sub: renewedVersion(sub, now)}
	id := sub.GetSubscriptionId()
	start, end := sub.GetCurrentPeriodStartTime().AsTime(), sub.GetCurrentPeriodEndTime().AsTime()
	switch sub.GetScheme() {
	case paymentsv1.BillingScheme_BILLING_SCHEME_FIXED:
		return p, s.planIntent(ctx, &p, sub, renewalIntentID(id, end), sub.GetPrice(), now)
	case paymentsv1.BillingScheme_BILLING_SCHEME_METERED:
		if sub.GetState() == paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING {
			return p, nil // usage in the trial is free
		}
		csID := billingID("cs_", "metered", id, strconv.FormatInt(start.UnixMilli(), 10))
		return p, s.planMetered(ctx, &p, sub, start, end, csID, now)
	}
	return p, fmt.Errorf("gateway: subscription %s has no billing scheme", id)
}

// planMetered adds to p the settlement csID of sub's usage in [start, end) — quantity ×
// unit price, exact — and, unless the total is zero, the intent collecting it.
func (s *Server) planMetered(ctx context.Context, p *billingPlan, sub *paymentsv1.Subscription, start, end time.Time, csID string, now time.Time) error {
	id, price := sub.GetSubscriptionId(), sub.GetPrice()
	ids, quantity, err := s.o.Store.PeriodUsage(ctx, id, start, end)
	if err != nil {
		return err
	}
	unit, ok := new(big.Int).SetString(price.GetValue(), 10)
	if !ok {
		return fmt.Errorf("gateway: subscription %s has a corrupt price", id)
	}
	total := new(big.Int).Mul(unit, new(big.Int).SetUint64(quantity))
	if total.Cmp(maxUint256) > 0 {
		return fmt.Errorf("gateway: subscription %s: the period's total exceeds 2^256-1", id)
	}
	p.cs = &paymentsv1.ChargeSettlement{
		Meta:         &commonv1.Meta{EventId: eventid.New(settlementKind, csID), EventTime: timestamppb.New(now), Source: source},
		SettlementId: csID, MerchantId: sub.GetMerchantId(), Kind: paymentsv1.SettlementKind_SETTLEMENT_KIND_METERED,
		CustomerId: sub.GetCustomerId(), SubscriptionId: id,
		Total:    &commonv1.Amount{Value: total.String(), Asset: price.GetAsset(), Decimals: price.GetDecimals()},
		Quantity: quantity, ChargeIds: ids,
		PeriodStartTime: timestamppb.New(start), PeriodEndTime: timestamppb.New(end),
	}
	if total.Sign() == 0 {
		return nil
	}
	p.cs.IntentId = billingID("pi_", "settlement", csID)
	return s.planIntent(ctx, p, sub, p.cs.GetIntentId(), p.cs.GetTotal(), now)
}

// planIntent adds to p the intent intentID charging amount for sub, at a newly reserved
// deposit address, and makes it the subscription's latest.
func (s *Server) planIntent(ctx context.Context, p *billingPlan, sub *paymentsv1.Subscription, intentID string, amount *commonv1.Amount, now time.Time) error {
	merchant := sub.GetMerchantId()
	addr, index, err := s.billingDepositAddress(ctx, merchant)
	if err != nil {
		return err
	}
	p.it = s.billingIntent(merchant, intentID, amount, sub.GetChainId(), sub.GetCustomerId(), sub.GetMetadata(), addr, index, now)
	p.it.SubscriptionId = sub.GetSubscriptionId()
	if p.cs != nil {
		p.it.SettlementId = p.cs.GetSettlementId()
	}
	p.sub.LatestIntentId = intentID
	return nil
}

// cancelPlanKey is where a cancellation's plan waits until it is produced.
func (s *Server) cancelPlanKey(id string) string { return s.o.Store.key("subplan", id, "cancel") }

// finishCancel produces a cancellation of subscription id that was planned but not
// finished (a crash, a Kafka failure); it reports whether there was one. Everything done
// under a subscription's lock calls it first, so nothing is decided on a subscription
// whose cancellation is half-way.
func (s *Server) finishCancel(ctx context.Context, id string) (bool, error) {
	key := s.cancelPlanKey(id)
	b, err := s.o.Store.billingPlan(ctx, key)
	if err != nil || b == nil {
		return false, err
	}
	p, err := decodeBillingPlan(b)
	if err != nil {
		return false, err
	}
	cur, err := s.o.Store.Subscription(ctx, id)
	if err != nil {
		return false, err
	}
	if cur.GetVersion() >= p.sub.GetVersion() && cur.GetState() != paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_CANCELED {
		// Not expected (every change under the lock finishes this plan first), but a
		// cancellation is never dropped: it becomes the current version's next.
		n := nextSubVersion(cur, paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_CANCELED, p.sub.GetCanceledTime().AsTime())
		n.CanceledTime, n.LatestIntentId = p.sub.GetCanceledTime(), p.sub.GetLatestIntentId()
		p.sub = n
	}
	if err := s.runBillingPlan(ctx, p); err != nil {
		return false, err
	}
	if err := s.o.Store.rdb.Del(ctx, key).Err(); err != nil {
		return false, fmt.Errorf("gateway: drop cancel plan: %w", err)
	}
	return true, nil
}

// renewedVersion is sub's next version after its period ended: the next period, ACTIVE
// after a trial (a past-due subscription stays past due until paid).
func renewedVersion(sub *paymentsv1.Subscription, now time.Time) *paymentsv1.Subscription {
	state := sub.GetState()
	if state == paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING {
		state = paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE
	}
	end := sub.GetCurrentPeriodEndTime().AsTime()
	n := nextSubVersion(sub, state, now)
	n.CurrentPeriodStartTime = timestamppb.New(end)
	n.CurrentPeriodEndTime = timestamppb.New(end.Add(sub.GetInterval().AsDuration()))
	return n
}

// subscriptionHook follows the intents of renewals: it records (in the projection) that
// a subscription's intent expired or was paid, and queues the subscription for
// followRenewalIntents, which makes the change. The hook runs in the Projector, which
// also replays old transitions on a rebuild, when the subscriptions in Redis may be
// older than Kafka's: deciding there could fork a subscription's versions. The renewal
// loop decides instead, once the projection has caught up, under the subscription's
// lock.
func (s *Server) subscriptionHook(ctx context.Context, it *paymentsv1.IntentTransition) error {
	if it.GetSubscriptionId() == "" {
		return nil
	}
	switch it.GetState() {
	case paymentsv1.IntentState_INTENT_STATE_EXPIRED, paymentsv1.IntentState_INTENT_STATE_SUCCEEDED,
		paymentsv1.IntentState_INTENT_STATE_OVERPAID:
		return s.o.Store.MarkRenewalIntent(ctx, it)
	}
	return nil
}

// followRenewalIntents makes the subscriptions queued by subscriptionHook follow their
// latest renewal intent: PAST_DUE when it expired unpaid, ACTIVE again (from PAST_DUE)
// when it was paid. It returns how many subscriptions changed.
func (s *Server) followRenewalIntents(ctx context.Context) (int, error) {
	ids, err := s.o.Store.RenewalChecks(ctx)
	if err != nil {
		return 0, err
	}
	changed := 0
	var firstErr error
	for _, id := range ids {
		ok, err := s.followRenewalIntent(ctx, id)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			_ = s.o.Store.QueueRenewalCheck(ctx, id) // again on the next pass
			continue
		}
		if ok {
			changed++
		}
	}
	return changed, firstErr
}

func (s *Server) followRenewalIntent(ctx context.Context, id string) (bool, error) {
	unlock, err := s.o.Store.Lock(ctx, subLock(id), lockTTL, billingLockWait)
	if err != nil {
		return false, err
	}
	defer unlock()
	if err := s.o.Store.DoneRenewalCheck(ctx, id); err != nil {
		return false, err
	}
	if _, err := s.finishCancel(ctx, id); err != nil {
		return false, err
	}
	sub, err := s.o.Store.Subscription(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	latest := sub.GetLatestIntentId()
	if latest == "" {
		return false, nil
	}
	state, err := s.o.Store.RenewalIntentState(ctx, id, latest)
	if err != nil {
		return false, err
	}
	var to paymentsv1.SubscriptionState
	switch {
	case state == paymentsv1.IntentState_INTENT_STATE_EXPIRED &&
		(sub.GetState() == paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE ||
			sub.GetState() == paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING):
		to = paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_PAST_DUE
	case (state == paymentsv1.IntentState_INTENT_STATE_SUCCEEDED || state == paymentsv1.IntentState_INTENT_STATE_OVERPAID) &&
		sub.GetState() == paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_PAST_DUE:
		to = paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE
	default:
		return false, nil
	}
	if err := s.produceSubscription(ctx, nextSubVersion(sub, to, s.o.Now())); err != nil {
		return false, err
	}
	return true, nil
}

// projectionCaughtUp reports whether the Projector has applied everything payments.intents
// and the billing topics held when asked (the Projector keeps its position in the Store).
// The renewal loop waits for it once after a start, so that a Redis rebuilt from Kafka
// is complete before renewals are decided on it.
func (s *Server) projectionCaughtUp(ctx context.Context) (bool, error) {
	var topics []string
	for _, t := range []string{TopicIntents, TopicSubscriptions, TopicUsage, TopicCharges, TopicSettlements} {
		topics = append(topics, s.o.TopicPrefix+t)
	}
	ends, err := kadm.NewClient(s.o.Client).ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, fmt.Errorf("gateway: end offsets: %w", err)
	}
	at, err := s.o.Store.offsets(ctx, "projector")
	if err != nil {
		return false, err
	}
	caughtUp := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > at[tpKey(o.Topic, o.Partition)] {
			caughtUp = false
		}
	})
	return caughtUp, nil
}

// projectSubscription is the projection of payments.subscriptions.
func (s *Server) projectSubscription(ctx context.Context, value []byte) error {
	sub := new(paymentsv1.Subscription)
	if err := proto.Unmarshal(value, sub); err != nil || sub.GetSubscriptionId() == "" {
		return nil // not ours to fix: the sinks' poison counters show it
	}
	_, err := s.o.Store.ApplySubscription(ctx, sub)
	return err
}
