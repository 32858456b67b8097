// Package gatewaybench measures the payment gateway's create-intent path against a bare
// handler that only produces the same record, in one run on the same Kafka and Redis.
//
// # What is compared
//
// The full path is gateway.NewServer's POST /v1/payment_intents behind an http.Server on
// 127.0.0.1: API key authentication (the merchant is cached in process for 1 s, so a
// Redis lookup per second), the per-merchant Redis token bucket (with a rate so high it
// never refuses), the Idempotency-Key protocol in Redis (claim, plan, finish), the
// deposit address index (Redis INCR), a BIP-32 derivation, the IntentTransition
// produced to payments.intents with ProduceSync and then stored in Redis.
//
// The bare path is a handler on a second http.Server that reads the body, builds an
// IntentTransition the way the gateway does (a fresh intent id and event id, the same
// fields and sizes, a fixed deposit address), produces it to the same topic with
// ProduceSync on a client of the same kind (idempotent, acks=all, no linger, as
// gateway.Service makes it) and answers 201 with a small JSON body. It does no
// authentication, no Redis and no derivation: the ratio full/bare is what everything
// but the produce costs.
//
// # How it is driven
//
// A closed-loop Go load generator holds Options.Connections persistent connections
// (one goroutine per connection, each with its own http.Transport limited to one
// connection), and each goroutine sends its next request when the previous response has
// been read. Every request has a unique Idempotency-Key, as a merchant's would. Each run
// warms up for Options.Warmup, then counts for Options.Duration the requests that
// completed with a 2xx status, and keeps every such request's latency (send to end of
// body) to compute percentiles exactly. Any other status or transport error counts as an
// error; a run with more than 0.1% errors fails the benchmark.
//
// Each repetition runs the bare and the full path one after the other, alternating
// which goes first, on fresh connections. The reported rates are the medians over the
// repetitions, the ratio is rps / bare_rps of those medians, and p99_ms is the median of
// the full path's per-repetition p99.
//
// Topics are named bench-<random>.payments.intents and bench-<random>.payments.merchants
// (12 partitions, as the catalogue has), the Redis keys begin with bench:<random>, so a
// run never touches the catalogue's topics or a live gateway's keys; all of them are
// deleted at the end. There is one merchant, and intents are keyed by merchant id, so
// every record of both paths goes to one partition, as one merchant's would.
package gatewaybench
