package catalog

import "time"

const day = 24 * time.Hour

// Partition counts. Topics that processors join must have equal counts and keys
// (co-partitioning): every merchant-keyed topic has 12, every account-keyed and
// entity-keyed topic has 12, the signer's key-keyed topics have 6. Chain-id-keyed topics
// have 1: there are few chains, and an idle partition would hold back event-time
// watermarks.
const (
	wide   = 12
	narrow = 6
	single = 1
)

// Retention choices: chain data can be re-indexed from the chain, so a week is enough;
// money records of reference (payment intents, ledger postings, settlement, labels, the
// signer's audit trail) are kept forever (0); the rest is kept long enough to replay a
// month or a quarter.
const (
	week    = 7 * day
	month   = 30 * day
	quarter = 90 * day
	forever = 0
)

// All returns the topic catalogue: one topic per event stream, in a stable order,
// as a new slice each call (callers may modify it). Dead-letter topics are not listed;
// a topic with DLQ set has one, see Topic.DLQTopic.
//
// DLQ is set on the topics that weir's stream processors consume, where a poisoned
// record must not stop a partition; topics read only by sinks and people do not have one.
func All() []Topic {
	return []Topic{
		// Chain (ingest/).
		{Name: "chain.blocks", Key: "chain id", Value: "weir.chain.v1.Block",
			Partitions: single, Retention: week,
			Doc: "ingest → sinks: canonical block headers, in order per chain"},
		{Name: "chain.transactions", Key: "sender address", Value: "weir.chain.v1.Transaction",
			Partitions: wide, Retention: week, DLQ: true,
			Doc: "ingest → features, sinks: included transactions with their receipt outcome"},
		{Name: "chain.receipts", Key: "sender address", Value: "weir.chain.v1.Receipt",
			Partitions: wide, Retention: week,
			Doc: "ingest → sinks: transaction receipts"},
		{Name: "chain.logs", Key: "contract address", Value: "weir.chain.v1.Log",
			Partitions: wide, Retention: week,
			Doc: "ingest → sinks: raw event logs"},
		{Name: "chain.transfers", Key: "recipient address", Value: "weir.chain.v1.Transfer",
			Partitions: wide, Retention: week, DLQ: true,
			Doc: "ingest → reconcile, features, ledger, sinks: native, internal and token transfers"},
		{Name: "chain.approvals", Key: "owner address", Value: "weir.chain.v1.Approval",
			Partitions: wide, Retention: week, DLQ: true,
			Doc: "ingest → features, sinks: ERC-20 approvals"},
		{Name: "chain.retractions", Key: "chain id", Value: "weir.chain.v1.Retraction",
			Partitions: single, Retention: month, DLQ: true,
			Doc: "ingest → every chain consumer (read in full, not as a group): events of orphaned blocks to undo"},
		{Name: "chain.finality", Key: "chain id", Value: "weir.chain.v1.FinalityMarker",
			Partitions: single, Compacted: true, DLQ: true,
			Doc: "ingest → every chain consumer: the latest safe/finalized block per chain"},
		{Name: "chain.checkpoints", Key: "indexer id", Value: "weir.chain.v1.IngestCheckpoint",
			Partitions: single, Compacted: true,
			Doc: "ingest → ingest: each indexer's position, written in the transaction of its records"},

		// Payments (gateway/).
		{Name: "payments.intents", Key: "merchant id", Value: "weir.payments.v1.IntentTransition",
			Partitions: wide, Retention: forever, DLQ: true,
			Doc: "gateway → reconcile, settle, ledger, features, sinks: payment intent transitions; the gateway's source of truth"},
		{Name: "payments.merchants", Key: "merchant id", Value: "weir.payments.v1.MerchantConfig",
			Partitions: wide, Compacted: true,
			Doc: "gateway → gateway, sinks: each merchant's configuration (API key digests, xpub, webhook endpoints)"},
		{Name: "payments.conditions", Key: "condition id", Value: "weir.payments.v1.ConditionEvent",
			Partitions: wide, Retention: quarter, DLQ: true,
			Doc: "oracles → gateway (escrow release), sinks: conditions met"},
		{Name: "payments.subscriptions", Key: "merchant id", Value: "weir.payments.v1.Subscription",
			Partitions: wide, Retention: forever,
			Doc: "gateway → gateway, sinks: subscription changes"},
		{Name: "payments.usage", Key: "merchant id", Value: "weir.payments.v1.UsageRecord",
			Partitions: wide, Retention: forever,
			Doc: "gateway → gateway (metered billing), sinks: usage of metered subscriptions"},
		{Name: "payments.charges", Key: "merchant id", Value: "weir.payments.v1.MicroCharge",
			Partitions: wide, Retention: forever,
			Doc: "gateway → gateway (netting), sinks: micro-charges to customers' tabs"},
		{Name: "payments.settlements", Key: "merchant id", Value: "weir.payments.v1.ChargeSettlement",
			Partitions: wide, Retention: forever,
			Doc: "gateway → gateway, sinks: charges netted into one payment intent"},
		{Name: "payments.approvals", Key: "merchant id", Value: "weir.payments.v1.ApprovalRequest",
			Partitions: wide, Retention: forever,
			Doc: "gateway → gateway, sinks (audit): N-of-M approvals of refunds and payouts"},
		{Name: "payments.webhooks", Key: "merchant id", Value: "weir.payments.v1.WebhookDelivery",
			Partitions: wide, Retention: month,
			Doc: "gateway → sinks: webhook delivery attempts"},

		// Signer (signer/).
		{Name: "signer.requests", Key: "key id", Value: "weir.signer.v1.SigningRequest",
			Partitions: narrow, Retention: quarter, DLQ: true,
			Doc: "settle, operators → signer, sinks: requests to sign"},
		{Name: "signer.approvals", Key: "key id", Value: "weir.signer.v1.SigningApproval",
			Partitions: narrow, Retention: quarter, DLQ: true,
			Doc: "approvers, policy engine → signer, sinks: approvals of signing requests"},
		{Name: "signer.signed", Key: "key id", Value: "weir.signer.v1.SignedTransaction",
			Partitions: narrow, Retention: quarter, DLQ: true,
			Doc: "signer → broadcaster, settle, sinks: signed transactions"},
		{Name: "signer.recovery", Key: "key id", Value: "weir.signer.v1.KeyRecoveryStep",
			Partitions: narrow, Retention: forever,
			Doc: "signer → sinks (audit): key-recovery ceremony steps"},
		{Name: "signer.audit", Key: "key id (actor id when no key)", Value: "weir.signer.v1.AuditRecord",
			Partitions: narrow, Retention: forever,
			Doc: "signer → sinks (audit search): the signer's audit trail"},

		// Ledger (processors/).
		{Name: "ledger.postings", Key: "account id", Value: "weir.ledger.v1.Posting",
			Partitions: wide, Retention: forever, DLQ: true,
			Doc: "ledger processor → window totals, balances, sinks: double-entry postings"},
		{Name: "ledger.account-totals.1m", Key: "account id", Value: "weir.ledger.v1.AccountWindowTotal",
			Partitions: wide, Retention: month,
			Doc: "window-totals processor → sinks: per-account one-minute debit/credit totals"},

		// Risk (features/, models/).
		{Name: "risk.features", Key: "entity id", Value: "weir.risk.v1.FeatureVector",
			Partitions: wide, Retention: week, DLQ: true,
			Doc: "features → score, online store, sinks: feature vectors"},
		{Name: "risk.scores", Key: "entity id", Value: "weir.risk.v1.RiskScore",
			Partitions: wide, Retention: quarter, DLQ: true,
			Doc: "score → alerts, settle, sinks: model scores"},
		{Name: "risk.alerts", Key: "entity id", Value: "weir.risk.v1.RiskAlert",
			Partitions: wide, Retention: quarter,
			Doc: "score, rules → weir alerts, sinks: alerts for the risk team"},
		{Name: "risk.labels", Key: "entity id", Value: "weir.risk.v1.RiskLabel",
			Partitions: wide, Retention: forever, DLQ: true,
			Doc: "analysts, feeds → features, training, sinks: fraud labels"},

		// Reconciliation and settlement (processors/).
		{Name: "recon.results", Key: "merchant id", Value: "weir.reconciliation.v1.ReconciliationResult",
			Partitions: wide, Retention: quarter, DLQ: true,
			Doc: "reconcile → settle, ledger, sinks: payment vs chain reconciliation"},
		{Name: "settlement.batches", Key: "merchant id", Value: "weir.settlement.v1.SettlementBatch",
			Partitions: wide, Retention: forever, DLQ: true,
			Doc: "settle → payouts, ledger, sinks: merchant settlement batches"},
		{Name: "settlement.payouts", Key: "merchant id", Value: "weir.settlement.v1.Payout",
			Partitions: wide, Retention: forever, DLQ: true,
			Doc: "settle → signer, ledger, sinks: payouts of settlement batches"},
	}
}
