package recovery

import (
	"crypto/ecdsa"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/weirhq/weir/signer/shamir"
)

// Action is what a guardian approves.
type Action string

// Guardian actions.
const (
	// ActionRecover approves recovery Target of a key, with the guardian's share.
	ActionRecover Action = "recover"
	// ActionFreeze votes to freeze an active key (Target EpochTarget of its epoch).
	ActionFreeze Action = "freeze"
	// ActionUnfreeze votes to unfreeze a frozen key (Target EpochTarget of its epoch).
	ActionUnfreeze Action = "unfreeze"
)

// Approval is a guardian's signed statement. The guardian signs Message with
// EIP-191 personal_sign (eth_sign's "\x19Ethereum Signed Message:\n" prefix), so any
// Ethereum wallet can produce it; the signer recovers the address and compares it with
// the guardian's registered address.
type Approval struct {
	Action Action
	// KeyID is the key acted on.
	KeyID string
	// Target is the recovery id (ActionRecover) or EpochTarget of the key's freeze
	// epoch (ActionFreeze, ActionUnfreeze).
	Target string
	// GuardianID names the guardian.
	GuardianID string
	// Nonce is the guardian's one-time value (1 to MaxIDLen printable bytes); a nonce
	// is accepted once per guardian and key.
	Nonce string
	// Expires is when the approval stops being valid: after now, at most
	// MaxApprovalTTL ahead. Whole seconds (the message carries RFC 3339 seconds).
	Expires time.Time
	// ShareHash is ShareHash of the share ciphertext submitted with a recover approval,
	// so the share cannot be swapped in transit; empty for freeze votes.
	ShareHash string
	// Signature is the 65-byte [R || S || V] signature, V in {0, 1, 27, 28}.
	Signature []byte
}

// ShareHash is the Keccak-256 (0x-hex) of a share ciphertext, as an approval signs it.
func ShareHash(ciphertext []byte) string { return hexutil.Encode(crypto.Keccak256(ciphertext)) }

// Message is the text the guardian signs: one "name: value" per line, fixed order.
func (a Approval) Message() []byte {
	var b strings.Builder
	b.WriteString("weir key recovery approval\n")
	fmt.Fprintf(&b, "action: %s\nkey: %s\ntarget: %s\nguardian: %s\nnonce: %s\nexpires: %s\n",
		a.Action, a.KeyID, a.Target, a.GuardianID, a.Nonce, a.Expires.UTC().Format(time.RFC3339))
	if a.ShareHash != "" {
		fmt.Fprintf(&b, "share: %s\n", a.ShareHash)
	}
	return []byte(b.String())
}

// Digest is the EIP-191 personal_sign hash of Message.
func (a Approval) Digest() []byte { return accounts.TextHash(a.Message()) }

// Sign signs a with a guardian's private key (for guardian tooling and tests) and
// returns it with Signature set, V in {27, 28} as wallets give it.
func (a Approval) Sign(key *ecdsa.PrivateKey) (Approval, error) {
	a.Expires = a.Expires.Truncate(time.Second)
	sig, err := crypto.Sign(a.Digest(), key)
	if err != nil {
		return a, fmt.Errorf("recovery: sign approval: %w", err)
	}
	sig[64] += 27
	a.Signature = sig
	return a, nil
}

// verify checks everything about a but its target: the guardian is one of s, the
// nonce is well formed and unused, the expiry is in (now, now+MaxApprovalTTL], the
// signature recovers to the guardian's address.
func (a Approval) verify(s Split, now time.Time, seen Seen) error {
	g, _, ok := s.Guardian(a.GuardianID)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotGuardian, a.GuardianID)
	}
	if err := checkID("nonce", a.Nonce); err != nil {
		return err
	}
	if !now.Before(a.Expires) {
		return fmt.Errorf("%w at %s", ErrExpired, a.Expires.UTC().Format(time.RFC3339))
	}
	if a.Expires.After(now.Add(MaxApprovalTTL)) {
		return fmt.Errorf("%w: expiry more than %s ahead", ErrInvalid, MaxApprovalTTL)
	}
	if len(a.Signature) != 65 {
		return fmt.Errorf("%w: signature of %d bytes", ErrBadSignature, len(a.Signature))
	}
	sig := append([]byte(nil), a.Signature...)
	if sig[64] >= 27 {
		sig[64] -= 27
	}
	if sig[64] > 1 {
		return fmt.Errorf("%w: bad recovery id", ErrBadSignature)
	}
	pub, err := crypto.SigToPub(a.Digest(), sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if got := crypto.PubkeyToAddress(*pub); got != g.Address {
		return fmt.Errorf("%w: signed by %s, guardian %q is %s", ErrBadSignature, got.Hex(), g.ID, g.Address.Hex())
	}
	used, err := seen(a.KeyID, a.GuardianID, a.Nonce)
	if err != nil {
		return err
	}
	if used {
		return fmt.Errorf("%w: guardian %q nonce %q", ErrReplay, a.GuardianID, a.Nonce)
	}
	return nil
}

// ReencryptShare is the guardian's side of an approval: it opens the share ciphertext
// the split gave the guardian (shamir.Encrypt to the guardian's key) with the
// guardian's private key and seals the share to the ceremony's public key (65 or 33
// bytes), so the share is in clear only inside this call. It returns the new
// ciphertext, to submit with an approval whose ShareHash is ShareHash of it.
func ReencryptShare(splitCiphertext []byte, guardianKey *ecdsa.PrivateKey, ceremonyPub []byte) ([]byte, error) {
	var pub *ecdsa.PublicKey
	var err error
	if len(ceremonyPub) == 33 {
		pub, err = crypto.DecompressPubkey(ceremonyPub)
	} else {
		pub, err = crypto.UnmarshalPubkey(ceremonyPub)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: ceremony public key: %v", ErrInvalid, err)
	}
	share, err := shamir.Decrypt(splitCiphertext, guardianKey)
	if err != nil {
		return nil, err
	}
	defer share.Wipe()
	return shamir.Encrypt(share, pub)
}
