package policy

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// PebbleState is a State, and a PolicyLog, in a Pebble database in a directory. Record
// and SavePolicies sync to disk before they return, so what they wrote survives a crash
// or a kill. It is safe for
// concurrent use; one directory belongs to one process (Pebble locks it).
//
// Keys:
//
//	'r' request_id                                  -> event time (idempotency)
//	's' scope len(subject) subject time request_id  -> key, to, asset, amount
//	't' time request_id                             -> key, to, asset, amount
//	'p' len(policy id) policy id version            -> policy JSON (PolicyLog)
//
// with time as 8 big-endian bytes of UnixNano with the sign bit flipped, so that the
// byte order is the time order: Usage reads one range of 's', Prune one of 't'.
type PebbleState struct {
	db *pebble.DB
	mu sync.Mutex // serialises Record's check-then-write and Prune
}

// OpenPebbleState opens (creating if needed) the usage state in dir. Pebble's errors
// go to log (slog.Default when nil); its informational chatter is dropped. Close it
// when done.
func OpenPebbleState(dir string, log *slog.Logger) (*PebbleState, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("policy: state dir: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("policy: open state %s: %w", dir, err)
	}
	return &PebbleState{db: db}, nil
}

// Close closes the database. Usage and Record must not be called after.
func (s *PebbleState) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("policy: close state: %w", err)
	}
	return nil
}

// Usage implements State. It reads the events of k's subject in the window, so its
// cost grows with the number of requests in the window, which limits keep small.
func (s *PebbleState) Usage(ctx context.Context, k WindowKey, since time.Time) (*big.Int, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	prefix := subjectPrefix(k.Scope, k.Subject)
	lo := append(bytes.Clone(prefix), timeKey(since.Add(time.Nanosecond))...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: successor(prefix)})
	if err != nil {
		return nil, 0, fmt.Errorf("policy: usage: %w", err)
	}
	sum, n := new(big.Int), 0
	for ok := it.First(); ok; ok = it.Next() {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return nil, 0, err
			}
		}
		if k.Except != "" && string(it.Key()[len(prefix)+8:]) == k.Except {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, 0, fmt.Errorf("policy: usage: %w", err)
		}
		ev, err := decodeEvent(v)
		if err != nil {
			it.Close()
			return nil, 0, fmt.Errorf("policy: usage: %w", err)
		}
		if k.Asset != "" {
			if ev.Asset != k.Asset {
				continue
			}
			sum.Add(sum, ev.Amount)
		}
		n++
	}
	if err := it.Close(); err != nil {
		return nil, 0, fmt.Errorf("policy: usage: %w", err)
	}
	return sum, n, nil
}

// Record implements State; it returns once the event is synced to disk.
func (s *PebbleState) Record(ctx context.Context, ev Event) error {
	wait, err := s.apply(ctx, ev)
	if err != nil {
		return err
	}
	return wait()
}

// apply writes ev, visible at once to Usage, and returns the wait for its fsync: the
// event is durable once wait returns nil. wait may be called more than once. Between the two the caller may release its
// own locks, so that concurrent records share one fsync (Pebble's group commit); a
// record applied later is synced after this one (the WAL is sequential).
func (s *PebbleState) apply(ctx context.Context, ev Event) (wait func() error, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rk := append([]byte{'r'}, ev.RequestID...)
	_, closer, err := s.db.Get(rk)
	switch {
	case err == nil:
		closer.Close()
		// Already recorded, perhaps by a call still waiting for its fsync: wait for
		// one of our own, which covers it.
		return func() error {
			if err := s.db.LogData(nil, pebble.Sync); err != nil {
				return fmt.Errorf("policy: record: %w", err)
			}
			return nil
		}, nil
	case !errors.Is(err, pebble.ErrNotFound):
		return nil, fmt.Errorf("policy: record: %w", err)
	}
	tk := timeKey(ev.Time)
	val := encodeEvent(ev)
	b := s.db.NewBatch()
	_ = b.Set(rk, tk, nil)
	_ = b.Set(eventKey('t', nil, tk, ev.RequestID), val, nil)
	_ = b.Set(eventKey('s', subjectPrefix(ScopeKey, ev.KeyID), tk, ev.RequestID), val, nil)
	if ev.To != "" {
		_ = b.Set(eventKey('s', subjectPrefix(ScopeDestination, ev.To), tk, ev.RequestID), val, nil)
	}
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		return nil, fmt.Errorf("policy: record: %w", err)
	}
	// Once: the batch is closed after its first wait; later calls return the same.
	return sync.OnceValue(func() error {
		defer b.Close()
		if err := b.SyncWait(); err != nil {
			return fmt.Errorf("policy: record: %w", err)
		}
		return nil
	}), nil
}

// Prune implements State. It deletes in batches of at most 4096 events.
func (s *PebbleState) Prune(ctx context.Context, before time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := s.pruneBatch(before, 4096)
		if err != nil {
			return fmt.Errorf("policy: prune: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}

func (s *PebbleState) pruneBatch(before time.Time, max int) (int, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'t'}, UpperBound: append([]byte{'t'}, timeKey(before)...)})
	if err != nil {
		return 0, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for ok := it.First(); ok && n < max; ok = it.Next() {
		key := bytes.Clone(it.Key())
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return 0, err
		}
		ev, err := decodeEvent(v)
		if err != nil {
			it.Close()
			return 0, err
		}
		tk, id := key[1:9], key[9:]
		_ = b.Delete(key, nil)
		_ = b.Delete(append([]byte{'r'}, id...), nil)
		_ = b.Delete(eventKey('s', subjectPrefix(ScopeKey, ev.KeyID), tk, string(id)), nil)
		if ev.To != "" {
			_ = b.Delete(eventKey('s', subjectPrefix(ScopeDestination, ev.To), tk, string(id)), nil)
		}
		n++
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	return n, b.Commit(pebble.Sync)
}

func subjectPrefix(scope Scope, subject string) []byte {
	p := []byte{'s', scopeByte(scope)}
	p = binary.AppendUvarint(p, uint64(len(subject)))
	return append(p, subject...)
}

func scopeByte(s Scope) byte {
	if s == ScopeDestination {
		return 'd'
	}
	return 'k'
}

// eventKey builds a 't' key (prefix nil) or an 's' key (prefix from subjectPrefix).
func eventKey(kind byte, prefix, tk []byte, id string) []byte {
	var k []byte
	if prefix == nil {
		k = []byte{kind}
	} else {
		k = bytes.Clone(prefix)
	}
	k = append(k, tk...)
	return append(k, id...)
}

func timeKey(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())^(1<<63))
}

// successor returns the smallest key greater than every key with the given prefix.
func successor(prefix []byte) []byte {
	s := bytes.Clone(prefix)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

func encodeEvent(ev Event) []byte {
	var b []byte
	for _, f := range [][]byte{[]byte(ev.KeyID), []byte(ev.To), []byte(ev.Asset), ev.Amount.Bytes()} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

func decodeEvent(b []byte) (Event, error) {
	var f [4][]byte
	for i := range f {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return Event{}, errors.New("corrupt usage record")
		}
		f[i], b = b[w:w+int(n)], b[w+int(n):]
	}
	return Event{KeyID: string(f[0]), To: string(f[1]), Asset: string(f[2]), Amount: new(big.Int).SetBytes(f[3])}, nil
}

// pebbleLogger sends Pebble's errors to a logger and drops its chatter.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(string, ...any) {}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("policy state: pebble: " + fmt.Sprintf(format, args...))
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error("policy state: pebble: fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}

// SavePolicies implements PolicyLog: one synced batch.
func (s *PebbleState) SavePolicies(ps ...Policy) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, p := range ps {
		v, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("policy: save %s version %d: %w", p.ID, p.Version, err)
		}
		_ = b.Set(policyKey(p.ID, p.Version), v, nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("policy: save policies: %w", err)
	}
	return nil
}

// LoadPolicies implements PolicyLog.
func (s *PebbleState) LoadPolicies() ([]Policy, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'p'}, UpperBound: []byte{'q'}})
	if err != nil {
		return nil, fmt.Errorf("policy: load policies: %w", err)
	}
	defer it.Close()
	var out []Policy
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("policy: load policies: %w", err)
		}
		var p Policy
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("policy: load policy %q: %w", it.Key(), err)
		}
		out = append(out, p)
	}
	return out, nil
}

func policyKey(id string, version uint64) []byte {
	k := binary.AppendUvarint([]byte{'p'}, uint64(len(id)))
	k = append(k, id...)
	return binary.BigEndian.AppendUint64(k, version)
}
