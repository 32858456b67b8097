package policy

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

const (
	addrA = "0x00000000000000000000000000000000000000aa"
	addrB = "0x00000000000000000000000000000000000000bb"
	addrC = "0x00000000000000000000000000000000000000cc"
	usdc  = "erc20:1:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
)

// eth returns n ETH in wei.
func eth(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e18)) }

func u32(v uint32) *uint32 { return &v }

var reqSeq int

// request returns a valid request of 1 ETH from key k1 to addrA on chain 1 at t0,
// changed by mods.
func request(mods ...func(*Request)) Request {
	reqSeq++
	r := Request{RequestID: fmt.Sprintf("req-%d", reqSeq), KeyID: "k1", ChainID: 1, Purpose: "payout",
		To: addrA, Asset: "ETH", Amount: eth(1), Decimals: 18, Time: t0}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func amount(v *big.Int) func(*Request) { return func(r *Request) { r.Amount = v } }
func to(a string) func(*Request)       { return func(r *Request) { r.To = a } }
func key(k string) func(*Request)      { return func(r *Request) { r.KeyID = k } }
func balance(v int64) func(*Request)   { return func(r *Request) { r.Balance = big.NewInt(v) } }

func allowAll(name string) Rule { return Rule{Name: name, Action: ActionAllow} }

func event(id, keyID, dest, asset string, amt *big.Int, at time.Time) Event {
	return Event{RequestID: id, KeyID: keyID, To: dest, Asset: asset, Amount: amt, Time: at}
}

// TestEvaluateRules covers every rule kind and condition, each at its boundaries.
func TestEvaluateRules(t *testing.T) {
	treasury := []AllowList{{Name: "treasury", Addresses: []string{addrA, strings.ToUpper(addrB[:2]) + addrB[2:]}}}
	approvers := []string{"operator:bob", "operator:carol", "operator:dan"}
	keyLimit := func(action Action) Rule {
		return Rule{Name: "key-cap", Action: action, Match: Match{Assets: []string{"ETH"},
			Limit: &Limit{Scope: ScopeKey, Window: Duration(24 * time.Hour), MaxAmount: eth(10).String()}}}
	}
	destLimit := Rule{Name: "dest-burst", Action: ActionDeny, Match: Match{
		Limit: &Limit{Scope: ScopeDestination, Window: Duration(time.Hour), MaxCount: 3}}}
	tests := []struct {
		name     string
		rules    []Rule
		lists    []AllowList
		events   []Event
		req      Request
		want     Outcome
		wantRule string // "" for the default deny
		wantErr  error
	}{
		{name: "allow", rules: []Rule{allowAll("all")}, req: request(), want: OutcomeAllow, wantRule: "all"},
		{name: "deny", rules: []Rule{{Name: "no", Action: ActionDeny}}, req: request(), want: OutcomeDeny, wantRule: "no"},
		{name: "require 2 of 3", rules: []Rule{{Name: "two", Action: ActionRequireApprovals,
			Approvals: &ApprovalRequirement{Required: 2, Approvers: approvers, TTL: Duration(time.Hour)}}},
			req: request(), want: OutcomeRequireApprovals, wantRule: "two"},
		{name: "no rules: default deny", req: request(), want: OutcomeDeny},
		{name: "no match: default deny", rules: []Rule{{Name: "k2", Action: ActionAllow, Match: Match{KeyIDs: []string{"k2"}}}},
			req: request(), want: OutcomeDeny},
		{name: "first match wins: deny before allow", rules: []Rule{{Name: "no", Action: ActionDeny}, allowAll("all")},
			req: request(), want: OutcomeDeny, wantRule: "no"},
		{name: "first match wins: allow before deny", rules: []Rule{allowAll("all"), {Name: "no", Action: ActionDeny}},
			req: request(), want: OutcomeAllow, wantRule: "all"},
		{name: "first match wins: skips a non-matching rule", rules: []Rule{
			{Name: "k2-deny", Action: ActionDeny, Match: Match{KeyIDs: []string{"k2"}}}, allowAll("all")},
			req: request(), want: OutcomeAllow, wantRule: "all"},

		{name: "key id in set", rules: []Rule{{Name: "k", Action: ActionAllow, Match: Match{KeyIDs: []string{"k0", "k1"}}}},
			req: request(), want: OutcomeAllow, wantRule: "k"},
		{name: "key id not in set", rules: []Rule{{Name: "k", Action: ActionAllow, Match: Match{KeyIDs: []string{"k0"}}}},
			req: request(), want: OutcomeDeny},
		{name: "chain in set", rules: []Rule{{Name: "c", Action: ActionAllow, Match: Match{ChainIDs: []uint64{1, 10}}}},
			req: request(), want: OutcomeAllow, wantRule: "c"},
		{name: "chain not in set", rules: []Rule{{Name: "c", Action: ActionAllow, Match: Match{ChainIDs: []uint64{10}}}},
			req: request(), want: OutcomeDeny},
		{name: "purpose in set", rules: []Rule{{Name: "p", Action: ActionAllow, Match: Match{Purposes: []string{"payout"}}}},
			req: request(), want: OutcomeAllow, wantRule: "p"},
		{name: "purpose not in set", rules: []Rule{{Name: "p", Action: ActionAllow, Match: Match{Purposes: []string{"sweep"}}}},
			req: request(), want: OutcomeDeny},
		{name: "asset in set", rules: []Rule{{Name: "a", Action: ActionAllow, Match: Match{Assets: []string{"ETH", usdc}}}},
			req: request(), want: OutcomeAllow, wantRule: "a"},
		{name: "asset not in set", rules: []Rule{{Name: "a", Action: ActionAllow, Match: Match{Assets: []string{usdc}}}},
			req: request(), want: OutcomeDeny},

		{name: "destination exact, any case", rules: []Rule{{Name: "d", Action: ActionAllow,
			Match: Match{Destination: &DestinationMatch{Addresses: []string{"0x00000000000000000000000000000000000000AA"}}}}},
			req: request(), want: OutcomeAllow, wantRule: "d"},
		{name: "destination exact, other address", rules: []Rule{{Name: "d", Action: ActionAllow,
			Match: Match{Destination: &DestinationMatch{Addresses: []string{addrB}}}}},
			req: request(), want: OutcomeDeny},
		{name: "destination exact, contract creation", rules: []Rule{{Name: "d", Action: ActionAllow,
			Match: Match{Destination: &DestinationMatch{Addresses: []string{addrA}}}}},
			req: request(to("")), want: OutcomeDeny},
		{name: "in allow-list", lists: treasury, rules: []Rule{{Name: "d", Action: ActionAllow,
			Match: Match{Destination: &DestinationMatch{InAllowList: "treasury"}}}},
			req: request(to(addrB)), want: OutcomeAllow, wantRule: "d"},
		{name: "in allow-list, outsider", lists: treasury, rules: []Rule{{Name: "d", Action: ActionAllow,
			Match: Match{Destination: &DestinationMatch{InAllowList: "treasury"}}}},
			req: request(to(addrC)), want: OutcomeDeny},
		{name: "not in allow-list, outsider", lists: treasury, rules: []Rule{{Name: "d", Action: ActionDeny,
			Match: Match{Destination: &DestinationMatch{NotInAllowList: "treasury"}}}, allowAll("all")},
			req: request(to(addrC)), want: OutcomeDeny, wantRule: "d"},
		{name: "not in allow-list, member", lists: treasury, rules: []Rule{{Name: "d", Action: ActionDeny,
			Match: Match{Destination: &DestinationMatch{NotInAllowList: "treasury"}}}, allowAll("all")},
			req: request(to("0x00000000000000000000000000000000000000Aa")), want: OutcomeAllow, wantRule: "all"},
		{name: "not in allow-list, contract creation", lists: treasury, rules: []Rule{{Name: "d", Action: ActionDeny,
			Match: Match{Destination: &DestinationMatch{NotInAllowList: "treasury"}}}, allowAll("all")},
			req: request(to("")), want: OutcomeDeny, wantRule: "d"},

		{name: "amount at min", rules: []Rule{{Name: "m", Action: ActionDeny, Match: Match{Assets: []string{"ETH"},
			Amount: &AmountRange{Min: eth(5).String()}}}}, req: request(amount(eth(5))), want: OutcomeDeny, wantRule: "m"},
		{name: "amount below min", rules: []Rule{{Name: "m", Action: ActionDeny, Match: Match{Assets: []string{"ETH"},
			Amount: &AmountRange{Min: eth(5).String()}}}, allowAll("all")},
			req: request(amount(new(big.Int).Sub(eth(5), big.NewInt(1)))), want: OutcomeAllow, wantRule: "all"},
		{name: "amount at max", rules: []Rule{{Name: "m", Action: ActionAllow, Match: Match{Assets: []string{"ETH"},
			Amount: &AmountRange{Max: eth(5).String()}}}}, req: request(amount(eth(5))), want: OutcomeAllow, wantRule: "m"},
		{name: "amount above max", rules: []Rule{{Name: "m", Action: ActionAllow, Match: Match{Assets: []string{"ETH"},
			Amount: &AmountRange{Max: eth(5).String()}}}},
			req: request(amount(new(big.Int).Add(eth(5), big.NewInt(1)))), want: OutcomeDeny},
		{name: "amount in range", rules: []Rule{{Name: "m", Action: ActionAllow, Match: Match{Assets: []string{"ETH"},
			Amount: &AmountRange{Min: "0", Max: "0"}}}}, req: request(amount(big.NewInt(0))), want: OutcomeAllow, wantRule: "m"},
		{name: "amount of 2^256-1", rules: []Rule{{Name: "m", Action: ActionDeny, Match: Match{Assets: []string{"ETH"},
			Amount: &AmountRange{Min: maxUint256.String()}}}}, req: request(amount(maxUint256)), want: OutcomeDeny, wantRule: "m"},

		{name: "balance share at max", rules: []Rule{{Name: "b", Action: ActionAllow,
			Match: Match{BalanceShare: &BalanceShare{MaxBPS: u32(5000)}}}},
			req: request(amount(big.NewInt(5)), balance(10)), want: OutcomeAllow, wantRule: "b"},
		{name: "balance share one unit above max", rules: []Rule{{Name: "b", Action: ActionAllow,
			Match: Match{BalanceShare: &BalanceShare{MaxBPS: u32(5000)}}}},
			req: request(amount(big.NewInt(5_000_001)), balance(10_000_000)), want: OutcomeDeny},
		{name: "balance share at min", rules: []Rule{{Name: "b", Action: ActionRequireApprovals,
			Approvals: &ApprovalRequirement{Required: 1, Approvers: approvers, TTL: Duration(time.Hour)},
			Match:     Match{BalanceShare: &BalanceShare{MinBPS: u32(1)}}}},
			req: request(amount(big.NewInt(1)), balance(10_000)), want: OutcomeRequireApprovals, wantRule: "b"},
		{name: "balance share one unit below min", rules: []Rule{{Name: "b", Action: ActionDeny,
			Match: Match{BalanceShare: &BalanceShare{MinBPS: u32(1)}}}, allowAll("all")},
			req: request(amount(big.NewInt(0)), balance(10_000)), want: OutcomeAllow, wantRule: "all"},
		{name: "balance share of a zero balance", rules: []Rule{{Name: "b", Action: ActionDeny,
			Match: Match{BalanceShare: &BalanceShare{MinBPS: u32(10_000)}}}},
			req: request(amount(big.NewInt(1)), balance(0)), want: OutcomeDeny, wantRule: "b"},
		{name: "balance share without a balance", rules: []Rule{{Name: "b", Action: ActionDeny,
			Match: Match{BalanceShare: &BalanceShare{MinBPS: u32(5000)}}}, allowAll("all")},
			req: request(), want: OutcomeDeny, wantRule: "b", wantErr: ErrBalanceRequired},

		{name: "key limit: exactly at the cap", rules: []Rule{keyLimit(ActionDeny), allowAll("all")},
			events: []Event{event("e1", "k1", addrB, "ETH", eth(6), t0.Add(-23*time.Hour))},
			req:    request(amount(eth(4))), want: OutcomeAllow, wantRule: "all"},
		{name: "key limit: one wei over the cap", rules: []Rule{keyLimit(ActionDeny), allowAll("all")},
			events: []Event{event("e1", "k1", addrB, "ETH", eth(6), t0.Add(-23*time.Hour))},
			req:    request(amount(new(big.Int).Add(eth(4), big.NewInt(1)))), want: OutcomeDeny, wantRule: "key-cap"},
		{name: "key limit: over the cap needs approvals", rules: []Rule{{Name: "key-cap", Action: ActionRequireApprovals,
			Approvals: &ApprovalRequirement{Required: 2, Approvers: approvers, TTL: Duration(time.Hour)},
			Match:     keyLimit(ActionDeny).Match}, allowAll("all")},
			req: request(amount(eth(11))), want: OutcomeRequireApprovals, wantRule: "key-cap"},
		{name: "key limit: event at the window's start is out", rules: []Rule{keyLimit(ActionDeny), allowAll("all")},
			events: []Event{event("e1", "k1", addrB, "ETH", eth(10), t0.Add(-24*time.Hour))},
			req:    request(amount(eth(1))), want: OutcomeAllow, wantRule: "all"},
		{name: "key limit: event one ns inside the window is in", rules: []Rule{keyLimit(ActionDeny), allowAll("all")},
			events: []Event{event("e1", "k1", addrB, "ETH", eth(10), t0.Add(-24*time.Hour+1))},
			req:    request(amount(eth(1))), want: OutcomeDeny, wantRule: "key-cap"},
		{name: "key limit: other keys and assets do not count", rules: []Rule{keyLimit(ActionDeny), allowAll("all")},
			events: []Event{event("e1", "k2", addrB, "ETH", eth(10), t0.Add(-time.Hour)),
				event("e2", "k1", addrB, usdc, eth(10), t0.Add(-time.Hour))},
			req: request(amount(eth(1))), want: OutcomeAllow, wantRule: "all"},
		{name: "key limit: a later (out of order) event counts", rules: []Rule{keyLimit(ActionDeny), allowAll("all")},
			events: []Event{event("e1", "k1", addrB, "ETH", eth(10), t0.Add(time.Minute))},
			req:    request(amount(eth(1))), want: OutcomeDeny, wantRule: "key-cap"},
		{name: "destination limit: 2 of 3 used", rules: []Rule{destLimit, allowAll("all")},
			events: []Event{event("e1", "k1", addrA, "ETH", eth(1), t0.Add(-time.Minute)),
				event("e2", "k2", addrA, usdc, eth(1), t0.Add(-59*time.Minute))},
			req: request(), want: OutcomeAllow, wantRule: "all"},
		{name: "destination limit: 3 of 3 used, from any key and asset", rules: []Rule{destLimit, allowAll("all")},
			events: []Event{event("e1", "k1", addrA, "ETH", eth(1), t0.Add(-time.Minute)),
				event("e2", "k2", addrA, usdc, eth(1), t0.Add(-59*time.Minute)),
				event("e3", "k3", addrA, "ETH", eth(1), t0.Add(-30*time.Minute))},
			req: request(), want: OutcomeDeny, wantRule: "dest-burst"},
		{name: "destination limit: other destinations and old events do not count", rules: []Rule{destLimit, allowAll("all")},
			events: []Event{event("e1", "k1", addrB, "ETH", eth(1), t0.Add(-time.Minute)),
				event("e2", "k1", addrB, "ETH", eth(1), t0.Add(-time.Minute)),
				event("e3", "k1", addrA, "ETH", eth(1), t0.Add(-time.Hour)),
				event("e4", "k1", addrA, "ETH", eth(1), t0.Add(-2*time.Hour)),
				event("e5", "k1", addrA, "ETH", eth(1), t0.Add(-3*time.Hour))},
			req: request(), want: OutcomeAllow, wantRule: "all"},
		{name: "destination limit: contract creation has none", rules: []Rule{destLimit, allowAll("all")},
			req: request(to("")), want: OutcomeAllow, wantRule: "all"},
		{name: "all conditions must hold", rules: []Rule{{Name: "narrow", Action: ActionDeny, Match: Match{
			KeyIDs: []string{"k1"}, ChainIDs: []uint64{1}, Assets: []string{"ETH"},
			Amount: &AmountRange{Min: eth(2).String()}}}, allowAll("all")},
			req: request(amount(eth(1))), want: OutcomeAllow, wantRule: "all"},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Policy{ID: "p", Version: 1, Rules: tc.rules, AllowLists: tc.lists}
			c, err := Compile(p)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			for _, st := range states(t) {
				for _, ev := range tc.events {
					if err := st.Record(ctx, ev); err != nil {
						t.Fatal(err)
					}
				}
				d, err := c.Evaluate(ctx, tc.req, st)
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Fatalf("%T: err = %v, want %v", st, err, tc.wantErr)
				}
				if d.Outcome != tc.want || d.RuleName != tc.wantRule {
					t.Fatalf("%T: decision %s by %q, want %s by %q; reasons %q; trace %+v", st, d.Outcome, d.RuleName,
						tc.want, tc.wantRule, d.Reasons, d.Trace)
				}
				wantIndex := -1
				for i, r := range tc.rules {
					if r.Name == tc.wantRule {
						wantIndex = i
					}
				}
				if d.RuleIndex != wantIndex || d.PolicyID != "p" || d.PolicyVersion != 1 || d.PolicyHash != c.p.Hash || len(d.Reasons) == 0 {
					t.Fatalf("decision %+v: want rule index %d, policy p v1 %s, reasons", d, wantIndex, c.p.Hash)
				}
				if d.Outcome == OutcomeRequireApprovals {
					if d.ApprovalsRequired < 1 || len(d.Approvers) != 3 || !d.ApprovalExpiry.Equal(tc.req.Time.Add(time.Hour)) {
						t.Fatalf("approval terms %+v", d)
					}
				} else if d.ApprovalsRequired != 0 || d.Approvers != nil {
					t.Fatalf("approval terms on a %s: %+v", d.Outcome, d)
				}
			}
		})
	}
}

// TestEvaluateBadRequests: malformed requests are errors and denials.
func TestEvaluateBadRequests(t *testing.T) {
	c, err := Compile(&Policy{ID: "p", Rules: []Rule{allowAll("all")}})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]Request{
		"negative amount": request(amount(big.NewInt(-1))),
		"nil amount":      request(amount(nil)),
		"2^256":           request(amount(new(big.Int).Lsh(big.NewInt(1), 256))),
		"bad to":          request(to("0x1234")),
		"to without 0x":   request(to("00000000000000000000000000000000000000aaaa")),
		"no key":          request(key("")),
		"no time":         request(func(r *Request) { r.Time = time.Time{} }),
		"no chain":        request(func(r *Request) { r.ChainID = 0 }),
		"no asset":        request(func(r *Request) { r.Asset = "" }),
		"decimals":        request(func(r *Request) { r.Decimals = 78 }),
		"negative bal":    request(balance(-1)),
		"bad from":        request(func(r *Request) { r.From = "0xzz00000000000000000000000000000000000000" }),
	} {
		d, err := c.Evaluate(context.Background(), r, nil)
		if !errors.Is(err, ErrInvalidRequest) || d.Outcome != OutcomeDeny {
			t.Errorf("%s: %s, %v; want deny, ErrInvalidRequest", name, d.Outcome, err)
		}
	}
}

// TestEvaluateLimitNeedsState: a limit rule without a State is an error, not a pass.
func TestEvaluateLimitNeedsState(t *testing.T) {
	p := &Policy{ID: "p", Rules: []Rule{{Name: "cap", Action: ActionDeny, Match: Match{
		Limit: &Limit{Scope: ScopeKey, Window: Duration(time.Hour), MaxCount: 1}}}, allowAll("all")}}
	d, err := p.Evaluate(context.Background(), request(), nil)
	if err == nil || d.Outcome != OutcomeDeny || d.RuleName != "cap" {
		t.Fatalf("%+v, %v", d, err)
	}
}

// TestEngineSlidingWindow drives a per-key amount cap and a per-destination count cap
// through simulated time: usage recorded by the Engine counts, then slides out.
func TestEngineSlidingWindow(t *testing.T) {
	ctx := context.Background()
	for _, st := range states(t) {
		t.Run(fmt.Sprintf("%T", st), func(t *testing.T) {
			store := NewStore()
			_, err := store.Draft(Policy{ID: "p", Rules: []Rule{
				{Name: "key-cap", Action: ActionDeny, Match: Match{Assets: []string{"ETH"},
					Limit: &Limit{Scope: ScopeKey, Window: Duration(24 * time.Hour), MaxAmount: eth(10).String()}}},
				{Name: "dest-burst", Action: ActionDeny, Match: Match{
					Limit: &Limit{Scope: ScopeDestination, Window: Duration(time.Hour), MaxCount: 3}}},
				allowAll("all"),
			}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.Publish("p", 1); err != nil {
				t.Fatal(err)
			}
			e := NewEngine(store, st)
			step := func(at time.Duration, r Request, want Outcome, wantRule string) {
				t.Helper()
				r.Time = t0.Add(at)
				dry, err := e.DryRun(ctx, "p", 0, r)
				if err != nil {
					t.Fatal(err)
				}
				d, err := e.Evaluate(ctx, "p", r)
				if err != nil {
					t.Fatal(err)
				}
				if d.Outcome != want || d.RuleName != wantRule || dry.Outcome != d.Outcome || dry.RuleName != d.RuleName {
					t.Fatalf("at %s: %s by %q (dry run %s by %q), want %s by %q: %q", at, d.Outcome, d.RuleName,
						dry.Outcome, dry.RuleName, want, wantRule, d.Reasons)
				}
			}
			// Destination count: three to addrA within the hour, the fourth is refused,
			// and once the first slides out another fits.
			step(0, request(to(addrA), amount(eth(1))), OutcomeAllow, "all")
			step(10*time.Minute, request(to(addrA), key("k2"), amount(eth(1))), OutcomeAllow, "all")
			step(20*time.Minute, request(to(addrA), amount(eth(1))), OutcomeAllow, "all")
			step(30*time.Minute, request(to(addrA), key("k3"), amount(eth(1))), OutcomeDeny, "dest-burst")
			step(30*time.Minute, request(to(addrB), amount(eth(1))), OutcomeAllow, "all")
			step(time.Hour, request(to(addrA), key("k3"), amount(eth(1))), OutcomeAllow, "all")
			// k1 has used 3 ETH; 7 more fit, then nothing until the 24 h slide.
			step(2*time.Hour, request(to(addrC), amount(eth(7))), OutcomeAllow, "all")
			step(3*time.Hour, request(to(addrC), amount(big.NewInt(1))), OutcomeDeny, "key-cap")
			step(3*time.Hour, request(to(addrC), key("k2"), amount(eth(9))), OutcomeAllow, "all")
			// At 24 h the first 1 ETH (t0) is out of the window: 1 ETH fits, 1 wei more not.
			step(24*time.Hour, request(to(addrC), amount(eth(1))), OutcomeAllow, "all")
			step(24*time.Hour+time.Second, request(to(addrC), amount(big.NewInt(1))), OutcomeDeny, "key-cap")
			// At 26 h everything up to 2 h is out (the 7 ETH too): only the 1 ETH of 24 h
			// remains, so 9 ETH fit and 1 wei more does not.
			step(26*time.Hour, request(to(addrC), amount(eth(9))), OutcomeAllow, "all")
			step(26*time.Hour, request(to(addrC), amount(big.NewInt(1))), OutcomeDeny, "key-cap")

			// Pruning past the windows forgets what no window can see.
			if err := st.Prune(ctx, t0.Add(24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			used, n, err := st.Usage(ctx, WindowKey{Scope: ScopeKey, Subject: "k1", Asset: "ETH"}, time.Time{})
			if err != nil || n != 2 || used.Cmp(eth(10)) != 0 {
				t.Fatalf("after prune: %s, %d, %v; want 10 ETH in 2", used, n, err)
			}
		})
	}
}

// TestEngineRecordsOnlyWhatItLetsThrough: denials and pending approvals consume
// nothing; Record after approvals does, once.
func TestEngineRecordsOnlyWhatItLetsThrough(t *testing.T) {
	ctx := context.Background()
	store := NewStore()
	if _, err := store.Draft(Policy{ID: "p", Rules: []Rule{
		{Name: "count", Action: ActionDeny, Match: Match{Limit: &Limit{Scope: ScopeKey, Window: Duration(time.Hour), MaxCount: 2}}},
		{Name: "big", Action: ActionRequireApprovals, Approvals: &ApprovalRequirement{Required: 1, Approvers: []string{"a"}, TTL: Duration(time.Hour)},
			Match: Match{Assets: []string{"ETH"}, Amount: &AmountRange{Min: eth(5).String()}}},
		{Name: "small", Action: ActionAllow, Match: Match{Assets: []string{"ETH"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Publish("p", 1); err != nil {
		t.Fatal(err)
	}
	st := NewMemState()
	e := NewEngine(store, st)
	count := func() int {
		_, n, err := st.Usage(ctx, WindowKey{Scope: ScopeKey, Subject: "k1"}, t0.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if d, _ := e.Evaluate(ctx, "p", request(func(r *Request) { r.Asset = usdc })); d.Outcome != OutcomeDeny || count() != 0 {
		t.Fatalf("default deny recorded: %+v, %d", d, count())
	}
	big := request(amount(eth(6)))
	if d, _ := e.Evaluate(ctx, "p", big); d.Outcome != OutcomeRequireApprovals || count() != 0 {
		t.Fatalf("pending recorded: %+v, %d", d, count())
	}
	if err := e.Record(ctx, big); err != nil {
		t.Fatal(err)
	}
	if err := e.Record(ctx, big); err != nil { // a retry counts once
		t.Fatal(err)
	}
	if count() != 1 {
		t.Fatalf("count %d after Record, want 1", count())
	}
	second := request()
	for range 3 { // a retried request is not counted against itself
		if d, err := e.Evaluate(ctx, "p", second); d.Outcome != OutcomeAllow || err != nil {
			t.Fatalf("%+v, %v", d, err)
		}
	}
	if count() != 2 {
		t.Fatalf("count %d after retries, want 2", count())
	}
	if d, _ := e.Evaluate(ctx, "p", request()); d.Outcome != OutcomeDeny || d.RuleName != "count" {
		t.Fatalf("third: %+v", d)
	}
	if d, err := e.Evaluate(ctx, "p", request(key("k9"), func(r *Request) { r.RequestID = "" })); err == nil || d.Outcome != OutcomeDeny {
		t.Fatalf("allow without a request id: %+v, %v", d, err)
	}
	if _, err := e.Evaluate(ctx, "nope", request()); !errors.Is(err, ErrNoActive) {
		t.Fatalf("unknown policy: %v", err)
	}
}

func TestFormatUnits(t *testing.T) {
	for _, tc := range []struct {
		v    *big.Int
		dec  uint32
		want string
	}{
		{big.NewInt(1500000), 6, "1.5"}, {big.NewInt(1), 18, "0.000000000000000001"}, {eth(10), 18, "10"},
		{big.NewInt(0), 2, "0"}, {big.NewInt(123), 0, "123"}, {big.NewInt(-150), 2, "-1.5"},
	} {
		if got := FormatUnits(tc.v, tc.dec); got != tc.want {
			t.Errorf("FormatUnits(%s, %d) = %q, want %q", tc.v, tc.dec, got, tc.want)
		}
	}
}

// TestEngineConcurrentCap: many concurrent requests against a per-key cap; exactly as
// many as fit are allowed.
func TestEngineConcurrentCap(t *testing.T) {
	ctx := context.Background()
	store := NewStore()
	if _, err := store.Draft(Policy{ID: "p", Rules: []Rule{
		{Name: "cap", Action: ActionDeny, Match: Match{Assets: []string{"ETH"},
			Limit: &Limit{Scope: ScopeKey, Window: Duration(time.Hour), MaxAmount: eth(10).String()}}},
		allowAll("all"),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Publish("p", 1); err != nil {
		t.Fatal(err)
	}
	for _, st := range states(t) {
		e := NewEngine(store, st)
		reqs := make([]Request, 40)
		for i := range reqs {
			reqs[i] = request(amount(eth(1)))
		}
		results := make(chan Outcome, len(reqs))
		var wg sync.WaitGroup
		for _, r := range reqs {
			wg.Go(func() {
				d, err := e.Evaluate(ctx, "p", r)
				if err != nil {
					t.Error(err)
				}
				results <- d.Outcome
			})
		}
		wg.Wait()
		close(results)
		allowed := 0
		for o := range results {
			if o == OutcomeAllow {
				allowed++
			}
		}
		if allowed != 10 {
			t.Fatalf("%T: %d allowed, want 10", st, allowed)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p, err := ParsePolicy([]byte(`{"id":"p","allow_lists":[{"name":"l","addresses":["` + addrA + `"]}],"rules":[
		{"name":"cap","action":"deny","match":{"assets":["ETH"],"limit":{"scope":"key","window":"24h","max_amount":"1000000000000000000000"}}},
		{"name":"out","action":"require_approvals","approvals":{"required":1,"approvers":["a"],"ttl":"1h"},
		 "match":{"destination":{"not_in_allow_list":"l"}}},
		{"name":"all","action":"allow","match":{}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	c, err := Compile(p)
	if err != nil {
		b.Fatal(err)
	}
	st := NewMemState()
	for i := range 100 {
		if err := st.Record(context.Background(), event(fmt.Sprint(i), "k1", addrA, "ETH", eth(1), t0.Add(-time.Duration(i)*time.Minute))); err != nil {
			b.Fatal(err)
		}
	}
	r := request()
	b.ReportAllocs()
	for b.Loop() {
		if d, err := c.Evaluate(context.Background(), r, st); err != nil || d.Outcome != OutcomeAllow {
			b.Fatal(d, err)
		}
	}
}
