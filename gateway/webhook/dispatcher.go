package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"

	"github.com/weirhq/weir/schemas/eventid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Recorder records delivery attempts, typically by producing them to the
// payments.webhooks topic. Record is called once per attempt, from several workers at
// once, so it must be safe for concurrent use; it blocks until the event is durable. When
// it fails, the Dispatcher leaves the delivery to be claimed again after the lease, and
// the attempt is repeated and recorded again under the same event id.
type Recorder interface {
	Record(ctx context.Context, ev *paymentsv1.WebhookDelivery) error
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(ctx context.Context, ev *paymentsv1.WebhookDelivery) error

// Record calls f.
func (f RecorderFunc) Record(ctx context.Context, ev *paymentsv1.WebhookDelivery) error {
	return f(ctx, ev)
}

// Options configures a Dispatcher. The zero value of every field (or a negative value)
// means its default.
type Options struct {
	// Workers is the number of attempts in flight at once. Default 8.
	Workers int
	// Timeout bounds one attempt: connect, request and response. Default 10 s.
	Timeout time.Duration
	// Lease is how long a claimed delivery stays invisible to other claims; a worker that
	// dies holding one delays it by at most Lease. Keep it well above Timeout.
	// Default 1 min.
	Lease time.Duration
	// Poll is how long the dispatcher waits before claiming again when nothing was due
	// or Redis failed. Default 250 ms.
	Poll time.Duration
	// Backoff is the delay after the first failed attempt; it doubles after each failed
	// attempt, capped at MaxBackoff. Each delay d is drawn uniformly from [¾d, d].
	// Default 30 s.
	Backoff time.Duration
	// MaxBackoff caps the delay between attempts. Default 6 h.
	MaxBackoff time.Duration
	// GiveUpAfter is how long after the first attempt retries go on: an attempt that
	// fails that long or longer after it is the last, recorded FAILED. Default 72 h.
	GiveUpAfter time.Duration
	// HTTPClient sends the requests. Its CheckRedirect is replaced: redirects are never
	// followed (a 3xx is a failed attempt). Default: a client with
	// http.DefaultTransport's settings.
	HTTPClient *http.Client
	// Clock returns the current time, for signatures, scheduling and events. Default
	// time.Now.
	Clock func() time.Time
	// Logger receives errors and give-ups; it never sees URLs, bodies or secrets.
	// Default: discard.
	Logger *slog.Logger
	// Source is Meta.source of the recorded events. Default "gateway/webhook".
	Source string
}

// Defaults of Options.
const (
	DefaultWorkers     = 8
	DefaultTimeout     = 10 * time.Second
	DefaultLease       = time.Minute
	DefaultPoll        = 250 * time.Millisecond
	DefaultBackoff     = 30 * time.Second
	DefaultMaxBackoff  = 6 * time.Hour
	DefaultGiveUpAfter = 72 * time.Hour
	DefaultSource      = "gateway/webhook"
)

// maxResponse is how much of a response body is read (and discarded, so that the
// connection can be reused).
const maxResponse = 4 << 10

// setDefaults fills the zero fields of o.
func (o *Options) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = DefaultGiveUpAfter
	}
	var c http.Client
	if o.HTTPClient != nil {
		c = *o.HTTPClient
	} else {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.HTTPClient = &c
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Source == "" {
		o.Source = DefaultSource
	}
}

// Dispatcher delivers the deliveries of a Queue: it claims due ones, POSTs them signed
// to their endpoint, records every attempt with a Recorder and reschedules failures with
// exponential backoff until Options.GiveUpAfter. Several dispatchers, in one or many
// processes, may share a queue.
type Dispatcher struct {
	q       *Queue
	secrets func(endpointID string, version uint32) []byte
	rec     Recorder
	o       Options
}

// NewDispatcher returns a dispatcher of q. secrets returns version version of an
// endpoint's signing secret (e.g. SecretFor with the master key), or nil when it is
// unknown; it is called concurrently. Every attempt is recorded with rec.
func NewDispatcher(q *Queue, secrets func(endpointID string, version uint32) []byte, rec Recorder, opts Options) *Dispatcher {
	opts.setDefaults()
	return &Dispatcher{q: q, secrets: secrets, rec: rec, o: opts}
}

// Run delivers until ctx is done, with a pool of Options.Workers goroutines that it
// owns. When ctx is done it stops claiming, lets in-flight attempts finish (each bounded
// by Options.Timeout), releases deliveries it claimed but did not start, and returns
// nil. Redis errors are logged and retried after Options.Poll; they do not stop Run.
// Run may be called several times at once (each call has its own pool), but one call per
// process is the intended use.
func (d *Dispatcher) Run(ctx context.Context) error {
	jobs := make(chan Delivery, d.o.Workers)
	// idle holds one token per idle worker: the poller claims only what it can start.
	idle := make(chan struct{}, d.o.Workers)
	for range d.o.Workers {
		idle <- struct{}{}
	}
	var wg sync.WaitGroup
	for range d.o.Workers {
		wg.Go(func() {
			for job := range jobs {
				d.work(ctx, job)
				idle <- struct{}{}
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		// Wait for a free worker, then take every free one.
		select {
		case <-ctx.Done():
			return nil
		case <-idle:
		}
		n := 1
	drain:
		for {
			select {
			case <-idle:
				n++
			default:
				break drain
			}
		}
		// Not cancelled with ctx: a claim that reached Redis must come back, so that the
		// workers release what they will not start rather than leave it leased.
		claimed, err := d.q.Claim(context.WithoutCancel(ctx), d.o.Clock(), d.o.Lease, n)
		if err != nil && ctx.Err() == nil {
			d.o.Logger.Error("webhook: claim", "err", err)
		}
		for _, job := range claimed {
			jobs <- job // never blocks: len(claimed) <= n free workers
		}
		for range n - len(claimed) {
			idle <- struct{}{}
		}
		if len(claimed) == n && err == nil {
			continue // maybe more due: claim again as soon as a worker frees
		}
		timer.Reset(d.o.Poll)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// work makes one attempt of job, records it and updates the queue. After ctx is done it
// only releases job. Its own calls use a context that outlives ctx, so that an attempt
// in flight at shutdown is finished and recorded.
func (d *Dispatcher) work(ctx context.Context, job Delivery) {
	bg := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		// Claimed but not started: make it due again at once rather than after the lease.
		if err := d.q.Reschedule(bg, job, d.o.Clock()); err != nil {
			d.o.Logger.Warn("webhook: release", "delivery_id", job.DeliveryID, "err", err)
		}
		return
	}
	if job.Attempt == 0 {
		job.Attempt = 1
	}
	start := d.o.Clock()
	if job.FirstAttempt.IsZero() {
		job.FirstAttempt = start
	}
	code, terr := d.send(bg, job, start)
	end := d.o.Clock()

	ev := &paymentsv1.WebhookDelivery{
		Meta: &commonv1.Meta{
			EventId:   eventid.New(eventKind, job.DeliveryID, strconv.FormatUint(uint64(job.Attempt), 10)),
			EventTime: timestamppb.New(end),
			Source:    d.o.Source,
		},
		DeliveryId:     job.DeliveryID,
		MerchantId:     job.MerchantID,
		EndpointId:     job.EndpointID,
		SubjectEventId: job.SubjectEventID,
		WebhookType:    job.Type,
		Attempt:        job.Attempt,
		HttpStatusCode: uint32(code),
		Error:          terr,
		Latency:        durationpb.New(end.Sub(start)),
	}
	var next time.Time
	switch {
	case code >= 200 && code < 300:
		ev.Status = paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_SUCCEEDED
	case end.Sub(job.FirstAttempt) >= d.o.GiveUpAfter:
		ev.Status = paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_FAILED
	default:
		ev.Status = paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_RETRYING
		next = end.Add(d.backoff(job.Attempt))
		ev.NextAttemptTime = timestamppb.New(next)
	}
	log := d.o.Logger.With("delivery_id", job.DeliveryID, "endpoint_id", job.EndpointID, "attempt", job.Attempt)
	if err := d.rec.Record(bg, ev); err != nil {
		// Leave the delivery leased: it is claimed again after the lease, and this
		// attempt is repeated and recorded under the same event id.
		log.Error("webhook: record attempt", "err", err)
		return
	}
	var err error
	if ev.Status == paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_RETRYING {
		job.Attempt++
		err = d.q.Reschedule(bg, job, next)
	} else {
		if ev.Status == paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_FAILED {
			log.Warn("webhook: giving up", "first_attempt", job.FirstAttempt, "http_status", code, "error", terr)
		}
		err = d.q.Done(bg, job)
	}
	if err != nil {
		log.Error("webhook: update queue", "err", err)
	}
}

// eventKind is the full name of WebhookDelivery, the kind of its event ids.
var eventKind = string((*paymentsv1.WebhookDelivery)(nil).ProtoReflect().Descriptor().FullName())

// backoff returns the delay after failed attempt attempt (1-based): Backoff·2^(attempt-1)
// capped at MaxBackoff, drawn uniformly from [¾ of it, all of it].
func (d *Dispatcher) backoff(attempt uint32) time.Duration {
	b := d.o.Backoff
	for i := uint32(1); i < attempt && b < d.o.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.o.MaxBackoff)
	j := b / 4
	if j <= 0 {
		return b
	}
	return b - rand.N(j)
}

// send POSTs job signed at now and returns the HTTP status code, or 0 and a short
// transport error. The error never holds the URL.
func (d *Dispatcher) send(ctx context.Context, job Delivery, now time.Time) (int, string) {
	secrets := make([][]byte, 0, len(job.SigningVersions))
	for _, v := range job.SigningVersions {
		if s := d.secrets(job.EndpointID, v); len(s) > 0 {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 {
		return 0, "no signing secret"
	}
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.URL, bytes.NewReader(job.Payload))
	if err != nil {
		return 0, "invalid url"
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(Header, Sign(job.Payload, now, secrets...))
	h.Set(HeaderEventID, job.SubjectEventID)
	h.Set(HeaderDeliveryID, job.DeliveryID)
	h.Set(HeaderSequence, strconv.FormatUint(job.Sequence, 10))
	h.Set(HeaderAttempt, strconv.FormatUint(uint64(job.Attempt), 10))
	resp, err := d.o.HTTPClient.Do(req)
	if err != nil {
		return 0, transportError(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	_ = resp.Body.Close()
	return resp.StatusCode, ""
}

// transportError names the class of a transport error in a few words. It never returns
// err's text, which holds the URL and addresses.
func transportError(err error) string {
	var (
		dnsErr *net.DNSError
		tlsErr *tls.RecordHeaderError
		certV  *tls.CertificateVerificationError
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &dnsErr):
		return "dns lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &tlsErr), errors.As(err, &certV):
		return "tls error"
	default:
		return "transport error"
	}
}
