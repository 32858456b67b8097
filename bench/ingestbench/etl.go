package ingestbench

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// etlRequirements is the pinned package list of the ethereum-etl virtualenv.
//
//go:embed ethereum-etl-requirements.txt
var etlRequirements []byte

// outputTail is how much of a failed command's output goes into its error.
const outputTail = 4000

// ETLOptions configures [RunEthereumETL]. Zero fields take the defaults stated on each.
type ETLOptions struct {
	// CacheDir is the weir cache; the virtualenv is CacheDir/venv/ethereum-etl.
	// Default ${WEIR_CACHE:-$HOME/.cache/weir}.
	CacheDir string
	// Python is the interpreter the virtualenv is made with. Default "python3". The
	// pinned list is checked on CPython 3.11.
	Python string
	// MaxWorkers is ethereum-etl's --max-workers for both exports. Default 5,
	// ethereum-etl's own default.
	MaxWorkers int
	// BatchSize is ethereum-etl's --batch-size for both exports: blocks per JSON-RPC
	// batch for blocks and transactions, blocks per eth_getFilterLogs range for token
	// transfers. Default 100, ethereum-etl's own default.
	BatchSize int
	// Progress receives a line when the virtualenv is installed and when each export
	// starts. Default os.Stderr.
	Progress io.Writer
}

func (o *ETLOptions) setDefaults() error {
	if o.CacheDir == "" {
		d, err := defaultCacheDir()
		if err != nil {
			return err
		}
		o.CacheDir = d
	}
	if o.Python == "" {
		o.Python = "python3"
	}
	if o.MaxWorkers == 0 {
		o.MaxWorkers = 5
	}
	if o.BatchSize == 0 {
		o.BatchSize = 100
	}
	if o.MaxWorkers < 0 || o.BatchSize < 0 {
		return fmt.Errorf("ingestbench: ethereum-etl workers %d, batch size %d: negative", o.MaxWorkers, o.BatchSize)
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	return nil
}

// PeerResult is what one ethereum-etl run did and how long it took.
type PeerResult struct {
	// Version is the ethereum-etl version that ran.
	Version string
	// Blocks and Transactions are the rows in export_blocks_and_transactions' outputs;
	// TokenTransfers the rows in export_token_transfers' output.
	Blocks, Transactions, TokenTransfers uint64
	// BlocksElapsed and TokenTransfersElapsed are the wall times of the two commands,
	// each including the Python interpreter's start; Elapsed is their sum.
	BlocksElapsed, TokenTransfersElapsed, Elapsed time.Duration
	// Startup is the time the interpreter takes to import ethereum-etl's CLI, measured
	// separately: part of each command's time, not subtracted from it.
	Startup time.Duration
	// PeerBlocksPerSecond is Blocks / Elapsed.
	PeerBlocksPerSecond float64
}

// RunEthereumETL runs ethereum-etl's export_blocks_and_transactions and then
// export_token_transfers on the node at url for blocks from..to (inclusive), one after
// the other, and times them. The outputs are CSV files in a temporary directory that is
// removed afterwards, after their rows are counted.
//
// The first call installs ethereum-etl into the virtualenv CacheDir/venv/ethereum-etl
// (python3 -m venv, then pip install --no-deps -r ethereum-etl-requirements.txt, the
// pinned list committed beside this file: the latest ethereum-etl's unpinned dependencies
// do not import on Python 3.11, see the list's header). It needs PyPI and takes a minute;
// later calls reuse the virtualenv unless the list changed. A file lock serializes
// installs by concurrent processes.
//
// RunEthereumETL blocks until both commands end or ctx is done, which kills them.
func RunEthereumETL(ctx context.Context, url string, from, to uint64, opts ETLOptions) (PeerResult, error) {
	if err := opts.setDefaults(); err != nil {
		return PeerResult{}, err
	}
	if to < from {
		return PeerResult{}, fmt.Errorf("ingestbench: ethereum-etl range %d..%d is empty", from, to)
	}
	venv, err := ensureETL(ctx, opts)
	if err != nil {
		return PeerResult{}, err
	}
	res := PeerResult{Version: etlVersion()}
	python := filepath.Join(venv, "bin", "python")
	etl := filepath.Join(venv, "bin", "ethereumetl")

	began := time.Now()
	if _, err := run(ctx, python, "-c", "import ethereumetl.cli"); err != nil {
		return res, fmt.Errorf("ingestbench: import ethereum-etl: %w", err)
	}
	res.Startup = time.Since(began)

	dir, err := os.MkdirTemp("", "ingestbench-etl-")
	if err != nil {
		return res, fmt.Errorf("ingestbench: ethereum-etl output dir: %w", err)
	}
	defer os.RemoveAll(dir)
	blocksCSV := filepath.Join(dir, "blocks.csv")
	txsCSV := filepath.Join(dir, "transactions.csv")
	transfersCSV := filepath.Join(dir, "token_transfers.csv")
	common := []string{
		"--start-block", strconv.FormatUint(from, 10), "--end-block", strconv.FormatUint(to, 10),
		"--provider-uri", url,
		"--max-workers", strconv.Itoa(opts.MaxWorkers), "--batch-size", strconv.Itoa(opts.BatchSize),
	}

	fmt.Fprintf(opts.Progress, "ingestbench: ethereum-etl %s export_blocks_and_transactions %d..%d (workers %d, batch %d)\n",
		res.Version, from, to, opts.MaxWorkers, opts.BatchSize)
	began = time.Now()
	if _, err := run(ctx, etl, append([]string{"export_blocks_and_transactions",
		"--blocks-output", blocksCSV, "--transactions-output", txsCSV}, common...)...); err != nil {
		return res, fmt.Errorf("ingestbench: ethereum-etl export_blocks_and_transactions: %w", err)
	}
	res.BlocksElapsed = time.Since(began)

	fmt.Fprintf(opts.Progress, "ingestbench: ethereum-etl export_token_transfers %d..%d\n", from, to)
	began = time.Now()
	if _, err := run(ctx, etl, append([]string{"export_token_transfers",
		"--output", transfersCSV}, common...)...); err != nil {
		return res, fmt.Errorf("ingestbench: ethereum-etl export_token_transfers: %w", err)
	}
	res.TokenTransfersElapsed = time.Since(began)
	res.Elapsed = res.BlocksElapsed + res.TokenTransfersElapsed

	for _, c := range []struct {
		path string
		n    *uint64
	}{{blocksCSV, &res.Blocks}, {txsCSV, &res.Transactions}, {transfersCSV, &res.TokenTransfers}} {
		if *c.n, err = csvRows(c.path); err != nil {
			return res, err
		}
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		res.PeerBlocksPerSecond = float64(res.Blocks) / s
	}
	return res, nil
}

// ensureETL installs the virtualenv unless it holds the current pinned list, and returns
// its directory.
func ensureETL(ctx context.Context, opts ETLOptions) (string, error) {
	venv := filepath.Join(opts.CacheDir, "venv", "ethereum-etl")
	if err := os.MkdirAll(filepath.Dir(venv), 0o755); err != nil {
		return "", fmt.Errorf("ingestbench: venv dir: %w", err)
	}
	unlock, err := lockPath(venv + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()

	sum := sha256.Sum256(etlRequirements)
	want := hex.EncodeToString(sum[:])
	marker := filepath.Join(venv, ".weir-requirements.sha256")
	if got, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(got)) == want {
		return venv, nil
	}

	fmt.Fprintf(opts.Progress, "ingestbench: installing ethereum-etl %s into %s\n", etlVersion(), venv)
	if err := os.RemoveAll(venv); err != nil {
		return "", fmt.Errorf("ingestbench: remove old venv: %w", err)
	}
	if _, err := run(ctx, opts.Python, "-m", "venv", venv); err != nil {
		return "", fmt.Errorf("ingestbench: python -m venv: %w", err)
	}
	reqs := filepath.Join(venv, "ethereum-etl-requirements.txt")
	if err := os.WriteFile(reqs, etlRequirements, 0o644); err != nil {
		return "", fmt.Errorf("ingestbench: write requirements: %w", err)
	}
	if _, err := run(ctx, filepath.Join(venv, "bin", "python"), "-m", "pip", "install",
		"--disable-pip-version-check", "--no-input", "--no-deps", "-r", reqs); err != nil {
		return "", fmt.Errorf("ingestbench: pip install ethereum-etl: %w", err)
	}
	if _, err := run(ctx, filepath.Join(venv, "bin", "ethereumetl"), "export_token_transfers", "--help"); err != nil {
		return "", fmt.Errorf("ingestbench: installed ethereum-etl does not run: %w", err)
	}
	if err := os.WriteFile(marker, []byte(want+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("ingestbench: venv marker: %w", err)
	}
	return venv, nil
}

// etlVersion is the ethereum-etl version pinned in the requirements.
func etlVersion() string {
	for line := range strings.SplitSeq(string(etlRequirements), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ethereum-etl=="); ok {
			return v
		}
	}
	return "unknown"
}

// run runs a command, returning its combined output; a failure's error carries the
// output's tail.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		b := out.Bytes()
		if len(b) > outputTail {
			b = b[len(b)-outputTail:]
		}
		return out.Bytes(), fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, strings.TrimSpace(string(b)))
	}
	return out.Bytes(), nil
}

// csvRows counts the records of a CSV file with a header row.
func csvRows(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("ingestbench: ethereum-etl output: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var n uint64
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("ingestbench: ethereum-etl output %s: %w", filepath.Base(path), err)
		}
		n++
	}
	if n > 0 {
		n-- // the header
	}
	return n, nil
}
