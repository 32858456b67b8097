package alerts

import (
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// closer is a score that triggers nothing and moves entity's partition's watermark to
// base+offset, closing the suppression windows that ended before.
func closer(entity string, offset time.Duration) *riskv1.RiskScore {
	return score(entity, subject("closer-"+entity), offset, riskv1.Decision_DECISION_ALLOW)
}

// TestAlertRaisedForBlockScore: a BLOCK score raises one alert with exactly the fields
// of the design; ALLOW scores without rule reasons raise none; a sanctions reason is
// CRITICAL whatever the decision; a rule reason on an ALLOW score raises a LOW alert; an
// undecodable score goes to the DLQ and the partition keeps flowing.
func TestAlertRaisedForBlockScore(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.start(Config{})
	blockSubject := subject("aa01")
	poison := &kgo.Record{Topic: s.input, Key: []byte("1:0xaaa"), Value: []byte("not a score")}
	if err := s.cl.ProduceSync(t.Context(), poison).FirstErr(); err != nil {
		t.Fatal(err)
	}
	blockScore := score("1:0xaaa", blockSubject, 0, riskv1.Decision_DECISION_BLOCK, velocity, modelReason)
	blockScore.TransactionHash = "0x5e1f" // the scored transfer's transaction, named by the alert
	s.produce(
		blockScore,
		score("1:0xbbb", subject("bb01"), 0, riskv1.Decision_DECISION_ALLOW),
		score("1:0xccc", subject("cc01"), 0, riskv1.Decision_DECISION_ALLOW, modelReason),
		score("1:0xddd", subject("dd01"), 0, riskv1.Decision_DECISION_REVIEW, sanctioned, modelReason),
		score("1:0xeee", subject("ee01"), 0, riskv1.Decision_DECISION_ALLOW, velocity),
	)
	all := s.alerts()
	if len(all) != 3 {
		t.Fatalf("got %d alerts, want 3 (BLOCK, sanctions, rule on ALLOW): %v", len(all), all)
	}

	got := forEntity(all, "1:0xaaa")
	if len(got) != 1 {
		t.Fatalf("BLOCK score: %d alerts, want 1", len(got))
	}
	alertID := eventid.New("weir.risk.v1.RiskAlert", "1:0xaaa", "rule:velocity_1h", blockSubject)
	want := &riskv1.RiskAlert{
		Meta: &commonv1.Meta{
			EventId:   eventid.New("weir.risk.v1.RiskAlert", alertID, "1"),
			EventTime: timestamppb.New(base),
			Source:    "processors/alerts",
			TraceId:   "0af7651916cd43dd8448eb211c80319c",
		},
		AlertId:        alertID,
		Version:        1,
		EntityType:     riskv1.EntityType_ENTITY_TYPE_ADDRESS,
		EntityId:       "1:0xaaa",
		SubjectEventId: blockSubject,
		Severity:       riskv1.Severity_SEVERITY_HIGH,
		Status:         riskv1.AlertStatus_ALERT_STATUS_OPEN,
		RuleId:         "rule:velocity_1h",
		ScoreBp:        9120,
		Summary:        "BLOCK rule:velocity_1h: VELOCITY,MODEL_SCORE; score 9120 bp (threshold 7000 bp) by wallet_outflow_gbm",
		Reasons:        []*riskv1.Reason{velocity, modelReason},
		Evidence: []*riskv1.Feature{
			fixed("transfers_out_count_1h", 14, 0), // named by the velocity rule's detail
			{Name: "value_out_sum_1h", Value: &riskv1.Feature_Units{Units: "1500000000"}, Asset: "USDC"},
			fixed("account_age_days", 3, 0), // the model's contributions, in order
		},
		TransactionHashes:    []string{"0x5e1f"},
		ModelVersion:         "v7",
		SanctionsListVersion: "ofac-sdn:2026-11-20",
		Suppressed:           0,
		Decision:             riskv1.Decision_DECISION_BLOCK,
	}
	if !proto.Equal(want, got[0]) {
		t.Errorf("BLOCK alert:\n got %v\nwant %v", got[0], want)
	}

	sanc := forEntity(all, "1:0xddd")
	if len(sanc) != 1 {
		t.Fatalf("sanctions score: %d alerts, want 1", len(sanc))
	}
	if sanc[0].GetSeverity() != riskv1.Severity_SEVERITY_CRITICAL || sanc[0].GetRuleId() != "rule:sanctioned_counterparty" {
		t.Errorf("sanctions alert: severity %v rule %q, want CRITICAL rule:sanctioned_counterparty",
			sanc[0].GetSeverity(), sanc[0].GetRuleId())
	}
	var names []string
	for _, f := range sanc[0].GetEvidence() {
		names = append(names, f.GetName())
	}
	wantNames := []string{"new_counterparty_ratio_24h", "sanctioned_exposure_24h", "value_out_sum_1h", "account_age_days"}
	if !reflect.DeepEqual(wantNames, names) {
		t.Errorf("sanctions evidence %v, want %v", names, wantNames)
	}

	if dlq := kafkatest.ReadCommitted(t, s.brokers, stream.DLQTopic(s.input)); len(dlq) != 1 || string(dlq[0].Value) != "not a score" {
		t.Errorf("DLQ holds %d records, want the undecodable score", len(dlq))
	}

	low := forEntity(all, "1:0xeee")
	if len(low) != 1 || low[0].GetSeverity() != riskv1.Severity_SEVERITY_LOW || low[0].GetDecision() != riskv1.Decision_DECISION_ALLOW {
		t.Errorf("rule reason on ALLOW: %v, want one LOW alert", low)
	}
}

// TestDuplicateScoreRaisesOnce: the same score delivered twice raises one alert, and
// the duplicate is not even counted as a suppressed trigger (no roll-up when the window
// closes).
func TestDuplicateScoreRaisesOnce(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.start(Config{})
	sc := score("1:0xdup", subject("d001"), 0, riskv1.Decision_DECISION_BLOCK, velocity)
	s.produce(sc, sc, proto.CloneOf(sc), closer("1:0xdup", 2*time.Hour))
	got := forEntity(s.alerts(), "1:0xdup")
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1: %v", len(got), got)
	}
	if got[0].GetVersion() != 1 || got[0].GetSuppressed() != 0 {
		t.Errorf("alert version %d suppressed %d, want 1 and 0", got[0].GetVersion(), got[0].GetSuppressed())
	}
}

// TestSuppression: five triggers within the window are one alert, raised at once
// (version 1) and re-emitted once when the window closes (version 2, suppressed 4, the
// five subjects); a trigger after the window raises a new alert; transaction hashes stop
// at 20.
func TestSuppression(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.start(Config{SuppressionWindow: time.Hour})
	const e = "1:0x5up"
	var subjects []string
	for i := range 5 {
		subjects = append(subjects, subject("5a0"+string(rune('0'+i))))
		s.produce(score(e, subjects[i], time.Duration(i)*time.Minute, riskv1.Decision_DECISION_REVIEW, velocity))
	}
	after := subject("5aff")
	s.produce(score(e, after, 61*time.Minute, riskv1.Decision_DECISION_REVIEW, velocity))

	// Later in event time than the first entity's scores, which may share its partition
	// (and so its watermark).
	const many = "1:0xmany"
	for i := range 25 {
		s.produce(score(many, subject("ma"+string(rune('a'+i))), 3*time.Hour+time.Duration(i)*time.Second,
			riskv1.Decision_DECISION_REVIEW, velocity))
	}
	s.produce(closer(many, 5*time.Hour))

	all := s.alerts()
	got := forEntity(all, e)
	if len(got) != 3 {
		t.Fatalf("got %d alerts, want 3 (raise, roll-up at the window's end, new alert): %v", len(got), got)
	}
	first := eventid.New("weir.risk.v1.RiskAlert", e, "rule:velocity_1h", subjects[0])
	type view struct {
		ID         string
		Version    uint64
		Suppressed uint32
		Hashes     []string
		Time       time.Time
		Severity   riskv1.Severity
	}
	viewOf := func(a *riskv1.RiskAlert) view {
		return view{a.GetAlertId(), a.GetVersion(), a.GetSuppressed(), a.GetTransactionHashes(),
			a.GetMeta().GetEventTime().AsTime(), a.GetSeverity()}
	}
	medium := riskv1.Severity_SEVERITY_MEDIUM
	want := []view{
		{first, 1, 0, subjects[:1], base, medium},
		{first, 2, 4, subjects, base.Add(time.Hour), medium},
		{eventid.New("weir.risk.v1.RiskAlert", e, "rule:velocity_1h", after), 1, 0, []string{after}, base.Add(61 * time.Minute), medium},
	}
	var gotViews []view
	for _, a := range got {
		gotViews = append(gotViews, viewOf(a))
	}
	if !reflect.DeepEqual(want, gotViews) {
		t.Errorf("alerts:\n got %+v\nwant %+v", gotViews, want)
	}
	if got[1].GetSummary() != "REVIEW rule:velocity_1h: VELOCITY; score 9120 bp (threshold 7000 bp) by wallet_outflow_gbm; 4 more suppressed" {
		t.Errorf("roll-up summary %q", got[1].GetSummary())
	}
	if got[1].GetMeta().GetEventId() != eventid.New("weir.risk.v1.RiskAlert", first, "2") {
		t.Errorf("roll-up event id %s, want the id of (alert, version 2)", got[1].GetMeta().GetEventId())
	}

	m := forEntity(all, many)
	if len(m) != 2 || m[1].GetSuppressed() != 24 || len(m[1].GetTransactionHashes()) != 20 {
		t.Errorf("25 triggers: %d alerts, last suppressed %d with %d hashes; want 2, 24, 20",
			len(m), m[len(m)-1].GetSuppressed(), len(m[len(m)-1].GetTransactionHashes()))
	}
}

// TestEscalation: a folded trigger of a higher severity re-emits the alert at once
// (same id, next version, the higher severity); folds after it are re-emitted once at
// the window's end.
func TestEscalation(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.start(Config{})
	const e = "1:0xe5c"
	first := subject("e000")
	s.produce(
		score(e, first, 0, riskv1.Decision_DECISION_REVIEW, velocity),
		score(e, subject("e001"), time.Minute, riskv1.Decision_DECISION_REVIEW, velocity),
		score(e, subject("e002"), 2*time.Minute, riskv1.Decision_DECISION_BLOCK, velocity),
		score(e, subject("e003"), 3*time.Minute, riskv1.Decision_DECISION_REVIEW, velocity),
		score(e, subject("e004"), 4*time.Minute, riskv1.Decision_DECISION_REVIEW, velocity, sanctioned),
		score(e, subject("e005"), 5*time.Minute, riskv1.Decision_DECISION_REVIEW, velocity),
		closer(e, 3*time.Hour),
	)
	got := forEntity(s.alerts(), e)
	id := eventid.New("weir.risk.v1.RiskAlert", e, "rule:velocity_1h", first)
	type view struct {
		ID         string
		Version    uint64
		Suppressed uint32
		Severity   riskv1.Severity
		Decision   riskv1.Decision
	}
	want := []view{
		{id, 1, 0, riskv1.Severity_SEVERITY_MEDIUM, riskv1.Decision_DECISION_REVIEW},
		{id, 2, 2, riskv1.Severity_SEVERITY_HIGH, riskv1.Decision_DECISION_BLOCK},
		{id, 3, 4, riskv1.Severity_SEVERITY_CRITICAL, riskv1.Decision_DECISION_BLOCK},
		{id, 4, 5, riskv1.Severity_SEVERITY_CRITICAL, riskv1.Decision_DECISION_BLOCK},
	}
	var gotViews []view
	for _, a := range got {
		gotViews = append(gotViews, view{a.GetAlertId(), a.GetVersion(), a.GetSuppressed(), a.GetSeverity(), a.GetDecision()})
	}
	if !reflect.DeepEqual(want, gotViews) {
		t.Errorf("alerts:\n got %+v\nwant %+v", gotViews, want)
	}
	if n := len(got); n > 0 && ReasonCodes(got[n-1].GetReasons()) != "VELOCITY,SANCTIONED_COUNTERPARTY" {
		t.Errorf("merged reasons %q", ReasonCodes(got[n-1].GetReasons()))
	}
}

// TestSuppressionSurvivesRestart: an instance that starts on an empty state directory
// restores the open alert and the dedup entries from the changelogs, so a trigger after
// the restart is folded into the alert raised before it, and a redelivered score from
// before the restart is still a duplicate.
func TestSuppressionSurvivesRestart(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	stop := s.start(Config{})
	const e = "1:0xre5"
	first := score(e, subject("r000"), 0, riskv1.Decision_DECISION_REVIEW, velocity)
	s.produce(first, score(e, subject("r001"), time.Minute, riskv1.Decision_DECISION_REVIEW, velocity))
	if got := forEntity(s.alerts(), e); len(got) != 1 {
		t.Fatalf("before the restart: %d alerts, want 1", len(got))
	}
	stop()

	s.start(Config{}) // a new, empty state directory: everything comes from the changelogs
	s.produce(first, score(e, subject("r002"), 2*time.Minute, riskv1.Decision_DECISION_REVIEW, velocity),
		closer(e, 2*time.Hour))
	got := forEntity(s.alerts(), e)
	id := eventid.New("weir.risk.v1.RiskAlert", e, "rule:velocity_1h", subject("r000"))
	if len(got) != 2 || got[1].GetAlertId() != id || got[1].GetVersion() != 2 || got[1].GetSuppressed() != 2 ||
		len(got[1].GetTransactionHashes()) != 3 {
		t.Fatalf("after the restart: %v\nwant the roll-up of alert %s: version 2, suppressed 2, 3 hashes", got, id)
	}
}
