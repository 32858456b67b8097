package ethereum

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// BlockID names a block: its number and hash.
type BlockID struct {
	Number uint64
	Hash   common.Hash
}

func (b BlockID) String() string { return fmt.Sprintf("#%d %s", b.Number, b.Hash.TerminalString()) }

// HashSource answers which block is canonical at a height, as the node sees it now.
// It is the part of the RPC client the reorg walk needs (eth_getBlockByNumber).
type HashSource interface {
	// CanonicalHash returns the hash of the canonical block at number.
	CanonicalHash(ctx context.Context, number uint64) (common.Hash, error)
}

// ErrReorgTooDeep means the node's chain and the indexed chain share no block within the
// tracked depth: the indexer cannot tell what to retract, and must not guess.
var ErrReorgTooDeep = errors.New("reorg deeper than the tracked canonical hashes")

// ErrNotChild means a block does not extend the indexed head.
var ErrNotChild = errors.New("block does not extend the indexed head")

// Canon remembers the hashes of the last Depth blocks the indexer emitted as canonical,
// oldest first, so that on a parent-hash mismatch it can find the common ancestor with
// the node's new chain and say which blocks left the canonical chain. It is not safe
// for concurrent use; the indexer's follow loop owns it.
type Canon struct {
	depth  int
	blocks []BlockID // consecutive numbers, oldest first, at most depth
}

// NewCanon returns an empty Canon keeping depth blocks (at least 1).
func NewCanon(depth int) *Canon { return &Canon{depth: max(depth, 1)} }

// Restore rebuilds a Canon from blocks saved with Blocks (oldest first, consecutive).
func Restore(depth int, blocks []BlockID) (*Canon, error) {
	c := NewCanon(depth)
	for i, b := range blocks {
		if i > 0 && b.Number != blocks[i-1].Number+1 {
			return nil, fmt.Errorf("restore canonical hashes: %v does not follow %v", b, blocks[i-1])
		}
	}
	if len(blocks) > c.depth {
		blocks = blocks[len(blocks)-c.depth:]
	}
	c.blocks = append(c.blocks, blocks...)
	return c, nil
}

// Blocks returns the tracked blocks, oldest first: what the indexer saves with its
// position so that a restart can detect a reorg that happened while it was down.
func (c *Canon) Blocks() []BlockID { return append([]BlockID(nil), c.blocks...) }

// Head returns the newest tracked block; ok is false when nothing is tracked.
func (c *Canon) Head() (BlockID, bool) {
	if len(c.blocks) == 0 {
		return BlockID{}, false
	}
	return c.blocks[len(c.blocks)-1], true
}

// Extend records block b, whose parent is parent, as the new head. It fails with
// ErrNotChild unless b is the child of the current head (any block is accepted when
// nothing is tracked).
func (c *Canon) Extend(b BlockID, parent common.Hash) error {
	if head, ok := c.Head(); ok && (b.Number != head.Number+1 || parent != head.Hash) {
		return fmt.Errorf("%w: %v (parent %s) after head %v", ErrNotChild, b, parent.TerminalString(), head)
	}
	c.blocks = append(c.blocks, b)
	if len(c.blocks) > c.depth {
		c.blocks = append(c.blocks[:0], c.blocks[len(c.blocks)-c.depth:]...)
	}
	return nil
}

// Reorg walks back from the head, asking src for the canonical hash at each height,
// until both chains agree. It returns the common ancestor and the blocks that left the
// canonical chain, newest first (the order in which their records are retracted), and
// drops them from c, so that the next Extend continues from the ancestor. With no
// mismatch at the head it returns the head and nothing to retract. It fails with
// ErrReorgTooDeep when no tracked block is still canonical, leaving c unchanged.
func (c *Canon) Reorg(ctx context.Context, src HashSource) (ancestor BlockID, orphaned []BlockID, err error) {
	for i := len(c.blocks) - 1; i >= 0; i-- {
		b := c.blocks[i]
		h, err := src.CanonicalHash(ctx, b.Number)
		if err != nil {
			return BlockID{}, nil, fmt.Errorf("canonical hash of #%d: %w", b.Number, err)
		}
		if h == b.Hash {
			for j := len(c.blocks) - 1; j > i; j-- {
				orphaned = append(orphaned, c.blocks[j])
			}
			c.blocks = c.blocks[:i+1]
			return b, orphaned, nil
		}
	}
	if len(c.blocks) == 0 {
		return BlockID{}, nil, fmt.Errorf("%w: nothing tracked", ErrReorgTooDeep)
	}
	return BlockID{}, nil, fmt.Errorf("%w: none of %v..%v is canonical any more", ErrReorgTooDeep,
		c.blocks[0], c.blocks[len(c.blocks)-1])
}
