package signerbench

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Options configures a run. Zero fields take the defaults stated on each.
type Options struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Dir holds the signer's state and keystore for the run. Required; the caller
	// removes it.
	Dir string
	// Workers is the number of concurrent closed-loop workers of each path. Default 32.
	Workers int
	// Keys is the number of signing keys. Default 8.
	Keys int
	// Chains is the number of chains (ids 1337, 1338, …); each key signs on each, so
	// there are Keys × Chains nonce sequences. Default 2.
	Chains int
	// Duration is how long each path is measured. Default 10 s.
	Duration time.Duration
	// Warmup is how long each path runs before it is measured. Default 2 s.
	Warmup time.Duration
	// Partitions is the partition count of the run's topics. Default 3.
	Partitions int32
	// Progress receives one line per step and a progress line every 2 s while a path
	// is measured. Default: discarded.
	Progress io.Writer
	// Logger receives the signer's warnings and errors (its info lines, one per
	// signature, are dropped). Default: discarded.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Keys <= 0 {
		o.Keys = 8
	}
	if o.Chains <= 0 {
		o.Chains = 2
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = 2 * time.Second
	}
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = slog.New(warnOnly{o.Logger.Handler()})
}

// Result is what a run measured. Its JSON form is the report's last line and has
// exactly the four figures; the rest is for the summary.
type Result struct {
	// SignsPerS is the signer's signatures (200 answers) per second.
	SignsPerS float64 `json:"signs_per_s"`
	// RawSignsPerS is crypto.Sign's signatures per second with as many workers.
	RawSignsPerS float64 `json:"raw_signs_per_s"`
	// Ratio is SignsPerS / RawSignsPerS.
	Ratio float64 `json:"ratio"`
	// P99Ms is the signer's 99th-percentile request latency in milliseconds.
	P99Ms float64 `json:"p99_ms"`

	// P50Ms is the signer's median latency in milliseconds.
	P50Ms float64 `json:"-"`
	// Signed and Errors count the signer's measured answers.
	Signed, Errors int64 `json:"-"`
	// Workers, Keys, Chains, Duration and Warmup are the run's shape.
	Workers, Keys, Chains int           `json:"-"`
	Duration, Warmup      time.Duration `json:"-"`
}

// warnOnly passes on warnings and errors only: the signer logs every signature at info
// level, which would cost the measured path a log line per request.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}
func (h warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(as)} }
func (h warnOnly) WithGroup(n string) slog.Handler       { return warnOnly{h.Handler.WithGroup(n)} }
