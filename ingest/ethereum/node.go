package ethereum

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// NodeOptions configures Dial. The zero value takes every default.
type NodeOptions struct {
	// Retries is how many times a failed call is retried when the failure looks
	// transient (connection errors, timeouts, rate limits). Default 5.
	Retries int
	// Backoff is the wait before the first retry; it doubles up to MaxBackoff.
	// Defaults 200ms and 5s.
	Backoff, MaxBackoff time.Duration
	// CallTimeout bounds each call. Default 30s.
	CallTimeout time.Duration
	// JSONBlocks makes Blocks use eth_getBlockByNumber and eth_getBlockReceipts even on
	// a node that serves debug_getRawBlock and debug_getRawReceipts. Default false.
	JSONBlocks bool
}

func (o *NodeOptions) setDefaults() {
	if o.Retries <= 0 {
		o.Retries = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
}

// ErrWrongChain means the node serves another chain than the one configured.
var ErrWrongChain = errors.New("node serves another chain")

// Node is an Ethereum JSON-RPC endpoint checked to serve the expected chain, with
// bounded retries on transient failures. It is safe for concurrent use.
type Node struct {
	url     string
	chainID uint64
	rpc     *rpc.Client
	eth     *ethclient.Client
	o       NodeOptions
	// noBlockReceipts is set once the node answered that it lacks eth_getBlockReceipts.
	noBlockReceipts atomic.Bool
	// noRawBlocks is set once the node answered that it lacks the debug raw methods.
	noRawBlocks atomic.Bool
}

// Dial connects to url (http(s):// or ws(s)://) and checks that the node serves chain
// wantChainID. An unreachable node or a wrong chain is an error naming the URL.
func Dial(ctx context.Context, url string, wantChainID uint64, o NodeOptions) (*Node, error) {
	o.setDefaults()
	c, err := rpc.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("ethereum node %s: %w", url, err)
	}
	n := &Node{url: url, chainID: wantChainID, rpc: c, eth: ethclient.NewClient(c), o: o}
	var id *big.Int
	err = n.call(ctx, "eth_chainId", func(ctx context.Context) (err error) {
		id, err = n.eth.ChainID(ctx)
		return err
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("ethereum node %s: chain id: %w", url, err)
	}
	if !id.IsUint64() || id.Uint64() != wantChainID {
		c.Close()
		return nil, fmt.Errorf("ethereum node %s: %w: chain id %s, configured %d", url, ErrWrongChain, id, wantChainID)
	}
	return n, nil
}

// Close closes the connection.
func (n *Node) Close() { n.rpc.Close() }

// ChainID returns the chain the node was checked to serve.
func (n *Node) ChainID() uint64 { return n.chainID }

// Head returns the number of the node's latest block.
func (n *Node) Head(ctx context.Context) (uint64, error) {
	var h uint64
	err := n.call(ctx, "eth_blockNumber", func(ctx context.Context) (err error) {
		h, err = n.eth.BlockNumber(ctx)
		return err
	})
	return h, err
}

// Finalized returns the number of the node's finalized block ("finalized" tag).
func (n *Node) Finalized(ctx context.Context) (uint64, error) {
	var h *types.Header
	err := n.call(ctx, "eth_getBlockByNumber(finalized)", func(ctx context.Context) (err error) {
		h, err = n.eth.HeaderByNumber(ctx, big.NewInt(int64(rpc.FinalizedBlockNumber)))
		return err
	})
	if err != nil {
		return 0, err
	}
	return h.Number.Uint64(), nil
}

// Safe returns the number of the node's safe block ("safe" tag).
func (n *Node) Safe(ctx context.Context) (uint64, error) {
	var h *types.Header
	err := n.call(ctx, "eth_getBlockByNumber(safe)", func(ctx context.Context) (err error) {
		h, err = n.eth.HeaderByNumber(ctx, big.NewInt(int64(rpc.SafeBlockNumber)))
		return err
	})
	if err != nil {
		return 0, err
	}
	return h.Number.Uint64(), nil
}

// CanonicalHash returns the hash of the canonical block at number (a HashSource), or
// the zero hash when number is above the node's head.
func (n *Node) CanonicalHash(ctx context.Context, number uint64) (common.Hash, error) {
	var h *types.Header
	err := n.call(ctx, "eth_getBlockByNumber", func(ctx context.Context) (err error) {
		h, err = n.eth.HeaderByNumber(ctx, new(big.Int).SetUint64(number))
		return err
	})
	if errors.Is(err, ethereum.NotFound) {
		return common.Hash{}, nil // above the node's head
	}
	if err != nil {
		return common.Hash{}, err
	}
	return h.Hash(), nil
}

// Block returns the block at number with its transactions and their receipts, in
// transaction order. It uses eth_getBlockReceipts, or one batch of
// eth_getTransactionReceipt calls on nodes that lack it.
func (n *Node) Block(ctx context.Context, number uint64) (*types.Block, []*types.Receipt, error) {
	var b *types.Block
	err := n.call(ctx, "eth_getBlockByNumber", func(ctx context.Context) (err error) {
		b, err = n.eth.BlockByNumber(ctx, new(big.Int).SetUint64(number))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	receipts, err := n.receipts(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	// A block replaced between the two calls (a reorg) fails here: the caller retries.
	if err := checkReceipts([]Fetched{{Block: b, Receipts: receipts}}); err != nil {
		return nil, nil, err
	}
	return b, receipts, nil
}

func (n *Node) receipts(ctx context.Context, b *types.Block) ([]*types.Receipt, error) {
	if len(b.Transactions()) == 0 {
		return nil, nil
	}
	if !n.noBlockReceipts.Load() {
		var rs []*types.Receipt
		err := n.call(ctx, "eth_getBlockReceipts", func(ctx context.Context) (err error) {
			rs, err = n.eth.BlockReceipts(ctx, rpc.BlockNumberOrHashWithHash(b.Hash(), false))
			return err
		})
		if err == nil {
			return rs, nil
		}
		if !isMethodNotFound(err) {
			return nil, err
		}
		n.noBlockReceipts.Store(true)
	}
	rs := make([]*types.Receipt, len(b.Transactions()))
	batch := make([]rpc.BatchElem, len(rs))
	for i, tx := range b.Transactions() {
		batch[i] = rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{tx.Hash()}, Result: &rs[i]}
	}
	err := n.call(ctx, "eth_getTransactionReceipt (batch)", func(ctx context.Context) error {
		if err := n.rpc.BatchCallContext(ctx, batch); err != nil {
			return err
		}
		for _, e := range batch {
			if e.Error != nil {
				return e.Error
			}
		}
		return nil
	})
	return rs, err
}

// call runs f with a per-call timeout, retrying transient failures with a doubling
// backoff, at most o.Retries times.
func (n *Node) call(ctx context.Context, what string, f func(context.Context) error) error {
	wait := n.o.Backoff
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, n.o.CallTimeout)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if attempt >= n.o.Retries || !transient(err) || ctx.Err() != nil {
			return fmt.Errorf("%s on %s: %w", what, n.url, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s on %s: %w", what, n.url, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, n.o.MaxBackoff)
	}
}

// transient reports whether a failed call is worth retrying: connection trouble,
// timeouts, rate limits and the node's "busy" answers, but not a request the node
// rejected.
func transient(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var httpErr rpc.HTTPError
	if errors.As(err, &httpErr) {
		return httpErr.StatusCode == 429 || httpErr.StatusCode >= 500
	}
	var rpcErr rpc.Error
	if errors.As(err, &rpcErr) {
		// -32005: limit exceeded (EIP-1474); -32603: internal error, often transient.
		return rpcErr.ErrorCode() == -32005 || rpcErr.ErrorCode() == -32603
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "eof") || strings.Contains(msg, "rate limit") || strings.Contains(msg, "too many requests")
}

func isMethodNotFound(err error) bool {
	var rpcErr rpc.Error
	return errors.As(err, &rpcErr) && rpcErr.ErrorCode() == -32601
}
