package nonce_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/weirhq/weir/signer/nonce"
)

const chain = 1337

var (
	alice = common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	bob   = common.HexToAddress("0x0000000000000000000000000000000000000b0b")
)

// fixed is a NonceFunc answering n for every account.
func fixed(n uint64) nonce.NonceFunc {
	return func(context.Context, uint64, common.Address) (uint64, error) { return n, nil }
}

func open(t *testing.T, dir string, pending nonce.NonceFunc, opts ...nonce.Option) *nonce.Manager {
	t.Helper()
	m, err := nonce.Open(dir, pending, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func payload(s string) [32]byte { return crypto.Keccak256Hash([]byte(s)) }

func reserve(t *testing.T, m *nonce.Manager, from common.Address) uint64 {
	t.Helper()
	n, err := m.Reserve(context.Background(), chain, from)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReserveStartsAtPendingNonce(t *testing.T) {
	calls := 0
	m := open(t, t.TempDir(), func(_ context.Context, c uint64, from common.Address) (uint64, error) {
		calls++
		if from == alice {
			return 40, nil
		}
		return 0, nil
	})
	for want := uint64(40); want < 45; want++ {
		if n := reserve(t, m, alice); n != want {
			t.Fatalf("reserve %d, want %d", n, want)
		}
	}
	if n := reserve(t, m, bob); n != 0 {
		t.Fatalf("bob's first nonce %d", n)
	}
	if n, err := m.Reserve(context.Background(), 1, alice); err != nil || n != 40 {
		t.Fatalf("alice on chain 1: %d %v", n, err)
	}
	if calls != 3 {
		t.Fatalf("pending nonce asked %d times, want once per account", calls)
	}
	failing := open(t, t.TempDir(), func(context.Context, uint64, common.Address) (uint64, error) {
		return 0, errors.New("node down")
	})
	if _, err := failing.Reserve(context.Background(), chain, alice); err == nil {
		t.Fatal("reserve without the pending nonce")
	}
}

func TestConcurrentReservationsAreOrderedAndUnique(t *testing.T) {
	m := open(t, t.TempDir(), fixed(7))
	const workers, each = 8, 25
	var (
		mu  sync.Mutex
		got = map[common.Address][]uint64{}
		wg  sync.WaitGroup
	)
	for w := range workers {
		from := alice
		if w%2 == 1 {
			from = bob
		}
		wg.Go(func() {
			var mine []uint64
			for range each {
				n, err := m.Reserve(context.Background(), chain, from)
				if err != nil {
					t.Error(err)
					return
				}
				mine = append(mine, n)
			}
			if !slices.IsSorted(mine) {
				t.Errorf("one caller's nonces out of order: %v", mine)
			}
			mu.Lock()
			got[from] = append(got[from], mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	for from, ns := range got {
		slices.Sort(ns)
		for i, n := range ns {
			if n != 7+uint64(i) {
				t.Fatalf("%s: nonces %v are not 7..%d without repeats or holes", from.Hex(), ns, 7+len(ns)-1)
			}
		}
	}
}

func TestReleaseIsReused(t *testing.T) {
	m := open(t, t.TempDir(), fixed(0))
	for range 5 {
		reserve(t, m, alice) // 0..4
	}
	for _, n := range []uint64{1, 3} {
		if err := m.Release(chain, alice, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Release(chain, alice, 3); !errors.Is(err, nonce.ErrNotReserved) {
		t.Fatalf("double release: %v", err)
	}
	if err := m.Release(chain, alice, 9); !errors.Is(err, nonce.ErrNotReserved) {
		t.Fatalf("release of a nonce never handed out: %v", err)
	}
	if err := m.Record(chain, alice, 1, payload("x"), nonce.Original); !errors.Is(err, nonce.ErrNotReserved) {
		t.Fatalf("record at a released nonce: %v", err)
	}
	if err := m.Record(chain, alice, 2, payload("two"), nonce.Original); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(chain, alice, 2); !errors.Is(err, nonce.ErrRecorded) {
		t.Fatalf("release of a recorded nonce: %v", err)
	}
	// The released nonces come back lowest first, then the sequence continues.
	for _, want := range []uint64{1, 3, 5} {
		if n := reserve(t, m, alice); n != want {
			t.Fatalf("reserve %d, want %d", n, want)
		}
	}
	// Releasing the top nonces rolls next back instead of growing the free list.
	for _, n := range []uint64{4, 5} {
		if err := m.Release(chain, alice, n); err != nil {
			t.Fatal(err)
		}
	}
	if n := reserve(t, m, alice); n != 4 {
		t.Fatalf("after releasing 4 and 5: %d, want 4", n)
	}
}

func TestDoubleSignGuard(t *testing.T) {
	m := open(t, t.TempDir(), fixed(0))
	n := reserve(t, m, alice)
	a, b := payload("pay bob 1 ETH"), payload("pay mallory 1 ETH")
	if err := m.Record(chain, alice, n, a, nonce.Original); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(chain, alice, n, a, nonce.Original); err != nil {
		t.Fatalf("identical re-sign refused: %v", err)
	}
	if err := m.Record(chain, alice, n, b, nonce.Original); !errors.Is(err, nonce.ErrDoubleSign) {
		t.Fatalf("different payload: %v, want ErrDoubleSign", err)
	}
	if err := m.Record(chain, bob, n, b, nonce.Original); !errors.Is(err, nonce.ErrNotReserved) {
		t.Fatalf("other account, nonce never reserved: %v", err)
	}
	if err := m.Record(chain, alice, n+1, b, nonce.Original); !errors.Is(err, nonce.ErrNotReserved) {
		t.Fatalf("nonce not reserved: %v", err)
	}
	rec, ok, err := m.Lookup(chain, alice, n)
	if err != nil || !ok || len(rec.Payloads) != 1 || rec.Payloads[0].Hash != a {
		t.Fatalf("lookup %+v %v %v", rec, ok, err)
	}
}

func TestReplacements(t *testing.T) {
	orig, fast, faster, cancel := payload("orig"), payload("orig, 2 gwei"), payload("orig, 3 gwei"), payload("cancel")
	cases := []struct {
		name  string
		opts  []nonce.Option
		steps []struct {
			p    [32]byte
			kind nonce.Replacement
			want error
		}
	}{
		{"speed-up then cancel allowed", nil, []struct {
			p    [32]byte
			kind nonce.Replacement
			want error
		}{{fast, nonce.Original, nonce.ErrDoubleSign}, {fast, nonce.SpeedUp, nil}, {faster, nonce.SpeedUp, nil},
			{cancel, nonce.Cancel, nil}, {orig, nonce.Original, nil}, {fast, nonce.Original, nil}}},
		{"speed-ups refused by policy", []nonce.Option{nonce.WithReplacements(false, true)}, []struct {
			p    [32]byte
			kind nonce.Replacement
			want error
		}{{fast, nonce.SpeedUp, nonce.ErrReplacementRefused}, {cancel, nonce.Cancel, nil}}},
		{"cancels refused by policy", []nonce.Option{nonce.WithReplacements(true, false)}, []struct {
			p    [32]byte
			kind nonce.Replacement
			want error
		}{{cancel, nonce.Cancel, nonce.ErrReplacementRefused}, {fast, nonce.SpeedUp, nil}}},
		{"maximum", []nonce.Option{nonce.WithMaxReplacements(2)}, []struct {
			p    [32]byte
			kind nonce.Replacement
			want error
		}{{fast, nonce.SpeedUp, nil}, {faster, nonce.SpeedUp, nil}, {cancel, nonce.Cancel, nonce.ErrTooManyReplacements},
			{faster, nonce.Original, nil}}},
		{"no replacements", []nonce.Option{nonce.WithMaxReplacements(0)}, []struct {
			p    [32]byte
			kind nonce.Replacement
			want error
		}{{cancel, nonce.Cancel, nonce.ErrTooManyReplacements}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := open(t, t.TempDir(), fixed(3), c.opts...)
			n := reserve(t, m, alice)
			if err := m.Record(chain, alice, n, orig, nonce.SpeedUp); err != nil {
				t.Fatal(err) // a first payload declared as a replacement is the original
			}
			accepted := 1
			for i, s := range c.steps {
				err := m.Record(chain, alice, n, s.p, s.kind)
				if !errors.Is(err, s.want) || (err == nil) != (s.want == nil) {
					t.Fatalf("step %d (%s): %v, want %v", i, s.kind, err, s.want)
				}
				if s.want != nil && !errors.Is(err, nonce.ErrDoubleSign) {
					t.Fatalf("step %d: refusal %v does not match ErrDoubleSign", i, err)
				}
				if err == nil && s.kind != nonce.Original {
					accepted++
				}
			}
			rec, _, err := m.Lookup(chain, alice, n)
			if err != nil || len(rec.Payloads) != accepted || rec.Payloads[0] != (nonce.Payload{Hash: orig}) {
				t.Fatalf("record %+v %v, want %d payloads starting with the original", rec, err, accepted)
			}
		})
	}
}

func TestGapsAndConfirm(t *testing.T) {
	ctx := context.Background()
	m := open(t, t.TempDir(), fixed(10))
	for range 6 {
		reserve(t, m, alice) // 10..15
	}
	for _, n := range []uint64{10, 11, 13, 15} {
		if err := m.Record(chain, alice, n, payload(string(rune(n))), nonce.Original); err != nil {
			t.Fatal(err)
		}
	}
	gaps, err := m.Gaps(ctx, chain, alice, fixed(10))
	if err != nil || !slices.Equal(gaps, []uint64{12, 14}) {
		t.Fatalf("gaps %v %v, want [12 14]", gaps, err)
	}
	// The chain mined 10 and 11.
	if gaps, _ := m.Gaps(ctx, chain, alice, fixed(12)); !slices.Equal(gaps, []uint64{12, 14}) {
		t.Fatalf("gaps above the chain's 12: %v", gaps)
	}
	if err := m.Release(chain, alice, 14); err != nil {
		t.Fatal(err)
	}
	if gaps, _ := m.Gaps(ctx, chain, alice, fixed(12)); !slices.Equal(gaps, []uint64{12, 14}) {
		t.Fatalf("a released nonce below a recorded one is still a gap: %v", gaps)
	}
	if err := m.Confirm(chain, alice, 11); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(chain, alice, 11, payload("late"), nonce.Original); !errors.Is(err, nonce.ErrSettled) {
		t.Fatalf("record below the floor: %v", err)
	}
	if err := m.Release(chain, alice, 10); !errors.Is(err, nonce.ErrSettled) {
		t.Fatalf("release below the floor: %v", err)
	}
	if _, ok, _ := m.Lookup(chain, alice, 10); ok {
		t.Fatal("record below the floor kept")
	}
	// Fill the gaps: 14 comes back from the free list first, then 12 is still reserved.
	if n := reserve(t, m, alice); n != 14 {
		t.Fatalf("reserve %d, want 14", n)
	}
	for _, n := range []uint64{12, 14} {
		if err := m.Record(chain, alice, n, payload("fill"), nonce.Original); err != nil {
			t.Fatal(err)
		}
	}
	if gaps, err := m.Gaps(ctx, chain, alice, fixed(12)); err != nil || len(gaps) != 0 {
		t.Fatalf("gaps after filling: %v %v", gaps, err)
	}
	if n := reserve(t, m, alice); n != 16 {
		t.Fatalf("reserve %d, want 16", n)
	}
	// Confirm beyond next moves next up.
	if err := m.Confirm(chain, alice, 30); err != nil {
		t.Fatal(err)
	}
	if n := reserve(t, m, alice); n != 31 {
		t.Fatalf("reserve after confirming 30: %d", n)
	}
}

func TestResync(t *testing.T) {
	pending := uint64(5)
	m := open(t, t.TempDir(), func(context.Context, uint64, common.Address) (uint64, error) { return pending, nil })
	for range 3 {
		reserve(t, m, alice) // 5, 6, 7
	}
	if err := m.Record(chain, alice, 5, payload("five"), nonce.Original); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(chain, alice, 6); err != nil {
		t.Fatal(err)
	}
	// The node lost its pool: it says 5 again.
	if err := m.Resync(chain, alice); err != nil {
		t.Fatal(err)
	}
	if n := reserve(t, m, alice); n != 5 {
		t.Fatalf("after resync %d, want 5", n)
	}
	if err := m.Record(chain, alice, 5, payload("other"), nonce.Original); !errors.Is(err, nonce.ErrDoubleSign) {
		t.Fatalf("resync must keep the guard: %v", err)
	}
	if err := m.Record(chain, alice, 5, payload("five"), nonce.Original); err != nil {
		t.Fatalf("re-sign of the recorded payload after resync: %v", err)
	}
	// The key signed elsewhere: the node is at 50.
	pending = 50
	if err := m.Resync(chain, alice); err != nil {
		t.Fatal(err)
	}
	if n := reserve(t, m, alice); n != 50 {
		t.Fatalf("after resync %d, want 50", n)
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	m, err := nonce.Open(dir, fixed(100))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 4 {
		if _, err := m.Reserve(ctx, chain, alice); err != nil { // 100..103
			t.Fatal(err)
		}
	}
	steps := []error{
		m.Record(chain, alice, 100, payload("a"), nonce.Original),
		m.Record(chain, alice, 100, payload("a2"), nonce.SpeedUp),
		m.Release(chain, alice, 101),
		m.Confirm(chain, alice, 99),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reserve(ctx, chain, alice); !errors.Is(err, nonce.ErrClosed) {
		t.Fatalf("reserve after close: %v", err)
	}

	m = open(t, dir, func(context.Context, uint64, common.Address) (uint64, error) {
		t.Error("pending nonce asked again after reopen")
		return 0, nil
	})
	if err := m.Record(chain, alice, 100, payload("b"), nonce.Original); !errors.Is(err, nonce.ErrDoubleSign) {
		t.Fatalf("after reopen: %v, want ErrDoubleSign", err)
	}
	rec, ok, err := m.Lookup(chain, alice, 100)
	if err != nil || !ok || !rec.Has(payload("a")) || !rec.Has(payload("a2")) || rec.Replacements() != 1 {
		t.Fatalf("record after reopen %+v %v %v", rec, ok, err)
	}
	for _, want := range []uint64{101, 104} {
		if n := reserve(t, m, alice); n != want {
			t.Fatalf("reserve after reopen %d, want %d", n, want)
		}
	}
	if err := m.Record(chain, alice, 102, payload("c"), nonce.Original); err != nil {
		t.Fatalf("a reservation made before the restart: %v", err)
	}
	if err := m.Confirm(chain, alice, 99); err != nil {
		t.Fatal(err)
	}
}

func TestOpenOptions(t *testing.T) {
	if _, err := nonce.Open(t.TempDir(), nil); err == nil {
		t.Fatal("nil pending function accepted")
	}
	if _, err := nonce.Open(t.TempDir(), fixed(0), nonce.WithMaxReplacements(255)); err == nil {
		t.Fatal("255 replacements accepted")
	}
	dir := t.TempDir()
	open(t, dir, fixed(0))
	if _, err := nonce.Open(dir, fixed(0)); err == nil {
		t.Fatal("a second manager opened the same directory")
	}
}

// TestReserveRecord: ReserveRecord hands out the nonces Reserve would and records the
// payload at each in the same write (a different payload there is then a double sign,
// across a reopen too); a failing payload function takes no nonce; a nonce handed out
// again after Resync that already has a record is reserved but not recorded over.
func TestReserveRecord(t *testing.T) {
	dir := t.TempDir()
	m, err := nonce.Open(dir, fixed(3))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := func(n uint64) ([32]byte, error) { return payload(string(rune('a' + n))), nil }
	for want := uint64(3); want < 5; want++ {
		n, recorded, err := m.ReserveRecord(ctx, chain, alice, at)
		if err != nil || n != want || !recorded {
			t.Fatalf("ReserveRecord = %d %v %v, want %d recorded", n, recorded, err, want)
		}
	}
	if _, _, err := m.ReserveRecord(ctx, chain, alice, func(uint64) ([32]byte, error) { return [32]byte{}, errors.New("no") }); err == nil {
		t.Fatal("a failing payload function must fail ReserveRecord")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = open(t, dir, fixed(3))
	if err := m.Record(chain, alice, 4, payload("other"), nonce.Original); !errors.Is(err, nonce.ErrDoubleSign) {
		t.Fatalf("another payload at a ReserveRecord nonce after reopen: %v", err)
	}
	if err := m.Record(chain, alice, 4, payload(string(rune('a'+4))), nonce.Original); err != nil {
		t.Fatalf("the recorded payload again: %v", err)
	}
	if n := reserve(t, m, alice); n != 5 {
		t.Fatalf("after the failed ReserveRecord, Reserve = %d, want 5 (no nonce taken)", n)
	}
	if err := m.Resync(chain, alice); err != nil {
		t.Fatal(err)
	}
	n, recorded, err := m.ReserveRecord(ctx, chain, alice, at)
	if err != nil || n != 3 || recorded {
		t.Fatalf("after resync ReserveRecord = %d %v %v, want 3 not recorded over", n, recorded, err)
	}
}
