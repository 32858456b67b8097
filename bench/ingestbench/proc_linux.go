package ingestbench

import (
	"fmt"
	"os"
	"syscall"
)

// childAttr makes a child get SIGINT when this process dies, so that a killed benchmark
// does not leave geth or ethereum-etl running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT}
}

// lockPath takes an exclusive lock on the file at path, creating it, and returns the
// function that releases it. It blocks while another process holds the lock.
func lockPath(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ingestbench: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("ingestbench: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
