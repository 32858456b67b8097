package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/telemetry"
)

// lines collects the lines a command prints, for waiting on them from a test.
type lines struct {
	mu   sync.Mutex
	all  []string
	more chan struct{} // closed and replaced whenever a line arrives or the stream ends
	done bool
}

func newLines() *lines { return &lines{more: make(chan struct{})} }

// consume reads r until EOF, then marks the stream done. It runs in its own goroutine,
// owned by the test (which waits for the command that writes r to return and closes r).
func (l *lines) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		close(l.more)
		l.more = make(chan struct{})
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.done = true
	close(l.more)
	l.mu.Unlock()
}

// waitFor returns the first line with prefix, failing the test if none arrives before
// the deadline or the stream ends.
func (l *lines) waitFor(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for _, s := range l.all {
			if strings.HasPrefix(s, prefix) {
				l.mu.Unlock()
				return s
			}
		}
		more, done, all := l.more, l.done, strings.Join(l.all, "\n")
		l.mu.Unlock()
		if done {
			t.Fatalf("no line starts with %q; output:\n%s", prefix, all)
		}
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("timed out waiting for a line starting with %q; output so far:\n%s", prefix, all)
		}
	}
}

// field returns the value of a "  label   value" line of the dev banner.
func field(t *testing.T, l *lines, label string) string {
	t.Helper()
	s := l.waitFor(t, fmt.Sprintf("  %-11s ", label))
	return strings.TrimSpace(s[len(fmt.Sprintf("  %-11s ", label)):])
}

// startWeir runs the weir root command in-process with args. It returns the output lines
// and a channel that yields the command's error once it returns.
func startWeir(t *testing.T, ctx context.Context, args ...string) (*lines, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	l := newLines()
	go l.consume(pr)
	var stderr bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(pw)
	cmd.SetErr(&lockedWriter{w: &stderr})
	errc := make(chan error, 1)
	go func() {
		err := cmd.ExecuteContext(ctx)
		_ = pw.Close()
		if err != nil {
			err = fmt.Errorf("%w\nstderr:\n%s", err, stderr.String())
		}
		errc <- err
	}()
	return l, errc
}

// lockedWriter makes a writer safe for the concurrent writes of a logger.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}

func waitErr(t *testing.T, errc <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(within):
		t.Fatalf("command did not return within %s", within)
		return nil
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// checkTelemetry checks that /healthz reports the broker healthy and /metrics answers.
func checkTelemetry(t *testing.T, l *lines) {
	t.Helper()
	metricsURL, healthURL := field(t, l, "metrics"), field(t, l, "health")
	code, body := httpGet(t, healthURL)
	var h telemetry.Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz: %v: %s", err, body)
	}
	if code != http.StatusOK || h.Status != telemetry.StatusOK || len(h.Checks) == 0 || h.Checks[0].Name != "broker" {
		t.Errorf("/healthz = %d %s", code, body)
	}
	code, body = httpGet(t, metricsURL)
	if code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d, %d bytes", code, len(body))
	}
}

const resumeTopic = "dev.resume.test"

// TestDevRunsAndResumes runs `weir dev --for 3s` twice on one data dir: it prints what
// runs where, answers /healthz and /metrics while it runs, exits cleanly, keeps the
// broker's state in the data dir, and the second run finds what the first one wrote.
func TestDevRunsAndResumes(t *testing.T) {
	dir := t.TempDir()
	args := []string{"dev", "--for", "3s", "--data", dir, "--broker-port", "0", "--http", "127.0.0.1:0", "--gateway-addr", ""}

	// First run: write a record through the embedded broker.
	l, errc := startWeir(t, t.Context(), args...)
	broker := strings.Fields(field(t, l, "broker"))[0]
	if got := field(t, l, "data dir"); got != dir {
		t.Errorf("data dir line = %q, want %q", got, dir)
	}
	if topics := field(t, l, "topics"); !strings.Contains(topics, "in the catalogue") || strings.Contains(topics, "no changes") {
		t.Errorf("first run: topics line %q, want the catalogue created", topics)
	}
	if c := field(t, l, "component"); !strings.HasPrefix(c, "totals: reads ledger.postings, writes ledger.account-totals.1m") {
		t.Errorf("component line = %q, want the totals processor", c)
	}
	l.waitFor(t, "running for 3s")
	checkTelemetry(t, l)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(resumeTopic))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 1, 1, nil, resumeTopic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("from the first run")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("first weir dev: %v", err)
	}
	l.waitFor(t, "weir dev stopped")
	for _, f := range []string{"meta.json", "topics.json"} {
		if _, err := os.Stat(filepath.Join(dir, "broker", f)); err != nil {
			t.Errorf("broker state: %v", err)
		}
	}

	// Second run: the catalogue is already there, and so is the record.
	l, errc = startWeir(t, t.Context(), args...)
	broker = strings.Fields(field(t, l, "broker"))[0]
	if topics := field(t, l, "topics"); !strings.HasSuffix(topics, "in the catalogue, no changes") {
		t.Errorf("second run: topics line %q, want no changes", topics)
	}
	checkTelemetry(t, l)
	cl, err = kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(resumeTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	fs := cl.PollFetches(pctx)
	cancel()
	cl.Close()
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "from the first run" {
		t.Errorf("second run read %d records (errors %v), want the first run's record", len(recs), fs.Errors())
	}
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("second weir dev: %v", err)
	}
}

// fakeComp is a component for tests: it fails with failErr after failAfter, or runs
// until stopped.
type fakeComp struct {
	name      string
	failAfter time.Duration
	failErr   error
}

func (c fakeComp) Name() string     { return c.name }
func (c fakeComp) Describe() string { return "reads a.in; writes a.out" }
func (c fakeComp) Check(context.Context) error {
	return nil
}

func (c fakeComp) Run(ctx context.Context) error {
	if c.failErr == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTimer(c.failAfter)
	defer t.Stop()
	select {
	case <-t.C:
		return c.failErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestDevComponents(t *testing.T) {
	boom := errors.New("lost the plot")
	tests := []struct {
		name    string
		comps   []Component
		buildEr error
		wantErr string
	}{
		{name: "healthy component runs until the end", comps: []Component{fakeComp{name: "steady"}}},
		{name: "failing component stops dev", comps: []Component{fakeComp{name: "steady"}, fakeComp{name: "flaky", failAfter: 200 * time.Millisecond, failErr: boom}}, wantErr: "flaky: lost the plot"},
		{name: "build error", buildEr: boom, wantErr: "build components: lost the plot"},
		{name: "duplicate names", comps: []Component{fakeComp{name: "x"}, fakeComp{name: "x"}}, wantErr: `two components are named "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var gotEnv devEnv
			build := func(env devEnv) ([]Component, error) { gotEnv = env; return tt.comps, tt.buildEr }
			opts := devOptions{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", For: 2 * time.Second, ShutdownTimeout: 10 * time.Second}
			err := runDev(t.Context(), opts, build, &out, discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("runDev: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("runDev = %v, want %q", err, tt.wantErr)
			}
			if len(gotEnv.Brokers) != 1 || gotEnv.DataDir != opts.DataDir || gotEnv.Registry == nil || gotEnv.Logger == nil {
				t.Errorf("components got env %+v", gotEnv)
			}
			if tt.buildEr == nil && tt.wantErr == "" {
				for _, c := range tt.comps {
					if want := "  component   " + c.Name() + ": reads a.in; writes a.out"; !strings.Contains(out.String(), want) {
						t.Errorf("output lacks %q:\n%s", want, out.String())
					}
				}
			}
			// The broker was closed and flushed even when dev failed.
			if _, err := os.Stat(filepath.Join(opts.DataDir, "broker", "meta.json")); err != nil {
				t.Errorf("broker state after runDev: %v", err)
			}
		})
	}
}

func TestDevOptionErrors(t *testing.T) {
	for _, args := range [][]string{
		{"dev", "--broker-port", "70000"},
		{"dev", "--http", "nonsense"},
		{"dev", "--for", "-1s"},
		{"dev", "--data", ""},
		{"dev", "--log-level", "loud"},
	} {
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.ExecuteContext(t.Context()); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestDevBinarySIGTERM builds the weir binary, runs `weir dev` until it serves, sends
// SIGTERM and expects a clean exit 0, then runs it again on the same data dir.
func TestDevBinarySIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "weir")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		cmd := exec.Command(bin, "dev", "--data", dir, "--broker-port", "0", "--http", "127.0.0.1:0")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := false
		t.Cleanup(func() {
			if !exited { // the test failed half way: do not leave the process behind
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		l := newLines()
		consumed := make(chan struct{})
		go func() { l.consume(stdout); close(consumed) }()

		l.waitFor(t, "running until Ctrl-C or SIGTERM")
		checkTelemetry(t, l)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-consumed
		err = cmd.Wait()
		exited = true
		if err != nil {
			t.Fatalf("run %d: weir dev after SIGTERM: %v\nstderr:\n%s", run, err, stderr.String())
		}
		l.waitFor(t, "weir dev stopped")
	}
	if _, err := os.Stat(filepath.Join(dir, "broker", "topics.json")); err != nil {
		t.Errorf("broker state: %v", err)
	}
}
