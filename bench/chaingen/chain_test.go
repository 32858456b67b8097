package chaingen_test

import (
	"context"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/weirhq/weir/bench/chaingen"
)

// transferTopic is the topic of ERC-20 and ERC-721 Transfer events.
var transferTopic = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))

func start(t *testing.T, cfg chaingen.Config) *chaingen.Chain {
	t.Helper()
	c, err := chaingen.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func dial(t *testing.T, url string) *ethclient.Client {
	t.Helper()
	cl, err := ethclient.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  chaingen.Config
		ok   bool
	}{
		{"zero value", chaingen.Config{}, true},
		{"too few accounts", chaingen.Config{Accounts: 3}, false},
		{"too many per block", chaingen.Config{Rate: 1000, BlockInterval: time.Second}, false},
		{"fraud rate above 1", chaingen.Config{FraudRate: 1.5}, false},
		{"fraud disabled", chaingen.Config{FraudRate: -1}, true},
		{"tiny threshold", chaingen.Config{StructuringThreshold: big.NewInt(10)}, false},
		{"same ports", chaingen.Config{HTTPPort: 8545, WSPort: 8545}, false},
		{"deep reorgs", chaingen.Config{MaxReorgDepth: 32}, false},
		{"negative reorg interval", chaingen.Config{ReorgEvery: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestTrafficOverHTTP drives blocks with Step and reads them back as an indexer would:
// ethclient over the HTTP URL, eth_getBlockReceipts and the finalized tag.
func TestTrafficOverHTTP(t *testing.T) {
	ctx := t.Context()
	c := start(t, chaingen.Config{FraudRate: -1})
	cl := dial(t, c.URL())

	id, err := cl.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.Uint64() != chaingen.ChainID {
		t.Fatalf("chain id %d, want %d", id, chaingen.ChainID)
	}
	start, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const steps = 12
	c.InjectRevert()
	for range steps {
		if err := c.Step(ctx); err != nil {
			t.Fatalf("Step: %v", err)
		}
	}
	head, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head != start+steps {
		t.Fatalf("head %d after %d steps from %d", head, steps, start)
	}

	var txs, native, tokenTransfers, reverted int
	for n := start + 1; n <= head; n++ {
		block, err := cl.BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		receipts, err := cl.BlockReceipts(ctx, rpc.BlockNumberOrHashWithNumber(rpc.BlockNumber(n)))
		if err != nil {
			t.Fatalf("eth_getBlockReceipts %d: %v", n, err)
		}
		if len(receipts) != len(block.Transactions()) {
			t.Fatalf("block %d: %d receipts for %d transactions", n, len(receipts), len(block.Transactions()))
		}
		txs += len(receipts)
		for i, tx := range block.Transactions() {
			r := receipts[i]
			if r.Status != types.ReceiptStatusSuccessful {
				reverted++
				continue
			}
			if len(tx.Data()) == 0 && tx.Value().Sign() > 0 {
				native++
			}
			for _, l := range r.Logs {
				if l.Address == c.Token() && len(l.Topics) == 3 && l.Topics[0] == transferTopic {
					tokenTransfers++
				}
			}
		}
	}
	st := c.Stats()
	t.Logf("%d blocks, %d transactions: %d native, %d token transfers, %d reverted; stats %+v",
		steps, txs, native, tokenTransfers, reverted, st)
	if st.SendErrors != 0 {
		t.Fatalf("%d transactions refused", st.SendErrors)
	}
	if uint64(txs) != st.Transactions || st.Blocks != steps {
		t.Fatalf("chain has %d transactions in %d blocks, stats say %d in %d", txs, steps, st.Transactions, st.Blocks)
	}
	if txs < steps*20 {
		t.Fatalf("%d transactions, want at least Rate × steps = %d", txs, steps*20)
	}
	if native == 0 || tokenTransfers == 0 || st.TokenApprovals == 0 || st.NFTMints == 0 {
		t.Fatalf("traffic mix lacks a kind: native %d, token %d, stats %+v", native, tokenTransfers, st)
	}
	// Only the transactions sent to revert fail.
	if reverted == 0 || uint64(reverted) != st.Reverts {
		t.Fatalf("%d reverted on chain, %d sent to revert", reverted, st.Reverts)
	}

	fin, err := cl.HeaderByNumber(ctx, big.NewInt(int64(rpc.FinalizedBlockNumber)))
	if err != nil {
		t.Fatalf("finalized block: %v", err)
	}
	if fin.Number.Uint64() > head {
		t.Fatalf("finalized %d above head %d", fin.Number, head)
	}
}

// TestWebSocketNewHeads subscribes to newHeads over the WS URL.
func TestWebSocketNewHeads(t *testing.T) {
	ctx := t.Context()
	c := start(t, chaingen.Config{Rate: 2, FraudRate: -1})
	cl := dial(t, c.WSURL())

	heads := make(chan *types.Header, 16)
	sub, err := cl.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatalf("eth_subscribe newHeads: %v", err)
	}
	defer sub.Unsubscribe()

	const n = 3
	if err := c.Blocks(ctx, n); err != nil {
		t.Fatal(err)
	}
	want, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want -= n - 1
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case h := <-heads:
			if h.Number.Uint64() != want {
				t.Fatalf("head %d, want %d", h.Number, want)
			}
			want++
		case err := <-sub.Err():
			t.Fatalf("subscription: %v", err)
		case <-timeout:
			t.Fatalf("no head %d within 10s", want)
		}
	}
}

// TestRunMinesReorgsAndLabels runs the generator on its clock with fast blocks, frequent
// patterns and reorgs, until it has delivered some of each.
func TestRunMinesReorgsAndLabels(t *testing.T) {
	reorgs := make(chan chaingen.ReorgInfo, 64)
	patterns := make(chan chaingen.Pattern, 64)
	c := start(t, chaingen.Config{
		Rate:          400,
		BlockInterval: 5 * time.Millisecond,
		FraudRate:     0.5,
		ReorgEvery:    4,
		OnReorg: func(r chaingen.ReorgInfo) {
			select {
			case reorgs <- r:
			default:
			}
		},
		OnPattern: func(p chaingen.Pattern) {
			select {
			case patterns <- p:
			default:
			}
		},
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	timeout := time.After(20 * time.Second)
	var gotReorgs, gotPatterns int
	for gotReorgs < 2 || gotPatterns < 2 {
		select {
		case r := <-reorgs:
			gotReorgs++
			if r.NewHead.Number != r.OldHead.Number+1 || len(r.Orphaned) != r.Depth || r.Depth > 3 {
				t.Errorf("reorg %+v", r)
			}
		case <-patterns:
			gotPatterns++
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-timeout:
			t.Fatalf("after 20s: %d reorgs, %d patterns; stats %+v", gotReorgs, gotPatterns, c.Stats())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := c.Stats()
	t.Logf("stats %+v", st)
	if st.SendErrors != 0 {
		t.Fatalf("%d transactions refused", st.SendErrors)
	}
}

func txSender(t *testing.T, tx *types.Transaction) common.Address {
	t.Helper()
	from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
	if err != nil {
		t.Fatal(err)
	}
	return from
}

func TestFixedPortsAndClose(t *testing.T) {
	ctx := t.Context()
	c := start(t, chaingen.Config{FraudRate: -1})
	// A second chain on the first one's ports cannot start.
	port := func(url string) int {
		p, err := strconv.Atoi(url[strings.LastIndexByte(url, ':')+1:])
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := chaingen.Start(ctx, chaingen.Config{HTTPPort: port(c.URL()), WSPort: port(c.WSURL())}); err == nil {
		t.Fatal("Start on taken ports succeeded")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Step(ctx); !errors.Is(err, chaingen.ErrClosed) {
		t.Fatalf("Step after Close: %v, want ErrClosed", err)
	}
	if _, err := c.Reorg(ctx, 1); !errors.Is(err, chaingen.ErrClosed) {
		t.Fatalf("Reorg after Close: %v, want ErrClosed", err)
	}
}

func BenchmarkStep(b *testing.B) {
	c, err := chaingen.Start(b.Context(), chaingen.Config{FraudRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Step(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.Stats().Transactions)/float64(b.N), "txs/op")
}
