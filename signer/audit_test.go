package signer_test

import (
	"strings"
	"testing"

	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer"
)

// TestBadInputAudited sends bad signing requests — malformed JSON, a malformed
// transaction (gas below 21000, both fee kinds, a negative value, bad call data), a
// wrong chain id, an unknown key — and checks each gets its clear error, nothing is
// signed (no SignedTransaction, and the next good request gets nonce 0: no nonce was
// taken), and each left a DENIED AuditRecord with its error code on signer.audit.
// (Expired and replayed approvals: TestApprovalsExpiredAndRejected and
// TestApprovalsPendingThenSignedOnce.)
func TestBadInputAudited(t *testing.T) {
	e := newAPIEnv(t, approvalsPolicy)
	cases := []struct {
		id     string
		body   any
		status int
		code   string
	}{
		{"", []byte(`{"request_id": "bad-0", `), 400, "bad_request"},
		{"bad-1", func() map[string]any { m := e.tx("bad-1", "1"); m["gas"] = 20000; return m }(), 400, "invalid_transaction"},
		{"bad-2", func() map[string]any { m := e.tx("bad-2", "1"); m["gas_price"] = "1"; return m }(), 400, "invalid_transaction"},
		{"bad-3", e.tx("bad-3", "-5"), 400, "invalid_amount"},
		{"bad-4", func() map[string]any { m := e.tx("bad-4", "1"); m["data"] = "0xzz"; return m }(), 400, "invalid_data"},
		{"bad-5", func() map[string]any { m := e.tx("bad-5", "1"); m["chain_id"] = 1; return m }(), 400, "wrong_chain"},
		{"bad-6", func() map[string]any { m := e.tx("bad-6", "1"); m["key_id"] = "no-such-key"; return m }(), 404, "unknown_key"},
	}
	for _, c := range cases {
		var ae apiErr
		if st := e.call("operator:alice", "POST", "/v1/sign/transaction", c.body, &ae); st != c.status || ae.Error != c.code || ae.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s with a message", c.id, st, ae, c.status, c.code)
		}
	}
	if n := e.records(signer.TopicSigned); n != 0 {
		t.Fatalf("%d SignedTransaction records after bad input, want none", n)
	}
	var ok signer.TxResponse
	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("good-1", "1"), &ok); st != 200 || ok.Nonce != 0 {
		t.Fatalf("good request after bad ones: %d %+v, want nonce 0", st, ok)
	}
	as := e.audits()
	for _, c := range cases {
		if findAudit(as, func(a *signerv1.AuditRecord) bool {
			return a.GetRequestId() == c.id && a.GetAction() == "sign" && a.GetActorId() == "operator:alice" &&
				a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_DENIED && strings.HasPrefix(a.GetReason(), c.code+": ")
		}) == nil {
			t.Errorf("no DENIED audit record of %q refused with %s", c.id, c.code)
		}
	}
	for _, a := range as {
		if strings.Contains(a.String(), approvalTokens["operator:alice"]) {
			t.Errorf("token in audit record %v", a)
		}
	}
}
