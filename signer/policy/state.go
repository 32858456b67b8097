package policy

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// WindowKey names the usage a limit reads.
type WindowKey struct {
	// Scope is key or destination.
	Scope Scope
	// Subject is the key id (ScopeKey) or the lowercase destination address
	// (ScopeDestination).
	Subject string
	// Asset restricts the usage to one asset; empty for every asset (then only the
	// count is meaningful and the amount returned is 0).
	Asset string
	// Except, if set, is a request id whose event is left out, so that a request
	// evaluated again (a retry after it was recorded) is not counted against itself.
	Except string
}

// Event is one signed (or about to be signed) request as the usage state records it.
type Event struct {
	// RequestID identifies the request; recording the same id twice counts once.
	RequestID string
	// KeyID is the signing key.
	KeyID string
	// To is the lowercase destination; empty for a contract creation.
	To string
	// Asset and Amount are what the request moves.
	Asset  string
	Amount *big.Int
	// Time is the request's event time.
	Time time.Time
}

// EventOf returns the Event that records req. req must be valid (as Evaluate checks).
func EventOf(req Request) (Event, error) {
	if err := checkID("request_id", req.RequestID); err != nil {
		return Event{}, fmt.Errorf("%w: request id: %v", ErrInvalidRequest, err)
	}
	if err := req.validate(); err != nil {
		return Event{}, err
	}
	return Event{RequestID: req.RequestID, KeyID: req.KeyID, To: req.To, Asset: req.Asset,
		Amount: new(big.Int).Set(req.Amount), Time: req.Time}, nil
}

// State is the durable usage behind limits: the signed requests of each key and
// destination over sliding windows of event time. Implementations are safe for
// concurrent use; every method may block on storage.
type State interface {
	// Usage returns the total amount (of k.Asset, 0 when k.Asset is empty) and the
	// number of recorded events of k's subject with a time strictly after since. Events
	// later than the request being evaluated (out of order) count too: the window is
	// (since, +inf), which errs on the side of refusing.
	Usage(ctx context.Context, k WindowKey, since time.Time) (amount *big.Int, count int, err error)
	// Record adds ev to the usage of its key and of its destination. It is idempotent by
	// ev.RequestID and durable when it returns nil.
	Record(ctx context.Context, ev Event) error
	// Prune forgets the events with a time before before; Usage windows that start
	// before it are then undercounted, so callers keep before <= now - MaxWindow.
	Prune(ctx context.Context, before time.Time) error
}

// MemState is a State in memory, for tests and dry runs. The zero value is ready; it is
// safe for concurrent use.
type MemState struct {
	mu     sync.Mutex
	events map[string]Event
}

// NewMemState returns an empty MemState.
func NewMemState() *MemState { return &MemState{} }

// Usage implements State. It scans every event: fine for tests, not for production.
func (s *MemState) Usage(ctx context.Context, k WindowKey, since time.Time) (*big.Int, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sum, n := new(big.Int), 0
	for _, ev := range s.events {
		if !ev.Time.After(since) || !subjectOf(ev, k.Scope, k.Subject) || (k.Except != "" && ev.RequestID == k.Except) {
			continue
		}
		if k.Asset != "" {
			if ev.Asset != k.Asset {
				continue
			}
			sum.Add(sum, ev.Amount)
		}
		n++
	}
	return sum, n, nil
}

func subjectOf(ev Event, scope Scope, subject string) bool {
	switch scope {
	case ScopeKey:
		return ev.KeyID == subject
	case ScopeDestination:
		return ev.To != "" && ev.To == subject
	}
	return false
}

// Record implements State.
func (s *MemState) Record(ctx context.Context, ev Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkEvent(ev); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events == nil {
		s.events = map[string]Event{}
	}
	if _, ok := s.events[ev.RequestID]; !ok {
		ev.Amount = new(big.Int).Set(ev.Amount)
		s.events[ev.RequestID] = ev
	}
	return nil
}

// Prune implements State.
func (s *MemState) Prune(ctx context.Context, before time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ev := range s.events {
		if ev.Time.Before(before) {
			delete(s.events, id)
		}
	}
	return ctx.Err()
}

func checkEvent(ev Event) error {
	if err := checkID("request_id", ev.RequestID); err != nil {
		return fmt.Errorf("policy: record: %v", err)
	}
	if err := checkID("key_id", ev.KeyID); err != nil {
		return fmt.Errorf("policy: record: %v", err)
	}
	if err := checkID("asset", ev.Asset); err != nil {
		return fmt.Errorf("policy: record: %v", err)
	}
	if err := checkAmount(ev.Amount); err != nil {
		return fmt.Errorf("policy: record: %v", err)
	}
	if ev.Time.IsZero() {
		return fmt.Errorf("policy: record: no time")
	}
	return nil
}
