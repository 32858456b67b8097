package recovery

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Key layout of the Store's Pebble database:
//
//	's' key id                               → Split (JSON)
//	'r' recovery id                          → Recovery (JSON)
//	'k' key id                               → KeyStatus (JSON)
//	'n' key id 0 guardian id 0 nonce         → expiry (8 bytes, Unix seconds): used nonces
//	'o' sequence (8 bytes, big endian)       → OutboxEntry (JSON): events not yet on Kafka
const (
	prefixSplit    = 's'
	prefixRecovery = 'r'
	prefixKey      = 'k'
	prefixNonce    = 'n'
	prefixOutbox   = 'o'
)

// Option configures Open.
type Option func(*options)

type options struct {
	minDelay time.Duration
	log      *slog.Logger
}

// WithMinDelay sets the shortest delay a recovery may ask for. Default DefaultMinDelay.
func WithMinDelay(d time.Duration) Option { return func(o *options) { o.minDelay = d } }

// WithLogger sets where Pebble's errors go. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// OutboxEntry is an encoded event waiting to be produced: it is written in the same
// synced batch as the state change it reports, and deleted once Kafka acknowledged it,
// so a crash in between re-sends it (with the same event id) instead of losing it.
type OutboxEntry struct {
	Seq   uint64 `json:"-"`
	Topic string `json:"topic"` // without the topic prefix
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// Store keeps splits, recoveries, key statuses, used approval nonces and the event
// outbox in Pebble; every Update is one batch committed with pebble.Sync, so a restart
// mid-ceremony resumes where the last acknowledged call left it. Reads see committed
// state only. Safe for concurrent use: Updates are serialised; one process owns dir.
type Store struct {
	db       *pebble.DB
	minDelay time.Duration

	mu      sync.Mutex // serialises Update and Ack
	nextSeq uint64
	flushMu sync.Mutex // one Flush at a time

	pruneMu   sync.Mutex
	lastPrune time.Time
}

// Open opens (creating it if needed) the store in dir.
func Open(dir string, opts ...Option) (*Store, error) {
	o := options{minDelay: DefaultMinDelay, log: slog.Default()}
	for _, f := range opts {
		f(&o)
	}
	if o.minDelay <= 0 {
		return nil, fmt.Errorf("recovery: minimum delay %s is not positive", o.minDelay)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recovery: state dir: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{o.log}})
	if err != nil {
		return nil, fmt.Errorf("recovery: open %s: %w", dir, err)
	}
	s := &Store{db: db, minDelay: o.minDelay}
	out, err := s.Outbox()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if n := len(out); n > 0 {
		s.nextSeq = out[n-1].Seq + 1
	}
	return s, nil
}

// MinDelay is the shortest delay a recovery may ask for.
func (s *Store) MinDelay() time.Duration { return s.minDelay }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func key(prefix byte, parts ...string) []byte {
	k := []byte{prefix}
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

func (s *Store) get(k []byte, v any) (bool, error) {
	b, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recovery: read: %w", err)
	}
	defer closer.Close()
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("recovery: corrupt entry %q: %w", k, err)
	}
	return true, nil
}

// Split returns the guardian split of keyID, or ErrNoSplit.
func (s *Store) Split(keyID string) (Split, error) {
	var sp Split
	ok, err := s.get(key(prefixSplit, keyID), &sp)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %q", ErrNoSplit, keyID)
	}
	return sp, err
}

// Recovery returns recovery id, or ErrNotFound.
func (s *Store) Recovery(id string) (*Recovery, error) {
	var r Recovery
	ok, err := s.get(key(prefixRecovery, id), &r)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// KeyStatus returns the status of keyID (an active key if nothing is recorded).
func (s *Store) KeyStatus(keyID string) (KeyStatus, error) {
	k := KeyStatus{KeyID: keyID}
	_, err := s.get(key(prefixKey, keyID), &k)
	return k, err
}

// Usable returns nil when keyID may sign, else ErrFrozen, ErrRetired or ErrCeremonyKey
// (or a read error). It does not wait for Updates in progress.
func (s *Store) Usable(keyID string) error {
	k, err := s.KeyStatus(keyID)
	if err != nil {
		return err
	}
	return k.Usable()
}

// Seen implements Seen over the committed used-nonce set.
func (s *Store) Seen(keyID, guardianID, nonce string) (bool, error) {
	_, closer, err := s.db.Get(key(prefixNonce, keyID, guardianID, nonce))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recovery: read nonce: %w", err)
	}
	closer.Close()
	return true, nil
}

// Tx is one Update's view and writes. Reads see committed state (not the Tx's own
// writes).
type Tx struct {
	s     *Store
	b     *pebble.Batch
	count int
	err   error
}

func (t *Tx) put(k []byte, v any) {
	if t.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.err = fmt.Errorf("recovery: encode: %w", err)
		return
	}
	t.err = t.b.Set(k, b, nil)
}

// Split, Recovery, KeyStatus and Seen read as the Store's.
func (t *Tx) Split(keyID string) (Split, error)         { return t.s.Split(keyID) }
func (t *Tx) Recovery(id string) (*Recovery, error)     { return t.s.Recovery(id) }
func (t *Tx) KeyStatus(keyID string) (KeyStatus, error) { return t.s.KeyStatus(keyID) }
func (t *Tx) Seen(keyID, guardianID, nonce string) (bool, error) {
	return t.s.Seen(keyID, guardianID, nonce)
}

// PutSplit, PutRecovery and PutKeyStatus write the whole record.
func (t *Tx) PutSplit(sp Split)        { t.put(key(prefixSplit, sp.KeyID), sp) }
func (t *Tx) PutRecovery(r *Recovery)  { t.put(key(prefixRecovery, r.ID), r) }
func (t *Tx) PutKeyStatus(k KeyStatus) { t.put(key(prefixKey, k.KeyID), k) }

// UseNonce marks a guardian's approval nonce used until its expiry.
func (t *Tx) UseNonce(keyID, guardianID, nonce string, expires time.Time) {
	if t.err == nil {
		t.err = t.b.Set(key(prefixNonce, keyID, guardianID, nonce), binary.BigEndian.AppendUint64(nil, uint64(expires.Unix())), nil)
	}
}

// Emit adds an encoded event to the outbox, written with the Tx's other changes.
func (t *Tx) Emit(topic, k string, value []byte) {
	seq := t.s.nextSeq + uint64(t.count)
	t.count++
	t.put(binary.BigEndian.AppendUint64([]byte{prefixOutbox}, seq), OutboxEntry{Topic: topic, Key: k, Value: value})
}

// Update runs fn, serialised with other Updates, and commits its writes in one synced
// batch if it returns nil; nothing is written if it returns an error, which Update
// returns.
func (s *Store) Update(fn func(tx *Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &Tx{s: s, b: s.db.NewBatch()}
	defer tx.b.Close()
	if err := fn(tx); err != nil {
		return err
	}
	if tx.err != nil {
		return tx.err
	}
	if err := tx.b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("recovery: commit: %w", err)
	}
	s.nextSeq += uint64(tx.count)
	return nil
}

// Outbox returns the events not yet acknowledged, oldest first.
func (s *Store) Outbox() ([]OutboxEntry, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOutbox}, UpperBound: []byte{prefixOutbox + 1}})
	if err != nil {
		return nil, fmt.Errorf("recovery: outbox: %w", err)
	}
	defer it.Close()
	var out []OutboxEntry
	for ok := it.First(); ok; ok = it.Next() {
		var e OutboxEntry
		if err := json.Unmarshal(it.Value(), &e); err != nil || len(it.Key()) != 9 {
			return nil, fmt.Errorf("recovery: corrupt outbox entry %x", it.Key())
		}
		e.Seq = binary.BigEndian.Uint64(it.Key()[1:])
		out = append(out, e)
	}
	return out, it.Error()
}

// Flush hands the outbox to produce, oldest first, and deletes what produce
// returned nil for. One Flush runs at a time, so an entry is normally produced once; after
// a crash between produce and the deletion it is produced again, with the same event id.
func (s *Store) Flush(produce func([]OutboxEntry) error) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	out, err := s.Outbox()
	if err != nil || len(out) == 0 {
		return err
	}
	if err := produce(out); err != nil {
		return err
	}
	return s.Ack(out[len(out)-1].Seq)
}

// Ack deletes outbox entries up to and including seq (they are on Kafka).
func (s *Store) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	hi := binary.BigEndian.AppendUint64([]byte{prefixOutbox}, seq+1)
	if seq == ^uint64(0) {
		hi = []byte{prefixOutbox + 1}
	}
	if err := s.db.DeleteRange([]byte{prefixOutbox}, hi, pebble.Sync); err != nil {
		return fmt.Errorf("recovery: ack outbox: %w", err)
	}
	return nil
}

// PruneNonces forgets used nonces whose approvals expired before now: an expired
// approval is refused anyway, so the replay set only needs the unexpired ones.
func (s *Store) PruneNonces(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixNonce}, UpperBound: []byte{prefixNonce + 1}})
	if err != nil {
		return fmt.Errorf("recovery: prune: %w", err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < now.Unix() {
			if err := b.Delete(bytes.Clone(it.Key()), nil); err != nil {
				it.Close()
				return err
			}
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// PruneInterval is how often Tidy prunes the used nonces.
const PruneInterval = time.Hour

// Tidy prunes the used nonces (PruneNonces) if it has not done so in the last
// PruneInterval; the API calls it after transitions, so the replay set stays bounded by
// the approvals of the last MaxApprovalTTL without a goroutine of its own.
func (s *Store) Tidy(now time.Time) error {
	s.pruneMu.Lock()
	if !s.lastPrune.IsZero() && now.Sub(s.lastPrune) < PruneInterval {
		s.pruneMu.Unlock()
		return nil
	}
	s.lastPrune = now
	s.pruneMu.Unlock()
	return s.PruneNonces(now)
}

// pebbleLogger drops Pebble's informational messages and sends its errors to slog.
type pebbleLogger struct{ log *slog.Logger }

func (pebbleLogger) Infof(string, ...any) {}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("recovery store: " + fmt.Sprintf(format, args...))
}
func (pebbleLogger) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
