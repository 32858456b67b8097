// Package gateway is the merchant payment API: HTTP/JSON (OpenAPI document at
// /openapi.json), API keys, payment intents with a fresh deposit address each,
// Idempotency-Key, per-merchant rate limits, intent transitions driven by reconciliation
// results, webhooks, subscriptions with trials and renewals, metered usage and
// micro-charges netted into one intent, escrow released by an oracle's condition event or
// refunded at its time lock, and N-of-M approvals of refunds and payouts above a
// merchant's threshold.
//
// The gateway is a stream producer. Every accepted command is produced to Kafka (an
// idempotent producer, acks=all) before the response is sent, and Kafka is its source of
// truth: payments.intents (kept forever) holds every intent transition and
// payments.merchants (compacted) every merchant's configuration. Reads come from a
// projection in Redis (Store), which the Projector rebuilds from those topics.
//
// The pieces, each wired explicitly by the caller:
//   - Server: the HTTP API (an http.Handler).
//   - Store: the Redis projection, idempotency records, rate-limit buckets, intent locks.
//   - Projector: Kafka → Store, with its position kept in the Store.
//   - ReconDriver: recon.results → intent transitions.
//   - Admin: merchant onboarding, key rotation, webhook endpoints.
//   - billing*.go: subscriptions (payments.subscriptions), usage (payments.usage),
//     micro-charges (payments.charges) and their settlements (payments.settlements).
//   - escrow*.go: conditional payments (payments.conditions).
//   - approvals*.go: merchant users, the approval policy, refunds and payouts
//     (payments.approvals, settlement.payouts).
//
// Sub-packages: apikey (key format and digests), deposit (BIP-32 deposit addresses from a
// merchant's xpub), webhook (signed, at-least-once webhook delivery).
package gateway
