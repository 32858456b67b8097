package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weirhq/weir/internal/proctest"
)

// childEnv makes the test binary run a gateway Service instead of the tests (see
// internal/proctest); the CHILD_* variables say where.
const childEnv = "WEIR_GATEWAY_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild runs the whole gateway until SIGTERM, with a short idempotency hold so that
// retries take over the keys of requests the previous process died holding.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		// A child that does not stop shows where it hangs (proctest.Stop fails after
		// proctest.StopTimeout); it exits before this fires otherwise.
		<-ctx.Done()
		<-time.After(proctest.StopTimeout / 3)
		fmt.Fprintln(os.Stderr, "child: still running after SIGTERM; goroutines:")
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	}()
	err := func() error {
		master, err := ParseMasterKey(os.Getenv("CHILD_MASTER_KEY"))
		if err != nil {
			return err
		}
		hold, err := time.ParseDuration(os.Getenv("CHILD_HOLD"))
		if err != nil {
			return fmt.Errorf("CHILD_HOLD: %w", err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("CHILD_REDIS")})
		defer rdb.Close()
		svc := &Service{
			Addr:        os.Getenv("CHILD_ADDR"),
			Brokers:     strings.Split(os.Getenv("CHILD_BROKERS"), ","),
			Redis:       rdb,
			RedisPrefix: os.Getenv("CHILD_REDIS_PREFIX"),
			MasterKey:   master,
			TopicPrefix: os.Getenv("CHILD_TOPIC_PREFIX"),
			// The load is the test's, not a merchant's: no rate limit in the way.
			Server: Options{IdempotencyHold: hold, RateLimit: 1 << 20},
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}
		return svc.Run(ctx)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}
