package recovery_test

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/weirhq/weir/signer/recovery"
)

var t0 = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

type fixture struct {
	keys  []*ecdsa.PrivateKey
	split recovery.Split
}

func newFixture(t *testing.T, threshold, n int) *fixture {
	t.Helper()
	f := &fixture{}
	var gs []recovery.Guardian
	for i := range n {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		g, err := recovery.NewGuardian(fmt.Sprintf("guardian:%d", i), crypto.CompressPubkey(&k.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		f.keys, gs = append(f.keys, k), append(gs, g)
	}
	if err := recovery.CheckSplit(threshold, gs); err != nil {
		t.Fatal(err)
	}
	owner, _ := crypto.GenerateKey()
	f.split = recovery.Split{KeyID: "key-1", Address: crypto.PubkeyToAddress(owner.PublicKey), SplitID: "00ff",
		Threshold: threshold, Guardians: gs, Created: t0}
	return f
}

func (f *fixture) recovery(t *testing.T) *recovery.Recovery {
	t.Helper()
	ck, _ := crypto.GenerateKey()
	r, err := recovery.NewRecovery(f.split, "rec-1", "operator:alice", t0, 48*time.Hour, 24*time.Hour, "ceremony-1", crypto.FromECDSAPub(&ck.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// approval is guardian i's signed recover approval of r with share, valid for an hour
// from now.
func (f *fixture) approval(t *testing.T, i int, target string, share []byte, now time.Time) recovery.Approval {
	t.Helper()
	a, err := recovery.Approval{Action: recovery.ActionRecover, KeyID: f.split.KeyID, Target: target,
		GuardianID: f.split.Guardians[i].ID, Nonce: fmt.Sprintf("n-%d-%d", i, now.UnixNano()),
		Expires: now.Add(time.Hour), ShareHash: recovery.ShareHash(share)}.Sign(f.keys[i])
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func never(string, string, string) (bool, error) { return false, nil }

func snapshot(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRecoveryQuorumStartsDelay: approvals below the threshold keep the ceremony
// requested (reconstruction refused with ErrQuorum); the one reaching it starts the
// delay, and reconstruction is refused until not_before.
func TestRecoveryQuorumStartsDelay(t *testing.T) {
	f := newFixture(t, 2, 3)
	r := f.recovery(t)
	share := []byte("ciphertext-0")
	now := t0.Add(time.Minute)
	if q, err := r.Approve(f.split, f.approval(t, 0, r.ID, share, now), share, now, never); err != nil || q {
		t.Fatalf("first approval: quorum %v %v", q, err)
	}
	if err := r.CanReconstruct(now.Add(1000 * time.Hour)); !errors.Is(err, recovery.ErrQuorum) || r.State != recovery.StateRequested {
		t.Fatalf("1 of 2: %v in %s, want ErrQuorum in requested", err, r.State)
	}
	now = now.Add(time.Minute)
	if q, err := r.Approve(f.split, f.approval(t, 2, r.ID, share, now), share, now, never); err != nil || !q {
		t.Fatalf("second approval: quorum %v %v", q, err)
	}
	if r.State != recovery.StateDelaying || !r.NotBefore.Equal(now.Add(48*time.Hour)) {
		t.Fatalf("state %s not before %s", r.State, r.NotBefore)
	}
	if err := r.Reconstructed(r.NotBefore.Add(-time.Second)); !errors.Is(err, recovery.ErrTooEarly) {
		t.Fatalf("before not_before: %v", err)
	}
	if err := r.Reconstructed(r.NotBefore); err != nil || r.State != recovery.StateReconstructed {
		t.Fatalf("at not_before: %v %s", err, r.State)
	}
}

// TestRecoveryInvariants drives the state machine into each state and checks which
// transitions it refuses.
func TestRecoveryInvariants(t *testing.T) {
	f := newFixture(t, 2, 3)
	ck, _ := crypto.GenerateKey()
	cpub := crypto.FromECDSAPub(&ck.PublicKey)
	share := []byte("ciphertext")
	approved := func(t *testing.T) *recovery.Recovery {
		r := f.recovery(t)
		for i := range 2 {
			if _, err := r.Approve(f.split, f.approval(t, i, r.ID, share, t0), share, t0, never); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	reconstructed := func(t *testing.T) *recovery.Recovery {
		r := approved(t)
		if err := r.Reconstructed(r.NotBefore); err != nil {
			t.Fatal(err)
		}
		return r
	}
	newKey, _ := crypto.GenerateKey()
	newAddr := crypto.PubkeyToAddress(newKey.PublicKey)
	rotated := func(t *testing.T) *recovery.Recovery {
		r := reconstructed(t)
		if err := r.Successor("key-2", newAddr, recovery.TxPlan{}); err != nil {
			t.Fatal(err)
		}
		if err := r.Rotated(1337, "0xabc", []byte{1}, 0, r.NotBefore); err != nil {
			t.Fatal(err)
		}
		return r
	}
	cancelled := func(t *testing.T) *recovery.Recovery {
		r := approved(t)
		if err := r.Cancel("operator:owner", "not me", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		return r
	}
	late := t0.Add(1000 * time.Hour)
	for _, c := range []struct {
		name  string
		start func(*testing.T) *recovery.Recovery
		do    func(*recovery.Recovery) error
		want  error
	}{
		{"delay below minimum", nil, func(*recovery.Recovery) error {
			_, err := recovery.NewRecovery(f.split, "r", "op", t0, 23*time.Hour, 24*time.Hour, "c", cpub)
			return err
		}, recovery.ErrDelayTooShort},
		{"delay above maximum", nil, func(*recovery.Recovery) error {
			_, err := recovery.NewRecovery(f.split, "r", "op", t0, recovery.MaxDelay+time.Hour, 24*time.Hour, "c", cpub)
			return err
		}, recovery.ErrInvalid},
		{"delay at minimum", nil, func(*recovery.Recovery) error {
			_, err := recovery.NewRecovery(f.split, "r", "op", t0, 24*time.Hour, 24*time.Hour, "c", cpub)
			return err
		}, nil},
		{"cancel while requested", f.recovery, func(r *recovery.Recovery) error { return r.Cancel("op", "", t0) }, nil},
		{"cancel during the delay", approved, func(r *recovery.Recovery) error { return r.Cancel("op", "", r.NotBefore.Add(-time.Second)) }, nil},
		{"cancel after the delay, before reconstruction", approved, func(r *recovery.Recovery) error { return r.Cancel("op", "", late) }, nil},
		{"reconstruct while requested", f.recovery, func(r *recovery.Recovery) error { return r.Reconstructed(late) }, recovery.ErrQuorum},
		{"reconstruct during the delay", approved, func(r *recovery.Recovery) error { return r.Reconstructed(r.NotBefore.Add(-time.Nanosecond)) }, recovery.ErrTooEarly},
		{"rotate before reconstruction", approved, func(r *recovery.Recovery) error { return r.Successor("key-2", newAddr, recovery.TxPlan{}) }, recovery.ErrState},
		{"cancel after reconstruction", reconstructed, func(r *recovery.Recovery) error { return r.Cancel("op", "", late) }, recovery.ErrState},
		{"approve after quorum", approved, func(r *recovery.Recovery) error {
			_, err := r.Approve(f.split, f.approval(t, 2, r.ID, share, t0), share, t0, never)
			return err
		}, recovery.ErrState},
		{"rotate to the same key", reconstructed, func(r *recovery.Recovery) error { return r.Successor("key-1", r.Address, recovery.TxPlan{}) }, recovery.ErrInvalid},
		{"finish rotation without a new key", reconstructed, func(r *recovery.Recovery) error { return r.Rotated(1, "0x", nil, 0, late) }, recovery.ErrState},
		{"second successor", func(t *testing.T) *recovery.Recovery {
			r := reconstructed(t)
			_ = r.Successor("key-2", newAddr, recovery.TxPlan{})
			return r
		}, func(r *recovery.Recovery) error { return r.Successor("key-3", newAddr, recovery.TxPlan{}) }, recovery.ErrState},
		{"rotated: cancel", rotated, func(r *recovery.Recovery) error { return r.Cancel("op", "", late) }, recovery.ErrState},
		{"rotated: reconstruct", rotated, func(r *recovery.Recovery) error { return r.Reconstructed(late) }, recovery.ErrState},
		{"rotated: rotate again", rotated, func(r *recovery.Recovery) error { return r.Successor("key-2", newAddr, recovery.TxPlan{}) }, recovery.ErrState},
		{"rotated: finish again", rotated, func(r *recovery.Recovery) error { return r.Rotated(1, "0x", nil, 0, late) }, recovery.ErrState},
		{"rotated: approve", rotated, func(r *recovery.Recovery) error {
			_, err := r.Approve(f.split, f.approval(t, 2, r.ID, share, t0), share, t0, never)
			return err
		}, recovery.ErrState},
		{"cancelled: cancel", cancelled, func(r *recovery.Recovery) error { return r.Cancel("op", "", late) }, recovery.ErrState},
		{"cancelled: reconstruct", cancelled, func(r *recovery.Recovery) error { return r.Reconstructed(late) }, recovery.ErrState},
		{"cancelled: approve", cancelled, func(r *recovery.Recovery) error {
			_, err := r.Approve(f.split, f.approval(t, 2, r.ID, share, t0), share, t0, never)
			return err
		}, recovery.ErrState},
		{"cancelled: rotate", cancelled, func(r *recovery.Recovery) error { return r.Successor("key-2", newAddr, recovery.TxPlan{}) }, recovery.ErrState},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r *recovery.Recovery
			before := ""
			if c.start != nil {
				r = c.start(t)
				before = snapshot(t, r)
			}
			err := c.do(r)
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if r != nil && snapshot(t, r) != before {
				t.Fatalf("a refused transition changed the recovery:\n%s\n%s", before, snapshot(t, r))
			}
		})
	}
	if !recovery.StateRotated.Terminal() || !recovery.StateCancelled.Terminal() || recovery.StateDelaying.Terminal() {
		t.Fatal("terminal states")
	}
}

// TestRecoveryApprovalsRefused: every bad approval is refused with its error and leaves
// the recovery unchanged.
func TestRecoveryApprovalsRefused(t *testing.T) {
	f := newFixture(t, 2, 3)
	share := []byte("ciphertext")
	now := t0.Add(time.Minute)
	outsider, _ := crypto.GenerateKey()
	for _, c := range []struct {
		name  string
		mod   func(a recovery.Approval) recovery.Approval
		share []byte
		seen  recovery.Seen
		want  error
	}{
		{"expired", func(a recovery.Approval) recovery.Approval {
			a.Expires = now.Add(-time.Second)
			a, _ = a.Sign(f.keys[0])
			return a
		}, share, never, recovery.ErrExpired},
		{"expiry too far", func(a recovery.Approval) recovery.Approval {
			a.Expires = now.Add(recovery.MaxApprovalTTL + time.Hour)
			a, _ = a.Sign(f.keys[0])
			return a
		}, share, never, recovery.ErrInvalid},
		{"replayed nonce", nil, share, func(string, string, string) (bool, error) { return true, nil }, recovery.ErrReplay},
		{"forged: signed by another key", func(a recovery.Approval) recovery.Approval { a, _ = a.Sign(outsider); return a }, share, never, recovery.ErrBadSignature},
		{"forged: signature of another statement", func(a recovery.Approval) recovery.Approval { a.Nonce += "x"; return a }, share, never, recovery.ErrBadSignature},
		{"truncated signature", func(a recovery.Approval) recovery.Approval { a.Signature = a.Signature[:64]; return a }, share, never, recovery.ErrBadSignature},
		{"share swapped", nil, []byte("another ciphertext"), never, recovery.ErrBadSignature},
		{"no share", nil, nil, never, recovery.ErrInvalid},
		{"not a guardian", func(a recovery.Approval) recovery.Approval {
			a.GuardianID = "guardian:mallory"
			a, _ = a.Sign(outsider)
			return a
		}, share, never, recovery.ErrNotGuardian},
		{"other recovery", func(a recovery.Approval) recovery.Approval {
			a.Target = "rec-2"
			a, _ = a.Sign(f.keys[0])
			return a
		}, share, never, recovery.ErrWrongTarget},
		{"freeze vote as approval", func(a recovery.Approval) recovery.Approval {
			a.Action = recovery.ActionFreeze
			a, _ = a.Sign(f.keys[0])
			return a
		}, share, never, recovery.ErrWrongTarget},
		{"empty nonce", func(a recovery.Approval) recovery.Approval {
			a.Nonce = ""
			a, _ = a.Sign(f.keys[0])
			return a
		}, share, never, recovery.ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := f.recovery(t)
			before := snapshot(t, r)
			a := f.approval(t, 0, r.ID, share, now)
			if c.mod != nil {
				a = c.mod(a)
			}
			if _, err := r.Approve(f.split, a, c.share, now, c.seen); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if snapshot(t, r) != before {
				t.Fatal("a refused approval changed the recovery")
			}
		})
	}
	t.Run("same guardian twice", func(t *testing.T) {
		f := newFixture(t, 3, 3)
		r := f.recovery(t)
		if _, err := r.Approve(f.split, f.approval(t, 1, r.ID, share, now), share, now, never); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Approve(f.split, f.approval(t, 1, r.ID, share, now.Add(time.Second)), share, now, never); !errors.Is(err, recovery.ErrDuplicate) {
			t.Fatalf("got %v, want ErrDuplicate", err)
		}
	})
}

func (f *fixture) vote(t *testing.T, i int, action recovery.Action, epoch uint64, now time.Time) recovery.Approval {
	t.Helper()
	a, err := recovery.Approval{Action: action, KeyID: f.split.KeyID, Target: recovery.EpochTarget(epoch),
		GuardianID: f.split.Guardians[i].ID, Nonce: fmt.Sprintf("v-%d-%d", i, now.UnixNano()), Expires: now.Add(time.Hour)}.Sign(f.keys[i])
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRecoveryFreezeByQuorum: a quorum of unexpired votes freezes, a frozen key is not
// usable, votes for the wrong state or epoch and repeated votes are refused, and a
// quorum unfreezes.
func TestRecoveryFreezeByQuorum(t *testing.T) {
	f := newFixture(t, 2, 3)
	k := recovery.KeyStatus{KeyID: f.split.KeyID}
	if err := k.Usable(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Vote(f.split, f.vote(t, 0, recovery.ActionUnfreeze, 0, t0), t0, never); !errors.Is(err, recovery.ErrState) {
		t.Fatalf("unfreeze an active key: %v", err)
	}
	if flipped, err := k.Vote(f.split, f.vote(t, 0, recovery.ActionFreeze, 0, t0), t0, never); err != nil || flipped {
		t.Fatalf("first vote: %v %v", flipped, err)
	}
	if _, err := k.Vote(f.split, f.vote(t, 0, recovery.ActionFreeze, 0, t0.Add(time.Second)), t0.Add(time.Second), never); !errors.Is(err, recovery.ErrDuplicate) {
		t.Fatalf("second vote of one guardian: %v", err)
	}
	if _, err := k.Vote(f.split, f.vote(t, 1, recovery.ActionFreeze, 7, t0), t0, never); !errors.Is(err, recovery.ErrWrongTarget) {
		t.Fatalf("vote for another epoch: %v", err)
	}
	// The first vote expired: the second alone is no quorum.
	later := t0.Add(2 * time.Hour)
	if flipped, err := k.Vote(f.split, f.vote(t, 1, recovery.ActionFreeze, 0, later), later, never); err != nil || flipped || k.Frozen {
		t.Fatalf("vote after the first expired: flipped %v %v", flipped, err)
	}
	if flipped, err := k.Vote(f.split, f.vote(t, 2, recovery.ActionFreeze, 0, later), later, never); err != nil || !flipped || !k.Frozen || k.Epoch != 1 {
		t.Fatalf("quorum: flipped %v %v %+v", flipped, err, k)
	}
	if err := k.Usable(); !errors.Is(err, recovery.ErrFrozen) {
		t.Fatalf("frozen key usable: %v", err)
	}
	if _, err := k.Vote(f.split, f.vote(t, 0, recovery.ActionFreeze, 1, later), later, never); !errors.Is(err, recovery.ErrState) {
		t.Fatalf("freeze a frozen key: %v", err)
	}
	for i, want := range []bool{false, true} {
		if flipped, err := k.Vote(f.split, f.vote(t, i, recovery.ActionUnfreeze, 1, later), later, never); err != nil || flipped != want {
			t.Fatalf("unfreeze vote %d: %v %v", i, flipped, err)
		}
	}
	if err := k.Usable(); err != nil || k.Epoch != 2 {
		t.Fatalf("after unfreeze: %v %+v", err, k)
	}
	k.Retired = true
	if err := k.Usable(); !errors.Is(err, recovery.ErrRetired) {
		t.Fatalf("retired: %v", err)
	}
}

func TestRecoveryCheckSplit(t *testing.T) {
	f := newFixture(t, 2, 3)
	g := f.split.Guardians
	for _, c := range []struct {
		name string
		t    int
		gs   []recovery.Guardian
	}{
		{"threshold 1", 1, g},
		{"threshold above n", 4, g},
		{"duplicate guardian", 2, append(g[:2:2], g[0])},
	} {
		if err := recovery.CheckSplit(c.t, c.gs); !errors.Is(err, recovery.ErrInvalid) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := recovery.NewGuardian("guardian:x", []byte{1, 2, 3}); !errors.Is(err, recovery.ErrInvalid) {
		t.Errorf("bad public key: %v", err)
	}
	if _, err := recovery.NewGuardian("has space", crypto.FromECDSAPub(&f.keys[0].PublicKey)); !errors.Is(err, recovery.ErrInvalid) {
		t.Errorf("bad id: %v", err)
	}
}
