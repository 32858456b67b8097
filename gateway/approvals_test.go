package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	settlementv1 "github.com/weirhq/weir/schemas/gen/weir/settlement/v1"
)

const payoutAddr = "0x00000000000000000000000000000000000000a1"

// approvalEnv is a merchant with approvers alice, bob and carol, a non-approver dave,
// and a policy: more than 1000 ETH base units needs 2 approvals.
type approvalEnv struct {
	*env
	clock *eaClock
	keys  map[string]string // user name → secret key
	ids   map[string]string // user name → user id
}

func newApprovalEnv(t *testing.T) *approvalEnv {
	t.Helper()
	e, clock := newFeatureEnv(t)
	a := &approvalEnv{env: e, clock: clock, keys: map[string]string{}, ids: map[string]string{}}
	for _, u := range []struct {
		name     string
		approver bool
	}{{"alice", true}, {"bob", true}, {"carol", true}, {"dave", false}} {
		r := e.do("POST", "/v1/users", e.keys.Secret, fmt.Sprintf(`{"name":%q,"approver":%v}`, u.name, u.approver))
		var user User
		r.json(t, &user)
		if r.status != http.StatusCreated || !strings.HasPrefix(user.SecretKey, "sk_") || !strings.HasPrefix(user.ID, "u_") {
			t.Fatalf("create user %s: %d %s", u.name, r.status, r.body)
		}
		a.keys[u.name], a.ids[u.name] = user.SecretKey, user.ID
	}
	r := e.do("POST", "/v1/approval_policy", e.keys.Secret,
		`{"threshold":"1000","asset":"ETH","approvals_required":2,"payout_address":"`+payoutAddr+`"}`)
	var p ApprovalPolicy
	r.json(t, &p)
	if r.status != http.StatusOK || p.Threshold != "1000" || p.ApprovalsRequired != 2 || p.Approvers != 3 || p.PayoutAddress != payoutAddr {
		t.Fatalf("policy: %d %s", r.status, r.body)
	}
	return a
}

// paid creates an intent of amount and makes it SUCCEEDED with amount received.
func (a *approvalEnv) paid(amount string) Intent {
	a.t.Helper()
	it := a.create(`{"amount":"` + amount + `","asset":"ETH","chain_id":1337}`)
	ctx := context.Background()
	err := a.server.withIntent(ctx, it.ID, func(cur *paymentsv1.IntentTransition) error {
		n, err := transition(cur, paymentsv1.IntentState_INTENT_STATE_SUCCEEDED, a.clock.now())
		if err != nil {
			return err
		}
		n.AmountReceived = &commonv1.Amount{Value: amount, Asset: "ETH", Decimals: 18}
		return a.server.commitIntent(ctx, n)
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return it
}

func (a *approvalEnv) refund(key, intent, amount string) (response, Refund) {
	a.t.Helper()
	r := a.do("POST", "/v1/payment_intents/"+intent+"/refunds", key, `{"amount":"`+amount+`"}`)
	var v Refund
	if r.status < 300 {
		r.json(a.t, &v)
	}
	return r, v
}

func (a *approvalEnv) decide(user, verb, id string) (response, Approval) {
	a.t.Helper()
	r := a.do("POST", "/v1/approvals/"+id+"/"+verb, a.keys[user], "")
	var v Approval
	if r.status < 300 {
		r.json(a.t, &v)
	}
	return r, v
}

func (a *approvalEnv) approval(id string) Approval {
	a.t.Helper()
	r := a.do("GET", "/v1/approvals/"+id, a.env.keys.Secret, "")
	var v Approval
	r.json(a.t, &v)
	if r.status != http.StatusOK {
		a.t.Fatalf("GET approval: %d %s", r.status, r.body)
	}
	return v
}

// approvalRecords returns payments.approvals.
func (a *approvalEnv) approvalRecords() []*paymentsv1.ApprovalRequest {
	var out []*paymentsv1.ApprovalRequest
	for _, b := range a.eaRecords(TopicApprovals) {
		r := new(paymentsv1.ApprovalRequest)
		if err := proto.Unmarshal(b, r); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// payoutRecords returns settlement.payouts.
func (a *approvalEnv) payoutRecords() []*settlementv1.Payout {
	var out []*settlementv1.Payout
	for _, b := range a.eaRecords(TopicPayouts) {
		p := new(settlementv1.Payout)
		if err := proto.Unmarshal(b, p); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// refunds returns the REFUNDED transitions of intent by refund id.
func (a *approvalEnv) refunds(intent string) map[string]int {
	out := map[string]int{}
	for _, it := range a.intents() {
		if it.GetIntentId() == intent && it.GetState() == paymentsv1.IntentState_INTENT_STATE_REFUNDED {
			out[it.GetRefundId()]++
		}
	}
	return out
}

func TestRefundAtOrBelowThresholdAndOverReceived(t *testing.T) {
	a := newApprovalEnv(t)
	it := a.paid("1500")
	r, v := a.refund(a.env.keys.Secret, it.ID, "1000") // at the threshold: at once
	if r.status != http.StatusCreated || v.Status != "succeeded" || !strings.HasPrefix(v.ID, "re_") || v.Approval != nil {
		t.Fatalf("refund: %d %s", r.status, r.body)
	}
	if got := a.waitStatus(it.ID, "refunded"); got.AmountRefunded != "1000" {
		t.Fatalf("refunded intent = %+v", got)
	}
	if r, _ := a.refund(a.env.keys.Secret, it.ID, "501"); r.status != http.StatusBadRequest ||
		r.apiError(t).Code != "amount_exceeds_refundable" || r.apiError(t).Param != "amount" {
		t.Fatalf("refund over the received amount: %d %s", r.status, r.body)
	}
	if r, v := a.refund(a.keys["dave"], it.ID, "500"); r.status != http.StatusCreated || v.Status != "succeeded" {
		t.Fatalf("refund of the rest by a user: %d %s", r.status, r.body)
	}
	if got := a.waitStatus(it.ID, "refunded"); got.AmountRefunded != "1500" || got.Version != 4 {
		t.Fatalf("fully refunded intent = %+v", got)
	}
	unpaid := a.create(ethIntent)
	if r, _ := a.refund(a.env.keys.Secret, unpaid.ID, "1"); r.status != http.StatusConflict {
		t.Fatalf("refund of an unpaid intent: %d %s", r.status, r.body)
	}
	if n := len(a.approvalRecords()); n != 0 {
		t.Fatalf("%d approval requests, want none", n)
	}
}

func TestRefundApprovalNeedsNDistinctApprovers(t *testing.T) {
	a := newApprovalEnv(t)
	it := a.paid("5000")
	r, v := a.refund(a.env.keys.Secret, it.ID, "3000")
	if r.status != http.StatusAccepted || v.Status != "pending_approval" || v.Approval == nil ||
		v.Approval.Status != "pending" || v.Approval.ApprovalsRequired != 2 || v.Approval.Action != "refund" {
		t.Fatalf("refund above the threshold: %d %s", r.status, r.body)
	}
	id := v.Approval.ID
	if exp := v.Approval.ExpiresAt.Sub(a.clock.now()); exp < 71*time.Hour || exp > 73*time.Hour {
		t.Fatalf("expires in %v, want 72 h", exp)
	}
	// The pending refund is reserved: only 2000 are left to refund.
	if r, _ := a.refund(a.env.keys.Secret, it.ID, "2001"); r.status != http.StatusBadRequest || r.apiError(t).Code != "amount_exceeds_refundable" {
		t.Fatalf("refund over what is left: %d %s", r.status, r.body)
	}
	if r := a.do("POST", "/v1/approvals/"+id+"/approve", a.env.keys.Secret, ""); r.status != http.StatusForbidden || r.apiError(t).Code != "user_key_required" {
		t.Fatalf("approve with the merchant's key: %d %s", r.status, r.body)
	}
	if r, _ := a.decide("dave", "approve", id); r.status != http.StatusForbidden || r.apiError(t).Code != "approver_required" {
		t.Fatalf("approve by a non-approver: %d %s", r.status, r.body)
	}
	if r, got := a.decide("alice", "approve", id); r.status != http.StatusOK || got.Status != "pending" || len(got.ApprovedBy) != 1 {
		t.Fatalf("first approval: %d %s", r.status, r.body)
	}
	if r, got := a.decide("alice", "approve", id); r.status != http.StatusOK || got.Status != "pending" || len(got.ApprovedBy) != 1 {
		t.Fatalf("same user again: %d %s", r.status, r.body)
	}
	if got := a.waitStatus(it.ID, "succeeded"); got.AmountRefunded != "0" {
		t.Fatalf("refunded before approval: %+v", got)
	}
	r, got := a.decide("bob", "approve", id)
	if r.status != http.StatusOK || got.Status != "executed" || got.ResultID != v.ID || strings.Join(got.ApprovedBy, ",") != a.ids["alice"]+","+a.ids["bob"] {
		t.Fatalf("second approval: %d %s", r.status, r.body)
	}
	if after := a.waitStatus(it.ID, "refunded"); after.AmountRefunded != "3000" {
		t.Fatalf("refunded intent = %+v", after)
	}
	if r, _ := a.decide("carol", "approve", id); r.status != http.StatusConflict {
		t.Fatalf("approve an executed request: %d %s", r.status, r.body)
	}
	var states []string
	for _, rec := range a.approvalRecords() {
		states = append(states, approvalView(rec).Status)
	}
	if strings.Join(states, " ") != "pending pending approved executed" {
		t.Fatalf("payments.approvals: %v", states)
	}
	if got := a.refunds(it.ID); len(got) != 1 || got[v.ID] != 1 {
		t.Fatalf("refund transitions: %v", got)
	}
}

func TestApprovalRequesterCannotApproveAndReject(t *testing.T) {
	a := newApprovalEnv(t)
	it := a.paid("5000")
	_, v := a.refund(a.keys["alice"], it.ID, "2000")
	if v.Approval == nil || v.Approval.RequestedBy != a.ids["alice"] {
		t.Fatalf("request by alice: %+v", v)
	}
	if r, _ := a.decide("alice", "approve", v.Approval.ID); r.status != http.StatusForbidden || r.apiError(t).Code != "self_approval_forbidden" {
		t.Fatalf("self-approval: %d %s", r.status, r.body)
	}
	a.decide("bob", "approve", v.Approval.ID)
	if r, got := a.decide("carol", "reject", v.Approval.ID); r.status != http.StatusOK || got.Status != "rejected" || got.RejectedBy != a.ids["carol"] {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	if r, _ := a.decide("bob", "approve", v.Approval.ID); r.status != http.StatusConflict || r.apiError(t).Code != "approval_not_pending" {
		t.Fatalf("approve a rejected request: %d %s", r.status, r.body)
	}
	// The rejected refund no longer holds its amount.
	if r, v := a.refund(a.env.keys.Secret, it.ID, "1000"); r.status != http.StatusCreated || v.Status != "succeeded" {
		t.Fatalf("refund after the rejection: %d %s", r.status, r.body)
	}
	if got := a.refunds(it.ID); len(got) != 1 {
		t.Fatalf("refund transitions: %v", got)
	}
}

func TestApprovalExpiry(t *testing.T) {
	a := newApprovalEnv(t)
	r := a.do("POST", "/v1/payouts", a.env.keys.Secret, `{"amount":"2000","asset":"ETH","chain_id":1337}`)
	var p Payout
	r.json(t, &p)
	if r.status != http.StatusAccepted || p.Status != "pending_approval" || p.Destination != payoutAddr || p.Approval == nil {
		t.Fatalf("payout above the threshold: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	if n, err := a.server.expireApprovals(ctx); err != nil || n != 0 {
		t.Fatalf("expired early: %d %v", n, err)
	}
	a.decide("alice", "approve", p.Approval.ID)
	a.clock.advance(72*time.Hour + time.Second)
	if n, err := a.server.expireApprovals(ctx); err != nil || n != 1 {
		t.Fatalf("expired %d, %v; want 1", n, err)
	}
	if got := a.approval(p.Approval.ID); got.Status != "expired" {
		t.Fatalf("approval = %+v", got)
	}
	if r, _ := a.decide("bob", "approve", p.Approval.ID); r.status != http.StatusConflict {
		t.Fatalf("approve an expired request: %d %s", r.status, r.body)
	}
	if n := len(a.payoutRecords()); n != 0 {
		t.Fatalf("%d payouts, want none", n)
	}
}

func TestPayoutBelowThresholdAndRacingApprovals(t *testing.T) {
	a := newApprovalEnv(t)
	r := a.do("POST", "/v1/payouts", a.env.keys.Secret, `{"amount":"900","asset":"ETH","chain_id":1337,"destination":"0x00000000000000000000000000000000000000B2"}`)
	var direct Payout
	r.json(t, &direct)
	if r.status != http.StatusCreated || direct.Status != "initiated" || !strings.HasPrefix(direct.ID, "po_") ||
		direct.BatchID != "manual:"+direct.ID || direct.Destination != "0x00000000000000000000000000000000000000b2" {
		t.Fatalf("payout below the threshold: %d %s", r.status, r.body)
	}
	// Approvals of big payouts and refunds, the last two racing.
	it := a.paid("100000")
	var approvals, results []string
	for i := range 3 {
		r := a.do("POST", "/v1/payouts", a.env.keys.Secret, fmt.Sprintf(`{"amount":"%d","asset":"ETH","chain_id":1337}`, 5000+i))
		var p Payout
		r.json(t, &p)
		_, rf := a.refund(a.env.keys.Secret, it.ID, fmt.Sprint(2000+i))
		approvals = append(approvals, p.Approval.ID, rf.Approval.ID)
		results = append(results, p.ID, rf.ID)
	}
	for _, id := range approvals {
		a.decide("alice", "approve", id)
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, u := range []string{"bob", "carol"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, _ := a.decide(u, "approve", id)
				statuses[i] = r.status
			}()
		}
		wg.Wait()
		for _, st := range statuses {
			if st != http.StatusOK && st != http.StatusConflict {
				t.Fatalf("racing approvals of %s: %v", id, statuses)
			}
		}
		if got := a.approval(id); got.Status != "executed" || len(got.ApprovedBy) != 2 {
			t.Fatalf("approval = %+v", got)
		}
	}
	executed := map[string]int{}
	for _, rec := range a.approvalRecords() {
		if rec.GetState() == paymentsv1.ApprovalState_APPROVAL_STATE_EXECUTED {
			executed[rec.GetApprovalId()]++
		}
	}
	payouts := map[string]int{}
	for _, p := range a.payoutRecords() {
		payouts[p.GetPayoutId()]++
		if p.GetRail() != settlementv1.PayoutRail_PAYOUT_RAIL_ONCHAIN || p.GetStatus() != settlementv1.PayoutStatus_PAYOUT_STATUS_INITIATED ||
			!strings.HasPrefix(p.GetBatchId(), "manual:") || p.GetMerchantId() != a.merchant.GetMerchantId() {
			t.Fatalf("payout record = %v", p)
		}
	}
	refunds := a.refunds(it.ID)
	for i, id := range approvals {
		var made int
		if i%2 == 0 {
			made = payouts[results[i]]
		} else {
			made = refunds[results[i]]
		}
		if executed[id] != 1 || made != 1 {
			t.Fatalf("approval %s: %d EXECUTED records, %s made %d times; want 1 and 1", id, executed[id], results[i], made)
		}
	}
	if len(payouts) != 4 || payouts[direct.ID] != 1 {
		t.Fatalf("payouts: %v", payouts)
	}
	// Nothing left for the tick to do.
	if n, err := a.server.finishApprovals(context.Background()); err != nil || n != 0 {
		t.Fatalf("finish: %d %v", n, err)
	}
}

// TestApprovalExecutionResumes: a request approved by a process that died before it
// executed is executed once by the tick.
func TestApprovalExecutionResumes(t *testing.T) {
	a := newApprovalEnv(t)
	ctx := context.Background()
	r := a.do("POST", "/v1/payouts", a.env.keys.Secret, `{"amount":"7000","asset":"ETH","chain_id":1337}`)
	var p Payout
	r.json(t, &p)
	a.decide("alice", "approve", p.Approval.ID)
	cur, err := a.store.Approval(ctx, p.Approval.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := nextApproval(cur, paymentsv1.ApprovalState_APPROVAL_STATE_APPROVED, a.clock.now())
	n.ApprovedBy = append(n.ApprovedBy, a.ids["bob"])
	if err := a.server.publishApproval(ctx, n); err != nil { // and then the crash
		t.Fatal(err)
	}
	for range 2 {
		if _, err := a.server.finishApprovals(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.approval(p.Approval.ID); got.Status != "executed" || got.ResultID != p.ID {
		t.Fatalf("approval = %+v", got)
	}
	if ps := a.payoutRecords(); len(ps) != 1 || ps[0].GetPayoutId() != p.ID || ps[0].GetBatchId() != "manual:"+p.Approval.ID {
		t.Fatalf("payouts = %v", ps)
	}
}

func TestApprovalBadInputProducesNothing(t *testing.T) {
	a := newApprovalEnv(t)
	it := a.paid("5000")
	owner := a.env.keys.Secret
	cases := []struct {
		name, path, key, body string
		status                int
		code, param           string
	}{
		{"user without name", "/v1/users", owner, `{"approver":true}`, 400, "parameter_missing", "name"},
		{"user name too long", "/v1/users", owner, `{"name":"` + strings.Repeat("n", 101) + `"}`, 400, "parameter_invalid", "name"},
		{"user approver as string", "/v1/users", owner, `{"name":"x","approver":"yes"}`, 400, "parameter_invalid", "approver"},
		{"user made by a user", "/v1/users", a.keys["alice"], `{"name":"x"}`, 403, "owner_key_required", ""},
		{"policy N too big", "/v1/approval_policy", owner, `{"threshold":"1","asset":"ETH","approvals_required":4}`, 400, "approvals_required_too_many", "approvals_required"},
		{"policy N zero", "/v1/approval_policy", owner, `{"threshold":"1","asset":"ETH","approvals_required":0}`, 400, "parameter_invalid", "approvals_required"},
		{"policy bad threshold", "/v1/approval_policy", owner, `{"threshold":"-1","asset":"ETH","approvals_required":1}`, 400, "amount_invalid", "threshold"},
		{"policy unknown asset", "/v1/approval_policy", owner, `{"threshold":"1","asset":"DOGE","approvals_required":1}`, 400, "asset_unknown", "asset"},
		{"policy bad address", "/v1/approval_policy", owner, `{"threshold":"1","asset":"ETH","approvals_required":1,"payout_address":"0x12"}`, 400, "address_invalid", "payout_address"},
		{"policy by a user", "/v1/approval_policy", a.keys["alice"], `{"threshold":"1","asset":"ETH","approvals_required":1}`, 403, "owner_key_required", ""},
		{"refund zero", "/v1/payment_intents/" + it.ID + "/refunds", owner, `{"amount":"0"}`, 400, "amount_invalid", "amount"},
		{"refund fraction", "/v1/payment_intents/" + it.ID + "/refunds", owner, `{"amount":"1.5"}`, 400, "amount_invalid", "amount"},
		{"refund over received", "/v1/payment_intents/" + it.ID + "/refunds", owner, `{"amount":"5001"}`, 400, "amount_exceeds_refundable", "amount"},
		{"refund unknown field", "/v1/payment_intents/" + it.ID + "/refunds", owner, `{"amount":"1","reason":"x"}`, 400, "parameter_unknown", "reason"},
		{"refund unknown intent", "/v1/payment_intents/pi_nope/refunds", owner, `{"amount":"1"}`, 404, "intent_unknown", "id"},
		{"payout no amount", "/v1/payouts", owner, `{"asset":"ETH","chain_id":1337}`, 400, "parameter_missing", "amount"},
		{"payout unknown chain", "/v1/payouts", owner, `{"amount":"1","asset":"ETH","chain_id":5}`, 400, "chain_unknown", "chain_id"},
		{"payout bad destination", "/v1/payouts", owner, `{"amount":"1","asset":"ETH","chain_id":1337,"destination":"0xzz00000000000000000000000000000000000000"}`, 400, "address_invalid", "destination"},
		{"payout huge", "/v1/payouts", owner, `{"amount":"1` + strings.Repeat("0", 80) + `","asset":"ETH","chain_id":1337}`, 400, "amount_too_large", "amount"},
		{"approve with a body", "/v1/approvals/apr_x/approve", a.keys["bob"], `{"ok":true}`, 400, "parameter_unknown", "ok"},
		{"approve unknown", "/v1/approvals/apr_x/approve", a.keys["bob"], ``, 404, "approval_unknown", "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.do("POST", c.path, c.key, c.body, "Idempotency-Key", "k-"+strings.ReplaceAll(c.name, " ", "-"))
			ae := r.apiError(t)
			if r.status != c.status || ae.Code != c.code || ae.Param != c.param || ae.Message == "" {
				t.Fatalf("%d %s, want %d %s param %q", r.status, r.body, c.status, c.code, c.param)
			}
		})
	}
	if n := len(a.approvalRecords()); n != 0 {
		t.Fatalf("%d approval records, want none", n)
	}
	if n := len(a.payoutRecords()); n != 0 {
		t.Fatalf("%d payout records, want none", n)
	}
	if got := a.refunds(it.ID); len(got) != 0 {
		t.Fatalf("refunds: %v", got)
	}
	// A merchant without payout_address must name a destination.
	e2, _ := newFeatureEnv(t)
	if r := e2.do("POST", "/v1/payouts", e2.keys.Secret, `{"amount":"1","asset":"ETH","chain_id":1337}`); r.status != 400 || r.apiError(t).Param != "destination" {
		t.Fatalf("payout without destination: %d %s", r.status, r.body)
	}
}

func FuzzApprovalRequests(f *testing.F) {
	f.Add(0, []byte(`{"name":"alice","approver":true}`))
	f.Add(1, []byte(`{"threshold":"0","asset":"ETH","approvals_required":2,"payout_address":"0x00000000000000000000000000000000000000a1"}`))
	f.Add(1, []byte(`{"threshold":000,"asset":"ETH","approvals_required":1}`))
	f.Add(2, []byte(`{"amount":"12"}`))
	f.Add(3, []byte(`{"amount":"1","asset":"ETH","chain_id":1,"destination":"0xAA000000000000000000000000000000000000a1"}`))
	assets := []Asset{{Code: "ETH", Decimals: 18, ChainIDs: []uint64{1, 1337}}}
	f.Fuzz(func(t *testing.T, kind int, body []byte) {
		check := func(aerr *APIError) {
			if aerr != nil && (aerr.Status != http.StatusBadRequest || aerr.Message == "" || aerr.Code == "") {
				t.Fatalf("error %+v", aerr)
			}
		}
		switch ((kind % 4) + 4) % 4 {
		case 0:
			var req CreateUserRequest
			if aerr := decodeJSON(body, &req); aerr != nil {
				check(aerr)
				return
			}
			check(req.validate())
		case 1:
			var req ApprovalPolicyRequest
			if aerr := decodeJSON(body, &req); aerr != nil {
				check(aerr)
				return
			}
			p, aerr := req.validate(assets)
			check(aerr)
			if aerr == nil && (p.n < 1 || p.threshold.GetValue() == "" || (p.payoutAddress != nil && len(*p.payoutAddress) != 42)) {
				t.Fatalf("accepted %s as %+v", body, p)
			}
		case 2:
			var req CreateRefundRequest
			if aerr := decodeJSON(body, &req); aerr != nil {
				check(aerr)
				return
			}
			v, aerr := parseAmount(req.Amount)
			check(aerr)
			if aerr == nil && (v == "" || v[0] == '0') {
				t.Fatalf("accepted amount %q", v)
			}
		case 3:
			var req CreatePayoutRequest
			if aerr := decodeJSON(body, &req); aerr != nil {
				check(aerr)
				return
			}
			c, aerr := req.validate(assets)
			check(aerr)
			if aerr == nil && (c.amount.GetValue() == "" || c.chainID == 0 || (c.destination != "" && c.destination != strings.ToLower(c.destination))) {
				t.Fatalf("accepted %s as %+v", body, c)
			}
		}
	})
}

// TestEscrowApprovalOpenAPI checks that every escrow and approval route is documented and
// that the $refs of the merged document resolve.
func TestEscrowApprovalOpenAPI(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, route := range []string{"post /v1/escrows", "get /v1/escrows/{id}", "post /v1/users", "post /v1/approval_policy",
		"post /v1/payment_intents/{id}/refunds", "post /v1/payouts", "get /v1/approvals/{id}",
		"post /v1/approvals/{id}/approve", "post /v1/approvals/{id}/reject"} {
		method, path, _ := strings.Cut(route, " ")
		ops, _ := paths[path].(map[string]any)
		if ops[method] == nil {
			t.Errorf("%s is not documented", route)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var at any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := at.(map[string]any)
					at = m[part]
				}
				if at == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

// TestEscrowAndApprovalProjectionRebuild drops the Redis projection and rebuilds it from
// Kafka: pending approvals (with their reservations), the HELD escrows' indexes and the
// remembered conditions come back.
func TestEscrowAndApprovalProjectionRebuild(t *testing.T) {
	a := newApprovalEnv(t)
	e := a.env
	e.eaRun(e.reconDriver(), e.server.runEscrowDriver)
	ctx := context.Background()

	byCondition, byTimeLock := e.createEscrow("rb-a", 2*time.Hour), e.createEscrow("rb-b", 2*time.Hour)
	for _, v := range []EscrowIntent{byCondition, byTimeLock} {
		e.pay(v)
		e.waitEscrow(v.ID, "held")
		e.waitIndexed(v.ID)
	}
	early := e.createEscrow("rb-c", 2*time.Hour)
	e.produceCondition("rb-c", "", time.Now()) // remembered only by the rebuild
	it := a.paid("5000")
	_, rf := a.refund(e.keys.Secret, it.ID, "3000")
	a.decide("alice", "approve", rf.Approval.ID)

	flushPrefix(e.rdb, e.store.prefix)
	if r := e.do("GET", "/v1/approvals/"+rf.Approval.ID, e.keys.Secret, ""); r.status == http.StatusOK {
		t.Fatal("the projection was not dropped")
	}
	pctx, cancel := context.WithCancel(ctx)
	extra := map[string]func(context.Context, []byte) error{}
	for _, tp := range []string{TopicConditions, TopicApprovals, TopicPayouts} {
		extra[tp] = e.server.Projections()[tp]
	}
	p := &Projector{Brokers: e.brokers, Store: e.store, TopicPrefix: e.prefix, OnIntent: e.server.escrowHook, Extra: extra}
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-p.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("the projection did not catch up")
	}
	e.server.mu.Lock()
	clear(e.server.merchants)
	e.server.mu.Unlock()

	// The pending approval, and the amount it holds.
	if got := a.approval(rf.Approval.ID); got.Status != "pending" || len(got.ApprovedBy) != 1 {
		t.Fatalf("approval after the rebuild = %+v", got)
	}
	if r, _ := a.refund(e.keys.Secret, it.ID, "2001"); r.status != http.StatusBadRequest {
		t.Fatalf("refund over what is left after the rebuild: %d %s", r.status, r.body)
	}
	if r, got := a.decide("bob", "approve", rf.Approval.ID); r.status != http.StatusOK || got.Status != "executed" {
		t.Fatalf("approve after the rebuild: %d %s", r.status, r.body)
	}
	if got := a.refunds(it.ID); len(got) != 1 || got[rf.ID] != 1 {
		t.Fatalf("refunds: %v", got)
	}
	// The condition index: a condition event releases the held escrow.
	if err := e.server.handleCondition(ctx, &paymentsv1.ConditionEvent{Meta: &commonv1.Meta{EventId: conditionEventID("rb-a")},
		ConditionId: "rb-a"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.waitEscrow(byCondition.ID, "released")
	// The remembered condition: paying the escrow releases it.
	e.pay(early)
	e.waitEscrow(early.ID, "released")
	// The time-lock index: the tick refunds the other held escrow.
	a.clock.advance(2*time.Hour + time.Minute)
	if n, err := e.server.expireEscrows(ctx); err != nil || n != 1 {
		t.Fatalf("time locks after the rebuild: %d moved, %v", n, err)
	}
	e.waitEscrow(byTimeLock.ID, "refunded")
}
