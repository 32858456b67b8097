package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Limits of the approval requests.
const maxUserName = 100

// CreateUserRequest is the body of POST /v1/users.
type CreateUserRequest struct {
	// Name is the user's display name: 1 to 100 bytes of UTF-8. Required.
	Name string `json:"name"`
	// Approver lets the user approve refunds and payouts. Default false.
	Approver bool `json:"approver"`
}

func (req *CreateUserRequest) validate() *APIError {
	if req.Name == "" {
		return invalid("name", "parameter_missing", "name is required")
	}
	if len(req.Name) > maxUserName || !utf8.ValidString(req.Name) {
		return invalid("name", "parameter_invalid", fmt.Sprintf("name must be 1 to %d bytes of UTF-8", maxUserName))
	}
	return nil
}

// ApprovalPolicyRequest is the body of POST /v1/approval_policy: refunds and payouts of
// more than Threshold (or in another asset) need ApprovalsRequired approvals of distinct
// approvers.
type ApprovalPolicyRequest struct {
	// Threshold is the largest amount (base units of Asset, a string of digits, "0"
	// allowed) done without approvals. Required.
	Threshold json.RawMessage `json:"threshold"`
	// Asset is the asset of Threshold. Required.
	Asset string `json:"asset"`
	// ApprovalsRequired is N: at least 1, at most the merchant's number of approvers.
	ApprovalsRequired uint32 `json:"approvals_required"`
	// PayoutAddress, if given, becomes the default destination of payouts (0x + 40 hex).
	PayoutAddress *string `json:"payout_address,omitempty"`
}

// approvalPolicy is a validated policy request (N is checked against the approvers when
// it is applied).
type approvalPolicy struct {
	threshold     *commonv1.Amount
	n             uint32
	payoutAddress *string
}

func (req *ApprovalPolicyRequest) validate(assets []Asset) (approvalPolicy, *APIError) {
	var p approvalPolicy
	value, aerr := parseThreshold(req.Threshold)
	if aerr != nil {
		return p, aerr
	}
	if req.Asset == "" {
		return p, invalid("asset", "parameter_missing", "asset is required: the asset of threshold")
	}
	asset, ok := findAsset(assets, req.Asset)
	if !ok {
		return p, invalid("asset", "asset_unknown", fmt.Sprintf("asset %q is not accepted", clip(req.Asset, 80)))
	}
	if req.ApprovalsRequired < 1 {
		return p, invalid("approvals_required", "parameter_invalid", "approvals_required must be at least 1")
	}
	p.threshold = &commonv1.Amount{Value: value, Asset: asset.Code, Decimals: asset.Decimals}
	p.n = req.ApprovalsRequired
	if req.PayoutAddress != nil {
		addr, aerr := parseAddress("payout_address", *req.PayoutAddress)
		if aerr != nil {
			return p, aerr
		}
		p.payoutAddress = &addr
	}
	return p, nil
}

// parseThreshold is parseAmount for the threshold, which may be 0.
func parseThreshold(raw json.RawMessage) (string, *APIError) {
	t := bytes.Trim(bytes.TrimSpace(raw), `"`)
	if len(t) > 0 && len(bytes.Trim(t, "0")) == 0 {
		return "0", nil
	}
	v, aerr := parseAmount(raw)
	if aerr != nil {
		e := *aerr
		e.Param = "threshold"
		e.Message = strings.Replace(e.Message, "amount", "threshold", 1)
		return "", &e
	}
	return v, nil
}

// parseAddress checks a chain address: 0x and 40 hex digits. It returns it lowercased.
func parseAddress(param, s string) (string, *APIError) {
	bad := len(s) != 42 || (s[:2] != "0x" && s[:2] != "0X")
	if !bad {
		for _, c := range s[2:] {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				bad = true
				break
			}
		}
	}
	if bad {
		return "", invalid(param, "address_invalid", param+" must be a chain address: 0x and 40 hex digits")
	}
	return strings.ToLower(s), nil
}

// CreateRefundRequest is the body of POST /v1/payment_intents/{id}/refunds.
type CreateRefundRequest struct {
	// Amount is what to refund, in base units of the intent's asset: at most what was
	// received and not refunded (or reserved by refunds waiting for approval). Required.
	Amount json.RawMessage `json:"amount"`
}

// CreatePayoutRequest is the body of POST /v1/payouts.
type CreatePayoutRequest struct {
	// Amount is what to pay out, in base units of Asset. Required.
	Amount json.RawMessage `json:"amount"`
	// Asset is the asset. Required.
	Asset string `json:"asset"`
	// ChainID is the chain paid on; the asset must be accepted on it. Required.
	ChainID uint64 `json:"chain_id"`
	// Destination is the chain address paid; default the merchant's payout_address.
	Destination string `json:"destination,omitempty"`
}

// createPayout is a validated payout request (an empty destination means the merchant's
// payout address).
type createPayout struct {
	amount      *commonv1.Amount
	chainID     uint64
	destination string
}

func (req *CreatePayoutRequest) validate(assets []Asset) (createPayout, *APIError) {
	var c createPayout
	value, aerr := parseAmount(req.Amount)
	if aerr != nil {
		return c, aerr
	}
	asset, aerr := assetOn(assets, req.Asset, req.ChainID)
	if aerr != nil {
		return c, aerr
	}
	c.amount = &commonv1.Amount{Value: value, Asset: asset.Code, Decimals: asset.Decimals}
	c.chainID = req.ChainID
	if req.Destination != "" {
		d, aerr := parseAddress("destination", req.Destination)
		if aerr != nil {
			return c, aerr
		}
		c.destination = d
	}
	return c, nil
}

// User is a merchant user as the API shows it. SecretKey is shown once, when the user is
// made.
type User struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Name      string `json:"name"`
	Approver  bool   `json:"approver"`
	SecretKey string `json:"secret_key,omitempty"`
}

func (u User) withoutSecret() any { u.SecretKey = ""; return u }

// ApprovalPolicy is a merchant's approval policy as the API shows it.
type ApprovalPolicy struct {
	Object            string `json:"object"`
	Threshold         string `json:"threshold"`
	Asset             string `json:"asset"`
	Decimals          uint32 `json:"decimals"`
	ApprovalsRequired uint32 `json:"approvals_required"`
	Approvers         int    `json:"approvers"`
	PayoutAddress     string `json:"payout_address,omitempty"`
}

// Approval is an approval request as the API shows it.
type Approval struct {
	ID                string    `json:"id"`
	Object            string    `json:"object"`
	Status            string    `json:"status"`
	Action            string    `json:"action"`
	Amount            string    `json:"amount"`
	Asset             string    `json:"asset"`
	Decimals          uint32    `json:"decimals"`
	PaymentIntent     string    `json:"payment_intent,omitempty"`
	Destination       string    `json:"destination,omitempty"`
	ChainID           uint64    `json:"chain_id,omitempty"`
	RequestedBy       string    `json:"requested_by"`
	ApprovedBy        []string  `json:"approved_by"`
	RejectedBy        string    `json:"rejected_by,omitempty"`
	ApprovalsRequired uint32    `json:"approvals_required"`
	ExpiresAt         time.Time `json:"expires_at"`
	ResultID          string    `json:"result_id,omitempty"`
	Version           uint64    `json:"version"`
}

func approvalView(a *paymentsv1.ApprovalRequest) Approval {
	return Approval{
		ID:                a.GetApprovalId(),
		Object:            "approval",
		Status:            strings.ToLower(strings.TrimPrefix(a.GetState().String(), "APPROVAL_STATE_")),
		Action:            strings.ToLower(strings.TrimPrefix(a.GetAction().String(), "APPROVAL_ACTION_")),
		Amount:            a.GetAmount().GetValue(),
		Asset:             a.GetAmount().GetAsset(),
		Decimals:          a.GetAmount().GetDecimals(),
		PaymentIntent:     a.GetIntentId(),
		Destination:       a.GetDestination(),
		ChainID:           a.GetChainId(),
		RequestedBy:       a.GetRequestedBy(),
		ApprovedBy:        append([]string{}, a.GetApprovedBy()...),
		RejectedBy:        a.GetRejectedBy(),
		ApprovalsRequired: a.GetApprovalsRequired(),
		ExpiresAt:         a.GetExpiresTime().AsTime().UTC(),
		ResultID:          a.GetResultId(),
		Version:           a.GetVersion(),
	}
}

// Refund is a refund as the API shows it: "succeeded" once the REFUNDED transition is
// produced, "pending_approval" while its approval request waits (ID is then the id the
// refund will have).
type Refund struct {
	ID            string    `json:"id"`
	Object        string    `json:"object"`
	Status        string    `json:"status"`
	Amount        string    `json:"amount"`
	Asset         string    `json:"asset"`
	Decimals      uint32    `json:"decimals"`
	PaymentIntent string    `json:"payment_intent"`
	Approval      *Approval `json:"approval,omitempty"`
}

// Payout is a payout as the API shows it: "initiated" once the settlement.v1.Payout is
// produced, "pending_approval" while its approval request waits.
type Payout struct {
	ID          string    `json:"id"`
	Object      string    `json:"object"`
	Status      string    `json:"status"`
	Amount      string    `json:"amount"`
	Asset       string    `json:"asset"`
	Decimals    uint32    `json:"decimals"`
	ChainID     uint64    `json:"chain_id"`
	Destination string    `json:"destination"`
	BatchID     string    `json:"batch_id,omitempty"`
	Approval    *Approval `json:"approval,omitempty"`
}

// amountInt is the value of a (0 when unset).
func amountInt(a *commonv1.Amount) *big.Int {
	n, ok := new(big.Int).SetString(orZero(a.GetValue()), 10)
	if !ok {
		return new(big.Int)
	}
	return n
}

// needsApproval reports whether amount needs approvals under m's policy: it is above the
// threshold, or in another asset than the threshold's (amounts of different assets do
// not compare, so the policy fails closed).
func needsApproval(m *paymentsv1.MerchantConfig, amount *commonv1.Amount) bool {
	t := m.GetApprovalThreshold()
	if t == nil || t.GetValue() == "" || m.GetApprovalsRequired() == 0 {
		return false
	}
	if t.GetAsset() != amount.GetAsset() {
		return true
	}
	return amountInt(amount).Cmp(amountInt(t)) > 0
}

// approvers counts m's users who may approve.
func approvers(m *paymentsv1.MerchantConfig) int {
	n := 0
	for _, u := range m.GetUsers() {
		if u.GetApprover() {
			n++
		}
	}
	return n
}

func findUser(m *paymentsv1.MerchantConfig, id string) *paymentsv1.MerchantUser {
	for _, u := range m.GetUsers() {
		if u.GetUserId() == id {
			return u
		}
	}
	return nil
}
