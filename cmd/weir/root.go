package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// globals holds the flags every subcommand shares.
type globals struct {
	// logLevel is --log-level: debug, info, warn or error. Default info.
	logLevel string
}

// logger returns the process logger: text to w at the chosen level.
func (g *globals) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// newRootCmd builds the weir command tree. Every subcommand is wired here, explicitly.
func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "weir",
		Short: "weir: stream processing for wallets and payments",
		Long: strings.TrimSpace(`
weir moves on-chain transfers and merchant payments through Kafka topics into
stateful processors (reconcile, features, score, settle, ledger) and on to
ClickHouse and Elasticsearch.

  weir dev                    everything in one process, embedded broker, state in ./.weir
  weir run COMPONENT          one component against the real servers (cluster mode)
  weir topics apply           create or update the topic catalogue on a cluster
  weir gateway create-merchant  register a merchant of the payment gateway
  weir keys create|list       the signer's keys, through its API`),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error (logs go to stderr)")

	root.AddCommand(
		newDevCmd(g),
		newRunCmd(g),
		newTopicsCmd(g),
		newVersionCmd(),
		newBenchCmd(g),
		newSinksCmd(g),
		newSQLCmd(g),
		newSearchCmd(g),
		newGatewayCmd(g),
		newKeysCmd(g),
		newAlertsCmd(g),
	)
	return root
}
