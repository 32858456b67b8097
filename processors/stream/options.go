package stream

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Option configures a Runtime.
type Option func(*options)

type options struct {
	instanceID        string
	stateDir          string
	commitInterval    time.Duration
	maxPollRecords    int
	maxBuffered       int
	taskBuffer        int
	sessionTimeout    time.Duration
	rebalanceTimeout  time.Duration
	txnTimeout        time.Duration
	changelogReplicas int16
	transactionsV2    bool
	retryBackoff      time.Duration
	maxRetryBackoff   time.Duration
	cacheBytes        int64
	memtableBytes     int64
	registerer        prometheus.Registerer
	logger            *slog.Logger
	kafkaOpts         []kgo.Opt
}

func defaultOptions(app string) options {
	host, _ := os.Hostname()
	if host == "" {
		host = "local"
	}
	return options{
		instanceID:        host,
		stateDir:          filepath.Join(".weir", "state", app),
		commitInterval:    100 * time.Millisecond,
		maxPollRecords:    5000,
		maxBuffered:       20000,
		taskBuffer:        4,
		sessionTimeout:    10 * time.Second,
		rebalanceTimeout:  30 * time.Second,
		txnTimeout:        30 * time.Second,
		changelogReplicas: -1,
		retryBackoff:      500 * time.Millisecond,
		maxRetryBackoff:   30 * time.Second,
		cacheBytes:        64 << 20,
		memtableBytes:     32 << 20,
		logger:            slog.New(slog.DiscardHandler),
	}
}

// WithInstanceID names this member of the processor's group. The transactional id is
// App + "-" + id, so a restarted instance with the same id fences its predecessor and
// aborts the transaction it left open. Two live instances must have different ids.
// Default: the host name.
func WithInstanceID(id string) Option { return func(o *options) { o.instanceID = id } }

// WithStateDir sets the directory of the instance's Pebble database. It is locked while
// the Runtime runs, so two instances need two directories. Default: ./.weir/state/<app>.
func WithStateDir(dir string) Option { return func(o *options) { o.stateDir = dir } }

// WithCommitInterval sets how long a transaction collects records before it commits.
// Shorter lowers end-to-end latency and raises per-record cost. Default: 100ms.
func WithCommitInterval(d time.Duration) Option { return func(o *options) { o.commitInterval = d } }

// WithMaxPollRecords bounds the records taken from the consumer per poll. Default: 5000.
func WithMaxPollRecords(n int) Option { return func(o *options) { o.maxPollRecords = n } }

// WithMaxBufferedRecords bounds the records the producer holds unacknowledged; when it
// is full, processing blocks until the broker catches up. Default: 20000.
func WithMaxBufferedRecords(n int) Option { return func(o *options) { o.maxBuffered = n } }

// WithTaskBuffer bounds the polled batches queued for each task; when a task's queue is
// full, polling waits for it. Default: 4.
func WithTaskBuffer(n int) Option { return func(o *options) { o.taskBuffer = n } }

// WithGroupTimeouts sets the consumer group's session and rebalance timeouts.
// Defaults: 10s and 30s.
func WithGroupTimeouts(session, rebalance time.Duration) Option {
	return func(o *options) { o.sessionTimeout, o.rebalanceTimeout = session, rebalance }
}

// WithTransactionTimeout sets how long the broker lets a transaction stay open before it
// aborts it (the bound on how long a crashed instance's open transaction blocks
// read_committed readers). Default: 30s.
func WithTransactionTimeout(d time.Duration) Option { return func(o *options) { o.txnTimeout = d } }

// WithChangelogReplicas sets the replication factor of changelog and DLQ topics the
// Runtime creates. Default: -1, the broker's default.
func WithChangelogReplicas(n int16) Option { return func(o *options) { o.changelogReplicas = n } }

// WithTransactionsV2 lets the session use Kafka's "transactions v2" (KIP-890: the
// producer epoch bumps with every transaction), which Kafka 4 brokers offer. Default:
// off; the session speaks Kafka 3.9's protocol versions, whose transactions (KIP-98 with
// KIP-447's group fencing) give the same exactly-once guarantee. Measured on Kafka 4.4
// with franz-go 1.22: with v2, about one benchmark run in six stalled about four seconds
// in a transaction after the broker refused an output batch whose sequence number had
// not been reset for the new epoch (OUT_OF_ORDER_SEQUENCE_NUMBER, "no existing state");
// with 3.9's versions, no stall in eighteen runs.
func WithTransactionsV2(on bool) Option { return func(o *options) { o.transactionsV2 = on } }

// WithRetryBackoff sets how long Run waits before replacing a failed session, doubling
// up to max while sessions keep failing. Defaults: 500ms, up to 30s.
func WithRetryBackoff(first, max time.Duration) Option {
	return func(o *options) { o.retryBackoff, o.maxRetryBackoff = first, max }
}

// WithStateMemory sizes the Pebble block cache and memtable of the instance's state.
// Defaults: 64 MiB cache, 32 MiB memtable.
func WithStateMemory(cacheBytes, memtableBytes int64) Option {
	return func(o *options) { o.cacheBytes, o.memtableBytes = cacheBytes, memtableBytes }
}

// WithRegisterer registers the Runtime's metrics with r. Default: none are registered.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.registerer = r } }

// WithLogger sets the Runtime's logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithKafkaOpts appends franz-go options to every client the Runtime creates (TLS, SASL,
// a dialer). Options that the Runtime sets itself (group, transactional id, isolation
// level, partitioner) must not be passed.
func WithKafkaOpts(opts ...kgo.Opt) Option {
	return func(o *options) { o.kafkaOpts = append(o.kafkaOpts, opts...) }
}

func (o options) validate() error {
	switch {
	case o.instanceID == "":
		return fmt.Errorf("empty instance id")
	case o.stateDir == "":
		return fmt.Errorf("empty state dir")
	case o.commitInterval <= 0:
		return fmt.Errorf("commit interval %v: must be positive", o.commitInterval)
	case o.maxPollRecords <= 0:
		return fmt.Errorf("max poll records %d: must be positive", o.maxPollRecords)
	case o.maxBuffered <= 0:
		return fmt.Errorf("max buffered records %d: must be positive", o.maxBuffered)
	case o.retryBackoff <= 0 || o.maxRetryBackoff < o.retryBackoff:
		return fmt.Errorf("retry backoff %v up to %v: want a positive first wait no larger than the max",
			o.retryBackoff, o.maxRetryBackoff)
	case o.taskBuffer <= 0:
		return fmt.Errorf("task buffer %d: must be positive", o.taskBuffer)
	case o.cacheBytes <= 0 || o.memtableBytes < 1<<20:
		return fmt.Errorf("state memory: cache %d bytes, memtable %d: want a positive cache and a memtable of 1 MiB or more",
			o.cacheBytes, o.memtableBytes)
	}
	return nil
}
