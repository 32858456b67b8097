package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/processors/alerts"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// Environment of `weir run alerts-webhook`.
const (
	// envAlertsWebhookURLs lists the webhook URLs, comma-separated. They are secrets.
	envAlertsWebhookURLs = "WEIR_ALERTS_WEBHOOK_URLS"
	// envAlertsMinSeverity is the least severity posted (low, medium, high, critical);
	// default high.
	envAlertsMinSeverity = "WEIR_ALERTS_MIN_SEVERITY"
)

// Defaults of `weir alerts` without --follow.
const (
	defaultAlertsSince = 24 * time.Hour
	defaultAlertsLimit = 100
)

// alertsOptions are the flags of `weir alerts`.
type alertsOptions struct {
	topic         string
	follow        bool
	fromBeginning bool
	since         time.Duration
	minSeverity   string
	entity        string
	json          bool
	limit         int
}

func newAlertsCmd(g *globals) *cobra.Command {
	var o alertsOptions
	var file string
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Print the risk team's alerts, or follow them live (--follow)",
		Long: `Print the alerts of risk.alerts (weir.risk.v1.RiskAlert, raised by the alerts
processor), one line each: event time, severity, entity, rule, reason codes, alert
version and summary; with --json, one JSON object per line (protobuf field names).
Only committed alerts are read (read_committed).

Without --follow it prints the alerts of the last 24 hours (or --since, or
--from-beginning), at most --limit of the most recent, oldest first, and exits. With
--follow it prints alerts as they are raised, from now on (or from --since, or
--from-beginning), until Ctrl-C. Brokers come from the configuration: --brokers,
--config, or WEIR_KAFKA_BROKERS.`,
		Example: `  weir alerts
  weir alerts --follow --min-severity high
  weir alerts --since 1h --entity 1:0xabc… --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			cfg, err := loadConfig(cmd, file)
			if err != nil {
				return err
			}
			if err := cfg.Kafka.Validate(); err != nil {
				return err
			}
			return runAlerts(cmd.Context(), cfg.Kafka.Brokers, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", alerts.DefaultOutput, "alerts topic")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing alerts as they are raised, until Ctrl-C")
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the oldest alert the topic holds")
	f.DurationVar(&o.since, "since", 0, "start at alerts of this long ago, e.g. 1h (default: 24h without --follow, now with it)")
	f.StringVar(&o.minSeverity, "min-severity", "", "print only alerts at least this severe: low, medium, high or critical")
	f.StringVar(&o.entity, "entity", "", "print only the alerts of this entity id")
	f.BoolVar(&o.json, "json", false, "print one JSON object per alert and line")
	f.IntVar(&o.limit, "limit", defaultAlertsLimit, "without --follow, print at most this many of the most recent alerts; 0: all")
	f.StringVar(&file, "config", "", "YAML config file (see internal/config)")
	config.AddFlags(f, config.FlagBrokers)
	return cmd
}

// runAlerts reads the alerts topic as o says and prints to out; notes go to errOut. In
// follow mode it returns nil once ctx is done.
func runAlerts(ctx context.Context, brokers []string, o alertsOptions, out, errOut io.Writer) error {
	var minSev riskv1.Severity
	if o.minSeverity != "" {
		s, err := alerts.ParseSeverity(o.minSeverity)
		if err != nil {
			return fmt.Errorf("--min-severity: %w", err)
		}
		minSev = s
	}
	switch {
	case o.fromBeginning && o.since != 0:
		return errors.New("--from-beginning and --since: choose one")
	case o.since < 0:
		return fmt.Errorf("--since %v: must be positive", o.since)
	case o.limit < 0:
		return fmt.Errorf("--limit %d: must not be negative", o.limit)
	}
	since := o.since
	if !o.follow && !o.fromBeginning && since == 0 {
		since = defaultAlertsSince
	}
	var cutoff time.Time
	if since > 0 {
		cutoff = time.Now().Add(-since)
	}

	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	starts, ends, err := alertOffsets(ctx, adm, o.topic, o.fromBeginning, cutoff)
	if err != nil {
		return err
	}
	from := "now"
	switch {
	case o.fromBeginning:
		from = "the beginning"
	case since > 0:
		from = cutoff.UTC().Format(time.RFC3339)
	}

	offsets := map[int32]kgo.Offset{}
	pending := map[int32]int64{} // partitions not yet read to their end (without --follow)
	for p, start := range starts {
		offsets[p] = kgo.NewOffset().At(start)
		if start < ends[p] {
			pending[p] = ends[p]
		}
	}
	if o.follow {
		fmt.Fprintf(errOut, "following %s (%d partitions) from %s; Ctrl-C to stop\n", o.topic, len(offsets), from)
	} else if len(pending) == 0 {
		fmt.Fprintf(errOut, "no alerts in %s since %s\n", o.topic, from)
		return nil
	}

	// Control records are kept so that a partition whose last records are a transaction
	// marker still reaches its end offset.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	p := &alertPrinter{out: out, json: o.json}
	var recent []*riskv1.RiskAlert // without --follow: the most recent, up to o.limit
	for o.follow || len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			if o.follow {
				return nil
			}
			return ctx.Err()
		}
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.Canceled) {
				return fmt.Errorf("read %s/%d: %w", e.Topic, e.Partition, e.Err)
			}
		}
		var err error
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
			if r.Attrs.IsControl() || err != nil || (!cutoff.IsZero() && r.Timestamp.Before(cutoff)) {
				return
			}
			var a riskv1.RiskAlert
			if derr := codec.Unmarshal(r.Value, &a); derr != nil {
				fmt.Fprintf(errOut, "skipping %s/%d@%d: %v\n", r.Topic, r.Partition, r.Offset, derr)
				return
			}
			if a.GetSeverity() < minSev || (o.entity != "" && a.GetEntityId() != o.entity) {
				return
			}
			if o.follow {
				err = p.print(&a)
				return
			}
			recent = append(recent, &a)
			if o.limit > 0 && len(recent) > 2*o.limit {
				recent = mostRecent(recent, o.limit)
			}
		})
		if err != nil {
			return err
		}
	}
	if o.limit > 0 {
		recent = mostRecent(recent, o.limit)
	} else {
		sortAlerts(recent)
	}
	for _, a := range recent {
		if err := p.print(a); err != nil {
			return err
		}
	}
	return nil
}

// alertOffsets returns, per partition of topic, where to start reading and the last
// stable offset (the end of what read_committed sees now). The start is the beginning
// with fromBeginning, the first offset at or after cutoff when it is set, else the end.
func alertOffsets(ctx context.Context, adm *kadm.Client, topic string, fromBeginning bool, cutoff time.Time) (starts, ends map[int32]int64, err error) {
	lso, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = lso.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if len(lso[topic]) == 0 {
		return nil, nil, fmt.Errorf("topic %s does not exist (apply the topic catalogue first: weir topics apply)", topic)
	}
	var first kadm.ListedOffsets
	switch {
	case fromBeginning:
		first, err = adm.ListStartOffsets(ctx, topic)
	case !cutoff.IsZero():
		first, err = adm.ListOffsetsAfterMilli(ctx, cutoff.UnixMilli(), topic)
	default:
		first = lso
	}
	if err == nil {
		err = first.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	starts, ends = map[int32]int64{}, map[int32]int64{}
	lso.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	first.Each(func(o kadm.ListedOffset) {
		// Past the last stable offset lie records of open transactions, which may
		// still commit: never start beyond it.
		starts[o.Partition] = min(o.Offset, ends[o.Partition])
	})
	return starts, ends, nil
}

// sortAlerts orders alerts by event time, then alert id and version.
func sortAlerts(as []*riskv1.RiskAlert) {
	slices.SortStableFunc(as, func(a, b *riskv1.RiskAlert) int {
		return cmp.Or(a.GetMeta().GetEventTime().AsTime().Compare(b.GetMeta().GetEventTime().AsTime()),
			cmp.Compare(a.GetAlertId(), b.GetAlertId()), cmp.Compare(a.GetVersion(), b.GetVersion()))
	})
}

// mostRecent returns the n alerts of as with the latest event times, oldest first.
func mostRecent(as []*riskv1.RiskAlert, n int) []*riskv1.RiskAlert {
	sortAlerts(as)
	if len(as) > n {
		as = slices.Clone(as[len(as)-n:])
	}
	return as
}

// alertPrinter writes alerts as lines of text or JSON.
type alertPrinter struct {
	out  io.Writer
	json bool
}

func (p *alertPrinter) print(a *riskv1.RiskAlert) error {
	var line []byte
	if p.json {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(a)
		if err != nil {
			return fmt.Errorf("encode alert %s: %w", a.GetAlertId(), err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return fmt.Errorf("encode alert %s: %w", a.GetAlertId(), err)
		}
		line = buf.Bytes()
	} else {
		line = []byte(alertLine(a))
	}
	_, err := p.out.Write(append(line, '\n'))
	return err
}

// alertLine is one alert for people: time, severity, entity, rule, reasons, version
// (and suppressed count), summary.
func alertLine(a *riskv1.RiskAlert) string {
	version := fmt.Sprintf("v%d", a.GetVersion())
	if a.GetSuppressed() > 0 {
		version += fmt.Sprintf("+%d", a.GetSuppressed())
	}
	reasons := alerts.ReasonCodes(a.GetReasons())
	if reasons == "" {
		reasons = "-"
	}
	// Control characters in ids or text would let a record rewrite the terminal.
	clean := strings.NewReplacer("\n", " ", "\r", " ", "\x1b", "?", "\t", " ").Replace
	return clean(fmt.Sprintf("%s  %-8s  %s  %s  %s  %s  %s",
		a.GetMeta().GetEventTime().AsTime().UTC().Format(time.RFC3339),
		alerts.SeverityName(a.GetSeverity()), alerts.EntityName(a), a.GetRuleId(), reasons, version,
		a.GetSummary()))
}

// addAlertsComponents adds `weir run alerts` (the processor) and `weir run
// alerts-webhook` (the Notifier; URLs from WEIR_ALERTS_WEBHOOK_URLS) to factories.
func addAlertsComponents(factories map[string]componentFactory, cfg config.Config, env clusterEnv) {
	factories[alerts.DefaultComponent] = func() (Component, error) {
		return alerts.New(alerts.Config{}, cfg.Kafka.Brokers,
			stream.WithStateDir(filepath.Join(cfg.StateDir, alerts.DefaultComponent)),
			stream.WithRegisterer(env.Registry),
			stream.WithLogger(env.Logger.With("component", alerts.DefaultComponent)))
	}
	factories[alerts.DefaultWebhookComponent] = func() (Component, error) {
		return alertsWebhook(cfg, os.LookupEnv, env)
	}
}

func alertsWebhook(cfg config.Config, lookup func(string) (string, bool), env clusterEnv) (Component, error) {
	ncfg := alerts.NotifierConfig{Brokers: cfg.Kafka.Brokers, Logger: env.Logger, Registerer: env.Registry}
	if v, _ := lookup(envAlertsWebhookURLs); v != "" {
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				ncfg.URLs = append(ncfg.URLs, u)
			}
		}
	}
	if len(ncfg.URLs) == 0 {
		return nil, fmt.Errorf("alerts webhook: no URLs: set %s", envAlertsWebhookURLs)
	}
	if v, _ := lookup(envAlertsMinSeverity); v != "" {
		s, err := alerts.ParseSeverity(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envAlertsMinSeverity, err)
		}
		ncfg.MinSeverity = s
	}
	return alerts.NewNotifier(ncfg)
}
