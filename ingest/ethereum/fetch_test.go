package ethereum

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testenv"
)

// TestRawBlocksMatchJSON fetches the latest blocks of the local geth --dev twice, in
// their consensus encoding (debug_getRawBlock, debug_getRawReceipts, fields derived
// here) and as JSON (eth_getBlockByNumber, eth_getBlockReceipts, fields derived by
// geth), and checks that every field the indexer reads is the same.
func TestRawBlocksMatchJSON(t *testing.T) {
	url := testenv.EthRPC(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := Dial(ctx, url, devChainID, NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	head, err := n.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	from := uint64(1)
	if head > 400 {
		from = head - 400
	}
	txs, logs := 0, 0
	for start := from; start <= head; start += 50 {
		var numbers []uint64
		for b := start; b < start+50 && b <= head; b++ {
			numbers = append(numbers, b)
		}
		raw, err := n.rawBlocks(ctx, numbers)
		if err != nil {
			t.Fatalf("raw blocks %d..: %v", start, err)
		}
		js, err := n.jsonBlocks(ctx, numbers)
		if err != nil {
			t.Fatalf("JSON blocks %d..: %v", start, err)
		}
		for i := range numbers {
			r, j := raw[i], js[i]
			if r.Block.Hash() != j.Block.Hash() || len(r.Block.Transactions()) != len(j.Block.Transactions()) {
				t.Fatalf("block %d: raw %s with %d txs, JSON %s with %d", numbers[i], r.Block.Hash().Hex(),
					len(r.Block.Transactions()), j.Block.Hash().Hex(), len(j.Block.Transactions()))
			}
			for k, tx := range r.Block.Transactions() {
				txs++
				if tx.Hash() != j.Block.Transactions()[k].Hash() || *r.Senders[k] != *j.Senders[k] {
					t.Errorf("block %d tx %d: %s from %s, JSON %s from %s", numbers[i], k, tx.Hash().Hex(), r.Senders[k].Hex(),
						j.Block.Transactions()[k].Hash().Hex(), j.Senders[k].Hex())
				}
				rr, jr := r.Receipts[k], j.Receipts[k]
				if rr.Status != jr.Status || rr.GasUsed != jr.GasUsed || rr.CumulativeGasUsed != jr.CumulativeGasUsed ||
					rr.EffectiveGasPrice.Cmp(jr.EffectiveGasPrice) != 0 || rr.ContractAddress != jr.ContractAddress ||
					rr.TxHash != jr.TxHash || rr.BlockHash != jr.BlockHash || rr.TransactionIndex != jr.TransactionIndex ||
					len(rr.Logs) != len(jr.Logs) {
					t.Errorf("block %d receipt %d differs:\nraw  %+v\nJSON %+v", numbers[i], k, rr, jr)
					continue
				}
				for m := range rr.Logs {
					logs++
					a, b := *rr.Logs[m], *jr.Logs[m]
					if !reflect.DeepEqual(a, b) {
						t.Errorf("block %d receipt %d log %d differs:\nraw  %+v\nJSON %+v", numbers[i], k, m, a, b)
					}
				}
			}
		}
	}
	if txs == 0 || logs == 0 {
		t.Skipf("the last blocks of geth hold %d transactions and %d logs: nothing to compare", txs, logs)
	}
	t.Logf("%d blocks, %d transactions, %d logs identical", head-from+1, txs, logs)
}
