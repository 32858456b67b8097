// Package riskbench runs weir's risk pipeline on the chain generator's labelled traffic:
// the harness behind the acceptance test of the fraud alerts, the training export of the
// shipped model and `weir bench risk`.
//
// # The labelled run
//
// Generate starts bench/chaingen (DefaultBlocks blocks, 400 funded accounts, 20 ordinary
// transactions a block, a fraud pattern starting in 10% of the blocks: about a hundred
// pattern instances among 24,000 transfers), mines its blocks, indexes them with the real
// indexer (ingest/ethereum) into the run's prefixed chain.* topics and writes the
// generator's labels to its risk.labels. RunLabeled then runs processors/risk (features
// and scoring in one transaction) over the transfers, the online store's sink into Redis
// when asked, and processors/alerts over the scores (RunAlerts), each until it has
// consumed everything. Nothing is cached outside the run's topics, Redis keys and
// state directory; Topics.Delete and LabeledRun.Cleanup remove them.
//
// The generator seals a block a second of event time, so a run of 1200 blocks is twenty
// minutes: its accounts are busy (a couple of transfers a minute each), every 1-hour
// window holds most of the run, and the setup's token grants stay in the windows. The
// default rules (models/rules/default.yaml) are tuned so that this traffic does not
// trip them; the shipped model is trained on runs of this length (models/train/default.sh,
// `weir bench risk --export`).
//
// # The evaluation
//
// Evaluate judges the alerts against the labels per address on a time-based holdout; see
// Evaluation for the definition. The generator labels the address a pattern abuses: a
// takeover's or a drain's victim (the sender), the account that structures, and the three
// accounts of a round trip; never the fresh addresses a takeover or drain pays, nor the
// recipients of structuring. An alert on a fresh recipient is therefore a false positive,
// and the alerting entity is the address whose score raised the alert (a score per side of
// each transfer). The alerts processor runs with a one-minute suppression window
// (AlertSuppression) because the default hour spans the whole compressed run.
//
// # The benchmark
//
// Run (`weir bench risk`) generates a labelled run, pre-produces three quarters of its
// transfers into fresh topics and measures the risk processor draining them (events/s,
// from the first score to the last offset committed), feeds the last quarter at half
// that rate to measure the end-to-end latency from a transfer's append to its score's
// append (LogAppendTime on both topics), times a feature fetch from the Redis online
// store plus inference over many entities, evaluates the alerts, and measures the stream
// runtime's pass-through rate on the same broker with bench/streambench.
package riskbench
