package recovery_test

import (
	"errors"
	"testing"
	"time"

	"github.com/weirhq/weir/signer/recovery"
)

// TestRecoveryStoreSurvivesReopen: what an Update committed — a split, a ceremony
// mid-way, a used nonce, the outbox — is there after the store is closed and reopened;
// an Update that fails writes nothing; Flush delivers and deletes the outbox.
func TestRecoveryStoreSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, 2, 3)
	st, err := recovery.Open(dir, recovery.WithMinDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := f.recovery(t)
	share := []byte("ct")
	a := f.approval(t, 0, r.ID, share, t0)
	if err := st.Update(func(tx *recovery.Tx) error {
		tx.PutSplit(f.split)
		if _, err := r.Approve(f.split, a, share, t0, tx.Seen); err != nil {
			return err
		}
		tx.UseNonce(a.KeyID, a.GuardianID, a.Nonce, a.Expires)
		tx.PutRecovery(r)
		tx.Emit("signer.recovery", r.KeyID, []byte("event-1"))
		tx.Emit("signer.audit", r.KeyID, []byte("event-2"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := st.Update(func(tx *recovery.Tx) error {
		tx.PutKeyStatus(recovery.KeyStatus{KeyID: r.KeyID, Frozen: true})
		tx.Emit("signer.audit", r.KeyID, []byte("never"))
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = recovery.Open(dir, recovery.WithMinDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.MinDelay() != time.Hour {
		t.Fatal(st.MinDelay())
	}
	got, err := st.Recovery(r.ID)
	if err != nil || got.State != recovery.StateRequested || len(got.Approvals) != 1 || string(got.Approvals[0].Share) != "ct" {
		t.Fatalf("recovery after reopen: %+v %v", got, err)
	}
	if sp, err := st.Split(f.split.KeyID); err != nil || sp.Threshold != 2 || len(sp.Guardians) != 3 {
		t.Fatalf("split after reopen: %+v %v", sp, err)
	}
	if seen, err := st.Seen(a.KeyID, a.GuardianID, a.Nonce); err != nil || !seen {
		t.Fatalf("nonce after reopen: %v %v", seen, err)
	}
	if err := st.Usable(r.KeyID); err != nil {
		t.Fatalf("a failed Update froze the key: %v", err)
	}
	if _, err := st.Recovery("nope"); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := st.Split("nope"); !errors.Is(err, recovery.ErrNoSplit) {
		t.Fatal(err)
	}
	// The outbox: delivered in order, kept on failure, deleted on success.
	if err := st.Flush(func([]recovery.OutboxEntry) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	var delivered []string
	if err := st.Flush(func(es []recovery.OutboxEntry) error {
		for _, e := range es {
			delivered = append(delivered, e.Topic+":"+string(e.Value))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(delivered) != 2 || delivered[0] != "signer.recovery:event-1" || delivered[1] != "signer.audit:event-2" {
		t.Fatalf("delivered %v", delivered)
	}
	if out, err := st.Outbox(); err != nil || len(out) != 0 {
		t.Fatalf("outbox after flush: %v %v", out, err)
	}
	// New entries after a reopen get later sequence numbers.
	if err := st.Update(func(tx *recovery.Tx) error { tx.Emit("t", "k", []byte("3")); return nil }); err != nil {
		t.Fatal(err)
	}
	if out, err := st.Outbox(); err != nil || len(out) != 1 || out[0].Seq < 2 {
		t.Fatalf("outbox %v %v", out, err)
	}
	// Pruning forgets only expired nonces.
	if err := st.PruneNonces(a.Expires.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if seen, _ := st.Seen(a.KeyID, a.GuardianID, a.Nonce); !seen {
		t.Fatal("pruned an unexpired nonce")
	}
	if err := st.PruneNonces(a.Expires.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if seen, _ := st.Seen(a.KeyID, a.GuardianID, a.Nonce); seen {
		t.Fatal("expired nonce kept")
	}
}
