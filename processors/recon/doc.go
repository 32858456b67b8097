// Package recon is the reconciliation processor: it joins what the gateway and
// settlement expect (payment intents, payouts) with what the chain shows (transfers,
// reverted transactions, reorgs, finality) and writes one
// weir.reconciliation.v1.ReconciliationResult per decision to recon.results, keyed by
// merchant id.
//
// # Stages
//
// The stream runtime needs co-partitioned inputs (task N reads partition N of every
// input), and the inputs are keyed differently: transfers by recipient address (12
// partitions), intents and payouts by merchant, signed transactions by key id (6),
// retractions, finality markers and blocks by chain id (1). So the processor is five
// stream.Topology stages, each its own consumer group and exactly-once runtime, linked
// by internal topics it creates with the partition count of chain.transfers
// ("<app>" is Config.App, default "recon"):
//
//	rekey      (<app>-rekey)      payments.intents, settlement.payouts, chain.transactions
//	             intents with a deposit address       -> <app>.keyed   by deposit address
//	             on-chain payouts                     -> <app>.keyed   by destination
//	                                                  -> <app>.signing by signing request id
//	             reverted (FAILED) transactions       -> <app>.control, every partition
//	signed     (<app>-signed)     signer.signed       -> <app>.signing by request id
//	broadcast  (<app>-broadcast)  chain.retractions, chain.finality, chain.blocks
//	                                                  -> <app>.control, every partition
//	pair       (<app>-pair)       <app>.signing: meets a payout with the signed
//	             transaction of its signing request (either first) and forwards the
//	             signed transaction, tagged with the payout id -> <app>.keyed by destination
//	join       (<app>)            chain.transfers, <app>.keyed, <app>.control
//	                                                  -> recon.results by merchant id
//
// Internal records carry the original event's bytes; a header (weir.recon.kind) says
// which event it is. Broadcasting writes one copy per partition, each under a fixed key
// that the default partitioner sends to that partition, so that every join task sees
// every retraction, finality marker and block head. Control records advance each join
// task's event-time watermark, so intents expire on partitions that see no transfers.
//
// All state is in the runtime's stores (rebuilt from their changelogs); expiry is an
// event-time timer. The join keeps, per partition: each intent, payout and unexpected
// transfer with the transfers applied to it ("subjects"), deposit address -> latest
// intent ("addresses"), applied transfer event id -> subject ("transfers", for
// retractions and to drop repeats), signed payout transaction -> payout ("txs"), each
// chain's head and finalized height ("chains"), the subjects whose last result waits
// for finality, by block ("pending"), and transfers held for a subject on its way
// ("held").
//
// # Rules
//
// A transfer is looked at only if it is to a payout's destination in the payout's
// signed transaction, or to a deposit address (an address some intent used); transfers
// to other addresses are not reconciled (but held a while, see below). Transfers of failed transactions are never on
// chain.transfers, so every transfer seen counts as SUCCEEDED. For a transfer to a
// deposit address, in this order:
//
//  1. the address's latest intent is on another chain, or was canceled:
//     UNEXPECTED ("transfer.no_open_intent"), a subject of its own (the transfer's
//     event id), for the merchant of that intent;
//  2. if the transfer's event time is after the intent's expiry and the intent is not
//     paid in full, the intent expires first (MISSING, below);
//  3. the transfers of the intent are then classified in arrival order: another asset
//     is WRONG_ASSET ("intent.wrong_asset", received in that asset); once the matched
//     sum reaches the amount, more is DUPLICATE ("intent.already_paid"); a transfer
//     after the expiry (by event time) or after the intent expired is LATE
//     ("intent.after_expiry"); the rest is matched;
//  4. the new transfer's class decides the result: matched gives MATCHED
//     ("intent.exact_amount"), UNDERPAID ("intent.partial_amount") or OVERPAID
//     ("intent.excess_amount") over all matched transfers, with difference
//     |received - expected|; the others list the transfers of their class.
//
// An intent expires when the task's watermark passes its expiry (event time, never the
// wall clock): if not paid in full, MISSING ("intent.expired_unpaid", or
// "intent.expired_underpaid" with what was received), final.
//
// A retraction undoes the retracted transfers wherever they counted: if any was
// matched (or was an unexpected transfer, or a payout's), RETRACTED
// ("chain.reorg_retracted", received what still counts), then the result of what
// remains; a DUPLICATE left standing becomes the match, so a transfer re-included in
// the replacing block matches again whichever of it and the retraction comes first.
//
// A payout is reconciled against the transaction of its signed request: once signed
// and not on the chain, PENDING ("payout.signed_not_mined"); its transaction's
// transfers to the destination give MATCHED ("payout.mined_as_signed"), UNDERPAID
// ("payout.amount_short"), OVERPAID ("payout.amount_excess") or WRONG_ASSET
// ("payout.wrong_asset"); the transaction reverted gives FAILED ("payout.reverted");
// a retraction gives RETRACTED.
//
// # Finality
//
// A transfer is final when its block is FINALIZED (the transfer's confirmation status,
// or a chain.finality marker at or above it, or a FINALIZED block head) or has at least
// the chain's confirmation depth of blocks on top of and including it (Config.Depths,
// default 12 blocks, DevDepth 1 for weir dev; depth 0 means FINALIZED only). A result
// is final when all its transfers are; a non-final MATCHED, UNDERPAID, OVERPAID or
// FAILED result is emitted again, final, once the chain's progress makes it so. The
// gateway shows a non-final payment as PROCESSING.
//
// Versions count per subject (intent id, payout id, or unexpected transfer's event id)
// from 1, one per result; Meta.event_id = eventid.New(
// "weir.reconciliation.v1.ReconciliationResult", subject, version). Amounts are exact
// (math/big), never floats.
//
// # Held transfers
//
// Intents reach the join through one more stage than transfers, and signed payout
// transactions through three, so a payment can overtake what explains it (always
// while a stage restarts or lags). A transfer to an address the join does not know is
// therefore held (store "held", with a timer) for Config.Hold of event time (default 2
// minutes): an intent arriving meanwhile applies the held transfers to its deposit
// address that are not older than its creation, and a signed payout those of its
// transaction to its destination and its transaction's reversal (reverted transactions
// that match no signed payout are held the same way). Once the watermark passes a held
// record's time plus the hold, it is forgotten: it was none of ours.
//
// # Known limits
//
// A payment that overtakes its intent or signed payout by more than the hold is not
// reconciled. Reverted transactions of every sender are broadcast to every join task
// (the rekey stage cannot tell which are payouts), and held there. Holding costs a
// store write and a timer for every transfer to an address that is not ours. State is not expired: the
// join keeps every intent and payout it saw. A result made final by confirmation depth
// rather than FINALIZED can still be retracted by a deeper reorg; the gateway ignores
// a RETRACTED for an intent it already moved to SUCCEEDED.
package recon
