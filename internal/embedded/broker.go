// Package embedded runs the in-process infrastructure of `weir dev`, starting with the
// Kafka broker: franz-go's kfake, which speaks the real Kafka wire protocol (producers,
// consumer groups, transactions) and persists its state — topics, records, committed
// group offsets, producer ids — under a data directory, so that running `weir dev` again
// resumes where the last run stopped.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configures a [Broker]. The zero value of each field except DataDir selects its
// default.
type Options struct {
	// DataDir is the directory holding the broker's persisted state; it is created if
	// needed and reloaded when it already holds state. Required.
	DataDir string
	// Addr is the host:port to listen on; port 0 picks a free port.
	// Default "127.0.0.1:9092".
	Addr string
	// Partitions is the partition count of topics created without one (CreateTopics with
	// -1). The topic catalogue always names its partition counts. Default 3.
	Partitions int
	// SyncWrites makes every produce durable on disk before it is acknowledged (an fsync
	// per batch). Default false: like Kafka, data reaches disk on segment roll and on
	// Close, and a crash (not a clean stop) can lose the latest batches.
	SyncWrites bool
	// ClusterID is the cluster id reported in metadata. Default "weir-dev".
	ClusterID string
	// Logger receives the broker's log, kfake's info level mapped to debug.
	// Default: discard.
	Logger *slog.Logger
}

// Defaults of [Options].
const (
	DefaultAddr       = "127.0.0.1:9092"
	DefaultPartitions = 3
	DefaultClusterID  = "weir-dev"
)

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Partitions <= 0 {
		o.Partitions = DefaultPartitions
	}
	if o.ClusterID == "" {
		o.ClusterID = DefaultClusterID
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrAddrInUse is wrapped by [Start]'s error when the listen address is taken, typically
// by a real Kafka or another `weir dev`.
var ErrAddrInUse = errors.New("address already in use")

// ErrDataDirLocked is wrapped by [Start]'s error when another broker (another `weir
// dev`) is using the data directory.
var ErrDataDirLocked = errors.New("data dir is in use by another broker")

// Broker is a running single-node embedded Kafka broker. Its methods are safe for
// concurrent use.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	dataDir string
	unlock  func() error // releases the data dir lock
	// closeOnce starts the one goroutine that closes the cluster; closed is closed when
	// it has flushed and stopped. Close callers wait on closed.
	closeOnce sync.Once
	closed    chan struct{}
}

// Start starts a broker listening on opts.Addr, reloading any state persisted under
// opts.DataDir, which it locks against other brokers ([ErrDataDirLocked]) until Close.
// It returns once the broker accepts connections. The caller must Close it.
func Start(opts Options) (*Broker, error) {
	opts.setDefaults()
	if opts.DataDir == "" {
		return nil, errors.New("embedded: broker: DataDir is required")
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded: broker: data dir: %w", err)
	}
	unlock, err := lockDir(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded: broker: %w", err)
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DataDir(opts.DataDir),
		kfake.ClusterID(opts.ClusterID),
		kfake.DefaultNumPartitions(opts.Partitions),
		kfake.WithLogger(slogLogger{opts.Logger}),
		// kfake listens on 127.0.0.1:<port>; this makes it listen on opts.Addr instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, opts.Addr)
		}),
	}
	if opts.SyncWrites {
		kopts = append(kopts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		_ = unlock()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("embedded: broker: listen %s: %w (another Kafka running? pick a free port, or 0 for any)", opts.Addr, ErrAddrInUse)
		}
		return nil, fmt.Errorf("embedded: broker: %w", err)
	}
	addrs := c.ListenAddrs()
	return &Broker{cluster: c, addr: addrs[0], dataDir: opts.DataDir, unlock: unlock, closed: make(chan struct{})}, nil
}

// Addr returns the host:port the broker listens on (the bound port when Options.Addr
// had port 0). Clients use it as their seed broker.
func (b *Broker) Addr() string { return b.addr }

// DataDir returns the directory holding the broker's persisted state.
func (b *Broker) DataDir() string { return b.dataDir }

// Close stops accepting connections, writes the broker's state to its data directory
// and stops the broker. It blocks until that is done or ctx is done; on overrun it
// returns ctx.Err() and the flush finishes in the background. Calling Close again waits
// for the first one.
func (b *Broker) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		go func() {
			b.cluster.Close()
			_ = b.unlock()
			close(b.closed)
		}()
	})
	select {
	case <-b.closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("embedded: broker: close: %w", ctx.Err())
	}
}

// slogLogger adapts a *slog.Logger to kfake's Logger. kfake logs every request at info,
// which is debug material for weir.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	case kfake.LogLevelInfo:
		lvl = slog.LevelDebug
	case kfake.LogLevelDebug:
		lvl = slog.LevelDebug - 4
	default:
		return
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lvl) {
		return
	}
	s.l.Log(ctx, lvl, fmt.Sprintf(format, args...), "component", "broker")
}
