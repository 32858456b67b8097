// Package features defines the fraud features — declarative definitions computed over
// sliding event-time windows — and the Engine that computes them exactly from a
// per-entity event history kept in a state store.
//
// # Feature set address_activity, version 1
//
// AddressActivity declares, feature by feature (name, window, aggregate), the
// features of a chain address ("<chain id>:<lowercase 0x address>") computed at every
// transfer it sends (direction out) or receives (in). A vector computed at an event at
// time t covers the window (t-size, t] of each feature: the events of the entity with
// an event time in it, the triggering one included, in log order (time, direction,
// event id). "Before the triggering event" (seconds_since_last_*, amount_zscore,
// new_counterparty) means earlier in that order. Counts and flags are Fixed at scale 0,
// ratios Fixed at scale 6 truncated toward zero, money sums uint256 decimal units in the
// triggering transfer's asset (saturating at 2^256-1). See each Aggregate's doc for the
// exact definition; engine_test.go checks every feature's value step by step.
//
// # State and exactness
//
// The Engine keeps, per entity, every event of the last Retention (the longest window,
// 7 days, plus the grace period) — direction, counterparty, asset, amount — in a State
// (the stream runtime's changelogged store, or MemState), plus an id index and, per
// (entity, counterparty), a count and the first event. Each vector is computed from the
// kept events, so windows slide exactly on event time (no buckets), out-of-order events
// land in the windows they belong to, and a retraction is undone by deleting the event.
//
// distinct_counterparties_out_* uses a HyperLogLog sketch (axiomhq/hyperloglog,
// precision 14, sparse: exact for small sets in practice). A sketch cannot subtract, so
// it is rebuilt from the window's kept events at each computation rather than kept per
// bucket; that is what makes it exact under sliding windows, late events and
// retractions, and its memory is bounded whatever the window holds.
//
// Cost: a vector costs one scan of the entity's kept events (O(events of the entity in
// the last 7 days)), stopped at the triggering event's time. Each entry is decoded once
// into arenas reused across computations (amounts as big.Int words without allocation,
// counterparties and assets interned); the per-counterparty lookups (first event,
// sanctions) are made once per computation, the sketch gets each counterparty once, and
// sums of amounts below 2^64 are done in machine words — all exact, checked against
// the plain definitions by TestComputeEqualsReference. BenchmarkApply measures about
// 13 µs, 27 µs and 110 µs per event with 10, 100 and 1000 kept events on MemState
// (BenchmarkCompute, the computation alone: 7, 20 and 95 µs; 2 cores, -race off),
// down from 55, 50 and 425 µs (9, 39 and 322 µs). That is fine for wallets and
// merchants; an address with tens of thousands of transfers a week (an exchange hot
// wallet) still makes every one of its events that expensive — the known limit of this
// version. The remedy, if needed, is per-minute partial aggregates (counts, sums,
// per-bucket counterparty sets) with exact scans only at the window edges.
//
// # Late events
//
// An event more than Config.Grace (default 5 minutes) behind the watermark (the largest
// event time seen by the caller; per partition in the processor) returns ErrLate and
// changes nothing; the processor sends it to the internal topic's DLQ, which the
// runtime's DLQ metric counts. Within grace it is applied normally.
//
// # Reorgs
//
// Retract deletes the retracted events (both sides, where this State holds them),
// decrements the counterparty counts and, when the first event with a counterparty is
// retracted, finds the next earliest in the log. It also remembers every retracted id
// for the retention period, so that a transfer arriving after its retraction is
// dropped (ErrRetracted). Each changed entity's Generation moves on, and Refresh gives
// its vector recomputed as of its latest kept event, which the processor re-publishes
// so that the online store stops serving the retracted transfers (the store orders
// vectors by generation before event time).
//
// # Packages
//
//   - features: definitions, Engine, State (this package);
//   - features/processor: the stream topologies (re-key by entity, broadcast of
//     retractions, features) and the OnVector hook for a scorer in the same transaction;
//   - features/online: the Redis online store and its sink from risk.features;
//   - features/sanctions: OFAC SDN loaders and the shipped address excerpt.
package features
