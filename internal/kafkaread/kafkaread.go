// Package kafkaread reads a topic's committed records to its current end: what a check,
// an export or a test needs of a topic that transactional producers write.
package kafkaread

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Committed calls fn with every committed record of topic (control records left out),
// reading each partition from its start up to the last stable offset it had when
// called, partition by partition in fetch order. It blocks until the read ends, fn
// fails or ctx is done.
func Committed(ctx context.Context, brokers []string, topic string, fn func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	cl.Close()
	if err != nil {
		return fmt.Errorf("kafkaread: end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("kafkaread: end offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	// Control records are kept (and then skipped) so that a partition whose last record
	// is a transaction marker still reaches its end offset.
	cl, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	var ferr error
	for len(want) > 0 && ferr == nil {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("kafkaread: read %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || ferr != nil {
				return
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if r.Offset < end && !r.Attrs.IsControl() {
				ferr = fn(r)
			}
		})
	}
	return ferr
}
