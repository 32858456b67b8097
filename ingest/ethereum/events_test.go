package ethereum_test

import (
	"context"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
	"google.golang.org/protobuf/proto"

	ethindex "github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/ingest/ethereum/contracts"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
)

// TestConvert makes one of every kind of transfer on the simulated backend (native,
// ERC-20, ERC-721, ERC-1155 single and batch), an ERC-20 approval and a failed
// transaction, converts every block, and checks the events: valid by the schema rules,
// unique ids, and exactly the transfers made.
func TestConvert(t *testing.T) {
	ctx := context.Background()
	key, _ := crypto.GenerateKey()
	me := crypto.PubkeyToAddress(key.PublicKey)
	bob := common.HexToAddress("0x000000000000000000000000000000000000b0b0")
	sim := simulated.NewBackend(types.GenesisAlloc{me: {Balance: new(big.Int).Mul(big.NewInt(10), big.NewInt(params.Ether))}})
	defer sim.Close()
	client := sim.Client()
	chainID, _ := client.ChainID(ctx)
	auth, _ := bind.NewKeyedTransactorWithChainID(key, chainID)
	must := func(_ *types.Transaction, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		sim.Commit()
	}

	tokenAddr, _, token, err := contracts.DeployWeirToken(auth, client, "Weir USD", "WUSD", 6)
	if err != nil {
		t.Fatal(err)
	}
	sim.Commit()
	nftAddr, _, nft, err := contracts.DeployWeirNFT(auth, client, "Weir NFT", "WNFT")
	if err != nil {
		t.Fatal(err)
	}
	sim.Commit()
	multiAddr, _, multi, err := contracts.DeployWeirMulti(auth, client)
	if err != nil {
		t.Fatal(err)
	}
	sim.Commit()

	must(token.Mint(auth, me, big.NewInt(1_000_000)))
	must(token.Transfer(auth, bob, big.NewInt(250_000)))
	must(token.Approve(auth, bob, big.NewInt(77)))
	must(nft.Mint(auth, me, big.NewInt(42)))
	must(nft.TransferFrom(auth, me, bob, big.NewInt(42)))
	must(multi.Mint(auth, me, big.NewInt(7), big.NewInt(100)))
	must(multi.Mint(auth, me, big.NewInt(8), big.NewInt(100)))
	must(multi.SafeBatchTransferFrom(auth, me, bob, []*big.Int{big.NewInt(7), big.NewInt(8)}, []*big.Int{big.NewInt(3), big.NewInt(4)}, nil))
	// A native transfer.
	nonce, _ := client.PendingNonceAt(ctx, me)
	tip, _ := client.SuggestGasTipCap(ctx)
	head, _ := client.HeaderByNumber(ctx, nil)
	tx, _ := types.SignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: new(big.Int).Add(head.BaseFee, new(big.Int).Mul(tip, big.NewInt(2))),
		Gas: 21000, To: &bob, Value: big.NewInt(123456789),
	})
	if err := client.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	sim.Commit()
	// A failed transaction: a transfer of more than the balance, with the gas limit set
	// so that it is mined (and reverts) instead of failing estimation.
	failing := *auth
	failing.GasLimit = 100_000
	must(token.Transfer(&failing, bob, big.NewInt(10_000_000)))

	conv := &ethindex.Converter{ChainID: chainID.Uint64(), Tokens: ethindex.NewTokenCache(client, 0)}
	last, _ := client.BlockNumber(ctx)
	ids := map[string]bool{}
	var transfers []*chainv1.Transfer
	var approvals []*chainv1.Approval
	var failed []*chainv1.Transaction
	for n := uint64(1); n <= last; n++ {
		b, err := client.BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		var receipts []*types.Receipt
		for _, tx := range b.Transactions() {
			r, err := client.TransactionReceipt(ctx, tx.Hash())
			if err != nil {
				t.Fatal(err)
			}
			receipts = append(receipts, r)
		}
		ev, err := conv.Convert(ctx, b, receipts, ethindex.Confirmation{Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST})
		if err != nil {
			t.Fatalf("block %d: %v", n, err)
		}
		if len(ev.Malformed) > 0 {
			t.Errorf("block %d: malformed logs %v", n, ev.Malformed)
		}
		var all []codec.Event
		all = append(all, ev.Block)
		for _, e := range ev.Transactions {
			all = append(all, e)
			if e.GetStatus() == chainv1.TransactionStatus_TRANSACTION_STATUS_FAILED {
				failed = append(failed, e)
			}
		}
		for _, e := range ev.Receipts {
			all = append(all, e)
		}
		for _, e := range ev.Logs {
			all = append(all, e)
		}
		for _, e := range ev.Transfers {
			all = append(all, e)
		}
		for _, e := range ev.Approvals {
			all = append(all, e)
		}
		transfers = append(transfers, ev.Transfers...)
		approvals = append(approvals, ev.Approvals...)
		for _, e := range all {
			if err := codec.Validate(e); err != nil {
				t.Errorf("block %d: %v", n, err)
			}
			id := e.GetMeta().GetEventId()
			if ids[id] {
				t.Errorf("event id %s used twice", id)
			}
			ids[id] = true
		}
	}

	lower := func(a common.Address) string { return strings.ToLower(a.Hex()) }
	type want struct {
		kind             chainv1.TransferKind
		from, to, amount string
		asset            string
		decimals         uint32
		tokenID          string
		batch            uint32
	}
	zero := lower(common.Address{})
	erc20 := "erc20:1337:" + lower(tokenAddr)
	wants := []want{
		{chainv1.TransferKind_TRANSFER_KIND_ERC20, zero, lower(me), "1000000", erc20, 6, "", 0},
		{chainv1.TransferKind_TRANSFER_KIND_ERC20, lower(me), lower(bob), "250000", erc20, 6, "", 0},
		{chainv1.TransferKind_TRANSFER_KIND_ERC721, zero, lower(me), "1", "erc721:1337:" + lower(nftAddr), 0, "42", 0},
		{chainv1.TransferKind_TRANSFER_KIND_ERC721, lower(me), lower(bob), "1", "erc721:1337:" + lower(nftAddr), 0, "42", 0},
		{chainv1.TransferKind_TRANSFER_KIND_ERC1155, zero, lower(me), "100", "erc1155:1337:" + lower(multiAddr), 0, "7", 0},
		{chainv1.TransferKind_TRANSFER_KIND_ERC1155, zero, lower(me), "100", "erc1155:1337:" + lower(multiAddr), 0, "8", 0},
		{chainv1.TransferKind_TRANSFER_KIND_ERC1155, lower(me), lower(bob), "3", "erc1155:1337:" + lower(multiAddr), 0, "7", 0},
		{chainv1.TransferKind_TRANSFER_KIND_ERC1155, lower(me), lower(bob), "4", "erc1155:1337:" + lower(multiAddr), 0, "8", 1},
		{chainv1.TransferKind_TRANSFER_KIND_NATIVE, lower(me), lower(bob), "123456789", "ETH", 18, "", 0},
	}
	if len(transfers) != len(wants) {
		for _, tr := range transfers {
			t.Logf("%v", tr)
		}
		t.Fatalf("%d transfers, want %d", len(transfers), len(wants))
	}
	for i, w := range wants {
		tr := transfers[i]
		got := want{tr.GetKind(), tr.GetFrom(), tr.GetTo(), tr.GetAmount().GetValue(), tr.GetAmount().GetAsset(),
			tr.GetAmount().GetDecimals(), tr.GetTokenId(), tr.GetBatchIndex()}
		if got != w {
			t.Errorf("transfer %d = %+v, want %+v", i, got, w)
		}
	}
	if len(approvals) != 1 || approvals[0].GetAmount().GetValue() != "77" || approvals[0].GetSpender() != lower(bob) ||
		approvals[0].GetToken().GetSymbol() != "WUSD" || approvals[0].GetUnlimited() {
		t.Errorf("approvals = %v", approvals)
	}
	if len(failed) != 1 || failed[0].GetSelector() != "0xa9059cbb" { // transfer(address,uint256)
		t.Errorf("failed transactions = %v, want the one over-balance transfer", failed)
	}
	// Converting the same block twice gives the same events (ids included): replays
	// after a crash are recognisable.
	b, _ := client.BlockByNumber(ctx, big.NewInt(5))
	r, _ := client.TransactionReceipt(ctx, b.Transactions()[0].Hash())
	one, _ := conv.Convert(ctx, b, []*types.Receipt{r}, ethindex.Confirmation{})
	two, _ := conv.Convert(ctx, b, []*types.Receipt{r}, ethindex.Confirmation{})
	if !proto.Equal(one.Transfers[0], two.Transfers[0]) || !proto.Equal(one.Block, two.Block) {
		t.Error("converting a block twice gave different events")
	}
}
