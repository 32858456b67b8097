// Package webhook delivers signed webhooks to merchant endpoints, at least once.
//
// A producer (the gateway, on a payment intent transition) builds a Delivery — the JSON
// body, the subject event id receivers deduplicate on, the per-intent sequence number —
// and enqueues it in a Queue, a durable Redis sorted set of pending deliveries. A
// Dispatcher owns a bounded pool of workers that claim due deliveries under a lease,
// POST them signed, record every attempt as a weir.payments.v1.WebhookDelivery event
// through a Recorder, and retry failures with exponential backoff (30 s doubling to 6 h,
// jittered) for at least 72 hours before giving up. A delivery whose worker dies is
// claimed again when its lease ends; Queue.Replay re-sends a finished delivery under a
// new delivery id for the replay endpoint.
//
// Requests carry Header "Weir-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>" with one
// v1 per active secret of the endpoint, so that secrets rotate without downtime. Secrets
// are never stored: SecretFor derives them from a master key, the endpoint id and a
// version. Verify is the check a merchant's receiver makes.
//
// Events, logs and errors never hold the endpoint URL, the body or a secret.
package webhook
