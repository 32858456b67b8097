package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/bench/ingestbench"
	"github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/schemas/catalog"
)

// benchIngestOptions are the flags of `weir bench ingest` besides --brokers.
type benchIngestOptions struct {
	// vs is --vs: the peer to compare with; "" (the default) or "ethereum-etl".
	vs string
	// embedded is --embedded: write to an in-process broker instead of --brokers.
	embedded bool
	// chain holds the prepared chain's size and the ethereum-etl knobs.
	chain ingestbench.Options
	// indexer holds the indexer's knobs; zero fields take its defaults.
	indexer ethereum.Config
	// cpuProfile is --cpuprofile: write a CPU profile of the whole run to this file.
	cpuProfile string
}

func newBenchIngestCmd(g *globals) *cobra.Command {
	opts := benchIngestOptions{}
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Backfill a prepared chain into Kafka and report blocks/s (optionally against ethereum-etl)",
		Long: `Prepare a chain on a geth --dev of its own (5,000 blocks with ERC-20 and native
transfers by default; cached under ${WEIR_CACHE:-~/.cache/weir}/bench, so a rerun only
restarts geth), then backfill it with weir's Ethereum indexer into Kafka, exactly once
(blocks, transactions, receipts, logs, transfers, approvals and the position, in Kafka
transactions), and report blocks/s and logs/s. With --vs ethereum-etl, also run
ethereum-etl (export_blocks_and_transactions and export_token_transfers, from PyPI into
a cached virtualenv) on the same node and range, and report the ratio. Prints progress
and a summary; the last line is one JSON object:
{"blocks_per_s":…, "logs_per_s":…, "peer_blocks_per_s":…, "ratio":…}.

The brokers come from --brokers, else WEIR_KAFKA_BROKERS (deploy/local/stack.env);
--embedded uses an in-process broker instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			switch opts.vs {
			case "":
			case "ethereum-etl":
				opts.chain.VsEthereumETL = true
			default:
				return fmt.Errorf("--vs %q: the only peer is ethereum-etl", opts.vs)
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			sess, err := newBenchSession(cmd, opts.embedded, opts.cpuProfile)
			if err != nil {
				return err
			}
			defer sess.Close()
			fmt.Fprintf(out, "weir bench ingest into %s\n", sess.Where)
			opts.chain.Progress = out
			_, err = ingestbench.Run(ctx, opts.chain, weirBackfill(sess.Brokers, opts.indexer, out, logger), out)
			return err
		},
	}
	f := cmd.Flags()
	config.AddFlags(f, config.FlagBrokers)
	f.StringVar(&opts.vs, "vs", "", `also run this peer on the same node and range ("ethereum-etl")`)
	f.BoolVar(&opts.embedded, "embedded", false, "write to an in-process broker instead of --brokers")
	f.Uint64Var(&opts.chain.Blocks, "blocks", 5000, "blocks of the prepared chain (the backfilled range is 1..blocks)")
	f.IntVar(&opts.chain.TxPerBlock, "tx-per-block", 4, "transactions per block of the prepared chain (half ERC-20 transfers)")
	f.IntVar(&opts.indexer.Parallelism, "parallelism", 4, "RPC batches in flight")
	f.IntVar(&opts.indexer.BatchBlocks, "batch-blocks", 20, "blocks per RPC batch")
	f.IntVar(&opts.indexer.TxnBlocks, "txn-blocks", 200, "blocks per Kafka transaction")
	f.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.IntVar(&opts.chain.ETL.MaxWorkers, "etl-workers", 5, "ethereum-etl --max-workers")
	f.IntVar(&opts.chain.ETL.BatchSize, "etl-batch-size", 100, "ethereum-etl --batch-size")
	return cmd
}

// weirBackfill returns the benchmark's weir side: the Ethereum indexer backfilling
// from..to into fresh topics (created before the clock starts), with a progress line
// every few seconds.
func weirBackfill(brokers []string, base ethereum.Config, progress io.Writer, logger *slog.Logger) ingestbench.Backfill {
	return func(ctx context.Context, url string, chainID, from, to uint64) (ingestbench.Result, error) {
		prefix := fmt.Sprintf("bench-%d.", time.Now().UnixNano())
		if err := createChainTopics(ctx, brokers, prefix); err != nil {
			return ingestbench.Result{}, err
		}
		cfg := base
		cfg.Name, cfg.RPCURL, cfg.ChainID, cfg.Brokers = "bench", url, chainID, brokers
		cfg.Topics = ethereum.DefaultTopics().WithPrefix(prefix)
		cfg.StartBlock, cfg.StopBlock = from, to
		cfg.Logger = logger
		ix, err := ethereum.New(cfg)
		if err != nil {
			return ingestbench.Result{}, err
		}
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- ix.Run(ctx) }()
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for {
			select {
			case err := <-done:
				c := ix.Committed()
				return ingestbench.Result{Blocks: c.Blocks, Logs: c.Logs, Elapsed: time.Since(start)}, err
			case <-tick.C:
				c := ix.Committed()
				fmt.Fprintf(progress, "  weir: %d/%d blocks, %d records committed (%.0f blocks/s)\n",
					c.Blocks, to-from+1, c.Records, float64(c.Blocks)/time.Since(start).Seconds())
			}
		}
	}
}

// createChainTopics creates the catalogue's chain topics under prefix.
func createChainTopics(ctx context.Context, brokers []string, prefix string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	var chain []catalog.Topic
	for _, t := range catalog.All() {
		if strings.HasPrefix(t.Name, "chain.") {
			chain = append(chain, t)
		}
	}
	_, err = catalog.Apply(ctx, kadm.NewClient(cl), catalog.WithPrefix(prefix, chain))
	return err
}
