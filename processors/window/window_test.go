package window_test

import (
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/processors/window"
)

// at returns the time s seconds (and ns nanoseconds) after the Unix epoch, in UTC.
func at(s, ns int64) time.Time { return time.Unix(s, ns).UTC() }

func TestAssign(t *testing.T) {
	noon := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		spec   window.Spec
		t      time.Time
		starts []time.Time // of the windows wanted, oldest first; each is spec.Size() long
	}{
		{"tumbling on a boundary", window.Tumbling(time.Minute), noon, []time.Time{noon}},
		{"tumbling inside", window.Tumbling(time.Minute), noon.Add(30 * time.Second), []time.Time{noon}},
		{"tumbling last nanosecond", window.Tumbling(time.Minute), noon.Add(time.Minute - 1), []time.Time{noon}},
		{"tumbling next boundary", window.Tumbling(time.Minute), noon.Add(time.Minute), []time.Time{noon.Add(time.Minute)}},
		{"tumbling epoch", window.Tumbling(time.Minute), at(0, 0), []time.Time{at(0, 0)}},
		{"tumbling one ns before epoch", window.Tumbling(time.Minute), at(0, -1), []time.Time{at(-60, 0)}},
		{"tumbling pre-epoch boundary", window.Tumbling(time.Minute), at(-60, 0), []time.Time{at(-60, 0)}},
		{"tumbling pre-epoch inside", window.Tumbling(time.Minute), at(-61, 0), []time.Time{at(-120, 0)}},
		{"tumbling 1900", window.Tumbling(time.Hour), time.Date(1900, 3, 1, 7, 59, 59, 0, time.UTC),
			[]time.Time{time.Date(1900, 3, 1, 7, 0, 0, 0, time.UTC)}},
		{"tumbling non-UTC input", window.Tumbling(time.Hour), noon.Add(90 * time.Minute).In(time.FixedZone("x", 5*3600+1800)),
			[]time.Time{noon.Add(time.Hour)}},
		{"hopping on a boundary", window.Hopping(time.Minute, 20*time.Second), noon,
			[]time.Time{noon.Add(-40 * time.Second), noon.Add(-20 * time.Second), noon}},
		{"hopping inside", window.Hopping(time.Minute, 20*time.Second), noon.Add(30 * time.Second),
			[]time.Time{noon.Add(-20 * time.Second), noon, noon.Add(20 * time.Second)}},
		{"hopping last ns before a boundary", window.Hopping(time.Minute, 20*time.Second), noon.Add(-1),
			[]time.Time{noon.Add(-60 * time.Second), noon.Add(-40 * time.Second), noon.Add(-20 * time.Second)}},
		{"hopping four", window.Hopping(time.Minute, 15*time.Second), noon.Add(16 * time.Second),
			[]time.Time{noon.Add(-30 * time.Second), noon.Add(-15 * time.Second), noon, noon.Add(15 * time.Second)}},
		{"hopping advance equals size", window.Hopping(10*time.Second, 10*time.Second), noon.Add(5 * time.Second),
			[]time.Time{noon}},
		{"hopping pre-epoch", window.Hopping(time.Minute, 20*time.Second), at(0, -1),
			[]time.Time{at(-60, 0), at(-40, 0), at(-20, 0)}},
		{"hopping pre-epoch boundary", window.Hopping(time.Minute, 20*time.Second), at(-40, 0),
			[]time.Time{at(-80, 0), at(-60, 0), at(-40, 0)}},
		{"hopping across epoch", window.Hopping(time.Minute, 20*time.Second), at(10, 0),
			[]time.Time{at(-40, 0), at(-20, 0), at(0, 0)}},
		{"sliding", window.Sliding(time.Minute), noon, []time.Time{noon.Add(-time.Minute + 1)}},
		{"sliding pre-epoch", window.Sliding(time.Minute), at(-30, 0), []time.Time{at(-90, 1)}},
		{"sliding grace does not matter", window.Sliding(time.Minute).WithGrace(time.Hour), noon.Add(7),
			[]time.Time{noon.Add(-time.Minute + 8)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.spec.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			ws := tc.spec.Assign(tc.t)
			if len(ws) != len(tc.starts) {
				t.Fatalf("Assign(%v) = %d windows %v, want %d", tc.t, len(ws), ws, len(tc.starts))
			}
			for i, w := range ws {
				if !w.Start.Equal(tc.starts[i]) {
					t.Errorf("window %d starts at %v, want %v", i, w.Start, tc.starts[i])
				}
				if got := w.End.Sub(w.Start); got != tc.spec.Size() {
					t.Errorf("window %d is %v long, want %v", i, got, tc.spec.Size())
				}
				if !w.Contains(tc.t) {
					t.Errorf("window %d [%v, %v) does not contain %v", i, w.Start, w.End, tc.t)
				}
			}
		})
	}
}

// TestAssignSweep checks invariants of tumbling and hopping windows over many times
// around the epoch and a present-day instant: every window containing t is assigned,
// aligned to the epoch, oldest first, and no other.
func TestAssignSweep(t *testing.T) {
	specs := []struct {
		spec window.Spec
		adv  time.Duration
	}{
		{window.Tumbling(7 * time.Second), 7 * time.Second},
		{window.Hopping(12*time.Second, 3*time.Second), 3 * time.Second},
		{window.Hopping(10*time.Second, 5*time.Second), 5 * time.Second},
	}
	origins := []time.Time{at(0, 0), time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	for _, sc := range specs {
		spec, adv := sc.spec, sc.adv
		for _, origin := range origins {
			for d := -40 * time.Second; d <= 40*time.Second; d += 250 * time.Millisecond {
				for _, jitter := range []time.Duration{-1, 0, 1} {
					tt := origin.Add(d + jitter)
					ws := spec.Assign(tt)
					if want := int(spec.Size() / adv); len(ws) != want {
						t.Fatalf("%v: Assign(%v) = %d windows, want %d", spec.Size(), tt, len(ws), want)
					}
					for i, w := range ws {
						if !w.Contains(tt) {
							t.Fatalf("Assign(%v)[%d] = [%v, %v) does not contain it", tt, i, w.Start, w.End)
						}
						if w.Start.UnixNano()%adv.Nanoseconds() != 0 {
							t.Fatalf("Assign(%v)[%d] starts at %v, not aligned to %v", tt, i, w.Start, adv)
						}
						if i > 0 && w.Start.Sub(ws[i-1].Start) != adv {
							t.Fatalf("Assign(%v): windows %d and %d are not %v apart", tt, i-1, i, adv)
						}
					}
					// The windows just before the oldest and after the newest miss tt.
					before := window.Window{Start: ws[0].Start.Add(-adv), End: ws[0].End.Add(-adv)}
					after := window.Window{Start: ws[len(ws)-1].Start.Add(adv), End: ws[len(ws)-1].End.Add(adv)}
					if before.Contains(tt) || after.Contains(tt) {
						t.Fatalf("Assign(%v) misses a window that contains it", tt)
					}
				}
			}
		}
	}
}

func TestContains(t *testing.T) {
	w := window.Window{Start: at(100, 0), End: at(160, 0)}
	tests := []struct {
		t    time.Time
		want bool
	}{
		{at(100, -1), false},
		{at(100, 0), true},
		{at(130, 0), true},
		{at(160, -1), true},
		{at(160, 0), false},
	}
	for _, tc := range tests {
		if got := w.Contains(tc.t); got != tc.want {
			t.Errorf("[%v, %v).Contains(%v) = %v, want %v", w.Start, w.End, tc.t, got, tc.want)
		}
	}
}

func TestSlidingCovering(t *testing.T) {
	spec := window.Sliding(time.Minute)
	end := at(1000, 0)
	w := spec.Assign(end)[0]
	tests := []struct {
		t    time.Time
		want bool
	}{
		{end.Add(-time.Minute), false}, // (t-size, t] excludes t-size
		{end.Add(-time.Minute + 1), true},
		{end.Add(-time.Second), true},
		{end, true},
		{end.Add(1), false},
	}
	for _, tc := range tests {
		if got := spec.Covering(w, tc.t); got != tc.want {
			t.Errorf("Covering(window ending %v, %v) = %v, want %v", end, tc.t, got, tc.want)
		}
	}
}

func TestClosesAndClosed(t *testing.T) {
	w := window.Window{Start: at(0, 0), End: at(60, 0)}
	tests := []struct {
		name      string
		spec      window.Spec
		watermark time.Time
		closes    time.Time
		closed    bool
	}{
		{"no grace, before end", window.Tumbling(time.Minute), at(60, -1), at(60, 0), false},
		{"no grace, at end", window.Tumbling(time.Minute), at(60, 0), at(60, 0), true},
		{"no grace, after end", window.Tumbling(time.Minute), at(3600, 0), at(60, 0), true},
		{"grace, at end", window.Tumbling(time.Minute).WithGrace(5 * time.Second), at(60, 0), at(65, 0), false},
		{"grace, last ns", window.Tumbling(time.Minute).WithGrace(5 * time.Second), at(65, -1), at(65, 0), false},
		{"grace, at close", window.Tumbling(time.Minute).WithGrace(5 * time.Second), at(65, 0), at(65, 0), true},
		{"hopping grace", window.Hopping(time.Minute, 30*time.Second).WithGrace(time.Second), at(61, 0), at(61, 0), true},
		{"sliding grace", window.Sliding(time.Minute).WithGrace(time.Second), at(60, 999999999), at(61, 0), false},
		{"zero watermark", window.Tumbling(time.Minute), time.Time{}, at(60, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.spec.Closes(w); !got.Equal(tc.closes) {
				t.Errorf("Closes = %v, want %v", got, tc.closes)
			}
			if got := tc.spec.Closed(w, tc.watermark); got != tc.closed {
				t.Errorf("Closed(watermark %v) = %v, want %v", tc.watermark, got, tc.closed)
			}
		})
	}
}

func TestWithGraceKeepsSpec(t *testing.T) {
	base := window.Hopping(time.Minute, 20*time.Second)
	g := base.WithGrace(3 * time.Second)
	if base.Grace() != 0 {
		t.Errorf("WithGrace changed its receiver: grace %v", base.Grace())
	}
	if g.Grace() != 3*time.Second || g.Size() != time.Minute {
		t.Errorf("WithGrace: size %v grace %v, want 1m 3s", g.Size(), g.Grace())
	}
	if n := len(g.Assign(at(0, 0))); n != 3 {
		t.Errorf("WithGrace changed the windows: %d per time, want 3", n)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec window.Spec
		want string // substring of the error; "" for valid
	}{
		{"tumbling", window.Tumbling(time.Minute), ""},
		{"tumbling with grace", window.Tumbling(time.Minute).WithGrace(time.Second), ""},
		{"hopping", window.Hopping(time.Minute, 15*time.Second), ""},
		{"hopping advance equals size", window.Hopping(time.Minute, time.Minute), ""},
		{"sliding", window.Sliding(time.Nanosecond), ""},
		{"zero spec", window.Spec{}, "size 0s must be positive"},
		{"tumbling zero", window.Tumbling(0), "must be positive"},
		{"tumbling negative", window.Tumbling(-time.Second), "size -1s must be positive"},
		{"sliding zero", window.Sliding(0), "size 0s must be positive"},
		{"negative grace", window.Tumbling(time.Minute).WithGrace(-time.Nanosecond), "grace -1ns must not be negative"},
		{"sliding negative grace", window.Sliding(time.Minute).WithGrace(-time.Second), "must not be negative"},
		{"hopping zero advance", window.Hopping(time.Minute, 0), "advance 0s must be positive"},
		{"hopping negative advance", window.Hopping(time.Minute, -time.Second), "advance -1s must be positive"},
		{"hopping advance larger", window.Hopping(time.Minute, 2*time.Minute), "leaves gaps"},
		{"hopping advance not a divisor", window.Hopping(time.Minute, 25*time.Second), "does not divide"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Errorf("Validate = nil, want an error mentioning %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("Validate = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}
