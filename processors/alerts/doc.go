// Package alerts turns risk scores into alerts for the risk team and delivers them.
//
// # The processor (app "weir-alerts")
//
// Topology reads risk.scores (key: entity id; value weir.risk.v1.RiskScore) on the stream
// runtime and writes weir.risk.v1.RiskAlert to risk.alerts (key: entity id), exactly
// once. A score triggers when its decision is REVIEW or BLOCK, or when it carries a rule
// reason (a Reason whose rule_id is not a model's, "model:…", and whose code is not
// MODEL_SCORE). An ALLOW score with only the model's verdict raises nothing.
//
// The alert's rule_id is the rule_id of the score's first (strongest) rule reason, or
// "score>=threshold:<model_id>" when only the model's score raised it. Its severity is
// the highest of Config.DecisionSeverity[decision] (BLOCK → HIGH, REVIEW → MEDIUM,
// ALLOW → LOW) and Config.ReasonSeverity[code] over the reasons (SANCTIONED_COUNTERPARTY
// → CRITICAL). Evidence is the served feature values relevant to the reasons, at most
// Config.MaxEvidence (12): first the features a reason names in its rule_id or detail,
// then those sharing a word with a rule reason's code or rule ("SANCTIONED_COUNTERPARTY"
// → "sanctioned_exposure_24h"), then those the model's contributions name.
//
// Transaction hashes: transaction_hashes holds the RiskScore.transaction_hash of the
// triggering scores (the scored transfer's transaction), at most
// Config.MaxTransactionHashes (20). A score without one (a payout scored by the gateway)
// contributes its subject event id instead.
//
// Deduplication: a trigger whose (entity, rule, subject event id) was seen within
// Config.DedupWindow (24 h of event time) at the same or a higher severity raises
// nothing: a score delivered twice, or re-scored at the same severity, is one trigger.
// A score without a subject event id is deduplicated on its own event id.
//
// Suppression: the first trigger for an (entity, rule) opens an alert and emits it at
// once (version 1). Triggers for the same (entity, rule) within Config.SuppressionWindow
// (1 h of event time) from that first trigger are folded into it: suppressed counts them,
// their transaction hashes are appended to transaction_hashes, their reasons merged, the
// evidence, model and sanctions list versions follow the latest. Folding emits nothing by
// itself; the folded alert is re-emitted (same alert_id, version+1) once, when the window
// closes, or at once when a fold raises the severity (escalation). A trigger after the
// window opens a new alert with a new id. The alert id is
// eventid.New("weir.risk.v1.RiskAlert", entity id, rule id, first subject event id), so
// a replay of the same scores gives the same ids; Meta.event_id is
// eventid.New("weir.risk.v1.RiskAlert", alert_id, version) as the schema says.
//
// Windows close on event time: the runtime fires a window's timer when the partition's
// watermark passes its end, that is when a later score arrives on the same partition.
// A quiet partition holds back the re-emission of its folded alerts (not their raising,
// which is immediate).
//
// Poison scores (undecodable, invalid, an entity id with a NUL byte) go to
// risk.scores.dlq.
//
// # The webhook (Notifier)
//
// Notifier is a separate consumer of risk.alerts (its own group, read_committed) that
// POSTs a Slack-compatible JSON body (SlackMessage) for every alert version at or above
// a minimum severity to each configured URL, retrying with backoff, and commits a
// record's offset only after every URL took it: delivery is at least once, and it never
// touches the processor's transactions. The body holds no link and no secret; requests
// carry Weir-Alert-Id, Weir-Alert-Version and Idempotency-Key (the alert event id)
// headers for receivers that deduplicate.
package alerts
