// Package recovery is the key-recovery and freeze state machine of the signer: a key's
// secret split t-of-n to guardians (signer/shamir), a ceremony that reconstructs it
// inside the signer after guardian approvals and a delay the owner can cancel in, the
// rotation to a new key, and guardian-quorum freezes. It is pure (every transition takes
// the time as an argument) and durable (Store, Pebble, fsynced). The HTTP API over it is
// in package signer (recovery_api.go).
//
// # Ceremony
//
//		REQUESTED ──(t guardian approvals)──► DELAYING ──(now ≥ not_before)──► RECONSTRUCTED ──► ROTATED
//		    │                                    │
//		    └──────────── owner cancels ─────────┴──► CANCELLED
//
//	  - REQUESTED: an operator asks to recover a key that has a Split, giving a delay of at
//	    least the Store's minimum (WithMinDelay, default DefaultMinDelay: ErrDelayTooShort
//	    otherwise) and at most MaxDelay. The signer makes a ceremony transport key
//	    (secp256k1, in its keystore backend, never a signing key) and publishes its public
//	    key. One ceremony per key at a time (ErrActive).
//	  - Each guardian approves with a signed Approval (EIP-191 personal_sign over
//	    {action "recover", key, recovery id, guardian, nonce, expiry, share hash}) and
//	    its share: decrypted from the ECIES ciphertext of the split and re-encrypted, on the
//	    guardian's side, to the ceremony public key. The share is in clear nowhere but
//	    in the guardian's tool and, during reconstruction and rotation, in the signer's
//	    memory; the store keeps only the ciphertext to the ceremony key.
//	  - The approval that completes the quorum (the split's threshold) moves the ceremony
//	    to DELAYING with approved_at = now and not_before = now + delay. The design's
//	    APPROVED and DELAYING are this one stored state: nothing can happen between them.
//	  - The owner (an authenticated operator) can cancel while REQUESTED or DELAYING: the
//	    cancel window is the whole delay and lasts until reconstruction, and
//	    reconstruction is refused before not_before (ErrTooEarly) and without quorum
//	    (ErrQuorum). After reconstruction cancelling is refused (ErrState).
//	  - RECONSTRUCTED: the signer decrypts the shares with the ceremony key, combines them
//	    (shamir.Combine checks their integrity tag) and checks that the secret is the
//	    key of the split's address; it then zeroes everything.
//	  - ROTATED (terminal): the signer makes a new key, combines the shares again in
//	    memory, signs with the old key an EIP-1559 transaction moving the funds to the
//	    new address (through the policy, the nonce manager and the double-sign guard, as
//	    any signing request), zeroes the old key, and retires it: a retired key signs
//	    nothing (ErrRetired). The new key is recorded before the transaction is signed,
//	    so a retried rotation reuses it and signs the same transaction at the same nonce.
//	  - CANCELLED (terminal). No transition leaves a terminal state (ErrState).
//
// # Approvals
//
// An approval is refused, changing nothing, when it names another key, ceremony,
// action or epoch (ErrWrongTarget), comes from no guardian of the split
// (ErrNotGuardian), is not signed by the guardian's registered address
// (ErrBadSignature; also when the share is not the one signed), has expired
// (ErrExpired) or expires more than MaxApprovalTTL ahead (ErrInvalid), reuses a nonce of
// that guardian for that key (ErrReplay), or repeats a guardian (ErrDuplicate). Used
// nonces are kept until their approval's expiry (Store.PruneNonces), which is all the
// replay check needs.
//
// # Freeze
//
// A quorum (the split's threshold) of guardians freezes a key with signed votes (action
// "freeze", target "epoch:<n>" of the key's KeyStatus), each counted until its expiry; a
// frozen key signs nothing (KeyStatus.Usable, Store.Usable: the signer checks it on every
// signing path and in the backends it signs with) until a quorum of "unfreeze" votes, or
// a recovery that rotates it. Each flip increments the epoch, so a vote names the
// flip it is for.
//
// # Durability and events
//
// Every transition is one Store.Update: the new state, the used nonces and the encoded
// events that report it (KeyRecoveryStep on signer.recovery, AuditRecord on
// signer.audit) in one synced Pebble batch — an outbox. The caller then produces the
// outbox (Store.Flush) and deletes it once Kafka acknowledged; a crash in between
// re-produces the same events with the same deterministic ids. No record holds a share
// in clear, a secret or a private key: shares are stored only as ciphertexts to the
// ceremony key, the ceremony key lives in the keystore (encrypted), and events carry
// ids, counts, times, addresses and public keys.
//
// # Who does what
//
// Operators (API bearer tokens) split keys, start ceremonies, reconstruct and rotate;
// the owner's cancel is an operator's too — any operator may cancel, which can only
// stop a recovery, never speed one up. Guardians need no token of their own: their
// authority is their signature, checked against the address registered at the split,
// and an operator (or a guardian holding a token) relays it. The signer never
// broadcasts: the rotation's signed transaction is returned (and on signer.signed) for
// the operator to send, as for every signature.
//
// # Limits
//
// A ceremony's transport key stays in the keystore after the ceremony (listed by
// GET /v1/keys with label "recovery-ceremony:<id>", refusing to sign: ErrCeremonyKey);
// the backends have no delete. The new key of a rotation has no split: split it.
// Freezes need guardians, so only keys with a split can be frozen (not HSM keys). When
// the events of a committed transition cannot be produced the API answers 503
// events_pending and hands nothing out (a split's shares are then lost: split again,
// which replaces the split).
//
// Re-splitting a key gives a new split id, and the signer accepts only shares of the
// current split; it cannot revoke old shares, which still reconstruct the key offline if
// enough old guardians collude: rotate the key instead when a guardian is distrusted.
// Keys in the HSM are not extractable, so they cannot be split (keys.ErrNotExportable).
package recovery
