package signer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
)

// childEnv makes the test binary run a signer Service instead of the tests (see
// internal/proctest); the CHILD_* variables say where.
const childEnv = "WEIR_SIGNER_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild runs the signer until SIGTERM. The accounts it signs for are new, so the
// chain's pending nonce is 0 and no node is needed.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := func() error {
		chain, err := strconv.ParseUint(os.Getenv("CHILD_CHAIN_ID"), 10, 64)
		if err != nil {
			return fmt.Errorf("CHILD_CHAIN_ID: %w", err)
		}
		pass := os.Getenv("CHILD_PASSPHRASE")
		svc := &signer.Service{
			Addr:         os.Getenv("CHILD_ADDR"),
			Brokers:      strings.Split(os.Getenv("CHILD_BROKERS"), ","),
			TopicPrefix:  os.Getenv("CHILD_TOPIC_PREFIX"),
			StateDir:     os.Getenv("CHILD_STATE_DIR"),
			KeystoreDir:  os.Getenv("CHILD_KEYSTORE_DIR"),
			Passphrase:   func(context.Context) (string, error) { return pass, nil },
			KeystoreOpts: []keys.KeystoreOption{keys.WithScrypt(keys.ScryptLight)},
			Operators:    []signer.Operator{{ID: "operator:alice", Token: os.Getenv("CHILD_TOKEN")}},
			ChainIDs:     []uint64{chain},
			PendingNonce: func(context.Context, uint64, common.Address) (uint64, error) { return 0, nil },
			Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}
		return svc.Run(ctx)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}
