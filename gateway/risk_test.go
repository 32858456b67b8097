package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/features/online"
	"github.com/weirhq/weir/models"
	"github.com/weirhq/weir/models/score"
	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// riskList is a test sanctions list.
type riskList map[string]bool

func (l riskList) Sanctioned(entity string) bool { return l[entity] }
func (riskList) Version() string                 { return "test-list:7" }

func riskAddr(name string) string { return fmt.Sprintf("0x%040x", []byte(name)) }

// riskVectors computes, with the feature engine, the vectors of a few addresses after
// crafted ETH transfers on chain 1337, and returns each address's latest vector:
//   - "clean" received one ordinary transfer;
//   - "exposed" received a transfer from a sanctioned address;
//   - "structurer" sent three transfers just under the reporting threshold (1000).
func riskVectors(t *testing.T, list riskList) map[string]*riskv1.FeatureVector {
	t.Helper()
	eng, err := features.New(features.Config{Thresholds: map[string]*big.Int{"ETH": big.NewInt(1000)}, Sanctions: list})
	if err != nil {
		t.Fatal(err)
	}
	st := features.NewMemState()
	latest := map[string]*riskv1.FeatureVector{}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	n := 0
	send := func(from, to string, amount int64) {
		n++
		tr := &chainv1.Transfer{
			Meta:    &commonv1.Meta{EventId: eventid.New("weir.chain.v1.Transfer", t.Name(), fmt.Sprint(n)), EventTime: timestamppb.New(base.Add(time.Duration(n) * time.Minute)), Source: "test"},
			ChainId: 1337, Kind: chainv1.TransferKind_TRANSFER_KIND_NATIVE, From: riskAddr(from), To: riskAddr(to),
			Amount: &commonv1.Amount{Value: fmt.Sprint(amount), Asset: "ETH", Decimals: 18},
		}
		for _, dir := range []features.Direction{features.Out, features.In} {
			ev, err := features.TransferEvent(tr, dir)
			if err != nil {
				t.Fatal(err)
			}
			v, err := eng.Apply(st, ev, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			latest[ev.Entity] = v
		}
	}
	send("payer", "clean", 500)
	send("sanctioned", "exposed", 500)
	for range 3 {
		send("structurer", "sink", 950)
	}
	out := map[string]*riskv1.FeatureVector{}
	for _, name := range []string{"clean", "exposed", "structurer"} {
		out[name] = latest["1337:"+riskAddr(name)]
	}
	return out
}

// riskEnv is the approval test env (approvers alice, bob, carol; more than 1000 base
// units needs 2 approvals) with the risk check on: an online store on the real Redis
// holding riskVectors, the shipped model and rules, and a sanctions list.
type riskEnv struct {
	*approvalEnv
	scorer  *score.Scorer
	store   *online.Store
	vectors map[string]*riskv1.FeatureVector
	list    riskList
}

func newRiskEnv(t *testing.T) *riskEnv {
	t.Helper()
	a := newApprovalEnv(t)
	adm := kadm.NewClient(a.client)
	res, err := adm.CreateTopics(context.Background(), 3, 1, nil, a.prefix+TopicScores)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), a.prefix+TopicScores) })
	// The model never recommends REVIEW here (threshold over 10000): the decisions come
	// from the default rules alone, so that retraining the shipped model does not move
	// them.
	s, err := models.DefaultScorer(score.WithUnknownAssetsMissing(), score.WithThreshold(10001))
	if err != nil {
		t.Fatal(err)
	}
	list := riskList{"1337:" + riskAddr("sanctioned"): true, "1337:" + riskAddr("listed"): true}
	storePrefix := "test:" + strings.TrimSuffix(a.prefix, ".") + ":features:"
	t.Cleanup(func() { flushPrefix(a.rdb, strings.TrimSuffix(storePrefix, ":")) })
	r := &riskEnv{approvalEnv: a, scorer: s, store: online.New(a.rdb, features.AddressActivity.Name, online.WithPrefix(storePrefix)),
		vectors: riskVectors(t, list), list: list}
	for name, v := range r.vectors {
		if ok, err := r.store.Write(context.Background(), v, 0, 0); err != nil || !ok {
			t.Fatalf("online store write %s: %v %v", name, ok, err)
		}
	}
	a.server.o.Risk = &RiskCheck{Scorer: s, Features: r.store, Sanctions: list}
	return r
}

// scores returns risk.scores.
func (r *riskEnv) scores() []*riskv1.RiskScore {
	r.t.Helper()
	var out []*riskv1.RiskScore
	for _, b := range r.records(TopicScores) {
		s := new(riskv1.RiskScore)
		if err := proto.Unmarshal(b, s); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func (r *riskEnv) payout(key, dest, amount string) response {
	r.t.Helper()
	return r.do("POST", "/v1/payouts", key, fmt.Sprintf(`{"amount":%q,"asset":"ETH","chain_id":1337,"destination":%q}`, amount, dest))
}

// scoreOf returns the one recorded score of entity, failing unless there is exactly one.
func (r *riskEnv) scoreOf(entity string) *riskv1.RiskScore {
	r.t.Helper()
	var found []*riskv1.RiskScore
	for _, s := range r.scores() {
		if s.GetEntityId() == entity {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		r.t.Fatalf("%d scores of %s on risk.scores, want 1", len(found), entity)
	}
	return found[0]
}

func codes(s *riskv1.RiskScore) []string {
	var out []string
	for _, r := range s.GetReasons() {
		out = append(out, r.GetCode())
	}
	return out
}

// TestPayoutRiskCheck runs the gateway with the risk check on the real Redis and Kafka.
// Each payout's destination vector is read from the online store and scored, and the
// score is recorded on risk.scores with the payout's event id as subject, the vector's
// event id and features, the model, rules and sanctions versions:
//   - a clean destination (ALLOW) gets its payout at once (below the threshold);
//   - a destination exposed to a sanctioned address is refused, 403 risk_blocked with
//     SANCTIONED_COUNTERPARTY, and nothing but the score is produced (no payout, no
//     approval request);
//   - a destination on the sanctions list with no vector at all is refused the same way;
//   - a structuring destination (REVIEW) needs an approval request even below the
//     threshold; approved, it pays out the payout whose event id the score names;
//   - the same REVIEW for a merchant without approvers is refused, 403 risk_review;
//   - an address with no vector is scored on an empty vector (no features, no vector id);
//   - with the online store down the payout is refused, 503 risk_unavailable, and
//     nothing is produced.
func TestPayoutRiskCheck(t *testing.T) {
	r := newRiskEnv(t)
	secret := r.env.keys.Secret
	entity := func(name string) string { return "1337:" + riskAddr(name) }
	for name, want := range map[string]riskv1.Decision{"clean": riskv1.Decision_DECISION_ALLOW,
		"exposed": riskv1.Decision_DECISION_BLOCK, "structurer": riskv1.Decision_DECISION_REVIEW} {
		s, err := r.scorer.Score(r.vectors[name], score.Subject{})
		if err != nil || s.GetDecision() != want {
			t.Fatalf("precondition: %s's vector scores %v %v (%v), want %v", name, s.GetDecision(), codes(s), err, want)
		}
	}
	checkScore := func(s *riskv1.RiskScore, name, payoutID string) {
		t.Helper()
		v := r.vectors[name]
		if payoutID != "" && s.GetSubjectEventId() != eventid.New(payoutKind, payoutID, "1") {
			t.Errorf("%s: subject %s, want payout %s's event id", name, s.GetSubjectEventId(), payoutID)
		}
		if s.GetMeta().GetEventId() != eventid.New("weir.risk.v1.RiskScore", r.scorer.ModelID(), r.scorer.ModelVersion(), s.GetSubjectEventId(), s.GetEntityId()) {
			t.Errorf("%s: score event id %s", name, s.GetMeta().GetEventId())
		}
		if s.GetModelVersion() != r.scorer.ModelVersion() || s.GetRulesVersion() != r.scorer.RulesVersion() ||
			s.GetSanctionsListVersion() != r.list.Version() || s.GetMeta().GetSource() != source {
			t.Errorf("%s: versions model %q rules %q sanctions %q source %q", name, s.GetModelVersion(), s.GetRulesVersion(),
				s.GetSanctionsListVersion(), s.GetMeta().GetSource())
		}
		if v == nil {
			if s.GetFeatureVectorEventId() != "" || len(s.GetFeatures()) != 0 {
				t.Errorf("%s: score of no vector names vector %q with %d features", name, s.GetFeatureVectorEventId(), len(s.GetFeatures()))
			}
			return
		}
		if s.GetFeatureVectorEventId() != v.GetMeta().GetEventId() || len(s.GetFeatures()) != len(v.GetFeatures()) {
			t.Fatalf("%s: score of vector %q with %d features, want %q with %d", name, s.GetFeatureVectorEventId(),
				len(s.GetFeatures()), v.GetMeta().GetEventId(), len(v.GetFeatures()))
		}
		for i, f := range s.GetFeatures() {
			if !proto.Equal(f, v.GetFeatures()[i]) {
				t.Errorf("%s: feature %d logged as %v, want %v", name, i, f, v.GetFeatures()[i])
			}
		}
	}

	// ALLOW: paid out at once.
	res := r.payout(secret, riskAddr("clean"), "900")
	var p Payout
	res.json(t, &p)
	if res.status != http.StatusCreated || p.Status != "initiated" {
		t.Fatalf("clean payout: %d %s", res.status, res.body)
	}
	s := r.scoreOf(entity("clean"))
	if s.GetDecision() != riskv1.Decision_DECISION_ALLOW {
		t.Errorf("clean: decision %v", s.GetDecision())
	}
	checkScore(s, "clean", p.ID)

	// BLOCK, from the vector and from the list.
	for _, name := range []string{"exposed", "listed"} {
		res := r.payout(secret, riskAddr(name), "900")
		e := res.apiError(t)
		if res.status != http.StatusForbidden || e.Code != "risk_blocked" || !slices.Contains(e.Reasons, "SANCTIONED_COUNTERPARTY") ||
			!strings.Contains(e.Message, "SANCTIONED_COUNTERPARTY") {
			t.Fatalf("%s payout: %d %s", name, res.status, res.body)
		}
		s := r.scoreOf(entity(name))
		if s.GetDecision() != riskv1.Decision_DECISION_BLOCK || codes(s)[0] != "SANCTIONED_COUNTERPARTY" {
			t.Errorf("%s: recorded %v %v", name, s.GetDecision(), codes(s))
		}
		checkScore(s, name, "") // a refused payout has no id: its subject was drawn for it
	}
	if s := r.scoreOf(entity("listed")); s.GetReasons()[0].GetRuleId() != RuleDestinationSanctioned {
		t.Errorf("listed: first reason %v", s.GetReasons()[0])
	}

	// REVIEW: an approval request below the threshold, paid out once approved.
	res = r.payout(secret, riskAddr("structurer"), "900")
	var held Payout
	res.json(t, &held)
	if res.status != http.StatusAccepted || held.Status != "pending_approval" || held.Approval == nil {
		t.Fatalf("structurer payout: %d %s", res.status, res.body)
	}
	s = r.scoreOf(entity("structurer"))
	if s.GetDecision() != riskv1.Decision_DECISION_REVIEW {
		t.Errorf("structurer: decision %v", s.GetDecision())
	}
	checkScore(s, "structurer", held.ID)
	for _, u := range []string{"alice", "bob"} {
		if res, _ := r.decide(u, "approve", held.Approval.ID); res.status != http.StatusOK {
			t.Fatalf("approve: %d %s", res.status, res.body)
		}
	}
	if got := r.approval(held.Approval.ID); got.Status != "executed" || got.ResultID != held.ID {
		t.Fatalf("approval after two approvals: %+v", got)
	}

	// REVIEW for a merchant without approvers: refused.
	_, keys, err := r.admin.CreateMerchant(context.Background(), "Lone Shop", testXpub(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	res = r.payout(keys.Secret, riskAddr("structurer"), "900")
	if e := res.apiError(t); res.status != http.StatusForbidden || e.Code != "risk_review" || !slices.Contains(e.Reasons, "STRUCTURING") {
		t.Fatalf("payout needing review without approvers: %d %s", res.status, res.body)
	}

	// An address never seen: scored on an empty vector (no rule fires on missing
	// features), paid out.
	res = r.payout(secret, riskAddr("newcomer"), "900")
	if res.status != http.StatusCreated {
		t.Fatalf("newcomer payout: %d %s", res.status, res.body)
	}
	res.json(t, &p)
	checkScore(r.scoreOf(entity("newcomer")), "newcomer", p.ID)

	// What was produced: payouts of clean, structurer (after approval) and newcomer; an
	// approval request of structurer only.
	payouts := map[string]bool{}
	for _, po := range r.payoutRecords() {
		payouts[po.GetDestination()] = true
	}
	for _, name := range []string{"exposed", "listed"} {
		if payouts[riskAddr(name)] {
			t.Errorf("a payout to %s was produced", name)
		}
	}
	if !payouts[riskAddr("clean")] || !payouts[riskAddr("structurer")] || !payouts[riskAddr("newcomer")] {
		t.Errorf("payouts produced to %v", payouts)
	}
	for _, a := range r.approvalRecords() {
		if d := a.GetDestination(); d != riskAddr("structurer") {
			t.Errorf("approval request to %s", d)
		}
	}
	if n := len(r.scores()); n != 6 {
		t.Errorf("%d scores recorded, want 6 (clean, exposed, listed, structurer twice, newcomer)", n)
	}

	// The online store down: refused, nothing produced.
	before, beforePayouts := len(r.scores()), len(r.payoutRecords())
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer down.Close()
	r.server.o.Risk = &RiskCheck{Scorer: r.scorer, Features: online.New(down, features.AddressActivity.Name), Sanctions: r.list}
	res = r.payout(secret, riskAddr("clean"), "900")
	if e := res.apiError(t); res.status != http.StatusServiceUnavailable || e.Code != "risk_unavailable" {
		t.Fatalf("payout with the online store down: %d %s", res.status, res.body)
	}
	if len(r.scores()) != before || len(r.payoutRecords()) != beforePayouts {
		t.Errorf("something was produced with the online store down")
	}

	// Without a check (nil), the gateway pays as before.
	r.server.o.Risk = nil
	if res := r.payout(secret, riskAddr("exposed"), "900"); res.status != http.StatusCreated {
		t.Fatalf("payout without risk check: %d %s", res.status, res.body)
	}
}

// TestPayoutRiskCheckIdempotent: a payout retried with its Idempotency-Key is scored
// once (the replay answers from the stored response: one score, one payout), while a
// refused payout keeps no key, so its retry is scored again and refused again.
func TestPayoutRiskCheckIdempotent(t *testing.T) {
	r := newRiskEnv(t)
	secret := r.env.keys.Secret
	body := func(name string) string {
		return fmt.Sprintf(`{"amount":"900","asset":"ETH","chain_id":1337,"destination":%q}`, riskAddr(name))
	}
	first := r.do("POST", "/v1/payouts", secret, body("clean"), "Idempotency-Key", "risk-k1")
	again := r.do("POST", "/v1/payouts", secret, body("clean"), "Idempotency-Key", "risk-k1")
	if first.status != http.StatusCreated || again.status != first.status || string(again.body) != string(first.body) ||
		again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s, then %d %s", first.status, first.body, again.status, again.body)
	}
	if s := r.scoreOf("1337:" + riskAddr("clean")); s.GetDecision() != riskv1.Decision_DECISION_ALLOW {
		t.Errorf("clean: %v", s.GetDecision())
	}
	if n := len(r.payoutRecords()); n != 1 {
		t.Errorf("%d payouts, want 1", n)
	}
	for range 2 {
		res := r.do("POST", "/v1/payouts", secret, body("exposed"), "Idempotency-Key", "risk-k2")
		if e := res.apiError(t); res.status != http.StatusForbidden || e.Code != "risk_blocked" {
			t.Fatalf("blocked payout: %d %s", res.status, res.body)
		}
	}
	n := 0
	for _, s := range r.scores() {
		if s.GetEntityId() == "1337:"+riskAddr("exposed") && s.GetDecision() == riskv1.Decision_DECISION_BLOCK {
			n++
		}
	}
	if n != 2 || len(r.payoutRecords()) != 1 || len(r.approvalRecords()) != 0 {
		t.Errorf("after two refused attempts: %d BLOCK scores, %d payouts, %d approval records; want 2, 1, 0",
			n, len(r.payoutRecords()), len(r.approvalRecords()))
	}
}
