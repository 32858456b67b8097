package gatewaybench

import (
	"io"
	"log/slog"
	"time"
)

// Options configures a run. Zero fields take the defaults stated on each.
type Options struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// RedisAddr is host:port of Redis. Default "127.0.0.1:6379".
	RedisAddr string
	// Connections is the number of persistent connections (and closed-loop clients)
	// driving each server. Default 64.
	Connections int
	// Duration is how long each run is measured. Default 10 s.
	Duration time.Duration
	// Warmup is how long each run is driven before it is measured. Default 2 s.
	Warmup time.Duration
	// Repetitions is the number of bare and full runs; rates are the medians. Default 3.
	Repetitions int
	// Partitions is the partition count of the topics. Default 12, the catalogue's count
	// for payments.intents.
	Partitions int32
	// Progress receives one line per step and a progress line every few seconds while
	// a run is measured. Default: discarded.
	Progress io.Writer
	// Logger receives the gateway's logs (failed requests). Default: discarded.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.RedisAddr == "" {
		o.RedisAddr = "127.0.0.1:6379"
	}
	if o.Connections <= 0 {
		o.Connections = 64
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = 2 * time.Second
	}
	if o.Repetitions <= 0 {
		o.Repetitions = 3
	}
	if o.Partitions <= 0 {
		o.Partitions = 12
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Result is what a run measured. Its JSON form (rps, bare_rps, ratio and p99_ms only) is
// the benchmark's last output line.
type Result struct {
	// RPS is the full gateway's rate of 2xx responses, the median over repetitions.
	RPS float64 `json:"rps"`
	// BareRPS is the bare handler's rate, the median over repetitions.
	BareRPS float64 `json:"bare_rps"`
	// Ratio is RPS / BareRPS.
	Ratio float64 `json:"ratio"`
	// P99Ms is the full gateway's 99th percentile latency in milliseconds, the median
	// of the repetitions' p99.
	P99Ms float64 `json:"p99_ms"`

	// P50Ms is the full gateway's median latency (median over repetitions).
	P50Ms float64 `json:"-"`
	// BareP50Ms and BareP99Ms are the bare handler's percentiles (medians over
	// repetitions).
	BareP50Ms, BareP99Ms float64 `json:"-"`
	// Full and Bare are the runs, in the order of the repetitions.
	Full, Bare []RunStats `json:"-"`
	// Connections, Duration, Warmup and Repetitions are the options the run used.
	Connections int           `json:"-"`
	Duration    time.Duration `json:"-"`
	Warmup      time.Duration `json:"-"`
	Repetitions int           `json:"-"`
}

// RunStats is one measured run of one server.
type RunStats struct {
	// OK is the number of 2xx responses completed in the measured window.
	OK int
	// Errors is the number of other responses and transport errors in the window.
	Errors int
	// Elapsed is the measured window.
	Elapsed time.Duration
	// RPS is OK / Elapsed.
	RPS float64
	// P50, P90, P99 and Max are latencies of the 2xx responses.
	P50, P90, P99, Max time.Duration
	// Dials is the number of connections opened during the run, warm-up included; it
	// equals Connections when every connection stayed open.
	Dials int
}
