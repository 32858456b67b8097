package chaingen

import (
	"context"
	"fmt"
	"math/big"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// txKind is what a transaction does, for Stats.
type txKind int

const (
	kindSetup txKind = iota
	kindNative
	kindTokenTransfer
	kindApprove
	kindTokenMint
	kindNFTMint
	kindNFTTransfer
	kindRevert
)

// maxTrackedNFTs bounds the NFTs the generator remembers to transfer later.
const maxTrackedNFTs = 256

// nftToken is a minted NFT, its owner as sent, and the first block in which its owner
// may move it (the block after the one that minted or moved it, so that a transfer never
// races the transaction that gave the token to its sender).
type nftToken struct {
	id      uint64
	owner   common.Address
	readyAt uint64
}

// stepOpts says what a block carries besides ordinary traffic.
type stepOpts struct {
	patterns bool // start and advance fraud patterns (false in reorg blocks)
	minTxs   int  // at least this many ordinary transactions
}

// step sends one block of transactions and commits it. The caller holds c.mu.
func (c *Chain) step(ctx context.Context, opts stepOpts, ev *events) error {
	for _, a := range append([]*account{c.minter}, c.accounts...) {
		if !a.stale {
			continue
		}
		n, err := c.client.PendingNonceAt(ctx, a.addr)
		if err != nil {
			return fmt.Errorf("chaingen: nonce of %s: %w", a.addr, err)
		}
		a.nonce, a.stale = n, false
	}
	number := c.head.number + 1
	reserved := c.reserved()

	var running []*instance
	if opts.patterns {
		running = c.startPatterns(ctx, reserved)
		for _, in := range running {
			c.runStage(ctx, in)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}

	n := c.due()
	if n < opts.minTxs {
		n = opts.minTxs
	}
	free := c.freeAccounts(reserved)
	for range n {
		if len(free) == 0 {
			break
		}
		if err := c.ordinaryTx(ctx, free, number); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	for ; c.queuedRevert > 0 && len(free) > 0; c.queuedRevert-- {
		if err := c.revertTx(ctx, free); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}

	if err := c.commit(ctx); err != nil {
		return err
	}
	for _, in := range running {
		if p, done := c.finishStage(ctx, in); done && p != nil {
			ev.patterns = append(ev.patterns, *p)
		}
	}
	return nil
}

// due returns the number of ordinary transactions this block carries: Rate ×
// BlockInterval, with the fraction carried to the next block.
func (c *Chain) due() int {
	c.budget += int64(c.cfg.Rate) * int64(c.cfg.BlockInterval)
	n := c.budget / int64(time.Second)
	c.budget %= int64(time.Second)
	return int(min(n, MaxTxsPerBlock))
}

// freeAccounts returns the accounts no pattern occupies.
func (c *Chain) freeAccounts(reserved map[common.Address]bool) []*account {
	free := make([]*account, 0, len(c.accounts))
	for _, a := range c.accounts {
		if !reserved[a.addr] {
			free = append(free, a)
		}
	}
	return free
}

// ordinaryTx sends one transaction of the mix from a free account.
func (c *Chain) ordinaryTx(ctx context.Context, free []*account, number uint64) error {
	from := free[c.rng.IntN(len(free))]
	to := c.otherAccount(from.addr)
	switch r := c.rng.IntN(100); {
	case r < 36:
		_, err := c.send(ctx, from, kindNative, to, c.weiAmount(), nil, gasNative)
		return err
	case r < 76:
		_, err := c.send(ctx, from, kindTokenTransfer, c.token, nil, c.pack(c.tokenABI, "transfer", to, c.tokenAmount()), c.gasToken)
		return err
	case r < 84:
		amount := c.tokenAmount()
		if c.rng.IntN(4) == 0 {
			amount = maxUint256 // an unlimited approval
		}
		_, err := c.send(ctx, from, kindApprove, c.token, nil, c.pack(c.tokenABI, "approve", to, amount), c.gasToken)
		return err
	case r < 91:
		return c.mintNFT(ctx, to, number)
	case r < 99:
		if ok, err := c.transferNFT(ctx, free, number); ok {
			return err
		}
		return c.mintNFT(ctx, to, number)
	default:
		return c.revertTx(ctx, free)
	}
}

// revertTx sends an ERC-20 transfer far above any balance, with a fixed gas limit so the
// node accepts it and mines it as failed.
func (c *Chain) revertTx(ctx context.Context, free []*account) error {
	from := free[c.rng.IntN(len(free))]
	_, err := c.send(ctx, from, kindRevert, c.token, nil, c.pack(c.tokenABI, "transfer", c.otherAccount(from.addr), hugeAmount), c.gasToken)
	return err
}

func (c *Chain) mintNFT(ctx context.Context, to common.Address, number uint64) error {
	c.nextNFT++
	id := c.nextNFT
	if _, err := c.send(ctx, c.minter, kindNFTMint, c.nft, nil, c.pack(c.nftABI, "mint", to, new(big.Int).SetUint64(id)), c.gasNFT); err != nil {
		return err
	}
	if len(c.nfts) == maxTrackedNFTs {
		c.nfts = c.nfts[1:]
	}
	c.nfts = append(c.nfts, nftToken{id: id, owner: to, readyAt: number + 1})
	return nil
}

// transferNFT moves a tracked NFT whose owner is free; ok is false when there is none.
func (c *Chain) transferNFT(ctx context.Context, free []*account, number uint64) (ok bool, err error) {
	owners := make(map[common.Address]*account, len(free))
	for _, a := range free {
		owners[a.addr] = a
	}
	start := c.rng.IntN(len(c.nfts) + 1)
	for i := range c.nfts {
		t := &c.nfts[(start+i)%len(c.nfts)]
		from, isFree := owners[t.owner]
		if !isFree || t.readyAt > number {
			continue
		}
		to := c.otherAccount(from.addr)
		data := c.pack(c.nftABI, "transferFrom", from.addr, to, new(big.Int).SetUint64(t.id))
		if _, err := c.send(ctx, from, kindNFTTransfer, c.nft, nil, data, c.gasNFT); err != nil {
			return true, err
		}
		t.owner, t.readyAt = to, number+1
		return true, nil
	}
	return false, nil
}

// resyncNFTs re-reads the owner of every tracked NFT (after a reorg) and forgets those
// that no longer exist.
func (c *Chain) resyncNFTs(ctx context.Context) error {
	kept := c.nfts[:0]
	for _, t := range c.nfts {
		out, err := c.call(ctx, c.nft, c.nftABI, "ownerOf", new(big.Int).SetUint64(t.id))
		if err != nil {
			return err
		}
		owner := out[0].(common.Address)
		if owner == (common.Address{}) {
			continue
		}
		t.owner, t.readyAt = owner, 0
		kept = append(kept, t)
	}
	c.nfts = kept
	return nil
}

// otherAccount returns a random account other than not.
func (c *Chain) otherAccount(not common.Address) common.Address {
	for {
		if a := c.accounts[c.rng.IntN(len(c.accounts))]; a.addr != not {
			return a.addr
		}
	}
}

// freshAddress returns a never-used address: 20 random bytes from the seeded generator
// (drawn again in the astronomically unlikely case they are a known account).
func (c *Chain) freshAddress() common.Address {
	for {
		var a common.Address
		for i := 0; i < len(a); i += 8 {
			v := c.rng.Uint64()
			for j := 0; j < 8 && i+j < len(a); j++ {
				a[i+j] = byte(v >> (8 * j))
			}
		}
		if !c.isAccount[a] {
			return a
		}
	}
}

var (
	maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	// hugeAmount exceeds any balance: the supply is far below 2^200.
	hugeAmount = new(big.Int).Lsh(big.NewInt(1), 200)
)

// tokenAmount returns a token amount with 1 to 22 digits, uniform in the digit count:
// 1 base unit to just under 10,000 tokens.
func (c *Chain) tokenAmount() *big.Int { return c.digits(1 + c.rng.IntN(22)) }

// weiAmount returns an ETH amount with 1 to 19 digits: 1 wei to just under 10 ETH.
func (c *Chain) weiAmount() *big.Int { return c.digits(1 + c.rng.IntN(19)) }

// digits returns a random integer with exactly d decimal digits.
func (c *Chain) digits(d int) *big.Int {
	lo := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d-1)), nil)
	span := new(big.Int).Mul(lo, big.NewInt(9)) // 10^d - 10^(d-1)
	return new(big.Int).Add(lo, c.randBelow(span))
}

// randBelow returns a uniform integer in [0, n), n > 0.
func (c *Chain) randBelow(n *big.Int) *big.Int {
	if n.IsUint64() {
		return new(big.Int).SetUint64(c.rng.Uint64N(n.Uint64()))
	}
	// Rejection sampling over n's bit length.
	buf := make([]byte, (n.BitLen()+7)/8)
	excess := uint(len(buf)*8 - n.BitLen())
	for {
		for i := range buf {
			buf[i] = byte(c.rng.Uint32())
		}
		buf[0] &= 0xff >> excess
		if v := new(big.Int).SetBytes(buf); v.Cmp(n) < 0 {
			return v
		}
	}
}

// send signs a transaction from `from` with its next nonce and hands it to the node. On
// a refusal the nonce is re-read from the node, so one refused transaction does not stall
// the account.
func (c *Chain) send(ctx context.Context, from *account, kind txKind, to common.Address, value *big.Int, data []byte, gas uint64) (*types.Transaction, error) {
	if value == nil {
		value = new(big.Int)
	}
	tx, err := types.SignNewTx(from.key, c.signer, &types.DynamicFeeTx{
		ChainID:   c.chainID,
		Nonce:     from.nonce,
		GasTipCap: tip,
		GasFeeCap: c.feeCap,
		Gas:       gas,
		To:        &to,
		Value:     value,
		Data:      data,
	})
	if err != nil {
		return nil, fmt.Errorf("chaingen: sign: %w", err)
	}
	if err := c.client.SendTransaction(ctx, tx); err != nil {
		if ctx.Err() != nil {
			from.stale = true // it may have reached the pool: re-read the nonce next block
			return nil, ctx.Err()
		}
		c.count(func(s *Stats) { s.SendErrors++ })
		if n, nerr := c.client.PendingNonceAt(ctx, from.addr); nerr == nil {
			from.nonce = n
		}
		return nil, fmt.Errorf("chaingen: send from %s: %w", from.addr, err)
	}
	from.nonce++
	c.touched[from] = true
	c.count(func(s *Stats) {
		if kind == kindSetup {
			return
		}
		s.Transactions++
		switch kind {
		case kindNative:
			s.NativeTransfers++
		case kindTokenTransfer:
			s.TokenTransfers++
		case kindApprove:
			s.TokenApprovals++
		case kindTokenMint:
			s.TokenMints++
		case kindNFTMint:
			s.NFTMints++
		case kindNFTTransfer:
			s.NFTTransfers++
		case kindRevert:
			s.Reverts++
		}
	})
	return tx, nil
}

// pack encodes a call; the methods and arguments are the generator's own, so an error is
// a bug.
func (c *Chain) pack(a abi.ABI, method string, args ...any) []byte {
	data, err := a.Pack(method, args...)
	if err != nil {
		panic(fmt.Sprintf("chaingen: pack %s: %v", method, err))
	}
	return data
}

// call runs a view function against the latest block.
func (c *Chain) call(ctx context.Context, to common.Address, a abi.ABI, method string, args ...any) ([]any, error) {
	out, err := c.client.CallContract(ctx, callMsg(to, c.pack(a, method, args...)), nil)
	if err != nil {
		return nil, fmt.Errorf("chaingen: call %s: %w", method, err)
	}
	res, err := a.Unpack(method, out)
	if err != nil {
		return nil, fmt.Errorf("chaingen: unpack %s: %w", method, err)
	}
	return res, nil
}

// tokenBalance returns addr's token balance at the head.
func (c *Chain) tokenBalance(ctx context.Context, addr common.Address) (*big.Int, error) {
	out, err := c.call(ctx, c.token, c.tokenABI, "balanceOf", addr)
	if err != nil {
		return nil, err
	}
	return out[0].(*big.Int), nil
}

func callMsg(to common.Address, data []byte) ethereum.CallMsg {
	return ethereum.CallMsg{To: &to, Data: data}
}
