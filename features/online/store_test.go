package online

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/internal/testenv"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// counter counts the commands and pipelines a client sends.
type counter struct{ calls atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.calls.Add(1); return next(ctx, cmd) }
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.calls.Add(1); return next(ctx, cmds) }
}

func newStore(t *testing.T) (*Store, *counter) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	c := &counter{}
	rdb.AddHook(c)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return New(rdb, "address_activity", WithPrefix(prefix)), c
}

func vector(entity string, at time.Time, subject string, count int64) *riskv1.FeatureVector {
	return &riskv1.FeatureVector{
		Meta:       &commonv1.Meta{EventId: "fv-" + subject, EventTime: timestamppb.New(at), Source: "features"},
		EntityType: riskv1.EntityType_ENTITY_TYPE_ADDRESS, EntityId: entity, SubjectEventId: subject,
		FeatureSet: "address_activity", FeatureSetVersion: 1, SanctionsListVersion: "ofac-sdn:2026-11-20",
		Features: []*riskv1.Feature{
			{Name: "transfers_out_count_1h", Value: &riskv1.Feature_Fixed{Fixed: &riskv1.Fixed{Value: count}}},
			{Name: "passthrough_ratio_1h", Value: &riskv1.Feature_Fixed{Fixed: &riskv1.Fixed{Value: 123456, Scale: 6}}},
			{Name: "value_out_sum_1h", Value: &riskv1.Feature_Units{Units: "115792089237316195423570985008687907853269984665640564039457584007913129639935"}, Asset: "ETH"},
		},
	}
}

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)

// TestWriteReadOneRoundTrip: a vector read back equals the one written, field for
// field, and Read costs one command (HGETALL); the per-feature fields are readable.
func TestWriteReadOneRoundTrip(t *testing.T) {
	s, c := newStore(t)
	ctx := context.Background()
	v := vector("1:0xaa", t0, "tx1", 3)
	if ok, err := s.Write(ctx, v, 0, 7); err != nil || !ok {
		t.Fatalf("write: %v %v", ok, err)
	}
	before := c.calls.Load()
	got, err := s.Read(ctx, "1:0xaa")
	if err != nil {
		t.Fatal(err)
	}
	if n := c.calls.Load() - before; n != 1 {
		t.Errorf("Read took %d round trips, want 1", n)
	}
	if !proto.Equal(got, v) {
		t.Errorf("read %v, want %v", got, v)
	}
	fields, err := s.rdb.HGetAll(ctx, s.Key("1:0xaa")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if fields["f:transfers_out_count_1h"] != "3" || fields["f:passthrough_ratio_1h"] != "123456e-6" ||
		fields["f:value_out_sum_1h"] != "115792089237316195423570985008687907853269984665640564039457584007913129639935 ETH" ||
		fields["sanctions_list_version"] != "ofac-sdn:2026-11-20" || fields["version"] != Version(v, 0, 7) {
		t.Errorf("fields %v", fields)
	}
	if _, err := s.Read(ctx, "1:0xnone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("read of a missing entity: %v, want ErrNotFound", err)
	}
}

// TestStaleWriteRefused: an older event time, a replay of the same version and an
// older feature set version are refused; a later event time or a larger seq at the
// same time win; WriteBatch applies the same guard.
func TestStaleWriteRefused(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	e := "1:0xbb"
	newer := vector(e, t0.Add(time.Nanosecond), "tx2", 2)
	sameTimeLater := vector(e, t0.Add(time.Nanosecond), "tx3", 4)
	oldSet := vector(e, t0.Add(time.Hour), "tx4", 9)
	oldSet.FeatureSetVersion = 0
	refresh := vector(e, t0.Add(-time.Hour), "tx0", 0)
	steps := []struct {
		v        *riskv1.FeatureVector
		gen, seq uint64
		wrote    bool
		holds    *riskv1.FeatureVector
	}{
		{newer, 0, 5, true, newer},
		{vector(e, t0, "tx1", 1), 0, 9, false, newer}, // older time, larger seq
		{newer, 0, 5, false, newer},                   // replay
		{sameTimeLater, 0, 4, false, newer},           // same time, smaller seq
		{sameTimeLater, 0, 6, true, sameTimeLater},    // same time, larger seq
		{oldSet, 0, 100, false, sameTimeLater},        // older feature set version
		// A refresh after a reorg (next generation) replaces a vector of a later event
		// time; then an older-generation write is refused whatever its time.
		{refresh, 1, 200, true, refresh},
		{vector(e, t0.Add(2*time.Hour), "tx9", 9), 0, 300, false, refresh},
	}
	for i, st := range steps {
		wrote, err := s.Write(ctx, st.v, st.gen, st.seq)
		if err != nil || wrote != st.wrote {
			t.Fatalf("step %d: wrote %v, %v; want %v", i, wrote, err, st.wrote)
		}
		got, err := s.Read(ctx, e)
		if err != nil || !proto.Equal(got, st.holds) {
			t.Fatalf("step %d: store holds %v (%v), want %v", i, got, err, st.holds)
		}
	}
	// Batch: an out-of-order batch ends with the newest vector.
	f := "1:0xcc"
	a, b := vector(f, t0, "a", 1), vector(f, t0.Add(time.Second), "b", 2)
	n, err := s.WriteBatch(ctx, []Versioned{{b, 0, 2}, {a, 0, 1}, {b, 0, 2}})
	if err != nil || n != 1 {
		t.Fatalf("batch wrote %d, %v; want 1", n, err)
	}
	if got, _ := s.Read(ctx, f); !proto.Equal(got, b) {
		t.Fatalf("after batch: %v", got)
	}
}
