// Package elasticsearch is the audit-search sink: a sinks.Writer that indexes every
// event into Elasticsearch (8.x; it needs neither scripting nor reindex).
//
// # Indices, templates and aliases
//
// An event of topic T lands in the index <prefix>T-YYYY.MM, the month of its
// Meta.event_time in UTC (e.g. weir-chain.transfers-2026.11), under _id = Meta.event_id.
// The index is created on first write from the index template <prefix>T (pattern
// <prefix>T-*), whose explicit, strict mapping Mapping generates from the event's
// protobuf descriptor, and which puts every index in two aliases: <prefix>T (the
// family) and <prefix>events (everything), so one query_string query searches them all.
// EnsureTemplates (weir sinks migrate) puts the templates of the catalogue; Write creates
// a template that is missing but never replaces one.
//
// # Documents
//
// A document is the event in the JSON form EventFields describes (proto field names,
// enum names, 64-bit integers as strings, uint256 amounts as exact decimal strings)
// plus topic, partition, offset, event_type and retracted (false until a retraction
// marks it, then true with retracted_by and replaced_by_block). Fields whose names look
// like secret material (Secret) are dropped from documents and mappings alike.
//
// # Idempotence and errors
//
// Every write is a bulk index by event id, so replaying records after a crash or a
// failed Write leaves one document per event. Write returns only when every bulk item is
// acknowledged; a document refused for its content is reported as sinks.ErrPoison,
// anything else (connection, 429, 5xx) as a plain error to retry.
//
// # Retractions
//
// A weir.chain.v1.Retraction is indexed like any event and marks the documents of the
// events it lists. Write does, in this order:
//
//  1. index the retracted ids in <prefix>retracted (_id = retracted event id);
//  2. look up the batch's chain events in <prefix>retracted (_mget, real-time) and index
//     those found with retracted: true;
//  3. index the batch;
//  4. look up the batch's unmarked chain events in <prefix>retracted again, and, for a
//     retraction, refresh <prefix>chain.* and find its events with an ids query; mark
//     all of them with a partial-document update.
//
// What this relies on: step 1 of a retraction's Write is acknowledged before its step 4
// searches, and an event's step 3 is acknowledged before its step 4 looks up. So for any
// interleaving of two Writes (two sink instances reading different partitions), either
// the event's lookup sees the retracted id, or the retraction's search (after a refresh)
// sees the event's document: a retracted event ends up retracted whether it is read
// before or after its retraction, and stays so when it is replayed (step 2). Nothing
// relies on the order of topics or partitions; the entries of <prefix>retracted are
// never deleted (retractions are rare and small). Retractions list only chain events,
// whose topics are named chain.*; a document deleted meanwhile is skipped.
package elasticsearch
