package signer

import (
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer/policy"
	"github.com/weirhq/weir/signer/txsign"
)

// SafeRequest is the body of POST /v1/sign/safe: a Safe (v1.3+) multisig transaction
// for the Safe at Safe on ChainID, to be signed by KeyID as one of its owners. Integers
// are canonical decimal strings; empty ones are 0.
type SafeRequest struct {
	// RequestID identifies the request in events. Required.
	RequestID string `json:"request_id"`
	// KeyID names the owner key that signs. Required.
	KeyID string `json:"key_id"`
	// ChainID is the Safe's chain; one the signer serves. Required.
	ChainID uint64 `json:"chain_id"`
	// Purpose, Reference and PolicyID as for TxRequest.
	Purpose   string `json:"purpose,omitempty"`
	Reference string `json:"reference,omitempty"`
	PolicyID  string `json:"policy_id,omitempty"`
	// Safe is the Safe's address (the EIP-712 verifyingContract). Required.
	Safe string `json:"safe"`
	// To, Value, Data and Operation are what the Safe will execute. Operation 0 (call)
	// only: a delegate call (1) runs the target's code as the Safe, which no policy can
	// judge, and is refused.
	To        string `json:"to"`
	Value     string `json:"value,omitempty"`
	Data      string `json:"data,omitempty"`
	Operation uint8  `json:"operation,omitempty"`
	// SafeTxGas, BaseGas, GasPrice, GasToken and RefundReceiver are the SafeTx's gas
	// refund fields.
	SafeTxGas      string `json:"safe_tx_gas,omitempty"`
	BaseGas        string `json:"base_gas,omitempty"`
	GasPrice       string `json:"gas_price,omitempty"`
	GasToken       string `json:"gas_token,omitempty"`
	RefundReceiver string `json:"refund_receiver,omitempty"`
	// Nonce is the Safe's nonce for this transaction. Required.
	Nonce string `json:"nonce"`
	// Signatures are other owners' signatures of the same SafeTx (owner address →
	// 0x + 65 bytes, V 27 or 28), checked and packed with this one.
	Signatures map[string]string `json:"signatures,omitempty"`
}

// SafeResponse is the answer of POST /v1/sign/safe.
type SafeResponse struct {
	RequestID string `json:"request_id"`
	// SafeTxHash is the EIP-712 hash the owners sign (the Safe's getTransactionHash).
	SafeTxHash string `json:"safe_tx_hash"`
	// Signature is this key's 65-byte signature, V 27 or 28.
	Signature string `json:"signature"`
	From      string `json:"from"`
	// Signatures is execTransaction's signatures argument: every owner's signature
	// (this one and SafeRequest.Signatures), 65 bytes each, ordered by owner address
	// ascending; Owners lists the owners in that order.
	Signatures string   `json:"signatures"`
	Owners     []string `json:"owners"`
	Policy     string   `json:"policy"`
	Rule       string   `json:"rule"`
}

func parseAddress(field, s string, required bool) (common.Address, error) {
	if s == "" && !required {
		return common.Address{}, nil
	}
	if !strings.HasPrefix(s, "0x") || !common.IsHexAddress(s) {
		return common.Address{}, bad("invalid_"+field, "%s must be 0x + 40 hex digits", field)
	}
	return common.HexToAddress(s), nil
}

func parseOptAmount(field, s string) (*big.Int, error) {
	if s == "" {
		return new(big.Int), nil
	}
	return parseAmount(field, s)
}

// parseSafe checks req's SafeTx and returns it with the Safe's address.
func parseSafe(req SafeRequest) (txsign.SafeTx, common.Address, error) {
	var t txsign.SafeTx
	safe, err := parseAddress("safe", req.Safe, true)
	if err != nil {
		return t, safe, err
	}
	if t.To, err = parseAddress("to", req.To, true); err != nil {
		return t, safe, err
	}
	if req.Operation != uint8(txsign.SafeCall) {
		return t, safe, bad("unsupported_operation", "only calls (operation 0) are signed: a delegate call runs code the policy cannot judge")
	}
	if req.Data != "" {
		if t.Data, err = hexutil.Decode(req.Data); err != nil {
			return t, safe, bad("invalid_data", "data: %v", err)
		}
	}
	for _, f := range []struct {
		name string
		s    string
		dst  **big.Int
	}{{"value", req.Value, &t.Value}, {"safe_tx_gas", req.SafeTxGas, &t.SafeTxGas}, {"base_gas", req.BaseGas, &t.BaseGas},
		{"gas_price", req.GasPrice, &t.GasPrice}} {
		if *f.dst, err = parseOptAmount(f.name, f.s); err != nil {
			return t, safe, err
		}
	}
	if t.Nonce, err = parseAmount("nonce", req.Nonce); err != nil {
		return t, safe, err
	}
	if t.GasToken, err = parseAddress("gas_token", req.GasToken, false); err != nil {
		return t, safe, err
	}
	if t.RefundReceiver, err = parseAddress("refund_receiver", req.RefundReceiver, false); err != nil {
		return t, safe, err
	}
	if err := t.Validate(); err != nil {
		return t, safe, bad("invalid_safe_tx", "%v", err)
	}
	return t, safe, nil
}

// signSafe is POST /v1/sign/safe: the policy judges what the Safe transaction moves (its
// value to To, or the ERC-20 transfer its call data makes, as for a transaction), then
// the key signs the SafeTx hash.
func (s *Server) signSafe(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	const action = "sign.safe"
	var req SafeRequest
	if err := decode(r, &req); err != nil {
		s.refuse(ctx, w, c, action, "", "", http.StatusBadRequest, "bad_request", err.Error(), nil)
		return
	}
	fail := func(keyID, res string, before []record, err error, reasons []string) {
		var b *badRequest
		if !errors.As(err, &b) {
			b = &badRequest{status: http.StatusInternalServerError, code: "internal", msg: err.Error()}
		}
		outcome := auditDenied
		if b.status >= 500 {
			outcome = auditError
		}
		reason := b.code + ": " + b.msg
		if len(reasons) > 0 {
			reason += " (" + strings.Join(reasons, "; ") + ")"
		}
		if err := s.produce(ctx, append(before, s.audit(c, action, keyID, res, req.RequestID, outcome, reason))...); err != nil {
			s.unavailable(w, err)
			return
		}
		writeError(w, b.status, b.code, b.msg, reasons)
	}
	if req.RequestID == "" || len(req.RequestID) > policy.MaxIDLen {
		fail(req.KeyID, "", nil, bad("invalid_request_id", "request_id is required (at most %d bytes)", policy.MaxIDLen), nil)
		return
	}
	k, b, err := s.findKey(ctx, req.KeyID)
	if err != nil {
		fail(req.KeyID, "", nil, &badRequest{status: http.StatusNotFound, code: "unknown_key", msg: fmt.Sprintf("no key %q", req.KeyID)}, nil)
		return
	}
	if !s.chains[req.ChainID] {
		fail(k.ID, "", nil, bad("wrong_chain", "chain id %d is not served by this signer", req.ChainID), nil)
		return
	}
	t, safe, err := parseSafe(req)
	if err != nil {
		fail(k.ID, "", nil, err, nil)
		return
	}
	chain := new(big.Int).SetUint64(req.ChainID)
	hash, err := txsign.SafeTxHash(chain, safe, t)
	if err != nil {
		fail(k.ID, "", nil, bad("invalid_safe_tx", "%v", err), nil)
		return
	}
	others := map[common.Address][]byte{}
	for o, sig := range req.Signatures {
		owner, err := parseAddress("signatures", o, true)
		if err != nil {
			fail(k.ID, "", nil, err, nil)
			return
		}
		raw, err := hexutil.Decode(sig)
		if err == nil {
			err = txsign.VerifySafeSignature(hash, owner, raw)
		}
		if err != nil {
			fail(k.ID, "", nil, bad("invalid_signature", "signature of %s: %v", owner.Hex(), err), nil)
			return
		}
		others[owner] = raw
	}

	// What the Safe moves, as for a transaction: its value, or an ERC-20 transfer.
	asset, amount, dest := NativeAsset, t.Value, strings.ToLower(t.To.Hex())
	if len(t.Data) == 4+32+32 && string(t.Data[:4]) == string(erc20Transfer) {
		if t.Value.Sign() != 0 {
			fail(k.ID, "", nil, bad("unsupported_transaction", "a Safe transaction that moves both ETH and a token is not supported"), nil)
			return
		}
		asset = fmt.Sprintf("erc20:%d:%s", req.ChainID, strings.ToLower(t.To.Hex()))
		amount = new(big.Int).SetBytes(t.Data[36:68])
		dest = strings.ToLower(common.BytesToAddress(t.Data[4:36]).Hex())
	}
	preq := policy.Request{RequestID: req.RequestID, KeyID: k.ID, ChainID: req.ChainID, Purpose: req.Purpose,
		From: strings.ToLower(k.Address.Hex()), To: dest, Asset: asset, Amount: amount, Time: s.o.Now()}
	if asset == NativeAsset {
		preq.Decimals = nativeDecimals
		if s.o.Balance != nil {
			// The funds are the Safe's: its balance is what a balance_share rule reads.
			bal, err := s.o.Balance(ctx, req.ChainID, safe)
			if err != nil {
				fail(k.ID, "", nil, fmt.Errorf("signer: balance of %s: %w", safe.Hex(), err), nil)
				return
			}
			preq.Balance = bal
		}
	}
	policyID := req.PolicyID
	if policyID == "" {
		policyID = s.o.DefaultPolicy
	}
	d, evalErr := s.o.Engine.Evaluate(ctx, policyID, preq)
	res := policyResource(d)
	reqEv := &signerv1.SigningRequest{
		Meta: s.meta(eventid.New(kindRequest, req.RequestID)), RequestId: req.RequestID, KeyId: k.ID, Requester: c.id,
		Purpose: req.Purpose, Reference: req.Reference, ChainId: req.ChainID, From: k.Address.Hex(), To: t.To.Hex(),
		Value:    &commonv1.Amount{Value: t.Value.String(), Asset: NativeAsset, Decimals: nativeDecimals},
		DataHash: hexutil.Encode(hash[:]), MaxFeePerGas: "0", MaxPriorityFeePerGas: "0", PolicyId: d.PolicyID,
		ApprovalsRequired: uint32(max(d.ApprovalsRequired, 0)),
	}
	if asset != NativeAsset {
		reqEv.TransferAmount = &commonv1.Amount{Value: amount.String(), Asset: asset}
	}
	if len(t.Data) >= 4 {
		reqEv.Selector = hexutil.Encode(t.Data[:4])
	}
	before := []record{{topic: TopicRequests, key: k.ID, ev: reqEv}}
	if d.Outcome != policy.OutcomeAllow {
		refusal, reasons := policyRefusal(d, evalErr, "Safe transactions")
		fail(k.ID, res, before, refusal, reasons)
		return
	}
	sig, _, err := txsign.SignSafeTx(ctx, backendSigner{b: b, id: k.ID, addr: k.Address}, chain, safe, t)
	if err != nil {
		fail(k.ID, res, before, &badRequest{status: http.StatusInternalServerError, code: "sign_failed", msg: err.Error()}, nil)
		return
	}
	others[k.Address] = sig
	packed, err := txsign.PackSafeSignatures(others)
	if err != nil {
		fail(k.ID, res, before, &badRequest{status: http.StatusInternalServerError, code: "sign_failed", msg: err.Error()}, nil)
		return
	}
	owners := make([]string, 0, len(others))
	for o := range others {
		owners = append(owners, o.Hex())
	}
	sort.Slice(owners, func(i, j int) bool {
		a, b := common.HexToAddress(owners[i]), common.HexToAddress(owners[j])
		return string(a[:]) < string(b[:])
	})
	if err := s.produce(ctx, append(before, s.audit(c, action, k.ID, res, req.RequestID, auditAllowed,
		"safe "+safe.Hex()+" nonce "+t.Nonce.String()))...); err != nil {
		s.unavailable(w, err)
		return
	}
	s.log.Info("safe transaction signed", "request_id", req.RequestID, "key_id", k.ID, "safe", safe.Hex(),
		"safe_tx_hash", hexutil.Encode(hash[:]), "operator", c.id)
	writeJSON(w, http.StatusOK, SafeResponse{RequestID: req.RequestID, SafeTxHash: hexutil.Encode(hash[:]),
		Signature: hexutil.Encode(sig), From: k.Address.Hex(), Signatures: hexutil.Encode(packed), Owners: owners,
		Policy: res, Rule: d.RuleName})
}
