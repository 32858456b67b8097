package risk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	"github.com/weirhq/weir/features/processor"
	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/proctest"
	"github.com/weirhq/weir/models/score"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

const (
	childEnv       = "WEIR_RISK_CHILD"
	testPartitions = 4
	sanctionedAddr = "0x00000000000000000000000000000000000000ee"
	testListVer    = "test-list:1"
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
	s, err := LoadScorer(ScorerConfig{})
	var p *processor.Processor
	if err == nil {
		p, err = newProcessor(strings.Split(os.Getenv("CHILD_BROKERS"), ","), os.Getenv("CHILD_PREFIX"), os.Getenv("CHILD_STATE"), s)
	}
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
func (testSanctions) Version() string          { return testListVer }

func testConfig(prefix, state string, s *score.Scorer) Config {
	return Config{
		Features: processor.Config{
			App:                prefix + "features",
			Transfers:          prefix + "chain.transfers",
			Retractions:        prefix + "chain.retractions",
			Internal:           prefix + "features.activity",
			InternalPartitions: testPartitions,
			Output:             prefix + "risk.features",
			StateDir:           state,
			Engine:             features.Config{Grace: 5 * time.Minute, Sanctions: testSanctions{}},
		},
		Scores: prefix + "risk.scores",
		Scorer: s,
	}
}

func newProcessor(brokers []string, prefix, state string, s *score.Scorer) (*processor.Processor, error) {
	return New(testConfig(prefix, state, s), brokers,
		stream.WithInstanceID("i1"),
		stream.WithCommitInterval(50*time.Millisecond),
		stream.WithGroupTimeouts(6*time.Second, 10*time.Second),
		stream.WithTransactionTimeout(10*time.Second),
	)
}

// scenario is one test's topics, a producer and collectors of the committed vectors
// and scores.
type scenario struct {
	t       *testing.T
	brokers []string
	prefix  string
	cfg     Config
	cl      *kgo.Client
	adm     *kadm.Client
	want    int // vectors the transfers produced so far must give

	mu      sync.Mutex
	vectors []*kgo.Record
	scores  []*kgo.Record
}

func newScenario(t *testing.T, brokers []string) *scenario {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	s := &scenario{t: t, brokers: brokers, prefix: "t" + hex.EncodeToString(suffix) + "."}
	s.cfg = testConfig(s.prefix, "", nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.cl, s.adm = cl, kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := s.cfg.Features
	topics := map[string]int32{f.Transfers: testPartitions, f.Retractions: 1, f.Output: testPartitions, s.cfg.Scores: testPartitions}
	for topic, n := range topics {
		resp, err := s.adm.CreateTopic(ctx, n, -1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	if err := processor.EnsureInternalTopic(ctx, brokers, f); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := s.adm.ListTopics(ctx, f.Transfers, f.Retractions, f.Output, s.cfg.Scores)
		if err == nil && d.Error() == nil && len(d) == len(topics) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not visible: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling broker metadata, with a deadline
	}
	s.collect(f.Output, &s.vectors)
	s.collect(s.cfg.Scores, &s.scores)
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
		for _, g := range []string{f.App, f.App + "-rekey", f.App + "-retractions"} {
			_, _ = s.adm.DeleteGroup(ctx, g)
		}
		cl.Close()
	})
	return s
}

// collect reads topic (read committed) into *dst until the test ends.
func (s *scenario) collect(topic string, dst *[]*kgo.Record) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ConsumeTopics(topic),
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
			fs.EachRecord(func(r *kgo.Record) { *dst = append(*dst, r) })
			s.mu.Unlock()
		}
	}()
	s.t.Cleanup(func() { cancel(); <-done; cl.Close() })
}

// counts returns how many vectors (refreshes after a reorg aside) and scores the
// collectors hold.
func (s *scenario) counts() (vectors, scores int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.vectors {
		if !isRefresh(r) {
			vectors++
		}
	}
	return vectors, len(s.scores)
}

// isRefresh reports whether a risk.features record is a vector re-published after a
// reorg (features.HeaderRefresh), which has no subject event of its own.
func isRefresh(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == features.HeaderRefresh {
			return true
		}
	}
	return false
}

// wait waits until the collectors hold at least n vectors and n scores.
func (s *scenario) wait(n int, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, sc := s.counts()
		if v >= n && sc >= n {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d vectors and %d scores after %v, want %d of each", v, sc, timeout, n)
		}
		time.Sleep(20 * time.Millisecond) // polling the collectors, with a deadline
	}
}

var base = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func addr(name string) string { return fmt.Sprintf("0x%040x", []byte(name)) }

// transfer is a native ETH transfer of amount wei.
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

// tokenAsset is an ERC-20 asset as ingest names it (ingest/ethereum Converter.asset).
var tokenAsset = "erc20:1:" + addr("USDC-token")

// tokenTransfer is an ERC-20 transfer of a 6-decimals token.
func tokenTransfer(name, from, to string, amount int64, at time.Time) *chainv1.Transfer {
	tr := transfer(name, from, to, amount, at)
	tr.Kind = chainv1.TransferKind_TRANSFER_KIND_ERC20
	tr.Amount = &commonv1.Amount{Value: fmt.Sprint(amount), Asset: tokenAsset, Decimals: 6}
	return tr
}

func (s *scenario) record(tr *chainv1.Transfer) *kgo.Record {
	b, err := codec.Marshal(tr)
	if err != nil {
		s.t.Fatal(err)
	}
	return &kgo.Record{Topic: s.cfg.Features.Transfers, Key: []byte(strings.ToLower(tr.GetTo())), Value: b,
		Timestamp: tr.GetMeta().GetEventTime().AsTime()}
}

// produce produces transfers and counts the vectors they must give: one per side that
// is not the zero address. (The tests' transfers are never late nor duplicated.)
func (s *scenario) produce(trs ...*chainv1.Transfer) {
	s.t.Helper()
	recs := make([]*kgo.Record, len(trs))
	for i, tr := range trs {
		recs[i] = s.record(tr)
		for _, dir := range []features.Direction{features.Out, features.In} {
			if _, err := features.TransferEvent(tr, dir); err == nil {
				s.want++
			} else if !errors.Is(err, features.ErrNotAnEntity) {
				s.t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		s.t.Fatalf("produce: %v", err)
	}
}

// send produces one transfer and waits for all vectors and scores so far.
func (s *scenario) send(tr *chainv1.Transfer) {
	s.t.Helper()
	s.produce(tr)
	s.wait(s.want, 60*time.Second)
}

// retract produces a retraction of the named transfers (as ingest does after a reorg)
// and waits until the broadcast stage has consumed it.
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.cl.ProduceSync(ctx, &kgo.Record{Topic: s.cfg.Features.Retractions, Key: []byte("1"), Value: b, Timestamp: at}).FirstErr(); err != nil {
		s.t.Fatalf("produce: %v", err)
	}
	kafkatest.WaitConsumed(s.t, s.brokers, s.cfg.Features.App+"-retractions", s.cfg.Features.Retractions, 60*time.Second)
}

// refreshes returns how many re-published vectors the collector holds.
func (s *scenario) refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.vectors {
		if isRefresh(r) {
			n++
		}
	}
	return n
}

// pair is a committed vector and the committed scores of it.
type pair struct {
	vector *riskv1.FeatureVector
	scores []*riskv1.RiskScore
}

// check decodes everything committed and checks that every vector is there once, with
// exactly one score of it, and nothing else; it returns the pairs by vector event id.
func (s *scenario) check(scorer *score.Scorer) map[string]*pair {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	pairs := map[string]*pair{}
	refreshes := map[string]bool{}
	for _, r := range s.vectors {
		var v riskv1.FeatureVector
		if err := codec.Unmarshal(r.Value, &v); err != nil {
			s.t.Fatalf("risk.features: %v", err)
		}
		id := v.GetMeta().GetEventId()
		if isRefresh(r) {
			refreshes[id] = true
			continue
		}
		if pairs[id] != nil {
			s.t.Errorf("vector %s (%s at %s) committed twice", id, v.GetEntityId(), v.GetSubjectEventId())
			continue
		}
		pairs[id] = &pair{vector: &v}
	}
	scoreIDs := map[string]bool{}
	for _, r := range s.scores {
		var sc riskv1.RiskScore
		if err := codec.Unmarshal(r.Value, &sc); err != nil {
			s.t.Fatalf("risk.scores: %v", err)
		}
		if scoreIDs[sc.GetMeta().GetEventId()] {
			s.t.Errorf("score event id %s committed twice", sc.GetMeta().GetEventId())
		}
		scoreIDs[sc.GetMeta().GetEventId()] = true
		if string(r.Key) != sc.GetEntityId() {
			s.t.Errorf("score key %q, entity %q", r.Key, sc.GetEntityId())
		}
		p := pairs[sc.GetFeatureVectorEventId()]
		if refreshes[sc.GetFeatureVectorEventId()] {
			s.t.Errorf("score %s of a vector re-published after a reorg", sc.GetMeta().GetEventId())
			continue
		}
		if p == nil {
			s.t.Errorf("score %s of vector %q, which was not committed", sc.GetMeta().GetEventId(), sc.GetFeatureVectorEventId())
			continue
		}
		p.scores = append(p.scores, &sc)
	}
	if len(pairs) != s.want {
		s.t.Errorf("%d distinct vectors committed, want %d", len(pairs), s.want)
	}
	for id, p := range pairs {
		if len(p.scores) != 1 {
			s.t.Errorf("vector %s (%s at %s) has %d scores, want 1", id, p.vector.GetEntityId(), p.vector.GetSubjectEventId(), len(p.scores))
			continue
		}
		s.checkScore(scorer, p.vector, p.scores[0])
	}
	return pairs
}

// checkScore checks that sc is the score of v: ids, versions, the served features
// unchanged, and the model's and rules' verdict as the scorer gives it in-process.
func (s *scenario) checkScore(scorer *score.Scorer, v *riskv1.FeatureVector, sc *riskv1.RiskScore) {
	s.t.Helper()
	want, err := scorer.Score(v, score.Subject{})
	if err != nil {
		s.t.Errorf("scoring vector %s in the test: %v", v.GetMeta().GetEventId(), err)
		return
	}
	errorf := func(what string, got, want any) {
		s.t.Errorf("score of %s at %s: %s = %v, want %v", v.GetEntityId(), v.GetSubjectEventId(), what, got, want)
	}
	if got, w := sc.GetMeta().GetEventId(), ScoreID(scorer.ModelID(), scorer.ModelVersion(), v.GetSubjectEventId(), v.GetEntityId()); got != w {
		errorf("event_id", got, w)
	}
	if !proto.Equal(sc.GetMeta().GetEventTime(), v.GetMeta().GetEventTime()) {
		errorf("event_time", sc.GetMeta().GetEventTime(), v.GetMeta().GetEventTime())
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"source", sc.GetMeta().GetSource(), Source},
		{"trace_id", sc.GetMeta().GetTraceId(), v.GetMeta().GetTraceId()},
		{"entity_id", sc.GetEntityId(), v.GetEntityId()},
		{"entity_type", sc.GetEntityType(), v.GetEntityType()},
		{"subject_event_id", sc.GetSubjectEventId(), v.GetSubjectEventId()},
		{"feature_vector_event_id", sc.GetFeatureVectorEventId(), v.GetMeta().GetEventId()},
		{"model_id", sc.GetModelId(), scorer.ModelID()},
		{"model_version", sc.GetModelVersion(), scorer.ModelVersion()},
		{"rules_version", sc.GetRulesVersion(), scorer.RulesVersion()},
		{"threshold_bp", sc.GetThresholdBp(), scorer.ThresholdBP()},
		{"sanctions_list_version", sc.GetSanctionsListVersion(), testListVer},
		{"feature_set", sc.GetFeatureSet(), v.GetFeatureSet()},
		{"feature_set_version", sc.GetFeatureSetVersion(), v.GetFeatureSetVersion()},
		{"score_bp", sc.GetScoreBp(), want.GetScoreBp()},
		{"decision", sc.GetDecision(), want.GetDecision()},
	}
	for _, c := range checks {
		if c.got != c.want {
			errorf(c.what, c.got, c.want)
		}
	}
	if sc.GetModelVersion() == "" || sc.GetRulesVersion() == "" {
		errorf("model/rules version", sc.GetModelVersion()+"/"+sc.GetRulesVersion(), "both stamped")
	}
	if len(sc.GetReasons()) != len(want.GetReasons()) {
		errorf("reasons", sc.GetReasons(), want.GetReasons())
	} else {
		for i := range sc.GetReasons() {
			if !proto.Equal(sc.GetReasons()[i], want.GetReasons()[i]) {
				errorf("reasons", sc.GetReasons(), want.GetReasons())
				break
			}
		}
	}
	// Feature logging: exactly the vector's features, in its order.
	if len(sc.GetFeatures()) != len(v.GetFeatures()) || len(v.GetFeatures()) == 0 {
		errorf("features", len(sc.GetFeatures()), len(v.GetFeatures()))
		return
	}
	for i, f := range sc.GetFeatures() {
		if !proto.Equal(f, v.GetFeatures()[i]) {
			errorf(fmt.Sprintf("feature %d", i), f, v.GetFeatures()[i])
		}
	}
}

func (s *scenario) startChild(state string) *proctest.Child {
	s.t.Helper()
	return proctest.Start(s.t, childEnv+"=1", "CHILD_BROKERS="+strings.Join(s.brokers, ","),
		"CHILD_PREFIX="+s.prefix, "CHILD_STATE="+state)
}

func entityID(a string) string { return "1:" + strings.ToLower(a) }
