package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// docExample is the policy of the package doc; it must stay valid.
const docExample = `{
  "id": "payouts",
  "created_by": "operator:alice",
  "allow_lists": [
    {"name": "treasury", "addresses": ["0x00000000000000000000000000000000000000aa"]}
  ],
  "rules": [
    {"name": "daily-cap", "action": "deny",
     "match": {"assets": ["ETH"],
               "limit": {"scope": "key", "window": "24h", "max_amount": "10000000000000000000"}}},
    {"name": "burst", "action": "deny",
     "match": {"limit": {"scope": "destination", "window": "1h", "max_count": 3}}},
    {"name": "unknown-destination", "action": "require_approvals",
     "approvals": {"required": 2, "approvers": ["operator:bob", "operator:carol", "operator:dan"], "ttl": "1h"},
     "match": {"destination": {"not_in_allow_list": "treasury"}}},
    {"name": "big", "action": "require_approvals",
     "approvals": {"required": 1, "approvers": ["operator:bob", "operator:carol"], "ttl": "30m"},
     "match": {"balance_share": {"min_bps": 5000}}},
    {"name": "rest", "action": "allow", "match": {"chain_ids": [1]}}
  ]
}`

func TestParseDocExample(t *testing.T) {
	p, err := ParsePolicy([]byte(docExample))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 5 || !strings.HasPrefix(p.Hash, "sha256:") || len(p.Hash) != 7+64 {
		t.Fatalf("%+v", p)
	}
	d, err := p.Evaluate(context.Background(), request(to(addrA), func(r *Request) { r.Balance = eth(100) }), NewMemState())
	if err != nil || d.Outcome != OutcomeAllow || d.RuleName != "rest" {
		t.Fatalf("%+v, %v", d, err)
	}
	d, err = p.Evaluate(context.Background(), request(to(addrB), func(r *Request) { r.Balance = eth(100) }), NewMemState())
	if err != nil || d.Outcome != OutcomeRequireApprovals || d.RuleName != "unknown-destination" || d.ApprovalsRequired != 2 {
		t.Fatalf("%+v, %v", d, err)
	}
}

func TestStoreLifecycle(t *testing.T) {
	now := t0
	s := NewStore(WithClock(func() time.Time { return now }))
	if _, err := s.Active("p"); !errors.Is(err, ErrNoActive) {
		t.Fatalf("Active of nothing: %v", err)
	}
	v1, err := s.Draft(Policy{ID: "p", CreatedBy: "operator:alice", Status: StatusPublished, Hash: "sha256:forged",
		Rules: []Rule{{Name: "no", Action: ActionDeny}}})
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.Status != StatusDraft || v1.Hash == "sha256:forged" || !v1.CreatedAt.Equal(t0) {
		t.Fatalf("draft: %+v", v1)
	}
	// Drafts can be edited in place; the hash follows the content.
	v1.Rules = []Rule{allowAll("all")}
	v1e, err := s.Draft(v1)
	if err != nil {
		t.Fatal(err)
	}
	if v1e.Version != 1 || v1e.Hash == v1.Hash || len(s.History("p")) != 1 {
		t.Fatalf("edited draft: %+v", v1e)
	}
	if _, err := s.Active("p"); !errors.Is(err, ErrNoActive) {
		t.Fatalf("draft is active: %v", err)
	}
	now = t0.Add(time.Hour)
	pub1, err := s.Publish("p", 1)
	if err != nil {
		t.Fatal(err)
	}
	if pub1.Status != StatusPublished || pub1.Hash != v1e.Hash || !pub1.PublishedAt.Equal(now) {
		t.Fatalf("published: %+v", pub1)
	}
	a, err := s.Active("p")
	if err != nil || a.Policy().Version != 1 || a.Policy().Hash != pub1.Hash {
		t.Fatalf("active: %v", err)
	}
	// Published versions are immutable.
	pub1.Rules = []Rule{{Name: "no", Action: ActionDeny}}
	if _, err := s.Draft(pub1); !errors.Is(err, ErrImmutable) {
		t.Fatalf("edit published: %v", err)
	}
	if _, err := s.Publish("p", 1); !errors.Is(err, ErrImmutable) {
		t.Fatalf("republish: %v", err)
	}
	// Changing a returned copy changes nothing in the store.
	got, _ := s.Get("p", 1)
	got.Rules[0].Name = "mutated"
	if again, _ := s.Get("p", 1); again.Rules[0].Name != "all" {
		t.Fatal("Get returned shared state")
	}
	// Editing is drafting a new version.
	pub1.Version = 0
	v2, err := s.Draft(pub1)
	if err != nil || v2.Version != 2 {
		t.Fatalf("new version: %+v, %v", v2, err)
	}
	v3, err := s.Draft(Policy{ID: "p", Rules: []Rule{allowAll("x")}})
	if err != nil || v3.Version != 3 {
		t.Fatalf("v3: %+v, %v", v3, err)
	}
	if _, err := s.Draft(Policy{ID: "p", Version: 9}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("draft version 9: %v", err)
	}
	if _, err := s.Publish("p", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish("p", 2); !errors.Is(err, ErrStale) {
		t.Fatalf("publish older: %v", err)
	}
	h := s.History("p")
	if len(h) != 3 || h[0].Status != StatusArchived || h[1].Status != StatusDraft || h[2].Status != StatusPublished {
		t.Fatalf("history: %v %v %v", h[0].Status, h[1].Status, h[2].Status)
	}
	if h[0].Hash != v1e.Hash {
		t.Fatal("archiving changed the hash")
	}
	if a, _ := s.Active("p"); a.Policy().Version != 3 {
		t.Fatalf("active version %d", a.Policy().Version)
	}
	if _, err := s.Get("p", 4); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.Publish("q", 1); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if ids := s.IDs(); len(ids) != 1 || ids[0] != "p" {
		t.Fatal(ids)
	}

	// A dry run of the draft before publishing it.
	e := NewEngine(s, NewMemState())
	d, err := e.DryRun(context.Background(), "p", 2, request())
	if err != nil || d.PolicyVersion != 2 || d.RuleName != "no" || d.Outcome != OutcomeDeny {
		t.Fatalf("dry run of a draft: %+v, %v", d, err)
	}

	// Restore round trip through JSON.
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var saved []Policy
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	r := NewStore()
	if err := r.Restore(saved); err != nil {
		t.Fatal(err)
	}
	if a, err := r.Active("p"); err != nil || a.Policy().Hash != h[2].Hash {
		t.Fatalf("restored active: %v", err)
	}
	saved[0].Rules[0].Action = ActionDeny // tamper with an archived version
	if err := NewStore().Restore(saved); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("tampered restore: %v", err)
	}
	if err := r.Restore(saved); err == nil {
		t.Fatal("restore into a non-empty store")
	}
}

func TestHashStability(t *testing.T) {
	base := func() *Policy {
		p, err := ParsePolicy([]byte(docExample))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	h0 := base().Hash
	// Same content, differently written: same hash.
	for name, mod := range map[string]func(*Policy){
		"other id, version, author": func(p *Policy) { p.ID, p.Version, p.CreatedBy = "other", 7, "operator:zed" },
		"status and times":          func(p *Policy) { p.Status, p.PublishedAt = StatusPublished, t0 },
		"address case":              func(p *Policy) { p.AllowLists[0].Addresses[0] = strings.ToUpper(addrA[2:]) },
		"set order and duplicates": func(p *Policy) {
			a := p.Rules[2].Approvals
			a.Approvers = []string{a.Approvers[2], a.Approvers[0], a.Approvers[1]}
			p.Rules[4].Match.ChainIDs = []uint64{1, 1}
			p.AllowLists[0].Addresses = append(p.AllowLists[0].Addresses, addrA)
		},
		"allow-list order": func(p *Policy) {
			p.AllowLists = append([]AllowList{{Name: "zz", Addresses: []string{addrC}}}, p.AllowLists...)
		},
	} {
		p := base()
		mod(p)
		if name == "address case" {
			p.AllowLists[0].Addresses[0] = "0x" + p.AllowLists[0].Addresses[0]
		}
		h, err := p.ContentHash()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "allow-list order" {
			// A new list is new content; its position is not.
			q := base()
			q.AllowLists = append(q.AllowLists, AllowList{Name: "zz", Addresses: []string{addrC}})
			hq, _ := q.ContentHash()
			if h != hq || h == h0 {
				t.Errorf("%s: %s vs %s", name, h, hq)
			}
			continue
		}
		if h != h0 {
			t.Errorf("%s changed the hash", name)
		}
	}
	// Any change of meaning: a different hash.
	seen := map[string]string{h0: "base"}
	for name, mod := range map[string]func(*Policy){
		"rule order":    func(p *Policy) { p.Rules[0], p.Rules[1] = p.Rules[1], p.Rules[0] },
		"rule name":     func(p *Policy) { p.Rules[0].Name = "cap" },
		"action":        func(p *Policy) { p.Rules[4].Action = ActionDeny },
		"approvals N":   func(p *Policy) { p.Rules[2].Approvals.Required = 3 },
		"approver":      func(p *Policy) { p.Rules[2].Approvals.Approvers[0] = "operator:eve" },
		"ttl":           func(p *Policy) { p.Rules[2].Approvals.TTL = Duration(2 * time.Hour) },
		"limit amount":  func(p *Policy) { p.Rules[0].Match.Limit.MaxAmount = "10000000000000000001" },
		"limit window":  func(p *Policy) { p.Rules[0].Match.Limit.Window = Duration(25 * time.Hour) },
		"limit scope":   func(p *Policy) { p.Rules[1].Match.Limit.Scope = ScopeKey },
		"limit count":   func(p *Policy) { p.Rules[1].Match.Limit.MaxCount = 4 },
		"bps":           func(p *Policy) { *p.Rules[3].Match.BalanceShare.MinBPS = 5001 },
		"chain":         func(p *Policy) { p.Rules[4].Match.ChainIDs = []uint64{1, 10} },
		"allow-list":    func(p *Policy) { p.AllowLists[0].Addresses = append(p.AllowLists[0].Addresses, addrB) },
		"destination":   func(p *Policy) { p.Rules[2].Match.Destination = &DestinationMatch{InAllowList: "treasury"} },
		"asset":         func(p *Policy) { p.Rules[0].Match.Assets = []string{"ETH", usdc} },
		"new condition": func(p *Policy) { p.Rules[4].Match.KeyIDs = []string{"k1"} },
		"amount range": func(p *Policy) {
			p.Rules[4].Match.Assets, p.Rules[4].Match.Amount = []string{"ETH"}, &AmountRange{Max: "1"}
		},
		"purpose":        func(p *Policy) { p.Rules[4].Match.Purposes = []string{"payout"} },
		"dropped a rule": func(p *Policy) { p.Rules = p.Rules[:4] },
	} {
		p := base()
		mod(p)
		h, err := p.ContentHash()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if other, dup := seen[h]; dup {
			t.Errorf("%s has the hash of %s", name, other)
		}
		seen[h] = name
	}
}

func TestValidation(t *testing.T) {
	ok := func() Policy {
		return Policy{ID: "p", AllowLists: []AllowList{{Name: "l", Addresses: []string{addrA}}}, Rules: []Rule{allowAll("all")}}
	}
	appr := func(n int, ids ...string) *ApprovalRequirement {
		return &ApprovalRequirement{Required: n, Approvers: ids, TTL: Duration(time.Hour)}
	}
	lim := func(l Limit) Match { return Match{Assets: []string{"ETH"}, Limit: &l} }
	tests := []struct {
		name  string
		mod   func(*Policy)
		field string
		msg   string
	}{
		{"no id", func(p *Policy) { p.ID = "" }, "id", "empty"},
		{"control char id", func(p *Policy) { p.ID = "a\nb" }, "id", "control"},
		{"status", func(p *Policy) { p.Status = "live" }, "status", "unknown status"},
		{"rule without name", func(p *Policy) { p.Rules[0].Name = "" }, "rules[0].name", "empty"},
		{"duplicate rule", func(p *Policy) { p.Rules = append(p.Rules, allowAll("all")) }, "rules[1].name", "duplicate"},
		{"unknown action", func(p *Policy) { p.Rules[0].Action = "maybe" }, "rules[0].action", "unknown action"},
		{"N > M", func(p *Policy) {
			p.Rules[0] = Rule{Name: "r", Action: ActionRequireApprovals, Approvals: appr(3, "a", "b")}
		}, "rules[0].approvals.required", "N = 3 is more than the M = 2"},
		{"N = 0", func(p *Policy) { p.Rules[0] = Rule{Name: "r", Action: ActionRequireApprovals, Approvals: appr(0, "a")} },
			"rules[0].approvals.required", "at least 1"},
		{"duplicate approver", func(p *Policy) {
			p.Rules[0] = Rule{Name: "r", Action: ActionRequireApprovals, Approvals: appr(2, "a", "a")}
		}, "rules[0].approvals.approvers", "duplicate approver"},
		{"no ttl", func(p *Policy) {
			p.Rules[0] = Rule{Name: "r", Action: ActionRequireApprovals, Approvals: &ApprovalRequirement{Required: 1, Approvers: []string{"a"}}}
		}, "rules[0].approvals.ttl", "positive"},
		{"no approvals", func(p *Policy) { p.Rules[0] = Rule{Name: "r", Action: ActionRequireApprovals} }, "rules[0].approvals", "required"},
		{"approvals on allow", func(p *Policy) { p.Rules[0].Approvals = appr(1, "a") }, "rules[0].approvals", "only a require_approvals"},
		{"unknown allow-list", func(p *Policy) {
			p.Rules[0].Match.Destination = &DestinationMatch{InAllowList: "nope"}
		}, "rules[0].match.destination.in_allow_list", `unknown allow-list "nope"`},
		{"unknown deny-list", func(p *Policy) {
			p.Rules[0].Match.Destination = &DestinationMatch{NotInAllowList: "nope"}
		}, "rules[0].match.destination.not_in_allow_list", "unknown allow-list"},
		{"two destinations", func(p *Policy) {
			p.Rules[0].Match.Destination = &DestinationMatch{InAllowList: "l", Addresses: []string{addrB}}
		}, "rules[0].match.destination", "exactly one"},
		{"empty destination", func(p *Policy) { p.Rules[0].Match.Destination = &DestinationMatch{} }, "rules[0].match.destination", "exactly one"},
		{"bad address", func(p *Policy) {
			p.Rules[0].Match.Destination = &DestinationMatch{Addresses: []string{"0x12"}}
		}, "rules[0].match.destination.addresses[0]", "bad address"},
		{"bad allow-list address", func(p *Policy) { p.AllowLists[0].Addresses = []string{addrA, "0xZZ" + addrA[4:]} },
			"allow_lists[0].addresses[1]", "bad address"},
		{"duplicate allow-list", func(p *Policy) { p.AllowLists = append(p.AllowLists, AllowList{Name: "l"}) },
			"allow_lists[1].name", "duplicate"},
		{"negative amount", func(p *Policy) {
			p.Rules[0].Match = Match{Assets: []string{"ETH"}, Amount: &AmountRange{Min: "-1"}}
		}, "rules[0].match.amount.min", "no sign"},
		{"decimal point", func(p *Policy) {
			p.Rules[0].Match = Match{Assets: []string{"ETH"}, Amount: &AmountRange{Max: "1.5"}}
		}, "rules[0].match.amount.max", "digits only"},
		{"leading zero", func(p *Policy) { p.Rules[0].Match = Match{Assets: []string{"ETH"}, Amount: &AmountRange{Max: "01"}} },
			"rules[0].match.amount.max", "leading zero"},
		{"2^256", func(p *Policy) {
			p.Rules[0].Match = Match{Assets: []string{"ETH"}, Amount: &AmountRange{Max: "115792089237316195423570985008687907853269984665640564039457584007913129639936"}}
		}, "rules[0].match.amount.max", "2^256"},
		{"min > max", func(p *Policy) {
			p.Rules[0].Match = Match{Assets: []string{"ETH"}, Amount: &AmountRange{Min: "2", Max: "1"}}
		},
			"rules[0].match.amount", "above max"},
		{"empty range", func(p *Policy) { p.Rules[0].Match = Match{Assets: []string{"ETH"}, Amount: &AmountRange{}} },
			"rules[0].match.amount", "set min"},
		{"amount without asset", func(p *Policy) { p.Rules[0].Match = Match{Amount: &AmountRange{Min: "1"}} },
			"rules[0].match.assets", "needs the assets"},
		{"bps min > max", func(p *Policy) {
			p.Rules[0].Match = Match{BalanceShare: &BalanceShare{MinBPS: u32(2), MaxBPS: u32(1)}}
		}, "rules[0].match.balance_share", "above max_bps"},
		{"bps empty", func(p *Policy) { p.Rules[0].Match = Match{BalanceShare: &BalanceShare{}} }, "rules[0].match.balance_share", "set min_bps"},
		{"chain 0", func(p *Policy) { p.Rules[0].Match.ChainIDs = []uint64{0} }, "rules[0].match.chain_ids", "chain id 0"},
		{"empty key id", func(p *Policy) { p.Rules[0].Match.KeyIDs = []string{""} }, "rules[0].match.key_ids[0]", "empty"},
		{"limit scope", func(p *Policy) { p.Rules[0].Match = lim(Limit{Scope: "org", Window: Duration(time.Hour), MaxCount: 1}) },
			"rules[0].match.limit.scope", "unknown scope"},
		{"limit window", func(p *Policy) { p.Rules[0].Match = lim(Limit{Scope: ScopeKey, MaxCount: 1}) },
			"rules[0].match.limit.window", "must be in"},
		{"limit window too long", func(p *Policy) {
			p.Rules[0].Match = lim(Limit{Scope: ScopeKey, Window: Duration(MaxWindow + 1), MaxCount: 1})
		}, "rules[0].match.limit.window", "must be in"},
		{"limit empty", func(p *Policy) { p.Rules[0].Match = lim(Limit{Scope: ScopeKey, Window: Duration(time.Hour)}) },
			"rules[0].match.limit", "set max_amount"},
		{"limit negative count", func(p *Policy) {
			p.Rules[0].Match = lim(Limit{Scope: ScopeKey, Window: Duration(time.Hour), MaxCount: -1})
		},
			"rules[0].match.limit.max_count", "negative"},
		{"limit negative amount", func(p *Policy) {
			p.Rules[0].Match = lim(Limit{Scope: ScopeKey, Window: Duration(time.Hour), MaxAmount: "-5"})
		}, "rules[0].match.limit.max_amount", "no sign"},
		{"limit amount without asset", func(p *Policy) {
			p.Rules[0].Match = Match{Limit: &Limit{Scope: ScopeKey, Window: Duration(time.Hour), MaxAmount: "5"}}
		}, "rules[0].match.assets", "needs the assets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ok()
			tc.mod(&p)
			err := p.Validate()
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			if ve.Field != tc.field || !strings.Contains(ve.Msg, tc.msg) {
				t.Fatalf("err = %v, want field %s, message with %q", err, tc.field, tc.msg)
			}
			if tc.field == "status" {
				return // Draft sets the status itself
			}
			if _, err := NewStore().Draft(p); !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("Draft accepted it: %v", err)
			}
		})
	}
	if err := func() error { p := ok(); return p.Validate() }(); err != nil {
		t.Fatalf("valid policy refused: %v", err)
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":   `{"id":"p","rules":[{"name":"r","action":"allow","match":{"asets":["ETH"]}}]}`,
		"trailing data":   `{"id":"p","rules":[]} {}`,
		"bad duration":    `{"id":"p","rules":[{"name":"r","action":"require_approvals","approvals":{"required":1,"approvers":["a"],"ttl":"soon"}}]}`,
		"numeric ttl":     `{"id":"p","rules":[{"name":"r","action":"require_approvals","approvals":{"required":1,"approvers":["a"],"ttl":3600}}]}`,
		"negative bps":    `{"id":"p","rules":[{"name":"r","action":"allow","match":{"balance_share":{"max_bps":-1}}}]}`,
		"amount a number": `{"id":"p","rules":[{"name":"r","action":"allow","match":{"assets":["ETH"],"amount":{"max":10}}}]}`,
		"not JSON":        `id: p`,
	} {
		if _, err := ParsePolicy([]byte(doc)); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParsePolicy: the decoder never panics, and what it accepts re-encodes to a
// policy with the same hash and passes Compile.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(docExample))
	f.Add([]byte(`{"id":"p","rules":[{"name":"r","action":"deny","match":{"destination":{"addresses":["0x00000000000000000000000000000000000000AA"]}}}]}`))
	f.Add([]byte(`{"id":"p","rules":[{"name":"r","action":"allow","match":{"assets":["ETH"],"amount":{"min":"0","max":"1"},"balance_share":{"max_bps":10000}}}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error outside ErrInvalidPolicy: %v", err)
			}
			return
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePolicy(b)
		if err != nil {
			t.Fatalf("re-encoded policy refused: %v\n%s", err, b)
		}
		if q.Hash != p.Hash {
			t.Fatalf("hash changed on round trip: %s vs %s", p.Hash, q.Hash)
		}
		if _, err := Compile(q); err != nil {
			t.Fatal(err)
		}
	})
}

// TestStorePersists: a Store over a PebbleState comes back as it was after a reopen,
// and a tampered saved version is refused.
func TestStorePersists(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenPebbleState(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(st)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy([]byte(docExample))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Draft(*p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish("payouts", 1); err != nil {
		t.Fatal(err)
	}
	p.Rules = p.Rules[1:]
	if _, err := s.Draft(*p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish("payouts", 2); err != nil {
		t.Fatal(err)
	}
	p.Version = 0
	if _, err := s.Draft(*p); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(s.History("payouts"))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = OpenPebbleState(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err = OpenStore(st)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(s.History("payouts"))
	if string(got) != string(want) {
		t.Fatalf("after reopen:\n%s\nwant\n%s", got, want)
	}
	if a, err := s.Active("payouts"); err != nil || a.Policy().Version != 2 {
		t.Fatalf("active after reopen: %v", err)
	}
	h := s.History("payouts")
	h[0].Rules[0].Action = ActionAllow
	if err := st.SavePolicies(h[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(st); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("tampered log: %v", err)
	}
}
