// Package rules evaluates fraud rules over a feature vector (weir.risk.v1.FeatureVector)
// and gives the reason codes of the rules that fire.
//
// Rules are data: a RuleSet declared as a Go table or read from YAML / JSON (Parse,
// LoadFile; default.yaml is the shipped set, Default). Each rule has an id, a reason code
// (VELOCITY, STRUCTURING, SANCTIONED_COUNTERPARTY, DRAIN_TO_FRESH, PASSTHROUGH,
// ROUND_TRIP, ...), a decision (REVIEW or BLOCK), a severity and conditions that must all
// hold. An either-or is two rules with the same reason code.
//
// Comparisons are exact and never go through floats: a fixed-point feature
// (riskv1.Fixed) is compared with a decimal threshold as value/10^scale in 128-bit
// integers (CompareFixed), a money feature with a base-units threshold as a uint256
// integer (CompareUnits) and only when its asset is the threshold's asset. A feature the
// vector lacks makes its conditions false, so it never fires a rule.
//
// Compile resolves every feature name to a slot once; Evaluate walks the vector once to
// fill the slots and then compares integers, without allocating. The rule set's
// version (Engine.Version, RiskScore.rules_version) is the SHA-256 of its canonical JSON,
// the same whether it was declared in Go, YAML or JSON.
//
// An Engine is immutable and safe for concurrent use.
package rules
