package ingestbench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ErrNoGeth is returned by [Prepare] and [Run] when no geth binary is found.
var ErrNoGeth = errors.New("ingestbench: no geth binary (set Options.Geth or $WEIR_GETH, run deploy/local/up.sh to build one into the weir cache, or put geth on PATH)")

// Options configures [Prepare] and [Run]. Zero fields take the defaults stated on each.
type Options struct {
	// Blocks is the number of blocks the prepared chain has (the backfilled range is
	// 1..Blocks). Default 5000.
	Blocks uint64
	// TxPerBlock is the number of transactions in each block made after the setup
	// blocks: half of them (rounded up) ERC-20 transfers, each with one Transfer log, the
	// rest native transfers. Default 4; at most 64 (geth's per-account queue).
	TxPerBlock int
	// Senders is the number of funded keys the blocks rotate through (block n is sent by
	// key n mod Senders). It is not part of the cache key. Default 8.
	Senders int

	// Geth is the geth binary. Default: $WEIR_GETH, else CacheDir/bin/geth, else
	// ${WEIR_CACHE:-$HOME/.cache/weir}/bin/geth (where deploy/local/up.sh builds it),
	// else geth on PATH.
	Geth string
	// CacheDir is the weir cache; prepared chains live in CacheDir/bench/. Default
	// ${WEIR_CACHE:-$HOME/.cache/weir}.
	CacheDir string
	// StopTimeout is how long Close waits for geth to exit after SIGINT before it sends
	// SIGKILL. Default 30s.
	StopTimeout time.Duration

	// Progress receives progress lines while the chain is made and ethereum-etl is
	// installed and run. Default os.Stderr.
	Progress io.Writer
	// ProgressInterval is the time between two progress lines while blocks are made.
	// Default 5s.
	ProgressInterval time.Duration

	// VsEthereumETL makes [Run] also run ethereum-etl on the same node and range and
	// report the ratio. Default false.
	VsEthereumETL bool
	// ETL configures the ethereum-etl run. Its CacheDir and Progress default to the
	// fields above.
	ETL ETLOptions
}

func (o *Options) setDefaults() error {
	if o.Blocks == 0 {
		o.Blocks = 5000
	}
	if o.TxPerBlock == 0 {
		o.TxPerBlock = 4
	}
	if o.TxPerBlock < 1 || o.TxPerBlock > 64 {
		return fmt.Errorf("ingestbench: TxPerBlock %d out of 1..64", o.TxPerBlock)
	}
	if o.Senders == 0 {
		o.Senders = 8
	}
	if o.Senders < 1 {
		return fmt.Errorf("ingestbench: Senders %d < 1", o.Senders)
	}
	if o.CacheDir == "" {
		d, err := defaultCacheDir()
		if err != nil {
			return err
		}
		o.CacheDir = d
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 5 * time.Second
	}
	if o.ETL.CacheDir == "" {
		o.ETL.CacheDir = o.CacheDir
	}
	if o.ETL.Progress == nil {
		o.ETL.Progress = o.Progress
	}
	return nil
}

// defaultCacheDir is ${WEIR_CACHE:-$HOME/.cache/weir}.
func defaultCacheDir() (string, error) {
	if d := os.Getenv("WEIR_CACHE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("ingestbench: weir cache: %w", err)
	}
	return filepath.Join(home, ".cache", "weir"), nil
}

// FindGeth returns the geth binary [Prepare] would use: explicit if not empty, else
// $WEIR_GETH, else cacheDir/bin/geth, else ${WEIR_CACHE:-$HOME/.cache/weir}/bin/geth
// (where deploy/local/up.sh builds it), else geth on PATH. It returns an error wrapping [ErrNoGeth] when none is executable.
func FindGeth(explicit, cacheDir string) (string, error) {
	if explicit != "" {
		return lookExec(explicit)
	}
	if env := os.Getenv("WEIR_GETH"); env != "" {
		return lookExec(env)
	}
	dirs := []string{cacheDir}
	if d, err := defaultCacheDir(); err == nil && d != cacheDir {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if p, err := lookExec(filepath.Join(d, "bin", "geth")); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("geth"); err == nil {
		return p, nil
	}
	return "", ErrNoGeth
}

func lookExec(path string) (string, error) {
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrNoGeth, path, err)
	}
	return p, nil
}
