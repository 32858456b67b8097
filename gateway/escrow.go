package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/gateway/apikey"
	"github.com/weirhq/weir/schemas/eventid"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// TopicConditions is the topic of condition events (weir.payments.v1.ConditionEvent, keyed
// by condition id), written by oracles; a condition releases the escrows waiting for it.
const TopicConditions = "payments.conditions"

// conditionKind is the event kind of condition events.
const conditionKind = "weir.payments.v1.ConditionEvent"

// Limits of an escrow request.
const (
	maxConditionID  = 200
	minTimeLock     = time.Minute
	maxTimeLock     = 365 * 24 * time.Hour
	escrowTick      = time.Second
	escrowBatch     = 100
	escrowIntentsGr = "weir-gateway-escrow"
	conditionsGroup = "weir-gateway-conditions"
)

// escrowRoutes registers the conditional-payment routes, hooks and loops.
//
// An escrow is a payment intent with escrow set; reconciliation makes it HELD when it is
// paid in full (reconState). A condition event on payments.conditions releases every
// HELD escrow waiting for it (RELEASED); a condition that arrives earlier is remembered,
// and the escrow driver — a consumer group on payments.intents — releases the escrow as
// soon as it sees it become HELD. The time-lock tick refunds HELD escrows whose time lock
// passed (REFUNDED). Every move is made under the intent's lock from the stored version,
// and the first one wins. The Projector keeps the escrow indexes (HELD escrows by
// condition and by time lock) and the remembered conditions, so a rebuilt projection has
// them.
func (s *Server) escrowRoutes() {
	s.mux.HandleFunc("POST /v1/escrows", s.authed(apikey.Secret, s.createEscrow))
	s.mux.HandleFunc("GET /v1/escrows/{id}", s.authed(apikey.Publishable, s.getEscrow))
	s.hooks = append(s.hooks, s.escrowHook)
	s.projections[TopicConditions] = s.projectCondition
	s.background = append(s.background, s.afterProjection(s.runEscrowDriver), s.afterProjection(s.runConditions),
		s.afterProjection(s.runEscrowTimeLocks))
}

// CreateEscrowRequest is the body of POST /v1/escrows: a payment intent whose funds are
// held until condition_id is met or refunded when the time lock passes.
type CreateEscrowRequest struct {
	// Amount, Asset, ChainID, ExpiresInSeconds, Customer and Metadata are as in
	// CreateIntentRequest.
	Amount           json.RawMessage   `json:"amount"`
	Asset            string            `json:"asset"`
	ChainID          uint64            `json:"chain_id"`
	ExpiresInSeconds *int64            `json:"expires_in_seconds,omitempty"`
	Customer         string            `json:"customer,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	// ConditionID names the condition (as the oracle publishes it) that releases the
	// funds: 1 to 200 printable ASCII characters. Required.
	ConditionID string `json:"condition_id"`
	// TimeLockSeconds is how long after creation held funds are refunded if the condition
	// has not been met: from 60 s to 365 days, and not shorter than the payment window.
	// Required.
	TimeLockSeconds *int64 `json:"time_lock_seconds"`
}

// createEscrow is a validated escrow request.
type createEscrow struct {
	intent      createIntent
	conditionID string
	timeLock    time.Duration
}

// validate checks req against the accepted assets and the limits.
func (req *CreateEscrowRequest) validate(assets []Asset, defaultTTL time.Duration) (createEscrow, *APIError) {
	var c createEscrow
	in := CreateIntentRequest{Amount: req.Amount, Asset: req.Asset, ChainID: req.ChainID,
		ExpiresInSeconds: req.ExpiresInSeconds, Customer: req.Customer, Metadata: req.Metadata}
	ci, aerr := in.validate(assets, defaultTTL)
	if aerr != nil {
		return c, aerr
	}
	c.intent = ci
	switch {
	case req.ConditionID == "":
		return c, invalid("condition_id", "parameter_missing", "condition_id is required: the name of the condition that releases the funds")
	case len(req.ConditionID) > maxConditionID || strings.ContainsFunc(req.ConditionID, func(r rune) bool { return r < 0x21 || r > 0x7e }):
		return c, invalid("condition_id", "parameter_invalid", fmt.Sprintf("condition_id must be 1 to %d printable ASCII characters", maxConditionID))
	}
	c.conditionID = req.ConditionID
	if req.TimeLockSeconds == nil {
		return c, invalid("time_lock_seconds", "parameter_missing", "time_lock_seconds is required: how long funds are held before they are refunded")
	}
	n := *req.TimeLockSeconds
	if n < int64(minTimeLock/time.Second) || n > int64(maxTimeLock/time.Second) {
		return c, invalid("time_lock_seconds", "parameter_invalid",
			fmt.Sprintf("time_lock_seconds must be between %d and %d", int(minTimeLock.Seconds()), int(maxTimeLock.Seconds())))
	}
	c.timeLock = time.Duration(n) * time.Second
	if c.timeLock < ci.expires {
		return c, invalid("time_lock_seconds", "parameter_invalid",
			fmt.Sprintf("time_lock_seconds must not be shorter than the payment window (%d s)", int(ci.expires.Seconds())))
	}
	return c, nil
}

// EscrowTerms is the escrow part of an escrowed payment intent.
type EscrowTerms struct {
	ConditionID       string    `json:"condition_id"`
	TimeLockExpiresAt time.Time `json:"time_lock_expires_at"`
	// ConditionEventID is the event id of the condition event that released the funds.
	ConditionEventID string `json:"condition_event_id,omitempty"`
}

// EscrowIntent is an escrowed payment intent as the API shows it: a payment intent (whose
// status may also be "held" or "released") and its escrow terms.
type EscrowIntent struct {
	Intent
	Escrow EscrowTerms `json:"escrow"`
}

func escrowView(it *paymentsv1.IntentTransition) EscrowIntent {
	v := EscrowIntent{Intent: intentView(it)}
	v.Object = "escrow"
	if e := it.GetEscrow(); e != nil {
		v.Escrow = EscrowTerms{ConditionID: e.GetConditionId(), TimeLockExpiresAt: e.GetTimeLockExpiresTime().AsTime().UTC(),
			ConditionEventID: e.GetConditionEventId()}
	}
	return v
}

// createEscrow handles POST /v1/escrows: like createIntent, with the escrow terms.
func (s *Server) createEscrow(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req CreateEscrowRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	c, aerr := req.validate(s.o.Assets, s.o.IntentTTL)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	s.create(w, r, m, body, c.intent, func(it *paymentsv1.IntentTransition) {
		it.Escrow = &paymentsv1.Escrow{ConditionId: c.conditionID,
			TimeLockExpiresTime: timestamppb.New(it.GetCreatedTime().AsTime().Add(c.timeLock))}
	}, func(it *paymentsv1.IntentTransition) any { return escrowView(it) })
}

// getEscrow handles GET /v1/escrows/{id}.
func (s *Server) getEscrow(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	it, err := s.o.Store.Intent(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) || (err == nil && (it.GetMerchantId() != m.GetMerchantId() || it.GetEscrow() == nil)) {
		fail(w, r, &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "escrow_unknown",
			Message: "no such escrow", Param: "id"})
		return
	}
	if err != nil {
		s.internal(w, r, "store_unavailable", err)
		return
	}
	writeJSON(w, http.StatusOK, escrowView(it))
}

// commitIntent produces n and stores it (and its escrow indexes). The caller holds the
// intent's lock.
func (s *Server) commitIntent(ctx context.Context, n *paymentsv1.IntentTransition) error {
	if err := s.produce(ctx, n); err != nil {
		return fmt.Errorf("gateway: produce transition of %s: %w", n.GetIntentId(), err)
	}
	ctx = context.WithoutCancel(ctx)
	if _, err := s.o.Store.ApplyIntent(ctx, n); err != nil {
		s.o.Logger.Warn("intent not projected; the projector will", "intent", n.GetIntentId(), "err", err)
		return nil
	}
	if err := s.o.Store.indexEscrow(ctx, n); err != nil {
		s.o.Logger.Warn("escrow not indexed; the projector will", "intent", n.GetIntentId(), "err", err)
	}
	if n.GetState() == paymentsv1.IntentState_INTENT_STATE_REFUNDED && n.GetRefundId() != "" {
		if err := s.o.Store.markRefund(ctx, n.GetIntentId(), n.GetRefundId()); err != nil {
			s.o.Logger.Warn("refund not indexed; the projector will", "intent", n.GetIntentId(), "err", err)
		}
	}
	return nil
}

// escrowHook keeps the escrow and refund indexes of each projected intent transition. It
// only projects (version-guarded, idempotent): it decides nothing, so a projection
// rebuild replaying old transitions changes nothing in Kafka.
func (s *Server) escrowHook(ctx context.Context, it *paymentsv1.IntentTransition) error {
	if it.GetState() == paymentsv1.IntentState_INTENT_STATE_REFUNDED && it.GetRefundId() != "" {
		if err := s.o.Store.markRefund(ctx, it.GetIntentId(), it.GetRefundId()); err != nil {
			return err
		}
	}
	if it.GetEscrow() == nil {
		return nil
	}
	return s.o.Store.indexEscrow(ctx, it)
}

// projectCondition remembers a condition event of payments.conditions.
func (s *Server) projectCondition(ctx context.Context, value []byte) error {
	ev := new(paymentsv1.ConditionEvent)
	if err := proto.Unmarshal(value, ev); err != nil || ev.GetConditionId() == "" {
		return nil // not ours to fix
	}
	return s.o.Store.rememberCondition(ctx, ev, conditionTime(ev, time.Time{}))
}

// conditionTime is when a condition was met: its event time, else fallback (the
// record's timestamp).
func conditionTime(ev *paymentsv1.ConditionEvent, fallback time.Time) time.Time {
	if t := ev.GetMeta().GetEventTime(); t != nil && t.IsValid() {
		return t.AsTime()
	}
	return fallback
}

// conditionEventID is Meta.event_id of the condition event of condition.
func conditionEventID(condition string) string { return eventid.New(conditionKind, condition) }
