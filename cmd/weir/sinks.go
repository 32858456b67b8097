package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/sinks"
	"github.com/weirhq/weir/sinks/clickhouse"
	"github.com/weirhq/weir/sinks/elasticsearch"
)

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
