package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirhq/weir/bench/streambench"
	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/internal/embedded"
)

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure weir on this machine (the benchmark harness)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchRuntimeCmd(g), newBenchIngestCmd(g), newBenchSinksCmd(g), newBenchGatewayCmd(g),
		newBenchSignerCmd(g), newBenchRiskCmd(g))
	return cmd
}

// benchBrokers returns the brokers of a benchmark and says what they are: with
// embeddedBroker an in-process broker persisted under dir (stopped by the returned
// func), otherwise --brokers, else WEIR_KAFKA_BROKERS.
func benchBrokers(cmd *cobra.Command, embeddedBroker bool, dir string) ([]string, string, func(), error) {
	if embeddedBroker {
		b, err := embedded.Start(embedded.Options{DataDir: filepath.Join(dir, "broker"), Addr: "127.0.0.1:0"})
		if err != nil {
			return nil, "", nil, err
		}
		stop := func() { _ = b.Close(context.WithoutCancel(cmd.Context())) }
		return []string{b.Addr()}, "the embedded broker " + b.Addr(), stop, nil
	}
	cfg, err := config.Load(config.Sources{LookupEnv: os.LookupEnv, Flags: cmd.Flags()})
	if err != nil {
		return nil, "", nil, err
	}
	if err := cfg.Kafka.Validate(); err != nil {
		return nil, "", nil, err
	}
	return cfg.Kafka.Brokers, fmt.Sprintf("Kafka at %v", cfg.Kafka.Brokers), func() {}, nil
}

// benchSession is what every benchmark command starts with: a temporary directory,
// the brokers (benchBrokers), and with cpuProfile a CPU profile of the run. Close ends
// them in reverse order.
type benchSession struct {
	// Dir is the temporary directory, removed by Close.
	Dir string
	// Brokers are the brokers to benchmark on; Where says what they are.
	Brokers []string
	Where   string
	closers []func()
}

func newBenchSession(cmd *cobra.Command, embeddedBroker bool, cpuProfile string) (*benchSession, error) {
	dir, err := os.MkdirTemp("", "weir-bench-")
	if err != nil {
		return nil, err
	}
	s := &benchSession{Dir: dir, closers: []func(){func() { os.RemoveAll(dir) }}}
	brokers, where, closeBroker, err := benchBrokers(cmd, embeddedBroker, dir)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Brokers, s.Where = brokers, where
	s.closers = append(s.closers, closeBroker)
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			s.Close()
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			s.Close()
			return nil, err
		}
		s.closers = append(s.closers, func() { pprof.StopCPUProfile(); f.Close() })
	}
	return s, nil
}

// Close stops the profile, the embedded broker and removes the directory.
func (s *benchSession) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// benchRuntimeOptions are the flags of `weir bench runtime` besides --brokers.
type benchRuntimeOptions struct {
	// embedded is --embedded: run on an in-process broker instead of --brokers.
	// Default false.
	embedded bool
	// cpuProfile is --cpuprofile: write a CPU profile of the run to this file.
	// Default "" (none).
	cpuProfile string
	// memProfile is --memprofile: write an allocation profile of the run to this file.
	// Default "" (none).
	memProfile string
	// run holds the benchmark's own knobs; zero fields take streambench's defaults.
	run streambench.Options
}

func newBenchRuntimeCmd(g *globals) *cobra.Command {
	opts := benchRuntimeOptions{}
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "Pass-through vs the stateful exactly-once processor, on one broker",
		Long: `Measure, in one run on the same broker, a pass-through consumer→producer (no state,
no transactions) and the reference stateful processor (per-account 1-minute window
totals, Pebble state, exactly-once via Kafka transactions) draining the same number
of records of the same size; then feed the stateful processor at a fixed rate and
measure each record's end-to-end exactly-once latency: from its produce to the commit
of the transaction that carries its state change, outputs and offset. Prints progress and a summary; the last line is one JSON
object: {"passthrough_rps":…, "stateful_eos_rps":…, "ratio":…, "p50_ms":…, "p99_ms":…, …}.

The brokers come from --brokers, else WEIR_KAFKA_BROKERS (deploy/local/stack.env);
--embedded uses an in-process broker instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			sess, err := newBenchSession(cmd, opts.embedded, opts.cpuProfile)
			if err != nil {
				return err
			}
			defer sess.Close()
			o := opts.run
			o.StateDir = filepath.Join(sess.Dir, "state")
			o.Progress = out
			o.Brokers = sess.Brokers
			fmt.Fprintf(out, "weir bench runtime on %s\n", sess.Where)
			if opts.memProfile != "" {
				runtime.MemProfileRate = 64 << 10
			}
			res, err := streambench.Run(ctx, o)
			if err != nil {
				return err
			}
			if opts.memProfile != "" {
				f, err := os.Create(opts.memProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
					return err
				}
			}
			return printBenchRuntime(out, res)
		},
	}
	f := cmd.Flags()
	config.AddFlags(f, config.FlagBrokers)
	f.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.StringVar(&opts.memProfile, "memprofile", "", "write an allocation profile of the run to this file")
	f.BoolVar(&opts.embedded, "embedded", false, "use an in-process broker instead of --brokers")
	f.IntVar(&opts.run.Records, "records", 500000, "records drained by each throughput phase")
	f.IntVar(&opts.run.Repetitions, "repetitions", 3, "runs of both throughput phases, on fresh topics; rates are the medians")
	f.IntVar(&opts.run.RecordSize, "record-size", 200, "bytes per record value")
	f.Int32Var(&opts.run.Partitions, "partitions", 6, "partitions of the benchmark topics")
	f.IntVar(&opts.run.Accounts, "accounts", 10000, "distinct record keys (accounts)")
	f.DurationVar(&opts.run.CommitInterval, "commit-interval", 100*time.Millisecond, "transaction commit interval of the stateful processor")
	f.IntVar(&opts.run.LatencyRate, "latency-rate", 2000, "records per second fed in the latency phase")
	f.DurationVar(&opts.run.LatencyDuration, "latency-duration", 10*time.Second, "length of the latency phase")
	return cmd
}

func rates(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, ", ")
}

func printBenchRuntime(out io.Writer, r streambench.Result) error {
	goalRatio := r.Ratio >= 0.40
	goalP99 := r.P99Ms < 2*r.CommitIntervalMs
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(out, "\n%d records of %d bytes, %d partitions, commit interval %vms; median of %d repetitions\n",
		r.Records, r.RecordSize, r.Partitions, r.CommitIntervalMs, r.Repetitions)
	fmt.Fprintf(out, "  pass-through          %10.0f records/s  (runs: %s)\n", r.PassthroughRPS, rates(r.PassthroughRuns))
	fmt.Fprintf(out, "  stateful exactly-once %10.0f records/s  (runs: %s)\n", r.StatefulEOSRPS, rates(r.StatefulEOSRuns))
	fmt.Fprintf(out, "  ratio                 %10.2f   goal ≥ 0.40: %s\n", r.Ratio, verdict(goalRatio))
	fmt.Fprintf(out, "  latency p50 / p99     %7.1f / %.1f ms over %d records   goal p99 < %vms: %s\n",
		r.P50Ms, r.P99Ms, r.LatencySamples, 2*r.CommitIntervalMs, verdict(goalP99))
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}
