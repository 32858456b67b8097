package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/sinks"
	"github.com/weirhq/weir/sinks/bleve"
	"github.com/weirhq/weir/sinks/clickhouse"
	"github.com/weirhq/weir/sinks/elasticsearch"
	"github.com/weirhq/weir/sinks/parquet"
)

// The dev sinks and where they keep their data under --data.
const (
	sinkArchive = "sink-archive" // Parquet files, queried with DuckDB (weir sql)
	sinkSearch  = "sink-search"  // a Bleve index (weir search)
	archiveDir  = "archive"
	searchDir   = "search"
)

// devSinkComponents returns the sinks of `weir dev`: the Parquet archive, which is the
// dev mode's analytics store, and the Bleve index, its audit search.
func devSinkComponents(env devEnv) []Component {
	metrics := sinks.NewMetrics(env.Registry)
	opts := func(name string) sinks.Options {
		return sinks.Options{Brokers: env.Brokers, Metrics: metrics, Logger: env.Logger.With("component", name)}
	}
	archive := func(ctx context.Context) (sinks.Writer, func(), error) {
		w, err := parquet.Open(ctx, parquet.Options{Dir: filepath.Join(env.DataDir, archiveDir)})
		if err != nil {
			return nil, nil, err
		}
		return w, func() { _ = w.Close() }, nil
	}
	search := func(ctx context.Context) (sinks.Writer, func(), error) {
		w, err := bleve.Open(ctx, bleve.Options{Dir: filepath.Join(env.DataDir, searchDir)})
		if err != nil {
			return nil, nil, err
		}
		return w, func() { _ = w.Close() }, nil
	}
	return []Component{
		sinks.NewComponent(sinkArchive, archive, opts(sinkArchive)),
		&archiveCompactor{dir: filepath.Join(env.DataDir, archiveDir), every: 10 * time.Minute,
			log: env.Logger.With("component", "archive-compactor")},
		sinks.NewComponent(sinkSearch, search, opts(sinkSearch)),
	}
}

// archiveCompactor merges the archive's small files (one per poll, topic, partition
// and day) into large ones, every so often: DuckDB reads a few large files much faster
// than thousands of small ones. Compaction is crash-safe and may run while the archive
// sink writes (see parquet.Compact).
type archiveCompactor struct {
	dir   string
	every time.Duration
	log   *slog.Logger
}

func (c *archiveCompactor) Name() string { return "archive-compactor" }

func (c *archiveCompactor) Describe() string {
	return fmt.Sprintf("merges the small files of %s every %s", c.dir, c.every)
}

func (c *archiveCompactor) Run(ctx context.Context) error {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st, err := parquet.Compact(ctx, c.dir, parquet.CompactOptions{})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			c.log.Error("compaction failed; will try again", "err", err)
		case st.Merged > 0:
			c.log.Info("archive compacted", "merged_files", st.Merged, "inputs", st.Inputs, "leftovers", st.Leftovers)
		}
	}
}

// Sink component names, as `weir run` knows them.
const (
	sinkClickHouse    = "sink-clickhouse"
	sinkElasticsearch = "sink-elasticsearch"
)

// sinkComponents returns the factories of the sinks for `weir run`. Each applies its
// store's migrations (ClickHouse tables and views, Elasticsearch templates) when it
// starts; both are idempotent.
func sinkComponents(cfg config.Config, reg prometheus.Registerer, logger *slog.Logger) map[string]componentFactory {
	metrics := sinks.NewMetrics(reg)
	opts := func(name string) sinks.Options {
		return sinks.Options{Brokers: cfg.Kafka.Brokers, Metrics: metrics, Logger: logger.With("component", name)}
	}
	return map[string]componentFactory{
		sinkClickHouse: func() (Component, error) {
			return sinks.NewComponent(sinkClickHouse, openClickHouse(cfg), opts(sinkClickHouse)), nil
		},
		sinkElasticsearch: func() (Component, error) {
			return sinks.NewComponent(sinkElasticsearch, openElasticsearch(cfg), opts(sinkElasticsearch)), nil
		},
		// The archive lives under the state directory: <state_dir>/archive.
		sinkArchive: func() (Component, error) {
			dir := filepath.Join(cfg.StateDir, archiveDir)
			open := func(ctx context.Context) (sinks.Writer, func(), error) {
				w, err := parquet.Open(ctx, parquet.Options{Dir: dir})
				if err != nil {
					return nil, nil, err
				}
				return w, func() { _ = w.Close() }, nil
			}
			return sinks.NewComponent(sinkArchive, open, opts(sinkArchive)), nil
		},
		"archive-compactor": func() (Component, error) {
			return &archiveCompactor{dir: filepath.Join(cfg.StateDir, archiveDir), every: 10 * time.Minute,
				log: logger.With("component", "archive-compactor")}, nil
		},
	}
}

func clickHouseOptions(cfg config.Config) clickhouse.Options {
	return clickhouse.Options{Addr: cfg.ClickHouse.Addr}
}

func elasticsearchOptions(cfg config.Config) elasticsearch.Options {
	return elasticsearch.Options{URL: cfg.Elasticsearch.URL}
}

func openClickHouse(cfg config.Config) sinks.Opener {
	return func(ctx context.Context) (sinks.Writer, func(), error) {
		if _, err := clickhouse.Migrate(ctx, clickHouseOptions(cfg)); err != nil {
			return nil, nil, err
		}
		w, err := clickhouse.Open(ctx, clickHouseOptions(cfg))
		if err != nil {
			return nil, nil, err
		}
		return w, func() { _ = w.Close() }, nil
	}
}

func openElasticsearch(cfg config.Config) sinks.Opener {
	return func(ctx context.Context) (sinks.Writer, func(), error) {
		w, err := elasticsearch.Open(ctx, elasticsearchOptions(cfg))
		if err != nil {
			return nil, nil, err
		}
		if err := w.EnsureTemplates(ctx); err != nil {
			_ = w.Close(context.WithoutCancel(ctx))
			return nil, nil, err
		}
		return w, func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = w.Close(cctx)
		}, nil
	}
}
