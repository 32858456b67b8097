package ingestbench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// DevChainID is the chain ID of geth --dev.
const DevChainID = 1337

// logsChunk is the block span of one eth_getLogs call when the chain's logs are counted.
const logsChunk = 1000

// countBatch is the number of calls in one JSON-RPC batch when transactions are counted.
const countBatch = 500

// Chain is a prepared chain served by a geth of its own. Its fields are read-only; Close
// must be called to stop geth. Its methods are safe for concurrent use.
type Chain struct {
	// From and To are the block range to backfill, inclusive: 1..head.
	From, To uint64
	// Transactions and Logs are the numbers of transactions and logs in From..To, counted
	// from the node (eth_getBlockTransactionCountByNumber, eth_getLogs).
	Transactions, Logs uint64
	// TokenTransfers is the number of ERC-20 Transfer logs among Logs.
	TokenTransfers uint64
	// Dir is geth's datadir, the cached chain.
	Dir string
	// Reused says whether the chain came from the cache rather than being made now.
	Reused bool

	geth    *geth
	chainID uint64
}

// URL is the node's HTTP JSON-RPC endpoint on loopback.
func (c *Chain) URL() string { return c.geth.url }

// ChainID is the node's chain ID, [DevChainID].
func (c *Chain) ChainID() uint64 { return c.chainID }

// Blocks is the number of blocks in From..To.
func (c *Chain) Blocks() uint64 { return c.To - c.From + 1 }

// Close stops geth (SIGINT, then SIGKILL after Options.StopTimeout), so that the cached
// chain stays usable. It blocks until geth has exited; calling it again is a no-op.
func (c *Chain) Close() error { return c.geth.Close() }

// Prepare returns a running chain of opts.Blocks blocks with token transfers in them.
//
// A chain prepared before with the same Blocks and TxPerBlock is reused from
// CacheDir/bench/ingest-chain-<blocks>-<txperblock>: geth is only restarted on it.
// Otherwise geth --dev --dev.period 0 fills a temporary datadir (setup blocks that fund
// the senders, deploy WeirToken and mint, then opts.TxPerBlock transactions per block),
// is stopped cleanly, and the datadir is renamed into the cache, so a cache entry is
// always complete. A cached chain that fails to start or is short of blocks is made
// anew. Progress goes to opts.Progress. Prepare blocks; for 5000 blocks it takes a few
// minutes the first time and seconds afterwards.
func Prepare(ctx context.Context, opts Options) (*Chain, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	bin, err := FindGeth(opts.Geth, opts.CacheDir)
	if err != nil {
		return nil, err
	}
	parent := filepath.Join(opts.CacheDir, "bench")
	dir := filepath.Join(parent, fmt.Sprintf("ingest-chain-%d-%d", opts.Blocks, opts.TxPerBlock))
	if _, err := os.Stat(dir); err == nil {
		c, err := openChain(ctx, bin, dir, opts)
		if err == nil {
			c.Reused = true
			fmt.Fprintf(opts.Progress, "ingestbench: reusing cached chain %s (blocks %d..%d)\n", dir, c.From, c.To)
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		fmt.Fprintf(opts.Progress, "ingestbench: cached chain %s unusable, making it anew: %v\n", dir, err)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("ingestbench: remove cached chain: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ingestbench: cached chain: %w", err)
	}

	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("ingestbench: cache dir: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(dir)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("ingestbench: temp datadir: %w", err)
	}
	if err := makeChain(ctx, bin, tmp, opts); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another Prepare may have finished the same chain first; use that one.
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(dir); statErr != nil {
			return nil, fmt.Errorf("ingestbench: cache chain: %w", err)
		}
	}
	return openChain(ctx, bin, dir, opts)
}

// makeChain runs geth on the empty datadir, makes the blocks and stops geth.
func makeChain(ctx context.Context, bin, datadir string, opts Options) error {
	g, err := startGeth(ctx, bin, datadir, opts.StopTimeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.Progress, "ingestbench: making %d blocks of %d transactions in %s (geth %s)\n",
		opts.Blocks, opts.TxPerBlock, datadir, g.url)
	began := time.Now()
	err = fill(ctx, g.url, opts)
	if cerr := g.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.Progress, "ingestbench: made %d blocks in %v\n", opts.Blocks, time.Since(began).Round(time.Millisecond))
	return nil
}

// openChain starts geth on a complete datadir, checks it and counts its contents.
func openChain(ctx context.Context, bin, dir string, opts Options) (*Chain, error) {
	g, err := startGeth(ctx, bin, dir, opts.StopTimeout)
	if err != nil {
		return nil, err
	}
	c := &Chain{Dir: dir, geth: g}
	if err := c.inspect(ctx, opts.Blocks); err != nil {
		g.Close()
		return nil, err
	}
	return c, nil
}

// inspect reads the chain ID and head, checks the head reaches want, and counts the
// transactions and logs of 1..head. Reading every body and receipt once also warms
// geth's caches, so that the first backfill timed is not at a disadvantage.
func (c *Chain) inspect(ctx context.Context, want uint64) error {
	rc, err := rpc.DialContext(ctx, c.geth.url)
	if err != nil {
		return fmt.Errorf("ingestbench: dial geth: %w", err)
	}
	defer rc.Close()
	ec := ethclient.NewClient(rc)
	id, err := ec.ChainID(ctx)
	if err != nil {
		return fmt.Errorf("ingestbench: chain id: %w", err)
	}
	if id.Cmp(big.NewInt(DevChainID)) != 0 {
		return fmt.Errorf("ingestbench: chain id %v, want %d", id, DevChainID)
	}
	head, err := ec.BlockNumber(ctx)
	if err != nil {
		return fmt.Errorf("ingestbench: head: %w", err)
	}
	if head < want {
		return fmt.Errorf("ingestbench: chain has %d blocks, want %d", head, want)
	}
	c.chainID, c.From, c.To = DevChainID, 1, head

	for lo := c.From; lo <= c.To; lo += countBatch {
		hi := min(lo+countBatch-1, c.To)
		counts := make([]hexutil.Uint64, hi-lo+1)
		batch := make([]rpc.BatchElem, len(counts))
		for i := range batch {
			batch[i] = rpc.BatchElem{
				Method: "eth_getBlockTransactionCountByNumber",
				Args:   []any{hexutil.Uint64(lo + uint64(i))},
				Result: &counts[i],
			}
		}
		if err := rc.BatchCallContext(ctx, batch); err != nil {
			return fmt.Errorf("ingestbench: count transactions: %w", err)
		}
		for i, b := range batch {
			if b.Error != nil {
				return fmt.Errorf("ingestbench: count transactions of block %d: %w", lo+uint64(i), b.Error)
			}
			c.Transactions += uint64(counts[i])
		}
	}
	for lo := c.From; lo <= c.To; lo += logsChunk {
		hi := min(lo+logsChunk-1, c.To)
		logs, err := ec.FilterLogs(ctx, ethereum.FilterQuery{
			FromBlock: new(big.Int).SetUint64(lo),
			ToBlock:   new(big.Int).SetUint64(hi),
		})
		if err != nil {
			return fmt.Errorf("ingestbench: logs of %d..%d: %w", lo, hi, err)
		}
		c.Logs += uint64(len(logs))
		for _, l := range logs {
			if len(l.Topics) == 3 && l.Topics[0] == transferTopic {
				c.TokenTransfers++
			}
		}
	}
	return nil
}
