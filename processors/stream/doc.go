// Package stream is weir's stateful stream runtime: the Kafka Streams model on franz-go.
//
// A processor is declared as a Topology: the input topics it reads, the output topics it
// writes, the named state stores it keeps, and a Handler that is called once per record
// (and once per due event-time timer). The Runtime owns everything else:
//
//   - group membership: one consumer-group member per Runtime, one task per assigned
//     partition number (inputs must be co-partitioned);
//   - state: every store is a key range in one Pebble database under Config.StateDir,
//     backed by a compacted changelog topic "<app>.<store>.changelog" with one
//     partition per task; on assignment a task restores its stores from the changelog,
//     starting at the offset its local checkpoint says it already holds;
//   - exactly-once: outputs, changelog writes and the consumed offsets of one cycle are
//     committed in one Kafka transaction (franz-go's GroupTransactSession, KIP-447).
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
//   - poison records: a record whose Handler call fails goes to "<topic>.dlq" with the
//     error in its headers, in the same transaction, and the partition keeps flowing.
//     The failed record's store writes, timers and outputs are discarded;
//   - bounded memory: a poll takes at most WithMaxPollRecords records, each task queues
//     at most WithTaskBuffer polls' worth, a transaction commits every
//     WithCommitInterval, and the producer buffer is bounded (WithMaxBufferedRecords),
//     so a slow broker blocks processing (backpressure) rather than growing memory;
//   - Prometheus metrics: records in and out, lag, transaction latency, restore time,
//     DLQ count.
package stream
