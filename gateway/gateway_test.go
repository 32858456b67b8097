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

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/gateway/apikey"
	"github.com/weirhq/weir/gateway/deposit"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	reconciliationv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
)

const ethIntent = `{"amount":"1500000000000000000","asset":"ETH","chain_id":1337,"customer":"cus_42","metadata":{"order":"A-17","cart":"3 items"}}`

func TestCreateAndGetIntent(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1/payment_intents", e.keys.Secret, ethIntent)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if !strings.HasPrefix(r.header.Get("Request-Id"), "req_") {
		t.Errorf("Request-Id = %q", r.header.Get("Request-Id"))
	}
	var it Intent
	r.json(t, &it)
	d, err := deposit.NewDeriver(testXpub(t))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := d.Address(0)
	if it.Status != "requires_payment" || it.Amount != "1500000000000000000" || it.Asset != "ETH" || it.Decimals != 18 ||
		it.ChainID != 1337 || it.DepositAddress != strings.ToLower(want.Hex()) || it.AddressIndex != 0 ||
		it.Customer != "cus_42" || it.Metadata["order"] != "A-17" || it.AmountReceived != "0" || it.Version != 1 ||
		it.ExpiresAt == nil || it.ExpiresAt.Sub(it.Created) != time.Hour {
		t.Fatalf("created intent = %+v", it)
	}
	second := e.create(ethIntent)
	if second.AddressIndex != 1 || second.DepositAddress == it.DepositAddress {
		t.Fatalf("second intent reuses a deposit address: %+v", second)
	}

	for _, key := range []string{e.keys.Secret, e.keys.Publishable} {
		g := e.do("GET", "/v1/payment_intents/"+it.ID, key, "")
		var got Intent
		g.json(t, &got)
		if g.status != http.StatusOK || got.ID != it.ID || got.DepositAddress != it.DepositAddress {
			t.Fatalf("GET with %s key: %d %s", key[:2], g.status, g.body)
		}
	}
	if r := e.do("POST", "/v1/payment_intents", e.keys.Publishable, ethIntent); r.status != http.StatusForbidden ||
		r.apiError(t).Code != "secret_key_required" {
		t.Fatalf("create with a publishable key: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/payment_intents/pi_nope", e.keys.Secret, ""); r.status != http.StatusNotFound {
		t.Fatalf("GET unknown: %d %s", r.status, r.body)
	}

	recs := e.intents()
	if len(recs) != 2 {
		t.Fatalf("payments.intents has %d records, want 2", len(recs))
	}
	for _, rec := range recs {
		if rec.GetMerchantId() != e.merchant.GetMerchantId() || rec.GetVersion() != 1 ||
			rec.GetState() != paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT ||
			rec.GetMeta().GetEventId() != eventid.New(intentKind, rec.GetIntentId(), "1") || rec.GetRequestId() == "" {
			t.Fatalf("record = %v", rec)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	first := e.do("POST", "/v1/payment_intents", e.keys.Secret, ethIntent, "Idempotency-Key", "order-17")
	if first.status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.status, first.body)
	}
	again := e.do("POST", "/v1/payment_intents", e.keys.Secret, ethIntent, "Idempotency-Key", "order-17")
	if again.status != http.StatusCreated || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s (first %s)", again.status, again.body, first.body)
	}
	other := e.do("POST", "/v1/payment_intents", e.keys.Secret, strings.Replace(ethIntent, "1500", "1600", 1), "Idempotency-Key", "order-17")
	if other.status != http.StatusConflict || other.apiError(t).Code != "idempotency_key_reused" {
		t.Fatalf("same key, other body: %d %s", other.status, other.body)
	}

	// Concurrent requests with one key: one intent, every answer the same intent or a 409.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	statuses := make([]int, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do("POST", "/v1/payment_intents", e.keys.Secret, ethIntent, "Idempotency-Key", "race")
			statuses[i] = r.status
			if r.status == http.StatusCreated {
				var it Intent
				r.json(t, &it)
				ids[i] = it.ID
			}
		}()
	}
	wg.Wait()
	created := map[string]bool{}
	for i, id := range ids {
		switch statuses[i] {
		case http.StatusCreated:
			created[id] = true
		case http.StatusConflict:
		default:
			t.Fatalf("concurrent request %d: status %d", i, statuses[i])
		}
	}
	if len(created) != 1 {
		t.Fatalf("concurrent requests with one key created %d intents", len(created))
	}
	if n := len(e.intents()); n != 2 {
		t.Fatalf("payments.intents has %d records, want 2 (one per key)", n)
	}
}

// TestIdempotentResumeAfterCrash replays a request whose first attempt planned an intent
// and died before answering: the retry produces the planned intent, not a new one.
func TestIdempotentResumeAfterCrash(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	e := newEnv(t, func(o *Options) { o.Now = func() time.Time { return clock() } })
	ctx := context.Background()
	m := e.merchant.GetMerchantId()
	// The dead request: it claimed the key and planned an intent, then nothing.
	r := e.do("POST", "/v1/payment_intents", e.keys.Secret, ethIntent, "Idempotency-Key", "k1")
	var first Intent
	r.json(t, &first)
	// Make the record look unfinished: put the plan back and drop the response.
	stored, err := e.store.Intent(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	p := createPlan{id: stored.GetIntentId(), created: stored.GetCreatedTime().AsTime(), requestID: stored.GetRequestId(), index: stored.GetAddressIndex()}
	k := e.store.key("idem", m, "k1")
	if err := e.rdb.HDel(ctx, k, "s", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.HSet(ctx, k, "p", p.prefix()+"|0", "l", now.Add(30*time.Second).UnixMilli()).Err(); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/v1/payment_intents", e.keys.Secret, ethIntent, "Idempotency-Key", "k1"); r.status != http.StatusConflict ||
		r.apiError(t).Code != "idempotency_key_in_use" {
		t.Fatalf("while held: %d %s", r.status, r.body)
	}
	now = now.Add(31 * time.Second) // the hold lapses
	r = e.do("POST", "/v1/payment_intents", e.keys.Secret, ethIntent, "Idempotency-Key", "k1")
	var resumed Intent
	r.json(t, &resumed)
	if r.status != http.StatusCreated || resumed.ID != first.ID || resumed.DepositAddress != first.DepositAddress {
		t.Fatalf("resumed: %d %s, want intent %s", r.status, r.body, first.ID)
	}
	// Projected already, so nothing was produced again.
	if n := len(e.intents()); n != 1 {
		t.Fatalf("payments.intents has %d records, want 1", n)
	}

	// A plan that never reached Kafka nor the projection is produced on resume, and is the
	// intent the first request would have made.
	planned := createPlan{id: newID("pi_"), created: now, requestID: "req_x", index: 99}
	k2 := e.store.key("idem", m, "k2")
	r = e.do("POST", "/v1/payment_intents", e.keys.Secret, ethIntent, "Idempotency-Key", "k2")
	var made Intent
	r.json(t, &made)
	e.rdb.HDel(ctx, k2, "s", "b")
	e.rdb.HSet(ctx, k2, "p", planned.prefix()+"|99", "l", 0)
	r = e.do("POST", "/v1/payment_intents", e.keys.Secret, ethIntent, "Idempotency-Key", "k2")
	var got Intent
	r.json(t, &got)
	if got.ID != planned.id || got.AddressIndex != 99 || !got.Created.Equal(now.UTC()) {
		t.Fatalf("resume produced %+v, want the planned %+v", got, planned)
	}
	it := struct{ id string }{planned.id}
	recs := e.intents()
	found := false
	for _, rec := range recs {
		found = found || rec.GetIntentId() == it.id
	}
	if !found || len(recs) != 3 {
		t.Fatalf("planned intent produced: %v, records %d (want 3)", found, len(recs))
	}
}

func TestBadInputProducesNothing(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBody = 2048 })
	expired := e.keys.Secret
	_, keys, err := e.admin.RollKey(context.Background(), e.merchant.GetMerchantId(), apikey.Secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	good := keys.Secret
	over := "115792089237316195423570985008687907853269984665640564039457584007913129639936" // 2^256
	cases := []struct {
		name, key, body string
		status          int
		code, param     string
	}{
		{"negative", good, `{"amount":"-1","asset":"ETH","chain_id":1337}`, 400, "amount_invalid", "amount"},
		{"fraction", good, `{"amount":"1.5","asset":"ETH","chain_id":1337}`, 400, "amount_invalid", "amount"},
		{"fraction number", good, `{"amount":1.5,"asset":"ETH","chain_id":1337}`, 400, "amount_invalid", "amount"},
		{"exponent", good, `{"amount":1e18,"asset":"ETH","chain_id":1337}`, 400, "amount_invalid", "amount"},
		{"letters", good, `{"amount":"12ab","asset":"ETH","chain_id":1337}`, 400, "amount_invalid", "amount"},
		{"zero", good, `{"amount":"0","asset":"ETH","chain_id":1337}`, 400, "amount_invalid", "amount"},
		{"over uint256", good, `{"amount":"` + over + `","asset":"ETH","chain_id":1337}`, 400, "amount_too_large", "amount"},
		{"missing amount", good, `{"asset":"ETH","chain_id":1337}`, 400, "parameter_missing", "amount"},
		{"unknown asset", good, `{"amount":"1","asset":"DOGE","chain_id":1337}`, 400, "asset_unknown", "asset"},
		{"unknown chain", good, `{"amount":"1","asset":"ETH","chain_id":5}`, 400, "chain_unknown", "chain_id"},
		{"chain as string", good, `{"amount":"1","asset":"ETH","chain_id":"1337"}`, 400, "parameter_invalid", "chain_id"},
		{"unknown field", good, `{"amount":"1","asset":"ETH","chain_id":1337,"amout":"2"}`, 400, "parameter_unknown", "amout"},
		{"malformed json", good, `{"amount":"1",`, 400, "body_invalid", ""},
		{"trailing data", good, `{"amount":"1","asset":"ETH","chain_id":1337} {}`, 400, "body_invalid", ""},
		{"empty body", good, ``, 400, "body_invalid", ""},
		{"oversized body", good, `{"amount":"1","asset":"ETH","chain_id":1337,"customer":"` + strings.Repeat("x", 4000) + `"}`, 413, "body_too_large", ""},
		{"bad expiry", good, `{"amount":"1","asset":"ETH","chain_id":1337,"expires_in_seconds":0}`, 400, "parameter_invalid", "expires_in_seconds"},
		{"too many metadata keys", good, `{"amount":"1","asset":"ETH","chain_id":1337,"metadata":{` + manyKeys(21) + `}}`, 400, "metadata_invalid", "metadata"},
		{"no key", "", ethIntent, 401, "api_key_missing", ""},
		{"malformed key", "sk_nope", ethIntent, 401, "api_key_malformed", ""},
		{"unknown key", "sk_aaaaaaaaaaaa_" + strings.Repeat("A", 32), ethIntent, 401, "api_key_invalid", ""},
		{"expired key", expired, ethIntent, 401, "api_key_expired", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "/v1/payment_intents", c.key, c.body, "Idempotency-Key", "k-"+c.name)
			ae := r.apiError(t)
			if r.status != c.status || ae.Code != c.code || ae.Param != c.param || ae.Message == "" || ae.RequestID == "" {
				t.Fatalf("%d %s, want %d %s param %q", r.status, r.body, c.status, c.code, c.param)
			}
		})
	}
	if n := len(e.intents()); n != 0 {
		t.Fatalf("rejected requests produced %d records", n)
	}
	// A rejected request does not use up its Idempotency-Key.
	if r := e.do("POST", "/v1/payment_intents", good, ethIntent, "Idempotency-Key", "k-negative"); r.status != http.StatusCreated {
		t.Fatalf("key of a rejected request: %d %s", r.status, r.body)
	}
}

func manyKeys(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"k%d":"v"`, i))
	}
	return strings.Join(parts, ",")
}

func TestListPagination(t *testing.T) {
	e := newEnv(t)
	var made []string
	for range 23 {
		made = append(made, e.create(ethIntent).ID)
	}
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		path := "/v1/payment_intents?limit=10"
		if cursor != "" {
			path += "&starting_after=" + cursor
		}
		r := e.do("GET", path, e.keys.Secret, "")
		var l IntentList
		r.json(t, &l)
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		for _, it := range l.Data {
			seen = append(seen, it.ID)
		}
		if !l.HasMore {
			break
		}
		cursor = l.NextCursor
		if page > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != len(made) {
		t.Fatalf("listed %d intents, made %d", len(seen), len(made))
	}
	for i := range made { // newest first
		if seen[i] != made[len(made)-1-i] {
			t.Fatalf("list order: %v, made %v", seen, made)
		}
	}
	if r := e.do("GET", "/v1/payment_intents?limit=0", e.keys.Secret, ""); r.status != 400 || r.apiError(t).Param != "limit" {
		t.Fatalf("limit=0: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/payment_intents?starting_after=pi_nope", e.keys.Secret, ""); r.status != 400 || r.apiError(t).Code != "cursor_invalid" {
		t.Fatalf("bad cursor: %d %s", r.status, r.body)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RateLimit = 5 })
	limited := 0
	for range 30 {
		r := e.do("GET", "/v1/payment_intents", e.keys.Secret, "")
		if r.status == http.StatusTooManyRequests {
			limited++
			if r.header.Get("Retry-After") == "" || r.apiError(t).Code != "rate_limited" {
				t.Fatalf("429 without Retry-After or code: %s", r.body)
			}
		}
	}
	if limited < 15 { // a burst of 10, and at most a few refills during the loop
		t.Fatalf("%d of 30 requests limited at 5/s", limited)
	}
}

// produceRecon writes a reconciliation result for intent it.
func (e *env) produceRecon(it Intent, version uint64, status reconciliationv1.ReconStatus, received string, final bool) {
	e.t.Helper()
	res := &reconciliationv1.ReconciliationResult{
		Meta: &commonv1.Meta{EventId: eventid.New("weir.reconciliation.v1.ReconciliationResult", it.ID, fmt.Sprint(version)),
			EventTime: timestamppb.Now(), Source: "test"},
		MerchantId: e.merchant.GetMerchantId(), IntentId: it.ID, Version: version, Status: status,
		Expected: &commonv1.Amount{Value: it.Amount, Asset: it.Asset, Decimals: it.Decimals},
		Received: &commonv1.Amount{Value: received, Asset: it.Asset, Decimals: it.Decimals},
		ChainId:  it.ChainID, DepositAddress: it.DepositAddress, Final: final,
	}
	b, _ := proto.Marshal(res)
	if err := e.client.ProduceSync(context.Background(), &kgo.Record{Topic: e.prefix + TopicRecon,
		Key: []byte(e.merchant.GetMerchantId()), Value: b}).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) waitStatus(id, status string) Intent {
	e.t.Helper()
	var it Intent
	eventually(e.t, 20*time.Second, func() string {
		r := e.do("GET", "/v1/payment_intents/"+id, e.keys.Secret, "")
		r.json(e.t, &it)
		if it.Status != status {
			return fmt.Sprintf("intent %s is %s, want %s", id, it.Status, status)
		}
		return ""
	})
	return it
}

func TestLifecycleDrivenByReconciliation(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	drv := &ReconDriver{Brokers: e.brokers, Client: e.client, Store: e.store, TopicPrefix: e.prefix,
		Group: "gwtest-recon-" + e.prefix}
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("driver: %v", err)
		}
	}()

	paid := e.create(ethIntent)
	e.produceRecon(paid, 1, reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, paid.Amount, false)
	e.waitStatus(paid.ID, "processing")
	e.produceRecon(paid, 2, reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, paid.Amount, true)
	got := e.waitStatus(paid.ID, "succeeded")
	if got.AmountReceived != paid.Amount || got.Version != 3 {
		t.Fatalf("succeeded intent = %+v", got)
	}
	e.produceRecon(paid, 1, reconciliationv1.ReconStatus_RECON_STATUS_MISSING, "0", true) // stale: ignored

	short := e.create(ethIntent)
	e.produceRecon(short, 1, reconciliationv1.ReconStatus_RECON_STATUS_UNDERPAID, "1000", true)
	e.waitStatus(short.ID, "underpaid")
	e.produceRecon(short, 2, reconciliationv1.ReconStatus_RECON_STATUS_OVERPAID, "1600000000000000000", true)
	if it := e.waitStatus(short.ID, "overpaid"); it.AmountReceived != "1600000000000000000" {
		t.Fatalf("overpaid received = %s", it.AmountReceived)
	}

	reorged := e.create(ethIntent)
	e.produceRecon(reorged, 1, reconciliationv1.ReconStatus_RECON_STATUS_MATCHED, reorged.Amount, false)
	e.waitStatus(reorged.ID, "processing")
	e.produceRecon(reorged, 2, reconciliationv1.ReconStatus_RECON_STATUS_RETRACTED, "0", false)
	if it := e.waitStatus(reorged.ID, "requires_payment"); it.AmountReceived != "0" {
		t.Fatalf("after retraction received = %s", it.AmountReceived)
	}

	late := e.create(ethIntent)
	e.produceRecon(late, 1, reconciliationv1.ReconStatus_RECON_STATUS_MISSING, "0", true)
	if it := e.waitStatus(late.ID, "expired"); it.FailureCode != "expired" {
		t.Fatalf("expired intent = %+v", it)
	}
	if r := e.do("POST", "/v1/payment_intents/"+late.ID+"/cancel", e.keys.Secret, ""); r.status != http.StatusConflict {
		t.Fatalf("cancel an expired intent: %d %s", r.status, r.body)
	}
	open := e.create(ethIntent)
	r := e.do("POST", "/v1/payment_intents/"+open.ID+"/cancel", e.keys.Secret, "", "Idempotency-Key", "c1")
	var canceled Intent
	r.json(t, &canceled)
	if r.status != http.StatusOK || canceled.Status != "canceled" || canceled.Version != 2 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}

	// payments.intents holds every transition, in version order per intent, and the paid
	// intent's stale result made none.
	versions := map[string][]string{}
	for _, rec := range e.intents() {
		versions[rec.GetIntentId()] = append(versions[rec.GetIntentId()], Status(rec.GetState()))
	}
	want := map[string]string{
		paid.ID:    "requires_payment processing succeeded",
		short.ID:   "requires_payment underpaid overpaid",
		reorged.ID: "requires_payment processing requires_payment",
		late.ID:    "requires_payment expired",
		open.ID:    "requires_payment canceled",
	}
	for id, w := range want {
		if got := strings.Join(versions[id], " "); got != w {
			t.Errorf("transitions of %s: %s, want %s", id, got, w)
		}
	}
}

// TestProjectionRebuild drops the Redis projection and rebuilds it from Kafka.
func TestProjectionRebuild(t *testing.T) {
	e := newEnv(t)
	a := e.create(ethIntent)
	b := e.create(ethIntent)
	r := e.do("POST", "/v1/payment_intents/"+a.ID+"/cancel", e.keys.Secret, "")
	if r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	flushPrefix(e.rdb, e.store.prefix)
	if r := e.do("GET", "/v1/payment_intents/"+a.ID, e.keys.Secret, ""); r.status == http.StatusOK {
		t.Fatal("the projection was not dropped")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Projector{Brokers: e.brokers, Store: e.store, TopicPrefix: e.prefix}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	e.server.mu.Lock()
	clear(e.server.merchants)
	e.server.mu.Unlock()
	e.waitStatus(a.ID, "canceled")
	e.waitStatus(b.ID, "requires_payment")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The address counter was raised past the indexes Kafka holds.
	if c := e.create(ethIntent); c.AddressIndex != 2 {
		t.Fatalf("after rebuild the next address index is %d, want 2", c.AddressIndex)
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/openapi.json", "", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"openapi"`) || !strings.Contains(string(r.body), "/v1/payment_intents") {
		t.Fatalf("openapi: %d %.200s", r.status, r.body)
	}
}

func TestOpenAPIMerges(t *testing.T) {
	b, err := mergeOpenAPI(openAPIFiles)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.OpenAPI == "" || doc.Paths["/v1/payment_intents"] == nil {
		t.Fatalf("merged document: %v, %.200s", err, b)
	}
}

// TestPlanTakenOnce: a request that stalled past its hold and finds a retry's plan under
// its key produces nothing; only the first plan counts.
func TestPlanTakenOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := e.merchant.GetMerchantId()
	now := time.Now()
	if rec, err := e.store.BeginIdempotent(ctx, m, "stall", "h", now, time.Second, time.Hour); err != nil || rec.State != IdemClaimed {
		t.Fatalf("claim: %+v %v", rec, err)
	}
	// The hold lapses; a retry takes over and plans first.
	rec, err := e.store.BeginIdempotent(ctx, m, "stall", "h", now.Add(2*time.Second), time.Second, time.Hour)
	if err != nil || rec.State != IdemResumed || len(rec.Planned) != 0 {
		t.Fatalf("take over: %+v %v", rec, err)
	}
	if err := e.store.PlanIdempotent(ctx, m, "stall", []byte("retry's plan")); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PlanIdempotent(ctx, m, "stall", []byte("stalled plan")); !errors.Is(err, ErrPlanTaken) {
		t.Fatalf("second plan: %v, want ErrPlanTaken", err)
	}
	rec, _ = e.store.BeginIdempotent(ctx, m, "stall", "h", now.Add(4*time.Second), time.Second, time.Hour)
	if string(rec.Planned) != "retry's plan" {
		t.Fatalf("plan in force: %q", rec.Planned)
	}
}
