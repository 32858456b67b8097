package ethereum_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"

	ethindex "github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/ingest/ethereum/contracts"
)

// counting counts eth_calls and can fail them like an unreachable node.
type counting struct {
	inner ethindex.ContractCaller
	calls atomic.Int32
	fail  atomic.Bool
}

func (c *counting) CallContract(ctx context.Context, msg ethereum.CallMsg, n *big.Int) ([]byte, error) {
	c.calls.Add(1)
	if c.fail.Load() {
		return nil, errors.New("dial tcp 127.0.0.1:8545: connect: connection refused")
	}
	return c.inner.CallContract(ctx, msg, n)
}

// TestTokenCache deploys the test ERC-20 and ERC-721 on the simulated backend and looks
// their metadata up: once each however often asked, an account without code has none,
// and a node failure is reported and not remembered.
func TestTokenCache(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	deployer := crypto.PubkeyToAddress(key.PublicKey)
	sim := simulated.NewBackend(types.GenesisAlloc{deployer: {Balance: big.NewInt(params.Ether)}})
	defer sim.Close()
	client := sim.Client()
	chainID, err := client.ChainID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := bind.NewKeyedTransactorWithChainID(key, chainID)
	if err != nil {
		t.Fatal(err)
	}
	erc20, _, _, err := contracts.DeployWeirToken(auth, client, "Weir USD", "WUSD", 6)
	if err != nil {
		t.Fatal(err)
	}
	sim.Commit()
	nft, _, _, err := contracts.DeployWeirNFT(auth, client, "Weir NFT", "WNFT")
	if err != nil {
		t.Fatal(err)
	}
	sim.Commit()

	caller := &counting{inner: client}
	cache := ethindex.NewTokenCache(caller, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 { // concurrent lookups of one token make one set of calls
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := cache.Lookup(ctx, erc20)
			if err != nil || tok.Symbol != "WUSD" || tok.Decimals != 6 || !tok.HasDecimals {
				t.Errorf("ERC-20: %+v, %v", tok, err)
			}
		}()
	}
	wg.Wait()
	if n := caller.calls.Load(); n != 2 {
		t.Errorf("%d eth_calls for one token looked up 8 times, want 2 (decimals and symbol)", n)
	}

	tok, err := cache.Lookup(ctx, nft)
	if err != nil || tok.Symbol != "WNFT" || tok.HasDecimals || tok.Decimals != 0 {
		t.Errorf("ERC-721 (no decimals()): %+v, %v", tok, err)
	}
	tok, err = cache.Lookup(ctx, deployer)
	if err != nil || tok.Symbol != "" || tok.HasDecimals {
		t.Errorf("an account without code: %+v, %v", tok, err)
	}

	caller.fail.Store(true)
	other := common.HexToAddress("0x00000000000000000000000000000000000000bb")
	if _, err := cache.Lookup(ctx, other); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("lookup through a failing node: %v", err)
	}
	caller.fail.Store(false)
	before := caller.calls.Load()
	if _, err := cache.Lookup(ctx, other); err != nil {
		t.Fatal(err)
	}
	if caller.calls.Load() == before {
		t.Error("a failed lookup was remembered: no calls when asked again")
	}
	before = caller.calls.Load()
	if tok, _ := cache.Lookup(ctx, erc20); tok.Symbol != "WUSD" || caller.calls.Load() != before {
		t.Error("a known token was fetched again")
	}
}
