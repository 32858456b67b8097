package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/weirhq/weir/gateway/webhook"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// RedisPoolSize is the Redis connection pool the gateway wants: one connection per
// request in flight (go-redis's default, 10 per CPU, queues requests under load).
const RedisPoolSize = 256

// DefaultComponent is the gateway's component name (`weir run gateway`).
const DefaultComponent = "gateway"

// Service is the whole gateway as one component: the HTTP API, the Projector (with the
// webhook fan-out), the ReconDriver and the webhook Dispatcher, on one Kafka client and
// one Redis. Run owns them all.
type Service struct {
	// ComponentName is the component name. Default DefaultComponent.
	ComponentName string
	// Addr is the API's listen address, e.g. ":8080". Required.
	Addr string
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Redis is the projection's Redis. Required.
	Redis redis.UniversalClient
	// RedisPrefix prefixes every Redis key. Default "weir:gw".
	RedisPrefix string
	// MasterKey derives webhook secrets; at least 32 bytes. Required.
	MasterKey []byte
	// TopicPrefix is put before topic names. Default "".
	TopicPrefix string
	// Server carries the API's other options (assets, limits); its Client, Store,
	// TopicPrefix, Webhooks and MasterKey are set by Run.
	Server Options
	// Webhook carries the dispatcher's options. Default: webhook's defaults.
	Webhook webhook.Options
	// KafkaOpts are extra client options (TLS, SASL).
	KafkaOpts []kgo.Opt
	// OnListen, if set, is called with the API's address once it listens.
	OnListen func(addr string)
	// Logger receives the components' logs. Default slog.Default().
	Logger *slog.Logger
}

// Name returns the component name.
func (s *Service) Name() string {
	if s.ComponentName == "" {
		return DefaultComponent
	}
	return s.ComponentName
}

// Describe says what the gateway reads and writes.
func (s *Service) Describe() string {
	return fmt.Sprintf("serves the merchant API on %s; reads %s, %s, %s, %s, %s, %s; writes the payments.* topics and %s",
		s.Addr, TopicRecon, TopicIntents, TopicMerchants, "payments.conditions", "payments.approvals",
		"payments.subscriptions", "settlement.payouts")
}

// Check reports whether Redis answers.
func (s *Service) Check(ctx context.Context) error { return s.Redis.Ping(ctx).Err() }

// ParseMasterKey decodes a hex master key of at least 32 bytes.
func ParseMasterKey(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("gateway: master key: not hex")
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("gateway: master key: %d bytes, want at least 32", len(b))
	}
	return b, nil
}

// Run serves until ctx is done, then shuts the API down (in-flight requests get 10 s)
// and stops the rest. It returns nil then, or the first failure.
func (s *Service) Run(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	if len(s.MasterKey) < 32 {
		return errors.New("gateway: a master key of at least 32 bytes is required")
	}
	prefix := s.RedisPrefix
	if prefix == "" {
		prefix = "weir:gw"
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Brokers...), kgo.ProducerLinger(0)}, s.KafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("gateway: kafka client: %w", err)
	}
	defer cl.Close()
	store := NewStore(s.Redis, prefix)
	queue := webhook.NewQueue(s.Redis, prefix+":webhooks")
	o := s.Server
	o.Client, o.Store, o.TopicPrefix, o.Webhooks, o.MasterKey = cl, store, s.TopicPrefix, queue, s.MasterKey
	if o.Logger == nil {
		o.Logger = log
	}
	api, err := NewServer(o)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	fan := &Fanout{Store: store, Queue: queue}
	hooks := append([]func(context.Context, *paymentsv1.IntentTransition) error{fan.Intent}, api.IntentHooks()...)
	onIntent := func(ctx context.Context, it *paymentsv1.IntentTransition) error {
		for _, h := range hooks {
			if err := h(ctx, it); err != nil {
				return err
			}
		}
		return nil
	}
	proj := &Projector{Brokers: s.Brokers, Store: store, TopicPrefix: s.TopicPrefix, OnIntent: onIntent,
		Extra: api.Projections(), KafkaOpts: s.KafkaOpts, Logger: log}
	drv := &ReconDriver{Brokers: s.Brokers, Client: cl, Store: store, TopicPrefix: s.TopicPrefix, KafkaOpts: s.KafkaOpts, Logger: log}
	wo := s.Webhook
	if wo.Logger == nil {
		wo.Logger = log
	}
	disp := webhook.NewDispatcher(queue, Secrets(s.MasterKey), Recorder(cl, s.TopicPrefix), wo)

	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	defer ln.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// The API serves once the projection has what Kafka has (a fresh or emptied Redis
		// is rebuilt first, so no address index or idempotency-relevant state is missed).
		select {
		case <-gctx.Done():
			return nil
		case <-proj.Ready():
		}
		if s.OnListen != nil {
			s.OnListen(ln.Addr().String())
		}
		log.Info("gateway listening", "addr", ln.Addr().String())
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("gateway: serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	for _, run := range append([]func(context.Context) error{proj.Run, drv.Run, disp.Run}, api.Background()...) {
		g.Go(func() error {
			if err := run(gctx); err != nil {
				return err
			}
			if ctx.Err() == nil && gctx.Err() == nil {
				return errors.New("gateway: a part stopped early")
			}
			return nil
		})
	}
	return g.Wait()
}
