package codec

import (
	"errors"
	"math/big"
	"regexp"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/schemas/codectest"
)

// FuzzDecode feeds arbitrary bytes to Decode for every event type. Decode must never
// panic; it either fails with ErrMalformed or ErrInvalid, or returns an event that is
// valid, re-encodes, and decodes back to an equal event.
func FuzzDecode(f *testing.F) {
	names := Names()
	for i, name := range names {
		ev, err := New(name)
		if err != nil {
			f.Fatal(err)
		}
		codectest.Populate(ev.ProtoReflect(), 0)
		b, err := Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
		f.Add(uint8(i), b[:len(b)/2])
	}
	for _, ev := range []Event{validPosting(), validWindowTotal(), validTransaction(), validFeatures()} {
		b, err := Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(indexOf(names, string(ev.ProtoReflect().Descriptor().FullName()))), b)
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(2), []byte{0x0a, 0x00})

	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		name := names[int(typ)%len(names)]
		ev, err := Decode(name, b)
		if err != nil {
			if ev != nil {
				t.Fatalf("Decode returned an event and an error %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v is neither ErrMalformed nor ErrInvalid", err)
			}
			var fe *FieldError
			if errors.Is(err, ErrInvalid) && !errors.As(err, &fe) {
				t.Fatalf("ErrInvalid without a *FieldError: %v", err)
			}
			return
		}
		if err := Validate(ev); err != nil {
			t.Fatalf("decoded event does not validate: %v", err)
		}
		out, err := Marshal(ev)
		if err != nil {
			t.Fatalf("decoded event does not re-encode: %v", err)
		}
		again, err := Decode(name, out)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if !proto.Equal(ev, again) {
			t.Fatalf("re-encoded event decodes differently:\n%v\n%v", ev, again)
		}
	})
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return 0
}

var (
	canonical  = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
	maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
)

// FuzzCheckUint256 checks CheckUint256 against a reference built from a regular
// expression and math/big.
func FuzzCheckUint256(f *testing.F) {
	for _, s := range []string{"0", "1", "00", "-1", "+1", " 1", "1e9", "0x1", "1.5", MaxUint256,
		"115792089237316195423570985008687907853269984665640564039457584007913129639936",
		"999999999999999999999999999999999999999999999999999999999999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := canonical.MatchString(s)
		if want {
			v, ok := new(big.Int).SetString(s, 10)
			want = ok && v.Cmp(maxUint256) <= 0
		}
		if err := CheckUint256(s); (err == nil) != want {
			t.Fatalf("CheckUint256(%q) = %v, reference says valid=%v", s, err, want)
		}
	})
}
