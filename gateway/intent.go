package gateway

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	reconciliationv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
)

// intentKind is the event kind of payment intent transitions (eventid.New's first part).
const intentKind = "weir.payments.v1.IntentTransition"

// source is Meta.source of the gateway's events.
const source = "gateway"

// Status names of the API, one per state an on-chain intent can be in.
var statusNames = map[paymentsv1.IntentState]string{
	paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT: "requires_payment",
	paymentsv1.IntentState_INTENT_STATE_PROCESSING:       "processing",
	paymentsv1.IntentState_INTENT_STATE_SUCCEEDED:        "succeeded",
	paymentsv1.IntentState_INTENT_STATE_UNDERPAID:        "underpaid",
	paymentsv1.IntentState_INTENT_STATE_OVERPAID:         "overpaid",
	paymentsv1.IntentState_INTENT_STATE_EXPIRED:          "expired",
	paymentsv1.IntentState_INTENT_STATE_CANCELED:         "canceled",
	paymentsv1.IntentState_INTENT_STATE_REFUNDED:         "refunded",
	paymentsv1.IntentState_INTENT_STATE_HELD:             "held",
	paymentsv1.IntentState_INTENT_STATE_RELEASED:         "released",
}

// Status returns the API name of state ("requires_payment", …), or the enum name for a
// state on-chain intents never take.
func Status(state paymentsv1.IntentState) string {
	if s, ok := statusNames[state]; ok {
		return s
	}
	return state.String()
}

// next lists the states each state may move to (the IntentState doc in
// schemas/proto/weir/payments/v1/payments.proto). A state missing here is terminal.
var next = map[paymentsv1.IntentState][]paymentsv1.IntentState{
	paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT: {
		paymentsv1.IntentState_INTENT_STATE_PROCESSING, paymentsv1.IntentState_INTENT_STATE_SUCCEEDED,
		paymentsv1.IntentState_INTENT_STATE_UNDERPAID, paymentsv1.IntentState_INTENT_STATE_OVERPAID,
		paymentsv1.IntentState_INTENT_STATE_EXPIRED, paymentsv1.IntentState_INTENT_STATE_CANCELED,
		paymentsv1.IntentState_INTENT_STATE_HELD},
	paymentsv1.IntentState_INTENT_STATE_PROCESSING: {
		paymentsv1.IntentState_INTENT_STATE_SUCCEEDED, paymentsv1.IntentState_INTENT_STATE_UNDERPAID,
		paymentsv1.IntentState_INTENT_STATE_OVERPAID, paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT,
		paymentsv1.IntentState_INTENT_STATE_HELD},
	paymentsv1.IntentState_INTENT_STATE_UNDERPAID: {
		paymentsv1.IntentState_INTENT_STATE_PROCESSING, paymentsv1.IntentState_INTENT_STATE_SUCCEEDED,
		paymentsv1.IntentState_INTENT_STATE_OVERPAID, paymentsv1.IntentState_INTENT_STATE_EXPIRED,
		paymentsv1.IntentState_INTENT_STATE_CANCELED, paymentsv1.IntentState_INTENT_STATE_HELD},
	paymentsv1.IntentState_INTENT_STATE_SUCCEEDED: {paymentsv1.IntentState_INTENT_STATE_REFUNDED},
	paymentsv1.IntentState_INTENT_STATE_OVERPAID:  {paymentsv1.IntentState_INTENT_STATE_REFUNDED},
	paymentsv1.IntentState_INTENT_STATE_REFUNDED:  {paymentsv1.IntentState_INTENT_STATE_REFUNDED},
	// Escrow: held until the condition (RELEASED) or the time lock (REFUNDED).
	paymentsv1.IntentState_INTENT_STATE_HELD:     {paymentsv1.IntentState_INTENT_STATE_RELEASED, paymentsv1.IntentState_INTENT_STATE_REFUNDED},
	paymentsv1.IntentState_INTENT_STATE_RELEASED: {paymentsv1.IntentState_INTENT_STATE_REFUNDED},
}

// Allowed reports whether an intent in state from may move to state to.
func Allowed(from, to paymentsv1.IntentState) bool {
	for _, s := range next[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether no transition leaves state.
func Terminal(state paymentsv1.IntentState) bool { return len(next[state]) == 0 }

// transition returns the intent cur after a move to state at time at: version + 1, a new
// event id, previous_state set and the per-transition fields cleared. cur is not
// modified. It returns an error when the move is not allowed.
func transition(cur *paymentsv1.IntentTransition, state paymentsv1.IntentState, at time.Time) (*paymentsv1.IntentTransition, error) {
	if !Allowed(cur.GetState(), state) {
		return nil, fmt.Errorf("%w: %s cannot become %s", ErrTransition, Status(cur.GetState()), Status(state))
	}
	n := cloneIntent(cur)
	n.Version = cur.GetVersion() + 1
	n.PreviousState = cur.GetState()
	n.State = state
	n.Meta = &commonv1.Meta{
		EventId:   eventid.New(intentKind, n.GetIntentId(), fmt.Sprint(n.GetVersion())),
		EventTime: timestamppb.New(at),
		Source:    source,
	}
	n.CauseEventId, n.RequestId, n.FailureCode, n.FailureMessage = "", "", "", ""
	return n, nil
}

// reconState is the state a reconciliation result moves an intent in state cur to, and
// whether it moves it at all. A result that is not final (its transfers may still be
// reorged away) makes a payment PROCESSING; a final one settles it.
//
// An escrowed intent paid in full becomes HELD rather than SUCCEEDED or OVERPAID.
func reconState(cur paymentsv1.IntentState, escrowed bool, r *reconciliationv1.ReconciliationResult) (paymentsv1.IntentState, bool) {
	var to paymentsv1.IntentState
	switch r.GetStatus() {
	case reconciliationv1.ReconStatus_RECON_STATUS_MATCHED:
		to = paymentsv1.IntentState_INTENT_STATE_SUCCEEDED
	case reconciliationv1.ReconStatus_RECON_STATUS_UNDERPAID:
		to = paymentsv1.IntentState_INTENT_STATE_UNDERPAID
	case reconciliationv1.ReconStatus_RECON_STATUS_OVERPAID:
		to = paymentsv1.IntentState_INTENT_STATE_OVERPAID
	case reconciliationv1.ReconStatus_RECON_STATUS_MISSING:
		to = paymentsv1.IntentState_INTENT_STATE_EXPIRED
	case reconciliationv1.ReconStatus_RECON_STATUS_RETRACTED:
		to = paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT
	default: // UNEXPECTED and WRONG_ASSET concern no intent's amount
		return cur, false
	}
	if escrowed && (to == paymentsv1.IntentState_INTENT_STATE_SUCCEEDED || to == paymentsv1.IntentState_INTENT_STATE_OVERPAID) {
		to = paymentsv1.IntentState_INTENT_STATE_HELD // paid in full: held until the condition
	}
	if !r.GetFinal() && to != paymentsv1.IntentState_INTENT_STATE_EXPIRED &&
		to != paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT {
		to = paymentsv1.IntentState_INTENT_STATE_PROCESSING
	}
	if to == cur || !Allowed(cur, to) {
		return cur, false
	}
	return to, true
}

// applyRecon returns the transition that reconciliation result r makes of intent cur, or
// nil when r changes nothing (a stale, repeated or irrelevant result).
func applyRecon(cur *paymentsv1.IntentTransition, r *reconciliationv1.ReconciliationResult, reconEventID string, at time.Time) *paymentsv1.IntentTransition {
	to, ok := reconState(cur.GetState(), cur.GetEscrow() != nil, r)
	if !ok {
		return nil
	}
	n, err := transition(cur, to, at)
	if err != nil {
		return nil
	}
	n.CauseEventId = reconEventID
	if rec := r.GetReceived(); rec != nil && rec.GetAsset() == cur.GetAmount().GetAsset() {
		n.AmountReceived = &commonv1.Amount{Value: rec.GetValue(), Asset: rec.GetAsset(), Decimals: rec.GetDecimals()}
	}
	if to == paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT {
		n.AmountReceived = &commonv1.Amount{Value: "0", Asset: cur.GetAmount().GetAsset(), Decimals: cur.GetAmount().GetDecimals()}
		n.TransactionHashes = nil
	}
	if to == paymentsv1.IntentState_INTENT_STATE_EXPIRED {
		n.FailureCode, n.FailureMessage = "expired", "the intent expired before it was paid in full"
	}
	return n
}

func cloneIntent(it *paymentsv1.IntentTransition) *paymentsv1.IntentTransition {
	return proto.Clone(it).(*paymentsv1.IntentTransition)
}
