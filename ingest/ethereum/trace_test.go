package ethereum

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/ingest/ethereum/contracts"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// TestInternalTransfersFromGeth deploys two WeirSplitters on geth --dev, calls
// splitNested (direct shares, shares forwarded through the second splitter, a reverted
// inner call caught by try/catch, a refund) and a reverting splitAndRevert transaction,
// then reads, converts and traces their blocks, and checks the internal transfers against
// what the contract does and against the recipients' balances.
func TestInternalTransfersFromGeth(t *testing.T) {
	url := testenv.EthRPC(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := Dial(ctx, url, devChainID, NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	key, me := fundedKey(ctx, t, n)
	auth, err := bind.NewKeyedTransactorWithChainID(key, big.NewInt(devChainID))
	if err != nil {
		t.Fatal(err)
	}
	auth.Context = ctx
	aAddr, aTx, a, err := contracts.DeployWeirSplitter(auth, n.eth)
	if err != nil {
		t.Fatal(err)
	}
	bAddr, bTx, _, err := contracts.DeployWeirSplitter(auth, n.eth)
	if err != nil {
		t.Fatal(err)
	}
	mined(ctx, t, n, aTx.Hash(), true)
	mined(ctx, t, n, bTx.Hash(), true)

	// Fresh recipients, so that their balances are exactly what this test sent them.
	var to []common.Address
	for range 3 {
		k, _ := crypto.GenerateKey()
		to = append(to, crypto.PubkeyToAddress(k.PublicKey))
	}
	share := big.NewInt(1_000_000_007) // wei
	third := new(big.Int).Mul(share, big.NewInt(int64(len(to))))
	value := new(big.Int).Mul(third, big.NewInt(3))

	pay := *auth
	pay.Value = value
	okTx, err := a.SplitNested(&pay, bAddr, to)
	if err != nil {
		t.Fatal(err)
	}
	// A transaction that reverts: mined with a fixed gas limit instead of failing
	// estimation. Its calls moved value before it reverted; none of it counts.
	revert := *auth
	revert.Value, revert.GasLimit = big.NewInt(3_000_000), 300_000
	badTx, err := a.SplitAndRevert(&revert, to)
	if err != nil {
		t.Fatal(err)
	}
	okReceipt := mined(ctx, t, n, okTx.Hash(), true)
	badReceipt := mined(ctx, t, n, badTx.Hash(), false)

	conv := &Converter{ChainID: devChainID}
	internal := map[common.Hash][]*chainv1.Transfer{} // by transaction
	var native []*chainv1.Transfer
	blocks := []uint64{okReceipt.BlockNumber.Uint64()}
	if b := badReceipt.BlockNumber.Uint64(); b != blocks[0] {
		blocks = append(blocks, b)
	}
	for _, number := range blocks {
		b, receipts, err := n.Block(ctx, number)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := conv.Convert(ctx, b, receipts, Confirmation{Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST})
		if err != nil {
			t.Fatal(err)
		}
		traces, err := n.TraceBlock(ctx, b.Hash())
		if err != nil {
			t.Fatalf("TraceBlock(%d): %v", number, err)
		}
		before := len(ev.Transfers)
		if err := conv.AddInternalTransfers(ev, traces); err != nil {
			t.Fatalf("AddInternalTransfers(%d): %v", number, err)
		}
		if err := conv.AddInternalTransfers(ev, traces); err == nil {
			t.Error("AddInternalTransfers twice on a block: want an error")
		}
		if len(ev.Transfers) == before {
			t.Errorf("block %d: no internal transfers", number)
		}
		checkEvents(t, ev)
		for _, tr := range ev.Transfers {
			h := common.HexToHash(tr.GetTransactionHash())
			switch {
			case h != okTx.Hash() && h != badTx.Hash():
				// Another test's transaction in the same block.
			case tr.GetKind() == chainv1.TransferKind_TRANSFER_KIND_INTERNAL:
				internal[h] = append(internal[h], tr)
			case tr.GetKind() == chainv1.TransferKind_TRANSFER_KIND_NATIVE:
				native = append(native, tr)
			}
		}
		// The traces say the same as the receipts about which transactions failed.
		for i, tr := range traces {
			if tr.Root.Failed() != (receipts[i].Status != types.ReceiptStatusSuccessful) {
				t.Errorf("block %d tx %d: trace failed %v, receipt status %d", number, i, tr.Root.Failed(), receipts[i].Status)
			}
		}
	}

	lower := func(a common.Address) string { return strings.ToLower(a.Hex()) }
	type transfer struct{ trace, from, to, amount string }
	want := []transfer{
		// a's own third, split among the recipients.
		{"0", lower(aAddr), lower(to[0]), share.String()},
		{"1", lower(aAddr), lower(to[1]), share.String()},
		{"2", lower(aAddr), lower(to[2]), share.String()},
		// The second third, forwarded through b.split.
		{"3", lower(aAddr), lower(bAddr), third.String()},
		{"3.0", lower(bAddr), lower(to[0]), share.String()},
		{"3.1", lower(bAddr), lower(to[1]), share.String()},
		{"3.2", lower(bAddr), lower(to[2]), share.String()},
		// "4" is b.splitAndRevert, which reverted with its shares "4.0".."4.2"; the third
		// it was offered is refunded.
		{"5", lower(aAddr), lower(me), third.String()},
	}
	var got []transfer
	for _, tr := range internal[okTx.Hash()] {
		got = append(got, transfer{tr.GetTraceAddress(), tr.GetFrom(), tr.GetTo(), tr.GetAmount().GetValue()})
		if tr.GetTransactionIndex() != uint32(okReceipt.TransactionIndex) || tr.GetAmount().GetAsset() != "ETH" ||
			tr.GetAmount().GetDecimals() != 18 || tr.GetLogIndex() != 0 || tr.LogIndex != nil || tr.GetToken() != nil {
			t.Errorf("internal transfer %s: %v", tr.GetTraceAddress(), tr)
		}
		if id := eventid.ChainTrace(kindTransfer, devChainID, okReceipt.BlockHash.Hex(), okTx.Hash().Hex(), tr.GetTraceAddress()); tr.GetMeta().GetEventId() != id {
			t.Errorf("internal transfer %s: event id %s, want %s", tr.GetTraceAddress(), tr.GetMeta().GetEventId(), id)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("internal transfers of splitNested:\n got %v\nwant %v", got, want)
	}
	if len(internal[badTx.Hash()]) != 0 {
		t.Errorf("internal transfers of a reverted transaction: %v", internal[badTx.Hash()])
	}
	if len(native) != 1 || native[0].GetAmount().GetValue() != value.String() || native[0].GetTo() != lower(aAddr) {
		t.Errorf("native transfers = %v, want the one of splitNested", native)
	}

	// What the transfers say arrived is what the chain holds, and the value splitNested
	// received is all accounted for: two thirds reached the recipients (one directly, one
	// through b), one was refunded, and none of it stayed with a or b.
	received := map[string]*big.Int{}
	for _, tr := range internal[okTx.Hash()] {
		v, _ := new(big.Int).SetString(tr.GetAmount().GetValue(), 10)
		if received[tr.GetTo()] == nil {
			received[tr.GetTo()] = new(big.Int)
		}
		received[tr.GetTo()].Add(received[tr.GetTo()], v)
	}
	toRecipients := new(big.Int)
	for _, r := range to {
		bal, err := n.eth.BalanceAt(ctx, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := received[lower(r)]; got == nil || got.Cmp(bal) != 0 {
			t.Errorf("recipient %s: internal transfers %v, balance %v", lower(r), got, bal)
		}
		toRecipients.Add(toRecipients, bal)
	}
	if want := new(big.Int).Mul(third, big.NewInt(2)); toRecipients.Cmp(want) != 0 {
		t.Errorf("recipients received %v, want two thirds of %v", toRecipients, value)
	}
	if received[lower(me)].Cmp(third) != 0 || received[lower(bAddr)].Cmp(third) != 0 {
		t.Errorf("refund %v, forwarded to b %v; want %v each", received[lower(me)], received[lower(bAddr)], third)
	}
	for _, c := range []common.Address{aAddr, bAddr} {
		if bal, err := n.eth.BalanceAt(ctx, c, nil); err != nil || bal.Sign() != 0 {
			t.Errorf("splitter %s holds %v (%v), want nothing", lower(c), bal, err)
		}
	}
}

// checkEvents validates every event of ev with the codec and checks that ids are unique.
func checkEvents(t *testing.T, ev *BlockEvents) {
	t.Helper()
	all := []codec.Event{ev.Block}
	for _, e := range ev.Transactions {
		all = append(all, e)
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
	ids := map[string]bool{}
	for _, e := range all {
		if err := codec.Validate(e); err != nil {
			t.Errorf("block %d: %v", ev.Block.GetNumber(), err)
		}
		id := e.GetMeta().GetEventId()
		if ids[id] {
			t.Errorf("block %d: event id %s used twice", ev.Block.GetNumber(), id)
		}
		ids[id] = true
	}
}

// fundedKey returns a new key holding 1 ether, sent from geth --dev's unlocked dev
// account.
func fundedKey(ctx context.Context, t *testing.T, n *Node) (*ecdsa.PrivateKey, common.Address) {
	t.Helper()
	var accounts []common.Address
	if err := n.rpc.CallContext(ctx, &accounts, "eth_accounts"); err != nil || len(accounts) == 0 {
		t.Fatalf("eth_accounts: %v %v", accounts, err)
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	var hash common.Hash
	err = n.rpc.CallContext(ctx, &hash, "eth_sendTransaction", map[string]any{
		"from": accounts[0], "to": addr, "value": (*hexutil.Big)(big.NewInt(params.Ether)),
	})
	if err != nil {
		t.Fatalf("eth_sendTransaction: %v", err)
	}
	mined(ctx, t, n, hash, true)
	return key, addr
}

// mined waits (polling, until ctx ends) for the receipt of hash and checks its status.
func mined(ctx context.Context, t *testing.T, n *Node, hash common.Hash, wantOK bool) *types.Receipt {
	t.Helper()
	r, err := bind.WaitMinedHash(ctx, n.eth, hash)
	if err != nil {
		t.Fatalf("transaction %s not mined: %v", hash.Hex(), err)
	}
	if ok := r.Status == types.ReceiptStatusSuccessful; ok != wantOK {
		t.Fatalf("transaction %s: status %d, want success %v", hash.Hex(), r.Status, wantOK)
	}
	return r
}

// frame is a CallFrame for the table below.
func frame(typ string, value int64, failed bool, calls ...CallFrame) CallFrame {
	f := CallFrame{Type: typ, From: common.BigToAddress(big.NewInt(value + 0x100)), To: common.BigToAddress(big.NewInt(value + 0x200)), Calls: calls}
	if value >= 0 {
		f.Value = big.NewInt(value)
	}
	if failed {
		f.Error = "execution reverted"
	}
	return f
}

func TestInternalTransfersOfATree(t *testing.T) {
	many := make([]CallFrame, 12)
	for i := range many {
		many[i] = frame("STATICCALL", -1, false)
	}
	many[11] = frame("CALL", 11, false)
	tests := []struct {
		name string
		root CallFrame
		want []string // trace address:value
	}{
		{"no calls", frame("CALL", 5, false), nil},
		{"failed root", frame("CALL", 0, true, frame("CALL", 1, false)), nil},
		{"every type", frame("CALL", 1, false,
			frame("CALL", 2, false, // "0"
				frame("DELEGATECALL", 2, false, // "0.0": the caller's value, not a transfer
					frame("CALL", 3, false)), // "0.0.0"
				frame("STATICCALL", -1, false), // "0.1"
				frame("CALLCODE", 4, false),    // "0.2": to itself
				frame("CALL", 0, false)),       // "0.3": no value
			frame("CREATE", 5, false),       // "1"
			frame("CREATE2", 6, false),      // "2"
			frame("SELFDESTRUCT", 7, false), // "3"
		), []string{"0:2", "0.0.0:3", "1:5", "2:6", "3:7"}},
		{"failed frames and their subtrees", frame("CALL", 0, false,
			frame("CALL", 1, true, // "0" reverted
				frame("CALL", 2, false, // "0.0" succeeded, undone by its parent
					frame("CALL", 3, false))), // "0.0.0"
			frame("CALL", 0, false, // "1"
				frame("CREATE", 4, true), // "1.0" failed
				frame("CALL", 5, false)), // "1.1"
			frame("STATICCALL", -1, true, // "2"
				frame("CALL", 6, false)),
		), []string{"1.1:5"}},
		{"two-digit indexes", frame("CALL", 0, false, frame("CALL", 0, false, many...)), []string{"0.11:11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, it := range internalTransfers(&tt.root) {
				got = append(got, fmt.Sprintf("%s:%s", it.traceAddress, it.frame.Value))
				if it.frame.From != common.BigToAddress(new(big.Int).Add(it.frame.Value, big.NewInt(0x100))) {
					t.Errorf("%s: from %s", it.traceAddress, it.frame.From.Hex())
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAddInternalTransfers checks the events made from a hand-built trace and that
// traces not matching the block are refused.
func TestAddInternalTransfers(t *testing.T) {
	hash := func(b byte) common.Hash { return common.BytesToHash([]byte{b}) }
	newEvents := func() *BlockEvents {
		blockHash := hexHash(hash(0xbb))
		return &BlockEvents{
			Block: &chainv1.Block{
				Meta: &commonv1.Meta{
					EventId:   eventid.ChainBlock(kindBlock, 1, blockHash),
					EventTime: timestamppb.New(time.Unix(1_700_000_000, 0)), Source: "ingest/ethereum",
				},
				ChainId: 1, Number: 7, Hash: blockHash, Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_SAFE,
			},
			Transactions: []*chainv1.Transaction{
				{Hash: hexHash(hash(1)), Index: 0, Status: chainv1.TransactionStatus_TRANSACTION_STATUS_SUCCEEDED},
				{Hash: hexHash(hash(2)), Index: 1, Status: chainv1.TransactionStatus_TRANSACTION_STATUS_FAILED},
				{Hash: hexHash(hash(3)), Index: 2, Status: chainv1.TransactionStatus_TRANSACTION_STATUS_SUCCEEDED},
			},
		}
	}
	tree := frame("CALL", 1, false, frame("CALL", 2, false, frame("CALL", 3, false)), frame("SELFDESTRUCT", 4, false))
	traces := []TxTrace{{hash(1), tree}, {hash(2), tree}, {hash(3), frame("CALL", 0, false)}}
	conv := &Converter{ChainID: 1, NativeAsset: "ETH"}

	ev := newEvents()
	if err := conv.AddInternalTransfers(ev, traces); err != nil {
		t.Fatal(err)
	}
	var got []string
	ids := map[string]bool{}
	for _, tr := range ev.Transfers {
		if err := codec.Validate(tr); err != nil {
			t.Error(err)
		}
		if ids[tr.GetMeta().GetEventId()] {
			t.Errorf("event id %s used twice", tr.GetMeta().GetEventId())
		}
		ids[tr.GetMeta().GetEventId()] = true
		got = append(got, fmt.Sprintf("%s %d %s %s", tr.GetTransactionHash()[len(tr.GetTransactionHash())-2:],
			tr.GetTransactionIndex(), tr.GetTraceAddress(), tr.GetAmount().GetValue()))
		if tr.GetConfirmation() != chainv1.ConfirmationStatus_CONFIRMATION_STATUS_SAFE ||
			tr.GetMeta().GetTraceId() != ev.Block.GetMeta().GetEventId() || tr.GetBlock().GetNumber() != 7 ||
			tr.GetKind() != chainv1.TransferKind_TRANSFER_KIND_INTERNAL || tr.GetFrom() != strings.ToLower(tr.GetFrom()) {
			t.Errorf("transfer %v", tr)
		}
	}
	// Nothing for the failed transaction 2 nor for 3, whose only call is the top-level one.
	if want := []string{"01 0 0 2", "01 0 0.0 3", "01 0 1 4"}; !slices.Equal(got, want) {
		t.Errorf("transfers %q, want %q", got, want)
	}

	for name, bad := range map[string][]TxTrace{
		"too few traces":   traces[:2],
		"too many traces":  append(slices.Clone(traces), traces[0]),
		"another tx":       {traces[0], {hash(9), tree}, traces[2]},
		"out of order":     {traces[1], traces[0], traces[2]},
		"no hash in trace": {traces[0], {Root: tree}, traces[2]},
	} {
		ev := newEvents()
		if err := conv.AddInternalTransfers(ev, bad); err == nil || len(ev.Transfers) != 0 {
			t.Errorf("%s: err %v, %d transfers; want an error and none", name, err, len(ev.Transfers))
		}
	}
}

// TestTraceBlockWithoutTracer runs TraceBlock against a JSON-RPC server on loopback that
// answers eth_chainId and gives the canned answer for debug_traceBlockByHash.
func TestTraceBlockWithoutTracer(t *testing.T) {
	txHash := common.HexToHash("0x01").Hex()
	tests := []struct {
		name     string
		answer   string // the JSON-RPC "result" or "error" member
		noTracer bool
		ok       bool
	}{
		{"method not found", `"error":{"code":-32601,"message":"the method debug_traceBlockByHash does not exist/is not available"}`, true, false},
		{"method not supported", `"error":{"code":-32004,"message":"method not supported"}`, true, false},
		{"block not found", `"error":{"code":-32000,"message":"block 0x01 not found"}`, false, false},
		{"transaction not traced", `"result":[{"txHash":"` + txHash + `","error":"execution timeout"}]`, false, false},
		{"traced", `"result":[{"txHash":"` + txHash + `","result":{"type":"CALL","from":"0x0000000000000000000000000000000000000001",` +
			`"to":"0x0000000000000000000000000000000000000002","value":"0x10","calls":[{"type":"CREATE",` +
			`"from":"0x0000000000000000000000000000000000000002","value":"0x0","error":"out of gas"}]}}]`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var traceCalls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var req struct {
					ID     json.RawMessage `json:"id"`
					Method string          `json:"method"`
				}
				if err := json.Unmarshal(body, &req); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				answer := tt.answer
				switch req.Method {
				case "eth_chainId":
					answer = `"result":"0x539"`
				case "debug_traceBlockByHash":
					traceCalls.Add(1)
				default:
					answer = `"error":{"code":-32601,"message":"no such method"}`
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,%s}`, req.ID, answer)
			}))
			defer srv.Close()

			ctx := context.Background()
			n, err := Dial(ctx, srv.URL, devChainID, NodeOptions{Retries: 2, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			traces, err := n.TraceBlock(ctx, common.HexToHash("0x01"))
			if errors.Is(err, ErrNoTracer) != tt.noTracer || (err == nil) != tt.ok {
				t.Fatalf("TraceBlock: %v", err)
			}
			if tt.noTracer && traceCalls.Load() != 1 {
				t.Errorf("%d calls of debug_traceBlockByHash, want 1: a missing method is not retried", traceCalls.Load())
			}
			if tt.ok {
				want := []TxTrace{{TxHash: common.HexToHash("0x01"), Root: CallFrame{
					Type: "CALL", From: common.HexToAddress("0x01"), To: common.HexToAddress("0x02"), Value: big.NewInt(16),
					Calls: []CallFrame{{Type: "CREATE", From: common.HexToAddress("0x02"), Value: new(big.Int), Error: "out of gas"}},
				}}}
				if fmt.Sprint(traces) != fmt.Sprint(want) {
					t.Errorf("traces %v, want %v", traces, want)
				}
			}
		})
	}
}

// FuzzTraceDecode feeds arbitrary debug_traceBlockByHash answers through the decoding
// and the walk: no panic, and trace addresses unique within a transaction.
func FuzzTraceDecode(f *testing.F) {
	f.Add([]byte(`[{"txHash":"0x0000000000000000000000000000000000000000000000000000000000000001","result":{"type":"CALL","value":"0x1","calls":[{"type":"call","value":"0x5","calls":[{"type":"SELFDESTRUCT","value":"0x2"}]},{"type":"CALL","value":"0x3","error":"execution reverted"}]}}]`))
	f.Add([]byte(`[{"result":{"type":"CREATE2","calls":[{"type":"CREATE","value":"0x0"},{"type":"DELEGATECALL","value":"0xff"}]}}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var results []traceResultJSON
		if json.Unmarshal(data, &results) != nil {
			return
		}
		for _, r := range results {
			if r.Result == nil {
				continue
			}
			root := r.Result.frame()
			seen := map[string]bool{}
			for _, it := range internalTransfers(&root) {
				if seen[it.traceAddress] || it.traceAddress == "" || it.frame.Value.Sign() <= 0 || it.frame.Failed() {
					t.Fatalf("bad internal transfer %q %v", it.traceAddress, it.frame)
				}
				seen[it.traceAddress] = true
			}
		}
	})
}
