// Package online is the online feature store: the latest FeatureVector of each entity
// in Redis, for scorers and APIs that need features outside the stream.
//
// Layout: one hash per entity and feature set, key Prefix + feature set + ":" + entity
// id, with fields
//
//	version  "<feature set version>.<generation>.<event time>.<seq>", fixed-width
//	         decimals, so that versions compare as strings (Lua numbers are doubles:
//	         nanoseconds would lose precision)
//	vector   the FeatureVector, protobuf (what Read returns, byte for byte)
//	f:<name> each feature for people and tools: "<value>e-<scale>" or "<units> <asset>"
//	event_id, subject_event_id, event_time (RFC 3339), sanctions_list_version
//
// Writes go through a Lua script that compares versions and replaces the hash only
// when the new version is greater: a stale write (an older event time, a replay, an
// older feature set version) never overwrites a newer vector, whatever the order in
// which writers arrive. The generation (features.Engine.Generation, carried in the
// record header features.HeaderGeneration) comes before the event time: after a reorg
// the processor re-publishes the entity's vector recomputed without the retracted
// transfers, and that refresh must replace the vector of a retracted transfer even when
// the retracted transfer was the entity's latest. Read is one HGETALL: one round trip.
//
// The store is written by Sink, a consumer of risk.features (read committed), after
// the processor's Kafka transaction has committed — so Redis never holds a vector that
// Kafka does not — and at least once: after a crash the sink re-writes from its last
// committed offset and the version guard makes the repeats no-ops. seq is the record's
// offset in risk.features: an entity's vectors are on one partition, so offsets order
// the vectors of equal event time in the order the processor computed them. The store
// is a cache of risk.features: losing Redis loses nothing; a sink with a new group id
// rebuilds it from the topic.
package online

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// DefaultPrefix is the default key prefix.
const DefaultPrefix = "weir:features:"

// ErrNotFound is returned by Read for an entity without a vector.
var ErrNotFound = errors.New("online: no feature vector for the entity")

// Store reads and writes vectors of one feature set. Safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	set    string
	prefix string
	ttl    time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the key prefix. Default: DefaultPrefix.
func WithPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// WithTTL expires an entity's hash this long after its last write, so that idle
// entities leave Redis. Default: 0, never.
func WithTTL(d time.Duration) Option { return func(s *Store) { s.ttl = d } }

// New returns a Store of feature set featureSet on rdb. It does no I/O.
func New(rdb redis.UniversalClient, featureSet string, opts ...Option) *Store {
	s := &Store{rdb: rdb, set: featureSet, prefix: DefaultPrefix}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Key returns the Redis key of an entity's hash.
func (s *Store) Key(entityID string) string { return s.prefix + s.set + ":" + entityID }

// writeScript: KEYS[1] the hash, ARGV[1] the version, ARGV[2] the TTL in ms ("0":
// none), ARGV[3..] field, value pairs. Returns 1 when written, 0 when refused.
var writeScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'version')
if cur and cur >= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', ARGV[1], unpack(ARGV, 3))
if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)

// Version returns the version string a vector is written under (see the package doc).
func Version(v *riskv1.FeatureVector, generation, seq uint64) string {
	t := uint64(v.GetMeta().GetEventTime().AsTime().UnixNano()) ^ (1 << 63)
	return fmt.Sprintf("%010d.%020d.%020d.%020d", v.GetFeatureSetVersion(), generation, t, seq)
}

func (s *Store) args(v *riskv1.FeatureVector, generation, seq uint64) ([]string, []any, error) {
	if v.GetFeatureSet() != s.set {
		return nil, nil, fmt.Errorf("online: vector of feature set %q in a store of %q", v.GetFeatureSet(), s.set)
	}
	if v.GetEntityId() == "" {
		return nil, nil, errors.New("online: vector without entity id")
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("online: encode vector: %w", err)
	}
	args := []any{Version(v, generation, seq), strconv.FormatInt(s.ttl.Milliseconds(), 10),
		"vector", b,
		"event_id", v.GetMeta().GetEventId(),
		"subject_event_id", v.GetSubjectEventId(),
		"event_time", v.GetMeta().GetEventTime().AsTime().Format(time.RFC3339Nano),
		"sanctions_list_version", v.GetSanctionsListVersion(),
	}
	for _, f := range v.GetFeatures() {
		args = append(args, "f:"+f.GetName(), featureString(f))
	}
	return []string{s.Key(v.GetEntityId())}, args, nil
}

func featureString(f *riskv1.Feature) string {
	switch x := f.GetValue().(type) {
	case *riskv1.Feature_Fixed:
		if x.Fixed.GetScale() == 0 {
			return strconv.FormatInt(x.Fixed.GetValue(), 10)
		}
		return strconv.FormatInt(x.Fixed.GetValue(), 10) + "e-" + strconv.FormatUint(uint64(x.Fixed.GetScale()), 10)
	case *riskv1.Feature_Units:
		return x.Units + " " + f.GetAsset()
	}
	return ""
}

// Write stores v as its entity's vector unless the stored one has an equal or greater
// version (feature set version, generation, event time, seq). It reports whether it
// wrote. One round trip (EVALSHA, or EVAL the first time on a server without the
// script).
func (s *Store) Write(ctx context.Context, v *riskv1.FeatureVector, generation, seq uint64) (bool, error) {
	keys, args, err := s.args(v, generation, seq)
	if err != nil {
		return false, err
	}
	n, err := writeScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return false, fmt.Errorf("online: write %s: %w", keys[0], err)
	}
	return n == 1, nil
}

// Versioned is a vector with its seq, for WriteBatch.
type Versioned struct {
	Vector     *riskv1.FeatureVector
	Generation uint64
	Seq        uint64
}

// WriteBatch writes vectors in one pipelined round trip (two when the script must be
// loaded first), with Write's version guard on each, and returns how many it wrote.
func (s *Store) WriteBatch(ctx context.Context, vs []Versioned) (int, error) {
	if len(vs) == 0 {
		return 0, nil
	}
	run := func() ([]*redis.Cmd, error) {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, 0, len(vs))
		for _, x := range vs {
			keys, args, err := s.args(x.Vector, x.Generation, x.Seq)
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, writeScript.EvalSha(ctx, pipe, keys, args...))
		}
		_, err := pipe.Exec(ctx)
		return cmds, err
	}
	cmds, err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := writeScript.Load(ctx, s.rdb).Err(); err != nil {
			return 0, fmt.Errorf("online: load script: %w", err)
		}
		cmds, err = run()
	}
	if err != nil {
		return 0, fmt.Errorf("online: write batch: %w", err)
	}
	n := 0
	for _, c := range cmds {
		if v, _ := c.Int(); v == 1 {
			n++
		}
	}
	return n, nil
}

// Read returns the entity's latest vector, or ErrNotFound. One round trip (HGETALL).
func (s *Store) Read(ctx context.Context, entityID string) (*riskv1.FeatureVector, error) {
	m, err := s.rdb.HGetAll(ctx, s.Key(entityID)).Result()
	if err != nil {
		return nil, fmt.Errorf("online: read %s: %w", entityID, err)
	}
	b, ok := m["vector"]
	if !ok {
		return nil, ErrNotFound
	}
	var v riskv1.FeatureVector
	if err := proto.Unmarshal([]byte(b), &v); err != nil {
		return nil, fmt.Errorf("online: decode vector of %s: %w", entityID, err)
	}
	return &v, nil
}
