package apikey

import (
	"errors"
	"strings"
	"testing"
)

const (
	docKey    = "sk_2f7kq3ma6xbd_4Rj8VZtQ0pLh7wKc2YsNf1uGe6TmXaBd"
	docSecret = "4Rj8VZtQ0pLh7wKc2YsNf1uGe6TmXaBd"
)

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Secret: "secret", Publishable: "publishable", 0: "Kind(0)", 7: "Kind(7)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestNew(t *testing.T) {
	for _, kind := range []Kind{Secret, Publishable} {
		seen := map[string]bool{}
		for range 200 {
			k, err := New(kind)
			if err != nil {
				t.Fatalf("New(%v): %v", kind, err)
			}
			if len(k.Plain) != Len || !strings.HasPrefix(k.Plain, kind.prefix()+"_"+k.ID+"_") {
				t.Fatalf("New(%v) = %+v: bad shape", kind, k)
			}
			gotKind, gotID, err := Parse(k.Plain)
			if err != nil || gotKind != kind || gotID != k.ID {
				t.Fatalf("Parse(New(%v).Plain) = %v, %q, %v; want %v, %q, nil", kind, gotKind, gotID, err, kind, k.ID)
			}
			if seen[k.Plain] || seen[k.ID] {
				t.Fatalf("New(%v) repeated a key or key id", kind)
			}
			seen[k.Plain], seen[k.ID] = true, true
			if s := k.String(); strings.Contains(s, k.Plain[len(k.Plain)-SecretLen:]) {
				t.Fatalf("Key.String() = %q leaks the secret part", s)
			}
		}
	}
	if _, err := New(0); err == nil {
		t.Error("New(0) succeeded, want an error")
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		kind     Kind
		id       string
		errPart  string // "" means valid
	}{
		{name: "secret", in: docKey, kind: Secret, id: "2f7kq3ma6xbd"},
		{name: "publishable", in: "pk_aaaaaaaaaaaa_" + docSecret, kind: Publishable, id: "aaaaaaaaaaaa"},
		{name: "all id letters", in: "sk_zz234567abcd_" + strings.Repeat("Z", SecretLen), kind: Secret, id: "zz234567abcd"},
		{name: "empty", in: "", errPart: "length 0"},
		{name: "short", in: docKey[:Len-1], errPart: "length 47"},
		{name: "long", in: docKey + "x", errPart: "length 49"},
		{name: "no prefix", in: "xx_2f7kq3ma6xbd_" + docSecret, errPart: "prefix"},
		{name: "upper prefix", in: "SK_2f7kq3ma6xbd_" + docSecret, errPart: "prefix"},
		{name: "live-style prefix", in: "sk-2f7kq3ma6xbd_" + docSecret, errPart: "prefix"},
		{name: "separator", in: "sk_2f7kq3ma6xbd-" + docSecret, errPart: "no '_'"},
		{name: "id upper", in: "sk_2F7kq3ma6xbd_" + docSecret, errPart: "key id byte 2"},
		{name: "id digit 1", in: "sk_2f7kq3ma6xb1_" + docSecret, errPart: "key id byte 12"},
		{name: "id underscore", in: "sk_2f7kq3_a6xbd_" + docSecret, errPart: "key id byte 7"},
		{name: "secret dash", in: "sk_2f7kq3ma6xbd_" + docSecret[:31] + "-", errPart: "secret byte 32"},
		{name: "secret underscore", in: "sk_2f7kq3ma6xbd_" + "_" + docSecret[1:], errPart: "secret byte 1"},
		{name: "secret non-ascii", in: "sk_2f7kq3ma6xbd_" + "é" + docSecret[2:], errPart: "secret byte 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, id, err := Parse(tc.in)
			if tc.errPart == "" {
				if err != nil || kind != tc.kind || id != tc.id {
					t.Fatalf("Parse = %v, %q, %v; want %v, %q, nil", kind, id, err, tc.kind, tc.id)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.errPart) {
				t.Fatalf("Parse error = %v; want ErrMalformed mentioning %q", err, tc.errPart)
			}
			if len(tc.in) > 8 && strings.Contains(err.Error(), tc.in) {
				t.Fatalf("Parse error %q quotes the key", err)
			}
		})
	}
}

func TestDigestMatch(t *testing.T) {
	// SHA-256 of the empty string and of "abc" (FIPS 180-2).
	if got := Digest(""); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf(`Digest("") = %s`, got)
	}
	if got := Digest("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf(`Digest("abc") = %s`, got)
	}
	d := Digest(docKey)
	for _, tc := range []struct {
		plain, digest string
		want          bool
	}{
		{docKey, d, true},
		{docKey[:Len-1] + "c", d, false},
		{docKey, strings.ToUpper(d), false}, // digests are lowercase hex
		{docKey, d[:63], false},
		{docKey, "", false},
		{"", Digest(""), true},
	} {
		if got := Match(tc.plain, tc.digest); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.plain, tc.digest, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{docKey, "pk_aaaaaaaaaaaa_" + docSecret, "", "sk_", docKey + "x", "sk_2f7kq3ma6xbd__" + docSecret[1:], "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, id, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if again := format(kind, id, s[len(s)-SecretLen:]); again != s {
			t.Fatalf("Parse(%q) = %v, %q; re-formats as %q", s, kind, id, again)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(Len)
	for b.Loop() {
		if _, _, err := Parse(docKey); err != nil {
			b.Fatal(err)
		}
	}
}
