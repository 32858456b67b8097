package signer

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer/keys"
	"github.com/weirhq/weir/signer/nonce"
	"github.com/weirhq/weir/signer/policy"
	"github.com/weirhq/weir/signer/recovery"
	"github.com/weirhq/weir/signer/shamir"
	"github.com/weirhq/weir/signer/txsign"
)

// TopicRecovery is the topic of KeyRecoveryStep events (before Options.TopicPrefix).
const TopicRecovery = "signer.recovery"

// RotationPurpose is the purpose policies see for the funds-moving transaction of a
// key rotation: a policy signs it only if a rule allows it (match "purposes").
const RotationPurpose = "key_rotation"

const kindRecoveryStep = "weir.signer.v1.KeyRecoveryStep"

// The recovery API (signer/recovery is the state machine; see its package doc):
//
//	POST /v1/keys/{id}/split          {threshold, guardians: [{id, public_key}]} → the encrypted shares, once
//	GET  /v1/keys/{id}/recovery       the key's split, freeze status and recovery in progress
//	POST /v1/keys/{id}/recoveries     {delay} → 201 a ceremony (with its ceremony public key)
//	POST /v1/keys/{id}/freeze         a guardian's signed freeze vote
//	POST /v1/keys/{id}/unfreeze       a guardian's signed unfreeze vote
//	GET  /v1/recoveries/{rid}         the ceremony
//	POST /v1/recoveries/{rid}/approve a guardian's signed approval with its re-encrypted share
//	POST /v1/recoveries/{rid}/cancel  {reason}: the owner cancels (before reconstruction)
//	POST /v1/recoveries/{rid}/reconstruct  combine the shares (after not_before)
//	POST /v1/recoveries/{rid}/rotate  {chain_id, fees, …}: new key, funds-moving transaction
func (s *Server) recoveryRoutes() {
	s.mux.HandleFunc("POST /v1/keys/{id}/split", s.auth(s.splitKey))
	s.mux.HandleFunc("GET /v1/keys/{id}/recovery", s.auth(s.keyRecoveryStatus))
	s.mux.HandleFunc("POST /v1/keys/{id}/recoveries", s.auth(s.startRecovery))
	s.mux.HandleFunc("POST /v1/keys/{id}/freeze", s.auth(s.freezeVote(recovery.ActionFreeze)))
	s.mux.HandleFunc("POST /v1/keys/{id}/unfreeze", s.auth(s.freezeVote(recovery.ActionUnfreeze)))
	s.mux.HandleFunc("GET /v1/recoveries/{rid}", s.auth(s.getRecovery))
	s.mux.HandleFunc("POST /v1/recoveries/{rid}/approve", s.auth(s.approveRecovery))
	s.mux.HandleFunc("POST /v1/recoveries/{rid}/cancel", s.auth(s.cancelRecovery))
	s.mux.HandleFunc("POST /v1/recoveries/{rid}/reconstruct", s.auth(s.reconstructRecovery))
	s.mux.HandleFunc("POST /v1/recoveries/{rid}/rotate", s.auth(s.rotateRecovery))
}

// guardedBackend is a keys.Backend whose Sign refuses the keys recovery froze or
// retired, and ceremony transport keys: whatever path signs through the Server's
// backends, a frozen key signs nothing.
type guardedBackend struct {
	keys.Backend
	st *recovery.Store
}

func (g guardedBackend) Sign(ctx context.Context, keyID string, digest [32]byte) ([]byte, error) {
	if err := g.st.Usable(keyID); err != nil {
		return nil, err
	}
	return g.Backend.Sign(ctx, keyID, digest)
}

// guardBackends wraps every backend with the recovery store's freeze check.
func guardBackends(bs map[string]keys.Backend, st *recovery.Store) map[string]keys.Backend {
	out := make(map[string]keys.Backend, len(bs))
	for n, b := range bs {
		out[n] = guardedBackend{Backend: b, st: st}
	}
	return out
}

// keyUsable refuses, before anything else is done for a signing request, a key that
// recovery froze (403 key_frozen) or retired (403 key_retired), or a ceremony key.
func (s *Server) keyUsable(keyID string) error {
	if s.o.Recovery == nil {
		return nil
	}
	if err := s.o.Recovery.Usable(keyID); err != nil {
		return recoveryError(err)
	}
	return nil
}

// recoveryError maps recovery's (and the backends' and shamir's) errors to API errors.
func recoveryError(err error) error {
	var b *badRequest
	if errors.As(err, &b) {
		return b
	}
	for _, m := range []struct {
		err    error
		status int
		code   string
	}{
		{recovery.ErrNotFound, http.StatusNotFound, "unknown_recovery"},
		{recovery.ErrNoSplit, http.StatusConflict, "no_split"},
		{recovery.ErrDelayTooShort, http.StatusBadRequest, "delay_too_short"},
		{recovery.ErrInvalid, http.StatusBadRequest, "invalid_request"},
		{recovery.ErrNotGuardian, http.StatusForbidden, "not_guardian"},
		{recovery.ErrBadSignature, http.StatusForbidden, "bad_signature"},
		{recovery.ErrExpired, http.StatusForbidden, "approval_expired"},
		{recovery.ErrReplay, http.StatusConflict, "approval_replayed"},
		{recovery.ErrDuplicate, http.StatusConflict, "duplicate_approval"},
		{recovery.ErrWrongTarget, http.StatusBadRequest, "wrong_target"},
		{recovery.ErrQuorum, http.StatusConflict, "quorum_not_reached"},
		{recovery.ErrTooEarly, http.StatusConflict, "delay_not_elapsed"},
		{recovery.ErrActive, http.StatusConflict, "recovery_in_progress"},
		{recovery.ErrState, http.StatusConflict, "invalid_state"},
		{recovery.ErrFrozen, http.StatusForbidden, "key_frozen"},
		{recovery.ErrRetired, http.StatusForbidden, "key_retired"},
		{recovery.ErrCeremonyKey, http.StatusForbidden, "ceremony_key"},
		{keys.ErrNotExportable, http.StatusBadRequest, "not_exportable"},
		{keys.ErrNotFound, http.StatusNotFound, "unknown_key"},
		{shamir.ErrDecrypt, http.StatusBadRequest, "bad_share"},
		{shamir.ErrMalformed, http.StatusBadRequest, "bad_share"},
		{shamir.ErrMixedShares, http.StatusConflict, "reconstruction_failed"},
		{shamir.ErrIntegrity, http.StatusConflict, "reconstruction_failed"},
		{errWrongSecret, http.StatusConflict, "reconstruction_failed"},
	} {
		if errors.Is(err, m.err) {
			return &badRequest{status: m.status, code: m.code, msg: err.Error()}
		}
	}
	return err
}

var errWrongSecret = errors.New("signer: the shares combine to another key than the split's")

// recoveryFail answers err after an audit record of the refusal (and extra events).
func (s *Server) recoveryFail(ctx context.Context, w http.ResponseWriter, c caller, action, keyID, resource string,
	err error, extra ...record) {
	var b *badRequest
	if !errors.As(recoveryError(err), &b) {
		s.log.Error("recovery request failed", "action", action, "key_id", keyID, "err", err)
		b = &badRequest{status: http.StatusInternalServerError, code: "internal", msg: err.Error()}
	}
	outcome := auditDenied
	if b.status >= 500 {
		outcome = auditError
	}
	if err := s.produce(ctx, append(extra, s.audit(c, action, keyID, resource, "", outcome, b.code+": "+b.msg))...); err != nil {
		s.unavailable(w, err)
		return
	}
	writeError(w, b.status, b.code, b.msg, nil)
}

// emit encodes recs into the Update's outbox.
func emitRecovery(tx *recovery.Tx, recs ...record) error {
	for _, r := range recs {
		b, err := codec.Marshal(r.ev)
		if err != nil {
			return fmt.Errorf("signer: encode %s: %w", r.topic, err)
		}
		tx.Emit(r.topic, r.key, b)
	}
	return nil
}

// flushRecovery produces the recovery outbox (events of committed transitions) and
// returns once Kafka acknowledged it.
func (s *Server) flushRecovery(ctx context.Context) error {
	return s.o.Recovery.Flush(func(es []recovery.OutboxEntry) error {
		krs := make([]*kgo.Record, len(es))
		for i, e := range es {
			krs[i] = &kgo.Record{Topic: s.o.TopicPrefix + e.Topic, Key: []byte(e.Key), Value: e.Value}
		}
		if err := s.o.Client.ProduceSync(context.WithoutCancel(ctx), krs...).FirstErr(); err != nil {
			return fmt.Errorf("signer: produce recovery events: %w", err)
		}
		return nil
	})
}

// transition runs fn in one Update, then produces its events. Refusals are answered by
// recoveryFail; ok is false when an answer was written.
func (s *Server) recTransition(ctx context.Context, w http.ResponseWriter, c caller, action, keyID, resource string,
	fn func(tx *recovery.Tx) ([]record, error)) bool {
	// Events of an earlier call that could not be produced go first.
	if err := s.flushRecovery(ctx); err != nil {
		s.unavailable(w, err)
		return false
	}
	err := s.o.Recovery.Update(func(tx *recovery.Tx) error {
		recs, err := fn(tx)
		if err != nil {
			return err
		}
		return emitRecovery(tx, recs...)
	})
	if err != nil {
		var extra []record
		var rj *recRejected
		if errors.As(err, &rj) {
			extra = rj.events
		}
		s.recoveryFail(ctx, w, c, action, keyID, resource, err, extra...)
		return false
	}
	if err := s.flushRecovery(ctx); err != nil {
		// The change is saved with its events; they go with the next recovery call.
		s.log.Error("recovery events not produced", "action", action, "key_id", keyID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "events_pending",
			"the change is saved but its audit events could not be written yet (they are sent by the next recovery call); nothing is handed out: retry, or read the state", nil)
		return false
	}
	if err := s.o.Recovery.Tidy(s.o.Now()); err != nil {
		s.log.Warn("recovery: pruning used approval nonces failed", "err", err)
	}
	return true
}

// recRejected is a refusal that carries events of its own (SHARE_REJECTED).
type recRejected struct {
	err    error
	events []record
}

func (e *recRejected) Error() string { return e.err.Error() }
func (e *recRejected) Unwrap() error { return e.err }

// step is the next KeyRecoveryStep of r.
func (s *Server) recStep(r *recovery.Recovery, kind signerv1.RecoveryStepKind, actor, reason string) record {
	r.Step++
	ev := &signerv1.KeyRecoveryStep{
		Meta:       s.meta(eventid.New(kindRecoveryStep, r.ID, strconv.FormatUint(uint64(r.Step), 10))),
		RecoveryId: r.ID, KeyId: r.KeyID, Step: kind, StepNumber: r.Step, ActorId: actor,
		SharesAccepted: uint32(len(r.Approvals)), Threshold: uint32(r.Threshold), Guardians: uint32(r.Guardians),
		State: string(r.State), Reason: truncate(reason, 1024), Address: r.Address.Hex(),
	}
	if !r.NotBefore.IsZero() {
		ev.NotBefore = timestamppb.New(r.NotBefore)
	}
	if r.State == recovery.StateRotated {
		ev.NewKeyId, ev.NewAddress, ev.TransactionHash, ev.ChainId = r.NewKeyID, r.NewAddress.Hex(), r.TxHash, r.ChainID
	}
	return record{topic: TopicRecovery, key: r.KeyID, ev: ev}
}

// keyStep is the next KeyRecoveryStep of a key's freeze status (recovery id
// "freeze/<key>").
func (s *Server) freezeStep(k *recovery.KeyStatus, sp recovery.Split, kind signerv1.RecoveryStepKind, actor, reason string) record {
	k.Step++
	id := "freeze/" + k.KeyID
	state := "active"
	if k.Frozen {
		state = "frozen"
	}
	ev := &signerv1.KeyRecoveryStep{
		Meta:       s.meta(eventid.New(kindRecoveryStep, id, strconv.FormatUint(uint64(k.Step), 10))),
		RecoveryId: id, KeyId: k.KeyID, Step: kind, StepNumber: k.Step, ActorId: actor,
		SharesAccepted: uint32(len(k.Votes)), Threshold: uint32(sp.Threshold), Guardians: uint32(len(sp.Guardians)),
		State: state, Reason: truncate(reason, 1024), Address: sp.Address.Hex(),
	}
	return record{topic: TopicRecovery, key: k.KeyID, ev: ev}
}

// GuardianRequest names a guardian of a split by id and secp256k1 public key (0x-hex,
// 65 bytes uncompressed or 33 compressed); Address, if given, must be the key's.
type GuardianRequest struct {
	ID        string `json:"id"`
	PublicKey string `json:"public_key"`
	Address   string `json:"address,omitempty"`
}

// SplitRequest is the body of POST /v1/keys/{id}/split.
type SplitRequest struct {
	Threshold int               `json:"threshold"`
	Guardians []GuardianRequest `json:"guardians"`
}

// EncryptedShare is one guardian's share, ECIES-encrypted to the guardian's key.
type EncryptedShare struct {
	GuardianID string `json:"guardian_id"`
	Address    string `json:"address"`
	Index      int    `json:"index"`
	Ciphertext string `json:"ciphertext"`
}

// SplitResponse is the answer of a split: the shares are returned this once.
type SplitResponse struct {
	KeyID     string           `json:"key_id"`
	Address   string           `json:"address"`
	SplitID   string           `json:"split_id"`
	Threshold int              `json:"threshold"`
	Shares    []EncryptedShare `json:"shares"`
}

func (s *Server) splitKey(w http.ResponseWriter, r *http.Request, c caller) {
	ctx, keyID := r.Context(), r.PathValue("id")
	const action = "key.split"
	var req SplitRequest
	if err := decode(r, &req); err != nil {
		s.recoveryFail(ctx, w, c, action, keyID, "", bad("bad_request", "%v", err))
		return
	}
	var gs []recovery.Guardian
	for _, g := range req.Guardians {
		pub, err := hexutil.Decode(g.PublicKey)
		if err != nil {
			s.recoveryFail(ctx, w, c, action, keyID, "", bad("invalid_request", "guardian %q public_key: %v", g.ID, err))
			return
		}
		rg, err := recovery.NewGuardian(g.ID, pub)
		if err == nil && g.Address != "" && (!common.IsHexAddress(g.Address) || common.HexToAddress(g.Address) != rg.Address) {
			err = fmt.Errorf("%w: guardian %q address %s is not its public key's (%s)", recovery.ErrInvalid, g.ID, g.Address, rg.Address.Hex())
		}
		if err != nil {
			s.recoveryFail(ctx, w, c, action, keyID, "", err)
			return
		}
		gs = append(gs, rg)
	}
	if err := recovery.CheckSplit(req.Threshold, gs); err != nil {
		s.recoveryFail(ctx, w, c, action, keyID, "", err)
		return
	}
	k, b, err := s.findKey(ctx, keyID)
	if err != nil {
		s.recoveryFail(ctx, w, c, action, keyID, "", err)
		return
	}
	var out SplitResponse
	ok := s.recTransition(ctx, w, c, action, keyID, "", func(tx *recovery.Tx) ([]record, error) {
		ks, err := tx.KeyStatus(keyID)
		if err != nil {
			return nil, err
		}
		if err := ks.Usable(); err != nil {
			return nil, err
		}
		if ks.Active != "" {
			return nil, fmt.Errorf("%w: %s", recovery.ErrActive, ks.Active)
		}
		priv, err := b.Export(ctx, keyID)
		if err != nil {
			return nil, err
		}
		defer keys.ZeroKey(priv)
		secret := make([]byte, 32)
		priv.D.FillBytes(secret)
		defer shamir.Zero(secret)
		shares, err := shamir.Split(secret, req.Threshold, len(gs))
		if err != nil {
			return nil, err
		}
		defer func() {
			for i := range shares {
				shares[i].Wipe()
			}
		}()
		splitID := shares[0].SplitID()
		out = SplitResponse{KeyID: keyID, Address: k.Address.Hex(), SplitID: hex.EncodeToString(splitID[:]), Threshold: req.Threshold}
		for i, g := range gs {
			pub, err := g.Key()
			if err != nil {
				return nil, err
			}
			ct, err := shamir.Encrypt(shares[i], pub)
			if err != nil {
				return nil, err
			}
			out.Shares = append(out.Shares, EncryptedShare{GuardianID: g.ID, Address: g.Address.Hex(), Index: shares[i].Index(),
				Ciphertext: hexutil.Encode(ct)})
		}
		sp := recovery.Split{KeyID: keyID, Address: k.Address, SplitID: out.SplitID, Threshold: req.Threshold, Guardians: gs,
			Created: s.o.Now().UTC(), CreatedBy: c.id}
		tx.PutSplit(sp)
		// A split is not a ceremony; its step is numbered in the key's freeze series.
		ev := s.freezeStep(&ks, sp, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_SPLIT, c.id, "split "+out.SplitID)
		tx.PutKeyStatus(ks)
		return []record{ev, s.audit(c, action, keyID, fmt.Sprintf("split:%s/%d-of-%d", out.SplitID, req.Threshold, len(gs)), "", auditAllowed, "")}, nil
	})
	if !ok {
		return
	}
	s.log.Info("key split to guardians", "key_id", keyID, "threshold", req.Threshold, "guardians", len(gs), "operator", c.id)
	writeJSON(w, http.StatusCreated, out)
}

// RecoveryView is a ceremony as the API shows it: no share, no secret.
type RecoveryView struct {
	ID                string                 `json:"id"`
	KeyID             string                 `json:"key_id"`
	Address           string                 `json:"address"`
	State             recovery.State         `json:"state"`
	Threshold         int                    `json:"threshold"`
	Guardians         int                    `json:"guardians"`
	Approvals         []GuardianApprovalView `json:"approvals"`
	Requester         string                 `json:"requester"`
	RequestedAt       time.Time              `json:"requested_at"`
	Delay             string                 `json:"delay"`
	CeremonyPublicKey string                 `json:"ceremony_public_key"`
	ApprovedAt        time.Time              `json:"approved_at,omitzero"`
	NotBefore         time.Time              `json:"not_before,omitzero"`
	CancelledAt       time.Time              `json:"cancelled_at,omitzero"`
	CancelledBy       string                 `json:"cancelled_by,omitempty"`
	ReconstructedAt   time.Time              `json:"reconstructed_at,omitzero"`
	NewKeyID          string                 `json:"new_key_id,omitempty"`
	NewAddress        string                 `json:"new_address,omitempty"`
	ChainID           uint64                 `json:"chain_id,omitempty"`
	TxHash            string                 `json:"tx_hash,omitempty"`
	RawTx             string                 `json:"raw_tx,omitempty"`
	TxNonce           uint64                 `json:"tx_nonce,omitempty"`
	RotatedAt         time.Time              `json:"rotated_at,omitzero"`
}

// GuardianApprovalView is an accepted guardian approval.
type GuardianApprovalView struct {
	GuardianID string    `json:"guardian_id"`
	At         time.Time `json:"at"`
}

func recoveryViewOf(r *recovery.Recovery) RecoveryView {
	v := RecoveryView{ID: r.ID, KeyID: r.KeyID, Address: r.Address.Hex(), State: r.State, Threshold: r.Threshold,
		Guardians: r.Guardians, Approvals: []GuardianApprovalView{}, Requester: r.Requester, RequestedAt: r.RequestedAt,
		Delay: r.Delay.String(), CeremonyPublicKey: hexutil.Encode(r.CeremonyPublicKey), ApprovedAt: r.ApprovedAt,
		NotBefore: r.NotBefore, CancelledAt: r.CancelledAt, CancelledBy: r.CancelledBy, ReconstructedAt: r.ReconstructedAt,
		NewKeyID: r.NewKeyID, ChainID: r.ChainID, TxHash: r.TxHash, TxNonce: r.TxNonce, RotatedAt: r.RotatedAt}
	for _, a := range r.Approvals {
		v.Approvals = append(v.Approvals, GuardianApprovalView{GuardianID: a.GuardianID, At: a.At})
	}
	if r.NewKeyID != "" {
		v.NewAddress = r.NewAddress.Hex()
	}
	if len(r.RawTx) > 0 {
		v.RawTx = hexutil.Encode(r.RawTx)
	}
	return v
}

// KeyRecoveryView is GET /v1/keys/{id}/recovery: the split (public data), the freeze
// status and the ceremony in progress.
type KeyRecoveryView struct {
	KeyID          string            `json:"key_id"`
	Address        string            `json:"address,omitempty"`
	SplitID        string            `json:"split_id,omitempty"`
	Threshold      int               `json:"threshold,omitempty"`
	Guardians      []GuardianRequest `json:"guardians"`
	Frozen         bool              `json:"frozen"`
	Epoch          uint64            `json:"epoch"`
	Votes          []recovery.Vote   `json:"votes"`
	Retired        bool              `json:"retired"`
	Successor      string            `json:"successor,omitempty"`
	ActiveRecovery string            `json:"active_recovery,omitempty"`
	Status         string            `json:"status"`
}

func (s *Server) keyView(keyID string) (KeyRecoveryView, error) {
	ks, err := s.o.Recovery.KeyStatus(keyID)
	if err != nil {
		return KeyRecoveryView{}, err
	}
	v := KeyRecoveryView{KeyID: keyID, Guardians: []GuardianRequest{}, Frozen: ks.Frozen, Epoch: ks.Epoch, Votes: ks.Votes,
		Retired: ks.Retired, Successor: ks.Successor, ActiveRecovery: ks.Active, Status: "active"}
	if v.Votes == nil {
		v.Votes = []recovery.Vote{}
	}
	if err := ks.Usable(); err != nil {
		v.Status = err.Error()
	}
	sp, err := s.o.Recovery.Split(keyID)
	switch {
	case err == nil:
		v.Address, v.SplitID, v.Threshold = sp.Address.Hex(), sp.SplitID, sp.Threshold
		for _, g := range sp.Guardians {
			v.Guardians = append(v.Guardians, GuardianRequest{ID: g.ID, PublicKey: hexutil.Encode(g.PublicKey), Address: g.Address.Hex()})
		}
	case !errors.Is(err, recovery.ErrNoSplit):
		return v, err
	}
	return v, nil
}

func (s *Server) keyRecoveryStatus(w http.ResponseWriter, r *http.Request, c caller) {
	keyID := r.PathValue("id")
	v, err := s.keyView(keyID)
	if err == nil && v.SplitID == "" {
		if _, _, err = s.findKey(r.Context(), keyID); err != nil {
			err = recoveryError(err)
		}
	}
	if err != nil {
		var b *badRequest
		if !errors.As(recoveryError(err), &b) {
			b = &badRequest{status: http.StatusInternalServerError, code: "internal", msg: err.Error()}
		}
		writeError(w, b.status, b.code, b.msg, nil)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) getRecovery(w http.ResponseWriter, r *http.Request, c caller) {
	rec, err := s.o.Recovery.Recovery(r.PathValue("rid"))
	if err != nil {
		var b *badRequest
		if !errors.As(recoveryError(err), &b) {
			b = &badRequest{status: http.StatusInternalServerError, code: "internal", msg: err.Error()}
		}
		writeError(w, b.status, b.code, b.msg, nil)
		return
	}
	writeJSON(w, http.StatusOK, recoveryViewOf(rec))
}

// StartRecoveryRequest is the body of POST /v1/keys/{id}/recoveries.
type StartRecoveryRequest struct {
	// Delay is a Go duration ("72h"): from the guardian quorum to the earliest
	// reconstruction; the owner's cancel window. At least the signer's minimum.
	Delay string `json:"delay"`
}

func recoveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ceremonyBackend is where ceremony transport keys live: the keystore (encrypted at
// rest, exportable to the signer's memory for reconstruction).
func (s *Server) ceremonyBackend() (keys.Backend, error) {
	b, ok := s.o.Backends[keys.BackendKeystore]
	if !ok {
		return nil, bad("not_configured", "key recovery needs the keystore backend for its ceremony keys")
	}
	return b, nil
}

func (s *Server) startRecovery(w http.ResponseWriter, r *http.Request, c caller) {
	ctx, keyID := r.Context(), r.PathValue("id")
	const action = "key.recover.request"
	var req StartRecoveryRequest
	if err := decode(r, &req); err != nil {
		s.recoveryFail(ctx, w, c, action, keyID, "", bad("bad_request", "%v", err))
		return
	}
	delay, err := time.ParseDuration(req.Delay)
	if err != nil {
		s.recoveryFail(ctx, w, c, action, keyID, "", bad("invalid_request", "delay: %v", err))
		return
	}
	if err := recovery.CheckDelay(delay, s.o.Recovery.MinDelay()); err != nil {
		s.recoveryFail(ctx, w, c, action, keyID, "", err)
		return
	}
	cb, err := s.ceremonyBackend()
	if err != nil {
		s.recoveryFail(ctx, w, c, action, keyID, "", err)
		return
	}
	var rec *recovery.Recovery
	ok := s.recTransition(ctx, w, c, action, keyID, "", func(tx *recovery.Tx) ([]record, error) {
		sp, err := tx.Split(keyID)
		if errors.Is(err, recovery.ErrNoSplit) {
			if _, _, ferr := s.findKey(ctx, keyID); ferr != nil {
				return nil, ferr // unknown_key
			}
		}
		if err != nil {
			return nil, err
		}
		ks, err := tx.KeyStatus(keyID)
		if err != nil {
			return nil, err
		}
		switch {
		case ks.Retired:
			return nil, ks.Usable()
		case ks.Active != "":
			return nil, fmt.Errorf("%w: %s", recovery.ErrActive, ks.Active)
		}
		id := recoveryID()
		ck, err := cb.Create(ctx, "recovery-ceremony:"+id)
		if err != nil {
			return nil, fmt.Errorf("signer: ceremony key: %w", err)
		}
		rec, err = recovery.NewRecovery(sp, id, c.id, s.o.Now().UTC(), delay, s.o.Recovery.MinDelay(), ck.ID, crypto.FromECDSAPub(ck.PublicKey))
		if err != nil {
			return nil, err
		}
		ks.Active = id
		tx.PutKeyStatus(ks)
		tx.PutKeyStatus(recovery.KeyStatus{KeyID: ck.ID, Ceremony: true})
		ev := s.recStep(rec, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_INITIATED, c.id, "delay "+delay.String())
		tx.PutRecovery(rec)
		return []record{ev, s.audit(c, action, keyID, "recovery:"+id, "", auditAllowed, "")}, nil
	})
	if !ok {
		return
	}
	s.log.Info("key recovery requested", "key_id", keyID, "recovery_id", rec.ID, "delay", delay, "operator", c.id)
	writeJSON(w, http.StatusCreated, recoveryViewOf(rec))
}

// GuardianApproval is a guardian's signed approval (POST /v1/recoveries/{rid}/approve)
// or freeze vote (POST /v1/keys/{id}/freeze and /unfreeze); the signed message is
// recovery.Approval.Message.
type GuardianApproval struct {
	GuardianID string    `json:"guardian_id"`
	Nonce      string    `json:"nonce"`
	Expires    time.Time `json:"expires"`
	// Share is the guardian's share re-encrypted to the ceremony public key (0x-hex;
	// recovery.ReencryptShare); approvals only.
	Share string `json:"share,omitempty"`
	// Epoch is the key's freeze epoch the vote is for; votes only.
	Epoch uint64 `json:"epoch,omitempty"`
	// Signature is the guardian's 65-byte EIP-191 signature, 0x-hex.
	Signature string `json:"signature"`
}

func (req GuardianApproval) approval(action recovery.Action, keyID, target string, share []byte) (recovery.Approval, error) {
	sig, err := hexutil.Decode(req.Signature)
	if err != nil {
		return recovery.Approval{}, fmt.Errorf("%w: signature: %v", recovery.ErrBadSignature, err)
	}
	a := recovery.Approval{Action: action, KeyID: keyID, Target: target, GuardianID: req.GuardianID, Nonce: req.Nonce,
		Expires: req.Expires, Signature: sig}
	if share != nil {
		a.ShareHash = recovery.ShareHash(share)
	}
	return a, nil
}

func (s *Server) approveRecovery(w http.ResponseWriter, r *http.Request, c caller) {
	ctx, rid := r.Context(), r.PathValue("rid")
	const action = "key.recover.approve"
	var req GuardianApproval
	if err := decode(r, &req); err != nil {
		s.recoveryFail(ctx, w, c, action, "", "recovery:"+rid, bad("bad_request", "%v", err))
		return
	}
	res := "recovery:" + rid + "/guardian:" + req.GuardianID
	rec0, err := s.o.Recovery.Recovery(rid)
	if err != nil {
		s.recoveryFail(ctx, w, c, action, "", res, err)
		return
	}
	keyID := rec0.KeyID
	share, err := hexutil.Decode(req.Share)
	if err != nil {
		s.recoveryFail(ctx, w, c, action, keyID, res, bad("invalid_request", "share: %v", err))
		return
	}
	var rec *recovery.Recovery
	ok := s.recTransition(ctx, w, c, action, keyID, res, func(tx *recovery.Tx) (_ []record, err error) {
		rec, err = tx.Recovery(rid)
		if err != nil {
			return nil, err
		}
		reject := func(err error) error {
			if rec.State.Terminal() {
				return err
			}
			r := *rec
			r.Step = 0 // a refusal is no step of the ceremony; its event id is random
			ev := s.recStep(&r, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_SHARE_REJECTED, req.GuardianID, err.Error())
			ev.ev.(*signerv1.KeyRecoveryStep).Meta.EventId = eventid.New(kindRecoveryStep, rid, "recRejected", recoveryID())
			ev.ev.(*signerv1.KeyRecoveryStep).StepNumber = 0
			return &recRejected{err: err, events: []record{ev}}
		}
		sp, err := tx.Split(rec.KeyID)
		if err != nil {
			return nil, err
		}
		a, err := req.approval(recovery.ActionRecover, rec.KeyID, rid, share)
		if err != nil {
			return nil, reject(err)
		}
		quorum, err := rec.Approve(sp, a, share, s.o.Now().UTC(), tx.Seen)
		if err != nil {
			return nil, reject(err)
		}
		// The share must open with the ceremony key and be this guardian's share of
		// the current split; it is wiped at once.
		if err := s.checkShare(ctx, rec, sp, a.GuardianID, share); err != nil {
			return nil, reject(err)
		}
		tx.UseNonce(a.KeyID, a.GuardianID, a.Nonce, a.Expires)
		recs := []record{s.recStep(rec, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_SHARE_ACCEPTED, a.GuardianID, "")}
		if quorum {
			recs = append(recs, s.recStep(rec, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_QUORUM_REACHED, a.GuardianID,
				"reconstruction allowed from "+rec.NotBefore.UTC().Format(time.RFC3339)))
		}
		tx.PutRecovery(rec)
		return append(recs, s.audit(c, action, rec.KeyID, res, "", auditAllowed, "")), nil
	})
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, recoveryViewOf(rec))
}

// ceremonyKey exports the ceremony transport key of rec; the caller zeroes it.
func (s *Server) ceremonyKey(ctx context.Context, rec *recovery.Recovery) (*ecdsa.PrivateKey, error) {
	cb, err := s.ceremonyBackend()
	if err != nil {
		return nil, err
	}
	return cb.Export(ctx, rec.CeremonyKeyID)
}

func (s *Server) checkShare(ctx context.Context, rec *recovery.Recovery, sp recovery.Split, guardianID string, ct []byte) error {
	ck, err := s.ceremonyKey(ctx, rec)
	if err != nil {
		return err
	}
	defer keys.ZeroKey(ck)
	sh, err := shamir.Decrypt(ct, ck)
	if err != nil {
		return err
	}
	defer sh.Wipe()
	_, idx, _ := sp.Guardian(guardianID)
	id := sh.SplitID()
	if hex.EncodeToString(id[:]) != sp.SplitID || sh.Index() != idx || sh.Threshold() != sp.Threshold {
		return fmt.Errorf("%w: not guardian %q's share of split %s", shamir.ErrMalformed, guardianID, sp.SplitID)
	}
	return nil
}

// combine reconstructs the recovered key in memory from the accepted shares and checks
// it is the key of the ceremony's address. The caller zeroes it.
func (s *Server) combineShares(ctx context.Context, rec *recovery.Recovery) (*ecdsa.PrivateKey, error) {
	ck, err := s.ceremonyKey(ctx, rec)
	if err != nil {
		return nil, err
	}
	defer keys.ZeroKey(ck)
	shares := make([]shamir.Share, 0, len(rec.Approvals))
	defer func() {
		for i := range shares {
			shares[i].Wipe()
		}
	}()
	for _, a := range rec.Approvals {
		sh, err := shamir.Decrypt(a.Share, ck)
		if err != nil {
			return nil, err
		}
		shares = append(shares, sh)
	}
	secret, err := shamir.Combine(shares)
	if err != nil {
		return nil, err
	}
	defer shamir.Zero(secret)
	priv, err := crypto.ToECDSA(secret)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errWrongSecret, err)
	}
	if crypto.PubkeyToAddress(priv.PublicKey) != rec.Address {
		keys.ZeroKey(priv)
		return nil, errWrongSecret
	}
	return priv, nil
}

// recoveryOf decodes r's body into req (unless req is nil) and loads the ceremony named
// by the path's {rid}. When either fails it has answered and audited the refusal of
// action, and returns false.
func (s *Server) recoveryOf(w http.ResponseWriter, r *http.Request, c caller, action string, req any) (*recovery.Recovery, bool) {
	ctx, rid := r.Context(), r.PathValue("rid")
	res := "recovery:" + rid
	if req != nil {
		if err := decode(r, req); err != nil {
			s.recoveryFail(ctx, w, c, action, "", res, bad("bad_request", "%v", err))
			return nil, false
		}
	}
	rec, err := s.o.Recovery.Recovery(rid)
	if err != nil {
		s.recoveryFail(ctx, w, c, action, "", res, err)
		return nil, false
	}
	return rec, true
}

// RecoveryCancelRequest is the body of POST /v1/recoveries/{rid}/cancel.
type RecoveryCancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

func (s *Server) cancelRecovery(w http.ResponseWriter, r *http.Request, c caller) {
	ctx, rid := r.Context(), r.PathValue("rid")
	const action = "key.recover.cancel"
	res := "recovery:" + rid
	var req RecoveryCancelRequest
	rec, ok := s.recoveryOf(w, r, c, action, &req)
	if !ok {
		return
	}
	keyID := rec.KeyID
	ok = s.recTransition(ctx, w, c, action, keyID, res, func(tx *recovery.Tx) (_ []record, err error) {
		if rec, err = tx.Recovery(rid); err != nil {
			return nil, err
		}
		if err := rec.Cancel(c.id, truncate(req.Reason, 256), s.o.Now().UTC()); err != nil {
			return nil, err
		}
		ks, err := tx.KeyStatus(keyID)
		if err != nil {
			return nil, err
		}
		if ks.Active == rid {
			ks.Active = ""
			tx.PutKeyStatus(ks)
		}
		ev := s.recStep(rec, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_CANCELLED, c.id, truncate(req.Reason, 256))
		tx.PutRecovery(rec)
		return []record{ev, s.audit(c, action, keyID, res, "", auditAllowed, "")}, nil
	})
	if !ok {
		return
	}
	s.log.Info("key recovery cancelled", "key_id", keyID, "recovery_id", rid, "operator", c.id)
	writeJSON(w, http.StatusOK, recoveryViewOf(rec))
}

func (s *Server) reconstructRecovery(w http.ResponseWriter, r *http.Request, c caller) {
	ctx, rid := r.Context(), r.PathValue("rid")
	const action = "key.recover.reconstruct"
	res := "recovery:" + rid
	rec, ok := s.recoveryOf(w, r, c, action, nil)
	if !ok {
		return
	}
	keyID := rec.KeyID
	ok = s.recTransition(ctx, w, c, action, keyID, res, func(tx *recovery.Tx) (_ []record, err error) {
		if rec, err = tx.Recovery(rid); err != nil {
			return nil, err
		}
		now := s.o.Now().UTC()
		if err := rec.CanReconstruct(now); err != nil {
			return nil, err
		}
		priv, err := s.combineShares(ctx, rec)
		if err != nil {
			return nil, err
		}
		pub := crypto.FromECDSAPub(&priv.PublicKey)
		keys.ZeroKey(priv)
		if err := rec.Reconstructed(now); err != nil {
			return nil, err
		}
		ev := s.recStep(rec, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_COMPLETED, c.id, "")
		ev.ev.(*signerv1.KeyRecoveryStep).PublicKey = hexutil.Encode(pub)
		tx.PutRecovery(rec)
		return []record{ev, s.audit(c, action, keyID, res, "", auditAllowed, "")}, nil
	})
	if !ok {
		return
	}
	s.log.Info("key reconstructed", "key_id", keyID, "recovery_id", rid, "operator", c.id)
	writeJSON(w, http.StatusOK, recoveryViewOf(rec))
}

// RotateRequest is the body of POST /v1/recoveries/{rid}/rotate: the new key and the
// EIP-1559 transaction moving the funds to it. A retry after a failure reuses the new
// key and the plan of the first attempt (the fields are then ignored).
type RotateRequest struct {
	// Label of the new key. Default "recovered:<old key id>".
	Label string `json:"label,omitempty"`
	// Backend of the new key. Default keystore.
	Backend string `json:"backend,omitempty"`
	// ChainID is the chain the funds are on; one the signer serves. Required.
	ChainID uint64 `json:"chain_id"`
	// Value is the wei to move. Default: the balance less gas × max_fee_per_gas (the
	// signer's balance source is then required); "0" moves nothing (no transaction).
	Value string `json:"value,omitempty"`
	// Gas is the gas limit. Default 21000.
	Gas uint64 `json:"gas,omitempty"`
	// MaxFeePerGas and MaxPriorityFeePerGas are the EIP-1559 fees. Required.
	MaxFeePerGas         string `json:"max_fee_per_gas"`
	MaxPriorityFeePerGas string `json:"max_priority_fee_per_gas"`
	// PolicyID judges the transaction (purpose RotationPurpose). Default
	// Options.DefaultPolicy.
	PolicyID string `json:"policy_id,omitempty"`
}

// RotateResponse is the answer of a rotation: the ceremony (with raw_tx and tx_hash,
// empty when nothing was moved) and the new key.
type RotateResponse struct {
	Recovery RecoveryView `json:"recovery"`
	NewKey   keyJSON      `json:"new_key"`
}

func (s *Server) rotateRecovery(w http.ResponseWriter, r *http.Request, c caller) {
	ctx, rid := r.Context(), r.PathValue("rid")
	const action = "key.rotate"
	res := "recovery:" + rid
	var req RotateRequest
	rec, ok := s.recoveryOf(w, r, c, action, &req)
	if !ok {
		return
	}
	keyID := rec.KeyID
	fail := func(err error) { s.recoveryFail(ctx, w, c, action, keyID, res, err) }
	// 1. The new key and the plan, durably, unless an earlier attempt fixed them.
	if rec.NewKeyID == "" {
		if rec.State != recovery.StateReconstructed {
			fail(fmt.Errorf("%w: cannot rotate a %s recovery", recovery.ErrState, rec.State))
			return
		}
		plan, err := s.rotationPlan(ctx, rec, req)
		if err != nil {
			fail(err)
			return
		}
		if req.Backend == "" {
			req.Backend = keys.BackendKeystore
		}
		b, ok := s.o.Backends[req.Backend]
		if !ok {
			fail(bad("unknown_backend", "backend %q is not configured", req.Backend))
			return
		}
		if req.Label == "" {
			req.Label = "recovered:" + keyID
		}
		var nk keys.KeyInfo
		if !s.recTransition(ctx, w, c, action, keyID, res, func(tx *recovery.Tx) (_ []record, err error) {
			if rec, err = tx.Recovery(rid); err != nil {
				return nil, err
			}
			if rec.NewKeyID != "" { // a concurrent attempt got there first
				return nil, nil
			}
			if rec.State != recovery.StateReconstructed {
				return nil, fmt.Errorf("%w: cannot rotate a %s recovery", recovery.ErrState, rec.State)
			}
			if nk, err = b.Create(ctx, req.Label); err != nil {
				return nil, recoveryError(err)
			}
			if err := rec.Successor(nk.ID, nk.Address, plan); err != nil {
				return nil, err
			}
			tx.PutRecovery(rec)
			return []record{s.audit(c, "key.create", nk.ID, res, "", auditAllowed, "")}, nil
		}) {
			return
		}
	}
	// 2. The funds-moving transaction, signed with the old key combined in memory, and
	// the end of the ceremony.
	var out RotateResponse
	ok = s.recTransition(ctx, w, c, action, keyID, res, func(tx *recovery.Tx) (_ []record, err error) {
		if rec, err = tx.Recovery(rid); err != nil {
			return nil, err
		}
		if rec.State == recovery.StateRotated { // a retry: the answer again
			return nil, nil
		}
		if rec.State != recovery.StateReconstructed || rec.NewKeyID == "" || rec.Plan == nil {
			return nil, fmt.Errorf("%w: cannot rotate a %s recovery", recovery.ErrState, rec.State)
		}
		recs, err := s.moveFunds(ctx, c, rec)
		if err != nil {
			return nil, err
		}
		ks, err := tx.KeyStatus(keyID)
		if err != nil {
			return nil, err
		}
		ks.Retired, ks.RetiredBy, ks.Successor, ks.RetiredAt, ks.Active = true, rid, rec.NewKeyID, rec.RotatedAt, ""
		tx.PutKeyStatus(ks)
		recs = append(recs, s.recStep(rec, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_ROTATED, c.id, ""))
		tx.PutRecovery(rec)
		return append(recs, s.audit(c, action, keyID, res+"/new_key:"+rec.NewKeyID, "recovery:"+rid, auditAllowed, "")), nil
	})
	if !ok {
		return
	}
	out.Recovery = recoveryViewOf(rec)
	out.NewKey = keyJSON{ID: rec.NewKeyID, Address: rec.NewAddress.Hex()}
	if k, _, err := s.findKey(ctx, rec.NewKeyID); err == nil {
		out.NewKey = toKeyJSON(k)
	}
	s.log.Info("key rotated", "key_id", keyID, "recovery_id", rid, "new_key_id", rec.NewKeyID, "tx", rec.TxHash, "operator", c.id)
	writeJSON(w, http.StatusOK, out)
}

// rotationPlan checks req and fixes the transaction's value.
func (s *Server) rotationPlan(ctx context.Context, rec *recovery.Recovery, req RotateRequest) (recovery.TxPlan, error) {
	p := recovery.TxPlan{ChainID: req.ChainID, Value: req.Value, Gas: req.Gas, MaxFeePerGas: req.MaxFeePerGas,
		MaxPriorityFeePerGas: req.MaxPriorityFeePerGas, PolicyID: req.PolicyID}
	if !s.chains[p.ChainID] {
		return p, bad("wrong_chain", "chain id %d is not served by this signer", p.ChainID)
	}
	if p.Gas == 0 {
		p.Gas = 21000
	}
	if p.MaxPriorityFeePerGas == "" {
		p.MaxPriorityFeePerGas = "0"
	}
	fee, err := parseAmount("max_fee_per_gas", p.MaxFeePerGas)
	if err != nil {
		return p, err
	}
	if _, err := parseAmount("max_priority_fee_per_gas", p.MaxPriorityFeePerGas); err != nil {
		return p, err
	}
	if p.Value != "" {
		if _, err := parseAmount("value", p.Value); err != nil {
			return p, err
		}
		return p, nil
	}
	if s.o.Balance == nil {
		return p, bad("value_required", "the signer has no balance source: give the value to move")
	}
	bal, err := s.o.Balance(ctx, p.ChainID, rec.Address)
	if err != nil {
		return p, fmt.Errorf("signer: balance of %s: %w", rec.Address.Hex(), err)
	}
	v := new(big.Int).Sub(bal, new(big.Int).Mul(new(big.Int).SetUint64(p.Gas), fee))
	if v.Sign() < 0 {
		v.SetInt64(0)
	}
	p.Value = v.String()
	return p, nil
}

// moveFunds signs rec's plan with the old key, combined in memory and zeroed before it
// returns, through the policy, the request log, the nonce guard and txsign, as any
// signing request; it records the transaction in rec and returns its events.
func (s *Server) moveFunds(ctx context.Context, c caller, rec *recovery.Recovery) ([]record, error) {
	plan, now := *rec.Plan, s.o.Now().UTC()
	value, err := parseAmount("value", plan.Value)
	if err != nil {
		return nil, err
	}
	if value.Sign() == 0 { // nothing to move
		return nil, rec.Rotated(plan.ChainID, "", nil, 0, now)
	}
	to := rec.NewAddress
	p := &parsedTx{req: TxRequest{RequestID: "recovery:" + rec.ID, KeyID: rec.KeyID, ChainID: plan.ChainID,
		Purpose: RotationPurpose, Reference: "recovery:" + rec.ID, PolicyID: plan.PolicyID, To: to.Hex(), Value: plan.Value,
		Gas: plan.Gas, MaxFeePerGas: plan.MaxFeePerGas, MaxPriorityFeePerGas: plan.MaxPriorityFeePerGas},
		key: keys.KeyInfo{ID: rec.KeyID, Address: rec.Address}, chain: new(big.Int).SetUint64(plan.ChainID), to: &to,
		value: value, asset: NativeAsset, amount: value, dest: strings.ToLower(to.Hex())}
	canon, _ := json.Marshal(p.req)
	sum := sha256.Sum256(canon)
	p.fp = hex.EncodeToString(sum[:])
	if _, err := s.buildTx(p, 0); err != nil {
		return nil, err
	}
	preq, err := s.policyRequest(ctx, p)
	if err != nil {
		return nil, err
	}
	policyID := plan.PolicyID
	if policyID == "" {
		policyID = s.o.DefaultPolicy
	}
	d, evalErr := s.o.Engine.Evaluate(ctx, policyID, preq)
	reqEv := s.signingRequest(c, p, d)
	if d.Outcome != policy.OutcomeAllow {
		reasons := d.Reasons
		if evalErr != nil {
			reasons = append(reasons, evalErr.Error())
		}
		return nil, &recRejected{err: &badRequest{status: http.StatusForbidden, code: "policy_denied",
			msg: fmt.Sprintf("the policy does not allow the funds-moving transaction (%s: %v); publish a rule for purpose %q",
				d.Outcome, reasons, RotationPurpose)}, events: []record{reqEv}}
	}
	n, err := s.o.Requests.claim(ctx, p.req.RequestID, p.fp, plan.ChainID, rec.Address.Hex(), func(ctx context.Context) (uint64, error) {
		return s.o.Nonces.Reserve(ctx, plan.ChainID, rec.Address)
	})
	if err != nil {
		return nil, conflictOr(err)
	}
	unsigned, err := s.buildTx(p, n)
	if err != nil {
		return nil, err
	}
	if err := s.o.Nonces.Record(plan.ChainID, rec.Address, n, types.LatestSignerForChainID(p.chain).Hash(unsigned), nonce.Original); err != nil {
		return nil, nonceError(err, n)
	}
	priv, err := s.combineShares(ctx, rec)
	if err != nil {
		return nil, err
	}
	signed, err := txsign.SignTx(ctx, memorySigner{priv}, unsigned, p.chain)
	keys.ZeroKey(priv)
	if err != nil {
		return nil, err
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		return nil, err
	}
	hash := signed.Hash().Hex()
	if err := rec.Rotated(plan.ChainID, hash, raw, n, now); err != nil {
		return nil, err
	}
	signedEv := &signerv1.SignedTransaction{Meta: s.meta(eventid.New(kindSigned, p.req.RequestID, hash)),
		RequestId: p.req.RequestID, KeyId: rec.KeyID, ChainId: plan.ChainID, From: rec.Address.Hex(), Nonce: n,
		TransactionHash: hash, RawTransaction: raw}
	return []record{reqEv, {topic: TopicSigned, key: rec.KeyID, ev: signedEv},
		s.audit(c, "sign", rec.KeyID, policyResource(d), p.req.RequestID, auditAllowed, "")}, nil
}

// memorySigner signs with a key in memory (the recovered key, for its rotation only).
type memorySigner struct{ k *ecdsa.PrivateKey }

func (m memorySigner) Sign(_ context.Context, digest [32]byte) ([]byte, error) {
	return crypto.Sign(digest[:], m.k)
}
func (m memorySigner) Address() common.Address { return crypto.PubkeyToAddress(m.k.PublicKey) }

func (s *Server) freezeVote(action recovery.Action) handler {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		ctx, keyID := r.Context(), r.PathValue("id")
		audit := "key." + string(action)
		var req GuardianApproval
		if err := decode(r, &req); err != nil {
			s.recoveryFail(ctx, w, c, audit, keyID, "", bad("bad_request", "%v", err))
			return
		}
		res := "guardian:" + req.GuardianID
		a, err := req.approval(action, keyID, recovery.EpochTarget(req.Epoch), nil)
		if err != nil {
			s.recoveryFail(ctx, w, c, audit, keyID, res, err)
			return
		}
		if _, err := s.o.Recovery.Split(keyID); errors.Is(err, recovery.ErrNoSplit) {
			if _, _, ferr := s.findKey(ctx, keyID); ferr != nil {
				err = ferr
			}
			s.recoveryFail(ctx, w, c, audit, keyID, res, err)
			return
		}
		var flipped bool
		ok := s.recTransition(ctx, w, c, audit, keyID, res, func(tx *recovery.Tx) ([]record, error) {
			sp, err := tx.Split(keyID)
			if err != nil {
				return nil, err
			}
			ks, err := tx.KeyStatus(keyID)
			if err != nil {
				return nil, err
			}
			if flipped, err = ks.Vote(sp, a, s.o.Now().UTC(), tx.Seen); err != nil {
				return nil, err
			}
			tx.UseNonce(a.KeyID, a.GuardianID, a.Nonce, a.Expires)
			recs := []record{s.freezeStep(&ks, sp, signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_FREEZE_APPROVED, a.GuardianID, string(action))}
			if flipped {
				kind := signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_FROZEN
				if !ks.Frozen {
					kind = signerv1.RecoveryStepKind_RECOVERY_STEP_KIND_UNFROZEN
				}
				recs = append(recs, s.freezeStep(&ks, sp, kind, a.GuardianID, "guardian quorum"))
			}
			tx.PutKeyStatus(ks)
			return append(recs, s.audit(c, audit, keyID, res, "", auditAllowed, "")), nil
		})
		if !ok {
			return
		}
		if flipped {
			s.log.Warn("key freeze status changed by guardian quorum", "key_id", keyID, "action", action)
		}
		v, err := s.keyView(keyID)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", err.Error(), nil)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}
