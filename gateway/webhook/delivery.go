package webhook

import (
	"errors"
	"fmt"
	"time"
)

// Request headers set on every delivery, besides Header.
const (
	// HeaderEventID carries Delivery.SubjectEventID: the id receivers deduplicate on. It
	// is the same for every attempt and every replay of the event.
	HeaderEventID = "Weir-Event-Id"
	// HeaderDeliveryID carries Delivery.DeliveryID; a replay has a new one.
	HeaderDeliveryID = "Weir-Delivery-Id"
	// HeaderSequence carries Delivery.Sequence in decimal.
	HeaderSequence = "Weir-Sequence"
	// HeaderAttempt carries the 1-based attempt number in decimal.
	HeaderAttempt = "Weir-Attempt"
	// UserAgent is the User-Agent of every delivery.
	UserAgent = "weir-webhooks/1"
)

// Delivery is the delivery of one event to one merchant endpoint, shared by all its
// attempts. It is what the Queue stores (as JSON); it holds no secret, only the versions
// of the endpoint's secret to sign with.
type Delivery struct {
	// DeliveryID identifies this delivery; Queue.Enqueue is idempotent on it. Required.
	DeliveryID string `json:"delivery_id"`
	// MerchantID identifies the merchant. Required.
	MerchantID string `json:"merchant_id"`
	// EndpointID identifies the merchant's endpoint; the secrets are derived from it.
	// Required.
	EndpointID string `json:"endpoint_id"`
	// URL is where the request is POSTed. It may hold credentials: it is never logged
	// nor recorded in events. Required.
	URL string `json:"url"`
	// SubjectEventID is Meta.event_id of the event delivered, sent as HeaderEventID.
	// Required.
	SubjectEventID string `json:"subject_event_id"`
	// Type is the public event type, e.g. "payment_intent.succeeded". Required.
	Type string `json:"type"`
	// Sequence is the per-intent sequence number, sent as HeaderSequence, so that a
	// receiver can order events of one intent that arrive out of order.
	Sequence uint64 `json:"sequence"`
	// Payload is the JSON request body, made by the caller.
	Payload []byte `json:"payload"`
	// SigningVersions are the versions of the endpoint's secret the request is signed
	// with, one v1= signature each: several during a rotation. At least one is required.
	SigningVersions []uint32 `json:"signing_versions"`
	// Attempt is the 1-based number of the next attempt; 0 is taken as 1.
	Attempt uint32 `json:"attempt"`
	// NextAttempt is when the next attempt is due; zero means at once.
	NextAttempt time.Time `json:"next_attempt"`
	// FirstAttempt is when the first attempt was made; zero until then. Retries stop
	// after Options.GiveUpAfter from it.
	FirstAttempt time.Time `json:"first_attempt"`
}

// validate checks the required fields.
func (d *Delivery) validate() error {
	var missing []error
	for _, f := range []struct{ name, v string }{
		{"delivery id", d.DeliveryID},
		{"merchant id", d.MerchantID},
		{"endpoint id", d.EndpointID},
		{"url", d.URL},
		{"subject event id", d.SubjectEventID},
		{"type", d.Type},
	} {
		if f.v == "" {
			missing = append(missing, fmt.Errorf("missing %s", f.name))
		}
	}
	if len(d.SigningVersions) == 0 {
		missing = append(missing, errors.New("no signing versions"))
	}
	if err := errors.Join(missing...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDelivery, err)
	}
	return nil
}
