//go:build race

package riskbench

// raceEnabled: the race detector slows the in-process pipeline about tenfold, so the
// acceptance test runs a short run and checks the plumbing only.
const (
	raceEnabled = true
	raceBlocks  = 120
)
