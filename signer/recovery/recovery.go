package recovery

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Limits of the scheme.
const (
	// DefaultMinDelay is the shortest delay between the guardian quorum and the
	// reconstruction, unless WithMinDelay says otherwise: the owner's window to cancel.
	DefaultMinDelay = 24 * time.Hour
	// MaxDelay is the longest delay a recovery may ask for.
	MaxDelay = 90 * 24 * time.Hour
	// MaxApprovalTTL is how far in the future an approval's expiry may be. It bounds the
	// set of used nonces the store keeps (a nonce is forgotten once its approval expired).
	MaxApprovalTTL = 7 * 24 * time.Hour
	// MaxGuardians is the largest guardian set of a split.
	MaxGuardians = 32
	// MaxIDLen is the longest guardian id, nonce or key id, in bytes.
	MaxIDLen = 128
	// MaxShareCiphertext is the largest share ciphertext a guardian may submit.
	MaxShareCiphertext = 1024
)

// Errors of the state machine and the store; test with errors.Is. A call that returns
// one of them changed nothing.
var (
	// ErrNoSplit: the key has no guardian split (unknown to recovery).
	ErrNoSplit = errors.New("recovery: key has no guardian split")
	// ErrNotFound: no recovery with that id.
	ErrNotFound = errors.New("recovery: no such recovery")
	// ErrInvalid: malformed input (threshold, guardian, delay, nonce, expiry, share).
	ErrInvalid = errors.New("recovery: invalid input")
	// ErrDelayTooShort: the delay is below the minimum, so the owner's cancel window
	// would be too short.
	ErrDelayTooShort = errors.New("recovery: delay below the minimum")
	// ErrNotGuardian: the approval names a guardian not in the key's split.
	ErrNotGuardian = errors.New("recovery: not a guardian of this key")
	// ErrBadSignature: the approval's signature is malformed or not the guardian's.
	ErrBadSignature = errors.New("recovery: approval not signed by the guardian")
	// ErrExpired: the approval's expiry has passed.
	ErrExpired = errors.New("recovery: approval expired")
	// ErrReplay: the approval's nonce was already used by that guardian for that key.
	ErrReplay = errors.New("recovery: approval replayed")
	// ErrDuplicate: the guardian already approved this recovery (or voted this flip).
	ErrDuplicate = errors.New("recovery: guardian already approved")
	// ErrWrongTarget: the approval is for another key, recovery, action or epoch.
	ErrWrongTarget = errors.New("recovery: approval is for something else")
	// ErrState: the transition is not allowed from the current state.
	ErrState = errors.New("recovery: not allowed in this state")
	// ErrQuorum: too few guardians approved.
	ErrQuorum = errors.New("recovery: guardian quorum not reached")
	// ErrTooEarly: the delay has not elapsed.
	ErrTooEarly = errors.New("recovery: delay not elapsed")
	// ErrActive: the key already has a recovery in progress.
	ErrActive = errors.New("recovery: a recovery of this key is in progress")
	// ErrFrozen: the key is frozen by its guardians and signs nothing.
	ErrFrozen = errors.New("recovery: key is frozen")
	// ErrRetired: the key was rotated away by a recovery and signs nothing.
	ErrRetired = errors.New("recovery: key is retired")
	// ErrCeremonyKey: the key is a recovery ceremony's transport key, not a signing key.
	ErrCeremonyKey = errors.New("recovery: key is a ceremony transport key")
)

// State is a recovery ceremony's state.
type State string

// States of a ceremony. The design's APPROVED (quorum reached) and DELAYING (waiting
// for not_before) are one stored state, StateDelaying, because nothing can happen
// between them: the approval that completes the quorum starts the delay.
const (
	// StateRequested: an operator asked; guardian approvals are being collected.
	StateRequested State = "requested"
	// StateDelaying: the quorum approved at ApprovedAt; reconstruction is refused until
	// NotBefore = ApprovedAt + Delay; the owner can cancel until reconstruction.
	StateDelaying State = "delaying"
	// StateReconstructed: the shares combined, inside the signer, to the key's address.
	StateReconstructed State = "reconstructed"
	// StateRotated: a new key replaced the old one and a signed transaction moves the
	// funds; the old key is retired. Terminal.
	StateRotated State = "rotated"
	// StateCancelled: the owner cancelled before reconstruction. Terminal.
	StateCancelled State = "cancelled"
)

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool { return s == StateRotated || s == StateCancelled }

// Guardian is a holder of one share: an id and a secp256k1 (Ethereum) key. Shares are
// encrypted to PublicKey; approvals are signed by Address.
type Guardian struct {
	// ID names the guardian ("guardian:carol"); unique within a split.
	ID string `json:"id"`
	// Address is the guardian's Ethereum address, derived from PublicKey.
	Address common.Address `json:"address"`
	// PublicKey is the 65-byte uncompressed secp256k1 public key.
	PublicKey []byte `json:"public_key"`
}

// NewGuardian checks id and the public key (65-byte uncompressed, or 33-byte
// compressed) and returns the Guardian with its address.
func NewGuardian(id string, pub []byte) (Guardian, error) {
	if err := checkID("guardian id", id); err != nil {
		return Guardian{}, err
	}
	var k *ecdsa.PublicKey
	var err error
	switch len(pub) {
	case 33:
		k, err = crypto.DecompressPubkey(pub)
	case 65:
		k, err = crypto.UnmarshalPubkey(pub)
	default:
		err = fmt.Errorf("%d bytes", len(pub))
	}
	if err != nil {
		return Guardian{}, fmt.Errorf("%w: guardian %q public key: %v", ErrInvalid, id, err)
	}
	return Guardian{ID: id, Address: crypto.PubkeyToAddress(*k), PublicKey: crypto.FromECDSAPub(k)}, nil
}

// Key returns the guardian's public key.
func (g Guardian) Key() (*ecdsa.PublicKey, error) { return crypto.UnmarshalPubkey(g.PublicKey) }

// Split is the guardian set of a key: its secret was split Threshold-of-len(Guardians)
// and share i (1-based) encrypted to Guardians[i-1]. It holds no secret.
type Split struct {
	KeyID     string         `json:"key_id"`
	Address   common.Address `json:"address"`
	SplitID   string         `json:"split_id"` // hex of shamir's split id
	Threshold int            `json:"threshold"`
	Guardians []Guardian     `json:"guardians"`
	Created   time.Time      `json:"created"`
	CreatedBy string         `json:"created_by"`
}

// CheckSplit validates the parameters of a split before the secret is touched:
// 2 ≤ threshold ≤ n ≤ MaxGuardians, distinct guardian ids and addresses.
func CheckSplit(threshold int, guardians []Guardian) error {
	n := len(guardians)
	if threshold < 2 || threshold > n || n > MaxGuardians {
		return fmt.Errorf("%w: threshold %d of %d guardians (want 2 ≤ t ≤ n ≤ %d)", ErrInvalid, threshold, n, MaxGuardians)
	}
	ids, addrs := map[string]bool{}, map[common.Address]bool{}
	for _, g := range guardians {
		if ids[g.ID] || addrs[g.Address] {
			return fmt.Errorf("%w: guardian %q (%s) given twice", ErrInvalid, g.ID, g.Address.Hex())
		}
		ids[g.ID], addrs[g.Address] = true, true
	}
	return nil
}

// Guardian returns the guardian id of s and its share index (1-based).
func (s Split) Guardian(id string) (Guardian, int, bool) {
	for i, g := range s.Guardians {
		if g.ID == id {
			return g, i + 1, true
		}
	}
	return Guardian{}, 0, false
}

// Accepted is one guardian's accepted approval of a recovery, with its share
// re-encrypted to the ceremony key (ciphertext: only the signer's ceremony key opens it).
type Accepted struct {
	GuardianID string    `json:"guardian_id"`
	At         time.Time `json:"at"`
	Nonce      string    `json:"nonce"`
	Expires    time.Time `json:"expires"`
	Share      []byte    `json:"share"`
}

// Recovery is one ceremony: a pure state machine over explicit times (no clock of its
// own), persisted as a whole by the Store after every transition. Not safe for
// concurrent use; the Store serialises updates.
type Recovery struct {
	ID          string         `json:"id"`
	KeyID       string         `json:"key_id"`
	Address     common.Address `json:"address"`
	SplitID     string         `json:"split_id"`
	Threshold   int            `json:"threshold"`
	Guardians   int            `json:"guardians"`
	Requester   string         `json:"requester"`
	RequestedAt time.Time      `json:"requested_at"`
	Delay       time.Duration  `json:"delay"`
	// CeremonyKeyID names the transport key (in the keystore backend) that guardians
	// re-encrypt their shares to; CeremonyPublicKey is its public key.
	CeremonyKeyID     string `json:"ceremony_key_id"`
	CeremonyPublicKey []byte `json:"ceremony_public_key"`

	State     State      `json:"state"`
	Approvals []Accepted `json:"approvals"`
	// ApprovedAt is when the quorum was reached; NotBefore = ApprovedAt + Delay.
	ApprovedAt time.Time `json:"approved_at,omitzero"`
	NotBefore  time.Time `json:"not_before,omitzero"`

	CancelledAt  time.Time `json:"cancelled_at,omitzero"`
	CancelledBy  string    `json:"cancelled_by,omitempty"`
	CancelReason string    `json:"cancel_reason,omitempty"`

	ReconstructedAt time.Time `json:"reconstructed_at,omitzero"`

	// Rotation: the new key and the transaction plan (set before the funds-moving
	// transaction is signed, so a retry reuses both), then the transaction.
	NewKeyID   string         `json:"new_key_id,omitempty"`
	NewAddress common.Address `json:"new_address,omitzero"`
	Plan       *TxPlan        `json:"plan,omitempty"`
	ChainID    uint64         `json:"chain_id,omitempty"`
	TxHash     string         `json:"tx_hash,omitempty"`
	RawTx      []byte         `json:"raw_tx,omitempty"` // public: a signed transaction
	TxNonce    uint64         `json:"tx_nonce,omitempty"`
	RotatedAt  time.Time      `json:"rotated_at,omitzero"`

	// Step is the number of the last KeyRecoveryStep emitted for this ceremony.
	Step uint32 `json:"step"`
}

// NewRecovery starts a ceremony for the key of split s, requested by requester at now,
// with the given delay, which must be at least minDelay (ErrDelayTooShort) and at most
// MaxDelay.
func NewRecovery(s Split, id, requester string, now time.Time, delay, minDelay time.Duration,
	ceremonyKeyID string, ceremonyPub []byte) (*Recovery, error) {
	if id == "" || requester == "" || ceremonyKeyID == "" || len(ceremonyPub) != 65 {
		return nil, fmt.Errorf("%w: a recovery needs an id, a requester and a ceremony key", ErrInvalid)
	}
	if err := CheckDelay(delay, minDelay); err != nil {
		return nil, err
	}
	return &Recovery{ID: id, KeyID: s.KeyID, Address: s.Address, SplitID: s.SplitID, Threshold: s.Threshold,
		Guardians: len(s.Guardians), Requester: requester, RequestedAt: now, Delay: delay,
		CeremonyKeyID: ceremonyKeyID, CeremonyPublicKey: slices.Clone(ceremonyPub), State: StateRequested}, nil
}

// CheckDelay checks a recovery's delay against the minimum (ErrDelayTooShort) and
// MaxDelay (ErrInvalid): the delay is the owner's cancel window.
func CheckDelay(delay, minDelay time.Duration) error {
	switch {
	case minDelay <= 0:
		return fmt.Errorf("%w: minimum delay %s is not positive", ErrInvalid, minDelay)
	case delay < minDelay:
		return fmt.Errorf("%w: %s < %s", ErrDelayTooShort, delay, minDelay)
	case delay > MaxDelay:
		return fmt.Errorf("%w: delay %s above %s", ErrInvalid, delay, MaxDelay)
	}
	return nil
}

// Seen reports whether guardian already used nonce for key (the Store's replay set).
type Seen func(keyID, guardianID, nonce string) (bool, error)

// Approve adds the signed approval a of a guardian of s, with its share ciphertext, at
// now. It refuses (and changes nothing) when the ceremony is past collecting
// (ErrState), the approval is for something else (ErrWrongTarget), from a non-guardian
// (ErrNotGuardian), badly signed (ErrBadSignature), expired (ErrExpired), replayed
// (ErrReplay) or from a guardian who already approved (ErrDuplicate), or when the
// share's hash is not the one signed. It reports whether this approval reached the
// quorum, which starts the delay: State becomes StateDelaying, NotBefore = now + Delay.
func (r *Recovery) Approve(s Split, a Approval, share []byte, now time.Time, seen Seen) (bool, error) {
	if r.State != StateRequested {
		return false, fmt.Errorf("%w: approvals are collected while requested, the ceremony is %s", ErrState, r.State)
	}
	if a.Action != ActionRecover || a.Target != r.ID || a.KeyID != r.KeyID || s.SplitID != r.SplitID {
		return false, fmt.Errorf("%w: %s %q of key %q, not recover %q of key %q", ErrWrongTarget, a.Action, a.Target, a.KeyID, r.ID, r.KeyID)
	}
	if len(share) == 0 || len(share) > MaxShareCiphertext {
		return false, fmt.Errorf("%w: share ciphertext of %d bytes", ErrInvalid, len(share))
	}
	if a.ShareHash != ShareHash(share) {
		return false, fmt.Errorf("%w: the share is not the one the guardian signed", ErrBadSignature)
	}
	if err := a.verify(s, now, seen); err != nil {
		return false, err
	}
	for _, p := range r.Approvals {
		if p.GuardianID == a.GuardianID {
			return false, fmt.Errorf("%w: %q", ErrDuplicate, a.GuardianID)
		}
	}
	r.Approvals = append(r.Approvals, Accepted{GuardianID: a.GuardianID, At: now, Nonce: a.Nonce, Expires: a.Expires,
		Share: slices.Clone(share)})
	if len(r.Approvals) < r.Threshold {
		return false, nil
	}
	r.State, r.ApprovedAt, r.NotBefore = StateDelaying, now, now.Add(r.Delay)
	return true, nil
}

// Cancel cancels the ceremony for its owner: allowed while requested or delaying —
// the whole delay and after it, until reconstruction — refused (ErrState) once the key
// was reconstructed or the ceremony ended.
func (r *Recovery) Cancel(by, reason string, now time.Time) error {
	if r.State != StateRequested && r.State != StateDelaying {
		return fmt.Errorf("%w: cannot cancel a %s recovery", ErrState, r.State)
	}
	r.State, r.CancelledAt, r.CancelledBy, r.CancelReason = StateCancelled, now, by, reason
	return nil
}

// CanReconstruct says whether the shares may be combined at now: ErrQuorum while
// guardians are missing, ErrTooEarly before NotBefore, ErrState otherwise.
func (r *Recovery) CanReconstruct(now time.Time) error {
	switch {
	case r.State == StateRequested:
		return fmt.Errorf("%w: %d of %d approvals", ErrQuorum, len(r.Approvals), r.Threshold)
	case r.State != StateDelaying:
		return fmt.Errorf("%w: cannot reconstruct a %s recovery", ErrState, r.State)
	case now.Before(r.NotBefore):
		return fmt.Errorf("%w: reconstruction allowed from %s (%s left)", ErrTooEarly,
			r.NotBefore.UTC().Format(time.RFC3339), r.NotBefore.Sub(now).Round(time.Second))
	}
	return nil
}

// Reconstructed records that the shares combined to the key's address at now.
func (r *Recovery) Reconstructed(now time.Time) error {
	if err := r.CanReconstruct(now); err != nil {
		return err
	}
	r.State, r.ReconstructedAt = StateReconstructed, now
	return nil
}

// TxPlan is the funds-moving transaction of a rotation, fixed before it is signed: an
// EIP-1559 transfer of Value wei (decimal; "0": nothing to move, no transaction) from
// the old address to the new one.
type TxPlan struct {
	ChainID              uint64 `json:"chain_id"`
	Value                string `json:"value"`
	Gas                  uint64 `json:"gas"`
	MaxFeePerGas         string `json:"max_fee_per_gas"`
	MaxPriorityFeePerGas string `json:"max_priority_fee_per_gas"`
	PolicyID             string `json:"policy_id,omitempty"`
}

// Successor records the new key of the rotation and its transaction plan before the
// funds move, so that a retry reuses them. Only while reconstructed, and only one new
// key per ceremony.
func (r *Recovery) Successor(keyID string, addr common.Address, plan TxPlan) error {
	switch {
	case r.State != StateReconstructed:
		return fmt.Errorf("%w: cannot rotate a %s recovery", ErrState, r.State)
	case r.NewKeyID != "" && r.NewKeyID != keyID:
		return fmt.Errorf("%w: the new key is already %s", ErrState, r.NewKeyID)
	case keyID == "" || addr == (common.Address{}) || addr == r.Address:
		return fmt.Errorf("%w: the new key must be another key", ErrInvalid)
	}
	if r.Plan == nil {
		r.Plan = &plan
	}
	r.NewKeyID, r.NewAddress = keyID, addr
	return nil
}

// Rotated ends the ceremony: the funds-moving transaction (if any funds were moved)
// was signed at now.
func (r *Recovery) Rotated(chainID uint64, txHash string, raw []byte, nonce uint64, now time.Time) error {
	if r.State != StateReconstructed || r.NewKeyID == "" {
		return fmt.Errorf("%w: cannot finish the rotation of a %s recovery", ErrState, r.State)
	}
	r.State, r.ChainID, r.TxHash, r.RawTx, r.TxNonce, r.RotatedAt = StateRotated, chainID, txHash, slices.Clone(raw), nonce, now
	return nil
}

// Vote is one guardian's accepted freeze or unfreeze vote.
type Vote struct {
	GuardianID string    `json:"guardian_id"`
	At         time.Time `json:"at"`
	Expires    time.Time `json:"expires"`
}

// KeyStatus is what recovery knows about a key beyond its split: frozen or not (and
// the votes towards the next flip), retired by a rotation, a ceremony transport key,
// the recovery in progress. The zero KeyStatus is an active key.
type KeyStatus struct {
	KeyID string `json:"key_id"`
	// Frozen keys sign nothing. Epoch counts the freezes and unfreezes, so a vote
	// names the flip it is for.
	Frozen    bool      `json:"frozen"`
	Epoch     uint64    `json:"epoch"`
	Votes     []Vote    `json:"votes,omitempty"`
	FlippedAt time.Time `json:"flipped_at,omitzero"`
	// Retired keys were replaced by Successor in recovery RetiredBy; they sign nothing.
	Retired   bool      `json:"retired"`
	RetiredBy string    `json:"retired_by,omitempty"`
	Successor string    `json:"successor,omitempty"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	// Ceremony marks a recovery's transport key (never a signing key).
	Ceremony bool `json:"ceremony,omitempty"`
	// Active is the id of the recovery in progress, if any.
	Active string `json:"active,omitempty"`
	// Step numbers the KeyRecoveryStep events of freezes and unfreezes.
	Step uint32 `json:"step"`
}

// Usable returns nil if the key may sign: ErrRetired, ErrCeremonyKey or ErrFrozen if not.
func (k KeyStatus) Usable() error {
	switch {
	case k.Retired:
		return fmt.Errorf("%w: replaced by key %s in recovery %s", ErrRetired, k.Successor, k.RetiredBy)
	case k.Ceremony:
		return ErrCeremonyKey
	case k.Frozen:
		return fmt.Errorf("%w since %s", ErrFrozen, k.FlippedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Vote adds a guardian's signed freeze (when active) or unfreeze (when frozen) vote at
// now. Votes count while unexpired; when Threshold of them are valid the key flips
// (frozen ↔ active), Epoch increments and the votes are cleared; Vote reports whether it
// flipped. Refused, changing nothing: a vote for the current state (ErrState), for
// another key or epoch (ErrWrongTarget), a retired key (ErrRetired), and every bad
// approval as for Recovery.Approve.
func (k *KeyStatus) Vote(s Split, a Approval, now time.Time, seen Seen) (bool, error) {
	want := ActionFreeze
	if k.Frozen {
		want = ActionUnfreeze
	}
	switch {
	case k.Retired:
		return false, fmt.Errorf("%w: a retired key is not frozen or unfrozen", ErrRetired)
	case a.Action != ActionFreeze && a.Action != ActionUnfreeze:
		return false, fmt.Errorf("%w: action %q", ErrWrongTarget, a.Action)
	case a.Action != want:
		return false, fmt.Errorf("%w: the key is %s, %s does not apply", ErrState, map[bool]string{true: "frozen", false: "active"}[k.Frozen], a.Action)
	case a.KeyID != k.KeyID || a.Target != EpochTarget(k.Epoch):
		return false, fmt.Errorf("%w: %s of key %q %s, not of key %q %s", ErrWrongTarget, a.Action, a.KeyID, a.Target, k.KeyID, EpochTarget(k.Epoch))
	}
	if err := a.verify(s, now, seen); err != nil {
		return false, err
	}
	valid := k.Votes[:0:0]
	for _, v := range k.Votes {
		if v.GuardianID == a.GuardianID && now.Before(v.Expires) {
			return false, fmt.Errorf("%w: %q already voted to %s", ErrDuplicate, a.GuardianID, a.Action)
		}
		if now.Before(v.Expires) && v.GuardianID != a.GuardianID {
			valid = append(valid, v)
		}
	}
	valid = append(valid, Vote{GuardianID: a.GuardianID, At: now, Expires: a.Expires})
	if len(valid) < s.Threshold {
		k.Votes = valid
		return false, nil
	}
	k.Frozen, k.Epoch, k.Votes, k.FlippedAt = !k.Frozen, k.Epoch+1, nil, now
	return true, nil
}

// EpochTarget is the Target a freeze or unfreeze approval names at epoch e.
func EpochTarget(e uint64) string { return fmt.Sprintf("epoch:%d", e) }

func checkID(what, v string) error {
	if v == "" || len(v) > MaxIDLen {
		return fmt.Errorf("%w: %s must be 1 to %d bytes", ErrInvalid, what, MaxIDLen)
	}
	for _, c := range v {
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: %s must be printable ASCII without spaces", ErrInvalid, what)
		}
	}
	return nil
}
