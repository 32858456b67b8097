package main

import (
	"context"
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
		sinks.NewComponent(sinkSearch, search, opts(sinkSearch)),
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
