// Package signer is key custody: policy, approvals, nonce management, signing and key
// recovery. It produces signer.* events and audit records, which never carry a secret.
package signer
