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
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
	"github.com/weirhq/weir/signer/nonce"
	"github.com/weirhq/weir/signer/policy"
	"github.com/weirhq/weir/signer/txsign"
)

const chainID = 1337

// local is a Server on kfake, a light keystore and in-memory policy state: for what
// needs no chain and no real broker.
type local struct {
	t    testing.TB
	url  string
	key  string
	from common.Address
}

func newLocal(t testing.TB, policyJSON string) *local {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0),
		kfake.SeedTopics(1, signer.TopicRequests, signer.TopicSigned, signer.TopicAudit))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ks, err := keys.NewKeystore(t.TempDir(), keys.WithScrypt(keys.ScryptLight),
		keys.WithPassphrase(func(context.Context) (string, error) { return "pw", nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ks.Close() })
	k, err := ks.Create(context.Background(), "hot")
	if err != nil {
		t.Fatal(err)
	}
	nm, err := nonce.Open(t.TempDir(), func(context.Context, uint64, common.Address) (uint64, error) { return 0, nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nm.Close() })
	rl, err := signer.OpenRequestLog(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rl.Close() })
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
	srv, err := signer.NewServer(signer.Options{
		Backends: map[string]keys.Backend{keys.BackendKeystore: ks}, Policies: store,
		Engine: policy.NewEngine(store, policy.NewMemState()), Nonces: nm, Requests: rl, Client: cl,
		Operators: []signer.Operator{{ID: "operator:alice", Token: testToken}}, ChainIDs: []uint64{chainID},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &local{t: t, url: hs.URL, key: k.ID, from: k.Address}
}

func (l *local) post(path string, body any, out any) int {
	l.t.Helper()
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			l.t.Fatal(err)
		}
	}
	req, _ := http.NewRequest("POST", l.url+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			l.t.Fatalf("%s: %d %s: %v", path, res.StatusCode, rb, err)
		}
	}
	return res.StatusCode
}

const allowAll = `{"id": "default", "rules": [
  {"name": "typed", "action": "allow", "match": {"assets": ["eip712"], "destination": {"addresses": ["0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"]}}},
  {"name": "eth", "action": "allow", "match": {"assets": ["ETH"]}}]}`

const typedData = `{"types": {
  "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                   {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
  "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
  "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"}, {"name": "contents", "type": "string"}]},
 "primaryType": "Mail",
 "domain": {"name": "Ether Mail", "version": "1", "chainId": %CHAIN%, "verifyingContract": "%CONTRACT%"},
 "message": {"from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
             "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"}, "contents": "Hello, Bob!"}}`

func typedBody(key, id, chain, contract string) []byte {
	d := strings.NewReplacer("%CHAIN%", chain, "%CONTRACT%", contract).Replace(typedData)
	return []byte(`{"request_id": "` + id + `", "key_id": "` + key + `", "data": ` + d + `}`)
}

// TestTypedData signs EIP-712 typed data allowed by the policy and checks that the
// signature recovers to the key; typed data for another contract or chain is refused.
func TestTypedData(t *testing.T) {
	l := newLocal(t, allowAll)
	var ok signer.TypedDataResponse
	if st := l.post("/v1/sign/typed-data", typedBody(l.key, "t-1", "1337", "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"), &ok); st != 200 {
		t.Fatalf("sign typed data: %d %+v", st, ok)
	}
	hash := common.HexToHash(ok.Hash)
	sig := hexutil.MustDecode(ok.Signature)
	if got, err := txsign.Recover(hash, sig); err != nil || got != l.from || sig[64] < 27 {
		t.Fatalf("signature recovers to %v (%v), want %v; V = %d", got, err, l.from, sig[64])
	}
	var e struct{ Error string }
	if st := l.post("/v1/sign/typed-data", typedBody(l.key, "t-2", "1337", "0x00000000000000000000000000000000000000aa"), &e); st != 403 || e.Error != "policy_denied" {
		t.Errorf("other contract: %d %+v", st, e)
	}
	if st := l.post("/v1/sign/typed-data", typedBody(l.key, "t-3", "1", "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"), &e); st != 400 || e.Error != "wrong_chain" {
		t.Errorf("other chain: %d %+v", st, e)
	}
	if st := l.post("/v1/sign/typed-data", typedBody("nope", "t-4", "1337", "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"), &e); st != 404 || e.Error != "unknown_key" {
		t.Errorf("unknown key: %d %+v", st, e)
	}
}

// TestLegacyAndReplacements signs a legacy transaction, a declared speed-up at the same
// nonce (allowed), and refuses an undeclared different payload there.
func TestLegacyAndReplacements(t *testing.T) {
	l := newLocal(t, allowAll)
	tx := func(id, gasPrice string) map[string]any {
		return map[string]any{"request_id": id, "key_id": l.key, "chain_id": chainID,
			"to": "0x00000000000000000000000000000000000000b0", "value": "5", "gas": 21000, "gas_price": gasPrice}
	}
	var first signer.TxResponse
	if st := l.post("/v1/sign/transaction", tx("l-1", "1000000000"), &first); st != 200 {
		t.Fatalf("legacy: %d", st)
	}
	var signed types.Transaction
	if err := signed.UnmarshalBinary(hexutil.MustDecode(first.RawTx)); err != nil || signed.Type() != types.LegacyTxType {
		t.Fatalf("raw: %v type %d", err, signed.Type())
	}
	if from, err := types.Sender(types.NewEIP155Signer(signed.ChainId()), &signed); err != nil || from != l.from || signed.ChainId().Uint64() != chainID {
		t.Fatalf("sender %v %v chain %v", from, err, signed.ChainId())
	}
	var e struct{ Error string }
	plain := tx("l-2", "1200000000")
	plain["nonce"] = first.Nonce
	if st := l.post("/v1/sign/transaction", plain, &e); st != 409 || e.Error != "double_sign" {
		t.Fatalf("undeclared replacement: %d %+v", st, e)
	}
	speed := tx("l-3", "1200000000")
	speed["nonce"], speed["replacement"] = first.Nonce, "speed_up"
	var sp signer.TxResponse
	if st := l.post("/v1/sign/transaction", speed, &sp); st != 200 || sp.Nonce != first.Nonce || sp.Hash == first.Hash {
		t.Fatalf("speed-up: %d %+v", st, sp)
	}
	var next signer.TxResponse
	if st := l.post("/v1/sign/transaction", tx("l-4", "1000000000"), &next); st != 200 || next.Nonce != first.Nonce+1 {
		t.Fatalf("next: %d %+v", st, next)
	}
}

// FuzzSignTransaction posts arbitrary bodies: the answer is never a server error (every
// bad body is a 4xx, every event it causes encodes).
func FuzzSignTransaction(f *testing.F) {
	l := newLocal(f, allowAll)
	for _, s := range []string{
		`{"request_id":"a","key_id":"KEY","chain_id":1337,"to":"0x00000000000000000000000000000000000000b0","value":"1","gas":21000,"max_fee_per_gas":"100","max_priority_fee_per_gas":"1"}`,
		`{"request_id":"b","key_id":"KEY","chain_id":1337,"value":"1","gas":60000,"gas_price":"1","data":"0x6000"}`,
		`{"request_id":"c","key_id":"KEY","chain_id":1337,"to":"0x00000000000000000000000000000000000000b0","gas":60000,"gas_price":"1","data":"0xa9059cbb000000000000000000000000000000000000000000000000000000000000000100000000000000000000000000000000000000000000000000000000000000ff"}`,
		`{"request_id":"d","key_id":"KEY","chain_id":1337,"gas":21000,"gas_price":"1","nonce":7,"replacement":"cancel"}`,
		`{"request_id":"e","key_id":"KEY","chain_id":1337,"value":"115792089237316195423570985008687907853269984665640564039457584007913129639936","gas":21000,"gas_price":"1"}`,
		`{}`, `[]`, `null`, `{"request_id": 1}`,
	} {
		f.Add(strings.ReplaceAll(s, "KEY", l.key))
	}
	f.Fuzz(func(t *testing.T, body string) {
		l.t = t
		if st := l.post("/v1/sign/transaction", []byte(body), nil); st >= 500 {
			t.Fatalf("%q: status %d", body, st)
		}
	})
}
