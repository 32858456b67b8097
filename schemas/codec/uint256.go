package codec

import (
	"errors"
	"fmt"
)

// MaxUint256 is 2^256-1 in decimal, the largest value of a uint256 field.
const MaxUint256 = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

// MaxDigits is the most digits a uint256 decimal may have (len(MaxUint256)).
const MaxDigits = len(MaxUint256)

// MaxDecimals is the most decimal places an asset may have: 10^77 base units (one display
// unit) is the largest power of ten below 2^256.
const MaxDecimals = 77

// Errors returned (wrapped) by CheckUint256.
var (
	errEmpty    = errors.New("empty, want a decimal number")
	errTooLong  = fmt.Errorf("more than %d digits", MaxDigits)
	errTooLarge = errors.New("larger than 2^256-1")
)

// CheckUint256 returns nil if s is a canonical decimal unsigned 256-bit integer: one or
// more ASCII digits, no sign, spaces, separators or exponent, no leading zero unless s
// is "0", at most 78 digits and at most MaxUint256. Canonical means one spelling per
// value, so equal amounts are equal strings. It does not allocate unless s is invalid.
func CheckUint256(s string) error {
	if s == "" {
		return errEmpty
	}
	if len(s) > MaxDigits {
		return fmt.Errorf("not a uint256: %w (%d)", errTooLong, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return fmt.Errorf("not a decimal number: byte %d of %s is %q", i, clip(s), c)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return fmt.Errorf("not canonical: leading zero in %s", clip(s))
	}
	// Same length, digits only: string order is numeric order.
	if len(s) == MaxDigits && s > MaxUint256 {
		return fmt.Errorf("not a uint256: %w", errTooLarge)
	}
	return nil
}

// clip quotes s for an error message, shortened so a hostile value cannot flood logs.
func clip(s string) string {
	const max = 90
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
