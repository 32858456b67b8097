package signer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/weirhq/weir/schemas/eventid"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer/policy"
	"github.com/weirhq/weir/signer/txsign"
)

// Statuses of a signing request held for approvals (RequestStatus.Status).
const (
	// StatusPendingApprovals: fewer valid approvals than the rule requires, and the
	// approval window is open.
	StatusPendingApprovals = "pending_approvals"
	// StatusApproved: the quorum is reached but signing has not succeeded yet (it is
	// tried again by the next approval, sign retry or GET).
	StatusApproved = "approved"
	// StatusSigned: signed, once; RequestStatus.Transaction is the answer.
	StatusSigned = "signed"
	// StatusRejected: an approver rejected the request.
	StatusRejected = "rejected"
	// StatusExpired: the approval window closed without the quorum.
	StatusExpired = "expired"
)

// MaxHeldRequests bounds the requests held for approvals at once; a request that would
// be held beyond it is refused (503 too_many_pending). Finished ones (signed, rejected,
// expired) are forgotten HeldRetention after their approval window closes.
const (
	MaxHeldRequests = 10_000
	HeldRetention   = 24 * time.Hour
)

// ApprovalRequest is the body of POST /v1/requests/{id}/approvals. The approver is the
// operator whose bearer token authenticates the call: its operator id must be in the
// deciding rule's approvers and may not be the requester's.
type ApprovalRequest struct {
	// Decision is "approved" or "rejected". Required.
	Decision string `json:"decision"`
	// RequestHash is the request's hash as the held answer and GET show it (the
	// SHA-256 of the request's canonical JSON): the approval is for exactly that
	// request. Required.
	RequestHash string `json:"request_hash"`
	// Reason is a short free-text explanation for the trail; no secrets.
	Reason string `json:"reason,omitempty"`
}

// ApprovalJSON is one accepted decision as the API shows it.
type ApprovalJSON struct {
	Approver string    `json:"approver"`
	Decision string    `json:"decision"`
	Time     time.Time `json:"time"`
}

// RequestStatus is a request held for approvals: the 202 answer of
// POST /v1/sign/transaction, and the answer of POST /v1/requests/{id}/approvals and
// GET /v1/requests/{id}.
type RequestStatus struct {
	RequestID         string         `json:"request_id"`
	Status            string         `json:"status"`
	RequestHash       string         `json:"request_hash"`
	KeyID             string         `json:"key_id"`
	Requester         string         `json:"requester"`
	ApprovalsRequired int            `json:"approvals_required"`
	ApprovalsValid    int            `json:"approvals_valid"`
	Approvers         []string       `json:"approvers"`
	Approvals         []ApprovalJSON `json:"approvals"`
	ApprovalExpiry    string         `json:"approval_expiry"`
	Policy            string         `json:"policy"`
	Rule              string         `json:"rule"`
	Reasons           []string       `json:"reasons,omitempty"`
	// Transaction is the signed transaction once Status is signed.
	Transaction *TxResponse `json:"transaction,omitempty"`
	// Error is the last signing failure while Status is approved.
	Error string `json:"error,omitempty"`
}

// heldRequest is a signing request held for approvals; mu serialises everything done
// to it, so that the quorum signs exactly once.
type heldRequest struct {
	mu        sync.Mutex
	p         *parsedTx
	preq      policy.Request
	d         policy.Decision
	res       string
	requester caller
	approvals *policy.Approvals
	accepted  []policy.Approval
	status    string
	tx        *TxResponse
	lastErr   string
}

// heldRequests are the requests held for approvals, by request id, in memory; each is
// also kept in the RequestLog (heldEntry, synced at every change) and read back from it
// on first use after a restart. PruneHeld forgets finished ones.
type heldRequests struct {
	mu sync.Mutex
	m  map[string]*heldRequest
}

// put adds h under id unless a request is held there already, which it returns.
func (hs *heldRequests) put(id string, h *heldRequest, now time.Time) (existing *heldRequest, err error) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.m == nil {
		hs.m = map[string]*heldRequest{}
	}
	if e := hs.m[id]; e != nil {
		return e, nil
	}
	if len(hs.m) >= MaxHeldRequests {
		for k, e := range hs.m {
			if now.Sub(e.d.ApprovalExpiry) > HeldRetention {
				delete(hs.m, k)
			}
		}
		if len(hs.m) >= MaxHeldRequests {
			return nil, &badRequest{status: http.StatusServiceUnavailable, code: "too_many_pending",
				msg: fmt.Sprintf("%d requests are already held for approvals", len(hs.m))}
		}
	}
	hs.m[id] = h
	return nil, nil
}

func (hs *heldRequests) get(id string) *heldRequest {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.m[id]
}

func (hs *heldRequests) drop(id string, h *heldRequest) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.m[id] == h {
		delete(hs.m, id)
	}
}

// statusLocked is h as the API shows it; the caller holds h.mu.
func (s *Server) statusLocked(h *heldRequest) RequestStatus {
	_, valid := h.approvals.Status(s.o.Now())
	st := RequestStatus{RequestID: h.p.req.RequestID, Status: h.status, RequestHash: h.p.fp, KeyID: h.p.key.ID,
		Requester: h.requester.id, ApprovalsRequired: h.d.ApprovalsRequired, ApprovalsValid: valid,
		Approvers: h.d.Approvers, Approvals: []ApprovalJSON{}, ApprovalExpiry: h.d.ApprovalExpiry.UTC().Format(time.RFC3339),
		Policy: h.res, Rule: h.d.RuleName, Reasons: h.d.Reasons, Transaction: h.tx}
	if h.status == StatusApproved {
		st.Error = h.lastErr
	}
	for _, a := range h.accepted {
		st.Approvals = append(st.Approvals, ApprovalJSON{Approver: a.ApproverID, Decision: string(a.Decision), Time: a.Time.UTC()})
	}
	return st
}

// hold is the require_approvals branch of POST /v1/sign/transaction: the request is held
// (202, an AuditRecord of the pending outcome and the SigningRequest on Kafka), or, if
// it is held already under its id, answered from where it stands.
func (s *Server) hold(ctx context.Context, w http.ResponseWriter, c caller, p *parsedTx, preq policy.Request,
	d policy.Decision, reqEv record, res string) {
	id := p.req.RequestID
	if strings.ContainsFunc(id, unicode.IsControl) {
		s.refuseWith(ctx, w, c, p.key.ID, id, res, []record{reqEv}, bad("invalid_request_id", "request_id holds a control character"), nil)
		return
	}
	// Held before a restart: go on from where it stands.
	if existing, err := s.heldRequest(ctx, id); err != nil || existing != nil {
		if err != nil {
			s.refuseWith(ctx, w, c, p.key.ID, id, res, []record{reqEv}, err, nil)
			return
		}
		s.answerHeld(ctx, w, c, existing, p)
		return
	}
	approvals, err := policy.NewApprovals(id, p.fp, c.id, preq.Time, d)
	if err != nil {
		s.refuseWith(ctx, w, c, p.key.ID, id, res, []record{reqEv},
			&badRequest{status: http.StatusInternalServerError, code: "policy_error", msg: err.Error()}, nil)
		return
	}
	h := &heldRequest{p: p, preq: preq, d: d, res: res, requester: c, approvals: approvals, status: StatusPendingApprovals}
	h.mu.Lock() // nobody may approve before the held request is on Kafka
	existing, err := s.o.Requests.held.put(id, h, s.o.Now())
	if err != nil || existing != nil {
		h.mu.Unlock()
		if err != nil {
			s.refuseWith(ctx, w, c, p.key.ID, id, res, []record{reqEv}, err, nil)
		} else {
			s.answerHeld(ctx, w, c, existing, p)
		}
		return
	}
	defer h.mu.Unlock()
	reason := fmt.Sprintf("%s: %d of %s (rule %s), until %s", StatusPendingApprovals, d.ApprovalsRequired,
		strings.Join(d.Approvers, ", "), d.RuleName, d.ApprovalExpiry.UTC().Format(time.RFC3339))
	if err := s.produce(ctx, reqEv, s.audit(c, "sign", p.key.ID, res, id, auditPending, reason)); err != nil {
		s.o.Requests.held.drop(id, h)
		s.unavailable(w, err)
		return
	}
	if err := s.saveLocked(h); err != nil {
		s.o.Requests.held.drop(id, h)
		s.log.Error("held request not saved", "request_id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "the held request could not be saved; send it again", nil)
		return
	}
	s.log.Info("signing request held for approvals", "request_id", id, "key_id", p.key.ID,
		"required", d.ApprovalsRequired, "rule", d.RuleName, "operator", c.id)
	writeJSON(w, http.StatusAccepted, s.statusLocked(h))
}

// answerHeld answers a sign request sent again for a request id already held: the same
// request gets where it stands (200 and the transaction once signed), another body
// under the id 409.
func (s *Server) answerHeld(ctx context.Context, w http.ResponseWriter, c caller, h *heldRequest, p *parsedTx) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := p.req.RequestID
	if h.p.fp != p.fp {
		s.refuseErr(ctx, w, c, p.key.ID, id, conflictOr(ErrRequestConflict))
		return
	}
	s.advanceLocked(ctx, h)
	switch h.status {
	case StatusSigned:
		if err := s.produce(ctx, s.audit(c, "sign", p.key.ID, h.res, id, auditAllowed, "")); err != nil {
			s.unavailable(w, err)
			return
		}
		writeJSON(w, http.StatusOK, *h.tx)
	case StatusRejected:
		s.refuseWith(ctx, w, c, p.key.ID, id, h.res, nil, &badRequest{status: http.StatusConflict, code: "request_rejected",
			msg: "an approver rejected this request"}, nil)
	case StatusExpired:
		s.refuseWith(ctx, w, c, p.key.ID, id, h.res, nil, &badRequest{status: http.StatusGone, code: "approvals_expired",
			msg: "the approval window closed without the quorum"}, nil)
	default:
		writeJSON(w, http.StatusAccepted, s.statusLocked(h))
	}
}

// advanceLocked moves h on with the clock: a pending request whose window closed
// expires (audited), an approved one is signed (again tried). The caller holds h.mu.
func (s *Server) advanceLocked(ctx context.Context, h *heldRequest) {
	now := s.o.Now()
	switch h.status {
	case StatusPendingApprovals:
		switch st, _ := h.approvals.Status(now); st {
		case policy.StatusExpired:
			reason := fmt.Sprintf("approvals_expired: %d valid approvals of %d required when the window closed at %s",
				len(h.accepted), h.d.ApprovalsRequired, h.d.ApprovalExpiry.UTC().Format(time.RFC3339))
			sys := caller{id: "signer"}
			if err := s.produce(ctx, s.auditAs(sys, signerv1.AuditActorType_AUDIT_ACTOR_TYPE_SYSTEM, "sign",
				h.p.key.ID, h.res, h.p.req.RequestID, auditDenied, reason)); err != nil {
				s.log.Error("expiry not audited", "request_id", h.p.req.RequestID, "err", err)
				return // tried again on the next call
			}
			h.status = StatusExpired
			s.saveOrLog(h)
		case policy.StatusApproved:
			h.status = StatusApproved
			s.finishLocked(ctx, h)
		}
	case StatusApproved:
		s.finishLocked(ctx, h)
	}
}

// approve is POST /v1/requests/{id}/approvals: the caller's decision on a held request.
func (s *Server) approve(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	id := r.PathValue("id")
	const action = "approval.decide"
	var req ApprovalRequest
	if err := decode(r, &req); err != nil {
		s.refuse(ctx, w, c, action, "", id, http.StatusBadRequest, "bad_request", err.Error(), nil)
		return
	}
	var dec policy.ApprovalDecision
	switch req.Decision {
	case "approved":
		dec = policy.Approved
	case "rejected":
		dec = policy.Rejected
	default:
		s.refuse(ctx, w, c, action, "", id, http.StatusBadRequest, "invalid_decision", `decision must be "approved" or "rejected"`, nil)
		return
	}
	h, err := s.heldRequest(ctx, id)
	if err != nil {
		s.refuse(ctx, w, c, action, "", id, http.StatusInternalServerError, "internal", err.Error(), nil)
		return
	}
	if h == nil {
		s.refuse(ctx, w, c, action, "", id, http.StatusNotFound, "unknown_request", fmt.Sprintf("no request %q is held for approvals", id), nil)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	keyID := h.p.key.ID
	s.advanceLocked(ctx, h)
	switch h.status {
	case StatusSigned, StatusApproved:
		s.refuse(ctx, w, c, action, keyID, id, http.StatusConflict, "request_approved", "the request already has its approvals", nil)
		return
	case StatusRejected:
		s.refuse(ctx, w, c, action, keyID, id, http.StatusConflict, "request_rejected", "an approver rejected this request", nil)
		return
	}
	ap := policy.Approval{RequestID: id, PayloadHash: req.RequestHash, ApproverID: c.id, Decision: dec, Time: s.o.Now()}
	// The decision is tried on a copy rebuilt from the accepted ones (Approvals is a
	// deterministic state machine), so that it counts only once it is on Kafka.
	next, err := policy.NewApprovals(id, h.p.fp, h.requester.id, h.preq.Time, h.d)
	if err == nil {
		for _, a := range h.accepted {
			if err = next.Add(a); err != nil {
				break
			}
		}
	}
	if err != nil {
		s.refuse(ctx, w, c, action, keyID, id, http.StatusInternalServerError, "internal", err.Error(), nil)
		return
	}
	if err := next.Add(ap); err != nil {
		status, code := approvalError(err)
		s.refuse(ctx, w, c, action, keyID, id, status, code, err.Error(), nil)
		return
	}
	evDecision := signerv1.ApprovalDecision_APPROVAL_DECISION_APPROVED
	if dec == policy.Rejected {
		evDecision = signerv1.ApprovalDecision_APPROVAL_DECISION_REJECTED
	}
	approvalEv := record{topic: TopicApprovals, key: keyID, ev: &signerv1.SigningApproval{
		Meta: s.meta(eventid.New(kindApproval, id, c.id)), RequestId: id, KeyId: keyID, ApproverId: c.id,
		Decision: evDecision, PolicyRule: h.d.RuleName, Reason: truncate(req.Reason, 1024), RequestHash: req.RequestHash}}
	if err := s.produce(ctx, approvalEv, s.audit(c, action, keyID, "request:"+id, id, auditAllowed, string(dec))); err != nil {
		s.unavailable(w, err)
		return
	}
	prevApprovals, prevAccepted, prevStatus := h.approvals, h.accepted, h.status
	h.approvals, h.accepted = next, append(h.accepted, ap)
	if dec == policy.Rejected {
		h.status = StatusRejected
	}
	if err := s.saveLocked(h); err != nil {
		// On Kafka but not kept: it does not count; the approver may send it again.
		h.approvals, h.accepted, h.status = prevApprovals, prevAccepted, prevStatus
		s.log.Error("approval not saved", "request_id", id, "approver", c.id, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "the approval could not be saved; send it again", nil)
		return
	}
	s.log.Info("approval accepted", "request_id", id, "approver", c.id, "decision", string(dec))
	s.advanceLocked(ctx, h)
	writeJSON(w, http.StatusOK, s.statusLocked(h))
}

// approvalError maps policy.Approvals' refusals to an HTTP status and code.
func approvalError(err error) (int, string) {
	switch {
	case errors.Is(err, policy.ErrDuplicateApproval):
		return http.StatusConflict, "approval_replayed"
	case errors.Is(err, policy.ErrApprovalWindow):
		return http.StatusGone, "approval_expired"
	case errors.Is(err, policy.ErrPayloadMismatch):
		return http.StatusConflict, "request_hash_mismatch"
	case errors.Is(err, policy.ErrNotApprover):
		return http.StatusForbidden, "not_an_approver"
	case errors.Is(err, policy.ErrSelfApproval):
		return http.StatusForbidden, "self_approval"
	case errors.Is(err, policy.ErrClosed):
		return http.StatusConflict, "request_rejected"
	}
	return http.StatusBadRequest, "invalid_approval"
}

// getRequest is GET /v1/requests/{id}: where a held request stands (its transaction
// once signed).
func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, c caller) {
	h, err := s.heldRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error(), nil)
		return
	}
	if h == nil {
		writeError(w, http.StatusNotFound, "unknown_request", fmt.Sprintf("no request %q is held for approvals", r.PathValue("id")), nil)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s.advanceLocked(r.Context(), h)
	writeJSON(w, http.StatusOK, s.statusLocked(h))
}

// finishLocked signs an approved request, once: its usage is recorded in the policy
// state, its nonce reserved (now, not when it was held) and logged under its request id,
// the payload recorded by the double-sign guard, then the signature, and the
// SignedTransaction and the AuditRecord on Kafka. A failure leaves h approved with its
// error, to be tried again; the request log and the nonce guard make the retry sign the
// same transaction at the same nonce. The caller holds h.mu.
func (s *Server) finishLocked(ctx context.Context, h *heldRequest) {
	tx, err := s.signHeld(ctx, h)
	if err != nil {
		h.lastErr = err.Error()
		s.log.Warn("approved request not signed", "request_id", h.p.req.RequestID, "err", err)
		return
	}
	h.status, h.tx, h.lastErr = StatusSigned, tx, ""
	s.saveOrLog(h)
}

// saveOrLog saves h, logging a failure: what it records (signed, expired) is on Kafka
// already, and a restart that misses it only does again what is idempotent (signs the
// same transaction at the same nonce, audits the expiry again).
func (s *Server) saveOrLog(h *heldRequest) {
	if err := s.saveLocked(h); err != nil {
		s.log.Error("held request not saved", "request_id", h.p.req.RequestID, "status", h.status, "err", err)
	}
}

func (s *Server) signHeld(ctx context.Context, h *heldRequest) (*TxResponse, error) {
	p, id := h.p, h.p.req.RequestID
	fail := func(err error) (*TxResponse, error) {
		var b *badRequest
		outcome := auditError
		if errors.As(err, &b) && b.status < 500 {
			outcome = auditDenied
		}
		if perr := s.produce(ctx, s.audit(h.requester, "sign", p.key.ID, h.res, id, outcome, err.Error())); perr != nil {
			err = errors.Join(err, perr)
		}
		return nil, err
	}
	if err := s.o.Engine.Record(ctx, h.preq); err != nil {
		return fail(fmt.Errorf("policy usage: %w", err))
	}
	chain, from := p.req.ChainID, p.key.Address
	n, recorded, err := s.claimNonce(ctx, p)
	if err != nil {
		return fail(conflictOr(err))
	}
	tx, err := s.buildTx(p, n)
	if err != nil {
		return fail(err)
	}
	payload := types.LatestSignerForChainID(p.chain).Hash(tx)
	if !recorded {
		if err := s.o.Nonces.Record(chain, from, n, payload, p.kind); err != nil {
			return fail(nonceError(err, n))
		}
	}
	signed, err := txsign.SignTx(ctx, backendSigner{b: p.backend, id: p.key.ID, addr: from}, tx, p.chain)
	if err != nil {
		return fail(&badRequest{status: http.StatusInternalServerError, code: "sign_failed", msg: err.Error()})
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		return fail(&badRequest{status: http.StatusInternalServerError, code: "sign_failed", msg: err.Error()})
	}
	hash := signed.Hash().Hex()
	var approvers []string
	for _, a := range h.accepted {
		approvers = append(approvers, a.ApproverID)
	}
	sort.Strings(approvers)
	signedEv := &signerv1.SignedTransaction{
		Meta: s.meta(eventid.New(kindSigned, id, hash)), RequestId: id, KeyId: p.key.ID,
		ChainId: chain, From: from.Hex(), Nonce: n, TransactionHash: hash, RawTransaction: raw,
	}
	if err := s.produce(ctx, record{topic: TopicSigned, key: p.key.ID, ev: signedEv},
		s.audit(h.requester, "sign", p.key.ID, h.res, id, auditAllowed, "approved by "+strings.Join(approvers, ", "))); err != nil {
		return nil, err
	}
	s.log.Info("approved transaction signed", "request_id", id, "key_id", p.key.ID, "chain_id", chain,
		"nonce", n, "hash", hash, "approvers", strings.Join(approvers, ","))
	return &TxResponse{RequestID: id, RawTx: hexutil.Encode(raw), Hash: hash, From: from.Hex(), Nonce: n,
		Policy: h.res, Rule: h.d.RuleName}, nil
}

// heldKeyPrefix prefixes a held request's key in the RequestLog's database; request ids
// (the log's other keys) hold no control character, so they never start with it.
const heldKeyPrefix = "\x00held\x00"

// heldEntry is a held request as the RequestLog keeps it (synced), so that a restarted
// signer goes on collecting its approvals: the request as sent, who sent it and when,
// the decision that held it, the approvals accepted, and where it stands.
type heldEntry struct {
	Request   TxRequest         `json:"request"`
	Requester string            `json:"requester"`
	Remote    string            `json:"remote,omitempty"`
	Time      time.Time         `json:"time"`
	Decision  policy.Decision   `json:"decision"`
	Resource  string            `json:"resource"`
	Accepted  []policy.Approval `json:"accepted,omitempty"`
	Status    string            `json:"status"`
	Tx        *TxResponse       `json:"tx,omitempty"`
}

// saveLocked writes h to the RequestLog, synced; the caller holds h.mu.
func (s *Server) saveLocked(h *heldRequest) error {
	d := h.d
	d.Trace = nil
	b, err := json.Marshal(heldEntry{Request: h.p.req, Requester: h.requester.id, Remote: h.requester.remote, Time: h.preq.Time,
		Decision: d, Resource: h.res, Accepted: h.accepted, Status: h.status, Tx: h.tx})
	if err != nil {
		return err
	}
	if err := s.o.Requests.db.Set([]byte(heldKeyPrefix+h.p.req.RequestID), b, pebble.Sync); err != nil {
		return fmt.Errorf("signer: request log: %w", err)
	}
	return nil
}

// heldRequest returns the request held under id: the one in memory, or else the one the
// RequestLog kept (a restart), rebuilt — its approvals replayed — and put in memory.
func (s *Server) heldRequest(ctx context.Context, id string) (*heldRequest, error) {
	if h := s.o.Requests.held.get(id); h != nil {
		return h, nil
	}
	v, closer, err := s.o.Requests.db.Get([]byte(heldKeyPrefix + id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("signer: request log: %w", err)
	}
	var e heldEntry
	err = json.Unmarshal(v, &e)
	closer.Close()
	if err != nil {
		return nil, fmt.Errorf("signer: held request %q: %w", id, err)
	}
	p, err := s.parseTx(ctx, e.Request)
	if err != nil {
		return nil, fmt.Errorf("signer: held request %q: %w", id, err)
	}
	preq, err := s.policyRequest(ctx, p)
	if err != nil {
		return nil, err
	}
	preq.Time = e.Time
	approvals, err := policy.NewApprovals(id, p.fp, e.Requester, e.Time, e.Decision)
	if err != nil {
		return nil, fmt.Errorf("signer: held request %q: %w", id, err)
	}
	for _, a := range e.Accepted {
		if err := approvals.Add(a); err != nil {
			return nil, fmt.Errorf("signer: held request %q: approval of %s: %w", id, a.ApproverID, err)
		}
	}
	h := &heldRequest{p: p, preq: preq, d: e.Decision, res: e.Resource, requester: caller{id: e.Requester, remote: e.Remote},
		approvals: approvals, accepted: e.Accepted, status: e.Status, tx: e.Tx}
	existing, err := s.o.Requests.held.put(id, h, s.o.Now())
	if existing != nil {
		return existing, nil
	}
	return h, err
}

// PruneHeld forgets the held requests whose approval window closed more than
// HeldRetention before now, in memory and in the log. It blocks on the log.
func (l *RequestLog) PruneHeld(now time.Time) (int, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte(heldKeyPrefix), UpperBound: []byte(heldKeyPrefix + "\xff")})
	if err != nil {
		return 0, fmt.Errorf("signer: request log: %w", err)
	}
	var old []string
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return 0, fmt.Errorf("signer: request log: %w", err)
		}
		var e struct {
			Decision struct{ ApprovalExpiry time.Time }
		}
		if json.Unmarshal(v, &e) != nil || now.Sub(e.Decision.ApprovalExpiry) > HeldRetention {
			old = append(old, string(it.Key()))
		}
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("signer: request log: %w", err)
	}
	b := l.db.NewBatch()
	defer b.Close()
	for _, k := range old {
		_ = b.Delete([]byte(k), nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("signer: request log: %w", err)
	}
	l.held.mu.Lock()
	for _, k := range old {
		delete(l.held.m, strings.TrimPrefix(k, heldKeyPrefix))
	}
	l.held.mu.Unlock()
	return len(old), nil
}
