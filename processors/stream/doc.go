// Package stream is weir's stateful stream runtime: the Kafka Streams model on franz-go.
//
// A processor is declared as a Topology: the input topics it reads, the output topics it
// writes, the named state stores it keeps, and a Handler that is called once per record
// (and once per due event-time timer). The Runtime owns everything else:
//
//   - group membership: one consumer-group member per Runtime, one task per assigned
//     partition number (inputs must be co-partitioned);
//   - state: every store is a key range in one Pebble database under WithStateDir,
//     backed by a compacted changelog topic "<app>.<store>.changelog" with one
//     partition per task; on assignment a task restores its stores from the changelog,
//     starting at the offset its local checkpoint says it already holds;
//   - exactly-once: outputs, changelog writes and the consumed offsets of one cycle are
//     committed in one Kafka transaction (franz-go's GroupTransactSession, KIP-447;
//     Kafka 3.9's protocol versions unless WithTransactionsV2).
//     Store writes are buffered in memory and reach Pebble only after the transaction
//     commits, so local state never holds a write of an aborted transaction. The
//     changelog gets the last value of each key written in the transaction, once, stamped
//     with the Kafka timestamp of the input record that wrote it;
//   - parallelism: during a transaction each task has a goroutine of its own, fed through
//     a bounded queue, so partitions process in parallel while the loop keeps polling;
//     a task's records are processed in offset order;
//   - event time: each task keeps a watermark (the largest event time it has seen) and
//     fires timers whose time the watermark has passed, in time order; timers and the
//     watermark are state too and survive restarts and rebalances;
//   - poison records: a record whose Handler call fails (or panics) goes to
//     "<topic>.dlq" with the error in its headers, in the same transaction, and the
//     partition keeps flowing. The failed record's store writes, timers and outputs are
//     discarded;
//   - failures: a session whose transaction cannot end (a fenced producer, a broker away
//     past the client's retries) is replaced by a new one after a backoff; the new
//     session aborts the open transaction and resumes from the last commit;
//   - bounded memory: a poll takes at most WithMaxPollRecords records, each task queues
//     at most WithTaskBuffer polls' worth, a transaction commits every
//     WithCommitInterval, and the producer buffer is bounded (WithMaxBufferedRecords),
//     so a slow broker blocks processing (backpressure) rather than growing memory;
//   - Prometheus metrics (weir_stream_*): records in and out, lag, transaction latency,
//     restore time, DLQ count, timers fired, session restarts.
//
// Known limits: a restored store replays the changelog from its local checkpoint, so a
// tombstone that compaction removed (after delete.retention.ms) while an instance was
// away leaves that key alive in its local copy, as in Kafka Streams. Consumer lag counts
// a trailing transaction marker.
package stream
