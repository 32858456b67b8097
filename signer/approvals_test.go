package signer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
	"github.com/weirhq/weir/signer/nonce"
	"github.com/weirhq/weir/signer/policy"
)

// Operator tokens of the approval tests: alice requests, bob, carol and dave approve.
var approvalTokens = map[string]string{
	"operator:alice": "alice-token-0123456789abcdef",
	"operator:bob":   "bob-token-0123456789abcdef00",
	"operator:carol": "carol-token-0123456789abcdef",
	"operator:dave":  "dave-token-0123456789abcdef0",
}

// approvalsPolicy allows up to 1000 wei and holds anything above for 2 of bob, carol
// and dave, each approval valid for an hour.
const approvalsPolicy = `{"id": "default", "rules": [
  {"name": "small", "action": "allow", "match": {"assets": ["ETH"], "amount": {"max": "1000"}}},
  {"name": "big", "action": "require_approvals", "match": {"assets": ["ETH"]},
   "approvals": {"required": 2, "approvers": ["operator:bob", "operator:carol", "operator:dave"], "ttl": "1h"}}]}`

// apiEnv is a Server on kfake (every signer topic seeded) with a light keystore, a
// Pebble nonce store, in-memory policy state, the approval operators and a clock the
// test moves.
type apiEnv struct {
	t       testing.TB
	url     string
	key     string
	from    common.Address
	brokers []string
	now     atomic.Int64 // unix nanoseconds
	ks      *keys.Keystore
	opts    signer.Options // without Requests
	rlDir   string
	rl      *signer.RequestLog
	hs      *httptest.Server
}

func newAPIEnv(t testing.TB, policyJSON string) *apiEnv {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0),
		kfake.SeedTopics(1, signer.TopicRequests, signer.TopicSigned, signer.TopicAudit, signer.TopicApprovals))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := &apiEnv{t: t, brokers: c.ListenAddrs()}
	e.now.Store(time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC).UnixNano())
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e.ks, err = keys.NewKeystore(t.TempDir(), keys.WithScrypt(keys.ScryptLight),
		keys.WithPassphrase(func(context.Context) (string, error) { return "pw", nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.ks.Close() })
	k, err := e.ks.Create(context.Background(), "hot")
	if err != nil {
		t.Fatal(err)
	}
	e.key, e.from = k.ID, k.Address
	nm, err := nonce.Open(t.TempDir(), func(context.Context, uint64, common.Address) (uint64, error) { return 0, nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nm.Close() })
	store := policy.NewStore()
	p, err := policy.ParsePolicy([]byte(policyJSON))
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.Draft(*p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Publish(d.ID, d.Version); err != nil {
		t.Fatal(err)
	}
	var ops []signer.Operator
	for id, tok := range approvalTokens {
		ops = append(ops, signer.Operator{ID: id, Token: tok})
	}
	e.opts = signer.Options{
		Backends: map[string]keys.Backend{keys.BackendKeystore: e.ks}, Policies: store,
		Engine: policy.NewEngine(store, policy.NewMemState()), Nonces: nm, Client: cl,
		Operators: ops, ChainIDs: []uint64{chainID}, Now: func() time.Time { return time.Unix(0, e.now.Load()) },
		Logger: slog.New(slog.DiscardHandler),
	}
	e.rlDir = t.TempDir()
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start opens the request log and serves a Server over it.
func (e *apiEnv) start() {
	e.t.Helper()
	rl, err := signer.OpenRequestLog(e.rlDir, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	o := e.opts
	o.Requests = rl
	srv, err := signer.NewServer(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.rl, e.hs = rl, httptest.NewServer(srv)
	e.url = e.hs.URL
}

func (e *apiEnv) stop() {
	if e.hs != nil {
		e.hs.Close()
		_ = e.rl.Close()
		e.hs = nil
	}
}

// restart replaces the Server and its request log with new ones on the same directory,
// as a restarted signer has them (the nonce store, keystore and policies are kept).
func (e *apiEnv) restart() {
	e.stop()
	e.start()
}

func (e *apiEnv) advance(d time.Duration) { e.now.Add(int64(d)) }

// call sends body (JSON-encoded unless []byte) as operator as and decodes the answer
// into out, if not nil; it returns the status.
func (e *apiEnv) call(as, method, path string, body, out any) int {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+approvalTokens[as])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			e.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, rb, err)
		}
	}
	return res.StatusCode
}

func (e *apiEnv) tx(id, value string) map[string]any {
	return map[string]any{"request_id": id, "key_id": e.key, "chain_id": chainID, "purpose": "payout",
		"to": "0x00000000000000000000000000000000000000b0", "value": value, "gas": 21000,
		"max_fee_per_gas": "2000000000", "max_priority_fee_per_gas": "1000000000"}
}

// records returns how many records topic holds.
func (e *apiEnv) records(topic string) int64 {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// audits returns every AuditRecord on signer.audit.
func (e *apiEnv) audits() []*signerv1.AuditRecord {
	e.t.Helper()
	t, ok := e.t.(*testing.T)
	if !ok {
		e.t.Fatal("audits needs a *testing.T")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return consume[*signerv1.AuditRecord](ctx, t, e.brokers, signer.TopicAudit, int(e.records(signer.TopicAudit)))
}

type apiErr struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// findAudit returns the first audit record that f accepts, or nil.
func findAudit(as []*signerv1.AuditRecord, f func(a *signerv1.AuditRecord) bool) *signerv1.AuditRecord {
	for _, a := range as {
		if f(a) {
			return a
		}
	}
	return nil
}

// TestApprovalsPendingThenSignedOnce: a transfer above the allow rule's limit is held
// (202, pending, audited) instead of refused; bob's approval counts, his replay and the
// requester's own approval are refused with audit records; then carol's and dave's
// approvals race from two goroutines and the request is signed exactly once, at the
// nonce reserved then (0), by the key: one SignedTransaction on Kafka, GET and a retry of
// the sign request answer that transaction.
func TestApprovalsPendingThenSignedOnce(t *testing.T) {
	e := newAPIEnv(t, approvalsPolicy)
	var held signer.RequestStatus
	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("big-1", "5000"), &held); st != http.StatusAccepted ||
		held.Status != signer.StatusPendingApprovals || held.ApprovalsRequired != 2 || len(held.Approvers) != 3 || held.RequestHash == "" {
		t.Fatalf("held: %d %+v", st, held)
	}
	var got signer.RequestStatus
	if st := e.call("operator:bob", "GET", "/v1/requests/big-1", nil, &got); st != 200 || got.Status != signer.StatusPendingApprovals {
		t.Fatalf("GET: %d %+v", st, got)
	}
	approve := func(as string) signer.ApprovalRequest {
		return signer.ApprovalRequest{Decision: "approved", RequestHash: held.RequestHash, Reason: "checked with " + as}
	}
	if st := e.call("operator:bob", "POST", "/v1/requests/big-1/approvals", approve("bob"), &got); st != 200 ||
		got.Status != signer.StatusPendingApprovals || got.ApprovalsValid != 1 {
		t.Fatalf("bob: %d %+v", st, got)
	}
	var ae apiErr
	if st := e.call("operator:bob", "POST", "/v1/requests/big-1/approvals", approve("bob"), &ae); st != http.StatusConflict || ae.Error != "approval_replayed" {
		t.Fatalf("bob again: %d %+v", st, ae)
	}
	if st := e.call("operator:alice", "POST", "/v1/requests/big-1/approvals", approve("alice"), &ae); st != http.StatusForbidden || ae.Error != "self_approval" {
		t.Fatalf("requester: %d %+v", st, ae)
	}
	wrong := approve("carol")
	wrong.RequestHash = strings.Repeat("0", 64)
	if st := e.call("operator:carol", "POST", "/v1/requests/big-1/approvals", wrong, &ae); st != http.StatusConflict || ae.Error != "request_hash_mismatch" {
		t.Fatalf("other hash: %d %+v", st, ae)
	}
	if e.records(signer.TopicSigned) != 0 {
		t.Fatal("signed before the quorum")
	}

	// The last approvals race.
	type answer struct {
		status int
		body   signer.RequestStatus
		err    apiErr
	}
	answers := make([]answer, 2)
	var wg sync.WaitGroup
	for i, as := range []string{"operator:carol", "operator:dave"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(approve(as))
			var raw json.RawMessage
			answers[i].status = e.call(as, "POST", "/v1/requests/big-1/approvals", b, &raw)
			_ = json.Unmarshal(raw, &answers[i].body)
			_ = json.Unmarshal(raw, &answers[i].err)
		}()
	}
	wg.Wait()
	var signedBy, refused int
	var tx *signer.TxResponse
	for _, a := range answers {
		switch {
		case a.status == 200 && a.body.Status == signer.StatusSigned && a.body.Transaction != nil:
			signedBy++
			tx = a.body.Transaction
		case a.status == http.StatusConflict && a.err.Error == "request_approved":
			refused++
		default:
			t.Errorf("racing approval: %d %+v %+v", a.status, a.body, a.err)
		}
	}
	if signedBy != 1 || refused != 1 {
		t.Fatalf("racing approvals: %d signed, %d refused; want 1 and 1", signedBy, refused)
	}
	var signed types.Transaction
	if err := signed.UnmarshalBinary(hexutil.MustDecode(tx.RawTx)); err != nil {
		t.Fatal(err)
	}
	if from, err := types.Sender(types.LatestSignerForChainID(signed.ChainId()), &signed); err != nil || from != e.from ||
		signed.Nonce() != 0 || signed.Value().String() != "5000" || signed.Hash().Hex() != tx.Hash {
		t.Fatalf("signed tx: from %v (%v), nonce %d, value %v, hash %s vs %s", from, err, signed.Nonce(), signed.Value(), signed.Hash().Hex(), tx.Hash)
	}
	if st := e.call("operator:alice", "GET", "/v1/requests/big-1", nil, &got); st != 200 || got.Status != signer.StatusSigned ||
		got.Transaction == nil || got.Transaction.Hash != tx.Hash || len(got.Approvals) != 2 {
		t.Fatalf("GET after: %d %+v", st, got)
	}
	var again signer.TxResponse
	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("big-1", "5000"), &again); st != 200 || again.Hash != tx.Hash {
		t.Fatalf("sign retry: %d %+v", st, again)
	}
	// The next request takes the next nonce: the approved one reserved exactly one.
	var small signer.TxResponse
	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("small-1", "10"), &small); st != 200 || small.Nonce != 1 {
		t.Fatalf("next: %d %+v", st, small)
	}
	if n := e.records(signer.TopicSigned); n != 2 {
		t.Fatalf("%d SignedTransaction records, want 2 (the approved one once, the small one)", n)
	}
	if n := e.records(signer.TopicApprovals); n != 2 {
		t.Fatalf("%d SigningApproval records, want 2 (bob and the winner of the race)", n)
	}
	as := e.audits()
	for _, c := range []struct {
		name string
		f    func(a *signerv1.AuditRecord) bool
	}{
		{"held", func(a *signerv1.AuditRecord) bool {
			return a.GetAction() == "sign" && a.GetRequestId() == "big-1" && strings.HasPrefix(a.GetReason(), "pending_approvals") &&
				a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_PENDING
		}},
		{"bob's approval", func(a *signerv1.AuditRecord) bool {
			return a.GetAction() == "approval.decide" && a.GetActorId() == "operator:bob" && a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_ALLOWED
		}},
		{"bob's replay", func(a *signerv1.AuditRecord) bool {
			return a.GetAction() == "approval.decide" && a.GetActorId() == "operator:bob" && strings.HasPrefix(a.GetReason(), "approval_replayed")
		}},
		{"self approval", func(a *signerv1.AuditRecord) bool {
			return a.GetAction() == "approval.decide" && a.GetActorId() == "operator:alice" && strings.HasPrefix(a.GetReason(), "self_approval")
		}},
		{"signed", func(a *signerv1.AuditRecord) bool {
			return a.GetAction() == "sign" && a.GetRequestId() == "big-1" && a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_ALLOWED &&
				strings.HasPrefix(a.GetReason(), "approved by operator:bob, operator:")
		}},
	} {
		if findAudit(as, c.f) == nil {
			t.Errorf("no audit record of %s", c.name)
		}
	}
}

// TestApprovalsExpiredAndRejected: an approval after the window closed is refused (410
// approval_expired) with an audit record, the request expires (a system audit record)
// and nothing is signed; a rejection closes a request, and a later approval is refused.
func TestApprovalsExpiredAndRejected(t *testing.T) {
	e := newAPIEnv(t, approvalsPolicy)
	var held signer.RequestStatus
	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("late-1", "5000"), &held); st != http.StatusAccepted {
		t.Fatalf("held: %d %+v", st, held)
	}
	ok := signer.ApprovalRequest{Decision: "approved", RequestHash: held.RequestHash}
	var got signer.RequestStatus
	if st := e.call("operator:bob", "POST", "/v1/requests/late-1/approvals", ok, &got); st != 200 || got.ApprovalsValid != 1 {
		t.Fatalf("bob: %d %+v", st, got)
	}
	e.advance(61 * time.Minute)
	var ae apiErr
	if st := e.call("operator:carol", "POST", "/v1/requests/late-1/approvals", ok, &ae); st != http.StatusGone || ae.Error != "approval_expired" {
		t.Fatalf("late approval: %d %+v", st, ae)
	}
	if st := e.call("operator:alice", "GET", "/v1/requests/late-1", nil, &got); st != 200 || got.Status != signer.StatusExpired || got.Transaction != nil {
		t.Fatalf("GET: %d %+v", st, got)
	}
	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("late-1", "5000"), &ae); st != http.StatusGone || ae.Error != "approvals_expired" {
		t.Fatalf("sign retry after expiry: %d %+v", st, ae)
	}

	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("no-1", "7000"), &held); st != http.StatusAccepted {
		t.Fatalf("held: %d %+v", st, held)
	}
	no := signer.ApprovalRequest{Decision: "rejected", RequestHash: held.RequestHash, Reason: "unknown payee"}
	if st := e.call("operator:dave", "POST", "/v1/requests/no-1/approvals", no, &got); st != 200 || got.Status != signer.StatusRejected {
		t.Fatalf("reject: %d %+v", st, got)
	}
	ok.RequestHash = held.RequestHash
	if st := e.call("operator:bob", "POST", "/v1/requests/no-1/approvals", ok, &ae); st != http.StatusConflict || ae.Error != "request_rejected" {
		t.Fatalf("approval after rejection: %d %+v", st, ae)
	}
	if st := e.call("operator:bob", "POST", "/v1/requests/nope/approvals", ok, &ae); st != http.StatusNotFound || ae.Error != "unknown_request" {
		t.Fatalf("unknown request: %d %+v", st, ae)
	}
	if n := e.records(signer.TopicSigned); n != 0 {
		t.Fatalf("%d SignedTransaction records, want none", n)
	}
	as := e.audits()
	if findAudit(as, func(a *signerv1.AuditRecord) bool {
		return a.GetActorId() == "operator:carol" && a.GetRequestId() == "late-1" && strings.HasPrefix(a.GetReason(), "approval_expired") &&
			a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_DENIED
	}) == nil {
		t.Error("no audit record of the expired approval")
	}
	if findAudit(as, func(a *signerv1.AuditRecord) bool {
		return a.GetActorType() == signerv1.AuditActorType_AUDIT_ACTOR_TYPE_SYSTEM && a.GetRequestId() == "late-1" &&
			strings.HasPrefix(a.GetReason(), "approvals_expired")
	}) == nil {
		t.Error("no audit record of the request's expiry")
	}
	if findAudit(as, func(a *signerv1.AuditRecord) bool {
		return a.GetActorId() == "operator:bob" && a.GetRequestId() == "no-1" && strings.HasPrefix(a.GetReason(), "request_rejected")
	}) == nil {
		t.Error("no audit record of the approval after the rejection")
	}
}

// FuzzApproval posts arbitrary bodies to /v1/requests/{id}/approvals of a held request:
// the answer is never a server error.
func FuzzApproval(f *testing.F) {
	e := newAPIEnv(f, approvalsPolicy)
	var held signer.RequestStatus
	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("fuzz-1", "5000"), &held); st != http.StatusAccepted {
		f.Fatalf("held: %d", st)
	}
	for _, s := range []string{
		`{"decision":"approved","request_hash":"` + held.RequestHash + `"}`,
		`{"decision":"rejected","request_hash":"` + held.RequestHash + `","reason":"no"}`,
		`{"decision":"maybe","request_hash":"x"}`, `{"decision":"approved"}`, `{}`, `[]`, `null`, `{"decision":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		if st := e.call("operator:bob", "POST", "/v1/requests/fuzz-1/approvals", []byte(body), nil); st >= 500 {
			t.Fatalf("%q: status %d", body, st)
		}
	})
}

// TestApprovalsSurviveRestart: a request held with one approval is still held, with that
// approval, by a restarted signer (new Server, request log reopened): a replay of the
// first approval is still refused, the second one signs it, and the held request is
// then pruned once its window closed HeldRetention ago.
func TestApprovalsSurviveRestart(t *testing.T) {
	e := newAPIEnv(t, approvalsPolicy)
	var held signer.RequestStatus
	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("restart-1", "5000"), &held); st != http.StatusAccepted {
		t.Fatalf("held: %d %+v", st, held)
	}
	ok := signer.ApprovalRequest{Decision: "approved", RequestHash: held.RequestHash}
	var got signer.RequestStatus
	if st := e.call("operator:bob", "POST", "/v1/requests/restart-1/approvals", ok, &got); st != 200 || got.ApprovalsValid != 1 {
		t.Fatalf("bob: %d %+v", st, got)
	}
	e.restart()
	if st := e.call("operator:alice", "GET", "/v1/requests/restart-1", nil, &got); st != 200 ||
		got.Status != signer.StatusPendingApprovals || len(got.Approvals) != 1 || got.Approvals[0].Approver != "operator:bob" {
		t.Fatalf("GET after restart: %d %+v", st, got)
	}
	var ae apiErr
	if st := e.call("operator:bob", "POST", "/v1/requests/restart-1/approvals", ok, &ae); st != http.StatusConflict || ae.Error != "approval_replayed" {
		t.Fatalf("bob again after restart: %d %+v", st, ae)
	}
	e.restart()
	if st := e.call("operator:carol", "POST", "/v1/requests/restart-1/approvals", ok, &got); st != 200 ||
		got.Status != signer.StatusSigned || got.Transaction == nil || got.Transaction.Nonce != 0 {
		t.Fatalf("carol: %d %+v", st, got)
	}
	e.restart()
	var again signer.TxResponse
	if st := e.call("operator:alice", "POST", "/v1/sign/transaction", e.tx("restart-1", "5000"), &again); st != 200 || again.Hash != got.Transaction.Hash {
		t.Fatalf("sign retry after restart: %d %+v, want %s", st, again, got.Transaction.Hash)
	}
	if n := e.records(signer.TopicSigned); n != 1 {
		t.Fatalf("%d SignedTransaction records, want 1", n)
	}
	if n, err := e.rl.PruneHeld(time.Unix(0, e.now.Load()).Add(time.Hour + signer.HeldRetention - time.Minute)); err != nil || n != 0 {
		t.Fatalf("prune before the retention: %d %v", n, err)
	}
	if n, err := e.rl.PruneHeld(time.Unix(0, e.now.Load()).Add(time.Hour + signer.HeldRetention + time.Minute)); err != nil || n != 1 {
		t.Fatalf("prune after the retention: %d %v", n, err)
	}
	if st := e.call("operator:alice", "GET", "/v1/requests/restart-1", nil, &ae); st != http.StatusNotFound {
		t.Fatalf("GET after prune: %d %+v", st, ae)
	}
}
