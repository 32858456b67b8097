package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"

	"github.com/weirhq/weir/schemas/eventid"
	"google.golang.org/protobuf/encoding/prototext"
)

var testMaster = []byte("test master key, 32 bytes long!!")

func testSecrets(endpointID string, version uint32) []byte {
	return SecretFor(testMaster, endpointID, version)
}

// memRecorder keeps the recorded events.
type memRecorder struct {
	mu  sync.Mutex
	evs []*paymentsv1.WebhookDelivery
}

func (r *memRecorder) Record(_ context.Context, ev *paymentsv1.WebhookDelivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	return nil
}

// events returns the events recorded for delivery id, in order.
func (r *memRecorder) events(id string) []*paymentsv1.WebhookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*paymentsv1.WebhookDelivery
	for _, ev := range r.evs {
		if ev.GetDeliveryId() == id {
			out = append(out, ev)
		}
	}
	return out
}

// hasStatus reports whether an event with status was recorded for delivery id.
func (r *memRecorder) hasStatus(id string, s paymentsv1.WebhookDeliveryStatus) bool {
	return slices.ContainsFunc(r.events(id), func(ev *paymentsv1.WebhookDelivery) bool { return ev.GetStatus() == s })
}

// request is what the test receiver saw of one request.
type request struct {
	at        time.Time
	header    http.Header
	body      string
	verifyErr error
}

// receiver is a merchant endpoint that verifies signatures with the secret of
// endpoint "ep_1" version 1 (only) and answers with respond(n, w, r) for the n-th
// request (1-based).
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		b := make([]byte, 1<<16)
		n, _ := readFull(r, b)
		body := b[:n]
		err := Verify(r.Header.Get(Header), body, time.Now(), 0, SecretFor(testMaster, "ep_1", 1))
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{at: at, header: r.Header.Clone(), body: string(body), verifyErr: err})
		k := len(rc.reqs)
		rc.mu.Unlock()
		respond(k, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func readFull(r *http.Request, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Body.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

// eventually polls cond every few milliseconds until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startDispatcher runs a dispatcher of q until the test ends (or the returned stop is
// called) and checks that Run returns nil.
func startDispatcher(t *testing.T, q *Queue, rec Recorder, o Options) (stop func()) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	d := NewDispatcher(q, testSecrets, rec, o)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

const (
	succeeded = paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_SUCCEEDED
	retrying  = paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_RETRYING
	failed    = paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_FAILED
)

func TestDispatcherRetriesUntilAccepted(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	const timeout = 300 * time.Millisecond
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
		case 2: // the connection drops
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			conn.Close()
		case 3: // no answer before the dispatcher's timeout
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	d := testDelivery("dlv_retry", rc.srv.URL+"/hooks?token=s3cr3t")
	d.SigningVersions = []uint32{2, 1} // mid-rotation: the receiver knows only version 1
	if _, err := q.Enqueue(ctx, d); err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	const base = 20 * time.Millisecond
	startDispatcher(t, q, rec, Options{Workers: 2, Timeout: timeout, Lease: 10 * time.Second, Poll: 5 * time.Millisecond, Backoff: base})
	eventually(t, "a successful attempt", func() bool { return rec.hasStatus(d.DeliveryID, succeeded) })
	eventually(t, "the delivery to leave the queue", func() bool { n, _ := q.Pending(ctx); return n == 0 })

	reqs := rc.requests()
	if len(reqs) != 4 {
		t.Fatalf("receiver saw %d requests, want 4", len(reqs))
	}
	for i, r := range reqs {
		if r.verifyErr != nil {
			t.Errorf("request %d: Verify = %v", i+1, r.verifyErr)
		}
		want := map[string]string{
			HeaderEventID:    d.SubjectEventID,
			HeaderDeliveryID: d.DeliveryID,
			HeaderSequence:   "7",
			HeaderAttempt:    strconv.Itoa(i + 1),
			"User-Agent":     UserAgent,
			"Content-Type":   "application/json",
		}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("request %d: %s = %q, want %q", i+1, k, got, v)
			}
		}
		if r.body != string(d.Payload) {
			t.Errorf("request %d: body %q", i+1, r.body)
		}
		if n := strings.Count(r.header.Get(Header), "v1="); n != 2 {
			t.Errorf("request %d: %d signatures, want 2", i+1, n)
		}
	}

	evs := rec.events(d.DeliveryID)
	if len(evs) != 4 {
		t.Fatalf("recorded %d events, want 4", len(evs))
	}
	wantStatus := []paymentsv1.WebhookDeliveryStatus{retrying, retrying, retrying, succeeded}
	wantCode := []uint32{500, 0, 0, 204}
	for i, ev := range evs {
		n := uint32(i + 1)
		if ev.GetAttempt() != n || ev.GetStatus() != wantStatus[i] || ev.GetHttpStatusCode() != wantCode[i] {
			t.Errorf("event %d: attempt %d status %v code %d, want %d %v %d", i+1,
				ev.GetAttempt(), ev.GetStatus(), ev.GetHttpStatusCode(), n, wantStatus[i], wantCode[i])
		}
		if want := eventid.New("weir.payments.v1.WebhookDelivery", d.DeliveryID, strconv.Itoa(int(n))); ev.GetMeta().GetEventId() != want {
			t.Errorf("event %d: event id %s, want %s", i+1, ev.GetMeta().GetEventId(), want)
		}
		if ev.GetMerchantId() != d.MerchantID || ev.GetEndpointId() != d.EndpointID ||
			ev.GetSubjectEventId() != d.SubjectEventID || ev.GetWebhookType() != d.Type ||
			ev.GetMeta().GetSource() == "" || ev.GetMeta().GetEventTime() == nil || ev.GetLatency() == nil {
			t.Errorf("event %d: incomplete: %v", i+1, ev)
		}
		text := prototext.Format(ev)
		for _, secret := range []string{"s3cr3t", rc.srv.URL, strings.TrimPrefix(rc.srv.URL, "http://"), `"id"`} {
			if strings.Contains(text, secret) {
				t.Errorf("event %d leaks %q: %s", i+1, secret, text)
			}
		}
		if wantStatus[i] == retrying {
			next := ev.GetNextAttemptTime().AsTime()
			delay := next.Sub(ev.GetMeta().GetEventTime().AsTime())
			full := base << (n - 1)
			if delay < full*3/4 || delay > full {
				t.Errorf("event %d: backoff %v, want in [%v, %v]", i+1, delay, full*3/4, full)
			}
			// The next attempt was not made before it was due.
			if at := reqs[i+1].at; at.Before(next) {
				t.Errorf("attempt %d at %v, before its due time %v", n+1, at, next)
			}
		} else if ev.GetNextAttemptTime() != nil {
			t.Errorf("event %d: next attempt time set on %v", i+1, ev.GetStatus())
		}
	}
	if evs[1].GetError() == "" || evs[2].GetError() != "timeout" || evs[0].GetError() != "" || evs[3].GetError() != "" {
		t.Errorf("errors = %q, %q, %q, %q; want \"\", a transport error, \"timeout\", \"\"",
			evs[0].GetError(), evs[1].GetError(), evs[2].GetError(), evs[3].GetError())
	}
	if lat := evs[2].GetLatency().AsDuration(); lat < timeout {
		t.Errorf("timed-out attempt latency %v, want >= %v", lat, timeout)
	}
	// Finished deliveries stay findable (for Replay) and keep their attempt count.
	got, finished, err := q.Lookup(ctx, d.DeliveryID)
	if err != nil || !finished || got.Attempt != 4 || got.FirstAttempt.IsZero() {
		t.Fatalf("Lookup = %+v, %v, %v", got, finished, err)
	}
}

func TestDispatcherGivesUp(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler) // the connection drops every time
	})
	d := testDelivery("dlv_giveup", rc.srv.URL)
	if _, err := q.Enqueue(ctx, d); err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	const giveUp = 150 * time.Millisecond
	stop := startDispatcher(t, q, rec, Options{
		Poll: 5 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 30 * time.Millisecond,
		GiveUpAfter: giveUp, Timeout: time.Second,
	})
	eventually(t, "a FAILED attempt", func() bool { return rec.hasStatus(d.DeliveryID, failed) })
	// The attempt is recorded before the delivery leaves the queue (a failed record keeps
	// it leased), so the queue empties just after the FAILED event.
	eventually(t, "the queue empty after the give-up", func() bool {
		n, err := q.Pending(ctx)
		return err == nil && n == 0
	})
	stop()
	evs := rec.events(d.DeliveryID)
	if len(evs) < 2 {
		t.Fatalf("only %d attempts before giving up", len(evs))
	}
	for i, ev := range evs {
		want := retrying
		if i == len(evs)-1 {
			want = failed
		}
		if ev.GetStatus() != want || ev.GetAttempt() != uint32(i+1) || ev.GetError() == "" {
			t.Errorf("event %d: %v attempt %d error %q, want %v", i+1, ev.GetStatus(), ev.GetAttempt(), ev.GetError(), want)
		}
	}
	last := evs[len(evs)-1]
	if last.GetNextAttemptTime() != nil {
		t.Errorf("FAILED event has a next attempt time")
	}
	// No attempt after the last recorded one.
	if n := len(rc.requests()); n != len(evs) {
		t.Errorf("receiver saw %d requests, %d recorded", n, len(evs))
	}
	got, finished, err := q.Lookup(ctx, d.DeliveryID)
	if err != nil || !finished || got.FirstAttempt.IsZero() {
		t.Fatalf("Lookup = %+v, finished %v, %v", got, finished, err)
	}
	if span := last.GetMeta().GetEventTime().AsTime().Sub(got.FirstAttempt); span < giveUp {
		t.Errorf("gave up %v after the first attempt, want >= %v", span, giveUp)
	}
	if prev := evs[len(evs)-2].GetMeta().GetEventTime().AsTime().Sub(got.FirstAttempt); prev >= giveUp {
		t.Errorf("attempt %d, %v after the first, was not the last", len(evs)-1, prev)
	}
}

func TestDispatcherDefaultRetryWindow(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	now := time.Now()
	young := testDelivery("dlv_71h", rc.srv.URL)
	young.FirstAttempt, young.Attempt = now.Add(-71*time.Hour), 9
	old := testDelivery("dlv_72h", rc.srv.URL)
	old.FirstAttempt, old.Attempt = now.Add(-72*time.Hour-time.Second), 20
	for _, d := range []Delivery{young, old} {
		if _, err := q.Enqueue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	rec := &memRecorder{}
	startDispatcher(t, q, rec, Options{Poll: 5 * time.Millisecond}) // default backoff and window
	eventually(t, "both attempts", func() bool {
		return len(rec.events(young.DeliveryID)) == 1 && len(rec.events(old.DeliveryID)) == 1
	})
	if ev := rec.events(old.DeliveryID)[0]; ev.GetStatus() != failed || ev.GetHttpStatusCode() != 502 {
		t.Errorf("after 72 h: %v code %d, want FAILED 502", ev.GetStatus(), ev.GetHttpStatusCode())
	}
	ev := rec.events(young.DeliveryID)[0]
	if ev.GetStatus() != retrying {
		t.Fatalf("after 71 h: %v, want RETRYING", ev.GetStatus())
	}
	// Attempt 9 failed: 30 s · 2^8 = 2 h 8 min, jittered down by at most a quarter.
	delay := ev.GetNextAttemptTime().AsTime().Sub(ev.GetMeta().GetEventTime().AsTime())
	if full := 30 * time.Second << 8; delay < full*3/4 || delay > full {
		t.Errorf("backoff after attempt 9 = %v, want in [%v, %v]", delay, full*3/4, full)
	}
	eventually(t, "the 72 h delivery to leave the queue", func() bool { n, _ := q.Pending(ctx); return n == 1 })
	if _, finished, err := q.Lookup(ctx, young.DeliveryID); err != nil || finished {
		t.Errorf("71 h delivery: finished %v, %v; want pending", finished, err)
	}
}

func TestBackoffCapped(t *testing.T) {
	d := NewDispatcher(nil, nil, nil, Options{})
	for attempt := uint32(1); attempt < 200; attempt++ {
		full := min(DefaultBackoff<<min(attempt-1, 20), DefaultMaxBackoff)
		if b := d.backoff(attempt); b < full*3/4 || b > full {
			t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt, b, full*3/4, full)
		}
	}
}

func TestDispatcherRetriesAbandonedClaim(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {})
	d := testDelivery("dlv_abandoned", rc.srv.URL)
	if _, err := q.Enqueue(ctx, d); err != nil {
		t.Fatal(err)
	}
	// A worker claims the delivery and dies: no Done, no Reschedule.
	const lease = 300 * time.Millisecond
	claimedAt := time.Now()
	if got, err := q.Claim(ctx, claimedAt, lease, 10); err != nil || len(got) != 1 {
		t.Fatalf("Claim = %v, %v", got, err)
	}
	rec := &memRecorder{}
	startDispatcher(t, q, rec, Options{Poll: 5 * time.Millisecond, Lease: lease})
	eventually(t, "the abandoned delivery to be delivered", func() bool { return rec.hasStatus(d.DeliveryID, succeeded) })
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver saw %d requests, want 1", len(reqs))
	}
	if reqs[0].at.Before(claimedAt.Add(lease)) {
		t.Errorf("retried %v after the claim, before the lease of %v ended", reqs[0].at.Sub(claimedAt), lease)
	}
	if ev := rec.events(d.DeliveryID)[0]; ev.GetAttempt() != 1 {
		t.Errorf("attempt %d, want 1 (the dead worker's attempt is redone)", ev.GetAttempt())
	}
}

func TestDispatcherReplay(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {})
	d := testDelivery("dlv_orig", rc.srv.URL)
	if _, err := q.Enqueue(ctx, d); err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	startDispatcher(t, q, rec, Options{Poll: 5 * time.Millisecond})
	eventually(t, "the delivery", func() bool { return rec.hasStatus(d.DeliveryID, succeeded) })
	eventually(t, "the delivery to finish", func() bool { n, _ := q.Pending(ctx); return n == 0 })

	cp, err := q.Replay(ctx, d.DeliveryID, "dlv_replay")
	if err != nil {
		t.Fatal(err)
	}
	if cp.DeliveryID != "dlv_replay" || cp.SubjectEventID != d.SubjectEventID || cp.Attempt != 1 {
		t.Fatalf("Replay = %+v", cp)
	}
	eventually(t, "the replay", func() bool { return rec.hasStatus("dlv_replay", succeeded) })
	// Replaying again under the same new id does nothing.
	if _, err := q.Replay(ctx, d.DeliveryID, "dlv_replay"); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Pending(ctx); n != 0 {
		t.Fatalf("Pending after a repeated replay = %d, want 0", n)
	}
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver saw %d requests, want 2", len(reqs))
	}
	for i, want := range []string{"dlv_orig", "dlv_replay"} {
		h := reqs[i].header
		if h.Get(HeaderDeliveryID) != want || h.Get(HeaderEventID) != d.SubjectEventID || h.Get(HeaderAttempt) != "1" || reqs[i].verifyErr != nil {
			t.Errorf("request %d: delivery %q event %q attempt %q verify %v", i+1,
				h.Get(HeaderDeliveryID), h.Get(HeaderEventID), h.Get(HeaderAttempt), reqs[i].verifyErr)
		}
	}
	if ev := rec.events("dlv_replay")[0]; ev.GetMeta().GetEventId() == rec.events("dlv_orig")[0].GetMeta().GetEventId() {
		t.Error("the replay's attempt event has the original's event id")
	}
}

func TestDispatcherNoRedirect(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	var mu sync.Mutex
	followed := 0
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			mu.Lock()
			followed++
			mu.Unlock()
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	d := testDelivery("dlv_redirect", rc.srv.URL+"/hook")
	if _, err := q.Enqueue(ctx, d); err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	startDispatcher(t, q, rec, Options{Poll: 5 * time.Millisecond})
	eventually(t, "an attempt", func() bool { return len(rec.events(d.DeliveryID)) > 0 })
	ev := rec.events(d.DeliveryID)[0]
	if ev.GetStatus() != retrying || ev.GetHttpStatusCode() != http.StatusTemporaryRedirect {
		t.Errorf("redirect: %v code %d, want RETRYING 307", ev.GetStatus(), ev.GetHttpStatusCode())
	}
	mu.Lock()
	defer mu.Unlock()
	if followed != 0 {
		t.Errorf("redirect followed %d times", followed)
	}
}

func TestDispatcherStopsOnCancel(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			close(arrived)
			<-release
		}
	})
	d := testDelivery("dlv_inflight", rc.srv.URL)
	if _, err := q.Enqueue(ctx, d); err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	disp := NewDispatcher(q, testSecrets, rec, Options{Poll: 5 * time.Millisecond, Timeout: 10 * time.Second})
	go func() { done <- disp.Run(runCtx) }()
	select {
	case <-arrived:
	case <-time.After(15 * time.Second):
		t.Fatal("no request")
	}
	cancel()
	// The attempt in flight holds Run until it finishes.
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with an attempt in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if evs := rec.events(d.DeliveryID); len(evs) != 1 || evs[0].GetStatus() != succeeded {
		t.Fatalf("events = %v, want one SUCCEEDED", evs)
	}
	if n, _ := q.Pending(ctx); n != 0 {
		t.Fatalf("Pending = %d, want 0", n)
	}

	// An idle dispatcher stops at once too.
	idleCtx, idleCancel := context.WithCancel(ctx)
	go func() { done <- disp.Run(idleCtx) }()
	idleCancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("idle Run did not return after cancel")
	}
}

func TestDispatchersShareQueue(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	const (
		deliveries  = 100
		dispatchers = 2
		workers     = 4
	)
	var (
		mu                sync.Mutex
		seen              = map[string]int{}
		inFlight, maxSeen int
	)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get(HeaderDeliveryID)]++
		inFlight++
		maxSeen = max(maxSeen, inFlight)
		mu.Unlock()
		time.Sleep(time.Millisecond) // some latency, so that attempts overlap
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	for i := range deliveries {
		if _, err := q.Enqueue(ctx, testDelivery(fmt.Sprintf("dlv_%03d", i), rc.srv.URL)); err != nil {
			t.Fatal(err)
		}
	}
	rec := &memRecorder{}
	for range dispatchers {
		startDispatcher(t, q, rec, Options{Workers: workers, Poll: 5 * time.Millisecond})
	}
	eventually(t, "every delivery", func() bool { n, _ := q.Pending(ctx); return n == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != deliveries {
		t.Fatalf("%d deliveries received, want %d", len(seen), deliveries)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s received %d times", id, n)
		}
	}
	if maxSeen > dispatchers*workers {
		t.Errorf("%d attempts in flight, more than %d workers", maxSeen, dispatchers*workers)
	}
	for _, v := range rc.requests() {
		if v.verifyErr != nil {
			t.Fatalf("Verify = %v", v.verifyErr)
		}
	}
}
