package ethereum

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// ErrNoTracer means the node cannot trace blocks with geth's callTracer: it lacks
// debug_traceBlockByHash (the "debug" API namespace is not enabled, or the provider does
// not offer it) or the tracer. Internal transfers need a node started with the debug API,
// e.g. geth --http.api eth,net,web3,debug.
var ErrNoTracer = errors.New("node has no debug_traceBlockByHash with callTracer (enable the debug API)")

// Call frame types of geth's callTracer that move the frame's value from From to To.
// DELEGATECALL and STATICCALL move nothing (a DELEGATECALL frame repeats its caller's
// value), and CALLCODE sends the value to the caller itself.
const (
	frameCall         = "CALL"
	frameCreate       = "CREATE"
	frameCreate2      = "CREATE2"
	frameSelfdestruct = "SELFDESTRUCT"
)

// CallFrame is one call of a transaction's call tree, as geth's callTracer reports it.
type CallFrame struct {
	// Type is the opcode that made the frame: "CALL", "STATICCALL", "DELEGATECALL",
	// "CALLCODE", "CREATE", "CREATE2" or "SELFDESTRUCT".
	Type string
	// From is the address the value leaves (the caller's context address).
	From common.Address
	// To is the callee, the created contract or the self-destruct beneficiary; the zero
	// address for a failed CREATE.
	To common.Address
	// Value is the wei the frame carries; nil when the tracer reports none (STATICCALL).
	Value *big.Int
	// Error is why the frame failed ("execution reverted", "out of gas", …), empty when
	// it succeeded. The effects of a failed frame, its children's included, are undone.
	Error string
	// Calls are the frames this one made, in execution order.
	Calls []CallFrame
}

// Failed reports whether the frame failed (reverted or aborted).
func (f *CallFrame) Failed() bool { return f.Error != "" }

// TxTrace is the call tree of one transaction of a block.
type TxTrace struct {
	// TxHash is the transaction.
	TxHash common.Hash
	// Root is the top-level call; its value is the transaction's own (native) transfer.
	Root CallFrame
}

// TraceBlock returns the call tree of every transaction of the block with the given hash,
// in block order, from debug_traceBlockByHash with geth's callTracer. It blocks for the
// call (retried like every Node call; the node re-executes the block, which can take
// seconds for a full mainnet block, and the answer holds every call's input). A node
// without the method or the tracer gives an error wrapping ErrNoTracer; a transaction
// the node failed to trace is an error. Safe for concurrent use.
func (n *Node) TraceBlock(ctx context.Context, hash common.Hash) ([]TxTrace, error) {
	var results []traceResultJSON
	err := n.call(ctx, "debug_traceBlockByHash", func(ctx context.Context) error {
		results = nil
		return n.rpc.CallContext(ctx, &results, "debug_traceBlockByHash", hash, map[string]any{"tracer": "callTracer"})
	})
	if err != nil {
		if noTracer(err) {
			return nil, fmt.Errorf("trace block %s: %w: %w", hash.Hex(), ErrNoTracer, err)
		}
		return nil, fmt.Errorf("trace block %s: %w", hash.Hex(), err)
	}
	traces := make([]TxTrace, len(results))
	for i, r := range results {
		if r.Error != "" {
			return nil, fmt.Errorf("trace block %s: transaction %d (%s): %s", hash.Hex(), i, r.TxHash.Hex(), r.Error)
		}
		if r.Result == nil {
			return nil, fmt.Errorf("trace block %s: transaction %d (%s): no call frame", hash.Hex(), i, r.TxHash.Hex())
		}
		traces[i] = TxTrace{TxHash: r.TxHash, Root: r.Result.frame()}
	}
	return traces, nil
}

// noTracer reports whether err is a node's answer that it lacks the method or the tracer.
func noTracer(err error) bool {
	var rpcErr rpc.Error
	// -32004: method not supported (EIP-1474), used by some providers.
	if isMethodNotFound(err) || errors.As(err, &rpcErr) && rpcErr.ErrorCode() == -32004 {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "does not exist/is not available") || strings.Contains(msg, "method not found") ||
		strings.Contains(msg, "method not supported") || strings.Contains(msg, "tracer not found")
}

// traceResultJSON is one element of debug_traceBlockByHash's answer.
type traceResultJSON struct {
	TxHash common.Hash    `json:"txHash"`
	Result *callFrameJSON `json:"result"`
	Error  string         `json:"error"`
}

// callFrameJSON is a callTracer frame; the fields weir does not use (gas, input, output)
// are left out.
type callFrameJSON struct {
	Type  string          `json:"type"`
	From  common.Address  `json:"from"`
	To    *common.Address `json:"to"`
	Value *hexutil.Big    `json:"value"`
	Error string          `json:"error"`
	Calls []callFrameJSON `json:"calls"`
}

func (j *callFrameJSON) frame() CallFrame {
	f := CallFrame{Type: strings.ToUpper(j.Type), From: j.From, Value: (*big.Int)(j.Value), Error: j.Error}
	if j.To != nil {
		f.To = *j.To
	}
	if len(j.Calls) > 0 {
		f.Calls = make([]CallFrame, len(j.Calls))
		for i := range j.Calls {
			f.Calls[i] = j.Calls[i].frame()
		}
	}
	return f
}

// internalTransfer is a nested call frame that moved value: the frame and its trace
// address.
type internalTransfer struct {
	traceAddress string
	frame        *CallFrame
}

// internalTransfers returns, in execution order (depth first), the frames under root
// that moved value: CALL, CREATE, CREATE2 and SELFDESTRUCT frames with a value above
// zero that did not fail and have no failed ancestor. root itself (the transaction's
// native transfer) is not one of them, and nothing is when root failed. A trace address
// is the path of child indexes from root: root's first child is "0", that child's third
// child "0.2".
func internalTransfers(root *CallFrame) []internalTransfer {
	if root.Failed() {
		return nil
	}
	var out []internalTransfer
	var walk func(f *CallFrame, path []byte)
	walk = func(f *CallFrame, path []byte) {
		for i := range f.Calls {
			c := &f.Calls[i]
			if c.Failed() {
				continue // undone, with everything under it
			}
			p := path
			if len(p) > 0 {
				p = append(p, '.')
			}
			p = strconv.AppendInt(p, int64(i), 10)
			if movesValue(c) {
				out = append(out, internalTransfer{traceAddress: string(p), frame: c})
			}
			walk(c, p)
		}
	}
	walk(root, make([]byte, 0, 32))
	return out
}

func movesValue(f *CallFrame) bool {
	switch f.Type {
	case frameCall, frameCreate, frameCreate2, frameSelfdestruct:
		return f.Value != nil && f.Value.Sign() > 0
	}
	return false
}

// AddInternalTransfers appends to ev.Transfers a TRANSFER_KIND_INTERNAL transfer for
// every nested call frame of traces that moved ether (see CallFrame): CALL, CREATE,
// CREATE2 and SELFDESTRUCT frames with a value, that did not fail and are not under a
// failed frame, in successful transactions only. The top-level call is the native
// transfer Convert already made. traces must be TraceBlock of ev's block: one per
// transaction, in block order, else it is an error and ev is left unchanged. The
// transfers come after the block's other transfers, in transaction then call order, with
// ev.Block's confirmation status. Calling it twice for the same block is an error. It
// does not block; it is safe for concurrent use on different BlockEvents.
func (c *Converter) AddInternalTransfers(ev *BlockEvents, traces []TxTrace) error {
	if c.ChainID == 0 {
		return errors.New("converter: no chain id")
	}
	if ev == nil || ev.Block == nil {
		return errors.New("internal transfers: no block")
	}
	if len(traces) != len(ev.Transactions) {
		return fmt.Errorf("block %d %s: %d traces for %d transactions", ev.Block.GetNumber(), ev.Block.GetHash(),
			len(traces), len(ev.Transactions))
	}
	for i, t := range traces {
		if h := hexHash(t.TxHash); h != ev.Transactions[i].GetHash() {
			return fmt.Errorf("block %d %s: trace %d is of transaction %s, the block's is %s", ev.Block.GetNumber(),
				ev.Block.GetHash(), i, h, ev.Transactions[i].GetHash())
		}
	}
	for _, t := range ev.Transfers {
		if t.GetKind() == chainv1.TransferKind_TRANSFER_KIND_INTERNAL {
			return fmt.Errorf("block %d %s: internal transfers already added", ev.Block.GetNumber(), ev.Block.GetHash())
		}
	}
	native := c.NativeAsset
	if native == "" {
		native = "ETH"
	}
	bm := ev.Block.GetMeta()
	ref := &chainv1.BlockRef{Number: ev.Block.GetNumber(), Hash: ev.Block.GetHash()}
	for i := range traces {
		tx := ev.Transactions[i]
		if tx.GetStatus() != chainv1.TransactionStatus_TRANSACTION_STATUS_SUCCEEDED {
			continue
		}
		for _, it := range internalTransfers(&traces[i].Root) {
			ev.Transfers = append(ev.Transfers, &chainv1.Transfer{
				Meta: &commonv1.Meta{
					EventId:   eventid.ChainTrace(kindTransfer, c.ChainID, ref.Hash, tx.GetHash(), it.traceAddress),
					EventTime: bm.GetEventTime(), Source: bm.GetSource(), TraceId: bm.GetEventId(),
				},
				ChainId: c.ChainID, Block: ref, TransactionHash: tx.GetHash(), TransactionIndex: tx.GetIndex(),
				Kind: chainv1.TransferKind_TRANSFER_KIND_INTERNAL, TraceAddress: it.traceAddress,
				From: hexAddr(it.frame.From), To: hexAddr(it.frame.To),
				Amount:       &commonv1.Amount{Value: it.frame.Value.String(), Asset: native, Decimals: nativeDecimals},
				Confirmation: ev.Block.GetStatus(),
			})
		}
	}
	return nil
}
