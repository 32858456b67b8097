package ingestbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// ErrIncomplete is returned by [Run] when the backfill reports fewer or more blocks or
// logs than the chain has in the range, or ethereum-etl exports another number of
// blocks: a rate is then not comparable.
var ErrIncomplete = errors.New("ingestbench: a run did not cover the range exactly")

// Result is what weir's backfill reports: the blocks and logs it wrote and the wall time
// it took.
type Result struct {
	Blocks, Logs uint64
	Elapsed      time.Duration
}

// Backfill backfills blocks from..to (inclusive) of the chain chainID served at url. It
// blocks until done and returns what it did. [Run] takes weir's indexer in this form.
type Backfill func(ctx context.Context, url string, chainID, from, to uint64) (Result, error)

// Report is the outcome of [Run]. Its rates are per second of wall time; logs/s counts
// the chain's logs (eth_getLogs over the range), not the backfill's own count.
type Report struct {
	// From and To are the backfilled range; Transactions, Logs and TokenTransfers the
	// chain's counts over it.
	From, To                           uint64
	Transactions, Logs, TokenTransfers uint64
	Weir                               Result
	Peer                               *PeerResult // nil unless run with VsEthereumETL
	BlocksPerSecond, LogsPerSecond     float64
	PeerBlocksPerSecond, Ratio         float64 // 0 unless run with VsEthereumETL
	Mismatch                           string  // why the backfill's counts are off, if they are
}

// Line is the report's machine-readable last line, one JSON object:
// {"blocks_per_s":…,"logs_per_s":…,"peer_blocks_per_s":…,"ratio":…}, rates rounded to
// 0.01 and the ratio to 0.001; the peer fields are 0 when ethereum-etl did not run.
func (r Report) Line() string {
	b, _ := json.Marshal(struct {
		BlocksPerSecond     float64 `json:"blocks_per_s"`
		LogsPerSecond       float64 `json:"logs_per_s"`
		PeerBlocksPerSecond float64 `json:"peer_blocks_per_s"`
		Ratio               float64 `json:"ratio"`
	}{round(r.BlocksPerSecond, 2), round(r.LogsPerSecond, 2), round(r.PeerBlocksPerSecond, 2), round(r.Ratio, 3)})
	return string(b)
}

// WriteTo writes a human-readable summary and then [Report.Line] as the last line.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	blocks := r.To - r.From + 1
	fmt.Fprintf(cw, "ingest benchmark: blocks %d..%d (%d blocks, %d transactions, %d logs, %d token transfers)\n",
		r.From, r.To, blocks, r.Transactions, r.Logs, r.TokenTransfers)
	fmt.Fprintf(cw, "  weir:         %d blocks, %d logs in %v: %.1f blocks/s, %.1f logs/s\n",
		r.Weir.Blocks, r.Weir.Logs, r.Weir.Elapsed.Round(time.Millisecond), r.BlocksPerSecond, r.LogsPerSecond)
	if r.Mismatch != "" {
		fmt.Fprintf(cw, "  MISMATCH:     %s\n", r.Mismatch)
	}
	if p := r.Peer; p != nil {
		fmt.Fprintf(cw, "  ethereum-etl: %s, %d blocks, %d transactions, %d token transfers in %v (blocks %v + token transfers %v; interpreter start %v each): %.1f blocks/s\n",
			p.Version, p.Blocks, p.Transactions, p.TokenTransfers, p.Elapsed.Round(time.Millisecond),
			p.BlocksElapsed.Round(time.Millisecond), p.TokenTransfersElapsed.Round(time.Millisecond),
			p.Startup.Round(time.Millisecond), p.PeerBlocksPerSecond)
		fmt.Fprintf(cw, "  ratio:        %.2fx ethereum-etl's blocks/s (goal: 3x)\n", r.Ratio)
	}
	fmt.Fprintln(cw, r.Line())
	return cw.n, cw.err
}

// Run prepares the chain ([Prepare]), times backfill over its range, with
// opts.VsEthereumETL times ethereum-etl on the same node and range ([RunEthereumETL]),
// then writes the report to out, the JSON line last. It stops the chain's geth before
// returning.
//
// When the backfill's block or log count differs from the chain's, the report is still
// written, marked, and Run returns it with an error wrapping [ErrIncomplete]; so it does
// when ethereum-etl's block count differs from the range. Run blocks until done.
func Run(ctx context.Context, opts Options, backfill Backfill, out io.Writer) (rep Report, err error) {
	if err := opts.setDefaults(); err != nil {
		return Report{}, err
	}
	chain, err := Prepare(ctx, opts)
	if err != nil {
		return Report{}, err
	}
	defer func() {
		if cerr := chain.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	rep = Report{From: chain.From, To: chain.To, Transactions: chain.Transactions, Logs: chain.Logs, TokenTransfers: chain.TokenTransfers}

	fmt.Fprintf(opts.Progress, "ingestbench: weir backfill of %d..%d from %s\n", chain.From, chain.To, chain.URL())
	res, err := backfill(ctx, chain.URL(), chain.ChainID(), chain.From, chain.To)
	if err != nil {
		return rep, fmt.Errorf("ingestbench: weir backfill: %w", err)
	}
	rep.Weir = res
	if s := res.Elapsed.Seconds(); s > 0 {
		rep.BlocksPerSecond = float64(chain.Blocks()) / s
		rep.LogsPerSecond = float64(chain.Logs) / s
	}
	var mismatch []string
	if res.Blocks != chain.Blocks() || res.Logs != chain.Logs {
		mismatch = append(mismatch, fmt.Sprintf("weir reported %d blocks and %d logs, the chain has %d and %d", res.Blocks, res.Logs, chain.Blocks(), chain.Logs))
	}

	if opts.VsEthereumETL {
		peer, err := RunEthereumETL(ctx, chain.URL(), chain.From, chain.To, opts.ETL)
		if err != nil {
			return rep, err
		}
		rep.Peer = &peer
		rep.PeerBlocksPerSecond = peer.PeerBlocksPerSecond
		if peer.PeerBlocksPerSecond > 0 {
			rep.Ratio = rep.BlocksPerSecond / peer.PeerBlocksPerSecond
		}
		if peer.Blocks != chain.Blocks() {
			mismatch = append(mismatch, fmt.Sprintf("ethereum-etl exported %d blocks of %d", peer.Blocks, chain.Blocks()))
		}
	}
	rep.Mismatch = strings.Join(mismatch, "; ")
	if _, err := rep.WriteTo(out); err != nil {
		return rep, fmt.Errorf("ingestbench: write report: %w", err)
	}
	if rep.Mismatch != "" {
		return rep, fmt.Errorf("%w: %s", ErrIncomplete, rep.Mismatch)
	}
	return rep, nil
}

func round(x float64, places int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow10(places)
	return math.Round(x*p) / p
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
