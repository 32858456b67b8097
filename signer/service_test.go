package signer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/codec"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
)

const testToken = "test-operator-token-0123456789"

// harness is a signer.Service on the real Kafka and geth --dev, with its API address.
type harness struct {
	t       *testing.T
	base    string
	prefix  string
	brokers []string
	rc      *rpc.Client
	ec      *ethclient.Client
	chainID *big.Int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	brokers := testenv.Kafka(t)
	url := testenv.EthRPC(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := &harness{t: t, brokers: brokers, prefix: fmt.Sprintf("signertest-%d.", time.Now().UnixNano())}
	var err error
	if h.rc, err = rpc.DialContext(ctx, url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.rc.Close)
	h.ec = ethclient.NewClient(h.rc)
	if h.chainID, err = h.ec.ChainID(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	topics := []string{h.prefix + signer.TopicRequests, h.prefix + signer.TopicSigned, h.prefix + signer.TopicAudit}
	res, err := adm.CreateTopics(ctx, 1, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topics...) })

	listening := make(chan string, 1)
	svc := &signer.Service{
		Addr: "127.0.0.1:0", Brokers: brokers, TopicPrefix: h.prefix,
		StateDir: t.TempDir(), KeystoreDir: t.TempDir(),
		Passphrase:   func(context.Context) (string, error) { return "correct horse", nil },
		KeystoreOpts: []keys.KeystoreOption{keys.WithScrypt(keys.ScryptLight)},
		Operators:    []signer.Operator{{ID: "operator:alice", Token: testToken}},
		ChainIDs:     []uint64{h.chainID.Uint64()},
		PendingNonce: func(ctx context.Context, _ uint64, from common.Address) (uint64, error) {
			return h.ec.PendingNonceAt(ctx, from)
		},
		OnListen: func(addr string) { listening <- addr },
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case addr := <-listening:
		h.base = "http://" + addr
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-ctx.Done():
		t.Fatal("signer did not listen")
	}
	return h
}

// call sends a JSON request with the operator token (or tok, if given) and decodes the
// answer into out when out is not nil.
func (h *harness) call(method, path string, body any, out any, tok ...string) int {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	token := testToken
	if len(tok) > 0 {
		token = tok[0]
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	h.t.Logf("%s %s -> %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	return resp.StatusCode
}

// fees returns an EIP-1559 tip and fee cap the node accepts.
func (h *harness) fees(ctx context.Context) (tip, feeCap *big.Int) {
	h.t.Helper()
	tip, err := h.ec.SuggestGasTipCap(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if tip.Sign() == 0 {
		tip = big.NewInt(1)
	}
	head, err := h.ec.HeaderByNumber(ctx, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return tip, new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
}

func waitReceipt(ctx context.Context, t *testing.T, ec *ethclient.Client, hash common.Hash) *types.Receipt {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := ec.TransactionReceipt(ctx, hash)
		if err == nil {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("transaction %s not mined: %v", hash.Hex(), err)
		case <-tick.C:
		}
	}
}

// TestServiceSignsThroughPolicyNonceAndAudit runs the signing path end to end on the
// real Kafka and geth --dev: a keystore key made through the API and funded, a policy
// published through the API (deny a blocked address, allow up to 1 ETH, require an
// approval above), an EIP-1559 transfer signed and mined, and every refusal — double
// sign, request id reuse, policy deny, pending approvals, malformed input, unknown key,
// wrong chain, no token — answered clearly, with nothing signed and the audit trail on
// the topics.
func TestServiceSignsThroughPolicyNonceAndAudit(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var key struct{ ID, Address string }
	if st := h.call("POST", "/v1/keys", map[string]string{"label": "hot", "backend": "keystore"}, &key); st != http.StatusCreated {
		t.Fatalf("create key: %d", st)
	}
	var list struct {
		Keys []struct{ ID string } `json:"keys"`
	}
	if st := h.call("GET", "/v1/keys", nil, &list); st != 200 || len(list.Keys) != 1 || list.Keys[0].ID != key.ID {
		t.Fatalf("list keys: %d %+v", st, list)
	}
	from := common.HexToAddress(key.Address)

	var dev []common.Address
	if err := h.rc.CallContext(ctx, &dev, "eth_accounts"); err != nil || len(dev) == 0 {
		t.Fatalf("eth_accounts: %v %v", dev, err)
	}
	var fund common.Hash
	if err := h.rc.CallContext(ctx, &fund, "eth_sendTransaction", map[string]any{"from": dev[0], "to": from,
		"value": (*hexutil.Big)(new(big.Int).Mul(big.NewInt(3), big.NewInt(params.Ether)))}); err != nil {
		t.Fatalf("fund: %v", err)
	}
	waitReceipt(ctx, t, h.ec, fund)

	blocked := "0x000000000000000000000000000000000000dead"
	pol := fmt.Sprintf(`{"id": "default", "rules": [
	  {"name": "blocked", "action": "deny", "match": {"destination": {"addresses": [%q]}}},
	  {"name": "small", "action": "allow", "match": {"assets": ["ETH"], "amount": {"max": "1000000000000000000"}}},
	  {"name": "big", "action": "require_approvals", "match": {"assets": ["ETH"]},
	   "approvals": {"required": 1, "approvers": ["operator:bob", "operator:carol"], "ttl": "1h"}}]}`, blocked)
	var draft struct {
		Version uint64 `json:"version"`
		Hash    string `json:"hash"`
		Status  string `json:"status"`
	}
	if st := h.call("POST", "/v1/policies", pol, &draft); st != http.StatusCreated || draft.Status != "draft" {
		t.Fatalf("draft: %d %+v", st, draft)
	}
	var dry struct {
		Outcome string `json:"outcome"`
		Rule    string `json:"rule"`
	}
	recipient := common.HexToAddress("0x00000000000000000000000000000000000000b0")
	tip, feeCap := h.fees(ctx)
	tx := func(id, value string) map[string]any {
		return map[string]any{"request_id": id, "key_id": key.ID, "chain_id": h.chainID.Uint64(), "purpose": "payout",
			"to": recipient.Hex(), "value": value, "gas": 21000,
			"max_fee_per_gas": feeCap.String(), "max_priority_fee_per_gas": tip.String()}
	}
	if st := h.call("POST", "/v1/policies/dry-run", map[string]any{"policy_id": "default", "version": draft.Version,
		"request": tx("", "1000")}, &dry); st != 200 || dry.Outcome != "allow" || dry.Rule != "small" {
		t.Fatalf("dry run: %d %+v", st, dry)
	}
	var pub struct {
		Status string `json:"status"`
		Hash   string `json:"hash"`
	}
	if st := h.call("POST", fmt.Sprintf("/v1/policies/default/%d/publish", draft.Version), nil, &pub); st != 200 || pub.Status != "published" || pub.Hash != draft.Hash {
		t.Fatalf("publish: %d %+v", st, pub)
	}

	// Allowed: signed, sent, mined.
	var ok signer.TxResponse
	if st := h.call("POST", "/v1/sign/transaction", tx("req-1", "1000"), &ok); st != 200 {
		t.Fatalf("sign: %d", st)
	}
	if ok.From != from.Hex() || !strings.Contains(ok.Policy, pub.Hash) || ok.Rule != "small" {
		t.Fatalf("sign answer %+v", ok)
	}
	var signed types.Transaction
	if err := signed.UnmarshalBinary(hexutil.MustDecode(ok.RawTx)); err != nil {
		t.Fatal(err)
	}
	if signed.Hash().Hex() != ok.Hash || signed.Type() != types.DynamicFeeTxType || signed.Nonce() != ok.Nonce {
		t.Fatalf("raw tx %s does not match the answer %+v", signed.Hash().Hex(), ok)
	}
	if sender, err := types.Sender(types.LatestSignerForChainID(h.chainID), &signed); err != nil || sender != from {
		t.Fatalf("sender %v %v, want %v", sender, err, from)
	}
	if err := h.ec.SendTransaction(ctx, &signed); err != nil {
		t.Fatalf("send: %v", err)
	}
	if r := waitReceipt(ctx, t, h.ec, signed.Hash()); r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt status %d", r.Status)
	}

	// A retry of the same request signs the same transaction again, at the same nonce.
	var again signer.TxResponse
	if st := h.call("POST", "/v1/sign/transaction", tx("req-1", "1000"), &again); st != 200 || again.Hash != ok.Hash {
		t.Fatalf("retry: %d %+v, want hash %s", st, again, ok.Hash)
	}
	var e struct {
		Error   string   `json:"error"`
		Reasons []string `json:"reasons"`
	}
	// The same request id with another body.
	if st := h.call("POST", "/v1/sign/transaction", tx("req-1", "2000"), &e); st != http.StatusConflict || e.Error != "request_id_conflict" {
		t.Fatalf("request id reuse: %d %+v", st, e)
	}
	// Another payload at the nonce already signed.
	double := tx("req-2", "2000")
	double["nonce"] = ok.Nonce
	if st := h.call("POST", "/v1/sign/transaction", double, &e); st != http.StatusConflict || e.Error != "double_sign" {
		t.Fatalf("double sign: %d %+v", st, e)
	}
	// Above 1 ETH: held for approvals.
	var pend signer.PendingResponse
	if st := h.call("POST", "/v1/sign/transaction", tx("req-3", "2000000000000000000"), &pend); st != http.StatusAccepted ||
		pend.ApprovalsRequired != 1 || len(pend.Approvers) != 2 || pend.Rule != "big" {
		t.Fatalf("big: %d %+v", st, pend)
	}
	// To the blocked address: denied.
	deny := tx("req-4", "1")
	deny["to"] = blocked
	if st := h.call("POST", "/v1/sign/transaction", deny, &e); st != http.StatusForbidden || e.Error != "policy_denied" || len(e.Reasons) == 0 {
		t.Fatalf("deny: %d %+v", st, e)
	}
	// Bad input.
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"malformed", `{"request_id": "x", `, 400, "bad_request"},
		{"unknown field", `{"request_id": "x", "key_id": "k", "bogus": 1}`, 400, "bad_request"},
		{"unknown key", func() map[string]any { m := tx("req-5", "1"); m["key_id"] = "nope"; return m }(), 404, "unknown_key"},
		{"wrong chain", func() map[string]any { m := tx("req-6", "1"); m["chain_id"] = h.chainID.Uint64() + 1; return m }(), 400, "wrong_chain"},
		{"negative value", tx("req-7", "-1"), 400, "invalid_amount"},
		{"low gas", func() map[string]any { m := tx("req-8", "1"); m["gas"] = 20000; return m }(), 400, "invalid_transaction"},
		{"no fees", func() map[string]any { m := tx("req-9", "1"); delete(m, "max_fee_per_gas"); return m }(), 400, "invalid_transaction"},
		{"bad to", func() map[string]any { m := tx("req-10", "1"); m["to"] = "0x1234"; return m }(), 400, "invalid_to"},
	} {
		e.Error = ""
		if st := h.call("POST", "/v1/sign/transaction", c.body, &e); st != c.status || e.Error != c.code {
			t.Errorf("%s: %d %q, want %d %q", c.name, st, e.Error, c.status, c.code)
		}
	}
	if st := h.call("POST", "/v1/sign/transaction", tx("req-11", "1"), nil, "wrong-token-wrong-token"); st != http.StatusUnauthorized {
		t.Errorf("bad token: %d", st)
	}

	// The events: exactly the one transaction was signed (twice, the retry, same hash);
	// the requests and every refusal are in the audit trail with the policy version.
	signedEvs := consume[*signerv1.SignedTransaction](ctx, t, h.brokers, h.prefix+signer.TopicSigned, 2)
	for _, ev := range signedEvs {
		if ev.GetTransactionHash() != ok.Hash || ev.GetRequestId() != "req-1" || ev.GetFrom() != from.Hex() || ev.GetNonce() != ok.Nonce {
			t.Errorf("signed event %v", ev)
		}
	}
	reqs := consume[*signerv1.SigningRequest](ctx, t, h.brokers, h.prefix+signer.TopicRequests, 5)
	byID := map[string]*signerv1.SigningRequest{}
	for _, r := range reqs {
		byID[r.GetRequestId()] = r
	}
	if r := byID["req-1"]; r == nil || r.GetPolicyId() != "default" || r.GetValue().GetValue() != "1000" || r.GetRequester() != "operator:alice" {
		t.Errorf("request event req-1: %v", r)
	}
	if r := byID["req-3"]; r == nil || r.GetApprovalsRequired() != 1 {
		t.Errorf("request event req-3: %v", r)
	}
	audits := consume[*signerv1.AuditRecord](ctx, t, h.brokers, h.prefix+signer.TopicAudit, 17)
	var signedOK, doubleRefused, denied, unknown bool
	for _, a := range audits {
		switch {
		case a.GetRequestId() == "req-1" && a.GetAction() == "sign" && a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_ALLOWED:
			signedOK = strings.Contains(a.GetResource(), pub.Hash) && strings.Contains(a.GetResource(), "rule:small")
		case a.GetRequestId() == "req-2":
			doubleRefused = a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_DENIED && strings.HasPrefix(a.GetReason(), "double_sign")
		case a.GetRequestId() == "req-4":
			denied = a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_DENIED && strings.Contains(a.GetResource(), "rule:blocked")
		case a.GetRequestId() == "req-5":
			unknown = strings.HasPrefix(a.GetReason(), "unknown_key")
		}
		if strings.Contains(a.String(), testToken) || strings.Contains(a.String(), "correct horse") {
			t.Errorf("secret in audit record %v", a)
		}
	}
	if !signedOK || !doubleRefused || !denied || !unknown {
		t.Errorf("audit trail: signed %v, double sign refused %v, denied %v, unknown key %v", signedOK, doubleRefused, denied, unknown)
	}
}

// consume reads the records of topic from the start until it has at least n (or the
// context ends) and decodes them.
func consume[E codec.Event](ctx context.Context, t *testing.T, brokers []string, topic string, n int) []E {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []E
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("%s: %d records, want %d", topic, len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var ev E
			ev = ev.ProtoReflect().New().Interface().(E)
			if err := codec.Unmarshal(r.Value, ev); err != nil {
				t.Errorf("%s: %v", topic, err)
				return
			}
			out = append(out, ev)
		})
	}
	return out
}
