package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/gateway/webhook"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// webhookEvent is the body of a webhook: the intent as it is after the transition.
type webhookEvent struct {
	ID       string    `json:"id"`
	Object   string    `json:"object"`
	Type     string    `json:"type"`
	Created  time.Time `json:"created"`
	Sequence uint64    `json:"sequence"`
	Data     struct {
		Object Intent `json:"object"`
	} `json:"data"`
}

// Fanout turns intent transitions into webhook deliveries, one per enabled endpoint of the
// intent's merchant. Delivery ids are derived from the transition's event id and the
// endpoint, and the queue is idempotent on them, so fanning a transition out again (after
// a crash or a projection rebuild) delivers nothing twice while the first delivery is
// remembered. Transitions older than MaxAge are not fanned out: a rebuild does not replay
// months of webhooks.
type Fanout struct {
	// Store is the projection (merchant configurations). Required.
	Store *Store
	// Queue is the delivery queue. Required.
	Queue *webhook.Queue
	// MaxAge bounds the age of a transition that is still delivered. Default 72 h.
	MaxAge time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Intent enqueues the deliveries of it. It has the signature of Projector.OnIntent.
func (f *Fanout) Intent(ctx context.Context, it *paymentsv1.IntentTransition) error {
	now := time.Now()
	if f.Now != nil {
		now = f.Now()
	}
	maxAge := f.MaxAge
	if maxAge <= 0 {
		maxAge = 72 * time.Hour
	}
	if now.Sub(it.GetMeta().GetEventTime().AsTime()) > maxAge {
		return nil
	}
	m, err := f.Store.Merchant(ctx, it.GetMerchantId())
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(m.GetWebhookEndpoints()) == 0 {
		return nil
	}
	ev := webhookEvent{ID: it.GetMeta().GetEventId(), Object: "event", Type: "payment_intent." + Status(it.GetState()),
		Created: it.GetMeta().GetEventTime().AsTime().UTC(), Sequence: it.GetVersion()}
	ev.Data.Object = intentView(it)
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("gateway: webhook body: %w", err)
	}
	for _, ep := range m.GetWebhookEndpoints() {
		if ep.GetDisabled() {
			continue
		}
		d := webhook.Delivery{
			DeliveryID:      deliveryID(ev.ID, ep.GetEndpointId()),
			MerchantID:      it.GetMerchantId(),
			EndpointID:      ep.GetEndpointId(),
			URL:             ep.GetUrl(),
			SubjectEventID:  ev.ID,
			Type:            ev.Type,
			Sequence:        it.GetVersion(),
			Payload:         body,
			SigningVersions: signingVersions(ep, now),
		}
		if _, err := f.Queue.Enqueue(ctx, d); err != nil {
			return fmt.Errorf("gateway: enqueue webhook: %w", err)
		}
	}
	return nil
}

// signingVersions are the secret versions a delivery made at now is signed with.
func signingVersions(ep *paymentsv1.WebhookEndpoint, now time.Time) []uint32 {
	v := []uint32{ep.GetSigningVersion()}
	if p := ep.GetPreviousSigningVersion(); p != 0 && ep.GetPreviousSigningExpiresTime() != nil &&
		now.Before(ep.GetPreviousSigningExpiresTime().AsTime()) {
		v = append(v, p)
	}
	return v
}

// deliveryID derives the id of the delivery of event to endpoint ("wd_…").
func deliveryID(event, endpoint string) string {
	h := sha256.Sum256([]byte(event + "\x00" + endpoint))
	return "wd_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:16]))
}

// Recorder returns a webhook.Recorder producing each attempt to payments.webhooks (keyed by
// merchant), waiting for Kafka's acknowledgement.
func Recorder(cl *kgo.Client, topicPrefix string) webhook.Recorder {
	return webhook.RecorderFunc(func(ctx context.Context, ev *paymentsv1.WebhookDelivery) error {
		b, err := proto.Marshal(ev)
		if err != nil {
			return err
		}
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topicPrefix + TopicWebhooks, Key: []byte(ev.GetMerchantId()), Value: b}).FirstErr()
	})
}

// Secrets returns the function a webhook.Dispatcher signs with: endpoint secrets derived
// from master.
func Secrets(master []byte) func(endpointID string, version uint32) []byte {
	return func(endpointID string, version uint32) []byte { return webhook.SecretFor(master, endpointID, version) }
}

// webhookEndpoint is an endpoint as the API shows it. Secret is set only in the answer
// that creates or rolls it.
type webhookEndpoint struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	URL     string `json:"url"`
	Version uint32 `json:"signing_version"`
	Secret  string `json:"secret,omitempty"`
}

func (e webhookEndpoint) withoutSecret() any { e.Secret = ""; return e }

// createEndpoint handles POST /v1/webhook_endpoints {"url": …}.
func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req struct {
		URL string `json:"url"`
	}
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	s.idem(w, r, m, body, func(_ []byte, _ func([]byte) error) (int, any, *APIError) {
		_, ep, err := s.admin.AddWebhookEndpoint(r.Context(), m.GetMerchantId(), req.URL)
		if errors.Is(err, errBadURL) {
			return 0, nil, invalid("url", "url_invalid", err.Error())
		}
		if err != nil {
			s.o.Logger.Error("webhook endpoint not added", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		return http.StatusCreated, webhookEndpoint{ID: ep.GetEndpointId(), Object: "webhook_endpoint", URL: ep.GetUrl(),
			Version: ep.GetSigningVersion(), Secret: webhook.FormatSecret(webhook.SecretFor(s.o.MasterKey, ep.GetEndpointId(), ep.GetSigningVersion()))}, nil
	})
}

// rollEndpointSecret handles POST /v1/webhook_endpoints/{id}/roll_secret: a new secret;
// the old one keeps signing for 24 hours.
func (s *Server) rollEndpointSecret(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	s.idem(w, r, m, body, func(_ []byte, _ func([]byte) error) (int, any, *APIError) {
		ep, err := s.admin.RollWebhookSecret(r.Context(), m.GetMerchantId(), r.PathValue("id"), 24*time.Hour)
		if errors.Is(err, ErrNotFound) {
			return 0, nil, &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "endpoint_unknown", Message: "no such webhook endpoint", Param: "id"}
		}
		if err != nil {
			return 0, nil, unavailable("kafka_unavailable")
		}
		return http.StatusOK, webhookEndpoint{ID: ep.GetEndpointId(), Object: "webhook_endpoint", URL: ep.GetUrl(),
			Version: ep.GetSigningVersion(), Secret: webhook.FormatSecret(webhook.SecretFor(s.o.MasterKey, ep.GetEndpointId(), ep.GetSigningVersion()))}, nil
	})
}

// replayDelivery handles POST /v1/webhook_deliveries/{id}/replay: the delivery is made
// again (same Weir-Event-Id, a new delivery id).
func (s *Server) replayDelivery(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	id := r.PathValue("id")
	s.idem(w, r, m, body, func(_ []byte, _ func([]byte) error) (int, any, *APIError) {
		notFound := &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "delivery_unknown", Message: "no such webhook delivery (they are kept 30 days)", Param: "id"}
		d, _, err := s.o.Webhooks.Lookup(r.Context(), id)
		if errors.Is(err, webhook.ErrNotFound) || (err == nil && d.MerchantID != m.GetMerchantId()) {
			return 0, nil, notFound
		}
		if err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		// A copy with a new id, due at once, to the endpoint as it is now (its URL and
		// signing versions may have changed since).
		fresh, err := s.o.Store.Merchant(r.Context(), m.GetMerchantId()) // not the cached one
		if err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		var ep *paymentsv1.WebhookEndpoint
		for _, e := range fresh.GetWebhookEndpoints() {
			if e.GetEndpointId() == d.EndpointID {
				ep = e
			}
		}
		if ep == nil || ep.GetDisabled() {
			return 0, nil, &APIError{Status: http.StatusConflict, Type: typeInvalidRequest, Code: "endpoint_disabled",
				Message: "the delivery's webhook endpoint was removed or disabled", Param: "id"}
		}
		nd := d
		nd.DeliveryID, nd.URL, nd.SigningVersions = newID("wd_"), ep.GetUrl(), signingVersions(ep, s.o.Now())
		nd.Attempt, nd.NextAttempt, nd.FirstAttempt = 1, time.Time{}, time.Time{}
		if _, err := s.o.Webhooks.Enqueue(r.Context(), nd); err != nil {
			return 0, nil, unavailable("store_unavailable")
		}
		return http.StatusAccepted, map[string]any{"object": "webhook_delivery", "id": nd.DeliveryID, "replay_of": id,
			"event_id": nd.SubjectEventID, "type": nd.Type}, nil
	})
}
