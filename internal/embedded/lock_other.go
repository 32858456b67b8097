//go:build !unix

package embedded

// lockDir is a no-op where flock is not available: the caller must make sure that only
// one broker uses a data dir.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
