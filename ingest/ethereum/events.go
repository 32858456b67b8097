package ethereum

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// Event kinds: the full names of the messages, which eventid folds into every id.
const (
	kindBlock       = "weir.chain.v1.Block"
	kindTransaction = "weir.chain.v1.Transaction"
	kindReceipt     = "weir.chain.v1.Receipt"
	kindLog         = "weir.chain.v1.Log"
	kindTransfer    = "weir.chain.v1.Transfer"
	kindApproval    = "weir.chain.v1.Approval"
)

// nativeDecimals are the decimals of the chain's coin (wei per ether).
const nativeDecimals = 18

// Confirmation is how settled a block is when its events are emitted.
type Confirmation struct {
	Status        chainv1.ConfirmationStatus
	Confirmations uint64
}

// BlockEvents is everything one block contributes to the chain topics, in chain order.
type BlockEvents struct {
	Block        *chainv1.Block
	Transactions []*chainv1.Transaction
	Receipts     []*chainv1.Receipt
	Logs         []*chainv1.Log
	// Transfers are the native top-level transfers of successful transactions and the
	// token transfers their logs carry, in transaction then log order, followed by the
	// internal transfers when AddInternalTransfers added them.
	Transfers []*chainv1.Transfer
	Approvals []*chainv1.Approval
	// Malformed are the token-signature logs that did not decode (ErrMalformed); their
	// Log events are still emitted.
	Malformed []error
}

// Converter turns blocks into chain events. Fields other than ChainID have defaults.
type Converter struct {
	// ChainID is the chain the blocks come from. Required.
	ChainID uint64
	// NativeAsset is the asset of the chain's coin. Default "ETH".
	NativeAsset string
	// Source is Meta.source of every event. Default "ingest/ethereum".
	Source string
	// Tokens gives token metadata (decimals, symbol). Default nil: ERC-20 amounts are
	// emitted with 0 decimals and no token metadata.
	Tokens *TokenCache
}

// Convert returns the events of block b, whose receipts (in transaction order) are
// receipts, at the given confirmation. Senders are recovered from the signatures.
func (c *Converter) Convert(ctx context.Context, b *types.Block, receipts []*types.Receipt, conf Confirmation) (*BlockEvents, error) {
	return c.ConvertFetched(ctx, Fetched{Block: b, Receipts: receipts}, conf)
}

// ConvertFetched is Convert for a block fetched with Node.Blocks: the senders the node
// reported are used as they are, and only missing ones are recovered from the signature
// (which costs about 50µs of CPU per transaction).
func (c *Converter) ConvertFetched(ctx context.Context, f Fetched, conf Confirmation) (*BlockEvents, error) {
	b, receipts := f.Block, f.Receipts
	if c.ChainID == 0 {
		return nil, errors.New("converter: no chain id")
	}
	if len(receipts) != len(b.Transactions()) {
		return nil, fmt.Errorf("block %d: %d receipts for %d transactions", b.NumberU64(), len(receipts), len(b.Transactions()))
	}
	source, native := c.Source, c.NativeAsset
	if source == "" {
		source = "ingest/ethereum"
	}
	if native == "" {
		native = "ETH"
	}
	blockHash := hexHash(b.Hash())
	at := timestamppb.New(time.Unix(int64(b.Time()), 0).UTC())
	ref := &chainv1.BlockRef{Number: b.NumberU64(), Hash: blockHash}
	blockID := eventid.ChainBlock(kindBlock, c.ChainID, blockHash)
	meta := func(id string) *commonv1.Meta {
		return &commonv1.Meta{EventId: id, EventTime: at, Source: source, TraceId: blockID}
	}

	ev := &BlockEvents{Block: &chainv1.Block{
		Meta: meta(blockID), ChainId: c.ChainID, Number: b.NumberU64(), Hash: blockHash,
		ParentHash: hexHash(b.ParentHash()), Timestamp: at, GasLimit: b.GasLimit(), GasUsed: b.GasUsed(),
		FeeRecipient: hexAddr(b.Coinbase()), TransactionCount: uint32(len(b.Transactions())),
		BlobGasUsed: b.BlobGasUsed(), ExcessBlobGas: b.ExcessBlobGas(),
	}}
	if bf := b.BaseFee(); bf != nil {
		s := bf.String()
		ev.Block.BaseFeePerGas = &s
	}

	signer := types.LatestSignerForChainID(new(big.Int).SetUint64(c.ChainID))
	var err error
	for i, tx := range b.Transactions() {
		r := receipts[i]
		var from common.Address
		if i < len(f.Senders) && f.Senders[i] != nil {
			from = *f.Senders[i]
		} else if from, err = types.Sender(signer, tx); err != nil {
			return nil, fmt.Errorf("block %d tx %s: sender: %w", b.NumberU64(), tx.Hash().Hex(), err)
		}
		txHash := hexHash(tx.Hash())
		status := chainv1.TransactionStatus_TRANSACTION_STATUS_FAILED
		if r.Status == types.ReceiptStatusSuccessful {
			status = chainv1.TransactionStatus_TRANSACTION_STATUS_SUCCEEDED
		}
		gasPrice := r.EffectiveGasPrice
		if gasPrice == nil {
			gasPrice = new(big.Int)
		}
		fee := new(big.Int).Mul(gasPrice, new(big.Int).SetUint64(r.GasUsed))
		t := &chainv1.Transaction{
			Meta: meta(eventid.ChainTx(kindTransaction, c.ChainID, blockHash, txHash)), ChainId: c.ChainID,
			Hash: txHash, Block: ref, Index: uint32(i), From: hexAddr(from),
			Value: &commonv1.Amount{Value: tx.Value().String(), Asset: native, Decimals: nativeDecimals},
			Nonce: tx.Nonce(), Type: uint32(tx.Type()), GasLimit: tx.Gas(), GasUsed: r.GasUsed,
			EffectiveGasPrice: gasPrice.String(),
			Fee:               &commonv1.Amount{Value: fee.String(), Asset: native, Decimals: nativeDecimals},
			InputSize:         uint32(len(tx.Data())), Status: status,
		}
		if to := tx.To(); to != nil {
			t.To = hexAddr(*to)
		}
		if r.ContractAddress != (common.Address{}) && status == chainv1.TransactionStatus_TRANSACTION_STATUS_SUCCEEDED {
			t.ContractAddress = hexAddr(r.ContractAddress)
		}
		if len(tx.Data()) >= 4 {
			t.Selector = "0x" + common.Bytes2Hex(tx.Data()[:4])
		}
		if tx.Type() == types.LegacyTxType || tx.Type() == types.AccessListTxType {
			s := tx.GasPrice().String()
			t.GasPrice = &s
		} else {
			maxFee, tip := tx.GasFeeCap().String(), tx.GasTipCap().String()
			t.MaxFeePerGas, t.MaxPriorityFeePerGas = &maxFee, &tip
		}
		ev.Transactions = append(ev.Transactions, t)

		rc := &chainv1.Receipt{
			Meta: meta(eventid.ChainTx(kindReceipt, c.ChainID, blockHash, txHash)), ChainId: c.ChainID,
			TransactionHash: txHash, Block: ref, TransactionIndex: uint32(i), From: hexAddr(from), Status: status,
			GasUsed: r.GasUsed, CumulativeGasUsed: r.CumulativeGasUsed, EffectiveGasPrice: gasPrice.String(),
			ContractAddress: t.ContractAddress, LogCount: uint32(len(r.Logs)),
		}
		if r.BlobGasUsed > 0 {
			used := r.BlobGasUsed
			rc.BlobGasUsed = &used
			if r.BlobGasPrice != nil {
				p := r.BlobGasPrice.String()
				rc.BlobGasPrice = &p
			}
		}
		ev.Receipts = append(ev.Receipts, rc)

		if status == chainv1.TransactionStatus_TRANSACTION_STATUS_SUCCEEDED && tx.Value().Sign() > 0 {
			to := t.To
			if to == "" {
				to = t.ContractAddress
			}
			ev.Transfers = append(ev.Transfers, &chainv1.Transfer{
				Meta:    meta(eventid.ChainTrace(kindTransfer, c.ChainID, blockHash, txHash, "")),
				ChainId: c.ChainID, Block: ref, TransactionHash: txHash, TransactionIndex: uint32(i),
				Kind: chainv1.TransferKind_TRANSFER_KIND_NATIVE, From: t.From, To: to,
				Amount: &commonv1.Amount{Value: tx.Value().String(), Asset: native, Decimals: nativeDecimals},
			})
		}
		for _, l := range r.Logs {
			if err := c.convertLog(ctx, ev, l, meta, ref, blockHash, txHash, uint32(i)); err != nil {
				return nil, err
			}
		}
	}
	ev.SetConfirmation(conf)
	return ev, nil
}

// SetConfirmation stamps every event of the block with conf: the indexer converts blocks
// ahead of time and stamps them with the confirmation they have when they are emitted.
func (ev *BlockEvents) SetConfirmation(conf Confirmation) {
	ev.Block.Status, ev.Block.Confirmations = conf.Status, conf.Confirmations
	for _, e := range ev.Transactions {
		e.Confirmation = conf.Status
	}
	for _, e := range ev.Receipts {
		e.Confirmation = conf.Status
	}
	for _, e := range ev.Logs {
		e.Confirmation = conf.Status
	}
	for _, e := range ev.Transfers {
		e.Confirmation = conf.Status
	}
	for _, e := range ev.Approvals {
		e.Confirmation = conf.Status
	}
}

// Len is the number of events of the block.
func (ev *BlockEvents) Len() int {
	return 1 + len(ev.Transactions) + len(ev.Receipts) + len(ev.Logs) + len(ev.Transfers) + len(ev.Approvals)
}

// EventIDs returns the Meta.event_id of every event of the block, the block's own first:
// what a Retraction of the block lists.
func (ev *BlockEvents) EventIDs() []string {
	ids := make([]string, 0, ev.Len())
	ids = append(ids, ev.Block.GetMeta().GetEventId())
	for _, e := range ev.Transactions {
		ids = append(ids, e.GetMeta().GetEventId())
	}
	for _, e := range ev.Receipts {
		ids = append(ids, e.GetMeta().GetEventId())
	}
	for _, e := range ev.Logs {
		ids = append(ids, e.GetMeta().GetEventId())
	}
	for _, e := range ev.Transfers {
		ids = append(ids, e.GetMeta().GetEventId())
	}
	for _, e := range ev.Approvals {
		ids = append(ids, e.GetMeta().GetEventId())
	}
	return ids
}

func (c *Converter) convertLog(ctx context.Context, ev *BlockEvents, l *types.Log, meta func(string) *commonv1.Meta,
	ref *chainv1.BlockRef, blockHash, txHash string, txIndex uint32,
) error {
	logIndex := uint32(l.Index)
	topics := make([]string, len(l.Topics))
	for i, t := range l.Topics {
		topics[i] = hexHash(t)
	}
	ev.Logs = append(ev.Logs, &chainv1.Log{
		Meta: meta(eventid.ChainLog(kindLog, c.ChainID, blockHash, txHash, logIndex, 0)), ChainId: c.ChainID,
		Block: ref, TransactionHash: txHash, TransactionIndex: txIndex, LogIndex: logIndex,
		Address: hexAddr(l.Address), Topics: topics, Data: l.Data,
	})

	transfers, err := DecodeTransfer(l)
	switch {
	case errors.Is(err, ErrMalformed):
		ev.Malformed = append(ev.Malformed, err)
	case err == nil:
		for _, tr := range transfers {
			token, err := c.token(ctx, tr.Token, tr.Standard)
			if err != nil {
				return err
			}
			out := &chainv1.Transfer{
				Meta:    meta(eventid.ChainLog(kindTransfer, c.ChainID, blockHash, txHash, logIndex, tr.BatchIndex)),
				ChainId: c.ChainID, Block: ref, TransactionHash: txHash, TransactionIndex: txIndex,
				Kind: transferKind(tr.Standard), LogIndex: &logIndex, BatchIndex: tr.BatchIndex,
				From: hexAddr(tr.From), To: hexAddr(tr.To),
				Amount: &commonv1.Amount{Value: tr.Amount.String(), Asset: c.asset(tr.Standard, tr.Token), Decimals: token.Decimals},
				Token:  token,
			}
			if tr.Standard == ERC1155 {
				out.Operator = hexAddr(tr.Operator)
			}
			if tr.TokenID != nil {
				id := tr.TokenID.String()
				out.TokenId = &id
			}
			ev.Transfers = append(ev.Transfers, out)
		}
		return nil
	}

	a, err := DecodeApproval(l)
	switch {
	case errors.Is(err, ErrMalformed):
		ev.Malformed = append(ev.Malformed, err)
	case err == nil && a.Standard == ERC20:
		token, err := c.token(ctx, a.Token, a.Standard)
		if err != nil {
			return err
		}
		ev.Approvals = append(ev.Approvals, &chainv1.Approval{
			Meta:    meta(eventid.ChainLog(kindApproval, c.ChainID, blockHash, txHash, logIndex, 0)),
			ChainId: c.ChainID, Block: ref, TransactionHash: txHash, LogIndex: logIndex,
			Owner: hexAddr(a.Owner), Spender: hexAddr(a.Spender),
			Amount:    &commonv1.Amount{Value: a.Amount.String(), Asset: c.asset(ERC20, a.Token), Decimals: token.Decimals},
			Unlimited: a.Amount.Cmp(maxUint256) == 0, Token: token,
		})
	}
	return nil
}

var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// token returns the metadata to attach to a token event; decimals only count for ERC-20
// (NFTs and ERC-1155 ids are whole units).
func (c *Converter) token(ctx context.Context, addr common.Address, std Standard) (*chainv1.Token, error) {
	t := &chainv1.Token{Address: hexAddr(addr), Standard: tokenStandard(std)}
	if c.Tokens == nil {
		return t, nil
	}
	meta, err := c.Tokens.Lookup(ctx, addr)
	if err != nil {
		return nil, err
	}
	t.Symbol = meta.Symbol
	if std == ERC20 && meta.HasDecimals && meta.Decimals <= 77 {
		t.Decimals = uint32(meta.Decimals)
	}
	return t, nil
}

func (c *Converter) asset(std Standard, addr common.Address) string {
	prefix := map[Standard]string{ERC20: "erc20", ERC721: "erc721", ERC1155: "erc1155"}[std]
	return fmt.Sprintf("%s:%d:%s", prefix, c.ChainID, hexAddr(addr))
}

func transferKind(s Standard) chainv1.TransferKind {
	switch s {
	case ERC20:
		return chainv1.TransferKind_TRANSFER_KIND_ERC20
	case ERC721:
		return chainv1.TransferKind_TRANSFER_KIND_ERC721
	}
	return chainv1.TransferKind_TRANSFER_KIND_ERC1155
}

func tokenStandard(s Standard) chainv1.TokenStandard {
	switch s {
	case ERC20:
		return chainv1.TokenStandard_TOKEN_STANDARD_ERC20
	case ERC721:
		return chainv1.TokenStandard_TOKEN_STANDARD_ERC721
	}
	return chainv1.TokenStandard_TOKEN_STANDARD_ERC1155
}

// hexAddr is "0x" + the address in lowercase hex (not common.Address.Hex, which spends a
// Keccak hash on the EIP-55 checksum only for it to be lowercased away).
func hexAddr(a common.Address) string {
	var buf [2 + 2*common.AddressLength]byte
	buf[0], buf[1] = '0', 'x'
	hex.Encode(buf[2:], a[:])
	return string(buf[:])
}
func hexHash(h common.Hash) string { return h.Hex() } // already lowercase
