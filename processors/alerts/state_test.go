package alerts

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

func TestOpenAlertRoundTrip(t *testing.T) {
	a := testAlert("1:0xrt", 3, riskv1.Severity_SEVERITY_HIGH, 2)
	in := &openAlert{closeAt: base.Add(time.Hour), pending: 2, threshold: 7000, model: "wallet_outflow_gbm",
		trace: "0af7651916cd43dd8448eb211c80319c", alert: a}
	b, err := encodeOpen(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeOpen(b)
	if err != nil {
		t.Fatal(err)
	}
	want := proto.CloneOf(a)
	want.Meta = nil
	if !out.closeAt.Equal(in.closeAt) || out.pending != 2 || out.threshold != 7000 || out.model != in.model ||
		out.trace != in.trace || !proto.Equal(out.alert, want) {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
}

// FuzzDecodeOpen: stored state that is not what encodeOpen wrote gives an error, never
// a panic; what it wrote decodes.
func FuzzDecodeOpen(f *testing.F) {
	b, err := encodeOpen(&openAlert{closeAt: base, model: "m", trace: "t", alert: testAlert("1:0xf", 1, riskv1.Severity_SEVERITY_LOW, 0)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeOpen(b)
		if err != nil {
			return
		}
		again, err := encodeOpen(o)
		if err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
		if _, err := decodeOpen(again); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
	})
}
