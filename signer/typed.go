package signer

import (
	"math/big"
	"net/http"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer/policy"
	"github.com/weirhq/weir/signer/txsign"
)

// TypedDataAsset is the asset policies see for an EIP-712 signature: it moves nothing
// the signer can price, so its amount is 0, and its destination is the domain's
// verifyingContract. A policy signs typed data only if a rule allows this asset.
const TypedDataAsset = "eip712"

// TypedDataRequest is the body of POST /v1/sign/typed-data.
type TypedDataRequest struct {
	// RequestID identifies the request in events. Required.
	RequestID string `json:"request_id"`
	// KeyID names the signing key. Required.
	KeyID string `json:"key_id"`
	// Purpose, Reference and PolicyID as for TxRequest.
	Purpose   string `json:"purpose,omitempty"`
	Reference string `json:"reference,omitempty"`
	PolicyID  string `json:"policy_id,omitempty"`
	// Data is the typed data of eth_signTypedData_v4; its domain's chainId must be a
	// chain the signer serves.
	Data apitypes.TypedData `json:"data"`
}

// TypedDataResponse is the answer: the 65-byte signature (V = 27 or 28) and the digest.
type TypedDataResponse struct {
	RequestID string `json:"request_id"`
	Signature string `json:"signature"`
	Hash      string `json:"hash"`
	From      string `json:"from"`
	Policy    string `json:"policy"`
	Rule      string `json:"rule"`
}

func (s *Server) signTypedData(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	var req TypedDataRequest
	if err := decode(r, &req); err != nil {
		s.refuse(ctx, w, c, "sign.typed_data", "", "", http.StatusBadRequest, "bad_request", err.Error(), nil)
		return
	}
	fail := func(keyID, res string, before []record, err error, reasons []string) {
		s.refuseWith(ctx, w, c, keyID, req.RequestID, res, before, err, reasons)
	}
	if req.RequestID == "" || len(req.RequestID) > policy.MaxIDLen {
		fail(req.KeyID, "", nil, bad("invalid_request_id", "request_id is required (at most %d bytes)", policy.MaxIDLen), nil)
		return
	}
	k, b, err := s.findKey(ctx, req.KeyID)
	if err != nil {
		fail(req.KeyID, "", nil, &badRequest{status: http.StatusNotFound, code: "unknown_key", msg: "no key " + req.KeyID}, nil)
		return
	}
	// Key recovery: a frozen or retired key signs nothing (recovery_api.go).
	if err := s.keyUsable(k.ID); err != nil {
		fail(k.ID, "", nil, err, nil)
		return
	}
	dom := req.Data.Domain
	if dom.ChainId == nil {
		fail(k.ID, "", nil, bad("wrong_chain", "the typed data's domain has no chainId"), nil)
		return
	}
	chain := (*big.Int)(dom.ChainId)
	if !chain.IsUint64() || !s.chains[chain.Uint64()] {
		fail(k.ID, "", nil, bad("wrong_chain", "chain id %v is not served by this signer", chain), nil)
		return
	}
	sum, _, err := apitypes.TypedDataAndHash(req.Data)
	if err != nil {
		fail(k.ID, "", nil, bad("invalid_typed_data", "%v", err), nil)
		return
	}
	digest := hexutil.Encode(sum)
	to := ""
	if dom.VerifyingContract != "" {
		if !common.IsHexAddress(dom.VerifyingContract) {
			fail(k.ID, "", nil, bad("invalid_typed_data", "verifyingContract is not an address"), nil)
			return
		}
		to = strings.ToLower(common.HexToAddress(dom.VerifyingContract).Hex())
	}
	preq := policy.Request{RequestID: req.RequestID, KeyID: k.ID, ChainID: chain.Uint64(), Purpose: req.Purpose,
		From: strings.ToLower(k.Address.Hex()), To: to, Asset: TypedDataAsset, Amount: new(big.Int), Time: s.o.Now()}
	policyID := req.PolicyID
	if policyID == "" {
		policyID = s.o.DefaultPolicy
	}
	d, evalErr := s.o.Engine.Evaluate(ctx, policyID, preq)
	res := policyResource(d)
	reqEv := &signerv1.SigningRequest{
		Meta: s.meta(eventid.New(kindRequest, req.RequestID)), RequestId: req.RequestID, KeyId: k.ID, Requester: c.id,
		Purpose: req.Purpose, Reference: req.Reference, ChainId: chain.Uint64(), From: k.Address.Hex(), To: to,
		Value:    &commonv1.Amount{Value: "0", Asset: NativeAsset, Decimals: nativeDecimals},
		DataHash: digest, MaxFeePerGas: "0", MaxPriorityFeePerGas: "0", PolicyId: d.PolicyID, ApprovalsRequired: uint32(max(d.ApprovalsRequired, 0)),
	}
	before := []record{{topic: TopicRequests, key: k.ID, ev: reqEv}}
	if d.Outcome != policy.OutcomeAllow {
		refusal, reasons := policyRefusal(d, evalErr, "typed data")
		fail(k.ID, res, before, refusal, reasons)
		return
	}
	sig, hash, err := txsign.SignTypedData(ctx, backendSigner{b: b, id: k.ID, addr: k.Address}, req.Data)
	if err != nil {
		fail(k.ID, res, before, &badRequest{status: http.StatusInternalServerError, code: "sign_failed", msg: err.Error()}, nil)
		return
	}
	if err := s.produce(ctx, append(before, s.audit(c, "sign.typed_data", k.ID, res, req.RequestID, auditAllowed, ""))...); err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, TypedDataResponse{RequestID: req.RequestID, Signature: hexutil.Encode(sig),
		Hash: hexutil.Encode(hash[:]), From: k.Address.Hex(), Policy: res, Rule: d.RuleName})
}

// policyRefusal is the answer to a request of kind what (typed data, Safe transactions)
// that the policy did not allow, and the reasons to audit: those requests cannot be held
// for approvals yet, so a require-approvals decision refuses them too.
func policyRefusal(d policy.Decision, evalErr error, what string) (*badRequest, []string) {
	reasons := d.Reasons
	if evalErr != nil {
		reasons = append(reasons, evalErr.Error())
	}
	msg := "the policy refuses this request"
	if d.Outcome == policy.OutcomeRequireApprovals {
		msg = "the policy requires approvals, which " + what + " cannot collect yet"
	}
	return &badRequest{status: http.StatusForbidden, code: "policy_denied", msg: msg}, reasons
}
