package elasticsearch

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	"github.com/weirhq/weir/sinks"
)

// harness is a Writer with a unique prefix on the real Elasticsearch, and plain HTTP
// access to check what it stored.
type harness struct {
	t      *testing.T
	url    string
	prefix string
	w      *Writer
	topics map[string]catalog.Topic
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	base := testenv.Elasticsearch(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "wt-" + hex.EncodeToString(b) + "-"
	opts.URL, opts.IndexPrefix = base, prefix
	ctx := t.Context()
	w, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, url: strings.TrimRight(base, "/"), prefix: prefix, w: w, topics: make(map[string]catalog.Topic)}
	for _, tp := range catalog.All() {
		h.topics[tp.Name] = tp
	}
	t.Cleanup(func() {
		h.cleanup()
		_ = w.Close(context.Background())
	})
	if err := w.EnsureTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

// cleanup deletes the indices and templates of the prefix, by name (the server refuses
// wildcard deletes).
func (h *harness) cleanup() {
	var idx []struct {
		Index string `json:"index"`
	}
	if err := json.Unmarshal(h.must("GET", "/_cat/indices/"+h.prefix+"*?format=json&h=index&expand_wildcards=all", nil, 200), &idx); err == nil && len(idx) > 0 {
		names := make([]string, len(idx))
		for i, x := range idx {
			names[i] = x.Index
		}
		h.must("DELETE", "/"+strings.Join(names, ","), nil, 200)
	}
	var tm struct {
		IndexTemplates []struct {
			Name string `json:"name"`
		} `json:"index_templates"`
	}
	if err := json.Unmarshal(h.must("GET", "/_index_template/"+h.prefix+"*", nil, 200), &tm); err == nil {
		for _, x := range tm.IndexTemplates {
			h.must("DELETE", "/_index_template/"+x.Name, nil, 200)
		}
	}
}

// call sends a request and returns the status and body.
func (h *harness) call(method, path string, body any) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (h *harness) must(method, path string, body any, status int) []byte {
	h.t.Helper()
	got, b := h.call(method, path, body)
	if got != status {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, status, b)
	}
	return b
}

// count refreshes and counts the documents of target (an index, alias or pattern).
func (h *harness) count(target string, query string) int {
	h.t.Helper()
	h.must("POST", "/"+target+"/_refresh?allow_no_indices=true", nil, 200)
	path := "/" + target + "/_count?allow_no_indices=true"
	if query != "" {
		path += "&q=" + url.QueryEscape(query)
	}
	var res struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(h.must("GET", path, nil, 200), &res); err != nil {
		h.t.Fatal(err)
	}
	return res.Count
}

// source fetches the _source of an event's document by id (real-time).
func (h *harness) source(topic string, ev codec.Event) []byte {
	h.t.Helper()
	index := h.w.IndexName(topic, ev.GetMeta().GetEventTime().AsTime())
	var res struct {
		Found  bool            `json:"found"`
		Source json.RawMessage `json:"_source"`
	}
	if err := json.Unmarshal(h.must("GET", "/"+index+"/_doc/"+ev.GetMeta().GetEventId(), nil, 200), &res); err != nil || !res.Found {
		h.t.Fatalf("document %s of %s: found %v, %v", ev.GetMeta().GetEventId(), topic, res.Found, err)
	}
	return res.Source
}

func (h *harness) record(topic string, ev codec.Event, offset int64) sinks.Record {
	return sinks.Record{
		Topic: topic, Partition: 3, Offset: offset,
		Type:  string(ev.ProtoReflect().Descriptor().FullName()),
		Event: ev,
	}
}

func populated(t *testing.T, name string, seed int) codec.Event {
	t.Helper()
	ev, err := codec.New(name)
	if err != nil {
		t.Fatal(err)
	}
	codectest.Populate(ev.ProtoReflect(), seed)
	if err := codec.Validate(ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// Every event type of the catalogue, every field set and 78-digit amounts, comes back
// from the index equal to what was written.
func TestWriteEveryEventType(t *testing.T) {
	h := newHarness(t, Options{})
	ctx := t.Context()
	var recs []sinks.Record
	for _, tp := range catalog.All() {
		for seed := 1; seed <= 2; seed++ {
			recs = append(recs, h.record(tp.Name, populated(t, tp.Value, seed), int64(len(recs))))
		}
	}
	if err := h.w.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		src := h.source(r.Topic, r.Event)
		got, _ := codec.New(r.Type)
		if err := DecodeEvent(src, got.ProtoReflect()); err != nil {
			t.Fatalf("%s: %v", r.Type, err)
		}
		if !proto.Equal(r.Event, got) {
			t.Errorf("%s: stored event differs:\nwant %s\nhave %s", r.Type, prototext.Format(r.Event), prototext.Format(got))
		}
		var meta struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Offset    int64  `json:"offset"`
			EventType string `json:"event_type"`
			Retracted *bool  `json:"retracted"`
		}
		if err := json.Unmarshal(src, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Topic != r.Topic || meta.Partition != r.Partition || meta.Offset != r.Offset || meta.EventType != r.Type || meta.Retracted == nil || *meta.Retracted {
			t.Errorf("%s: writer fields %+v", r.Type, meta)
		}
	}
	// 78-digit amounts are kept as written: the exact string is searchable, and the
	// numeric subfield holds only the values that fit a long.
	if n := h.count(h.prefix+"payments.intents", `amount.value:"`+codec.MaxUint256+`"`); n != 1 {
		t.Errorf("exact search of 2^256-1: %d documents, want 1", n)
	}
	if n := h.count(h.prefix+"payments.intents", "amount.value.num:>0"); n != 1 {
		t.Errorf("amount.value.num:>0: %d documents, want 1 (seed 2's 1e18+2; 2^256-1 does not fit)", n)
	}
	if n := h.count(h.prefix+"events", ""); n != len(recs) {
		t.Errorf("alias events: %d documents, want %d", n, len(recs))
	}
}

// Writing records again, or a batch overlapping one already written, leaves one
// document per event.
func TestWriteIdempotent(t *testing.T) {
	h := newHarness(t, Options{Workers: 3, FlushBytes: 4 << 10})
	ctx := t.Context()
	var recs []sinks.Record
	for seed := range 40 {
		recs = append(recs, h.record("chain.transfers", populated(t, "weir.chain.v1.Transfer", seed), int64(seed)))
		recs = append(recs, h.record("payments.intents", populated(t, "weir.payments.v1.IntentTransition", seed), int64(seed)))
	}
	first, second := recs[:60], recs[40:]
	for _, batch := range [][]sinks.Record{first, first, second, recs} {
		if err := h.w.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.count(h.prefix+"events", ""); n != len(recs) {
		t.Errorf("%d documents, want %d", n, len(recs))
	}
	if n := h.count(h.prefix+"chain.transfers", ""); n != 40 {
		t.Errorf("chain.transfers: %d documents, want 40", n)
	}
}

// A retraction marks exactly the documents it lists, also one written after it, and a
// replay of a retracted event leaves it retracted.
func TestRetraction(t *testing.T) {
	h := newHarness(t, Options{})
	ctx := t.Context()
	var before []sinks.Record
	for seed := range 6 {
		before = append(before,
			h.record("chain.transfers", populated(t, "weir.chain.v1.Transfer", seed), int64(seed)),
			h.record("chain.blocks", populated(t, "weir.chain.v1.Block", seed), int64(seed)))
	}
	if err := h.w.Write(ctx, before); err != nil {
		t.Fatal(err)
	}
	late := h.record("chain.logs", populated(t, "weir.chain.v1.Log", 99), 99)
	retracted := []sinks.Record{before[0], before[1], before[4], late}
	ret := populated(t, "weir.chain.v1.Retraction", 7).(*chainv1.Retraction)
	ret.RetractedEventIds = nil
	for _, r := range retracted {
		ret.RetractedEventIds = append(ret.RetractedEventIds, r.Event.GetMeta().GetEventId())
	}
	// The retraction arrives in a batch with an unrelated event.
	if err := h.w.Write(ctx, []sinks.Record{
		h.record("chain.retractions", ret, 0),
		h.record("payments.intents", populated(t, "weir.payments.v1.IntentTransition", 1), 0),
	}); err != nil {
		t.Fatal(err)
	}
	// The late event, and a replay of a retracted one.
	if err := h.w.Write(ctx, []sinks.Record{late, before[0]}); err != nil {
		t.Fatal(err)
	}
	want := make(map[string]bool)
	for _, r := range retracted {
		want[r.Event.GetMeta().GetEventId()] = true
	}
	for _, r := range append(before, late) {
		var doc struct {
			Retracted       bool   `json:"retracted"`
			RetractedBy     string `json:"retracted_by"`
			ReplacedByBlock *struct {
				Hash string `json:"hash"`
			} `json:"replaced_by_block"`
		}
		if err := json.Unmarshal(h.source(r.Topic, r.Event), &doc); err != nil {
			t.Fatal(err)
		}
		id := r.Event.GetMeta().GetEventId()
		if doc.Retracted != want[id] {
			t.Errorf("%s %s: retracted %v, want %v", r.Topic, id, doc.Retracted, want[id])
		}
		if want[id] && (doc.RetractedBy != ret.GetMeta().GetEventId() || doc.ReplacedByBlock == nil || doc.ReplacedByBlock.Hash != ret.GetReplacedBy().GetHash()) {
			t.Errorf("%s: marked %+v, want retracted_by %s, replaced by %s", id, doc, ret.GetMeta().GetEventId(), ret.GetReplacedBy().GetHash())
		}
	}
	if n := h.count(h.prefix+"events", "retracted:true"); n != len(retracted) {
		t.Errorf("retracted:true: %d documents, want %d", n, len(retracted))
	}
	if n := h.count(h.prefix+"chain.retractions", ""); n != 1 {
		t.Errorf("chain.retractions: %d documents, want the retraction itself", n)
	}
}

// query_string searches find the expected events across indices, in one family or all.
func TestSearch(t *testing.T) {
	h := newHarness(t, Options{})
	ctx := t.Context()
	var recs []sinks.Record
	var wantIDs []string
	for seed := range 12 {
		ev := populated(t, "weir.payments.v1.IntentTransition", seed).(*paymentsv1.IntentTransition)
		ev.MerchantId = fmt.Sprintf("m_%d", 123+seed%2)
		ev.State = paymentsv1.IntentState_INTENT_STATE_SUCCEEDED
		if seed%3 == 0 {
			ev.State = paymentsv1.IntentState_INTENT_STATE_FAILED
			ev.FailureMessage = "card issuer declined the payment"
		}
		// Spread over two months, so the hits come from two indices.
		ev.Meta.EventTime.Seconds += int64(seed%2) * 40 * 24 * 3600
		if ev.MerchantId == "m_123" && ev.State == paymentsv1.IntentState_INTENT_STATE_FAILED {
			wantIDs = append(wantIDs, ev.GetMeta().GetEventId())
		}
		recs = append(recs, h.record("payments.intents", ev, int64(seed)))
	}
	recs = append(recs, h.record("risk.alerts", populated(t, "weir.risk.v1.RiskAlert", 1), 0))
	if err := h.w.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	h.count(h.prefix+"events", "")
	slices.Sort(wantIDs)
	for _, tc := range []struct {
		query string
		opts  SearchOptions
	}{
		{"merchant_id:m_123 AND state:failed", SearchOptions{}},
		{"merchant_id:m_123 AND state.keyword:INTENT_STATE_FAILED", SearchOptions{Topic: "payments.intents"}},
		{`merchant_id:m_123 AND failure_message:declined`, SearchOptions{Size: 100}},
	} {
		hits, total, err := h.w.Search(ctx, tc.query, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		var got []string
		for _, hit := range hits {
			got = append(got, hit.ID)
			ev := new(paymentsv1.IntentTransition)
			if err := DecodeEvent(hit.Source, ev.ProtoReflect()); err != nil {
				t.Fatalf("%s: %v", tc.query, err)
			}
		}
		slices.Sort(got)
		if total != int64(len(wantIDs)) || !slices.Equal(got, wantIDs) {
			t.Errorf("%s: total %d, hits %v, want %v", tc.query, total, got, wantIDs)
		}
	}
	if _, total, err := h.w.Search(ctx, "state:failed", SearchOptions{Topic: "risk.alerts"}); err != nil || total != 0 {
		t.Errorf("search of risk.alerts: %d hits, %v; want 0", total, err)
	}
}

// An auditor fetches a document with curl.
func TestCurlFetchesDocument(t *testing.T) {
	h := newHarness(t, Options{})
	curl, err := exec.LookPath("curl")
	if err != nil {
		if testenv.InCI() {
			t.Fatal("curl is not installed")
		}
		t.Skip("curl is not installed")
	}
	ev := populated(t, "weir.settlement.v1.Payout", 1)
	if err := h.w.Write(t.Context(), []sinks.Record{h.record("settlement.payouts", ev, 5)}); err != nil {
		t.Fatal(err)
	}
	index := h.w.IndexName("settlement.payouts", ev.GetMeta().GetEventTime().AsTime())
	out, err := exec.CommandContext(t.Context(), curl, "-sS", "--fail", h.url+"/"+index+"/_doc/"+ev.GetMeta().GetEventId()).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var res struct {
		Found  bool `json:"found"`
		Source struct {
			Amount struct {
				Value string `json:"value"`
			} `json:"amount"`
			Topic string `json:"topic"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("curl output %s: %v", out, err)
	}
	if !res.Found || res.Source.Amount.Value != codec.MaxUint256 || res.Source.Topic != "settlement.payouts" {
		t.Errorf("curl fetched %s", out)
	}
}

// secretEvent is an event type built at run time with fields the deny-list must drop.
func secretEvent(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	field := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Label: opt, Type: typ.Enum(), JsonName: proto.String(name)}
	}
	meta := field("meta", 1, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE)
	meta.TypeName = proto.String(".weir.common.v1.Meta")
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("weirtest/secret.proto"),
		Package:    proto.String("weirtest.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"weir/common/v1/meta.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("KeyEvent"),
			Field: []*descriptorpb.FieldDescriptorProto{
				meta,
				field("key_id", 2, *str),
				field("private_key", 3, *str),
				field("key_share", 4, descriptorpb.FieldDescriptorProto_TYPE_BYTES),
				field("api_key", 5, *str),
				field("api_key_id", 6, *str),
				field("shares_accepted", 7, descriptorpb.FieldDescriptorProto_TYPE_UINT32),
				field("access_token", 8, *str),
				field("password", 9, *str),
				field("mnemonic", 10, *str),
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().Get(0)
}

// dynEvent makes a dynamic message a codec.Event.
type dynEvent struct{ *dynamicpb.Message }

func (e dynEvent) GetMeta() *commonv1.Meta {
	m := e.Get(e.Descriptor().Fields().ByName("meta")).Message()
	b, _ := proto.Marshal(m.Interface())
	meta := new(commonv1.Meta)
	_ = proto.Unmarshal(b, meta)
	return meta
}

// Secret fields never reach the index: not their values, not their names.
func TestSecretsNeverIndexed(t *testing.T) {
	h := newHarness(t, Options{})
	md := secretEvent(t)
	msg := dynamicpb.NewMessage(md)
	codectest.Populate(msg, 1)
	ev := dynEvent{msg}
	const topic = "signer.keys-test"
	if err := h.w.Write(t.Context(), []sinks.Record{h.record(topic, ev, 0)}); err != nil {
		t.Fatal(err)
	}
	src := string(h.source(topic, ev))
	mapping := string(h.must("GET", "/"+h.w.IndexName(topic, ev.GetMeta().GetEventTime().AsTime())+"/_mapping", nil, 200))
	for _, secret := range []string{"private_key", "key_share", `"api_key"`, "access_token", "password", "mnemonic"} {
		if strings.Contains(src, secret) || strings.Contains(mapping, secret) {
			t.Errorf("%s reached the index:\n%s\n%s", secret, src, mapping)
		}
		v := msg.Get(md.Fields().ByName(protoreflect.Name(strings.Trim(secret, `"`))))
		if s := v.String(); v.Interface() != nil && s != "" && strings.Contains(src, s) {
			t.Errorf("the value of %s reached the index", secret)
		}
	}
	if !strings.Contains(src, `"api_key_id":"api_key_id-0-1"`) || !strings.Contains(src, `"shares_accepted":8`) || !strings.Contains(src, `"key_id":"key_id-0-1"`) {
		t.Errorf("public fields missing: %s", src)
	}
	// The raw bytes of the key share must not appear in any form either.
	if strings.Contains(src, "0x02f80001") {
		t.Errorf("key share bytes reached the index: %s", src)
	}
	if n := h.count(h.prefix+"events", "password-0-1 OR private_key-0-1 OR mnemonic-0-1"); n != 0 {
		t.Errorf("a search for secret values found %d documents", n)
	}
}

// A document the mapping refuses is poison; a store that does not answer is not.
func TestWriteErrors(t *testing.T) {
	var down atomic.Bool
	h := newHarness(t, Options{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if down.Load() {
			return nil, errors.New("connection refused (test)")
		}
		return http.DefaultTransport.RoundTrip(r)
	})})
	ctx := t.Context()
	// A transfer on the intents topic: its fields are not in the intents mapping.
	wrong := h.record("payments.intents", populated(t, "weir.chain.v1.Transfer", 1), 0)
	err := h.w.Write(ctx, []sinks.Record{wrong})
	if !errors.Is(err, sinks.ErrPoison) {
		t.Errorf("Write of a document the mapping refuses: %v, want ErrPoison", err)
	}
	// A document the server refuses (400): an index that requires a routing value.
	routed := h.record("payments.webhooks", populated(t, "weir.payments.v1.WebhookDelivery", 1), 0)
	h.must("PUT", "/"+h.w.IndexName("payments.webhooks", routed.Event.GetMeta().GetEventTime().AsTime()),
		map[string]any{"mappings": map[string]any{"_routing": map[string]any{"required": true}}}, 200)
	err = h.w.Write(ctx, []sinks.Record{routed})
	if !errors.Is(err, sinks.ErrPoison) || !strings.Contains(err.Error(), "400") {
		t.Errorf("Write of a document the server refuses: %v, want ErrPoison from a 400", err)
	}
	good := h.record("payments.intents", populated(t, "weir.payments.v1.IntentTransition", 1), 1)
	down.Store(true)
	err = h.w.Write(ctx, []sinks.Record{good})
	if err == nil || errors.Is(err, sinks.ErrPoison) {
		t.Errorf("Write with the store down: %v, want a plain error", err)
	}
	if err := h.w.Ping(ctx); err == nil {
		t.Error("Ping with the store down: nil")
	}
	down.Store(false)
	if err := h.w.Ping(ctx); err != nil {
		t.Errorf("Ping after the store came back: %v", err)
	}
	if err := h.w.Write(ctx, []sinks.Record{good}); err != nil {
		t.Errorf("Write after the store came back: %v", err)
	}
	if n := h.count(h.prefix+"payments.intents", ""); n != 1 {
		t.Errorf("%d documents, want 1", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
