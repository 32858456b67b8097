package alerts

import (
	"strings"
	"testing"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

func TestFormatFixed(t *testing.T) {
	for _, tc := range []struct {
		value int64
		scale uint32
		want  string
	}{
		{14, 0, "14"},
		{875000, 6, "0.875"},
		{-1234, 2, "-12.34"},
		{1000000, 6, "1"},
		{-5, 3, "-0.005"},
		{-9223372036854775808, 18, "-9.223372036854775808"},
	} {
		if got := formatFixed(tc.value, tc.scale); got != tc.want {
			t.Errorf("formatFixed(%d, %d) = %q, want %q", tc.value, tc.scale, got, tc.want)
		}
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]riskv1.Severity{
		"high": riskv1.Severity_SEVERITY_HIGH, "CRITICAL": riskv1.Severity_SEVERITY_CRITICAL,
		"Severity_Low": riskv1.Severity_SEVERITY_LOW, " medium ": riskv1.Severity_SEVERITY_MEDIUM,
	} {
		if got, err := ParseSeverity(in); err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "unspecified", "urgent"} {
		if _, err := ParseSeverity(in); err == nil {
			t.Errorf("ParseSeverity(%q): no error", in)
		}
	}
}

func TestEvidenceIsBounded(t *testing.T) {
	s := score("1:0xe", subject("e"), 0, riskv1.Decision_DECISION_BLOCK, velocity, sanctioned)
	for i := range 30 {
		s.Features = append(s.Features, fixed("sanctioned_hop_"+string(rune('a'+i%26))+string(rune('a'+i/26)), int64(i), 0))
	}
	if got := Evidence(s, 12); len(got) != 12 || got[0].GetName() != "transfers_out_count_1h" {
		t.Errorf("evidence: %d features, first %q; want 12, the one the rule names first", len(got), got[0].GetName())
	}
	if got := Evidence(s, 0); len(got) != 0 {
		t.Errorf("evidence with a bound of 0: %d features", len(got))
	}
}

// TestSlackEscapesText: nothing in an alert turns into a link or a mention.
func TestSlackEscapesText(t *testing.T) {
	a := testAlert("1:<http://evil.example|click>", 1, riskv1.Severity_SEVERITY_HIGH, 0)
	a.Reasons[0].Detail = "<!channel> & <@U123>"
	b, err := Slack(a).JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<http", "<!channel>", "<@U123>", "\\u003c"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("body holds %q: %s", bad, b)
		}
	}
}
