package alerts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/schemas/codec"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// Defaults of NotifierConfig.
const (
	DefaultWebhookComponent = "alerts-webhook" // the `weir run` name of the notifier
	DefaultWebhookGroup     = "weir-alerts-webhook"
	DefaultMinSeverity      = riskv1.Severity_SEVERITY_HIGH
	DefaultWebhookTimeout   = 10 * time.Second
	DefaultWebhookBackoff   = time.Second
	DefaultWebhookMaxWait   = time.Minute
)

// Headers of a webhook request, for receivers that deduplicate.
const (
	HeaderAlertID      = "Weir-Alert-Id"
	HeaderAlertVersion = "Weir-Alert-Version"
	HeaderIdempotency  = "Idempotency-Key" // the alert event's Meta.event_id
)

// NotifierConfig configures a Notifier. Only URLs is required.
type NotifierConfig struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// URLs are the webhook endpoints (Slack incoming webhooks or compatible). They are
	// secrets (a Slack URL holds its token): they are never logged. Required.
	URLs []string
	// Topic is the alerts topic. Default: "risk.alerts".
	Topic string
	// Group is the consumer group, whose committed offsets say what was delivered.
	// Default: "weir-alerts-webhook".
	Group string
	// MinSeverity is the least severity delivered. Default: HIGH.
	MinSeverity riskv1.Severity
	// FromBeginning makes a group without committed offsets start at the topic's start
	// instead of its end (which skips the alerts raised before the first start).
	// Default: false.
	FromBeginning bool
	// Timeout bounds one POST. Default: 10s.
	Timeout time.Duration
	// Backoff is the wait after a first failed attempt; it doubles up to MaxBackoff,
	// each wait drawn from [¾w, w]. Defaults: 1s, up to 1m.
	Backoff, MaxBackoff time.Duration
	// MaxAttempts bounds the attempts at one alert on one URL that fails transiently
	// (a transport error, 408, 429, 5xx); 0 retries until the Notifier stops, so that an
	// endpoint that is down holds the alerts back instead of losing them. A permanent
	// refusal (another 4xx) is logged and not retried. Default: 0.
	MaxAttempts int
	// Client sends the requests. Default: an http.Client without redirects.
	Client *http.Client
	// Logger receives delivery failures (never the URL or the body). Default: discard.
	Logger *slog.Logger
	// Registerer gets the counter weir_alerts_webhook_attempts_total{outcome}, outcome
	// one of delivered, failed (to be retried), refused, gave_up. Default: none.
	Registerer prometheus.Registerer
	// KafkaOpts are added to the consumer's options (TLS, SASL).
	KafkaOpts []kgo.Opt
}

func (c *NotifierConfig) setDefaults() {
	if c.Topic == "" {
		c.Topic = DefaultOutput
	}
	if c.Group == "" {
		c.Group = DefaultWebhookGroup
	}
	if c.MinSeverity == riskv1.Severity_SEVERITY_UNSPECIFIED {
		c.MinSeverity = DefaultMinSeverity
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultWebhookTimeout
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultWebhookBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = max(DefaultWebhookMaxWait, c.Backoff)
	}
	if c.Client == nil {
		c.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports what is missing or malformed.
func (c NotifierConfig) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("alerts webhook: no brokers"))
	}
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("alerts webhook: no URLs"))
	}
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			// The URL is a secret: name it by its position only.
			errs = append(errs, fmt.Errorf("alerts webhook: URL %d: want an http(s) URL with a host", i+1))
		}
	}
	if c.MinSeverity != riskv1.Severity_SEVERITY_UNSPECIFIED && !validSeverity(c.MinSeverity) {
		errs = append(errs, fmt.Errorf("alerts webhook: min severity %v", c.MinSeverity))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, errors.New("alerts webhook: max attempts must not be negative"))
	}
	return errors.Join(errs...)
}

// Notifier posts alerts to webhooks: a consumer of the alerts topic in its own group,
// reading committed records only, that commits a record's offset once every URL took
// its alert (or refused it for good). Delivery is at least once: a Notifier that stops
// between a POST and the commit posts that alert again when it restarts, with the same
// Idempotency-Key. It is a weir component (Name, Run, Describe).
type Notifier struct {
	cfg      NotifierConfig
	log      *slog.Logger
	attempts *prometheus.CounterVec
}

// NewNotifier checks cfg and returns a Notifier. It does no I/O.
func NewNotifier(cfg NotifierConfig) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	n := &Notifier{cfg: cfg, log: cfg.Logger.With("component", DefaultWebhookComponent),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_alerts_webhook_attempts_total",
			Help: "Webhook POSTs of alerts, by outcome: delivered, failed (to be retried), refused, gave_up.",
		}, []string{"outcome"})}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(n.attempts); err != nil {
			return nil, fmt.Errorf("alerts webhook: metrics: %w", err)
		}
	}
	return n, nil
}

// Name returns "alerts-webhook".
func (n *Notifier) Name() string { return DefaultWebhookComponent }

// Describe says what the notifier reads and where it posts.
func (n *Notifier) Describe() string {
	return fmt.Sprintf("reads %s (group %s), posts alerts of severity %s or more to %d webhook URLs",
		n.cfg.Topic, n.cfg.Group, SeverityName(n.cfg.MinSeverity), len(n.cfg.URLs))
}

// Run delivers alerts until ctx is done, then commits what was delivered and returns
// nil. It blocks; it must be called once.
func (n *Notifier) Run(ctx context.Context) error {
	reset := kgo.NewOffset().AtEnd()
	if n.cfg.FromBeginning {
		reset = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, n.cfg.KafkaOpts...),
		kgo.SeedBrokers(n.cfg.Brokers...),
		kgo.ConsumerGroup(n.cfg.Group),
		kgo.ConsumeTopics(n.cfg.Topic),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.DisableAutoCommit(),
		// Rebalances wait until the polled records are delivered and committed, so a
		// partition never moves with delivered but uncommitted records.
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxPartitionBytes(1<<20),
	)...)
	if err != nil {
		return fmt.Errorf("alerts webhook: kafka client: %w", err)
	}
	defer cl.CloseAllowingRebalance() // a poll may have blocked rebalances: leaving needs one
	for {
		fs := cl.PollRecords(ctx, 100)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			n.log.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
		})
		var done []*kgo.Record
		stopped := false
		fs.EachRecord(func(r *kgo.Record) {
			if stopped {
				return
			}
			if err := n.deliver(ctx, r); err != nil {
				stopped = true // ctx is done: this record and the rest stay uncommitted
				return
			}
			done = append(done, r)
		})
		if len(done) > 0 {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := cl.CommitRecords(cctx, done...); err != nil {
				n.log.Warn("commit failed; the delivered alerts will be posted again", "err", err)
			}
			cancel()
		}
		cl.AllowRebalance()
		if stopped {
			return nil
		}
	}
}

// deliver posts the alert of r to every URL unless it is below the minimum severity. It
// returns an error only when ctx is done before every URL took it.
func (n *Notifier) deliver(ctx context.Context, r *kgo.Record) error {
	var a riskv1.RiskAlert
	if err := codec.Unmarshal(r.Value, &a); err != nil {
		n.log.Error("skipping an undecodable alert", "partition", r.Partition, "offset", r.Offset, "err", err)
		return nil
	}
	if a.GetSeverity() < n.cfg.MinSeverity {
		return nil
	}
	body, err := Slack(&a).JSON()
	if err != nil {
		n.log.Error("skipping an alert whose body cannot be encoded", "alert", a.GetAlertId(), "err", err)
		return nil
	}
	for i, u := range n.cfg.URLs {
		if err := n.post(ctx, i, u, &a, body); err != nil {
			return err
		}
	}
	return nil
}

// errPermanent marks a refusal that retrying will not change.
var errPermanent = errors.New("refused")

// post sends body to one URL until it is taken, refused for good, out of attempts, or
// ctx is done (the only error returned).
func (n *Notifier) post(ctx context.Context, index int, u string, a *riskv1.RiskAlert, body []byte) error {
	for attempt := 1; ; attempt++ {
		err := n.attempt(ctx, u, a, body)
		if err == nil {
			n.attempts.WithLabelValues("delivered").Inc()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log := n.log.With("endpoint", index+1, "alert", a.GetAlertId(), "version", a.GetVersion(), "attempt", attempt)
		if errors.Is(err, errPermanent) {
			n.attempts.WithLabelValues("refused").Inc()
			log.Error("webhook refused the alert; not retrying", "err", err)
			return nil
		}
		if n.cfg.MaxAttempts > 0 && attempt >= n.cfg.MaxAttempts {
			n.attempts.WithLabelValues("gave_up").Inc()
			log.Error("webhook delivery failed; giving up", "err", err)
			return nil
		}
		n.attempts.WithLabelValues("failed").Inc()
		wait := n.backoff(attempt)
		log.Warn("webhook delivery failed; retrying", "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (n *Notifier) attempt(ctx context.Context, u string, a *riskv1.RiskAlert, body []byte) error {
	actx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: bad request", errPermanent) // the URL was validated; say nothing of it
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderAlertID, a.GetAlertId())
	req.Header.Set(HeaderAlertVersion, strconv.FormatUint(a.GetVersion(), 10))
	req.Header.Set(HeaderIdempotency, a.GetMeta().GetEventId())
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, which is a secret: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("status %d", c)
	default:
		return fmt.Errorf("%w: status %d", errPermanent, c)
	}
}

// backoff returns the wait after failed attempt (1-based): Backoff·2^(attempt-1) capped
// at MaxBackoff, drawn uniformly from [¾ of it, all of it].
func (n *Notifier) backoff(attempt int) time.Duration {
	b := n.cfg.Backoff
	for i := 1; i < attempt && b < n.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, n.cfg.MaxBackoff)
	return b - time.Duration(rand.Int64N(int64(b)/4+1))
}
