package processor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/proctest"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

const (
	childEnv       = "WEIR_FEATURES_CHILD"
	testPartitions = 4
	sanctionedAddr = "0x00000000000000000000000000000000000000ee"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	p, err := newProcessor(strings.Split(os.Getenv("CHILD_BROKERS"), ","), os.Getenv("CHILD_PREFIX"), os.Getenv("CHILD_STATE"))
	if err == nil {
		err = p.Run(ctx)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

type testSanctions struct{}

func (testSanctions) Sanctioned(e string) bool { return strings.HasSuffix(e, ":"+sanctionedAddr) }
func (testSanctions) Version() string          { return "test-list:1" }

func testConfig(prefix, state string) Config {
	return Config{
		App:                prefix + "features",
		Transfers:          prefix + "chain.transfers",
		Retractions:        prefix + "chain.retractions",
		Internal:           prefix + "features.activity",
		InternalPartitions: testPartitions,
		Output:             prefix + "risk.features",
		StateDir:           state,
		Engine: features.Config{
			Grace:      5 * time.Minute,
			Thresholds: map[string]*big.Int{"ETH": big.NewInt(1000)},
			Sanctions:  testSanctions{},
		},
	}
}

func newProcessor(brokers []string, prefix, state string) (*Processor, error) {
	return New(testConfig(prefix, state), brokers,
		stream.WithInstanceID("i1"),
		stream.WithCommitInterval(50*time.Millisecond),
		stream.WithGroupTimeouts(6*time.Second, 10*time.Second),
		stream.WithTransactionTimeout(10*time.Second),
	)
}

// scenario is one test's topics, a producer and a collector of the output.
type scenario struct {
	t       *testing.T
	brokers []string
	prefix  string
	cfg     Config
	cl      *kgo.Client
	adm     *kadm.Client
	model   *model

	mu  sync.Mutex
	out []*kgo.Record
}

func newScenario(t *testing.T, brokers []string) *scenario {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	s := &scenario{t: t, brokers: brokers, prefix: "t" + hex.EncodeToString(suffix) + "."}
	s.cfg = testConfig(s.prefix, "")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.cl, s.adm = cl, kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for topic, n := range map[string]int32{s.cfg.Transfers: testPartitions, s.cfg.Retractions: 1, s.cfg.Output: testPartitions} {
		forever := "-1" // records carry event times days old: keep them
		resp, err := s.adm.CreateTopic(ctx, n, -1, map[string]*string{"retention.ms": &forever}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	if err := EnsureInternalTopic(ctx, brokers, s.cfg); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := s.adm.ListTopics(ctx, s.cfg.Transfers, s.cfg.Retractions, s.cfg.Output)
		if err == nil && d.Error() == nil && len(d) == 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not visible: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling broker metadata, with a deadline
	}
	eng, err := features.New(s.cfg.Engine)
	if err != nil {
		t.Fatal(err)
	}
	s.model = &model{e: eng, st: features.NewMemState(), wm: map[int32]time.Time{},
		want: map[string]*riskv1.FeatureVector{}, latest: map[string]*riskv1.FeatureVector{}, gens: map[string]uint64{}, internal: s.cfg.Internal}
	s.collect()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		topics, _ := s.adm.ListTopics(ctx)
		var mine []string
		for name := range topics {
			if strings.HasPrefix(name, s.prefix) {
				mine = append(mine, name)
			}
		}
		_, _ = s.adm.DeleteTopics(ctx, mine...)
		_, _ = s.adm.DeleteGroup(ctx, s.cfg.App)
		_, _ = s.adm.DeleteGroup(ctx, s.cfg.App+"-rekey")
		_, _ = s.adm.DeleteGroup(ctx, s.cfg.App+"-retractions")
		cl.Close()
	})
	return s
}

// collect reads the output topic (read committed) into s.out until the test ends.
func (s *scenario) collect() {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ConsumeTopics(s.cfg.Output),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			s.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { s.out = append(s.out, r) })
			s.mu.Unlock()
		}
	}()
	s.t.Cleanup(func() { cancel(); <-done; cl.Close() })
}

func (s *scenario) outputs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.out)
}

// waitOutputs waits until the collector holds n vectors.
func (s *scenario) waitOutputs(n int, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for s.outputs() < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("%d vectors after %v, want %d", s.outputs(), timeout, n)
		}
		time.Sleep(20 * time.Millisecond) // polling the collector, with a deadline
	}
}

// check compares every committed vector with the model's: each exactly once, equal.
func (s *scenario) check() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range s.out {
		var v riskv1.FeatureVector
		if err := codec.Unmarshal(r.Value, &v); err != nil {
			s.t.Fatalf("output is not a FeatureVector: %v", err)
		}
		id := v.GetMeta().GetEventId()
		if seen[id] {
			s.t.Errorf("vector %s (%s at %s) emitted twice", id, v.GetEntityId(), v.GetSubjectEventId())
			continue
		}
		seen[id] = true
		want, ok := s.model.want[id]
		switch {
		case !ok:
			s.t.Errorf("unexpected vector %s for %s at %s", id, v.GetEntityId(), v.GetSubjectEventId())
		case string(r.Key) != v.GetEntityId():
			s.t.Errorf("vector key %q, entity %q", r.Key, v.GetEntityId())
		case !proto.Equal(&v, want):
			s.t.Errorf("vector for %s at %s:\n got %v\nwant %v", v.GetEntityId(), v.GetSubjectEventId(), &v, want)
		}
	}
	if len(seen) != len(s.model.want) {
		s.t.Errorf("%d distinct vectors, want %d", len(seen), len(s.model.want))
	}
}

// model is what the processor must compute: the same Engine on one in-memory state,
// with a watermark per internal partition as the runtime keeps per task.
type model struct {
	e        *features.Engine
	st       *features.MemState
	wm       map[int32]time.Time
	want     map[string]*riskv1.FeatureVector
	latest   map[string]*riskv1.FeatureVector // per entity: greatest (generation, event time), last computed
	gens     map[string]uint64                // generation of latest
	late     int
	internal string
}

func (m *model) apply(t *testing.T, tr *chainv1.Transfer) int {
	t.Helper()
	n := 0
	part := kgo.StickyKeyPartitioner(nil).ForTopic(m.internal)
	for _, dir := range []features.Direction{features.Out, features.In} {
		ev, err := features.TransferEvent(tr, dir)
		if errors.Is(err, features.ErrNotAnEntity) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		p := int32(part.Partition(&kgo.Record{Key: []byte(ev.Entity)}, testPartitions))
		v, err := m.e.Apply(m.st, ev, m.wm[p])
		if errors.Is(err, features.ErrLate) {
			m.late++
			continue
		}
		if errors.Is(err, features.ErrRetracted) || errors.Is(err, features.ErrDuplicate) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Time.After(m.wm[p]) {
			m.wm[p] = ev.Time
		}
		m.publish(t, v)
		n++
	}
	return n
}

// publish records a vector the processor must emit and the online store must end with
// if it is the entity's latest by (generation, event time, emission order).
func (m *model) publish(t *testing.T, v *riskv1.FeatureVector) {
	t.Helper()
	gen, err := m.e.Generation(m.st, v.GetEntityId())
	if err != nil {
		t.Fatal(err)
	}
	m.want[v.GetMeta().GetEventId()] = v
	l := m.latest[v.GetEntityId()]
	if l == nil || gen > m.gens[v.GetEntityId()] ||
		gen == m.gens[v.GetEntityId()] && !v.GetMeta().GetEventTime().AsTime().Before(l.GetMeta().GetEventTime().AsTime()) {
		m.latest[v.GetEntityId()] = v
		m.gens[v.GetEntityId()] = gen
	}
}

// base is nine days ago, so that a test can move eight days on without producing
// records from the future (brokers refuse timestamps far ahead of their clock).
var base = time.Now().UTC().Add(-9 * 24 * time.Hour).Truncate(time.Hour)

func addr(name string) string { return fmt.Sprintf("0x%040x", []byte(name)) }

func transfer(name, from, to string, amount int64, at time.Time) *chainv1.Transfer {
	return &chainv1.Transfer{
		Meta: &commonv1.Meta{EventId: eventid.New("weir.chain.v1.Transfer", name), EventTime: timestamppb.New(at),
			Source: "test", TraceId: name},
		ChainId: 1, Block: &chainv1.BlockRef{Number: 1, Hash: "0x" + strings.Repeat("ab", 32)},
		TransactionHash: "0x" + strings.Repeat("cd", 32), Kind: chainv1.TransferKind_TRANSFER_KIND_NATIVE,
		From: from, To: to, Amount: &commonv1.Amount{Value: fmt.Sprint(amount), Asset: "ETH", Decimals: 18},
		Confirmation: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST,
	}
}

func (s *scenario) produce(recs ...*kgo.Record) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		s.t.Fatalf("produce: %v", err)
	}
}

func (s *scenario) transferRecord(tr *chainv1.Transfer) *kgo.Record {
	b, err := codec.Marshal(tr)
	if err != nil {
		s.t.Fatal(err)
	}
	return &kgo.Record{Topic: s.cfg.Transfers, Key: []byte(strings.ToLower(tr.GetTo())), Value: b,
		Timestamp: tr.GetMeta().GetEventTime().AsTime()}
}

// send produces one transfer, updates the model and, when wait, waits for its vectors.
func (s *scenario) send(tr *chainv1.Transfer, wait bool) {
	s.t.Helper()
	s.produce(s.transferRecord(tr))
	s.model.apply(s.t, tr)
	if wait {
		s.waitOutputs(len(s.model.want), 60*time.Second)
	}
}

// retract produces a retraction of the named transfers and waits until the broadcast
// stage has copied it into every internal partition, so that anything produced later
// is processed after it.
func (s *scenario) retract(name string, at time.Time, transfers ...string) {
	s.t.Helper()
	ids := []string{eventid.New("weir.chain.v1.Block", name)}
	for _, n := range transfers {
		ids = append(ids, eventid.New("weir.chain.v1.Transfer", n))
	}
	r := &chainv1.Retraction{
		Meta:    &commonv1.Meta{EventId: eventid.New("weir.chain.v1.Retraction", name), EventTime: timestamppb.New(at), Source: "test"},
		ChainId: 1, OrphanedBlock: &chainv1.BlockRef{Number: 1, Hash: "0x" + strings.Repeat("ab", 32)},
		Depth: 1, RetractedEventIds: ids, Part: 1, Parts: 1,
	}
	b, err := codec.Marshal(r)
	if err != nil {
		s.t.Fatal(err)
	}
	s.produce(&kgo.Record{Topic: s.cfg.Retractions, Key: []byte("1"), Value: b, Timestamp: at})
	touched, err := s.model.e.Retract(s.model.st, ids, r.GetMeta().GetEventTime().AsTime())
	if err != nil {
		s.t.Fatal(err)
	}
	for _, entity := range touched {
		v, err := s.model.e.Refresh(s.model.st, entity, r.GetMeta().GetEventId())
		if err != nil {
			s.t.Fatal(err)
		}
		if v != nil {
			s.model.publish(s.t, v)
		}
	}
	kafkatest.WaitConsumed(s.t, s.brokers, s.cfg.App+"-retractions", s.cfg.Retractions, 60*time.Second)
}

func entityID(addr string) string { return "1:" + strings.ToLower(addr) }

// checkExpired reads the features stage's changelog and checks that, on the entity's
// partition, every event of the entity older than now - retention, its index entry and
// every retracted id ends with a tombstone, and that the entity's newest event is alive.
// It relies on the State layout documented in features/state.go.
func (s *scenario) checkExpired(entity string, now time.Time) {
	s.t.Helper()
	part := int32(kgo.StickyKeyPartitioner(nil).ForTopic(s.cfg.Internal).Partition(&kgo.Record{Key: []byte(entity)}, testPartitions))
	// The changelog is written in the transaction of the record that expired the keys:
	// wait until the features group has committed past the week-later copy.
	deadline := time.Now().Add(30 * time.Second)
	var recs []*kgo.Record
	for {
		recs = kafkatest.ReadCommitted(s.t, s.brokers, stream.ChangelogTopic(s.cfg.App, Store))
		last := map[string][]byte{}
		for _, r := range recs {
			if r.Partition == part {
				last[string(r.Key)] = r.Value
			}
		}
		prefix := append([]byte{'e', byte(len(entity) >> 8), byte(len(entity))}, entity...)
		var alive, dead, deadOther int
		for k, v := range last {
			switch {
			case strings.HasPrefix(k, string(prefix)):
				if v == nil {
					dead++
				} else {
					alive++
				}
			case (k[0] == 'i' || k[0] == 'x') && v == nil:
				deadOther++
			}
		}
		if alive == 1 && dead > 0 && deadOther > 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after expiry: %d live and %d deleted events of %s, %d deleted index/retracted keys", alive, dead, entity, deadOther)
		}
		time.Sleep(100 * time.Millisecond) // polling the committed changelog, with a deadline
	}
}

func (s *scenario) startChild(state string) *proctest.Child {
	s.t.Helper()
	return proctest.Start(s.t, childEnv+"=1", "CHILD_BROKERS="+strings.Join(s.brokers, ","),
		"CHILD_PREFIX="+s.prefix, "CHILD_STATE="+state)
}
