package keys

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/miekg/pkcs11"
)

// secp256k1OID is the DER encoding of the OID 1.3.132.0.10 (secp256k1), the value of
// CKA_EC_PARAMS for its keys.
var secp256k1OID = []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}

// DefaultTokenLabel is the token an HSM uses unless WithTokenLabel says otherwise.
const DefaultTokenLabel = "weir"

// DefaultMaxSessions is the number of PKCS#11 sessions an HSM opens unless
// WithMaxSessions says otherwise: at most that many operations run on the token at once.
const DefaultMaxSessions = 4

// PINFunc returns the user PIN of the token. NewHSM calls it once, to log in; the PIN is
// never stored, logged or put in an error.
type PINFunc func(ctx context.Context) (string, error)

// HSMOption configures NewHSM.
type HSMOption func(*hsmConfig)

type hsmConfig struct {
	token    string
	pin      PINFunc
	sessions int
}

// WithTokenLabel selects the token by its label. Default DefaultTokenLabel ("weir").
func WithTokenLabel(label string) HSMOption { return func(c *hsmConfig) { c.token = label } }

// WithPIN sets where the user PIN comes from. Required: there is no default.
func WithPIN(f PINFunc) HSMOption { return func(c *hsmConfig) { c.pin = f } }

// WithMaxSessions sets how many PKCS#11 sessions are opened, hence how many operations
// run on the token concurrently; more wait for a free session. Default
// DefaultMaxSessions (4).
func WithMaxSessions(n int) HSMOption { return func(c *hsmConfig) { c.sessions = n } }

// HSM is a Backend over a PKCS#11 token (SoftHSM2 in tests). Keys are secp256k1 EC key
// pairs made on the token (CKA_TOKEN) with a random 16-byte CKA_ID, whose hex is the
// key's ID, and the label as CKA_LABEL; private keys are CKA_SENSITIVE and not
// CKA_EXTRACTABLE, so Export returns ErrNotExportable. Signing is CKM_ECDSA on the token
// over the 32-byte digest; the result is put in Ethereum form here (low S, recovery id).
//
// An HSM is safe for concurrent use: operations share a fixed pool of sessions
// (WithMaxSessions) and block, until ctx is done, while all are busy. It loads the
// PKCS#11 module and calls C_Initialize itself; C_Finalize at Close would end other
// users of the same module in the process, so use one HSM per module per process.
type HSM struct {
	p        *pkcs11.Ctx
	slot     uint
	ownsInit bool // we called C_Initialize, so Close calls C_Finalize
	sessions chan pkcs11.SessionHandle
	nsess    int

	// mu is held shared by every operation and exclusively by Close, which thus waits
	// for operations in flight (and the sessions they hold).
	mu     sync.RWMutex
	closed bool

	importMu sync.Mutex // one Import at a time, so that two of one key make one object
	keysMu   sync.RWMutex
	keys     map[string]*hsmKey // by ID
}

type hsmKey struct {
	info KeyInfo
	priv pkcs11.ObjectHandle
	pub  []byte // 65-byte uncompressed public key, to find the recovery id
}

// NewHSM loads the PKCS#11 module (on Debian's softhsm2:
// /usr/lib/softhsm/libsofthsm2.so), finds the token, opens its sessions, logs in as the
// user and reads the list of secp256k1 key pairs on the token. It blocks on the token.
func NewHSM(ctx context.Context, module string, opts ...HSMOption) (_ *HSM, err error) {
	cfg := hsmConfig{token: DefaultTokenLabel, sessions: DefaultMaxSessions}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.pin == nil {
		return nil, errors.New("keys: hsm: no PIN source (WithPIN)")
	}
	if cfg.sessions < 1 {
		return nil, fmt.Errorf("keys: hsm: %d sessions: want at least 1", cfg.sessions)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := pkcs11.New(module)
	if p == nil {
		return nil, fmt.Errorf("keys: hsm: cannot load the PKCS#11 module %q", module)
	}
	h := &HSM{p: p, ownsInit: true, keys: make(map[string]*hsmKey)}
	if err := p.Initialize(); err != nil {
		if !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			p.Destroy()
			return nil, fmt.Errorf("keys: hsm: C_Initialize: %w", err)
		}
		h.ownsInit = false
	}
	defer func() {
		if err != nil {
			h.release()
		}
	}()
	if h.slot, err = findToken(p, cfg.token); err != nil {
		return nil, err
	}
	pin, err := cfg.pin(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: hsm: PIN: %w", err)
	}
	h.sessions = make(chan pkcs11.SessionHandle, cfg.sessions)
	for range cfg.sessions {
		s, err := p.OpenSession(h.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return nil, fmt.Errorf("keys: hsm: C_OpenSession: %w", err)
		}
		h.sessions <- s
		h.nsess++
	}
	// Login is per application and token, not per session: one is enough.
	s := <-h.sessions
	h.sessions <- s
	if err := p.Login(s, pkcs11.CKU_USER, pin); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		if isCKR(err, pkcs11.CKR_PIN_INCORRECT) {
			return nil, fmt.Errorf("keys: hsm: C_Login on token %q: wrong PIN: %w", cfg.token, err)
		}
		return nil, fmt.Errorf("keys: hsm: C_Login on token %q: %w", cfg.token, err)
	}
	if err := h.loadKeys(s); err != nil {
		return nil, err
	}
	return h, nil
}

func findToken(p *pkcs11.Ctx, label string) (uint, error) {
	slots, err := p.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("keys: hsm: C_GetSlotList: %w", err)
	}
	var seen []string
	for _, slot := range slots {
		ti, err := p.GetTokenInfo(slot)
		if err != nil {
			continue
		}
		got := strings.TrimRight(ti.Label, " \x00")
		if got == label {
			return slot, nil
		}
		seen = append(seen, fmt.Sprintf("%q", got))
	}
	return 0, fmt.Errorf("keys: hsm: no token labelled %q (tokens: %s)", label, strings.Join(seen, ", "))
}

// loadKeys lists the secp256k1 private keys with a CKA_ID and a public key object of
// the same CKA_ID; others (other curves, other applications' objects) are ignored.
func (h *HSM) loadKeys(s pkcs11.SessionHandle) error {
	privs, err := h.find(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, secp256k1OID),
	})
	if err != nil {
		return err
	}
	for _, o := range privs {
		attrs, err := h.p.GetAttributeValue(s, o, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		})
		if err != nil {
			return fmt.Errorf("keys: hsm: read key attributes: %w", err)
		}
		id, label := attrs[0].Value, attrs[1].Value
		if len(id) == 0 {
			continue
		}
		pubs, err := h.find(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		})
		if err != nil {
			return err
		}
		if len(pubs) == 0 {
			continue
		}
		pub, err := h.readPublicKey(s, pubs[0])
		if err != nil {
			return err
		}
		h.keys[hex.EncodeToString(id)] = newHSMKey(id, string(label), o, pub)
	}
	return nil
}

func newHSMKey(id []byte, label string, priv pkcs11.ObjectHandle, pub *ecdsa.PublicKey) *hsmKey {
	return &hsmKey{
		info: KeyInfo{
			ID:        hex.EncodeToString(id),
			Label:     label,
			Address:   crypto.PubkeyToAddress(*pub),
			PublicKey: pub,
			Backend:   BackendHSM,
		},
		priv: priv,
		pub:  crypto.FromECDSAPub(pub),
	}
}

func (h *HSM) find(s pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := h.p.FindObjectsInit(s, tmpl); err != nil {
		return nil, fmt.Errorf("keys: hsm: C_FindObjectsInit: %w", err)
	}
	var all []pkcs11.ObjectHandle
	for {
		got, _, err := h.p.FindObjects(s, 64)
		if err != nil {
			_ = h.p.FindObjectsFinal(s)
			return nil, fmt.Errorf("keys: hsm: C_FindObjects: %w", err)
		}
		if len(got) == 0 {
			break
		}
		all = append(all, got...)
	}
	if err := h.p.FindObjectsFinal(s); err != nil {
		return nil, fmt.Errorf("keys: hsm: C_FindObjectsFinal: %w", err)
	}
	return all, nil
}

// readPublicKey reads CKA_EC_POINT: a DER OCTET STRING around the uncompressed point
// (PKCS#11 2.40), or the bare point from some older tokens.
func (h *HSM) readPublicKey(s pkcs11.SessionHandle, o pkcs11.ObjectHandle) (*ecdsa.PublicKey, error) {
	attrs, err := h.p.GetAttributeValue(s, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, fmt.Errorf("keys: hsm: read CKA_EC_POINT: %w", err)
	}
	point := attrs[0].Value
	if len(point) != 65 || point[0] != 4 {
		var inner []byte
		if rest, err := asn1.Unmarshal(point, &inner); err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("keys: hsm: CKA_EC_POINT is neither a point nor an OCTET STRING")
		}
		point = inner
	}
	pub, err := crypto.UnmarshalPubkey(point)
	if err != nil {
		return nil, fmt.Errorf("keys: hsm: CKA_EC_POINT: %w", err)
	}
	return pub, nil
}

// session runs f on a session of the pool, waiting for one until ctx is done. A session
// that the token reports as gone is replaced by a new one.
func (h *HSM) session(ctx context.Context, f func(pkcs11.SessionHandle) error) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return ErrClosed
	}
	var s pkcs11.SessionHandle
	select {
	case s = <-h.sessions:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := f(s)
	if isCKR(err, pkcs11.CKR_SESSION_HANDLE_INVALID) || isCKR(err, pkcs11.CKR_SESSION_CLOSED) {
		if ns, oerr := h.p.OpenSession(h.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); oerr == nil {
			_ = h.p.CloseSession(s)
			s = ns
		}
	}
	h.sessions <- s
	return err
}

func (h *HSM) key(keyID string) (*hsmKey, error) {
	h.keysMu.RLock()
	defer h.keysMu.RUnlock()
	k := h.keys[keyID]
	if k == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, keyID)
	}
	return k, nil
}

// Create generates a secp256k1 key pair on the token (CKM_EC_KEY_PAIR_GEN), the private
// key sensitive and not extractable.
func (h *HSM) Create(ctx context.Context, label string) (KeyInfo, error) {
	if err := checkLabel(label); err != nil {
		return KeyInfo{}, err
	}
	id, err := newCKAID()
	if err != nil {
		return KeyInfo{}, err
	}
	pubT := append(commonAttrs(pkcs11.CKO_PUBLIC_KEY, id, label),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
	)
	// The private key's CKA_EC_PARAMS comes from the public template: SoftHSM2 refuses
	// it in the private one (CKR_ATTRIBUTE_READ_ONLY).
	privT := append(slices.DeleteFunc(commonAttrs(pkcs11.CKO_PRIVATE_KEY, id, label),
		func(a *pkcs11.Attribute) bool { return a.Type == pkcs11.CKA_EC_PARAMS }), privateKeyAttrs()...)
	var k *hsmKey
	err = h.session(ctx, func(s pkcs11.SessionHandle) error {
		pubH, privH, err := h.p.GenerateKeyPair(s,
			[]*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}, pubT, privT)
		if err != nil {
			return fmt.Errorf("keys: hsm: generate secp256k1 key pair: %w", err)
		}
		pub, err := h.readPublicKey(s, pubH)
		if err != nil {
			_ = h.p.DestroyObject(s, privH)
			_ = h.p.DestroyObject(s, pubH)
			return err
		}
		k = newHSMKey(id, label, privH, pub)
		return nil
	})
	if err != nil {
		return KeyInfo{}, err
	}
	h.keysMu.Lock()
	h.keys[k.info.ID] = k
	h.keysMu.Unlock()
	return k.info, nil
}

// Import creates the private key on the token from priv's scalar (sensitive, not
// extractable from then on) and its public key next to it. ErrExists if the token holds
// a key with the same address.
func (h *HSM) Import(ctx context.Context, label string, priv *ecdsa.PrivateKey) (KeyInfo, error) {
	if err := checkLabel(label); err != nil {
		return KeyInfo{}, err
	}
	c, err := canonicalKey(priv)
	if err != nil {
		return KeyInfo{}, err
	}
	defer ZeroKey(c)
	addr := crypto.PubkeyToAddress(c.PublicKey)
	h.importMu.Lock()
	defer h.importMu.Unlock()
	h.keysMu.RLock()
	for _, k := range h.keys {
		if k.info.Address == addr {
			h.keysMu.RUnlock()
			return KeyInfo{}, fmt.Errorf("%w: %s is key %s", ErrExists, addr.Hex(), k.info.ID)
		}
	}
	h.keysMu.RUnlock()
	id, err := newCKAID()
	if err != nil {
		return KeyInfo{}, err
	}
	d := make([]byte, 32)
	c.D.FillBytes(d)
	defer clear(d)
	point, err := asn1.Marshal(crypto.FromECDSAPub(&c.PublicKey))
	if err != nil {
		return KeyInfo{}, fmt.Errorf("keys: hsm: encode public key: %w", err)
	}
	privT := append(commonAttrs(pkcs11.CKO_PRIVATE_KEY, id, label), privateKeyAttrs()...)
	privT = append(privT, pkcs11.NewAttribute(pkcs11.CKA_VALUE, d))
	pubT := append(commonAttrs(pkcs11.CKO_PUBLIC_KEY, id, label),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, point),
	)
	pub := c.PublicKey
	var k *hsmKey
	err = h.session(ctx, func(s pkcs11.SessionHandle) error {
		privH, err := h.p.CreateObject(s, privT)
		if err != nil {
			return fmt.Errorf("keys: hsm: import private key: %w", err)
		}
		if _, err := h.p.CreateObject(s, pubT); err != nil {
			_ = h.p.DestroyObject(s, privH)
			return fmt.Errorf("keys: hsm: import public key: %w", err)
		}
		k = newHSMKey(id, label, privH, &pub)
		return nil
	})
	if err != nil {
		return KeyInfo{}, err
	}
	h.keysMu.Lock()
	h.keys[k.info.ID] = k
	h.keysMu.Unlock()
	return k.info, nil
}

// commonAttrs are the attributes of both halves of a key pair. No CKA_START_DATE:
// SoftHSM2 2.6.1 stores it but then fails to read it back (CKR_GENERAL_ERROR).
func commonAttrs(class uint, id []byte, label string) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, secp256k1OID),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
}

func privateKeyAttrs() []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	}
}

func newCKAID() ([]byte, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("keys: hsm: key id: %w", err)
	}
	return id, nil
}

// List returns the keys on the token (as read by NewHSM and made since), ordered by ID.
func (h *HSM) List(ctx context.Context) ([]KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return nil, ErrClosed
	}
	h.keysMu.RLock()
	defer h.keysMu.RUnlock()
	out := make([]KeyInfo, 0, len(h.keys))
	for _, k := range h.keys {
		out = append(out, k.info)
	}
	slices.SortFunc(out, func(a, b KeyInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Sign signs digest on the token with CKM_ECDSA and returns the Ethereum form of the
// signature: S moved to the lower half, V the recovery id that recovers the key's public
// key. It blocks on the token and, while all sessions are busy, for a free one.
func (h *HSM) Sign(ctx context.Context, keyID string, digest [32]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := h.key(keyID)
	if err != nil {
		return nil, err
	}
	var rs []byte
	err = h.session(ctx, func(s pkcs11.SessionHandle) error {
		if err := h.p.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, k.priv); err != nil {
			return fmt.Errorf("keys: hsm: C_SignInit: %w", err)
		}
		var err error
		if rs, err = h.p.Sign(s, digest[:]); err != nil {
			return fmt.Errorf("keys: hsm: C_Sign: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sig, err := ethSignature(digest, rs, k.pub)
	if err != nil {
		return nil, fmt.Errorf("keys: hsm: key %s: %w", keyID, err)
	}
	return sig, nil
}

// Export always fails: keys on the token are not extractable. ErrNotFound for an
// unknown key, ErrNotExportable otherwise.
func (h *HSM) Export(ctx context.Context, keyID string) (*ecdsa.PrivateKey, error) {
	h.mu.RLock()
	closed := h.closed
	h.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if _, err := h.key(keyID); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: key %s is on the HSM", ErrNotExportable, keyID)
}

// Close waits for operations in flight, logs out, closes the sessions and unloads the
// module (C_Finalize if NewHSM initialized it). Later calls return ErrClosed; Close may
// be called again.
func (h *HSM) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	return h.release()
}

// release closes what NewHSM opened; every session is in the pool.
func (h *HSM) release() error {
	var errs []error
	for i := range h.nsess {
		s := <-h.sessions
		if i == 0 {
			if err := h.p.Logout(s); err != nil && !isCKR(err, pkcs11.CKR_USER_NOT_LOGGED_IN) {
				errs = append(errs, fmt.Errorf("keys: hsm: C_Logout: %w", err))
			}
		}
		if err := h.p.CloseSession(s); err != nil {
			errs = append(errs, fmt.Errorf("keys: hsm: C_CloseSession: %w", err))
		}
	}
	h.nsess = 0
	if h.ownsInit {
		if err := h.p.Finalize(); err != nil {
			errs = append(errs, fmt.Errorf("keys: hsm: C_Finalize: %w", err))
		}
	}
	h.p.Destroy()
	return errors.Join(errs...)
}

func isCKR(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}

var _ Backend = (*HSM)(nil)
