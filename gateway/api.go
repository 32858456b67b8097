package gateway

import (
	"time"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Intent is a payment intent as the API shows it. Amounts are strings of base units of
// Asset, which has Decimals decimal places.
type Intent struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Status            string            `json:"status"`
	Amount            string            `json:"amount"`
	AmountReceived    string            `json:"amount_received"`
	AmountRefunded    string            `json:"amount_refunded"`
	Asset             string            `json:"asset"`
	Decimals          uint32            `json:"decimals"`
	ChainID           uint64            `json:"chain_id"`
	DepositAddress    string            `json:"deposit_address"`
	AddressIndex      uint32            `json:"address_index"`
	Customer          string            `json:"customer,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	TransactionHashes []string          `json:"transaction_hashes"`
	Confirmations     uint64            `json:"confirmations"`
	FailureCode       string            `json:"failure_code,omitempty"`
	FailureMessage    string            `json:"failure_message,omitempty"`
	Version           uint64            `json:"version"`
	Created           time.Time         `json:"created"`
	ExpiresAt         *time.Time        `json:"expires_at,omitempty"`
	Updated           time.Time         `json:"updated"`
}

// IntentList is a page of intents. NextCursor is the starting_after of the next page.
type IntentList struct {
	Object     string   `json:"object"`
	Data       []Intent `json:"data"`
	HasMore    bool     `json:"has_more"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// intentView renders a stored intent for the API.
func intentView(it *paymentsv1.IntentTransition) Intent {
	v := Intent{
		ID:                it.GetIntentId(),
		Object:            "payment_intent",
		Status:            Status(it.GetState()),
		Amount:            it.GetAmount().GetValue(),
		AmountReceived:    orZero(it.GetAmountReceived().GetValue()),
		AmountRefunded:    orZero(it.GetAmountRefunded().GetValue()),
		Asset:             it.GetAmount().GetAsset(),
		Decimals:          it.GetAmount().GetDecimals(),
		ChainID:           it.GetChainId(),
		DepositAddress:    it.GetDepositAddress(),
		AddressIndex:      it.GetAddressIndex(),
		Customer:          it.GetCustomerId(),
		Metadata:          make(map[string]string, len(it.GetMetadata())),
		TransactionHashes: append([]string{}, it.GetTransactionHashes()...),
		Confirmations:     it.GetConfirmations(),
		FailureCode:       it.GetFailureCode(),
		FailureMessage:    it.GetFailureMessage(),
		Version:           it.GetVersion(),
		Created:           it.GetCreatedTime().AsTime().UTC(),
		Updated:           it.GetMeta().GetEventTime().AsTime().UTC(),
	}
	for _, e := range it.GetMetadata() {
		v.Metadata[e.GetKey()] = e.GetValue()
	}
	if it.GetExpiresTime() != nil {
		t := it.GetExpiresTime().AsTime().UTC()
		v.ExpiresAt = &t
	}
	return v
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}
