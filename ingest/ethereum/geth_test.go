package ethereum_test

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/ingest/ethereum/contracts"
	"github.com/weirhq/weir/internal/testenv"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
)

// gethChainID is the chain id of geth --dev.
const gethChainID = 1337

// rounds is how many rounds of transfers TestAgainstGeth sends: each has a native and
// an ERC-20 transfer and an ERC-1155 transfer, some have an approval, an ERC-721
// transfer, an ERC-1155 batch, a splitter call or a reverted transfer.
const rounds = 60

// account is a key with its own nonce counter, so many transactions go out without
// waiting for each to be mined.
type account struct {
	key   *ecdsa.PrivateKey
	addr  common.Address
	nonce uint64
}

func (a *account) opts(t *testing.T, gas uint64) *bind.TransactOpts {
	t.Helper()
	o, err := bind.NewKeyedTransactorWithChainID(a.key, big.NewInt(gethChainID))
	if err != nil {
		t.Fatal(err)
	}
	o.Nonce, o.GasLimit = new(big.Int).SetUint64(a.nonce), gas
	o.GasFeeCap, o.GasTipCap = big.NewInt(100*params.GWei), big.NewInt(params.GWei)
	a.nonce++
	return o
}

// gethTraffic is what TestAgainstGeth sent, to compare the index with.
type gethTraffic struct {
	hashes   []common.Hash
	reverted map[common.Hash]bool
	// internal is how many internal transfers the splitter calls make.
	internal int
}

// TestAgainstGeth sends a few hundred transactions of every kind to the local geth
// --dev (native transfers, ERC-20 transfers and approvals, ERC-721 mints and transfers,
// ERC-1155 single and batch transfers, contract calls with internal transfers, reverted
// transactions, contract creations), indexes their blocks into Kafka, and compares every
// record with what geth itself answers to eth_getBlockByNumber, eth_getTransactionReceipt
// and eth_getLogs.
func TestAgainstGeth(t *testing.T) {
	url := testenv.EthRPC(t)
	k := newKafka(t, testenv.Kafka(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rc, err := rpc.DialContext(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ec := ethclient.NewClient(rc)

	start, err := ec.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start++
	traffic := sendTraffic(ctx, t, rc, ec)
	var end uint64
	for _, h := range traffic.hashes {
		r := waitReceipt(ctx, t, ec, h)
		end = max(end, r.BlockNumber.Uint64())
		if (r.Status == types.ReceiptStatusFailed) != traffic.reverted[h] {
			tx, _, _ := ec.TransactionByHash(ctx, h)
			t.Fatalf("transaction %s (nonce %d, to %v, input %x...): status %d (gas used %d of %d), reverted %v", h.Hex(), tx.Nonce(), tx.To(),
				tx.Data()[:min(4, len(tx.Data()))], r.Status, r.GasUsed, tx.Gas(), traffic.reverted[h])
		}
	}
	t.Logf("%d transactions in blocks %d..%d", len(traffic.hashes), start, end)

	ix, err := ethereum.New(ethereum.Config{RPCURL: url, ChainID: gethChainID, Brokers: k.brokers, Topics: k.topics,
		StartBlock: start, StopBlock: end, InternalTransfers: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Run(ctx); err != nil {
		t.Fatalf("indexer: %v", err)
	}
	x := readIndexed(t, k)
	if d := x.duplicates(); len(d) > 0 {
		t.Fatalf("%d events emitted more than once", len(d))
	}
	compareBlocks(ctx, t, rc, x, start, end)
	compareTransactions(ctx, t, rc, ec, x, start, end)
	compareLogs(ctx, t, rc, x, start, end)
	compareTransfers(t, x, traffic)
}

// sendTraffic funds four fresh keys from the dev account, deploys the test contracts and
// sends the mix of transactions, returning their hashes.
func sendTraffic(ctx context.Context, t *testing.T, rc *rpc.Client, ec *ethclient.Client) gethTraffic {
	t.Helper()
	var dev []common.Address
	if err := rc.CallContext(ctx, &dev, "eth_accounts"); err != nil || len(dev) == 0 {
		t.Fatalf("eth_accounts: %v %v", dev, err)
	}
	accts := make([]*account, 4)
	var funding []common.Hash
	for i := range accts {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		accts[i] = &account{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
		var h common.Hash
		err = rc.CallContext(ctx, &h, "eth_sendTransaction", map[string]any{"from": dev[0], "to": accts[i].addr,
			"value": (*hexutil.Big)(new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether)))})
		if err != nil {
			t.Fatalf("fund: %v", err)
		}
		funding = append(funding, h)
	}
	for _, h := range funding {
		waitReceipt(ctx, t, ec, h)
	}

	tr := gethTraffic{reverted: map[common.Hash]bool{}}
	sent := func(tx *types.Transaction, err error) *types.Transaction {
		t.Helper()
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		tr.hashes = append(tr.hashes, tx.Hash())
		return tx
	}
	deployer := accts[0]
	_, tx, token, err := contracts.DeployWeirToken(deployer.opts(t, 5_000_000), ec, "Weir USD", "WUSD", 6)
	sent(tx, err)
	_, tx, nft, err := contracts.DeployWeirNFT(deployer.opts(t, 5_000_000), ec, "Weir NFT", "WNFT")
	sent(tx, err)
	_, tx, multi, err := contracts.DeployWeirMulti(deployer.opts(t, 5_000_000), ec)
	sent(tx, err)
	_, tx, splitter, err := contracts.DeployWeirSplitter(deployer.opts(t, 5_000_000), ec)
	sent(tx, err)
	splitB, tx, _, err := contracts.DeployWeirSplitter(deployer.opts(t, 5_000_000), ec)
	sent(tx, err)
	for _, a := range accts {
		sent(token.Mint(deployer.opts(t, 1_000_000), a.addr, big.NewInt(1_000_000_000_000)))
		sent(multi.Mint(deployer.opts(t, 1_000_000), a.addr, big.NewInt(7), big.NewInt(1_000_000)))
		sent(multi.Mint(deployer.opts(t, 1_000_000), a.addr, big.NewInt(8), big.NewInt(1_000_000)))
	}
	for i := 0; i < rounds; i++ {
		sent(nft.Mint(deployer.opts(t, 1_000_000), accts[i%4].addr, big.NewInt(int64(1000+i))))
	}
	// Wait for the mints, so that the transfers below never run out of balance.
	for _, h := range tr.hashes {
		waitReceipt(ctx, t, ec, h)
	}

	for i := 0; i < rounds; i++ {
		from, to := accts[i%4], accts[(i+1)%4]
		v := new(big.Int).Mul(big.NewInt(int64(i+1)), big.NewInt(1_000_000_000_000_007))
		o := from.opts(t, 21000)
		raw := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(gethChainID), Nonce: o.Nonce.Uint64(), To: &to.addr,
			Value: v, Gas: 21000, GasFeeCap: o.GasFeeCap, GasTipCap: o.GasTipCap})
		signed, err := types.SignTx(raw, types.LatestSignerForChainID(big.NewInt(gethChainID)), from.key)
		if err != nil {
			t.Fatal(err)
		}
		sent(signed, ec.SendTransaction(ctx, signed))
		sent(token.Transfer(from.opts(t, 1_000_000), to.addr, big.NewInt(int64(1_000_000+i*37))))
		if i%4 == 0 {
			amount := big.NewInt(int64(5_000 * (i + 1)))
			if i == 8 {
				amount = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)) // unlimited
			}
			sent(token.Approve(from.opts(t, 1_000_000), to.addr, amount))
		}
		if i%2 == 0 {
			sent(nft.TransferFrom(from.opts(t, 1_000_000), from.addr, to.addr, big.NewInt(int64(1000+i))))
		}
		sent(multi.SafeTransferFrom(from.opts(t, 1_000_000), from.addr, to.addr, big.NewInt(7), big.NewInt(int64(10+i)), nil))
		if i%3 == 0 {
			sent(multi.SafeBatchTransferFrom(from.opts(t, 1_000_000), from.addr, to.addr,
				[]*big.Int{big.NewInt(7), big.NewInt(8)}, []*big.Int{big.NewInt(1), big.NewInt(int64(2 + i))}, nil))
		}
		if i%5 == 0 {
			o := from.opts(t, 1_000_000)
			o.Value = big.NewInt(3_000_000_000_000_000)
			sent(splitter.SplitNested(o, splitB, []common.Address{accts[0].addr, accts[1].addr, accts[2].addr}))
			// 3 direct shares, one forward to B which splits it in 3, one refund.
			tr.internal += 3 + 1 + 3 + 1
		}
		if i%10 == 0 {
			// More than the balance, with a fixed gas limit: mined, reverted.
			tx := sent(token.Transfer(from.opts(t, 1_000_000), to.addr, big.NewInt(1_000_000_000_000_000)))
			tr.reverted[tx.Hash()] = true
		}
	}
	return tr
}

func waitReceipt(ctx context.Context, t *testing.T, ec *ethclient.Client, h common.Hash) *types.Receipt {
	t.Helper()
	for {
		r, err := ec.TransactionReceipt(ctx, h)
		if err == nil {
			return r
		}
		if ctx.Err() != nil {
			t.Fatalf("transaction %s not mined: %v", h.Hex(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rpcBlock is the part of geth's eth_getBlockByNumber answer that the index is
// compared with.
type rpcBlock struct {
	Hash          common.Hash     `json:"hash"`
	ParentHash    common.Hash     `json:"parentHash"`
	Number        hexutil.Uint64  `json:"number"`
	Timestamp     hexutil.Uint64  `json:"timestamp"`
	GasLimit      hexutil.Uint64  `json:"gasLimit"`
	GasUsed       hexutil.Uint64  `json:"gasUsed"`
	Miner         common.Address  `json:"miner"`
	BaseFeePerGas *hexutil.Big    `json:"baseFeePerGas"`
	Transactions  []rpcTxAnswer   `json:"transactions"`
	BlobGasUsed   *hexutil.Uint64 `json:"blobGasUsed"`
}

type rpcTxAnswer struct {
	Hash                 common.Hash     `json:"hash"`
	From                 common.Address  `json:"from"`
	To                   *common.Address `json:"to"`
	Value                *hexutil.Big    `json:"value"`
	Nonce                hexutil.Uint64  `json:"nonce"`
	Gas                  hexutil.Uint64  `json:"gas"`
	Type                 hexutil.Uint64  `json:"type"`
	Input                hexutil.Bytes   `json:"input"`
	GasPrice             *hexutil.Big    `json:"gasPrice"`
	MaxFeePerGas         *hexutil.Big    `json:"maxFeePerGas"`
	MaxPriorityFeePerGas *hexutil.Big    `json:"maxPriorityFeePerGas"`
	TransactionIndex     hexutil.Uint64  `json:"transactionIndex"`
}

func gethBlock(ctx context.Context, t *testing.T, rc *rpc.Client, n uint64) rpcBlock {
	t.Helper()
	var b rpcBlock
	if err := rc.CallContext(ctx, &b, "eth_getBlockByNumber", hexutil.EncodeUint64(n), true); err != nil {
		t.Fatalf("eth_getBlockByNumber(%d): %v", n, err)
	}
	return b
}

func lower(a common.Address) string { return strings.ToLower(a.Hex()) }

func compareBlocks(ctx context.Context, t *testing.T, rc *rpc.Client, x *indexed, start, end uint64) {
	t.Helper()
	if len(x.blocks) != int(end-start+1) {
		t.Fatalf("%d blocks indexed, want %d", len(x.blocks), end-start+1)
	}
	for i, got := range x.blocks {
		want := gethBlock(ctx, t, rc, start+uint64(i))
		if got.GetNumber() != uint64(want.Number) || got.GetHash() != want.Hash.Hex() || got.GetParentHash() != want.ParentHash.Hex() ||
			got.GetTimestamp().GetSeconds() != int64(want.Timestamp) || got.GetGasLimit() != uint64(want.GasLimit) ||
			got.GetGasUsed() != uint64(want.GasUsed) || got.GetFeeRecipient() != lower(want.Miner) ||
			got.GetBaseFeePerGas() != want.BaseFeePerGas.ToInt().String() || got.GetTransactionCount() != uint32(len(want.Transactions)) {
			t.Errorf("block %d: indexed %v\ngeth %+v", want.Number, got, want)
		}
		if got.GetStatus() == chainv1.ConfirmationStatus_CONFIRMATION_STATUS_UNSPECIFIED {
			t.Errorf("block %d: no confirmation status", want.Number)
		}
	}
}

func compareTransactions(ctx context.Context, t *testing.T, rc *rpc.Client, ec *ethclient.Client, x *indexed, start, end uint64) {
	t.Helper()
	txs := map[string]*chainv1.Transaction{}
	for _, tx := range x.txs {
		txs[tx.GetHash()] = tx
	}
	receipts := map[string]*chainv1.Receipt{}
	for _, r := range x.receipts {
		receipts[r.GetTransactionHash()] = r
	}
	count := 0
	for n := start; n <= end; n++ {
		b := gethBlock(ctx, t, rc, n)
		for _, want := range b.Transactions {
			count++
			got, ok := txs[want.Hash.Hex()]
			if !ok {
				t.Errorf("transaction %s not indexed", want.Hash.Hex())
				continue
			}
			r, err := ec.TransactionReceipt(ctx, want.Hash)
			if err != nil {
				t.Fatal(err)
			}
			to, selector := "", ""
			if want.To != nil {
				to = lower(*want.To)
			}
			if len(want.Input) >= 4 {
				selector = hexutil.Encode(want.Input[:4])
			}
			status := chainv1.TransactionStatus_TRANSACTION_STATUS_SUCCEEDED
			if r.Status != types.ReceiptStatusSuccessful {
				status = chainv1.TransactionStatus_TRANSACTION_STATUS_FAILED
			}
			fee := new(big.Int).Mul(r.EffectiveGasPrice, new(big.Int).SetUint64(r.GasUsed))
			contract := ""
			if r.ContractAddress != (common.Address{}) && r.Status == types.ReceiptStatusSuccessful {
				contract = lower(r.ContractAddress)
			}
			if got.GetFrom() != lower(want.From) || got.GetTo() != to || got.GetValue().GetValue() != want.Value.ToInt().String() ||
				got.GetNonce() != uint64(want.Nonce) || got.GetGasLimit() != uint64(want.Gas) || got.GetType() != uint32(want.Type) ||
				got.GetSelector() != selector || got.GetInputSize() != uint32(len(want.Input)) ||
				got.GetIndex() != uint32(want.TransactionIndex) || got.GetBlock().GetHash() != b.Hash.Hex() ||
				got.GetStatus() != status || got.GetGasUsed() != r.GasUsed ||
				got.GetEffectiveGasPrice() != r.EffectiveGasPrice.String() || got.GetFee().GetValue() != fee.String() ||
				got.GetContractAddress() != contract ||
				got.GetMaxFeePerGas() != bigOrEmpty(want.MaxFeePerGas) || got.GetMaxPriorityFeePerGas() != bigOrEmpty(want.MaxPriorityFeePerGas) {
				t.Errorf("transaction %s: indexed %v\ngeth %+v\nreceipt %+v", want.Hash.Hex(), got, want, r)
			}
			rec, ok := receipts[want.Hash.Hex()]
			if !ok || rec.GetGasUsed() != r.GasUsed || rec.GetCumulativeGasUsed() != r.CumulativeGasUsed ||
				rec.GetLogCount() != uint32(len(r.Logs)) || rec.GetStatus() != status || rec.GetFrom() != lower(want.From) ||
				rec.GetContractAddress() != contract || rec.GetTransactionIndex() != uint32(r.TransactionIndex) {
				t.Errorf("receipt %s: indexed %v\ngeth %+v", want.Hash.Hex(), rec, r)
			}
		}
	}
	if len(x.txs) != count || len(x.receipts) != count {
		t.Errorf("%d transactions and %d receipts indexed, geth has %d", len(x.txs), len(x.receipts), count)
	}
}

func bigOrEmpty(b *hexutil.Big) string {
	if b == nil {
		return ""
	}
	return b.ToInt().String()
}

// rpcLog is one log of geth's eth_getLogs answer.
type rpcLog struct {
	Address         common.Address `json:"address"`
	Topics          []common.Hash  `json:"topics"`
	Data            hexutil.Bytes  `json:"data"`
	BlockNumber     hexutil.Uint64 `json:"blockNumber"`
	BlockHash       common.Hash    `json:"blockHash"`
	TransactionHash common.Hash    `json:"transactionHash"`
	TxIndex         hexutil.Uint64 `json:"transactionIndex"`
	LogIndex        hexutil.Uint64 `json:"logIndex"`
}

func compareLogs(ctx context.Context, t *testing.T, rc *rpc.Client, x *indexed, start, end uint64) {
	t.Helper()
	var logs []rpcLog
	err := rc.CallContext(ctx, &logs, "eth_getLogs", map[string]any{
		"fromBlock": hexutil.EncodeUint64(start), "toBlock": hexutil.EncodeUint64(end)})
	if err != nil {
		t.Fatalf("eth_getLogs: %v", err)
	}
	if len(logs) != len(x.logs) {
		t.Fatalf("%d logs indexed, eth_getLogs has %d", len(x.logs), len(logs))
	}
	type key struct {
		block string
		index uint32
	}
	got := map[key]*chainv1.Log{}
	for _, l := range x.logs {
		got[key{l.GetBlock().GetHash(), l.GetLogIndex()}] = l
	}
	for _, want := range logs {
		g := got[key{want.BlockHash.Hex(), uint32(want.LogIndex)}]
		topics := make([]string, len(want.Topics))
		for i, tp := range want.Topics {
			topics[i] = tp.Hex()
		}
		if g == nil || g.GetAddress() != lower(want.Address) || strings.Join(g.GetTopics(), ",") != strings.Join(topics, ",") ||
			hexutil.Encode(g.GetData()) != hexutil.Encode(want.Data) || g.GetTransactionHash() != want.TransactionHash.Hex() ||
			g.GetTransactionIndex() != uint32(want.TxIndex) || g.GetBlock().GetNumber() != uint64(want.BlockNumber) {
			t.Errorf("log %d of block %d: indexed %v\ngeth %+v", want.LogIndex, want.BlockNumber, g, want)
		}
	}
	// Token events decoded from those logs: one ERC-20/721 transfer per Transfer log,
	// one ERC-1155 transfer per TransferSingle and per id of a TransferBatch, one
	// approval per ERC-20 Approval log.
	var erc20, erc721, erc1155, approvals int
	transferSig := crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))
	approvalSig := crypto.Keccak256Hash([]byte("Approval(address,address,uint256)"))
	singleSig := crypto.Keccak256Hash([]byte("TransferSingle(address,address,address,uint256,uint256)"))
	batchSig := crypto.Keccak256Hash([]byte("TransferBatch(address,address,address,uint256[],uint256[])"))
	for _, l := range logs {
		switch {
		case l.Topics[0] == transferSig && len(l.Topics) == 3:
			erc20++
		case l.Topics[0] == transferSig && len(l.Topics) == 4:
			erc721++
		case l.Topics[0] == approvalSig && len(l.Topics) == 3:
			approvals++
		case l.Topics[0] == singleSig:
			erc1155++
		case l.Topics[0] == batchSig:
			erc1155 += int(new(big.Int).SetBytes(l.Data[64:96]).Int64()) // the ids array length
		}
	}
	kinds := map[chainv1.TransferKind]int{}
	for _, tr := range x.transfers {
		kinds[tr.GetKind()]++
	}
	if kinds[chainv1.TransferKind_TRANSFER_KIND_ERC20] != erc20 || kinds[chainv1.TransferKind_TRANSFER_KIND_ERC721] != erc721 ||
		kinds[chainv1.TransferKind_TRANSFER_KIND_ERC1155] != erc1155 || len(x.approvals) != approvals {
		t.Errorf("indexed %v transfers and %d approvals; the logs hold %d ERC-20, %d ERC-721, %d ERC-1155 transfers and %d approvals",
			kinds, len(x.approvals), erc20, erc721, erc1155, approvals)
	}
	// ERC-20 amounts are the log data, exactly.
	byLog := map[key]*chainv1.Transfer{}
	for _, tr := range x.transfers {
		if tr.GetKind() == chainv1.TransferKind_TRANSFER_KIND_ERC20 {
			byLog[key{tr.GetBlock().GetHash(), tr.GetLogIndex()}] = tr
		}
	}
	for _, l := range logs {
		if l.Topics[0] != transferSig || len(l.Topics) != 3 {
			continue
		}
		tr := byLog[key{l.BlockHash.Hex(), uint32(l.LogIndex)}]
		if tr == nil || tr.GetAmount().GetValue() != new(big.Int).SetBytes(l.Data).String() ||
			tr.GetFrom() != lower(common.BytesToAddress(l.Topics[1].Bytes())) || tr.GetTo() != lower(common.BytesToAddress(l.Topics[2].Bytes())) ||
			tr.GetAmount().GetDecimals() != 6 || tr.GetToken().GetSymbol() != "WUSD" {
			t.Errorf("ERC-20 transfer of log %d in block %d: indexed %v", l.LogIndex, l.BlockNumber, tr)
		}
	}
}

func compareTransfers(t *testing.T, x *indexed, tr gethTraffic) {
	t.Helper()
	native := 0
	txs := map[string]*chainv1.Transaction{}
	for _, tx := range x.txs {
		txs[tx.GetHash()] = tx
		if tx.GetStatus() == chainv1.TransactionStatus_TRANSACTION_STATUS_SUCCEEDED && tx.GetValue().GetValue() != "0" {
			native++
		}
	}
	kinds := map[chainv1.TransferKind]int{}
	for _, t := range x.transfers {
		kinds[t.GetKind()]++
	}
	if kinds[chainv1.TransferKind_TRANSFER_KIND_NATIVE] != native {
		t.Errorf("%d native transfers indexed, %d successful transactions carry value", kinds[chainv1.TransferKind_TRANSFER_KIND_NATIVE], native)
	}
	for _, t2 := range x.transfers {
		if t2.GetKind() != chainv1.TransferKind_TRANSFER_KIND_NATIVE {
			continue
		}
		tx := txs[t2.GetTransactionHash()]
		if tx == nil || t2.GetAmount().GetValue() != tx.GetValue().GetValue() || t2.GetFrom() != tx.GetFrom() || t2.GetTo() != tx.GetTo() {
			t.Errorf("native transfer %v does not match its transaction %v", t2, tx)
		}
	}
	if kinds[chainv1.TransferKind_TRANSFER_KIND_INTERNAL] != tr.internal {
		t.Errorf("%d internal transfers indexed, the splitter calls made %d", kinds[chainv1.TransferKind_TRANSFER_KIND_INTERNAL], tr.internal)
	}
	for h := range tr.reverted {
		if tx := txs[h.Hex()]; tx == nil || tx.GetStatus() != chainv1.TransactionStatus_TRANSACTION_STATUS_FAILED {
			t.Errorf("reverted transaction %s indexed as %v", h.Hex(), tx)
		}
	}
	if n := len(tr.hashes); n < 300 {
		t.Errorf("only %d transactions sent", n)
	}
}
