package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// restoreBatch bounds the changelog records staged in one Pebble batch during restore.
const restoreBatch = 10000

// restoreReportEvery is how long a restore may go without reading a record before it
// logs where it waits.
const restoreReportEvery = 10 * time.Second

// restore brings every store of t up to the end of its changelog partition: it replays,
// from the task's checkpoint to the last stable offset, what the local database does not
// hold yet. A changelog record with a null value deletes the key.
func (r *Runtime) restore(ctx context.Context, t *task) error {
	for _, store := range r.topo.allStores() {
		start := time.Now()
		n, err := r.restoreStore(ctx, t.partition, store)
		if err != nil {
			return fmt.Errorf("restore %s/%d: %w", store, t.partition, err)
		}
		r.m.restore.WithLabelValues(store).Observe(time.Since(start).Seconds())
		r.m.restored.WithLabelValues(store).Add(float64(n))
		if n > 0 {
			r.log.Info("restored store", "store", store, "partition", t.partition, "records", n,
				"took", time.Since(start).Round(time.Millisecond))
		}
	}
	return t.load()
}

func (r *Runtime) restoreStore(ctx context.Context, partition int32, store string) (int, error) {
	topic := ChangelogTopic(r.topo.App, store)
	from, err := readCheckpoint(r.db, store, partition)
	if err != nil {
		return 0, err
	}
	end, err := r.offsetOf(ctx, topic, partition, r.adm.ListCommittedOffsets)
	if err != nil {
		return 0, fmt.Errorf("end offset: %w", err)
	}
	logStart, err := r.offsetOf(ctx, topic, partition, r.adm.ListStartOffsets)
	if err != nil {
		return 0, fmt.Errorf("start offset: %w", err)
	}
	if from > end {
		// The local state holds writes the changelog does not: the topic was recreated,
		// or the broker lost its tail (an embedded broker after a crash, an unclean
		// leader election). The changelog is the truth: start over from it.
		r.log.Warn("local state is ahead of its changelog; rebuilding it from the changelog",
			"store", store, "partition", partition, "checkpoint", from, "changelog_end", end)
		if err := r.wipe(store, partition); err != nil {
			return 0, err
		}
		from = 0
	}
	from = max(from, logStart)
	if from >= end {
		return 0, nil
	}

	// Control records are kept so that the transaction marker that usually ends the
	// partition tells us we reached the end, even when the last data records were
	// aborted (and are skipped by read_committed).
	opts := append(append([]kgo.Opt{}, r.o.kafkaOpts...),
		kgo.SeedBrokers(r.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("restore client: %w", err)
	}
	defer cl.Close()

	prefix := dataPrefix(store, partition)
	b := r.db.NewBatch()
	defer func() { b.Close() }()
	n, staged := 0, 0
	next := from
	flush := func() error {
		if err := putCheckpoint(b, store, partition, next); err != nil {
			return err
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		b.Close()
		b = r.db.NewBatch()
		staged = 0
		return nil
	}
	for next < end {
		// A bounded poll, so that a restore that makes no progress says so in the log
		// instead of waiting in silence.
		pctx, cancel := context.WithTimeout(ctx, restoreReportEvery)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if fs.NumRecords() == 0 && pctx.Err() != nil {
			r.log.Warn("restore is waiting for the changelog", "topic", topic, "partition", partition,
				"at", next, "until", end)
			continue
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return n, fmt.Errorf("fetch changelog: %w", ferr)
		}
		for _, rec := range fs.Records() {
			next = rec.Offset + 1
			if rec.Attrs.IsControl() {
				continue
			}
			key := append(append([]byte{}, prefix...), rec.Key...)
			if rec.Value == nil {
				err = b.Delete(key, nil)
			} else {
				err = b.Set(key, rec.Value, nil)
			}
			if err != nil {
				return n, err
			}
			n++
			staged++
		}
		if staged >= restoreBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// ensureTopics checks that the inputs exist and are co-partitioned, that the outputs
// exist, and creates the changelog and dead-letter topics that are missing.
func (r *Runtime) ensureTopics(ctx context.Context) (int32, error) {
	var names []string
	names = append(names, r.topo.Inputs...)
	names = append(names, r.topo.Outputs...)
	details, err := r.adm.ListTopics(ctx, names...)
	if err != nil {
		return 0, fmt.Errorf("list topics: %w", err)
	}
	partitions := int32(-1)
	for _, name := range names {
		d, ok := details[name]
		if !ok || d.Err != nil {
			return 0, fmt.Errorf("topic %q does not exist (apply the topic catalogue first): %v", name, d.Err)
		}
	}
	for _, in := range r.topo.Inputs {
		n := int32(len(details[in].Partitions))
		if partitions >= 0 && n != partitions {
			return 0, fmt.Errorf("inputs are not co-partitioned: %s has %d partitions, %s has %d",
				in, n, r.topo.Inputs[0], partitions)
		}
		partitions = n
	}

	want := map[string]map[string]*string{}
	compact := "compact"
	for _, s := range r.topo.allStores() {
		want[ChangelogTopic(r.topo.App, s)] = map[string]*string{"cleanup.policy": &compact}
	}
	for _, in := range r.topo.Inputs {
		want[DLQTopic(in)] = nil
	}
	var internal []string
	for name := range want {
		internal = append(internal, name)
	}
	existing, err := r.adm.ListTopics(ctx, internal...)
	if err != nil {
		return 0, fmt.Errorf("list internal topics: %w", err)
	}
	for _, name := range internal {
		if d, ok := existing[name]; ok && d.Err == nil {
			if n := int32(len(d.Partitions)); n != partitions && want[name] != nil {
				return 0, fmt.Errorf("changelog %s has %d partitions, inputs have %d", name, n, partitions)
			}
			continue
		}
		resp, err := r.adm.CreateTopic(ctx, partitions, r.o.changelogReplicas, want[name], name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !isTopicExists(err) {
			return 0, fmt.Errorf("create %s: %w", name, err)
		}
		r.log.Info("created topic", "topic", name, "partitions", partitions)
	}
	return partitions, nil
}

func isTopicExists(err error) bool { return errors.Is(err, kerr.TopicAlreadyExists) }

// wipe deletes one store's local data and checkpoint for one partition.
func (r *Runtime) wipe(store string, partition int32) error {
	prefix := dataPrefix(store, partition)
	b := r.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(prefix, prefixEnd(prefix), nil); err != nil {
		return fmt.Errorf("wipe %s/%d: %w", store, partition, err)
	}
	if err := b.Delete(checkpointKey(store, partition), nil); err != nil {
		return fmt.Errorf("wipe %s/%d: %w", store, partition, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("wipe %s/%d: %w", store, partition, err)
	}
	return nil
}

// offsetOf lists one partition's offset, retrying while a topic just created is not yet
// known to every broker. It gives up after about ten seconds.
func (r *Runtime) offsetOf(ctx context.Context, topic string, partition int32,
	list func(context.Context, ...string) (kadm.ListedOffsets, error),
) (int64, error) {
	var last error
	for attempt := range 50 {
		offsets, err := list(ctx, topic)
		if err == nil {
			o, ok := offsets.Lookup(topic, partition)
			switch {
			case ok && o.Err == nil:
				return o.Offset, nil
			case ok:
				err = o.Err
			default:
				err = fmt.Errorf("%s/%d not listed", topic, partition)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
	return 0, last
}
