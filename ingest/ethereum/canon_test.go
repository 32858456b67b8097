package ethereum

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// chain is a fake node: the canonical hash at each height, changeable to make reorgs.
type chain struct {
	hashes map[uint64]common.Hash
	err    error
}

func hashOf(fork string, n uint64) common.Hash {
	return crypto.Keccak256Hash([]byte(fmt.Sprintf("%s/%d", fork, n)))
}

// newChain has blocks 0..n of fork "a".
func newChain(n uint64) *chain {
	c := &chain{hashes: map[uint64]common.Hash{}}
	for i := uint64(0); i <= n; i++ {
		c.hashes[i] = hashOf("a", i)
	}
	return c
}

// fork replaces blocks from..to with fork f's.
func (c *chain) fork(f string, from, to uint64) {
	for i := from; i <= to; i++ {
		c.hashes[i] = hashOf(f, i)
	}
}

func (c *chain) CanonicalHash(_ context.Context, n uint64) (common.Hash, error) {
	if c.err != nil {
		return common.Hash{}, c.err
	}
	h, ok := c.hashes[n]
	if !ok {
		return common.Hash{}, fmt.Errorf("no block %d", n)
	}
	return h, nil
}

// follow extends canon with the chain's blocks from..to.
func follow(t *testing.T, canon *Canon, c *chain, from, to uint64) {
	t.Helper()
	for n := from; n <= to; n++ {
		parent := common.Hash{}
		if n > 0 {
			parent = c.hashes[n-1]
		}
		if err := canon.Extend(BlockID{n, c.hashes[n]}, parent); err != nil {
			t.Fatalf("extend #%d: %v", n, err)
		}
	}
}

func TestCanonExtend(t *testing.T) {
	c := newChain(20)
	canon := NewCanon(8)
	follow(t, canon, c, 0, 20)
	if got := canon.Blocks(); len(got) != 8 || got[0].Number != 13 || got[7].Number != 20 {
		t.Fatalf("tracked %v, want #13..#20", got)
	}
	if err := canon.Extend(BlockID{22, hashOf("a", 22)}, c.hashes[20]); !errors.Is(err, ErrNotChild) {
		t.Errorf("a gap: %v, want ErrNotChild", err)
	}
	if err := canon.Extend(BlockID{21, hashOf("a", 21)}, hashOf("b", 20)); !errors.Is(err, ErrNotChild) {
		t.Errorf("a wrong parent: %v, want ErrNotChild", err)
	}
	if head, _ := canon.Head(); head.Number != 20 {
		t.Errorf("a refused block moved the head to %v", head)
	}
}

func TestCanonReorg(t *testing.T) {
	for _, depth := range []uint64{0, 1, 5} {
		t.Run(fmt.Sprintf("depth %d", depth), func(t *testing.T) {
			c := newChain(30)
			canon := NewCanon(16)
			follow(t, canon, c, 10, 30)
			if depth > 0 {
				c.fork("b", 30-depth+1, 30) // the last depth blocks are replaced
			}
			ancestor, orphaned, err := canon.Reorg(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if want := (BlockID{30 - depth, hashOf("a", 30-depth)}); ancestor != want {
				t.Errorf("ancestor %v, want %v", ancestor, want)
			}
			if uint64(len(orphaned)) != depth {
				t.Fatalf("orphaned %v, want %d blocks", orphaned, depth)
			}
			for i, b := range orphaned { // newest first
				if want := (BlockID{30 - uint64(i), hashOf("a", 30-uint64(i))}); b != want {
					t.Errorf("orphaned[%d] = %v, want %v", i, b, want)
				}
			}
			// The new chain extends the ancestor.
			c.fork("b", 31, 32)
			if depth == 0 {
				c.hashes[31], c.hashes[32] = hashOf("a", 31), hashOf("a", 32)
			}
			follow(t, canon, c, 30-depth+1, 32)
			if head, _ := canon.Head(); head.Hash != c.hashes[32] {
				t.Errorf("head %v after following the new chain", head)
			}
		})
	}
}

func TestCanonReorgTooDeep(t *testing.T) {
	c := newChain(30)
	canon := NewCanon(4)
	follow(t, canon, c, 20, 30)
	c.fork("b", 25, 30) // 6 blocks replaced, 4 tracked
	before := canon.Blocks()
	if _, _, err := canon.Reorg(context.Background(), c); !errors.Is(err, ErrReorgTooDeep) {
		t.Fatalf("err %v, want ErrReorgTooDeep", err)
	}
	if after := canon.Blocks(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a failed reorg changed the tracked blocks: %v, was %v", after, before)
	}
	c.err = errors.New("node down")
	if _, _, err := canon.Reorg(context.Background(), c); !errors.Is(err, c.err) {
		t.Errorf("a source error: %v", err)
	}
	if _, _, err := NewCanon(4).Reorg(context.Background(), newChain(1)); !errors.Is(err, ErrReorgTooDeep) {
		t.Errorf("reorg with nothing tracked: %v", err)
	}
}

func TestCanonRestore(t *testing.T) {
	c := newChain(10)
	canon := NewCanon(5)
	follow(t, canon, c, 0, 10)
	back, err := Restore(5, canon.Blocks())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back.Blocks()) != fmt.Sprint(canon.Blocks()) {
		t.Errorf("restored %v, want %v", back.Blocks(), canon.Blocks())
	}
	if smaller, _ := Restore(2, canon.Blocks()); len(smaller.Blocks()) != 2 || smaller.Blocks()[1].Number != 10 {
		t.Errorf("restore into a smaller depth kept %v", smaller.Blocks())
	}
	gap := []BlockID{{1, hashOf("a", 1)}, {3, hashOf("a", 3)}}
	if _, err := Restore(5, gap); err == nil {
		t.Error("restore of non-consecutive blocks: want an error")
	}
}
