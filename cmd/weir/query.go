package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/spf13/cobra"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/sinks/bleve"
	"github.com/weirhq/weir/sinks/clickhouse"
	"github.com/weirhq/weir/sinks/elasticsearch"
	"github.com/weirhq/weir/sinks/parquet"
)

// loadConfig builds the configuration of a one-shot command: defaults, the WEIR_*
// environment, --config, flags.
func loadConfig(cmd *cobra.Command, file string) (config.Config, error) {
	return config.Load(config.Sources{LookupEnv: os.LookupEnv, File: file, Flags: cmd.Flags()})
}

func newSinksCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "sinks", Short: "Manage the stores the sinks write to", Args: cobra.NoArgs}
	var file string
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the ClickHouse schema migrations and the Elasticsearch index templates",
		Long: `Apply, in order, the ClickHouse schema migrations not yet recorded in the
weir.schema_migrations table (tables per topic, canonical views that leave out
retracted chain events, rollups), and put the Elasticsearch index templates and
aliases. Both are idempotent: a second run changes nothing. The sinks also do this when
they start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			cfg, err := loadConfig(cmd, file)
			if err != nil {
				return err
			}
			out, ctx := cmd.OutOrStdout(), cmd.Context()
			applied, err := clickhouse.Migrate(ctx, clickHouseOptions(cfg))
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "clickhouse %s: %d migrations applied\n", cfg.ClickHouse.Addr, len(applied))
			for _, a := range applied {
				fmt.Fprintf(out, "  %s\n", a)
			}
			w, err := elasticsearch.Open(ctx, elasticsearchOptions(cfg))
			if err != nil {
				return err
			}
			defer w.Close(context.WithoutCancel(ctx))
			if err := w.EnsureTemplates(ctx); err != nil {
				return err
			}
			fmt.Fprintf(out, "elasticsearch %s: index templates and aliases in place\n", cfg.Elasticsearch.URL)
			return nil
		},
	}
	migrate.Flags().StringVar(&file, "config", "", "YAML config file (see internal/config)")
	config.AddFlags(migrate.Flags(), config.FlagClickHouseAddr, config.FlagElasticURL)
	cmd.AddCommand(migrate)
	return cmd
}

// queryFormats are the output formats of weir sql and weir search.
var queryFormats = []string{"table", "csv", "json"}

func checkFormat(f string) error {
	for _, ok := range queryFormats {
		if f == ok {
			return nil
		}
	}
	return fmt.Errorf("--format %q: want one of %s", f, strings.Join(queryFormats, ", "))
}

// devData returns the `weir dev` data directory to query instead of a cluster store, or
// "" for the cluster store: --data when given; otherwise ./.weir when it holds the store
// (sub) and no cluster address is configured (no --config, no flag, no env variable).
func devData(cmd *cobra.Command, file, flag, env, sub string) string {
	if f := cmd.Flags().Lookup("data"); f != nil && f.Changed {
		return f.Value.String()
	}
	if file != "" || cmd.Flags().Changed(flag) {
		return ""
	}
	if v, ok := os.LookupEnv(env); ok && v != "" {
		return ""
	}
	if st, err := os.Stat(filepath.Join(".weir", sub)); err == nil && st.IsDir() {
		return ".weir"
	}
	return ""
}

func newSQLCmd(g *globals) *cobra.Command {
	var file, format, data string
	cmd := &cobra.Command{
		Use:   `sql "SELECT …"`,
		Short: "Run an analyst's SQL query on ClickHouse and print the rows",
		Long: `Run one SQL statement on the ClickHouse of the configuration (database weir:
one table per topic, e.g. chain_transfers; <table>_canonical views without the events
of blocks a reorg retracted; rollups such as payments_volume_hourly) and print the
rows as an aligned table (default), CSV or JSON (an array of objects).

After weir dev, the same tables and views are queried with DuckDB over the Parquet
archive of its data directory: with --data DIR, or by default when ./.weir/archive
exists and no ClickHouse address is configured.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			if err := checkFormat(format); err != nil {
				return err
			}
			if dir := devData(cmd, file, config.FlagClickHouseAddr, config.EnvClickHouseAddr, archiveDir); dir != "" {
				cols, rows, err := parquet.Query(cmd.Context(), filepath.Join(dir, archiveDir), args[0])
				if err != nil {
					return err
				}
				return printRows(cmd.OutOrStdout(), format, cols, rows)
			}
			cfg, err := loadConfig(cmd, file)
			if err != nil {
				return err
			}
			if err := cfg.ClickHouse.Validate(); err != nil {
				return err
			}
			cols, rows, err := clickHouseQuery(cmd.Context(), cfg.ClickHouse.Addr, args[0])
			if err != nil {
				return err
			}
			return printRows(cmd.OutOrStdout(), format, cols, rows)
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML config file (see internal/config)")
	cmd.Flags().StringVar(&format, "format", "table", "output: table, csv or json")
	cmd.Flags().StringVar(&data, "data", "", "query the Parquet archive of this weir dev data directory (default ./.weir when it has one and no ClickHouse is configured)")
	config.AddFlags(cmd.Flags(), config.FlagClickHouseAddr)
	return cmd
}

// clickHouseQuery runs query in database weir and returns its columns and rows.
func clickHouseQuery(ctx context.Context, addr, query string) ([]string, [][]any, error) {
	conn, err := ch.Open(&ch.Options{Addr: []string{addr}, Protocol: ch.Native,
		Auth: ch.Auth{Database: clickhouse.DefaultDatabase, Username: clickhouse.DefaultUser}, DialTimeout: 10 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	rs, err := conn.Query(ctx, query)
	if err != nil {
		return nil, nil, fmt.Errorf("clickhouse %s: %w", addr, err)
	}
	defer rs.Close()
	types := rs.ColumnTypes()
	cols := rs.Columns()
	var rows [][]any
	for rs.Next() {
		ptrs := make([]any, len(types))
		for i, t := range types {
			ptrs[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
		}
		rows = append(rows, row)
	}
	return cols, rows, rs.Err()
}

// printRows writes rows in format: an aligned table, CSV with a header, or a JSON array
// of objects. Values print exactly: big integers and decimals as their digits, times in
// RFC 3339 with nanoseconds.
func printRows(out io.Writer, format string, cols []string, rows [][]any) error {
	switch format {
	case "csv":
		w := csv.NewWriter(out)
		if err := w.Write(cols); err != nil {
			return err
		}
		for _, r := range rows {
			rec := make([]string, len(r))
			for i, v := range r {
				rec[i] = text(v)
			}
			if err := w.Write(rec); err != nil {
				return err
			}
		}
		w.Flush()
		return w.Error()
	case "json":
		objs := make([]map[string]any, len(rows))
		for i, r := range rows {
			objs[i] = map[string]any{}
			for j, v := range r {
				objs[i][cols[j]] = jsonValue(v)
			}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(objs)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range rows {
		vals := make([]string, len(r))
		for i, v := range r {
			vals[i] = text(v)
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "(%d rows)\n", len(rows))
	return nil
}

// text formats one value exactly.
func text(v any) string {
	switch x := deref(v).(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case big.Int:
		return x.String()
	case *big.Int:
		return x.String()
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// jsonValue keeps numbers that JSON carries exactly as numbers and writes the rest as
// text.
func jsonValue(v any) any {
	switch x := deref(v).(type) {
	case nil:
		return nil
	case bool, string, int8, int16, int32, uint8, uint16, uint32:
		return x
	case int64:
		if x > -(1<<53) && x < 1<<53 {
			return x
		}
	case uint64:
		if x < 1<<53 {
			return x
		}
	case float32, float64:
		return x
	}
	return text(v)
}

// deref follows pointers (Nullable columns scan into them).
func deref(v any) any {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil
	}
	return rv.Interface()
}

func newSearchCmd(g *globals) *cobra.Command {
	var file, format, topic, data string
	var size int
	cmd := &cobra.Command{
		Use:   `search 'merchant_id:m_123 AND state:failed'`,
		Short: "Search the audit trail in Elasticsearch",
		Long: `Search every event family (or one, with --topic) in Elasticsearch with a Lucene
query string: field:value terms, AND/OR/NOT, ranges (amount.value.num:>1000), quoted
phrases. Field names are the events' protobuf names (merchant_id, state, from, to,
amount.value, meta.event_id, …). Prints the newest matches first, as a table (time,
family, event id, fields) or as JSON documents.

After weir dev, the Bleve index of its data directory is searched instead: with
--data DIR, or by default when ./.weir/search exists and no Elasticsearch address is
configured (stop weir dev first: the index is locked while it runs).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			if err := checkFormat(format); err != nil {
				return err
			}
			if format == "csv" {
				return errors.New("--format csv: weir search prints table or json")
			}
			ctx := cmd.Context()
			if dir := devData(cmd, file, config.FlagElasticURL, config.EnvElasticURL, searchDir); dir != "" {
				w, err := bleve.Open(ctx, bleve.Options{Dir: filepath.Join(dir, searchDir)})
				if err != nil {
					return err
				}
				defer w.Close()
				hits, total, err := w.Search(ctx, args[0], bleve.SearchOptions{Topic: topic, Size: size})
				if err != nil {
					return err
				}
				esHits := make([]elasticsearch.Hit, len(hits))
				for i, h := range hits {
					esHits[i] = elasticsearch.Hit{Index: h.Index, ID: h.ID, Source: h.Source}
				}
				return printHits(cmd.OutOrStdout(), format, esHits, int64(total))
			}
			cfg, err := loadConfig(cmd, file)
			if err != nil {
				return err
			}
			w, err := elasticsearch.Open(ctx, elasticsearchOptions(cfg))
			if err != nil {
				return err
			}
			defer w.Close(context.WithoutCancel(ctx))
			hits, total, err := w.Search(ctx, args[0], elasticsearch.SearchOptions{Topic: topic, Size: size})
			if err != nil {
				return err
			}
			return printHits(cmd.OutOrStdout(), format, hits, total)
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML config file (see internal/config)")
	cmd.Flags().StringVar(&format, "format", "table", "output: table or json")
	cmd.Flags().StringVar(&topic, "topic", "", "search one family, e.g. payments.intents (default: all)")
	cmd.Flags().IntVar(&size, "size", 20, "how many matches to print")
	cmd.Flags().StringVar(&data, "data", "", "search the Bleve index of this weir dev data directory (default ./.weir when it has one and no Elasticsearch is configured)")
	config.AddFlags(cmd.Flags(), config.FlagElasticURL)
	return cmd
}

// printHits prints search hits: a table of time, family, id and the event's own fields,
// or the documents as a JSON array.
func printHits(out io.Writer, format string, hits []elasticsearch.Hit, total int64) error {
	if format == "json" {
		docs := make([]json.RawMessage, len(hits))
		for i, h := range hits {
			docs[i] = h.Source
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(docs)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "time\tfamily\tevent id\tfields")
	for _, h := range hits {
		var doc map[string]any
		if err := json.Unmarshal(h.Source, &doc); err != nil {
			return err
		}
		meta, _ := doc["meta"].(map[string]any)
		fmt.Fprintf(tw, "%v\t%v\t%v\t%s\n", meta["event_time"], doc["topic"], h.ID, summary(doc))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "(%d of %d matches)\n", len(hits), total)
	return nil
}

// summary is a one-line digest of a search document for the table: its top-level
// fields as key=value in name order, amounts as "value asset", leaving out the
// bookkeeping fields, cut at 200 characters.
func summary(doc map[string]any) string {
	keys := make([]string, 0, len(doc))
	for k := range doc {
		switch k {
		case "meta", "topic", "partition", "offset", "event_type", "retracted":
		default:
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		switch v := doc[k].(type) {
		case map[string]any:
			if val, ok := v["value"]; ok {
				parts = append(parts, fmt.Sprintf("%s=%v %v", k, val, v["asset"]))
			} else if n, ok := v["number"]; ok {
				parts = append(parts, fmt.Sprintf("%s=#%v", k, n))
			}
		case []any:
			parts = append(parts, fmt.Sprintf("%s=[%d]", k, len(v)))
		case nil:
		default:
			if str := fmt.Sprint(v); str != "" {
				parts = append(parts, k+"="+str)
			}
		}
	}
	out := strings.Join(parts, " ")
	if len(out) > 200 {
		out = out[:197] + "..."
	}
	return out
}
