// Package kafkatest holds Kafka helpers for tests: an in-process kfake cluster on
// loopback TCP (reachable from child processes too), reading every committed record of
// a topic, and waiting until a consumer group has consumed a topic.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/kafkaread"
)

// Cluster starts a one-broker kfake cluster on a free loopback port, with opts added,
// closes it when the test ends, and returns its address.
func Cluster(t testing.TB, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// ReadCommitted returns every committed record of topic, reading each partition up to
// the last stable offset it had when called (so the read ends; kafkaread.Committed). It
// fails the test if that takes longer than a minute.
func ReadCommitted(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*kgo.Record
	if err := kafkaread.Committed(ctx, brokers, topic, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	return out
}

// WaitConsumed waits until group has committed the end offset of every non-empty
// partition of topic, and fails the test after timeout. It is for topics written without
// transactions: on a transactionally written topic a group's committed offset stops
// before the trailing transaction marker, one short of the end.
func WaitConsumed(t testing.TB, brokers []string, group, topic string, timeout time.Duration) {
	t.Helper()
	adm := newAdmin(t, brokers)
	defer adm.Close()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		done, err := consumed(ctx, adm, group, topic)
		cancel()
		if done {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("kafkatest: group %s did not consume %s within %v (last error: %v)", group, topic, timeout, last)
		}
		time.Sleep(20 * time.Millisecond) // polling broker state, with a deadline
	}
}

func consumed(ctx context.Context, adm *kadm.Client, group, topic string) (bool, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err
	}
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		if c, ok := committed.Lookup(topic, o.Partition); o.Offset > 0 && (!ok || c.At < o.Offset) {
			done = false
		}
	})
	return done, nil
}

// newAdmin returns an admin client of its own: a client answers metadata from a cache
// for a few seconds, which would hide topics created meanwhile.
func newAdmin(t testing.TB, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	return kadm.NewClient(cl)
}
