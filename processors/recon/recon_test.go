package recon

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/processors/stream"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"

	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	reconv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
)

const (
	requiresPayment = paymentsv1.IntentState_INTENT_STATE_REQUIRES_PAYMENT
	canceled        = paymentsv1.IntentState_INTENT_STATE_CANCELED
)

// TestMatched: a transfer of exactly the amount to the deposit address matches, with
// every field of the result set.
func TestMatched(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("matched")
	s.produce(s.intent("pi_m", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.settle()
	rec, tid := s.transfer(transferSpec{name: "m1", to: dep, value: "1000", block: 10, at: base.Add(time.Minute)})
	other, _ := s.transfer(transferSpec{name: "noise", to: addr("not-ours"), value: "1000", block: 10, at: base.Add(time.Minute)})
	s.produce(rec, other)
	got := s.expect(map[string][]string{
		"pi_m": {"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1"},
	})
	r := got["pi_m"][0]
	if r.GetMerchantId() != "m_1" || r.GetChainId() != 1 || r.GetDepositAddress() != dep ||
		r.GetSubject() != reconv1.ReconSubject_RECON_SUBJECT_INTENT || r.GetExpected().GetValue() != "1000" ||
		r.GetExpected().GetAsset() != "ETH" || r.GetReceived().GetDecimals() != 18 ||
		r.GetTransferEventIds()[0] != tid || len(r.GetTransactionHashes()) != 1 || r.GetTransactionHashes()[0] != txHash("m1") ||
		r.GetConfirmations() != 1 || r.GetIntentEventId() == "" || r.GetMeta().GetSource() != source ||
		!r.GetMeta().GetEventTime().AsTime().Equal(base.Add(time.Minute)) {
		t.Errorf("result fields: %v", r)
	}
}

// TestUnderpaidThenTopUp: a partial payment is UNDERPAID with the shortfall; the top-up
// makes it MATCHED over both transfers.
func TestUnderpaidThenTopUp(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("under")
	s.produce(s.intent("pi_u", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.settle()
	r1, _ := s.transfer(transferSpec{name: "u1", to: dep, value: "400", block: 10, at: base.Add(time.Minute)})
	s.produce(r1)
	s.expect(map[string][]string{
		"pi_u": {"v1 UNDERPAID intent.partial_amount recv=400 diff=600 final=false transfers=1"},
	})
	r2, _ := s.transfer(transferSpec{name: "u2", to: dep, value: "600", block: 11, at: base.Add(2 * time.Minute)})
	s.produce(r2)
	got := s.expect(map[string][]string{
		"pi_u": {
			"v1 UNDERPAID intent.partial_amount recv=400 diff=600 final=false transfers=1",
			"v2 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=2",
		},
	})
	if h := got["pi_u"][1].GetTransactionHashes(); len(h) != 2 || h[0] != txHash("u1") || h[1] != txHash("u2") {
		t.Errorf("transaction hashes %v", h)
	}
}

// TestOverpaid: more than the amount is OVERPAID with the excess.
func TestOverpaid(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("over")
	s.produce(s.intent("pi_o", "m_2", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.settle()
	r, _ := s.transfer(transferSpec{name: "o1", to: dep, value: "1500", block: 10, at: base.Add(time.Minute)})
	s.produce(r)
	s.expect(map[string][]string{
		"pi_o": {"v1 OVERPAID intent.excess_amount recv=1500 diff=500 final=false transfers=1"},
	})
}

// TestLate: funds whose event time is after the expiry expire the intent first
// (MISSING) and are LATE.
func TestLate(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("late")
	s.produce(s.intent("pi_l", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(10*time.Minute))))
	s.settle()
	r, _ := s.transfer(transferSpec{name: "l1", to: dep, value: "1000", block: 10, at: base.Add(20 * time.Minute)})
	s.produce(r)
	s.expect(map[string][]string{
		"pi_l": {
			"v1 MISSING intent.expired_unpaid recv=0 diff=1000 final=true transfers=0",
			"v2 LATE intent.after_expiry recv=1000 diff= final=false transfers=1",
		},
	})
}

// TestDuplicate: a further payment to an intent paid in full is DUPLICATE.
func TestDuplicate(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("dup")
	s.produce(s.intent("pi_d", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.settle()
	r1, _ := s.transfer(transferSpec{name: "d1", to: dep, value: "1000", block: 10, at: base.Add(time.Minute)})
	r2, _ := s.transfer(transferSpec{name: "d2", to: dep, value: "1000", block: 12, at: base.Add(2 * time.Minute)})
	s.produce(r1, r2)
	s.expect(map[string][]string{
		"pi_d": {
			"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1",
			"v2 DUPLICATE intent.already_paid recv=1000 diff= final=false transfers=1",
		},
	})
}

// TestUnexpected: a transfer to a deposit address whose intent was canceled is
// UNEXPECTED, a subject of its own; a transfer to an address no intent used is not
// reconciled at all.
func TestUnexpected(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("unexp")
	s.produce(s.intent("pi_x", "m_3", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.produce(s.intent("pi_x", "m_3", dep, "1000", 2, canceled, base.Add(time.Second)))
	s.settle()
	r, tid := s.transfer(transferSpec{name: "x1", to: dep, value: "77", block: 10, at: base.Add(time.Minute)})
	noise, _ := s.transfer(transferSpec{name: "x2", to: addr("stranger"), value: "77", block: 10, at: base.Add(time.Minute)})
	s.produce(r, noise)
	got := s.expect(map[string][]string{
		tid: {"v1 UNEXPECTED transfer.no_open_intent recv=77 diff= final=false transfers=1"},
	})
	if u := got[tid][0]; u.GetIntentId() != "" || u.GetMerchantId() != "m_3" || u.GetExpected() != nil ||
		u.GetSubject() != reconv1.ReconSubject_RECON_SUBJECT_TRANSFER || u.GetDepositAddress() != dep {
		t.Errorf("unexpected result: %v", u)
	}
}

// TestWrongAsset: funds in another asset are WRONG_ASSET, received in that asset, and
// do not count towards the amount.
func TestWrongAsset(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("wrong")
	s.produce(s.intent("pi_w", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.settle()
	r1, _ := s.transfer(transferSpec{name: "w1", to: dep, value: "1000", asset: usdc, block: 10, at: base.Add(time.Minute)})
	r2, _ := s.transfer(transferSpec{name: "w2", to: dep, value: "1000", block: 11, at: base.Add(2 * time.Minute)})
	s.produce(r1, r2)
	got := s.expect(map[string][]string{
		"pi_w": {
			"v1 WRONG_ASSET intent.wrong_asset recv=1000 diff= final=false transfers=1",
			"v2 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1",
		},
	})
	if a := got["pi_w"][0].GetReceived(); a.GetAsset() != usdc || a.GetDecimals() != 6 {
		t.Errorf("wrong-asset received %v", a)
	}
}

// TestMissing: an unpaid intent expires when the event-time watermark passes its
// expiry (here moved by chain blocks), not by the wall clock: the scenario's times are
// long past, yet nothing expires until a block's time passes the expiry.
func TestMissing(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("missing")
	s.produce(s.intent("pi_mi", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(10*time.Minute))))
	s.produce(s.block(1, 100, base.Add(5*time.Minute)))
	s.expect(map[string][]string{})
	s.produce(s.block(1, 101, base.Add(11*time.Minute)))
	s.expect(map[string][]string{
		"pi_mi": {"v1 MISSING intent.expired_unpaid recv=0 diff=1000 final=true transfers=0"},
	})
	// A payment stamped before the expiry that arrives after the intent expired is
	// LATE: the intent stays expired.
	r, _ := s.transfer(transferSpec{name: "mi1", to: dep, value: "1000", block: 99, at: base.Add(9 * time.Minute)})
	s.produce(r)
	s.expect(map[string][]string{
		"pi_mi": {
			"v1 MISSING intent.expired_unpaid recv=0 diff=1000 final=true transfers=0",
			"v2 LATE intent.after_expiry recv=1000 diff= final=false transfers=1",
		},
	})
}

// TestRetractedAndRematched: a reorg retracts the matched transfer (RETRACTED), and the
// transfer re-included in the new block matches again.
func TestRetractedAndRematched(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("reorg")
	s.produce(s.intent("pi_r", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.settle()
	r1, old := s.transfer(transferSpec{name: "r1", to: dep, value: "1000", block: 10, at: base.Add(time.Minute)})
	s.produce(r1)
	s.settle()
	s.produce(s.retraction(1, 10, base.Add(2*time.Minute), old, "some-other-event"))
	s.settle()
	r2, _ := s.transfer(transferSpec{name: "r1", to: dep, value: "1000", block: 10, fork: "b", at: base.Add(3 * time.Minute)})
	s.produce(r2)
	got := s.expect(map[string][]string{
		"pi_r": {
			"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1",
			"v2 RETRACTED chain.reorg_retracted recv=0 diff= final=false transfers=1",
			"v3 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1",
		},
	})
	if ids := got["pi_r"][1].GetTransferEventIds(); len(ids) != 1 || ids[0] != old {
		t.Errorf("retracted transfer ids %v, want [%s]", ids, old)
	}
}

// TestReorgRedeliveredFirst: the re-included transfer overtakes the retraction (they
// travel different topics): it is a DUPLICATE until the retraction undoes the first,
// and then it is what matches.
func TestReorgRedeliveredFirst(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("reorg2")
	s.produce(s.intent("pi_r2", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.settle()
	r1, old := s.transfer(transferSpec{name: "q1", to: dep, value: "1000", block: 10, at: base.Add(time.Minute)})
	r2, _ := s.transfer(transferSpec{name: "q1", to: dep, value: "1000", block: 10, fork: "b", at: base.Add(time.Minute)})
	s.produce(r1, r2)
	s.settle()
	s.produce(s.retraction(1, 10, base.Add(2*time.Minute), old))
	s.expect(map[string][]string{
		"pi_r2": {
			"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1",
			"v2 DUPLICATE intent.already_paid recv=1000 diff= final=false transfers=1",
			"v3 RETRACTED chain.reorg_retracted recv=1000 diff= final=false transfers=1",
			"v4 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1",
		},
	})
}

// TestFinalOnlyWhenFinalized: a match is not final (the gateway shows PROCESSING) until
// a finality marker covers its block; then it is re-emitted final.
func TestFinalOnlyWhenFinalized(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("final")
	s.produce(s.intent("pi_f", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.settle()
	r, _ := s.transfer(transferSpec{name: "f1", to: dep, value: "1000", block: 10, at: base.Add(time.Minute)})
	s.produce(r)
	s.produce(s.block(1, 11, base.Add(2*time.Minute)), s.finalized(1, 9, base.Add(2*time.Minute)))
	s.expect(map[string][]string{
		"pi_f": {"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1"},
	})
	s.produce(s.finalized(1, 10, base.Add(3*time.Minute)))
	got := s.expect(map[string][]string{
		"pi_f": {
			"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1",
			"v2 MATCHED intent.exact_amount recv=1000 diff=0 final=true transfers=1",
		},
	})
	if c := got["pi_f"][1].GetConfirmations(); c != 2 {
		t.Errorf("confirmations %d, want 2 (blocks 10 and 11)", c)
	}
}

// TestFinalByDepth: on a chain with a confirmation depth of 3, a match is final once
// three blocks (its own included) are on the chain; a transfer emitted FINALIZED is
// final at once.
func TestFinalByDepth(t *testing.T) {
	s := newScenario(t, func(c *Config) { c.Depths = map[uint64]uint64{5: 3} })
	dep, dep2 := addr("depth"), addr("depth-finalized")
	s.produce(s.intent("pi_d5", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour)), onChain(5)))
	s.produce(s.intent("pi_d6", "m_1", dep2, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour)), onChain(5)))
	s.settle()
	r, _ := s.transfer(transferSpec{name: "d5", to: dep, value: "1000", chain: 5, block: 10, at: base.Add(time.Minute)})
	r2, _ := s.transfer(transferSpec{name: "d6", to: dep2, value: "1000", chain: 5, block: 3, at: base.Add(time.Minute),
		conf: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED})
	s.produce(r, r2)
	s.produce(s.block(5, 11, base.Add(2*time.Minute)))
	s.expect(map[string][]string{
		"pi_d5": {"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1"},
		"pi_d6": {"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=true transfers=1"},
	})
	s.produce(s.block(5, 12, base.Add(3*time.Minute)))
	got := s.expect(map[string][]string{
		"pi_d5": {
			"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1",
			"v2 MATCHED intent.exact_amount recv=1000 diff=0 final=true transfers=1",
		},
		"pi_d6": {"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=true transfers=1"},
	})
	if c := got["pi_d5"][1].GetConfirmations(); c != 3 {
		t.Errorf("confirmations %d, want 3", c)
	}
}

// TestPayoutPending: a payout whose transaction is signed but not on the chain is
// PENDING; a payout not signed yet has no result.
func TestPayoutPending(t *testing.T) {
	s := newScenario(t, nil)
	s.produce(s.payout("po_p", "m_1", addr("dest-p"), "5000", "req_p", 1, base))
	s.produce(s.payout("po_unsigned", "m_1", addr("dest-u"), "5000", "req_u", 1, base))
	s.settle()
	s.produce(s.signed("req_p", txHash("po_p"), base.Add(time.Second)))
	got := s.expect(map[string][]string{
		"po_p": {"v1 PENDING payout.signed_not_mined recv= diff= final=false transfers=0"},
	})
	r := got["po_p"][0]
	if r.GetSubject() != reconv1.ReconSubject_RECON_SUBJECT_PAYOUT || r.GetSigningRequestId() != "req_p" ||
		r.GetIntentId() != "" || r.GetExpected().GetValue() != "5000" || r.GetDepositAddress() != addr("dest-p") {
		t.Errorf("pending result: %v", r)
	}
}

// TestPayoutMatched: the signed transaction's transfer of the amount to the payout's
// destination matches the payout.
func TestPayoutMatched(t *testing.T) {
	s := newScenario(t, nil)
	dest := addr("dest-m")
	s.produce(s.payout("po_m", "m_1", dest, "5000", "req_m", 1, base))
	s.produce(s.signed("req_m", txHash("po_m"), base.Add(time.Second)))
	s.settle()
	// A transfer to the destination in another transaction is not the payout's.
	other, _ := s.transfer(transferSpec{name: "other", to: dest, value: "5000", block: 20, at: base.Add(time.Minute)})
	r, _ := s.transfer(transferSpec{name: "po_m", to: dest, tx: txHash("po_m"), value: "5000", block: 20, at: base.Add(time.Minute)})
	s.produce(other, r)
	got := s.expect(map[string][]string{
		"po_m": {
			"v1 PENDING payout.signed_not_mined recv= diff= final=false transfers=0",
			"v2 MATCHED payout.mined_as_signed recv=5000 diff=0 final=false transfers=1",
		},
	})
	if h := got["po_m"][1].GetTransactionHashes(); len(h) != 1 || h[0] != txHash("po_m") {
		t.Errorf("transaction hashes %v", h)
	}
}

// TestPayoutFailed: the payout's transaction was mined and reverted: FAILED.
func TestPayoutFailed(t *testing.T) {
	s := newScenario(t, nil)
	dest := addr("dest-f")
	s.produce(s.payout("po_f", "m_1", dest, "5000", "req_f", 1, base))
	s.produce(s.signed("req_f", txHash("po_f"), base.Add(time.Second)))
	s.settle()
	s.produce(s.transaction(txHash("po_f"), 30, 2 /* FAILED */, base.Add(time.Minute)),
		s.transaction(txHash("unrelated"), 30, 2, base.Add(time.Minute)))
	got := s.expect(map[string][]string{
		"po_f": {
			"v1 PENDING payout.signed_not_mined recv= diff= final=false transfers=0",
			"v2 FAILED payout.reverted recv=0 diff= final=false transfers=0",
		},
	})
	if h := got["po_f"][1].GetTransactionHashes(); len(h) != 1 || h[0] != txHash("po_f") {
		t.Errorf("transaction hashes %v", h)
	}

	// The reversal overtakes the signed transaction (which travels three stages): it is
	// held, and the payout is FAILED as soon as it is signed.
	s.produce(s.payout("po_f2", "m_1", addr("dest-f2"), "5000", "req_f2", 1, base))
	s.produce(s.transaction(txHash("po_f2"), 31, 2, base.Add(2*time.Minute)))
	s.settle()
	s.produce(s.signed("req_f2", txHash("po_f2"), base.Add(time.Second)))
	s.expect(map[string][]string{
		"po_f": {
			"v1 PENDING payout.signed_not_mined recv= diff= final=false transfers=0",
			"v2 FAILED payout.reverted recv=0 diff= final=false transfers=0",
		},
		"po_f2": {"v1 FAILED payout.reverted recv=0 diff= final=false transfers=0"},
	})
}

// TestRestart stops the processor mid-stream and deletes its local state, so that the
// restart restores every stage from its changelogs: the second transfer completes the
// first (state restored), an expiry timer set before the stop fires after it, and no
// result is emitted twice.
func TestRestart(t *testing.T) {
	s := newScenario(t, nil)
	dep, dep2 := addr("restart"), addr("restart2")
	s.produce(s.intent("pi_s", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.produce(s.intent("pi_s2", "m_1", dep2, "1000", 1, requiresPayment, base, expires(base.Add(30*time.Minute))))
	s.settle()
	r1, _ := s.transfer(transferSpec{name: "s1", to: dep, value: "400", block: 10, at: base.Add(time.Minute)})
	s.produce(r1)
	s.expect(map[string][]string{
		"pi_s": {"v1 UNDERPAID intent.partial_amount recv=400 diff=600 final=false transfers=1"},
	})
	s.stop()
	if err := os.RemoveAll(s.cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	r2, _ := s.transfer(transferSpec{name: "s2", to: dep, value: "600", block: 11, at: base.Add(2 * time.Minute)})
	s.produce(r2, s.block(1, 12, base.Add(45*time.Minute)))
	s.start()
	s.expect(map[string][]string{
		"pi_s": {
			"v1 UNDERPAID intent.partial_amount recv=400 diff=600 final=false transfers=1",
			"v2 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=2",
		},
		"pi_s2": {"v1 MISSING intent.expired_unpaid recv=0 diff=1000 final=true transfers=0"},
	})
}

// TestKillNine runs the processor as a child process and kills it with SIGKILL twice
// while results are being written (once also deleting its local state, so that every
// stage restores from its changelogs alone): every intent still gets each of its
// results exactly once, in order, built on state from before the kills.
func TestKillNine(t *testing.T) {
	s := newScenarioWith(t, nil, false)
	const n = 30
	c := s.startChild()
	var intents, first, second, third []*kgo.Record
	want := map[string][]string{}
	for i := range n {
		id, dep := fmt.Sprintf("pi_k%02d", i), addr(fmt.Sprintf("kill-%d", i))
		intents = append(intents, s.intent(id, fmt.Sprintf("m_%d", i%4), dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
		at := base.Add(time.Duration(i) * time.Second)
		r, _ := s.transfer(transferSpec{name: id + "a", to: dep, value: "400", block: 10, at: at.Add(time.Minute)})
		first = append(first, r)
		r, _ = s.transfer(transferSpec{name: id + "b", to: dep, value: "600", block: 11, at: at.Add(2 * time.Minute)})
		second = append(second, r)
		r, _ = s.transfer(transferSpec{name: id + "c", to: dep, value: "1000", block: 12, at: at.Add(3 * time.Minute)})
		third = append(third, r)
		want[id] = []string{
			"v1 UNDERPAID intent.partial_amount recv=400 diff=600 final=false transfers=1",
			"v2 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=2",
			"v3 DUPLICATE intent.already_paid recv=1000 diff= final=false transfers=1",
			"v4 MATCHED intent.exact_amount recv=1000 diff=0 final=true transfers=2",
		}
	}
	s.produce(intents...)
	s.settle()
	s.produce(first...)
	s.waitResults(n / 3)
	c.Kill(t)

	if err := os.RemoveAll(s.cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	c = s.startChild()
	s.produce(second...)
	s.waitResults(n + n/3)
	c.Kill(t)

	c = s.startChild()
	s.produce(third...)
	s.settle()
	s.produce(s.finalized(1, 12, base.Add(10*time.Minute)))
	s.settle()
	c.Stop(t)
	s.expect(want)
}

// TestPayoutRetracted: a reorg retracts the payout's transfer: RETRACTED, and the
// transfer re-included matches again.
func TestPayoutRetracted(t *testing.T) {
	s := newScenario(t, nil)
	dest := addr("dest-r")
	s.produce(s.payout("po_r", "m_1", dest, "5000", "req_r", 1, base))
	s.produce(s.signed("req_r", txHash("po_r"), base.Add(time.Second)))
	s.settle()
	r, old := s.transfer(transferSpec{name: "po_r", to: dest, tx: txHash("po_r"), value: "5000", block: 20, at: base.Add(time.Minute)})
	s.produce(r)
	s.settle()
	s.produce(s.retraction(1, 20, base.Add(2*time.Minute), old))
	s.settle()
	r, _ = s.transfer(transferSpec{name: "po_r", to: dest, tx: txHash("po_r"), value: "5000", block: 20, fork: "b", at: base.Add(3 * time.Minute)})
	s.produce(r)
	s.expect(map[string][]string{
		"po_r": {
			"v1 PENDING payout.signed_not_mined recv= diff= final=false transfers=0",
			"v2 MATCHED payout.mined_as_signed recv=5000 diff=0 final=false transfers=1",
			"v3 RETRACTED chain.reorg_retracted recv=0 diff= final=false transfers=1",
			"v4 MATCHED payout.mined_as_signed recv=5000 diff=0 final=false transfers=1",
		},
	})
}

// TestPoisonRecords: records that do not decode or break the schema's rules go to
// their topic's DLQ with the error, and the partitions keep flowing.
func TestPoisonRecords(t *testing.T) {
	s := newScenario(t, nil)
	dep := addr("poison")
	s.produce(&kgo.Record{Topic: s.cfg.Intents, Key: []byte("m_1"), Value: []byte("not a protobuf")})
	bad, _ := s.transfer(transferSpec{name: "p0", to: dep, value: "1000", block: 10, at: base})
	bad.Value = bad.Value[:len(bad.Value)/2] // truncated
	s.produce(bad)
	s.produce(s.intent("pi_p", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.settle()
	r, _ := s.transfer(transferSpec{name: "p1", to: dep, value: "1000", block: 10, at: base.Add(time.Minute)})
	s.produce(r)
	s.expect(map[string][]string{
		"pi_p": {"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1"},
	})
	for _, topic := range []string{stream.DLQTopic(s.cfg.Intents), stream.DLQTopic(s.cfg.Transfers)} {
		recs := kafkatest.ReadCommitted(t, s.brokers, topic)
		if len(recs) != 1 {
			t.Errorf("%s: %d records, want 1", topic, len(recs))
			continue
		}
		var cause string
		for _, h := range recs[0].Headers {
			if h.Key == stream.HeaderError {
				cause = string(h.Value)
			}
		}
		if cause == "" {
			t.Errorf("%s: no %s header", topic, stream.HeaderError)
		}
	}
}

// TestHeldTransfers: a transfer that overtakes the intent or signed payout that
// explains it (they travel through more stages) is held and applied when they arrive;
// one from before the intent was created is not its payment; one whose hold ran out
// (by event time) is forgotten.
func TestHeldTransfers(t *testing.T) {
	s := newScenario(t, nil)
	dep, dest, gone := addr("held"), addr("held-dest"), addr("held-gone")
	before, _ := s.transfer(transferSpec{name: "h0", to: dep, value: "1000", block: 9, at: base.Add(-time.Minute)})
	paid, _ := s.transfer(transferSpec{name: "h1", to: dep, value: "1000", block: 10, at: base.Add(time.Minute)})
	payout, _ := s.transfer(transferSpec{name: "po_h", to: dest, tx: txHash("po_h"), value: "5000", block: 10, at: base.Add(time.Minute)})
	late, _ := s.transfer(transferSpec{name: "h2", to: gone, value: "1000", block: 10, at: base.Add(time.Minute)})
	s.produce(before, paid, payout, late)
	s.expect(map[string][]string{})

	s.produce(s.intent("pi_h", "m_1", dep, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.produce(s.payout("po_h", "m_1", dest, "5000", "req_h", 1, base))
	s.produce(s.signed("req_h", txHash("po_h"), base.Add(time.Second)))
	want := map[string][]string{
		"pi_h": {"v1 MATCHED intent.exact_amount recv=1000 diff=0 final=false transfers=1"},
		"po_h": {
			"v1 PENDING payout.signed_not_mined recv= diff= final=false transfers=0",
			"v2 MATCHED payout.mined_as_signed recv=5000 diff=0 final=false transfers=1",
		},
	}
	s.expect(want)

	s.produce(s.block(1, 20, base.Add(10*time.Minute)))
	s.settle()
	s.produce(s.intent("pi_gone", "m_1", gone, "1000", 1, requiresPayment, base, expires(base.Add(time.Hour))))
	s.expect(want)
}

// TestPayoutAmounts: the payout's transaction moving less than the payout is
// UNDERPAID; one moving another asset is WRONG_ASSET.
func TestPayoutAmounts(t *testing.T) {
	s := newScenario(t, nil)
	short, other := addr("dest-short"), addr("dest-other")
	s.produce(s.payout("po_short", "m_1", short, "5000", "req_short", 1, base),
		s.payout("po_other", "m_2", other, "5000", "req_other", 1, base))
	s.produce(s.signed("req_short", txHash("po_short"), base.Add(time.Second)),
		s.signed("req_other", txHash("po_other"), base.Add(time.Second)))
	s.settle()
	r1, _ := s.transfer(transferSpec{name: "po_short", to: short, tx: txHash("po_short"), value: "4000", block: 20, at: base.Add(time.Minute)})
	r2, _ := s.transfer(transferSpec{name: "po_other", to: other, tx: txHash("po_other"), value: "5000", asset: usdc, block: 20, at: base.Add(time.Minute)})
	s.produce(r1, r2)
	s.expect(map[string][]string{
		"po_short": {
			"v1 PENDING payout.signed_not_mined recv= diff= final=false transfers=0",
			"v2 UNDERPAID payout.amount_short recv=4000 diff=1000 final=false transfers=1",
		},
		"po_other": {
			"v1 PENDING payout.signed_not_mined recv= diff= final=false transfers=0",
			"v2 WRONG_ASSET payout.wrong_asset recv=5000 diff= final=false transfers=1",
		},
	})
}
