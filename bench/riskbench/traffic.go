package riskbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/bench/chaingen"
	"github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// Topics names the topics of one harness run: the catalogue's names behind Prefix.
type Topics struct {
	// Prefix is put before every catalogue name, e.g. "riskbench-1a2b3c4d.".
	Prefix string
}

// Chain returns the indexer's topics.
func (t Topics) Chain() ethereum.Topics { return ethereum.DefaultTopics().WithPrefix(t.Prefix) }

// Transfers is chain.transfers.
func (t Topics) Transfers() string { return t.Prefix + "chain.transfers" }

// Retractions is chain.retractions.
func (t Topics) Retractions() string { return t.Prefix + "chain.retractions" }

// Internal is the features processor's re-keyed topic.
func (t Topics) Internal() string { return t.Prefix + "features.activity" }

// Features is risk.features.
func (t Topics) Features() string { return t.Prefix + "risk.features" }

// Scores is risk.scores.
func (t Topics) Scores() string { return t.Prefix + "risk.scores" }

// Alerts is risk.alerts.
func (t Topics) Alerts() string { return t.Prefix + "risk.alerts" }

// Labels is risk.labels.
func (t Topics) Labels() string { return t.Prefix + "risk.labels" }

// catalogue returns the catalogue entries of the harness's topics (chain.*, risk.*),
// prefixed.
func (t Topics) catalogue() []catalog.Topic {
	var out []catalog.Topic
	for _, c := range catalog.All() {
		switch c.Name {
		case "chain.blocks", "chain.transactions", "chain.receipts", "chain.logs", "chain.transfers",
			"chain.approvals", "chain.retractions", "chain.finality", "chain.checkpoints",
			"risk.features", "risk.scores", "risk.alerts", "risk.labels":
			out = append(out, c)
		}
	}
	return catalog.WithPrefix(t.Prefix, out)
}

// Create creates the run's topics as the catalogue describes them (retention forever
// where the catalogue says so; the generator's event times run ahead of the clock).
func (t Topics) Create(ctx context.Context, adm *kadm.Client) error {
	if _, err := catalog.Apply(ctx, adm, t.catalogue()); err != nil {
		return fmt.Errorf("riskbench: create topics: %w", err)
	}
	return nil
}

// Delete deletes every topic whose name starts with the prefix (the DLQs, the internal
// topic and the processors' changelogs included). A best effort: errors are returned
// but leave the rest deleted.
func (t Topics) Delete(ctx context.Context, adm *kadm.Client) error {
	if t.Prefix == "" {
		return errors.New("riskbench: refusing to delete topics without a prefix")
	}
	listed, err := adm.ListTopics(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, name := range listed.Names() {
		if len(name) >= len(t.Prefix) && name[:len(t.Prefix)] == t.Prefix {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	resp, err := adm.DeleteTopics(ctx, names...)
	if err != nil {
		return err
	}
	return resp.Error()
}

// DefaultBlocks is the length of a labelled run: 1200 blocks, 20 minutes of event time
// (the generator seals a block a second), about 24,000 transfers and a hundred pattern
// instances at the default rates. The shipped model is trained on runs of this length:
// the features' windows (1 minute to 7 days) see a run of another length differently.
const DefaultBlocks = 1200

// TrafficOptions configures Generate. Zero fields take the defaults stated.
type TrafficOptions struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Topics are the run's topics; Generate creates them. Required (a prefix).
	Topics Topics
	// Seed seeds the generator (accounts, traffic, patterns). Default 1.
	Seed uint64
	// Blocks is the number of blocks mined after the setup. Default DefaultBlocks.
	Blocks int
	// Accounts is the number of funded accounts. Default 400 (the generator funds them all in its one setup block): enough that the
	// patterns' labelled accounts stay a minority.
	Accounts int
	// Rate is the ordinary transactions per block. Default 20.
	Rate int
	// FraudRate is the probability that a pattern starts in a block. Default 0.1: about
	// a hundred pattern instances in the default 1200 blocks.
	FraudRate float64
	// Progress receives a line per step. Default: discarded.
	Progress io.Writer
}

func (o *TrafficOptions) setDefaults() {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Blocks <= 0 {
		o.Blocks = DefaultBlocks
	}
	if o.Accounts <= 0 {
		o.Accounts = 400
	}
	if o.Rate <= 0 {
		o.Rate = 20
	}
	if o.FraudRate == 0 {
		o.FraudRate = 0.1
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Traffic is what Generate wrote: the ground truth of the run.
type Traffic struct {
	// Seed is the generator's seed.
	Seed uint64
	// Token and NFT are the generator's contracts; TokenAsset and NFTAsset their
	// Amount.asset names on chain.transfers.
	Token, NFT           common.Address
	TokenAsset, NFTAsset string
	StructuringThreshold *big.Int
	// FirstBlock and LastBlock are the blocks mined after the setup.
	FirstBlock, LastBlock uint64
	// BlockTimes maps every block from FirstBlock to LastBlock to its timestamp.
	BlockTimes map[uint64]time.Time
	// Patterns are the completed pattern instances; Labels their labels, as written to
	// risk.labels.
	Patterns []chaingen.Pattern
	Labels   []*riskv1.RiskLabel
	// Transfers is the number of chain.transfers records the indexer committed.
	Transfers uint64
	// Stats are the generator's counters.
	Stats chaingen.Stats
}

// TimeOfBlock returns the timestamp of block n, clamped to the run's blocks.
func (t *Traffic) TimeOfBlock(n uint64) time.Time {
	n = min(max(n, t.FirstBlock), t.LastBlock)
	return t.BlockTimes[n]
}

// Generate runs the traffic generator (bench/chaingen: ordinary traffic and labelled
// fraud patterns, no reorgs) for opts.Blocks blocks, indexes the chain with the real
// indexer (ingest/ethereum) into the run's chain.* topics, and writes the generator's
// labels to its risk.labels. It creates the topics, blocks until everything is
// committed, and keeps nothing outside the topics and memory. The topics are the
// caller's to delete (Topics.Delete), also when Generate fails.
func Generate(ctx context.Context, opts TrafficOptions) (*Traffic, error) {
	opts.setDefaults()
	if len(opts.Brokers) == 0 {
		return nil, errors.New("riskbench: no brokers")
	}
	if opts.Topics.Prefix == "" {
		return nil, errors.New("riskbench: no topic prefix")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(opts.Brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := opts.Topics.Create(ctx, kadm.NewClient(cl)); err != nil {
		return nil, err
	}

	tr := &Traffic{Seed: opts.Seed, BlockTimes: make(map[uint64]time.Time, opts.Blocks)}
	threshold := new(big.Int).Mul(big.NewInt(10_000), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	tr.StructuringThreshold = threshold
	cfg := chaingen.Config{
		Accounts: opts.Accounts, Seed: opts.Seed, Rate: opts.Rate, BlockInterval: time.Second,
		FraudRate: opts.FraudRate, StructuringThreshold: threshold,
		OnPattern: func(p chaingen.Pattern) {
			tr.Patterns = append(tr.Patterns, p)
			tr.Labels = append(tr.Labels, p.Labels...)
		},
	}
	began := time.Now()
	chain, err := startChain(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("riskbench: chain: %w", err)
	}
	defer chain.Close()
	tr.Token, tr.NFT = chain.Token(), chain.NFT()
	tr.TokenAsset = fmt.Sprintf("erc20:%d:%s", chaingen.ChainID, hexAddr(tr.Token))
	tr.NFTAsset = fmt.Sprintf("erc721:%d:%s", chaingen.ChainID, hexAddr(tr.NFT))
	client := chain.Backend().Client()
	for i := range opts.Blocks {
		if err := chain.Step(ctx); err != nil {
			return nil, fmt.Errorf("riskbench: block %d: %w", i, err)
		}
		h, err := client.HeaderByNumber(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("riskbench: head: %w", err)
		}
		n := h.Number.Uint64()
		if tr.FirstBlock == 0 {
			tr.FirstBlock = n
		}
		tr.LastBlock = n
		tr.BlockTimes[n] = time.Unix(int64(h.Time), 0).UTC()
		if (i+1)%500 == 0 {
			fmt.Fprintf(opts.Progress, "riskbench: seed %d: %d of %d blocks, %d patterns\n", opts.Seed, i+1, opts.Blocks, len(tr.Patterns))
		}
	}
	tr.Stats = chain.Stats()
	fmt.Fprintf(opts.Progress, "riskbench: seed %d: %d blocks, %d transactions, %d patterns (%d takeovers, %d structurings, %d drains, %d round trips), %d labels in %v\n",
		opts.Seed, opts.Blocks, tr.Stats.Transactions, len(tr.Patterns), tr.Stats.Takeovers, tr.Stats.Structurings,
		tr.Stats.Drains, tr.Stats.RoundTrips, len(tr.Labels), time.Since(began).Round(time.Millisecond))

	began = time.Now()
	ix, err := ethereum.New(ethereum.Config{
		Name: opts.Topics.Prefix + "ingest", RPCURL: chain.URL(), ChainID: chaingen.ChainID, Brokers: opts.Brokers,
		Topics: opts.Topics.Chain(), StopBlock: tr.LastBlock, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	if err := ix.Run(ctx); err != nil {
		return nil, fmt.Errorf("riskbench: index: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tr.Transfers = ix.Committed().Transfers
	fmt.Fprintf(opts.Progress, "riskbench: indexed blocks up to %d: %d transfers in %v\n",
		tr.LastBlock, tr.Transfers, time.Since(began).Round(time.Millisecond))

	for _, l := range tr.Labels {
		v, err := codec.Marshal(l)
		if err != nil {
			return nil, fmt.Errorf("riskbench: label: %w", err)
		}
		cl.Produce(ctx, &kgo.Record{Topic: opts.Topics.Labels(), Key: []byte(l.GetEntityId()), Value: v,
			Timestamp: capNow(l.GetMeta().GetEventTime().AsTime())}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("riskbench: labels: %w", err)
	}
	return tr, nil
}

// capNow returns t, or now when t is in the future: brokers refuse timestamps far
// ahead of their clock, and the generator seals blocks faster than one a second.
func capNow(t time.Time) time.Time {
	if now := time.Now(); t.After(now) {
		return now
	}
	return t
}

func hexAddr(a common.Address) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 2+2*len(a))
	b[0], b[1] = '0', 'x'
	for i, c := range a {
		b[2+2*i], b[3+2*i] = digits[c>>4], digits[c&15]
	}
	return string(b)
}

// startChain starts the generator, trying again (a bounded number of times) when its
// setup fails: on a busy machine the simulated node sometimes has not indexed a setup
// transaction yet when the generator asks for its receipt ("not found").
func startChain(ctx context.Context, cfg chaingen.Config) (*chaingen.Chain, error) {
	var err error
	for range 3 {
		var c *chaingen.Chain
		if c, err = chaingen.Start(ctx, cfg); err == nil {
			return c, nil
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "not found") {
			return nil, err
		}
	}
	return nil, err
}
