package chaingen

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"
)

// BlockRef names a block.
type BlockRef struct {
	Number uint64
	Hash   common.Hash
}

// ReorgInfo describes a reorg: the top Depth blocks above Ancestor were replaced by
// Depth+1 new ones.
type ReorgInfo struct {
	Depth int
	// Ancestor is the last block the old and the new chain share.
	Ancestor BlockRef
	// OldHead and NewHead are the heads before and after; NewHead.Number is
	// OldHead.Number+1.
	OldHead, NewHead BlockRef
	// Orphaned are the replaced blocks, from Ancestor.Number+1 up to OldHead. They stay
	// retrievable by hash.
	Orphaned []common.Hash
	// Replacements are the new blocks, from Ancestor.Number+1 up to NewHead.
	Replacements []common.Hash
}

// Reorg replaces the top depth blocks: it forks the chain at the block depth below the
// head and mines depth+1 blocks of fresh ordinary transactions on it, so the new chain is
// longer and every replaced height gets a new hash. The transactions of the orphaned
// blocks are dropped, not re-sent (the node's pool would re-inject them; the generator
// clears it), and patterns in progress are abandoned; labels already delivered stand even
// if their transactions were orphaned (reorgs from Run and Blocks avoid that).
//
// It fails with ErrFinalized if the finalized block would be replaced and with ErrTooDeep
// if genesis or the setup blocks would. It blocks until the new blocks are mined and
// Config.OnReorg has returned.
func (c *Chain) Reorg(ctx context.Context, depth int) (ReorgInfo, error) {
	var ev events
	info, err := func() (ReorgInfo, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return ReorgInfo{}, ErrClosed
		}
		return c.reorg(ctx, depth, &ev)
	}()
	if err == nil {
		ev.reorgs = append(ev.reorgs, info)
	}
	c.deliver(ev)
	return info, err
}

// finalized returns the number of the node's finalized block.
func (c *Chain) finalized(ctx context.Context) (uint64, error) {
	h, err := c.client.HeaderByNumber(ctx, big.NewInt(int64(rpc.FinalizedBlockNumber)))
	if err != nil {
		return 0, fmt.Errorf("chaingen: read finalized block: %w", err)
	}
	return h.Number.Uint64(), nil
}

// autoReorgDepth returns the depth of the reorg due now, or 0 when none can run: a
// pattern is in progress, or the blocks above the finalized block, the setup and the
// last pattern block are too few.
func (c *Chain) autoReorgDepth(ctx context.Context) (int, error) {
	if len(c.active) > 0 {
		return 0, nil
	}
	depth := uint64(1 + c.rng.IntN(c.cfg.MaxReorgDepth))
	fin, err := c.finalized(ctx)
	if err != nil {
		return 0, err
	}
	floor := max(fin, c.setupHead, c.patternBlock)
	if c.head.number <= floor {
		return 0, nil
	}
	return int(min(depth, c.head.number-floor)), nil
}

// reorg does the work of Reorg; the caller holds c.mu.
func (c *Chain) reorg(ctx context.Context, depth int, ev *events) (ReorgInfo, error) {
	if depth < 1 {
		return ReorgInfo{}, fmt.Errorf("chaingen: reorg depth %d below 1", depth)
	}
	if err := c.refreshHead(ctx); err != nil {
		return ReorgInfo{}, err
	}
	old := c.head
	if uint64(depth) > old.number || old.number-uint64(depth) < c.setupHead {
		return ReorgInfo{}, fmt.Errorf("%w: depth %d at head %d, setup ends at %d", ErrTooDeep, depth, old.number, c.setupHead)
	}
	ancestorNum := old.number - uint64(depth)
	fin, err := c.finalized(ctx)
	if err != nil {
		return ReorgInfo{}, err
	}
	if ancestorNum < fin {
		return ReorgInfo{}, fmt.Errorf("%w: depth %d at head %d replaces from %d, finalized is %d",
			ErrFinalized, depth, old.number, ancestorNum+1, fin)
	}
	ancestor, err := c.client.HeaderByNumber(ctx, new(big.Int).SetUint64(ancestorNum))
	if err != nil {
		return ReorgInfo{}, fmt.Errorf("chaingen: read block %d: %w", ancestorNum, err)
	}
	info := ReorgInfo{
		Depth:    depth,
		Ancestor: BlockRef{Number: ancestorNum, Hash: ancestor.Hash()},
		OldHead:  BlockRef{Number: old.number, Hash: old.hash},
	}
	for n := ancestorNum + 1; n <= old.number; n++ {
		h, err := c.client.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			return ReorgInfo{}, fmt.Errorf("chaingen: read block %d: %w", n, err)
		}
		info.Orphaned = append(info.Orphaned, h.Hash())
	}

	abandoned := uint64(len(c.active))
	c.count(func(s *Stats) { s.PatternsFailed += abandoned })
	c.active = nil
	c.sim.Rollback() // Fork refuses a pool with pending transactions
	if err := c.sim.Fork(ancestor.Hash()); err != nil {
		return ReorgInfo{}, fmt.Errorf("chaingen: fork at %d: %w", ancestorNum, err)
	}
	// The pool re-injects the orphaned transactions when the head moves back; Rollback
	// syncs the pool first, so they are gone after it.
	c.sim.Rollback()
	c.head = headRef{number: ancestorNum, hash: ancestor.Hash(), time: ancestor.Time}
	c.setFees(ancestor)
	if err := c.resyncNonces(ctx); err != nil {
		return ReorgInfo{}, err
	}
	if err := c.resyncNFTs(ctx); err != nil {
		return ReorgInfo{}, err
	}

	for range depth + 1 {
		if err := c.step(ctx, stepOpts{minTxs: 1}, ev); err != nil {
			return ReorgInfo{}, fmt.Errorf("chaingen: mine reorg block: %w", err)
		}
	}
	if c.head.number != old.number+1 {
		return ReorgInfo{}, fmt.Errorf("chaingen: reorg ended at %d, want %d", c.head.number, old.number+1)
	}
	info.NewHead = BlockRef{Number: c.head.number, Hash: c.head.hash}
	for n := ancestorNum + 1; n <= c.head.number; n++ {
		h, err := c.client.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			return ReorgInfo{}, fmt.Errorf("chaingen: read block %d: %w", n, err)
		}
		if i := int(n - ancestorNum - 1); i < len(info.Orphaned) && h.Hash() == info.Orphaned[i] {
			return ReorgInfo{}, fmt.Errorf("chaingen: reorg kept block %d (%s)", n, h.Hash())
		}
		info.Replacements = append(info.Replacements, h.Hash())
	}
	c.sinceReorg = 0
	c.count(func(s *Stats) {
		s.Reorgs++
		s.OrphanedBlocks += uint64(depth)
	})
	return info, nil
}

// resyncNonces re-reads every account's next nonce from the node.
func (c *Chain) resyncNonces(ctx context.Context) error {
	for _, a := range append([]*account{c.minter}, c.accounts...) {
		n, err := c.client.PendingNonceAt(ctx, a.addr)
		if err != nil {
			return fmt.Errorf("chaingen: nonce of %s: %w", a.addr, err)
		}
		a.nonce, a.stale = n, false
	}
	return nil
}
