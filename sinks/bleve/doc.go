// Package bleve is weir dev's audit search: a sinks.Writer that indexes every event into
// an embedded Bleve index (scorch) in Options.Dir/index, with the documents of the
// Elasticsearch sink, so `weir search` prints the same thing in both modes.
//
// # Documents and mapping
//
// A document is elasticsearch.EventFields of the event plus topic, partition, offset,
// event_type and retracted (retracted_by and replaced_by_block once a retraction marks
// it), under the id Meta.event_id; elasticsearch.DecodeEvent turns it back into the
// event. Its JSON is stored whole in the stored-only field _source, which Search returns.
// Secret fields (elasticsearch.Secret) are never in a document nor in the mapping.
//
// All topics share one index. Its static mapping is the union of the Elasticsearch
// mappings (elasticsearch.Mapping) of the event types of Options.Topics, translated:
// keyword fields use the keyword analyzer; enums the simple analyzer (state:failed
// matches INTENT_STATE_FAILED) plus the exact name in <field>.keyword; free text a
// Unicode, lowercasing analyzer plus <field>.keyword; numbers are numeric (float64),
// timestamps datetime, booleans boolean. uint256 amounts are keywords: exact in all 78
// digits, with no numeric subfield (a float64 would round money). Open refuses topics
// whose types give one field path two kinds, and an existing index made with another
// mapping (the schemas changed): remove Dir/index and replay to rebuild it.
//
// # Durability and idempotence
//
// Write is one Bleve batch, which scorch applies atomically and returns from only once
// persisted: the new segment file and the bolt root listing it are written and fsynced
// (unsafe_batch is off). Documents are keyed by event id, so the runner's replays
// (sinks.Run) overwrite documents with equal ones.
//
// # Retractions
//
// A weir.chain.v1.Retraction is indexed like any event and, in the same batch, records
// each retracted id under an internal key (weir/retracted/<id>) and re-indexes the
// already indexed documents it lists with retracted: true. Every chain event Write
// indexes is looked up there first, so an event read after its retraction, or replayed,
// is indexed marked. Writes are serialized, so the look-ups and the marking cannot
// interleave.
//
// # Search
//
// Search takes the query_string subset ParseQuery documents (`merchant_id:m_123 AND
// state:failed`), sorts by meta.event_time, newest first, and returns hits shaped like
// elasticsearch.Hit.
package bleve
