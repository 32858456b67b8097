package ethereum

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
)

// Topics are the topics the indexer writes. DefaultTopics gives the catalogue's names.
type Topics struct {
	Blocks, Transactions, Receipts, Logs, Transfers, Approvals string
	Retractions, Finality, Checkpoints                         string
}

// DefaultTopics returns the catalogue's chain topics (schemas/catalog).
func DefaultTopics() Topics {
	return Topics{
		Blocks: "chain.blocks", Transactions: "chain.transactions", Receipts: "chain.receipts",
		Logs: "chain.logs", Transfers: "chain.transfers", Approvals: "chain.approvals",
		Retractions: "chain.retractions", Finality: "chain.finality", Checkpoints: "chain.checkpoints",
	}
}

// WithPrefix returns t with prefix before every name, as catalog.WithPrefix does.
func (t Topics) WithPrefix(prefix string) Topics {
	for _, p := range []*string{&t.Blocks, &t.Transactions, &t.Receipts, &t.Logs, &t.Transfers,
		&t.Approvals, &t.Retractions, &t.Finality, &t.Checkpoints} {
		*p = prefix + *p
	}
	return t
}

// writer is the indexer's transactional producer: every batch of records goes to Kafka in
// one transaction together with the checkpoint that says how far the batch goes, so the
// records and the position are committed (or aborted) together.
type writer struct {
	cl      *kgo.Client
	brokers []string
	extra   []kgo.Opt // the caller's TLS/SASL options, for the checkpoint reader too
	topics  Topics
	indexer string
}

// newWriter connects with the transactional id "weir-<indexer>" and fences any earlier
// producer with that id (a previous incarnation killed mid-transaction): its open
// transaction is aborted before newWriter returns, so the checkpoint read next is final.
func newWriter(ctx context.Context, brokers []string, indexer string, topics Topics, txnTimeout time.Duration, extra []kgo.Opt) (*writer, error) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		// Kafka 3.9's transaction protocol (see processors/stream.WithTransactionsV2).
		kgo.MaxVersions(kversion.V3_9_0()),
		kgo.TransactionalID("weir-" + indexer),
		kgo.TransactionTimeout(txnTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.MaxBufferedRecords(100_000),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if _, _, err := cl.ProducerID(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka: init transactional producer weir-%s: %w", indexer, err)
	}
	return &writer{cl: cl, brokers: brokers, extra: extra, topics: topics, indexer: indexer}, nil
}

func (w *writer) close() { w.cl.Close() }

// checkpoint returns the last committed checkpoint of the indexer, or nil when it has
// none. The checkpoint topic is compacted and shared by the indexers of every chain, so
// it is read backwards in growing windows from its last stable offset.
func (w *writer) checkpoint(ctx context.Context) (*chainv1.IngestCheckpoint, error) {
	adm := kadm.NewClient(w.cl)
	ends, err := adm.ListCommittedOffsets(ctx, w.topics.Checkpoints)
	if err != nil {
		return nil, fmt.Errorf("kafka: end of %s: %w", w.topics.Checkpoints, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("kafka: end of %s: %w", w.topics.Checkpoints, err)
	}
	end, ok := ends.Lookup(w.topics.Checkpoints, 0)
	if !ok {
		return nil, fmt.Errorf("kafka: topic %s has no partition 0", w.topics.Checkpoints)
	}
	starts, err := adm.ListStartOffsets(ctx, w.topics.Checkpoints)
	if err != nil {
		return nil, fmt.Errorf("kafka: start of %s: %w", w.topics.Checkpoints, err)
	}
	start, _ := starts.Lookup(w.topics.Checkpoints, 0)
	for window := int64(256); ; window *= 16 {
		from := max(start.Offset, end.Offset-window)
		cp, err := w.scanCheckpoints(ctx, from, end.Offset)
		if err != nil || cp != nil || from <= start.Offset {
			return cp, err
		}
	}
}

// scanCheckpoints reads the checkpoint topic's offsets [from, to) and returns the last
// checkpoint of this indexer among them. Control records are kept so that the
// transaction marker that ends the range says the end is reached even when the last
// data records were aborted.
func (w *writer) scanCheckpoints(ctx context.Context, from, to int64) (*chainv1.IngestCheckpoint, error) {
	if from >= to {
		return nil, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(w.brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.topics.Checkpoints: {0: kgo.NewOffset().At(from)}}),
	}, w.extra...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var last []byte
	for next := from; next < to; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("kafka: read %s: %w", w.topics.Checkpoints, ferr)
		}
		for _, r := range fs.Records() {
			if r.Offset >= to {
				break
			}
			next = r.Offset + 1
			if !r.Attrs.IsControl() && string(r.Key) == w.indexer {
				last = r.Value
			}
		}
	}
	if last == nil {
		return nil, nil
	}
	cp := new(chainv1.IngestCheckpoint)
	if err := codec.Unmarshal(last, cp); err != nil {
		return nil, fmt.Errorf("checkpoint of %s: %w", w.indexer, err)
	}
	return cp, nil
}

// commit writes recs and the checkpoint cp in one transaction. On any failure the
// transaction is aborted and nothing of it is visible to read-committed consumers.
func (w *writer) commit(ctx context.Context, recs []*kgo.Record, cp *chainv1.IngestCheckpoint) error {
	v, err := codec.Marshal(cp)
	if err != nil {
		return err
	}
	if err := w.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("kafka: begin transaction: %w", err)
	}
	errc := make(chan error, 1)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			select {
			case errc <- err:
			default:
			}
		}
	}
	for _, r := range recs {
		w.cl.Produce(ctx, r, promise)
	}
	w.cl.Produce(ctx, &kgo.Record{Topic: w.topics.Checkpoints, Key: []byte(w.indexer), Value: v, Timestamp: time.Now()}, promise)
	ferr := w.cl.Flush(ctx)
	select {
	case err := <-errc:
		ferr = errors.Join(ferr, err)
	default:
	}
	if ferr != nil {
		aerr := w.cl.AbortBufferedRecords(context.WithoutCancel(ctx))
		eerr := w.cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort)
		return errors.Join(fmt.Errorf("kafka: produce: %w", ferr), aerr, eerr)
	}
	if err := w.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("kafka: commit transaction: %w", err)
	}
	return nil
}

// record returns a record of ev for topic, keyed by key, stamped with the event time,
// or with now when the event time is in the future: brokers refuse timestamps more than
// message.timestamp.after.max.ms (one hour since Kafka 4.0) ahead of their clock, and a
// dev chain that seals blocks faster than one a second runs ahead of it. The event's
// Meta.event_time is left as the block says.
func record(topic, key string, ev codec.Event) (*kgo.Record, error) {
	v, err := codec.Marshal(ev)
	if err != nil {
		return nil, err
	}
	ts := ev.GetMeta().GetEventTime().AsTime()
	if now := time.Now(); ts.After(now) {
		ts = now
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: v, Timestamp: ts}, nil
}
