package sinkbench

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// Shape of the generated chain.
const (
	chainID = 1
	// firstBlock and firstBlockTime start the chain; blocks follow every blockTime, so
	// a million transfers (about 6,700 blocks) span the night from May 31 into June 1
	// 2025 and land in two monthly partitions and indices, as a live backfill would.
	firstBlock = 22_000_000
	blockTime  = 12 * time.Second
	// minPerBlock..maxPerBlock transfers per block.
	minPerBlock, maxPerBlock = 60, 240
	// addresses is the size of the pool of accounts; a few of them (exchanges) take
	// most of the traffic.
	addresses = 50_000
	// tokens is the number of token contracts of each standard.
	erc20s, erc721s, erc1155s = 200, 50, 20
	transferKind              = "weir.chain.v1.Transfer"
)

var firstBlockTime = time.Date(2025, 5, 31, 20, 0, 0, 0, time.UTC)

// Transfers generates chain.transfers events (weir.chain.v1.Transfer), the same
// sequence for the same seed: blocks of 60 to 240 transfers 12 seconds apart, 35%
// native, 5% internal, 50% ERC-20, 5% ERC-721 and 5% ERC-1155, between 50,000 addresses
// with a skewed popularity, with amounts spread over 1 to 77 decimal digits (about 1% of
// the ERC-20 ones beyond 38, which ClickHouse 18.16's Decimal column cannot hold), event
// ids as the indexer derives them (schemas/eventid) and confirmations that turn from
// finalized to safe to latest towards the head. Every event passes codec.Validate. A
// Transfers is not safe for concurrent use.
type Transfers struct {
	rng   *rand.Rand
	seed  uint64
	addrs []string
	// tokens per standard: contract metadata.
	tok20, tok721, tok1155 []*chainv1.Token

	// Position in the chain.
	n          int // events generated
	total      int // events planned (for confirmations)
	block      uint64
	blockHash  string
	blockTime  time.Time
	left       int // transfers left in the current block
	txIndex    uint32
	logIndex   uint32
	txHash     string
	txLeft     int // transfers left in the current transaction
	batchIndex uint32
	topLevel   bool // the transaction's top-level call moved ETH already
	traces     int  // internal transfers of the transaction so far
}

// NewTransfers returns a generator of total transfers (total only shapes the
// confirmations: the last 2% are latest, the 3% before safe, the rest finalized).
func NewTransfers(seed uint64, total int) *Transfers {
	g := &Transfers{rng: rand.New(rand.NewPCG(seed, 0x5eed)), seed: seed, total: total,
		block: firstBlock - 1, blockTime: firstBlockTime.Add(-blockTime)}
	g.addrs = make([]string, addresses)
	for i := range g.addrs {
		g.addrs[i] = g.hex("address", uint64(i), 20)
	}
	token := func(std chainv1.TokenStandard, i int, symbol string, decimals uint32) *chainv1.Token {
		return &chainv1.Token{Address: g.hex("token"+std.String(), uint64(i), 20), Standard: std,
			Symbol: fmt.Sprintf("%s%d", symbol, i), Name: fmt.Sprintf("Bench %s %d", symbol, i), Decimals: decimals}
	}
	for i := range erc20s {
		g.tok20 = append(g.tok20, token(chainv1.TokenStandard_TOKEN_STANDARD_ERC20, i, "TK", []uint32{6, 8, 18, 18}[i%4]))
	}
	for i := range erc721s {
		g.tok721 = append(g.tok721, token(chainv1.TokenStandard_TOKEN_STANDARD_ERC721, i, "NFT", 0))
	}
	for i := range erc1155s {
		g.tok1155 = append(g.tok1155, token(chainv1.TokenStandard_TOKEN_STANDARD_ERC1155, i, "MT", 0))
	}
	return g
}

// hex returns "0x" + 2*size lowercase hex digits derived from the seed, what and i.
func (g *Transfers) hex(what string, i uint64, size int) string {
	h := sha256.New()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], g.seed)
	binary.BigEndian.PutUint64(b[8:], i)
	h.Write(b[:])
	h.Write([]byte(what))
	return "0x" + hex.EncodeToString(h.Sum(nil)[:size])
}

// address picks an account: the lower indices (exchanges, routers) are far more
// popular than the tail.
func (g *Transfers) address() string {
	u := g.rng.Float64()
	return g.addrs[int(u*u*u*addresses)]
}

// digits returns a canonical decimal of n digits (n ≥ 1), no leading zero.
func (g *Transfers) digits(n int) string {
	b := make([]byte, n)
	b[0] = byte('1' + g.rng.IntN(9))
	for i := 1; i < n; i++ {
		b[i] = byte('0' + g.rng.IntN(10))
	}
	return string(b)
}

// Next returns the next transfer.
func (g *Transfers) Next() *chainv1.Transfer {
	if g.left == 0 {
		g.block++
		g.blockTime = g.blockTime.Add(blockTime)
		g.blockHash = g.hex("block", g.block, 32)
		g.left = minPerBlock + g.rng.IntN(maxPerBlock-minPerBlock+1)
		g.txIndex, g.logIndex, g.txLeft = 0, 0, 0
	}
	if g.txLeft == 0 {
		if g.txHash != "" {
			g.txIndex++
		}
		g.txHash = g.hex("tx", g.block<<16|uint64(g.txIndex), 32)
		g.txLeft = 1 + g.rng.IntN(3)
		g.batchIndex, g.topLevel, g.traces = 0, false, 0
	}
	g.left--
	g.txLeft--
	g.n++

	t := &chainv1.Transfer{
		ChainId:          chainID,
		Block:            &chainv1.BlockRef{Number: g.block, Hash: g.blockHash},
		TransactionHash:  g.txHash,
		TransactionIndex: g.txIndex,
		From:             g.address(),
		To:               g.address(),
		Confirmation:     g.confirmation(),
	}
	var id string
	switch k := g.rng.IntN(100); {
	case k < 40:
		// One top-level call per transaction; further ETH moves are internal calls,
		// each at its own trace address, so event ids stay unique.
		t.Kind = chainv1.TransferKind_TRANSFER_KIND_NATIVE
		if k >= 35 || g.topLevel {
			t.Kind = chainv1.TransferKind_TRANSFER_KIND_INTERNAL
			t.TraceAddress = fmt.Sprintf("0.%d", g.traces)
			g.traces++
		} else {
			g.topLevel = true
		}
		// 1 wei to about 100,000 ETH.
		t.Amount = &commonv1.Amount{Value: g.digits(1 + g.rng.IntN(23)), Asset: "ETH", Decimals: 18}
		id = eventid.ChainTrace(transferKind, chainID, g.blockHash, g.txHash, t.TraceAddress)
	case k < 90:
		t.Kind = chainv1.TransferKind_TRANSFER_KIND_ERC20
		t.Token = g.tok20[int(g.rng.Float64()*g.rng.Float64()*erc20s)]
		n := 1 + g.rng.IntN(30)
		if g.rng.IntN(100) == 0 {
			n = 39 + g.rng.IntN(39) // a token with absurd supply: beyond Decimal(38)
		}
		t.Amount = &commonv1.Amount{Value: g.digits(n), Asset: "erc20:1:" + t.Token.Address, Decimals: t.Token.Decimals}
	case k < 95:
		t.Kind = chainv1.TransferKind_TRANSFER_KIND_ERC721
		t.Token = g.tok721[g.rng.IntN(erc721s)]
		tokenID := strconv.Itoa(g.rng.IntN(20_000))
		if g.rng.IntN(4) == 0 {
			tokenID = g.digits(60 + g.rng.IntN(17)) // hash-derived ids
		}
		t.TokenId = &tokenID
		t.Amount = &commonv1.Amount{Value: "1", Asset: "erc721:1:" + t.Token.Address}
	default:
		t.Kind = chainv1.TransferKind_TRANSFER_KIND_ERC1155
		t.Token = g.tok1155[g.rng.IntN(erc1155s)]
		tokenID := strconv.Itoa(g.rng.IntN(500))
		t.TokenId = &tokenID
		t.Operator = g.address()
		t.BatchIndex = g.batchIndex
		g.batchIndex++
		t.Amount = &commonv1.Amount{Value: g.digits(1 + g.rng.IntN(4)), Asset: "erc1155:1:" + t.Token.Address}
	}
	if t.Kind != chainv1.TransferKind_TRANSFER_KIND_NATIVE && t.Kind != chainv1.TransferKind_TRANSFER_KIND_INTERNAL {
		li := g.logIndex
		t.LogIndex = &li
		g.logIndex++
		id = eventid.ChainLog(transferKind, chainID, g.blockHash, g.txHash, li, t.BatchIndex)
	}
	t.Meta = &commonv1.Meta{EventId: id, EventTime: timestamppb.New(g.blockTime), Source: "ingest/ethereum:1"}
	return t
}

func (g *Transfers) confirmation() chainv1.ConfirmationStatus {
	switch left := g.total - g.n; {
	case left < g.total/50:
		return chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST
	case left < g.total/20:
		return chainv1.ConfirmationStatus_CONFIRMATION_STATUS_SAFE
	}
	return chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED
}
