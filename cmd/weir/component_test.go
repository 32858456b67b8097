package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var discard = slog.New(slog.DiscardHandler)

// stopLog records the order in which tasks stopped.
type stopLog struct {
	mu    sync.Mutex
	names []string
}

func (l *stopLog) add(n string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = append(l.names, n)
}

func (l *stopLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.names...)
}

// until returns a task that runs until its context is done, records its stop, and
// returns ret.
func until(name string, l *stopLog, ret error) task {
	return task{name: name, run: func(ctx context.Context) error {
		<-ctx.Done()
		l.add(name)
		return ret
	}}
}

func TestRunStages(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		// build returns the stages; cancelCtx says whether the test cancels ctx (a
		// signal) rather than waiting for a failure.
		build     func(l *stopLog) [][]task
		cancelCtx bool
		wantErr   []string // substrings; none means nil
		wantStops []string // order of stops; nil means not checked
	}{
		{
			name: "clean stop, components before telemetry",
			build: func(l *stopLog) [][]task {
				return [][]task{{until("telemetry", l, nil)}, {until("a", l, context.Canceled)}}
			},
			cancelCtx: true,
			wantStops: []string{"a", "telemetry"},
		},
		{
			name: "no components",
			build: func(l *stopLog) [][]task {
				return [][]task{{until("telemetry", l, nil)}, nil}
			},
			cancelCtx: true,
		},
		{
			name: "a failing component stops everything",
			build: func(l *stopLog) [][]task {
				return [][]task{
					{until("telemetry", l, nil)},
					{until("a", l, nil), {name: "b", run: func(context.Context) error { return boom }}},
				}
			},
			wantErr:   []string{"b: boom"},
			wantStops: []string{"a", "telemetry"},
		},
		{
			name: "returning nil early is a failure",
			build: func(l *stopLog) [][]task {
				return [][]task{{until("telemetry", l, nil)}, {{name: "quitter", run: func(context.Context) error { return nil }}}}
			},
			wantErr: []string{"quitter: " + errStoppedEarly.Error()},
		},
		{
			name: "error while stopping is reported",
			build: func(l *stopLog) [][]task {
				return [][]task{{until("telemetry", l, nil)}, {until("flusher", l, boom)}}
			},
			cancelCtx: true,
			wantErr:   []string{"flusher: stop: boom"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &stopLog{}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancelCtx {
				cancel()
			}
			err := runStages(ctx, 10*time.Second, discard, tt.build(l)...)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("runStages: %v", err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("runStages error %v, want it to contain %q", err, w)
				}
			}
			if tt.wantStops != nil && strings.Join(l.get(), ",") != strings.Join(tt.wantStops, ",") {
				t.Errorf("stop order %v, want %v", l.get(), tt.wantStops)
			}
		})
	}
}

func TestRunStagesOverrun(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stuck := task{name: "stuck", run: func(context.Context) error { <-release; return nil }}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := runStages(ctx, 50*time.Millisecond, discard, []task{stuck})
	if err == nil || !strings.Contains(err.Error(), "[stuck] did not stop within 50ms") {
		t.Fatalf("runStages = %v, want an overrun error", err)
	}
}

type namedComp struct{ name string }

func (c namedComp) Name() string                  { return c.name }
func (c namedComp) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func TestCheckNames(t *testing.T) {
	if err := checkNames([]Component{namedComp{"a"}, namedComp{"b"}}); err != nil {
		t.Errorf("distinct names: %v", err)
	}
	if err := checkNames([]Component{namedComp{"a"}, namedComp{"a"}}); err == nil {
		t.Error("duplicate names accepted")
	}
	if err := checkNames([]Component{namedComp{""}}); err == nil {
		t.Error("empty name accepted")
	}
}
