package sinks

import (
	"context"
	"time"

	"github.com/weirhq/weir/schemas/codec"
)

// Record is one decoded record of a topic, as a Writer receives it.
type Record struct {
	// Topic, Partition and Offset say where the record was read.
	Topic     string
	Partition int32
	Offset    int64
	// Key is the record key.
	Key []byte
	// Timestamp is the record timestamp.
	Timestamp time.Time
	// Type is the full name of the event's message (the catalogue's Topic.Value).
	Type string
	// Event is the decoded, validated event.
	Event codec.Event
}

// Writer lands records in one store. The runner (Run) hands it the records of each
// poll, in offset order per partition, and commits their offsets only after Write
// returned nil; after a crash or a failed Write the same records come again. So Write
// must be idempotent: records written twice leave the store as if written once (the
// stores key rows and documents by event id). A Writer is used by one goroutine.
type Writer interface {
	// Name names the writer in logs and metrics, e.g. "clickhouse".
	Name() string
	// Write stores recs, all or nothing as far as the caller can tell: on an error the
	// runner pauses consumption and calls Write again with the same records until it
	// succeeds (the store is down, or overloaded). An error wrapping ErrPoison instead
	// means a record can never be stored; see ErrPoison.
	Write(ctx context.Context, recs []Record) error
	// Ping reports whether the store answers; the runner polls it while paused.
	Ping(ctx context.Context) error
}

// ErrPoison marks a Write error caused by the records themselves (a value the store's
// schema cannot hold), not by the store: retrying cannot help. The runner then writes
// the records one by one, logs and counts the ones that fail, and moves on.
var ErrPoison = poisonError{}

type poisonError struct{}

func (poisonError) Error() string { return "record cannot be stored" }

// Assigner is implemented by a Writer that keeps state per partition (such as the
// highest offset it knows the store holds). The runner calls Assigned after every
// rebalance with the partitions the instance now owns, before any Write of their
// records: state about a partition another instance wrote to meanwhile is stale.
type Assigner interface {
	Assigned(ctx context.Context, partitions map[string][]int32) error
}
