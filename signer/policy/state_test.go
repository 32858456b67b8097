package policy

import (
	"bufio"
	"context"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// states returns a fresh MemState and a fresh PebbleState, closed at the end of the test.
func states(t *testing.T) []State {
	t.Helper()
	ps, err := OpenPebbleState(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ps.Close(); err != nil {
			t.Error(err)
		}
	})
	return []State{NewMemState(), ps}
}

// TestStateSemantics holds both implementations to the State contract.
func TestStateSemantics(t *testing.T) {
	ctx := context.Background()
	for _, st := range states(t) {
		t.Run(fmt.Sprintf("%T", st), func(t *testing.T) {
			evs := []Event{
				event("a", "k1", addrA, "ETH", eth(1), t0),
				event("b", "k1", addrB, "ETH", eth(2), t0.Add(time.Minute)),
				event("c", "k1", addrA, usdc, big.NewInt(7), t0.Add(2*time.Minute)),
				event("d", "k2", addrA, "ETH", eth(4), t0.Add(3*time.Minute)),
				event("e", "k2", "", "ETH", eth(8), t0.Add(4*time.Minute)),
				event("a", "k1", addrA, "ETH", eth(100), t0.Add(5*time.Minute)), // replay of a: ignored
			}
			for _, ev := range evs {
				if err := st.Record(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				k     WindowKey
				since time.Time
				amt   *big.Int
				n     int
			}{
				{WindowKey{Scope: ScopeKey, Subject: "k1", Asset: "ETH"}, t0.Add(-1), eth(3), 2},
				{WindowKey{Scope: ScopeKey, Subject: "k1", Asset: "ETH"}, t0, eth(2), 1}, // since is exclusive
				{WindowKey{Scope: ScopeKey, Subject: "k1", Asset: ""}, t0.Add(-1), big.NewInt(0), 3},
				{WindowKey{Scope: ScopeKey, Subject: "k1", Asset: usdc}, t0.Add(-1), big.NewInt(7), 1},
				{WindowKey{Scope: ScopeKey, Subject: "k2", Asset: "ETH"}, t0.Add(-1), eth(12), 2},
				{WindowKey{Scope: ScopeKey, Subject: "k", Asset: "ETH"}, t0.Add(-1), big.NewInt(0), 0},
				{WindowKey{Scope: ScopeDestination, Subject: addrA, Asset: "ETH"}, t0.Add(-1), eth(5), 2},
				{WindowKey{Scope: ScopeDestination, Subject: addrA, Asset: ""}, t0.Add(-1), big.NewInt(0), 3},
				{WindowKey{Scope: ScopeDestination, Subject: addrB, Asset: ""}, t0.Add(time.Minute), big.NewInt(0), 0},
				{WindowKey{Scope: ScopeDestination, Subject: "", Asset: ""}, time.Time{}, big.NewInt(0), 0},
			} {
				amt, n, err := st.Usage(ctx, tc.k, tc.since)
				if err != nil || amt.Cmp(tc.amt) != 0 || n != tc.n {
					t.Errorf("Usage(%+v, %s) = %s, %d, %v; want %s, %d", tc.k, tc.since, amt, n, err, tc.amt, tc.n)
				}
			}
			if err := st.Prune(ctx, t0.Add(3*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, n, _ := st.Usage(ctx, WindowKey{Scope: ScopeKey, Subject: "k1", Asset: ""}, time.Time{}); n != 0 {
				t.Errorf("k1 after prune: %d events", n)
			}
			if _, n, _ := st.Usage(ctx, WindowKey{Scope: ScopeKey, Subject: "k2", Asset: ""}, time.Time{}); n != 2 {
				t.Errorf("k2 after prune: %d events, want 2", n)
			}
			if _, n, _ := st.Usage(ctx, WindowKey{Scope: ScopeDestination, Subject: addrA, Asset: ""}, time.Time{}); n != 1 {
				t.Errorf("addrA after prune: %d events, want 1", n)
			}
			for _, bad := range []Event{
				event("", "k1", addrA, "ETH", eth(1), t0),
				event("x", "", addrA, "ETH", eth(1), t0),
				event("x", "k1", addrA, "", eth(1), t0),
				event("x", "k1", addrA, "ETH", big.NewInt(-1), t0),
				event("x", "k1", addrA, "ETH", nil, t0),
				event("x", "k1", addrA, "ETH", eth(1), time.Time{}),
			} {
				if err := st.Record(ctx, bad); err == nil {
					t.Errorf("Record(%+v) accepted", bad)
				}
			}
		})
	}
}

// TestPebbleStateReopen: recorded usage is there after closing and reopening.
func TestPebbleStateReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := OpenPebbleState(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := st.Record(ctx, event(fmt.Sprint("r", i), "k1", addrA, "ETH", eth(int64(i)), t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = OpenPebbleState(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	amt, n, err := st.Usage(ctx, WindowKey{Scope: ScopeKey, Subject: "k1", Asset: "ETH"}, t0.Add(-time.Second))
	if err != nil || n != 5 || amt.Cmp(eth(10)) != 0 {
		t.Fatalf("after reopen: %s, %d, %v; want 10 ETH in 5", amt, n, err)
	}
	// Idempotency survives too.
	if err := st.Record(ctx, event("r0", "k1", addrA, "ETH", eth(50), t0)); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := st.Usage(ctx, WindowKey{Scope: ScopeKey, Subject: "k1", Asset: "ETH"}, t0.Add(-time.Second)); n != 5 {
		t.Fatalf("replay after reopen counted: %d", n)
	}
}

const childDirEnv = "WEIR_POLICY_STATE_CHILD_DIR"

// TestPebbleStateSurvivesKill records usage in a child process, SIGKILLs it right after
// the last Record returned, and finds every recorded event on reopening.
func TestPebbleStateSurvivesKill(t *testing.T) {
	const n = 20
	if dir := os.Getenv(childDirEnv); dir != "" {
		st, err := OpenPebbleState(dir, nil)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		for i := range n {
			if err := st.Record(context.Background(), event(fmt.Sprint("r", i), "k1", addrA, "ETH", eth(1), t0)); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
		}
		fmt.Println("recorded")
		select {} // wait for the kill
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPebbleStateSurvivesKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "recorded" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	st, err := OpenPebbleState(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	amt, got, err := st.Usage(context.Background(), WindowKey{Scope: ScopeKey, Subject: "k1", Asset: "ETH"}, t0.Add(-time.Second))
	if err != nil || got != n || amt.Cmp(eth(n)) != 0 {
		t.Fatalf("after SIGKILL: %s in %d, %v; want %d ETH in %d", amt, got, err, n, n)
	}
}

func TestEventKeysOrder(t *testing.T) {
	// Negative and positive UnixNano sort in time order once the sign bit is flipped.
	times := []time.Time{time.Unix(-10, 0), time.Unix(0, 0), time.Unix(0, 1), t0, t0.Add(time.Hour)}
	for i := 1; i < len(times); i++ {
		if string(timeKey(times[i-1])) >= string(timeKey(times[i])) {
			t.Fatalf("timeKey(%s) >= timeKey(%s)", times[i-1], times[i])
		}
	}
	if got := successor([]byte{1, 0xff}); string(got) != string([]byte{2}) {
		t.Fatalf("successor = %v", got)
	}
	ev := event("x", "k", addrA, usdc, maxUint256, t0)
	back, err := decodeEvent(encodeEvent(ev))
	if err != nil || back.KeyID != "k" || back.To != addrA || back.Asset != usdc || back.Amount.Cmp(maxUint256) != 0 {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if _, err := decodeEvent([]byte{5, 'a'}); err == nil {
		t.Fatal("corrupt record decoded")
	}
}

// TestUsageExcept: the excepted request id is left out of the usage.
func TestUsageExcept(t *testing.T) {
	ctx := context.Background()
	for _, st := range states(t) {
		for _, ev := range []Event{event("a", "k1", addrA, "ETH", eth(1), t0), event("b", "k1", addrA, "ETH", eth(2), t0)} {
			if err := st.Record(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		for _, scope := range []WindowKey{{Scope: ScopeKey, Subject: "k1"}, {Scope: ScopeDestination, Subject: addrA}} {
			k := scope
			k.Asset, k.Except = "ETH", "b"
			amt, n, err := st.Usage(ctx, k, time.Time{})
			if err != nil || n != 1 || amt.Cmp(eth(1)) != 0 {
				t.Errorf("%T %+v: %s, %d, %v", st, k, amt, n, err)
			}
		}
	}
}
