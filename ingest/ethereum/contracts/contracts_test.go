package contracts

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
)

// chain is a simulated backend with three funded accounts: the deployer (minter) and two
// holders. Every transaction is mined in its own block, so log order is the call order.
type chain struct {
	t       *testing.T
	ctx     context.Context
	sim     *simulated.Backend
	client  simulated.Client
	chainID *big.Int
	keys    map[string]*ecdsa.PrivateKey
}

func newChain(t *testing.T) *chain {
	t.Helper()
	c := &chain{t: t, ctx: t.Context(), keys: map[string]*ecdsa.PrivateKey{}}
	alloc := types.GenesisAlloc{}
	for _, name := range []string{"deployer", "alice", "bob"} {
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		c.keys[name] = key
		alloc[crypto.PubkeyToAddress(key.PublicKey)] = types.Account{Balance: big.NewInt(params.Ether)}
	}
	c.sim = simulated.NewBackend(alloc)
	t.Cleanup(func() {
		if err := c.sim.Close(); err != nil {
			t.Errorf("close simulated backend: %v", err)
		}
	})
	c.client = c.sim.Client()
	id, err := c.client.ChainID(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.chainID = id
	return c
}

func (c *chain) addr(name string) common.Address {
	return crypto.PubkeyToAddress(c.keys[name].PublicKey)
}

func (c *chain) opts(name string) *bind.TransactOpts {
	c.t.Helper()
	o, err := bind.NewKeyedTransactorWithChainID(c.keys[name], c.chainID)
	if err != nil {
		c.t.Fatal(err)
	}
	o.Context = c.ctx
	return o
}

// mine commits tx in a block of its own and fails the test unless it succeeded.
func (c *chain) mine(tx *types.Transaction, err error) *types.Receipt {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	c.sim.Commit()
	r, err := c.client.TransactionReceipt(c.ctx, tx.Hash())
	if err != nil {
		c.t.Fatalf("receipt of %s: %v", tx.Hash(), err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		c.t.Fatalf("transaction %s reverted", tx.Hash())
	}
	return r
}

func (c *chain) call() *bind.CallOpts { return &bind.CallOpts{Context: c.ctx} }

// transfer is one expected Transfer log: the amount for ERC-20, the token id for ERC-721.
type transfer struct {
	from, to common.Address
	value    int64
}

func TestWeirToken(t *testing.T) {
	c := newChain(t)
	deployer, alice, bob := c.addr("deployer"), c.addr("alice"), c.addr("bob")

	addr, tx, token, err := DeployWeirToken(c.opts("deployer"), c.client, "Weir USD", "WUSD", 6)
	c.mine(tx, err)

	if d, err := token.Decimals(c.call()); err != nil || d != 6 {
		t.Fatalf("decimals = %d, %v; want 6", d, err)
	}
	if s, err := token.Symbol(c.call()); err != nil || s != "WUSD" {
		t.Fatalf("symbol = %q, %v; want WUSD", s, err)
	}

	var receipts []*types.Receipt
	receipts = append(receipts,
		c.mine(token.Mint(c.opts("deployer"), alice, big.NewInt(1_000_000))),
		c.mine(token.Transfer(c.opts("alice"), bob, big.NewInt(250_000))),
		c.mine(token.Approve(c.opts("alice"), bob, big.NewInt(100_000))),
		c.mine(token.TransferFrom(c.opts("bob"), alice, deployer, big.NewInt(40_000))),
	)
	want := []transfer{
		{common.Address{}, alice, 1_000_000},
		{alice, bob, 250_000},
		{alice, deployer, 40_000},
	}

	// Only the minter may mint; the failed call must not be mined.
	if _, err := token.Mint(c.opts("alice"), alice, big.NewInt(1)); err == nil {
		t.Fatal("mint by a holder succeeded; want a revert")
	}

	for who, bal := range map[common.Address]int64{alice: 710_000, bob: 250_000, deployer: 40_000} {
		got, err := token.BalanceOf(c.call(), who)
		if err != nil || got.Cmp(big.NewInt(bal)) != 0 {
			t.Errorf("balanceOf(%s) = %v, %v; want %d", who, got, err, bal)
		}
	}
	if got, err := token.Allowance(c.call(), alice, bob); err != nil || got.Int64() != 60_000 {
		t.Errorf("allowance(alice, bob) = %v, %v; want 60000", got, err)
	}
	if got, err := token.TotalSupply(c.call()); err != nil || got.Int64() != 1_000_000 {
		t.Errorf("totalSupply = %v, %v; want 1000000", got, err)
	}

	// The logs the filter returns decode to exactly the transfers made.
	it, err := token.FilterTransfer(&bind.FilterOpts{Context: c.ctx}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []transfer
	for it.Next() {
		e := it.Event
		if e.Raw.Address != addr {
			t.Errorf("log from %s, want %s", e.Raw.Address, addr)
		}
		if len(e.Raw.Topics) != 3 {
			t.Errorf("ERC-20 Transfer has %d topics, want 3 (value is not indexed)", len(e.Raw.Topics))
		}
		got = append(got, transfer{e.From, e.To, e.Value.Int64()})
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	it.Close()
	if !slices.Equal(got, want) {
		t.Errorf("filtered transfers = %v, want %v", got, want)
	}

	// The receipts' logs parse the same way, and the approval is there too.
	transferID := mustEventID(t, WeirTokenMetaData.GetAbi, "Transfer")
	approvalID := mustEventID(t, WeirTokenMetaData.GetAbi, "Approval")
	got = nil
	var approvals int
	for _, r := range receipts {
		for _, l := range r.Logs {
			switch l.Topics[0] {
			case transferID:
				e, err := token.ParseTransfer(*l)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, transfer{e.From, e.To, e.Value.Int64()})
			case approvalID:
				e, err := token.ParseApproval(*l)
				if err != nil {
					t.Fatal(err)
				}
				if e.Owner != alice || e.Spender != bob || e.Value.Int64() != 100_000 {
					t.Errorf("approval = %+v", e)
				}
				approvals++
			default:
				t.Errorf("unexpected log topic %s", l.Topics[0])
			}
		}
	}
	if !slices.Equal(got, want) || approvals != 1 {
		t.Errorf("receipt transfers = %v, approvals = %d; want %v, 1", got, approvals, want)
	}
}

func TestWeirNFT(t *testing.T) {
	c := newChain(t)
	deployer, alice, bob := c.addr("deployer"), c.addr("alice"), c.addr("bob")

	addr, tx, nft, err := DeployWeirNFT(c.opts("deployer"), c.client, "Weir Receipts", "WRCPT")
	c.mine(tx, err)

	c.mine(nft.Mint(c.opts("deployer"), alice, big.NewInt(7)))
	c.mine(nft.Mint(c.opts("deployer"), alice, big.NewInt(8)))
	approve := c.mine(nft.Approve(c.opts("alice"), bob, big.NewInt(7)))
	c.mine(nft.TransferFrom(c.opts("bob"), alice, deployer, big.NewInt(7)))
	c.mine(nft.SafeTransferFrom(c.opts("alice"), alice, bob, big.NewInt(8)))
	want := []transfer{
		{common.Address{}, alice, 7},
		{common.Address{}, alice, 8},
		{alice, deployer, 7},
		{alice, bob, 8},
	}

	// Bob's approval for 7 was cleared by the transfer.
	if _, err := nft.TransferFrom(c.opts("bob"), deployer, bob, big.NewInt(7)); err == nil {
		t.Fatal("transfer with a spent approval succeeded; want a revert")
	}

	for id, owner := range map[int64]common.Address{7: deployer, 8: bob} {
		got, err := nft.OwnerOf(c.call(), big.NewInt(id))
		if err != nil || got != owner {
			t.Errorf("ownerOf(%d) = %s, %v; want %s", id, got, err, owner)
		}
	}
	for who, n := range map[common.Address]int64{alice: 0, bob: 1, deployer: 1} {
		got, err := nft.BalanceOf(c.call(), who)
		if err != nil || got.Int64() != n {
			t.Errorf("balanceOf(%s) = %v, %v; want %d", who, got, err, n)
		}
	}

	it, err := nft.FilterTransfer(&bind.FilterOpts{Context: c.ctx}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []transfer
	for it.Next() {
		e := it.Event
		if e.Raw.Address != addr {
			t.Errorf("log from %s, want %s", e.Raw.Address, addr)
		}
		// Same topic hash as the ERC-20 Transfer; the fourth topic (indexed token id) is
		// what tells an indexer it is an ERC-721 transfer.
		if len(e.Raw.Topics) != 4 {
			t.Errorf("ERC-721 Transfer has %d topics, want 4", len(e.Raw.Topics))
		}
		got = append(got, transfer{e.From, e.To, e.TokenId.Int64()})
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	it.Close()
	if !slices.Equal(got, want) {
		t.Errorf("filtered transfers = %v, want %v", got, want)
	}

	if n := len(approve.Logs); n != 1 {
		t.Fatalf("approve emitted %d logs, want 1", n)
	}
	a, err := nft.ParseApproval(*approve.Logs[0])
	if err != nil {
		t.Fatal(err)
	}
	if a.Owner != alice || a.Approved != bob || a.TokenId.Int64() != 7 {
		t.Errorf("approval = %+v", a)
	}

	if mustEventID(t, WeirNFTMetaData.GetAbi, "Transfer") != mustEventID(t, WeirTokenMetaData.GetAbi, "Transfer") {
		t.Error("ERC-20 and ERC-721 Transfer topics differ; they must share one signature")
	}
}

func TestWeirMulti(t *testing.T) {
	c := newChain(t)
	deployer, alice, bob := c.addr("deployer"), c.addr("alice"), c.addr("bob")

	_, tx, multi, err := DeployWeirMulti(c.opts("deployer"), c.client)
	c.mine(tx, err)

	c.mine(multi.Mint(c.opts("deployer"), alice, big.NewInt(1), big.NewInt(100)))
	c.mine(multi.Mint(c.opts("deployer"), alice, big.NewInt(2), big.NewInt(5)))
	c.mine(multi.SafeTransferFrom(c.opts("alice"), alice, bob, big.NewInt(1), big.NewInt(30), nil))
	c.mine(multi.SafeBatchTransferFrom(c.opts("alice"), alice, bob,
		[]*big.Int{big.NewInt(1), big.NewInt(2)}, []*big.Int{big.NewInt(20), big.NewInt(5)}, nil))

	for _, b := range []struct {
		who   common.Address
		id, n int64
	}{{alice, 1, 50}, {alice, 2, 0}, {bob, 1, 50}, {bob, 2, 5}} {
		got, err := multi.BalanceOf(c.call(), big.NewInt(b.id), b.who)
		if err != nil || got.Int64() != b.n {
			t.Errorf("balanceOf(%d, %s) = %v, %v; want %d", b.id, b.who, got, err, b.n)
		}
	}

	type single struct {
		operator, from, to common.Address
		id, value          int64
	}
	singles, err := multi.FilterTransferSingle(&bind.FilterOpts{Context: c.ctx}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var gotSingles []single
	for singles.Next() {
		e := singles.Event
		gotSingles = append(gotSingles, single{e.Operator, e.From, e.To, e.Id.Int64(), e.Value.Int64()})
	}
	if err := singles.Error(); err != nil {
		t.Fatal(err)
	}
	singles.Close()
	wantSingles := []single{
		{deployer, common.Address{}, alice, 1, 100},
		{deployer, common.Address{}, alice, 2, 5},
		{alice, alice, bob, 1, 30},
	}
	if !slices.Equal(gotSingles, wantSingles) {
		t.Errorf("TransferSingle = %v, want %v", gotSingles, wantSingles)
	}

	batches, err := multi.FilterTransferBatch(&bind.FilterOpts{Context: c.ctx}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for batches.Next() {
		e := batches.Event
		n++
		if e.Operator != alice || e.From != alice || e.To != bob ||
			!slices.Equal(ints(e.Ids), []int64{1, 2}) || !slices.Equal(ints(e.Values), []int64{20, 5}) {
			t.Errorf("TransferBatch = %+v", e)
		}
	}
	if err := batches.Error(); err != nil {
		t.Fatal(err)
	}
	batches.Close()
	if n != 1 {
		t.Errorf("%d TransferBatch logs, want 1", n)
	}
}

func ints(bs []*big.Int) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b.Int64()
	}
	return out
}

func mustEventID(t *testing.T, getABI func() (*abi.ABI, error), name string) common.Hash {
	t.Helper()
	a, err := getABI()
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := a.Events[name]
	if !ok {
		t.Fatalf("no event %s in ABI", name)
	}
	return ev.ID
}
