// Package window assigns event times to time windows: tumbling (fixed, non-overlapping),
// hopping (fixed size, overlapping by a smaller advance) and sliding (fixed size, one
// window ending at each record), each with a grace period for late records.
//
// Windows are half-open, [Start, End), aligned to the Unix epoch. A window is closed once
// the watermark (the largest event time seen) reaches End + grace: its result is final
// and a record that would fall in it is late.
package window

import (
	"fmt"
	"time"
)

// Window is the half-open interval [Start, End).
type Window struct {
	Start, End time.Time
}

// Contains reports whether t lies in w.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Spec says how records are grouped into windows. The zero Spec is invalid.
type Spec struct {
	size    time.Duration
	advance time.Duration
	grace   time.Duration
	sliding bool
}

// Tumbling returns windows of the given size that do not overlap: every time falls in
// exactly one. Grace is zero until WithGrace.
func Tumbling(size time.Duration) Spec { return Spec{size: size, advance: size} }

// Hopping returns windows of the given size starting every advance; a time falls in
// size/advance windows (rounded up). advance must divide size.
func Hopping(size, advance time.Duration) Spec { return Spec{size: size, advance: advance} }

// Sliding returns windows of the given size that end at each record's time, (t-size, t]:
// the aggregate over the last size of event time as of each record. Assign returns the
// window ending at t; EventLog keeps the events a key's sliding windows need and expires
// them once the watermark has passed size + grace beyond them.
func Sliding(size time.Duration) Spec { return Spec{size: size, sliding: true} }

// WithGrace returns s with a grace period: how long after a window's end records are
// still accepted into it.
func (s Spec) WithGrace(g time.Duration) Spec { s.grace = g; return s }

// Size returns the window size.
func (s Spec) Size() time.Duration { return s.size }

// Grace returns the grace period.
func (s Spec) Grace() time.Duration { return s.grace }

// Validate reports an unusable Spec.
func (s Spec) Validate() error {
	switch {
	case s.size <= 0:
		return fmt.Errorf("window: size %v must be positive", s.size)
	case s.grace < 0:
		return fmt.Errorf("window: grace %v must not be negative", s.grace)
	case !s.sliding && s.advance <= 0:
		return fmt.Errorf("window: advance %v must be positive", s.advance)
	case !s.sliding && s.advance > s.size:
		return fmt.Errorf("window: advance %v larger than size %v leaves gaps", s.advance, s.size)
	case !s.sliding && s.size%s.advance != 0:
		return fmt.Errorf("window: advance %v does not divide size %v", s.advance, s.size)
	}
	return nil
}

// Assign returns the windows t falls in, oldest first. For a sliding Spec it is the one
// window (t-size, t], represented as [t-size+1ns, t+1ns).
func (s Spec) Assign(t time.Time) []Window { return s.AppendAssign(nil, t) }

// AppendAssign appends the windows t falls in to dst, oldest first, and returns the
// extended slice: Assign without an allocation when dst has room.
func (s Spec) AppendAssign(dst []Window, t time.Time) []Window {
	if s.sliding {
		end := t.Add(time.Nanosecond)
		return append(dst, Window{Start: end.Add(-s.size).UTC(), End: end.UTC()})
	}
	n := t.UnixNano()
	adv := s.advance.Nanoseconds()
	last := n - mod(n, adv) // start of the newest window containing t
	for start := last - s.size.Nanoseconds() + adv; start <= last; start += adv {
		dst = append(dst, Window{Start: time.Unix(0, start).UTC(), End: time.Unix(0, start+s.size.Nanoseconds()).UTC()})
	}
	return dst
}

// Covering reports whether a sliding window ending at end (as returned by Assign for a
// record at end-1ns) includes time t; callers use it to update the windows of records
// already seen when an out-of-order record arrives.
func (s Spec) Covering(w Window, t time.Time) bool { return w.Contains(t) }

// Closes returns when w closes: End + grace. A timer at this time emits w's final result.
func (s Spec) Closes(w Window) time.Time { return w.End.Add(s.grace) }

// Closed reports whether w is closed at the given watermark.
func (s Spec) Closed(w Window, watermark time.Time) bool { return !watermark.Before(s.Closes(w)) }

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
