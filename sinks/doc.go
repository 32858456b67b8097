// Package sinks lands topics in the stores people query: ClickHouse for analysts' SQL,
// Elasticsearch for the audit trail and a Parquet archive, exactly once and
// reorg-correct, with embedded equivalents for weir dev.
package sinks
