package policy

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Approval errors; test with errors.Is. Every refused approval leaves the Approvals
// unchanged.
var (
	// ErrWrongRequest: the approval names another request id.
	ErrWrongRequest = errors.New("policy: approval is for another request")
	// ErrPayloadMismatch: the approval signs off another payload hash than the request's
	// (the request was changed after the approver saw it, or the approval is replayed).
	ErrPayloadMismatch = errors.New("policy: approval is for another payload")
	// ErrDuplicateApproval: the approver already decided on this request.
	ErrDuplicateApproval = errors.New("policy: approver already decided")
	// ErrNotApprover: the approver is not in the rule's approver set.
	ErrNotApprover = errors.New("policy: not an approver of this request")
	// ErrSelfApproval: the requester cannot approve their own request.
	ErrSelfApproval = errors.New("policy: requester cannot approve own request")
	// ErrApprovalWindow: the approval's time is before the request or after its
	// approval expiry.
	ErrApprovalWindow = errors.New("policy: approval outside the request's approval window")
	// ErrClosed: the request was already rejected.
	ErrClosed = errors.New("policy: request already rejected")
)

// ApprovalDecision is an approver's decision, as weir.signer.v1.ApprovalDecision.
type ApprovalDecision string

// Approval decisions. One rejection rejects the request.
const (
	Approved ApprovalDecision = "approved"
	Rejected ApprovalDecision = "rejected"
)

// Approval is one approver's decision on one request (a weir.signer.v1.SigningApproval).
type Approval struct {
	// RequestID and PayloadHash must be the request's.
	RequestID   string
	PayloadHash string
	// ApproverID identifies the approver ("operator:bob").
	ApproverID string
	// Decision is Approved or Rejected.
	Decision ApprovalDecision
	// Time is when it was given (the event time of the SigningApproval).
	Time time.Time
}

// ApprovalStatus is where a request's approvals stand.
type ApprovalStatus string

// Approval statuses.
const (
	// StatusPending: fewer than N approvals are valid now, and more may still come.
	StatusPending ApprovalStatus = "pending"
	// StatusApproved: at least N distinct approvals are valid now; sign.
	StatusApproved ApprovalStatus = "approved"
	// StatusRejected: an approver rejected the request.
	StatusRejected ApprovalStatus = "rejected"
	// StatusExpired: the approval window closed without N valid approvals.
	StatusExpired ApprovalStatus = "expired"
)

// Approvals collects the approvals of one request that a require_approvals decision
// holds: N distinct approvers of the rule's set of M, each approval valid for the rule's
// TTL from its time, accepted from the request's time until Decision.ApprovalExpiry. It
// is a deterministic state machine over approval times (no clock of its own), so the
// signer can rebuild it after a restart by replaying the signer.approvals events. Safe
// for concurrent use.
type Approvals struct {
	requestID   string
	payloadHash string
	requester   string
	required    int
	approvers   map[string]bool
	ttl         time.Duration
	start       time.Time
	deadline    time.Time

	mu       sync.Mutex
	approved map[string]time.Time // approver -> time of approval
	rejected string               // approver who rejected, if any
}

// NewApprovals starts collecting approvals for a request that d (a require_approvals
// decision for it, made at reqTime) holds. payloadHash binds the approvals to exactly
// what will be signed (the signer's digest of the transaction); requester, if not
// empty, may not approve.
func NewApprovals(requestID, payloadHash, requester string, reqTime time.Time, d Decision) (*Approvals, error) {
	if d.Outcome != OutcomeRequireApprovals {
		return nil, fmt.Errorf("policy: approvals for a %s decision", d.Outcome)
	}
	if requestID == "" || payloadHash == "" {
		return nil, errors.New("policy: approvals need a request id and a payload hash")
	}
	if d.ApprovalsRequired < 1 || d.ApprovalsRequired > len(d.Approvers) || d.ApprovalTTL <= 0 {
		return nil, fmt.Errorf("policy: bad approval requirement %d of %d, ttl %s", d.ApprovalsRequired, len(d.Approvers), d.ApprovalTTL)
	}
	a := &Approvals{requestID: requestID, payloadHash: payloadHash, requester: requester,
		required: d.ApprovalsRequired, approvers: toSet(d.Approvers), ttl: d.ApprovalTTL,
		start: reqTime, deadline: reqTime.Add(d.ApprovalTTL), approved: map[string]time.Time{}}
	return a, nil
}

// Add records one approval or rejection. It refuses, with the errors above, an approval
// for another request or payload, from outside the approver set, from the requester,
// from an approver who already decided (a replay), outside the approval window, or after
// a rejection.
func (a *Approvals) Add(ap Approval) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case ap.RequestID != a.requestID:
		return fmt.Errorf("%w: %q, not %q", ErrWrongRequest, ap.RequestID, a.requestID)
	case ap.PayloadHash != a.payloadHash:
		return fmt.Errorf("%w: %q, not %q", ErrPayloadMismatch, ap.PayloadHash, a.payloadHash)
	case a.rejected != "":
		return fmt.Errorf("%w by %q", ErrClosed, a.rejected)
	case a.requester != "" && ap.ApproverID == a.requester:
		return fmt.Errorf("%w: %q", ErrSelfApproval, ap.ApproverID)
	case !a.approvers[ap.ApproverID]:
		return fmt.Errorf("%w: %q", ErrNotApprover, ap.ApproverID)
	case ap.Time.Before(a.start) || ap.Time.After(a.deadline):
		return fmt.Errorf("%w: %s not in [%s, %s]", ErrApprovalWindow, ap.Time.UTC().Format(time.RFC3339Nano),
			a.start.UTC().Format(time.RFC3339Nano), a.deadline.UTC().Format(time.RFC3339Nano))
	}
	if _, ok := a.approved[ap.ApproverID]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateApproval, ap.ApproverID)
	}
	switch ap.Decision {
	case Approved:
		a.approved[ap.ApproverID] = ap.Time
	case Rejected:
		a.rejected = ap.ApproverID
	default:
		return fmt.Errorf("policy: unknown approval decision %q", ap.Decision)
	}
	return nil
}

// Status returns where the approvals stand at now and how many approvals are valid at
// now (given at or before now, and less than the TTL ago).
func (a *Approvals) Status(now time.Time) (ApprovalStatus, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rejected != "" {
		return StatusRejected, 0
	}
	valid := 0
	for _, at := range a.approved {
		if !at.After(now) && now.Before(at.Add(a.ttl)) {
			valid++
		}
	}
	switch {
	case valid >= a.required:
		return StatusApproved, valid
	case now.After(a.deadline):
		return StatusExpired, valid
	}
	return StatusPending, valid
}
