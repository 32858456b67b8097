package signer

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/weirhq/weir/signer/policy"
)

// draftPolicy is POST /v1/policies: the body is a policy in its JSON form (see
// signer/policy); it becomes the next draft version, or replaces the draft named by its
// "version". created_by defaults to the operator.
func (s *Server) draftPolicy(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.refuse(ctx, w, c, "policy.update", "", "", http.StatusBadRequest, "bad_request", err.Error(), nil)
		return
	}
	p, err := policy.ParsePolicy(body)
	if err != nil {
		s.refuse(ctx, w, c, "policy.update", "", "", http.StatusBadRequest, "invalid_policy", err.Error(), nil)
		return
	}
	if p.CreatedBy == "" {
		p.CreatedBy = c.id
	}
	d, err := s.o.Policies.Draft(*p)
	if err != nil {
		status, code := http.StatusInternalServerError, "policy_store"
		switch {
		case errors.Is(err, policy.ErrImmutable):
			status, code = http.StatusConflict, "immutable"
		case errors.Is(err, policy.ErrInvalidPolicy), errors.Is(err, policy.ErrNotFound):
			status, code = http.StatusBadRequest, "invalid_policy"
		}
		s.refuse(ctx, w, c, "policy.update", "", "policy:"+p.ID, status, code, err.Error(), nil)
		return
	}
	res := fmt.Sprintf("policy:%s@%d#%s", d.ID, d.Version, d.Hash)
	if err := s.produce(ctx, s.audit(c, "policy.update", "", res, "", auditAllowed, "")); err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

// publishPolicy is POST /v1/policies/{id}/{version}/publish.
func (s *Server) publishPolicy(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	id := r.PathValue("id")
	v, err := strconv.ParseUint(r.PathValue("version"), 10, 64)
	if err != nil || v == 0 {
		s.refuse(ctx, w, c, "policy.publish", "", "policy:"+id, http.StatusBadRequest, "bad_request", "version must be a positive integer", nil)
		return
	}
	p, err := s.o.Policies.Publish(id, v)
	if err != nil {
		status, code := http.StatusInternalServerError, "policy_store"
		switch {
		case errors.Is(err, policy.ErrNotFound):
			status, code = http.StatusNotFound, "not_found"
		case errors.Is(err, policy.ErrImmutable):
			status, code = http.StatusConflict, "immutable"
		case errors.Is(err, policy.ErrStale):
			status, code = http.StatusConflict, "stale"
		}
		s.refuse(ctx, w, c, "policy.publish", "", fmt.Sprintf("policy:%s@%d", id, v), status, code, err.Error(), nil)
		return
	}
	res := fmt.Sprintf("policy:%s@%d#%s", p.ID, p.Version, p.Hash)
	if err := s.produce(ctx, s.audit(c, "policy.publish", "", res, "", auditAllowed, "")); err != nil {
		s.unavailable(w, err)
		return
	}
	s.log.Info("policy published", "policy", p.ID, "version", p.Version, "hash", p.Hash, "operator", c.id)
	writeJSON(w, http.StatusOK, p)
}

// DryRunRequest is the body of POST /v1/policies/dry-run: a transaction request (as for
// /v1/sign/transaction; request_id may be empty) judged by a policy version (0: the
// active one). Nothing is recorded or signed.
type DryRunRequest struct {
	PolicyID string    `json:"policy_id"`
	Version  uint64    `json:"version,omitempty"`
	Request  TxRequest `json:"request"`
}

// DecisionJSON is a policy decision as the API shows it.
type DecisionJSON struct {
	Outcome           string      `json:"outcome"`
	Rule              string      `json:"rule"`
	RuleIndex         int         `json:"rule_index"`
	PolicyID          string      `json:"policy_id"`
	PolicyVersion     uint64      `json:"policy_version"`
	PolicyHash        string      `json:"policy_hash"`
	ApprovalsRequired int         `json:"approvals_required,omitempty"`
	Approvers         []string    `json:"approvers,omitempty"`
	Reasons           []string    `json:"reasons,omitempty"`
	Trace             []TraceJSON `json:"trace,omitempty"`
	Error             string      `json:"error,omitempty"`
}

// TraceJSON is one rule's result in a dry run.
type TraceJSON struct {
	Index   int    `json:"index"`
	Name    string `json:"name"`
	Matched bool   `json:"matched"`
	Reason  string `json:"reason"`
}

func (s *Server) dryRun(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	var req DryRunRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error(), nil)
		return
	}
	if req.Request.RequestID == "" {
		req.Request.RequestID = "dry-run"
	}
	p, err := s.parseTx(ctx, req.Request)
	if err != nil {
		var b *badRequest
		if errors.As(err, &b) {
			writeError(w, b.status, b.code, b.msg, nil)
			return
		}
		writeError(w, http.StatusInternalServerError, "internal", err.Error(), nil)
		return
	}
	preq, err := s.policyRequest(ctx, p)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error(), nil)
		return
	}
	id := req.PolicyID
	if id == "" {
		id = s.o.DefaultPolicy
	}
	d, err := s.o.Engine.DryRun(ctx, id, req.Version, preq)
	if errors.Is(err, policy.ErrNotFound) || errors.Is(err, policy.ErrNoActive) {
		writeError(w, http.StatusNotFound, "not_found", err.Error(), nil)
		return
	}
	out := DecisionJSON{Outcome: string(d.Outcome), Rule: d.RuleName, RuleIndex: d.RuleIndex, PolicyID: d.PolicyID,
		PolicyVersion: d.PolicyVersion, PolicyHash: d.PolicyHash, ApprovalsRequired: d.ApprovalsRequired,
		Approvers: d.Approvers, Reasons: d.Reasons}
	if err != nil {
		out.Error = err.Error()
	}
	for _, t := range d.Trace {
		out.Trace = append(out.Trace, TraceJSON{Index: t.Index, Name: t.Name, Matched: t.Matched, Reason: t.Reason})
	}
	writeJSON(w, http.StatusOK, out)
}
