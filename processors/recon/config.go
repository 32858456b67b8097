package recon

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults of Config.
const (
	DefaultApp          = "recon"
	DefaultTransfers    = "chain.transfers"
	DefaultTransactions = "chain.transactions"
	DefaultRetractions  = "chain.retractions"
	DefaultFinality     = "chain.finality"
	DefaultBlocks       = "chain.blocks"
	DefaultIntents      = "payments.intents"
	DefaultPayouts      = "settlement.payouts"
	DefaultSigned       = "signer.signed"
	DefaultResults      = "recon.results"
	// DefaultDepth is the confirmation depth of a chain missing from Config.Depths.
	DefaultDepth = 12
	// DefaultHold is how long, in event time, a transfer to an address the join does
	// not know is held in case its intent or payout is still on its way.
	DefaultHold = 2 * time.Minute
	// DevDepth is the confirmation depth `weir dev` uses: one block (the simulated chain
	// has no finality of its own worth waiting for).
	DevDepth = 1
)

// Config configures the reconciliation processor. The zero value takes every default.
type Config struct {
	// App names the processor: the join stage's consumer group and changelog prefix,
	// and the prefix of the other stages ("<app>-rekey", "<app>-signed",
	// "<app>-broadcast", "<app>-pair") and of the internal topics ("<app>.keyed",
	// "<app>.control", "<app>.signing"). Default "recon".
	App string
	// Transfers is the chain transfers topic; its partition count is the count of the
	// internal topics and of the join stage's tasks. Default "chain.transfers".
	Transfers string
	// Transactions is the chain transactions topic, read for payout transactions that
	// reverted. Default "chain.transactions".
	Transactions string
	// Retractions, Finality and Blocks are the chain's control topics (one partition
	// each). Defaults "chain.retractions", "chain.finality", "chain.blocks".
	Retractions, Finality, Blocks string
	// Intents is the payment intents topic. Default "payments.intents".
	Intents string
	// Payouts is the settlement payouts topic. Default "settlement.payouts".
	Payouts string
	// Signed is the signer's signed transactions topic. Default "signer.signed".
	Signed string
	// Results is where results go. Default "recon.results".
	Results string
	// Depths maps a chain id to its confirmation depth: a transfer with that many blocks
	// on top of (and including) its block counts as final even before its block is
	// FINALIZED. A depth of 0 disables depth for the chain (only FINALIZED counts).
	// Chains not in the map get DefaultDepth.
	Depths map[uint64]uint64
	// DefaultDepth is the depth of chains missing from Depths. Default 12 (DefaultDepth).
	DefaultDepth uint64
	// Hold is how long, in event time, the join holds a transfer to an address that is
	// not (yet) a deposit address or the destination of a signed payout, in case the
	// intent or signed transaction that explains it is still in the other stages
	// (which add a hop or three, more while a stage restarts). Every such transfer costs
	// a store write, a timer and their changelog records. Default 2m (DefaultHold);
	// negative disables holding.
	Hold time.Duration
	// StateDir is the directory under which each stage keeps its local state
	// (StateDir/<stage app>). Default ".weir/state".
	StateDir string
	// Replicas is the replication factor of the internal topics it creates. Default -1,
	// the broker's default.
	Replicas int16
	// KafkaOpts are franz-go options (TLS, SASL, a dialer) for every client of every
	// stage and for the admin client that creates the internal topics. Default: none.
	KafkaOpts []kgo.Opt
}

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.App, DefaultApp)
	def(&c.Transfers, DefaultTransfers)
	def(&c.Transactions, DefaultTransactions)
	def(&c.Retractions, DefaultRetractions)
	def(&c.Finality, DefaultFinality)
	def(&c.Blocks, DefaultBlocks)
	def(&c.Intents, DefaultIntents)
	def(&c.Payouts, DefaultPayouts)
	def(&c.Signed, DefaultSigned)
	def(&c.Results, DefaultResults)
	def(&c.StateDir, filepath.Join(".weir", "state"))
	if c.Hold == 0 {
		c.Hold = DefaultHold
	}
	if c.DefaultDepth == 0 {
		c.DefaultDepth = DefaultDepth
	}
	if c.Replicas == 0 {
		c.Replicas = -1
	}
	return c
}

var nameRe = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,180}$`)

// Validate reports what is malformed in c (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	for _, n := range []string{c.App, c.Transfers, c.Transactions, c.Retractions, c.Finality,
		c.Blocks, c.Intents, c.Payouts, c.Signed, c.Results} {
		if !nameRe.MatchString(n) {
			errs = append(errs, fmt.Errorf("name %q: want 1-180 characters of [a-zA-Z0-9._-]", n))
		}
	}
	if c.Replicas < -1 || c.Replicas == 0 {
		errs = append(errs, fmt.Errorf("replicas %d: want -1 or at least 1", c.Replicas))
	}
	return errors.Join(errs...)
}

// depth returns the confirmation depth of chain.
func (c Config) depth(chain uint64) uint64 {
	if d, ok := c.Depths[chain]; ok {
		return d
	}
	return c.DefaultDepth
}

// Internal topic names.
func (c Config) keyedTopic() string   { return c.App + ".keyed" }
func (c Config) controlTopic() string { return c.App + ".control" }
func (c Config) signingTopic() string { return c.App + ".signing" }

// Stage apps.
func (c Config) rekeyApp() string     { return c.App + "-rekey" }
func (c Config) signedApp() string    { return c.App + "-signed" }
func (c Config) broadcastApp() string { return c.App + "-broadcast" }
func (c Config) pairApp() string      { return c.App + "-pair" }
