package nonce_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/signer/nonce"
	"github.com/weirhq/weir/signer/txsign"
)

type keySigner struct {
	key  *ecdsa.PrivateKey
	addr common.Address
}

func (s keySigner) Sign(_ context.Context, d [32]byte) ([]byte, error) {
	return crypto.Sign(d[:], s.key)
}
func (s keySigner) Address() common.Address { return s.addr }

// TestGethGapSpeedUpAndCancel drives the Manager against the real geth --dev node: a
// transaction signed above an unsigned reservation waits in the node's queue and Gaps
// names the hole; while it waits it is sped up and then cancelled (Classify, Record as
// a declared replacement, geth accepts each); filling the hole mines the hole's
// transaction and the cancel, and the guard refuses everything undeclared on the way.
func TestGethGapSpeedUpAndCancel(t *testing.T) {
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
	id := chainID.Uint64()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := keySigner{key, crypto.PubkeyToAddress(key.PublicKey)}
	var dev []common.Address
	if err := rc.CallContext(ctx, &dev, "eth_accounts"); err != nil || len(dev) == 0 {
		t.Fatalf("eth_accounts: %v %v", dev, err)
	}
	var fund common.Hash
	if err := rc.CallContext(ctx, &fund, "eth_sendTransaction", map[string]any{"from": dev[0], "to": s.addr,
		"value": (*hexutil.Big)(big.NewInt(params.Ether))}); err != nil {
		t.Fatalf("fund: %v", err)
	}
	waitMined(ctx, t, ec, fund)

	pending := func(ctx context.Context, _ uint64, from common.Address) (uint64, error) {
		return ec.PendingNonceAt(ctx, from)
	}
	latest := func(ctx context.Context, _ uint64, from common.Address) (uint64, error) {
		return ec.NonceAt(ctx, from, nil)
	}
	m := open(t, t.TempDir(), pending)

	signer := types.LatestSignerForChainID(chainID)
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	merchant := crypto.PubkeyToAddress(mk.PublicKey) // fresh, so its balance is this run's alone
	transfer := func(n uint64, tip int64, to common.Address, value int64) *types.Transaction {
		// The fee cap scales with the tip, so each replacement raises both by the node's bump.
		fee := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(3)), big.NewInt(1e9))
		fee.Mul(fee, big.NewInt(tip/1e9))
		return types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: n, GasTipCap: big.NewInt(tip), GasFeeCap: fee,
			Gas: params.TxGas, To: &to, Value: big.NewInt(value)})
	}
	// send records the payload (as kind), signs and broadcasts it.
	send := func(tx *types.Transaction, kind nonce.Replacement) *types.Transaction {
		t.Helper()
		if err := m.Record(id, s.addr, tx.Nonce(), signer.Hash(tx), kind); err != nil {
			t.Fatalf("record nonce %d as %s: %v", tx.Nonce(), kind, err)
		}
		signed, err := txsign.SignTx(ctx, s, tx, chainID)
		if err != nil {
			t.Fatal(err)
		}
		if err := ec.SendTransaction(ctx, signed); err != nil {
			t.Fatalf("send nonce %d (%s): %v", tx.Nonce(), kind, err)
		}
		return signed
	}

	hole, err := m.Reserve(ctx, id, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.Reserve(ctx, id, s.addr)
	if err != nil || n != hole+1 {
		t.Fatalf("second reservation %d %v, want %d", n, err, hole+1)
	}
	orig := transfer(n, 1e9, merchant, 1000)
	send(orig, nonce.Original)
	if gaps, err := m.Gaps(ctx, id, s.addr, latest); err != nil || !slices.Equal(gaps, []uint64{hole}) {
		t.Fatalf("gaps %v %v, want [%d]", gaps, err, hole)
	}
	if p, err := ec.PendingNonceAt(ctx, s.addr); err != nil || p != hole {
		t.Fatalf("node's pending nonce %d %v: the transaction above the gap should wait", p, err)
	}
	other := transfer(n, 1e9, merchant, 999_999)
	if err := m.Record(id, s.addr, n, signer.Hash(other), nonce.Original); !errors.Is(err, nonce.ErrDoubleSign) {
		t.Fatalf("different payload at %d: %v, want ErrDoubleSign", n, err)
	}
	if _, err := nonce.Classify(orig, other, s.addr); err == nil {
		t.Fatal("a changed value classified as a replacement")
	}

	fast := transfer(n, 2e9, merchant, 1000)
	if k, err := nonce.Classify(orig, fast, s.addr); err != nil || k != nonce.SpeedUp {
		t.Fatalf("classify speed-up: %v %v", k, err)
	}
	send(fast, nonce.SpeedUp)
	cancelTx := transfer(n, 4e9, s.addr, 0)
	if k, err := nonce.Classify(fast, cancelTx, s.addr); err != nil || k != nonce.Cancel {
		t.Fatalf("classify cancel: %v %v", k, err)
	}
	cancelled := send(cancelTx, nonce.Cancel)

	filler := send(transfer(hole, 1e9, merchant, 1), nonce.Original)
	for _, h := range []common.Hash{filler.Hash(), cancelled.Hash()} {
		if r := waitMined(ctx, t, ec, h); r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("%s: status %d", h.Hex(), r.Status)
		}
	}
	if bal, err := ec.BalanceAt(ctx, merchant, nil); err != nil || bal.Cmp(big.NewInt(1)) != 0 {
		t.Fatalf("merchant balance %v %v: only the filler's 1 wei should arrive", bal, err)
	}
	if err := m.Confirm(id, s.addr, n); err != nil {
		t.Fatal(err)
	}
	if gaps, err := m.Gaps(ctx, id, s.addr, latest); err != nil || len(gaps) != 0 {
		t.Fatalf("gaps after mining: %v %v", gaps, err)
	}
	if err := m.Record(id, s.addr, n, signer.Hash(fast), nonce.SpeedUp); !errors.Is(err, nonce.ErrSettled) {
		t.Fatalf("record at a mined nonce: %v, want ErrSettled", err)
	}
	if next, err := m.Reserve(ctx, id, s.addr); err != nil || next != n+1 {
		t.Fatalf("next reservation %d %v, want %d", next, err, n+1)
	}
}

func waitMined(ctx context.Context, t *testing.T, ec *ethclient.Client, h common.Hash) *types.Receipt {
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
