package gatewaybench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is a server under load.
type target struct {
	name string // "bare" or "full"
	url  string // of POST /v1/payment_intents
	auth string // the Authorization header; "" for none
}

// load is one closed-loop run against a target: Connections clients, each on its own
// connection, each sending its next request when the previous response is read.
type load struct {
	t        target
	conns    int
	keyPfx   string // Idempotency-Key prefix, unique per run
	start    time.Time
	end      time.Time
	progress func(format string, args ...any)

	ok, errs atomic.Int64 // in the measured window
	total2xx atomic.Int64 // warm-up and after the window included
	dials    atomic.Int64
	mu       sync.Mutex
	firstErr string
}

// worker is one client's share of a run.
type worker struct {
	lat  []time.Duration
	ok   int
	errs int
}

// drive runs the load: warmup, then measure, then stop sending and wait for every
// client's last response. It returns the run's figures; it fails only when ctx is done.
func drive(ctx context.Context, t target, conns int, keyPfx string, warmup, measure time.Duration, progress func(string, ...any)) (RunStats, int64, error) {
	now := time.Now()
	l := &load{t: t, conns: conns, keyPfx: keyPfx, start: now.Add(warmup), progress: progress}
	l.end = l.start.Add(measure)
	// Room for the latencies of 20,000 requests per second without growing.
	perWorker := int(measure.Seconds()*20_000)/conns + 64
	workers := make([]worker, conns)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i].lat = make([]time.Duration, 0, perWorker)
		wg.Go(func() { l.client(ctx, i, &workers[i]) })
	}
	done := make(chan struct{})
	var rg sync.WaitGroup
	rg.Go(func() { l.report(done) })
	wg.Wait()
	close(done)
	rg.Wait()
	if err := ctx.Err(); err != nil {
		return RunStats{}, 0, err
	}
	var all []time.Duration
	run := RunStats{Elapsed: measure, Dials: int(l.dials.Load())}
	for i := range workers {
		all = append(all, workers[i].lat...)
		run.OK += workers[i].ok
		run.Errors += workers[i].errs
	}
	slices.Sort(all)
	run.RPS = float64(run.OK) / measure.Seconds()
	run.P50, run.P90, run.P99 = percentile(all, 0.50), percentile(all, 0.90), percentile(all, 0.99)
	if len(all) > 0 {
		run.Max = all[len(all)-1]
	}
	if n := run.OK + run.Errors; run.OK == 0 || float64(run.Errors) > 0.001*float64(n) {
		return run, l.total2xx.Load(), fmt.Errorf("%s: %d errors in %d requests (more than 0.1%%); first: %s", t.name, run.Errors, n, l.firstErr)
	}
	return run, l.total2xx.Load(), nil
}

// client is one closed-loop client with its own connection.
func (l *load) client(ctx context.Context, id int, w *worker) {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			l.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		MaxIdleConns:        1,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	body := []byte(requestBody)
	for n := 0; ; n++ {
		t0 := time.Now()
		if !t0.Before(l.end) || ctx.Err() != nil {
			return
		}
		key := fmt.Sprintf("%s-%d-%d", l.keyPfx, id, n)
		status, msg := l.send(ctx, cl, body, key)
		t1 := time.Now()
		if ctx.Err() != nil {
			return
		}
		ok := status >= 200 && status < 300
		if ok {
			l.total2xx.Add(1)
		}
		if t1.Before(l.start) || !t1.Before(l.end) {
			continue // warm-up, or completed after the window
		}
		if ok {
			w.ok++
			w.lat = append(w.lat, t1.Sub(t0))
			l.ok.Add(1)
			continue
		}
		w.errs++
		l.errs.Add(1)
		l.mu.Lock()
		if l.firstErr == "" {
			l.firstErr = msg
		}
		l.mu.Unlock()
	}
}

// send sends one request and reads the whole response; it returns the status (0 for a
// transport error) and, when it is not 2xx, what went wrong.
func (l *load) send(ctx context.Context, cl *http.Client, body []byte, key string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.t.url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	if l.t.auth != "" {
		req.Header.Set("Authorization", l.t.auth)
	}
	res, err := cl.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			return 0, "reading the response: " + err.Error()
		}
		return res.StatusCode, ""
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, fmt.Sprintf("%d %s", res.StatusCode, bytes.TrimSpace(b))
}

// report prints the measured rate every progressEvery until done.
func (l *load) report(done <-chan struct{}) {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	var lastOK int64
	last := l.start
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			if now.Before(l.start) {
				continue
			}
			ok, errs := l.ok.Load(), l.errs.Load()
			l.progress("    %s: %d ok, %d errors, %.0f req/s over the last %v", l.t.name, ok, errs,
				float64(ok-lastOK)/now.Sub(last).Seconds(), now.Sub(last).Round(100*time.Millisecond))
			lastOK, last = ok, now
		}
	}
}

// percentile returns the p-quantile (nearest rank) of sorted, 0 when it is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
