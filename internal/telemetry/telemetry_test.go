package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	processed := prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_test_records_total", Help: "Records seen by the test."})
	reg.MustRegister(processed)
	processed.Add(7)

	srv, err := New(reg, Options{Addr: "127.0.0.1:0", CheckTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var brokerDown atomic.Bool
	mustAdd := func(name string, c Check) {
		t.Helper()
		if err := srv.AddCheck(name, c); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd("broker", func(context.Context) error {
		if brokerDown.Load() {
			return errors.New("broker unreachable")
		}
		return nil
	})
	mustAdd("always", func(context.Context) error { return nil })
	if err := srv.AddCheck("always", func(context.Context) error { return nil }); err == nil {
		t.Error("AddCheck accepted a duplicate name")
	}

	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddCheck("late", func(context.Context) error { return nil }); !errors.Is(err, ErrStarted) {
		t.Errorf("AddCheck after Listen = %v, want ErrStarted", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + addr.String()

	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics status %d", code)
	}
	for _, want := range []string{"weir_test_records_total 7", "go_goroutines", "process_start_time_seconds"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	decode := func(body string) Health {
		t.Helper()
		var h Health
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("/healthz body %q: %v", body, err)
		}
		return h
	}
	code, body = get(t, base+"/healthz")
	h := decode(body)
	if code != http.StatusOK || h.Status != StatusOK || len(h.Checks) != 2 ||
		h.Checks[0].Name != "always" || h.Checks[1].Name != "broker" || h.Checks[1].Status != StatusOK {
		t.Errorf("/healthz healthy = %d %+v", code, h)
	}

	brokerDown.Store(true)
	code, body = get(t, base+"/healthz")
	h = decode(body)
	if code != http.StatusServiceUnavailable || h.Status != StatusFail ||
		h.Checks[0].Status != StatusOK || h.Checks[1].Status != StatusFail || h.Checks[1].Error != "broker unreachable" {
		t.Errorf("/healthz unhealthy = %d %+v", code, h)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after Run returned")
	}
}

func TestHealthCheckTimeoutAndPanic(t *testing.T) {
	srv, err := New(prometheus.NewRegistry(), Options{Addr: "127.0.0.1:0", CheckTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.AddCheck("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	_ = srv.AddCheck("panics", func(context.Context) error { panic("boom") })
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	code, body := get(t, "http://"+addr.String()+"/healthz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", code)
	}
	for _, want := range []string{`"name":"panics","status":"fail","error":"check panicked: boom"`, `"name":"slow","status":"fail","error":"context deadline exceeded"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/healthz body %s lacks %s", body, want)
		}
	}
}

func TestNoChecksIsHealthy(t *testing.T) {
	srv, err := New(prometheus.NewRegistry(), Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	code, body := get(t, "http://"+addr.String()+"/healthz")
	if code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/healthz = %d %s", code, body)
	}
}

func TestRunListenError(t *testing.T) {
	srv, err := New(prometheus.NewRegistry(), Options{Addr: "127.0.0.1:not-a-port"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "telemetry: listen") {
		t.Fatalf("Run = %v, want a listen error", err)
	}
}
