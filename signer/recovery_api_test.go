package signer_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
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
	"github.com/weirhq/weir/signer/nonce"
	"github.com/weirhq/weir/signer/policy"
	"github.com/weirhq/weir/signer/recovery"
	"github.com/weirhq/weir/signer/shamir"
)

const recToken = "recovery-operator-token-0123456789"

// recClock is the Server's clock, moved by the test.
type recClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *recClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *recClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recHarness is a signer.Server with the recovery store on the real Kafka (and geth
// --dev when the test needs a chain), over state directories that survive restart.
type recHarness struct {
	t        *testing.T
	brokers  []string
	prefix   string
	dir      string
	clock    *recClock
	chainID  uint64
	ec       *ethclient.Client
	rc       *rpc.Client
	ks       *keys.Keystore
	base     string
	closeAll func()
	hsm      string // PKCS#11 module of an HSM backend, if any
	noKafka  bool   // produce to a broker that is not there (events fail after 2 s)
}

// newRecHarness starts the Server; withChain dials geth --dev and serves its chain
// (pending nonces and balances from it), else chain 1337 with pending nonce 0.
func newRecHarness(t *testing.T, withChain bool) *recHarness {
	t.Helper()
	return newRecHarnessWith(t, withChain, "")
}

// newRecHarnessWith is newRecHarness with an HSM backend on the PKCS#11 module hsm
// (token recHSMToken, PIN 1234) when hsm is not empty.
func newRecHarnessWith(t *testing.T, withChain bool, hsm string) *recHarness {
	t.Helper()
	h := &recHarness{t: t, brokers: testenv.Kafka(t), prefix: fmt.Sprintf("rectest-%d.", time.Now().UnixNano()),
		dir: t.TempDir(), clock: &recClock{t: time.Now().UTC().Truncate(time.Second)}, chainID: 1337, hsm: hsm}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if withChain {
		var err error
		if h.rc, err = rpc.DialContext(ctx, testenv.EthRPC(t)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.rc.Close)
		h.ec = ethclient.NewClient(h.rc)
		id, err := h.ec.ChainID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h.chainID = id.Uint64()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := []string{}
	for _, tp := range []string{signer.TopicRequests, signer.TopicSigned, signer.TopicAudit, signer.TopicRecovery} {
		topics = append(topics, h.prefix+tp)
	}
	res, err := adm.CreateTopics(ctx, 1, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	t.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...))
		if err == nil {
			_, _ = kadm.NewClient(cl).DeleteTopics(context.Background(), topics...)
			cl.Close()
		}
	})
	h.start()
	t.Cleanup(func() { h.closeAll() })
	return h
}

// start opens the state in h.dir and serves the API.
func (h *recHarness) start() {
	t := h.t
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var closers []func() error
	ks, err := keys.NewKeystore(filepath.Join(h.dir, "keystore"), keys.WithPassphrase(func(context.Context) (string, error) {
		return "correct horse", nil
	}), keys.WithScrypt(keys.ScryptLight))
	must(err)
	h.ks = ks
	closers = append(closers, ks.Close)
	pending := func(ctx context.Context, _ uint64, from common.Address) (uint64, error) {
		if h.ec == nil {
			return 0, nil
		}
		return h.ec.PendingNonceAt(ctx, from)
	}
	nm, err := nonce.Open(filepath.Join(h.dir, "nonces"), pending)
	must(err)
	closers = append(closers, nm.Close)
	ps, err := policy.OpenPebbleState(filepath.Join(h.dir, "policy"), nil)
	must(err)
	closers = append(closers, ps.Close)
	store, err := policy.OpenStore(ps)
	must(err)
	rl, err := signer.OpenRequestLog(filepath.Join(h.dir, "requests"), nil)
	must(err)
	closers = append(closers, rl.Close)
	rs, err := recovery.Open(filepath.Join(h.dir, "recovery"), recovery.WithMinDelay(time.Hour))
	must(err)
	closers = append(closers, rs.Close)
	kopts := []kgo.Opt{kgo.SeedBrokers(h.brokers...), kgo.ProducerLinger(0)}
	if h.noKafka {
		kopts = []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1"), kgo.ProducerLinger(0), kgo.RecordDeliveryTimeout(2 * time.Second)}
	}
	cl, err := kgo.NewClient(kopts...)
	must(err)
	closers = append(closers, func() error { cl.Close(); return nil })
	backends := map[string]keys.Backend{keys.BackendKeystore: ks}
	if h.hsm != "" {
		hsm, err := keys.NewHSM(context.Background(), h.hsm, keys.WithTokenLabel(recHSMToken),
			keys.WithPIN(func(context.Context) (string, error) { return "1234", nil }))
		must(err)
		closers = append(closers, hsm.Close)
		backends[keys.BackendHSM] = hsm
	}
	o := signer.Options{Backends: backends, Policies: store,
		Engine: policy.NewEngine(store, ps), Nonces: nm, Requests: rl, Client: cl, TopicPrefix: h.prefix,
		Operators: []signer.Operator{{ID: "operator:alice", Token: recToken}}, ChainIDs: []uint64{h.chainID},
		Now: h.clock.Now, Recovery: rs}
	if h.ec != nil {
		o.Balance = func(ctx context.Context, _ uint64, a common.Address) (*big.Int, error) {
			return h.ec.BalanceAt(ctx, a, nil)
		}
	}
	srv, err := signer.NewServer(o)
	must(err)
	hs := httptest.NewServer(srv)
	h.base = hs.URL
	h.closeAll = func() {
		hs.Close()
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](); err != nil {
				t.Errorf("close: %v", err)
			}
		}
		h.closeAll = func() {}
	}
}

// restart closes everything and opens it again from the same directories.
func (h *recHarness) restart() {
	h.closeAll()
	h.start()
}

// call sends body as JSON and decodes the answer into out (if not nil).
func (h *recHarness) call(method, path string, body, out any) int {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+recToken)
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
	h.t.Logf("%s %s -> %d %s", method, path, resp.StatusCode, truncateLog(bytes.TrimSpace(b)))
	return resp.StatusCode
}

func truncateLog(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}

// expect calls and checks the status (and the error code for errors).
func (h *recHarness) expect(method, path string, body any, status int, code string, out any) {
	h.t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if out == nil {
		out = &e
	}
	var raw json.RawMessage
	st := h.call(method, path, body, &raw)
	if st != status {
		h.t.Fatalf("%s %s: status %d %s, want %d %s", method, path, st, raw, status, code)
	}
	if code != "" {
		_ = json.Unmarshal(raw, &e)
		if e.Error != code {
			h.t.Fatalf("%s %s: error %q, want %q", method, path, e.Error, code)
		}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		h.t.Fatal(err)
	}
}

type recGuardian struct {
	id   string
	key  *ecdsa.PrivateKey
	ct   []byte            // the split's share ciphertext to this guardian
	sign *ecdsa.PrivateKey // if set, signs instead of key (a forgery)
}

func newGuardians(t *testing.T, n int) []*recGuardian {
	var gs []*recGuardian
	for i := range n {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, &recGuardian{id: fmt.Sprintf("guardian:%c", 'a'+i), key: k})
	}
	return gs
}

// createKey makes a keystore key through the API.
func (h *recHarness) createKey(label string) (id string, addr common.Address) {
	var k struct{ ID, Address string }
	h.expect("POST", "/v1/keys", map[string]string{"label": label}, http.StatusCreated, "", &k)
	return k.ID, common.HexToAddress(k.Address)
}

// split splits keyID threshold-of-len(gs) and gives each guardian its ciphertext.
func (h *recHarness) split(keyID string, threshold int, gs []*recGuardian) signer.SplitResponse {
	h.t.Helper()
	req := signer.SplitRequest{Threshold: threshold}
	for i, g := range gs {
		pub := crypto.FromECDSAPub(&g.key.PublicKey)
		if i%2 == 1 {
			pub = crypto.CompressPubkey(&g.key.PublicKey)
		}
		req.Guardians = append(req.Guardians, signer.GuardianRequest{ID: g.id, PublicKey: hexutil.Encode(pub)})
	}
	var out signer.SplitResponse
	h.expect("POST", "/v1/keys/"+keyID+"/split", req, http.StatusCreated, "", &out)
	if len(out.Shares) != len(gs) || out.Threshold != threshold {
		h.t.Fatalf("split answer %+v", out)
	}
	for i, s := range out.Shares {
		if s.GuardianID != gs[i].id || s.Index != i+1 {
			h.t.Fatalf("share %d: %+v", i, s)
		}
		gs[i].ct = hexutil.MustDecode(s.Ciphertext)
	}
	return out
}

func (h *recHarness) startRecovery(keyID, delay string) signer.RecoveryView {
	h.t.Helper()
	var v signer.RecoveryView
	h.expect("POST", "/v1/keys/"+keyID+"/recoveries", signer.StartRecoveryRequest{Delay: delay}, http.StatusCreated, "", &v)
	if v.State != recovery.StateRequested || v.CeremonyPublicKey == "" {
		h.t.Fatalf("start: %+v", v)
	}
	return v
}

var nonceSeq int

// approval is guardian g's approval of recovery v, made as a guardian's tool would:
// the share re-encrypted to the ceremony key, the statement signed with EIP-191.
func (h *recHarness) approval(g *recGuardian, v signer.RecoveryView, expires time.Time) signer.GuardianApproval {
	h.t.Helper()
	share, err := recovery.ReencryptShare(g.ct, g.key, hexutil.MustDecode(v.CeremonyPublicKey))
	if err != nil {
		h.t.Fatal(err)
	}
	nonceSeq++
	sk := g.key
	if g.sign != nil {
		sk = g.sign
	}
	a, err := recovery.Approval{Action: recovery.ActionRecover, KeyID: v.KeyID, Target: v.ID, GuardianID: g.id,
		Nonce: fmt.Sprintf("nonce-%d", nonceSeq), Expires: expires, ShareHash: recovery.ShareHash(share)}.Sign(sk)
	if err != nil {
		h.t.Fatal(err)
	}
	return signer.GuardianApproval{GuardianID: g.id, Nonce: a.Nonce, Expires: a.Expires, Share: hexutil.Encode(share),
		Signature: hexutil.Encode(a.Signature)}
}

func (h *recHarness) approve(g *recGuardian, v signer.RecoveryView, want recovery.State) signer.RecoveryView {
	h.t.Helper()
	var out signer.RecoveryView
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", h.approval(g, v, h.clock.Now().Add(time.Hour)), http.StatusOK, "", &out)
	if out.State != want {
		h.t.Fatalf("after %s's approval: %s, want %s", g.id, out.State, want)
	}
	return out
}

func (h *recHarness) vote(g *recGuardian, keyID string, action recovery.Action, epoch uint64) signer.GuardianApproval {
	h.t.Helper()
	nonceSeq++
	a, err := recovery.Approval{Action: action, KeyID: keyID, Target: recovery.EpochTarget(epoch), GuardianID: g.id,
		Nonce: fmt.Sprintf("vote-%d", nonceSeq), Expires: h.clock.Now().Add(time.Hour)}.Sign(g.key)
	if err != nil {
		h.t.Fatal(err)
	}
	return signer.GuardianApproval{GuardianID: g.id, Nonce: a.Nonce, Expires: a.Expires, Epoch: epoch,
		Signature: hexutil.Encode(a.Signature)}
}

// records reads every record of topic (from the start) until none came for a second
// after at least min arrived.
func (h *recHarness) records(topic string, min int) []*kgo.Record {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...), kgo.ConsumeTopics(h.prefix+topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); n++ })
		if n == 0 && len(out) >= min {
			return out
		}
	}
	h.t.Fatalf("%s: %d records, want at least %d", topic, len(out), min)
	return nil
}

func (h *recHarness) steps(min int) []*signerv1.KeyRecoveryStep {
	h.t.Helper()
	var out []*signerv1.KeyRecoveryStep
	for _, r := range h.records(signer.TopicRecovery, min) {
		var ev signerv1.KeyRecoveryStep
		if err := codec.Unmarshal(r.Value, &ev); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, &ev)
	}
	return out
}

func (h *recHarness) audits(min int) []*signerv1.AuditRecord {
	h.t.Helper()
	var out []*signerv1.AuditRecord
	for _, r := range h.records(signer.TopicAudit, min) {
		var ev signerv1.AuditRecord
		if err := codec.Unmarshal(r.Value, &ev); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, &ev)
	}
	return out
}

func stepKinds(evs []*signerv1.KeyRecoveryStep, recoveryID string) []signerv1.RecoveryStepKind {
	var out []signerv1.RecoveryStepKind
	for _, e := range evs {
		if e.GetRecoveryId() == recoveryID && e.GetStepNumber() > 0 {
			out = append(out, e.GetStep())
		}
	}
	return out
}

// TestRecoverySucceedsEndToEnd: a funded keystore key is split 2-of-3 to guardians,
// recovered with two guardian approvals after the delay (an injected clock), its shares
// combined inside the signer, and rotated: a new key, and an EIP-1559 transaction from
// the old key moving the funds there, which geth --dev mines. The old key then refuses
// to sign; the steps and the audit trail are on Kafka, and no record there holds the
// key's secret or a share, in binary or in hex.
func TestRecoverySucceedsEndToEnd(t *testing.T) {
	h := newRecHarness(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	keyID, from := h.createKey("treasury")
	var dev []common.Address
	if err := h.rc.CallContext(ctx, &dev, "eth_accounts"); err != nil || len(dev) == 0 {
		t.Fatalf("eth_accounts: %v %v", dev, err)
	}
	var fund common.Hash
	if err := h.rc.CallContext(ctx, &fund, "eth_sendTransaction", map[string]any{"from": dev[0], "to": from,
		"value": (*hexutil.Big)(big.NewInt(params.Ether))}); err != nil {
		t.Fatalf("fund: %v", err)
	}
	waitReceipt(ctx, t, h.ec, fund)
	// The rotation's transaction goes through the policy like any other.
	var draft struct{ Version uint64 }
	h.expect("POST", "/v1/policies", json.RawMessage(`{"id": "default", "rules": [
	  {"name": "rotation", "action": "allow", "match": {"purposes": ["key_rotation"], "assets": ["ETH"]}}]}`), http.StatusCreated, "", &draft)
	h.expect("POST", fmt.Sprintf("/v1/policies/default/%d/publish", draft.Version), nil, http.StatusOK, "", nil)

	gs := newGuardians(t, 3)
	sp := h.split(keyID, 2, gs)
	// What must never reach Kafka: the secret, the guardians' shares, the ciphertexts.
	priv, err := h.ks.Export(ctx, keyID)
	if err != nil {
		t.Fatal(err)
	}
	secret := crypto.FromECDSA(priv)
	keys.ZeroKey(priv)
	forbidden := [][]byte{secret}
	for _, g := range gs {
		sh, err := shamir.Decrypt(g.ct, g.key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := sh.MarshalBinary()
		forbidden = append(forbidden, b, g.ct)
	}

	v := h.startRecovery(keyID, "2h")
	var view signer.KeyRecoveryView
	h.expect("GET", "/v1/keys/"+keyID+"/recovery", nil, http.StatusOK, "", &view)
	if view.ActiveRecovery != v.ID || view.SplitID != sp.SplitID || len(view.Guardians) != 3 || view.Threshold != 2 {
		t.Fatalf("key view %+v", view)
	}
	h.approve(gs[0], v, recovery.StateRequested)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/reconstruct", nil, http.StatusConflict, "quorum_not_reached", nil)
	a2 := h.approval(gs[2], v, h.clock.Now().Add(time.Hour))
	forbidden = append(forbidden, hexutil.MustDecode(a2.Share))
	for _, f := range forbidden { // and each in hex, both cases
		x := hex.EncodeToString(f)
		forbidden = append(forbidden, []byte(x), []byte(strings.ToUpper(x)))
	}
	var dl signer.RecoveryView
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", a2, http.StatusOK, "", &dl)
	if dl.State != recovery.StateDelaying || !dl.NotBefore.Equal(h.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("after the quorum: %+v", dl)
	}
	h.expect("POST", "/v1/recoveries/"+v.ID+"/reconstruct", nil, http.StatusConflict, "delay_not_elapsed", nil)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/rotate", map[string]any{"chain_id": h.chainID, "max_fee_per_gas": "1"},
		http.StatusConflict, "invalid_state", nil)
	h.clock.Add(2*time.Hour + time.Second)
	var rc signer.RecoveryView
	h.expect("POST", "/v1/recoveries/"+v.ID+"/reconstruct", nil, http.StatusOK, "", &rc)
	if rc.State != recovery.StateReconstructed {
		t.Fatalf("reconstruct: %+v", rc)
	}
	h.expect("POST", "/v1/recoveries/"+v.ID+"/cancel", map[string]string{"reason": "too late"}, http.StatusConflict, "invalid_state", nil)

	tip, err := h.ec.SuggestGasTipCap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tip.Sign() == 0 {
		tip = big.NewInt(1)
	}
	head, err := h.ec.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	var rot signer.RotateResponse
	h.expect("POST", "/v1/recoveries/"+v.ID+"/rotate", signer.RotateRequest{ChainID: h.chainID,
		MaxFeePerGas: feeCap.String(), MaxPriorityFeePerGas: tip.String()}, http.StatusOK, "", &rot)
	if rot.Recovery.State != recovery.StateRotated || rot.NewKey.ID == "" || rot.NewKey.ID == keyID || rot.Recovery.RawTx == "" {
		t.Fatalf("rotate: %+v", rot)
	}
	// A retry answers the same transaction.
	var again signer.RotateResponse
	h.expect("POST", "/v1/recoveries/"+v.ID+"/rotate", signer.RotateRequest{ChainID: h.chainID, MaxFeePerGas: "1"}, http.StatusOK, "", &again)
	if again.Recovery.TxHash != rot.Recovery.TxHash {
		t.Fatalf("retry: %s, want %s", again.Recovery.TxHash, rot.Recovery.TxHash)
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(hexutil.MustDecode(rot.Recovery.RawTx)); err != nil {
		t.Fatal(err)
	}
	newAddr := common.HexToAddress(rot.NewKey.Address)
	if sender, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), &tx); err != nil || sender != from ||
		tx.Type() != types.DynamicFeeTxType || *tx.To() != newAddr {
		t.Fatalf("funds-moving transaction: from %v %v, type %d, to %v", sender, err, tx.Type(), tx.To())
	}
	if err := h.ec.SendTransaction(ctx, &tx); err != nil {
		t.Fatalf("send: %v", err)
	}
	if r := waitReceipt(ctx, t, h.ec, tx.Hash()); r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt status %d", r.Status)
	}
	if bal, err := h.ec.BalanceAt(ctx, newAddr, nil); err != nil || bal.Cmp(tx.Value()) != 0 || bal.Cmp(big.NewInt(params.Ether/2)) < 0 {
		t.Fatalf("new key's balance %v %v, want the moved %v", bal, err, tx.Value())
	}
	t.Logf("moved %s wei from %s to %s in %s", tx.Value(), from.Hex(), newAddr.Hex(), tx.Hash().Hex())

	// The old key is retired: it signs nothing, the new one signs.
	sign := func(key string) map[string]any {
		return map[string]any{"request_id": "after-" + key, "key_id": key, "chain_id": h.chainID, "purpose": "key_rotation",
			"to": "0x00000000000000000000000000000000000000b0", "value": "1", "gas": 21000,
			"max_fee_per_gas": feeCap.String(), "max_priority_fee_per_gas": tip.String()}
	}
	h.expect("POST", "/v1/sign/transaction", sign(keyID), http.StatusForbidden, "key_retired", nil)
	h.expect("POST", "/v1/sign/transaction", sign(rot.NewKey.ID), http.StatusOK, "", nil)
	view = signer.KeyRecoveryView{}
	h.expect("GET", "/v1/keys/"+keyID+"/recovery", nil, http.StatusOK, "", &view)
	if !view.Retired || view.Successor != rot.NewKey.ID || view.ActiveRecovery != "" {
		t.Fatalf("old key after rotation: %+v", view)
	}
	h.expect("POST", "/v1/keys/"+keyID+"/recoveries", signer.StartRecoveryRequest{Delay: "2h"}, http.StatusForbidden, "key_retired", nil)

	// The steps, in order, and the audit trail; nothing secret anywhere.
	steps := h.steps(7)
	want := []signerv1.RecoveryStepKind{signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_INITIATED,
		signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_SHARE_ACCEPTED, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_SHARE_ACCEPTED,
		signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_QUORUM_REACHED, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_COMPLETED,
		signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_ROTATED}
	if got := stepKinds(steps, v.ID); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	for _, s := range steps {
		switch s.GetStep() {
		case signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_COMPLETED:
			if s.GetAddress() != from.Hex() || s.GetPublicKey() == "" {
				t.Errorf("completed step %v", s)
			}
		case signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_ROTATED:
			if s.GetNewKeyId() != rot.NewKey.ID || s.GetTransactionHash() != tx.Hash().Hex() || s.GetState() != "rotated" {
				t.Errorf("rotated step %v", s)
			}
		case signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_QUORUM_REACHED:
			if !s.GetNotBefore().AsTime().Equal(dl.NotBefore) {
				t.Errorf("quorum step %v", s)
			}
		}
	}
	actions := map[string]bool{}
	for _, a := range h.audits(8) {
		if a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_ALLOWED {
			actions[a.GetAction()] = true
		}
	}
	for _, a := range []string{"key.split", "key.recover.request", "key.recover.approve", "key.recover.reconstruct", "key.rotate", "sign"} {
		if !actions[a] {
			t.Errorf("no allowed %s in the audit trail (have %v)", a, actions)
		}
	}
	for _, topic := range []string{signer.TopicRecovery, signer.TopicAudit, signer.TopicRequests, signer.TopicSigned} {
		for _, r := range h.records(topic, 1) {
			for _, f := range forbidden {
				if bytes.Contains(r.Value, f) {
					t.Fatalf("%s: a record holds secret material (%d bytes)", topic, len(f))
				}
			}
		}
	}
}

// TestRecoveryOwnerCancelsDuringDelay: after the quorum, the owner cancels during the
// delay; reconstruction is refused then (and after the delay), a second cancel too,
// and the key can start a new ceremony.
func TestRecoveryOwnerCancelsDuringDelay(t *testing.T) {
	h := newRecHarness(t, false)
	keyID, _ := h.createKey("hot")
	gs := newGuardians(t, 3)
	h.split(keyID, 2, gs)
	v := h.startRecovery(keyID, "1h")
	h.approve(gs[1], v, recovery.StateRequested)
	h.approve(gs[0], v, recovery.StateDelaying)
	h.clock.Add(30 * time.Minute)
	var c signer.RecoveryView
	h.expect("POST", "/v1/recoveries/"+v.ID+"/cancel", signer.RecoveryCancelRequest{Reason: "I still have my key"}, http.StatusOK, "", &c)
	if c.State != recovery.StateCancelled || c.CancelledBy != "operator:alice" {
		t.Fatalf("cancel: %+v", c)
	}
	h.expect("POST", "/v1/recoveries/"+v.ID+"/reconstruct", nil, http.StatusConflict, "invalid_state", nil)
	h.clock.Add(2 * time.Hour)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/reconstruct", nil, http.StatusConflict, "invalid_state", nil)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/cancel", signer.RecoveryCancelRequest{}, http.StatusConflict, "invalid_state", nil)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", h.approval(gs[2], v, h.clock.Now().Add(time.Hour)), http.StatusConflict, "invalid_state", nil)
	h.startRecovery(keyID, "1h") // the key is free for a new ceremony
	kinds := stepKinds(h.steps(6), v.ID)
	if len(kinds) != 5 || kinds[4] != signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_CANCELLED {
		t.Fatalf("steps %v", kinds)
	}
	refused := 0
	for _, a := range h.audits(8) {
		if a.GetResource() == "recovery:"+v.ID && a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_DENIED &&
			strings.HasPrefix(a.GetReason(), "invalid_state") {
			refused++
		}
	}
	if refused < 3 {
		t.Fatalf("%d refusals audited, want the reconstructions and the second cancel", refused)
	}
}

// TestRecoveryTooFewGuardians: one approval of the two needed keeps the ceremony
// requested, however long one waits, and reconstruction is refused.
func TestRecoveryTooFewGuardians(t *testing.T) {
	h := newRecHarness(t, false)
	keyID, _ := h.createKey("hot")
	gs := newGuardians(t, 2)
	h.split(keyID, 2, gs)
	v := h.startRecovery(keyID, "1h")
	h.approve(gs[0], v, recovery.StateRequested)
	h.clock.Add(30 * 24 * time.Hour)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/reconstruct", nil, http.StatusConflict, "quorum_not_reached", nil)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/rotate", signer.RotateRequest{ChainID: h.chainID, MaxFeePerGas: "1"}, http.StatusConflict, "invalid_state", nil)
	var got signer.RecoveryView
	h.expect("GET", "/v1/recoveries/"+v.ID, nil, http.StatusOK, "", &got)
	if got.State != recovery.StateRequested || len(got.Approvals) != 1 || !got.NotBefore.IsZero() {
		t.Fatalf("recovery %+v", got)
	}
	// A second ceremony of the same key is refused while this one runs.
	h.expect("POST", "/v1/keys/"+keyID+"/recoveries", signer.StartRecoveryRequest{Delay: "1h"}, http.StatusConflict, "recovery_in_progress", nil)
}

// TestRecoveryFreezeByQuorum: a quorum of signed guardian votes freezes a key, which
// then signs nothing (transactions and typed data); a quorum unfreezes it.
func TestRecoveryFreezeByQuorum(t *testing.T) {
	h := newRecHarness(t, false)
	var draft struct{ Version uint64 }
	h.expect("POST", "/v1/policies", json.RawMessage(`{"id": "default", "rules": [
	  {"name": "all", "action": "allow", "match": {"assets": ["ETH", "eip712"]}}]}`), http.StatusCreated, "", &draft)
	h.expect("POST", fmt.Sprintf("/v1/policies/default/%d/publish", draft.Version), nil, http.StatusOK, "", nil)
	keyID, _ := h.createKey("hot")
	gs := newGuardians(t, 3)
	h.split(keyID, 2, gs)
	n := 0
	sign := func(status int, code string) {
		t.Helper()
		n++
		h.expect("POST", "/v1/sign/transaction", map[string]any{"request_id": fmt.Sprintf("freeze-%d", n), "key_id": keyID,
			"chain_id": h.chainID, "to": "0x00000000000000000000000000000000000000b0", "value": "1", "gas": 21000,
			"max_fee_per_gas": "1000000000", "max_priority_fee_per_gas": "1"}, status, code, nil)
	}
	sign(http.StatusOK, "")
	var kv signer.KeyRecoveryView
	h.expect("POST", "/v1/keys/"+keyID+"/freeze", h.vote(gs[0], keyID, recovery.ActionFreeze, 0), http.StatusOK, "", &kv)
	if kv.Frozen || len(kv.Votes) != 1 {
		t.Fatalf("one vote: %+v", kv)
	}
	sign(http.StatusOK, "")
	h.expect("POST", "/v1/keys/"+keyID+"/freeze", h.vote(gs[2], keyID, recovery.ActionFreeze, 0), http.StatusOK, "", &kv)
	if !kv.Frozen || kv.Epoch != 1 {
		t.Fatalf("quorum: %+v", kv)
	}
	sign(http.StatusForbidden, "key_frozen")
	typed := map[string]any{"request_id": "typed-frozen", "key_id": keyID, "data": json.RawMessage(fmt.Sprintf(`{
	  "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
	            "Note": [{"name": "text", "type": "string"}]},
	  "primaryType": "Note", "domain": {"name": "weir", "chainId": %d}, "message": {"text": "hi"}}`, h.chainID))}
	h.expect("POST", "/v1/sign/typed-data", typed, http.StatusForbidden, "key_frozen", nil)
	h.expect("POST", "/v1/keys/"+keyID+"/split", signer.SplitRequest{Threshold: 2, Guardians: []signer.GuardianRequest{
		{ID: "g1", PublicKey: hexutil.Encode(crypto.FromECDSAPub(&gs[0].key.PublicKey))},
		{ID: "g2", PublicKey: hexutil.Encode(crypto.FromECDSAPub(&gs[1].key.PublicKey))}}}, http.StatusForbidden, "key_frozen", nil)
	// A freeze vote on a frozen key, or an unfreeze vote for the old epoch: refused.
	h.expect("POST", "/v1/keys/"+keyID+"/freeze", h.vote(gs[1], keyID, recovery.ActionFreeze, 1), http.StatusConflict, "invalid_state", nil)
	h.expect("POST", "/v1/keys/"+keyID+"/unfreeze", h.vote(gs[1], keyID, recovery.ActionUnfreeze, 0), http.StatusBadRequest, "wrong_target", nil)
	h.expect("POST", "/v1/keys/"+keyID+"/unfreeze", h.vote(gs[1], keyID, recovery.ActionUnfreeze, 1), http.StatusOK, "", &kv)
	sign(http.StatusForbidden, "key_frozen")
	h.expect("POST", "/v1/keys/"+keyID+"/unfreeze", h.vote(gs[0], keyID, recovery.ActionUnfreeze, 1), http.StatusOK, "", &kv)
	if kv.Frozen || kv.Epoch != 2 {
		t.Fatalf("unfreeze: %+v", kv)
	}
	sign(http.StatusOK, "")
	want := []signerv1.RecoveryStepKind{signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_SPLIT,
		signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_FREEZE_APPROVED, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_FREEZE_APPROVED,
		signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_FROZEN, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_FREEZE_APPROVED,
		signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_FREEZE_APPROVED, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_UNFROZEN}
	if got := stepKinds(h.steps(len(want)), "freeze/"+keyID); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	frozenRefusals := 0
	for _, a := range h.audits(10) {
		if a.GetKeyId() == keyID && strings.HasPrefix(a.GetReason(), "key_frozen") {
			frozenRefusals++
		}
	}
	if frozenRefusals != 4 {
		t.Fatalf("%d key_frozen refusals audited, want 4", frozenRefusals)
	}
}

// TestRecoveryRefusesBadInput: unknown keys and recoveries, a delay below the minimum,
// expired, replayed and forged approvals, non-guardians and swapped shares get a clear
// error, change nothing, and each leaves a denied audit record.
func TestRecoveryRefusesBadInput(t *testing.T) {
	h := newRecHarness(t, false)
	keyID, _ := h.createKey("hot")
	gs := newGuardians(t, 3)
	guardians := []signer.GuardianRequest{}
	for _, g := range gs {
		guardians = append(guardians, signer.GuardianRequest{ID: g.id, PublicKey: hexutil.Encode(crypto.FromECDSAPub(&g.key.PublicKey))})
	}
	h.expect("POST", "/v1/keys/nope/split", signer.SplitRequest{Threshold: 2, Guardians: guardians}, http.StatusNotFound, "unknown_key", nil)
	h.expect("POST", "/v1/keys/"+keyID+"/split", signer.SplitRequest{Threshold: 1, Guardians: guardians}, http.StatusBadRequest, "invalid_request", nil)
	h.expect("POST", "/v1/keys/"+keyID+"/split", signer.SplitRequest{Threshold: 2, Guardians: append(guardians, guardians[0])}, http.StatusBadRequest, "invalid_request", nil)
	h.expect("POST", "/v1/keys/"+keyID+"/split", signer.SplitRequest{Threshold: 2, Guardians: []signer.GuardianRequest{
		guardians[0], {ID: "guardian:x", PublicKey: "0x1234"}}}, http.StatusBadRequest, "invalid_request", nil)
	h.expect("POST", "/v1/keys/"+keyID+"/recoveries", signer.StartRecoveryRequest{Delay: "2h"}, http.StatusConflict, "no_split", nil)
	h.expect("POST", "/v1/keys/nope/recoveries", signer.StartRecoveryRequest{Delay: "2h"}, http.StatusNotFound, "unknown_key", nil)
	h.split(keyID, 2, gs)
	h.expect("POST", "/v1/keys/"+keyID+"/recoveries", signer.StartRecoveryRequest{Delay: "59m"}, http.StatusBadRequest, "delay_too_short", nil)
	h.expect("POST", "/v1/keys/"+keyID+"/recoveries", signer.StartRecoveryRequest{Delay: "soon"}, http.StatusBadRequest, "invalid_request", nil)
	v := h.startRecovery(keyID, "1h")
	h.expect("POST", "/v1/recoveries/nope/approve", h.approval(gs[0], v, h.clock.Now().Add(time.Hour)), http.StatusNotFound, "unknown_recovery", nil)

	// Signed by another key under guardian a's name.
	forged := h.approval(&recGuardian{id: gs[0].id, key: gs[0].key, ct: gs[0].ct, sign: mustKey(t)}, v, h.clock.Now().Add(time.Hour))
	swapped := h.approval(gs[1], v, h.clock.Now().Add(time.Hour))
	swapped.Share = h.approval(gs[1], v, h.clock.Now().Add(time.Hour)).Share // another ciphertext than the signed one
	replayed := h.approval(gs[2], v, h.clock.Now().Add(time.Hour))
	expired := h.approval(gs[1], v, h.clock.Now().Add(time.Minute))
	stranger := &recGuardian{id: "guardian:mallory", key: gs[0].key, ct: gs[0].ct, sign: mustKey(t)}
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"forged signature", forged, http.StatusForbidden, "bad_signature"},
		{"share swapped after signing", swapped, http.StatusForbidden, "bad_signature"},
		{"not a guardian", h.approval(stranger, v, h.clock.Now().Add(time.Hour)), http.StatusForbidden, "not_guardian"},
		{"expiry too far", h.approval(gs[1], v, h.clock.Now().Add(recovery.MaxApprovalTTL+time.Hour)), http.StatusBadRequest, "invalid_request"},
		{"malformed", json.RawMessage(`{"guardian_id": 1}`), http.StatusBadRequest, "bad_request"},
	} {
		h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", c.body, c.status, c.code, nil)
	}
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", replayed, http.StatusOK, "", nil)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", replayed, http.StatusConflict, "approval_replayed", nil)
	h.clock.Add(2 * time.Minute)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", expired, http.StatusForbidden, "approval_expired", nil)
	// Another guardian's share under a valid signature: it opens, but is not theirs.
	theirs := h.approval(gs[1], v, h.clock.Now().Add(time.Hour))
	mine := h.approval(&recGuardian{id: gs[1].id, key: gs[0].key, ct: gs[0].ct}, v, h.clock.Now().Add(time.Hour))
	nonceSeq++
	a, err := recovery.Approval{Action: recovery.ActionRecover, KeyID: keyID, Target: v.ID, GuardianID: gs[1].id,
		Nonce: fmt.Sprintf("nonce-%d", nonceSeq), Expires: theirs.Expires, ShareHash: recovery.ShareHash(hexutil.MustDecode(mine.Share))}.Sign(gs[1].key)
	if err != nil {
		t.Fatal(err)
	}
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", signer.GuardianApproval{GuardianID: gs[1].id, Nonce: a.Nonce,
		Expires: a.Expires, Share: mine.Share, Signature: hexutil.Encode(a.Signature)}, http.StatusBadRequest, "bad_share", nil)

	// Nothing changed but guardian c's approval.
	var got signer.RecoveryView
	h.expect("GET", "/v1/recoveries/"+v.ID, nil, http.StatusOK, "", &got)
	if got.State != recovery.StateRequested || len(got.Approvals) != 1 || got.Approvals[0].GuardianID != gs[2].id {
		t.Fatalf("recovery after refusals: %+v", got)
	}
	codes := map[string]int{}
	for _, a := range h.audits(15) {
		if a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_DENIED {
			code, _, _ := strings.Cut(a.GetReason(), ":")
			codes[code]++
		}
	}
	for _, c := range []string{"unknown_key", "invalid_request", "no_split", "delay_too_short", "unknown_recovery", "bad_signature",
		"not_guardian", "approval_replayed", "approval_expired", "bad_share", "bad_request"} {
		if codes[c] == 0 {
			t.Errorf("no denied audit record for %s (have %v)", c, codes)
		}
	}
	rejected := 0
	for _, s := range h.steps(3) {
		if s.GetStep() == signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_SHARE_REJECTED && s.GetRecoveryId() == v.ID {
			rejected++
		}
	}
	if rejected < 6 {
		t.Errorf("%d SHARE_REJECTED steps, want one per refused approval", rejected)
	}
}

const recHSMToken = "weir-recovery-test"

// TestRecoveryRefusesHSMSplit: an HSM key is generated non-extractable, so splitting it
// is refused with a clear error and an audit record, and nothing is recorded for it.
func TestRecoveryRefusesHSMSplit(t *testing.T) {
	module := strings.TrimSpace(os.Getenv("WEIR_SOFTHSM2_MODULE"))
	util, err := exec.LookPath("softhsm2-util")
	if module == "" || err != nil {
		msg := "WEIR_SOFTHSM2_MODULE and softhsm2-util are needed: run deploy/local/up.sh and source deploy/local/stack.env"
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command(util, "--init-token", "--free", "--label", recHSMToken, "--pin", "1234", "--so-pin", "5678").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
	h := newRecHarnessWith(t, false, module)
	var k struct{ ID, Backend string }
	h.expect("POST", "/v1/keys", map[string]string{"label": "hsm", "backend": "hsm"}, http.StatusCreated, "", &k)
	if k.Backend != "hsm" {
		t.Fatalf("key %+v", k)
	}
	gs := newGuardians(t, 2)
	req := signer.SplitRequest{Threshold: 2}
	for _, g := range gs {
		req.Guardians = append(req.Guardians, signer.GuardianRequest{ID: g.id, PublicKey: hexutil.Encode(crypto.FromECDSAPub(&g.key.PublicKey))})
	}
	h.expect("POST", "/v1/keys/"+k.ID+"/split", req, http.StatusBadRequest, "not_exportable", nil)
	var kv signer.KeyRecoveryView
	h.expect("GET", "/v1/keys/"+k.ID+"/recovery", nil, http.StatusOK, "", &kv)
	if kv.SplitID != "" {
		t.Fatalf("a refused split was recorded: %+v", kv)
	}
	h.expect("POST", "/v1/keys/"+k.ID+"/recoveries", signer.StartRecoveryRequest{Delay: "1h"}, http.StatusConflict, "no_split", nil)
	found := false
	for _, a := range h.audits(2) {
		found = found || (a.GetKeyId() == k.ID && a.GetAction() == "key.split" && strings.HasPrefix(a.GetReason(), "not_exportable"))
	}
	if !found {
		t.Fatal("no audit record of the refused split")
	}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRecoveryResumesAfterRestart: the signer restarts mid-ceremony (one approval in,
// then with Kafka unreachable, then during the delay); the ceremony resumes from its
// durable state and completes with the shares accepted before the restarts, and the
// events of the transition made while Kafka was away reach it with the next call.
func TestRecoveryResumesAfterRestart(t *testing.T) {
	h := newRecHarness(t, false)
	keyID, _ := h.createKey("hot")
	gs := newGuardians(t, 3)
	h.split(keyID, 2, gs)
	v := h.startRecovery(keyID, "1h")
	replay := h.approval(gs[0], v, h.clock.Now().Add(time.Hour))
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", replay, http.StatusOK, "", nil)
	h.restart()
	var got signer.RecoveryView
	h.expect("GET", "/v1/recoveries/"+v.ID, nil, http.StatusOK, "", &got)
	if got.State != recovery.StateRequested || len(got.Approvals) != 1 {
		t.Fatalf("after restart: %+v", got)
	}
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", replay, http.StatusConflict, "approval_replayed", nil)
	// Kafka is gone: the quorum is saved with its events, which wait in the outbox.
	h.noKafka = true
	h.restart()
	h.expect("POST", "/v1/recoveries/"+v.ID+"/approve", h.approval(gs[2], v, h.clock.Now().Add(time.Hour)),
		http.StatusServiceUnavailable, "events_pending", nil)
	h.noKafka = false
	h.restart()
	h.expect("GET", "/v1/recoveries/"+v.ID, nil, http.StatusOK, "", &got)
	if got.State != recovery.StateDelaying {
		t.Fatalf("the quorum was not saved: %+v", got)
	}
	h.expect("POST", "/v1/recoveries/"+v.ID+"/reconstruct", nil, http.StatusConflict, "delay_not_elapsed", nil)
	h.clock.Add(time.Hour)
	h.expect("POST", "/v1/recoveries/"+v.ID+"/reconstruct", nil, http.StatusOK, "", &got)
	if got.State != recovery.StateReconstructed {
		t.Fatalf("reconstruct after restart: %+v", got)
	}
	kinds := stepKinds(h.steps(6), v.ID)
	if len(kinds) != 5 || kinds[4] != signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_COMPLETED {
		t.Fatalf("steps %v", kinds)
	}
	nums := map[uint32]bool{}
	for _, s := range h.steps(6) {
		if s.GetRecoveryId() == v.ID {
			if nums[s.GetStepNumber()] {
				t.Fatalf("step number %d twice", s.GetStepNumber())
			}
			nums[s.GetStepNumber()] = true
		}
	}
}
