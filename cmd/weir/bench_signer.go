package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirhq/weir/bench/signerbench"
	"github.com/weirhq/weir/internal/config"
)

// benchSignerOptions are the flags of `weir bench signer` besides --brokers.
type benchSignerOptions struct {
	// cpuProfile is --cpuprofile: write a CPU profile of the run to this file. Default
	// "" (none).
	cpuProfile string
	// run holds the benchmark's own knobs; zero fields take signerbench's defaults.
	run signerbench.Options
}

func newBenchSignerCmd(g *globals) *cobra.Command {
	opts := benchSignerOptions{}
	cmd := &cobra.Command{
		Use:   "signer",
		Short: "Signatures per second through the signer (policy, nonce, audit events) vs raw crypto.Sign",
		Long: `Sign EIP-1559 transfers through the signer's POST /v1/sign/transaction handler, in
process (signer.Service.Open: the wiring ` + "`weir run signer`" + ` serves, minus the TCP loopback),
with --workers closed-loop workers over --keys keystore keys on --chains chains: each
request is authenticated, decoded, judged by a published policy (its usage recorded,
fsynced), given a nonce (reserved and recorded by the double-sign guard, fsynced, and
logged under its request id, fsynced), signed, and answered only after its
SigningRequest, SignedTransaction and AuditRecord are acknowledged by Kafka (acks=all).
Then, in the same run and with as many workers, go-ethereum's crypto.Sign alone. The
keystore keys are decrypted once and held in memory: scrypt never runs per signature.
Any non-200 answer is an error; more than 0.1% fails the run. The run's topics are
deleted at the end.

Progress goes to stderr; the summary and, on the last line, one JSON object go to
stdout: {"signs_per_s":…, "raw_signs_per_s":…, "ratio":…, "p99_ms":…} (ratio =
signs_per_s / raw_signs_per_s). The goal is a ratio of at least 0.80.

The brokers come from --brokers, else WEIR_KAFKA_BROKERS (deploy/local/stack.env).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			sess, err := newBenchSession(cmd, false, opts.cpuProfile)
			if err != nil {
				return err
			}
			defer sess.Close()
			o := opts.run
			o.Brokers, o.Dir = sess.Brokers, sess.Dir
			o.Progress, o.Logger = cmd.ErrOrStderr(), logger
			fmt.Fprintf(cmd.ErrOrStderr(), "weir bench signer: %s\n", sess.Where)
			res, err := signerbench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printBenchSigner(out, res)
		},
	}
	f := cmd.Flags()
	config.AddFlags(f, config.FlagBrokers)
	f.IntVar(&opts.run.Workers, "workers", 32, "concurrent closed-loop workers of each path")
	f.IntVar(&opts.run.Keys, "keys", 8, "keystore keys the signer signs with")
	f.IntVar(&opts.run.Chains, "chains", 2, "chains each key signs on (nonce sequences = keys × chains)")
	f.DurationVar(&opts.run.Duration, "duration", 10*time.Second, "measured length of each path")
	f.DurationVar(&opts.run.Warmup, "warmup", 2*time.Second, "unmeasured load before each path")
	f.Int32Var(&opts.run.Partitions, "partitions", 3, "partitions of the run's topics")
	f.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	return cmd
}

func printBenchSigner(out io.Writer, r signerbench.Result) error {
	verdict := "NOT met"
	if r.Ratio >= 0.80 {
		verdict = "met"
	}
	fmt.Fprintf(out, "\nEIP-1559 transfers, %d workers, %d keys × %d chains, %v warm-up + %v measured\n",
		r.Workers, r.Keys, r.Chains, r.Warmup, r.Duration)
	fmt.Fprintf(out, "  raw crypto.Sign  %9.0f signs/s\n", r.RawSignsPerS)
	fmt.Fprintf(out, "  signer           %9.0f signs/s  p50 %6.2f ms  p99 %6.2f ms  (%d ok, %d errors)\n",
		r.SignsPerS, r.P50Ms, r.P99Ms, r.Signed, r.Errors)
	fmt.Fprintf(out, "  ratio            %9.2f   goal ≥ 0.80: %s\n", r.Ratio, verdict)
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}
