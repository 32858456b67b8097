package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/RaduBerinde/btreemap"
	"github.com/cockroachdb/pebble/v2"
)

// Local state layout in the instance's Pebble database:
//
//	'd' store 0x00 partition(4, big endian) key  -> value      (store data)
//	'c' store 0x00 partition(4, big endian)      -> offset(8)  (next changelog offset held)
//
// Every value in a 'd' range was committed to the store's changelog; the checkpoint says
// up to where, so a restore replays only what the database does not hold yet.

func dataPrefix(store string, partition int32) []byte {
	b := make([]byte, 0, len(store)+6)
	b = append(b, 'd')
	b = append(b, store...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(partition))
}

func checkpointKey(store string, partition int32) []byte {
	b := make([]byte, 0, len(store)+6)
	b = append(b, 'c')
	b = append(b, store...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(partition))
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

func readCheckpoint(db *pebble.DB, store string, partition int32) (int64, error) {
	v, closer, err := db.Get(checkpointKey(store, partition))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint of %s/%d: %w", store, partition, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("checkpoint of %s/%d: %d bytes, want 8", store, partition, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func putCheckpoint(b *pebble.Batch, store string, partition int32, next int64) error {
	return b.Set(checkpointKey(store, partition), binary.BigEndian.AppendUint64(nil, uint64(next)), nil)
}

// change is one pending write: a value, or a deletion.
type change struct {
	val    []byte
	del    bool
	origin time.Time // Kafka timestamp of the input record that wrote it
}

// Store is one named state store of one task: a key-value map whose committed contents
// live in Pebble and whose writes in the current transaction are held in memory until the
// transaction commits. A Store is handed to a Handler through its Context and must only
// be used during that call.
type Store struct {
	name   string
	t      *task
	prefix []byte
	txn    map[string]change                    // written by committed records of the open transaction
	order  *btreemap.BTreeMap[string, struct{}] // txn's keys in order, for Scan
	rec    map[string]change                    // written by the record being processed
	key    []byte                               // scratch: prefix + key of the last Get
}

// Name returns the store's name.
func (s *Store) Name() string { return s.name }

// Get returns the value of key, or nil and false when the key is absent.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	if c, ok := s.rec[string(key)]; ok {
		return c.val, !c.del, nil
	}
	if c, ok := s.txn[string(key)]; ok {
		return c.val, !c.del, nil
	}
	s.key = append(append(s.key[:0], s.prefix...), key...)
	v, closer, err := s.t.db.Get(s.key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store %s: get: %w", s.name, err)
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// Put sets key to value. Value must not be nil (use Delete).
func (s *Store) Put(key, value []byte) error {
	if value == nil {
		return fmt.Errorf("store %s: put of a nil value (use Delete)", s.name)
	}
	s.rec[string(key)] = change{val: bytes.Clone(value)}
	return nil
}

// Delete removes key.
func (s *Store) Delete(key []byte) error {
	s.rec[string(key)] = change{del: true}
	return nil
}

// Scan calls fn for every key with the given prefix, in key order, with the view the
// Handler would get from Get. fn must not write to the store. An error from fn stops the
// scan and is returned.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) error) error {
	// Pending writes, merged: the record's over the transaction's. The transaction's
	// keys with the prefix are found through their ordered index, so a scan costs what
	// it reads, not the size of the transaction's write set.
	pending := map[string]change{}
	stop := btreemap.Max[string]()
	if end := prefixEnd(prefix); end != nil {
		stop = btreemap.LT(string(end))
	}
	for k := range s.order.Ascend(btreemap.GE(string(prefix)), stop) {
		pending[k] = s.txn[k]
	}
	for k, c := range s.rec {
		if bytes.HasPrefix([]byte(k), prefix) {
			pending[k] = c
		}
	}
	keys := make([]string, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	lower := append(bytes.Clone(s.prefix), prefix...)
	it, err := s.t.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return fmt.Errorf("store %s: scan: %w", s.name, err)
	}
	defer it.Close()
	emit := func(k string, c change) error {
		if c.del {
			return nil
		}
		return fn([]byte(k), c.val)
	}
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		k := string(it.Key()[len(s.prefix):])
		for i < len(keys) && keys[i] < k {
			if err := emit(keys[i], pending[keys[i]]); err != nil {
				return err
			}
			i++
		}
		if i < len(keys) && keys[i] == k {
			if err := emit(keys[i], pending[keys[i]]); err != nil {
				return err
			}
			i++
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("store %s: scan: %w", s.name, err)
		}
		if err := fn([]byte(k), bytes.Clone(v)); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("store %s: scan: %w", s.name, err)
	}
	for ; i < len(keys); i++ {
		if err := emit(keys[i], pending[keys[i]]); err != nil {
			return err
		}
	}
	return nil
}

// putTxn records a committed record's write of k in the transaction's write set.
func (s *Store) putTxn(k string, c change) {
	if _, ok := s.txn[k]; !ok {
		s.order.ReplaceOrInsert(k, struct{}{})
	}
	s.txn[k] = c
}

// newKeyOrder returns an empty ordered set of a transaction's keys (a B-tree of degree
// 32, its nodes reused across transactions).
func newKeyOrder() *btreemap.BTreeMap[string, struct{}] {
	return btreemap.New[string, struct{}](32, strings.Compare)
}
