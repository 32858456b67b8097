// Package shamir splits a key's secret t-of-n with Shamir's secret sharing over GF(256)
// and encrypts each share to a guardian's secp256k1 (Ethereum) public key, for key
// recovery.
//
// # Scheme
//
// Arithmetic is in GF(2^8) with the Rijndael (AES) polynomial x^8+x^4+x^3+x+1, the field
// HashiCorp Vault's shamir package and SLIP-39 use. Each byte of the shared payload gets
// its own random polynomial of degree threshold-1 whose constant term is that byte;
// share i holds the polynomials evaluated at x = i (1..n). Any threshold shares
// reconstruct the payload by Lagrange interpolation at x = 0; fewer reveal nothing: for
// every possible secret there is exactly the same number of polynomials consistent with
// them. Field multiplication and inversion use no secret-indexed table lookups and no
// secret-dependent branches.
//
// No library was used: Vault's package lives in the github.com/hashicorp/vault module,
// whose requirements would add hundreds of modules to go.mod; the standalone ports are
// not served by the module proxy; CIRCL's secretsharing works on scalars of prime-order
// groups, not on byte strings. The field is tested against FIPS-197 (AES) values and the
// S-box derivation, and interpolation against shares produced by Vault's package.
//
// # Integrity
//
// The shared payload is the secret followed by a 16-byte tag,
// SHA-256("weir/signer/shamir/v1" || split id || threshold || secret)[:16]. Because the
// tag is itself secret-shared, fewer than threshold shares reveal nothing about it (a tag
// stored in the clear would let a guardian test guesses of a low-entropy secret).
// Combine recomputes the tag and refuses a result that does not match, so a corrupted,
// forged, relabelled (index, threshold) or foreign share yields [ErrIntegrity] instead of
// a wrong secret, except with probability 2^-128. A linear checksum would not do: Shamir
// is linear, so whoever alters a share shifts the payload by a difference they can
// compute, and could shift a CRC to match; they cannot do that for a hash of a secret
// they do not know. Each share also carries a random 16-byte split id and the threshold,
// so shares of different splits are refused with [ErrMixedShares] before interpolation.
//
// # Guardians
//
// [Encrypt] seals a share's encoding to a guardian's secp256k1 public key with
// go-ethereum's ECIES (AES-128-CTR and HMAC-SHA-256 under an ephemeral ECDH key), so an
// Ethereum account key can hold a share; [Decrypt] opens it with the private key and
// refuses a wrong key or an altered ciphertext with [ErrDecrypt]. Other curves are
// refused with [ErrGuardianKey].
//
// # Secrets in memory
//
// Share values are secret material: [Share.String], [Share.GoString] and
// [Share.LogValue] print the index, threshold and split id only. [Zero] wipes a byte
// slice and [Share.Wipe] a share once they are no longer needed. Go's garbage collector
// may still have copied memory; this is best effort.
package shamir
