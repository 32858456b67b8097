package chaingen_test

import (
	"errors"
	"math/big"
	"testing"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/weirhq/weir/bench/chaingen"
)

func TestReorg(t *testing.T) {
	ctx := t.Context()
	var reported []chaingen.ReorgInfo
	c := start(t, chaingen.Config{Rate: 5, FraudRate: -1, OnReorg: func(r chaingen.ReorgInfo) { reported = append(reported, r) }})
	cl := dial(t, c.URL())

	// Past block 32, so the simulated beacon has finalized a block other than genesis.
	if err := c.Blocks(ctx, 38); err != nil {
		t.Fatal(err)
	}

	for _, depth := range []int{1, 5} {
		oldHead, err := cl.HeaderByNumber(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Reorg(ctx, depth)
		if err != nil {
			t.Fatalf("Reorg(%d): %v", depth, err)
		}
		if info.Depth != depth || info.OldHead.Hash != oldHead.Hash() || len(info.Orphaned) != depth ||
			len(info.Replacements) != depth+1 || info.Ancestor.Number != oldHead.Number.Uint64()-uint64(depth) {
			t.Fatalf("Reorg(%d) = %+v, old head %d %s", depth, info, oldHead.Number, oldHead.Hash())
		}
		newHead, err := cl.HeaderByNumber(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if newHead.Number.Uint64() <= oldHead.Number.Uint64() || newHead.Hash() != info.NewHead.Hash {
			t.Fatalf("new head %d %s, old %d, reported %+v", newHead.Number, newHead.Hash(), oldHead.Number, info.NewHead)
		}
		for i, orphan := range info.Orphaned {
			n := info.Ancestor.Number + 1 + uint64(i)
			canon, err := cl.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
			if err != nil {
				t.Fatal(err)
			}
			if canon.Hash() == orphan {
				t.Fatalf("depth %d: block %d still %s", depth, n, orphan)
			}
			if canon.ParentHash != replacementParent(info, i) {
				t.Fatalf("depth %d: block %d does not build on the new chain", depth, n)
			}
			old, err := cl.BlockByHash(ctx, orphan)
			if err != nil {
				t.Fatalf("eth_getBlockByHash of orphaned %s: %v", orphan, err)
			}
			if old.NumberU64() != n {
				t.Fatalf("orphaned block %s has number %d, want %d", orphan, old.NumberU64(), n)
			}
			// The orphaned transactions are not re-sent: none is on the new chain.
			for _, tx := range old.Transactions() {
				r, err := cl.TransactionReceipt(ctx, tx.Hash())
				if err == nil && r.BlockHash != orphan {
					t.Fatalf("orphaned tx %s re-mined in block %d", tx.Hash(), r.BlockNumber)
				}
				if err != nil && !errors.Is(err, ethereum.NotFound) {
					t.Fatalf("receipt of orphaned tx %s: %v", tx.Hash(), err)
				}
			}
		}
		// The generator goes on after the reorg without a refused transaction: its
		// nonces follow the new chain.
		if err := c.Blocks(ctx, 3); err != nil {
			t.Fatal(err)
		}
	}
	if len(reported) != 2 || reported[0].Depth != 1 || reported[1].Depth != 5 {
		t.Fatalf("OnReorg got %+v", reported)
	}

	fin, err := cl.HeaderByNumber(ctx, big.NewInt(int64(rpc.FinalizedBlockNumber)))
	if err != nil {
		t.Fatal(err)
	}
	head, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fin.Number.Uint64() != 32 {
		t.Fatalf("finalized %d at head %d, want 32", fin.Number, head)
	}
	// Replacing the finalized block is refused and changes nothing.
	if _, err := c.Reorg(ctx, int(head-fin.Number.Uint64())+1); !errors.Is(err, chaingen.ErrFinalized) {
		t.Fatalf("Reorg below finalized: %v, want ErrFinalized", err)
	}
	if _, err := c.Reorg(ctx, int(head)); !errors.Is(err, chaingen.ErrTooDeep) {
		t.Fatalf("Reorg of the whole chain: %v, want ErrTooDeep", err)
	}
	if after, err := cl.BlockNumber(ctx); err != nil || after != head {
		t.Fatalf("head %d after refused reorgs, was %d (%v)", after, head, err)
	}
	// Up to the finalized block is allowed.
	if _, err := c.Reorg(ctx, int(head-fin.Number.Uint64())); err != nil {
		t.Fatalf("Reorg down to the finalized block: %v", err)
	}
	if st := c.Stats(); st.SendErrors != 0 || st.Reorgs != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// replacementParent is the parent the i-th replacement block must have.
func replacementParent(info chaingen.ReorgInfo, i int) (h [32]byte) {
	if i == 0 {
		return info.Ancestor.Hash
	}
	return info.Replacements[i-1]
}
