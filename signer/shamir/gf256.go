package shamir

// GF(2^8) with the Rijndael reduction polynomial x^8+x^4+x^3+x+1 (0x11B). Addition and
// subtraction are XOR. Multiplication and inversion run in constant time: no table is
// indexed by, and no branch depends on, a (possibly secret) operand.

// gfMul returns a·b in GF(2^8).
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= -(b & 1) & a
		carry := -(a >> 7)
		a = a<<1 ^ 0x1b&carry
		b >>= 1
	}
	return p
}

// gfInv returns the multiplicative inverse of a, a^254, and 0 for 0.
func gfInv(a byte) byte {
	// a^254 = a^2 · a^4 · a^8 · a^16 · a^32 · a^64 · a^128.
	r, x := byte(1), a
	for range 7 {
		x = gfMul(x, x)
		r = gfMul(r, x)
	}
	return r
}

// lagrangeAtZero returns the Lagrange basis coefficients at x = 0 for the distinct,
// non-zero x-coordinates xs: the payload byte is the XOR over i of gfMul(l[i], y_i).
func lagrangeAtZero(xs []byte) []byte {
	l := make([]byte, len(xs))
	for i, xi := range xs {
		num, den := byte(1), byte(1)
		for j, xj := range xs {
			if i == j {
				continue
			}
			num = gfMul(num, xj)
			den = gfMul(den, xj^xi)
		}
		l[i] = gfMul(num, gfInv(den))
	}
	return l
}

// interpolate reconstructs the payload from the points (xs[i], ys[i][k]) for every byte
// k. The xs must be distinct and non-zero and every ys[i] as long as ys[0].
func interpolate(xs []byte, ys [][]byte) []byte {
	l := lagrangeAtZero(xs)
	out := make([]byte, len(ys[0]))
	for i, y := range ys {
		for k, v := range y {
			out[k] ^= gfMul(l[i], v)
		}
	}
	return out
}
