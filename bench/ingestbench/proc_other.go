//go:build !linux

package ingestbench

import "syscall"

// childAttr is nil where there is no parent-death signal.
func childAttr() *syscall.SysProcAttr { return nil }

// lockPath does not lock where flock is not used; concurrent installs are not
// serialized there.
func lockPath(string) (func(), error) { return func() {}, nil }
