package chaingen

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"

	"github.com/weirhq/weir/ingest/ethereum/contracts"
)

// ChainID is the chain id of the simulated backend (params.AllDevChainProtocolChanges).
const ChainID = 1337

var (
	// ErrClosed is returned by the methods of a closed Chain.
	ErrClosed = errors.New("chaingen: chain closed")
	// ErrFinalized is returned by Reorg when the reorg would replace the finalized block.
	ErrFinalized = errors.New("chaingen: reorg would replace the finalized block")
	// ErrTooDeep is returned by Reorg when the reorg would replace genesis or the blocks
	// that deployed and funded the contracts.
	ErrTooDeep = errors.New("chaingen: reorg would replace the setup blocks")
)

var (
	// tokenUnit is one token in base units (WeirToken has 18 decimals).
	tokenUnit = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	// genesisBalance is what every account starts with: 1,000,000 ETH in wei.
	genesisBalance = new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.Ether))
	// tokenGrant is the least every account is minted at setup: 1,000,000 tokens.
	tokenGrant = new(big.Int).Mul(big.NewInt(1_000_000), tokenUnit)
	// tip is the priority fee of every transaction: 1 gwei.
	tip = big.NewInt(params.GWei)
)

// gasNative is the gas limit of a native transfer. Contract calls get limits estimated
// once at setup (see estimateGas) and then fixed, so a transaction that reverts is still
// mined, and sending costs no estimate per transaction.
const gasNative = 21_000

// account is a key the generator signs with and the next nonce it will use.
type account struct {
	key   *ecdsa.PrivateKey
	addr  common.Address
	nonce uint64
	stale bool // a send was cut short: nonce must be re-read from the node
}

// headRef is the head as the generator last saw it.
type headRef struct {
	number uint64
	hash   common.Hash
	time   uint64
}

// Chain is a simulated chain served on loopback and the traffic generator driving it.
// Start makes one; Step, Blocks, Run and Reorg mine blocks and serialise on an internal
// lock, so they are safe to call from several goroutines (though one driver is the
// intended use); the accessors and Stats are safe for concurrent use. Close stops it.
type Chain struct {
	cfg     Config
	sim     *simulated.Backend
	client  simulated.Client
	httpURL string
	wsURL   string
	signer  types.Signer
	chainID *big.Int

	tokenABI, nftABI abi.ABI
	token, nft       common.Address
	minter           *account
	accounts         []*account
	isAccount        map[common.Address]bool // the accounts and the minter
	setupHead        uint64                  // the last block of the setup; reorgs stay above it
	gasToken         uint64                  // gas limit of ERC-20 calls
	gasNFT           uint64                  // gas limit of ERC-721 calls

	mu           sync.Mutex // serialises mining; guards the fields below
	closed       bool
	touched      map[*account]bool // accounts that sent in the block being built
	rng          *rand.Rand
	head         headRef
	feeCap       *big.Int
	budget       int64 // carried fraction of Rate × BlockInterval, in transaction-nanoseconds
	nextNFT      uint64
	nfts         []nftToken // recently minted tokens, at most maxTrackedNFTs
	active       []*instance
	queued       []PatternKind
	queuedRevert int
	seq          uint64 // pattern instances started
	patternBlock uint64 // the last block holding a pattern's transaction
	sinceReorg   int

	statsMu sync.Mutex
	stats   Stats
}

// Stats counts what a Chain sent and mined since Start (setup excluded). Pattern
// transactions are also counted by their kind (a drain's token transfers are
// TokenTransfers).
type Stats struct {
	Blocks          uint64 // blocks committed, reorg blocks included
	Transactions    uint64 // transactions accepted by the node
	NativeTransfers uint64
	TokenTransfers  uint64 // ERC-20 transfers that should succeed
	TokenApprovals  uint64
	TokenMints      uint64 // refills after drains
	NFTMints        uint64
	NFTTransfers    uint64
	Reverts         uint64 // ERC-20 transfers sent to fail
	SendErrors      uint64 // transactions the node refused or did not make executable in time

	Takeovers      uint64 // completed patterns per kind
	Structurings   uint64
	Drains         uint64
	RoundTrips     uint64
	PatternTxs     uint64 // transactions of completed patterns
	PatternsFailed uint64 // patterns abandoned: a transaction refused or failed, or a reorg
	Labels         uint64

	Reorgs         uint64
	OrphanedBlocks uint64
}

// Start creates the simulated chain, serves it on 127.0.0.1 (HTTP and WebSocket, modules
// eth, net and web3), deploys the contracts and funds the accounts, and returns when the
// setup blocks are mined. It blocks for the setup only; no goroutine of the generator
// runs until Run is called. Close the Chain when done.
func Start(ctx context.Context, cfg Config) (*Chain, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()

	c := &Chain{
		cfg:       cfg,
		chainID:   big.NewInt(ChainID),
		signer:    types.LatestSignerForChainID(big.NewInt(ChainID)),
		isAccount: make(map[common.Address]bool, cfg.Accounts),
		touched:   make(map[*account]bool),
		rng:       rand.New(rand.NewPCG(cfg.Seed, 0x77656972)), // "weir"
	}
	var err error
	if c.tokenABI, err = parseABI(contracts.WeirTokenMetaData); err != nil {
		return nil, err
	}
	if c.nftABI, err = parseABI(contracts.WeirNFTMetaData); err != nil {
		return nil, err
	}
	c.minter = &account{key: deriveKey(cfg.Seed, "minter")}
	c.minter.addr = crypto.PubkeyToAddress(c.minter.key.PublicKey)
	c.isAccount[c.minter.addr] = true
	alloc := types.GenesisAlloc{c.minter.addr: {Balance: genesisBalance}}
	for i := range cfg.Accounts {
		a := &account{key: deriveKey(cfg.Seed, strconv.Itoa(i))}
		a.addr = crypto.PubkeyToAddress(a.key.PublicKey)
		c.accounts = append(c.accounts, a)
		c.isAccount[a.addr] = true
		alloc[a.addr] = types.Account{Balance: genesisBalance}
	}

	if err := c.serve(alloc); err != nil {
		return nil, err
	}
	if err := c.setup(ctx); err != nil {
		c.sim.Close()
		return nil, err
	}
	return c, nil
}

// serve creates the backend with the RPC servers on loopback, retrying with other ports
// when a port it picked was taken in between (a bounded number of times).
func (c *Chain) serve(alloc types.GenesisAlloc) error {
	const attempts = 5
	var lastErr error
	for range attempts {
		httpPort, wsPort, err := pickPorts(c.cfg.HTTPPort, c.cfg.WSPort)
		if err != nil {
			return err
		}
		sim, err := newBackend(alloc, httpPort, wsPort)
		if err == nil {
			c.sim, c.client = sim, sim.Client()
			c.httpURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
			c.wsURL = "ws://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(wsPort))
			return nil
		}
		lastErr = err
		if c.cfg.HTTPPort != 0 && c.cfg.WSPort != 0 {
			break // the caller chose both ports; another attempt would fail the same way
		}
	}
	return fmt.Errorf("chaingen: start simulated backend: %w", lastErr)
}

// newBackend is simulated.NewBackend with the RPC servers enabled, turning its panic on a
// node that fails to start (a port taken) into an error.
func newBackend(alloc types.GenesisAlloc, httpPort, wsPort int) (sim *simulated.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	modules := []string{"eth", "net", "web3"}
	return simulated.NewBackend(alloc, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost, nc.HTTPPort, nc.HTTPModules = "127.0.0.1", httpPort, modules
		nc.WSHost, nc.WSPort, nc.WSModules = "127.0.0.1", wsPort, modules
	}), nil
}

// pickPorts returns the ports to serve on: the configured ones, and free loopback ports
// for those that are 0. The node cannot report a port it picked itself (the simulated
// backend keeps the node private), so a free port is found by listening on port 0 and
// closing; both listeners stay open until both ports are known, so they differ.
func pickPorts(httpPort, wsPort int) (int, int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	pick := func(p *int) error {
		if *p != 0 {
			return nil
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("chaingen: find a free port: %w", err)
		}
		listeners = append(listeners, l)
		*p = l.Addr().(*net.TCPAddr).Port
		return nil
	}
	if err := pick(&httpPort); err != nil {
		return 0, 0, err
	}
	if err := pick(&wsPort); err != nil {
		return 0, 0, err
	}
	return httpPort, wsPort, nil
}

// setup deploys the token and the NFT and mints every account its grant.
func (c *Chain) setup(ctx context.Context) error {
	if err := c.refreshHead(ctx); err != nil {
		return err
	}
	auth, err := bind.NewKeyedTransactorWithChainID(c.minter.key, c.chainID)
	if err != nil {
		return fmt.Errorf("chaingen: transactor: %w", err)
	}
	auth.Context = ctx
	auth.Nonce = new(big.Int).SetUint64(c.minter.nonce)
	token, tokenTx, _, err := contracts.DeployWeirToken(auth, c.client, "Weir Token", "WEIR", 18)
	if err != nil {
		return fmt.Errorf("chaingen: deploy token: %w", err)
	}
	c.minter.nonce++
	auth.Nonce = new(big.Int).SetUint64(c.minter.nonce)
	nft, nftTx, _, err := contracts.DeployWeirNFT(auth, c.client, "Weir NFT", "WNFT")
	if err != nil {
		return fmt.Errorf("chaingen: deploy nft: %w", err)
	}
	c.minter.nonce++
	c.touched[c.minter] = true
	c.token, c.nft = token, nft
	if err := c.commit(ctx); err != nil {
		return err
	}

	grant := new(big.Int).Mul(c.cfg.StructuringThreshold, big.NewInt(20))
	if grant.Cmp(tokenGrant) < 0 {
		grant = tokenGrant
	}
	if err := c.estimateGas(ctx); err != nil {
		return err
	}
	txs := []*types.Transaction{tokenTx, nftTx}
	for _, a := range c.accounts {
		tx, err := c.send(ctx, c.minter, kindSetup, c.token, nil, c.pack(c.tokenABI, "mint", a.addr, grant), c.gasToken)
		if err != nil {
			return fmt.Errorf("chaingen: mint grant: %w", err)
		}
		txs = append(txs, tx)
	}
	if err := c.commit(ctx); err != nil {
		return err
	}
	for _, tx := range txs {
		r, err := c.client.TransactionReceipt(ctx, tx.Hash())
		if err != nil {
			return fmt.Errorf("chaingen: setup receipt %s: %w", tx.Hash(), err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			return fmt.Errorf("chaingen: setup transaction %s failed (gas used %d of %d, to %v)", tx.Hash(), r.GasUsed, tx.Gas(), tx.To())
		}
	}
	for _, a := range c.accounts {
		if a.nonce, err = c.client.PendingNonceAt(ctx, a.addr); err != nil {
			return fmt.Errorf("chaingen: nonce of %s: %w", a.addr, err)
		}
	}
	c.setupHead = c.head.number
	c.stats = Stats{}
	return nil
}

// estimateGas sets the gas limits of contract calls to 1.5 times the estimate of their
// dearest case, a call that creates storage for a new holder: the cost of new storage
// changes between forks (the dev chain runs all of them).
func (c *Chain) estimateGas(ctx context.Context) error {
	fresh := common.HexToAddress("0x00000000000000000000000000000000c4a19e11")
	one := big.NewInt(1)
	est := func(to common.Address, data []byte) (uint64, error) {
		g, err := c.client.EstimateGas(ctx, ethereum.CallMsg{From: c.minter.addr, To: &to, Data: data})
		if err != nil {
			return 0, fmt.Errorf("chaingen: estimate gas: %w", err)
		}
		return g * 3 / 2, nil
	}
	var err error
	if c.gasToken, err = est(c.token, c.pack(c.tokenABI, "mint", fresh, one)); err != nil {
		return err
	}
	if g, err := est(c.token, c.pack(c.tokenABI, "approve", fresh, maxUint256)); err != nil {
		return err
	} else {
		c.gasToken = max(c.gasToken, g)
	}
	c.gasNFT, err = est(c.nft, c.pack(c.nftABI, "mint", fresh, one))
	return err
}

// deriveKey returns the deterministic key called name for seed.
func deriveKey(seed uint64, name string) *ecdsa.PrivateKey {
	for i := 0; ; i++ {
		h := crypto.Keccak256([]byte("weir/chaingen/" + strconv.FormatUint(seed, 10) + "/" + name + "/" + strconv.Itoa(i)))
		if key, err := crypto.ToECDSA(h); err == nil {
			return key
		}
	}
}

func parseABI(md *bind.MetaData) (abi.ABI, error) {
	a, err := md.GetAbi()
	if err != nil {
		return abi.ABI{}, fmt.Errorf("chaingen: parse abi: %w", err)
	}
	return *a, nil
}

// URL returns the HTTP JSON-RPC endpoint, "http://127.0.0.1:<port>". Safe for
// concurrent use.
func (c *Chain) URL() string { return c.httpURL }

// WSURL returns the WebSocket JSON-RPC endpoint, "ws://127.0.0.1:<port>". Safe for
// concurrent use.
func (c *Chain) WSURL() string { return c.wsURL }

// Backend returns the simulated backend. Mining on it directly (Commit, Fork) confuses
// the generator's bookkeeping; reading is fine.
func (c *Chain) Backend() *simulated.Backend { return c.sim }

// Token returns the address of the WeirToken (ERC-20, 18 decimals, symbol WEIR).
func (c *Chain) Token() common.Address { return c.token }

// NFT returns the address of the WeirNFT (ERC-721, symbol WNFT).
func (c *Chain) NFT() common.Address { return c.nft }

// Minter returns the address that deployed the contracts and alone mints on them.
func (c *Chain) Minter() common.Address { return c.minter.addr }

// Accounts returns the addresses of the funded accounts, in key order. The slice is a
// copy.
func (c *Chain) Accounts() []common.Address {
	out := make([]common.Address, len(c.accounts))
	for i, a := range c.accounts {
		out[i] = a.addr
	}
	return out
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (c *Chain) Stats() Stats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	return c.stats
}

func (c *Chain) count(f func(*Stats)) {
	c.statsMu.Lock()
	f(&c.stats)
	c.statsMu.Unlock()
}

// Close stops the node and its RPC servers; it waits for a Step or Reorg in progress.
// Calling it again does nothing. Run must have returned first, or it fails with ErrClosed.
func (c *Chain) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if err := c.sim.Close(); err != nil {
		return fmt.Errorf("chaingen: close: %w", err)
	}
	return nil
}

// InjectPattern makes the next block start a pattern of kind k (on top of the random
// ones), if enough accounts are free; otherwise it waits for a later block. It does not
// block.
func (c *Chain) InjectPattern(k PatternKind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued = append(c.queued, k)
}

// InjectRevert makes the next block carry one more ERC-20 transfer that exceeds its
// sender's balance: it is mined and reverts. It does not block.
func (c *Chain) InjectRevert() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queuedRevert++
}

// Step sends one block's worth of transactions (Rate × BlockInterval, fractions carried
// over, plus due pattern transactions) and commits one block. It blocks until the block
// is mined and its labels delivered. It never reorganises.
func (c *Chain) Step(ctx context.Context) error {
	return c.tick(ctx, false)
}

// Blocks mines n blocks as Step does, without waiting between them, and reorganises as
// Run does when Config.ReorgEvery is set.
func (c *Chain) Blocks(ctx context.Context, n int) error {
	for range n {
		if err := c.tick(ctx, true); err != nil {
			return err
		}
	}
	return nil
}

// Run mines a block every Config.BlockInterval until ctx is done, and reorganises every
// Config.ReorgEvery blocks. It returns nil when ctx is done, or the first error of a
// block. A block that takes longer than the interval delays the next (ticks are
// dropped, not queued).
func (c *Chain) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.BlockInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := c.tick(ctx, true); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// tick mines one block and, when reorgs are configured and due, reorganises.
func (c *Chain) tick(ctx context.Context, reorgs bool) error {
	var ev events
	err := func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return ErrClosed
		}
		if err := c.step(ctx, stepOpts{patterns: true}, &ev); err != nil {
			return err
		}
		if !reorgs || c.cfg.ReorgEvery == 0 {
			return nil
		}
		c.sinceReorg++
		if c.sinceReorg < c.cfg.ReorgEvery {
			return nil
		}
		depth, err := c.autoReorgDepth(ctx)
		if err != nil || depth == 0 {
			return err // not possible now; try again next block
		}
		info, err := c.reorg(ctx, depth, &ev)
		if err != nil {
			return err
		}
		ev.reorgs = append(ev.reorgs, info)
		return nil
	}()
	c.deliver(ev)
	return err
}

// events are the callbacks a block owes, delivered after the lock is released.
type events struct {
	patterns []Pattern
	reorgs   []ReorgInfo
}

func (c *Chain) deliver(ev events) {
	for _, p := range ev.patterns {
		if c.cfg.OnLabel != nil {
			for _, l := range p.Labels {
				c.cfg.OnLabel(l)
			}
		}
		if c.cfg.OnPattern != nil {
			c.cfg.OnPattern(p)
		}
	}
	if c.cfg.OnReorg != nil {
		for _, r := range ev.reorgs {
			c.cfg.OnReorg(r)
		}
	}
}

// refreshHead reads the head and the fee caps for the next block.
func (c *Chain) refreshHead(ctx context.Context) error {
	h, err := c.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return fmt.Errorf("chaingen: read head: %w", err)
	}
	c.head = headRef{number: h.Number.Uint64(), hash: h.Hash(), time: h.Time}
	c.setFees(h)
	return nil
}

// setFees sets the fee cap to twice the head's base fee plus the tip: the next base fee
// is at most 12.5% higher.
func (c *Chain) setFees(h *types.Header) {
	base := big.NewInt(params.InitialBaseFee)
	if h.BaseFee != nil {
		base = h.BaseFee
	}
	c.feeCap = new(big.Int).Add(new(big.Int).Mul(base, big.NewInt(2)), tip)
}

// settleTimeout bounds how long commit waits for the pool to make the block's
// transactions executable.
const settleTimeout = 5 * time.Second

// settle waits until the pool has promoted every transaction sent for the block being
// built: the node's pending nonce of each sender matches the generator's. The pool
// promotes submitted transactions asynchronously, and the simulated beacon's pool sync
// before sealing does not always wait for that, so without this a block may miss the
// tail of an account's transactions. An account that does not settle in time has its
// nonce re-read, as after a refused transaction.
func (c *Chain) settle(ctx context.Context) error {
	deadline := time.Now().Add(settleTimeout)
	wait := 50 * time.Microsecond
	for a := range c.touched {
		for {
			n, err := c.client.PendingNonceAt(ctx, a.addr)
			if err != nil {
				return fmt.Errorf("chaingen: nonce of %s: %w", a.addr, err)
			}
			if n >= a.nonce {
				break
			}
			if time.Now().After(deadline) {
				a.nonce = n
				c.count(func(s *Stats) { s.SendErrors++ })
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			wait = min(2*wait, 5*time.Millisecond)
		}
	}
	clear(c.touched)
	return nil
}

// commit seals a block and checks that it extends the head by one.
func (c *Chain) commit(ctx context.Context) error {
	if err := c.settle(ctx); err != nil {
		return err
	}
	want := c.head.number + 1
	hash := c.sim.Commit()
	h, err := c.client.HeaderByHash(ctx, hash)
	if err != nil {
		return fmt.Errorf("chaingen: read committed block %s: %w", hash, err)
	}
	if h.Number.Uint64() != want {
		return fmt.Errorf("chaingen: commit did not seal block %d (head is %d)", want, h.Number.Uint64())
	}
	c.head = headRef{number: want, hash: hash, time: h.Time}
	c.setFees(h)
	c.count(func(s *Stats) { s.Blocks++ })
	return nil
}
