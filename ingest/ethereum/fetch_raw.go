package ethereum

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/trie"
)

// errRawUnsupported means a block needs a field that the consensus encoding lacks and
// that the raw path does not derive (the blob gas price of blob transactions); the block
// is fetched as JSON instead.
var errRawUnsupported = errors.New("block not derivable from its raw encoding")

// rawBlocks fetches blocks by number in their consensus encoding, with
// debug_getRawBlock and debug_getRawReceipts, in one batch. A node produces RLP far
// more cheaply than JSON (a receipt's JSON repeats its 256-byte bloom in hex), and
// decoding it is cheaper too; the fields the encoding leaves out (transaction and
// block hashes of receipts and logs, log indexes, gas used, effective gas price,
// contract address) are derived here as the node derives them, and the receipts are
// checked against the header's receipts root, so a block and receipts from two sides of
// a reorg can never pair up. Senders are recovered from the signatures.
func (n *Node) rawBlocks(ctx context.Context, numbers []uint64) ([]Fetched, error) {
	blocks := make([]hexutil.Bytes, len(numbers))
	receipts := make([][]hexutil.Bytes, len(numbers))
	batch := make([]rpc.BatchElem, 0, 2*len(numbers))
	for i, num := range numbers {
		arg := hexutil.EncodeUint64(num)
		batch = append(batch,
			rpc.BatchElem{Method: "debug_getRawBlock", Args: []any{arg}, Result: &blocks[i]},
			rpc.BatchElem{Method: "debug_getRawReceipts", Args: []any{arg}, Result: &receipts[i]})
	}
	if err := n.batch(ctx, "debug_getRawBlock (batch)", batch); err != nil {
		return nil, err
	}
	signer := types.LatestSignerForChainID(new(big.Int).SetUint64(n.chainID))
	out := make([]Fetched, len(numbers))
	for i, num := range numbers {
		if len(blocks[i]) == 0 {
			return nil, fmt.Errorf("block %d: %w", num, ErrBlockNotFound)
		}
		f, err := decodeRaw(blocks[i], receipts[i], signer)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", num, err)
		}
		if f.Block.NumberU64() != num {
			return nil, fmt.Errorf("asked for block %d, node sent %d", num, f.Block.NumberU64())
		}
		out[i] = f
	}
	return out, nil
}

// decodeRaw decodes a block and its receipts from their consensus encodings and
// derives what the encodings leave out.
func decodeRaw(rawBlock []byte, rawReceipts []hexutil.Bytes, signer types.Signer) (Fetched, error) {
	b := new(types.Block)
	if err := rlp.DecodeBytes(rawBlock, b); err != nil {
		return Fetched{}, fmt.Errorf("decode block: %w", err)
	}
	txs := b.Transactions()
	if len(rawReceipts) != len(txs) {
		return Fetched{}, fmt.Errorf("%d receipts for %d transactions", len(rawReceipts), len(txs))
	}
	rs := make(types.Receipts, len(txs))
	for i, raw := range rawReceipts {
		rs[i] = new(types.Receipt)
		if err := rs[i].UnmarshalBinary(raw); err != nil {
			return Fetched{}, fmt.Errorf("decode receipt %d: %w", i, err)
		}
	}
	if root := types.DeriveSha(rs, trie.NewStackTrie(nil)); root != b.ReceiptHash() {
		return Fetched{}, fmt.Errorf("receipts hash to %s, the header says %s", root.Hex(), b.ReceiptHash().Hex())
	}
	senders := make([]*common.Address, len(txs))
	var logIndex uint
	hash, baseFee := b.Hash(), b.BaseFee()
	for i, tx := range txs {
		if tx.Type() == types.BlobTxType {
			return Fetched{}, errRawUnsupported
		}
		from, err := types.Sender(signer, tx)
		if err != nil {
			return Fetched{}, fmt.Errorf("transaction %s: sender: %w", tx.Hash().Hex(), err)
		}
		senders[i] = &from
		r := rs[i]
		r.TxHash, r.BlockHash, r.BlockNumber, r.TransactionIndex = tx.Hash(), hash, b.Number(), uint(i)
		r.GasUsed = r.CumulativeGasUsed
		if i > 0 {
			r.GasUsed -= rs[i-1].CumulativeGasUsed
		}
		if baseFee == nil {
			r.EffectiveGasPrice = tx.GasPrice()
		} else {
			tip, err := tx.EffectiveGasTip(baseFee)
			if err != nil {
				return Fetched{}, fmt.Errorf("transaction %s: effective gas price: %w", tx.Hash().Hex(), err)
			}
			r.EffectiveGasPrice = tip.Add(tip, baseFee)
		}
		if tx.To() == nil {
			r.ContractAddress = crypto.CreateAddress(from, tx.Nonce())
		}
		for _, l := range r.Logs {
			l.BlockNumber, l.BlockHash, l.BlockTimestamp = b.NumberU64(), hash, b.Time()
			l.TxHash, l.TxIndex, l.Index = r.TxHash, uint(i), logIndex
			logIndex++
		}
	}
	return Fetched{Block: b, Receipts: rs, Senders: senders}, nil
}
