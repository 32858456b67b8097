// Package policy is the signer's transaction policy engine: ordered rules, in the manner
// of Fireblocks' and BitGo's transaction policies and clef's rules, that decide whether
// a signing request is allowed, denied, or needs N of M approvals.
//
// # Policies
//
// A Policy is a versioned list of rules plus the allow-lists they use. Its JSON form:
//
//	{
//	  "id": "payouts",
//	  "created_by": "operator:alice",
//	  "allow_lists": [
//	    {"name": "treasury", "addresses": ["0x00000000000000000000000000000000000000aa"]}
//	  ],
//	  "rules": [
//	    {"name": "daily-cap", "action": "deny",
//	     "match": {"assets": ["ETH"],
//	               "limit": {"scope": "key", "window": "24h", "max_amount": "10000000000000000000"}}},
//	    {"name": "burst", "action": "deny",
//	     "match": {"limit": {"scope": "destination", "window": "1h", "max_count": 3}}},
//	    {"name": "unknown-destination", "action": "require_approvals",
//	     "approvals": {"required": 2, "approvers": ["operator:bob", "operator:carol", "operator:dan"], "ttl": "1h"},
//	     "match": {"destination": {"not_in_allow_list": "treasury"}}},
//	    {"name": "big", "action": "require_approvals",
//	     "approvals": {"required": 1, "approvers": ["operator:bob", "operator:carol"], "ttl": "30m"},
//	     "match": {"balance_share": {"min_bps": 5000}}},
//	    {"name": "rest", "action": "allow", "match": {"chain_ids": [1]}}
//	  ]
//	}
//
// Fields of a rule's "match" (every one given must hold; an empty match matches all):
// key_ids, chain_ids, purposes, assets (sets; the request's value must be in the set);
// destination (exactly one of "addresses", "in_allow_list", "not_in_allow_list");
// amount ({"min", "max"}, inclusive, base units as canonical decimal strings);
// balance_share ({"min_bps", "max_bps"}, inclusive, amount / balance in basis points,
// computed exactly as amount*10000 against bps*balance); limit (below). A condition on
// amounts (amount, limit.max_amount) requires "assets", so base units of different
// assets are never compared. Unknown JSON fields are refused (ParsePolicy).
//
// # Evaluation
//
// Rules are tried in order; the first whose conditions all hold decides, and its
// outcome, name, index and the policy's id, version and hash go into the Decision with
// the reasons. When no rule matches, the request is denied (RuleIndex -1): a policy
// allows only what a rule allows. Evaluation never records anything and reads only the
// State; any error (a malformed request, a balance_share rule without Request.Balance,
// a State failure) yields a deny decision with the error. A request without a
// destination (contract creation) is never in an address set or allow-list.
//
// # Limits
//
// A limit is a condition that holds when signing the request would exceed it over a
// sliding window of event time (Request.Time):
//
//	amount: usage of the request's asset in (t-window, ...) + request amount > max_amount
//	count:  number of requests (any asset)  in (t-window, ...) + 1              > max_count
//
// with usage per key ("scope": "key") or per destination address over all keys
// ("scope": "destination"). With both max_amount and max_count the limit holds when
// either is exceeded. So "at most 10 ETH per 24 h per key" is a deny (or
// require_approvals) rule with that limit placed before the allow rules; requests under
// the limit fall through to the next rules. Usage counts the requests recorded in the
// State: the Engine records a request when it allows it, and the signer records
// approved ones (Engine.Record) before signing, so every signed request counts,
// whichever rule let it through, and denied ones never do. Events dated after the
// request also count (out-of-order events make limits stricter, never looser); the
// request's own event, if it was already recorded (a retry), does not. A destination
// limit never holds for a contract creation, which has no destination.
//
// State is an interface; PebbleState keeps usage in a Pebble directory, synced on every
// Record, and MemState in memory. Prune drops events older than the longest window
// (MaxWindow at most). The Engine serialises evaluate-and-record, so concurrent
// requests cannot together overshoot a limit that each alone fits.
//
// # Versions
//
// A Store holds versions 1, 2, ... of each policy id. Draft creates or edits a draft
// (validated, hash computed); Publish freezes a draft and makes it the active version,
// archiving the previous one. Published and archived versions are immutable: editing is
// drafting a new version. The hash (Policy.Hash, "sha256:" + hex) is the SHA-256 of the
// canonical JSON of the rules and allow-lists, always computed, never taken from input.
// Allow-lists are part of the policy version and its hash. OpenStore persists every
// change to a PolicyLog (PebbleState) before applying it, and recomputes every hash
// when it loads, refusing a copy whose content does not match its hash.
//
// # Approvals
//
// A require_approvals decision names N, the M approvers and a TTL. Approvals collects
// the approvals of one request bound to its payload hash: distinct approvers from the
// set, each approval valid for TTL, accepted until Request.Time + TTL, one rejection
// rejects, and replays (same approver again, another request or payload) are refused.
//
// # Wiring
//
// The signer opens one PebbleState (usage and, as a PolicyLog, the policy versions),
// OpenStore over it, and an Engine over both. For each SigningRequest it builds a
// Request (asset and amount from transfer_amount or value, Balance from its balance
// source when a policy uses balance_share, Time from the event time) and calls
// Engine.Evaluate: allow signs (usage already recorded), deny refuses, and
// require_approvals starts an Approvals bound to the transaction's digest, fed from
// signer.approvals; once it reports StatusApproved the signer calls Engine.Record and
// signs. Every Decision carries the policy id, version and hash and the deciding rule
// for the AuditRecord. A periodic State.Prune(now - MaxWindow) bounds the state.
package policy
