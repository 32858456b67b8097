package codec

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/codectest"
	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	ledgerv1 "github.com/weirhq/weir/schemas/gen/weir/ledger/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

func meta(kind string) *commonv1.Meta {
	return &commonv1.Meta{
		EventId:   eventid.New(kind, "test"),
		EventTime: timestamppb.New(testTime),
		Source:    "processors/ledger",
		TraceId:   "4bf92f3577b34da6a3ce929d0e0e4736",
	}
}

func validPosting() *ledgerv1.Posting {
	return &ledgerv1.Posting{
		Meta:      meta("weir.ledger.v1.Posting"),
		PostingId: "j-1:0",
		JournalId: "j-1",
		AccountId: "acct-42",
		Direction: ledgerv1.Direction_DIRECTION_CREDIT,
		Amount: &commonv1.Amount{
			Value:    "1500000000000000000",
			Asset:    "ETH",
			Decimals: 18,
		},
		Status: ledgerv1.PostingStatus_POSTING_STATUS_POSTED,
	}
}

func validWindowTotal() *ledgerv1.AccountWindowTotal {
	return &ledgerv1.AccountWindowTotal{
		Meta:        meta("weir.ledger.v1.AccountWindowTotal"),
		AccountId:   "acct-42",
		Asset:       "erc20:1:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
		Decimals:    6,
		WindowStart: timestamppb.New(testTime.Truncate(60e9)),
		WindowEnd:   timestamppb.New(testTime.Truncate(60e9).Add(60e9)),
		DebitTotal:  "0",
		CreditTotal: "2500000",
		Postings:    3,
	}
}

func validTransaction() *chainv1.Transaction {
	eth := func(v string) *commonv1.Amount { return &commonv1.Amount{Value: v, Asset: "ETH", Decimals: 18} }
	return &chainv1.Transaction{
		Meta:              meta("weir.chain.v1.Transaction"),
		ChainId:           1,
		Hash:              "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060",
		Block:             &chainv1.BlockRef{Number: 46147, Hash: "0x4e3a3754410177e6937ef1f84bba68ea139e8d1a2258c5f85db9f1cd715a1bdd"},
		From:              "0xa1e4380a3b1f749673e270229993ee55f35663b4",
		To:                "0x5df9b87991262f6ba471f09758cde1c0fc1de734",
		Value:             eth("31337"),
		Type:              2,
		GasLimit:          21000,
		GasUsed:           21000,
		MaxFeePerGas:      proto.String("30000000000"),
		EffectiveGasPrice: "12000000000",
		Fee:               eth("252000000000000"),
		Status:            chainv1.TransactionStatus_TRANSACTION_STATUS_SUCCEEDED,
		Confirmation:      chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST,
	}
}

func validFeatures() *riskv1.FeatureVector {
	return &riskv1.FeatureVector{
		Meta:       meta("weir.risk.v1.FeatureVector"),
		EntityType: riskv1.EntityType_ENTITY_TYPE_ADDRESS,
		EntityId:   "1:0xa1e4380a3b1f749673e270229993ee55f35663b4",
		FeatureSet: "wallet_outflow",
		Features: []*riskv1.Feature{
			{Name: "transfers_out_count_1h", Value: &riskv1.Feature_Fixed{Fixed: &riskv1.Fixed{Value: 12}}},
			{Name: "value_out_sum_1h", Value: &riskv1.Feature_Units{Units: "5000000"}, Asset: "USD"},
			{Name: "new_counterparty_ratio_24h", Value: &riskv1.Feature_Fixed{Fixed: &riskv1.Fixed{Value: 123400, Scale: 6}}},
		},
	}
}

func TestNamesListsEveryEventMessage(t *testing.T) {
	// Every message in a weir.* package whose field 1 is `weir.common.v1.Meta meta` is an
	// event and must be listed (so Decode knows it); every listed name must be one.
	var want []string
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if isEvent(mt.Descriptor()) {
			want = append(want, string(mt.Descriptor().FullName()))
		}
		return true
	})
	got := Names()
	if strings.Join(got, ",") != strings.Join(sorted(want), ",") {
		t.Fatalf("Names() = %v\nevent messages registered = %v", got, sorted(want))
	}
	if len(got) < 24 {
		t.Fatalf("only %d event types; a gen package is not imported by codec", len(got))
	}
	for _, name := range got {
		md, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil || !isEvent(md.(protoreflect.MessageDescriptor)) {
			t.Errorf("%s: not an event message (field 1 must be weir.common.v1.Meta meta): %v", name, err)
		}
	}
}

func isEvent(md protoreflect.MessageDescriptor) bool {
	if !strings.HasPrefix(string(md.FullName()), "weir.") {
		return false
	}
	f := md.Fields().ByNumber(1)
	return f != nil && f.Name() == "meta" && f.Message() != nil &&
		f.Message().FullName() == "weir.common.v1.Meta" && !f.IsList()
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestRoundTripEveryEvent fills every field of every event type, then checks
// Marshal → Decode gives an equal message, and the same through protojson (the sinks'
// encoding) followed by Validate.
func TestRoundTripEveryEvent(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			ev, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			codectest.Populate(ev.ProtoReflect(), 0)
			b, err := Marshal(ev)
			if err != nil {
				t.Fatalf("Marshal of a fully populated %s: %v", name, err)
			}
			got, err := Decode(name, b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !proto.Equal(ev, got) {
				t.Fatalf("binary round trip changed the message:\nwant %v\ngot  %v", ev, got)
			}
			b2, err := Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != string(b2) {
				t.Fatal("deterministic Marshal gave different bytes for equal messages")
			}

			js, err := protojson.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			fromJSON, _ := New(name)
			if err := protojson.Unmarshal(js, fromJSON); err != nil {
				t.Fatalf("protojson.Unmarshal: %v", err)
			}
			if err := Validate(fromJSON); err != nil {
				t.Fatalf("Validate after JSON round trip: %v", err)
			}
			if !proto.Equal(ev, fromJSON) {
				t.Fatalf("JSON round trip changed the message:\n%s", js)
			}
		})
	}
}

func TestRoundTripExamples(t *testing.T) {
	for _, ev := range []Event{validPosting(), validWindowTotal(), validTransaction(), validFeatures()} {
		name := string(ev.ProtoReflect().Descriptor().FullName())
		t.Run(name, func(t *testing.T) {
			b, err := Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(name, b)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(ev, got) {
				t.Fatalf("round trip changed the message:\nwant %v\ngot  %v", ev, got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		ev       Event
		wantPath string // empty: valid
		wantIn   string // substring of the reason
	}{
		{name: "posting", ev: validPosting()},
		{name: "window total", ev: validWindowTotal()},
		{name: "transaction", ev: validTransaction()},
		{name: "features", ev: validFeatures()},
		{name: "zero amount", ev: with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "0" })},
		{name: "max uint256", ev: with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = MaxUint256 })},
		{name: "77 decimals", ev: with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Decimals = 77 })},
		{name: "optional uint256 unset", ev: with(validTransaction(), func(x *chainv1.Transaction) { x.MaxFeePerGas = nil })},

		{"no meta", with(validPosting(), func(p *ledgerv1.Posting) { p.Meta = nil }), "meta", "missing"},
		{"empty event id", with(validPosting(), func(p *ledgerv1.Posting) { p.Meta.EventId = "" }), "meta.event_id", "empty"},
		{"huge event id", with(validPosting(), func(p *ledgerv1.Posting) { p.Meta.EventId = strings.Repeat("a", 257) }), "meta.event_id", "longer than 256"},
		{"no event time", with(validPosting(), func(p *ledgerv1.Posting) { p.Meta.EventTime = nil }), "meta.event_time", "missing"},
		{"bad event time", with(validPosting(), func(p *ledgerv1.Posting) { p.Meta.EventTime.Nanos = 1e9 }), "meta.event_time", "invalid timestamp"},
		{"event time before year 1", with(validPosting(), func(p *ledgerv1.Posting) { p.Meta.EventTime.Seconds = -62135596801 }), "meta.event_time", "invalid timestamp"},
		{"no source", with(validPosting(), func(p *ledgerv1.Posting) { p.Meta.Source = "" }), "meta.source", "empty"},
		{"no amount", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount = nil }), "amount", "required"},
		{"empty value", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "" }), "amount.value", "empty"},
		{"negative", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "-1" }), "amount.value", "not a decimal"},
		{"plus sign", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "+1" }), "amount.value", "not a decimal"},
		{"leading space", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = " 1" }), "amount.value", "not a decimal"},
		{"trailing garbage", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "1x" }), "amount.value", "not a decimal"},
		{"decimal point", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "1.5" }), "amount.value", "not a decimal"},
		{"exponent", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "1e18" }), "amount.value", "not a decimal"},
		{"hex", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "0x10" }), "amount.value", "not a decimal"},
		{"arabic-indic digit", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "١" }), "amount.value", "not a decimal"},
		{"leading zero", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "007" }), "amount.value", "leading zero"},
		{"79 digits", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Value = "1" + strings.Repeat("0", 78) }), "amount.value", "more than 78 digits"},
		{"2^256", with(validPosting(), func(p *ledgerv1.Posting) {
			p.Amount.Value = "115792089237316195423570985008687907853269984665640564039457584007913129639936"
		}), "amount.value", "larger than 2^256-1"},
		{"no asset", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Asset = "" }), "amount.asset", "required"},
		{"78 decimals", with(validPosting(), func(p *ledgerv1.Posting) { p.Amount.Decimals = 78 }), "amount.decimals", "more than 77"},
		{"unspecified direction", with(validPosting(), func(p *ledgerv1.Posting) { p.Direction = 0 }), "direction", "required"},
		{"no account", with(validPosting(), func(p *ledgerv1.Posting) { p.AccountId = "" }), "account_id", "required"},
		{"window without debit total", with(validWindowTotal(), func(w *ledgerv1.AccountWindowTotal) { w.DebitTotal = "" }), "debit_total", "empty"},
		{"window negative credit", with(validWindowTotal(), func(w *ledgerv1.AccountWindowTotal) { w.CreditTotal = "-5" }), "credit_total", "not a decimal"},
		{"window 78 decimals", with(validWindowTotal(), func(w *ledgerv1.AccountWindowTotal) { w.Decimals = 78 }), "decimals", "more than 77"},
		{"window without end", with(validWindowTotal(), func(w *ledgerv1.AccountWindowTotal) { w.WindowEnd = nil }), "window_end", "required"},
		{"optional uint256 set badly", with(validTransaction(), func(x *chainv1.Transaction) { x.MaxFeePerGas = proto.String("") }), "max_fee_per_gas", "empty"},
		{"nested fee", with(validTransaction(), func(x *chainv1.Transaction) { x.Fee.Value = "1.0" }), "fee.value", "not a decimal"},
		{"block ref without hash", with(validTransaction(), func(x *chainv1.Transaction) { x.Block.Hash = "" }), "block.hash", "required"},
		{"zero chain id", with(validTransaction(), func(x *chainv1.Transaction) { x.ChainId = 0 }), "chain_id", "required"},
		{"oneof member", with(validFeatures(), func(f *riskv1.FeatureVector) {
			f.Features[1].Value = &riskv1.Feature_Units{Units: "-3"}
		}), "features[1].units", "not a decimal"},
		{"list element", with(validFeatures(), func(f *riskv1.FeatureVector) { f.Features[2].Name = "" }), "features[2].name", "required"},
		{"bad duration", &paymentsv1.WebhookDelivery{
			Meta: meta("weir.payments.v1.WebhookDelivery"), DeliveryId: "d", MerchantId: "m", EndpointId: "e",
			SubjectEventId: "s", WebhookType: "payment_intent.succeeded", Attempt: 1,
			Status:  paymentsv1.WebhookDeliveryStatus_WEBHOOK_DELIVERY_STATUS_SUCCEEDED,
			Latency: &durationpb.Duration{Seconds: 1, Nanos: -1},
		}, "latency", "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.ev)
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed, want an error at %s", tt.wantPath)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v holds no *FieldError", err)
			}
			if fe.Path != tt.wantPath || !strings.Contains(fe.Reason, tt.wantIn) {
				t.Errorf("FieldError = {%q, %q}, want path %q and reason containing %q", fe.Path, fe.Reason, tt.wantPath, tt.wantIn)
			}
			name := string(tt.ev.ProtoReflect().Descriptor().FullName())
			if !strings.Contains(err.Error(), name) || !strings.HasPrefix(err.Error(), "codec: ") {
				t.Errorf("error %q does not start with codec: and name the type %s", err, name)
			}

			// The same event must be refused by Marshal, and by Unmarshal once encoded.
			if _, err := Marshal(tt.ev); !errors.Is(err, ErrInvalid) {
				t.Errorf("Marshal: %v, want ErrInvalid", err)
			}
			b, err := proto.Marshal(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(name, b); !errors.Is(err, ErrInvalid) {
				t.Errorf("Decode: %v, want ErrInvalid", err)
			}
		})
	}
}

func with[T Event](ev T, f func(T)) T {
	f(ev)
	return ev
}

func TestDecodeErrors(t *testing.T) {
	good, err := Marshal(validPosting())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		typ     string
		b       []byte
		wantErr error
	}{
		{"unknown type", "weir.ledger.v1.Nope", good, ErrUnknownType},
		{"not an event", "weir.common.v1.Amount", good, ErrUnknownType},
		{"well-known type", "google.protobuf.Timestamp", good, ErrUnknownType},
		{"truncated", "weir.ledger.v1.Posting", good[:len(good)-3], ErrMalformed},
		{"garbage", "weir.ledger.v1.Posting", []byte{0xff, 0xff, 0xff}, ErrMalformed},
		{"invalid utf-8 string", "weir.ledger.v1.Posting", append(append([]byte{}, good...), 0x12, 0x01, 0xff), ErrMalformed},
		{"empty", "weir.ledger.v1.Posting", nil, ErrInvalid},
		{"wrong type's bytes", "weir.ledger.v1.AccountWindowTotal", good, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(tt.typ, tt.b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decode = %v, %v; want %v", ev, err, tt.wantErr)
			}
			if ev != nil {
				t.Errorf("Decode returned an event with an error: %v", ev)
			}
		})
	}
}

func TestUnknownFieldsArePreserved(t *testing.T) {
	b, err := Marshal(validPosting())
	if err != nil {
		t.Fatal(err)
	}
	// Field 99, varint 1: a field a newer schema might add.
	b = append(b, 0x98, 0x06, 0x01)
	var p ledgerv1.Posting
	if err := Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(out), "\x98\x06\x01") {
		t.Fatal("unknown field 99 was dropped on re-encode")
	}
}

func TestCheckUint256(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"0", true},
		{"1", true},
		{"10", true},
		{"1000000000000000000", true},
		{MaxUint256, true},
		{strings.Repeat("9", 77), true},
		{"", false},
		{"00", false},
		{"01", false},
		{"-0", false},
		{"-1", false},
		{"+1", false},
		{" 1", false},
		{"1 ", false},
		{"1_000", false},
		{"1,000", false},
		{"1.0", false},
		{"1e3", false},
		{"0x1", false},
		{"NaN", false},
		{"Infinity", false},
		{"１", false}, // fullwidth digit one
		{"1\x00", false},
		{strings.Repeat("9", 78), false},
		{strings.Repeat("1", 79), false},
		{"115792089237316195423570985008687907853269984665640564039457584007913129639936", false},
	}
	for _, tt := range tests {
		err := CheckUint256(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("CheckUint256(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestCheckUint256DoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = CheckUint256(MaxUint256) }); n != 0 {
		t.Fatalf("CheckUint256 allocates %v times per valid value", n)
	}
}

func BenchmarkDecodePosting(b *testing.B) {
	buf, err := Marshal(validPosting())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		var p ledgerv1.Posting
		if err := Unmarshal(buf, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	p := validPosting()
	if n := testing.AllocsPerRun(100, func() { _ = Validate(p) }); n != 0 {
		t.Fatalf("Validate of a valid posting allocates %v times", n)
	}
}
