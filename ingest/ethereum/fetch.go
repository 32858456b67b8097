package ethereum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// Fetched is a block with its receipts (in transaction order) and the senders the node
// reported for its transactions.
type Fetched struct {
	Block    *types.Block
	Receipts []*types.Receipt
	// Senders are the "from" addresses the node returned with the transactions; nil
	// entries (or a nil slice) mean the sender must be recovered from the signature.
	Senders []*common.Address
}

// ErrBlockNotFound means the node has no block at a height (above its head) or with a
// hash (never seen, or pruned).
var ErrBlockNotFound = errors.New("block not found")

// Blocks fetches the blocks at numbers with their receipts in two batched round trips:
// one batch of eth_getBlockByNumber, one of eth_getBlockReceipts (or, on nodes without
// it, one batch of eth_getTransactionReceipt). A number above the node's head fails with
// ErrBlockNotFound. A block replaced between the two batches (a reorg) fails the call;
// the caller fetches again.
//
// Nodes that serve debug_getRawBlock and debug_getRawReceipts (geth, erigon, reth) are
// asked for the consensus encoding instead, which costs them and the indexer far less;
// see rawBlocks. NodeOptions.JSONBlocks turns that off.
func (n *Node) Blocks(ctx context.Context, numbers []uint64) ([]Fetched, error) {
	if !n.o.JSONBlocks && !n.noRawBlocks.Load() {
		fs, err := n.rawBlocks(ctx, numbers)
		switch {
		case err == nil:
			return fs, nil
		case isMethodNotFound(err):
			n.noRawBlocks.Store(true)
		case !errors.Is(err, errRawUnsupported):
			return nil, err
		}
	}
	return n.jsonBlocks(ctx, numbers)
}

// jsonBlocks is Blocks with eth_getBlockByNumber and eth_getBlockReceipts.
func (n *Node) jsonBlocks(ctx context.Context, numbers []uint64) ([]Fetched, error) {
	raw := make([]json.RawMessage, len(numbers))
	batch := make([]rpc.BatchElem, len(numbers))
	for i, num := range numbers {
		batch[i] = rpc.BatchElem{Method: "eth_getBlockByNumber", Args: []any{hexutil.EncodeUint64(num), true}, Result: &raw[i]}
	}
	if err := n.batch(ctx, "eth_getBlockByNumber (batch)", batch); err != nil {
		return nil, err
	}
	out := make([]Fetched, len(numbers))
	for i := range numbers {
		f, err := decodeBlock(raw[i])
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", numbers[i], err)
		}
		out[i] = f
	}
	if err := n.fillReceipts(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// BlockByHash fetches the block with hash and its receipts, canonical or not: the
// indexer uses it to list the events of a block that left the canonical chain.
func (n *Node) BlockByHash(ctx context.Context, hash common.Hash) (Fetched, error) {
	var raw json.RawMessage
	err := n.call(ctx, "eth_getBlockByHash", func(ctx context.Context) error {
		return n.rpc.CallContext(ctx, &raw, "eth_getBlockByHash", hash, true)
	})
	if err != nil {
		return Fetched{}, err
	}
	f, err := decodeBlock(raw)
	if err != nil {
		return Fetched{}, fmt.Errorf("block %s: %w", hash.Hex(), err)
	}
	out := []Fetched{f}
	if err := n.fillReceipts(ctx, out); err != nil {
		return Fetched{}, err
	}
	return out[0], nil
}

// fillReceipts fetches the receipts of every block of fs in one batch.
func (n *Node) fillReceipts(ctx context.Context, fs []Fetched) error {
	var idx []int // blocks with transactions
	for i, f := range fs {
		if len(f.Block.Transactions()) > 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	if !n.noBlockReceipts.Load() {
		results := make([][]*types.Receipt, len(idx))
		batch := make([]rpc.BatchElem, len(idx))
		for j, i := range idx {
			batch[j] = rpc.BatchElem{Method: "eth_getBlockReceipts", Args: []any{fs[i].Block.Hash()}, Result: &results[j]}
		}
		err := n.batch(ctx, "eth_getBlockReceipts (batch)", batch)
		switch {
		case err == nil:
			for j, i := range idx {
				fs[i].Receipts = results[j]
			}
			return checkReceipts(fs)
		case !isMethodNotFound(err):
			return err
		}
		n.noBlockReceipts.Store(true)
	}
	for _, i := range idx {
		rs, err := n.receipts(ctx, fs[i].Block)
		if err != nil {
			return err
		}
		fs[i].Receipts = rs
	}
	return checkReceipts(fs)
}

// checkReceipts verifies that every block got one receipt per transaction, for that
// transaction in that block.
func checkReceipts(fs []Fetched) error {
	for _, f := range fs {
		b := f.Block
		if len(f.Receipts) != len(b.Transactions()) {
			return fmt.Errorf("block %d: %d receipts for %d transactions", b.NumberU64(), len(f.Receipts), len(b.Transactions()))
		}
		for i, r := range f.Receipts {
			if r == nil || r.TxHash != b.Transactions()[i].Hash() || r.BlockHash != b.Hash() {
				// The block was replaced between the two batches (a reorg).
				return fmt.Errorf("block %d: receipt %d does not belong to block %s", b.NumberU64(), i, b.Hash().Hex())
			}
		}
	}
	return nil
}

// batch sends elems as one batch, with the retries of call, and fails with the first
// element's error; a null result (a block the node does not have) is ErrBlockNotFound.
func (n *Node) batch(ctx context.Context, what string, elems []rpc.BatchElem) error {
	return n.call(ctx, what, func(ctx context.Context) error {
		for i := range elems {
			elems[i].Error = nil
		}
		if err := n.rpc.BatchCallContext(ctx, elems); err != nil {
			return err
		}
		for _, e := range elems {
			if e.Error != nil {
				return fmt.Errorf("%s(%v): %w", e.Method, e.Args[0], e.Error)
			}
		}
		return nil
	})
}

// rpcBlockBody is the part of an eth_getBlockBy* answer that is not the header.
type rpcBlockBody struct {
	Hash         *common.Hash        `json:"hash"`
	Transactions []rpcTx             `json:"transactions"`
	Withdrawals  []*types.Withdrawal `json:"withdrawals,omitempty"`
}

// rpcTx is a transaction of a block answer with the sender the node computed.
type rpcTx struct {
	tx   *types.Transaction
	From *common.Address `json:"from,omitempty"`
}

func (t *rpcTx) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &t.tx); err != nil {
		return err
	}
	type extra struct {
		From *common.Address `json:"from,omitempty"`
	}
	var e extra
	if err := json.Unmarshal(b, &e); err != nil {
		return err
	}
	t.From = e.From
	return nil
}

// decodeBlock decodes an eth_getBlockBy* answer with full transactions, checking that
// the header hashes to the hash the node gave.
func decodeBlock(raw json.RawMessage) (Fetched, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return Fetched{}, ErrBlockNotFound
	}
	var head *types.Header
	if err := json.Unmarshal(raw, &head); err != nil {
		return Fetched{}, fmt.Errorf("decode header: %w", err)
	}
	var body rpcBlockBody
	if err := json.Unmarshal(raw, &body); err != nil {
		return Fetched{}, fmt.Errorf("decode body: %w", err)
	}
	if body.Hash != nil && *body.Hash != head.Hash() {
		return Fetched{}, fmt.Errorf("header hashes to %s, node says %s", head.Hash().Hex(), body.Hash.Hex())
	}
	if (head.TxHash == types.EmptyTxsHash) != (len(body.Transactions) == 0) {
		return Fetched{}, fmt.Errorf("header and transaction list disagree (%d transactions)", len(body.Transactions))
	}
	txs := make([]*types.Transaction, len(body.Transactions))
	senders := make([]*common.Address, len(body.Transactions))
	for i, t := range body.Transactions {
		txs[i], senders[i] = t.tx, t.From
	}
	b := types.NewBlockWithHeader(head).WithBody(types.Body{Transactions: txs, Withdrawals: body.Withdrawals})
	return Fetched{Block: b, Senders: senders}, nil
}
