package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/internal/telemetry"
)

func newRunCmd(g *globals) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "run COMPONENT",
		Short: "Run one component against the real servers (cluster mode)",
		Long: `Run one component against the real servers (Kafka, ClickHouse, Elasticsearch,
Redis, an Ethereum node), serving /metrics and /healthz on the configured address,
until SIGTERM or Ctrl-C. Configuration: defaults, then the WEIR_* environment, then
--config, then flags.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg, err := config.Load(config.Sources{LookupEnv: os.LookupEnv, File: configFile, Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			return runCluster(cmd.Context(), args[0], cfg, clusterComponents, cmd.OutOrStdout(), logger)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML config file (see internal/config)")
	config.AddFlags(cmd.Flags())
	return cmd
}

// runCluster is `weir run NAME`: it builds the component called name from the factories
// that components returns, starts telemetry and the component, prints where they run to
// out, and blocks until ctx is done or the component fails; then it stops the component
// and the telemetry server, each within cfg.ShutdownTimeout. cfg must be valid.
func runCluster(ctx context.Context, name string, cfg config.Config,
	components func(config.Config, clusterEnv) map[string]componentFactory, out io.Writer, logger *slog.Logger,
) error {
	reg := prometheus.NewRegistry()
	factories := components(cfg, clusterEnv{Registry: reg, Logger: logger})
	factory, ok := factories[name]
	if !ok {
		known := slices.Sorted(maps.Keys(factories))
		if len(known) == 0 {
			return fmt.Errorf("unknown component %q: this build has no components yet", name)
		}
		return fmt.Errorf("unknown component %q; known components: %s", name, strings.Join(known, ", "))
	}
	comp, err := factory()
	if err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	if err := checkNames([]Component{comp}); err != nil {
		return err
	}

	// A client for the Kafka health check; it connects lazily, on the first check.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	tel, err := telemetry.New(reg, telemetry.Options{Addr: cfg.HTTP.Addr, ShutdownTimeout: cfg.ShutdownTimeout, Logger: logger})
	if err != nil {
		return err
	}
	if err := tel.AddCheck("kafka", cl.Ping); err != nil {
		return err
	}
	if ch, ok := comp.(Checker); ok {
		if err := tel.AddCheck(comp.Name(), ch.Check); err != nil {
			return err
		}
	}
	httpAddr, err := tel.Listen()
	if err != nil {
		return err
	}
	desc := ""
	if d, ok := comp.(Describer); ok {
		desc = ": " + d.Describe()
	}
	base := "http://" + displayAddr(httpAddr)
	fmt.Fprintf(out, "weir run %s%s\n  kafka       %s\n  metrics     %s/metrics\n  health      %s/healthz\n",
		comp.Name(), desc, strings.Join(cfg.Kafka.Brokers, ","), base, base)
	logger.Info("weir run", "component", comp.Name(), "brokers", cfg.Kafka.Brokers, "http", httpAddr.String())

	return runStages(ctx, cfg.ShutdownTimeout, logger,
		[]task{{name: "telemetry", run: tel.Run}},
		[]task{{name: comp.Name(), run: comp.Run}},
	)
}
