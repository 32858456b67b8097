package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/bench/chaingen"
	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
)

// TestDevIndexesTheSimulatedChain runs `weir dev` with a reorg every four blocks and,
// while it runs, finds the simulated chain's blocks, transfers and retractions in the
// embedded broker's chain topics; then stops it as Ctrl-C does.
func TestDevIndexesTheSimulatedChain(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	l, errc := startWeir(t, ctx, "dev", "--for", "2m", "--data", dir, "--broker-port", "0",
		"--http", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--reorg-every", "4", "--chain-rate", "30")
	broker := strings.Fields(field(t, l, "broker"))[0]
	l.waitFor(t, "running for 2m")
	brokers := []string{broker}
	var blocks []*chainv1.Block
	var transfers, retractions int
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Second) {
		blocks = blocks[:0]
		for _, r := range kafkatest.ReadCommitted(t, brokers, "chain.blocks") {
			b := new(chainv1.Block)
			if err := codec.Unmarshal(r.Value, b); err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, b)
		}
		transfers = len(kafkatest.ReadCommitted(t, brokers, "chain.transfers"))
		retractions = len(kafkatest.ReadCommitted(t, brokers, "chain.retractions"))
		if len(blocks) >= 6 && transfers >= 50 && retractions > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s: %d blocks, %d transfers, %d retractions; want at least 6, 50, 1", len(blocks), transfers, retractions)
		}
	}
	for i, b := range blocks {
		if b.GetChainId() != 1337 || (i > 0 && b.GetNumber() > blocks[i-1].GetNumber()+1) {
			t.Fatalf("block %d after %d: a gap", b.GetNumber(), blocks[i-1].GetNumber())
		}
	}
	cancel() // Ctrl-C
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("weir dev: %v", err)
	}
}

// TestRunIngest runs `weir run ingest-eth --config` with two chains against the real
// Kafka: the local geth --dev and a second node (the simulated chain of the traffic
// generator), and checks that both indexers commit positions; then that a configured
// chain id the node does not serve stops the command with a clear error.
func TestRunIngest(t *testing.T) {
	brokers := testenv.Kafka(t)
	gethURL := testenv.EthRPC(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	sim := newSimChain(simTestConfig(), brokers, discard)
	simErr := make(chan error, 1)
	go func() { simErr <- sim.Run(ctx) }()
	var ep endpoint
	select {
	case ep = <-sim.ready:
	case err := <-simErr:
		t.Fatalf("simulated chain: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("simulated chain not up after a minute")
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := catalog.Apply(ctx, kadm.NewClient(cl), catalog.All()); err != nil {
		t.Fatalf("apply the catalogue: %v", err)
	}
	name := fmt.Sprintf("test-%d", time.Now().UnixNano())
	file := filepath.Join(t.TempDir(), "weir.yaml")
	yaml := fmt.Sprintf(`kafka: {brokers: [%q]}
http: {addr: "127.0.0.1:0"}
ethereum:
  chains:
    - {name: %s-geth, rpc_url: %q, chain_id: 1337, start_at_head: true}
    - {name: %s-sim, rpc_url: %q, ws_url: %q, chain_id: 1337, finality_depth: 4}
`, brokers[0], name, gethURL, name, ep.RPCURL, ep.WSURL)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	l, errc := startWeir(t, rctx, "run", "ingest-eth", "--config", file)
	l.waitFor(t, "weir run ingest-eth: indexes chain 1337 from "+gethURL)
	for _, id := range []string{name + "-geth/1337", name + "-sim/1337"} {
		waitPosition(t, brokers, id, 2*time.Minute)
	}
	rcancel()
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("weir run ingest-eth: %v", err)
	}

	// A chain id the node does not serve is an error at start, naming the node.
	cmd := newRootCmd()
	cmd.SetArgs([]string{"run", "ingest-eth", "--brokers", brokers[0], "--http", "127.0.0.1:0",
		"--eth-rpc-url", gethURL, "--eth-chain-id", "1"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "serves another chain") || !strings.Contains(err.Error(), gethURL) {
			t.Errorf("wrong chain id: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("wrong chain id: still running after a minute")
	}
}

// waitPosition waits until the indexer id has committed a checkpoint.
func waitPosition(t *testing.T, brokers []string, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("chain.checkpoints"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd().Relative(-200)))
		if err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		cl.Close()
		found := false
		fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Key) == id })
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of %s after %v", id, timeout)
		}
	}
}

// simTestConfig is a quick simulated chain: a block every 200ms.
func simTestConfig() chaingen.Config {
	return chaingen.Config{Rate: 20, BlockInterval: 200 * time.Millisecond, Accounts: 8}
}

// TestDevThenSQLAndSearch runs `weir dev --for 25s` in an empty directory, then `weir sql`
// and `weir search` with no flags, as a newcomer would: they query the Parquet archive
// (DuckDB) and the Bleve index that the dev sinks filled from the simulated chain.
func TestDevThenSQLAndSearch(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("WEIR_CLICKHOUSE_ADDR", "")
	t.Setenv("WEIR_ELASTICSEARCH_URL", "")
	_, errc := startWeir(t, t.Context(), "dev", "--for", "25s", "--broker-port", "0", "--http", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0",
		"--reorg-every", "6")
	if err := waitErr(t, errc, 2*time.Minute); err != nil {
		t.Fatalf("weir dev: %v", err)
	}

	l, errc := startWeir(t, t.Context(), "sql", "--format", "json",
		"SELECT count(*) AS transfers, count(DISTINCT event_id) AS ids FROM chain_transfers_canonical")
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("weir sql: %v", err)
	}
	var sqlCount int
	line := l.waitFor(t, `    "transfers": `)
	if _, err := fmt.Sscanf(strings.TrimSpace(line), `"transfers": %d`, &sqlCount); err != nil || sqlCount < 20 {
		t.Fatalf("weir sql: %q (%v), want at least 20 transfers", line, err)
	}
	l.waitFor(t, fmt.Sprintf(`    "ids": %d`, sqlCount))

	l, errc = startWeir(t, t.Context(), "search", "--topic", "chain.transfers", "--size", "1", "retracted:false")
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("weir search: %v", err)
	}
	// Each sink lands what it had read when dev stopped (the rest waits for the next
	// run), so the two stores need not hold the same number; each holds the generator's
	// transfers.
	var searchCount int
	got := l.waitFor(t, "(1 of ")
	if _, err := fmt.Sscanf(got, "(1 of %d matches)", &searchCount); err != nil || searchCount < 20 {
		t.Fatalf("weir search: %q, want at least 20 transfers", got)
	}
}
