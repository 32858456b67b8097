package elasticsearch

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
)

// Every event of every type survives EventFields → JSON → DecodeEvent unchanged.
func TestDocumentRoundTrip(t *testing.T) {
	for _, name := range codec.Names() {
		for seed := 1; seed <= 2; seed++ {
			ev, _ := codec.New(name)
			codectest.Populate(ev.ProtoReflect(), seed)
			doc, err := EventFields(ev.ProtoReflect())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := codec.New(name)
			if err := DecodeEvent(b, got.ProtoReflect()); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, b)
			}
			if !proto.Equal(ev, got) {
				t.Errorf("%s seed %d: round trip differs:\n%s", name, seed, "want "+prototext.Format(ev)+"\nhave "+prototext.Format(got))
			}
		}
	}
}
