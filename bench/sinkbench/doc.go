// Package sinkbench measures the sinks against their stores' own clients, in one run:
//
//   - ClickHouse: sinks.Run with the clickhouse Writer draining a topic of N
//     chain.transfers records into a fresh, migrated database, against clickhouse-go's
//     batch insert (PrepareBatch, Append, Send) of the same rows, in batches of the same
//     size, into the same table of another fresh database;
//   - Elasticsearch: sinks.Run with the elasticsearch Writer into a fresh index prefix,
//     against a plain esutil.BulkIndexer (default settings) indexing the same documents
//     into indices made from the same templates.
//
// # What is timed
//
// The sink paths are timed from the first fetch of the topic (after the consumer group
// is joined) until the group's committed offsets reach the end of every partition:
// consuming, decoding, converting, writing and committing. The raw paths do not read
// Kafka: they start from the same events, already decoded in memory (generated before
// the clock starts), and are timed from the first conversion to the last
// acknowledgement: building the rows or documents and loading them. That is what the
// spec compares ("clickhouse-go's own batch insert of the same rows"): the sink's
// overhead over the store's client, Kafka included. The ratio is sink / raw.
//
// The rows are the same: the raw rows are built by hand from the events (the clickhouse
// package exports the columns, Table.Columns, but not its row mapping), column by
// column in the table's order, with the record's topic (without the run's prefix),
// partition and offset in the system columns. The documents are the same:
// elasticsearch.EventFields plus the writer's fields (topic, partition, offset,
// event_type, retracted), _id = event id, in the index IndexName gives.
//
// Before each timed phase the benchmark waits (at most a minute) until ClickHouse has no
// merge running, so that one phase's background merges do not slow the next. After
// each phase it checks the exact count: SELECT count() (without FINAL) of the table,
// or _refresh then _count of the indices, must be N.
//
// Topics are named bench-<random>.chain.transfers, so a run never touches the
// catalogue's topics on a shared broker; the sink writers see the records under the
// catalogue name chain.transfers (the topic name is rewritten before Write, which is
// what makes the rows of both paths equal). Everything the run creates (topic, group,
// databases, indices, templates) is deleted at the end.
package sinkbench
