package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/config"
)

func newTopicsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Manage the Kafka topics of the topic catalogue",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newTopicsApplyCmd(g))
	return cmd
}

// topicsApplyOptions are the flags of `weir topics apply` besides the config flags.
type topicsApplyOptions struct {
	// configFile is --config: a YAML config file; "" means none. Default "".
	configFile string
	// timeout is --timeout: the bound on the whole apply. Default 1m.
	timeout time.Duration
}

func newTopicsApplyCmd(g *globals) *cobra.Command {
	opts := topicsApplyOptions{}
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Create or update the catalogue's topics on a Kafka cluster (idempotent)",
		Long: `Create the catalogue's topics (and their dead-letter topics) that are missing,
raise partition counts and align retention and compaction; print each change, or
"no changes". Running it again changes nothing. The brokers come from --brokers,
else the config file, else WEIR_KAFKA_BROKERS, else 127.0.0.1:9092.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			cfg, err := config.Load(config.Sources{LookupEnv: os.LookupEnv, File: opts.configFile, Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			if err := cfg.Kafka.Validate(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			return runTopicsApply(ctx, cfg.Kafka.Brokers, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.configFile, "config", "", "YAML config file (see internal/config)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", time.Minute, "bound on the whole apply")
	config.AddFlags(cmd.Flags(), config.FlagBrokers)
	return cmd
}

// runTopicsApply applies the catalogue to the cluster at brokers and prints each change
// and note to out, then a summary: "N changes (…)" or "no changes (…)".
func runTopicsApply(ctx context.Context, brokers []string, out io.Writer) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	res, err := applyCatalog(ctx, kadm.NewClient(cl))
	// Print what was done even when Apply failed half way.
	for _, c := range res.changes {
		fmt.Fprintln(out, c)
	}
	for _, n := range res.notes {
		fmt.Fprintln(out, n)
	}
	if err != nil {
		return err
	}
	if len(res.changes) == 0 {
		_, err = fmt.Fprintf(out, "no changes (%d topics in the catalogue)\n", res.total)
		return err
	}
	_, err = fmt.Fprintf(out, "%d changes (%d topics in the catalogue)\n", len(res.changes), res.total)
	return err
}
