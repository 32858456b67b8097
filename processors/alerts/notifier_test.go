package alerts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// testAlert is a RiskAlert as the processor emits it.
func testAlert(entity string, version uint64, sev riskv1.Severity, suppressed uint32) *riskv1.RiskAlert {
	id := eventid.New("weir.risk.v1.RiskAlert", entity, "rule:velocity_1h", subject("w0"))
	return &riskv1.RiskAlert{
		Meta: &commonv1.Meta{EventId: eventid.New("weir.risk.v1.RiskAlert", id, fmt.Sprint(version)),
			EventTime: timestamppb.New(base), Source: "processors/alerts"},
		AlertId: id, Version: version, EntityType: riskv1.EntityType_ENTITY_TYPE_ADDRESS, EntityId: entity,
		SubjectEventId: subject("w0"), Severity: sev, Status: riskv1.AlertStatus_ALERT_STATUS_OPEN,
		RuleId: "rule:velocity_1h", ScoreBp: 9120,
		Summary: "BLOCK rule:velocity_1h: VELOCITY,MODEL_SCORE; score 9120 bp (threshold 7000 bp) by wallet_outflow_gbm",
		Reasons: []*riskv1.Reason{
			{Code: "VELOCITY", RuleId: "rule:velocity_1h", Detail: "transfers_out_count_1h=14 >= 10 <in 1h>"},
			modelReason,
		},
		Evidence: []*riskv1.Feature{
			fixed("transfers_out_count_1h", 14, 0),
			{Name: "value_out_sum_1h", Value: &riskv1.Feature_Units{Units: "1500000000"}, Asset: "USDC"},
			fixed("new_counterparty_ratio_24h", 875000, 6),
		},
		TransactionHashes: []string{subject("w0")}, ModelVersion: "v7",
		SanctionsListVersion: "ofac-sdn:2026-11-20", Suppressed: suppressed,
		Decision: riskv1.Decision_DECISION_BLOCK,
	}
}

// attemptCounts returns weir_alerts_webhook_attempts_total by outcome.
func attemptCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "weir_alerts_webhook_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// receiver is a webhook endpoint that fails the first request it gets.
type receiver struct {
	mu       sync.Mutex
	requests int
	bodies   []string       // every request's body, in order
	accepted map[string]int // alert id/version -> accepted deliveries
	headers  []http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	rc.bodies = append(rc.bodies, string(b))
	rc.headers = append(rc.headers, r.Header.Clone())
	if rc.requests == 1 {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	rc.accepted[r.Header.Get(HeaderAlertID)+"/"+r.Header.Get(HeaderAlertVersion)]++
	_, _ = io.WriteString(w, "ok")
}

// TestWebhookDeliversSlackBodyWithRetry: the notifier posts the exact Slack body of each
// alert version at or above the minimum severity; the endpoint's first failure is
// retried with the same body, and every version is accepted exactly once; an alert
// below the minimum severity is not posted.
func TestWebhookDeliversSlackBodyWithRetry(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	rc := &receiver{accepted: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)

	a1 := testAlert("1:0xw01", 1, riskv1.Severity_SEVERITY_HIGH, 0)
	a2 := testAlert("1:0xw01", 2, riskv1.Severity_SEVERITY_HIGH, 4)
	low := testAlert("1:0xw02", 1, riskv1.Severity_SEVERITY_LOW, 0)
	crit := testAlert("1:0xw03", 1, riskv1.Severity_SEVERITY_CRITICAL, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range []*riskv1.RiskAlert{a1, a2, low, crit} {
		b, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.cl.ProduceSync(ctx, &kgo.Record{Topic: s.output, Key: []byte(a.GetEntityId()), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	group := s.prefix + "webhook"
	reg := prometheus.NewRegistry()
	n, err := NewNotifier(NotifierConfig{Registerer: reg,
		Brokers: s.brokers, URLs: []string{srv.URL}, Topic: s.output, Group: group,
		FromBeginning: true, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := n.Run(runCtx); err != nil {
			t.Errorf("notifier: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait() }) // before srv.Close
	kafkatest.WaitConsumed(t, s.brokers, group, s.output, 45*time.Second)
	stop()
	wg.Wait()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	want := map[string]int{
		a1.GetAlertId() + "/1":   1,
		a2.GetAlertId() + "/2":   1,
		crit.GetAlertId() + "/1": 1,
	}
	if fmt.Sprint(rc.accepted) != fmt.Sprint(want) {
		t.Errorf("accepted deliveries %v, want %v", rc.accepted, want)
	}
	if rc.requests != 4 {
		t.Errorf("%d requests, want 4 (one failed, retried, then one per alert version)", rc.requests)
	}
	if got := attemptCounts(t, reg); fmt.Sprint(got) != fmt.Sprint(map[string]float64{"delivered": 3, "failed": 1}) {
		t.Errorf("attempt metrics %v, want 3 delivered and 1 failed", got)
	}
	if len(rc.bodies) < 2 || rc.bodies[0] != rc.bodies[1] {
		t.Fatalf("the retry's body differs from the failed attempt's")
	}
	// Bodies of one partition arrive in order; a1 and a2 share an entity and so a
	// partition, and a1 is first of its partition. Find a1's body by its version header.
	var body1 string
	for i, h := range rc.headers {
		if h.Get(HeaderAlertID) == a1.GetAlertId() && h.Get(HeaderAlertVersion) == "1" {
			body1 = rc.bodies[i]
			if h.Get(HeaderIdempotency) != a1.GetMeta().GetEventId() || h.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", h)
			}
		}
	}
	wantBody := `{"text":"[HIGH] rule:velocity_1h on address 1:0xw01: BLOCK rule:velocity_1h: VELOCITY,MODEL_SCORE; score 9120 bp (threshold 7000 bp) by wallet_outflow_gbm",` +
		`"blocks":[` +
		`{"type":"header","text":{"type":"plain_text","text":"HIGH risk alert: rule:velocity_1h"}},` +
		`{"type":"section","text":{"type":"mrkdwn","text":"BLOCK rule:velocity_1h: VELOCITY,MODEL_SCORE; score 9120 bp (threshold 7000 bp) by wallet_outflow_gbm"},` +
		`"fields":[{"type":"mrkdwn","text":"*Severity*\nHIGH"},{"type":"mrkdwn","text":"*Decision*\nBLOCK"},` +
		`{"type":"mrkdwn","text":"*Entity*\naddress 1:0xw01"},{"type":"mrkdwn","text":"*Rule*\nrule:velocity_1h"},` +
		`{"type":"mrkdwn","text":"*Score*\n9120 bp"}]},` +
		`{"type":"section","text":{"type":"mrkdwn","text":"*Reasons*\n• VELOCITY (rule:velocity_1h): transfers_out_count_1h=14 &gt;= 10 &lt;in 1h&gt;\n• MODEL_SCORE (model:wallet_outflow_gbm): score 9120 bp &gt;= threshold 7000 bp"}},` +
		`{"type":"section","text":{"type":"mrkdwn","text":"*Evidence*\n• transfers_out_count_1h = 14\n• value_out_sum_1h = 1500000000 USDC base units\n• new_counterparty_ratio_24h = 0.875"}},` +
		`{"type":"context","elements":[{"type":"mrkdwn","text":"alert ` + a1.GetAlertId() + ` v1 · 1 transactions · model v7 · sanctions list ofac-sdn:2026-11-20"}]}]}`
	if body1 != wantBody {
		t.Errorf("body of alert v1:\n got %s\nwant %s", body1, wantBody)
	}
	for _, b := range rc.bodies {
		if strings.Contains(b, srv.URL) || strings.Contains(b, "http") {
			t.Errorf("a body holds a link: %s", b)
		}
	}
}
