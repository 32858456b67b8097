package shamir

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
)

// Limits and sizes of the scheme.
const (
	// MinThreshold is the smallest threshold Split accepts: a threshold of 1 would make
	// every share a copy of the secret.
	MinThreshold = 2
	// MaxShares is the largest number of shares: x-coordinates are the non-zero
	// elements of GF(256).
	MaxShares = 255
	// MaxSecretSize is the largest secret Split accepts, in bytes.
	MaxSecretSize = 64
	// SplitIDSize is the size of the random id shared by the shares of one split.
	SplitIDSize = 16
	// TagSize is the size of the integrity tag appended to the secret before sharing.
	TagSize = 16

	version    = 1
	headerSize = 3 + SplitIDSize // version, index, threshold, split id
)

// tagDomain separates the integrity tag from any other SHA-256 use of the secret.
const tagDomain = "weir/signer/shamir/v1"

// Errors returned by this package; test with errors.Is.
var (
	// ErrInvalidParams: Split was given a threshold, share count or secret size out of
	// range.
	ErrInvalidParams = errors.New("shamir: invalid parameters")
	// ErrTooFewShares: Combine was given fewer shares than their threshold.
	ErrTooFewShares = errors.New("shamir: fewer shares than the threshold")
	// ErrDuplicateShare: Combine was given two shares with the same index.
	ErrDuplicateShare = errors.New("shamir: duplicate share index")
	// ErrMixedShares: Combine was given shares of different splits (split id,
	// threshold or length differ).
	ErrMixedShares = errors.New("shamir: shares of different splits")
	// ErrIntegrity: the combined secret does not match its tag, so at least one share is
	// corrupted, forged or relabelled.
	ErrIntegrity = errors.New("shamir: integrity check failed")
	// ErrMalformed: a share's encoding or fields are invalid.
	ErrMalformed = errors.New("shamir: malformed share")
)

// Share is one of the n shares of a split secret. Its value is secret material: String,
// GoString and LogValue print only the index, threshold and split id. The zero Share is
// invalid. A Share is immutable after Split or UnmarshalBinary, so it is safe for
// concurrent reads; Wipe must not run concurrently with other uses.
type Share struct {
	index     byte
	threshold byte
	splitID   [SplitIDSize]byte
	value     []byte // secret || tag, shared byte-wise; len(secret)+TagSize bytes
}

// Index returns the share's x-coordinate, 1..255. Split numbers shares 1..n.
func (s Share) Index() int { return int(s.index) }

// Threshold returns how many shares of this split reconstruct the secret.
func (s Share) Threshold() int { return int(s.threshold) }

// SplitID returns the random id common to the shares of one split.
func (s Share) SplitID() [SplitIDSize]byte { return s.splitID }

// String describes the share without its value.
func (s Share) String() string {
	return fmt.Sprintf("shamir.Share{index: %d, threshold: %d, split: %x}", s.index, s.threshold, s.splitID)
}

// GoString describes the share without its value, so %#v does not print it either.
func (s Share) GoString() string { return s.String() }

// LogValue implements slog.LogValuer with the index, threshold and split id only.
func (s Share) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("index", int(s.index)),
		slog.Int("threshold", int(s.threshold)),
		slog.String("split", hex.EncodeToString(s.splitID[:])),
	)
}

// Wipe zeroes the share's value. The share is unusable afterwards.
func (s *Share) Wipe() {
	Zero(s.value)
	s.value = nil
}

// MarshalBinary encodes the share for storage: version (1), index, threshold, split id
// (16 bytes), then the value (secret size + 16 bytes). The result is secret material;
// encrypt it (Encrypt) before it leaves the process and Zero it after use.
func (s Share) MarshalBinary() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, headerSize+len(s.value))
	b[0] = version
	b[1] = s.index
	b[2] = s.threshold
	copy(b[3:], s.splitID[:])
	copy(b[headerSize:], s.value)
	return b, nil
}

// UnmarshalBinary decodes a share encoded by MarshalBinary. It copies data, which the
// caller may then Zero. It returns an error wrapping ErrMalformed for any invalid input.
func (s *Share) UnmarshalBinary(data []byte) error {
	if len(data) < headerSize {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	if data[0] != version {
		return fmt.Errorf("%w: version %d", ErrMalformed, data[0])
	}
	t := Share{index: data[1], threshold: data[2], value: data[headerSize:]}
	copy(t.splitID[:], data[3:headerSize])
	if err := t.validate(); err != nil {
		return err
	}
	t.value = append([]byte(nil), t.value...)
	*s = t
	return nil
}

func (s Share) validate() error {
	switch {
	case s.index == 0:
		return fmt.Errorf("%w: index 0", ErrMalformed)
	case s.threshold < MinThreshold:
		return fmt.Errorf("%w: threshold %d", ErrMalformed, s.threshold)
	case len(s.value) <= TagSize || len(s.value) > MaxSecretSize+TagSize:
		return fmt.Errorf("%w: value of %d bytes", ErrMalformed, len(s.value))
	}
	return nil
}

// Split splits secret into shares shares, any threshold of which reconstruct it with
// Combine. It needs 2 <= threshold <= shares <= 255 and a secret of 1..64 bytes, else it
// returns an error wrapping ErrInvalidParams. Shares are numbered 1..shares and carry a
// fresh random split id. Randomness comes from crypto/rand. Split does not retain or
// modify secret; the caller should Zero it when done. Safe for concurrent use.
func Split(secret []byte, threshold, shares int) ([]Share, error) {
	return split(rand.Reader, secret, threshold, shares)
}

func split(rnd io.Reader, secret []byte, threshold, shares int) ([]Share, error) {
	switch {
	case threshold < MinThreshold:
		return nil, fmt.Errorf("%w: threshold %d below %d", ErrInvalidParams, threshold, MinThreshold)
	case shares > MaxShares:
		return nil, fmt.Errorf("%w: %d shares above %d", ErrInvalidParams, shares, MaxShares)
	case threshold > shares:
		return nil, fmt.Errorf("%w: threshold %d above %d shares", ErrInvalidParams, threshold, shares)
	case len(secret) == 0 || len(secret) > MaxSecretSize:
		return nil, fmt.Errorf("%w: secret of %d bytes, want 1..%d", ErrInvalidParams, len(secret), MaxSecretSize)
	}
	var id [SplitIDSize]byte
	if _, err := io.ReadFull(rnd, id[:]); err != nil {
		return nil, fmt.Errorf("shamir: read random: %w", err)
	}
	payload := make([]byte, len(secret)+TagSize)
	defer Zero(payload)
	copy(payload, secret)
	copy(payload[len(secret):], tag(id, byte(threshold), secret))

	// coeffs[k*(threshold-1) : (k+1)*(threshold-1)] are the coefficients of x^1..x^(t-1)
	// of payload byte k's polynomial. Uniform bytes, zero included, as perfect secrecy
	// requires.
	deg := threshold - 1
	coeffs := make([]byte, len(payload)*deg)
	defer Zero(coeffs)
	if _, err := io.ReadFull(rnd, coeffs); err != nil {
		return nil, fmt.Errorf("shamir: read random: %w", err)
	}
	out := make([]Share, shares)
	for i := range out {
		x := byte(i + 1)
		v := make([]byte, len(payload))
		for k, c0 := range payload {
			c := coeffs[k*deg : (k+1)*deg]
			// Horner: ((c_{t-1}·x + c_{t-2})·x + ... + c_1)·x + c_0.
			var y byte
			for j := deg - 1; j >= 0; j-- {
				y = gfMul(y^c[j], x)
			}
			v[k] = y ^ c0
		}
		out[i] = Share{index: x, threshold: byte(threshold), splitID: id, value: v}
	}
	return out, nil
}

// Combine reconstructs the secret from shares of one split. It refuses invalid shares
// (ErrMalformed), shares of different splits (ErrMixedShares), two shares with the same
// index (ErrDuplicateShare) and fewer shares than their threshold (ErrTooFewShares).
// Every share given is used, so more than threshold shares are checked against each
// other; if the result does not match its integrity tag, it returns ErrIntegrity and no
// secret. The returned secret is a new slice the caller should Zero when done. Safe for
// concurrent use.
func Combine(shares []Share) ([]byte, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: no shares", ErrTooFewShares)
	}
	first := shares[0]
	var seen [256]bool
	xs := make([]byte, len(shares))
	ys := make([][]byte, len(shares))
	for i, s := range shares {
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("share %d: %w", i, err)
		}
		if s.splitID != first.splitID || s.threshold != first.threshold || len(s.value) != len(first.value) {
			return nil, fmt.Errorf("%w: share %d (%v) and share 0 (%v)", ErrMixedShares, i, s, first)
		}
		if seen[s.index] {
			return nil, fmt.Errorf("%w: %d", ErrDuplicateShare, s.index)
		}
		seen[s.index] = true
		xs[i], ys[i] = s.index, s.value
	}
	if len(shares) < int(first.threshold) {
		return nil, fmt.Errorf("%w: %d of %d", ErrTooFewShares, len(shares), first.threshold)
	}
	payload := interpolate(xs, ys)
	n := len(payload) - TagSize
	secret, got := payload[:n:n], payload[n:]
	want := tag(first.splitID, first.threshold, secret)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		Zero(payload)
		return nil, ErrIntegrity
	}
	Zero(got)
	return secret, nil
}

// tag is the integrity tag of secret, bound to the split id and threshold.
func tag(id [SplitIDSize]byte, threshold byte, secret []byte) []byte {
	h := sha256.New()
	h.Write([]byte(tagDomain))
	h.Write(id[:])
	h.Write([]byte{threshold})
	h.Write(secret)
	return h.Sum(nil)[:TagSize]
}

// Zero overwrites b with zeros, to wipe secret material once it is no longer needed.
// It is best effort: copies made earlier (by the garbage collector, by append, by the
// caller) are not reached.
func Zero(b []byte) {
	clear(b)
	runtime.KeepAlive(b)
}
