package chaingen

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// PatternKind is a fraud pattern the generator injects.
type PatternKind int

// The fraud patterns; see the package documentation.
const (
	PatternTakeover PatternKind = iota + 1
	PatternStructuring
	PatternDrain
	PatternRoundTrip
)

// PatternKinds lists every PatternKind.
var PatternKinds = []PatternKind{PatternTakeover, PatternStructuring, PatternDrain, PatternRoundTrip}

// String returns the name used in label ids: "takeover", "structuring", "drain",
// "round_trip".
func (k PatternKind) String() string {
	switch k {
	case PatternTakeover:
		return "takeover"
	case PatternStructuring:
		return "structuring"
	case PatternDrain:
		return "drain"
	case PatternRoundTrip:
		return "round_trip"
	}
	return "PatternKind(" + strconv.Itoa(int(k)) + ")"
}

// FraudPattern returns the label a pattern of kind k gets.
func (k PatternKind) FraudPattern() riskv1.FraudPattern {
	switch k {
	case PatternTakeover, PatternDrain:
		return riskv1.FraudPattern_FRAUD_PATTERN_ACCOUNT_TAKEOVER
	case PatternStructuring:
		return riskv1.FraudPattern_FRAUD_PATTERN_STRUCTURING
	case PatternRoundTrip:
		return riskv1.FraudPattern_FRAUD_PATTERN_MONEY_MULE
	}
	return riskv1.FraudPattern_FRAUD_PATTERN_UNSPECIFIED
}

// Pattern is one completed pattern instance: the ground truth behind its labels.
type Pattern struct {
	Kind PatternKind
	// Seq numbers the instances of a Chain from 1, in the order they started.
	Seq uint64
	// Addresses are the labelled addresses, one label each.
	Addresses []common.Address
	// Counterparties are the other addresses the pattern sent to (fresh addresses of a
	// takeover or drain, the recipients of structuring); empty for a round trip.
	Counterparties []common.Address
	// Txs are the pattern's transactions in the order sent, all mined with status 1.
	// A drain's refill is not one of them.
	Txs []common.Hash
	// FirstBlock and LastBlock are the blocks of the first and last of Txs.
	FirstBlock, LastBlock uint64
	// Labels are the labels delivered to Config.OnLabel, in the order of Addresses.
	Labels []*riskv1.RiskLabel
}

// EntityID returns the RiskLabel / FeatureVector entity id of an address: "<chain
// id>:0x<lowercase hex>", as weir.risk.v1.EntityType ENTITY_TYPE_ADDRESS specifies.
func EntityID(chainID uint64, addr common.Address) string {
	return strconv.FormatUint(chainID, 10) + ":0x" + hex.EncodeToString(addr[:])
}

// instance is a pattern in progress. Each stage sends the transactions of one block.
type instance struct {
	kind           PatternKind
	seq            uint64
	members        []*account // accounts the pattern sends from; ordinary traffic avoids them
	labeled        []common.Address
	counterparties []common.Address
	stages         []func(ctx context.Context) error
	next           int

	sent   []sentTx // transactions of the current stage
	txs    []common.Hash
	first  uint64
	last   headRef
	failed error
}

type sentTx struct {
	hash    common.Hash
	labeled bool
}

// reserved returns the accounts the active patterns occupy.
func (c *Chain) reserved() map[common.Address]bool {
	r := make(map[common.Address]bool)
	for _, in := range c.active {
		for _, a := range in.members {
			r[a.addr] = true
		}
	}
	return r
}

// startPatterns starts the queued patterns and, with probability FraudRate, a random
// one, and returns the active patterns. A queued pattern that cannot start (not enough
// free accounts) stays queued.
func (c *Chain) startPatterns(ctx context.Context, reserved map[common.Address]bool) []*instance {
	type want struct {
		kind   PatternKind
		forced bool
	}
	var wants []want
	for _, k := range c.queued {
		wants = append(wants, want{k, true})
	}
	c.queued = nil
	if roll := c.rng.Float64(); c.cfg.FraudRate > 0 && roll < c.cfg.FraudRate {
		wants = append(wants, want{PatternKinds[c.rng.IntN(len(PatternKinds))], false})
	}
	for _, w := range wants {
		in := c.newInstance(ctx, w.kind, reserved)
		if in == nil {
			if w.forced {
				c.queued = append(c.queued, w.kind)
			}
			continue
		}
		for _, a := range in.members {
			reserved[a.addr] = true
		}
		c.active = append(c.active, in)
	}
	return slices.Clone(c.active)
}

// pickFree returns n distinct random accounts that are not reserved, or nil.
func (c *Chain) pickFree(reserved map[common.Address]bool, n int) []*account {
	free := c.freeAccounts(reserved)
	if len(free) < n+1 { // leave one account for ordinary traffic
		return nil
	}
	c.rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	return free[:n]
}

// newInstance plans a pattern of kind k, or returns nil when it cannot run now.
func (c *Chain) newInstance(ctx context.Context, k PatternKind, reserved map[common.Address]bool) *instance {
	switch k {
	case PatternTakeover:
		return c.planTakeover(reserved)
	case PatternStructuring:
		return c.planStructuring(ctx, reserved)
	case PatternDrain:
		return c.planDrain(reserved)
	case PatternRoundTrip:
		return c.planRoundTrip(ctx, reserved)
	}
	return nil
}

func (c *Chain) newInstanceOf(k PatternKind, members ...*account) *instance {
	c.seq++
	return &instance{kind: k, seq: c.seq, members: members}
}

// planTakeover: the victim sends a burst of ETH and token transfers, 4 per block for 3
// blocks, to 3 fresh addresses.
func (c *Chain) planTakeover(reserved map[common.Address]bool) *instance {
	m := c.pickFree(reserved, 1)
	if m == nil {
		return nil
	}
	victim := m[0]
	in := c.newInstanceOf(PatternTakeover, victim)
	in.labeled = []common.Address{victim.addr}
	for range 3 {
		in.counterparties = append(in.counterparties, c.freshAddress())
	}
	burst := func(ctx context.Context) error {
		for i := range 4 {
			to := in.counterparties[c.rng.IntN(len(in.counterparties))]
			if i%2 == 0 {
				// 1,000 to 20,000 ETH of the victim's 1,000,000.
				eth := new(big.Int).Mul(big.NewInt(int64(1000+c.rng.IntN(19_001))), big.NewInt(1e18))
				if err := c.patternTx(ctx, in, victim, kindNative, to, eth, nil, gasNative, true); err != nil {
					return err
				}
				continue
			}
			bal, err := c.tokenBalance(ctx, victim.addr)
			if err != nil {
				return err
			}
			// 2% to 6% of the balance as it was at the last block.
			amount := new(big.Int).Div(new(big.Int).Mul(bal, big.NewInt(int64(2+c.rng.IntN(5)))), big.NewInt(100))
			if amount.Sign() == 0 {
				return errors.New("takeover victim has no tokens")
			}
			data := c.pack(c.tokenABI, "transfer", to, amount)
			if err := c.patternTx(ctx, in, victim, kindTokenTransfer, c.token, nil, data, c.gasToken, true); err != nil {
				return err
			}
		}
		return nil
	}
	in.stages = []func(context.Context) error{burst, burst, burst}
	return in
}

// planStructuring: 3 to 6 token transfers, each 0 to 2% under the threshold, to one or
// two recipients over two blocks.
func (c *Chain) planStructuring(ctx context.Context, reserved map[common.Address]bool) *instance {
	m := c.pickFree(reserved, 1)
	if m == nil {
		return nil
	}
	from := m[0]
	n := 3 + c.rng.IntN(4)
	threshold := c.cfg.StructuringThreshold
	need := new(big.Int).Mul(threshold, big.NewInt(int64(n)))
	if bal, err := c.tokenBalance(ctx, from.addr); err != nil || bal.Cmp(need) < 0 {
		return nil
	}
	in := c.newInstanceOf(PatternStructuring, from)
	in.labeled = []common.Address{from.addr}
	for range 1 + c.rng.IntN(2) {
		in.counterparties = append(in.counterparties, c.otherAccount(from.addr))
	}
	margin := new(big.Int).Div(threshold, big.NewInt(50))
	send := func(count int) func(context.Context) error {
		return func(ctx context.Context) error {
			for range count {
				// threshold - 1 - [0, threshold/50): just under, never at.
				amount := new(big.Int).Sub(threshold, big.NewInt(1))
				amount.Sub(amount, c.randBelow(margin))
				to := in.counterparties[c.rng.IntN(len(in.counterparties))]
				data := c.pack(c.tokenABI, "transfer", to, amount)
				if err := c.patternTx(ctx, in, from, kindTokenTransfer, c.token, nil, data, c.gasToken, true); err != nil {
					return err
				}
			}
			return nil
		}
	}
	in.stages = []func(context.Context) error{send((n + 1) / 2), send(n / 2)}
	return in
}

// planDrain: the victim sends its token balance but 0.1% to 6 to 12 fresh addresses in
// one block; the minter refills the victim in the next.
func (c *Chain) planDrain(reserved map[common.Address]bool) *instance {
	m := c.pickFree(reserved, 1)
	if m == nil {
		return nil
	}
	victim := m[0]
	in := c.newInstanceOf(PatternDrain, victim)
	in.labeled = []common.Address{victim.addr}
	for range 6 + c.rng.IntN(7) {
		in.counterparties = append(in.counterparties, c.freshAddress())
	}
	drain := func(ctx context.Context) error {
		bal, err := c.tokenBalance(ctx, victim.addr)
		if err != nil {
			return err
		}
		rest := new(big.Int).Sub(bal, new(big.Int).Div(bal, big.NewInt(1000)))
		if rest.Cmp(big.NewInt(int64(100*len(in.counterparties)))) < 0 {
			return errors.New("drain victim has too few tokens")
		}
		weights := make([]int64, len(in.counterparties))
		var sum int64
		for i := range weights {
			weights[i] = int64(1 + c.rng.IntN(100))
			sum += weights[i]
		}
		left := new(big.Int).Set(rest)
		for i, to := range in.counterparties {
			part := new(big.Int).Div(new(big.Int).Mul(rest, big.NewInt(weights[i])), big.NewInt(sum))
			if i == len(in.counterparties)-1 {
				part = left
			}
			left = new(big.Int).Sub(left, part)
			data := c.pack(c.tokenABI, "transfer", to, part)
			if err := c.patternTx(ctx, in, victim, kindTokenTransfer, c.token, nil, data, c.gasToken, true); err != nil {
				return err
			}
		}
		return nil
	}
	refill := func(ctx context.Context) error {
		data := c.pack(c.tokenABI, "mint", victim.addr, tokenGrant)
		return c.patternTx(ctx, in, c.minter, kindTokenMint, c.token, nil, data, c.gasToken, false)
	}
	in.stages = []func(context.Context) error{drain, refill}
	return in
}

// planRoundTrip: A→B, B→C, C→A in three blocks; each hop keeps 0.1% to 1%.
func (c *Chain) planRoundTrip(ctx context.Context, reserved map[common.Address]bool) *instance {
	m := c.pickFree(reserved, 3)
	if m == nil {
		return nil
	}
	// 1,000 to 50,000 tokens, not a round number.
	amount := new(big.Int).Mul(big.NewInt(int64(1000+c.rng.IntN(49_000))), tokenUnit)
	amount.Add(amount, c.randBelow(tokenUnit))
	for _, a := range m {
		if bal, err := c.tokenBalance(ctx, a.addr); err != nil || bal.Cmp(amount) < 0 {
			return nil
		}
	}
	in := c.newInstanceOf(PatternRoundTrip, m...)
	in.labeled = []common.Address{m[0].addr, m[1].addr, m[2].addr}
	hop := func(from, to *account) func(context.Context) error {
		return func(ctx context.Context) error {
			data := c.pack(c.tokenABI, "transfer", to.addr, new(big.Int).Set(amount))
			if err := c.patternTx(ctx, in, from, kindTokenTransfer, c.token, nil, data, c.gasToken, true); err != nil {
				return err
			}
			cut := new(big.Int).Mul(amount, big.NewInt(int64(10+c.rng.IntN(91))))
			amount.Sub(amount, cut.Div(cut, big.NewInt(10_000)))
			return nil
		}
	}
	in.stages = []func(context.Context) error{hop(m[0], m[1]), hop(m[1], m[2]), hop(m[2], m[0])}
	return in
}

// patternTx sends one transaction of a pattern and records it for the check after the
// block is mined.
func (c *Chain) patternTx(ctx context.Context, in *instance, from *account, kind txKind, to common.Address, value *big.Int, data []byte, gas uint64, labeled bool) error {
	tx, err := c.send(ctx, from, kind, to, value, data, gas)
	if err != nil {
		return err
	}
	in.sent = append(in.sent, sentTx{hash: tx.Hash(), labeled: labeled})
	return nil
}

// runStage sends the next stage of in.
func (c *Chain) runStage(ctx context.Context, in *instance) {
	if in.failed != nil {
		return
	}
	in.sent = in.sent[:0]
	if err := in.stages[in.next](ctx); err != nil {
		in.failed = fmt.Errorf("%s #%d stage %d: %w", in.kind, in.seq, in.next, err)
	}
}

// finishStage checks the stage of in mined in the head block. It returns done when the
// instance left the active list, and the Pattern when it completed.
func (c *Chain) finishStage(ctx context.Context, in *instance) (*Pattern, bool) {
	if in.failed == nil {
		for _, s := range in.sent {
			r, err := c.client.TransactionReceipt(ctx, s.hash)
			switch {
			case err != nil:
				in.failed = fmt.Errorf("receipt of %s: %w", s.hash, err)
			case r.BlockHash != c.head.hash:
				in.failed = fmt.Errorf("%s mined in %s, not the head %s", s.hash, r.BlockHash, c.head.hash)
			case r.Status != types.ReceiptStatusSuccessful:
				in.failed = fmt.Errorf("%s failed", s.hash)
			}
			if in.failed != nil {
				break
			}
			if s.labeled {
				if len(in.txs) == 0 {
					in.first = c.head.number
				}
				in.txs = append(in.txs, s.hash)
				in.last = c.head
			}
		}
	}
	if len(in.sent) > 0 {
		c.patternBlock = c.head.number
	}
	if in.failed != nil {
		c.dropInstance(in)
		return nil, true
	}
	in.next++
	if in.next < len(in.stages) {
		return nil, false
	}
	c.removeActive(in)
	p, err := c.complete(in)
	if err != nil {
		in.failed = err
		c.count(func(s *Stats) { s.PatternsFailed++ })
		return nil, true
	}
	return p, true
}

// dropInstance abandons a failed pattern: no labels.
func (c *Chain) dropInstance(in *instance) {
	c.removeActive(in)
	c.count(func(s *Stats) { s.PatternsFailed++ })
}

func (c *Chain) removeActive(in *instance) {
	c.active = slices.DeleteFunc(c.active, func(x *instance) bool { return x == in })
}

// complete builds the labels of a finished instance and counts it.
func (c *Chain) complete(in *instance) (*Pattern, error) {
	p := &Pattern{
		Kind:           in.kind,
		Seq:            in.seq,
		Addresses:      in.labeled,
		Counterparties: in.counterparties,
		Txs:            in.txs,
		FirstBlock:     in.first,
		LastBlock:      in.last.number,
	}
	at := timestamppb.New(time.Unix(int64(in.last.time), 0).UTC())
	for _, addr := range in.labeled {
		id := "chaingen:" + in.kind.String() + ":" + in.last.hash.Hex() + ":" +
			strconv.FormatUint(in.seq, 10) + ":0x" + hex.EncodeToString(addr[:])
		l := &riskv1.RiskLabel{
			Meta: &commonv1.Meta{
				EventId:   eventid.New("weir.risk.v1.RiskLabel", id),
				EventTime: at,
				Source:    "bench/chaingen",
			},
			LabelId:      id,
			EntityType:   riskv1.EntityType_ENTITY_TYPE_ADDRESS,
			EntityId:     EntityID(ChainID, addr),
			Pattern:      in.kind.FraudPattern(),
			Source:       riskv1.LabelSource_LABEL_SOURCE_ANALYST,
			LabelerId:    "chaingen",
			ConfidenceBp: 10_000,
		}
		if err := codec.Validate(l); err != nil {
			return nil, fmt.Errorf("chaingen: label of %s #%d: %w", in.kind, in.seq, err)
		}
		p.Labels = append(p.Labels, l)
	}
	c.count(func(s *Stats) {
		switch in.kind {
		case PatternTakeover:
			s.Takeovers++
		case PatternStructuring:
			s.Structurings++
		case PatternDrain:
			s.Drains++
		case PatternRoundTrip:
			s.RoundTrips++
		}
		s.PatternTxs += uint64(len(in.txs))
		s.Labels += uint64(len(p.Labels))
	})
	return p, nil
}
