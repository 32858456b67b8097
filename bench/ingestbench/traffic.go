package ingestbench

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/weirhq/weir/ingest/ethereum/contracts"
)

// transferTopic is topic 0 of ERC-20 and ERC-721 Transfer logs.
var transferTopic = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))

const (
	// recipients is the number of distinct addresses the transfers go to.
	recipients = 64
	// nativeTransferGas is the gas limit of a native transfer. A token transfer's is
	// twice the estimate for one to a new holder (geth 1.17's dev chain charges about
	// 150,000 for the new storage slot, well above mainnet's).
	nativeTransferGas = 21_000
	// txWaitTimeout bounds the wait for one round of transactions to be mined.
	txWaitTimeout = 30 * time.Second
	// pollInterval is the time between two polls of the node while a round is mined.
	pollInterval = 2 * time.Millisecond
)

var (
	gasTipCap = big.NewInt(params.GWei)
	gasFeeCap = big.NewInt(100 * params.GWei)
	// senderFunds is what the dev account gives each sender: far more than the fees of
	// any chain this package makes.
	senderFunds = new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))
	// senderTokens is what each sender is minted, in token base units.
	senderTokens = new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil)
)

// senderKey is the deterministic key of sender i, so that remade chains are alike.
func senderKey(i int) *ecdsa.PrivateKey {
	seed := crypto.Keccak256([]byte("weir/bench/ingestbench sender"), binary.BigEndian.AppendUint64(nil, uint64(i)))
	k, err := crypto.ToECDSA(seed)
	if err != nil {
		panic(err) // a Keccak-256 output is a valid key but for a 2^-128 chance
	}
	return k
}

// recipient returns the i-th transfer recipient.
func recipient(i uint64) common.Address {
	return common.BytesToAddress(crypto.Keccak256([]byte("weir/bench/ingestbench recipient"), binary.BigEndian.AppendUint64(nil, i%recipients)))
}

// filler sends the transactions that make the chain.
type filler struct {
	rc     *rpc.Client
	ec     *ethclient.Client
	signer types.Signer
	opts   Options
	// tokenGas is the gas limit of a token transfer.
	tokenGas uint64
}

// fill makes blocks on the geth at url until the chain has opts.Blocks blocks.
//
// Setup (a few blocks): the dev account (eth_accounts[0], unlocked by --dev) funds
// opts.Senders keys; sender 0 deploys WeirToken and mints tokens to every sender.
// Then each round sends one block's worth of transactions, signed here, from one sender
// (rotating), in a single JSON-RPC batch whose first-nonce transaction comes last: the
// others wait in geth's queue until it arrives, then all become executable at once and
// geth --dev.period 0 seals them into one block. The round ends when the sender's mined
// nonce shows all of them included and the pool is empty again (see waitNonce).
func fill(ctx context.Context, url string, opts Options) error {
	rc, err := rpc.DialContext(ctx, url)
	if err != nil {
		return fmt.Errorf("ingestbench: dial geth: %w", err)
	}
	defer rc.Close()
	f := &filler{rc: rc, ec: ethclient.NewClient(rc), signer: types.LatestSignerForChainID(big.NewInt(DevChainID)), opts: opts}

	keys := make([]*ecdsa.PrivateKey, opts.Senders)
	addrs := make([]common.Address, opts.Senders)
	for i := range keys {
		keys[i] = senderKey(i)
		addrs[i] = crypto.PubkeyToAddress(keys[i].PublicKey)
	}
	token, err := f.setup(ctx, keys, addrs)
	if err != nil {
		return err
	}
	tokenABI, err := contracts.WeirTokenMetaData.GetAbi()
	if err != nil {
		return fmt.Errorf("ingestbench: token abi: %w", err)
	}

	probe, err := tokenABI.Pack("transfer", common.HexToAddress("0x000000000000000000000000000000000000dEaD"), big.NewInt(1))
	if err != nil {
		return fmt.Errorf("ingestbench: pack transfer: %w", err)
	}
	est, err := f.ec.EstimateGas(ctx, ethereum.CallMsg{From: addrs[0], To: &token, Data: probe})
	if err != nil {
		return fmt.Errorf("ingestbench: estimate token transfer: %w", err)
	}
	f.tokenGas = 2 * est

	nonces := make([]uint64, len(keys))
	for i, a := range addrs {
		if nonces[i], err = f.ec.PendingNonceAt(ctx, a); err != nil {
			return fmt.Errorf("ingestbench: nonce: %w", err)
		}
	}
	head, err := f.ec.BlockNumber(ctx)
	if err != nil {
		return fmt.Errorf("ingestbench: head: %w", err)
	}
	began, lastReport := time.Now(), time.Now()
	startHead := head
	var transfer uint64
	for round := 0; head < opts.Blocks; round++ {
		s := round % len(keys)
		raws := make([]hexutil.Bytes, opts.TxPerBlock)
		for j := range raws {
			tx, err := f.roundTx(tokenABI, token, nonces[s]+uint64(j), j, transfer)
			if err != nil {
				return err
			}
			transfer++
			signed, err := types.SignTx(tx, f.signer, keys[s])
			if err != nil {
				return fmt.Errorf("ingestbench: sign: %w", err)
			}
			if raws[j], err = signed.MarshalBinary(); err != nil {
				return fmt.Errorf("ingestbench: encode transaction: %w", err)
			}
		}
		// Nonce order 1..k-1, then 0: see the doc comment.
		order := append(raws[1:len(raws):len(raws)], raws[0])
		if err := f.sendRaw(ctx, order); err != nil {
			return err
		}
		nonces[s] += uint64(opts.TxPerBlock)
		if head, err = f.waitNonce(ctx, addrs[s], nonces[s]); err != nil {
			return err
		}
		if now := time.Now(); now.Sub(lastReport) >= opts.ProgressInterval {
			lastReport = now
			rate := float64(head-startHead) / now.Sub(began).Seconds()
			fmt.Fprintf(opts.Progress, "ingestbench: %d/%d blocks, %.1f blocks/s\n", head, opts.Blocks, rate)
		}
	}
	return nil
}

// roundTx returns the j-th unsigned transaction of a round: even j a token transfer, odd
// j a native transfer, to a recipient chosen by the running transfer count n.
func (f *filler) roundTx(tokenABI *abi.ABI, token common.Address, nonce uint64, j int, n uint64) (*types.Transaction, error) {
	to := recipient(n)
	if j%2 == 1 {
		return types.NewTx(&types.DynamicFeeTx{
			ChainID: big.NewInt(DevChainID), Nonce: nonce, GasTipCap: gasTipCap, GasFeeCap: gasFeeCap,
			Gas: nativeTransferGas, To: &to, Value: big.NewInt(int64(1 + n%1000)),
		}), nil
	}
	data, err := tokenABI.Pack("transfer", to, big.NewInt(int64(1+n%1_000_000)))
	if err != nil {
		return nil, fmt.Errorf("ingestbench: pack transfer: %w", err)
	}
	return types.NewTx(&types.DynamicFeeTx{
		ChainID: big.NewInt(DevChainID), Nonce: nonce, GasTipCap: gasTipCap, GasFeeCap: gasFeeCap,
		Gas: f.tokenGas, To: &token, Data: data,
	}), nil
}

// setup funds the senders from the dev account, deploys WeirToken from sender 0 and mints
// to every sender. It returns the token's address.
func (f *filler) setup(ctx context.Context, keys []*ecdsa.PrivateKey, addrs []common.Address) (common.Address, error) {
	var accounts []common.Address
	if err := f.rc.CallContext(ctx, &accounts, "eth_accounts"); err != nil {
		return common.Address{}, fmt.Errorf("ingestbench: eth_accounts: %w", err)
	}
	if len(accounts) == 0 {
		return common.Address{}, fmt.Errorf("ingestbench: geth --dev has no dev account")
	}
	dev := accounts[0]
	devNonce, err := f.ec.PendingNonceAt(ctx, dev)
	if err != nil {
		return common.Address{}, fmt.Errorf("ingestbench: dev nonce: %w", err)
	}
	batch := make([]rpc.BatchElem, len(addrs))
	for i, a := range addrs {
		batch[i] = rpc.BatchElem{Method: "eth_sendTransaction", Args: []any{map[string]any{
			"from": dev, "to": a, "value": (*hexutil.Big)(senderFunds), "nonce": hexutil.Uint64(devNonce + uint64(i)),
		}}, Result: new(common.Hash)}
	}
	if err := f.batch(ctx, batch); err != nil {
		return common.Address{}, fmt.Errorf("ingestbench: fund senders: %w", err)
	}
	if _, err := f.waitNonce(ctx, dev, devNonce+uint64(len(addrs))); err != nil {
		return common.Address{}, err
	}

	auth, err := bind.NewKeyedTransactorWithChainID(keys[0], big.NewInt(DevChainID))
	if err != nil {
		return common.Address{}, fmt.Errorf("ingestbench: transactor: %w", err)
	}
	auth.Context = ctx
	nonce, err := f.ec.PendingNonceAt(ctx, addrs[0])
	if err != nil {
		return common.Address{}, fmt.Errorf("ingestbench: nonce: %w", err)
	}
	auth.Nonce = new(big.Int).SetUint64(nonce)
	tokenAddr, deployTx, token, err := contracts.DeployWeirToken(auth, f.ec, "Weir Bench Token", "WBT", 18)
	if err != nil {
		return common.Address{}, fmt.Errorf("ingestbench: deploy WeirToken: %w", err)
	}
	if _, err := f.waitNonce(ctx, addrs[0], nonce+1); err != nil {
		return common.Address{}, err
	}
	txs := []*types.Transaction{deployTx}
	for _, a := range addrs {
		nonce++
		auth.Nonce = new(big.Int).SetUint64(nonce)
		tx, err := token.Mint(auth, a, senderTokens)
		if err != nil {
			return common.Address{}, fmt.Errorf("ingestbench: mint: %w", err)
		}
		txs = append(txs, tx)
	}
	if _, err := f.waitNonce(ctx, addrs[0], nonce+1); err != nil {
		return common.Address{}, err
	}
	for _, tx := range txs {
		r, err := f.ec.TransactionReceipt(ctx, tx.Hash())
		if err != nil {
			return common.Address{}, fmt.Errorf("ingestbench: setup receipt: %w", err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			return common.Address{}, fmt.Errorf("ingestbench: setup transaction %s failed (gas used %d of %d)", tx.Hash(), r.GasUsed, tx.Gas())
		}
	}
	return tokenAddr, nil
}

// sendRaw sends signed transactions in one batch, in order.
func (f *filler) sendRaw(ctx context.Context, raws []hexutil.Bytes) error {
	batch := make([]rpc.BatchElem, len(raws))
	for i, raw := range raws {
		batch[i] = rpc.BatchElem{Method: "eth_sendRawTransaction", Args: []any{raw}, Result: new(common.Hash)}
	}
	if err := f.batch(ctx, batch); err != nil {
		return fmt.Errorf("ingestbench: send transactions: %w", err)
	}
	return nil
}

func (f *filler) batch(ctx context.Context, batch []rpc.BatchElem) error {
	if err := f.rc.BatchCallContext(ctx, batch); err != nil {
		return err
	}
	for _, b := range batch {
		if b.Error != nil {
			return b.Error
		}
	}
	return nil
}

// waitNonce polls until addr's nonce in the latest block reaches want and geth's pool is
// empty, and returns the head then. It gives up after txWaitTimeout.
//
// The empty pool matters: geth --dev.period 0 seals on every new-transactions signal,
// and after a block it resets its pool before it listens again. Transactions sent before
// the reset are sealed by the same sealing loop and their signal, left pending, then
// seals an empty block (a quarter of the blocks, without this wait).
func (f *filler) waitNonce(ctx context.Context, addr common.Address, want uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, txWaitTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var (
			nonce, head hexutil.Uint64
			pool        struct{ Pending, Queued hexutil.Uint64 }
		)
		err := f.batch(ctx, []rpc.BatchElem{
			{Method: "eth_getTransactionCount", Args: []any{addr, "latest"}, Result: &nonce},
			{Method: "eth_blockNumber", Result: &head},
			{Method: "txpool_status", Result: &pool},
		})
		if err != nil {
			return 0, fmt.Errorf("ingestbench: wait for transactions of %s: %w", addr, err)
		}
		if uint64(nonce) >= want && pool.Pending == 0 && pool.Queued == 0 {
			return uint64(head), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("ingestbench: transactions of %s not mined (nonce %d, want %d): %w", addr, nonce, want, ctx.Err())
		case <-tick.C:
		}
	}
}
