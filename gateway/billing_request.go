package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Limits of the billing requests.
const (
	subMinInterval       = time.Minute
	subMaxInterval       = 366 * 24 * time.Hour
	subMaxTrial          = 2 * 366 * 24 * time.Hour
	maxPlanID            = 100
	maxChargeDescription = 200
	maxUsageID           = 255
	// maxUsageQuantity bounds one usage record, so a period's sum stays far below 2^64.
	maxUsageQuantity = 1_000_000_000_000
	// usageSkew is how far in the future a usage timestamp may be (clock skew).
	usageSkew = 5 * time.Minute
)

// CreateSubscriptionRequest is the body of POST /v1/subscriptions.
type CreateSubscriptionRequest struct {
	// Customer is the merchant's opaque payer reference.
	Customer string `json:"customer,omitempty"`
	// PlanID is the merchant's name of the plan.
	PlanID string `json:"plan_id,omitempty"`
	// Scheme is "fixed" (price per period) or "metered" (price per unit of usage).
	Scheme string `json:"scheme"`
	// Price is in base units: per period (fixed) or per unit (metered).
	Price json.RawMessage `json:"price"`
	// Asset is the asset code.
	Asset string `json:"asset"`
	// ChainID is the chain renewals are paid on.
	ChainID uint64 `json:"chain_id"`
	// IntervalSeconds is the length of a period, at least 60.
	IntervalSeconds int64 `json:"interval_seconds"`
	// TrialDays and TrialSeconds set a free trial (at most one of them).
	TrialDays    *int64 `json:"trial_days,omitempty"`
	TrialSeconds *int64 `json:"trial_seconds,omitempty"`
	// Metadata is the merchant's key-value data.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// createSubscription is a validated create-subscription request.
type createSubscription struct {
	customer string
	planID   string
	scheme   paymentsv1.BillingScheme
	price    *commonv1.Amount
	chainID  uint64
	interval time.Duration
	trial    time.Duration
	metadata []*paymentsv1.MetadataEntry
}

// renameAmountParam returns e with the "amount" parameter called param instead (parseAmount and
// the create-intent checks name it amount).
func renameAmountParam(e *APIError, param string) *APIError {
	if e == nil || e.Param != "amount" {
		return e
	}
	c := *e
	c.Param = param
	c.Message = strings.ReplaceAll(c.Message, "amount", param)
	c.Code = strings.Replace(c.Code, "amount_", param+"_", 1)
	return &c
}

// common checks what billing requests share with a create-intent request: the amount
// (named param), asset, chain, customer and metadata.
func billingCommonChecks(assets []Asset, param string, amount json.RawMessage, asset string, chain uint64,
	customer string, metadata map[string]string) (createIntent, *APIError) {
	req := CreateIntentRequest{Amount: amount, Asset: asset, ChainID: chain, Customer: customer, Metadata: metadata}
	c, aerr := req.validate(assets, time.Hour)
	return c, renameAmountParam(aerr, param)
}

// validate checks req against the accepted assets and the limits.
func (req *CreateSubscriptionRequest) validate(assets []Asset) (createSubscription, *APIError) {
	var c createSubscription
	switch req.Scheme {
	case "fixed":
		c.scheme = paymentsv1.BillingScheme_BILLING_SCHEME_FIXED
	case "metered":
		c.scheme = paymentsv1.BillingScheme_BILLING_SCHEME_METERED
	case "":
		return c, invalid("scheme", "parameter_missing", `scheme is required: "fixed" or "metered"`)
	default:
		return c, invalid("scheme", "parameter_invalid", `scheme must be "fixed" or "metered"`)
	}
	ci, aerr := billingCommonChecks(assets, "price", req.Price, req.Asset, req.ChainID, req.Customer, req.Metadata)
	if aerr != nil {
		return c, aerr
	}
	c.price, c.chainID, c.customer, c.metadata = ci.amount, ci.chainID, ci.customer, ci.metadata
	if req.IntervalSeconds == 0 {
		return c, invalid("interval_seconds", "parameter_missing", "interval_seconds is required: the length of a period in seconds")
	}
	if req.IntervalSeconds < int64(subMinInterval/time.Second) || req.IntervalSeconds > int64(subMaxInterval/time.Second) {
		return c, invalid("interval_seconds", "parameter_invalid",
			fmt.Sprintf("interval_seconds must be between %d and %d", int64(subMinInterval/time.Second), int64(subMaxInterval/time.Second)))
	}
	c.interval = time.Duration(req.IntervalSeconds) * time.Second
	switch {
	case req.TrialDays != nil && req.TrialSeconds != nil:
		return c, invalid("trial_days", "parameter_invalid", "give trial_days or trial_seconds, not both")
	case req.TrialDays != nil:
		if *req.TrialDays < 0 || *req.TrialDays > int64(subMaxTrial/(24*time.Hour)) {
			return c, invalid("trial_days", "parameter_invalid", fmt.Sprintf("trial_days must be between 0 and %d", int64(subMaxTrial/(24*time.Hour))))
		}
		c.trial = time.Duration(*req.TrialDays) * 24 * time.Hour
	case req.TrialSeconds != nil:
		if *req.TrialSeconds < 0 || *req.TrialSeconds > int64(subMaxTrial/time.Second) {
			return c, invalid("trial_seconds", "parameter_invalid", fmt.Sprintf("trial_seconds must be between 0 and %d", int64(subMaxTrial/time.Second)))
		}
		c.trial = time.Duration(*req.TrialSeconds) * time.Second
	}
	if len(req.PlanID) > maxPlanID || !utf8.ValidString(req.PlanID) {
		return c, invalid("plan_id", "parameter_invalid", fmt.Sprintf("plan_id must be valid UTF-8 of at most %d bytes", maxPlanID))
	}
	c.planID = req.PlanID
	return c, nil
}

// subscription returns version 1 of the subscription c describes, created at now.
func (c createSubscription) subscription(id, merchant string, now time.Time) *paymentsv1.Subscription {
	sub := &paymentsv1.Subscription{
		Meta:                   &commonv1.Meta{EventId: subEventID(id, 1), EventTime: timestamppb.New(now), Source: source},
		SubscriptionId:         id,
		MerchantId:             merchant,
		Version:                1,
		State:                  paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE,
		CustomerId:             c.customer,
		PlanId:                 c.planID,
		Scheme:                 c.scheme,
		Price:                  c.price,
		ChainId:                c.chainID,
		Interval:               durationpb.New(c.interval),
		CurrentPeriodStartTime: timestamppb.New(now),
		CurrentPeriodEndTime:   timestamppb.New(now.Add(c.interval)),
		CreatedTime:            timestamppb.New(now),
		Metadata:               c.metadata,
	}
	if c.trial > 0 {
		// The trial is a free period of its own: the first renewal is at its end.
		sub.State = paymentsv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING
		sub.TrialEndTime = timestamppb.New(now.Add(c.trial))
		sub.CurrentPeriodEndTime = sub.TrialEndTime
	}
	return sub
}

// CreateUsageRequest is the body of POST /v1/subscriptions/{id}/usage.
type CreateUsageRequest struct {
	// Quantity is the number of units used: a positive integer (JSON number or string).
	Quantity json.RawMessage `json:"quantity"`
	// Timestamp is when the usage happened (RFC 3339); default now.
	Timestamp string `json:"timestamp,omitempty"`
	// UsageID is the client's id of the record: a repeated usage_id is counted once.
	UsageID string `json:"usage_id,omitempty"`
}

// createUsage is a validated usage request.
type createUsage struct {
	quantity uint64
	at       time.Time
	clientID string
}

// validate checks req; now is the default timestamp.
func (req *CreateUsageRequest) validate(now time.Time) (createUsage, *APIError) {
	var c createUsage
	q, aerr := parseQuantity(req.Quantity)
	if aerr != nil {
		return c, aerr
	}
	c.quantity = q
	c.at = now
	if req.Timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, req.Timestamp)
		if err != nil {
			return c, invalid("timestamp", "parameter_invalid", "timestamp must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
		}
		if t.After(now.Add(usageSkew)) {
			return c, invalid("timestamp", "usage_in_future", "timestamp is in the future")
		}
		c.at = t
	}
	if req.UsageID != "" {
		if len(req.UsageID) > maxUsageID || strings.ContainsFunc(req.UsageID, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return c, invalid("usage_id", "parameter_invalid", fmt.Sprintf("usage_id must be 1 to %d printable ASCII characters", maxUsageID))
		}
		c.clientID = req.UsageID
	}
	return c, nil
}

// parseQuantity checks a usage quantity: a positive integer, as a JSON number or a string
// of digits, at most maxUsageQuantity.
func parseQuantity(raw json.RawMessage) (uint64, *APIError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, invalid("quantity", "parameter_missing", "quantity is required: a positive integer")
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, invalid("quantity", "quantity_invalid", "quantity must be a positive integer")
		}
	}
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, invalid("quantity", "quantity_invalid", "quantity must be a positive integer (no sign, fraction or exponent)")
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return 0, invalid("quantity", "quantity_invalid", "quantity must be positive")
	}
	q, err := strconv.ParseUint(s, 10, 64)
	if err != nil || q > maxUsageQuantity {
		return 0, invalid("quantity", "quantity_too_large", fmt.Sprintf("quantity must be at most %d", uint64(maxUsageQuantity)))
	}
	return q, nil
}

// CreateChargeRequest is the body of POST /v1/charges.
type CreateChargeRequest struct {
	// Customer is whose tab is charged. Required.
	Customer string `json:"customer"`
	// Amount is in base units, positive.
	Amount json.RawMessage `json:"amount"`
	// Asset is the asset code.
	Asset string `json:"asset"`
	// ChainID is the chain the tab is settled on.
	ChainID uint64 `json:"chain_id"`
	// Description is the merchant's short label.
	Description string `json:"description,omitempty"`
}

// createCharge is a validated charge request.
type createCharge struct {
	customer    string
	amount      *commonv1.Amount
	chainID     uint64
	description string
}

// validate checks req against the accepted assets and the limits.
func (req *CreateChargeRequest) validate(assets []Asset) (createCharge, *APIError) {
	var c createCharge
	ci, aerr := billingCommonChecks(assets, "amount", req.Amount, req.Asset, req.ChainID, req.Customer, nil)
	if aerr != nil {
		return c, aerr
	}
	if ci.customer == "" {
		return c, invalid("customer", "parameter_missing", "customer is required: whose tab is charged")
	}
	if len(req.Description) > maxChargeDescription || !utf8.ValidString(req.Description) {
		return c, invalid("description", "parameter_invalid", fmt.Sprintf("description must be valid UTF-8 of at most %d bytes", maxChargeDescription))
	}
	c.customer, c.amount, c.chainID, c.description = ci.customer, ci.amount, ci.chainID, req.Description
	return c, nil
}

// SettleTabRequest is the body of POST /v1/tabs/{customer}/settle: which of the
// customer's tabs (one per asset and chain).
type SettleTabRequest struct {
	// Asset is the asset code of the tab.
	Asset string `json:"asset"`
	// ChainID is the chain of the tab.
	ChainID uint64 `json:"chain_id"`
}

// tabRef names one tab: a customer's charges in one asset on one chain.
type tabRef struct {
	customer string
	asset    Asset
	chainID  uint64
}

// validateTab checks a tab's customer, asset and chain.
func validateTab(assets []Asset, customer, asset string, chain uint64) (tabRef, *APIError) {
	var t tabRef
	if customer == "" || len(customer) > maxCustomer || !utf8.ValidString(customer) {
		return t, invalid("customer", "parameter_invalid", fmt.Sprintf("customer must be valid UTF-8 of 1 to %d bytes", maxCustomer))
	}
	a, aerr := assetOn(assets, asset, chain)
	if aerr != nil {
		return t, aerr
	}
	return tabRef{customer: customer, asset: a, chainID: chain}, nil
}
