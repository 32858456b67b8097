package ingestbench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/weirhq/weir/bench/ingestbench"
)

// testBlocks is the size of the chain the tests prepare.
const testBlocks = 30

// gethOrSkip returns the geth binary, skipping the test when there is none unless CI is
// set, where it fails.
func gethOrSkip(t *testing.T) string {
	t.Helper()
	bin, err := ingestbench.FindGeth("", "")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %v", err)
		}
		t.Skip(err)
	}
	return bin
}

// logWriter sends progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testOptions(t *testing.T, cache string) ingestbench.Options {
	return ingestbench.Options{
		Blocks:           testBlocks,
		TxPerBlock:       4,
		Senders:          3,
		Geth:             gethOrSkip(t),
		CacheDir:         cache,
		Progress:         logWriter{t},
		ProgressInterval: time.Second,
	}
}

func TestPrepareMakesAndReusesChain(t *testing.T) {
	opts := testOptions(t, t.TempDir())
	ctx := t.Context()

	c, err := ingestbench.Prepare(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.Reused {
		t.Error("first Prepare reused a chain from an empty cache")
	}
	if c.ChainID() != ingestbench.DevChainID || c.From != 1 || c.To < testBlocks {
		t.Fatalf("chain %d range %d..%d, want %d range 1..>=%d", c.ChainID(), c.From, c.To, ingestbench.DevChainID, testBlocks)
	}
	// After the setup blocks (funding, deploy, mints), a block carries one round of
	// TxPerBlock transactions, half of them token transfers with one Transfer log each,
	// or, now and then, none: geth --dev.period 0 sometimes seals an empty block when
	// the next round arrives while it is sealing. A round is never split.
	ec, err := ethclient.DialContext(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	var firstFull uint64
	full, empty := 0, 0
	for n := c.From; n <= c.To; n++ {
		b, err := ec.BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		switch got := len(b.Transactions()); {
		case got == opts.TxPerBlock:
			full++
			if firstFull == 0 {
				firstFull = n
			}
		case firstFull == 0:
		case got == 0:
			empty++
		default:
			t.Errorf("block %d after the setup has %d transactions, want %d", n, got, opts.TxPerBlock)
		}
	}
	if firstFull == 0 || firstFull > 12 {
		t.Errorf("first block of %d transactions is %d, want one soon after the setup", opts.TxPerBlock, firstFull)
	}
	if empty > full/4 {
		t.Errorf("after the setup, %d empty blocks and %d full ones", empty, full)
	}
	if want := uint64(full * opts.TxPerBlock / 2); c.TokenTransfers < want {
		t.Errorf("%d token transfers, want at least %d", c.TokenTransfers, want)
	}
	logs, err := ec.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(int64(c.From)), ToBlock: big.NewInt(int64(c.To))})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(logs)) != c.Logs || c.Logs != c.TokenTransfers {
		t.Errorf("chain says %d logs, %d token transfers; eth_getLogs has %d", c.Logs, c.TokenTransfers, len(logs))
	}
	first := *c
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	again, err := ingestbench.Prepare(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	t.Logf("rerun Prepare took %v", time.Since(began))
	if !again.Reused || again.Dir != first.Dir {
		t.Errorf("rerun: reused %v dir %s, want the cached %s", again.Reused, again.Dir, first.Dir)
	}
	if again.To != first.To || again.Logs != first.Logs || again.Transactions != first.Transactions {
		t.Errorf("rerun: to %d, %d logs, %d txs; first: to %d, %d logs, %d txs",
			again.To, again.Logs, again.Transactions, first.To, first.Logs, first.Transactions)
	}
}

// countingBackfill is a stand-in for weir's backfill: it reads every block's logs.
func countingBackfill(short uint64) ingestbench.Backfill {
	return func(ctx context.Context, url string, chainID, from, to uint64) (ingestbench.Result, error) {
		began := time.Now()
		ec, err := ethclient.DialContext(ctx, url)
		if err != nil {
			return ingestbench.Result{}, err
		}
		defer ec.Close()
		if id, err := ec.ChainID(ctx); err != nil || id.Uint64() != chainID {
			return ingestbench.Result{}, errors.Join(err, errors.New("wrong chain"))
		}
		var res ingestbench.Result
		for n := from; n <= to-short; n++ {
			if _, err := ec.BlockByNumber(ctx, new(big.Int).SetUint64(n)); err != nil {
				return res, err
			}
			res.Blocks++
		}
		logs, err := ec.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(to - short)})
		if err != nil {
			return res, err
		}
		res.Logs = uint64(len(logs))
		res.Elapsed = time.Since(began)
		return res, nil
	}
}

func lastLine(t *testing.T, out string) map[string]float64 {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	var m map[string]float64
	if err := json.Unmarshal([]byte(last), &m); err != nil {
		t.Fatalf("last line %q: %v", last, err)
	}
	for _, k := range []string{"blocks_per_s", "logs_per_s", "peer_blocks_per_s", "ratio"} {
		if _, ok := m[k]; !ok {
			t.Errorf("last line %q has no %s", last, k)
		}
	}
	if len(m) != 4 {
		t.Errorf("last line %q: %d keys, want 4", last, len(m))
	}
	return m
}

func TestRunReports(t *testing.T) {
	opts := testOptions(t, t.TempDir())
	ctx := t.Context()

	var out bytes.Buffer
	rep, err := ingestbench.Run(ctx, opts, countingBackfill(0), &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	m := lastLine(t, out.String())
	if m["blocks_per_s"] <= 0 || m["logs_per_s"] <= 0 || m["peer_blocks_per_s"] != 0 || m["ratio"] != 0 {
		t.Errorf("last line %v: want positive weir rates and zero peer fields", m)
	}
	if rep.Weir.Blocks != rep.To-rep.From+1 || rep.Weir.Logs != rep.Logs || rep.Logs == 0 {
		t.Errorf("report %+v", rep)
	}

	// A backfill that misses blocks is reported, and is an error.
	out.Reset()
	_, err = ingestbench.Run(ctx, opts, countingBackfill(3), &out)
	if !errors.Is(err, ingestbench.ErrIncomplete) {
		t.Errorf("short backfill: err %v, want ErrIncomplete", err)
	}
	if !strings.Contains(out.String(), "MISMATCH") {
		t.Errorf("short backfill: report does not say MISMATCH:\n%s", out.String())
	}
	lastLine(t, out.String())
}

func TestRunEthereumETL(t *testing.T) {
	if os.Getenv("CI") == "" && os.Getenv("WEIR_BENCH_ETL") != "1" {
		t.Skip("installs ethereum-etl from PyPI on first use: runs when CI is set or WEIR_BENCH_ETL=1")
	}
	opts := testOptions(t, t.TempDir())
	opts.VsEthereumETL = true
	// The weir cache's virtualenv, installed once per machine.
	if opts.ETL.CacheDir = os.Getenv("WEIR_CACHE"); opts.ETL.CacheDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		opts.ETL.CacheDir = filepath.Join(home, ".cache", "weir")
	}
	ctx := t.Context()

	var out bytes.Buffer
	rep, err := ingestbench.Run(ctx, opts, countingBackfill(0), &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Peer
	if p == nil {
		t.Fatal("no ethereum-etl result")
	}
	if want := rep.To - rep.From + 1; p.Blocks != want {
		t.Errorf("ethereum-etl exported %d blocks, want %d", p.Blocks, want)
	}
	if p.Transactions != rep.Transactions || p.TokenTransfers != rep.TokenTransfers {
		t.Errorf("ethereum-etl: %d transactions, %d token transfers; chain: %d, %d",
			p.Transactions, p.TokenTransfers, rep.Transactions, rep.TokenTransfers)
	}
	m := lastLine(t, out.String())
	if m["peer_blocks_per_s"] <= 0 || m["ratio"] <= 0 {
		t.Errorf("last line %v: want positive peer rate and ratio", m)
	}
}
