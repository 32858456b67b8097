package webhook

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"payment_intent.succeeded"}`)
	now := time.Unix(1_800_000_000, 0)
	oldS, newS, other := []byte("old-secret"), []byte("new-secret"), []byte("other")
	signed := Sign(body, now, oldS, newS)
	onlyOld := Sign(body, now, oldS)

	tests := []struct {
		name    string
		header  string
		body    []byte
		now     time.Time
		tol     time.Duration
		secrets [][]byte
		want    error
	}{
		{"good", Sign(body, now, newS), body, now, 0, [][]byte{newS}, nil},
		{"several signatures, receiver has new", signed, body, now, 0, [][]byte{newS}, nil},
		{"several signatures, receiver has old", signed, body, now, 0, [][]byte{oldS}, nil},
		{"receiver has several secrets", Sign(body, now, newS), body, now, 0, [][]byte{oldS, newS}, nil},
		{"rotated: only old matches", onlyOld, body, now, 0, [][]byte{newS, oldS}, nil},
		{"rotated: old retired", onlyOld, body, now, 0, [][]byte{newS}, ErrMismatch},
		{"wrong secret", signed, body, now, 0, [][]byte{other}, ErrMismatch},
		{"no secrets", signed, body, now, 0, nil, ErrMismatch},
		{"tampered body", signed, []byte(`{"id":"evt_2","type":"payment_intent.succeeded"}`), now, 0, [][]byte{newS}, ErrMismatch},
		{"tampered timestamp", strings.Replace(signed, "t=1800000000", "t=1800000001", 1), body, now, 0, [][]byte{newS}, ErrMismatch},
		{"within default tolerance", signed, body, now.Add(5 * time.Minute), 0, [][]byte{newS}, nil},
		{"stale", signed, body, now.Add(5*time.Minute + time.Second), 0, [][]byte{newS}, ErrTimestamp},
		{"future", signed, body, now.Add(-6 * time.Minute), 0, [][]byte{newS}, ErrTimestamp},
		{"stale with own tolerance", signed, body, now.Add(11 * time.Second), 10 * time.Second, [][]byte{newS}, ErrTimestamp},
		{"within own tolerance", signed, body, now.Add(time.Hour), 2 * time.Hour, [][]byte{newS}, nil},
		{"empty header", "", body, now, 0, [][]byte{newS}, ErrNoSignature},
		{"no timestamp", strings.TrimPrefix(signed, "t=1800000000,"), body, now, 0, [][]byte{newS}, ErrNoSignature},
		{"no v1", "t=1800000000", body, now, 0, [][]byte{newS}, ErrNoSignature},
		{"bad hex", "t=1800000000,v1=zz", body, now, 0, [][]byte{newS}, ErrNoSignature},
		{"bad timestamp", "t=18e8,v1=" + strings.Repeat("00", 32), body, now, 0, [][]byte{newS}, ErrNoSignature},
		{"leading zero timestamp", strings.Replace(signed, "t=", "t=0", 1), body, now, 0, [][]byte{newS}, ErrNoSignature},
		{"two timestamps", "t=1800000000," + signed, body, now, 0, [][]byte{newS}, ErrNoSignature},
		{"garbage", "hello", body, now, 0, [][]byte{newS}, ErrNoSignature},
		{"unknown scheme ignored", signed + ",v0=abc", body, now, 0, [][]byte{newS}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.header, tt.body, tt.now, tt.tol, tt.secrets...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify(%q) = %v, want nil", tt.header, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify(%q) = %v, want %v", tt.header, err, tt.want)
			}
		})
	}
}

func TestSignFormat(t *testing.T) {
	h := Sign([]byte("x"), time.Unix(42, 0), []byte("a"), []byte("b"))
	parts := strings.Split(h, ",")
	if len(parts) != 3 || parts[0] != "t=42" || !strings.HasPrefix(parts[1], "v1=") || !strings.HasPrefix(parts[2], "v1=") {
		t.Fatalf("Sign = %q", h)
	}
	if len(parts[1]) != len("v1=")+64 || parts[1] == parts[2] {
		t.Fatalf("Sign = %q", h)
	}
}

func FuzzVerify(f *testing.F) {
	body := []byte(`{"a":1}`)
	secret := []byte("s")
	now := time.Unix(1_800_000_000, 0)
	f.Add(Sign(body, now, secret), body)
	f.Add("t=1800000000,v1=", body)
	f.Add("t=-9223372036854775808,v1="+strings.Repeat("ab", 32), body)
	f.Add("t=9223372036854775807,v1="+strings.Repeat("ab", 32), []byte{})
	f.Add(",,,=,t=", []byte(nil))
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		if Verify(header, b, now, 0, secret) == nil && !signedWith(header, b, secret) {
			t.Fatalf("accepted a header not signed with the secret: %q", header)
		}
	})
}

// signedWith reports whether header holds a v1 element equal to the signature of b with
// secret at the header's t element.
func signedWith(header string, b, secret []byte) bool {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, strings.ToLower(v))
		}
	}
	for _, s := range sigs {
		if s == signAt(b, ts, secret) {
			return true
		}
	}
	return false
}

// signAt is the hex v1 signature of b with secret at the textual timestamp ts.
func signAt(b []byte, ts string, secret []byte) string {
	const hexd = "0123456789abcdef"
	m := mac(secret, ts, b)
	out := make([]byte, 0, 2*len(m))
	for _, c := range m {
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}

func TestSecretFor(t *testing.T) {
	master := []byte("master key of at least 32 bytes!")
	a1 := SecretFor(master, "ep_a", 1)
	if !bytes.Equal(a1, SecretFor(master, "ep_a", 1)) {
		t.Fatal("SecretFor is not deterministic")
	}
	if len(a1) != 32 {
		t.Fatalf("len = %d, want 32", len(a1))
	}
	distinct := map[string]string{
		"ep_a/1":        string(a1),
		"ep_a/2":        string(SecretFor(master, "ep_a", 2)),
		"ep_b/1":        string(SecretFor(master, "ep_b", 1)),
		"ep_a\x00/1":    string(SecretFor(master, "ep_a\x00", 1)),
		"other master":  string(SecretFor([]byte("another master"), "ep_a", 1)),
		"empty ep/0":    string(SecretFor(master, "", 0)),
		"ep_a/2^32 - 1": string(SecretFor(master, "ep_a", ^uint32(0))),
	}
	seen := map[string]string{}
	for name, s := range distinct {
		if prev, ok := seen[s]; ok {
			t.Fatalf("%s and %s derive the same secret", name, prev)
		}
		seen[s] = name
	}
}

func TestFormatParseSecret(t *testing.T) {
	s := SecretFor([]byte("m"), "ep", 1)
	f := FormatSecret(s)
	if !strings.HasPrefix(f, "whsec_") || strings.ContainsAny(f, "+/=") {
		t.Fatalf("FormatSecret = %q", f)
	}
	got, err := ParseSecret(f)
	if err != nil || !bytes.Equal(got, s) {
		t.Fatalf("ParseSecret(%q) = %x, %v; want %x", f, got, err, s)
	}
	for _, bad := range []string{"", "whsec_", "sec_abc", "whsec_abc=", "whsec_a+b/"} {
		if _, err := ParseSecret(bad); !errors.Is(err, ErrSecretFormat) {
			t.Errorf("ParseSecret(%q) = %v, want ErrSecretFormat", bad, err)
		}
	}
}

func FuzzParseSecret(f *testing.F) {
	f.Add(FormatSecret([]byte("secret")))
	f.Add("whsec_")
	f.Add("whsec_====")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseSecret(s)
		if err != nil {
			return
		}
		if got := FormatSecret(b); got != s {
			t.Fatalf("FormatSecret(ParseSecret(%q)) = %q", s, got)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	body := make([]byte, 1024)
	secrets := [][]byte{[]byte("one secret"), []byte("two secret")}
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_ = Sign(body, now, secrets...)
	}
}

func BenchmarkVerify(b *testing.B) {
	body := make([]byte, 1024)
	secrets := [][]byte{[]byte("one secret"), []byte("two secret")}
	now := time.Now()
	h := Sign(body, now, secrets...)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := Verify(h, body, now, 0, secrets[1]); err != nil {
			b.Fatal(err)
		}
	}
}
