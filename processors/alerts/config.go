package alerts

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// Defaults of Config.
const (
	DefaultComponent         = "alerts" // the `weir run` name of the processor
	DefaultApp               = "weir-alerts"
	DefaultInput             = "risk.scores"
	DefaultOutput            = "risk.alerts"
	DefaultSuppressionWindow = time.Hour
	DefaultDedupWindow       = 24 * time.Hour
	DefaultMaxEvidence       = 12
	DefaultMaxTxHashes       = 20
	// ReasonSanctioned is the reason code of a sanctions hit; CRITICAL by default.
	ReasonSanctioned = "SANCTIONED_COUNTERPARTY"
	// ReasonModelScore is the reason code of the model's own verdict.
	ReasonModelScore = "MODEL_SCORE"
)

// DefaultDecisionSeverity returns the default severity of each decision: BLOCK → HIGH,
// REVIEW → MEDIUM, ALLOW (with rule reasons) → LOW. It returns a new map each call.
func DefaultDecisionSeverity() map[riskv1.Decision]riskv1.Severity {
	return map[riskv1.Decision]riskv1.Severity{
		riskv1.Decision_DECISION_BLOCK:  riskv1.Severity_SEVERITY_HIGH,
		riskv1.Decision_DECISION_REVIEW: riskv1.Severity_SEVERITY_MEDIUM,
		riskv1.Decision_DECISION_ALLOW:  riskv1.Severity_SEVERITY_LOW,
	}
}

// DefaultReasonSeverity returns the default severity floor of reason codes:
// SANCTIONED_COUNTERPARTY → CRITICAL. It returns a new map each call.
func DefaultReasonSeverity() map[string]riskv1.Severity {
	return map[string]riskv1.Severity{ReasonSanctioned: riskv1.Severity_SEVERITY_CRITICAL}
}

// Config configures the processor. The zero value takes every default.
type Config struct {
	// App is the consumer group, changelog prefix and transactional id prefix.
	// Default: "weir-alerts".
	App string
	// Input is the scores topic. Default: "risk.scores".
	Input string
	// Output is the alerts topic. Default: "risk.alerts".
	Output string
	// SuppressionWindow is how long, in event time from an alert's first trigger,
	// further triggers for the same entity and rule are folded into it. Default: 1h.
	SuppressionWindow time.Duration
	// DedupWindow is how long, in event time, a trigger's (entity, rule, subject) is
	// remembered to drop duplicates. Must be at least SuppressionWindow. Default: 24h.
	DedupWindow time.Duration
	// DecisionSeverity maps a score's decision to the alert's severity. Decisions not in
	// the map (when it is set) count as LOW. Default: DefaultDecisionSeverity().
	DecisionSeverity map[riskv1.Decision]riskv1.Severity
	// ReasonSeverity maps reason codes to a severity floor: an alert with such a reason
	// is at least that severe. Default: DefaultReasonSeverity().
	ReasonSeverity map[string]riskv1.Severity
	// MaxEvidence bounds the feature values carried as evidence. Default: 12.
	MaxEvidence int
	// MaxTransactionHashes bounds transaction_hashes. Default: 20.
	MaxTransactionHashes int
}

func (c Config) withDefaults() Config {
	if c.App == "" {
		c.App = DefaultApp
	}
	if c.Input == "" {
		c.Input = DefaultInput
	}
	if c.Output == "" {
		c.Output = DefaultOutput
	}
	if c.SuppressionWindow == 0 {
		c.SuppressionWindow = DefaultSuppressionWindow
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = max(DefaultDedupWindow, c.SuppressionWindow)
	}
	if c.DecisionSeverity == nil {
		c.DecisionSeverity = DefaultDecisionSeverity()
	} else {
		c.DecisionSeverity = maps.Clone(c.DecisionSeverity)
	}
	if c.ReasonSeverity == nil {
		c.ReasonSeverity = DefaultReasonSeverity()
	} else {
		c.ReasonSeverity = maps.Clone(c.ReasonSeverity)
	}
	if c.MaxEvidence == 0 {
		c.MaxEvidence = DefaultMaxEvidence
	}
	if c.MaxTransactionHashes == 0 {
		c.MaxTransactionHashes = DefaultMaxTxHashes
	}
	return c
}

// Validate reports what is wrong with c once defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.SuppressionWindow < 0 {
		errs = append(errs, fmt.Errorf("suppression window %v: must be positive", c.SuppressionWindow))
	}
	if c.DedupWindow < c.SuppressionWindow {
		errs = append(errs, fmt.Errorf("dedup window %v: must be at least the suppression window %v",
			c.DedupWindow, c.SuppressionWindow))
	}
	if c.MaxEvidence < 0 || c.MaxTransactionHashes < 0 {
		errs = append(errs, errors.New("max evidence and max transaction hashes must not be negative"))
	}
	for d, s := range c.DecisionSeverity {
		if !validSeverity(s) {
			errs = append(errs, fmt.Errorf("decision %v: severity %v is not LOW..CRITICAL", d, s))
		}
	}
	for code, s := range c.ReasonSeverity {
		if !validSeverity(s) {
			errs = append(errs, fmt.Errorf("reason %s: severity %v is not LOW..CRITICAL", code, s))
		}
	}
	return errors.Join(errs...)
}

func validSeverity(s riskv1.Severity) bool {
	return s >= riskv1.Severity_SEVERITY_LOW && s <= riskv1.Severity_SEVERITY_CRITICAL
}

// ParseSeverity parses a severity name, case-insensitive, with or without the
// "SEVERITY_" prefix: "low", "medium", "high", "critical".
func ParseSeverity(s string) (riskv1.Severity, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SEVERITY_") {
		name = "SEVERITY_" + name
	}
	v, ok := riskv1.Severity_value[name]
	if !ok || !validSeverity(riskv1.Severity(v)) {
		return 0, fmt.Errorf("severity %q: want low, medium, high or critical", s)
	}
	return riskv1.Severity(v), nil
}

// SeverityName returns "LOW", "MEDIUM", "HIGH" or "CRITICAL" (or the enum's name).
func SeverityName(s riskv1.Severity) string { return strings.TrimPrefix(s.String(), "SEVERITY_") }

// DecisionName returns "ALLOW", "REVIEW" or "BLOCK" (or the enum's name).
func DecisionName(d riskv1.Decision) string { return strings.TrimPrefix(d.String(), "DECISION_") }
