package signer

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer/policy"
)

// Topics the signer writes, as named in schemas/catalog (before Options.TopicPrefix).
const (
	TopicRequests = "signer.requests"
	TopicSigned   = "signer.signed"
	TopicAudit    = "signer.audit"
	// TopicApprovals carries the SigningApproval of every accepted approval decision.
	TopicApprovals = "signer.approvals"
)

// Event kinds, eventid.New's first part.
const (
	kindRequest  = "weir.signer.v1.SigningRequest"
	kindSigned   = "weir.signer.v1.SignedTransaction"
	kindAudit    = "weir.signer.v1.AuditRecord"
	kindApproval = "weir.signer.v1.SigningApproval"
)

const (
	auditAllowed = signerv1.AuditOutcome_AUDIT_OUTCOME_ALLOWED
	auditDenied  = signerv1.AuditOutcome_AUDIT_OUTCOME_DENIED
	auditError   = signerv1.AuditOutcome_AUDIT_OUTCOME_ERROR
	auditPending = signerv1.AuditOutcome_AUDIT_OUTCOME_PENDING
)

// record is one event to produce with its topic and key.
type record struct {
	topic string
	key   string
	ev    codec.Event
}

// produce validates and writes recs, in order, and returns once Kafka acknowledged them
// all (acks=all, idempotent producer).
func (s *Server) produce(ctx context.Context, recs ...record) error {
	krs := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		b, err := codec.Marshal(r.ev)
		if err != nil {
			return fmt.Errorf("signer: encode %s: %w", r.topic, err)
		}
		krs = append(krs, &kgo.Record{Topic: s.o.TopicPrefix + r.topic, Key: []byte(r.key), Value: b})
	}
	// The answer waits for the audit trail even if the client went away.
	pctx := context.WithoutCancel(ctx)
	if err := s.o.Client.ProduceSync(pctx, krs...).FirstErr(); err != nil {
		return fmt.Errorf("signer: produce: %w", err)
	}
	return nil
}

func (s *Server) meta(id string) *commonv1.Meta {
	return &commonv1.Meta{EventId: id, EventTime: timestamppb.New(s.o.Now().UTC()), Source: s.o.Source}
}

// audit builds an AuditRecord of action by c, an operator. Its id is random: an entry
// records one happening, and two identical refusals are two entries.
func (s *Server) audit(c caller, action, keyID, resource, requestID string, outcome signerv1.AuditOutcome, reason string) record {
	return s.auditAs(c, signerv1.AuditActorType_AUDIT_ACTOR_TYPE_OPERATOR, action, keyID, resource, requestID, outcome, reason)
}

// auditAs is audit with the actor's type (the signer itself, for an expiry).
func (s *Server) auditAs(c caller, actorType signerv1.AuditActorType, action, keyID, resource, requestID string,
	outcome signerv1.AuditOutcome, reason string) record {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	key := keyID
	if key == "" {
		key = c.id
	}
	return record{topic: TopicAudit, key: key, ev: &signerv1.AuditRecord{
		Meta: s.meta(eventid.New(kindAudit, id)), AuditId: id, ActorId: c.id,
		ActorType: actorType, Action: action, KeyId: keyID,
		Resource: resource, Outcome: outcome, Reason: truncate(reason, 1024), RemoteAddress: c.remote, RequestId: requestID,
	}}
}

// policyResource names the policy version and rule that decided, for AuditRecord.resource:
// "policy:<id>@<version>#<hash>/rule:<name>" (rule "(none)" for the default deny).
func policyResource(d policy.Decision) string {
	if d.PolicyID == "" {
		return ""
	}
	rule := d.RuleName
	if rule == "" {
		rule = "(none)"
	}
	return fmt.Sprintf("policy:%s@%d#%s/rule:%s", d.PolicyID, d.PolicyVersion, d.PolicyHash, rule)
}

func publicKeyHex(pub *ecdsa.PublicKey) string { return hexutil.Encode(crypto.FromECDSAPub(pub)) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
