package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Limits of a create-intent request.
const (
	maxMetadataKeys   = 20
	maxMetadataKey    = 40
	maxMetadataValue  = 500
	maxCustomer       = 100
	maxExpiresIn      = 30 * 24 * time.Hour
	minExpiresIn      = time.Minute
	maxUint256Decimal = 78
)

// maxUint256 is 2^256 - 1.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// Asset is an asset the gateway accepts: its code as in weir.common.v1.Amount.asset, its
// decimals, and the chains it can be paid on.
type Asset struct {
	// Code is the asset, e.g. "ETH" or "erc20:1337:0x…" (lowercase address).
	Code string
	// Decimals is the number of decimal places of the asset.
	Decimals uint32
	// ChainIDs are the EIP-155 chains the asset can be paid on.
	ChainIDs []uint64
}

// CreateIntentRequest is the body of POST /v1/payment_intents.
type CreateIntentRequest struct {
	// Amount is the amount in base units: a JSON string of digits (or an integer JSON
	// number), positive, below 2^256.
	Amount json.RawMessage `json:"amount"`
	// Asset is the asset code.
	Asset string `json:"asset"`
	// ChainID is the chain the payer pays on.
	ChainID uint64 `json:"chain_id"`
	// ExpiresInSeconds is how long the intent waits for payment; default Options.IntentTTL.
	ExpiresInSeconds *int64 `json:"expires_in_seconds,omitempty"`
	// Customer is the merchant's opaque payer reference.
	Customer string `json:"customer,omitempty"`
	// Metadata is the merchant's key-value data.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// createIntent is a validated create request.
type createIntent struct {
	amount   *commonv1.Amount
	chainID  uint64
	expires  time.Duration
	customer string
	metadata []*paymentsv1.MetadataEntry
}

// readBody reads the request body, at most limit bytes (413 beyond).
func readBody(r *http.Request, limit int64) ([]byte, *APIError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, invalid("", "body_unreadable", "the request body could not be read")
	}
	if int64(len(body)) > limit {
		e := invalid("", "body_too_large", fmt.Sprintf("the request body exceeds %d bytes", limit))
		e.Status = http.StatusRequestEntityTooLarge
		return nil, e
	}
	return body, nil
}

// decodeJSON decodes one JSON object from body into v, refusing unknown fields and
// trailing data with an APIError naming the problem.
func decodeJSON(body []byte, v any) *APIError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return invalid("", "body_invalid", "the request body has data after the JSON object")
	}
	return nil
}

// jsonBytes encodes a response body.
func jsonBytes(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// jsonError turns a decoding error into an APIError naming the field.
func jsonError(err error) *APIError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return invalid("", "body_invalid", fmt.Sprintf("the request body is not valid JSON (at byte %d)", syn.Offset))
	case errors.As(err, &typ):
		return invalid(typ.Field, "parameter_invalid", fmt.Sprintf("%s must be a JSON %s", typ.Field, jsonType(typ.Type.Kind().String())))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "body_invalid", "the request body is empty or truncated; send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(field, "parameter_unknown", fmt.Sprintf("unknown parameter %q", field))
	}
	return invalid("", "body_invalid", "the request body is not a valid JSON object")
}

func jsonType(kind string) string {
	switch kind {
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	case "int64", "uint64", "int", "uint", "int32", "uint32":
		return "integer"
	case "ptr":
		return "integer"
	}
	return kind
}

// parseAmount checks a request amount: a JSON string of digits or an integer JSON number,
// positive and below 2^256. It returns the canonical decimal.
func parseAmount(raw json.RawMessage) (string, *APIError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", invalid("amount", "parameter_missing", "amount is required: the amount in base units, as a string of digits")
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", invalid("amount", "amount_invalid", "amount must be a string of digits")
		}
	}
	switch {
	case s == "":
		return "", invalid("amount", "amount_invalid", "amount must not be empty")
	case s[0] == '-':
		return "", invalid("amount", "amount_invalid", "amount must not be negative")
	case strings.ContainsAny(s, ".eE"):
		return "", invalid("amount", "amount_invalid", "amount must be an integer number of base units (no fraction, no exponent)")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return "", invalid("amount", "amount_invalid", "amount must be a string of digits")
		}
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "", invalid("amount", "amount_invalid", "amount must be positive")
	}
	if len(s) > maxUint256Decimal {
		return "", invalid("amount", "amount_too_large", "amount exceeds 2^256-1 base units")
	}
	if v, _ := new(big.Int).SetString(s, 10); v.Cmp(maxUint256) > 0 {
		return "", invalid("amount", "amount_too_large", "amount exceeds 2^256-1 base units")
	}
	return s, nil
}

// validate checks req against the accepted assets and the limits.
func (req *CreateIntentRequest) validate(assets []Asset, defaultTTL time.Duration) (createIntent, *APIError) {
	var c createIntent
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
	c.expires = defaultTTL
	if req.ExpiresInSeconds != nil {
		d := time.Duration(*req.ExpiresInSeconds) * time.Second
		if *req.ExpiresInSeconds <= 0 || d < minExpiresIn || d > maxExpiresIn {
			return c, invalid("expires_in_seconds", "parameter_invalid",
				fmt.Sprintf("expires_in_seconds must be between %d and %d", int(minExpiresIn.Seconds()), int(maxExpiresIn.Seconds())))
		}
		c.expires = d
	}
	if len(req.Customer) > maxCustomer || !utf8.ValidString(req.Customer) {
		return c, invalid("customer", "parameter_invalid", fmt.Sprintf("customer must be valid UTF-8 of at most %d bytes", maxCustomer))
	}
	c.customer = req.Customer
	if len(req.Metadata) > maxMetadataKeys {
		return c, invalid("metadata", "metadata_invalid", fmt.Sprintf("metadata has more than %d keys", maxMetadataKeys))
	}
	keys := make([]string, 0, len(req.Metadata))
	for k, v := range req.Metadata {
		switch {
		case k == "" || len(k) > maxMetadataKey || !utf8.ValidString(k):
			return c, invalid("metadata", "metadata_invalid", fmt.Sprintf("metadata keys must be 1 to %d bytes of UTF-8", maxMetadataKey))
		case len(v) > maxMetadataValue || !utf8.ValidString(v):
			return c, invalid("metadata."+k, "metadata_invalid", fmt.Sprintf("metadata values must be at most %d bytes of UTF-8", maxMetadataValue))
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.metadata = append(c.metadata, &paymentsv1.MetadataEntry{Key: k, Value: req.Metadata[k]})
	}
	return c, nil
}

// assetOn returns the accepted asset code that can be paid on chain, or the APIError
// naming the parameter (asset or chain_id) that is missing or not accepted.
func assetOn(assets []Asset, code string, chain uint64) (Asset, *APIError) {
	if code == "" {
		return Asset{}, invalid("asset", "parameter_missing", "asset is required, e.g. \"ETH\"")
	}
	asset, ok := findAsset(assets, code)
	if !ok {
		return Asset{}, invalid("asset", "asset_unknown", fmt.Sprintf("asset %q is not accepted", clip(code, 80)))
	}
	if chain == 0 {
		return Asset{}, invalid("chain_id", "parameter_missing", "chain_id is required")
	}
	if !hasChain(asset.ChainIDs, chain) {
		return Asset{}, invalid("chain_id", "chain_unknown", fmt.Sprintf("%s cannot be paid on chain %d", asset.Code, chain))
	}
	return asset, nil
}

func findAsset(assets []Asset, code string) (Asset, bool) {
	for _, a := range assets {
		if a.Code == code || (strings.HasPrefix(code, "erc20:") && strings.EqualFold(a.Code, code)) {
			return a, true
		}
	}
	return Asset{}, false
}

func hasChain(ids []uint64, id uint64) bool {
	for _, c := range ids {
		if c == id {
			return true
		}
	}
	return false
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
