package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Store errors; test with errors.Is.
var (
	// ErrNotFound: no such policy or version.
	ErrNotFound = errors.New("policy: not found")
	// ErrImmutable: the version is published or archived; edit by drafting a new
	// version.
	ErrImmutable = errors.New("policy: published versions are immutable")
	// ErrNoActive: the policy has no published version.
	ErrNoActive = errors.New("policy: no published version")
	// ErrStale: publishing a version older than the active one.
	ErrStale = errors.New("policy: version older than the active one")
	// ErrHashMismatch: a restored policy's hash is not the hash of its content.
	ErrHashMismatch = errors.New("policy: hash does not match content")
)

// PolicyLog persists the versions of a Store (PebbleState is one).
type PolicyLog interface {
	// SavePolicies durably writes the given versions in one atomic write, replacing
	// earlier copies of the same id and version.
	SavePolicies(ps ...Policy) error
	// LoadPolicies returns every saved version.
	LoadPolicies() ([]Policy, error)
}

// Store holds the versions of policies. Each policy id has versions 1, 2, ...; at most
// one is published (the active one), older published ones are archived, and drafts can
// be edited until published. Returned policies are copies. A Store from NewStore lives
// in memory; one from OpenStore also writes every change to its PolicyLog before
// applying it, so what a Draft or Publish returned survives a restart. Safe for
// concurrent use; Draft and Publish block on the log, if any.
type Store struct {
	now func() time.Time
	log PolicyLog

	mu       sync.RWMutex
	policies map[string][]*Policy // by id; index version-1
	active   map[string]*Compiled
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithClock sets the clock stamping CreatedAt and PublishedAt. Default time.Now.
func WithClock(now func() time.Time) StoreOption { return func(s *Store) { s.now = now } }

// NewStore returns an empty Store.
func NewStore(opts ...StoreOption) *Store {
	s := &Store{now: time.Now, policies: map[string][]*Policy{}, active: map[string]*Compiled{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// OpenStore returns a Store holding the versions saved in log (checked as Restore does)
// that saves every later change to it.
func OpenStore(log PolicyLog, opts ...StoreOption) (*Store, error) {
	ps, err := log.LoadPolicies()
	if err != nil {
		return nil, fmt.Errorf("policy: load policies: %w", err)
	}
	s := NewStore(opts...)
	if err := s.Restore(ps); err != nil {
		return nil, err
	}
	s.log = log
	return s, nil
}

func (s *Store) save(ps ...*Policy) error {
	if s.log == nil {
		return nil
	}
	vals := make([]Policy, len(ps))
	for i, p := range ps {
		vals[i] = *p
	}
	if err := s.log.SavePolicies(vals...); err != nil {
		return fmt.Errorf("policy: save: %w", err)
	}
	return nil
}

// Draft validates p and stores it as a draft. With p.Version 0 (or the next version
// number) it creates the next version of p.ID; with the version of an existing draft it
// replaces that draft's rules, allow-lists and CreatedBy. Drafting over a published or
// archived version returns ErrImmutable. Status, Hash, CreatedAt and PublishedAt of p
// are ignored. It returns the stored draft, with its version and hash.
func (s *Store) Draft(p Policy) (Policy, error) {
	c := p.Clone()
	c.Status, c.PublishedAt = StatusDraft, time.Time{}
	if err := c.normalize(); err != nil {
		return Policy{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.policies[c.ID]
	switch {
	case c.Version == 0 || c.Version == uint64(len(vs))+1:
		c.Version = uint64(len(vs)) + 1
		c.CreatedAt = s.now().UTC()
		if err := s.save(c); err != nil {
			return Policy{}, err
		}
		s.policies[c.ID] = append(vs, c)
	case c.Version <= uint64(len(vs)):
		old := vs[c.Version-1]
		if old.Status != StatusDraft {
			return Policy{}, fmt.Errorf("%w: %s version %d is %s", ErrImmutable, c.ID, c.Version, old.Status)
		}
		c.CreatedAt = old.CreatedAt
		if err := s.save(c); err != nil {
			return Policy{}, err
		}
		vs[c.Version-1] = c
	default:
		return Policy{}, fmt.Errorf("%w: %s version %d (next is %d)", ErrNotFound, c.ID, c.Version, len(vs)+1)
	}
	return *c.Clone(), nil
}

// Publish freezes draft version of id and makes it the active policy: its hash is
// fixed, PublishedAt set, and the previously active version archived. Publishing a
// version older than the active one returns ErrStale; a non-draft, ErrImmutable.
func (s *Store) Publish(id string, version uint64) (Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get(id, version)
	if err != nil {
		return Policy{}, err
	}
	if p.Status != StatusDraft {
		return Policy{}, fmt.Errorf("%w: %s version %d is %s", ErrImmutable, id, version, p.Status)
	}
	if a := s.active[id]; a != nil && a.p.Version > version {
		return Policy{}, fmt.Errorf("%w: %s version %d, active is %d", ErrStale, id, version, a.p.Version)
	}
	pub := p.Clone()
	pub.Status, pub.PublishedAt = StatusPublished, s.now().UTC()
	c, err := Compile(pub)
	if err != nil {
		return Policy{}, err // cannot happen: drafts are valid
	}
	var old *Policy
	if a := s.active[id]; a != nil {
		old = s.policies[id][a.p.Version-1].Clone()
		old.Status = StatusArchived
	}
	changed := []*Policy{pub}
	if old != nil {
		changed = append(changed, old)
	}
	if err := s.save(changed...); err != nil {
		return Policy{}, err
	}
	if old != nil {
		s.policies[id][old.Version-1] = old
	}
	s.policies[id][version-1] = pub
	s.active[id] = c
	return *pub.Clone(), nil
}

// Active returns the published version of id, compiled for evaluation, or ErrNoActive.
func (s *Store) Active(id string) (*Compiled, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.active[id]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNoActive, id)
}

// Get returns one version of a policy, or ErrNotFound.
func (s *Store) Get(id string, version uint64) (Policy, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, err := s.get(id, version)
	if err != nil {
		return Policy{}, err
	}
	return *p.Clone(), nil
}

func (s *Store) get(id string, version uint64) (*Policy, error) {
	vs := s.policies[id]
	if version == 0 || version > uint64(len(vs)) {
		return nil, fmt.Errorf("%w: %s version %d", ErrNotFound, id, version)
	}
	return vs[version-1], nil
}

// History returns every version of id, oldest first; nil if there is none.
func (s *Store) History(id string) []Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Policy
	for _, p := range s.policies[id] {
		out = append(out, *p.Clone())
	}
	return out
}

// IDs returns the ids of the stored policies, sorted.
func (s *Store) IDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for id := range s.policies {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Restore loads policies saved from Draft, Publish or History into an empty Store, as
// they were (status, versions, times). Each is validated and its hash recomputed: a
// stored hash that differs from the content's is ErrHashMismatch, so a tampered or
// corrupted copy is refused. The versions of an id must be 1..n with at most one
// published. On error the Store is left empty.
func (s *Store) Restore(policies []Policy) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.policies) > 0 {
		return errors.New("policy: restore into a non-empty store")
	}
	defer func() {
		if err != nil {
			s.policies, s.active = map[string][]*Policy{}, map[string]*Compiled{}
		}
	}()
	sorted := slices.Clone(policies)
	slices.SortFunc(sorted, func(a, b Policy) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Version, b.Version))
	})
	for _, p := range sorted {
		c := p.Clone()
		if err := c.normalize(); err != nil {
			return fmt.Errorf("policy: restore %s version %d: %w", p.ID, p.Version, err)
		}
		if c.Hash != p.Hash {
			return fmt.Errorf("%w: %s version %d has %q, content is %q", ErrHashMismatch, p.ID, p.Version, p.Hash, c.Hash)
		}
		vs := s.policies[c.ID]
		if c.Version != uint64(len(vs))+1 {
			return fmt.Errorf("policy: restore %s: version %d out of sequence", c.ID, c.Version)
		}
		switch c.Status {
		case StatusDraft, StatusArchived:
		case StatusPublished:
			if s.active[c.ID] != nil {
				return fmt.Errorf("policy: restore %s: more than one published version", c.ID)
			}
			comp, err := Compile(c)
			if err != nil {
				return err
			}
			s.active[c.ID] = comp
		default:
			return fmt.Errorf("policy: restore %s version %d: no status", c.ID, c.Version)
		}
		s.policies[c.ID] = append(vs, c)
	}
	return nil
}
