package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/gateway/webhook"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// receiver is a merchant's webhook endpoint: it verifies every request's signature with
// the secrets it knows and refuses the first failFirst requests with a 500.
type receiver struct {
	mu        sync.Mutex
	secrets   [][]byte
	failFirst int
	requests  int
	got       []received
	badSig    int
}

type received struct {
	eventID, deliveryID, sequence, attempt string
	event                                  webhookEvent
	header                                 string
	body                                   []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if err := webhook.Verify(r.Header.Get(webhook.Header), body, time.Now(), 0, rc.secrets...); err != nil {
		rc.badSig++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if rc.requests <= rc.failFirst {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var ev webhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, received{eventID: r.Header.Get(webhook.HeaderEventID), deliveryID: r.Header.Get(webhook.HeaderDeliveryID),
		sequence: r.Header.Get(webhook.HeaderSequence), attempt: r.Header.Get(webhook.HeaderAttempt), event: ev,
		header: r.Header.Get(webhook.Header), body: body})
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func TestWebhooksSignedRetriedReplayed(t *testing.T) {
	master := bytes.Repeat([]byte{9}, 32)
	var queue *webhook.Queue
	e := newEnv(t, func(o *Options) {
		queue = webhook.NewQueue(redisOf(o), o.Store.prefix+":webhooks")
		o.Webhooks, o.MasterKey = queue, master
	})
	rc := &receiver{failFirst: 2}
	hook := httptest.NewServer(rc)
	defer hook.Close()

	r := e.do("POST", "/v1/webhook_endpoints", e.keys.Secret, `{"url":"`+hook.URL+`/hooks"}`)
	var ep webhookEndpoint
	r.json(t, &ep)
	if r.status != http.StatusCreated || ep.Secret == "" || ep.Version != 1 {
		t.Fatalf("create endpoint: %d %s", r.status, r.body)
	}
	secret, err := webhook.ParseSecret(ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.secrets = [][]byte{secret}
	rc.mu.Unlock()
	if r := e.do("POST", "/v1/webhook_endpoints", e.keys.Secret, `{"url":"http://user:pw@example.test/"}`); r.status != 400 || r.apiError(t).Param != "url" {
		t.Fatalf("URL with credentials: %d %s", r.status, r.body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fan := &Fanout{Store: e.store, Queue: queue}
	proj := &Projector{Brokers: e.brokers, Store: e.store, TopicPrefix: e.prefix, OnIntent: fan.Intent}
	disp := webhook.NewDispatcher(queue, Secrets(master), Recorder(e.client, e.prefix),
		webhook.Options{Backoff: 50 * time.Millisecond, Poll: 20 * time.Millisecond})
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{proj.Run, disp.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				t.Errorf("run: %v", err)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	it := e.create(ethIntent)
	eventually(t, 20*time.Second, func() string {
		if len(rc.received()) < 1 {
			return "the created intent's webhook did not arrive"
		}
		return ""
	})
	first := rc.received()[0]
	if first.event.Type != "payment_intent.requires_payment" || first.event.Data.Object.ID != it.ID || first.sequence != "1" ||
		first.attempt != "3" || first.eventID != first.event.ID || first.event.Data.Object.Amount != it.Amount {
		t.Fatalf("first webhook = %+v", first)
	}

	// Rotate the secret: deliveries are signed with both until the old one expires, so a
	// receiver knowing either accepts them.
	r = e.do("POST", "/v1/webhook_endpoints/"+ep.ID+"/roll_secret", e.keys.Secret, "")
	var rolled webhookEndpoint
	r.json(t, &rolled)
	newSecret, err := webhook.ParseSecret(rolled.Secret)
	if r.status != http.StatusOK || err != nil || rolled.Version != 2 || bytes.Equal(newSecret, secret) {
		t.Fatalf("roll: %d %s", r.status, r.body)
	}
	rc.mu.Lock()
	rc.secrets = [][]byte{newSecret}
	rc.mu.Unlock()
	if r := e.do("POST", "/v1/payment_intents/"+it.ID+"/cancel", e.keys.Secret, ""); r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	eventually(t, 20*time.Second, func() string {
		if len(rc.received()) < 2 {
			return "the cancel webhook did not arrive"
		}
		return ""
	})
	second := rc.received()[1]
	if second.event.Type != "payment_intent.canceled" || second.sequence != "2" || second.event.Data.Object.Status != "canceled" {
		t.Fatalf("second webhook = %+v", second)
	}
	if err := webhook.Verify(second.header, second.body, time.Now(), 0, secret); err != nil {
		t.Fatalf("during the rotation a receiver with the old secret refuses the delivery: %v", err)
	}

	// Replay the first delivery: same event id, new delivery id.
	r = e.do("POST", "/v1/webhook_deliveries/"+first.deliveryID+"/replay", e.keys.Secret, "")
	if r.status != http.StatusAccepted {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	eventually(t, 20*time.Second, func() string {
		if len(rc.received()) < 3 {
			return "the replay did not arrive"
		}
		return ""
	})
	replay := rc.received()[2]
	if replay.eventID != first.eventID || replay.deliveryID == first.deliveryID {
		t.Fatalf("replay = %+v, first %+v", replay, first)
	}
	if r := e.do("POST", "/v1/webhook_deliveries/wd_nope/replay", e.keys.Secret, ""); r.status != http.StatusNotFound {
		t.Fatalf("replay unknown: %d %s", r.status, r.body)
	}
	if rc.badSig != 0 {
		t.Fatalf("%d requests with a bad signature", rc.badSig)
	}

	// Every attempt is an event on payments.webhooks: the first delivery failed twice,
	// then succeeded.
	attempts := map[string][]paymentsv1.WebhookDeliveryStatus{}
	eventually(t, 20*time.Second, func() string {
		attempts = webhookAttempts(t, e)
		if len(attempts[first.deliveryID]) < 3 || len(attempts) < 3 {
			return "attempt events missing"
		}
		return ""
	})
	want := []paymentsv1.WebhookDeliveryStatus{paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_RETRYING,
		paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_RETRYING, paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_SUCCEEDED}
	got := attempts[first.deliveryID]
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("attempts of the first delivery: %v, want %v", got, want)
		}
	}
}

func redisOf(o *Options) redis.UniversalClient { return o.Store.rdb }

// webhookAttempts reads payments.webhooks: delivery id → statuses in order.
func webhookAttempts(t *testing.T, e *env) map[string][]paymentsv1.WebhookDeliveryStatus {
	t.Helper()
	out := map[string][]paymentsv1.WebhookDeliveryStatus{}
	for _, v := range e.records(TopicWebhooks) {
		ev := new(paymentsv1.WebhookDelivery)
		if err := proto.Unmarshal(v, ev); err != nil {
			t.Fatal(err)
		}
		out[ev.GetDeliveryId()] = append(out[ev.GetDeliveryId()], ev.GetStatus())
	}
	return out
}

// TestReplayDoesNotKeepSecrets: a response that shows a secret once is stored for
// Idempotency-Key replays without it, so Redis never holds the secret.
func TestReplayDoesNotKeepSecrets(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Webhooks, o.MasterKey = webhook.NewQueue(redisOf(o), o.Store.prefix+":webhooks"), bytes.Repeat([]byte{3}, 32)
	})
	body := `{"url":"http://127.0.0.1:9/hooks"}`
	first := e.do("POST", "/v1/webhook_endpoints", e.keys.Secret, body, "Idempotency-Key", "ep-1")
	var ep webhookEndpoint
	first.json(t, &ep)
	if first.status != http.StatusCreated || !bytes.HasPrefix([]byte(ep.Secret), []byte("whsec_")) {
		t.Fatalf("create: %d %s", first.status, first.body)
	}
	again := e.do("POST", "/v1/webhook_endpoints", e.keys.Secret, body, "Idempotency-Key", "ep-1")
	var replay webhookEndpoint
	again.json(t, &replay)
	if again.header.Get("Idempotent-Replayed") != "true" || replay.ID != ep.ID || replay.Secret != "" {
		t.Fatalf("replay: %s", again.body)
	}
	stored, err := e.rdb.HGetAll(context.Background(), e.store.key("idem", e.merchant.GetMerchantId(), "ep-1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range stored {
		if bytes.Contains([]byte(v), []byte(ep.Secret)) {
			t.Fatalf("the idempotency record's field %s holds the secret", f)
		}
	}
}
