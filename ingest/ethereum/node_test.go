package ethereum

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/weirhq/weir/internal/testenv"
)

// devChainID is the chain id of geth --dev.
const devChainID = 1337

func TestDialChecksTheChain(t *testing.T) {
	url := testenv.EthRPC(t)
	ctx := context.Background()
	n, err := Dial(ctx, url, devChainID, NodeOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	n.Close()
	if _, err := Dial(ctx, url, 1, NodeOptions{}); !errors.Is(err, ErrWrongChain) {
		t.Errorf("Dial with chain id 1: %v, want ErrWrongChain", err)
	}
	start := time.Now()
	_, err = Dial(ctx, "http://127.0.0.1:1", devChainID, NodeOptions{Retries: 2, Backoff: 10 * time.Millisecond})
	if err == nil {
		t.Fatal("Dial of a closed port: want an error")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Dial of a closed port took %v: retries are not bounded", time.Since(start))
	}
}

// TestBlockMatchesTheNode sends a transfer from geth's dev account, then reads its block
// through Node and checks it against what geth returns for the transaction.
func TestBlockMatchesTheNode(t *testing.T) {
	url := testenv.EthRPC(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := Dial(ctx, url, devChainID, NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	var accounts []common.Address
	if err := n.rpc.CallContext(ctx, &accounts, "eth_accounts"); err != nil || len(accounts) == 0 {
		t.Fatalf("eth_accounts: %v %v", accounts, err)
	}
	to := common.BigToAddress(big.NewInt(time.Now().UnixNano()))
	var txHash common.Hash
	err = n.rpc.CallContext(ctx, &txHash, "eth_sendTransaction", map[string]any{
		"from": accounts[0], "to": to, "value": (*hexutil.Big)(big.NewInt(12345)),
	})
	if err != nil {
		t.Fatalf("eth_sendTransaction: %v", err)
	}
	var receipt *types.Receipt
	for receipt == nil {
		receipt, err = n.eth.TransactionReceipt(ctx, txHash)
		if err != nil && ctx.Err() != nil {
			t.Fatalf("no receipt for %s: %v", txHash.Hex(), err)
		}
		if receipt == nil {
			time.Sleep(100 * time.Millisecond) // waiting for geth --dev to mine, with the ctx deadline
		}
	}

	number := receipt.BlockNumber.Uint64()
	b, receipts, err := n.Block(ctx, number)
	if err != nil {
		t.Fatalf("Block(%d): %v", number, err)
	}
	if b.Hash() != receipt.BlockHash {
		t.Fatalf("block %d hash %s, the receipt says %s", number, b.Hash().Hex(), receipt.BlockHash.Hex())
	}
	found := false
	for i, tx := range b.Transactions() {
		if receipts[i].TxHash != tx.Hash() {
			t.Errorf("receipt %d is for %s, transaction is %s", i, receipts[i].TxHash.Hex(), tx.Hash().Hex())
		}
		if tx.Hash() == txHash {
			found = true
			if tx.To() == nil || *tx.To() != to || tx.Value().Int64() != 12345 || receipts[i].Status != types.ReceiptStatusSuccessful {
				t.Errorf("transaction %s: to %v value %v status %d", txHash.Hex(), tx.To(), tx.Value(), receipts[i].Status)
			}
		}
	}
	if !found {
		t.Fatalf("transaction %s not in block %d", txHash.Hex(), number)
	}
	// The same block through the batched eth_getTransactionReceipt path that nodes
	// without eth_getBlockReceipts get.
	n.noBlockReceipts.Store(true)
	_, batched, err := n.Block(ctx, number)
	if err != nil {
		t.Fatalf("Block(%d) with batched receipts: %v", number, err)
	}
	for i := range receipts {
		if batched[i].TxHash != receipts[i].TxHash || batched[i].GasUsed != receipts[i].GasUsed ||
			len(batched[i].Logs) != len(receipts[i].Logs) || batched[i].Status != receipts[i].Status {
			t.Errorf("receipt %d differs between eth_getBlockReceipts and eth_getTransactionReceipt", i)
		}
	}

	h, err := n.CanonicalHash(ctx, number)
	if err != nil || h != b.Hash() {
		t.Errorf("CanonicalHash(%d) = %s, %v; want %s", number, h.Hex(), err, b.Hash().Hex())
	}
	if head, err := n.Head(ctx); err != nil || head < number {
		t.Errorf("Head = %d, %v; want at least %d", head, err, number)
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("post: %w", errors.New("dial tcp 127.0.0.1:8545: connect: connection refused")), true},
		{rpc.HTTPError{StatusCode: 429}, true},
		{rpc.HTTPError{StatusCode: 503}, true},
		{rpc.HTTPError{StatusCode: 400}, false},
		{rpcError{-32005, "limit exceeded"}, true},
		{rpcError{-32601, "the method eth_getBlockReceipts does not exist"}, false},
		{rpcError{-32602, "invalid argument"}, false},
		{errors.New("execution reverted"), false},
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if !isMethodNotFound(rpcError{-32601, "no such method"}) || isMethodNotFound(rpcError{-32602, "x"}) {
		t.Error("isMethodNotFound misclassifies")
	}
}

type rpcError struct {
	code int
	msg  string
}

func (e rpcError) Error() string  { return e.msg }
func (e rpcError) ErrorCode() int { return e.code }
