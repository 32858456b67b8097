package stream

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Runtime's Prometheus instruments, labelled by app.
type metrics struct {
	recordsIn     *prometheus.CounterVec   // topic
	recordsOut    *prometheus.CounterVec   // topic
	dlq           *prometheus.CounterVec   // topic
	lag           *prometheus.GaugeVec     // topic, partition
	txnSeconds    *prometheus.HistogramVec // outcome
	restore       *prometheus.HistogramVec // store
	restored      *prometheus.CounterVec   // store
	timersFired   prometheus.Counter
	restarts      prometheus.Counter
	tasksAssigned prometheus.Gauge
}

func newMetrics(app string, reg prometheus.Registerer) *metrics {
	labels := prometheus.Labels{"app": app}
	m := &metrics{
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_stream_records_in_total", Help: "Input records processed (including those sent to the DLQ).",
			ConstLabels: labels}, []string{"topic"}),
		recordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_stream_records_out_total", Help: "Records emitted to output topics (committed or not).",
			ConstLabels: labels}, []string{"topic"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_stream_dlq_records_total", Help: "Records sent to a dead-letter topic.",
			ConstLabels: labels}, []string{"topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_stream_consumer_lag_records", Help: "High watermark minus the offset after the last record processed, per input partition. A transaction marker after the last record counts, so a caught-up reader of a transactional topic shows 1.",
			ConstLabels: labels}, []string{"topic", "partition"}),
		txnSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weir_stream_transaction_seconds", Help: "Time to end (commit or abort) a transaction.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), ConstLabels: labels}, []string{"outcome"}),
		restore: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weir_stream_restore_seconds", Help: "Time to restore one store of one task from its changelog.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), ConstLabels: labels}, []string{"store"}),
		restored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_stream_restored_records_total", Help: "Changelog records applied during restore.",
			ConstLabels: labels}, []string{"store"}),
		timersFired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_stream_timers_fired_total", Help: "Event-time timers fired.", ConstLabels: labels}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_stream_session_restarts_total", Help: "Failed processing sessions replaced by a new one.",
			ConstLabels: labels}),
		tasksAssigned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_stream_tasks", Help: "Tasks (partitions) this instance owns.", ConstLabels: labels}),
	}
	if reg != nil {
		reg.MustRegister(m.recordsIn, m.recordsOut, m.dlq, m.lag, m.txnSeconds, m.restore, m.restored,
			m.timersFired, m.restarts, m.tasksAssigned)
	}
	return m
}
