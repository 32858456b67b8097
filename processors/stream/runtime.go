package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

// shutdownTimeout bounds how long Run spends ending the open transaction and leaving the
// group once its context is cancelled.
const shutdownTimeout = 30 * time.Second

// Runtime runs one instance of a processor: one member of its consumer group. Create it
// with New and start it with Run; a Runtime runs once.
type Runtime struct {
	topo    Topology
	brokers []string
	o       options
	m       *metrics
	log     *slog.Logger
	outputs map[string]bool

	db   *pebble.DB
	adm  *kadm.Client
	sess *kgo.GroupTransactSession

	mu    sync.Mutex // guards tasks and fatal; held while a poll's records are processed
	tasks map[int32]*task
	fatal error

	produceMu  sync.Mutex
	produceErr error // first failed produce of the open transaction
}

// New checks the topology and options and returns a Runtime. It does no I/O.
func New(topo Topology, brokers []string, opts ...Option) (*Runtime, error) {
	if err := topo.Validate(); err != nil {
		return nil, fmt.Errorf("stream: topology: %w", err)
	}
	if len(brokers) == 0 {
		return nil, errors.New("stream: no brokers")
	}
	o := defaultOptions(topo.App)
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	r := &Runtime{
		topo:    topo,
		brokers: brokers,
		o:       o,
		m:       newMetrics(topo.App, o.registerer),
		log:     o.logger.With("app", topo.App, "instance", o.instanceID),
		outputs: map[string]bool{},
		tasks:   map[int32]*task{},
	}
	for _, out := range topo.Outputs {
		r.outputs[out] = true
	}
	return r, nil
}

// Run joins the group and processes records until ctx is cancelled or a fatal error
// occurs. On cancellation it commits the open transaction, leaves the group and closes
// the state, then returns nil. It blocks; it must be called once.
func (r *Runtime) Run(ctx context.Context) (err error) {
	if err := os.MkdirAll(r.o.stateDir, 0o755); err != nil {
		return fmt.Errorf("stream: state dir: %w", err)
	}
	cache := pebble.NewCache(r.o.cacheBytes)
	defer cache.Unref()
	popts := &pebble.Options{Logger: pebbleLogger{r.log}, Cache: cache, MemTableSize: uint64(r.o.memtableBytes)}
	for i := range popts.Levels {
		// Most reads of windowed state miss (a new window, a new key): bloom filters let
		// a miss skip the sstables instead of seeking into each level.
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	r.db, err = pebble.Open(r.o.stateDir, popts)
	if err != nil {
		return fmt.Errorf("stream: open state %s: %w", r.o.stateDir, err)
	}
	defer func() {
		if cerr := r.db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stream: close state: %w", cerr)
		}
	}()

	admCl, err := kgo.NewClient(append(append([]kgo.Opt{}, r.o.kafkaOpts...), kgo.SeedBrokers(r.brokers...))...)
	if err != nil {
		return fmt.Errorf("stream: admin client: %w", err)
	}
	defer admCl.Close()
	r.adm = kadm.NewClient(admCl)
	if _, err := r.ensureTopics(ctx); err != nil {
		return fmt.Errorf("stream: %w", err)
	}

	r.log.Info("processor started", "inputs", r.topo.Inputs, "outputs", r.topo.Outputs,
		"stores", r.topo.Stores, "state", r.o.stateDir)

	// A session that fails (a transaction that cannot end, a broker that stays away
	// past the client's retries, a restore that cannot read its changelog) is closed and
	// replaced after a backoff: its open transaction is aborted when the next session
	// takes the same transactional id, and local state holds only committed writes, so
	// the new session resumes exactly where the last commit left off.
	backoff := r.o.retryBackoff
	for {
		started := time.Now()
		err := r.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			err = errors.New("session ended without an error")
		}
		if time.Since(started) > time.Minute {
			backoff = r.o.retryBackoff // it ran a good while: start the backoff over
		}
		r.m.restarts.Inc()
		r.log.Error("processing session failed; starting a new one", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		if ctx.Err() != nil {
			break
		}
		backoff = min(2*backoff, r.o.maxRetryBackoff)
	}
	r.log.Info("processor stopped")
	return nil
}

// session runs one consumer-group session with its transactional producer until ctx is
// cancelled (nil) or it fails (the error). It leaves the group and drops every task
// before it returns.
func (r *Runtime) session(ctx context.Context) error {
	r.mu.Lock()
	r.fatal = nil
	r.mu.Unlock()
	var err error
	var pin []kgo.Opt
	if !r.o.transactionsV2 {
		// Kafka 3.9's protocol versions: transactions as in KIP-98/KIP-447, without the
		// per-transaction epoch bump of KIP-890 ("transactions v2"). See
		// WithTransactionsV2 for why.
		pin = append(pin, kgo.MaxVersions(kversion.V3_9_0()))
	}
	r.sess, err = kgo.NewGroupTransactSession(append(append(pin, r.o.kafkaOpts...),
		kgo.SeedBrokers(r.brokers...),
		kgo.ConsumerGroup(r.topo.App),
		kgo.ConsumeTopics(r.topo.Inputs...),
		kgo.TransactionalID(r.topo.App+"-"+r.o.instanceID),
		kgo.TransactionTimeout(r.o.txnTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.BlockRebalanceOnPoll(),
		// Range assignment gives one member the same partition number of every input:
		// the co-partitioning tasks rely on.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(r.o.sessionTimeout),
		kgo.RebalanceTimeout(r.o.rebalanceTimeout),
		kgo.MaxBufferedRecords(r.o.maxBuffered),
		kgo.RecordPartitioner(taskPartitioner{hash: kgo.StickyKeyPartitioner(nil)}),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onRevoked),
		kgo.WithLogger(kgoLogger{r.log.With("client", "session")}),
	)...)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	err = r.loop(ctx)
	r.sess.CloseAllowingRebalance() // leaves the group; rebalances are blocked while polling
	r.mu.Lock()
	r.tasks = map[int32]*task{}
	r.mu.Unlock()
	r.m.tasksAssigned.Set(0)
	return err
}

// loop runs transaction cycles: poll, begin, process for up to the commit interval, end.
func (r *Runtime) loop(ctx context.Context) error {
	for {
		if err := r.fatalErr(); err != nil {
			return err
		}
		fs := r.sess.PollRecords(ctx, r.o.maxPollRecords)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		if err := r.fetchErr(fs); err != nil {
			return err
		}
		if fs.NumRecords() == 0 {
			r.sess.AllowRebalance()
			continue
		}
		if err := r.cycle(ctx, fs); err != nil {
			return err
		}
		r.sess.AllowRebalance()
	}
}

// cycle runs one transaction that starts with the records of fs.
func (r *Runtime) cycle(ctx context.Context, fs kgo.Fetches) error {
	if err := r.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	r.produceMu.Lock()
	r.produceErr = nil
	r.produceMu.Unlock()

	deadline := time.Now().Add(r.o.commitInterval)
	touched := map[int32]*task{}
	d := newDispatcher(r.o.taskBuffer)
	r.mu.Lock()
	for {
		if err := r.dispatch(ctx, fs, d, touched); err != nil {
			d.drain()
			r.mu.Unlock()
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		pctx, cancel := context.WithDeadline(ctx, deadline)
		fs = r.sess.PollRecords(pctx, r.o.maxPollRecords)
		cancel()
		if fs.IsClientClosed() {
			break
		}
		if err := r.fetchErr(fs); err != nil {
			d.drain()
			r.mu.Unlock()
			return err
		}
	}
	d.drain()
	for _, t := range touched {
		t.flushWatermark()
		t.flushChangelog()
	}
	r.mu.Unlock()

	// A cancelled ctx still ends the transaction: with a commit, so the work done is
	// kept. End is given its own bounded context because cancelling End midway leaves
	// the client in an unknown state.
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	r.produceMu.Lock()
	try := kgo.TransactionEndTry(r.produceErr == nil)
	perr := r.produceErr
	r.produceMu.Unlock()
	if perr != nil {
		r.log.Warn("aborting transaction after a failed produce", "err", perr)
	}
	start := time.Now()
	committed, err := r.sess.End(endCtx, try)
	outcome := "commit"
	if !committed {
		outcome = "abort"
	}
	r.m.txnSeconds.WithLabelValues(outcome).Observe(time.Since(start).Seconds())

	r.mu.Lock()
	defer r.mu.Unlock()
	for p, t := range touched {
		if r.tasks[p] != t {
			continue // revoked meanwhile; its state is in the changelog
		}
		var terr error
		if committed && err == nil {
			terr = t.committed()
		} else {
			terr = t.aborted()
		}
		if terr != nil {
			return terr
		}
	}
	if err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		r.log.Info("transaction aborted (rebalance or failed produce); records will be reprocessed")
	}
	return nil
}

// dispatch hands each partition's records of fs to its task's worker. r.mu must be held.
func (r *Runtime) dispatch(ctx context.Context, fs kgo.Fetches, d *dispatcher, touched map[int32]*task) error {
	var err error
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 || err != nil {
			return
		}
		last := p.Records[len(p.Records)-1].Offset
		r.m.lag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(p.HighWatermark - last - 1))
		var t *task
		if t, err = r.taskFor(ctx, p.Partition); err != nil {
			return
		}
		touched[p.Partition] = t
		d.send(t, p.Records)
	})
	return err
}

// dispatcher runs one goroutine per task for the length of a transaction, so that tasks
// process in parallel while the loop keeps polling. Each task's records are processed in
// order by its own goroutine.
type dispatcher struct {
	buffer int
	wg     sync.WaitGroup
	chans  map[int32]chan []*kgo.Record
}

func newDispatcher(buffer int) *dispatcher {
	return &dispatcher{buffer: buffer, chans: map[int32]chan []*kgo.Record{}}
}

// send queues a batch for t. It blocks while t's queue is full (backpressure on the poll
// loop) and never drops a batch: the transaction commits the offsets of everything
// polled, so everything polled must be processed.
func (d *dispatcher) send(t *task, recs []*kgo.Record) {
	ch, ok := d.chans[t.partition]
	if !ok {
		ch = make(chan []*kgo.Record, d.buffer)
		d.chans[t.partition] = ch
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for batch := range ch {
				for _, rec := range batch {
					t.process(rec)
				}
			}
		}()
	}
	ch <- recs
}

// drain waits until every queued batch has been processed and the goroutines are gone.
func (d *dispatcher) drain() {
	for _, ch := range d.chans {
		close(ch)
	}
	d.wg.Wait()
	clear(d.chans)
}

// taskFor returns the task of partition p, creating and restoring it if needed.
// r.mu must be held.
func (r *Runtime) taskFor(ctx context.Context, p int32) (*task, error) {
	if t, ok := r.tasks[p]; ok {
		return t, nil
	}
	t := newTask(p, &r.topo, r.db, r.produce, r.m, r.outputs)
	if err := r.restore(ctx, t); err != nil {
		return nil, err
	}
	r.tasks[p] = t
	r.m.tasksAssigned.Set(float64(len(r.tasks)))
	return t, nil
}

func (r *Runtime) produce(rec *kgo.Record, onOffset func(int64)) {
	r.sess.Produce(context.Background(), rec, func(rec *kgo.Record, err error) {
		if err != nil {
			r.produceMu.Lock()
			if r.produceErr == nil {
				r.produceErr = fmt.Errorf("produce to %s: %w", rec.Topic, err)
			}
			r.produceMu.Unlock()
			return
		}
		if onOffset != nil {
			onOffset(rec.Offset)
		}
	})
}

// onAssigned restores the tasks of newly assigned partitions before fetching starts.
func (r *Runtime) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, parts := range assigned {
		for _, p := range parts {
			if _, err := r.taskFor(ctx, p); err != nil {
				if ctx.Err() == nil && r.fatal == nil {
					r.fatal = err
				}
				return
			}
		}
	}
	r.log.Info("partitions assigned", "tasks", len(r.tasks))
}

// onRevoked drops the tasks of revoked or lost partitions. Their committed state stays
// in Pebble with its checkpoint, so getting them back later replays only the changelog
// written meanwhile.
func (r *Runtime) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, parts := range revoked {
		for _, p := range parts {
			delete(r.tasks, p)
		}
	}
	r.m.tasksAssigned.Set(float64(len(r.tasks)))
	r.log.Info("partitions revoked", "tasks", len(r.tasks))
}

func (r *Runtime) fatalErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

// fetchErr returns the first fetch error that is not a cancellation. Fetch errors in
// franz-go are either retried internally or permanent (topic deleted, authorization),
// so a returned one stops the runtime.
func (r *Runtime) fetchErr(fs kgo.Fetches) error {
	var first error
	fs.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if first == nil {
			first = fmt.Errorf("fetch %s/%d: %w", topic, p, err)
		}
	})
	return first
}

// taskPartitioner sends changelog records to the partition the task set on them, and
// every other record to the partition its key hashes to (Kafka's murmur2, like the Java
// client), so outputs are partitioned like any other producer's.
type taskPartitioner struct{ hash kgo.Partitioner }

func (p taskPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if len(topic) > len(changelogSuffix) && topic[len(topic)-len(changelogSuffix):] == changelogSuffix {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.hash.ForTopic(topic)
}

const changelogSuffix = ".changelog"

// pebbleLogger sends Pebble's errors to the runtime's logger and drops its chatter.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(string, ...any) {}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}
