package sinkbench

import (
	"io"
	"log/slog"
	"time"

	"github.com/weirhq/weir/sinks/clickhouse"
	"github.com/weirhq/weir/sinks/elasticsearch"
)

// Options configures a run. Zero fields take the defaults stated on each.
type Options struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// ClickHouseAddr is host:port of ClickHouse's native protocol. Default
	// clickhouse.DefaultAddr ("127.0.0.1:9000").
	ClickHouseAddr string
	// ElasticsearchURL is the base URL of Elasticsearch. Default
	// elasticsearch.DefaultURL ("http://127.0.0.1:9200").
	ElasticsearchURL string
	// Records is the number of chain.transfers records loaded into each store by each
	// path. Default 1,000,000.
	Records int
	// Seed makes the generated records; the same seed gives the same records. Default 1.
	Seed uint64
	// Partitions is the partition count of the topic. Default 12, the catalogue's
	// count for chain.transfers.
	Partitions int32
	// Batch is the sink's MaxBatch (records per Write) and the raw ClickHouse path's
	// rows per INSERT. Default 20,000, the sink's default.
	Batch int
	// SkipClickHouse and SkipElasticsearch leave a store out; its figures are then 0.
	SkipClickHouse, SkipElasticsearch bool
	// Compare, after the raw path of each store, checks that both paths stored the
	// same data: in ClickHouse every row of the sink's table equals the raw table's row
	// of the same event id in every column but _ingested_at (a join: memory-hungry on
	// big runs); in Elasticsearch the _source of 200 documents spread over the run are
	// equal. Default false.
	Compare bool
	// QuietWait bounds the wait for ClickHouse's merges to finish before each timed
	// phase. Default 1 minute.
	QuietWait time.Duration
	// Progress receives one line per step and a progress line every few seconds while
	// loading. Default: discarded.
	Progress io.Writer
	// Logger receives the sinks' logs. Default: discarded.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.ClickHouseAddr == "" {
		o.ClickHouseAddr = clickhouse.DefaultAddr
	}
	if o.ElasticsearchURL == "" {
		o.ElasticsearchURL = elasticsearch.DefaultURL
	}
	if o.Records <= 0 {
		o.Records = 1_000_000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Partitions <= 0 {
		o.Partitions = 12
	}
	if o.Batch <= 0 {
		o.Batch = 20_000
	}
	if o.QuietWait <= 0 {
		o.QuietWait = time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Result is what a run measured. Its JSON form (the six rates and ratios only) is the
// benchmark's last output line; the figures of a skipped store are 0.
type Result struct {
	ClickHouseRowsPerS    float64 `json:"clickhouse_rows_per_s"`
	ClickHouseRawRowsPerS float64 `json:"clickhouse_raw_rows_per_s"`
	ClickHouseRatio       float64 `json:"clickhouse_ratio"`
	ESDocsPerS            float64 `json:"es_docs_per_s"`
	ESRawDocsPerS         float64 `json:"es_raw_docs_per_s"`
	ESRatio               float64 `json:"es_ratio"`

	// Records is the number of records each path loaded.
	Records int `json:"-"`
	// Batch is the records per Write of the sinks and per INSERT of raw ClickHouse.
	Batch int `json:"-"`
	// The time each path took; 0 when skipped.
	ClickHouseSink, ClickHouseRaw time.Duration `json:"-"`
	ESSink, ESRaw                 time.Duration `json:"-"`
}
