package signer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer/keys"
	"github.com/weirhq/weir/signer/nonce"
	"github.com/weirhq/weir/signer/policy"
	"github.com/weirhq/weir/signer/txsign"
)

// NativeAsset is the asset of a transaction's value in policies and events.
const NativeAsset = "ETH"

// nativeDecimals is the native coin's number of decimal places.
const nativeDecimals = 18

// erc20Transfer is the selector of ERC-20 transfer(address,uint256).
var erc20Transfer = []byte{0xa9, 0x05, 0x9c, 0xbb}

// TxRequest is the body of POST /v1/sign/transaction. Amounts are canonical decimal
// strings of base units (wei). The transaction is EIP-1559 when max_fee_per_gas is set
// and legacy (EIP-155) when gas_price is set; exactly one of them must be.
type TxRequest struct {
	// RequestID is the requester's idempotency key: a retry with the same body signs
	// the same transaction at the same nonce; another body under it is refused. Required.
	RequestID string `json:"request_id"`
	// KeyID names the signing key. Required.
	KeyID string `json:"key_id"`
	// ChainID is the EIP-155 chain id; one the signer serves. Required.
	ChainID uint64 `json:"chain_id"`
	// Purpose and Reference describe the request for policies and the audit trail.
	Purpose   string `json:"purpose,omitempty"`
	Reference string `json:"reference,omitempty"`
	// PolicyID is the policy to judge the request by. Default Options.DefaultPolicy.
	PolicyID string `json:"policy_id,omitempty"`
	// To is the recipient or called contract; empty for a contract creation.
	To string `json:"to,omitempty"`
	// Value is the wei sent. Default "0".
	Value string `json:"value,omitempty"`
	// Data is the call data, 0x-hex.
	Data string `json:"data,omitempty"`
	// Gas is the gas limit. Required.
	Gas uint64 `json:"gas"`
	// Nonce, if set, must be a nonce the signer handed out (to this or an earlier
	// request); unset, the signer reserves the next one.
	Nonce *uint64 `json:"nonce,omitempty"`
	// GasPrice makes a legacy transaction.
	GasPrice string `json:"gas_price,omitempty"`
	// MaxFeePerGas and MaxPriorityFeePerGas make an EIP-1559 transaction.
	MaxFeePerGas         string `json:"max_fee_per_gas,omitempty"`
	MaxPriorityFeePerGas string `json:"max_priority_fee_per_gas,omitempty"`
	// Replacement declares the transaction a replacement of the one at the same nonce:
	// "speed_up" or "cancel". Default none.
	Replacement string `json:"replacement,omitempty"`
}

// TxResponse is the answer of a signed transaction.
type TxResponse struct {
	RequestID string `json:"request_id"`
	RawTx     string `json:"raw_tx"`
	Hash      string `json:"hash"`
	From      string `json:"from"`
	Nonce     uint64 `json:"nonce"`
	Policy    string `json:"policy"`
	Rule      string `json:"rule"`
}

// PendingResponse is the 202 answer of a request that needs approvals.
type PendingResponse struct {
	RequestID         string   `json:"request_id"`
	Status            string   `json:"status"`
	ApprovalsRequired int      `json:"approvals_required"`
	Approvers         []string `json:"approvers"`
	ApprovalExpiry    string   `json:"approval_expiry"`
	Policy            string   `json:"policy"`
	Rule              string   `json:"rule"`
	Reasons           []string `json:"reasons,omitempty"`
}

// badRequest is an input error: 400 (or 404 for an unknown key) with a code.
type badRequest struct {
	status int
	code   string
	msg    string
}

func (e *badRequest) Error() string { return e.code + ": " + e.msg }

func bad(code, format string, args ...any) *badRequest {
	return &badRequest{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// parsedTx is a TxRequest checked and turned into what the signer needs.
type parsedTx struct {
	req     TxRequest
	key     keys.KeyInfo
	backend keys.Backend
	chain   *big.Int
	to      *common.Address
	value   *big.Int
	data    []byte
	asset   string // what the policy judges: NativeAsset or erc20:<chain>:<token>
	amount  *big.Int
	dest    string // the policy's destination (the token recipient for an ERC-20 transfer)
	kind    nonce.Replacement
	fp      string
}

func parseAmount(field, s string) (*big.Int, error) {
	if s == "" {
		return nil, bad("invalid_amount", "%s is required", field)
	}
	v, err := policy.ParseAmount(s)
	if err != nil {
		return nil, bad("invalid_amount", "%s: %v", field, err)
	}
	return v, nil
}

// parseTx checks req: the key exists, the chain is served, every field is well formed.
func (s *Server) parseTx(ctx context.Context, req TxRequest) (*parsedTx, error) {
	if req.RequestID == "" || len(req.RequestID) > policy.MaxIDLen {
		return nil, bad("invalid_request_id", "request_id is required (at most %d bytes)", policy.MaxIDLen)
	}
	if req.KeyID == "" {
		return nil, bad("invalid_key_id", "key_id is required")
	}
	p := &parsedTx{req: req, chain: new(big.Int).SetUint64(req.ChainID)}
	k, b, err := s.findKey(ctx, req.KeyID)
	if errors.Is(err, keys.ErrNotFound) {
		return nil, &badRequest{status: http.StatusNotFound, code: "unknown_key", msg: fmt.Sprintf("no key %q", req.KeyID)}
	}
	if err != nil {
		return nil, err
	}
	p.key, p.backend = k, b
	if !s.chains[req.ChainID] {
		return nil, bad("wrong_chain", "chain id %d is not served by this signer", req.ChainID)
	}
	if req.To != "" {
		if !common.IsHexAddress(req.To) || !strings.HasPrefix(req.To, "0x") {
			return nil, bad("invalid_to", "to must be 0x + 40 hex digits")
		}
		a := common.HexToAddress(req.To)
		p.to = &a
	}
	p.value = new(big.Int)
	if req.Value != "" {
		if p.value, err = parseAmount("value", req.Value); err != nil {
			return nil, err
		}
	}
	if req.Data != "" {
		if p.data, err = hexutil.Decode(req.Data); err != nil {
			return nil, bad("invalid_data", "data: %v", err)
		}
	}
	switch req.Replacement {
	case "":
		p.kind = nonce.Original
	case "speed_up":
		p.kind = nonce.SpeedUp
	case "cancel":
		p.kind = nonce.Cancel
	default:
		return nil, bad("invalid_replacement", "replacement must be speed_up or cancel")
	}
	if p.kind != nonce.Original && req.Nonce == nil {
		return nil, bad("invalid_replacement", "a replacement names the nonce it replaces")
	}
	p.asset, p.amount = NativeAsset, p.value
	if p.to != nil {
		p.dest = strings.ToLower(p.to.Hex())
	}
	if len(p.data) == 4+32+32 && string(p.data[:4]) == string(erc20Transfer) && p.to != nil {
		if p.value.Sign() != 0 {
			return nil, bad("unsupported_transaction", "a transaction that moves both ETH and a token is not supported")
		}
		p.asset = fmt.Sprintf("erc20:%d:%s", req.ChainID, strings.ToLower(p.to.Hex()))
		p.amount = new(big.Int).SetBytes(p.data[36:68])
		p.dest = strings.ToLower(common.BytesToAddress(p.data[4:36]).Hex())
	}
	if _, err := s.buildTx(p, 0); err != nil {
		return nil, err
	}
	canon, _ := json.Marshal(req)
	sum := sha256.Sum256(canon)
	p.fp = hex.EncodeToString(sum[:])
	return p, nil
}

// buildTx makes the unsigned transaction at nonce n and validates it for the chain.
func (s *Server) buildTx(p *parsedTx, n uint64) (*types.Transaction, error) {
	req := p.req
	if req.Gas == 0 {
		return nil, bad("invalid_transaction", "gas is required")
	}
	var tx *types.Transaction
	switch {
	case req.GasPrice != "" && (req.MaxFeePerGas != "" || req.MaxPriorityFeePerGas != ""):
		return nil, bad("invalid_transaction", "give gas_price (legacy) or max_fee_per_gas (EIP-1559), not both")
	case req.GasPrice != "":
		gp, err := parseAmount("gas_price", req.GasPrice)
		if err != nil {
			return nil, err
		}
		tx = types.NewTx(&types.LegacyTx{Nonce: n, GasPrice: gp, Gas: req.Gas, To: p.to, Value: p.value, Data: p.data})
	case req.MaxFeePerGas != "":
		fee, err := parseAmount("max_fee_per_gas", req.MaxFeePerGas)
		if err != nil {
			return nil, err
		}
		tip := new(big.Int)
		if req.MaxPriorityFeePerGas != "" {
			if tip, err = parseAmount("max_priority_fee_per_gas", req.MaxPriorityFeePerGas); err != nil {
				return nil, err
			}
		}
		tx = types.NewTx(&types.DynamicFeeTx{ChainID: p.chain, Nonce: n, GasTipCap: tip, GasFeeCap: fee, Gas: req.Gas,
			To: p.to, Value: p.value, Data: p.data})
	default:
		return nil, bad("invalid_transaction", "give gas_price (legacy) or max_fee_per_gas (EIP-1559)")
	}
	if err := txsign.Validate(tx, p.chain); err != nil {
		return nil, bad("invalid_transaction", "%v", err)
	}
	return tx, nil
}

// policyRequest is what the policy decides on.
func (s *Server) policyRequest(ctx context.Context, p *parsedTx) (policy.Request, error) {
	r := policy.Request{RequestID: p.req.RequestID, KeyID: p.key.ID, ChainID: p.req.ChainID, Purpose: p.req.Purpose,
		From: strings.ToLower(p.key.Address.Hex()), To: p.dest, Asset: p.asset, Amount: p.amount, Time: s.o.Now()}
	if p.asset == NativeAsset {
		r.Decimals = nativeDecimals
		if s.o.Balance != nil {
			bal, err := s.o.Balance(ctx, p.req.ChainID, p.key.Address)
			if err != nil {
				return r, fmt.Errorf("signer: balance of %s: %w", p.key.Address.Hex(), err)
			}
			r.Balance = bal
		}
	}
	return r, nil
}

// signingRequest is the SigningRequest event of p as decided by d.
func (s *Server) signingRequest(c caller, p *parsedTx, d policy.Decision) record {
	req := p.req
	ev := &signerv1.SigningRequest{
		Meta: s.meta(eventid.New(kindRequest, req.RequestID)), RequestId: req.RequestID, KeyId: p.key.ID,
		Requester: c.id, Purpose: req.Purpose, Reference: req.Reference, ChainId: req.ChainID,
		From:     p.key.Address.Hex(),
		Value:    &commonv1.Amount{Value: p.value.String(), Asset: NativeAsset, Decimals: nativeDecimals},
		GasLimit: req.Gas, PolicyId: d.PolicyID, ApprovalsRequired: uint32(max(d.ApprovalsRequired, 0)),
	}
	if p.to != nil {
		ev.To = p.to.Hex()
	}
	if p.asset != NativeAsset {
		ev.TransferAmount = &commonv1.Amount{Value: p.amount.String(), Asset: p.asset}
	}
	if len(p.data) > 0 {
		ev.DataHash = hexutil.Encode(crypto.Keccak256(p.data))
		if len(p.data) >= 4 {
			ev.Selector = hexutil.Encode(p.data[:4])
		}
	}
	if req.GasPrice != "" {
		ev.MaxFeePerGas, ev.MaxPriorityFeePerGas = req.GasPrice, req.GasPrice
	} else {
		ev.MaxFeePerGas, ev.MaxPriorityFeePerGas = req.MaxFeePerGas, req.MaxPriorityFeePerGas
		if ev.MaxPriorityFeePerGas == "" {
			ev.MaxPriorityFeePerGas = "0"
		}
	}
	return record{topic: TopicRequests, key: p.key.ID, ev: ev}
}

func (s *Server) signTransaction(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	var req TxRequest
	if err := decode(r, &req); err != nil {
		s.refuse(ctx, w, c, "sign", "", "", http.StatusBadRequest, "bad_request", err.Error(), nil)
		return
	}
	p, err := s.parseTx(ctx, req)
	if err != nil {
		s.refuseErr(ctx, w, c, req.KeyID, req.RequestID, err)
		return
	}
	// Key recovery: a frozen or retired key signs nothing (recovery_api.go).
	if err := s.keyUsable(p.key.ID); err != nil {
		s.refuseErr(ctx, w, c, p.key.ID, req.RequestID, err)
		return
	}
	// A request id already used for another body is refused before anything else.
	if _, _, err := s.o.Requests.check(req.RequestID, p.fp); err != nil {
		s.refuseErr(ctx, w, c, p.key.ID, req.RequestID, conflictOr(err))
		return
	}
	preq, err := s.policyRequest(ctx, p)
	if err != nil {
		s.refuseErr(ctx, w, c, p.key.ID, req.RequestID, err)
		return
	}
	policyID := req.PolicyID
	if policyID == "" {
		policyID = s.o.DefaultPolicy
	}
	// The usage's fsync runs while the nonce is taken; it is awaited before signing.
	d, usageDurable, evalErr := s.o.Engine.EvaluateAsync(ctx, policyID, preq)
	defer func() { _ = usageDurable() }() // every path waits for it (and releases its batch)
	reqEv := s.signingRequest(c, p, d)
	res := policyResource(d)
	if evalErr != nil && errors.Is(evalErr, policy.ErrInvalidRequest) {
		s.refuseWith(ctx, w, c, p.key.ID, req.RequestID, res, []record{reqEv}, bad("invalid_request", "%v", evalErr), nil)
		return
	}
	switch {
	case evalErr != nil && !errors.Is(evalErr, policy.ErrNoActive) && !errors.Is(evalErr, policy.ErrBalanceRequired):
		s.refuseWith(ctx, w, c, p.key.ID, req.RequestID, res, []record{reqEv},
			&badRequest{status: http.StatusInternalServerError, code: "policy_error", msg: evalErr.Error()}, nil)
		return
	case d.Outcome == policy.OutcomeRequireApprovals:
		s.hold(ctx, w, c, p, preq, d, reqEv, res) // approvals.go: held until the quorum
		return
	case d.Outcome != policy.OutcomeAllow:
		reasons := d.Reasons
		if evalErr != nil {
			reasons = append(reasons, evalErr.Error())
		}
		s.refuseWith(ctx, w, c, p.key.ID, req.RequestID, res, []record{reqEv},
			&badRequest{status: http.StatusForbidden, code: "policy_denied", msg: "the policy refuses this request"}, reasons)
		return
	}

	// Allowed: the nonce (reserved once per request id), the double-sign guard, then the
	// signature.
	chain, from := req.ChainID, p.key.Address
	n, recorded, err := s.claimNonce(ctx, p) // requests.go: a new nonce is reserved and recorded in one write
	if err != nil {
		s.refuseWith(ctx, w, c, p.key.ID, req.RequestID, res, []record{reqEv}, conflictOr(err), nil)
		return
	}
	tx, err := s.buildTx(p, n)
	if err != nil {
		s.refuseWith(ctx, w, c, p.key.ID, req.RequestID, res, []record{reqEv}, err, nil)
		return
	}
	payload := types.LatestSignerForChainID(p.chain).Hash(tx)
	if !recorded {
		if err := s.o.Nonces.Record(chain, from, n, payload, p.kind); err != nil {
			s.refuseWith(ctx, w, c, p.key.ID, req.RequestID, res, []record{reqEv}, nonceError(err, n), nil)
			return
		}
	}
	if err := usageDurable(); err != nil {
		s.refuseWith(ctx, w, c, p.key.ID, req.RequestID, res, []record{reqEv},
			&badRequest{status: http.StatusInternalServerError, code: "policy_error", msg: err.Error()}, nil)
		return
	}
	signed, err := txsign.SignTx(ctx, backendSigner{b: p.backend, id: p.key.ID, addr: from}, tx, p.chain)
	if err != nil {
		s.refuseWith(ctx, w, c, p.key.ID, req.RequestID, res, []record{reqEv},
			&badRequest{status: http.StatusInternalServerError, code: "sign_failed", msg: err.Error()}, nil)
		return
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		s.refuseWith(ctx, w, c, p.key.ID, req.RequestID, res, []record{reqEv},
			&badRequest{status: http.StatusInternalServerError, code: "sign_failed", msg: err.Error()}, nil)
		return
	}
	hash := signed.Hash().Hex()
	signedEv := &signerv1.SignedTransaction{
		Meta: s.meta(eventid.New(kindSigned, req.RequestID, hash)), RequestId: req.RequestID, KeyId: p.key.ID,
		ChainId: chain, From: from.Hex(), Nonce: n, TransactionHash: hash, RawTransaction: raw,
	}
	if err := s.produce(ctx, reqEv, record{topic: TopicSigned, key: p.key.ID, ev: signedEv},
		s.audit(c, "sign", p.key.ID, res, req.RequestID, auditAllowed, "")); err != nil {
		s.unavailable(w, err)
		return
	}
	s.log.Info("transaction signed", "request_id", req.RequestID, "key_id", p.key.ID, "chain_id", chain,
		"nonce", n, "hash", hash, "operator", c.id)
	writeJSON(w, http.StatusOK, TxResponse{RequestID: req.RequestID, RawTx: hexutil.Encode(raw), Hash: hash,
		From: from.Hex(), Nonce: n, Policy: res, Rule: d.RuleName})
}

func conflictOr(err error) error {
	if errors.Is(err, ErrRequestConflict) {
		return &badRequest{status: http.StatusConflict, code: "request_id_conflict", msg: err.Error()}
	}
	return err
}

// nonceError maps the double-sign guard's refusals to 409s.
func nonceError(err error, n uint64) error {
	switch {
	case errors.Is(err, nonce.ErrDoubleSign):
		return &badRequest{status: http.StatusConflict, code: "double_sign",
			msg: fmt.Sprintf("a different payload was already signed at nonce %d: %v", n, err)}
	case errors.Is(err, nonce.ErrNotReserved):
		return &badRequest{status: http.StatusConflict, code: "nonce_not_reserved",
			msg: fmt.Sprintf("nonce %d was not handed out by this signer", n)}
	case errors.Is(err, nonce.ErrSettled):
		return &badRequest{status: http.StatusConflict, code: "nonce_settled", msg: fmt.Sprintf("nonce %d is already mined", n)}
	}
	return err
}

// refuseErr answers err (a *badRequest, or else a 500) after an audit record.
func (s *Server) refuseErr(ctx context.Context, w http.ResponseWriter, c caller, keyID, requestID string, err error) {
	s.refuseWith(ctx, w, c, keyID, requestID, "", nil, err, nil)
}

// refuseWith answers err after producing before (the SigningRequest, if any) and an
// audit record of the refusal.
func (s *Server) refuseWith(ctx context.Context, w http.ResponseWriter, c caller, keyID, requestID, resource string,
	before []record, err error, reasons []string) {
	var b *badRequest
	if !errors.As(err, &b) {
		s.log.Error("signing request failed", "request_id", requestID, "key_id", keyID, "err", err)
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
	recs := append(before, s.audit(c, "sign", keyID, resource, requestID, outcome, reason))
	if err := s.produce(ctx, recs...); err != nil {
		s.unavailable(w, err)
		return
	}
	writeError(w, b.status, b.code, b.msg, reasons)
}

// backendSigner is a txsign.Signer over one key of a backend.
type backendSigner struct {
	b    keys.Backend
	id   string
	addr common.Address
}

func (s backendSigner) Sign(ctx context.Context, digest [32]byte) ([]byte, error) {
	return s.b.Sign(ctx, s.id, digest)
}

func (s backendSigner) Address() common.Address { return s.addr }
