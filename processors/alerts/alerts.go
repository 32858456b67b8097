package alerts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// Store names and other constants of the processor.
const (
	openStore = "open" // entity 0x00 rule -> the open alert (see openAlert)
	seenStore = "seen" // entity 0x00 rule 0x00 subject -> severity(1)
	source    = "processors/alerts"
	alertKind = "weir.risk.v1.RiskAlert"

	maxEntityIDLength = 256
	maxReasons        = 16
)

// Timer key prefixes: a suppression window's end, a dedup entry's expiry.
const (
	timerWindow byte = 'w'
	timerSeen   byte = 's'
)

// Topology returns the processor's declaration for the stream runtime.
func Topology(cfg Config) (stream.Topology, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return stream.Topology{}, err
	}
	return stream.Topology{
		App:     cfg.App,
		Inputs:  []string{cfg.Input},
		Outputs: []string{cfg.Output},
		Stores:  []string{openStore, seenStore},
		Handler: &handler{cfg: cfg},
	}, nil
}

type handler struct{ cfg Config }

// trigger is what a triggering score contributes to an alert.
type trigger struct {
	score    *riskv1.RiskScore
	at       time.Time
	rule     string
	severity riskv1.Severity
	subject  string // subject event id, or the score's event id when it has none
	tx       string // the subject's transaction hash, or subject when the score has none
}

// Process raises, folds or drops one score.
func (h *handler) Process(ctx *stream.Context, rec *kgo.Record) error {
	var s riskv1.RiskScore
	if err := codec.Unmarshal(rec.Value, &s); err != nil {
		return fmt.Errorf("decode score: %w", err)
	}
	switch {
	case len(s.GetEntityId()) > maxEntityIDLength:
		return fmt.Errorf("entity id: %d bytes, want at most %d", len(s.GetEntityId()), maxEntityIDLength)
	case strings.IndexByte(s.GetEntityId(), 0) >= 0:
		return errors.New("entity id contains a NUL byte")
	}
	at := s.GetMeta().GetEventTime().AsTime()
	ctx.SetTime(at)
	rule, ok := triggerRule(&s)
	if !ok {
		return nil
	}
	if strings.IndexByte(rule, 0) >= 0 {
		return errors.New("rule id contains a NUL byte")
	}
	tr := trigger{score: &s, at: at, rule: rule, severity: h.severity(&s), subject: s.GetSubjectEventId()}
	if tr.subject == "" {
		tr.subject = s.GetMeta().GetEventId()
	}
	if tr.tx = s.GetTransactionHash(); tr.tx == "" {
		tr.tx = tr.subject
	}

	seen, err := ctx.Store(seenStore)
	if err != nil {
		return err
	}
	seenKey := joinKey(s.GetEntityId(), rule, tr.subject)
	if v, found, err := seen.Get(seenKey); err != nil {
		return err
	} else if found && len(v) == 1 && riskv1.Severity(v[0]) >= tr.severity {
		return nil // a duplicate: this subject already raised this rule at this severity
	}
	if err := seen.Put(seenKey, []byte{byte(tr.severity)}); err != nil {
		return err
	}
	if err := ctx.Schedule(at.Add(h.cfg.DedupWindow), append([]byte{timerSeen}, seenKey...)); err != nil {
		return err
	}

	open, err := ctx.Store(openStore)
	if err != nil {
		return err
	}
	key := joinKey(s.GetEntityId(), rule)
	cur, found, err := loadOpen(open, key)
	if err != nil {
		return err
	}
	if found && !at.Before(cur.closeAt) {
		// The window ended but its timer has not fired yet (this very record moves the
		// watermark past it): close it first, so the new alert comes after its roll-up.
		ctx.SetTime(cur.closeAt)
		err := h.close(ctx, open, key, cur)
		ctx.SetTime(at)
		if err != nil {
			return err
		}
		found = false
	}
	if !found {
		return h.raise(ctx, open, key, &tr)
	}
	return h.fold(ctx, open, key, cur, &tr)
}

// OnTimer closes a suppression window or forgets a dedup entry.
func (h *handler) OnTimer(ctx *stream.Context, at time.Time, key []byte) error {
	if len(key) == 0 {
		return nil
	}
	switch key[0] {
	case timerSeen:
		seen, err := ctx.Store(seenStore)
		if err != nil {
			return err
		}
		return seen.Delete(key[1:])
	case timerWindow:
		open, err := ctx.Store(openStore)
		if err != nil {
			return err
		}
		cur, found, err := loadOpen(open, key[1:])
		if err != nil || !found || !cur.closeAt.Equal(at) {
			return err // closed already by a later trigger, which opened another window
		}
		return h.close(ctx, open, key[1:], cur)
	}
	return fmt.Errorf("unknown timer key %q", key)
}

// raise opens a new alert for tr and emits version 1.
func (h *handler) raise(ctx *stream.Context, open *stream.Store, key []byte, tr *trigger) error {
	s := tr.score
	a := &riskv1.RiskAlert{
		AlertId:              eventid.New(alertKind, s.GetEntityId(), tr.rule, tr.subject),
		EntityType:           s.GetEntityType(),
		EntityId:             s.GetEntityId(),
		SubjectEventId:       tr.subject,
		Severity:             tr.severity,
		Status:               riskv1.AlertStatus_ALERT_STATUS_OPEN,
		RuleId:               tr.rule,
		ScoreBp:              s.GetScoreBp(),
		Reasons:              cloneReasons(s.GetReasons(), maxReasons),
		Evidence:             Evidence(s, h.cfg.MaxEvidence),
		ModelVersion:         s.GetModelVersion(),
		SanctionsListVersion: s.GetSanctionsListVersion(),
		Decision:             s.GetDecision(),
	}
	if h.cfg.MaxTransactionHashes > 0 {
		a.TransactionHashes = []string{tr.tx}
	}
	cur := &openAlert{closeAt: tr.at.Add(h.cfg.SuppressionWindow), alert: a, model: s.GetModelId(),
		threshold: s.GetThresholdBp(), trace: s.GetMeta().GetTraceId()}
	if err := h.emit(ctx, cur); err != nil {
		return err
	}
	if err := ctx.Schedule(cur.closeAt, append([]byte{timerWindow}, key...)); err != nil {
		return err
	}
	return storeOpen(open, key, cur)
}

// fold adds tr to the open alert cur; it re-emits at once only on escalation.
func (h *handler) fold(ctx *stream.Context, open *stream.Store, key []byte, cur *openAlert, tr *trigger) error {
	s, a := tr.score, cur.alert
	a.Suppressed++
	cur.pending++
	if len(a.TransactionHashes) < h.cfg.MaxTransactionHashes && !slices.Contains(a.TransactionHashes, tr.tx) {
		a.TransactionHashes = append(a.TransactionHashes, tr.tx)
	}
	for _, r := range s.GetReasons() {
		if len(a.Reasons) >= maxReasons {
			break
		}
		if !slices.ContainsFunc(a.Reasons, func(x *riskv1.Reason) bool {
			return x.GetCode() == r.GetCode() && x.GetRuleId() == r.GetRuleId()
		}) {
			a.Reasons = append(a.Reasons, proto.CloneOf(r))
		}
	}
	if ev := Evidence(s, h.cfg.MaxEvidence); len(ev) > 0 {
		a.Evidence = ev
	}
	a.ScoreBp = max(a.ScoreBp, s.GetScoreBp())
	a.Decision = max(a.Decision, s.GetDecision())
	if s.GetModelVersion() != "" {
		a.ModelVersion, cur.model, cur.threshold = s.GetModelVersion(), s.GetModelId(), s.GetThresholdBp()
	}
	if s.GetSanctionsListVersion() != "" {
		a.SanctionsListVersion = s.GetSanctionsListVersion()
	}
	escalated := tr.severity > a.Severity
	if escalated {
		a.Severity = tr.severity
		if err := h.emit(ctx, cur); err != nil {
			return err
		}
	}
	return storeOpen(open, key, cur)
}

// close re-emits the alert if triggers were folded into it since it was last emitted,
// then forgets it: the next trigger opens a new alert.
func (h *handler) close(ctx *stream.Context, open *stream.Store, key []byte, cur *openAlert) error {
	if cur.pending > 0 {
		if err := h.emit(ctx, cur); err != nil {
			return err
		}
	}
	return open.Delete(key)
}

// emit sends the next version of cur's alert, stamped with the current event time.
func (h *handler) emit(ctx *stream.Context, cur *openAlert) error {
	a := cur.alert
	a.Version++
	a.Summary = summary(a, cur.model, cur.threshold)
	a.Meta = &commonv1.Meta{
		EventId:   eventid.New(alertKind, a.GetAlertId(), strconv.FormatUint(a.GetVersion(), 10)),
		EventTime: timestamppb.New(ctx.Time()),
		Source:    source,
		TraceId:   cur.trace,
	}
	b, err := codec.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	cur.pending = 0
	return ctx.Emit(h.cfg.Output, []byte(a.GetEntityId()), b)
}

// severity is the highest of the decision's and the reasons' severities.
func (h *handler) severity(s *riskv1.RiskScore) riskv1.Severity {
	sev, ok := h.cfg.DecisionSeverity[s.GetDecision()]
	if !ok {
		sev = riskv1.Severity_SEVERITY_LOW
	}
	for _, r := range s.GetReasons() {
		if f, ok := h.cfg.ReasonSeverity[r.GetCode()]; ok && f > sev {
			sev = f
		}
	}
	return sev
}

// isRuleReason reports whether r is a rule hit rather than the model's verdict.
func isRuleReason(r *riskv1.Reason) bool {
	return r.GetCode() != ReasonModelScore && !strings.HasPrefix(r.GetRuleId(), "model:")
}

// triggerRule returns the rule id an alert for s is raised under, and whether s
// triggers at all.
func triggerRule(s *riskv1.RiskScore) (string, bool) {
	for _, r := range s.GetReasons() {
		if isRuleReason(r) {
			if r.GetRuleId() != "" {
				return r.GetRuleId(), true
			}
			return "reason:" + r.GetCode(), true
		}
	}
	switch s.GetDecision() {
	case riskv1.Decision_DECISION_REVIEW, riskv1.Decision_DECISION_BLOCK:
		return "score>=threshold:" + s.GetModelId(), true
	}
	return "", false
}

// summary is the alert's one line: decision, rule, reason codes, score, suppressed.
// It holds no entity id, no detail text and nothing personal.
func summary(a *riskv1.RiskAlert, model string, threshold uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", DecisionName(a.GetDecision()), a.GetRuleId())
	if codes := ReasonCodes(a.GetReasons()); codes != "" {
		b.WriteString(": " + codes)
	}
	if a.GetScoreBp() > 0 || threshold > 0 {
		fmt.Fprintf(&b, "; score %d bp", a.GetScoreBp())
		if threshold > 0 {
			fmt.Fprintf(&b, " (threshold %d bp)", threshold)
		}
		if model != "" {
			fmt.Fprintf(&b, " by %s", model)
		}
	}
	if a.GetSuppressed() > 0 {
		fmt.Fprintf(&b, "; %d more suppressed", a.GetSuppressed())
	}
	return b.String()
}

// ReasonCodes returns the distinct codes of reasons in order, comma-separated.
func ReasonCodes(reasons []*riskv1.Reason) string {
	var codes []string
	for _, r := range reasons {
		if !slices.Contains(codes, r.GetCode()) {
			codes = append(codes, r.GetCode())
		}
	}
	return strings.Join(codes, ",")
}

func cloneReasons(rs []*riskv1.Reason, n int) []*riskv1.Reason {
	out := make([]*riskv1.Reason, 0, min(len(rs), n))
	for _, r := range rs[:min(len(rs), n)] {
		out = append(out, proto.CloneOf(r))
	}
	return out
}

// Evidence returns the feature values of s relevant to its reasons, at most n, most
// relevant first: features a reason names in its rule_id or detail, then features
// sharing a word of four letters or more with a rule reason's code or rule id, then
// features the model's contributions name. The features are copies.
func Evidence(s *riskv1.RiskScore, n int) []*riskv1.Feature {
	feats := s.GetFeatures()
	picked := make([]bool, len(feats))
	var out []*riskv1.Feature
	pick := func(match func(*riskv1.Feature) bool) {
		for i, f := range feats {
			if len(out) >= n {
				return
			}
			if !picked[i] && f.GetName() != "" && match(f) {
				picked[i] = true
				out = append(out, proto.CloneOf(f))
			}
		}
	}
	for _, r := range s.GetReasons() {
		pick(func(f *riskv1.Feature) bool {
			return strings.Contains(r.GetDetail(), f.GetName()) || strings.Contains(r.GetRuleId(), f.GetName())
		})
	}
	var words []string
	for _, r := range s.GetReasons() {
		if !isRuleReason(r) {
			continue
		}
		for _, w := range strings.FieldsFunc(strings.ToLower(r.GetCode()+" "+r.GetRuleId()), notLetter) {
			if len(w) >= 4 && w != "rule" && !slices.Contains(words, w) {
				words = append(words, w)
			}
		}
	}
	pick(func(f *riskv1.Feature) bool {
		for _, w := range strings.FieldsFunc(f.GetName(), notLetter) {
			if slices.Contains(words, w) {
				return true
			}
		}
		return false
	})
	for _, c := range s.GetContributions() {
		pick(func(f *riskv1.Feature) bool { return f.GetName() == c.GetFeature() })
	}
	return out
}

func notLetter(r rune) bool { return r < 'a' || r > 'z' }

// openAlert is the state of an alert whose suppression window is open: the alert as it
// will next be emitted (Version is the last version emitted), the window's end, the
// triggers folded in since the last emission, and what the summary needs.
type openAlert struct {
	closeAt   time.Time
	pending   uint32
	threshold uint32
	model     string
	trace     string
	alert     *riskv1.RiskAlert
}

// Encoding: closeAt(8, unix nanos) pending(4) threshold(4) len(model)(2) model
// len(trace)(2) trace, then the alert's protobuf encoding.
func storeOpen(st *stream.Store, key []byte, o *openAlert) error {
	b, err := encodeOpen(o)
	if err != nil {
		return err
	}
	return st.Put(key, b)
}

func encodeOpen(o *openAlert) ([]byte, error) {
	a := proto.CloneOf(o.alert)
	a.Meta = nil // rebuilt at each emission
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode open alert: %w", err)
	}
	model, trace := clip(o.model), clip(o.trace)
	b := make([]byte, 0, 20+len(model)+len(trace)+len(body))
	b = binary.BigEndian.AppendUint64(b, uint64(o.closeAt.UnixNano()))
	b = binary.BigEndian.AppendUint32(b, o.pending)
	b = binary.BigEndian.AppendUint32(b, o.threshold)
	b = binary.BigEndian.AppendUint16(b, uint16(len(model)))
	b = append(b, model...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(trace)))
	b = append(b, trace...)
	return append(b, body...), nil
}

// clip bounds a string kept in the open alert's header (model id, trace id).
func clip(s string) string { return s[:min(len(s), 1024)] }

var errMalformedOpen = errors.New("stored open alert: malformed")

func loadOpen(st *stream.Store, key []byte) (*openAlert, bool, error) {
	b, found, err := st.Get(key)
	if err != nil || !found {
		return nil, false, err
	}
	o, err := decodeOpen(b)
	return o, err == nil, err
}

// decodeOpen decodes what storeOpen stored.
func decodeOpen(b []byte) (*openAlert, error) {
	if len(b) < 20 {
		return nil, errMalformedOpen
	}
	o := &openAlert{
		closeAt:   time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC(),
		pending:   binary.BigEndian.Uint32(b[8:]),
		threshold: binary.BigEndian.Uint32(b[12:]),
	}
	b = b[16:]
	str := func() (string, bool) {
		if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(b))
		s := string(b[2 : 2+n])
		b = b[2+n:]
		return s, true
	}
	var ok1, ok2 bool
	o.model, ok1 = str()
	o.trace, ok2 = str()
	if !ok1 || !ok2 {
		return nil, errMalformedOpen
	}
	o.alert = &riskv1.RiskAlert{}
	if err := proto.Unmarshal(b, o.alert); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformedOpen, err)
	}
	return o, nil
}

// joinKey joins parts with NUL bytes (entity and rule ids hold none).
func joinKey(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }
