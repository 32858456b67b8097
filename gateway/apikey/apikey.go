package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Kind says what a key may do. The zero Kind is invalid.
type Kind uint8

const (
	// Secret keys ("sk_…") authenticate the merchant's server with full access.
	Secret Kind = iota + 1
	// Publishable keys ("pk_…") identify the merchant from a browser or app; they may be public.
	Publishable
)

// String returns "secret" or "publishable", or "Kind(n)" for an invalid Kind.
func (k Kind) String() string {
	switch k {
	case Secret:
		return "secret"
	case Publishable:
		return "publishable"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// prefix returns the key prefix of k without its separator, or "" for an invalid Kind.
func (k Kind) prefix() string {
	switch k {
	case Secret:
		return "sk"
	case Publishable:
		return "pk"
	default:
		return ""
	}
}

const (
	// IDLen is the length of a key id: lowercase base32, 60 random bits.
	IDLen = 12
	// SecretLen is the length of a key's secret part: base62, about 190 random bits.
	SecretLen = 32
	// Len is the length of a whole key: two-letter prefix, '_', id, '_', secret part.
	Len = 2 + 1 + IDLen + 1 + SecretLen

	idAlphabet     = "abcdefghijklmnopqrstuvwxyz234567"
	secretAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ErrMalformed is wrapped by every error [Parse] returns.
var ErrMalformed = errors.New("apikey: malformed key")

// Key is a newly issued key. Plain is the whole key, to be shown to the merchant once and then
// forgotten: store [Digest](Plain) and ID.
type Key struct {
	Kind Kind
	// ID is the key id, the non-secret middle part of Plain.
	ID string
	// Plain is the whole key, "sk_<id>_<secret>" or "pk_<id>_<secret>".
	Plain string
}

// String returns the key with its secret part redacted ("sk_<id>_…"), so that a Key printed
// with %v or %s does not leak its secret. Read Plain to get the key itself.
func (k Key) String() string {
	return k.Kind.prefix() + "_" + k.ID + "_…"
}

// New returns a new random key of the given kind, reading crypto/rand. It fails only for an
// invalid kind or if the system's random source fails. It is safe for concurrent use.
func New(kind Kind) (Key, error) {
	if kind.prefix() == "" {
		return Key{}, fmt.Errorf("apikey: new key: invalid kind %v", kind)
	}
	id, err := randomString(idAlphabet, IDLen)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: new key id: %w", err)
	}
	secret, err := randomString(secretAlphabet, SecretLen)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: new key secret: %w", err)
	}
	return Key{Kind: kind, ID: id, Plain: format(kind, id, secret)}, nil
}

// format assembles a key from its parts; it does not validate them.
func format(kind Kind, id, secret string) string {
	return kind.prefix() + "_" + id + "_" + secret
}

// randomString returns n characters drawn uniformly from alphabet (at most 256 characters)
// by rejection sampling of crypto/rand bytes.
func randomString(alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet) // bytes >= limit would bias the modulo
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// Parse checks that s has the shape of a key and returns its kind and key id. It does not say
// whether the key exists or is valid: look up the digest stored for id and call [Match].
// Every error wraps [ErrMalformed] and, since s may be a real secret, never quotes s.
// It is safe for concurrent use.
func Parse(s string) (Kind, string, error) {
	if len(s) != Len {
		return 0, "", fmt.Errorf("%w: length %d, want %d", ErrMalformed, len(s), Len)
	}
	var kind Kind
	switch s[:3] {
	case "sk_":
		kind = Secret
	case "pk_":
		kind = Publishable
	default:
		return 0, "", fmt.Errorf("%w: prefix is neither sk_ nor pk_", ErrMalformed)
	}
	id, sep, secret := s[3:3+IDLen], s[3+IDLen], s[3+IDLen+1:]
	if sep != '_' {
		return 0, "", fmt.Errorf("%w: no '_' after the %d-character key id", ErrMalformed, IDLen)
	}
	if i := strings.IndexFunc(id, notIn(idAlphabet)); i >= 0 {
		return 0, "", fmt.Errorf("%w: key id byte %d is not lowercase base32 (a-z, 2-7)", ErrMalformed, i+1)
	}
	if i := strings.IndexFunc(secret, notIn(secretAlphabet)); i >= 0 {
		return 0, "", fmt.Errorf("%w: secret byte %d is not base62 (0-9, A-Z, a-z)", ErrMalformed, i+1)
	}
	return kind, id, nil
}

// notIn returns a predicate that is true for runes outside alphabet.
func notIn(alphabet string) func(rune) bool {
	return func(r rune) bool { return !strings.ContainsRune(alphabet, r) }
}

// Digest returns the lowercase hex SHA-256 of plain, the form in which a key is stored.
// A plain SHA-256 (no salt, no stretching) is enough here because the secret part carries
// about 190 random bits, far beyond any guessing. It is safe for concurrent use.
func Digest(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// Match reports whether plain hashes to digest (as returned by [Digest]), comparing in
// constant time so that the comparison leaks nothing about the stored digest. It is safe for
// concurrent use.
func Match(plain, digest string) bool {
	return subtle.ConstantTimeCompare([]byte(Digest(plain)), []byte(digest)) == 1
}
