package features

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// DefaultGrace is how late (behind the watermark) an event may arrive and still be
// counted, unless Config.Grace says otherwise.
const DefaultGrace = 5 * time.Minute

// Headers of FeatureVector records on risk.features.
const (
	// HeaderGeneration carries the entity's Generation (decimal) when the vector was
	// computed; the online store orders vectors by it first. Absent means 0.
	HeaderGeneration = "weir.features.generation"
	// HeaderRefresh is set, to the retraction's event id, on a vector re-published by
	// Refresh after a reorg; consumers that want one vector per subject skip these.
	HeaderRefresh = "weir.features.refresh"
)

// Source is Meta.source of the vectors an Engine builds.
const Source = "features"

// Errors of Apply. ErrLate is a bad record (the runtime dead-letters it); ErrDuplicate
// and ErrRetracted mean "nothing to do" and a caller drops the event.
var (
	ErrLate      = errors.New("features: event later than the grace period")
	ErrDuplicate = errors.New("features: event already applied")
	ErrRetracted = errors.New("features: event was retracted by a reorg")
)

// Sanctions says which entities are on a sanctions list. sanctions.List satisfies it
// through its EntityChecker method.
type Sanctions interface {
	// Sanctioned reports whether the entity ("<chain id>:<address>") is listed.
	Sanctioned(entityID string) bool
	// Version identifies the list, stamped on every vector.
	Version() string
}

// Config configures an Engine. The zero value is usable: AddressActivity, 5 minutes of
// grace, no thresholds, no sanctions list.
type Config struct {
	// Set is the feature set. Default: AddressActivity.
	Set *Set
	// Grace is how far behind the watermark an event may be and still be applied.
	// Default: DefaultGrace.
	Grace time.Duration
	// Thresholds maps an asset (Amount.asset) to its reporting threshold in base units,
	// for NearThreshold. Default: none.
	Thresholds map[string]*big.Int
	// Sanctions is the sanctions list. Default: none (nothing is sanctioned, the
	// version is empty).
	Sanctions Sanctions
}

// Engine computes feature vectors from events, keeping what it needs in a State. It
// holds no state of its own (only a pool of scratch buffers for Compute): everything is
// in the State passed to each call, so it is safe for concurrent use with distinct
// States. Do not copy an Engine; New returns a pointer.
type Engine struct {
	set        Set
	grace      time.Duration
	retention  time.Duration
	thresholds map[string]*big.Int
	nearLow    map[string]*big.Int // per asset, ceil(9/10 of its threshold): see NearThreshold
	queries    sync.Pool           // of *query: the arenas of past computations
	sanctions  Sanctions
}

// New returns an Engine, checking the configuration.
func New(cfg Config) (*Engine, error) {
	e := &Engine{set: AddressActivity, grace: DefaultGrace, thresholds: map[string]*big.Int{}, nearLow: map[string]*big.Int{}, sanctions: cfg.Sanctions}
	if cfg.Set != nil {
		e.set = *cfg.Set
	}
	if cfg.Grace != 0 {
		e.grace = cfg.Grace
	}
	if e.grace < 0 {
		return nil, fmt.Errorf("features: negative grace %v", e.grace)
	}
	seen := map[string]bool{}
	for _, d := range e.set.Features {
		if d.Name == "" || seen[d.Name] || d.Aggregate == nil || d.Window < 0 {
			return nil, fmt.Errorf("features: bad definition %q in set %s", d.Name, e.set.Name)
		}
		seen[d.Name] = true
	}
	for asset, t := range cfg.Thresholds {
		if t == nil || t.Sign() <= 0 {
			return nil, fmt.Errorf("features: threshold of %s must be positive", asset)
		}
		e.thresholds[asset] = new(big.Int).Set(t)
		// amount·10 >= threshold·9  <=>  amount >= ceil(threshold·9/10), amounts being integers.
		low := new(big.Int).Mul(t, big.NewInt(9))
		low.Add(low, big.NewInt(9))
		e.nearLow[asset] = low.Quo(low, big.NewInt(10))
	}
	e.retention = e.set.Retention() + e.grace
	return e, nil
}

// Set returns the feature set the Engine computes.
func (e *Engine) Set() Set { return e.set }

// Retention returns how long after its event time an event is kept: the longest window
// plus the grace period. Expire removes what is older.
func (e *Engine) Retention() time.Duration { return e.retention }

// SanctionsVersion returns the version of the sanctions list in use ("" without one).
func (e *Engine) SanctionsVersion() string {
	if e.sanctions == nil {
		return ""
	}
	return e.sanctions.Version()
}

// Event is one side of a transfer, as seen by the entity it is about.
type Event struct {
	// ID is the transfer's Meta.event_id (the vector's subject). Required.
	ID string
	// TraceID is carried to the vector's Meta.trace_id.
	TraceID string
	// TxHash is the transfer's transaction hash, carried to the vector's
	// transaction_hash; not kept in the state.
	TxHash string
	// Entity is the entity the features are about ("<chain id>:<address>"). Required.
	Entity string
	// Direction is Out when Entity sent the transfer, In when it received it.
	Direction Direction
	// Counterparty is the other side's entity id. Required.
	Counterparty string
	// Asset and Amount are the transfer's Amount (base units, non-negative).
	Asset  string
	Amount *big.Int
	// Time is the event time (the block timestamp).
	Time time.Time
}

func (ev *Event) validate() error {
	switch {
	case ev.ID == "" || strings.ContainsRune(ev.ID, 0):
		return errors.New("features: event without id")
	case ev.Entity == "" || len(ev.Entity) > 1024 || ev.Counterparty == "" || len(ev.Counterparty) > 1024:
		return errors.New("features: event without a valid entity or counterparty")
	case ev.Direction != Out && ev.Direction != In:
		return errors.New("features: event without direction")
	case ev.Asset == "" || ev.Amount == nil || ev.Amount.Sign() < 0:
		return errors.New("features: event without a valid amount")
	case ev.Time.IsZero():
		return errors.New("features: event without time")
	}
	return nil
}

// VectorID returns Meta.event_id of the vector computed for entity at subject event
// subjectID: eventid.New("weir.risk.v1.FeatureVector", feature set, version, subject,
// entity). The entity is part of the id because one transfer yields two vectors (its
// sender's and its recipient's).
func VectorID(set Set, subjectID, entity string) string {
	return eventid.New("weir.risk.v1.FeatureVector", set.Name, fmt.Sprint(set.Version), subjectID, entity)
}

// Apply records ev in st and returns the entity's feature vector as of ev: every
// feature over its window ending at ev.Time, counting the events already in st whose
// time is in the window (including out-of-order ones that arrived earlier) and ev.
//
// watermark is the largest event time seen so far (zero if none); an event older than
// watermark - grace returns ErrLate and changes nothing. An event already applied
// returns ErrDuplicate, one whose retraction came first ErrRetracted.
func (e *Engine) Apply(st State, ev Event, watermark time.Time) (*riskv1.FeatureVector, error) {
	if err := ev.validate(); err != nil {
		return nil, err
	}
	ev.Time = ev.Time.UTC()
	if !watermark.IsZero() && ev.Time.Before(watermark.Add(-e.grace)) {
		return nil, fmt.Errorf("%w: event time %s, watermark %s, grace %v", ErrLate,
			ev.Time.Format(time.RFC3339Nano), watermark.UTC().Format(time.RFC3339Nano), e.grace)
	}
	if _, ok, err := st.Get(retractedKey(ev.ID)); err != nil {
		return nil, err
	} else if ok {
		return nil, ErrRetracted
	}
	r := ref(ev.Direction, ev.ID)
	if _, ok, err := st.Get(indexKey(r)); err != nil {
		return nil, err
	} else if ok {
		return nil, ErrDuplicate
	}
	// Record the event: log, index, counterparty.
	if err := st.Put(eventKey(ev.Entity, ev.Time, r), encodeStored(ev.Counterparty, ev.Asset, ev.Amount)); err != nil {
		return nil, err
	}
	if err := st.Put(indexKey(r), append(appendTime(nil, ev.Time), ev.Entity...)); err != nil {
		return nil, err
	}
	pk := pairKey(ev.Entity, ev.Counterparty)
	p, ok, err := e.pair(st, pk)
	if err != nil {
		return nil, err
	}
	if !ok {
		p = pair{firstAt: ev.Time, firstRef: r}
	} else if len(p.firstRef) == 0 || before(ev.Time, r, p.firstAt, p.firstRef) {
		// An empty firstRef is an earliest event older than the log: ev is not first
		// unless it is older still.
		if len(p.firstRef) != 0 || ev.Time.Before(p.firstAt) {
			p.firstAt, p.firstRef = ev.Time, r
		}
	}
	p.count++
	if err := st.Put(pk, encodePair(p)); err != nil {
		return nil, err
	}
	return e.Compute(st, ev)
}

// Compute returns the vector of ev's entity as of ev without recording anything: the
// windows ending at ev.Time over the events in st. Apply calls it after recording ev.
func (e *Engine) Compute(st State, ev Event) (*riskv1.FeatureVector, error) {
	q := e.query(st, ev)
	defer e.release(q)
	from := ev.Time.Add(-e.set.Retention())
	prefix := entityPrefix(tagEvent, ev.Entity)
	errStop := errors.New("stop")
	err := st.Scan(prefix, func(k, v []byte) error {
		rest := k[len(prefix):]
		if len(rest) < 9 {
			return fmt.Errorf("%w: event key", errMalformed)
		}
		at := readTime(rest)
		if !at.After(from) {
			return nil
		}
		if at.After(ev.Time) { // the log is in time order: nothing further is in a window
			return errStop
		}
		return q.add(at, rest[8:], v)
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("features: scan %s: %w", ev.Entity, err)
	}
	events := q.events
	vec := &riskv1.FeatureVector{
		Meta: &commonv1.Meta{
			EventId:   VectorID(e.set, ev.ID, ev.Entity),
			EventTime: timestamppb.New(ev.Time),
			Source:    Source,
			TraceId:   ev.TraceID,
		},
		EntityType:           e.set.Entity,
		EntityId:             ev.Entity,
		SubjectEventId:       ev.ID,
		TransactionHash:      ev.TxHash,
		FeatureSet:           e.set.Name,
		FeatureSetVersion:    e.set.Version,
		SanctionsListVersion: e.SanctionsVersion(),
		Features:             make([]*riskv1.Feature, 0, len(e.set.Features)),
	}
	for _, d := range e.set.Features {
		lo := len(events)
		if d.Window > 0 {
			start := ev.Time.Add(-d.Window)
			lo = sort.Search(len(events), func(i int) bool { return events[i].at.After(start) })
		}
		f := d.Aggregate.compute(q, events[lo:])
		if q.err != nil {
			return nil, q.err
		}
		f.Name = d.Name
		vec.Features = append(vec.Features, f)
	}
	return vec, nil
}

// query returns a query for ev, reusing the arenas of an earlier computation.
func (e *Engine) query(st State, ev Event) *query {
	q, _ := e.queries.Get().(*query)
	if q == nil {
		q = &query{ids: map[string]int32{}}
	}
	q.e, q.st, q.ev, q.ref, q.thresholds, q.nearLow = e, st, ev, ref(ev.Direction, ev.ID), e.thresholds, e.nearLow
	return q
}

// release returns q's arenas to the pool. Nothing of a vector points into them: the
// features hold values computed from the events, never the events.
func (e *Engine) release(q *query) {
	q.st, q.ev, q.ref, q.err = nil, Event{}, nil, nil
	clear(q.events)
	q.events, q.buf, q.words, q.ints = q.events[:0], q.buf[:0], q.words[:0], q.ints[:0]
	clear(q.ids)
	clear(q.cps)
	clear(q.near)
	q.cps, q.assets, q.near, q.stamp = q.cps[:0], q.assets[:0], q.near[:0], 0
	e.queries.Put(q)
}

// query is one computation: the triggering event, the window's events decoded once,
// and lookups into the State cached per distinct counterparty.
type query struct {
	e          *Engine
	st         State
	ev         Event
	ref        []byte
	thresholds map[string]*big.Int
	nearLow    map[string]*big.Int
	err        error

	// The events of the longest window, in log order, decoded into the arenas below:
	// each event's ref slices buf, its amount's words slice words, its counterparty and
	// asset are interned (the id of a counterparty indexes cps and the caches, that of
	// an asset assets and near: its threshold and nearLow, nil without a threshold).
	events []stored
	buf    []byte
	words  []big.Word
	ints   []big.Int
	ids    map[string]int32
	cps    []counterparty
	assets []string
	near   [][2]*big.Int
	stamp  uint32 // DistinctCounterparties' current pass, see counterparty.seen
}

// counterparty is one distinct counterparty of a computation, with what the features
// looked up about it.
type counterparty struct {
	name       string
	b          []byte // name's bytes, for the sketch
	first      pair   // the (entity, counterparty) record, when loaded
	loaded     bool
	sanctioned int8 // 0 unknown, 1 no, 2 yes
	seen       uint32
}

// add decodes one log entry — r is its dir+id, v its value — into q.events.
func (q *query) add(at time.Time, r, v []byte) error {
	cp, v, err := readBytes(v)
	if err != nil {
		return err
	}
	asset, v, err := readBytes(v)
	if err != nil {
		return err
	}
	id, ok := q.ids[string(cp)]
	if !ok {
		id = int32(len(q.cps))
		name := string(cp)
		q.ids[name] = id
		q.cps = append(q.cps, counterparty{name: name, b: []byte(name)})
	}
	i := slices.Index(q.assets, string(asset))
	if i < 0 {
		i = len(q.assets)
		a := string(asset)
		q.assets = append(q.assets, a)
		q.near = append(q.near, [2]*big.Int{q.thresholds[a], q.nearLow[a]})
	}
	as := q.assets[i]
	start := len(q.buf)
	q.buf = append(q.buf, r...)
	if len(q.ints) == cap(q.ints) {
		q.ints = make([]big.Int, 0, max(16, 2*cap(q.ints)))
	}
	q.ints = q.ints[:len(q.ints)+1]
	amount := &q.ints[len(q.ints)-1]
	q.words = appendWords(q.words, amount, v)
	q.events = append(q.events, stored{
		at: at, ref: q.buf[start:len(q.buf):len(q.buf)], counterparty: q.cps[id].name, cp: id, asset: as, aid: int32(i), amount: amount,
	})
	return nil
}

// appendWords sets z to the big-endian unsigned integer b, its words appended to ws
// (z keeps a slice of them: neither may be modified afterwards). It equals SetBytes
// without allocating for every event.
func appendWords(ws []big.Word, z *big.Int, b []byte) []big.Word {
	const size = bits.UintSize / 8
	n := (len(b) + size - 1) / size
	if len(ws)+n > cap(ws) {
		ws = make([]big.Word, 0, max(64, 2*cap(ws), n))
	}
	start := len(ws)
	ws = ws[:start+n]
	for i := range n {
		hi := len(b) - i*size
		var w big.Word
		for _, c := range b[max(hi-size, 0):hi] {
			w = w<<8 | big.Word(c)
		}
		ws[start+i] = w
	}
	z.SetBits(ws[start : start+n : start+n])
	return ws
}

// isFirst reports whether the event (at, r) is the entity's first with counterparty.
func (q *query) isFirst(name string, at time.Time, r []byte) bool {
	id, ok := q.ids[name]
	if !ok {
		id = int32(len(q.cps))
		q.ids[name] = id
		q.cps = append(q.cps, counterparty{name: name, b: []byte(name)})
	}
	return q.isFirstID(id, at, r)
}

// isFirstID is isFirst of the counterparty with id cp.
func (q *query) isFirstID(cp int32, at time.Time, r []byte) bool {
	c := &q.cps[cp]
	if !c.loaded {
		p, _, err := q.e.pair(q.st, pairKey(q.ev.Entity, c.name))
		if err != nil {
			q.err = err
			return false
		}
		c.first, c.loaded = p, true
	}
	return at.Equal(c.first.firstAt) && bytes.Equal(r, c.first.firstRef)
}

// sanctionedID is sanctioned of the counterparty with id cp, asked once per computation.
func (q *query) sanctionedID(cp int32) bool {
	c := &q.cps[cp]
	if c.sanctioned == 0 {
		c.sanctioned = 1
		if q.sanctioned(c.name) {
			c.sanctioned = 2
		}
	}
	return c.sanctioned == 2
}

func (q *query) sanctioned(entity string) bool {
	return q.e.sanctions != nil && q.e.sanctions.Sanctioned(entity)
}

func (e *Engine) pair(st State, key []byte) (pair, bool, error) {
	v, ok, err := st.Get(key)
	if err != nil || !ok {
		return pair{}, false, err
	}
	p, err := decodePair(v)
	return p, err == nil, err
}

// Retract undoes the events with the given ids (both directions) that st holds, and
// remembers every id so that an event arriving after its retraction is dropped (Apply
// returns ErrRetracted). at is the retraction's time; ExpireRetracted forgets the ids
// later. It returns the entities whose history changed, in the order found, and moves
// each one's Generation on.
func (e *Engine) Retract(st State, ids []string, at time.Time) ([]string, error) {
	var touched []string
	seen := map[string]bool{}
	for _, id := range ids {
		if err := st.Put(retractedKey(id), appendTime(nil, at)); err != nil {
			return nil, err
		}
		for _, dir := range []Direction{Out, In} {
			entity, ok, err := e.remove(st, ref(dir, id))
			if err != nil {
				return nil, fmt.Errorf("features: retract %s: %w", id, err)
			}
			if ok && !seen[entity] {
				seen[entity] = true
				touched = append(touched, entity)
				if err := e.bumpGeneration(st, entity); err != nil {
					return nil, err
				}
			}
		}
	}
	return touched, nil
}

// Generation returns how many retractions have changed the entity's history (0 for
// none). A vector computed after a retraction supersedes every vector computed before
// it, whatever their event times: the online store orders vectors by (generation,
// event time), see online.Version.
func (e *Engine) Generation(st State, entity string) (uint64, error) {
	v, ok, err := st.Get(append([]byte{tagGeneration}, entity...))
	if err != nil || !ok {
		return 0, err
	}
	g, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, errMalformed
	}
	return g, nil
}

func (e *Engine) bumpGeneration(st State, entity string) error {
	g, err := e.Generation(st, entity)
	if err != nil {
		return err
	}
	return st.Put(append([]byte{tagGeneration}, entity...), binary.AppendUvarint(nil, g+1))
}

// Refresh returns the entity's vector recomputed as of its latest kept event (the
// vector that event would get now), for re-publishing after a retraction changed the
// entity's history; nil when no event is kept. Its subject is that event; its
// Meta.event_id is VectorID's parts plus "refresh" and cause (the retraction's id), so
// it never collides with the event's original vector.
func (e *Engine) Refresh(st State, entity, cause string) (*riskv1.FeatureVector, error) {
	prefix := entityPrefix(tagEvent, entity)
	var last *stored
	err := st.Scan(prefix, func(k, v []byte) error {
		s, err := decodeStored(len(prefix), k, v)
		if err != nil {
			return err
		}
		last = &s
		return nil
	})
	if err != nil || last == nil {
		return nil, err
	}
	ev := Event{
		ID: string(last.ref[1:]), Entity: entity, Direction: last.dir(), Counterparty: last.counterparty,
		Asset: last.asset, Amount: last.amount, Time: last.at,
	}
	v, err := e.Compute(st, ev)
	if err != nil {
		return nil, err
	}
	v.Meta.EventId = eventid.New("weir.risk.v1.FeatureVector", e.set.Name, fmt.Sprint(e.set.Version), ev.ID, entity, "refresh", cause)
	return v, nil
}

// remove deletes one event from the log, its index entry and its counterparty count.
func (e *Engine) remove(st State, r []byte) (string, bool, error) {
	iv, ok, err := st.Get(indexKey(r))
	if err != nil || !ok {
		return "", false, err
	}
	if len(iv) < 8 {
		return "", false, errMalformed
	}
	at, entity := readTime(iv), string(iv[8:])
	ek := eventKey(entity, at, r)
	v, ok, err := st.Get(ek)
	if err != nil {
		return "", false, err
	}
	if err := st.Delete(indexKey(r)); err != nil {
		return "", false, err
	}
	if !ok { // expired already
		return entity, true, nil
	}
	if err := st.Delete(ek); err != nil {
		return "", false, err
	}
	s, err := decodeStored(0, append(appendTime(nil, at), r...), v)
	if err != nil {
		return "", false, err
	}
	pk := pairKey(entity, s.counterparty)
	p, ok, err := e.pair(st, pk)
	if err != nil || !ok {
		return entity, true, err
	}
	if p.count <= 1 {
		return entity, true, st.Delete(pk)
	}
	p.count--
	if at.Equal(p.firstAt) && bytes.Equal(r, p.firstRef) {
		// The first event with this counterparty is gone: the next earliest one in the
		// log is first now; if none is kept, it is older than the log (firstRef "").
		p.firstRef = nil
		prefix := entityPrefix(tagEvent, entity)
		errFound := errors.New("found")
		err := st.Scan(prefix, func(k, v []byte) error {
			o, err := decodeStored(len(prefix), k, v)
			if err != nil {
				return err
			}
			if o.counterparty == s.counterparty {
				p.firstAt, p.firstRef = o.at, o.ref
				return errFound
			}
			return nil
		})
		if err != nil && !errors.Is(err, errFound) {
			return "", false, err
		}
	}
	return entity, true, st.Put(pk, encodePair(p))
}

// Expire deletes the events of entity that no window can include any more — those at
// or before watermark - Retention — with their index entries. It returns how many.
// Counterparty records are kept: new_counterparty means never seen, not unseen for a week.
func (e *Engine) Expire(st State, entity string, watermark time.Time) (int, error) {
	horizon := watermark.Add(-e.retention)
	prefix := entityPrefix(tagEvent, entity)
	var old [][]byte
	errStop := errors.New("stop")
	err := st.Scan(prefix, func(k, _ []byte) error {
		rest := k[len(prefix):]
		if len(rest) < 9 {
			return errMalformed
		}
		if readTime(rest).After(horizon) {
			return errStop
		}
		old = append(old, bytes.Clone(k))
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	for _, k := range old {
		if err := st.Delete(k); err != nil {
			return 0, err
		}
		if err := st.Delete(indexKey(k[len(prefix)+8:])); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// ExpireRetracted forgets a retracted id (see Retract) once no event carrying it can
// still be applied.
func (e *Engine) ExpireRetracted(st State, id string) error { return st.Delete(retractedKey(id)) }
