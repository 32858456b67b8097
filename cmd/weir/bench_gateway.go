package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirhq/weir/bench/gatewaybench"
	"github.com/weirhq/weir/internal/config"
)

// benchGatewayOptions are the flags of `weir bench gateway` besides the servers'
// addresses.
type benchGatewayOptions struct {
	// cpuProfile is --cpuprofile: write a CPU profile of the run to this file; samples
	// carry the label server=full, bare or loadgen. Default "" (none).
	cpuProfile string
	// run holds the benchmark's own knobs; zero fields take gatewaybench's defaults.
	run gatewaybench.Options
}

func newBenchGatewayCmd(g *globals) *cobra.Command {
	opts := benchGatewayOptions{}
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "The gateway's create-intent path vs a bare handler that only produces the same record",
		Long: `Drive POST /v1/payment_intents over loopback with a closed-loop Go load generator
(--connections persistent connections, each sending its next request when the previous
answer is read, every request with a unique Idempotency-Key) against the real gateway
(gateway.NewServer on the real Kafka and Redis: API key, rate limit, idempotency,
deposit address, produce with acks=all, projection) and, in the same run, against a
bare handler that only produces the same IntentTransition record to the same topic
with the same kind of client. Each repetition runs both, alternating which goes first;
each run is warmed up, then measured for --duration. Any non-2xx answer is an error;
more than 0.1% fails the run. Topics and Redis keys are the run's own and deleted at the
end.

Prints progress and a summary; the last line is one JSON object:
{"rps":…, "bare_rps":…, "ratio":…, "p99_ms":…} (medians over the repetitions; ratio =
rps / bare_rps; p99_ms is the gateway's). The goal is a ratio of at least 0.70 with p99
under 20 ms.

The brokers come from --brokers, else WEIR_KAFKA_BROKERS; Redis from --redis-addr, else
WEIR_REDIS_ADDR (deploy/local/stack.env).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			cfg, err := config.Load(config.Sources{LookupEnv: os.LookupEnv, Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			if err := cfg.Redis.Validate(); err != nil {
				return err
			}
			sess, err := newBenchSession(cmd, false, opts.cpuProfile)
			if err != nil {
				return err
			}
			defer sess.Close()
			o := opts.run
			o.Brokers, o.RedisAddr = sess.Brokers, cfg.Redis.Addr
			o.Progress, o.Logger = out, logger
			fmt.Fprintf(out, "weir bench gateway: %s, Redis at %s\n", sess.Where, o.RedisAddr)
			res, err := gatewaybench.Run(ctx, o)
			if err != nil {
				return err
			}
			return printBenchGateway(out, res)
		},
	}
	f := cmd.Flags()
	config.AddFlags(f, config.FlagBrokers, config.FlagRedisAddr)
	f.IntVar(&opts.run.Connections, "connections", 64, "persistent connections (closed-loop clients) driving each server")
	f.DurationVar(&opts.run.Duration, "duration", 10*time.Second, "measured length of each run")
	f.DurationVar(&opts.run.Warmup, "warmup", 2*time.Second, "unmeasured load before each run")
	f.IntVar(&opts.run.Repetitions, "repetitions", 3, "runs of both servers; rates and p99 are the medians")
	f.Int32Var(&opts.run.Partitions, "partitions", 12, "partitions of the benchmark topics")
	f.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (samples labelled server=full|bare|loadgen)")
	return cmd
}

func printBenchGateway(out io.Writer, r gatewaybench.Result) error {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	runs := func(rs []gatewaybench.RunStats) string {
		xs := make([]float64, len(rs))
		for i, x := range rs {
			xs[i] = x.RPS
		}
		return rates(xs)
	}
	fmt.Fprintf(out, "\ncreate intent, %d connections, %v warm-up + %v measured per run; median of %d repetitions\n",
		r.Connections, r.Warmup, r.Duration, r.Repetitions)
	fmt.Fprintf(out, "  bare (produce only)  %8.0f req/s  p50 %6.1f ms  p99 %6.1f ms  (runs: %s)\n", r.BareRPS, r.BareP50Ms, r.BareP99Ms, runs(r.Bare))
	fmt.Fprintf(out, "  gateway              %8.0f req/s  p50 %6.1f ms  p99 %6.1f ms  (runs: %s)\n", r.RPS, r.P50Ms, r.P99Ms, runs(r.Full))
	fmt.Fprintf(out, "  ratio                %8.2f   goal ≥ 0.70: %s\n", r.Ratio, verdict(r.Ratio >= 0.70))
	fmt.Fprintf(out, "  gateway p99          %8.1f ms  goal < 20 ms: %s\n", r.P99Ms, verdict(r.P99Ms < 20))
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}
