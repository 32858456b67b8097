package keys

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// ScryptParams are the scrypt cost parameters used to encrypt new key files (a file
// records its own parameters, so files of any cost decrypt).
type ScryptParams struct {
	N int // CPU/memory cost, a power of two
	P int // parallelism
}

// Scrypt costs of go-ethereum's keystore.
var (
	// ScryptStandard is geth's default: 256 MB and about a second per encryption or
	// decryption. The default, for production.
	ScryptStandard = ScryptParams{N: keystore.StandardScryptN, P: keystore.StandardScryptP}
	// ScryptLight is 4 MB and a few milliseconds: for tests only.
	ScryptLight = ScryptParams{N: keystore.LightScryptN, P: keystore.LightScryptP}
)

// DefaultUnlockDuration is how long a Keystore keeps a decrypted key in memory after its
// last use, unless WithUnlockDuration says otherwise.
const DefaultUnlockDuration = 5 * time.Minute

// PassphraseFunc returns the passphrase of a keystore. It is called each time a key file
// is encrypted or decrypted (not on every Sign of an unlocked key), possibly from several
// goroutines at once. Its result is used and dropped, never stored, logged or put in an
// error.
type PassphraseFunc func(ctx context.Context) (string, error)

// KeystoreOption configures NewKeystore.
type KeystoreOption func(*keystoreConfig)

type keystoreConfig struct {
	passphrase PassphraseFunc
	scrypt     ScryptParams
	unlockFor  time.Duration
}

// WithPassphrase sets where the passphrase comes from. Required: there is no default.
func WithPassphrase(f PassphraseFunc) KeystoreOption {
	return func(c *keystoreConfig) { c.passphrase = f }
}

// WithScrypt sets the scrypt cost of new key files. Default ScryptStandard; ScryptLight
// is for tests.
func WithScrypt(p ScryptParams) KeystoreOption {
	return func(c *keystoreConfig) { c.scrypt = p }
}

// WithUnlockDuration sets how long a decrypted key stays in memory after its last use
// (an idle timeout: a key in steady use stays unlocked, one left alone for d is zeroed
// and forgotten). Signing with an unlocked key costs one crypto.Sign; signing with a
// locked one costs a scrypt decryption first. 0 keeps nothing: every Sign decrypts and
// zeroes the key right after. Default DefaultUnlockDuration (5 minutes).
func WithUnlockDuration(d time.Duration) KeystoreOption {
	return func(c *keystoreConfig) { c.unlockFor = max(d, 0) }
}

// Keystore is a Backend over a directory of go-ethereum keystore files (Web3 Secret
// Storage v3, scrypt), one file <ID>.json per key, mode 0600 in a 0700 directory. Each
// file also carries the key's label, creation time and public key in a "weir" member,
// which geth ignores, so geth can use the files and a geth key file dropped into the
// directory is listed (its label empty, its public key known once unlocked).
//
// The directory is read once, by NewKeystore: it belongs to one Keystore at a time.
// Decrypted keys are kept in memory for the unlock duration (WithUnlockDuration) and
// zeroed when it passes and on Close. A Keystore is safe for concurrent use; Sign of an
// unlocked key does not block on other Signs.
type Keystore struct {
	dir   string
	cfg   keystoreConfig
	start time.Time // the origin of ksKey.lastUse (monotonic)

	mu     sync.RWMutex
	keys   map[string]*ksKey // by ID
	closed bool
}

type ksKey struct {
	file    string
	unlock  sync.Mutex   // one decryption at a time per key
	lastUse atomic.Int64 // nanoseconds since Keystore.start

	// Guarded by Keystore.mu.
	info  KeyInfo
	priv  *ecdsa.PrivateKey // nil while locked
	timer *time.Timer       // the idle check, while priv is set
}

// keyFile is what NewKeystore reads of a key file without decrypting it.
type keyFile struct {
	Address string   `json:"address"`
	ID      string   `json:"id"`
	Weir    *keyMeta `json:"weir"`
}

type keyMeta struct {
	Label     string    `json:"label"`
	Created   time.Time `json:"created"`
	PublicKey string    `json:"publicKey"` // hex of the 65-byte uncompressed point
}

// NewKeystore opens the keystore in dir, creating the directory (0700) if needed, and
// reads the list of its keys. It decrypts nothing: a wrong passphrase shows at the first
// Sign, Export or Unlock.
func NewKeystore(dir string, opts ...KeystoreOption) (*Keystore, error) {
	cfg := keystoreConfig{scrypt: ScryptStandard, unlockFor: DefaultUnlockDuration}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.passphrase == nil {
		return nil, errors.New("keys: keystore: no passphrase source (WithPassphrase)")
	}
	if cfg.scrypt.N < 2 || cfg.scrypt.N&(cfg.scrypt.N-1) != 0 || cfg.scrypt.P < 1 {
		return nil, fmt.Errorf("keys: keystore: scrypt N=%d P=%d: N must be a power of two > 1, P >= 1",
			cfg.scrypt.N, cfg.scrypt.P)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: keystore: %w", err)
	}
	k := &Keystore{dir: dir, cfg: cfg, start: time.Now(), keys: make(map[string]*ksKey)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("keys: keystore: %w", err)
	}
	for _, de := range entries {
		name := de.Name()
		if de.IsDir() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			continue
		}
		e, err := readKeyFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue // not a key file
		}
		if _, dup := k.keys[e.info.ID]; dup {
			return nil, fmt.Errorf("keys: keystore: two files with key id %s", e.info.ID)
		}
		k.keys[e.info.ID] = e
	}
	return k, nil
}

// readKeyFile reads the public part of a key file; nil, nil when file is not one.
func readKeyFile(file string) (*ksKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("keys: keystore: %w", err)
	}
	var kf keyFile
	if json.Unmarshal(data, &kf) != nil || kf.ID == "" || !common.IsHexAddress(kf.Address) {
		return nil, nil
	}
	info := KeyInfo{ID: kf.ID, Address: common.HexToAddress(kf.Address), Backend: BackendKeystore}
	if kf.Weir != nil {
		info.Label, info.Created = kf.Weir.Label, kf.Weir.Created
		if b, err := hex.DecodeString(kf.Weir.PublicKey); err == nil {
			if pub, err := crypto.UnmarshalPubkey(b); err == nil && crypto.PubkeyToAddress(*pub) == info.Address {
				info.PublicKey = pub
			}
		}
	}
	if info.Created.IsZero() {
		if st, err := os.Stat(file); err == nil {
			info.Created = st.ModTime().UTC()
		}
	}
	return &ksKey{file: file, info: info}, nil
}

// Create makes a new key, writes its file and returns its description. It does not keep
// the key unlocked. It blocks for one scrypt encryption.
func (k *Keystore) Create(ctx context.Context, label string) (KeyInfo, error) {
	if err := checkLabel(label); err != nil {
		return KeyInfo{}, err
	}
	priv, err := crypto.GenerateKey()
	if err != nil {
		return KeyInfo{}, fmt.Errorf("keys: generate key: %w", err)
	}
	defer ZeroKey(priv)
	return k.store(ctx, label, priv)
}

// Import stores a copy of priv in a new key file. ErrExists if a file holds the same
// address. It blocks for one scrypt encryption.
func (k *Keystore) Import(ctx context.Context, label string, priv *ecdsa.PrivateKey) (KeyInfo, error) {
	if err := checkLabel(label); err != nil {
		return KeyInfo{}, err
	}
	c, err := canonicalKey(priv)
	if err != nil {
		return KeyInfo{}, err
	}
	defer ZeroKey(c)
	return k.store(ctx, label, c)
}

func (k *Keystore) store(ctx context.Context, label string, priv *ecdsa.PrivateKey) (KeyInfo, error) {
	addr := crypto.PubkeyToAddress(priv.PublicKey)
	if err := k.checkNew(addr); err != nil {
		return KeyInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return KeyInfo{}, err
	}
	pass, err := k.cfg.passphrase(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("keys: keystore passphrase: %w", err)
	}
	key := keystore.Key{Address: addr, PrivateKey: priv}
	if _, err := rand.Read(key.Id[:]); err != nil {
		return KeyInfo{}, fmt.Errorf("keys: key id: %w", err)
	}
	key.Id[6] = key.Id[6]&0x0f | 0x40 // UUID version 4
	key.Id[8] = key.Id[8]&0x3f | 0x80 // RFC 4122 variant
	enc, err := keystore.EncryptKey(&key, pass, k.cfg.scrypt.N, k.cfg.scrypt.P)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("keys: encrypt key: %w", err)
	}
	pub := priv.PublicKey
	info := KeyInfo{
		ID:        key.Id.String(),
		Label:     label,
		Address:   addr,
		PublicKey: &pub,
		Backend:   BackendKeystore,
		Created:   time.Now().UTC(),
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(enc, &doc); err != nil {
		return KeyInfo{}, fmt.Errorf("keys: key file: %w", err)
	}
	meta, err := json.Marshal(keyMeta{
		Label:     label,
		Created:   info.Created,
		PublicKey: hex.EncodeToString(crypto.FromECDSAPub(&pub)),
	})
	if err != nil {
		return KeyInfo{}, fmt.Errorf("keys: key file: %w", err)
	}
	doc["weir"] = meta
	data, err := json.Marshal(doc)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("keys: key file: %w", err)
	}

	// The file is written outside the lock (it syncs); a concurrent Import of the same
	// key that got in first wins, and this file goes.
	file := filepath.Join(k.dir, info.ID+".json")
	if err := writeFileAtomic(file, data); err != nil {
		return KeyInfo{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err = k.checkNewLocked(addr)
	if err == nil && k.closed {
		err = ErrClosed
	}
	if err != nil {
		_ = os.Remove(file)
		return KeyInfo{}, err
	}
	k.keys[info.ID] = &ksKey{file: file, info: info}
	return info, nil
}

func (k *Keystore) checkNew(addr common.Address) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return ErrClosed
	}
	return k.checkNewLocked(addr)
}

func (k *Keystore) checkNewLocked(addr common.Address) error {
	for _, e := range k.keys {
		if e.info.Address == addr {
			return fmt.Errorf("%w: %s is key %s", ErrExists, addr.Hex(), e.info.ID)
		}
	}
	return nil
}

// writeFileAtomic writes data to a new file (0600) next to file, syncs it, renames it
// into place and syncs the directory, so a crash leaves either no key file or a whole one.
func writeFileAtomic(file string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), ".tmp-key-*")
	if err != nil {
		return fmt.Errorf("keys: write key file: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("keys: write key file: %w", err)
	}
	d, err := os.Open(filepath.Dir(file))
	if err == nil {
		err = d.Sync()
		_ = d.Close()
	}
	if err != nil {
		return fmt.Errorf("keys: sync keystore directory: %w", err)
	}
	return nil
}

// List returns the keys of the keystore, ordered by ID. It does not block on I/O.
func (k *Keystore) List(ctx context.Context) ([]KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return nil, ErrClosed
	}
	out := make([]KeyInfo, 0, len(k.keys))
	for _, e := range k.keys {
		out = append(out, e.info)
	}
	slices.SortFunc(out, func(a, b KeyInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Sign signs digest with the key keyID. An unlocked key signs at once; a locked one is
// decrypted first (one scrypt, under a per-key lock, so concurrent Signs of a locked key
// decrypt it once) and kept unlocked for the unlock duration. ErrWrongPassphrase if the
// passphrase does not decrypt the key file.
func (k *Keystore) Sign(ctx context.Context, keyID string, digest [32]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.RLock()
	if k.closed {
		k.mu.RUnlock()
		return nil, ErrClosed
	}
	e := k.keys[keyID]
	if e == nil {
		k.mu.RUnlock()
		return nil, fmt.Errorf("%w: %q", ErrNotFound, keyID)
	}
	if e.priv != nil {
		// The read lock keeps the idle timer and Close from zeroing the key meanwhile.
		e.lastUse.Store(k.now())
		sig, err := crypto.Sign(digest[:], e.priv)
		k.mu.RUnlock()
		if err != nil {
			return nil, fmt.Errorf("keys: sign: %w", err)
		}
		return sig, nil
	}
	k.mu.RUnlock()

	priv, err := k.unlock(ctx, e)
	if err != nil {
		return nil, err
	}
	defer ZeroKey(priv)
	sig, err := crypto.Sign(digest[:], priv)
	if err != nil {
		return nil, fmt.Errorf("keys: sign: %w", err)
	}
	return sig, nil
}

// Unlock decrypts the key keyID now, so that the first Sign does not pay for scrypt, and
// keeps it for the unlock duration. With an unlock duration of 0 it only checks that
// the passphrase decrypts the key. It blocks for one scrypt decryption at most.
func (k *Keystore) Unlock(ctx context.Context, keyID string) error {
	e, err := k.lookup(ctx, keyID)
	if err != nil {
		return err
	}
	priv, err := k.unlock(ctx, e)
	ZeroKey(priv)
	return err
}

// Export returns a copy of the private key keyID for the recovery ceremony; the caller
// must ZeroKey it when done. It blocks for one scrypt decryption if the key is locked.
func (k *Keystore) Export(ctx context.Context, keyID string) (*ecdsa.PrivateKey, error) {
	e, err := k.lookup(ctx, keyID)
	if err != nil {
		return nil, err
	}
	return k.unlock(ctx, e)
}

func (k *Keystore) lookup(ctx context.Context, keyID string) (*ksKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return nil, ErrClosed
	}
	e := k.keys[keyID]
	if e == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, keyID)
	}
	return e, nil
}

// unlock returns a private copy of e's key, for the caller to zero: a copy of the
// unlocked key, or the key just decrypted from its file (whose own copy it keeps
// unlocked when the unlock duration is not 0).
func (k *Keystore) unlock(ctx context.Context, e *ksKey) (*ecdsa.PrivateKey, error) {
	e.unlock.Lock()
	defer e.unlock.Unlock()
	k.mu.RLock()
	switch {
	case k.closed:
		k.mu.RUnlock()
		return nil, ErrClosed
	case e.priv != nil: // unlocked by another goroutine meanwhile
		e.lastUse.Store(k.now())
		c := copyKey(e.priv)
		k.mu.RUnlock()
		return c, nil
	}
	id, addr := e.info.ID, e.info.Address
	k.mu.RUnlock()

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pass, err := k.cfg.passphrase(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: keystore passphrase: %w", err)
	}
	data, err := os.ReadFile(e.file)
	if err != nil {
		return nil, fmt.Errorf("keys: read key %s: %w", id, err)
	}
	key, err := keystore.DecryptKey(data, pass)
	if errors.Is(err, keystore.ErrDecrypt) {
		return nil, fmt.Errorf("%w: it does not decrypt key %s", ErrWrongPassphrase, id)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: decrypt key %s: %w", id, err)
	}
	priv := key.PrivateKey
	if key.Address != addr {
		ZeroKey(priv)
		return nil, fmt.Errorf("keys: key file %s now holds %s, not %s", e.file, key.Address.Hex(), addr.Hex())
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		ZeroKey(priv)
		return nil, ErrClosed
	}
	if e.info.PublicKey == nil {
		pub := priv.PublicKey
		e.info.PublicKey = &pub
	}
	if d := k.cfg.unlockFor; d > 0 {
		e.priv = copyKey(priv)
		e.lastUse.Store(k.now())
		e.timer = time.AfterFunc(d, func() { k.expire(e) })
	}
	return priv, nil
}

// expire zeroes e's key if it has been idle for the unlock duration, or checks again
// when it would be.
func (k *Keystore) expire(e *ksKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e.priv == nil {
		return
	}
	idle := time.Duration(k.now() - e.lastUse.Load())
	if idle < k.cfg.unlockFor {
		e.timer.Reset(k.cfg.unlockFor - idle)
		return
	}
	ZeroKey(e.priv)
	e.priv, e.timer = nil, nil
}

func (k *Keystore) now() int64 { return int64(time.Since(k.start)) }

// Close zeroes every unlocked key and stops their timers; it waits for Signs in flight.
// Later calls return ErrClosed. Close itself never fails and may be called again.
func (k *Keystore) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	for _, e := range k.keys {
		if e.timer != nil {
			e.timer.Stop()
		}
		ZeroKey(e.priv)
		e.priv, e.timer = nil, nil
	}
	return nil
}

var _ Backend = (*Keystore)(nil)
