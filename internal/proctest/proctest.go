// Package proctest runs the test binary itself as a child process, for tests that kill
// a component with SIGKILL mid-work and start it again: the crash is real (no deferred
// code, no flush), and the test process keeps the servers the child used.
//
// The test binary's TestMain checks an environment variable of the test's choosing and,
// when it is set, runs the component instead of the tests; Start sets it.
package proctest

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StopTimeout bounds how long Stop waits for the child to exit after SIGTERM.
const StopTimeout = 60 * time.Second

// Child is the test binary running as a separate process.
type Child struct {
	cmd  *exec.Cmd
	done chan error // Wait's result; refilled after each read so Cleanup can read it
}

// Start runs the test binary with no tests selected and env added to the environment
// (entries "KEY=value"), its output on the test's stderr. The child is killed when the
// test ends if it still runs.
func Start(t testing.TB, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("proctest: start child: %v", err)
	}
	c := &Child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-c.done })
	return c
}

// Kill sends SIGKILL and waits for the child to be gone.
func (c *Child) Kill(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("proctest: kill: %v", err)
	}
	c.done <- <-c.done
}

// Stop sends SIGTERM and fails the test unless the child exits cleanly within
// StopTimeout.
func (c *Child) Stop(t testing.TB) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Fatalf("proctest: child exited with %v after SIGTERM", err)
		}
	case <-time.After(StopTimeout):
		t.Fatalf("proctest: child did not stop within %v of SIGTERM", StopTimeout)
	}
}
