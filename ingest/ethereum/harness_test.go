package ethereum_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/ingest/ethereum/contracts"
	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
)

// simChainID is the chain id of go-ethereum's simulated backend.
const simChainID = 1337

// simChain is go-ethereum's simulated backend served over HTTP on loopback, with funded
// accounts and a deployed ERC-20, so that the indexer reads it as it reads a real node.
type simChain struct {
	t     testing.TB
	sim   *simulated.Backend
	url   string
	keys  []*ecdsa.PrivateKey
	token *contracts.WeirToken
	addr  common.Address // the token

	mu     sync.Mutex
	nonces map[common.Address]uint64
	round  int
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newSimChain(t testing.TB, accounts int) *simChain {
	t.Helper()
	port := freePort(t)
	alloc := types.GenesisAlloc{}
	var keys []*ecdsa.PrivateKey
	for i := 0; i < accounts; i++ {
		k, _ := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("weir-ingest-test-%d", i))))
		keys = append(keys, k)
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))}
	}
	sim := simulated.NewBackend(alloc, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost, nc.HTTPPort, nc.HTTPModules = "127.0.0.1", port, []string{"eth", "net", "web3"}
	})
	t.Cleanup(func() { sim.Close() })
	c := &simChain{t: t, sim: sim, url: fmt.Sprintf("http://127.0.0.1:%d", port), keys: keys, nonces: map[common.Address]uint64{}}

	auth := c.auth(keys[0])
	addr, _, token, err := contracts.DeployWeirToken(auth, sim.Client(), "Weir Test", "WTST", 6)
	if err != nil {
		t.Fatalf("deploy token: %v", err)
	}
	c.nonces[auth.From]++
	sim.Commit()
	c.token, c.addr = token, addr
	for _, k := range keys {
		a := c.auth(keys[0])
		if _, err := token.Mint(a, crypto.PubkeyToAddress(k.PublicKey), big.NewInt(1_000_000_000)); err != nil {
			t.Fatalf("mint: %v", err)
		}
		c.nonces[a.From]++
	}
	sim.Commit()
	return c
}

func (c *simChain) auth(k *ecdsa.PrivateKey) *bind.TransactOpts {
	a, err := bind.NewKeyedTransactorWithChainID(k, big.NewInt(simChainID))
	if err != nil {
		c.t.Fatal(err)
	}
	a.Nonce = new(big.Int).SetUint64(c.nonces[a.From])
	a.GasLimit = 200_000
	return a
}

// block sends txs transfers (alternately native and ERC-20, between the accounts) and
// commits one block.
func (c *simChain) block(txs int) common.Hash {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx := context.Background()
	for i := 0; i < txs; i++ {
		c.round++
		from := c.keys[c.round%len(c.keys)]
		to := crypto.PubkeyToAddress(c.keys[(c.round+1)%len(c.keys)].PublicKey)
		a := c.auth(from)
		if c.round%2 == 0 {
			tx := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(simChainID), Nonce: a.Nonce.Uint64(), To: &to,
				Value: big.NewInt(int64(1_000_000_007 * c.round)), Gas: 21000,
				GasFeeCap: big.NewInt(10 * params.GWei), GasTipCap: big.NewInt(params.GWei)})
			signed, err := types.SignTx(tx, types.LatestSignerForChainID(big.NewInt(simChainID)), from)
			if err != nil {
				c.t.Fatal(err)
			}
			if err := c.sim.Client().SendTransaction(ctx, signed); err != nil {
				c.t.Fatalf("send: %v", err)
			}
		} else if _, err := c.token.Transfer(a, to, big.NewInt(int64(1000+c.round))); err != nil {
			c.t.Fatalf("token transfer: %v", err)
		}
		c.nonces[a.From]++
	}
	return c.sim.Commit()
}

// fork makes the chain drop its last depth blocks and grow a different branch of at
// least depth+1 blocks. The node puts the orphaned transactions back in its pool, so
// they are mined again, in other blocks (with later timestamps, so other hashes).
func (c *simChain) fork(depth int) {
	c.t.Helper()
	ctx := context.Background()
	head, err := c.sim.Client().BlockNumber(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	parent, err := c.sim.Client().HeaderByNumber(ctx, new(big.Int).SetUint64(head-uint64(depth)))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.sim.Fork(parent.Hash()); err != nil {
		c.t.Fatalf("fork: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // the pool re-injects the orphaned transactions
	for i := 0; ; i++ {
		if i > depth && c.poolEmpty(ctx) {
			return
		}
		if i > depth+20 {
			c.t.Fatal("the orphaned transactions were not mined again")
		}
		time.Sleep(10 * time.Millisecond)
		c.sim.Commit()
	}
}

// poolEmpty reports whether every account's pending nonce is its mined nonce.
func (c *simChain) poolEmpty(ctx context.Context) bool {
	for _, k := range c.keys {
		addr := crypto.PubkeyToAddress(k.PublicKey)
		n, err := c.sim.Client().NonceAt(ctx, addr, nil)
		if err != nil {
			c.t.Fatal(err)
		}
		p, err := c.sim.Client().PendingNonceAt(ctx, addr)
		if err != nil {
			c.t.Fatal(err)
		}
		if n != p || n != c.nonces[addr] {
			return false
		}
	}
	return true
}

func (c *simChain) head(t testing.TB) uint64 {
	n, err := c.sim.Client().BlockNumber(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// kafkaFixture is a cluster with the chain topics under a unique prefix.
type kafkaFixture struct {
	brokers []string
	topics  ethereum.Topics
}

func newKafka(t testing.TB, brokers []string) kafkaFixture {
	t.Helper()
	prefix := fmt.Sprintf("t%d-%s.", time.Now().UnixNano(), strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())))
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var chain []catalog.Topic
	for _, tp := range catalog.All() {
		if strings.HasPrefix(tp.Name, "chain.") {
			chain = append(chain, tp)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := catalog.Apply(ctx, kadm.NewClient(cl), catalog.WithPrefix(prefix, chain)); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	return kafkaFixture{brokers: brokers, topics: ethereum.DefaultTopics().WithPrefix(prefix)}
}

// indexed is everything the indexer committed, decoded.
type indexed struct {
	blocks      []*chainv1.Block
	txs         []*chainv1.Transaction
	receipts    []*chainv1.Receipt
	logs        []*chainv1.Log
	transfers   []*chainv1.Transfer
	approvals   []*chainv1.Approval
	retractions []*chainv1.Retraction
	finality    []*chainv1.FinalityMarker
	// seen counts how often each event id was read, over every topic.
	seen map[string]int
	// events are the ids of the block events (not retractions or markers).
	events map[string]bool
}

func readIndexed(t testing.TB, k kafkaFixture) *indexed {
	t.Helper()
	waitStable(t, k)
	x := &indexed{seen: map[string]int{}, events: map[string]bool{}}
	x.blocks = readTopic[chainv1.Block](t, k, k.topics.Blocks, x, true)
	x.txs = readTopic[chainv1.Transaction](t, k, k.topics.Transactions, x, true)
	x.receipts = readTopic[chainv1.Receipt](t, k, k.topics.Receipts, x, true)
	x.logs = readTopic[chainv1.Log](t, k, k.topics.Logs, x, true)
	x.transfers = readTopic[chainv1.Transfer](t, k, k.topics.Transfers, x, true)
	x.approvals = readTopic[chainv1.Approval](t, k, k.topics.Approvals, x, true)
	x.retractions = readTopic[chainv1.Retraction](t, k, k.topics.Retractions, x, false)
	x.finality = readTopic[chainv1.FinalityMarker](t, k, k.topics.Finality, x, false)
	return x
}

// readTopic decodes every committed record of topic as a T, counting each event id in
// x.seen and, for block events, in x.events.
func readTopic[T any, P interface {
	*T
	codec.Event
}](t testing.TB, k kafkaFixture, topic string, x *indexed, blockEvent bool,
) []P {
	t.Helper()
	var out []P
	for _, r := range kafkatest.ReadCommitted(t, k.brokers, topic) {
		ev := P(new(T))
		if err := codec.Unmarshal(r.Value, ev); err != nil {
			t.Fatalf("%s offset %d: %v", topic, r.Offset, err)
		}
		x.seen[ev.GetMeta().GetEventId()]++
		if blockEvent {
			x.events[ev.GetMeta().GetEventId()] = true
		}
		out = append(out, ev)
	}
	return out
}

// duplicates returns the event ids seen more than once.
func (x *indexed) duplicates() []string {
	var d []string
	for id, n := range x.seen {
		if n > 1 {
			d = append(d, id)
		}
	}
	sort.Strings(d)
	return d
}

// live applies the retractions: the ids of every event not retracted.
func (x *indexed) live() map[string]bool {
	live := map[string]bool{}
	for id := range x.events {
		live[id] = true
	}
	for _, r := range x.retractions {
		for _, id := range r.GetRetractedEventIds() {
			delete(live, id)
		}
	}
	return live
}

// canonicalIDs converts the node's canonical blocks from..to and returns every event id.
func canonicalIDs(t testing.TB, url string, chainID, from, to uint64) map[string]bool {
	t.Helper()
	ctx := context.Background()
	n, err := ethereum.Dial(ctx, url, chainID, ethereum.NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	conv := &ethereum.Converter{ChainID: chainID}
	ids := map[string]bool{}
	for b := from; b <= to; b++ {
		fs, err := n.Blocks(ctx, []uint64{b})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := conv.ConvertFetched(ctx, fs[0], ethereum.Confirmation{Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ev.EventIDs() {
			ids[id] = true
		}
	}
	return ids
}

// waitCheckpoint waits until the indexer's committed blocks reach block number want.
func waitCheckpoint(t testing.TB, k kafkaFixture, want uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var last uint64
		recs := kafkatest.ReadCommitted(t, k.brokers, k.topics.Checkpoints)
		if len(recs) > 0 {
			cp := new(chainv1.IngestCheckpoint)
			if err := codec.Unmarshal(recs[len(recs)-1].Value, cp); err != nil {
				t.Fatal(err)
			}
			if c := cp.GetCanonical(); len(c) > 0 {
				last = c[len(c)-1].GetNumber()
				if last >= want {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexer reached block %d, want %d after %v", last, want, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func diff(want, got map[string]bool) (missing, extra int) {
	for id := range want {
		if !got[id] {
			missing++
		}
	}
	for id := range got {
		if !want[id] {
			extra++
		}
	}
	return missing, extra
}

// waitStable waits until no partition of the chain topics has an open transaction (the
// last stable offset is the high watermark): a committed transaction's markers are
// written after the producer's commit returns, so a read-committed reader right after
// it may stop short.
func waitStable(t testing.TB, k kafkaFixture) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tp := k.topics
	names := []string{tp.Blocks, tp.Transactions, tp.Receipts, tp.Logs, tp.Transfers, tp.Approvals, tp.Retractions, tp.Finality, tp.Checkpoints}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		stable, err := adm.ListCommittedOffsets(ctx, names...)
		if err == nil {
			var ends kadm.ListedOffsets
			if ends, err = adm.ListEndOffsets(ctx, names...); err == nil {
				open := 0
				ends.Each(func(o kadm.ListedOffset) {
					if s, ok := stable.Lookup(o.Topic, o.Partition); !ok || s.Offset != o.Offset {
						open++
					}
				})
				if open == 0 {
					return
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("chain topics still have open transactions: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
