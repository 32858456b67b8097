package bleve

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	"github.com/weirhq/weir/sinks"
	"github.com/weirhq/weir/sinks/elasticsearch"
)

func open(t testing.TB, dir string) *Writer {
	t.Helper()
	w, err := Open(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newWriter(t testing.TB) *Writer {
	t.Helper()
	w := open(t, t.TempDir())
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func populated(t testing.TB, name string, seed int) codec.Event {
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

func record(topic string, ev codec.Event, offset int64) sinks.Record {
	return sinks.Record{Topic: topic, Partition: 3, Offset: offset,
		Type: string(ev.ProtoReflect().Descriptor().FullName()), Event: ev}
}

func write(t testing.TB, w *Writer, recs ...sinks.Record) {
	t.Helper()
	if err := w.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func count(t testing.TB, w *Writer) uint64 {
	t.Helper()
	n, err := w.DocCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// byID returns the hit of one event id, failing unless exactly one is found.
func byID(t testing.TB, w *Writer, id string) Hit {
	t.Helper()
	hits, total, err := w.Search(context.Background(), "_id:"+id, SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || len(hits) != 1 {
		t.Fatalf("_id:%s: %d hits, want 1", id, total)
	}
	return hits[0]
}

// Every event type of the catalogue, every field set and 78-digit amounts, comes back
// from the index equal to what was written.
func TestWriteEveryEventType(t *testing.T) {
	w := newWriter(t)
	var recs []sinks.Record
	for _, tp := range catalog.All() {
		for seed := 1; seed <= 2; seed++ {
			recs = append(recs, record(tp.Name, populated(t, tp.Value, seed), int64(len(recs))))
		}
	}
	write(t, w, recs...)
	if n := count(t, w); n != uint64(len(recs)) {
		t.Errorf("%d documents, want %d", n, len(recs))
	}
	for _, r := range recs {
		h := byID(t, w, r.Event.GetMeta().GetEventId())
		if h.Index != r.Topic {
			t.Errorf("hit of %s: Index %q, want the topic %q", r.Type, h.Index, r.Topic)
		}
		got, _ := codec.New(r.Type)
		if err := elasticsearch.DecodeEvent(h.Source, got.ProtoReflect()); err != nil {
			t.Fatalf("%s: %v\n%s", r.Type, err, h.Source)
		}
		if !proto.Equal(r.Event, got) {
			t.Errorf("%s: differs:\nwant %s\nhave %s", r.Type, prototext.Format(r.Event), prototext.Format(got))
		}
		var doc map[string]any
		if err := json.Unmarshal(h.Source, &doc); err != nil {
			t.Fatal(err)
		}
		if doc["topic"] != r.Topic || doc["event_type"] != r.Type || doc["retracted"] != false {
			t.Errorf("%s: writer fields %v %v %v", r.Type, doc["topic"], doc["event_type"], doc["retracted"])
		}
	}
	// The 78-digit amounts are keyword terms, found exactly.
	hits, total, err := w.Search(t.Context(), `amount.value:`+codectest.MaxUint256, SearchOptions{Topic: "payments.intents"})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || !strings.Contains(string(hits[0].Source), `"value":"`+codectest.MaxUint256+`"`) {
		t.Errorf("amount.value:MaxUint256 found %d (want the seed-1 intent)", total)
	}
	if _, total, _ := w.Search(t.Context(), `amount.value:`+codectest.MaxUint256[:77]+"4", SearchOptions{}); total != 0 {
		t.Errorf("an amount one below MaxUint256 found %d documents", total)
	}
}

// Replays leave one document per event: the same batch twice, overlapping batches, and
// a reopened index (as after a crash).
func TestWriteIdempotent(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	var recs []sinks.Record
	for seed := 1; seed <= 40; seed++ {
		recs = append(recs, record("payments.intents", populated(t, "weir.payments.v1.IntentTransition", seed), int64(seed)))
	}
	write(t, w, recs[:20]...)
	write(t, w, recs[:20]...)
	if n := count(t, w); n != 20 {
		t.Fatalf("after a replay: %d documents, want 20", n)
	}
	write(t, w, recs[10:30]...)
	if n := count(t, w); n != 30 {
		t.Fatalf("after an overlapping batch: %d documents, want 30", n)
	}
	// The same event twice in one batch.
	write(t, w, recs[29], recs[30], recs[30])
	if n := count(t, w); n != 31 {
		t.Fatalf("after a batch with a duplicate: %d documents, want 31", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, dir)
	defer w.Close()
	if n := count(t, w); n != 31 {
		t.Fatalf("reopened: %d documents, want 31", n)
	}
	write(t, w, recs...)
	if n := count(t, w); n != 40 {
		t.Fatalf("reopened and replayed: %d documents, want 40", n)
	}
	if _, total, err := w.Search(t.Context(), "", SearchOptions{}); err != nil || total != 40 {
		t.Fatalf("search all: %d, %v; want 40", total, err)
	}
}

func transfer(t testing.TB, seed int) codec.Event {
	return populated(t, "weir.chain.v1.Transfer", seed)
}

func retractedIDs(t *testing.T, w *Writer) []string {
	t.Helper()
	hits, _, err := w.Search(t.Context(), "retracted:true", SearchOptions{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	slices.Sort(ids)
	return ids
}

// A retraction marks exactly the events it lists: those indexed before it, one indexed
// after it, replays of both, across a reopen.
func TestRetraction(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	t1, t2, t3, t4 := transfer(t, 1), transfer(t, 2), transfer(t, 3), transfer(t, 4)
	write(t, w, record("chain.transfers", t1, 1), record("chain.transfers", t2, 2))

	r := populated(t, "weir.chain.v1.Retraction", 7).(*chainv1.Retraction)
	r.RetractedEventIds = []string{t1.GetMeta().GetEventId(), t3.GetMeta().GetEventId(), t4.GetMeta().GetEventId()}
	write(t, w, record("chain.retractions", r, 1))
	// t3 comes after its retraction; t1 is replayed.
	write(t, w, record("chain.transfers", t3, 3), record("chain.transfers", t1, 1))

	want := []string{t1.GetMeta().GetEventId(), t3.GetMeta().GetEventId()}
	slices.Sort(want)
	if got := retractedIDs(t, w); !slices.Equal(got, want) {
		t.Fatalf("retracted %v, want %v", got, want)
	}
	var doc struct {
		Retracted       bool   `json:"retracted"`
		RetractedBy     string `json:"retracted_by"`
		ReplacedByBlock struct {
			Number string `json:"number"`
			Hash   string `json:"hash"`
		} `json:"replaced_by_block"`
	}
	for _, id := range want {
		if err := json.Unmarshal(byID(t, w, id).Source, &doc); err != nil {
			t.Fatal(err)
		}
		if !doc.Retracted || doc.RetractedBy != r.GetMeta().GetEventId() || doc.ReplacedByBlock.Hash != r.GetReplacedBy().GetHash() {
			t.Errorf("%s: %+v, want retracted by %s", id, doc, r.GetMeta().GetEventId())
		}
	}
	// The marked documents still decode to their events.
	got, _ := codec.New("weir.chain.v1.Transfer")
	if err := elasticsearch.DecodeEvent(byID(t, w, t1.GetMeta().GetEventId()).Source, got.ProtoReflect()); err != nil || !proto.Equal(got, t1) {
		t.Errorf("retracted t1 decodes to %v, %v", got, err)
	}
	if _, total, _ := w.Search(t.Context(), "retracted:false AND topic:chain.transfers", SearchOptions{}); total != 1 {
		t.Errorf("retracted:false found %d transfers, want 1 (t2)", total)
	}

	// After a reopen (a crash), the retraction is remembered: t4, first seen now, and
	// a replay of everything, come out marked.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, dir)
	defer w.Close()
	write(t, w, record("chain.transfers", t4, 4), record("chain.transfers", t1, 1), record("chain.transfers", t2, 2),
		record("chain.transfers", t3, 3), record("chain.retractions", r, 1))
	want = append(want, t4.GetMeta().GetEventId())
	slices.Sort(want)
	if got := retractedIDs(t, w); !slices.Equal(got, want) {
		t.Fatalf("after reopen and replay: retracted %v, want %v", got, want)
	}
	if n := count(t, w); n != 5 {
		t.Errorf("%d documents, want 5", n)
	}
}

// A record that cannot become a document is poison; the batch is not written.
func TestWritePoison(t *testing.T) {
	w := newWriter(t)
	wrong := record("payments.intents", transfer(t, 1), 0)
	good := record("payments.intents", populated(t, "weir.payments.v1.IntentTransition", 1), 1)
	if err := w.Write(t.Context(), []sinks.Record{good, wrong}); !errors.Is(err, sinks.ErrPoison) {
		t.Errorf("a transfer on the intents topic: %v, want ErrPoison", err)
	}
	noID := populated(t, "weir.payments.v1.IntentTransition", 2)
	noID.GetMeta().EventId = ""
	if err := w.Write(t.Context(), []sinks.Record{record("payments.intents", noID, 2)}); !errors.Is(err, sinks.ErrPoison) {
		t.Errorf("an event without id: %v, want ErrPoison", err)
	}
	if n := count(t, w); n != 0 {
		t.Errorf("%d documents after refused batches, want 0", n)
	}
	if err := w.Ping(t.Context()); err != nil {
		t.Error(err)
	}
}

// Opening Dir with Dir empty is refused.
func TestOpenNeedsDir(t *testing.T) {
	if _, err := Open(t.Context(), Options{}); err == nil {
		t.Error("Open without Dir: nil error")
	}
}

// secretEvent is an event type built at run time with fields the deny-list must drop
// (the elasticsearch package's test event).
func secretEvent(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	field := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Label: opt, Type: typ.Enum(), JsonName: proto.String(name)}
	}
	meta := field("meta", 1, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE)
	meta.TypeName = proto.String(".weir.common.v1.Meta")
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("weirtest/bleve_secret.proto"),
		Package:    proto.String("weirtest.bleve.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"weir/common/v1/meta.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("KeyEvent"),
			Field: []*descriptorpb.FieldDescriptorProto{
				meta,
				field("key_id", 2, str),
				field("private_key", 3, str),
				field("key_share", 4, descriptorpb.FieldDescriptorProto_TYPE_BYTES),
				field("api_key", 5, str),
				field("api_key_id", 6, str),
				field("shares_accepted", 7, descriptorpb.FieldDescriptorProto_TYPE_UINT32),
				field("access_token", 8, str),
				field("password", 9, str),
				field("mnemonic", 10, str),
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

// Secret fields never reach the index: not their values, not their names, neither in
// the stored document, the indexed fields nor a mapping made from their type.
func TestSecretsNeverIndexed(t *testing.T) {
	w := newWriter(t)
	md := secretEvent(t)
	msg := dynamicpb.NewMessage(md)
	codectest.Populate(msg, 1)
	ev := dynEvent{msg}
	write(t, w, record("signer.keys-test", ev, 0))

	src := string(byID(t, w, ev.GetMeta().GetEventId()).Source)
	schema, err := schemaOf([]protoreflect.MessageDescriptor{md})
	if err != nil {
		t.Fatal(err)
	}
	im, err := indexMapping(schema)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := json.Marshal(im)
	fields, err := w.idx.Fields()
	if err != nil {
		t.Fatal(err)
	}
	indexed := strings.Join(fields, " ")
	for _, secret := range []string{"private_key", "key_share", "api_key", "access_token", "password", "mnemonic"} {
		quoted := `"` + secret + `"`
		if strings.Contains(src, quoted) || strings.Contains(string(mb), quoted) || slices.Contains(fields, secret) {
			t.Errorf("%s reached the index:\n%s\n%s\n%s", secret, src, mb, indexed)
		}
		v := msg.Get(md.Fields().ByName(protoreflect.Name(secret)))
		if s := v.String(); s != "" && strings.Contains(src, s) {
			t.Errorf("the value of %s reached the index", secret)
		}
	}
	if !strings.Contains(src, `"api_key_id":"api_key_id-0-1"`) || !strings.Contains(src, `"shares_accepted":8`) || !strings.Contains(src, `"key_id":"key_id-0-1"`) {
		t.Errorf("public fields missing: %s", src)
	}
	if strings.Contains(src, "0x02f80001") {
		t.Errorf("key share bytes reached the index: %s", src)
	}
	for _, q := range []string{"password-0-1 OR private_key-0-1 OR mnemonic-0-1", "password:password-0-1", `"access_token-0-1"`, "api_key:*"} {
		if _, total, err := w.Search(t.Context(), q, SearchOptions{}); err != nil || total != 0 {
			t.Errorf("search %q for secret values found %d documents (%v)", q, total, err)
		}
	}
	if _, total, _ := w.Search(t.Context(), "key_id:key_id-0-1", SearchOptions{}); total != 1 {
		t.Errorf("key_id of the secret event: %d hits, want 1", total)
	}
}

// A path that is a keyword in one event type and an enum or text in another is widened
// to the analyzed kind, in either order; a number against a keyword still fails.
func TestSchemaWidensKeywordToAnalyzed(t *testing.T) {
	for _, c := range []struct {
		a, b, want kind
	}{
		{kindKeyword, kindEnum, kindEnum}, {kindEnum, kindKeyword, kindEnum},
		{kindKeyword, kindText, kindText}, {kindEnum, kindText, kindText}, {kindText, kindEnum, kindText},
	} {
		dst := &node{kind: c.a}
		if err := merge(dst, &node{kind: c.b}, ".f"); err != nil || dst.kind != c.want {
			t.Errorf("merge(%s, %s) = %s, %v; want %s", c.a, c.b, dst.kind, err, c.want)
		}
	}
	if err := merge(&node{kind: kindNumber}, &node{kind: kindKeyword}, ".f"); err == nil {
		t.Error("a number and a keyword merged")
	}
}
