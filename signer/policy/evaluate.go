package policy

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Outcome is what a decision lets the signer do.
type Outcome string

// Outcomes.
const (
	// OutcomeAllow: sign.
	OutcomeAllow Outcome = "allow"
	// OutcomeDeny: do not sign.
	OutcomeDeny Outcome = "deny"
	// OutcomeRequireApprovals: sign only once Approvals says approved.
	OutcomeRequireApprovals Outcome = "require_approvals"
)

// Request is what a policy decides on: one movement of one asset by one key. The signer
// builds it from a weir.signer.v1.SigningRequest: for a token transfer Asset/Amount are
// transfer_amount's, otherwise value's; a transaction that moves both native value and
// a token should be evaluated once for each and the stricter outcome kept.
type Request struct {
	// RequestID is SigningRequest.request_id; usage is recorded under it, once.
	RequestID string
	// KeyID names the signing key. Required.
	KeyID string
	// ChainID is the EIP-155 chain id. Required.
	ChainID uint64
	// Purpose is SigningRequest.purpose ("payout"); may be empty.
	Purpose string
	// From is the key's address; optional, checked when set.
	From string
	// To is the recipient, "0x" + 40 hex; empty for a contract creation.
	To string
	// Asset is the weir.common.v1.Amount asset ("ETH", "erc20:1:0x..."). Required.
	Asset string
	// Amount is the number of base units moved, 0 <= Amount < 2^256. Required.
	Amount *big.Int
	// Decimals is the asset's number of decimal places (<= 77); used only to show
	// amounts in reasons.
	Decimals uint32
	// Balance is the key's balance of Asset in base units, if known; a rule with a
	// balance_share condition needs it (ErrBalanceRequired otherwise).
	Balance *big.Int
	// Time is the request's event time (Meta.event_time); windows slide on it.
	// Required.
	Time time.Time
}

func (r *Request) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, a...))
	}
	if err := checkID("key_id", r.KeyID); err != nil {
		return bad("key id: %v", err)
	}
	if r.ChainID == 0 {
		return bad("chain id 0")
	}
	if err := checkID("asset", r.Asset); err != nil {
		return bad("asset: %v", err)
	}
	if err := checkAmount(r.Amount); err != nil {
		return bad("amount: %v", err)
	}
	if r.Balance != nil {
		if err := checkAmount(r.Balance); err != nil {
			return bad("balance: %v", err)
		}
	}
	if r.Decimals > 77 {
		return bad("decimals %d above 77", r.Decimals)
	}
	if r.Time.IsZero() {
		return bad("no time")
	}
	if r.From != "" {
		a, err := NormalizeAddress(r.From)
		if err != nil {
			return bad("from: %v", err)
		}
		r.From = a
	}
	if r.To != "" {
		a, err := NormalizeAddress(r.To)
		if err != nil {
			return bad("to: %v", err)
		}
		r.To = a
	}
	return nil
}

// Decision is the outcome of evaluating a request against one policy version, with what
// the audit trail needs to explain it.
type Decision struct {
	// Outcome is allow, deny or require_approvals. Deny on any error.
	Outcome Outcome
	// RuleName is the rule that decided; empty when no rule matched.
	RuleName string
	// RuleIndex is that rule's position from 0; -1 when no rule matched (default deny).
	RuleIndex int
	// PolicyID, PolicyVersion and PolicyHash identify the policy version used.
	PolicyID      string
	PolicyVersion uint64
	PolicyHash    string
	// ApprovalsRequired is N for require_approvals, else 0.
	ApprovalsRequired int
	// Approvers is the rule's set of M approver ids, sorted; nil unless
	// require_approvals.
	Approvers []string
	// ApprovalTTL is how long each approval stays valid.
	ApprovalTTL time.Duration
	// ApprovalExpiry is Request.Time + ApprovalTTL: approvals given later are refused.
	ApprovalExpiry time.Time
	// Reasons explain the outcome: the conditions of the deciding rule that held.
	Reasons []string
	// Trace lists every rule evaluated, in order, with why it did or did not match;
	// meant for DryRun and debugging.
	Trace []RuleTrace
}

// RuleTrace is one rule's result in a Decision's Trace.
type RuleTrace struct {
	Index   int
	Name    string
	Matched bool
	// Reason is the first condition that failed, or a summary when Matched.
	Reason string
}

// Compiled is a validated policy version ready for evaluation: allow-lists as hash sets,
// amounts parsed. It is immutable and safe for concurrent use.
type Compiled struct {
	p     *Policy
	lists map[string]map[string]bool
	rules []compiledRule
}

type compiledRule struct {
	r          *Rule
	keys       map[string]bool
	chains     map[uint64]bool
	purposes   map[string]bool
	assets     map[string]bool
	addrs      map[string]bool
	min, max   *big.Int
	limitMax   *big.Int
	limitCount int
}

// Compile validates p and prepares it for evaluation. It keeps a copy of p; later
// changes to p do not affect it.
func Compile(p *Policy) (*Compiled, error) {
	c := p.Clone()
	if err := c.normalize(); err != nil {
		return nil, err
	}
	out := &Compiled{p: c, lists: make(map[string]map[string]bool, len(c.AllowLists))}
	for _, l := range c.AllowLists {
		out.lists[l.Name] = toSet(l.Addresses)
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		m := &r.Match
		cr := compiledRule{r: r, keys: toSet(m.KeyIDs), purposes: toSet(m.Purposes), assets: toSet(m.Assets)}
		if len(m.ChainIDs) > 0 {
			cr.chains = make(map[uint64]bool, len(m.ChainIDs))
			for _, id := range m.ChainIDs {
				cr.chains[id] = true
			}
		}
		if m.Destination != nil && m.Destination.Addresses != nil {
			cr.addrs = toSet(m.Destination.Addresses)
		}
		if m.Amount != nil {
			if m.Amount.Min != "" {
				cr.min, _ = ParseAmount(m.Amount.Min)
			}
			if m.Amount.Max != "" {
				cr.max, _ = ParseAmount(m.Amount.Max)
			}
		}
		if m.Limit != nil {
			if m.Limit.MaxAmount != "" {
				cr.limitMax, _ = ParseAmount(m.Limit.MaxAmount)
			}
			cr.limitCount = m.Limit.MaxCount
		}
		out.rules = append(out.rules, cr)
	}
	return out, nil
}

// Policy returns a copy of the compiled policy, normalised, with its Hash.
func (c *Compiled) Policy() *Policy { return c.p.Clone() }

// Evaluate compiles p and evaluates req against it; see Compiled.Evaluate. Compiling
// costs time proportional to the policy's size: callers evaluating many requests should
// Compile once (the Store does).
func (p *Policy) Evaluate(ctx context.Context, req Request, state State) (Decision, error) {
	c, err := Compile(p)
	if err != nil {
		return Decision{Outcome: OutcomeDeny, RuleIndex: -1, PolicyID: p.ID, PolicyVersion: p.Version}, err
	}
	return c.Evaluate(ctx, req, state)
}

// Evaluate decides req: the rules are tried in order and the first whose conditions all
// hold decides (allow, deny or require_approvals); when none matches the outcome is
// deny (RuleIndex -1). It only reads state (for limits; state may be nil if the policy
// has no limit), never records usage: see Engine for that. On error the decision is a
// deny and says which rule was being evaluated; the signer must not sign. It blocks only
// on state and is safe for concurrent use.
func (c *Compiled) Evaluate(ctx context.Context, req Request, state State) (Decision, error) {
	d := Decision{Outcome: OutcomeDeny, RuleIndex: -1, PolicyID: c.p.ID, PolicyVersion: c.p.Version, PolicyHash: c.p.Hash}
	if err := req.validate(); err != nil {
		d.Reasons = []string{err.Error()}
		return d, err
	}
	for i := range c.rules {
		if err := ctx.Err(); err != nil {
			return d, err
		}
		cr := &c.rules[i]
		reasons, fail, err := c.match(ctx, cr, &req, state)
		if err != nil {
			d.RuleIndex, d.RuleName = i, cr.r.Name
			d.Reasons = []string{err.Error()}
			d.Trace = append(d.Trace, RuleTrace{Index: i, Name: cr.r.Name, Reason: err.Error()})
			return d, fmt.Errorf("policy: rule %q: %w", cr.r.Name, err)
		}
		if fail != "" {
			d.Trace = append(d.Trace, RuleTrace{Index: i, Name: cr.r.Name, Reason: fail})
			continue
		}
		d.Trace = append(d.Trace, RuleTrace{Index: i, Name: cr.r.Name, Matched: true, Reason: strings.Join(reasons, "; ")})
		d.Outcome = Outcome(cr.r.Action)
		d.RuleIndex, d.RuleName = i, cr.r.Name
		d.Reasons = reasons
		if a := cr.r.Approvals; a != nil {
			d.ApprovalsRequired = a.Required
			d.Approvers = append([]string(nil), a.Approvers...)
			d.ApprovalTTL = time.Duration(a.TTL)
			d.ApprovalExpiry = req.Time.Add(time.Duration(a.TTL))
		}
		return d, nil
	}
	d.Reasons = []string{"no rule matched: denied by default"}
	return d, nil
}

// match returns the reasons the rule's conditions hold, or the first that does not
// (fail), or an error when a condition cannot be evaluated.
func (c *Compiled) match(ctx context.Context, cr *compiledRule, req *Request, state State) (reasons []string, fail string, err error) {
	m := &cr.r.Match
	if cr.keys != nil {
		if !cr.keys[req.KeyID] {
			return nil, fmt.Sprintf("key %q not in key_ids", req.KeyID), nil
		}
		reasons = append(reasons, fmt.Sprintf("key %q in key_ids", req.KeyID))
	}
	if cr.chains != nil {
		if !cr.chains[req.ChainID] {
			return nil, fmt.Sprintf("chain %d not in chain_ids", req.ChainID), nil
		}
		reasons = append(reasons, fmt.Sprintf("chain %d in chain_ids", req.ChainID))
	}
	if cr.purposes != nil {
		if !cr.purposes[req.Purpose] {
			return nil, fmt.Sprintf("purpose %q not in purposes", req.Purpose), nil
		}
		reasons = append(reasons, fmt.Sprintf("purpose %q in purposes", req.Purpose))
	}
	if cr.assets != nil {
		if !cr.assets[req.Asset] {
			return nil, fmt.Sprintf("asset %q not in assets", req.Asset), nil
		}
		reasons = append(reasons, fmt.Sprintf("asset %q in assets", req.Asset))
	}
	if d := m.Destination; d != nil {
		to := req.To
		if to == "" {
			to = "(contract creation)"
		}
		switch {
		case cr.addrs != nil:
			if req.To == "" || !cr.addrs[req.To] {
				return nil, fmt.Sprintf("destination %s not in addresses", to), nil
			}
			reasons = append(reasons, fmt.Sprintf("destination %s in addresses", to))
		case d.InAllowList != "":
			if req.To == "" || !c.lists[d.InAllowList][req.To] {
				return nil, fmt.Sprintf("destination %s not in allow-list %q", to, d.InAllowList), nil
			}
			reasons = append(reasons, fmt.Sprintf("destination %s in allow-list %q", to, d.InAllowList))
		default:
			if req.To != "" && c.lists[d.NotInAllowList][req.To] {
				return nil, fmt.Sprintf("destination %s is in allow-list %q", to, d.NotInAllowList), nil
			}
			reasons = append(reasons, fmt.Sprintf("destination %s not in allow-list %q", to, d.NotInAllowList))
		}
	}
	amt := showAmount(req.Amount, req.Decimals, req.Asset)
	if cr.min != nil {
		if req.Amount.Cmp(cr.min) < 0 {
			return nil, fmt.Sprintf("amount %s below min %s", amt, cr.min), nil
		}
		reasons = append(reasons, fmt.Sprintf("amount %s >= min %s", amt, cr.min))
	}
	if cr.max != nil {
		if req.Amount.Cmp(cr.max) > 0 {
			return nil, fmt.Sprintf("amount %s above max %s", amt, cr.max), nil
		}
		reasons = append(reasons, fmt.Sprintf("amount %s <= max %s", amt, cr.max))
	}
	if b := m.BalanceShare; b != nil {
		if req.Balance == nil {
			return nil, "", fmt.Errorf("%w: a balance_share condition needs the key's balance of %s", ErrBalanceRequired, req.Asset)
		}
		scaled := new(big.Int).Mul(req.Amount, big.NewInt(10000))
		if b.MinBPS != nil {
			if scaled.Cmp(new(big.Int).Mul(req.Balance, big.NewInt(int64(*b.MinBPS)))) < 0 {
				return nil, fmt.Sprintf("amount %s is below %d bps of balance %s", req.Amount, *b.MinBPS, req.Balance), nil
			}
			reasons = append(reasons, fmt.Sprintf("amount %s is at least %d bps of balance %s", req.Amount, *b.MinBPS, req.Balance))
		}
		if b.MaxBPS != nil {
			if scaled.Cmp(new(big.Int).Mul(req.Balance, big.NewInt(int64(*b.MaxBPS)))) > 0 {
				return nil, fmt.Sprintf("amount %s is above %d bps of balance %s", req.Amount, *b.MaxBPS, req.Balance), nil
			}
			reasons = append(reasons, fmt.Sprintf("amount %s is at most %d bps of balance %s", req.Amount, *b.MaxBPS, req.Balance))
		}
	}
	if l := m.Limit; l != nil {
		why, over, err := c.overLimit(ctx, cr, req, state)
		if err != nil {
			return nil, "", err
		}
		if !over {
			return nil, why, nil
		}
		reasons = append(reasons, why)
	}
	if len(reasons) == 0 {
		reasons = []string{"rule has no conditions: matches every request"}
	}
	return reasons, "", nil
}

// errNoState: a limit rule was reached with a nil State.
var errNoState = errors.New("a limit condition needs a State")

func (c *Compiled) overLimit(ctx context.Context, cr *compiledRule, req *Request, state State) (why string, over bool, err error) {
	l := cr.r.Match.Limit
	if state == nil {
		return "", false, errNoState
	}
	k := WindowKey{Scope: l.Scope, Except: req.RequestID}
	switch l.Scope {
	case ScopeKey:
		k.Subject = req.KeyID
	case ScopeDestination:
		if req.To == "" {
			return "no destination (contract creation): destination limit does not apply", false, nil
		}
		k.Subject = req.To
	}
	w := time.Duration(l.Window)
	since := req.Time.Add(-w)
	var notes []string
	if cr.limitMax != nil {
		k.Asset = req.Asset
		used, _, err := state.Usage(ctx, k, since)
		if err != nil {
			return "", false, fmt.Errorf("usage of %s %s: %w", l.Scope, k.Subject, err)
		}
		total := new(big.Int).Add(used, req.Amount)
		if total.Cmp(cr.limitMax) > 0 {
			return fmt.Sprintf("%s %s: %s used in %s + %s = %s > max_amount %s", l.Scope, k.Subject, used, w, req.Amount, total, cr.limitMax), true, nil
		}
		notes = append(notes, fmt.Sprintf("%s %s: %s used in %s + %s = %s <= max_amount %s", l.Scope, k.Subject, used, w, req.Amount, total, cr.limitMax))
	}
	if cr.limitCount > 0 {
		k.Asset = ""
		_, n, err := state.Usage(ctx, k, since)
		if err != nil {
			return "", false, fmt.Errorf("usage of %s %s: %w", l.Scope, k.Subject, err)
		}
		if n+1 > cr.limitCount {
			return fmt.Sprintf("%s %s: %d requests in %s + 1 > max_count %d", l.Scope, k.Subject, n, w, cr.limitCount), true, nil
		}
		notes = append(notes, fmt.Sprintf("%s %s: %d requests in %s + 1 <= max_count %d", l.Scope, k.Subject, n, w, cr.limitCount))
	}
	return "within limit: " + strings.Join(notes, "; "), false, nil
}

func toSet(s []string) map[string]bool {
	if len(s) == 0 {
		return nil
	}
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

// showAmount writes base units with the display value: "1500000 (1.5 USDC)". The
// display is exact decimal string arithmetic, no float.
func showAmount(v *big.Int, decimals uint32, asset string) string {
	return fmt.Sprintf("%s (%s %s)", v, FormatUnits(v, decimals), asset)
}

// FormatUnits writes v base units as a decimal number with the given decimals, exactly
// and without trailing zeros: FormatUnits(1500000, 6) = "1.5".
func FormatUnits(v *big.Int, decimals uint32) string {
	s := new(big.Int).Abs(v).String()
	neg := v.Sign() < 0
	if decimals > 0 {
		d := int(decimals)
		if len(s) <= d {
			s = strings.Repeat("0", d-len(s)+1) + s
		}
		s = strings.TrimRight(s[:len(s)-d]+"."+s[len(s)-d:], "0")
		s = strings.TrimSuffix(s, ".")
	}
	if neg {
		s = "-" + s
	}
	return s
}
