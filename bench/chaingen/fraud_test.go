package chaingen_test

import (
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/weirhq/weir/bench/chaingen"
	"github.com/weirhq/weir/ingest/ethereum/contracts"
	"github.com/weirhq/weir/schemas/codec"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// tokenMove is one mined ERC-20 Transfer of a pattern.
type tokenMove struct {
	block    uint64
	from, to common.Address
	value    *big.Int
}

// patternChain is a chain with every pattern forced once and the patterns and labels it
// delivered.
type patternChain struct {
	c        *chaingen.Chain
	cl       *ethclient.Client
	token    *contracts.WeirToken
	patterns map[chaingen.PatternKind]chaingen.Pattern
	labels   []*riskv1.RiskLabel
}

func newPatternChain(t *testing.T) *patternChain {
	t.Helper()
	pc := &patternChain{patterns: map[chaingen.PatternKind]chaingen.Pattern{}}
	pc.c = start(t, chaingen.Config{
		Rate:      10,
		FraudRate: -1,
		OnLabel:   func(l *riskv1.RiskLabel) { pc.labels = append(pc.labels, l) },
		OnPattern: func(p chaingen.Pattern) {
			if _, dup := pc.patterns[p.Kind]; dup {
				t.Errorf("pattern %s delivered twice", p.Kind)
			}
			pc.patterns[p.Kind] = p
		},
	})
	pc.cl = dial(t, pc.c.URL())
	token, err := contracts.NewWeirToken(pc.c.Token(), pc.cl)
	if err != nil {
		t.Fatal(err)
	}
	pc.token = token
	for _, k := range chaingen.PatternKinds {
		pc.c.InjectPattern(k)
	}
	for i := 0; len(pc.patterns) < len(chaingen.PatternKinds); i++ {
		if i == 10 {
			t.Fatalf("after 10 blocks only %d patterns completed; stats %+v", len(pc.patterns), pc.c.Stats())
		}
		if err := pc.c.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if st := pc.c.Stats(); st.PatternsFailed != 0 || st.SendErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	return pc
}

// moves checks that every transaction of p is mined with status 1 within its blocks,
// sent by one of senders, and returns its token transfers.
func (pc *patternChain) moves(t *testing.T, p chaingen.Pattern, senders ...common.Address) (moves []tokenMove, native int) {
	t.Helper()
	ctx := t.Context()
	for _, h := range p.Txs {
		r, err := pc.cl.TransactionReceipt(ctx, h)
		if err != nil {
			t.Fatalf("receipt of %s over HTTP: %v", h, err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("%s tx %s has status %d", p.Kind, h, r.Status)
		}
		if n := r.BlockNumber.Uint64(); n < p.FirstBlock || n > p.LastBlock {
			t.Fatalf("%s tx %s in block %d, pattern spans %d..%d", p.Kind, h, n, p.FirstBlock, p.LastBlock)
		}
		tx, _, err := pc.cl.TransactionByHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if from := txSender(t, tx); !slices.Contains(senders, from) {
			t.Fatalf("%s tx %s sent by %s, want one of %v", p.Kind, h, from, senders)
		}
		if len(tx.Data()) == 0 {
			native++
			continue
		}
		for _, l := range r.Logs {
			ev, err := pc.token.ParseTransfer(*l)
			if err != nil || l.Address != pc.c.Token() {
				continue
			}
			moves = append(moves, tokenMove{r.BlockNumber.Uint64(), ev.From, ev.To, ev.Value})
		}
	}
	return moves, native
}

// checkLabels checks the labels of p: one per labelled address, valid, naming it.
func (pc *patternChain) checkLabels(t *testing.T, p chaingen.Pattern, want riskv1.FraudPattern) {
	t.Helper()
	if len(p.Labels) != len(p.Addresses) || len(p.Addresses) == 0 {
		t.Fatalf("%s: %d labels for %d addresses", p.Kind, len(p.Labels), len(p.Addresses))
	}
	block, err := pc.cl.HeaderByNumber(t.Context(), new(big.Int).SetUint64(p.LastBlock))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range p.Labels {
		if err := codec.Validate(l); err != nil {
			t.Fatalf("%s label invalid: %v", p.Kind, err)
		}
		if !slices.ContainsFunc(pc.labels, func(x *riskv1.RiskLabel) bool { return x == l }) {
			t.Fatalf("%s label %s not delivered to OnLabel", p.Kind, l.LabelId)
		}
		addr := p.Addresses[i]
		if l.EntityId != chaingen.EntityID(chaingen.ChainID, addr) ||
			l.EntityId != "1337:"+strings.ToLower(addr.Hex()) {
			t.Fatalf("%s label entity %q, want the address %s", p.Kind, l.EntityId, addr)
		}
		if l.EntityType != riskv1.EntityType_ENTITY_TYPE_ADDRESS || l.Pattern != want ||
			l.Source != riskv1.LabelSource_LABEL_SOURCE_ANALYST || l.LabelerId != "chaingen" ||
			l.ConfidenceBp != 10_000 || l.SubjectEventId != "" || l.Meta.Source != "bench/chaingen" {
			t.Fatalf("%s label %+v", p.Kind, l)
		}
		if !strings.Contains(l.LabelId, p.Kind.String()) {
			t.Fatalf("%s label id %q does not name the pattern", p.Kind, l.LabelId)
		}
		if got, want := l.Meta.EventTime.AsTime(), time.Unix(int64(block.Time), 0); !got.Equal(want) {
			t.Fatalf("%s label event time %s, want block %d's %s", p.Kind, got, p.LastBlock, want)
		}
	}
}

func TestFraudPatterns(t *testing.T) {
	pc := newPatternChain(t)
	accounts := pc.c.Accounts()
	threshold := new(big.Int).Mul(big.NewInt(10_000), big.NewInt(1e18))

	t.Run("takeover", func(t *testing.T) {
		p := pc.patterns[chaingen.PatternTakeover]
		pc.checkLabels(t, p, riskv1.FraudPattern_FRAUD_PATTERN_ACCOUNT_TAKEOVER)
		victim := p.Addresses[0]
		moves, native := pc.moves(t, p, victim)
		if len(p.Txs) < 10 || native == 0 || len(moves) == 0 || p.LastBlock-p.FirstBlock < 2 {
			t.Fatalf("burst of %d txs (%d native, %d token) over blocks %d..%d", len(p.Txs), native, len(moves), p.FirstBlock, p.LastBlock)
		}
		for _, m := range moves {
			if !slices.Contains(p.Counterparties, m.to) || slices.Contains(accounts, m.to) {
				t.Fatalf("takeover sent to %s, not one of the fresh %v", m.to, p.Counterparties)
			}
		}
	})

	t.Run("structuring", func(t *testing.T) {
		p := pc.patterns[chaingen.PatternStructuring]
		pc.checkLabels(t, p, riskv1.FraudPattern_FRAUD_PATTERN_STRUCTURING)
		moves, _ := pc.moves(t, p, p.Addresses[0])
		if len(moves) < 3 {
			t.Fatalf("%d transfers", len(moves))
		}
		floor := new(big.Int).Div(new(big.Int).Mul(threshold, big.NewInt(98)), big.NewInt(100))
		for _, m := range moves {
			if m.value.Cmp(threshold) >= 0 || m.value.Cmp(floor) < 0 {
				t.Fatalf("structured amount %s not just under %s", m.value, threshold)
			}
		}
	})

	t.Run("drain", func(t *testing.T) {
		p := pc.patterns[chaingen.PatternDrain]
		pc.checkLabels(t, p, riskv1.FraudPattern_FRAUD_PATTERN_ACCOUNT_TAKEOVER)
		if !strings.Contains(p.Labels[0].LabelId, "drain") {
			t.Fatalf("label id %q lacks drain", p.Labels[0].LabelId)
		}
		victim := p.Addresses[0]
		moves, _ := pc.moves(t, p, victim)
		seen := map[common.Address]bool{}
		sent := new(big.Int)
		for _, m := range moves {
			if slices.Contains(accounts, m.to) || m.to == pc.c.Minter() || seen[m.to] {
				t.Fatalf("drain sent to %s: not a fresh address", m.to)
			}
			seen[m.to] = true
			sent.Add(sent, m.value)
		}
		if len(seen) < 6 || p.FirstBlock != p.LastBlock {
			t.Fatalf("drain to %d addresses over blocks %d..%d", len(seen), p.FirstBlock, p.LastBlock)
		}
		before, err := pc.token.BalanceOf(&bind.CallOpts{Context: t.Context(), BlockNumber: new(big.Int).SetUint64(p.FirstBlock - 1)}, victim)
		if err != nil {
			t.Fatal(err)
		}
		// All of the balance but 0.1% went out.
		if left := new(big.Int).Sub(before, sent); left.Sign() < 0 || left.Cmp(new(big.Int).Div(before, big.NewInt(1000))) > 0 {
			t.Fatalf("drained %s of %s", sent, before)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		p := pc.patterns[chaingen.PatternRoundTrip]
		pc.checkLabels(t, p, riskv1.FraudPattern_FRAUD_PATTERN_MONEY_MULE)
		if len(p.Addresses) != 3 {
			t.Fatalf("%d addresses", len(p.Addresses))
		}
		a, b, c := p.Addresses[0], p.Addresses[1], p.Addresses[2]
		moves, _ := pc.moves(t, p, a, b, c)
		want := [][2]common.Address{{a, b}, {b, c}, {c, a}}
		if len(moves) != 3 {
			t.Fatalf("%d transfers", len(moves))
		}
		for i, m := range moves {
			if m.from != want[i][0] || m.to != want[i][1] {
				t.Fatalf("hop %d: %s→%s, want %s→%s", i, m.from, m.to, want[i][0], want[i][1])
			}
			if i == 0 {
				continue
			}
			prev := moves[i-1]
			// About the same amount: a hop keeps at most 1%, and the hops are in
			// successive blocks.
			if m.value.Cmp(prev.value) >= 0 || new(big.Int).Mul(m.value, big.NewInt(100)).Cmp(new(big.Int).Mul(prev.value, big.NewInt(99))) < 0 {
				t.Fatalf("hop %d moved %s after %s", i, m.value, prev.value)
			}
			if m.block != prev.block+1 {
				t.Fatalf("hop %d in block %d after %d", i, m.block, prev.block)
			}
		}
	})

	st := pc.c.Stats()
	if st.Takeovers != 1 || st.Structurings != 1 || st.Drains != 1 || st.RoundTrips != 1 ||
		st.Labels != uint64(len(pc.labels)) || st.Labels != 6 || st.TokenMints != 1 {
		t.Fatalf("stats %+v, %d labels delivered", st, len(pc.labels))
	}
}

// TestDeterministic checks that a seed fixes the accounts and the labels' addresses.
func TestDeterministic(t *testing.T) {
	run := func() ([]common.Address, []string) {
		var labels []string
		c := start(t, chaingen.Config{Seed: 7, Rate: 5, FraudRate: 0.5,
			OnLabel: func(l *riskv1.RiskLabel) { labels = append(labels, l.EntityId+"/"+l.Pattern.String()) }})
		if err := c.Blocks(t.Context(), 12); err != nil {
			t.Fatal(err)
		}
		return c.Accounts(), labels
	}
	acc1, l1 := run()
	acc2, l2 := run()
	if !slices.Equal(acc1, acc2) || !slices.Equal(l1, l2) || len(l1) == 0 {
		t.Fatalf("runs differ or no labels:\n%v\n%v\n%v\n%v", acc1, acc2, l1, l2)
	}
}
