package policy

import (
	"context"
	"errors"
	"testing"
	"time"
)

func approvalDecision(t *testing.T, n int, ttl time.Duration) Decision {
	t.Helper()
	p := &Policy{ID: "p", Rules: []Rule{{Name: "two", Action: ActionRequireApprovals,
		Approvals: &ApprovalRequirement{Required: n, Approvers: []string{"bob", "carol", "dan", "alice"}, TTL: Duration(ttl)}}}}
	d, err := p.Evaluate(context.Background(), request(), nil)
	if err != nil || d.Outcome != OutcomeRequireApprovals {
		t.Fatalf("%+v, %v", d, err)
	}
	return d
}

func TestApprovals(t *testing.T) {
	d := approvalDecision(t, 2, time.Hour)
	a, err := NewApprovals("req-1", "0xpayload", "alice", t0, d)
	if err != nil {
		t.Fatal(err)
	}
	ok := func(approver string, at time.Duration) Approval {
		return Approval{RequestID: "req-1", PayloadHash: "0xpayload", ApproverID: approver, Decision: Approved, Time: t0.Add(at)}
	}
	if st, n := a.Status(t0); st != StatusPending || n != 0 {
		t.Fatalf("start: %s %d", st, n)
	}
	if err := a.Add(ok("bob", time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Refusals leave the state as it was.
	for name, tc := range map[string]struct {
		ap   Approval
		want error
	}{
		"same approver twice": {ok("bob", 2*time.Minute), ErrDuplicateApproval},
		"other request":       {func() Approval { x := ok("carol", time.Minute); x.RequestID = "req-2"; return x }(), ErrWrongRequest},
		"other payload":       {func() Approval { x := ok("carol", time.Minute); x.PayloadHash = "0xother"; return x }(), ErrPayloadMismatch},
		"not an approver":     {ok("mallory", time.Minute), ErrNotApprover},
		"requester":           {ok("alice", time.Minute), ErrSelfApproval},
		"after expiry":        {ok("carol", time.Hour+time.Nanosecond), ErrApprovalWindow},
		"before the request":  {ok("carol", -time.Second), ErrApprovalWindow},
	} {
		if err := a.Add(tc.ap); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if st, n := a.Status(t0.Add(2 * time.Minute)); st != StatusPending || n != 1 {
		t.Fatalf("after refusals: %s %d", st, n)
	}
	// The second distinct approver, at the very end of the window.
	if err := a.Add(ok("carol", time.Hour)); err != nil {
		t.Fatal(err)
	}
	// bob's approval (t0+1m) is valid until t0+1h1m: only then is there a quorum at
	// t0+1h; once bob's expires it is gone.
	if st, n := a.Status(t0.Add(time.Hour)); st != StatusApproved || n != 2 {
		t.Fatalf("quorum: %s %d", st, n)
	}
	if st, n := a.Status(t0.Add(time.Hour + time.Minute - 1)); st != StatusApproved || n != 2 {
		t.Fatalf("quorum at the last ns: %s %d", st, n)
	}
	if st, n := a.Status(t0.Add(time.Hour + time.Minute)); st != StatusExpired || n != 1 {
		t.Fatalf("after bob's approval expired: %s %d", st, n)
	}
	// An approval given later than the time asked about does not count yet.
	if st, n := a.Status(t0.Add(30 * time.Minute)); st != StatusPending || n != 1 {
		t.Fatalf("at 30m: %s %d", st, n)
	}
}

func TestApprovalsExpireBeforeQuorum(t *testing.T) {
	d := approvalDecision(t, 2, 10*time.Minute)
	a, err := NewApprovals("r", "h", "", t0, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(Approval{RequestID: "r", PayloadHash: "h", ApproverID: "bob", Decision: Approved, Time: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(Approval{RequestID: "r", PayloadHash: "h", ApproverID: "carol", Decision: Approved, Time: t0.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// bob's expired at exactly t0+10m, when carol's came: never two valid at once. The
	// window is still open at t0+10m and closed just after.
	if st, n := a.Status(t0.Add(10 * time.Minute)); st != StatusPending || n != 1 {
		t.Fatalf("%s %d", st, n)
	}
	if st, n := a.Status(t0.Add(10*time.Minute + 1)); st != StatusExpired || n != 1 {
		t.Fatalf("%s %d", st, n)
	}
	if st, _ := a.Status(t0.Add(5 * time.Minute)); st != StatusPending {
		t.Fatalf("%s", st)
	}
}

func TestApprovalsRejection(t *testing.T) {
	d := approvalDecision(t, 1, time.Hour)
	a, err := NewApprovals("r", "h", "", t0, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(Approval{RequestID: "r", PayloadHash: "h", ApproverID: "dan", Decision: Rejected, Time: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(Approval{RequestID: "r", PayloadHash: "h", ApproverID: "bob", Decision: Approved, Time: t0}); !errors.Is(err, ErrClosed) {
		t.Fatalf("approval after rejection: %v", err)
	}
	if st, _ := a.Status(t0); st != StatusRejected {
		t.Fatalf("%s", st)
	}
	if err := a.Add(Approval{RequestID: "r", PayloadHash: "h", ApproverID: "bob", Decision: "maybe", Time: t0}); err == nil {
		t.Fatal("unknown decision accepted")
	}
}

func TestNewApprovalsRefuses(t *testing.T) {
	d := approvalDecision(t, 1, time.Hour)
	if _, err := NewApprovals("", "h", "", t0, d); err == nil {
		t.Error("no request id")
	}
	if _, err := NewApprovals("r", "", "", t0, d); err == nil {
		t.Error("no payload hash")
	}
	if _, err := NewApprovals("r", "h", "", t0, Decision{Outcome: OutcomeAllow}); err == nil {
		t.Error("allow decision")
	}
	bad := d
	bad.ApprovalsRequired = 9
	if _, err := NewApprovals("r", "h", "", t0, bad); err == nil {
		t.Error("N > M")
	}
}
