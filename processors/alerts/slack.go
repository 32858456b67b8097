package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// SlackMessage is the body posted for an alert: Slack's incoming-webhook format (a
// fallback text and Block Kit blocks), which Mattermost, Rocket.Chat and most chat
// webhooks accept too.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit block: header, section or context.
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a text object: "plain_text" or "mrkdwn".
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Slack's limits on text lengths, in characters.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
)

// Slack builds the webhook body of an alert: the severity, entity, rule, decision and
// score, the reasons with their details, a summary of the evidence, and the alert's id,
// version, suppressed count and model and sanctions list versions. It holds no link
// (nothing Slack would turn into one: '<', '>' and '&' in the alert's text are escaped)
// and nothing secret — only what the alert itself carries.
func Slack(a *riskv1.RiskAlert) SlackMessage {
	sev := SeverityName(a.GetSeverity())
	entity := EntityName(a)
	m := SlackMessage{
		Text: clipText(escape(fmt.Sprintf("[%s] %s on %s: %s", sev, a.GetRuleId(), entity, a.GetSummary())), slackSectionMax),
	}
	m.Blocks = append(m.Blocks, SlackBlock{Type: "header",
		Text: &SlackText{Type: "plain_text", Text: clipText(fmt.Sprintf("%s risk alert: %s", sev, a.GetRuleId()), slackHeaderMax)}})
	fields := []SlackText{
		mrkdwn("*Severity*\n" + sev),
		mrkdwn("*Decision*\n" + DecisionName(a.GetDecision())),
		mrkdwn("*Entity*\n" + escape(entity)),
		mrkdwn("*Rule*\n" + escape(a.GetRuleId())),
	}
	if a.GetScoreBp() > 0 {
		fields = append(fields, mrkdwn(fmt.Sprintf("*Score*\n%d bp", a.GetScoreBp())))
	}
	for i := range fields {
		fields[i].Text = clipText(fields[i].Text, slackFieldMax)
	}
	m.Blocks = append(m.Blocks, SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: clipText(escape(a.GetSummary()), slackSectionMax)}, Fields: fields})
	if len(a.GetReasons()) > 0 {
		var b strings.Builder
		b.WriteString("*Reasons*")
		for _, r := range a.GetReasons() {
			b.WriteString("\n• " + escape(r.GetCode()))
			if r.GetRuleId() != "" {
				b.WriteString(" (" + escape(r.GetRuleId()) + ")")
			}
			if r.GetDetail() != "" {
				b.WriteString(": " + escape(r.GetDetail()))
			}
		}
		m.Blocks = append(m.Blocks, SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: clipText(b.String(), slackSectionMax)}})
	}
	if len(a.GetEvidence()) > 0 {
		var b strings.Builder
		b.WriteString("*Evidence*")
		for _, f := range a.GetEvidence() {
			b.WriteString("\n• " + escape(f.GetName()) + " = " + escape(FeatureValue(f)))
		}
		m.Blocks = append(m.Blocks, SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: clipText(b.String(), slackSectionMax)}})
	}
	ctx := fmt.Sprintf("alert %s v%d", a.GetAlertId(), a.GetVersion())
	if a.GetSuppressed() > 0 {
		ctx += fmt.Sprintf(" · %d suppressed", a.GetSuppressed())
	}
	if n := len(a.GetTransactionHashes()); n > 0 {
		ctx += fmt.Sprintf(" · %d transactions", n)
	}
	if a.GetModelVersion() != "" {
		ctx += " · model " + a.GetModelVersion()
	}
	if a.GetSanctionsListVersion() != "" {
		ctx += " · sanctions list " + a.GetSanctionsListVersion()
	}
	m.Blocks = append(m.Blocks, SlackBlock{Type: "context", Elements: []SlackText{mrkdwn(clipText(escape(ctx), slackFieldMax))}})
	return m
}

// JSON encodes m without HTML escaping (Slack reads UTF-8 JSON; its own escaping of
// '<', '>' and '&' is already in the text).
func (m SlackMessage) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func mrkdwn(s string) SlackText { return SlackText{Type: "mrkdwn", Text: s} }

// escape applies Slack's text escaping, so that no part of an alert becomes a link or a
// mention.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// EntityName is the alert's entity for people: "address 1:0xabc…".
func EntityName(a *riskv1.RiskAlert) string {
	kind := strings.ToLower(strings.TrimPrefix(a.GetEntityType().String(), "ENTITY_TYPE_"))
	if a.GetEntityType() == riskv1.EntityType_ENTITY_TYPE_UNSPECIFIED {
		return a.GetEntityId()
	}
	return kind + " " + a.GetEntityId()
}

// FeatureValue formats a feature's value: a fixed-point number in decimal ("0.875"),
// a money feature as base units and asset ("1500000000 USDC base units").
func FeatureValue(f *riskv1.Feature) string {
	switch v := f.GetValue().(type) {
	case *riskv1.Feature_Fixed:
		return formatFixed(v.Fixed.GetValue(), v.Fixed.GetScale())
	case *riskv1.Feature_Units:
		if f.GetAsset() != "" {
			return v.Units + " " + f.GetAsset() + " base units"
		}
		return v.Units + " base units"
	}
	return "(none)"
}

// formatFixed writes value/10^scale in decimal without trailing zeros, exactly.
func formatFixed(value int64, scale uint32) string {
	if scale == 0 {
		return fmt.Sprint(value)
	}
	r := new(big.Rat).SetFrac(big.NewInt(value), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
	s := r.FloatString(int(scale))
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
