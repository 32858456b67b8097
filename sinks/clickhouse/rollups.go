package clickhouse

import "fmt"

// Rollup tables, kept by materialized views on inserts into the event tables. They are
// SummingMergeTree tables: rows of one key are summed when parts merge, so queries sum
// again (SELECT merchant_id, hour, sum(payments), sum(amount) … GROUP BY …). They count
// what was inserted into the event table, which the writer inserts exactly once.
const (
	// VolumeTable holds, per merchant, asset and hour (of event time), the intents
	// that moved into the succeeded state: payments (count), amount (exact sum of
	// amount_value, Decimal(38, 0) or UInt256) and oversized (succeeded intents whose
	// amount has more than 38 digits and is therefore not in amount; always 0 with
	// UInt256).
	VolumeTable = "payments_volume_hourly"
	// ScoresTable holds, per model, model version, hour and score bucket (bucket_bp:
	// the score in basis points rounded down to a multiple of 1000; 10000 is its own
	// bucket), the number of scores and the sum of their score_bp.
	ScoresTable = "risk_score_distribution_hourly"
	// AlertsTable holds, per severity and hour, the alerts raised (version 1) and all
	// alert events (raises and status changes).
	AlertsTable = "risk_alerts_hourly"
)

func rollupSQL(db string, types Types) []string {
	q := func(name string) string { return quote(db) + "." + quote(name) }
	amountType, zero := "Decimal(38, 0)", "toDecimal128(0, 0)"
	if types.UInt256 {
		amountType, zero = "UInt256", "toUInt256(0)"
	}
	return []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
  merchant_id String,
  asset String,
  decimals UInt32,
  hour DateTime('UTC'),
  payments UInt64,
  amount %s,
  oversized UInt64
) ENGINE = SummingMergeTree((payments, amount, oversized))
PARTITION BY toYYYYMM(hour)
ORDER BY (merchant_id, asset, decimals, hour)`, q(VolumeTable), amountType),
		fmt.Sprintf(`CREATE MATERIALIZED VIEW IF NOT EXISTS %s TO %s AS
SELECT merchant_id, amount_asset AS asset, amount_decimals AS decimals,
  toStartOfHour(toDateTime(event_time)) AS hour,
  count() AS payments,
  sum(ifNull(amount_value_num, %s)) AS amount,
  countIf(isNull(amount_value_num)) AS oversized
FROM %s
WHERE state = 'INTENT_STATE_SUCCEEDED' AND previous_state != 'INTENT_STATE_SUCCEEDED'
GROUP BY merchant_id, asset, decimals, hour`, q(VolumeTable+"_mv"), q(VolumeTable), zero, q("payments_intents")),

		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
  model_id String,
  model_version String,
  hour DateTime('UTC'),
  bucket_bp UInt32,
  scores UInt64,
  score_bp_sum UInt64
) ENGINE = SummingMergeTree((scores, score_bp_sum))
PARTITION BY toYYYYMM(hour)
ORDER BY (model_id, model_version, hour, bucket_bp)`, q(ScoresTable)),
		fmt.Sprintf(`CREATE MATERIALIZED VIEW IF NOT EXISTS %s TO %s AS
SELECT model_id, model_version,
  toStartOfHour(toDateTime(event_time)) AS hour,
  toUInt32(intDiv(score_bp, 1000) * 1000) AS bucket_bp,
  count() AS scores,
  sum(toUInt64(score_bp)) AS score_bp_sum
FROM %s
GROUP BY model_id, model_version, hour, bucket_bp`, q(ScoresTable+"_mv"), q(ScoresTable), q("risk_scores")),

		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
  severity String,
  hour DateTime('UTC'),
  raised UInt64,
  events UInt64
) ENGINE = SummingMergeTree((raised, events))
PARTITION BY toYYYYMM(hour)
ORDER BY (severity, hour)`, q(AlertsTable)),
		fmt.Sprintf(`CREATE MATERIALIZED VIEW IF NOT EXISTS %s TO %s AS
SELECT severity,
  toStartOfHour(toDateTime(event_time)) AS hour,
  countIf(version = 1) AS raised,
  count() AS events
FROM %s
GROUP BY severity, hour`, q(AlertsTable+"_mv"), q(AlertsTable), q("risk_alerts")),
	}
}
