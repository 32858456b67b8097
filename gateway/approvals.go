package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/gateway/apikey"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	settlementv1 "github.com/weirhq/weir/schemas/gen/weir/settlement/v1"
)

// Topic names (before Options.TopicPrefix) of the approvals feature.
const (
	// TopicApprovals holds approval requests (weir.payments.v1.ApprovalRequest, keyed by
	// merchant id), every version.
	TopicApprovals = "payments.approvals"
	// TopicPayouts holds payouts (weir.settlement.v1.Payout, keyed by merchant id); the
	// gateway's are INITIATED with batch id "manual:<payout or approval id>".
	TopicPayouts = "settlement.payouts"
)

const (
	approvalKind = "weir.payments.v1.ApprovalRequest"
	payoutKind   = "weir.settlement.v1.Payout"
	// approvalTTL is how long an approval request waits for its approvals.
	approvalTTL = 72 * time.Hour
	// manualBatch prefixes the batch id of the gateway's payouts.
	manualBatch = "manual:"
)

// approvalRoutes registers the refund, payout and approval routes, hooks and loops.
//
// A merchant (with its own secret key) makes users, each with a secret key of its own
// (ApiKey.user_id), and sets an approval policy: a threshold and N. A refund or payout at
// or below the threshold is done at once; one above it becomes an approval request on
// payments.approvals, which N distinct approvers (users, not the requester) approve
// with their keys. The request that brings the N-th approval executes the action and
// marks the request EXECUTED, under the request's lock; a tick executes APPROVED
// requests whose executor died and expires PENDING ones.
func (s *Server) approvalRoutes() {
	s.mux.HandleFunc("POST /v1/users", s.authed(apikey.Secret, s.createUser))
	s.mux.HandleFunc("POST /v1/approval_policy", s.authed(apikey.Secret, s.setApprovalPolicy))
	s.mux.HandleFunc("POST /v1/payment_intents/{id}/refunds", s.authed(apikey.Secret, s.createRefund))
	s.mux.HandleFunc("POST /v1/payouts", s.authed(apikey.Secret, s.createPayout))
	s.mux.HandleFunc("GET /v1/approvals/{id}", s.authed(apikey.Secret, s.getApproval))
	s.mux.HandleFunc("POST /v1/approvals/{id}/approve", s.authed(apikey.Secret, s.decideApproval(true)))
	s.mux.HandleFunc("POST /v1/approvals/{id}/reject", s.authed(apikey.Secret, s.decideApproval(false)))
	s.projections[TopicApprovals] = s.projectApproval
	s.projections[TopicPayouts] = s.projectPayout
	s.background = append(s.background, s.afterProjection(s.runApprovalTicks))
}

// callerKey returns the API key the request was authenticated with (by authed).
func callerKey(r *http.Request, m *paymentsv1.MerchantConfig) *paymentsv1.ApiKey {
	plain, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	_, id, err := apikey.Parse(strings.TrimSpace(plain))
	if err != nil {
		return nil
	}
	for _, k := range m.GetApiKeys() {
		if k.GetKeyId() == id {
			return k
		}
	}
	return nil
}

// actor names who made a request: the user of a user key, else "key:<key id>".
func actor(k *paymentsv1.ApiKey) string {
	if k.GetUserId() != "" {
		return k.GetUserId()
	}
	return "key:" + k.GetKeyId()
}

func forbidden(code, msg string) *APIError {
	return &APIError{Status: http.StatusForbidden, Type: typePermission, Code: code, Message: msg}
}

func conflict(code, msg string) *APIError {
	return &APIError{Status: http.StatusConflict, Type: typeInvalidRequest, Code: code, Message: msg}
}

// changeError turns an Admin.change failure into an APIError.
func changeError(err error) *APIError {
	var ae *APIError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, ErrBusy):
		return unavailable("merchant_busy")
	}
	return unavailable("kafka_unavailable")
}

// planError turns a PlanIdempotent failure into an APIError.
func planError(err error) *APIError {
	if errors.Is(err, ErrPlanTaken) {
		return &APIError{Status: http.StatusConflict, Type: typeIdempotency, Code: "idempotency_key_in_use",
			Message: "a retry with this Idempotency-Key took over this request", Param: "Idempotency-Key"}
	}
	return unavailable("store_unavailable")
}

// errUnchanged stops an Admin.change that has nothing to do.
var errUnchanged = errors.New("gateway: unchanged")

// createUser handles POST /v1/users (the merchant's own keys only).
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req CreateUserRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	if aerr := req.validate(); aerr != nil {
		fail(w, r, aerr)
		return
	}
	if callerKey(r, m).GetUserId() != "" {
		fail(w, r, forbidden("owner_key_required", "users are made with the merchant's own secret key, not a user's"))
		return
	}
	ctx := r.Context()
	s.idem(w, r, m, body, func(planned []byte, plan func([]byte) error) (int, any, *APIError) {
		id := string(planned)
		if id == "" {
			id = newID("u_")
			if err := plan([]byte(id)); err != nil {
				return 0, nil, planError(err)
			}
		}
		var plain string
		_, err := s.admin.change(ctx, m.GetMerchantId(), func(c *paymentsv1.MerchantConfig, now time.Time) error {
			if findUser(c, id) != nil {
				return errUnchanged // made before a crash; its key was shown then
			}
			k, p, err := newAPIKey(apikey.Secret, now)
			if err != nil {
				return err
			}
			k.UserId = id
			c.Users = append(c.Users, &paymentsv1.MerchantUser{UserId: id, Name: req.Name, Approver: req.Approver})
			c.ApiKeys = append(c.ApiKeys, k)
			plain = p
			return nil
		})
		if err != nil && !errors.Is(err, errUnchanged) {
			s.o.Logger.Error("user not made", "request_id", requestID(r), "err", err)
			return 0, nil, changeError(err)
		}
		return http.StatusCreated, User{ID: id, Object: "user", Name: req.Name, Approver: req.Approver, SecretKey: plain}, nil
	})
}

// setApprovalPolicy handles POST /v1/approval_policy (the merchant's own keys only).
func (s *Server) setApprovalPolicy(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req ApprovalPolicyRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	p, aerr := req.validate(s.o.Assets)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	if callerKey(r, m).GetUserId() != "" {
		fail(w, r, forbidden("owner_key_required", "the approval policy is set with the merchant's own secret key, not a user's"))
		return
	}
	ctx := r.Context()
	s.idem(w, r, m, body, func([]byte, func([]byte) error) (int, any, *APIError) {
		c, err := s.admin.change(ctx, m.GetMerchantId(), func(c *paymentsv1.MerchantConfig, _ time.Time) error {
			if n := approvers(c); int(p.n) > n {
				return invalid("approvals_required", "approvals_required_too_many",
					fmt.Sprintf("approvals_required is %d but the merchant has %d approvers", p.n, n))
			}
			c.ApprovalThreshold, c.ApprovalsRequired = p.threshold, p.n
			if p.payoutAddress != nil {
				c.PayoutAddress = *p.payoutAddress
			}
			return nil
		})
		if err != nil {
			return 0, nil, changeError(err)
		}
		return http.StatusOK, ApprovalPolicy{Object: "approval_policy", Threshold: c.GetApprovalThreshold().GetValue(),
			Asset: c.GetApprovalThreshold().GetAsset(), Decimals: c.GetApprovalThreshold().GetDecimals(),
			ApprovalsRequired: c.GetApprovalsRequired(), Approvers: approvers(c), PayoutAddress: c.GetPayoutAddress()}, nil
	})
}

// refundable reports whether a refund may be made of it: a paid plain intent, or a
// released escrow (a held one is refunded by its time lock only).
func refundable(it *paymentsv1.IntentTransition) bool {
	switch it.GetState() {
	case paymentsv1.IntentState_INTENT_STATE_SUCCEEDED, paymentsv1.IntentState_INTENT_STATE_OVERPAID,
		paymentsv1.IntentState_INTENT_STATE_RELEASED, paymentsv1.IntentState_INTENT_STATE_REFUNDED:
		return true
	}
	return false
}

// refundedAfter returns the transition refunding amount of cur as refund id, at now.
func refundedAfter(cur *paymentsv1.IntentTransition, id string, amount *big.Int, now time.Time) (*paymentsv1.IntentTransition, error) {
	n, err := transition(cur, paymentsv1.IntentState_INTENT_STATE_REFUNDED, now)
	if err != nil {
		return nil, err
	}
	total := new(big.Int).Add(amountInt(cur.GetAmountRefunded()), amount)
	n.RefundId = id
	n.AmountRefunded = &commonv1.Amount{Value: total.String(), Asset: cur.GetAmount().GetAsset(), Decimals: cur.GetAmount().GetDecimals()}
	return n, nil
}

// createRefund handles POST /v1/payment_intents/{id}/refunds.
func (s *Server) createRefund(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req CreateRefundRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	value, aerr := parseAmount(req.Amount)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	who := actor(callerKey(r, m))
	id := r.PathValue("id")
	ctx := r.Context()
	s.idem(w, r, m, body, func(planned []byte, plan func([]byte) error) (int, any, *APIError) {
		cfg, err := s.o.Store.Merchant(ctx, m.GetMerchantId())
		if err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		unlock, err := s.o.Store.Lock(ctx, id, lockTTL, lockWait)
		if err != nil {
			return 0, nil, unavailable("intent_busy")
		}
		defer unlock()
		cur, err := s.o.Store.Intent(ctx, id)
		if errors.Is(err, ErrNotFound) || (err == nil && cur.GetMerchantId() != m.GetMerchantId()) {
			return 0, nil, &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "intent_unknown", Message: "no such payment intent", Param: "id"}
		}
		if err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		amount := &commonv1.Amount{Value: value, Asset: cur.GetAmount().GetAsset(), Decimals: cur.GetAmount().GetDecimals()}
		view := Refund{Object: "refund", Status: "succeeded", Amount: value, Asset: amount.GetAsset(), Decimals: amount.GetDecimals(), PaymentIntent: id}
		// A retry of a request that died after producing.
		switch p := string(planned); {
		case strings.HasPrefix(p, "re_"):
			if done, err := s.o.Store.refunded(ctx, id, p); err == nil && (done || cur.GetRefundId() == p) {
				view.ID = p
				return http.StatusCreated, view, nil
			}
		case strings.HasPrefix(p, "apr_"):
			if a, err := s.o.Store.Approval(ctx, p); err == nil {
				av := approvalView(a)
				view.ID, view.Status, view.Approval = resultID(a), "pending_approval", &av
				return http.StatusAccepted, view, nil
			}
		}
		if !refundable(cur) {
			return 0, nil, conflict("intent_unexpected_state", fmt.Sprintf("a %s payment intent cannot be refunded", Status(cur.GetState())))
		}
		reserved, err := s.o.Store.reserved(ctx, id)
		if err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		left := new(big.Int).Sub(amountInt(cur.GetAmountReceived()), amountInt(cur.GetAmountRefunded()))
		left.Sub(left, reserved)
		if amountInt(amount).Cmp(left) > 0 {
			if left.Sign() < 0 {
				left.SetInt64(0)
			}
			return 0, nil, invalid("amount", "amount_exceeds_refundable",
				fmt.Sprintf("amount exceeds what can be refunded (%s base units: received, less refunded and refunds awaiting approval)", left))
		}
		now := s.o.Now()
		if needsApproval(cfg, amount) {
			aid := string(planned)
			if !strings.HasPrefix(aid, "apr_") {
				aid = newID("apr_")
				if err := plan([]byte(aid)); err != nil {
					return 0, nil, planError(err)
				}
			}
			a := newApproval(aid, cfg, paymentsv1.ApprovalAction_APPROVAL_ACTION_REFUND, amount, who, now)
			a.IntentId = id
			if err := s.publishApproval(ctx, a); err != nil {
				s.o.Logger.Error("produce failed", "request_id", requestID(r), "err", err)
				return 0, nil, unavailable("kafka_unavailable")
			}
			av := approvalView(a)
			view.ID, view.Status, view.Approval = resultID(a), "pending_approval", &av
			return http.StatusAccepted, view, nil
		}
		rid := string(planned)
		if !strings.HasPrefix(rid, "re_") {
			rid = newID("re_")
			if err := plan([]byte(rid)); err != nil {
				return 0, nil, planError(err)
			}
		}
		n, err := refundedAfter(cur, rid, amountInt(amount), now)
		if err != nil {
			return 0, nil, conflict("intent_unexpected_state", fmt.Sprintf("a %s payment intent cannot be refunded", Status(cur.GetState())))
		}
		n.RequestId = requestID(r)
		if err := s.commitIntent(ctx, n); err != nil {
			s.o.Logger.Error("produce failed", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		view.ID = rid
		return http.StatusCreated, view, nil
	})
}

// createPayout handles POST /v1/payouts.
func (s *Server) createPayout(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req CreatePayoutRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	c, aerr := req.validate(s.o.Assets)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	who := actor(callerKey(r, m))
	ctx := r.Context()
	s.idem(w, r, m, body, func(planned []byte, plan func([]byte) error) (int, any, *APIError) {
		cfg, err := s.o.Store.Merchant(ctx, m.GetMerchantId())
		if err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		dest := c.destination
		if dest == "" {
			dest = cfg.GetPayoutAddress()
		}
		if dest == "" {
			return 0, nil, invalid("destination", "parameter_missing", "destination is required: the merchant has no payout_address")
		}
		view := Payout{Object: "payout", Status: "initiated", Amount: c.amount.GetValue(), Asset: c.amount.GetAsset(),
			Decimals: c.amount.GetDecimals(), ChainID: c.chainID, Destination: dest}
		now := s.o.Now()
		suffix, review, aerr := s.payoutRisk(ctx, cfg, planned, dest, c.chainID, now)
		if aerr != nil {
			return 0, nil, aerr
		}
		if needsApproval(cfg, c.amount) || review || strings.HasPrefix(string(planned), "apr_") {
			aid := string(planned)
			if aid == "" {
				aid = "apr_" + suffix
				if err := plan([]byte(aid)); err != nil {
					return 0, nil, planError(err)
				}
			}
			a, err := s.o.Store.Approval(ctx, aid)
			if err != nil {
				a = newApproval(aid, cfg, paymentsv1.ApprovalAction_APPROVAL_ACTION_PAYOUT, c.amount, who, now)
				a.Destination, a.ChainId = dest, c.chainID
				if err := s.publishApproval(ctx, a); err != nil {
					s.o.Logger.Error("produce failed", "request_id", requestID(r), "err", err)
					return 0, nil, unavailable("kafka_unavailable")
				}
			}
			av := approvalView(a)
			view.ID, view.Status, view.Approval = resultID(a), "pending_approval", &av
			return http.StatusAccepted, view, nil
		}
		pid := string(planned)
		if pid == "" {
			pid = "po_" + suffix
			if err := plan([]byte(pid)); err != nil {
				return 0, nil, planError(err)
			}
		}
		p := newPayout(pid, manualBatch+pid, m.GetMerchantId(), c.amount, dest, c.chainID, now)
		view.ID, view.BatchID = pid, p.GetBatchId()
		if done, err := s.o.Store.payoutProduced(ctx, pid); err == nil && done {
			return http.StatusCreated, view, nil // produced before a crash
		}
		if err := s.producePayout(ctx, p); err != nil {
			s.o.Logger.Error("produce failed", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		return http.StatusCreated, view, nil
	})
}

// getApproval handles GET /v1/approvals/{id}.
func (s *Server) getApproval(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	a, err := s.o.Store.Approval(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) || (err == nil && a.GetMerchantId() != m.GetMerchantId()) {
		fail(w, r, approvalUnknown())
		return
	}
	if err != nil {
		s.internal(w, r, "store_unavailable", err)
		return
	}
	writeJSON(w, http.StatusOK, approvalView(a))
}

func approvalUnknown() *APIError {
	return &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "approval_unknown", Message: "no such approval request", Param: "id"}
}

// decideApproval handles POST /v1/approvals/{id}/approve and /reject, with a user's key.
func (s *Server) decideApproval(approve bool) handler {
	return func(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
		body, aerr := readBody(r, s.o.MaxBody)
		if aerr != nil {
			fail(w, r, aerr)
			return
		}
		if len(bytes.TrimSpace(body)) > 0 {
			var none struct{}
			if aerr := decodeJSON(body, &none); aerr != nil {
				fail(w, r, aerr)
				return
			}
		}
		user := callerKey(r, m).GetUserId()
		if user == "" {
			fail(w, r, forbidden("user_key_required", "approvals are decided with a merchant user's key, not the merchant's own"))
			return
		}
		id := r.PathValue("id")
		ctx := r.Context()
		s.idem(w, r, m, body, func([]byte, func([]byte) error) (int, any, *APIError) {
			cfg, err := s.o.Store.Merchant(ctx, m.GetMerchantId())
			if err != nil {
				return 0, nil, unavailable("store_unavailable")
			}
			if u := findUser(cfg, user); u == nil || !u.GetApprover() {
				return 0, nil, forbidden("approver_required", "this user may not approve or reject")
			}
			unlock, err := s.o.Store.Lock(ctx, "approval:"+id, lockTTL, lockWait)
			if err != nil {
				return 0, nil, unavailable("approval_busy")
			}
			defer unlock()
			a, err := s.o.Store.Approval(ctx, id)
			if errors.Is(err, ErrNotFound) || (err == nil && a.GetMerchantId() != m.GetMerchantId()) {
				return 0, nil, approvalUnknown()
			}
			if err != nil {
				return 0, nil, unavailable("store_unavailable")
			}
			now := s.o.Now()
			if a.GetState() == paymentsv1.ApprovalState_APPROVAL_STATE_PENDING && !now.Before(a.GetExpiresTime().AsTime()) {
				if err := s.publishApproval(ctx, nextApproval(a, paymentsv1.ApprovalState_APPROVAL_STATE_EXPIRED, now)); err != nil {
					return 0, nil, unavailable("kafka_unavailable")
				}
				return 0, nil, conflict("approval_expired", "the approval request expired")
			}
			if approve {
				return s.approve(ctx, a, user, now)
			}
			return s.reject(ctx, a, user, now)
		})
	}
}

// approve adds user's approval to a, and executes a when it has enough. The caller holds
// a's lock.
func (s *Server) approve(ctx context.Context, a *paymentsv1.ApprovalRequest, user string, now time.Time) (int, any, *APIError) {
	switch a.GetState() {
	case paymentsv1.ApprovalState_APPROVAL_STATE_PENDING:
		if a.GetRequestedBy() == user {
			return 0, nil, forbidden("self_approval_forbidden", "the requester of an approval request cannot approve it")
		}
		if slices.Contains(a.GetApprovedBy(), user) {
			return http.StatusOK, approvalView(a), nil // each user counts once
		}
		n := nextApproval(a, paymentsv1.ApprovalState_APPROVAL_STATE_PENDING, now)
		n.ApprovedBy = append(slices.Clone(a.GetApprovedBy()), user)
		if len(n.ApprovedBy) >= int(n.GetApprovalsRequired()) {
			n.State = paymentsv1.ApprovalState_APPROVAL_STATE_APPROVED
		}
		if err := s.publishApproval(ctx, n); err != nil {
			return 0, nil, unavailable("kafka_unavailable")
		}
		a = n
	case paymentsv1.ApprovalState_APPROVAL_STATE_APPROVED, paymentsv1.ApprovalState_APPROVAL_STATE_EXECUTED:
		if !slices.Contains(a.GetApprovedBy(), user) {
			return 0, nil, conflict("approval_not_pending", "the approval request has its approvals already")
		}
	default:
		return 0, nil, conflict("approval_not_pending", fmt.Sprintf("the approval request is %s", approvalView(a).Status))
	}
	if a.GetState() == paymentsv1.ApprovalState_APPROVAL_STATE_APPROVED {
		done, err := s.execute(ctx, a, now)
		if err != nil {
			s.o.Logger.Error("approved request not executed; the tick will", "approval", a.GetApprovalId(), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		a = done
	}
	return http.StatusOK, approvalView(a), nil
}

// reject rejects a on user's behalf. The caller holds a's lock.
func (s *Server) reject(ctx context.Context, a *paymentsv1.ApprovalRequest, user string, now time.Time) (int, any, *APIError) {
	switch a.GetState() {
	case paymentsv1.ApprovalState_APPROVAL_STATE_PENDING:
		n := nextApproval(a, paymentsv1.ApprovalState_APPROVAL_STATE_REJECTED, now)
		n.RejectedBy = user
		if err := s.publishApproval(ctx, n); err != nil {
			return 0, nil, unavailable("kafka_unavailable")
		}
		return http.StatusOK, approvalView(n), nil
	case paymentsv1.ApprovalState_APPROVAL_STATE_REJECTED:
		if a.GetRejectedBy() == user {
			return http.StatusOK, approvalView(a), nil
		}
	}
	return 0, nil, conflict("approval_not_pending", fmt.Sprintf("the approval request is %s", approvalView(a).Status))
}

// resultID is the id of the refund or payout an approval request makes: "re_" or "po_"
// and the request's own id, so that executing it again cannot make a second one.
func resultID(a *paymentsv1.ApprovalRequest) string {
	suffix := strings.TrimPrefix(a.GetApprovalId(), "apr_")
	if a.GetAction() == paymentsv1.ApprovalAction_APPROVAL_ACTION_REFUND {
		return "re_" + suffix
	}
	return "po_" + suffix
}

// execute does what the APPROVED request a asks, unless it was done already (the refund
// id is among the intent's refunds; the payout was produced), then marks a EXECUTED. The
// caller holds a's lock, so one execution runs at a time.
func (s *Server) execute(ctx context.Context, a *paymentsv1.ApprovalRequest, now time.Time) (*paymentsv1.ApprovalRequest, error) {
	rid := resultID(a)
	switch a.GetAction() {
	case paymentsv1.ApprovalAction_APPROVAL_ACTION_REFUND:
		err := s.withIntent(ctx, a.GetIntentId(), func(cur *paymentsv1.IntentTransition) error {
			done, err := s.o.Store.refunded(ctx, cur.GetIntentId(), rid)
			if err != nil || done || cur.GetRefundId() == rid {
				return err
			}
			left := new(big.Int).Sub(amountInt(cur.GetAmountReceived()), amountInt(cur.GetAmountRefunded()))
			if !refundable(cur) || amountInt(a.GetAmount()).Cmp(left) > 0 {
				return fmt.Errorf("gateway: intent %s can no longer be refunded %s", cur.GetIntentId(), a.GetAmount().GetValue())
			}
			n, err := refundedAfter(cur, rid, amountInt(a.GetAmount()), now)
			if err != nil {
				return err
			}
			n.CauseEventId = a.GetMeta().GetEventId()
			return s.commitIntent(ctx, n)
		})
		if err != nil {
			return nil, err
		}
	case paymentsv1.ApprovalAction_APPROVAL_ACTION_PAYOUT:
		done, err := s.o.Store.payoutProduced(ctx, rid)
		if err != nil {
			return nil, err
		}
		if !done {
			p := newPayout(rid, manualBatch+a.GetApprovalId(), a.GetMerchantId(), a.GetAmount(), a.GetDestination(), a.GetChainId(), now)
			if err := s.producePayout(ctx, p); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("gateway: approval %s has no action", a.GetApprovalId())
	}
	n := nextApproval(a, paymentsv1.ApprovalState_APPROVAL_STATE_EXECUTED, now)
	n.ResultId = rid
	if err := s.publishApproval(ctx, n); err != nil {
		return nil, err
	}
	return n, nil
}

// newApproval is version 1 (PENDING) of an approval request under m's policy.
func newApproval(id string, m *paymentsv1.MerchantConfig, action paymentsv1.ApprovalAction, amount *commonv1.Amount, who string, now time.Time) *paymentsv1.ApprovalRequest {
	return &paymentsv1.ApprovalRequest{
		Meta:              &commonv1.Meta{EventId: eventid.New(approvalKind, id, "1"), EventTime: timestamppb.New(now), Source: source},
		ApprovalId:        id,
		MerchantId:        m.GetMerchantId(),
		Version:           1,
		Action:            action,
		State:             paymentsv1.ApprovalState_APPROVAL_STATE_PENDING,
		Amount:            amount,
		RequestedBy:       who,
		ApprovalsRequired: max(m.GetApprovalsRequired(), 1),
		ExpiresTime:       timestamppb.New(now.Add(approvalTTL)),
	}
}

// nextApproval is the next version of a, in state.
func nextApproval(a *paymentsv1.ApprovalRequest, state paymentsv1.ApprovalState, now time.Time) *paymentsv1.ApprovalRequest {
	n := proto.Clone(a).(*paymentsv1.ApprovalRequest)
	n.Version = a.GetVersion() + 1
	n.State = state
	n.Meta = &commonv1.Meta{EventId: eventid.New(approvalKind, n.GetApprovalId(), fmt.Sprint(n.GetVersion())),
		EventTime: timestamppb.New(now), Source: source}
	return n
}

// publishApproval produces a to payments.approvals and stores it.
func (s *Server) publishApproval(ctx context.Context, a *paymentsv1.ApprovalRequest) error {
	b, err := proto.Marshal(a)
	if err != nil {
		return fmt.Errorf("gateway: encode approval: %w", err)
	}
	rec := &kgo.Record{Topic: s.o.TopicPrefix + TopicApprovals, Key: []byte(a.GetMerchantId()), Value: b}
	if err := s.o.Client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("gateway: produce approval %s: %w", a.GetApprovalId(), err)
	}
	if _, err := s.o.Store.ApplyApproval(context.WithoutCancel(ctx), a); err != nil {
		s.o.Logger.Warn("approval not projected; the projector will", "approval", a.GetApprovalId(), "err", err)
	}
	return nil
}

// newPayout is an INITIATED on-chain payout.
func newPayout(id, batch, merchant string, amount *commonv1.Amount, dest string, chain uint64, now time.Time) *settlementv1.Payout {
	return &settlementv1.Payout{
		Meta:        &commonv1.Meta{EventId: eventid.New(payoutKind, id, "1"), EventTime: timestamppb.New(now), Source: source},
		PayoutId:    id,
		BatchId:     batch,
		MerchantId:  merchant,
		Version:     1,
		Status:      settlementv1.PayoutStatus_PAYOUT_STATUS_INITIATED,
		Amount:      amount,
		Rail:        settlementv1.PayoutRail_PAYOUT_RAIL_ONCHAIN,
		Destination: dest,
		ChainId:     chain,
	}
}

// producePayout produces p to settlement.payouts and remembers that it did.
func (s *Server) producePayout(ctx context.Context, p *settlementv1.Payout) error {
	b, err := proto.Marshal(p)
	if err != nil {
		return fmt.Errorf("gateway: encode payout: %w", err)
	}
	rec := &kgo.Record{Topic: s.o.TopicPrefix + TopicPayouts, Key: []byte(p.GetMerchantId()), Value: b}
	if err := s.o.Client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("gateway: produce payout %s: %w", p.GetPayoutId(), err)
	}
	if err := s.o.Store.markPayout(context.WithoutCancel(ctx), p.GetPayoutId()); err != nil {
		s.o.Logger.Warn("payout not remembered; the projector will", "payout", p.GetPayoutId(), "err", err)
	}
	return nil
}

// projectApproval stores an approval request of payments.approvals.
func (s *Server) projectApproval(ctx context.Context, value []byte) error {
	a := new(paymentsv1.ApprovalRequest)
	if err := proto.Unmarshal(value, a); err != nil || a.GetApprovalId() == "" {
		return nil
	}
	_, err := s.o.Store.ApplyApproval(ctx, a)
	return err
}

// projectPayout remembers the gateway's own payouts of settlement.payouts.
func (s *Server) projectPayout(ctx context.Context, value []byte) error {
	p := new(settlementv1.Payout)
	if err := proto.Unmarshal(value, p); err != nil || !strings.HasPrefix(p.GetBatchId(), manualBatch) {
		return nil
	}
	return s.o.Store.markPayout(ctx, p.GetPayoutId())
}

// runApprovalTicks expires and finishes approval requests every escrowTick.
func (s *Server) runApprovalTicks(ctx context.Context) error {
	t := time.NewTicker(escrowTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := s.expireApprovals(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("approval expiry not checked; retrying", "err", err)
		}
		if _, err := s.finishApprovals(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("approved requests not executed; retrying", "err", err)
		}
	}
}

// withApproval runs f with the stored approval id under its lock.
func (s *Server) withApproval(ctx context.Context, id string, f func(a *paymentsv1.ApprovalRequest) error) error {
	unlock, err := s.o.Store.Lock(ctx, "approval:"+id, lockTTL, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	a, err := s.o.Store.Approval(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return f(a)
}

// expireApprovals marks EXPIRED the PENDING requests whose expiry is at or before
// Options.Now, and returns how many.
func (s *Server) expireApprovals(ctx context.Context) (int, error) {
	now := s.o.Now()
	ids, err := s.o.Store.dueApprovals(ctx, now, escrowBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		err := s.withApproval(ctx, id, func(a *paymentsv1.ApprovalRequest) error {
			if a.GetState() != paymentsv1.ApprovalState_APPROVAL_STATE_PENDING || now.Before(a.GetExpiresTime().AsTime()) {
				return nil
			}
			n++
			return s.publishApproval(ctx, nextApproval(a, paymentsv1.ApprovalState_APPROVAL_STATE_EXPIRED, now))
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// finishApprovals executes APPROVED requests (whose executor died before marking them
// EXECUTED), and returns how many.
func (s *Server) finishApprovals(ctx context.Context) (int, error) {
	ids, err := s.o.Store.approvedApprovals(ctx, escrowBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		err := s.withApproval(ctx, id, func(a *paymentsv1.ApprovalRequest) error {
			if a.GetState() != paymentsv1.ApprovalState_APPROVAL_STATE_APPROVED {
				return nil
			}
			n++
			_, err := s.execute(ctx, a, s.o.Now())
			return err
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
