package ethereum

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the indexer's Prometheus collectors, labelled by chain id. A nil *Metrics
// records nothing.
type Metrics struct {
	blocks   *prometheus.CounterVec
	records  *prometheus.CounterVec
	lag      *prometheus.GaugeVec
	txn      *prometheus.HistogramVec
	reorgs   *prometheus.CounterVec
	orphaned *prometheus.CounterVec
	restarts prometheus.Counter
}

// NewMetrics registers the indexer's collectors on reg:
//
//	weir_ingest_blocks_total{chain}            blocks committed
//	weir_ingest_records_total{chain}           records committed (events and markers)
//	weir_ingest_head_lag_blocks{chain}         node head minus the last committed block
//	weir_ingest_transaction_seconds{chain}     time to build and commit one transaction
//	weir_ingest_reorgs_total{chain}            reorgs handled
//	weir_ingest_orphaned_blocks_total{chain}   blocks retracted
//	weir_ingest_restarts_total                 restarts from the checkpoint after a failure
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weir_ingest_blocks_total",
			Help: "Blocks committed to Kafka."}, []string{"chain"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weir_ingest_records_total",
			Help: "Records committed to Kafka."}, []string{"chain"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "weir_ingest_head_lag_blocks",
			Help: "The node's head minus the last committed block."}, []string{"chain"}),
		txn: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "weir_ingest_transaction_seconds",
			Help: "Time to build and commit one Kafka transaction.", Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)},
			[]string{"chain"}),
		reorgs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weir_ingest_reorgs_total",
			Help: "Reorgs handled."}, []string{"chain"}),
		orphaned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weir_ingest_orphaned_blocks_total",
			Help: "Blocks retracted by reorgs."}, []string{"chain"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_ingest_restarts_total",
			Help: "Restarts from the last checkpoint after a failure."}),
	}
	if reg != nil {
		reg.MustRegister(m.blocks, m.records, m.lag, m.txn, m.reorgs, m.orphaned, m.restarts)
	}
	return m
}

func chainLabel(id uint64) string { return strconv.FormatUint(id, 10) }

func (m *Metrics) head(chain, nodeHead, next uint64) {
	if m == nil {
		return
	}
	lag := float64(0)
	if nodeHead+1 > next {
		lag = float64(nodeHead + 1 - next)
	}
	m.lag.WithLabelValues(chainLabel(chain)).Set(lag)
}

func (m *Metrics) committed(chain uint64, blocks, records int, d time.Duration) {
	if m == nil {
		return
	}
	c := chainLabel(chain)
	m.blocks.WithLabelValues(c).Add(float64(blocks))
	m.records.WithLabelValues(c).Add(float64(records))
	m.txn.WithLabelValues(c).Observe(d.Seconds())
}

func (m *Metrics) reorged(chain uint64, depth int) {
	if m == nil {
		return
	}
	c := chainLabel(chain)
	m.reorgs.WithLabelValues(c).Inc()
	m.orphaned.WithLabelValues(c).Add(float64(depth))
}

func (m *Metrics) restart() {
	if m == nil {
		return
	}
	m.restarts.Inc()
}
