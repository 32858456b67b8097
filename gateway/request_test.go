package gateway

import (
	"math/big"
	"strings"
	"testing"
	"time"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	reconciliationv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
)

func TestParseAmount(t *testing.T) {
	max := "115792089237316195423570985008687907853269984665640564039457584007913129639935"
	for _, c := range []struct{ in, want, code string }{
		{`"1"`, "1", ""},
		{`"000123"`, "123", ""},
		{`42`, "42", ""},
		{`"` + max + `"`, max, ""},
		{`"115792089237316195423570985008687907853269984665640564039457584007913129639936"`, "", "amount_too_large"},
		{`"` + strings.Repeat("9", 79) + `"`, "", "amount_too_large"},
		{`"0"`, "", "amount_invalid"},
		{`"-5"`, "", "amount_invalid"},
		{`-5`, "", "amount_invalid"},
		{`"1.0"`, "", "amount_invalid"},
		{`1e3`, "", "amount_invalid"},
		{`" 1"`, "", "amount_invalid"},
		{`"１"`, "", "amount_invalid"}, // a full-width digit
		{`""`, "", "amount_invalid"},
		{`null`, "", "parameter_missing"},
		{`true`, "", "amount_invalid"},
		{`{}`, "", "amount_invalid"},
	} {
		got, err := parseAmount([]byte(c.in))
		switch {
		case c.code == "" && (err != nil || got != c.want):
			t.Errorf("parseAmount(%s) = %q, %v; want %q", c.in, got, err, c.want)
		case c.code != "" && (err == nil || err.Code != c.code || err.Param != "amount"):
			t.Errorf("parseAmount(%s) error = %v; want code %s", c.in, err, c.code)
		}
	}
}

func TestTransitions(t *testing.T) {
	const (
		req   = paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT
		proc  = paymentsv1.IntentState_INTENT_STATE_PROCESSING
		succ  = paymentsv1.IntentState_INTENT_STATE_SUCCEEDED
		under = paymentsv1.IntentState_INTENT_STATE_UNDERPAID
		over  = paymentsv1.IntentState_INTENT_STATE_OVERPAID
		exp   = paymentsv1.IntentState_INTENT_STATE_EXPIRED
		canc  = paymentsv1.IntentState_INTENT_STATE_CANCELED
		ref   = paymentsv1.IntentState_INTENT_STATE_REFUNDED
	)
	for _, c := range []struct {
		from, to paymentsv1.IntentState
		ok       bool
	}{
		{req, proc, true}, {req, succ, true}, {req, canc, true}, {req, exp, true}, {req, ref, false},
		{proc, succ, true}, {proc, req, true}, {proc, canc, false}, {proc, exp, false},
		{under, succ, true}, {under, exp, true}, {under, canc, true},
		{succ, ref, true}, {succ, canc, false}, {succ, req, false}, {over, ref, true},
		{exp, proc, false}, {canc, proc, false}, {ref, ref, true}, {ref, succ, false},
	} {
		if got := Allowed(c.from, c.to); got != c.ok {
			t.Errorf("Allowed(%s, %s) = %v", Status(c.from), Status(c.to), got)
		}
	}
	if to, ok := reconState(req, true, &reconciliationv1.ReconciliationResult{Status: reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, Final: true}); !ok || to != paymentsv1.IntentState_INTENT_STATE_HELD {
		t.Errorf("an escrowed intent paid in full becomes %s, want held", Status(to))
	}
	for _, s := range []paymentsv1.IntentState{exp, canc} {
		if !Terminal(s) {
			t.Errorf("%s is not terminal", Status(s))
		}
	}
}

func TestReconState(t *testing.T) {
	res := func(s reconciliationv1.ReconStatus, final bool) *reconciliationv1.ReconciliationResult {
		return &reconciliationv1.ReconciliationResult{Status: s, Final: final}
	}
	for _, c := range []struct {
		cur  paymentsv1.IntentState
		r    *reconciliationv1.ReconciliationResult
		want string // "" for no move
	}{
		{paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT, res(reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, false), "processing"},
		{paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT, res(reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, true), "succeeded"},
		{paymentsv1.IntentState_INTENT_STATE_PROCESSING, res(reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, false), ""},
		{paymentsv1.IntentState_INTENT_STATE_PROCESSING, res(reconciliationv1.ReconStatus_RECON_STATUS_UNDERPAID, true), "underpaid"},
		{paymentsv1.IntentState_INTENT_STATE_PROCESSING, res(reconciliationv1.ReconStatus_RECON_STATUS_RETRACTED, false), "requires_payment"},
		{paymentsv1.IntentState_INTENT_STATE_SUCCEEDED, res(reconciliationv1.ReconStatus_RECON_STATUS_MISSING, true), ""},
		{paymentsv1.IntentState_INTENT_STATE_CANCELED, res(reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, true), ""},
		{paymentsv1.IntentState_INTENT_STATE_UNDERPAID, res(reconciliationv1.ReconStatus_RECON_STATUS_MISSING, true), "expired"},
		{paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT, res(reconciliationv1.ReconStatus_RECON_STATUS_UNEXPECTED, true), ""},
	} {
		to, ok := reconState(c.cur, false, c.r)
		got := ""
		if ok {
			got = Status(to)
		}
		if got != c.want {
			t.Errorf("%s + %s(final %v) -> %q, want %q", Status(c.cur), c.r.GetStatus(), c.r.GetFinal(), got, c.want)
		}
	}
}

// FuzzCreateIntentRequest feeds arbitrary bodies to the request decoder and validator:
// they never panic, and what they accept is a positive uint256 in canonical decimal of a
// known asset on one of its chains.
func FuzzCreateIntentRequest(f *testing.F) {
	for _, s := range []string{ethIntent, `{"amount":1,"asset":"ETH","chain_id":1}`, `{"amount":"-1"}`, `{`, `[]`, `null`,
		`{"amount":"1","asset":"ETH","chain_id":1337,"metadata":{"a":"b"},"expires_in_seconds":60}`} {
		f.Add([]byte(s))
	}
	assets := []Asset{{Code: "ETH", Decimals: 18, ChainIDs: []uint64{1, 1337}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req CreateIntentRequest
		if aerr := decodeJSON(body, &req); aerr != nil {
			if aerr.Code == "" || aerr.Message == "" || aerr.Status != 400 {
				t.Fatalf("error without code or message: %+v", aerr)
			}
			return
		}
		c, aerr := req.validate(assets, time.Hour)
		if aerr != nil {
			if aerr.Code == "" || aerr.Status != 400 {
				t.Fatalf("error without code: %+v", aerr)
			}
			return
		}
		v, ok := new(big.Int).SetString(c.amount.GetValue(), 10)
		if !ok || v.Sign() <= 0 || v.Cmp(maxUint256) > 0 || v.String() != c.amount.GetValue() {
			t.Fatalf("accepted amount %q", c.amount.GetValue())
		}
		if c.amount.GetAsset() != "ETH" || (c.chainID != 1 && c.chainID != 1337) || c.expires < time.Minute {
			t.Fatalf("accepted %+v", c)
		}
		if len(c.metadata) > maxMetadataKeys {
			t.Fatalf("accepted %d metadata keys", len(c.metadata))
		}
	})
}
