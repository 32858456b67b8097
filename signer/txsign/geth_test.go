package txsign_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/signer/txsign"
)

// TestGethMinesSignedTransactions signs a legacy and an EIP-1559 transfer with SignTx
// for a fresh key funded from the dev account of the real geth --dev node, sends them
// with ethclient and waits for successful receipts.
func TestGethMinesSignedTransactions(t *testing.T) {
	url := testenv.EthRPC(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc, err := rpc.DialContext(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ec := ethclient.NewClient(rc)
	chainID, err := ec.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	s := newKeySigner(t)
	var dev []common.Address
	if err := rc.CallContext(ctx, &dev, "eth_accounts"); err != nil || len(dev) == 0 {
		t.Fatalf("eth_accounts: %v %v", dev, err)
	}
	var fund common.Hash
	err = rc.CallContext(ctx, &fund, "eth_sendTransaction", map[string]any{"from": dev[0], "to": s.addr,
		"value": (*hexutil.Big)(big.NewInt(params.Ether))})
	if err != nil {
		t.Fatalf("fund: %v", err)
	}
	waitReceipt(ctx, t, ec, fund)

	recipient := newKeySigner(t).addr
	nonce, err := ec.PendingNonceAt(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	gasPrice, err := ec.SuggestGasPrice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tip, err := ec.SuggestGasTipCap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	if tip.Sign() == 0 { // SignTx accepts a zero tip; keep one so that the node's pool does too
		tip = big.NewInt(1)
		feeCap.Add(feeCap, tip)
	}
	txs := []*types.Transaction{
		types.NewTx(&types.LegacyTx{Nonce: nonce, GasPrice: gasPrice, Gas: params.TxGas, To: &recipient, Value: big.NewInt(1000)}),
		types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: nonce + 1, GasTipCap: tip, GasFeeCap: feeCap,
			Gas: params.TxGas, To: &recipient, Value: big.NewInt(2000)}),
	}
	for _, tx := range txs {
		signed, err := txsign.SignTx(ctx, s, tx, chainID)
		if err != nil {
			t.Fatal(err)
		}
		if err := ec.SendTransaction(ctx, signed); err != nil {
			t.Fatalf("send type %d: %v", tx.Type(), err)
		}
		r := waitReceipt(ctx, t, ec, signed.Hash())
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("type %d: receipt status %d", tx.Type(), r.Status)
		}
		t.Logf("type %d transaction %s mined in block %v", r.Type, signed.Hash().Hex(), r.BlockNumber)
	}
	bal, err := ec.BalanceAt(ctx, recipient, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Cmp(big.NewInt(3000)) != 0 {
		t.Fatalf("recipient balance %v, want 3000", bal)
	}
	// A transaction signed for another chain is refused by the node.
	wrong, err := txsign.SignTx(ctx, s, types.NewTx(&types.LegacyTx{Nonce: nonce + 2, GasPrice: gasPrice, Gas: params.TxGas,
		To: &recipient, Value: big.NewInt(1)}), new(big.Int).Add(chainID, big.NewInt(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := ec.SendTransaction(ctx, wrong); err == nil {
		t.Fatal("node accepted a transaction signed for another chain")
	}
}

// waitReceipt polls for the receipt of h until ctx ends.
func waitReceipt(ctx context.Context, t *testing.T, ec *ethclient.Client, h common.Hash) *types.Receipt {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := ec.TransactionReceipt(ctx, h)
		if err == nil {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("transaction %s not mined: %v", h.Hex(), err)
		case <-tick.C:
		}
	}
}
