package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Component is a long-running part of weir that `weir dev` and `weir run` start: a stream
// processor, an indexer, a sink, the gateway. It reads and writes Kafka topics and owns
// nothing else but its partitioned state.
type Component interface {
	// Name identifies the component: unique within a process, used in logs, in /healthz,
	// as the `weir run` argument and as its state directory name. Lowercase, no spaces.
	Name() string
	// Run runs the component until ctx is done, then stops it and returns nil (or
	// ctx.Err()). Returning earlier, even with nil, is a failure that stops the process.
	// Run is called once.
	Run(ctx context.Context) error
}

// Describer is implemented by a [Component] that can say what it reads and writes; `weir
// dev` prints it, e.g. "reads chain.transfers, payments.requests; writes
// payments.reconciled".
type Describer interface {
	Describe() string
}

// Checker is implemented by a [Component] that has a health check of its own; it is
// served on /healthz under the component's name. Check must return promptly once ctx is
// done.
type Checker interface {
	Check(ctx context.Context) error
}

// task is one goroutine of a stage: a component, or the telemetry server.
type task struct {
	name string
	run  func(ctx context.Context) error
}

// componentTasks turns components into tasks.
func componentTasks(comps []Component) []task {
	ts := make([]task, len(comps))
	for i, c := range comps {
		ts[i] = task{name: c.Name(), run: c.Run}
	}
	return ts
}

// checkNames reports an empty or duplicate component name.
func checkNames(comps []Component) error {
	seen := map[string]bool{}
	for _, c := range comps {
		n := c.Name()
		if n == "" {
			return fmt.Errorf("component %T has an empty name", c)
		}
		if seen[n] {
			return fmt.Errorf("two components are named %q", n)
		}
		seen[n] = true
	}
	return nil
}

// errStoppedEarly is wrapped when a task returns before it was asked to stop.
var errStoppedEarly = errors.New("stopped on its own before shutdown")

// runStages runs stages of tasks, each task in its own goroutine, and owns them all:
// stages[0] starts first and stops last (e.g. telemetry, then the components). It blocks
// until ctx is done or any task returns early (a failure), then stops the stages in
// reverse order: it cancels the stage's context and waits up to stopTimeout for its
// tasks. A stage that overruns is reported and abandoned, so that a process can still
// exit.
//
// It returns nil after a clean stop caused by ctx, otherwise the failures (a task that
// returned early, even with nil; an error other than context.Canceled while stopping; a
// stage that overran), joined.
func runStages(ctx context.Context, stopTimeout time.Duration, logger *slog.Logger, stages ...[]task) error {
	var (
		mu       sync.Mutex
		errs     []error
		failOnce sync.Once
		failed   = make(chan struct{})
	)
	record := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		failOnce.Do(func() { close(failed) })
	}

	type running struct {
		cancel context.CancelFunc
		done   chan struct{} // closed when every task of the stage returned
		names  []string
	}
	started := make([]running, 0, len(stages))
	for _, stage := range stages {
		// A stage's context is cancelled by runStages alone, in order: not by ctx.
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := running{cancel: cancel, done: make(chan struct{})}
		var wg sync.WaitGroup
		for _, t := range stage {
			r.names = append(r.names, t.name)
			wg.Go(func() {
				err := t.run(sctx)
				switch {
				case sctx.Err() == nil:
					if err == nil {
						err = errStoppedEarly
					}
					logger.Error("stopped", "task", t.name, "err", err)
					record(fmt.Errorf("%s: %w", t.name, err))
				case err != nil && !errors.Is(err, context.Canceled):
					logger.Error("stop failed", "task", t.name, "err", err)
					record(fmt.Errorf("%s: stop: %w", t.name, err))
				default:
					logger.Debug("stopped", "task", t.name)
				}
			})
		}
		go func() { wg.Wait(); close(r.done) }()
		started = append(started, r)
	}

	select {
	case <-ctx.Done():
	case <-failed:
	}

	for i := len(started) - 1; i >= 0; i-- {
		r := started[i]
		r.cancel()
		timer := time.NewTimer(stopTimeout)
		select {
		case <-r.done:
		case <-timer.C:
			err := fmt.Errorf("%v did not stop within %s", r.names, stopTimeout)
			logger.Error("shutdown overran", "tasks", r.names, "timeout", stopTimeout)
			record(err)
		}
		timer.Stop()
	}

	mu.Lock()
	defer mu.Unlock()
	return errors.Join(errs...)
}
