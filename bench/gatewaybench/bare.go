package gatewaybench

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/gateway"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// The request both paths are sent (the bare one ignores it), and what the bare handler
// puts in its records to match the intents the gateway makes of it.
const (
	requestBody  = `{"amount":"1000000000000000","asset":"ETH","chain_id":1337,"customer":"cus_bench","metadata":{"order_id":"bench"}}`
	intentKind   = "weir.payments.v1.IntentTransition"
	intentSource = "gateway"
	intentTTL    = time.Hour // gateway.Options.IntentTTL's default
)

// bare answers every request by producing one IntentTransition, built like the
// gateway's first transition of an intent, to topic with ProduceSync, then 201 with a
// small JSON body. It reads the body but does not decode it, and uses no Redis: it is
// the floor under the gateway's create-intent path. Safe for concurrent use.
type bare struct {
	cl       *kgo.Client
	topic    string
	merchant string
	address  string // a deposit address of the merchant, the same for every intent
	index    atomic.Uint32
}

func (h *bare) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10)); err != nil {
		http.Error(w, "body unreadable", http.StatusBadRequest)
		return
	}
	now := time.Now()
	id := newID("pi_")
	amount := func(v string) *commonv1.Amount { return &commonv1.Amount{Value: v, Asset: "ETH", Decimals: 18} }
	it := &paymentsv1.IntentTransition{
		Meta: &commonv1.Meta{
			EventId:   eventid.New(intentKind, id, "1"),
			EventTime: timestamppb.New(now),
			Source:    intentSource,
		},
		IntentId:       id,
		MerchantId:     h.merchant,
		Version:        1,
		State:          paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT,
		Amount:         amount("1000000000000000"),
		AmountReceived: amount("0"),
		AmountRefunded: amount("0"),
		Method:         paymentsv1.PaymentMethod_PAYMENT_METHOD_ONCHAIN,
		CustomerId:     "cus_bench",
		ChainId:        1337,
		DepositAddress: h.address,
		AddressIndex:   h.index.Add(1) - 1,
		NextAction:     "send_funds",
		ExpiresTime:    timestamppb.New(now.Add(intentTTL)),
		CreatedTime:    timestamppb.New(now),
		Metadata:       []*paymentsv1.MetadataEntry{{Key: "order_id", Value: "bench"}},
		RequestId:      newID("req_"),
	}
	b, err := proto.Marshal(it)
	if err != nil {
		http.Error(w, "encode failed", http.StatusInternalServerError)
		return
	}
	rec := &kgo.Record{Topic: h.topic, Key: []byte(h.merchant), Value: b}
	if err := h.cl.ProduceSync(r.Context(), rec).FirstErr(); err != nil {
		http.Error(w, "kafka unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"id":%q,"object":"payment_intent","status":%q}`+"\n", id, gateway.Status(it.GetState()))
}

// newID returns prefix followed by 26 characters of base32 (130 random bits), as the
// gateway's ids are.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
