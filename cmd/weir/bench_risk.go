package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/bench/riskbench"
	"github.com/weirhq/weir/internal/config"
)

// benchRiskOptions are the flags of `weir bench risk` besides the servers' addresses.
type benchRiskOptions struct {
	// embedded is --embedded: use an in-process broker instead of --brokers (Redis is
	// the real one either way). Default false.
	embedded bool
	// cpuProfile is --cpuprofile. Default "" (none).
	cpuProfile string
	// export is --export DIR: generate the training traffic, run the risk pipeline over
	// it and write models/train's input (scores.jsonl, labels.jsonl) into DIR instead
	// of measuring. Default "" (measure).
	export string
	// run holds the benchmark's knobs; zero fields take riskbench's defaults.
	run riskbench.Options
}

func newBenchRiskCmd(g *globals) *cobra.Command {
	opts := benchRiskOptions{}
	cmd := &cobra.Command{
		Use:   "risk",
		Short: "Features + scoring on labelled generator traffic: throughput, latency, inference, precision/recall",
		Long: `Generate labelled traffic with the chain generator (bench/chaingen: ordinary traffic and
fraud patterns, seed --seed, --blocks blocks), index it with the real indexer into fresh
topics, then measure on the real Kafka and Redis, in one run:

  - events/s: the risk processor (features + scoring in one transaction, the online
    store's sink alongside) draining most of the transfers, pre-produced, from the
    first score to the last offset committed;
  - e2e p99: the rest fed at a fixed rate (half the throughput), from each transfer's
    append to chain.transfers to its score's append to risk.scores (LogAppendTime);
  - score p99: one feature fetch from the Redis online store plus inference
    in-process, over many entities after the run;
  - precision and recall of the alerts (processors/alerts) against the generator's
    labels, per address, on the later half of the blocks (riskbench.Evaluation);
  - the stream runtime's pass-through rate on the same broker (as weir bench runtime).

Goals: score p99 under 1 ms; events/s at least 30% of the pass-through rate.
Prints progress on stderr and a summary; the last line is one JSON object:
{"events_per_s":…, "passthrough_rps":…, "ratio":…, "e2e_p99_ms":…, "score_p99_us":…,
"precision":…, "recall":…}.

With --export DIR it measures nothing: it generates the training traffic (default seed
1, the seed the shipped model is trained on), runs the pipeline and the alerts over it
and writes models/train's input into DIR (scores.jsonl, labels.jsonl); see
models/train/default.sh.

The brokers come from --brokers, else WEIR_KAFKA_BROKERS (deploy/local/stack.env);
--embedded uses an in-process broker instead. Redis comes from --redis-addr, else
WEIR_REDIS_ADDR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			ctx := cmd.Context()
			out, progress := cmd.OutOrStdout(), cmd.ErrOrStderr()
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
			o.Brokers, o.RedisAddr, o.StateDir, o.Progress = sess.Brokers, cfg.Redis.Addr, filepath.Join(sess.Dir, "state"), progress
			if opts.export != "" {
				return exportRisk(cmd, o, opts.export, sess.Where)
			}
			fmt.Fprintf(out, "weir bench risk: %s, Redis at %s\n", sess.Where, o.RedisAddr)
			res, err := riskbench.Run(ctx, o)
			if err != nil {
				return err
			}
			return printBenchRisk(out, res)
		},
	}
	f := cmd.Flags()
	config.AddFlags(f, config.FlagBrokers, config.FlagRedisAddr)
	f.BoolVar(&opts.embedded, "embedded", false, "use an in-process broker instead of --brokers")
	f.Uint64Var(&opts.run.Traffic.Seed, "seed", 0, "generator seed (default 7 to measure, 1 with --export)")
	f.IntVar(&opts.run.Traffic.Blocks, "blocks", 0, "blocks of generated traffic (default 1200, the length the shipped model is trained on)")
	f.IntVar(&opts.run.Traffic.Rate, "rate", 0, "ordinary transactions per block (default 20)")
	f.IntVar(&opts.run.LatencyRate, "latency-rate", 0, "transfers per second fed in the latency phase (default: half the throughput)")
	f.IntVar(&opts.run.Samples, "samples", 20000, "feature fetch + inference samples")
	f.IntVar(&opts.run.Passthrough.Records, "passthrough-records", 300_000, "records of the pass-through measurement")
	f.StringVar(&opts.export, "export", "", "write models/train input (scores.jsonl, labels.jsonl) of the training traffic into this directory instead of measuring")
	f.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (samples labelled phase=generate|pipeline|fetch-score|alerts|passthrough)")
	return cmd
}

// exportRisk runs the training traffic through the pipeline and writes train.py's
// input into dir.
func exportRisk(cmd *cobra.Command, o riskbench.Options, dir, where string) error {
	ctx := cmd.Context()
	to := o.Traffic
	if to.Seed == 0 {
		to.Seed = riskbench.DefaultTrainSeed
	}
	if to.Blocks == 0 {
		to.Blocks = riskbench.DefaultBlocks
	}
	to.Brokers, to.Topics, to.Progress = o.Brokers, riskbench.Topics{Prefix: riskbench.NewPrefix("riskbench-export")}, o.Progress
	fmt.Fprintf(o.Progress, "weir bench risk --export: %s; seed %d, %d blocks\n", where, to.Seed, to.Blocks)
	// The run's topics go at the end, also when the run fails half way.
	defer func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...))
		if err == nil {
			defer cl.Close()
			err = to.Topics.Delete(context.WithoutCancel(ctx), kadm.NewClient(cl))
		}
		if err != nil {
			fmt.Fprintf(o.Progress, "deleting the export's topics: %v\n", err)
		}
	}()
	run, err := riskbench.RunLabeled(ctx, riskbench.RunOptions{Traffic: to, StateDir: o.StateDir})
	if err != nil {
		return err
	}
	scores, labels, err := riskbench.Export(ctx, o.Brokers, run.Topics, dir)
	if err != nil {
		return err
	}
	meta := map[string]any{
		"seed": to.Seed, "blocks": to.Blocks, "first_block": run.Traffic.FirstBlock, "last_block": run.Traffic.LastBlock,
		"token_asset": run.Traffic.TokenAsset, "nft_asset": run.Traffic.NFTAsset, "transfers": run.Traffic.Transfers,
		"patterns": len(run.Traffic.Patterns), "scores": scores, "labels": labels,
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "export.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(o.Progress, "wrote %d scores and %d labels to %s\n", scores, labels, dir)
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return err
}

func printBenchRisk(out io.Writer, r riskbench.Result) error {
	goal := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	l := r.Line
	fmt.Fprintf(out, "\n%d transfers of generated traffic (%d bytes each on average)\n", r.Transfers, r.RecordSize)
	fmt.Fprintf(out, "  %-34s %10.0f transfers/s (%d in %.3fs)\n", "features + scoring", l.EventsPerS, r.Throughput, r.ThroughputTime.Seconds())
	fmt.Fprintf(out, "  %-34s %10.0f records/s\n", "runtime pass-through", l.PassthroughRPS)
	fmt.Fprintf(out, "  %-34s %10.3f   goal ≥ 0.30: %s\n", "ratio", l.Ratio, goal(l.Ratio >= 0.30))
	fmt.Fprintf(out, "  %-34s %10.1f ms (p50 %.1f ms, %d transfers fed)\n", "e2e p99 transfer → score", l.E2EP99Ms, r.E2EP50Ms, r.Latency)
	fmt.Fprintf(out, "  %-34s %10.0f µs (p50 %.0f µs)   goal < 1000 µs: %s\n", "feature fetch + inference p99", l.ScoreP99Us, r.ScoreP50Us, goal(l.ScoreP99Us < 1000))
	fmt.Fprintf(out, "  %-34s %s\n", "alerts vs labels", r.Evaluation)
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}
