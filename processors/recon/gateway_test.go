package recon

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weirhq/weir/gateway"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// TestGatewayEndToEnd runs the processor with the gateway's ReconDriver on the same
// topics: a payment moves the intent to PROCESSING while it is not final and to
// SUCCEEDED once its block is finalized, and the transitions the gateway writes back to
// payments.intents cause no further results.
func TestGatewayEndToEnd(t *testing.T) {
	s := newScenario(t, nil)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	storePrefix := "test:" + s.prefix + "gw"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, storePrefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	store := gateway.NewStore(rdb, storePrefix)

	ctx, cancel := context.WithCancel(context.Background())
	drv := &gateway.ReconDriver{Brokers: s.brokers, Client: s.cl, Store: store, TopicPrefix: s.prefix,
		Group: s.prefix + "gateway-recon", Logger: slog.New(slog.DiscardHandler)}
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("recon driver: %v", err)
		}
	})

	dep := addr("e2e")
	rec := s.intent("pi_e2e", "m_e2e", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour)))
	var it paymentsv1.IntentTransition
	if err := decodeInto(rec.Value, &it); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ApplyIntent(ctx, &it); err != nil {
		t.Fatal(err)
	}
	s.produce(rec)
	s.settle()
	tr, _ := s.transfer(transferSpec{name: "e2e", to: dep, value: "1000", block: 10, at: base.Add(time.Minute)})
	s.produce(tr)
	waitState(t, store, "pi_e2e", paymentsv1.IntentState_INTENT_STATE_PROCESSING)
	s.produce(s.finalized(1, 10, base.Add(2*time.Minute)))
	got := waitState(t, store, "pi_e2e", paymentsv1.IntentState_INTENT_STATE_SUCCEEDED)
	if got.GetAmountReceived().GetValue() != "1000" ||
		got.GetCauseEventId() != eventid.New(resultKind, "pi_e2e", "2") {
		t.Errorf("succeeded intent: received %v, cause %s", got.GetAmountReceived(), got.GetCauseEventId())
	}
	s.expect(map[string][]string{
		"pi_e2e": {
			"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1",
			"v2 MATCHED intent.exact_amount recv=1000 diff=0 final=true transfers=1",
		},
	})
}

func decodeInto(b []byte, it *paymentsv1.IntentTransition) error {
	return codec.Unmarshal(b, it)
}

// waitState polls the gateway's projection until the intent is in state.
func waitState(t *testing.T, store *gateway.Store, id string, state paymentsv1.IntentState) *paymentsv1.IntentTransition {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		it, err := store.Intent(context.Background(), id)
		if err == nil && it.GetState() == state {
			return it
		}
		if err != nil && !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("intent %s: %v", id, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("intent %s: state %v after 60s, want %v", id, it.GetState(), state)
		}
		time.Sleep(50 * time.Millisecond) // polling the projection, with a deadline
	}
}
