package nonce

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/common"
)

// Errors returned by the Manager, wrapped with the account and nonce; test with
// errors.Is.
var (
	// ErrDoubleSign is a different payload at a nonce that already has one, not
	// declared as a replacement or refused by the replacement policy.
	ErrDoubleSign = errors.New("nonce: a different payload was already recorded at this nonce")
	// ErrReplacementRefused is a declared replacement of a kind the policy does not
	// allow; it also matches ErrDoubleSign.
	ErrReplacementRefused = errors.New("nonce: replacement kind not allowed")
	// ErrTooManyReplacements is a declared replacement beyond the policy's maximum;
	// it also matches ErrDoubleSign.
	ErrTooManyReplacements = errors.New("nonce: too many replacements at this nonce")
	// ErrNotReserved is a nonce that was not handed out by Reserve (or was released).
	ErrNotReserved = errors.New("nonce: nonce is not reserved")
	// ErrSettled is a nonce below the floor: already mined.
	ErrSettled = errors.New("nonce: nonce is already settled")
	// ErrRecorded is a Release of a nonce that has a recorded payload: it may have been
	// signed and broadcast, so it cannot be handed out again.
	ErrRecorded = errors.New("nonce: nonce has a recorded payload")
	// ErrClosed is a call on a closed Manager.
	ErrClosed = errors.New("nonce: manager closed")
)

// NonceFunc returns a nonce count of from on chain: the pending nonce for [Open], the
// latest (mined) one for [Manager.Gaps]. With ethclient these are PendingNonceAt and
// NonceAt(ctx, from, nil) of the chain's client.
type NonceFunc func(ctx context.Context, chain uint64, from common.Address) (uint64, error)

// Option configures a Manager.
type Option func(*options)

type options struct {
	speedUp, cancel bool
	maxReplacements int
	logger          pebble.Logger
}

// MaxReplacementsLimit is the largest value WithMaxReplacements accepts.
const MaxReplacementsLimit = 254

// WithMaxReplacements sets how many replacements (speed-ups and cancels together) may
// be accepted at one nonce, 0 to 254. Default 5.
func WithMaxReplacements(n int) Option { return func(o *options) { o.maxReplacements = n } }

// WithReplacements says which declared replacements the policy allows. Default: both.
func WithReplacements(speedUp, cancel bool) Option {
	return func(o *options) { o.speedUp, o.cancel = speedUp, cancel }
}

// WithLogger sets Pebble's logger. Default: informational messages are dropped, errors
// go to Pebble's default logger.
func WithLogger(l pebble.Logger) Option { return func(o *options) { o.logger = l } }

// Manager hands out nonces and guards against double signing; see the package doc. It
// is safe for concurrent use. Every method that changes state blocks until its change is
// fsynced; Reserve also blocks on the pending nonce function when it (re)initialises an
// account, and Gaps on the latest nonce function, with the caller's ctx.
type Manager struct {
	db      *pebble.DB
	pending NonceFunc
	o       options

	life   sync.RWMutex // held for reading by every operation, for writing by Close
	closed bool

	mu    sync.Mutex // guards accts
	accts map[account]*acctState
}

type acctState struct {
	mu     sync.Mutex
	loaded bool
	st     state
	// wait, set by the operation holding mu, is what it must wait for after releasing
	// mu before it returns: the fsync of its write (see with).
	wait func() error
}

// Open opens (creating it if needed) the state in dir. pending returns the chain's
// pending nonce of an account; it is called on the account's first Reserve and on the
// first Reserve after Resync.
func Open(dir string, pending NonceFunc, opts ...Option) (*Manager, error) {
	if pending == nil {
		return nil, errors.New("nonce: nil pending nonce function")
	}
	o := options{speedUp: true, cancel: true, maxReplacements: 5, logger: quietLogger{}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxReplacements < 0 || o.maxReplacements > MaxReplacementsLimit {
		return nil, fmt.Errorf("nonce: max replacements %d outside 0..%d", o.maxReplacements, MaxReplacementsLimit)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: o.logger})
	if err != nil {
		return nil, fmt.Errorf("nonce: open %s: %w", dir, err)
	}
	return &Manager{db: db, pending: pending, o: o, accts: map[account]*acctState{}}, nil
}

// Close waits for running operations and closes the state. Later calls fail with
// ErrClosed.
func (m *Manager) Close() error {
	m.life.Lock()
	defer m.life.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if err := m.db.Close(); err != nil {
		return fmt.Errorf("nonce: close: %w", err)
	}
	return nil
}

// with runs fn holding the account's lock, with its state loaded. A write made by fn
// (commit, writeRecord) is applied — visible to the next operation — under the lock,
// and its fsync is awaited after the lock is released, so that operations on the same
// account, and on others, share fsyncs (Pebble's group commit) instead of queueing one
// fsync each behind the lock. with returns only once that write is durable; a later
// write is synced after an earlier one (the WAL is sequential), so an operation that
// sees an earlier one's effect and returns has made it durable too.
func (m *Manager) with(a account, fn func(s *acctState) error) error {
	m.life.RLock()
	defer m.life.RUnlock()
	if m.closed {
		return ErrClosed
	}
	m.mu.Lock()
	s := m.accts[a]
	if s == nil {
		s = &acctState{}
		m.accts[a] = s
	}
	m.mu.Unlock()
	s.mu.Lock()
	err := m.load(a, s)
	if err == nil {
		err = fn(s)
	}
	wait := s.wait
	s.wait = nil
	s.mu.Unlock()
	if wait != nil {
		err = errors.Join(err, wait())
	}
	return err
}

// load reads the account's state on its first use; the caller holds s.mu.
func (m *Manager) load(a account, s *acctState) error {
	if s.loaded {
		return nil
	}
	v, closer, err := m.db.Get(a.key(prefixAccount))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("nonce: read %s: %w", a, err)
	default:
		st, derr := decodeState(v)
		_ = closer.Close()
		if derr != nil {
			return fmt.Errorf("%w (%s)", derr, a)
		}
		s.st = st
	}
	s.loaded = true
	return nil
}

// apply commits b with sync, without waiting for the fsync, and leaves the wait for
// it to with; the caller holds s.mu. It consumes b.
func (m *Manager) apply(s *acctState, b *pebble.Batch, what string) error {
	if err := m.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		return fmt.Errorf("nonce: commit %s: %w", what, err)
	}
	s.wait = func() error {
		defer b.Close()
		if err := b.SyncWait(); err != nil {
			return fmt.Errorf("nonce: sync %s: %w", what, err)
		}
		return nil
	}
	return nil
}

// syncLater has with wait for an fsync of the WAL: for an answer that relies on a
// write another operation applied and may not have synced yet.
func (m *Manager) syncLater(s *acctState) {
	s.wait = func() error {
		if err := m.db.LogData(nil, pebble.Sync); err != nil {
			return fmt.Errorf("nonce: sync: %w", err)
		}
		return nil
	}
}

func (a account) String() string { return fmt.Sprintf("chain %d account %s", a.chain, a.from.Hex()) }

// commit writes b plus the account's new state with sync and installs the state; the
// fsync is awaited by with after the account's lock is released.
func (m *Manager) commit(a account, s *acctState, st state, b *pebble.Batch) error {
	if b == nil {
		b = m.db.NewBatch()
	}
	if err := b.Set(a.key(prefixAccount), st.encode(), nil); err != nil {
		b.Close()
		return fmt.Errorf("nonce: write %s: %w", a, err)
	}
	if err := m.apply(s, b, a.String()); err != nil {
		return err
	}
	s.st = st
	return nil
}

// Reserve hands out the next nonce of from on chain: the lowest released one if any,
// else the lowest never handed out. On the account's first use and after Resync it first
// asks the chain's pending nonce (it blocks on that call). The reservation is fsynced
// before Reserve returns, so a restarted process never hands it out again unless it is
// released or Resync moves next back; a reservation never recorded nor released is a
// gap (see Gaps). After Resync the nonce may already have a record (signed before, never
// seen by the node): use Lookup to broadcast that payload again or declare a
// replacement.
func (m *Manager) Reserve(ctx context.Context, chain uint64, from common.Address) (uint64, error) {
	a := account{chain, from}
	var n uint64
	err := m.with(a, func(s *acctState) error {
		st := s.st.clone()
		if !st.initialized {
			p, err := m.pending(ctx, chain, from)
			if err != nil {
				return fmt.Errorf("nonce: pending nonce of %s: %w", a, err)
			}
			st.initialized, st.next, st.free = true, max(p, st.floor), nil
		}
		if len(st.free) > 0 {
			n, st.free = st.free[0], st.free[1:]
		} else {
			if st.next == ^uint64(0) {
				return fmt.Errorf("nonce: %s: nonces exhausted", a)
			}
			n = st.next
			st.next++
		}
		return m.commit(a, s, st, nil)
	})
	return n, err
}

// ReserveRecord is Reserve and Record in one fsynced batch: it hands out the next nonce
// n as Reserve does and records payloadAt(n) there as the original payload — one fsync
// instead of two on the signing path. recorded is false, and only the reservation
// written, when n already has a record (a nonce handed out again after Resync): the
// caller then calls Record, which accepts only that record's payloads or a declared
// replacement. If payloadAt fails, nothing is written and n is not handed out. It
// blocks as Reserve does; payloadAt runs under the account's lock.
func (m *Manager) ReserveRecord(ctx context.Context, chain uint64, from common.Address,
	payloadAt func(n uint64) ([32]byte, error)) (n uint64, recorded bool, err error) {
	a := account{chain, from}
	err = m.with(a, func(s *acctState) error {
		st := s.st.clone()
		if !st.initialized {
			p, err := m.pending(ctx, chain, from)
			if err != nil {
				return fmt.Errorf("nonce: pending nonce of %s: %w", a, err)
			}
			st.initialized, st.next, st.free = true, max(p, st.floor), nil
		}
		if len(st.free) > 0 {
			n, st.free = st.free[0], st.free[1:]
		} else {
			if st.next == ^uint64(0) {
				return fmt.Errorf("nonce: %s: nonces exhausted", a)
			}
			n = st.next
			st.next++
		}
		_, had, err := m.lookup(a, n)
		if err != nil {
			return err
		}
		b := m.db.NewBatch()
		if !had {
			payload, err := payloadAt(n)
			if err != nil {
				b.Close()
				return err
			}
			rec := Record{Nonce: n, Payloads: []Payload{{Hash: payload, Kind: Original}}}
			if err := b.Set(a.recordKey(n), rec.encode(), nil); err != nil {
				b.Close()
				return fmt.Errorf("nonce: write %s nonce %d: %w", a, n, err)
			}
		}
		if err := m.commit(a, s, st, b); err != nil {
			return err
		}
		recorded = !had
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return n, recorded, nil
}

// Release gives back a reserved nonce that was never recorded, so that the next Reserve
// hands it out again. Releasing a recorded nonce fails with ErrRecorded, one not
// reserved with ErrNotReserved, one below the floor with ErrSettled.
func (m *Manager) Release(chain uint64, from common.Address, nonce uint64) error {
	a := account{chain, from}
	return m.with(a, func(s *acctState) error {
		st := s.st.clone()
		switch {
		case nonce < st.floor:
			return fmt.Errorf("%w: %s nonce %d below floor %d", ErrSettled, a, nonce, st.floor)
		case nonce >= st.next || st.isFree(nonce):
			return fmt.Errorf("%w: %s nonce %d", ErrNotReserved, a, nonce)
		}
		if _, ok, err := m.lookup(a, nonce); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: %s nonce %d", ErrRecorded, a, nonce)
		}
		if nonce == st.next-1 {
			st.next--
			for len(st.free) > 0 && st.free[len(st.free)-1] == st.next-1 {
				st.free = st.free[:len(st.free)-1]
				st.next--
			}
		} else {
			i, _ := slices.BinarySearch(st.free, nonce)
			st.free = slices.Insert(st.free, i, nonce)
		}
		return m.commit(a, s, st, nil)
	})
}

// Record is the double-sign guard: call it, and have it return nil, before producing a
// signature over payload at nonce. It returns after the record is fsynced. See the
// package doc for the rules; kind declares a replacement (Original otherwise).
func (m *Manager) Record(chain uint64, from common.Address, nonce uint64, payload [32]byte, kind Replacement) error {
	a := account{chain, from}
	if kind > Cancel {
		return fmt.Errorf("nonce: unknown replacement kind %d", kind)
	}
	return m.with(a, func(s *acctState) error {
		if nonce < s.st.floor {
			return fmt.Errorf("%w: %s nonce %d below floor %d", ErrSettled, a, nonce, s.st.floor)
		}
		rec, ok, err := m.lookup(a, nonce)
		if err != nil {
			return err
		}
		if !ok {
			if nonce >= s.st.next || s.st.isFree(nonce) {
				return fmt.Errorf("%w: %s nonce %d", ErrNotReserved, a, nonce)
			}
			rec = Record{Nonce: nonce, Payloads: []Payload{{Hash: payload, Kind: Original}}}
			return m.writeRecord(a, s, rec)
		}
		if rec.Has(payload) {
			// Perhaps recorded by a call still waiting for its fsync: this one returns
			// only once the record is durable too.
			m.syncLater(s)
			return nil
		}
		switch {
		case kind == Original:
			return fmt.Errorf("%w: %s nonce %d", ErrDoubleSign, a, nonce)
		case kind == SpeedUp && !m.o.speedUp, kind == Cancel && !m.o.cancel:
			return fmt.Errorf("%w: %w: %s at %s nonce %d", ErrDoubleSign, ErrReplacementRefused, kind, a, nonce)
		case rec.Replacements() >= m.o.maxReplacements:
			return fmt.Errorf("%w: %w: %d already at %s nonce %d", ErrDoubleSign, ErrTooManyReplacements, rec.Replacements(), a, nonce)
		}
		rec.Payloads = append(rec.Payloads, Payload{Hash: payload, Kind: kind})
		return m.writeRecord(a, s, rec)
	})
}

func (m *Manager) writeRecord(a account, s *acctState, rec Record) error {
	b := m.db.NewBatch()
	if err := b.Set(a.recordKey(rec.Nonce), rec.encode(), nil); err != nil {
		b.Close()
		return fmt.Errorf("nonce: write %s nonce %d: %w", a, rec.Nonce, err)
	}
	return m.apply(s, b, fmt.Sprintf("%s nonce %d", a, rec.Nonce))
}

// lookup reads the record at nonce; the caller holds the account's lock.
func (m *Manager) lookup(a account, nonce uint64) (Record, bool, error) {
	v, closer, err := m.db.Get(a.recordKey(nonce))
	if errors.Is(err, pebble.ErrNotFound) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("nonce: read %s nonce %d: %w", a, nonce, err)
	}
	defer closer.Close()
	rec, err := decodeRecord(nonce, v)
	return rec, err == nil, err
}

// Lookup returns the record at nonce, if any (none below the floor: Confirm deletes
// them).
func (m *Manager) Lookup(chain uint64, from common.Address, nonce uint64) (Record, bool, error) {
	a := account{chain, from}
	var (
		rec Record
		ok  bool
	)
	err := m.with(a, func(*acctState) error {
		var err error
		rec, ok, err = m.lookup(a, nonce)
		return err
	})
	return rec, ok, err
}

// Confirm records that the transaction at nonce mined (so every nonce up to it is
// used): the floor moves to nonce+1 if that is higher, records below it are deleted,
// released nonces below it are dropped and next is raised to it. Confirm with a nonce
// deep enough not to be reorganised away: a settled nonce can never be recorded again.
func (m *Manager) Confirm(chain uint64, from common.Address, mined uint64) error {
	a := account{chain, from}
	return m.with(a, func(s *acctState) error {
		if mined == ^uint64(0) || mined+1 <= s.st.floor {
			return nil
		}
		st := s.st.clone()
		st.floor = mined + 1
		st.next = max(st.next, st.floor)
		i, _ := slices.BinarySearch(st.free, st.floor)
		st.free = st.free[i:]
		b := m.db.NewBatch()
		if err := b.DeleteRange(a.recordKey(0), a.recordKey(st.floor), nil); err != nil {
			b.Close()
			return fmt.Errorf("nonce: settle %s: %w", a, err)
		}
		return m.commit(a, s, st, b)
	})
}

// Resync forgets the account's outstanding reservations and released nonces, so that
// the next Reserve starts again from the chain's pending nonce (use it after the node
// lost its pool, or after the key signed elsewhere). Records are kept: a nonce handed
// out again still accepts only its recorded payloads or a declared replacement.
func (m *Manager) Resync(chain uint64, from common.Address) error {
	a := account{chain, from}
	return m.with(a, func(s *acctState) error {
		st := s.st.clone()
		st.initialized, st.free = false, nil
		return m.commit(a, s, st, nil)
	})
}

// Gaps returns, ascending, the nonces the chain waits for: from the account's latest
// mined nonce count (latest, which it calls before taking the account's lock) or the
// floor, whichever is higher, up to the highest recorded nonce, those without a record.
// It changes nothing.
func (m *Manager) Gaps(ctx context.Context, chain uint64, from common.Address, latest NonceFunc) ([]uint64, error) {
	a := account{chain, from}
	l, err := latest(ctx, chain, from)
	if err != nil {
		return nil, fmt.Errorf("nonce: latest nonce of %s: %w", a, err)
	}
	var gaps []uint64
	err = m.with(a, func(s *acctState) error {
		lo := max(l, s.st.floor)
		it, err := m.db.NewIter(&pebble.IterOptions{LowerBound: a.recordKey(lo), UpperBound: a.recordKey(^uint64(0))})
		if err != nil {
			return fmt.Errorf("nonce: scan %s: %w", a, err)
		}
		defer it.Close()
		want := lo
		prefix := a.key(prefixRecord)
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if len(k) != acctKeyLen+8 || !bytes.HasPrefix(k, prefix) {
				continue
			}
			n := binary.BigEndian.Uint64(k[acctKeyLen:])
			for ; want < n; want++ {
				gaps = append(gaps, want)
			}
			want = n + 1
		}
		return it.Error()
	})
	return gaps, err
}

// quietLogger drops Pebble's informational messages.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf(format, args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
