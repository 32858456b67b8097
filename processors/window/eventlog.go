package window

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/weirhq/weir/processors/stream"
)

// EventLog keeps, per key, the events of the last Size of event time (plus grace) in a
// state store, so that a sliding-window aggregate over (t-size, t] can be computed as of
// any event — the basis of "sum of the last 10 minutes at each payment" features.
//
// Layout in the store: len(key)(2, big endian) key at(8, big endian, sign-flipped unix
// nanos) id -> value. Events are visited in time order, then id order. An EventLog is
// used from a Handler call, on the Store of that call's Context; it holds no state of
// its own.
type EventLog struct {
	// Store holds the events. Required.
	Store *stream.Store
	// Spec is a Sliding spec: its size is the window, its grace how long events are kept
	// past the window for late arrivals.
	Spec Spec
}

// maxEventKey bounds the length of a key, so that its length fits the layout.
const maxEventKey = 1<<16 - 1

// ErrKeyTooLong is returned for a key longer than 65535 bytes.
var ErrKeyTooLong = errors.New("window: event log key longer than 65535 bytes")

func eventKeyPrefix(key []byte) ([]byte, error) {
	if len(key) > maxEventKey {
		return nil, ErrKeyTooLong
	}
	p := make([]byte, 0, 2+len(key)+8)
	p = binary.BigEndian.AppendUint16(p, uint16(len(key)))
	return append(p, key...), nil
}

func appendTime(b []byte, at time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(at.UnixNano())^(1<<63))
}

// Add records an event of key at the given time. id distinguishes events of one key at
// the same time (an event id); adding the same (key, at, id) again replaces its value.
func (l EventLog) Add(key []byte, at time.Time, id, value []byte) error {
	p, err := eventKeyPrefix(key)
	if err != nil {
		return err
	}
	return l.Store.Put(append(appendTime(p, at), id...), value)
}

// Window calls fn for each event of key in the sliding window that ends at end,
// (end-size, end], oldest first.
func (l EventLog) Window(key []byte, end time.Time, fn func(at time.Time, id, value []byte) error) error {
	p, err := eventKeyPrefix(key)
	if err != nil {
		return err
	}
	from := end.Add(-l.Spec.Size())
	return l.Store.Scan(p, func(k, v []byte) error {
		at, id, err := parseEvent(k[len(p):])
		if err != nil {
			return err
		}
		if !at.After(from) || at.After(end) {
			return nil
		}
		return fn(at, id, v)
	})
}

// Expire deletes the events of key that no window can include any more: those at or
// before watermark - size - grace. It returns how many it deleted.
func (l EventLog) Expire(key []byte, watermark time.Time) (int, error) {
	p, err := eventKeyPrefix(key)
	if err != nil {
		return 0, err
	}
	horizon := watermark.Add(-l.Spec.Size() - l.Spec.Grace())
	var old [][]byte
	errStop := errors.New("stop")
	err = l.Store.Scan(p, func(k, _ []byte) error {
		at, _, err := parseEvent(k[len(p):])
		if err != nil {
			return err
		}
		if at.After(horizon) {
			return errStop // time order: the rest is newer
		}
		old = append(old, bytes.Clone(k))
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	for _, k := range old {
		if err := l.Store.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

func parseEvent(rest []byte) (time.Time, []byte, error) {
	if len(rest) < 8 {
		return time.Time{}, nil, fmt.Errorf("window: malformed event key (%d bytes after the key)", len(rest))
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(rest)^(1<<63))).UTC()
	return at, rest[8:], nil
}
