package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/internal/proctest"
	"github.com/weirhq/weir/internal/testenv"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// TestKillNineLosesNothingProducesNothingTwice runs the gateway as a child process on
// the real Kafka and Redis and has 16 clients create 400 intents, each with an
// Idempotency-Key of its own, retrying the same request on every failure as a real
// client does. Twice, while requests are in flight, the child is killed with SIGKILL and
// started again on the same port. Then payments.intents (read committed) must hold every
// intent a client got a 201 for, one intent per Idempotency-Key, no intent produced with
// two different contents, no deposit address index handed out twice, and the restarted
// gateway must serve every intent.
func TestKillNineLosesNothingProducesNothingTwice(t *testing.T) {
	const (
		keys    = 400
		workers = 16
		hold    = 2 * time.Second
	)
	kills := []int64{100, 250} // SIGKILL once this many requests have succeeded
	e := newEnv(t)
	gw := newGatewayChild(t, e, hold)
	gw.start()
	began := time.Now()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	c := &killClient{url: gw.url, secret: e.keys.Secret,
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}}
	got := make([]created, keys) // by key number; each written by the one worker that took it
	reached := make([]chan struct{}, len(kills))
	for i := range reached {
		reached[i] = make(chan struct{})
	}
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= keys || ctx.Err() != nil {
					return
				}
				key, body := killRequest(i)
				it, err := c.create(ctx, key, body)
				if err != nil {
					t.Errorf("key %s: %v", key, err)
					continue
				}
				got[i] = it
				n := c.ok.Add(1)
				for k, at := range kills {
					if n == at {
						close(reached[k])
					}
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for k, at := range kills {
		select {
		case <-reached[k]:
		case <-done:
			t.Fatalf("every request ended before %d succeeded", at)
		}
		inFlight := c.inFlight.Load()
		gw.c.Kill(t)
		t.Logf("%v: SIGKILL after %d successes, %d requests in flight", time.Since(began).Round(time.Millisecond), c.ok.Load(), inFlight)
		gw.start()
		t.Logf("%v: restarted", time.Since(began).Round(time.Millisecond))
	}
	<-done
	t.Logf("%v: %d of %d keys created; %d requests failed to connect or lost their connection, %d answered 5xx or 429, %d answered 409 idempotency_key_in_use",
		time.Since(began).Round(time.Millisecond), c.ok.Load(), keys, c.failed.Load(), c.unavailable.Load(), c.inUse.Load())
	if t.Failed() {
		t.FailNow()
	}
	// A key is only ever in use by a request of a process that died holding it: each
	// key's requests are sent one after the other.
	if c.inUse.Load() == 0 {
		t.Error("no request was in flight in the gateway when it was killed: the test proved nothing")
	}

	// The restarted gateway serves every intent it acknowledged.
	pending := map[string]Intent{}
	for _, it := range got {
		pending[it.ID] = it.Intent
	}
	eventually(t, 30*time.Second, func() string {
		for id, want := range pending {
			r, err := c.do(ctx, "GET", "/v1/payment_intents/"+id, "", "")
			if err != nil || r.status != http.StatusOK {
				return fmt.Sprintf("GET %s: %d %s %v", id, r.status, r.body, err)
			}
			var it Intent
			if err := json.Unmarshal(r.body, &it); err != nil || it.ID != id || it.DepositAddress != want.DepositAddress ||
				it.AddressIndex != want.AddressIndex || it.Metadata["idempotency_key"] != want.Metadata["idempotency_key"] {
				return fmt.Sprintf("GET %s = %s, want the intent created as %+v", id, r.body, want)
			}
			delete(pending, id)
		}
		return ""
	})
	t.Logf("%v: every intent served", time.Since(began).Round(time.Millisecond))
	gw.c.Stop(t)
	t.Logf("%v: stopped", time.Since(began).Round(time.Millisecond))

	checkIntentLog(t, e.intents(), got)
}

// checkIntentLog checks payments.intents against the intents the clients got (by key
// number).
func checkIntentLog(t *testing.T, recs []*paymentsv1.IntentTransition, got []created) {
	t.Helper()
	byID := map[string]*paymentsv1.IntentTransition{} // first version-1 record of each intent
	byKey := map[string]map[string]bool{}             // Idempotency-Key → intent ids
	events := map[string]int{}                        // event id → records
	duplicates := 0
	for _, r := range recs {
		if events[r.GetMeta().GetEventId()]++; events[r.GetMeta().GetEventId()] > 1 {
			duplicates++
		}
		if r.GetVersion() != 1 {
			t.Errorf("intent %s has a version %d record; nothing but creation happened", r.GetIntentId(), r.GetVersion())
			continue
		}
		if first, ok := byID[r.GetIntentId()]; ok {
			if !proto.Equal(first, r) {
				t.Errorf("intent %s was produced twice with different contents:\n%v\n%v", r.GetIntentId(), first, r)
			}
			continue
		}
		byID[r.GetIntentId()] = r
		key := ""
		for _, m := range r.GetMetadata() {
			if m.GetKey() == "idempotency_key" {
				key = m.GetValue()
			}
		}
		if byKey[key] == nil {
			byKey[key] = map[string]bool{}
		}
		byKey[key][r.GetIntentId()] = true
	}
	t.Logf("payments.intents: %d records, %d intents, %d records repeating an event id (a produce repeated after the crash)",
		len(recs), len(byID), duplicates)

	// Nothing accepted was lost, and Kafka has what the client was told.
	resumed := 0
	for i, it := range got {
		key, _ := killRequest(i)
		r, ok := byID[it.ID]
		if !ok {
			t.Errorf("key %s: intent %s was acknowledged (201) but is not in %s", key, it.ID, TopicIntents)
			continue
		}
		if r.GetDepositAddress() != it.DepositAddress || r.GetAddressIndex() != it.AddressIndex {
			t.Errorf("key %s: the client got address %s (index %d), Kafka has %s (%d)", key, it.DepositAddress,
				it.AddressIndex, r.GetDepositAddress(), r.GetAddressIndex())
		}
		if r.GetRequestId() != it.requestID {
			resumed++ // planned by a request that died; answered to a retry
		}
	}
	t.Logf("%d intents were acknowledged to a later request than the one that planned them", resumed)
	// One intent per Idempotency-Key, and only the clients' keys.
	for key, ids := range byKey {
		if len(ids) != 1 {
			t.Errorf("key %q produced %d intents: %v", key, len(ids), ids)
		}
	}
	if len(byKey) != len(got) {
		t.Errorf("%d Idempotency-Keys in %s, want %d", len(byKey), TopicIntents, len(got))
	}
	// No deposit address handed out twice.
	addrs, indexes := map[string]string{}, map[uint32]string{}
	for id, r := range byID {
		if other, ok := indexes[r.GetAddressIndex()]; ok {
			t.Errorf("intents %s and %s share address index %d", id, other, r.GetAddressIndex())
		}
		if other, ok := addrs[r.GetDepositAddress()]; ok {
			t.Errorf("intents %s and %s share deposit address %s", id, other, r.GetDepositAddress())
		}
		indexes[r.GetAddressIndex()], addrs[r.GetDepositAddress()] = id, id
	}
}

// created is what a client got for a key: the intent of its 201 and the Request-Id of
// the request that got it.
type created struct {
	Intent
	requestID string
}

// killRequest returns the Idempotency-Key and the body of request i; the body records
// the key in the intent's metadata.
func killRequest(i int) (key, body string) {
	key = fmt.Sprintf("kill9-%03d", i)
	return key, fmt.Sprintf(`{"amount":"%d","asset":"ETH","chain_id":1337,"metadata":{"idempotency_key":%q}}`, 1000+i, key)
}

// gatewayChild is the gateway Service running as a child process (TestMain) on a fixed
// loopback port, the same for every start.
type gatewayChild struct {
	t   *testing.T
	env []string
	url string
	c   *proctest.Child
}

func newGatewayChild(t *testing.T, e *env, hold time.Duration) *gatewayChild {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	return &gatewayChild{t: t, url: "http://" + addr, env: []string{
		childEnv + "=1",
		"CHILD_ADDR=" + addr,
		"CHILD_BROKERS=" + strings.Join(e.brokers, ","),
		"CHILD_REDIS=" + testenv.Redis(t),
		"CHILD_REDIS_PREFIX=" + e.store.prefix,
		"CHILD_TOPIC_PREFIX=" + e.prefix,
		"CHILD_MASTER_KEY=" + hex.EncodeToString(master),
		"CHILD_HOLD=" + hold.String(),
	}}
}

// start starts the child and waits until it answers.
func (g *gatewayChild) start() {
	g.t.Helper()
	g.c = proctest.Start(g.t, g.env...)
	eventually(g.t, 30*time.Second, func() string {
		res, err := (&http.Client{Timeout: 2 * time.Second}).Get(g.url + "/healthz")
		if err != nil {
			return fmt.Sprintf("gateway child does not answer: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Sprintf("gateway child: /healthz %d", res.StatusCode)
		}
		return ""
	})
}

// killClient is a merchant's API client that retries a create with the same
// Idempotency-Key and body until it gets its 201, counting what went wrong on the way.
// Safe for concurrent use.
type killClient struct {
	url, secret string
	http        *http.Client

	ok, inFlight, failed, unavailable, inUse atomic.Int64
}

// Retry bounds of one create.
const (
	killRetryFor      = 30 * time.Second
	killRetryAttempts = 1000
)

func (c *killClient) create(ctx context.Context, key, body string) (created, error) {
	deadline := time.Now().Add(killRetryFor)
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r, err := c.do(ctx, "POST", "/v1/payment_intents", key, body)
		status, b := r.status, r.body
		switch {
		case err != nil:
			c.failed.Add(1)
		case status == http.StatusCreated:
			var it Intent
			if err := json.Unmarshal(b, &it); err != nil || it.ID == "" || it.Metadata["idempotency_key"] != key {
				return created{}, fmt.Errorf("201 with %s", b)
			}
			return created{Intent: it, requestID: r.header.Get("Request-Id")}, nil
		case status >= 500 || status == http.StatusTooManyRequests:
			c.unavailable.Add(1)
		case status == http.StatusConflict && strings.Contains(string(b), `"idempotency_key_in_use"`):
			c.inUse.Add(1)
		default:
			return created{}, fmt.Errorf("attempt %d: %d %s", attempt, status, b)
		}
		if attempt >= killRetryAttempts || time.Now().Add(backoff).After(deadline) {
			return created{}, fmt.Errorf("no 201 after %d attempts: last %d %s %v", attempt, status, b, err)
		}
		t := time.NewTimer(backoff) // a client's backoff between retries
		select {
		case <-ctx.Done():
			t.Stop()
			return created{}, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// do sends one request with the secret key (and key as Idempotency-Key unless empty).
func (c *killClient) do(ctx context.Context, method, path, key, body string) (response, error) {
	c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}, err
}
