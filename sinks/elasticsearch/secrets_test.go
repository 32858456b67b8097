package elasticsearch

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/weirhq/weir/schemas/codec"
)

func TestSecretName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   protoreflect.Kind
		secret bool
	}{
		{"private_key", protoreflect.StringKind, true},
		{"signer_private_key", protoreflect.BytesKind, true},
		{"privkey", protoreflect.BytesKind, true},
		{"client_secret", protoreflect.StringKind, true},
		{"password", protoreflect.StringKind, true},
		{"hsm_passphrase", protoreflect.StringKind, true},
		{"mnemonic", protoreflect.StringKind, true},
		{"seed_phrase", protoreflect.StringKind, true},
		{"seed", protoreflect.BytesKind, true},
		{"api_key", protoreflect.StringKind, true},
		{"merchant_api_key", protoreflect.StringKind, true},
		{"apikey", protoreflect.StringKind, true},
		{"api_key_id", protoreflect.StringKind, false},
		{"api_key_prefix", protoreflect.StringKind, false},
		{"key_share", protoreflect.BytesKind, true},
		{"shares", protoreflect.MessageKind, true},
		{"shares_accepted", protoreflect.Uint32Kind, false},
		{"access_token", protoreflect.StringKind, true},
		{"token", protoreflect.StringKind, true},
		{"token", protoreflect.MessageKind, false}, // the ERC-20 Token of a transfer
		{"token_id", protoreflect.StringKind, false},
		{"hsm_pin", protoreflect.StringKind, true},
		{"credentials", protoreflect.MessageKind, true},
		{"key_id", protoreflect.StringKind, false},
		{"public_key", protoreflect.StringKind, false},
		{"raw_transaction", protoreflect.BytesKind, false},
		{"threshold", protoreflect.Uint32Kind, false},
	} {
		if got := secretName(tc.name, tc.kind); got != tc.secret {
			t.Errorf("secretName(%q, %s) = %v, want %v", tc.name, tc.kind, got, tc.secret)
		}
	}
}

// No field of weir's events is a secret today: the deny-list must not eat real data.
func TestNoEventFieldIsSecret(t *testing.T) {
	var walk func(md protoreflect.MessageDescriptor, depth int)
	walk = func(md protoreflect.MessageDescriptor, depth int) {
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if Secret(fd) {
				t.Errorf("%s is treated as a secret", fd.FullName())
			}
			if fd.Message() != nil && depth < 5 {
				walk(fd.Message(), depth+1)
			}
		}
	}
	for _, name := range codec.Names() {
		ev, err := codec.New(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Mapping(ev.ProtoReflect().Descriptor()); err != nil {
			t.Errorf("Mapping(%s): %v", name, err)
		}
		walk(ev.ProtoReflect().Descriptor(), 0)
	}
}
