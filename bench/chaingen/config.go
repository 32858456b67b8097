package chaingen

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// MaxTxsPerBlock bounds the ordinary transactions of one block (Rate × BlockInterval);
// pattern transactions come on top. At the gas limits the generator uses (about 220k per
// ERC-20 call and 370k per NFT call on the v1.17 dev chain) a block of them stays inside
// the dev chain's 60M block gas limit, so every transaction sent for a block is mined in
// it.
const MaxTxsPerBlock = 200

// Config configures a Chain. The zero value is valid: every zero field takes the default
// its comment states.
type Config struct {
	// HTTPPort is the loopback port of the HTTP JSON-RPC server. Default 0: a free port.
	HTTPPort int
	// WSPort is the loopback port of the WebSocket JSON-RPC server. Default 0: a free port.
	WSPort int

	// Accounts is the number of funded accounts that send traffic, at least 4.
	// Default 20.
	Accounts int
	// Seed seeds the account keys and every random choice. Default 1.
	Seed uint64

	// Rate is the number of ordinary transactions per second of BlockInterval.
	// Default 20.
	Rate int
	// BlockInterval is the time between blocks in Run, and the share of Rate each block
	// carries. Default 1s.
	BlockInterval time.Duration

	// FraudRate is the probability that a fraud pattern starts in a block, in [0, 1].
	// Default 0.05; negative disables random patterns (InjectPattern still works).
	FraudRate float64
	// StructuringThreshold is the reporting threshold that structuring stays under, in
	// token base units (the token has 18 decimals). Default 10,000 tokens (10^22).
	StructuringThreshold *big.Int

	// ReorgEvery makes Run and Blocks reorganise the chain every so many blocks.
	// Default 0: never.
	ReorgEvery int
	// MaxReorgDepth is the largest depth of those reorgs. Default 3.
	MaxReorgDepth int

	// OnLabel receives every fraud label, after the block that completed its pattern is
	// mined, from the goroutine that called Step, Blocks or Run, without the Chain's
	// lock held. Default nil: labels are dropped.
	OnLabel func(*riskv1.RiskLabel)
	// OnPattern receives every completed pattern with its transactions and labels, like
	// OnLabel and after it. Default nil.
	OnPattern func(Pattern)
	// OnReorg receives every reorg, like OnLabel. Default nil.
	OnReorg func(ReorgInfo)
}

func (c *Config) setDefaults() {
	if c.Accounts == 0 {
		c.Accounts = 20
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Rate == 0 {
		c.Rate = 20
	}
	if c.BlockInterval == 0 {
		c.BlockInterval = time.Second
	}
	if c.FraudRate == 0 {
		c.FraudRate = 0.05
	}
	if c.StructuringThreshold == nil {
		c.StructuringThreshold = new(big.Int).Mul(big.NewInt(10_000), tokenUnit)
	}
	if c.MaxReorgDepth == 0 {
		c.MaxReorgDepth = 3
	}
}

// Validate reports the first invalid field of c, after defaults are applied to a copy.
// It does not block.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.HTTPPort < 0 || c.HTTPPort > 65535 {
		errs = append(errs, fmt.Errorf("http port %d out of range", c.HTTPPort))
	}
	if c.WSPort < 0 || c.WSPort > 65535 {
		errs = append(errs, fmt.Errorf("ws port %d out of range", c.WSPort))
	}
	if c.HTTPPort != 0 && c.HTTPPort == c.WSPort {
		errs = append(errs, fmt.Errorf("http and ws port are both %d", c.HTTPPort))
	}
	if c.Accounts < 4 || c.Accounts > 10_000 {
		errs = append(errs, fmt.Errorf("accounts %d not in [4, 10000]", c.Accounts))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %d is negative", c.Rate))
	}
	if c.BlockInterval < 0 {
		errs = append(errs, fmt.Errorf("block interval %s is negative", c.BlockInterval))
	}
	if perBlock := int64(c.Rate) * int64(c.BlockInterval) / int64(time.Second); perBlock > MaxTxsPerBlock {
		errs = append(errs, fmt.Errorf("rate %d/s × interval %s = %d transactions per block, more than %d",
			c.Rate, c.BlockInterval, perBlock, MaxTxsPerBlock))
	}
	if c.FraudRate > 1 {
		errs = append(errs, fmt.Errorf("fraud rate %v above 1", c.FraudRate))
	}
	if c.StructuringThreshold.Cmp(big.NewInt(1000)) < 0 {
		errs = append(errs, fmt.Errorf("structuring threshold %s below 1000 base units", c.StructuringThreshold))
	}
	if c.StructuringThreshold.Cmp(new(big.Int).Mul(big.NewInt(1e12), tokenUnit)) > 0 {
		errs = append(errs, fmt.Errorf("structuring threshold %s above 10^12 tokens", c.StructuringThreshold))
	}
	if c.ReorgEvery < 0 {
		errs = append(errs, fmt.Errorf("reorg every %d is negative", c.ReorgEvery))
	}
	if c.MaxReorgDepth < 1 || c.MaxReorgDepth > 31 {
		errs = append(errs, fmt.Errorf("max reorg depth %d not in [1, 31]", c.MaxReorgDepth))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("chaingen config: %w", err)
	}
	return nil
}
