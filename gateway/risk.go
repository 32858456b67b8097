package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/features/online"
	"github.com/weirhq/weir/models/score"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// TopicScores is the RiskScore topic (before Options.TopicPrefix) the risk check
// records its scores on.
const TopicScores = "risk.scores"

// Reason codes and rule ids the risk check adds to a score.
const (
	// ReasonSanctioned is the reason of a destination on the sanctions list.
	ReasonSanctioned = "SANCTIONED_COUNTERPARTY"
	// RuleDestinationSanctioned is its rule id.
	RuleDestinationSanctioned = "gateway:destination_sanctioned"
)

// RiskCheck scores a payout before the gateway accepts it (Options.Risk; nil: no check).
//
// The payout's destination is an address entity ("<chain id>:<address>"): its latest
// feature vector is read from the online store (features/online, one HGETALL) and scored
// with Scorer, the subject being the payout's event id (the payout that is produced if
// the check lets it through, at once or after approval). An address the store has no
// vector of is scored on an empty vector (every feature missing: the model's prior, no
// rule fires). When Sanctions is set, a destination on the list is BLOCK with reason
// SANCTIONED_COUNTERPARTY (rule RuleDestinationSanctioned) whatever its features say: a
// vector describes the address's own transfers, not the address itself.
//
// The score (event time: the payout request's; source "gateway") is produced to
// risk.scores, keyed by the entity, before the gateway answers, whatever the decision, so
// that a refused or held payout leaves its audit trail and the alerts processor sees it.
// Then:
//
//   - BLOCK: 403 risk_blocked, reasons in the error's "reasons"; no payout, no approval
//     request;
//   - REVIEW: the payout needs an approval request (even under the merchant's approval
//     threshold), which the merchant's approvers decide as any other; a merchant with no
//     approver cannot approve anything, so the payout is refused with 403 risk_review;
//   - ALLOW: the payout goes on as without the check.
//
// The check fails closed: when the online store, the scorer or Kafka fails, the payout is
// refused with 503 risk_unavailable (retry later). It runs once per request: the retry of
// a request that got past it (same Idempotency-Key, after a crash) does not score again,
// and an approved request executes without a second check. Refunds are not checked: they
// go back to the payer, whom the gateway does not know by address.
type RiskCheck struct {
	// Scorer scores the destination's vector. Required.
	Scorer *score.Scorer
	// Features is the online feature store the risk processor's sink writes. Required.
	Features *online.Store
	// Sanctions, when set, blocks destinations on the list. Default: none (only the
	// vector's sanctions features count).
	Sanctions features.Sanctions
	// Timeout bounds reading the vector. Default 500 ms.
	Timeout time.Duration
}

// riskBlocked is the refusal of a BLOCK score.
func riskBlocked(rs *riskv1.RiskScore) *APIError {
	codes := reasonCodes(rs)
	return &APIError{Status: http.StatusForbidden, Type: typePermission, Code: "risk_blocked", Param: "destination",
		Message: fmt.Sprintf("the payout was refused by the risk check (%s)", strings.Join(codes, ", ")), Reasons: codes}
}

// riskReview is the refusal of a REVIEW score for a merchant without approvers.
func riskReview(rs *riskv1.RiskScore) *APIError {
	codes := reasonCodes(rs)
	return &APIError{Status: http.StatusForbidden, Type: typePermission, Code: "risk_review", Param: "destination",
		Message: fmt.Sprintf("the payout needs review (%s) and the merchant has no approvers to approve it", strings.Join(codes, ", ")),
		Reasons: codes}
}

func reasonCodes(rs *riskv1.RiskScore) []string {
	var codes []string
	for _, r := range rs.GetReasons() {
		if len(codes) == 0 || codes[len(codes)-1] != r.GetCode() {
			codes = append(codes, r.GetCode())
		}
	}
	if len(codes) == 0 {
		codes = []string{score.ReasonModel}
	}
	return codes
}

// checkPayoutRisk scores a payout of id to dest on chain and records the score. A
// non-nil APIError means the payout must not be accepted (503 when the check could not
// be made).
func (s *Server) checkPayoutRisk(ctx context.Context, payoutID, dest string, chain uint64, now time.Time) (*riskv1.RiskScore, *APIError) {
	rc := s.o.Risk
	entity, err := features.EntityID(chain, dest)
	if err != nil {
		return nil, invalid("destination", "destination_invalid", "destination is not a chain address")
	}
	timeout := rc.Timeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	v, err := rc.Features.Read(rctx, entity)
	cancel()
	switch {
	case errors.Is(err, online.ErrNotFound):
		set, version := rc.Scorer.FeatureSet()
		v = &riskv1.FeatureVector{Meta: &commonv1.Meta{EventTime: timestamppb.New(now), Source: source},
			EntityType: riskv1.EntityType_ENTITY_TYPE_ADDRESS, EntityId: entity, FeatureSet: set, FeatureSetVersion: version}
	case err != nil:
		s.o.Logger.Error("risk check: online store", "err", err)
		return nil, unavailable("risk_unavailable")
	}
	subject := eventid.New(payoutKind, payoutID, "1")
	rs, err := rc.Scorer.Score(v, score.Subject{EntityID: entity, EventID: subject})
	if err != nil {
		s.o.Logger.Error("risk check: score", "entity", entity, "err", err)
		return nil, unavailable("risk_unavailable")
	}
	rs.Meta.EventTime, rs.Meta.Source = timestamppb.New(now), source
	if rc.Sanctions != nil {
		if rs.SanctionsListVersion == "" {
			rs.SanctionsListVersion = rc.Sanctions.Version()
		}
		if rc.Sanctions.Sanctioned(entity) {
			rs.Decision = riskv1.Decision_DECISION_BLOCK
			rs.Reasons = append([]*riskv1.Reason{{Code: ReasonSanctioned, RuleId: RuleDestinationSanctioned,
				Detail: "the payout's destination is on sanctions list " + rc.Sanctions.Version()}}, rs.Reasons...)
		}
	}
	b, err := proto.Marshal(rs)
	if err != nil {
		return nil, unavailable("risk_unavailable")
	}
	rec := &kgo.Record{Topic: s.o.TopicPrefix + TopicScores, Key: []byte(entity), Value: b}
	if err := s.o.Client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		s.o.Logger.Error("risk check: score not recorded", "entity", entity, "err", err)
		return nil, unavailable("kafka_unavailable")
	}
	return rs, nil
}

// payoutRisk runs the risk check of a new payout request (none planned yet) and returns
// the id suffix of its payout ("po_" + suffix) or approval request ("apr_" + suffix,
// whose payout is the same "po_" + suffix) and whether it needs an approval. Without a
// check, or on the retry of a planned request, it only draws the suffix.
func (s *Server) payoutRisk(ctx context.Context, cfg *paymentsv1.MerchantConfig, planned []byte, dest string, chain uint64, now time.Time) (string, bool, *APIError) {
	suffix := newID("")
	if s.o.Risk == nil || len(planned) > 0 {
		return suffix, false, nil
	}
	rs, aerr := s.checkPayoutRisk(ctx, "po_"+suffix, dest, chain, now)
	if aerr != nil {
		return "", false, aerr
	}
	switch rs.GetDecision() {
	case riskv1.Decision_DECISION_BLOCK:
		return "", false, riskBlocked(rs)
	case riskv1.Decision_DECISION_REVIEW:
		if approvers(cfg) == 0 {
			return "", false, riskReview(rs)
		}
		return suffix, true, nil
	}
	return suffix, false, nil
}
