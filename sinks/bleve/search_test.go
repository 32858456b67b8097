package bleve

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/codectest"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	"github.com/weirhq/weir/sinks"
)

// Query strings in the style of `weir search` find exactly the expected documents,
// newest first.
func TestSearch(t *testing.T) {
	w := newWriter(t)
	type intent struct {
		merchant string
		state    paymentsv1.IntentState
		reason   string
	}
	intents := []intent{
		{"m_123", paymentsv1.IntentState_INTENT_STATE_FAILED, "payment window expired"},
		{"m_123", paymentsv1.IntentState_INTENT_STATE_SUCCEEDED, ""},
		{"m_456", paymentsv1.IntentState_INTENT_STATE_FAILED, "risk rejected the payer"},
		{"m_123", paymentsv1.IntentState_INTENT_STATE_FAILED, "underpaid past tolerance"},
		{"m_123", paymentsv1.IntentState_INTENT_STATE_PROCESSING, ""},
	}
	var recs []sinks.Record
	ids := make([]string, len(intents))
	for i, in := range intents {
		ev := populated(t, "weir.payments.v1.IntentTransition", i+1).(*paymentsv1.IntentTransition)
		ev.MerchantId, ev.State, ev.FailureMessage = in.merchant, in.state, in.reason
		ev.Meta.EventTime = timestamppb.New(codectest.BaseTime.Add(time.Duration(i) * time.Minute))
		ids[i] = ev.GetMeta().GetEventId()
		recs = append(recs, record("payments.intents", ev, int64(i)))
	}
	recs = append(recs, record("chain.transfers", transfer(t, 1), 0))
	write(t, w, recs...)
	transferID := recs[len(recs)-1].Event.GetMeta().GetEventId()

	// want lists indices into ids, newest (highest index) first.
	for _, tc := range []struct {
		q    string
		want []int
	}{
		{`merchant_id:m_123 AND state:failed`, []int{3, 0}},
		{`merchant_id:m_123 && state:FAILED`, []int{3, 0}},
		{`merchant_id:m_123 state:failed`, []int{3, 0}},
		{`+merchant_id:m_123 +state:failed`, []int{3, 0}},
		{`state:failed`, []int{3, 2, 0}},
		{`state:INTENT_STATE_FAILED`, []int{3, 2, 0}},
		{`state.keyword:INTENT_STATE_FAILED`, []int{3, 2, 0}},
		{`state.keyword:failed`, nil},
		{`merchant_id:m_123 AND NOT state:failed`, []int{4, 1}},
		{`merchant_id:m_123 -state:failed`, []int{4, 1}},
		{`merchant_id:m_123 AND !(state:failed OR state:succeeded)`, []int{4}},
		{`state:succeeded OR merchant_id:m_456`, []int{2, 1}},
		{`state:succeeded || merchant_id:m_456`, []int{2, 1}},
		{`merchant_id:m_123 AND (state:succeeded OR state:processing)`, []int{4, 1}},
		{`merchant_id:m_123 AND state:(succeeded OR processing)`, []int{4, 1}},
		{`state:failed AND failure_message:expired`, []int{0}},
		{`failure_message:"risk rejected"`, []int{2}},
		{`failure_message:"rejected risk"`, nil},
		{`failure_message:under*`, []int{3}},
		{`merchant_id:m_1*`, []int{4, 3, 1, 0}},
		{`merchant_id:M_123`, nil},
		{`merchant_id:m_12`, nil},
		{`merchant_id:/m_4.*/`, []int{2}},
		{`NOT merchant_id:m_123 AND topic:payments.intents`, []int{2}},
		{`version:>=1099511627780`, []int{4, 3}},
		{fmt.Sprintf(`meta.event_time:>="%s"`, codectest.BaseTime.Add(3*time.Minute).Format(time.RFC3339Nano)), []int{4, 3}},
		{fmt.Sprintf(`meta.event_time:[* TO %s}`, codectest.BaseTime.Add(time.Minute).Format(time.RFC3339Nano)), []int{0}},
		{fmt.Sprintf(`meta.event_time:"%s"`, codectest.BaseTime.Add(2*time.Minute).Format(time.RFC3339Nano)), []int{2}},
		{`_id:` + ids[3], []int{3}},
		{`expired`, []int{0}},
		{`m_456`, []int{2}},
		{`retracted:false AND merchant_id:m_456`, []int{2}},
		{`retracted:true`, nil},
		{`nosuchfield:x`, nil},
	} {
		hits, total, err := w.Search(t.Context(), tc.q, SearchOptions{Topic: "payments.intents"})
		if err != nil {
			t.Errorf("%s: %v", tc.q, err)
			continue
		}
		var got, want []string
		for _, h := range hits {
			got = append(got, h.ID)
		}
		for _, i := range tc.want {
			want = append(want, ids[i])
		}
		if !slices.Equal(got, want) || total != uint64(len(want)) {
			t.Errorf("%s: %d hits %v, want %v", tc.q, total, got, tc.want)
		}
	}

	// Numbers: the version of seed 2 (uint64 2^40 + 2) and the ranges around it.
	for _, tc := range []struct {
		q    string
		want uint64
	}{
		{`version:1099511627778`, 1},
		{`version:>1099511627778`, 3},
		{`version:[1099511627777 TO 1099511627778]`, 2},
		{`previous_state:created`, 0},
	} {
		if _, total, err := w.Search(t.Context(), tc.q, SearchOptions{}); err != nil || total != tc.want {
			t.Errorf("%s: %d hits (%v), want %d", tc.q, total, err, tc.want)
		}
	}

	// Without a topic every event is searched, newest event_time first; paging.
	all, total, err := w.Search(t.Context(), "*", SearchOptions{Size: 3, From: 1})
	if err != nil || total != uint64(len(recs)) || len(all) != 3 {
		t.Fatalf("*: %d of %d hits (%v)", len(all), total, err)
	}
	if all[0].ID != ids[3] || all[1].ID != ids[2] || all[2].ID != ids[1] {
		t.Errorf("page 2 of everything: %v", []string{all[0].ID, all[1].ID, all[2].ID})
	}
	if hits, _, _ := w.Search(t.Context(), "*:*", SearchOptions{Topic: "chain.transfers"}); len(hits) != 1 || hits[0].ID != transferID || hits[0].Index != "chain.transfers" {
		t.Errorf("topic chain.transfers: %v", hits)
	}
}

// Malformed queries and windows are refused with an error, never a panic.
func TestSearchErrors(t *testing.T) {
	w := newWriter(t)
	for _, q := range []string{
		`merchant_id:"m_123`, `(state:failed`, `state:failed)`, `merchant_id:`, `version:abc`,
		`retracted:maybe`, `meta.event_time:>yesterday`, `amount:5`, `state:>failed`, `AND`, `NOT`,
		`version:[1 TO`, `merchant_id:/m_1`,
	} {
		if _, _, err := w.Search(t.Context(), q, SearchOptions{}); err == nil {
			t.Errorf("%q: no error", q)
		}
	}
	for _, o := range []SearchOptions{{Size: -1}, {From: -1}, {Size: MaxSearchSize + 1}, {From: MaxSearchSize, Size: 1}} {
		if _, _, err := w.Search(t.Context(), "", o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

// The lexer and parser take arbitrary input without panicking.
func FuzzParseQuery(f *testing.F) {
	w := newWriter(f)
	for _, s := range []string{`merchant_id:m_123 AND state:failed`, `a:(b OR -c) && !d`, `x:[1 TO *}`, `f:/r\/e/`, `"q\"x"`, `a:>="2025-01-01"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = w.ParseQuery(s)
	})
}
