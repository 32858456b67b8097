package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirhq/weir/bench/sinkbench"
	"github.com/weirhq/weir/internal/config"
)

// benchSinksOptions are the flags of `weir bench sinks` besides the stores' addresses.
type benchSinksOptions struct {
	// embedded is --embedded: use an in-process broker instead of --brokers (the
	// stores are the real ones either way). Default false.
	embedded bool
	// cpuProfile is --cpuprofile: write a CPU profile of the run to this file; the
	// samples of each timed phase carry the label phase=<store>-sink or <store>-raw.
	// Default "" (none).
	cpuProfile string
	// run holds the benchmark's own knobs; zero fields take sinkbench's defaults.
	run sinkbench.Options
}

func newBenchSinksCmd(g *globals) *cobra.Command {
	opts := benchSinksOptions{}
	cmd := &cobra.Command{
		Use:   "sinks",
		Short: "The ClickHouse and Elasticsearch sinks vs the stores' own clients, on the same records",
		Long: `Produce N chain.transfers records (1,000,000 by default, generated from --seed) to a
fresh topic, then load them into ClickHouse through the sink (sinks.Run with the
clickhouse writer, from the first fetch until every offset is committed) and, in the
same run, the same rows with clickhouse-go's batch insert (PrepareBatch/Append/Send,
batches of the same size) into the same table of another fresh database; likewise into
Elasticsearch through the sink and through a plain esutil.BulkIndexer with default
settings. The raw paths read the events from memory, not from Kafka: their time is
building the rows or documents and loading them. Every path must load exactly N rows
or documents. Everything created is deleted at the end.

Prints progress and a summary; the last line is one JSON object:
{"clickhouse_rows_per_s":…, "clickhouse_raw_rows_per_s":…, "clickhouse_ratio":…,
"es_docs_per_s":…, "es_raw_docs_per_s":…, "es_ratio":…} (ratio = sink / raw; 0 for a
store left out with --skip-clickhouse or --skip-es). The goal is a ratio of at least
0.80 for both.

The brokers come from --brokers, else WEIR_KAFKA_BROKERS (deploy/local/stack.env);
--embedded uses an in-process broker instead. The stores come from --clickhouse-addr
and --elasticsearch-url, else WEIR_CLICKHOUSE_ADDR and WEIR_ELASTICSEARCH_URL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if opts.run.SkipClickHouse && opts.run.SkipElasticsearch {
				return fmt.Errorf("--skip-clickhouse and --skip-es leave nothing to measure")
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			cfg, err := config.Load(config.Sources{LookupEnv: os.LookupEnv, Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			sess, err := newBenchSession(cmd, opts.embedded, opts.cpuProfile)
			if err != nil {
				return err
			}
			defer sess.Close()
			o := opts.run
			o.Brokers, o.ClickHouseAddr, o.ElasticsearchURL = sess.Brokers, cfg.ClickHouse.Addr, cfg.Elasticsearch.URL
			o.Progress, o.Logger = out, logger
			fmt.Fprintf(out, "weir bench sinks: %s, ClickHouse at %s, Elasticsearch at %s\n", sess.Where, o.ClickHouseAddr, o.ElasticsearchURL)
			res, err := sinkbench.Run(ctx, o)
			if err != nil {
				return err
			}
			return printBenchSinks(out, res, o)
		},
	}
	f := cmd.Flags()
	config.AddFlags(f, config.FlagBrokers, config.FlagClickHouseAddr, config.FlagElasticURL)
	f.BoolVar(&opts.embedded, "embedded", false, "use an in-process broker instead of --brokers")
	f.IntVar(&opts.run.Records, "records", 1_000_000, "records loaded by each path")
	f.Uint64Var(&opts.run.Seed, "seed", 1, "seed of the generated records")
	f.Int32Var(&opts.run.Partitions, "partitions", 12, "partitions of the benchmark topic")
	f.IntVar(&opts.run.Batch, "batch", 20_000, "records per sink Write (MaxBatch) and rows per raw ClickHouse INSERT")
	f.BoolVar(&opts.run.SkipClickHouse, "skip-clickhouse", false, "leave ClickHouse out (its figures are then 0)")
	f.BoolVar(&opts.run.SkipElasticsearch, "skip-es", false, "leave Elasticsearch out (its figures are then 0)")
	f.BoolVar(&opts.run.Compare, "compare", false, "check that both paths stored equal rows and documents (a join in ClickHouse: costly on big runs)")
	f.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (samples labelled phase=<store>-sink|raw)")
	return cmd
}

func printBenchSinks(out io.Writer, r sinkbench.Result, o sinkbench.Options) error {
	verdict := func(ratio float64) string {
		if ratio >= 0.80 {
			return "goal ≥ 0.80: met"
		}
		return "goal ≥ 0.80: NOT met"
	}
	line := func(label string, n int, d time.Duration, rate float64, unit string) {
		fmt.Fprintf(out, "  %-26s %9d %-4s in %8.3fs = %9.0f %s/s\n", label, n, unit, d.Seconds(), rate, unit)
	}
	fmt.Fprintf(out, "\n%d chain.transfers records, batches of %d; sink = consume, decode, write, commit (from the first fetch);\n", r.Records, r.Batch)
	fmt.Fprintf(out, "raw = the store's client on the same events from memory (no Kafka): rows/documents built and loaded\n")
	if !o.SkipClickHouse {
		line("clickhouse sink", r.Records, r.ClickHouseSink, r.ClickHouseRowsPerS, "rows")
		line("clickhouse raw (batch)", r.Records, r.ClickHouseRaw, r.ClickHouseRawRowsPerS, "rows")
		fmt.Fprintf(out, "  %-26s %9.2f   %s\n", "clickhouse ratio", r.ClickHouseRatio, verdict(r.ClickHouseRatio))
	}
	if !o.SkipElasticsearch {
		line("elasticsearch sink", r.Records, r.ESSink, r.ESDocsPerS, "docs")
		line("elasticsearch raw (bulk)", r.Records, r.ESRaw, r.ESRawDocsPerS, "docs")
		fmt.Fprintf(out, "  %-26s %9.2f   %s\n", "elasticsearch ratio", r.ESRatio, verdict(r.ESRatio))
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}
