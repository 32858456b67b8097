package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	reconciliationv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
)

// eaClock is the simulated clock of the escrow and approval tests: real time plus an
// offset the test moves forward.
type eaClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *eaClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *eaClock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// newFeatureEnv is newEnv on a simulated clock, with the topics of escrows and approvals.
func newFeatureEnv(t *testing.T) (*env, *eaClock) {
	t.Helper()
	clock := &eaClock{}
	e := newEnv(t, func(o *Options) { o.Now = clock.now })
	var topics []string
	for _, tp := range []string{TopicConditions, TopicApprovals, TopicPayouts} {
		topics = append(topics, e.prefix+tp)
	}
	adm := kadm.NewClient(e.client)
	res, err := adm.CreateTopics(context.Background(), 3, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) { // newEnv may make them
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topics...) })
	return e, clock
}

// eaRun runs loops until the test ends, and fails the test if one fails.
func (e *env) eaRun(loops ...func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, f := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				e.t.Errorf("loop: %v", err)
			}
		}()
	}
	e.t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// reconDriver is the env's ReconDriver.
func (e *env) reconDriver() func(context.Context) error {
	d := &ReconDriver{Brokers: e.brokers, Client: e.client, Store: e.store, TopicPrefix: e.prefix, Group: "gwtest-recon-" + e.prefix}
	return d.Run
}

// eaRecords returns the values of every record of topic (without the prefix), read
// committed.
func (e *env) eaRecords(topic string) [][]byte { return e.records(topic) }

// produceCondition writes a condition event met at time at, restricted to merchant
// unless "".
func (e *env) produceCondition(condition, merchant string, at time.Time) *paymentsv1.ConditionEvent {
	e.t.Helper()
	ev := &paymentsv1.ConditionEvent{
		Meta:        &commonv1.Meta{EventId: conditionEventID(condition), EventTime: timestamppb.New(at), Source: "test-oracle"},
		ConditionId: condition, Oracle: "test-oracle", MerchantId: merchant,
	}
	b, _ := proto.Marshal(ev)
	if err := e.client.ProduceSync(context.Background(), &kgo.Record{Topic: e.prefix + TopicConditions,
		Key: []byte(condition), Value: b}).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// createEscrow makes an escrow of 1.5 ETH for condition with a time lock.
func (e *env) createEscrow(condition string, timeLock time.Duration) EscrowIntent {
	e.t.Helper()
	body := fmt.Sprintf(`{"amount":"1500000000000000000","asset":"ETH","chain_id":1337,"condition_id":%q,"time_lock_seconds":%d,"metadata":{"order":"E-1"}}`,
		condition, int(timeLock.Seconds()))
	r := e.do("POST", "/v1/escrows", e.keys.Secret, body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create escrow: %d %s", r.status, r.body)
	}
	var v EscrowIntent
	r.json(e.t, &v)
	return v
}

// waitEscrow waits until escrow id has status.
func (e *env) waitEscrow(id, status string) EscrowIntent {
	e.t.Helper()
	var v EscrowIntent
	eventually(e.t, 20*time.Second, func() string {
		r := e.do("GET", "/v1/escrows/"+id, e.keys.Secret, "")
		r.json(e.t, &v)
		if v.Status != status {
			return fmt.Sprintf("escrow %s is %s, want %s", id, v.Status, status)
		}
		return ""
	})
	return v
}

// waitIndexed waits until the escrow driver indexed HELD escrow id (its time lock, its
// condition).
func (e *env) waitIndexed(id string) {
	e.t.Helper()
	eventually(e.t, 20*time.Second, func() string {
		if _, err := e.rdb.ZScore(context.Background(), e.store.key("escl"), id).Result(); err != nil {
			return fmt.Sprintf("escrow %s not indexed: %v", id, err)
		}
		return ""
	})
}

// pay makes reconciliation settle escrow v (a final MATCHED result).
func (e *env) pay(v EscrowIntent) {
	e.t.Helper()
	e.produceRecon(v.Intent, 1, reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, v.Amount, true)
}

// history returns the statuses of intent id's transitions on payments.intents.
func (e *env) history(id string) string {
	e.t.Helper()
	var out []string
	for _, it := range e.intents() {
		if it.GetIntentId() == id {
			out = append(out, Status(it.GetState()))
		}
	}
	return strings.Join(out, " ")
}

func TestEscrowReleasedByConditionEvent(t *testing.T) {
	e, _ := newFeatureEnv(t)
	e.eaRun(e.reconDriver(), e.server.runEscrowDriver, e.server.runConditions)

	v := e.createEscrow("delivery-1", 2*time.Hour)
	if v.Status != "requires_payment" || v.Object != "escrow" || v.Escrow.ConditionID != "delivery-1" ||
		v.Escrow.TimeLockExpiresAt.Sub(v.Created) != 2*time.Hour || v.DepositAddress == "" {
		t.Fatalf("created escrow = %+v", v)
	}
	e.pay(v)
	held := e.waitEscrow(v.ID, "held")
	e.waitIndexed(v.ID)
	if held.AmountReceived != v.Amount {
		t.Fatalf("held escrow = %+v", held)
	}
	// A held escrow is not refunded by the merchant.
	if r := e.do("POST", "/v1/payment_intents/"+v.ID+"/refunds", e.keys.Secret, `{"amount":"1"}`); r.status != http.StatusConflict {
		t.Fatalf("refund of a held escrow: %d %s", r.status, r.body)
	}
	// A condition restricted to another merchant releases nothing.
	if err := e.server.handleCondition(context.Background(), &paymentsv1.ConditionEvent{Meta: &commonv1.Meta{EventId: conditionEventID("delivery-1")},
		ConditionId: "delivery-1", MerchantId: "m_other"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := e.waitEscrow(v.ID, "held"); got.Version != held.Version {
		t.Fatalf("another merchant's condition moved the escrow: %+v", got)
	}

	ev := e.produceCondition("delivery-1", "", time.Now())
	released := e.waitEscrow(v.ID, "released")
	if released.Escrow.ConditionEventID != ev.GetMeta().GetEventId() {
		t.Fatalf("released escrow = %+v", released)
	}
	// Released funds are the merchant's: a refund now works.
	r := e.do("POST", "/v1/payment_intents/"+v.ID+"/refunds", e.keys.Secret, `{"amount":"500000000000000000"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("refund of a released escrow: %d %s", r.status, r.body)
	}
	if got := e.history(v.ID); got != "requires_payment held released refunded" {
		t.Fatalf("transitions: %s", got)
	}
	for _, it := range e.intents() {
		if it.GetIntentId() == v.ID && it.GetState() == paymentsv1.IntentState_INTENT_STATE_RELEASED &&
			(it.GetCauseEventId() != ev.GetMeta().GetEventId() || it.GetPreviousState() != paymentsv1.IntentState_INTENT_STATE_HELD) {
			t.Fatalf("released transition = %v", it)
		}
	}
}

func TestEscrowTimeLockRefundsAndLateConditionDoesNothing(t *testing.T) {
	e, clock := newFeatureEnv(t)
	e.eaRun(e.reconDriver(), e.server.runEscrowDriver)
	ctx := context.Background()

	v := e.createEscrow("milestone-7", time.Hour)
	e.pay(v)
	e.waitEscrow(v.ID, "held")
	e.waitIndexed(v.ID)
	if n, err := e.server.expireEscrows(ctx); err != nil || n != 0 {
		t.Fatalf("before the time lock: %d moved, %v", n, err)
	}
	clock.advance(time.Hour + time.Minute)
	// A condition met after the time lock releases nothing.
	late := &paymentsv1.ConditionEvent{Meta: &commonv1.Meta{EventId: conditionEventID("milestone-7")}, ConditionId: "milestone-7"}
	if err := e.server.handleCondition(ctx, late, clock.now()); err != nil {
		t.Fatal(err)
	}
	if n, err := e.server.expireEscrows(ctx); err != nil || n != 1 {
		t.Fatalf("after the time lock: %d moved, %v", n, err)
	}
	got := e.waitEscrow(v.ID, "refunded")
	if got.AmountRefunded != got.AmountReceived || got.AmountRefunded != v.Amount {
		t.Fatalf("refunded escrow = %+v", got)
	}
	// A condition after the refund (in time, even) changes nothing; neither does a tick.
	if err := e.server.handleCondition(ctx, late, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := e.server.expireEscrows(ctx); err != nil || n != 0 {
		t.Fatalf("second tick: %d moved, %v", n, err)
	}
	if h := e.history(v.ID); h != "requires_payment held refunded" {
		t.Fatalf("transitions: %s", h)
	}
	for _, it := range e.intents() {
		if it.GetIntentId() == v.ID && it.GetState() == paymentsv1.IntentState_INTENT_STATE_REFUNDED && !strings.HasPrefix(it.GetRefundId(), "re_") {
			t.Fatalf("refund transition without refund id: %v", it)
		}
	}
}

func TestEscrowConditionBeforeHeld(t *testing.T) {
	e, _ := newFeatureEnv(t)
	e.eaRun(e.reconDriver(), e.server.runEscrowDriver, e.server.runConditions)
	v := e.createEscrow("shipment-3", 2*time.Hour)
	ev := e.produceCondition("shipment-3", e.merchant.GetMerchantId(), time.Now())
	eventually(t, 20*time.Second, func() string {
		c, err := e.store.conditionMet(context.Background(), "shipment-3", e.merchant.GetMerchantId())
		if err != nil || c == nil {
			return fmt.Sprintf("condition not remembered (%v)", err)
		}
		return ""
	})
	if got := e.waitEscrow(v.ID, "requires_payment"); got.Version != 1 {
		t.Fatalf("an unpaid escrow moved on its condition: %+v", got)
	}
	e.pay(v)
	got := e.waitEscrow(v.ID, "released")
	if got.Escrow.ConditionEventID != ev.GetMeta().GetEventId() {
		t.Fatalf("released escrow = %+v", got)
	}
	if h := e.history(v.ID); h != "requires_payment held released" {
		t.Fatalf("transitions: %s", h)
	}
}

func TestEscrowBadInputProducesNothing(t *testing.T) {
	e, _ := newFeatureEnv(t)
	base := `"amount":"1","asset":"ETH","chain_id":1337`
	cases := []struct {
		name, body  string
		code, param string
	}{
		{"no condition", `{` + base + `,"time_lock_seconds":7200}`, "parameter_missing", "condition_id"},
		{"condition with space", `{` + base + `,"condition_id":"a b","time_lock_seconds":7200}`, "parameter_invalid", "condition_id"},
		{"long condition", `{` + base + `,"condition_id":"` + strings.Repeat("c", 201) + `","time_lock_seconds":7200}`, "parameter_invalid", "condition_id"},
		{"no time lock", `{` + base + `,"condition_id":"c"}`, "parameter_missing", "time_lock_seconds"},
		{"time lock too short", `{` + base + `,"condition_id":"c","time_lock_seconds":59}`, "parameter_invalid", "time_lock_seconds"},
		{"time lock negative", `{` + base + `,"condition_id":"c","time_lock_seconds":-5}`, "parameter_invalid", "time_lock_seconds"},
		{"time lock within payment window", `{` + base + `,"condition_id":"c","time_lock_seconds":600}`, "parameter_invalid", "time_lock_seconds"},
		{"time lock as string", `{` + base + `,"condition_id":"c","time_lock_seconds":"7200"}`, "parameter_invalid", "time_lock_seconds"},
		{"bad amount", `{"amount":"-1","asset":"ETH","chain_id":1337,"condition_id":"c","time_lock_seconds":7200}`, "amount_invalid", "amount"},
		{"unknown asset", `{"amount":"1","asset":"DOGE","chain_id":1337,"condition_id":"c","time_lock_seconds":7200}`, "asset_unknown", "asset"},
		{"unknown field", `{` + base + `,"condition_id":"c","time_lock_seconds":7200,"escrow":{}}`, "parameter_unknown", "escrow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "/v1/escrows", e.keys.Secret, c.body, "Idempotency-Key", "k-"+strings.ReplaceAll(c.name, " ", "-"))
			ae := r.apiError(t)
			if r.status != http.StatusBadRequest || ae.Code != c.code || ae.Param != c.param || ae.Message == "" {
				t.Fatalf("%d %s, want 400 %s param %q", r.status, r.body, c.code, c.param)
			}
		})
	}
	if r := e.do("POST", "/v1/escrows", e.keys.Publishable, `{}`); r.status != http.StatusForbidden {
		t.Fatalf("publishable key: %d %s", r.status, r.body)
	}
	plain := e.create(ethIntent)
	if r := e.do("GET", "/v1/escrows/"+plain.ID, e.keys.Secret, ""); r.status != http.StatusNotFound {
		t.Fatalf("a plain intent as an escrow: %d %s", r.status, r.body)
	}
	if n := len(e.intents()); n != 1 {
		t.Fatalf("payments.intents has %d records, want 1 (the plain intent)", n)
	}
}

func FuzzCreateEscrowRequest(f *testing.F) {
	f.Add([]byte(`{"amount":"1","asset":"ETH","chain_id":1337,"condition_id":"c","time_lock_seconds":7200}`))
	f.Add([]byte(`{"amount":1,"asset":"ETH","chain_id":1,"condition_id":"x","time_lock_seconds":60,"expires_in_seconds":60}`))
	f.Add([]byte(`{"condition_id":"` + strings.Repeat("z", 300) + `"}`))
	f.Add([]byte(`{"time_lock_seconds":9223372036854775807}`))
	assets := Options{}.Assets
	if len(assets) == 0 {
		assets = []Asset{{Code: "ETH", Decimals: 18, ChainIDs: []uint64{1, 1337}}}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req CreateEscrowRequest
		if aerr := decodeJSON(body, &req); aerr != nil {
			if aerr.Status != http.StatusBadRequest || aerr.Message == "" {
				t.Fatalf("decode error %+v", aerr)
			}
			return
		}
		c, aerr := req.validate(assets, time.Hour)
		if aerr != nil {
			if aerr.Status != http.StatusBadRequest || aerr.Message == "" || aerr.Code == "" {
				t.Fatalf("validate error %+v", aerr)
			}
			return
		}
		if c.conditionID == "" || c.timeLock < minTimeLock || c.timeLock > maxTimeLock || c.timeLock < c.intent.expires ||
			c.intent.amount.GetValue() == "" || c.intent.amount.GetValue()[0] == '0' {
			t.Fatalf("accepted %s as %+v", body, c)
		}
		if _, err := json.Marshal(escrowView(&paymentsv1.IntentTransition{Amount: c.intent.amount,
			Escrow: &paymentsv1.Escrow{ConditionId: c.conditionID}})); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEscrowLoopsWaitForProjection: the escrow and approval loops start only once the
// projection has what payments.intents and payments.approvals held when they started.
func TestEscrowLoopsWaitForProjection(t *testing.T) {
	e, _ := newFeatureEnv(t)
	e.createEscrow("wait-1", 2*time.Hour) // on Kafka; the projector has no position yet
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- e.server.afterProjection(func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return nil
		})(ctx)
	}()
	select {
	case <-started:
		t.Fatal("the loop started before the projection caught up")
	case <-time.After(300 * time.Millisecond): // a negative check: nothing may happen
	}
	p := &Projector{Brokers: e.brokers, Store: e.store, TopicPrefix: e.prefix}
	pdone := make(chan error, 1)
	go func() { pdone <- p.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the loop did not start after the projection caught up")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-pdone; err != nil {
		t.Fatal(err)
	}
}
