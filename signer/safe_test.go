package signer_test

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/txsign"
)

// safePolicy allows ETH up to 1 ETH and the token 0x…70 up to 1000 units, except to
// the blocked address.
const safePolicy = `{"id": "default", "rules": [
  {"name": "blocked", "action": "deny", "match": {"destination": {"addresses": ["0x000000000000000000000000000000000000dead"]}}},
  {"name": "eth", "action": "allow", "match": {"assets": ["ETH"], "amount": {"max": "1000000000000000000"}}},
  {"name": "token", "action": "allow", "match": {"assets": ["erc20:1337:0x0000000000000000000000000000000000000070"], "amount": {"max": "1000"}}}]}`

const testSafe = "0x00000000000000000000000000000000000005a4"

// TestSafeThroughTheAPI signs Safe transactions through POST /v1/sign/safe: the answer's
// hash is txsign.SafeTxHash of the transaction, the signature (V 27/28) recovers to the
// key, and the packed signatures are the owners' 65-byte signatures — this key's and one
// given by another owner — ordered by owner address, as execTransaction takes them. The
// policy judges what the Safe moves: an ERC-20 transfer to the blocked address, or above
// the token's limit, is refused, as are a delegate call, another owner's signature that
// does not recover to it and an unknown key; each refusal is audited.
func TestSafeThroughTheAPI(t *testing.T) {
	e := newAPIEnv(t, safePolicy)
	other, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherAddr := crypto.PubkeyToAddress(other.PublicKey)
	token := common.HexToAddress("0x0000000000000000000000000000000000000070")
	transfer := func(to string, amount int64) string {
		data := append([]byte{0xa9, 0x05, 0x9c, 0xbb}, common.LeftPadBytes(common.HexToAddress(to).Bytes(), 32)...)
		return hexutil.Encode(append(data, common.LeftPadBytes(big.NewInt(amount).Bytes(), 32)...))
	}
	body := func(id, data string) map[string]any {
		return map[string]any{"request_id": id, "key_id": e.key, "chain_id": chainID, "safe": testSafe,
			"to": token.Hex(), "data": data, "nonce": "7"}
	}
	// The other owner signs the same SafeTx off-line.
	st := txsign.SafeTx{To: token, Data: hexutil.MustDecode(transfer("0x00000000000000000000000000000000000000b0", 500)), Nonce: big.NewInt(7)}
	want, err := txsign.SafeTxHash(big.NewInt(chainID), common.HexToAddress(testSafe), st)
	if err != nil {
		t.Fatal(err)
	}
	otherSig, err := crypto.Sign(want[:], other)
	if err != nil {
		t.Fatal(err)
	}
	otherSig[64] += 27

	ok := body("safe-1", transfer("0x00000000000000000000000000000000000000b0", 500))
	ok["signatures"] = map[string]string{otherAddr.Hex(): hexutil.Encode(otherSig)}
	var res signer.SafeResponse
	if code := e.call("operator:alice", "POST", "/v1/sign/safe", ok, &res); code != 200 {
		t.Fatalf("sign safe: %d %+v", code, res)
	}
	if res.SafeTxHash != hexutil.Encode(want[:]) || res.From != e.from.Hex() || res.Rule != "token" {
		t.Fatalf("answer %+v, want hash %x from %s", res, want, e.from.Hex())
	}
	sig := hexutil.MustDecode(res.Signature)
	if err := txsign.VerifySafeSignature(want, e.from, sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	packed := hexutil.MustDecode(res.Signatures)
	first, second := sig, otherSig
	if bytes.Compare(otherAddr[:], e.from[:]) < 0 {
		first, second = otherSig, sig
	}
	if len(packed) != 130 || !bytes.Equal(packed[:65], first) || !bytes.Equal(packed[65:], second) || len(res.Owners) != 2 {
		t.Fatalf("packed signatures %x (owners %v), want %x%x", packed, res.Owners, first, second)
	}
	for i := range 2 {
		owner := common.HexToAddress(res.Owners[i])
		if err := txsign.VerifySafeSignature(want, owner, packed[65*i:65*i+65]); err != nil {
			t.Errorf("packed signature %d of %s: %v", i, owner.Hex(), err)
		}
	}

	var ae apiErr
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"to the blocked address", body("safe-2", transfer("0x000000000000000000000000000000000000dead", 1)), 403, "policy_denied"},
		{"above the token limit", body("safe-3", transfer("0x00000000000000000000000000000000000000b0", 1001)), 403, "policy_denied"},
		{"delegate call", func() map[string]any { b := body("safe-4", "0x"); b["operation"] = 1; return b }(), 400, "unsupported_operation"},
		{"forged owner signature", func() map[string]any {
			b := body("safe-5", transfer("0x00000000000000000000000000000000000000b0", 500))
			b["signatures"] = map[string]string{"0x00000000000000000000000000000000000000c1": hexutil.Encode(otherSig)}
			return b
		}(), 400, "invalid_signature"},
		{"unknown key", func() map[string]any { b := body("safe-6", "0x"); b["key_id"] = "nope"; return b }(), 404, "unknown_key"},
		{"wrong chain", func() map[string]any { b := body("safe-7", "0x"); b["chain_id"] = 1; return b }(), 400, "wrong_chain"},
		{"no nonce", func() map[string]any { b := body("safe-8", "0x"); delete(b, "nonce"); return b }(), 400, "invalid_amount"},
	} {
		ae = apiErr{}
		if code := e.call("operator:alice", "POST", "/v1/sign/safe", c.body, &ae); code != c.status || ae.Error != c.code {
			t.Errorf("%s: %d %+v, want %d %s", c.name, code, ae, c.status, c.code)
		}
	}
	as := e.audits()
	for id, want := range map[string]string{"safe-2": "policy_denied", "safe-3": "policy_denied", "safe-4": "unsupported_operation",
		"safe-5": "invalid_signature", "safe-6": "unknown_key", "safe-7": "wrong_chain"} {
		if findAudit(as, func(a *signerv1.AuditRecord) bool {
			return a.GetRequestId() == id && a.GetAction() == "sign.safe" && strings.HasPrefix(a.GetReason(), want) &&
				a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_DENIED
		}) == nil {
			t.Errorf("no audit record of %s refused with %s", id, want)
		}
	}
	if findAudit(as, func(a *signerv1.AuditRecord) bool {
		return a.GetRequestId() == "safe-1" && a.GetOutcome() == signerv1.AuditOutcome_AUDIT_OUTCOME_ALLOWED && strings.Contains(a.GetResource(), "rule:token")
	}) == nil {
		t.Error("no audit record of the signed Safe transaction")
	}
}

// FuzzSignSafe posts arbitrary bodies to /v1/sign/safe: the answer is never a server
// error (every bad body is a 4xx, every event it causes encodes).
func FuzzSignSafe(f *testing.F) {
	e := newAPIEnv(f, safePolicy)
	for _, s := range []string{
		`{"request_id":"a","key_id":"KEY","chain_id":1337,"safe":"0x00000000000000000000000000000000000005a4","to":"0x00000000000000000000000000000000000000b0","value":"1","nonce":"0"}`,
		`{"request_id":"b","key_id":"KEY","chain_id":1337,"safe":"0x00000000000000000000000000000000000005a4","to":"0x0000000000000000000000000000000000000070","data":"0xa9059cbb000000000000000000000000000000000000000000000000000000000000000100000000000000000000000000000000000000000000000000000000000000ff","nonce":"3","signatures":{"0x00000000000000000000000000000000000000c1":"0x00"}}`,
		`{"request_id":"c","key_id":"KEY","chain_id":1337,"safe":"0x1","to":"0x2","nonce":"-1","operation":1}`,
		`{"request_id":"d","key_id":"KEY","chain_id":1337,"safe":"0x00000000000000000000000000000000000005a4","to":"0x00000000000000000000000000000000000000b0","value":"115792089237316195423570985008687907853269984665640564039457584007913129639936","nonce":"1"}`,
		`{}`, `[]`, `null`, `{"request_id": 1}`,
	} {
		f.Add(strings.ReplaceAll(s, "KEY", e.key))
	}
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		if st := e.call("operator:alice", "POST", "/v1/sign/safe", []byte(body), nil); st >= 500 {
			t.Fatalf("%q: status %d", body, st)
		}
	})
}
