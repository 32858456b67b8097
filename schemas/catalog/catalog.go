// Package catalog is the topic catalogue: every Kafka topic weir reads or writes, with
// its key, value type, partition count, retention or compaction, and whether it has a
// dead-letter topic.
package catalog

import "time"

// DLQSuffix is appended to a topic's name to form its dead-letter topic.
const DLQSuffix = ".dlq"

// Topic describes one Kafka topic.
type Topic struct {
	// Name is the topic name, e.g. "ledger.postings".
	Name string
	// Key says what the record key is (e.g. "account id"); all state for a key lives on
	// one partition.
	Key string
	// Value is the fully qualified protobuf message name of the record value.
	Value string
	// Partitions is the partition count. Apply never lowers it (Kafka cannot).
	Partitions int32
	// Retention is how long records are kept; zero means forever. Ignored when
	// Compacted is set.
	Retention time.Duration
	// Compacted selects cleanup.policy=compact (latest value per key kept).
	Compacted bool
	// DLQ says the topic has a dead-letter topic Name+".dlq" for records that cannot be
	// decoded or processed.
	DLQ bool
}

// DLQName returns the name of t's dead-letter topic.
func (t Topic) DLQName() string { return t.Name + DLQSuffix }
