// Package telemetry serves a process's metrics and health over HTTP:
//
//   - /metrics: the Prometheus text exposition of one *prometheus.Registry handed in by
//     the caller (never the global default registry), with the Go runtime and process
//     collectors added to it;
//   - /healthz: a JSON report with the overall status and one entry per registered
//     check; 200 when every check passes, 503 otherwise.
//
// A Server is built with [New], given its checks with [Server.AddCheck], optionally bound
// early with [Server.Listen] (to learn the address when listening on port 0), and served
// with [Server.Run], which blocks until its context is done and then shuts down
// gracefully within [Options.ShutdownTimeout].
package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency or component is healthy: nil means healthy. It
// must return promptly once ctx is done; the server gives each check
// [Options.CheckTimeout].
type Check func(ctx context.Context) error

// Options configures a [Server]. The zero value of each field selects its default.
type Options struct {
	// Addr is the host:port to listen on; port 0 picks a free port.
	// Default "127.0.0.1:9464".
	Addr string
	// ShutdownTimeout bounds the graceful shutdown once Run's context is done: requests
	// in flight get this long to finish, then connections are closed. Default 5s.
	ShutdownTimeout time.Duration
	// CheckTimeout bounds each health check within one /healthz request. Default 2s.
	CheckTimeout time.Duration
	// Logger receives serve errors. Default: discard.
	Logger *slog.Logger
}

// Defaults of [Options].
const (
	DefaultAddr            = "127.0.0.1:9464"
	DefaultShutdownTimeout = 5 * time.Second
	DefaultCheckTimeout    = 2 * time.Second
)

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = DefaultCheckTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrStarted is returned by [Server.AddCheck] once the server is listening: the set of
// checks is fixed from then on.
var ErrStarted = errors.New("telemetry: server already started")

// Server is the metrics and health HTTP server. Its methods are safe for concurrent use;
// Run may be called once.
type Server struct {
	opts Options
	reg  *prometheus.Registry

	mu     sync.Mutex
	checks map[string]Check
	ln     net.Listener // set by Listen; checks are frozen from then on
	ran    bool
}

// New returns a Server exposing reg, to which it adds the Go runtime and process
// collectors (already registered ones are kept). It does not listen yet.
func New(reg *prometheus.Registry, opts Options) (*Server, error) {
	if reg == nil {
		return nil, errors.New("telemetry: nil registry")
	}
	opts.setDefaults()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("telemetry: register collector: %w", err)
			}
		}
	}
	return &Server{opts: opts, reg: reg, checks: map[string]Check{}}, nil
}

// AddCheck registers a health check under name, reported by /healthz. It must be called
// before [Server.Listen] or [Server.Run] ([ErrStarted] otherwise); a name may be used
// once.
func (s *Server) AddCheck(name string, check Check) error {
	if name == "" || check == nil {
		return errors.New("telemetry: check needs a name and a function")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return ErrStarted
	}
	if _, dup := s.checks[name]; dup {
		return fmt.Errorf("telemetry: check %q registered twice", name)
	}
	s.checks[name] = check
	return nil
}

// Listen binds [Options.Addr] and returns the bound address (useful with port 0). It
// does not serve: [Server.Run] does. Calling it again returns the same address. It
// does not block.
func (s *Server) Listen() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr(), nil
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("telemetry: listen: %w", err)
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Run serves /metrics and /healthz, listening first if [Server.Listen] was not called.
// It blocks until ctx is done, then shuts down gracefully within
// [Options.ShutdownTimeout] and returns nil; it returns an error if the server could not
// listen or failed while serving, or if the shutdown overran its bound. Run may be
// called once.
func (s *Server) Run(ctx context.Context) error {
	if _, err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errors.New("telemetry: Run called twice")
	}
	s.ran = true
	ln := s.ln
	checks := make(map[string]Check, len(s.checks))
	for n, c := range s.checks {
		checks[n] = c
	}
	s.mu.Unlock()

	srv := &http.Server{
		Handler:           s.handler(checks),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("telemetry: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	if shutErr != nil {
		_ = srv.Close()
		shutErr = fmt.Errorf("telemetry: shutdown: %w", shutErr)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(shutErr, fmt.Errorf("telemetry: serve: %w", err))
	}
	return shutErr
}

// handler routes /metrics and /healthz.
func (s *Server) handler(checks map[string]Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.Handle("GET /healthz", &healthHandler{checks: checks, timeout: s.opts.CheckTimeout})
	return mux
}

// Health is the JSON body of /healthz.
type Health struct {
	// Status is StatusOK when every check passed, StatusFail otherwise.
	Status string `json:"status"`
	// Checks has one entry per registered check, sorted by name.
	Checks []CheckResult `json:"checks"`
}

// CheckResult is the outcome of one check in [Health].
type CheckResult struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// Error is the check's error, empty when it passed.
	Error string `json:"error,omitempty"`
	// DurationMS is how long the check took, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
}

// Values of [Health.Status] and [CheckResult.Status].
const (
	StatusOK   = "ok"
	StatusFail = "fail"
)

type healthHandler struct {
	checks  map[string]Check
	timeout time.Duration
}

// ServeHTTP runs every check concurrently, each bounded by h.timeout, and waits for all
// of them.
func (h *healthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	names := make([]string, 0, len(h.checks))
	for n := range h.checks {
		names = append(names, n)
	}
	slices.Sort(names)

	results := make([]CheckResult, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
			defer cancel()
			start := time.Now()
			err := runCheck(ctx, h.checks[name])
			res := CheckResult{Name: name, Status: StatusOK, DurationMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				res.Status, res.Error = StatusFail, err.Error()
			}
			results[i] = res
		})
	}
	wg.Wait()

	body := Health{Status: StatusOK, Checks: results}
	code := http.StatusOK
	for _, res := range results {
		if res.Status != StatusOK {
			body.Status, code = StatusFail, http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// runCheck calls c, turning a panic into an error so that one bad check cannot take the
// process down.
func runCheck(ctx context.Context, c Check) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check panicked: %v", p)
		}
	}()
	return c(ctx)
}
