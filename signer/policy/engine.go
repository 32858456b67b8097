package policy

import (
	"context"
	"fmt"
	"sync"
)

// Engine evaluates requests against the active policies of a Store and records the
// usage of the requests it lets through in a State, so that limits see them.
//
// Evaluate and Record run one at a time (a mutex), so two requests cannot both pass a
// limit that only one fits; usage is recorded before the signer signs (a reservation):
// a crash between recording and signing overcounts, never undercounts. The Engine
// serialises only within its process: run one signer per State. Safe for concurrent
// use.
type Engine struct {
	store *Store
	state State
	mu    sync.Mutex
}

// NewEngine returns an Engine over store and state.
func NewEngine(store *Store, state State) *Engine {
	return &Engine{store: store, state: state}
}

// State returns the usage state the Engine records in.
func (e *Engine) State() State { return e.state }

// Evaluate decides req with the active version of policy policyID and, when the outcome
// is allow, records req's usage (req.RequestID is then required) before returning. A
// require_approvals outcome records nothing: call Record once the approvals are in,
// before signing. On any error the decision is a deny. It blocks on the State.
//
// With a PebbleState, the usage is written (and visible to the next evaluation) under
// the Engine's lock and its fsync is awaited after the lock is released, so that
// concurrent requests share fsyncs; Evaluate still returns only once the usage is
// durable.
func (e *Engine) Evaluate(ctx context.Context, policyID string, req Request) (Decision, error) {
	d, durable, err := e.EvaluateAsync(ctx, policyID, req)
	if err == nil {
		if err = durable(); err != nil {
			d.Outcome = OutcomeDeny
			d.Reasons = append(d.Reasons, err.Error())
		}
	}
	return d, err
}

// EvaluateAsync is Evaluate without waiting for the usage's fsync: the usage is
// recorded (and counted by the next evaluation) when it returns, and durable once
// durable returns nil. The caller must call durable, and have it return nil, before it
// signs — so that a crash can only overcount usage, never undercount it — and may do
// other work (its own fsyncs) meanwhile. durable is never nil; it returns nil at once
// for an outcome other than allow or with a State other than PebbleState.
func (e *Engine) EvaluateAsync(ctx context.Context, policyID string, req Request) (d Decision, durable func() error, err error) {
	none := func() error { return nil }
	c, err := e.store.Active(policyID)
	if err != nil {
		return Decision{Outcome: OutcomeDeny, RuleIndex: -1, PolicyID: policyID, Reasons: []string{err.Error()}}, none, err
	}
	e.mu.Lock()
	d, err = c.Evaluate(ctx, req, e.state)
	if err != nil || d.Outcome != OutcomeAllow {
		e.mu.Unlock()
		return d, none, err
	}
	wait, err := e.apply(ctx, req)
	e.mu.Unlock()
	if err != nil {
		d.Outcome = OutcomeDeny
		d.Reasons = append(d.Reasons, err.Error())
		return d, none, err
	}
	return d, wait, nil
}

// apply records req's usage, visible at once, and returns the wait for its durability.
func (e *Engine) apply(ctx context.Context, req Request) (func() error, error) {
	ev, err := EventOf(req)
	if err != nil {
		return nil, fmt.Errorf("policy: record: %w", err)
	}
	if ps, ok := e.state.(*PebbleState); ok {
		return ps.apply(ctx, ev)
	}
	if err := e.state.Record(ctx, ev); err != nil {
		return nil, err
	}
	return func() error { return nil }, nil
}

// Record records the usage of req, which was let through by approvals. Recording the
// same request id twice counts once.
func (e *Engine) Record(ctx context.Context, req Request) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.record(ctx, req)
}

func (e *Engine) record(ctx context.Context, req Request) error {
	ev, err := EventOf(req)
	if err != nil {
		return fmt.Errorf("policy: record: %w", err)
	}
	return e.state.Record(ctx, ev)
}

// DryRun evaluates req against version of policy policyID (0: the active version; a
// draft may be tried before it is published) and records nothing. The Decision's Trace
// says why each rule did or did not match. It blocks on the State.
func (e *Engine) DryRun(ctx context.Context, policyID string, version uint64, req Request) (Decision, error) {
	var c *Compiled
	var err error
	if version == 0 {
		c, err = e.store.Active(policyID)
	} else {
		var p Policy
		if p, err = e.store.Get(policyID, version); err == nil {
			c, err = Compile(&p)
		}
	}
	if err != nil {
		return Decision{Outcome: OutcomeDeny, RuleIndex: -1, PolicyID: policyID, PolicyVersion: version, Reasons: []string{err.Error()}}, err
	}
	return c.Evaluate(ctx, req, e.state)
}
