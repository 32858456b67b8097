package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header is the HTTP header that carries the signature of a webhook request:
// "t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=<hex HMAC-SHA256>…]".
const Header = "Weir-Signature"

// DefaultTolerance is the largest difference between the signed timestamp and the
// receiver's clock that Verify accepts when its tolerance is 0.
const DefaultTolerance = 5 * time.Minute

// SecretPrefix starts the merchant-facing form of a signing secret (FormatSecret).
const SecretPrefix = "whsec_"

// Errors returned by Verify (wrapped, test with errors.Is) and ParseSecret.
var (
	// ErrNoSignature: the header is missing or malformed (no t=, no usable v1=).
	ErrNoSignature = errors.New("webhook: no valid signature header")
	// ErrTimestamp: a signature matches but its timestamp is outside the tolerance.
	ErrTimestamp = errors.New("webhook: signature timestamp outside tolerance")
	// ErrMismatch: no v1 signature matches any of the secrets.
	ErrMismatch = errors.New("webhook: signature mismatch")
	// ErrSecretFormat: a string given to ParseSecret is not "whsec_<base64url>".
	ErrSecretFormat = errors.New("webhook: malformed secret")
)

// maxHeaderLen bounds the header Verify parses; longer headers are ErrNoSignature.
const maxHeaderLen = 8 << 10

// Sign returns the Header value for body sent at t: "t=<unix seconds>" then one
// "v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" per secret, in the order given, so that
// a receiver holding any one of the endpoint's active secrets can verify it. It is pure
// and safe for concurrent use.
func Sign(body []byte, t time.Time, secrets ...[]byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.Grow(len("t=") + len(ts) + len(secrets)*(len(",v1=")+2*sha256.Size))
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

// mac is HMAC-SHA256(secret, ts + "." + body).
func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Header value against body, as a merchant's receiver does. It accepts
// when any v1 signature equals HMAC-SHA256(secret, "<t>.<body>") for any of secrets
// (compared in constant time) and the timestamp t is within tolerance of now, in whole
// seconds either way; tolerance 0 (or negative) means DefaultTolerance. Unknown
// "key=value" elements (future schemes) are ignored.
//
// It returns nil, or an error wrapping ErrNoSignature (malformed or missing header),
// ErrMismatch (no signature matches) or ErrTimestamp (a signature matches but t is
// stale or in the future). It is pure and safe for concurrent use.
func Verify(header string, body []byte, now time.Time, tolerance time.Duration, secrets ...[]byte) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if len(header) > maxHeaderLen {
		return fmt.Errorf("%w: header longer than %d bytes", ErrNoSignature, maxHeaderLen)
	}
	var (
		ts    string
		haveT bool
		sigs  [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: element without '='", ErrNoSignature)
		}
		switch k {
		case "t":
			if haveT {
				return fmt.Errorf("%w: several timestamps", ErrNoSignature)
			}
			ts, haveT = v, true
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				continue // not a v1 signature; another element may be
			}
			sigs = append(sigs, sig)
		}
	}
	if !haveT {
		return fmt.Errorf("%w: no timestamp", ErrNoSignature)
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts != strconv.FormatInt(t, 10) {
		// The canonical form only: the MAC covers the timestamp's text.
		return fmt.Errorf("%w: bad timestamp", ErrNoSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrNoSignature)
	}
	matched := false
	for _, s := range secrets {
		want := mac(s, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(want, sig) {
				matched = true
			}
		}
	}
	if !matched {
		return ErrMismatch
	}
	nowS, tolS := now.Unix(), int64(tolerance/time.Second)
	if t < nowS-tolS || t > nowS+tolS {
		return fmt.Errorf("%w: signed at %d, now %d", ErrTimestamp, t, nowS)
	}
	return nil
}

// secretLabel separates signing secrets from any other key derived from the same master.
const secretLabel = "weir/gateway/webhook signing secret v1"

// SecretFor derives the signing secret of version version of an endpoint's secret from
// master: HMAC-SHA256(master, label || len(endpointID) || endpointID || version), with
// lengths and version as 8- and 4-byte big-endian integers. Secrets are therefore never
// stored: rotating means adding version+1 to the endpoint's SigningVersions, and
// retiring the old version later. It is pure and safe for concurrent use.
func SecretFor(master []byte, endpointID string, version uint32) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(secretLabel))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(endpointID)))
	m.Write(n[:])
	m.Write([]byte(endpointID))
	binary.BigEndian.PutUint32(n[:4], version)
	m.Write(n[:4])
	return m.Sum(nil)
}

// FormatSecret returns the merchant-facing form of a signing secret:
// "whsec_" followed by its unpadded base64url encoding.
func FormatSecret(b []byte) string {
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseSecret reverses FormatSecret. It returns an error wrapping ErrSecretFormat when
// s lacks the prefix, is not canonical unpadded base64url or is empty after the prefix.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrSecretFormat, SecretPrefix)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretFormat, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrSecretFormat)
	}
	if base64.RawURLEncoding.EncodedLen(len(b)) != len(rest) {
		// The decoder skips '\r' and '\n'; a secret has one spelling only.
		return nil, fmt.Errorf("%w: stray characters", ErrSecretFormat)
	}
	return b, nil
}
