// Package txsign turns payloads into Ethereum signatures through a [Signer] that only
// signs 32-byte digests: legacy (EIP-155) and EIP-1559 transactions, EIP-712 typed data,
// and Safe multisig approvals (the EIP-712 SafeTx hash of Safe v1.3+, and owner
// signatures packed for execTransaction).
//
// The package never holds a key. A [Signer] is any backend that signs a digest and
// answers its address (signer/keys adapts to it); every function here recomputes the
// address the signature recovers to and refuses to return a signature that does not
// recover to [Signer.Address], so a misbehaving backend (wrong key, high S, bad V)
// cannot produce an unusable or misattributed transaction.
//
// Nothing here guards against signing two different payloads at the same nonce: that is
// signer/nonce's Record, which the caller runs (and which fsyncs) before calling SignTx.
//
// # Signature formats
//
// Transactions carry their signature in V, R, S as go-ethereum's types define for each
// transaction type. SignTypedData and SignSafeTx return 65 bytes R || S || V with
// V = 27 or 28, the form wallets return for eth_signTypedData_v4 and the form Safe's
// checkSignatures accepts as an ECDSA signature of the SafeTx hash itself (V > 30 would
// mean an eth_sign signature of the hash, V = 0 a contract signature, V = 1 an approved
// hash).
package txsign
