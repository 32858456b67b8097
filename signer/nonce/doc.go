// Package nonce hands out transaction nonces per (chain id, sender address) and refuses
// to let two different payloads be signed at the same nonce, with its state in Pebble,
// fsynced on every change, so that a signer killed with SIGKILL and restarted never
// signs a nonce twice.
//
// # Model
//
// For each account (chain id, from) the [Manager] keeps:
//
//   - floor: every nonce below it is settled, mined on chain ([Manager.Confirm] raises
//     it). Nonces below the floor can be neither reserved, recorded nor released, and
//     their records are deleted.
//   - next: the lowest nonce never handed out. On the account's first Reserve, and on
//     the first Reserve after [Manager.Resync], next is set to the chain's pending nonce
//     (the function given to [Open]), or to the floor if that is higher.
//   - free: nonces handed out and then released unsigned; Reserve hands out the lowest
//     of them before next, so released nonces are reused and no hole is left.
//   - a record per nonce in [floor, ∞) that a payload was recorded for: the payload
//     hashes (32 bytes, typically the transaction's signing hash) in the order they were
//     accepted, the first the original, each later one a declared replacement.
//
// A nonce in [floor, next) that is neither free nor recorded is reserved: handed out to
// a caller that has not signed it yet (or that crashed before it did).
//
// # The double-sign guard
//
// [Manager.Record] MUST be called, and return nil, before a signature is produced; it
// returns only after the record is fsynced. [Manager.ReserveRecord] reserves a new nonce
// and records its payload in one fsynced write, which counts as that call. For a nonce:
//
//   - not handed out (≥ next or free) or settled (< floor): refused, [ErrNotReserved] or
//     [ErrSettled];
//   - with no record yet: the payload becomes the original;
//   - whose record already holds this payload (the original or an accepted
//     replacement): accepted, nothing written — re-signing identical bytes adds no new
//     signed payload;
//   - with a different payload: refused with [ErrDoubleSign] unless the caller declares
//     it a replacement ([SpeedUp] or [Cancel]), the policy allows that kind, and fewer
//     than the maximum number of replacements were accepted at this nonce.
//
// The Manager trusts the caller's classification of a replacement; [Classify] checks
// two transactions against the rules (a speed-up keeps to, value and data and raises
// both fees by at least 10%, the node's replacement rule; a cancel is a zero-value,
// empty-data transfer to the sender itself with the same fee bump).
//
// # Gaps
//
// A gap is a nonce the chain will wait for: [Manager.Gaps] returns the nonces from the
// chain's latest (mined) nonce count, or the floor if higher, up to the highest recorded
// nonce, that have no record — reservations never signed (perhaps in flight, perhaps
// lost in a crash) and released nonces not yet reused. A transaction signed above a gap
// is not mined until the gap is filled (by signing at that nonce, e.g. a cancel).
//
// # Concurrency and durability
//
// A Manager is safe for concurrent use; operations on one account are serialised,
// operations on different accounts run in parallel. Every change is one Pebble batch
// committed with pebble.Sync before the call returns. The batch is applied, and the
// in-memory view changed, under the account's lock; its fsync is awaited after the
// lock is released, so concurrent operations share fsyncs (group commit). No call
// returns before its change is durable, and a call that relies on a change another call
// applied (a payload already recorded) waits for an fsync of its own; the WAL is
// sequential, so a durable change implies every change applied before it. Pebble locks its directory, so one process at a time owns
// the state.
package nonce
