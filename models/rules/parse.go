package rules

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// MaxRuleSetSize is the largest rule file Parse and LoadFile read: 1 MiB.
const MaxRuleSetSize = 1 << 20

// Parse reads a rule set from YAML or JSON (JSON is YAML) with the field names of RuleSet,
// Rule and Condition; unknown fields are errors. Thresholds may be written as YAML numbers
// (fixed: 0.8) or strings (units: "100000000000000000000"): either way the literal text is
// kept, never a float. Errors wrap ErrInvalidRule.
func Parse(data []byte) (RuleSet, error) {
	var set RuleSet
	if len(data) > MaxRuleSetSize {
		return set, fmt.Errorf("rules: rule set over %d bytes: %w", MaxRuleSetSize, ErrInvalidRule)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&set); err != nil {
		if errors.Is(err, io.EOF) {
			return set, fmt.Errorf("rules: empty rule set: %w", ErrInvalidRule)
		}
		return set, fmt.Errorf("rules: %w: %w", err, ErrInvalidRule)
	}
	return set, nil
}

// LoadFile reads, parses and compiles the rule set in the YAML or JSON file at path.
func LoadFile(path string) (*Engine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	set, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	e, err := Compile(set)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return e, nil
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns a copy of the text of the default rule set (default.yaml).
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the compiled default rule set for the "address_activity" feature set,
// version 1 (default.yaml, embedded in the binary). Each call compiles it anew; the
// result is immutable and may be shared.
func Default() (*Engine, error) {
	set, err := Parse(defaultYAML)
	if err != nil {
		return nil, fmt.Errorf("default rules: %w", err)
	}
	return Compile(set)
}
