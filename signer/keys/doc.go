// Package keys holds the signer's secp256k1 keys behind one interface, Backend, with two
// implementations:
//
//   - Keystore: a directory of go-ethereum keystore files (Web3 Secret Storage v3, scrypt
//     KDF, AES-128-CTR), one file per key, readable by geth. Keys are decrypted on demand
//     and kept in memory only while in use (see WithUnlockDuration).
//   - HSM: a PKCS#11 token (SoftHSM2 in tests, a real HSM in production). Keys are made on
//     the token as sensitive and non-extractable; signing happens inside the token and the
//     private key never reaches this process.
//
// Keys never leave a backend in clear, except through Backend.Export on the keystore,
// which exists for the recovery ceremony (the key is split into shares in the signer's
// memory) and is refused by the HSM with ErrNotExportable.
//
// Every Sign returns a 65-byte Ethereum signature [R || S || V] over a 32-byte digest,
// with V in {0, 1} and S in the lower half of the curve order: the form of go-ethereum's
// crypto.Sign (the keystore returns exactly its output; the token's ECDSA nonce is random,
// so its signatures differ but verify the same). crypto.Ecrecover on it yields the key's
// public key.
//
// Passphrases and PINs come from functions given as options; they are never stored in a
// backend's configuration, never logged and never part of an error.
package keys
