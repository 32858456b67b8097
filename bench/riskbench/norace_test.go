//go:build !race

package riskbench

const (
	raceEnabled = false
	raceBlocks  = 0
)
