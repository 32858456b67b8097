package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Status is the life-cycle state of a policy version.
type Status string

// Policy statuses. A version starts as a draft, is frozen by publishing, and is archived
// when a later version of the same policy is published.
const (
	StatusDraft     Status = "draft"
	StatusPublished Status = "published"
	StatusArchived  Status = "archived"
)

// Action is what a matching rule decides.
type Action string

// Rule actions.
const (
	// ActionAllow lets the request be signed.
	ActionAllow Action = "allow"
	// ActionDeny refuses the request.
	ActionDeny Action = "deny"
	// ActionRequireApprovals holds the request until N distinct approvers of the rule's
	// set of M approve it (see Approvals).
	ActionRequireApprovals Action = "require_approvals"
)

// Scope is what a Limit counts over.
type Scope string

// Limit scopes.
const (
	// ScopeKey counts the earlier signed requests of the request's key.
	ScopeKey Scope = "key"
	// ScopeDestination counts the earlier signed requests, from any key, to the
	// request's destination address.
	ScopeDestination Scope = "destination"
)

// Bounds of what a policy may hold.
const (
	// MaxIDLen is the longest policy id, rule name, allow-list name, key id, asset or
	// approver id, in bytes.
	MaxIDLen = 256
	// MaxWindow is the longest limit window. State implementations may prune events
	// older than MaxWindow.
	MaxWindow = 31 * 24 * time.Hour
	// MaxRules is the most rules a policy may hold.
	MaxRules = 1024
	// MaxAllowListSize is the most addresses one allow-list may hold.
	MaxAllowListSize = 100_000
	// MaxPolicyBytes is the largest policy document ParsePolicy accepts.
	MaxPolicyBytes = 16 << 20
)

// Errors; test with errors.Is.
var (
	// ErrInvalidPolicy: the policy fails validation. The error is a *ValidationError.
	ErrInvalidPolicy = errors.New("policy: invalid policy")
	// ErrInvalidRequest: the request to evaluate is malformed (missing key id, negative
	// amount, bad address, ...).
	ErrInvalidRequest = errors.New("policy: invalid request")
	// ErrBalanceRequired: a rule that would otherwise match has a balance condition and
	// the request carries no Balance. The decision is a deny.
	ErrBalanceRequired = errors.New("policy: balance required")
)

// ValidationError says which part of a policy is wrong. It matches ErrInvalidPolicy with
// errors.Is.
type ValidationError struct {
	// Field is the JSON path of the offending value ("rules[2].match.amount.min").
	Field string
	// Msg says what is wrong with it.
	Msg string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("policy: invalid policy: %s: %s", e.Field, e.Msg)
}

// Unwrap returns ErrInvalidPolicy.
func (e *ValidationError) Unwrap() error { return ErrInvalidPolicy }

// Policy is one version of a signing policy: an ordered list of rules, the first of
// which to match a request decides it, and the allow-lists the rules refer to. The JSON
// form is the documented schema (see the package doc); Hash, Status and PublishedAt are
// set by the Store, never trusted from input.
type Policy struct {
	// ID names the policy ("payouts", "treasury"). Required.
	ID string `json:"id"`
	// Version numbers the versions of one policy from 1; the Store assigns it.
	Version uint64 `json:"version"`
	// Status is draft, published or archived; the Store assigns it.
	Status Status `json:"status"`
	// Rules are evaluated in order; the first that matches decides.
	Rules []Rule `json:"rules"`
	// AllowLists are the named address sets the rules refer to. They are part of the
	// policy version and of its hash: changing a list makes a new version.
	AllowLists []AllowList `json:"allow_lists,omitempty"`
	// Hash is "sha256:" + the hex SHA-256 of the canonical JSON of Rules and AllowLists
	// (see ContentHash); computed by the Store.
	Hash string `json:"hash"`
	// CreatedBy identifies who wrote this version ("operator:alice").
	CreatedBy string `json:"created_by"`
	// CreatedAt is when this version was first drafted; set by the Store.
	CreatedAt time.Time `json:"created_at"`
	// PublishedAt is when it was published; zero for a draft.
	PublishedAt time.Time `json:"published_at"`
}

// AllowList is a named set of addresses.
type AllowList struct {
	// Name is how rules refer to the list. Required, unique within the policy.
	Name string `json:"name"`
	// Addresses are "0x" + 40 hex digits, any case; compared case-insensitively.
	Addresses []string `json:"addresses"`
}

// Rule is one ordered rule: when every condition of Match holds, Action decides.
type Rule struct {
	// Name identifies the rule in decisions and audit records. Required, unique.
	Name string `json:"name"`
	// Action is allow, deny or require_approvals. Required.
	Action Action `json:"action"`
	// Approvals is required with require_approvals and refused otherwise.
	Approvals *ApprovalRequirement `json:"approvals,omitempty"`
	// Match holds the conditions; all must hold. An empty Match matches every request.
	Match Match `json:"match"`
}

// ApprovalRequirement is the N of M of a require_approvals rule.
type ApprovalRequirement struct {
	// Required is N, the number of distinct approvers needed; 1 <= N <= len(Approvers).
	Required int `json:"required"`
	// Approvers is the set of M approver ids ("operator:bob") allowed to approve.
	Approvers []string `json:"approvers"`
	// TTL is how long an approval stays valid, and how long after the request approvals
	// are accepted. Required, positive.
	TTL Duration `json:"ttl"`
}

// Match holds the conditions of a rule. A nil or empty condition holds for every
// request ("any").
type Match struct {
	// KeyIDs: the request's key is one of these.
	KeyIDs []string `json:"key_ids,omitempty"`
	// ChainIDs: the request's EIP-155 chain id is one of these.
	ChainIDs []uint64 `json:"chain_ids,omitempty"`
	// Purposes: the request's purpose ("payout", "sweep") is one of these.
	Purposes []string `json:"purposes,omitempty"`
	// Destination: the request's recipient is, or is not, in a set of addresses.
	Destination *DestinationMatch `json:"destination,omitempty"`
	// Assets: the request's asset (weir.common.v1.Amount.asset, compared exactly) is one
	// of these. Required when Amount or a Limit with MaxAmount is set, so that base
	// units of one asset are never compared with another's.
	Assets []string `json:"assets,omitempty"`
	// Amount: the request's amount lies in an inclusive range of base units.
	Amount *AmountRange `json:"amount,omitempty"`
	// BalanceShare: the request's amount, as a share of the key's balance of the
	// asset, lies in an inclusive range of basis points.
	BalanceShare *BalanceShare `json:"balance_share,omitempty"`
	// Limit: signing the request would exceed a limit over a sliding time window.
	Limit *Limit `json:"limit,omitempty"`
}

// DestinationMatch is a condition on the request's recipient (Request.To). Exactly one
// field is set. A request without a recipient (a contract creation) matches only
// NotInAllowList.
type DestinationMatch struct {
	// Addresses: the recipient is one of these ("0x" + 40 hex, any case).
	Addresses []string `json:"addresses,omitempty"`
	// InAllowList: the recipient is in the named allow-list of the policy.
	InAllowList string `json:"in_allow_list,omitempty"`
	// NotInAllowList: the recipient is not in the named allow-list (or there is none).
	NotInAllowList string `json:"not_in_allow_list,omitempty"`
}

// AmountRange is an inclusive range of base units, as canonical decimal strings (digits
// only, no sign, below 2^256). At least one bound is set.
type AmountRange struct {
	// Min: amount >= Min. Empty for no lower bound.
	Min string `json:"min,omitempty"`
	// Max: amount <= Max. Empty for no upper bound.
	Max string `json:"max,omitempty"`
}

// BalanceShare is an inclusive range of amount / balance in basis points (1/100 of a
// percent; 10000 is the whole balance, more is allowed). It is evaluated exactly as
// amount*10000 >= MinBPS*balance and amount*10000 <= MaxBPS*balance. A zero balance
// makes any non-zero amount an infinite share. At least one bound is set.
type BalanceShare struct {
	// MinBPS is the lower bound; nil for none.
	MinBPS *uint32 `json:"min_bps,omitempty"`
	// MaxBPS is the upper bound; nil for none.
	MaxBPS *uint32 `json:"max_bps,omitempty"`
}

// Limit is a condition over the signed requests of a sliding window of event time. It
// holds when signing the request would exceed the limit:
//
//	used amount in (t-Window, ...] + request amount > MaxAmount, or
//	used count  in (t-Window, ...] + 1              > MaxCount,
//
// where t is Request.Time and "used" counts the requests recorded in the State (the
// signed ones, see Engine). So a deny or require_approvals rule placed before the allow
// rules turns a limit into a cap ("at most 10 ETH per 24 h per key"). At least one of
// MaxAmount and MaxCount is set.
type Limit struct {
	// Scope is key (per signing key) or destination (per recipient, over all keys).
	Scope Scope `json:"scope"`
	// Window is the length of the sliding window; 0 < Window <= MaxWindow.
	Window Duration `json:"window"`
	// MaxAmount is the most base units of the request's asset in a window, canonical
	// decimal; empty for no amount limit. Only requests of the same asset count.
	MaxAmount string `json:"max_amount,omitempty"`
	// MaxCount is the most signed requests in a window, of any asset; 0 for no count
	// limit.
	MaxCount int `json:"max_count,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string ("24h", "90m").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"24h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParsePolicy decodes a policy from its JSON form and validates it. Unknown fields are
// refused, so a misspelt condition cannot silently widen a rule. The returned policy has
// its addresses normalised and its Hash computed; Status, Version and PublishedAt are
// kept as given (the Store overrides them).
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > MaxPolicyBytes {
		return nil, &ValidationError{Field: "$", Msg: fmt.Sprintf("larger than %d bytes", MaxPolicyBytes)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, &ValidationError{Field: "$", Msg: "bad JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ValidationError{Field: "$", Msg: "trailing data after the policy"}
	}
	if err := p.normalize(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks the policy and returns a *ValidationError for the first problem found.
// It does not modify p.
func (p *Policy) Validate() error {
	c := p.Clone()
	return c.normalize()
}

// ContentHash returns "sha256:" + the hex SHA-256 of the canonical JSON of the policy's
// rules and allow-lists: addresses in lowercase, amounts canonical, allow-list entries
// and every set-valued condition (key ids, chain ids, purposes, assets, addresses,
// approvers) sorted and deduplicated, allow-lists sorted by name, durations as Go duration
// strings. ID, Version, Status, CreatedBy and the times are not part of it, so the
// same rules give the same hash in any policy and version. The policy must be valid.
func (p *Policy) ContentHash() (string, error) {
	c := p.Clone()
	if err := c.normalize(); err != nil {
		return "", err
	}
	return c.Hash, nil
}

// Clone returns a deep copy of p.
func (p *Policy) Clone() *Policy {
	if p == nil {
		return nil
	}
	c := *p
	c.Rules = make([]Rule, len(p.Rules))
	for i, r := range p.Rules {
		c.Rules[i] = r.clone()
	}
	c.AllowLists = make([]AllowList, len(p.AllowLists))
	for i, l := range p.AllowLists {
		c.AllowLists[i] = AllowList{Name: l.Name, Addresses: slices.Clone(l.Addresses)}
	}
	if p.AllowLists == nil {
		c.AllowLists = nil
	}
	return &c
}

func (r Rule) clone() Rule {
	c := r
	if r.Approvals != nil {
		a := *r.Approvals
		a.Approvers = slices.Clone(a.Approvers)
		c.Approvals = &a
	}
	m := r.Match
	m.KeyIDs = slices.Clone(m.KeyIDs)
	m.ChainIDs = slices.Clone(m.ChainIDs)
	m.Purposes = slices.Clone(m.Purposes)
	m.Assets = slices.Clone(m.Assets)
	if m.Destination != nil {
		d := *m.Destination
		d.Addresses = slices.Clone(d.Addresses)
		m.Destination = &d
	}
	if m.Amount != nil {
		a := *m.Amount
		m.Amount = &a
	}
	if m.BalanceShare != nil {
		b := *m.BalanceShare
		if b.MinBPS != nil {
			v := *b.MinBPS
			b.MinBPS = &v
		}
		if b.MaxBPS != nil {
			v := *b.MaxBPS
			b.MaxBPS = &v
		}
		m.BalanceShare = &b
	}
	if m.Limit != nil {
		l := *m.Limit
		m.Limit = &l
	}
	c.Match = m
	return c
}

// normalize validates p in place, puts every set in canonical order and sets p.Hash.
func (p *Policy) normalize() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if p.CreatedBy != "" {
		if err := checkID("created_by", p.CreatedBy); err != nil {
			return err
		}
	}
	switch p.Status {
	case "", StatusDraft, StatusPublished, StatusArchived:
	default:
		return &ValidationError{Field: "status", Msg: fmt.Sprintf("unknown status %q", p.Status)}
	}
	if len(p.Rules) > MaxRules {
		return &ValidationError{Field: "rules", Msg: fmt.Sprintf("more than %d rules", MaxRules)}
	}
	lists := map[string]bool{}
	for i := range p.AllowLists {
		l := &p.AllowLists[i]
		f := fmt.Sprintf("allow_lists[%d]", i)
		if err := checkID(f+".name", l.Name); err != nil {
			return err
		}
		if lists[l.Name] {
			return &ValidationError{Field: f + ".name", Msg: fmt.Sprintf("duplicate allow-list %q", l.Name)}
		}
		lists[l.Name] = true
		if len(l.Addresses) > MaxAllowListSize {
			return &ValidationError{Field: f + ".addresses", Msg: fmt.Sprintf("more than %d addresses", MaxAllowListSize)}
		}
		addrs, err := normAddresses(f+".addresses", l.Addresses)
		if err != nil {
			return err
		}
		l.Addresses = addrs
	}
	slices.SortFunc(p.AllowLists, func(a, b AllowList) int { return strings.Compare(a.Name, b.Name) })
	// Absent and empty are the same content: one canonical form for both.
	if len(p.AllowLists) == 0 {
		p.AllowLists = nil
	}
	if len(p.Rules) == 0 {
		p.Rules = nil
	}
	names := map[string]bool{}
	for i := range p.Rules {
		r := &p.Rules[i]
		f := fmt.Sprintf("rules[%d]", i)
		if err := checkID(f+".name", r.Name); err != nil {
			return err
		}
		if names[r.Name] {
			return &ValidationError{Field: f + ".name", Msg: fmt.Sprintf("duplicate rule name %q", r.Name)}
		}
		names[r.Name] = true
		if err := r.normalize(f, lists); err != nil {
			return err
		}
	}
	b, err := json.Marshal(canonical{Rules: p.Rules, AllowLists: p.AllowLists})
	if err != nil {
		return fmt.Errorf("policy: canonical form: %w", err)
	}
	sum := sha256.Sum256(b)
	p.Hash = "sha256:" + hex.EncodeToString(sum[:])
	return nil
}

// canonical is what the content hash covers. Rule and its parts marshal with a fixed
// field order, so encoding/json output is canonical once the sets are sorted.
type canonical struct {
	Rules      []Rule      `json:"rules"`
	AllowLists []AllowList `json:"allow_lists"`
}

func (r *Rule) normalize(f string, lists map[string]bool) error {
	switch r.Action {
	case ActionAllow, ActionDeny:
		if r.Approvals != nil {
			return &ValidationError{Field: f + ".approvals", Msg: fmt.Sprintf("only a %s rule takes approvals", ActionRequireApprovals)}
		}
	case ActionRequireApprovals:
		a := r.Approvals
		if a == nil {
			return &ValidationError{Field: f + ".approvals", Msg: "required with action " + string(ActionRequireApprovals)}
		}
		set, err := normIDs(f+".approvals.approvers", a.Approvers)
		if err != nil {
			return err
		}
		if len(set) != len(a.Approvers) {
			return &ValidationError{Field: f + ".approvals.approvers", Msg: "duplicate approver"}
		}
		a.Approvers = set
		if a.Required < 1 {
			return &ValidationError{Field: f + ".approvals.required", Msg: fmt.Sprintf("N must be at least 1, got %d", a.Required)}
		}
		if a.Required > len(a.Approvers) {
			return &ValidationError{Field: f + ".approvals.required", Msg: fmt.Sprintf("N = %d is more than the M = %d approvers", a.Required, len(a.Approvers))}
		}
		if a.TTL <= 0 {
			return &ValidationError{Field: f + ".approvals.ttl", Msg: "must be positive"}
		}
	default:
		return &ValidationError{Field: f + ".action", Msg: fmt.Sprintf("unknown action %q (want allow, deny or require_approvals)", r.Action)}
	}
	m := &r.Match
	var err error
	if m.KeyIDs, err = normIDs(f+".match.key_ids", m.KeyIDs); err != nil {
		return err
	}
	if m.Purposes, err = normIDs(f+".match.purposes", m.Purposes); err != nil {
		return err
	}
	if m.Assets, err = normIDs(f+".match.assets", m.Assets); err != nil {
		return err
	}
	for _, c := range m.ChainIDs {
		if c == 0 {
			return &ValidationError{Field: f + ".match.chain_ids", Msg: "chain id 0"}
		}
	}
	slices.Sort(m.ChainIDs)
	m.ChainIDs = slices.Compact(m.ChainIDs)
	if len(m.ChainIDs) == 0 {
		m.ChainIDs = nil
	}
	if d := m.Destination; d != nil {
		n := 0
		if d.Addresses != nil {
			n++
			if len(d.Addresses) == 0 {
				return &ValidationError{Field: f + ".match.destination.addresses", Msg: "empty"}
			}
			if d.Addresses, err = normAddresses(f+".match.destination.addresses", d.Addresses); err != nil {
				return err
			}
		}
		for _, ref := range []struct{ name, field string }{{d.InAllowList, "in_allow_list"}, {d.NotInAllowList, "not_in_allow_list"}} {
			if ref.name == "" {
				continue
			}
			n++
			if !lists[ref.name] {
				return &ValidationError{Field: f + ".match.destination." + ref.field, Msg: fmt.Sprintf("unknown allow-list %q", ref.name)}
			}
		}
		if n != 1 {
			return &ValidationError{Field: f + ".match.destination", Msg: "set exactly one of addresses, in_allow_list, not_in_allow_list"}
		}
	}
	if a := m.Amount; a != nil {
		if a.Min == "" && a.Max == "" {
			return &ValidationError{Field: f + ".match.amount", Msg: "set min, max or both"}
		}
		var lo, hi *big.Int
		if a.Min != "" {
			if lo, err = ParseAmount(a.Min); err != nil {
				return &ValidationError{Field: f + ".match.amount.min", Msg: err.Error()}
			}
		}
		if a.Max != "" {
			if hi, err = ParseAmount(a.Max); err != nil {
				return &ValidationError{Field: f + ".match.amount.max", Msg: err.Error()}
			}
		}
		if lo != nil && hi != nil && lo.Cmp(hi) > 0 {
			return &ValidationError{Field: f + ".match.amount", Msg: fmt.Sprintf("min %s is above max %s", a.Min, a.Max)}
		}
		if len(m.Assets) == 0 {
			return &ValidationError{Field: f + ".match.assets", Msg: "an amount condition needs the assets it applies to"}
		}
	}
	if b := m.BalanceShare; b != nil {
		if b.MinBPS == nil && b.MaxBPS == nil {
			return &ValidationError{Field: f + ".match.balance_share", Msg: "set min_bps, max_bps or both"}
		}
		if b.MinBPS != nil && b.MaxBPS != nil && *b.MinBPS > *b.MaxBPS {
			return &ValidationError{Field: f + ".match.balance_share", Msg: fmt.Sprintf("min_bps %d is above max_bps %d", *b.MinBPS, *b.MaxBPS)}
		}
	}
	if l := m.Limit; l != nil {
		lf := f + ".match.limit"
		switch l.Scope {
		case ScopeKey, ScopeDestination:
		default:
			return &ValidationError{Field: lf + ".scope", Msg: fmt.Sprintf("unknown scope %q (want key or destination)", l.Scope)}
		}
		if l.Window <= 0 || time.Duration(l.Window) > MaxWindow {
			return &ValidationError{Field: lf + ".window", Msg: fmt.Sprintf("must be in (0, %s]", MaxWindow)}
		}
		if l.MaxCount < 0 {
			return &ValidationError{Field: lf + ".max_count", Msg: "negative"}
		}
		if l.MaxAmount == "" && l.MaxCount == 0 {
			return &ValidationError{Field: lf, Msg: "set max_amount, max_count or both"}
		}
		if l.MaxAmount != "" {
			if _, err := ParseAmount(l.MaxAmount); err != nil {
				return &ValidationError{Field: lf + ".max_amount", Msg: err.Error()}
			}
			if len(m.Assets) == 0 {
				return &ValidationError{Field: f + ".match.assets", Msg: "an amount limit needs the assets it applies to"}
			}
		}
	}
	return nil
}

// checkID refuses empty, overlong, non-UTF-8 or control-character identifiers.
func checkID(field, s string) error {
	if s == "" {
		return &ValidationError{Field: field, Msg: "empty"}
	}
	if len(s) > MaxIDLen {
		return &ValidationError{Field: field, Msg: fmt.Sprintf("longer than %d bytes", MaxIDLen)}
	}
	for _, r := range s {
		if r == unicode.ReplacementChar || unicode.IsControl(r) {
			return &ValidationError{Field: field, Msg: fmt.Sprintf("%q holds a control character or invalid UTF-8", s)}
		}
	}
	return nil
}

// normIDs checks each id and returns them sorted and deduplicated; nil for none.
func normIDs(field string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	for i, s := range ids {
		if err := checkID(fmt.Sprintf("%s[%d]", field, i), s); err != nil {
			return nil, err
		}
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func normAddresses(field string, addrs []string) ([]string, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		n, err := NormalizeAddress(a)
		if err != nil {
			return nil, &ValidationError{Field: fmt.Sprintf("%s[%d]", field, i), Msg: err.Error()}
		}
		out[i] = n
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// NormalizeAddress checks that s is "0x" (or "0X") + 40 hex digits and returns it in
// lowercase. Mixed-case checksums are not verified: policies compare addresses, they do
// not guard against typos in user input (the API that takes addresses should).
func NormalizeAddress(s string) (string, error) {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return "", fmt.Errorf("bad address %q: want 0x and 40 hex digits", s)
	}
	for _, c := range s[2:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", fmt.Errorf("bad address %q: want 0x and 40 hex digits", s)
		}
	}
	return "0x" + strings.ToLower(s[2:]), nil
}

// maxUint256 is 2^256 - 1, the largest amount.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// ParseAmount parses a canonical decimal amount of base units, the form of
// weir.common.v1.Amount.value: digits only, no sign, no leading zeros ("0" is zero), at
// most 78 digits, below 2^256.
func ParseAmount(s string) (*big.Int, error) {
	if s == "" || len(s) > 78 {
		return nil, fmt.Errorf("bad amount %q: want 1 to 78 decimal digits", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("bad amount %q: want decimal digits only, no sign", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return nil, fmt.Errorf("bad amount %q: leading zero", s)
	}
	v, _ := new(big.Int).SetString(s, 10)
	if v.Cmp(maxUint256) > 0 {
		return nil, fmt.Errorf("bad amount %q: not below 2^256", s)
	}
	return v, nil
}

// checkAmount accepts 0 <= v < 2^256.
func checkAmount(v *big.Int) error {
	if v == nil {
		return errors.New("missing")
	}
	if v.Sign() < 0 {
		return fmt.Errorf("negative amount %s", v)
	}
	if v.Cmp(maxUint256) > 0 {
		return fmt.Errorf("amount %s not below 2^256", v)
	}
	return nil
}
