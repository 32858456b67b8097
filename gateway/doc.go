// Package gateway is the merchant payment API (HTTP/JSON with an OpenAPI description,
// idempotency keys, webhooks). It is a producer of payments.* events; its state lives in
// Kafka topics like every other component's.
package gateway
