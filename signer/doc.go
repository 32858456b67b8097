// Package signer is key custody: policy, approvals, nonce management, signing and key
// recovery. It produces signer.* events and audit records, which never carry a secret.
//
// The parts live in subpackages: keys (the keystore and HSM backends), policy (the rules
// engine, its versions and usage state), nonce (nonces and the double-sign guard), txsign
// (transactions, EIP-712, Safe), shamir (key splitting). This package puts them behind
// an HTTP/JSON API (Server) and runs it as a component (Service, `weir run signer`).
//
// # API
//
// Every call carries "Authorization: Bearer <token>" of a configured Operator; the
// Server keeps only the tokens' SHA-256 digests and compares them in constant time. The
// operator's id is the requester and actor of the events. Errors are JSON
// {"error": code, "message": …, "reasons": […]}.
//
//	POST /v1/keys                  {"label", "backend": "keystore"|"hsm"} → 201 key
//	GET  /v1/keys                  → {"keys": [{id, label, address, public_key, backend, created}]}
//	POST /v1/policies              a policy document (signer/policy) → 201 the draft
//	POST /v1/policies/{id}/{v}/publish → the published version with its hash
//	POST /v1/policies/dry-run      {"policy_id", "version", "request": TxRequest} → decision + trace
//	POST /v1/sign/transaction      TxRequest → 200 TxResponse | 202 pending | 4xx
//	POST /v1/sign/typed-data       TypedDataRequest → 200 {signature, hash, from} | 4xx
//	POST /v1/sign/safe             SafeRequest → 200 SafeResponse {safe_tx_hash, signature, signatures} | 4xx
//	POST /v1/requests/{id}/approvals  ApprovalRequest {decision, request_hash} → 200 RequestStatus | 4xx
//	GET  /v1/requests/{id}         → RequestStatus of a request held for approvals
//
// # Signing a transaction
//
//  1. The body is checked: known key (404 unknown_key), a chain the signer serves (400
//     wrong_chain), canonical decimal amounts, a legacy (gas_price) or EIP-1559
//     (max_fee_per_gas) transaction that txsign.Validate accepts (400 invalid_…).
//  2. A request id already used for another body is refused (409 request_id_conflict).
//  3. The policy (request's policy_id, else Options.DefaultPolicy) decides on what the
//     transaction moves: its value in ETH to its recipient, or, for an ERC-20
//     transfer(address,uint256), the token amount (asset "erc20:<chain>:<token>") to the
//     token's recipient. Deny → 403 policy_denied with the reasons; require_approvals →
//     202 RequestStatus: the request is held for approvals (see Approvals) and goes on
//     to steps 4–6 once they are in.
//  4. The nonce: the request's own, else one reserved from signer/nonce with the
//     transaction's signing hash recorded by the double-sign guard in the same fsynced
//     write (nonce.Manager.ReserveRecord); either way it is written to the RequestLog
//     (synced) under the request id, so a retry signs the same transaction at the same
//     nonce.
//  5. nonce.Manager.Record (done in step 4 for a new nonce), fsynced, BEFORE the
//     signature: a different payload at a nonce already signed is 409 double_sign (unless
//     declared a replacement: "speed_up" or "cancel"). The policy usage's fsync runs
//     alongside steps 4–5 and is awaited before the signature too.
//  6. txsign.SignTx with the key's backend; the answer is {raw_tx, hash, from, nonce}.
//
// # Events
//
// Each answer is given only after its events are acknowledged by Kafka (idempotent
// producer, acks=all); when they cannot be written the answer is 503 and nothing signed
// is handed out (a signature made but not answered is harmless: the nonce guard keeps
// the payload, and a retry returns the same transaction). A checked request yields a
// SigningRequest on signer.requests (with the policy id and approvals required); a signed
// one a SignedTransaction on signer.signed; every request — allowed, refused, malformed —
// an AuditRecord on signer.audit (requests without a valid token are not audited). The
// AuditRecord has no policy fields, so its resource names the deciding policy version
// and rule as "policy:<id>@<version>#<hash>/rule:<name>", and its reason is the error
// code and message of a refusal. No event holds a token, passphrase, PIN or key.
//
// Typed data (EIP-712) is judged as asset "eip712", amount 0, destination the domain's
// verifyingContract: a policy signs it only when a rule allows that asset.
//
// # Approvals
//
// A request that the policy holds for N of M approvals is answered 202 with its
// RequestStatus (status "pending_approvals", the approvers, the window's end and the
// request_hash: the SHA-256 of the request's canonical JSON) and audited (outcome
// PENDING, reason "pending_approvals: …"); each SigningApproval event carries the
// request_hash its approver approved. An
// approver is an Operator: it authenticates with its own bearer token, and its operator
// id must be one of the rule's approvers and not the requester. It posts
// {"decision": "approved"|"rejected", "request_hash"} to /v1/requests/{id}/approvals;
// the hash binds the approval to exactly the request it saw. Refused, each with an
// AuditRecord (action "approval.decide"): a replay by the same approver (409
// approval_replayed), an approval after the window (the rule's TTL from the request)
// closed (410 approval_expired), another hash (409 request_hash_mismatch), a
// non-approver (403 not_an_approver), the requester (403 self_approval), anything after
// a rejection (409 request_rejected) or after the quorum (409 request_approved). An
// accepted decision is a SigningApproval on signer.approvals plus an AuditRecord, on
// Kafka before it counts. The decision that reaches the quorum signs the request,
// exactly once (decisions on one request are serialised): the policy usage is recorded,
// the nonce reserved then, and steps 4–6 run; the answer and GET /v1/requests/{id}
// carry the transaction, and the sign request sent again answers it. A window that
// closes without the quorum expires the request (a SYSTEM AuditRecord). Held requests
// (at most MaxHeldRequests at once) are kept in the RequestLog, synced at every change
// (an approval counts once it is on Kafka and kept), so a restarted signer goes on
// collecting their approvals; they are pruned HeldRetention after their window closes.
//
// # Safe
//
// POST /v1/sign/safe signs a Safe (v1.3+) SafeTx as one of its owners: the policy judges
// what the Safe moves (its value to `to`, or the ERC-20 transfer its data makes), the key
// signs the EIP-712 SafeTx hash (V 27/28, as checkSignatures expects), and other owners'
// signatures given in the request are verified and packed with it, ordered by owner,
// for execTransaction. Delegate calls are refused; require_approvals is refused (403).
//
// # HSM
//
// Service.HSMModule (`weir run signer`: WEIR_SIGNER_PKCS11_MODULE, else
// WEIR_SOFTHSM2_MODULE; WEIR_SIGNER_HSM_TOKEN, the token label, default "weir";
// WEIR_SIGNER_HSM_PIN, the user PIN, a secret read at login and never logged) adds the
// "hsm" backend: keys made on the token, never extractable, signing through PKCS#11.
//
// # Key recovery and freeze
//
// With Options.Recovery (a signer/recovery Store; Service opens one under
// StateDir/recovery) the Server also serves key recovery (recovery_api.go; the state
// machine, its invariants and the approval format are in signer/recovery's doc):
//
//	POST /v1/keys/{id}/split               {threshold, guardians: [{id, public_key}]} → 201 the shares, ECIES-encrypted to each guardian, once
//	GET  /v1/keys/{id}/recovery            split (public data), frozen, epoch, votes, retired, active recovery
//	POST /v1/keys/{id}/recoveries          {delay} → 201 a ceremony with its ceremony public key
//	POST /v1/keys/{id}/freeze | /unfreeze  a guardian's signed vote {guardian_id, nonce, expires, epoch, signature}
//	GET  /v1/recoveries/{rid}              the ceremony (never a share)
//	POST /v1/recoveries/{rid}/approve      a guardian's signed approval with its share re-encrypted to the ceremony key
//	POST /v1/recoveries/{rid}/cancel       {reason}: the owner cancels, until reconstruction
//	POST /v1/recoveries/{rid}/reconstruct  combine the shares in memory (after not_before)
//	POST /v1/recoveries/{rid}/rotate       {chain_id, max_fee_per_gas, …} → a new key and the signed transaction moving the funds
//
// A frozen or retired key (and a ceremony's transport key) signs nothing: signing
// requests are refused with 403 key_frozen / key_retired before the policy, and the
// backends the Server signs with are wrapped with the same check. Keystore keys only
// can be split (HSM keys are not extractable: 400 not_exportable). Every transition is
// written with its KeyRecoveryStep (signer.recovery) and AuditRecord events in one
// synced batch and produced from there (an outbox), so none is lost in a crash; every
// refusal is an AuditRecord (and a SHARE_REJECTED step for a refused approval).
package signer
