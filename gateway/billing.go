package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/gateway/apikey"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Billing: subscriptions (fixed or metered, with a trial, renewals that create payment
// intents, past_due and canceled), metering (usage records summed per period into one
// settlement and one intent) and micro-payments (small charges on a customer's tab,
// netted into one settlement and one intent).
//
// Every command is produced to its topic before it is answered and then stored in the
// Store; the Projector rebuilds the same Redis state from the topics (Server.Projections).
// Changes to one subscription happen under its lock ("sub:" id), changes to one tab under
// the tab's lock ("tab:" id). Renewals and nettings plan what they will produce (with
// deterministic ids) in Redis before producing it, so a retry after a crash — by this
// instance or another — produces the same records, never a second intent.

// Topic names of billing (before Options.TopicPrefix); see schemas/catalog.
const (
	TopicSubscriptions = "payments.subscriptions"
	TopicUsage         = "payments.usage"
	TopicCharges       = "payments.charges"
	TopicSettlements   = "payments.settlements"
)

// Event kinds (eventid.New's first part).
const (
	subscriptionKind = "weir.payments.v1.Subscription"
	usageKind        = "weir.payments.v1.UsageRecord"
	chargeKind       = "weir.payments.v1.MicroCharge"
	settlementKind   = "weir.payments.v1.ChargeSettlement"
)

// renewEvery is how often the renewal loop looks for subscriptions whose period ended.
const renewEvery = time.Second

// billingLockWait is how long a billing change waits for a subscription's or tab's lock:
// charges to one tab queue behind each other, so it is longer than lockWait.
const billingLockWait = 10 * time.Second

// billingRoutes registers the subscription, metering and micro-payment routes, hooks and
// loops.
func (s *Server) billingRoutes() {
	s.mux.HandleFunc("POST /v1/subscriptions", s.authed(apikey.Secret, s.createSubscription))
	s.mux.HandleFunc("GET /v1/subscriptions", s.authed(apikey.Secret, s.listSubscriptions))
	s.mux.HandleFunc("GET /v1/subscriptions/{id}", s.authed(apikey.Secret, s.getSubscription))
	s.mux.HandleFunc("POST /v1/subscriptions/{id}/cancel", s.authed(apikey.Secret, s.cancelSubscription))
	s.mux.HandleFunc("POST /v1/subscriptions/{id}/usage", s.authed(apikey.Secret, s.createUsage))
	s.mux.HandleFunc("POST /v1/charges", s.authed(apikey.Secret, s.createCharge))
	s.mux.HandleFunc("GET /v1/tabs/{customer}", s.authed(apikey.Secret, s.getTab))
	s.mux.HandleFunc("POST /v1/tabs/{customer}/settle", s.authed(apikey.Secret, s.settleTab))
	s.mux.HandleFunc("GET /v1/settlements/{id}", s.authed(apikey.Secret, s.getSettlement))

	s.hooks = append(s.hooks, s.subscriptionHook)
	s.background = append(s.background, s.renewLoop)
	s.projections[TopicSubscriptions] = s.projectSubscription
	s.projections[TopicUsage] = s.projectUsage
	s.projections[TopicCharges] = s.projectCharge
	s.projections[TopicSettlements] = s.projectSettlement
}

// produceBilling writes m to topic (before the prefix), keyed by merchant, and waits for
// Kafka's acknowledgement.
func (s *Server) produceBilling(ctx context.Context, topic, merchant string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("gateway: encode %s: %w", topic, err)
	}
	rec := &kgo.Record{Topic: s.o.TopicPrefix + topic, Key: []byte(merchant), Value: b}
	if err := s.o.Client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("gateway: produce to %s: %w", topic, err)
	}
	return nil
}

// billingID returns prefix followed by 26 characters of base32 of the SHA-256 of parts:
// the same shape as newID, but the same parts always give the same id.
func billingID(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(eventid.New(prefix, parts...)))
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:16]))
}

func subEventID(id string, version uint64) string {
	return eventid.New(subscriptionKind, id, fmt.Sprint(version))
}

// billingIntent builds the first transition of an intent that a renewal or a settlement
// creates: its id is given (derived), and subscription and settlement link it.
func (s *Server) billingIntent(merchant, id string, amount *commonv1.Amount, chainID uint64, customer string,
	metadata []*paymentsv1.MetadataEntry, addr string, index uint32, now time.Time) *paymentsv1.IntentTransition {
	it := s.newIntent(merchant, createIntent{amount: amount, chainID: chainID, expires: s.o.IntentTTL, customer: customer,
		metadata: metadata}, addr, index, "")
	it.IntentId = id
	it.Meta = &commonv1.Meta{EventId: eventid.New(intentKind, id, "1"), EventTime: timestamppb.New(now), Source: source}
	it.CreatedTime = timestamppb.New(now)
	it.ExpiresTime = timestamppb.New(now.Add(s.o.IntentTTL))
	return it
}

// billingDepositAddress reserves merchant's next deposit address.
func (s *Server) billingDepositAddress(ctx context.Context, merchant string) (string, uint32, error) {
	m, err := s.o.Store.Merchant(ctx, merchant)
	if err != nil {
		return "", 0, err
	}
	d, err := s.deriver(m.GetXpub())
	if err != nil {
		return "", 0, err
	}
	index, err := s.o.Store.NextAddressIndex(ctx, merchant)
	if err != nil {
		return "", 0, err
	}
	addr, err := d.Address(index)
	if err != nil {
		return "", 0, err
	}
	return strings.ToLower(addr.Hex()), index, nil
}

// billingProduceIntent produces the first version of a planned intent unless the projection
// already has it (produced before a crash), and stores it.
func (s *Server) billingProduceIntent(ctx context.Context, it *paymentsv1.IntentTransition) error {
	if _, err := s.o.Store.Intent(ctx, it.GetIntentId()); err == nil {
		return nil
	}
	if err := s.produce(ctx, it); err != nil {
		return fmt.Errorf("gateway: produce intent %s: %w", it.GetIntentId(), err)
	}
	if _, err := s.o.Store.ApplyIntent(ctx, it); err != nil {
		return err
	}
	return nil
}

// billingProduceSettlement produces a planned settlement unless the projection already has
// it, and stores it.
func (s *Server) billingProduceSettlement(ctx context.Context, cs *paymentsv1.ChargeSettlement) error {
	if _, err := s.o.Store.Settlement(ctx, cs.GetSettlementId()); err == nil {
		return nil
	}
	if err := s.produceBilling(ctx, TopicSettlements, cs.GetMerchantId(), cs); err != nil {
		return err
	}
	return s.o.Store.ApplySettlement(ctx, cs)
}

// Settlement is a ChargeSettlement as the API shows it.
type Settlement struct {
	ID             string     `json:"id"`
	Object         string     `json:"object"`
	Kind           string     `json:"kind"`
	Customer       string     `json:"customer,omitempty"`
	SubscriptionID string     `json:"subscription_id,omitempty"`
	Total          string     `json:"total"`
	Asset          string     `json:"asset"`
	Decimals       uint32     `json:"decimals"`
	Quantity       uint64     `json:"quantity,omitempty"`
	ChargeIDs      []string   `json:"charge_ids"`
	IntentID       string     `json:"intent_id,omitempty"`
	PeriodStart    *time.Time `json:"period_start,omitempty"`
	PeriodEnd      *time.Time `json:"period_end,omitempty"`
	Created        time.Time  `json:"created"`
}

func settlementView(cs *paymentsv1.ChargeSettlement) Settlement {
	v := Settlement{
		ID: cs.GetSettlementId(), Object: "charge_settlement", Kind: "micro",
		Customer: cs.GetCustomerId(), SubscriptionID: cs.GetSubscriptionId(),
		Total: cs.GetTotal().GetValue(), Asset: cs.GetTotal().GetAsset(), Decimals: cs.GetTotal().GetDecimals(),
		Quantity: cs.GetQuantity(), ChargeIDs: append([]string{}, cs.GetChargeIds()...), IntentID: cs.GetIntentId(),
		Created: cs.GetMeta().GetEventTime().AsTime().UTC(),
	}
	if cs.GetKind() == paymentsv1.SettlementKind_SETTLEMENT_KIND_METERED {
		v.Kind = "metered"
	}
	if cs.GetPeriodStartTime() != nil {
		t := cs.GetPeriodStartTime().AsTime().UTC()
		v.PeriodStart = &t
	}
	if cs.GetPeriodEndTime() != nil {
		t := cs.GetPeriodEndTime().AsTime().UTC()
		v.PeriodEnd = &t
	}
	return v
}
