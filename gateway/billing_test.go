package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	reconciliationv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
)

// billClock is the simulated time of a billing test. Safe for concurrent use.
type billClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *billClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *billClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

const billDay = 24 * time.Hour

// newBillingEnv is newEnv on a simulated clock starting at t0, with the features' topics
// and no rate limit in the way (the simulated clock stands still, so buckets never
// refill).
func newBillingEnv(t *testing.T, start time.Time, opts ...func(*Options)) (*env, *billClock) {
	t.Helper()
	clk := &billClock{t: start}
	e := newEnv(t, append([]func(*Options){func(o *Options) { o.Now = clk.Now; o.RateLimit = 1 << 20 }}, opts...)...)
	// Every topic the projector reads must exist: billing's and the other features'.
	var topics []string
	for tp := range e.server.Projections() {
		topics = append(topics, e.prefix+tp)
	}
	adm := kadm.NewClient(e.client)
	res, err := adm.CreateTopics(context.Background(), 3, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	var made []string // newEnv may have made some; those are its to delete
	for _, r := range res {
		switch {
		case r.Err == nil:
			made = append(made, r.Topic)
		case !errors.Is(r.Err, kerr.TopicAlreadyExists):
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), made...) })
	return e, clk
}

// records returns the values of every record of topic (before the prefix), read
// committed.
func (e *env) billingRecords(topic string) [][]byte { return e.records(topic) }

func (e *env) billSettlements() []*paymentsv1.ChargeSettlement {
	e.t.Helper()
	var out []*paymentsv1.ChargeSettlement
	for _, b := range e.billingRecords(TopicSettlements) {
		cs := new(paymentsv1.ChargeSettlement)
		if err := proto.Unmarshal(b, cs); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, cs)
	}
	return out
}

// billFirstVersions returns the first version of every intent in payments.intents, by id, and
// fails the test if one intent was produced with two different first versions.
func (e *env) billFirstVersions() map[string]*paymentsv1.IntentTransition {
	e.t.Helper()
	out := map[string]*paymentsv1.IntentTransition{}
	for _, it := range e.intents() {
		if it.GetVersion() != 1 {
			continue
		}
		if prev, ok := out[it.GetIntentId()]; ok && !proto.Equal(prev, it) {
			e.t.Fatalf("intent %s was produced twice with different contents:\n%v\n%v", it.GetIntentId(), prev, it)
		}
		out[it.GetIntentId()] = it
	}
	return out
}

// runBillingProjector runs a Projector with the server's projections and intent hooks until the
// test ends.
func (e *env) runBillingProjector() {
	e.t.Helper()
	hooks := e.server.IntentHooks()
	p := &Projector{Brokers: e.brokers, Store: e.store, TopicPrefix: e.prefix, Extra: e.server.Projections(),
		OnIntent: func(ctx context.Context, it *paymentsv1.IntentTransition) error {
			for _, h := range hooks {
				if err := h(ctx, it); err != nil {
					return err
				}
			}
			return nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("projector: %v", err)
		}
	})
}

func (e *env) billSubscribe(body string) Subscription {
	e.t.Helper()
	r := e.do("POST", "/v1/subscriptions", e.keys.Secret, body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create subscription: %d %s", r.status, r.body)
	}
	var sub Subscription
	r.json(e.t, &sub)
	return sub
}

func (e *env) billSub(id string) Subscription {
	e.t.Helper()
	r := e.do("GET", "/v1/subscriptions/"+id, e.keys.Secret, "")
	if r.status != http.StatusOK {
		e.t.Fatalf("get subscription: %d %s", r.status, r.body)
	}
	var sub Subscription
	r.json(e.t, &sub)
	return sub
}

func (e *env) billIntent(id string) Intent {
	e.t.Helper()
	r := e.do("GET", "/v1/payment_intents/"+id, e.keys.Secret, "")
	if r.status != http.StatusOK {
		e.t.Fatalf("get intent %s: %d %s", id, r.status, r.body)
	}
	var it Intent
	r.json(e.t, &it)
	return it
}

func (e *env) billRenew(s *Server) int {
	e.t.Helper()
	n, err := s.renewDue(context.Background())
	if err != nil {
		e.t.Fatalf("renewDue: %v", err)
	}
	return n
}

var billT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestSubscriptionTrialAndRenewals runs a 7-day trial and 30-day periods over three
// simulated months, with two gateway instances renewing concurrently and repeatedly, and
// one renewal that dies after producing its intent.
func TestSubscriptionTrialAndRenewals(t *testing.T) {
	e, clk := newBillingEnv(t, billT0)
	const price = "1234567890123456789"
	sub := e.billSubscribe(`{"customer":"cus_1","plan_id":"pro","scheme":"fixed","price":"` + price +
		`","asset":"ETH","chain_id":1337,"interval_seconds":2592000,"trial_days":7,"metadata":{"seat":"4"}}`)
	if sub.Status != "trialing" || sub.LatestIntentID != "" || !sub.TrialEnd.Equal(billT0.Add(7*billDay)) ||
		!sub.CurrentPeriodEnd.Equal(billT0.Add(7*billDay)) || sub.Price != price || sub.Scheme != "fixed" || sub.Version != 1 {
		t.Fatalf("created = %+v", sub)
	}
	other, err := NewServer(e.server.o) // a second gateway on the same Kafka and Redis
	if err != nil {
		t.Fatal(err)
	}
	clk.set(billT0.Add(6 * billDay))
	if n := e.billRenew(e.server); n != 0 {
		t.Fatalf("renewed %d in the trial", n)
	}
	renewals := 0
	for _, at := range []time.Duration{7 * billDay, 37 * billDay, 67 * billDay, 90 * billDay} {
		clk.set(billT0.Add(at))
		var wg sync.WaitGroup
		counts := make([]int, 4)
		errs := make([]error, 4)
		for i, s := range []*Server{e.server, other, e.server, other} {
			wg.Go(func() { counts[i], errs[i] = s.renewDue(context.Background()) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("renewDue: %v", err)
			}
		}
		renewals += counts[0] + counts[1] + counts[2] + counts[3]
		renewals += e.billRenew(e.server) // and once more, afterwards
	}
	if renewals != 3 {
		t.Fatalf("%d renewals, want 3 (days 7, 37, 67)", renewals)
	}

	// A renewal that died after producing its intent: the retry produces the same intent.
	clk.set(billT0.Add(97 * billDay))
	ctx := context.Background()
	cur, err := e.store.Subscription(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.server.planRenewal(ctx, cur, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := encodeBillingPlan(p.cs, p.it, p.sub)
	if err := e.store.setBillingPlan(ctx, e.store.key("subplan", sub.ID, fmt.Sprint(billT0.Add(97*billDay).UnixMilli())), b); err != nil {
		t.Fatal(err)
	}
	if err := e.server.produce(ctx, p.it); err != nil { // then the crash
		t.Fatal(err)
	}
	if n := e.billRenew(other); n != 1 {
		t.Fatalf("resumed renewals: %d", n)
	}

	got := e.billSub(sub.ID)
	if got.Status != "active" || got.Version != 5 || !got.CurrentPeriodStart.Equal(billT0.Add(97*billDay)) ||
		!got.CurrentPeriodEnd.Equal(billT0.Add(127*billDay)) || got.LatestIntentID != p.it.GetIntentId() {
		t.Fatalf("after 4 renewals = %+v", got)
	}
	intents := e.billFirstVersions()
	if len(intents) != 4 {
		t.Fatalf("%d intents, want 4 (one per period)", len(intents))
	}
	addrs := map[string]bool{}
	for i, start := range []time.Duration{7 * billDay, 37 * billDay, 67 * billDay, 97 * billDay} {
		id := renewalIntentID(sub.ID, billT0.Add(start))
		it, ok := intents[id]
		if !ok {
			t.Fatalf("no intent for the period starting on day %d", i)
		}
		if it.GetAmount().GetValue() != price || it.GetAmount().GetAsset() != "ETH" || it.GetAmount().GetDecimals() != 18 ||
			it.GetSubscriptionId() != sub.ID || it.GetCustomerId() != "cus_1" || it.GetChainId() != 1337 ||
			!it.GetCreatedTime().AsTime().Equal(billT0.Add(start)) || addrs[it.GetDepositAddress()] {
			t.Fatalf("renewal intent %d = %v", i, it)
		}
		addrs[it.GetDepositAddress()] = true
		if v := e.billIntent(id); v.Metadata["seat"] != "4" || v.Status != "requires_payment" {
			t.Fatalf("intent view = %+v", v)
		}
	}
	// payments.subscriptions holds versions 1..5, each once per content.
	seen := map[uint64]*paymentsv1.Subscription{}
	for _, b := range e.billingRecords(TopicSubscriptions) {
		s := new(paymentsv1.Subscription)
		if err := proto.Unmarshal(b, s); err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[s.GetVersion()]; ok && !proto.Equal(prev, s) {
			t.Fatalf("version %d produced twice with different contents", s.GetVersion())
		}
		seen[s.GetVersion()] = s
	}
	if len(seen) != 5 {
		t.Fatalf("subscription versions: %d, want 5", len(seen))
	}
}

// TestSubscriptionPastDueActiveCanceled drives renewal intents by reconciliation: an
// expired renewal makes the subscription past_due, a paid one active, and a canceled
// subscription renews nothing.
func TestSubscriptionPastDueActiveCanceled(t *testing.T) {
	e, clk := newBillingEnv(t, billT0)
	e.runBillingProjector()
	ctx, cancel := context.WithCancel(context.Background())
	drv := &ReconDriver{Brokers: e.brokers, Client: e.client, Store: e.store, TopicPrefix: e.prefix, Group: "gwtest-recon-" + e.prefix}
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("driver: %v", err)
		}
	}()
	sub := e.billSubscribe(`{"customer":"cus_2","scheme":"fixed","price":"500","asset":"ETH","chain_id":1337,"interval_seconds":2592000}`)
	if sub.Status != "active" || sub.LatestIntentID != renewalIntentID(sub.ID, billT0) || !sub.CurrentPeriodEnd.Equal(billT0.Add(30*billDay)) {
		t.Fatalf("created = %+v", sub)
	}
	first := e.billIntent(sub.LatestIntentID)
	if first.Amount != "500" {
		t.Fatalf("first intent = %+v", first)
	}
	waitSub := func(status string) Subscription {
		t.Helper()
		var got Subscription
		eventually(t, 20*time.Second, func() string {
			if _, err := e.server.followRenewalIntents(context.Background()); err != nil {
				return err.Error()
			}
			got = e.billSub(sub.ID)
			if got.Status != status {
				return fmt.Sprintf("subscription is %s, want %s", got.Status, status)
			}
			return ""
		})
		return got
	}
	e.produceRecon(first, 1, reconciliationv1.ReconStatus_RECON_STATUS_MISSING, "0", true)
	e.waitStatus(first.ID, "expired")
	waitSub("past_due")

	clk.set(billT0.Add(30 * billDay))
	if n := e.billRenew(e.server); n != 1 {
		t.Fatalf("renewals: %d", n)
	}
	due := e.billSub(sub.ID)
	if due.Status != "past_due" || due.LatestIntentID == first.ID {
		t.Fatalf("renewed past-due subscription = %+v", due)
	}
	second := e.billIntent(due.LatestIntentID)
	e.produceRecon(second, 1, reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, second.Amount, true)
	e.waitStatus(second.ID, "succeeded")
	waitSub("active")

	r := e.do("POST", "/v1/subscriptions/"+sub.ID+"/cancel", e.keys.Secret, "", "Idempotency-Key", "cancel-1")
	var canceled Subscription
	r.json(t, &canceled)
	if r.status != http.StatusOK || canceled.Status != "canceled" || canceled.CanceledAt == nil {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/subscriptions/"+sub.ID+"/cancel", e.keys.Secret, ""); r.status != http.StatusOK {
		t.Fatalf("cancel again: %d %s", r.status, r.body)
	}
	before := len(e.billFirstVersions())
	clk.set(billT0.Add(90 * billDay))
	if n := e.billRenew(e.server); n != 0 {
		t.Fatalf("a canceled subscription renewed %d times", n)
	}
	if after := len(e.billFirstVersions()); after != before || before != 2 {
		t.Fatalf("intents: %d before the cancel, %d after, want 2", before, after)
	}
	if r := e.do("GET", "/v1/subscriptions?limit=1", e.keys.Secret, ""); r.status != http.StatusOK ||
		!strings.Contains(string(r.body), sub.ID) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
}

// TestUsageMeteredPeriods records usage in four periods: each period's usage is one
// settlement and one intent for exactly quantity × price, a repeated usage_id counts
// once, late usage is refused, a period without usage charges nothing, and a cancel
// charges the open period's usage so far.
func TestUsageMeteredPeriods(t *testing.T) {
	e, clk := newBillingEnv(t, billT0)
	const unit = "123456789012345678901234567" // per unit: totals exceed 2^64
	sub := e.billSubscribe(`{"customer":"cus_3","scheme":"metered","price":"` + unit + `","asset":"ETH","chain_id":1337,"interval_seconds":2592000}`)
	if sub.Status != "active" || sub.LatestIntentID != "" {
		t.Fatalf("created = %+v", sub)
	}
	clk.set(billT0.Add(2 * billDay))
	usage := func(body string) response {
		t.Helper()
		return e.do("POST", "/v1/subscriptions/"+sub.ID+"/usage", e.keys.Secret, body)
	}
	for _, body := range []string{
		`{"quantity":3}`,
		`{"quantity":"4","timestamp":"` + billT0.Add(billDay).Format(time.RFC3339) + `"}`,
		`{"quantity":5,"usage_id":"u-1"}`,
	} {
		if r := usage(body); r.status != http.StatusCreated {
			t.Fatalf("usage %s: %d %s", body, r.status, r.body)
		}
	}
	r := usage(`{"quantity":5,"usage_id":"u-1"}`)
	if r.status != http.StatusOK {
		t.Fatalf("repeated usage_id: %d %s", r.status, r.body)
	}
	if r := usage(`{"quantity":6,"usage_id":"u-1"}`); r.status != http.StatusConflict || r.apiError(t).Param != "usage_id" {
		t.Fatalf("usage_id with another quantity: %d %s", r.status, r.body)
	}
	clk.set(billT0.Add(30 * billDay))
	if n := e.billRenew(e.server); n != 1 {
		t.Fatalf("renewals: %d", n)
	}
	clk.set(billT0.Add(31 * billDay))
	if r := usage(`{"quantity":1,"timestamp":"` + billT0.Add(29*billDay).Format(time.RFC3339) + `"}`); r.status != http.StatusBadRequest ||
		r.apiError(t).Param != "timestamp" || r.apiError(t).Code != "usage_period_closed" {
		t.Fatalf("late usage: %d %s", r.status, r.body)
	}
	for range 10 {
		if r := usage(`{"quantity":1}`); r.status != http.StatusCreated {
			t.Fatalf("usage: %d %s", r.status, r.body)
		}
	}
	clk.set(billT0.Add(60 * billDay))
	e.billRenew(e.server)
	clk.set(billT0.Add(90 * billDay)) // a period without usage
	e.billRenew(e.server)
	clk.set(billT0.Add(91 * billDay))
	if r := usage(`{"quantity":2}`); r.status != http.StatusCreated {
		t.Fatalf("usage: %d %s", r.status, r.body)
	}
	clk.set(billT0.Add(95 * billDay)) // canceled: the open period's usage is charged now
	if r := e.do("POST", "/v1/subscriptions/"+sub.ID+"/cancel", e.keys.Secret, ""); r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if r := usage(`{"quantity":1}`); r.status != http.StatusConflict || r.apiError(t).Code != "subscription_canceled" {
		t.Fatalf("usage after the cancel: %d %s", r.status, r.body)
	}
	clk.set(billT0.Add(200 * billDay))
	if n := e.billRenew(e.server); n != 0 {
		t.Fatalf("a canceled subscription renewed %d times", n)
	}

	mul := func(q int64) string {
		u, _ := new(big.Int).SetString(unit, 10)
		return u.Mul(u, big.NewInt(q)).String()
	}
	css := e.billSettlements()
	if len(css) != 4 {
		t.Fatalf("%d settlements, want 4", len(css))
	}
	sort.Slice(css, func(i, j int) bool {
		return css[i].GetPeriodStartTime().AsTime().Before(css[j].GetPeriodStartTime().AsTime())
	})
	intents := e.billFirstVersions()
	for i, want := range []struct {
		q     uint64
		total string
		end   time.Duration
	}{{12, mul(12), 30 * billDay}, {10, mul(10), 60 * billDay}, {0, "0", 90 * billDay}, {2, mul(2), 95 * billDay}} {
		cs := css[i]
		if cs.GetKind() != paymentsv1.SettlementKind_SETTLEMENT_KIND_METERED || cs.GetQuantity() != want.q ||
			cs.GetTotal().GetValue() != want.total || cs.GetSubscriptionId() != sub.ID || len(cs.GetChargeIds()) != map[int]int{0: 3, 1: 10, 2: 0, 3: 1}[i] ||
			!cs.GetPeriodStartTime().AsTime().Equal(billT0.Add(time.Duration(30*i)*billDay)) ||
			!cs.GetPeriodEndTime().AsTime().Equal(billT0.Add(want.end)) {
			t.Fatalf("settlement %d = %v", i, cs)
		}
		if want.q == 0 {
			if cs.GetIntentId() != "" {
				t.Fatalf("a zero settlement has intent %s", cs.GetIntentId())
			}
			continue
		}
		it := intents[cs.GetIntentId()]
		if it == nil || it.GetAmount().GetValue() != want.total || it.GetSettlementId() != cs.GetSettlementId() ||
			it.GetSubscriptionId() != sub.ID {
			t.Fatalf("intent of settlement %d = %v", i, it)
		}
	}
	if len(intents) != 3 {
		t.Fatalf("%d intents, want 3", len(intents))
	}
	if got := e.billSub(sub.ID); got.Status != "canceled" || got.LatestIntentID != css[3].GetIntentId() {
		t.Fatalf("canceled subscription = %+v", got)
	}
	if r := e.do("GET", "/v1/settlements/"+css[0].GetSettlementId(), e.keys.Secret, ""); r.status != http.StatusOK ||
		!strings.Contains(string(r.body), `"total":"`+mul(12)+`"`) {
		t.Fatalf("get settlement: %d %s", r.status, r.body)
	}
	if n := len(e.billingRecords(TopicUsage)); n != 14 {
		t.Fatalf("payments.usage has %d records, want 14", n)
	}
}

// billSetThreshold sets the merchant's micro_settlement_threshold.
func (e *env) billSetThreshold(value string) {
	e.t.Helper()
	if _, err := e.admin.change(context.Background(), e.merchant.GetMerchantId(), func(m *paymentsv1.MerchantConfig, _ time.Time) error {
		m.MicroSettlementThreshold = &commonv1.Amount{Value: value, Asset: "ETH", Decimals: 18}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	e.server.mu.Lock()
	clear(e.server.merchants)
	e.server.mu.Unlock()
}

// billCheckNetting checks that the settlements in Kafka net every charge of charges exactly
// once, with exact totals and one intent each, and returns how many there are.
func (e *env) billCheckNetting(charges map[string]int64) int {
	e.t.Helper()
	intents := e.billFirstVersions()
	netted := map[string]string{}
	byID := map[string]*paymentsv1.ChargeSettlement{}
	for _, cs := range e.billSettlements() {
		if prev, ok := byID[cs.GetSettlementId()]; ok {
			if !proto.Equal(prev, cs) {
				e.t.Fatalf("settlement %s produced twice with different contents", cs.GetSettlementId())
			}
			continue
		}
		byID[cs.GetSettlementId()] = cs
		sum := new(big.Int)
		for _, id := range cs.GetChargeIds() {
			if other, ok := netted[id]; ok {
				e.t.Fatalf("charge %s netted by %s and %s", id, other, cs.GetSettlementId())
			}
			netted[id] = cs.GetSettlementId()
			amount, ok := charges[id]
			if !ok {
				e.t.Fatalf("settlement %s nets unknown charge %s", cs.GetSettlementId(), id)
			}
			sum.Add(sum, big.NewInt(amount))
		}
		it := intents[cs.GetIntentId()]
		if cs.GetTotal().GetValue() != sum.String() || it == nil || it.GetAmount().GetValue() != sum.String() ||
			it.GetSettlementId() != cs.GetSettlementId() || cs.GetKind() != paymentsv1.SettlementKind_SETTLEMENT_KIND_MICRO {
			e.t.Fatalf("settlement %v (charges sum to %s), intent %v", cs, sum, it)
		}
	}
	if len(netted) != len(charges) {
		e.t.Fatalf("%d of %d charges netted", len(netted), len(charges))
	}
	return len(byID)
}

// TestChargeConcurrentNetting makes 50 concurrent charges to one tab with a threshold:
// every charge is netted exactly once, each settlement's total is exactly its charges'.
func TestChargeConcurrentNetting(t *testing.T) {
	e, _ := newBillingEnv(t, billT0)
	e.billSetThreshold("1000")
	const n = 50
	charges := map[string]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			amount := int64(37 + 13*i)
			r := e.do("POST", "/v1/charges", e.keys.Secret,
				fmt.Sprintf(`{"customer":"cus_tab","amount":"%d","asset":"ETH","chain_id":1337,"description":"api call %d"}`, amount, i))
			if r.status != http.StatusCreated {
				t.Errorf("charge %d: %d %s", i, r.status, r.body)
				return
			}
			var c Charge
			r.json(t, &c)
			mu.Lock()
			charges[c.ID] = amount
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var tab Tab
	e.do("GET", "/v1/tabs/cus_tab?asset=ETH&chain_id=1337", e.keys.Secret, "").json(t, &tab)
	if len(tab.ChargeIDs) == 0 { // the last charge reached the threshold: open a new tab
		r := e.do("POST", "/v1/charges", e.keys.Secret, `{"customer":"cus_tab","amount":"1","asset":"ETH","chain_id":1337}`)
		var c Charge
		r.json(t, &c)
		charges[c.ID] = 1
		e.do("GET", "/v1/tabs/cus_tab?asset=ETH&chain_id=1337", e.keys.Secret, "").json(t, &tab)
	}
	if left, _ := new(big.Int).SetString(tab.Total, 10); left.Cmp(big.NewInt(1000)) >= 0 {
		t.Fatalf("the tab is over the threshold: %+v", tab)
	}
	r := e.do("POST", "/v1/tabs/cus_tab/settle", e.keys.Secret, `{"asset":"ETH","chain_id":1337}`)
	var last Settlement
	r.json(t, &last)
	if r.status != http.StatusOK || last.Total != tab.Total || len(last.ChargeIDs) != len(tab.ChargeIDs) {
		t.Fatalf("settle: %d %s (tab %+v)", r.status, r.body, tab)
	}
	if r := e.do("POST", "/v1/tabs/cus_tab/settle", e.keys.Secret, `{"asset":"ETH","chain_id":1337}`); r.status != http.StatusConflict ||
		r.apiError(t).Code != "tab_empty" {
		t.Fatalf("settle an empty tab: %d %s", r.status, r.body)
	}
	if k := e.billCheckNetting(charges); k < 2 {
		t.Fatalf("%d settlements for 17775 with a threshold of 1000", k)
	}
}

// TestChargeSettlementResumesAfterCrash: a netting that died after producing its
// settlement, before its intent, is finished by the next charge, and its charges are
// never netted again.
func TestChargeSettlementResumesAfterCrash(t *testing.T) {
	e, _ := newBillingEnv(t, billT0)
	ctx := context.Background()
	charges := map[string]int64{}
	charge := func(amount int64) Charge {
		t.Helper()
		r := e.do("POST", "/v1/charges", e.keys.Secret, fmt.Sprintf(`{"customer":"cus_c","amount":%d,"asset":"ETH","chain_id":1337}`, amount))
		var c Charge
		r.json(t, &c)
		if r.status != http.StatusCreated || c.Settlement != nil {
			t.Fatalf("charge: %d %s", r.status, r.body)
		}
		charges[c.ID] = amount
		return c
	}
	for _, a := range []int64{5, 7, 11} {
		charge(a)
	}
	m := e.merchant.GetMerchantId()
	tab := tabKey(m, "cus_c", "ETH", 1337)
	eth := &commonv1.Amount{Asset: "ETH", Decimals: 18}
	if ok, err := e.server.planTab(ctx, m, tab, "cus_c", eth, 1337); err != nil || !ok {
		t.Fatal(ok, err)
	}
	b, _ := e.store.billingPlan(ctx, e.store.key("tabplan", tab))
	p, err := decodeBillingPlan(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.server.produceBilling(ctx, TopicSettlements, m, p.cs); err != nil { // then the crash
		t.Fatal(err)
	}
	charge(13) // finishes the netting first, then goes on a new tab
	var tabNow Tab
	e.do("GET", "/v1/tabs/cus_c?asset=ETH&chain_id=1337", e.keys.Secret, "").json(t, &tabNow)
	if tabNow.Total != "13" || len(tabNow.ChargeIDs) != 1 {
		t.Fatalf("tab after the resumed netting = %+v", tabNow)
	}
	if r := e.do("POST", "/v1/tabs/cus_c/settle", e.keys.Secret, `{"asset":"ETH","chain_id":1337}`); r.status != http.StatusOK {
		t.Fatalf("settle: %d %s", r.status, r.body)
	}
	if k := e.billCheckNetting(charges); k != 2 {
		t.Fatalf("%d settlements, want 2", k)
	}
	if it, ok := e.billFirstVersions()[p.it.GetIntentId()]; !ok || it.GetAmount().GetValue() != "23" {
		t.Fatalf("the planned intent: %v", it)
	}
}

// TestBillingProjectionRebuild drops the Redis projection and rebuilds subscriptions,
// usage, tabs and the renewal schedule from Kafka.
func TestBillingProjectionRebuild(t *testing.T) {
	e, clk := newBillingEnv(t, billT0)
	fixed := e.billSubscribe(`{"scheme":"fixed","price":"100","asset":"ETH","chain_id":1337,"interval_seconds":3600,"trial_seconds":600}`)
	metered := e.billSubscribe(`{"scheme":"metered","price":"3","asset":"ETH","chain_id":1337,"interval_seconds":3600}`)
	for _, q := range []int{2, 5} {
		if r := e.do("POST", "/v1/subscriptions/"+metered.ID+"/usage", e.keys.Secret, fmt.Sprintf(`{"quantity":%d}`, q)); r.status != http.StatusCreated {
			t.Fatalf("usage: %d %s", r.status, r.body)
		}
	}
	charges := map[string]int64{}
	for _, a := range []int64{10, 20, 30} {
		r := e.do("POST", "/v1/charges", e.keys.Secret, fmt.Sprintf(`{"customer":"cus_r","amount":"%d","asset":"ETH","chain_id":1337}`, a))
		var c Charge
		r.json(t, &c)
		charges[c.ID] = a
	}
	if r := e.do("POST", "/v1/tabs/cus_r/settle", e.keys.Secret, `{"asset":"ETH","chain_id":1337}`); r.status != http.StatusOK {
		t.Fatalf("settle: %d %s", r.status, r.body)
	}
	r := e.do("POST", "/v1/charges", e.keys.Secret, `{"customer":"cus_r","amount":"40","asset":"ETH","chain_id":1337}`)
	var open Charge
	r.json(t, &open)
	charges[open.ID] = 40
	wantFixed, wantMetered := e.billSub(fixed.ID), e.billSub(metered.ID)

	flushPrefix(e.rdb, e.store.prefix)
	if r := e.do("GET", "/v1/subscriptions/"+fixed.ID, e.keys.Secret, ""); r.status == http.StatusOK {
		t.Fatal("the projection was not dropped")
	}
	if ok, err := e.server.projectionCaughtUp(context.Background()); ok || err != nil {
		t.Fatalf("caught up before the rebuild: %v, %v", ok, err)
	}
	e.runBillingProjector()
	e.server.mu.Lock()
	clear(e.server.merchants)
	e.server.mu.Unlock()
	eventually(t, 20*time.Second, func() string {
		if ok, err := e.server.projectionCaughtUp(context.Background()); !ok || err != nil {
			return fmt.Sprintf("projection not caught up: %v", err)
		}
		r := e.do("GET", "/v1/tabs/cus_r?asset=ETH&chain_id=1337", e.keys.Secret, "")
		var tab Tab
		if r.status == http.StatusOK {
			r.json(t, &tab)
		}
		if tab.Total != "40" || len(tab.ChargeIDs) != 1 || tab.ChargeIDs[0] != open.ID {
			return fmt.Sprintf("tab: %d %s", r.status, r.body)
		}
		for _, want := range []Subscription{wantFixed, wantMetered} {
			r := e.do("GET", "/v1/subscriptions/"+want.ID, e.keys.Secret, "")
			var got Subscription
			if r.status == http.StatusOK {
				r.json(t, &got)
			}
			if got.Version != want.Version || got.Status != want.Status || !got.CurrentPeriodEnd.Equal(want.CurrentPeriodEnd) {
				return fmt.Sprintf("subscription %s: %d %s", want.ID, r.status, r.body)
			}
		}
		return ""
	})
	// The renewal schedule and the period's usage came back with them.
	clk.set(billT0.Add(time.Hour))
	if n := e.billRenew(e.server); n != 2 {
		t.Fatalf("renewals after the rebuild: %d, want 2 (trial end, metered period)", n)
	}
	css := e.billSettlements()
	var metSum *paymentsv1.ChargeSettlement
	for _, cs := range css {
		if cs.GetKind() == paymentsv1.SettlementKind_SETTLEMENT_KIND_METERED {
			metSum = cs
		}
	}
	if metSum == nil || metSum.GetQuantity() != 7 || metSum.GetTotal().GetValue() != "21" {
		t.Fatalf("metered settlement after the rebuild: %v", metSum)
	}
	// The micro-charges netted before the rebuild stay netted.
	if r := e.do("POST", "/v1/tabs/cus_r/settle", e.keys.Secret, `{"asset":"ETH","chain_id":1337}`); r.status != http.StatusOK {
		t.Fatalf("settle: %d %s", r.status, r.body)
	}
	micro := map[string]int64{}
	for id, a := range charges {
		micro[id] = a
	}
	e.billCheckNettingMicro(micro)
}

// billCheckNettingMicro is billCheckNetting over the MICRO settlements only.
func (e *env) billCheckNettingMicro(charges map[string]int64) {
	e.t.Helper()
	netted := map[string]bool{}
	seen := map[string]bool{}
	for _, cs := range e.billSettlements() {
		if cs.GetKind() != paymentsv1.SettlementKind_SETTLEMENT_KIND_MICRO || seen[cs.GetSettlementId()] {
			continue
		}
		seen[cs.GetSettlementId()] = true
		for _, id := range cs.GetChargeIds() {
			if netted[id] {
				e.t.Fatalf("charge %s netted twice", id)
			}
			netted[id] = true
		}
	}
	if len(netted) != len(charges) {
		e.t.Fatalf("%d of %d charges netted", len(netted), len(charges))
	}
}

// TestBillingBadInputProducesNothing: every refused request answers 400 (or 404/409)
// with the offending parameter, and nothing reaches Kafka.
func TestBillingBadInputProducesNothing(t *testing.T) {
	e, _ := newBillingEnv(t, billT0)
	fixed := e.billSubscribe(`{"scheme":"fixed","price":"1","asset":"ETH","chain_id":1337,"interval_seconds":60,"trial_days":1}`)
	metered := e.billSubscribe(`{"scheme":"metered","price":"1","asset":"ETH","chain_id":1337,"interval_seconds":60,"trial_days":1}`)
	sub := func(extra string) string {
		return `{"scheme":"fixed","price":"10","asset":"ETH","chain_id":1337,"interval_seconds":3600` + extra + `}`
	}
	cases := []struct {
		name, path, body string
		status           int
		code, param      string
	}{
		{"negative price", "/v1/subscriptions", strings.Replace(sub(""), `"10"`, `"-10"`, 1), 400, "price_invalid", "price"},
		{"zero price", "/v1/subscriptions", strings.Replace(sub(""), `"10"`, `"0"`, 1), 400, "price_invalid", "price"},
		{"fractional price", "/v1/subscriptions", strings.Replace(sub(""), `"10"`, `1.5`, 1), 400, "price_invalid", "price"},
		{"missing price", "/v1/subscriptions", `{"scheme":"fixed","asset":"ETH","chain_id":1337,"interval_seconds":3600}`, 400, "parameter_missing", "price"},
		{"unknown asset", "/v1/subscriptions", strings.Replace(sub(""), `"ETH"`, `"DOGE"`, 1), 400, "asset_unknown", "asset"},
		{"unknown chain", "/v1/subscriptions", strings.Replace(sub(""), `1337`, `5`, 1), 400, "chain_unknown", "chain_id"},
		{"short interval", "/v1/subscriptions", strings.Replace(sub(""), `3600`, `59`, 1), 400, "parameter_invalid", "interval_seconds"},
		{"negative interval", "/v1/subscriptions", strings.Replace(sub(""), `3600`, `-3600`, 1), 400, "parameter_invalid", "interval_seconds"},
		{"missing interval", "/v1/subscriptions", strings.Replace(sub(""), `,"interval_seconds":3600`, ``, 1), 400, "parameter_missing", "interval_seconds"},
		{"interval as string", "/v1/subscriptions", strings.Replace(sub(""), `3600`, `"3600"`, 1), 400, "parameter_invalid", "interval_seconds"},
		{"bad scheme", "/v1/subscriptions", strings.Replace(sub(""), `fixed`, `yearly`, 1), 400, "parameter_invalid", "scheme"},
		{"negative trial", "/v1/subscriptions", sub(`,"trial_days":-1`), 400, "parameter_invalid", "trial_days"},
		{"two trials", "/v1/subscriptions", sub(`,"trial_days":1,"trial_seconds":60`), 400, "parameter_invalid", "trial_days"},
		{"unknown field", "/v1/subscriptions", sub(`,"period":"month"`), 400, "parameter_unknown", "period"},
		{"zero quantity", "/v1/subscriptions/" + metered.ID + "/usage", `{"quantity":0}`, 400, "quantity_invalid", "quantity"},
		{"negative quantity", "/v1/subscriptions/" + metered.ID + "/usage", `{"quantity":-2}`, 400, "quantity_invalid", "quantity"},
		{"fractional quantity", "/v1/subscriptions/" + metered.ID + "/usage", `{"quantity":1.5}`, 400, "quantity_invalid", "quantity"},
		{"exponent quantity", "/v1/subscriptions/" + metered.ID + "/usage", `{"quantity":1e3}`, 400, "quantity_invalid", "quantity"},
		{"huge quantity", "/v1/subscriptions/" + metered.ID + "/usage", `{"quantity":99999999999999999999}`, 400, "quantity_too_large", "quantity"},
		{"missing quantity", "/v1/subscriptions/" + metered.ID + "/usage", `{}`, 400, "parameter_missing", "quantity"},
		{"bad timestamp", "/v1/subscriptions/" + metered.ID + "/usage", `{"quantity":1,"timestamp":"yesterday"}`, 400, "parameter_invalid", "timestamp"},
		{"future timestamp", "/v1/subscriptions/" + metered.ID + "/usage", `{"quantity":1,"timestamp":"2027-01-01T00:00:00Z"}`, 400, "usage_in_future", "timestamp"},
		{"before the period", "/v1/subscriptions/" + metered.ID + "/usage", `{"quantity":1,"timestamp":"2025-12-31T00:00:00Z"}`, 400, "usage_period_closed", "timestamp"},
		{"usage of a fixed plan", "/v1/subscriptions/" + fixed.ID + "/usage", `{"quantity":1}`, 400, "subscription_not_metered", "id"},
		{"usage of no subscription", "/v1/subscriptions/sub_nope/usage", `{"quantity":1}`, 404, "subscription_unknown", "id"},
		{"negative charge", "/v1/charges", `{"customer":"c","amount":"-1","asset":"ETH","chain_id":1337}`, 400, "amount_invalid", "amount"},
		{"zero charge", "/v1/charges", `{"customer":"c","amount":"0","asset":"ETH","chain_id":1337}`, 400, "amount_invalid", "amount"},
		{"fractional charge", "/v1/charges", `{"customer":"c","amount":"0.5","asset":"ETH","chain_id":1337}`, 400, "amount_invalid", "amount"},
		{"charge in an unknown asset", "/v1/charges", `{"customer":"c","amount":"1","asset":"BTC","chain_id":1337}`, 400, "asset_unknown", "asset"},
		{"charge on an unknown chain", "/v1/charges", `{"customer":"c","amount":"1","asset":"ETH","chain_id":10}`, 400, "chain_unknown", "chain_id"},
		{"charge without customer", "/v1/charges", `{"amount":"1","asset":"ETH","chain_id":1337}`, 400, "parameter_missing", "customer"},
		{"settle in an unknown asset", "/v1/tabs/c/settle", `{"asset":"BTC","chain_id":1337}`, 400, "asset_unknown", "asset"},
		{"settle without chain", "/v1/tabs/c/settle", `{"asset":"ETH"}`, 400, "parameter_missing", "chain_id"},
		{"settle an empty tab", "/v1/tabs/c/settle", `{"asset":"ETH","chain_id":1337}`, 409, "tab_empty", "customer"},
		{"cancel no subscription", "/v1/subscriptions/sub_nope/cancel", ``, 404, "subscription_unknown", "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", c.path, e.keys.Secret, c.body, "Idempotency-Key", "k-"+strings.ReplaceAll(c.name, " ", "-"))
			ae := r.apiError(t)
			if r.status != c.status || ae.Code != c.code || ae.Param != c.param || ae.Message == "" || ae.RequestID == "" {
				t.Fatalf("%d %s, want %d %s param %q", r.status, r.body, c.status, c.code, c.param)
			}
		})
	}
	if r := e.do("POST", "/v1/subscriptions", e.keys.Publishable, sub("")); r.status != http.StatusForbidden {
		t.Fatalf("publishable key: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/subscriptions?starting_after=sub_nope", e.keys.Secret, ""); r.status != 400 || r.apiError(t).Param != "starting_after" {
		t.Fatalf("bad cursor: %d %s", r.status, r.body)
	}
	if n := len(e.billingRecords(TopicSubscriptions)); n != 2 {
		t.Fatalf("payments.subscriptions has %d records, want the 2 made", n)
	}
	for _, tp := range []string{TopicUsage, TopicCharges, TopicSettlements, TopicIntents} {
		if n := len(e.billingRecords(tp)); n != 0 {
			t.Fatalf("refused requests produced %d records to %s", n, tp)
		}
	}
}

// FuzzBillingRequests feeds arbitrary bodies to the billing request decoders: they never
// panic, and what they accept is within the limits.
func FuzzBillingRequests(f *testing.F) {
	for _, s := range []string{
		`{"scheme":"fixed","price":"10","asset":"ETH","chain_id":1337,"interval_seconds":3600,"trial_days":7}`,
		`{"scheme":"metered","price":10,"asset":"ETH","chain_id":1,"interval_seconds":60,"metadata":{"a":"b"}}`,
		`{"quantity":"5","timestamp":"2026-01-01T00:00:00Z","usage_id":"u-1"}`,
		`{"quantity":1e3}`, `{"quantity":-1}`, `{"quantity":"00"}`,
		`{"customer":"c","amount":"1","asset":"ETH","chain_id":1337,"description":"x"}`,
		`{"asset":"ETH","chain_id":1337}`, `{`, `null`, `[]`, `{"price":"1.5"}`,
	} {
		f.Add([]byte(s))
	}
	assets := []Asset{{Code: "ETH", Decimals: 18, ChainIDs: []uint64{1, 1337}}}
	now := billT0
	f.Fuzz(func(t *testing.T, body []byte) {
		var sr CreateSubscriptionRequest
		if decodeJSON(body, &sr) == nil {
			if c, aerr := sr.validate(assets); aerr == nil {
				if c.interval < subMinInterval || c.interval > subMaxInterval || c.trial < 0 || c.price.GetValue() == "" ||
					c.price.GetValue()[0] == '0' || c.chainID == 0 {
					t.Fatalf("accepted %s as %+v", body, c)
				}
				sub := c.subscription("sub_x", "m_x", now)
				if !sub.GetCurrentPeriodEndTime().AsTime().After(now) {
					t.Fatalf("period of %s ends at once", body)
				}
			} else if aerr.Status != http.StatusBadRequest || aerr.Code == "" {
				t.Fatalf("error %+v", aerr)
			}
		}
		var ur CreateUsageRequest
		if decodeJSON(body, &ur) == nil {
			if c, aerr := ur.validate(now); aerr == nil {
				if c.quantity == 0 || c.quantity > maxUsageQuantity || c.at.After(now.Add(usageSkew)) {
					t.Fatalf("accepted %s as %+v", body, c)
				}
			} else if aerr.Param == "" {
				t.Fatalf("error without param: %+v", aerr)
			}
		}
		var cr CreateChargeRequest
		if decodeJSON(body, &cr) == nil {
			if c, aerr := cr.validate(assets); aerr == nil {
				v, ok := new(big.Int).SetString(c.amount.GetValue(), 10)
				if !ok || v.Sign() <= 0 || v.Cmp(maxUint256) > 0 || c.customer == "" {
					t.Fatalf("accepted %s as %+v", body, c)
				}
			} else if aerr.Param == "" {
				t.Fatalf("error without param: %+v", aerr)
			}
		}
		var tr SettleTabRequest
		if decodeJSON(body, &tr) == nil {
			if _, aerr := validateTab(assets, "cus", tr.Asset, tr.ChainID); aerr != nil && aerr.Param == "" {
				t.Fatalf("error without param: %+v", aerr)
			}
		}
	})
}

// TestUsageRacingRenewal posts usage of the ending period while the renewal runs: each
// record is either accepted and counted in that period's settlement, or refused as late;
// none is lost, none counted twice.
func TestUsageRacingRenewal(t *testing.T) {
	e, clk := newBillingEnv(t, billT0)
	sub := e.billSubscribe(`{"scheme":"metered","price":"1000000007","asset":"ETH","chain_id":1337,"interval_seconds":3600}`)
	clk.set(billT0.Add(time.Hour)) // the period ended; its renewal is due
	ts := billT0.Add(59 * time.Minute).Format(time.RFC3339)
	var accepted, refused atomic.Int64
	started := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ { // until the period is closed
				q := int64(w*1000 + i + 1)
				r := e.do("POST", "/v1/subscriptions/"+sub.ID+"/usage", e.keys.Secret, fmt.Sprintf(`{"quantity":%d,"timestamp":"%s"}`, q, ts))
				switch {
				case r.status == http.StatusCreated:
					if accepted.Add(q) > 0 && i == 2 {
						once.Do(func() { close(started) })
					}
				case r.status == http.StatusBadRequest && r.apiError(t).Code == "usage_period_closed":
					refused.Add(1)
					return
				default:
					t.Errorf("usage: %d %s", r.status, r.body)
					return
				}
			}
		})
	}
	<-started
	if _, err := e.server.renewDue(context.Background()); err != nil {
		t.Errorf("renewDue: %v", err)
	}
	wg.Wait()
	css := e.billSettlements()
	if len(css) != 1 {
		t.Fatalf("%d settlements, want 1", len(css))
	}
	cs := css[0]
	want := new(big.Int).Mul(big.NewInt(accepted.Load()), big.NewInt(1000000007))
	if int64(cs.GetQuantity()) != accepted.Load() || cs.GetTotal().GetValue() != want.String() || refused.Load() != 8 {
		t.Fatalf("settlement of %d units (%d workers refused) = %v", accepted.Load(), refused.Load(), cs)
	}
	t.Logf("%d units in %d records accepted before the renewal", accepted.Load(), len(cs.GetChargeIds()))
}

// TestBillingOpenAPI checks that every billing route is documented and every $ref of the
// merged document resolves.
func TestBillingOpenAPI(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, route := range []string{"post /v1/subscriptions", "get /v1/subscriptions", "get /v1/subscriptions/{id}",
		"post /v1/subscriptions/{id}/cancel", "post /v1/subscriptions/{id}/usage", "post /v1/charges",
		"get /v1/tabs/{customer}", "post /v1/tabs/{customer}/settle", "get /v1/settlements/{id}"} {
		method, path, _ := strings.Cut(route, " ")
		ops, _ := paths[path].(map[string]any)
		if ops[method] == nil {
			t.Errorf("%s is not documented", route)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var at any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := at.(map[string]any)
					at = m[part]
				}
				if at == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

// TestSubscriptionIdempotencyKey: a repeated create with one Idempotency-Key answers the
// first subscription, and Kafka holds one subscription and one first intent.
func TestSubscriptionIdempotencyKey(t *testing.T) {
	e, _ := newBillingEnv(t, billT0)
	body := `{"scheme":"fixed","price":"42","asset":"ETH","chain_id":1,"interval_seconds":86400}`
	first := e.do("POST", "/v1/subscriptions", e.keys.Secret, body, "Idempotency-Key", "sub-1")
	again := e.do("POST", "/v1/subscriptions", e.keys.Secret, body, "Idempotency-Key", "sub-1")
	if first.status != http.StatusCreated || again.status != http.StatusCreated || string(first.body) != string(again.body) ||
		again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("create: %d %s, again: %d %s", first.status, first.body, again.status, again.body)
	}
	if n := len(e.billingRecords(TopicSubscriptions)); n != 1 {
		t.Fatalf("payments.subscriptions has %d records, want 1", n)
	}
	if n := len(e.billFirstVersions()); n != 1 {
		t.Fatalf("%d intents, want 1", n)
	}
}
