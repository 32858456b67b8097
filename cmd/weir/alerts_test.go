package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// alertsTopic creates a topic of its own for one test on the real Kafka and returns a
// function that produces alerts to it.
func alertsTopic(t *testing.T, brokers []string) (string, func(...*riskv1.RiskAlert)) {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	topic := "t" + hex.EncodeToString(suffix) + ".risk.alerts"
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 3, -1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, topic)
		cl.Close()
	})
	for {
		details, err := adm.ListTopics(ctx, topic)
		if err == nil && details.Error() == nil && len(details) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topic %s not visible: %v", topic, err)
		}
		time.Sleep(50 * time.Millisecond) // polling broker metadata, with a deadline
	}
	return topic, func(as ...*riskv1.RiskAlert) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, a := range as {
			b, err := proto.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			r := &kgo.Record{Topic: topic, Key: []byte(a.GetEntityId()), Value: b,
				Timestamp: a.GetMeta().GetEventTime().AsTime()}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
}

func testRiskAlert(entity string, sev riskv1.Severity, at time.Time, version uint64, suppressed uint32) *riskv1.RiskAlert {
	id := eventid.New("weir.risk.v1.RiskAlert", entity, "rule:velocity_1h", "subject-"+entity)
	return &riskv1.RiskAlert{
		Meta: &commonv1.Meta{EventId: eventid.New("weir.risk.v1.RiskAlert", id, fmt.Sprint(version)),
			EventTime: timestamppb.New(at), Source: "processors/alerts"},
		AlertId: id, Version: version, EntityType: riskv1.EntityType_ENTITY_TYPE_ADDRESS, EntityId: entity,
		Severity: sev, Status: riskv1.AlertStatus_ALERT_STATUS_OPEN, RuleId: "rule:velocity_1h",
		Summary:  "BLOCK rule:velocity_1h: VELOCITY; score 9120 bp",
		Reasons:  []*riskv1.Reason{{Code: "VELOCITY", RuleId: "rule:velocity_1h"}, {Code: "MODEL_SCORE"}},
		Decision: riskv1.Decision_DECISION_BLOCK, Suppressed: suppressed,
	}
}

// runAlertsCmd runs `weir alerts args…` in-process until it returns or ctx is done.
func runAlertsCmd(ctx context.Context, out, errOut *syncBuffer, args ...string) error {
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"alerts"}, args...))
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	return cmd.ExecuteContext(ctx)
}

// TestAlertsCommandPrintsRecent: without --follow, `weir alerts` prints the committed
// alerts one line each, oldest first, filtered by severity and entity, as text or JSON,
// and exits.
func TestAlertsCommandPrintsRecent(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic, produce := alertsTopic(t, brokers)
	now := time.Now().UTC().Truncate(time.Second)
	old := testRiskAlert("1:0xold", riskv1.Severity_SEVERITY_CRITICAL, now.Add(-30*time.Hour), 1, 0)
	high := testRiskAlert("1:0xa11", riskv1.Severity_SEVERITY_HIGH, now.Add(-10*time.Minute), 1, 0)
	high2 := testRiskAlert("1:0xa11", riskv1.Severity_SEVERITY_HIGH, now.Add(-5*time.Minute), 2, 4)
	low := testRiskAlert("1:0xb22", riskv1.Severity_SEVERITY_LOW, now.Add(-7*time.Minute), 1, 0)
	produce(old, high, low, high2)
	base := []string{"--brokers", strings.Join(brokers, ","), "--topic", topic}

	var out, errOut syncBuffer
	if err := runAlertsCmd(t.Context(), &out, &errOut, base...); err != nil {
		t.Fatalf("weir alerts: %v\n%s", err, errOut.String())
	}
	want := strings.Join([]string{
		now.Add(-10*time.Minute).Format(time.RFC3339) + "  HIGH      address 1:0xa11  rule:velocity_1h  VELOCITY,MODEL_SCORE  v1  BLOCK rule:velocity_1h: VELOCITY; score 9120 bp",
		now.Add(-7*time.Minute).Format(time.RFC3339) + "  LOW       address 1:0xb22  rule:velocity_1h  VELOCITY,MODEL_SCORE  v1  BLOCK rule:velocity_1h: VELOCITY; score 9120 bp",
		now.Add(-5*time.Minute).Format(time.RFC3339) + "  HIGH      address 1:0xa11  rule:velocity_1h  VELOCITY,MODEL_SCORE  v2+4  BLOCK rule:velocity_1h: VELOCITY; score 9120 bp",
	}, "\n") + "\n"
	if out.String() != want {
		t.Errorf("weir alerts (last 24h by default):\n%s\nwant:\n%s", out.String(), want)
	}

	out, errOut = syncBuffer{}, syncBuffer{}
	if err := runAlertsCmd(t.Context(), &out, &errOut, append(base, "--from-beginning", "--min-severity", "high")...); err != nil {
		t.Fatalf("weir alerts --from-beginning: %v", err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 3 || !strings.Contains(out.String(), "CRITICAL  address 1:0xold") {
		t.Errorf("--from-beginning --min-severity high: want the old CRITICAL and two HIGH lines:\n%s", out.String())
	}

	out, errOut = syncBuffer{}, syncBuffer{}
	if err := runAlertsCmd(t.Context(), &out, &errOut, append(base, "--since", "1h", "--entity", "1:0xa11", "--json", "--limit", "1")...); err != nil {
		t.Fatalf("weir alerts --json: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("--entity --json --limit 1: %d lines, want 1:\n%s", len(lines), out.String())
	}
	var got riskv1.RiskAlert
	if err := protojson.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("line is not a RiskAlert in JSON: %v\n%s", err, lines[0])
	}
	if !proto.Equal(&got, high2) {
		t.Errorf("JSON alert:\n got %v\nwant %v", &got, high2)
	}
	if !strings.Contains(lines[0], `"alert_id":"`) {
		t.Errorf("JSON does not use the protobuf field names: %s", lines[0])
	}
}

// TestAlertsCommandFollow: `weir alerts --follow` prints an alert raised after it
// started, skips the ones below --min-severity, and returns nil when its context is
// cancelled.
func TestAlertsCommandFollow(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic, produce := alertsTopic(t, brokers)
	now := time.Now().UTC().Truncate(time.Second)
	produce(testRiskAlert("1:0xbefore", riskv1.Severity_SEVERITY_CRITICAL, now.Add(-time.Minute), 1, 0))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runAlertsCmd(ctx, &out, &errOut, "--brokers", strings.Join(brokers, ","), "--topic", topic,
			"--follow", "--min-severity", "medium")
	}()
	waitFor(t, "the follow banner", func() bool { return strings.Contains(errOut.String(), "following "+topic) }, done)

	produce(testRiskAlert("1:0xlow", riskv1.Severity_SEVERITY_LOW, now, 1, 0),
		testRiskAlert("1:0xnew", riskv1.Severity_SEVERITY_CRITICAL, now, 1, 0))
	waitFor(t, "the new alert", func() bool { return strings.Contains(out.String(), "1:0xnew") }, done)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("weir alerts --follow returned %v after cancel, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("weir alerts --follow did not stop within 15s of its context's cancellation")
	}
	want := now.Format(time.RFC3339) + "  CRITICAL  address 1:0xnew  rule:velocity_1h  VELOCITY,MODEL_SCORE  v1  BLOCK rule:velocity_1h: VELOCITY; score 9120 bp\n"
	if out.String() != want {
		t.Errorf("followed output:\n%s\nwant (not the alert before it started, not the LOW one):\n%s", out.String(), want)
	}
}

// waitFor polls cond until it holds, failing after 30s or if the command returned.
func waitFor(t *testing.T, what string, cond func() bool, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("command returned (%v) before %s", err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling the command's output, with a deadline
	}
}
