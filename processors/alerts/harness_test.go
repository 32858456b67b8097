package alerts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

const testPartitions = 3

// scenario is one test's topics on the real Kafka, with their own prefix.
type scenario struct {
	t       *testing.T
	brokers []string
	prefix  string
	input   string
	output  string
	cl      *kgo.Client
	adm     *kadm.Client
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	brokers := testenv.Kafka(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	s := &scenario{t: t, brokers: brokers, prefix: "t" + hex.EncodeToString(suffix) + "."}
	s.input, s.output = s.prefix+DefaultInput, s.prefix+DefaultOutput
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.cl, s.adm = cl, kadm.NewClient(cl)
	createTopics(t, s.adm, testPartitions, s.input, s.output)
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
		_, _ = s.adm.DeleteGroup(ctx, s.app())
		_, _ = s.adm.DeleteGroup(ctx, s.prefix+"webhook")
		cl.Close()
	})
	return s
}

// createTopics creates topics and waits until the brokers answer for them.
func createTopics(t *testing.T, adm *kadm.Client, partitions int32, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range topics {
		resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	for {
		details, err := adm.ListTopics(ctx, topics...)
		if err == nil && details.Error() == nil && len(details) == len(topics) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not visible 30s after their creation: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling broker metadata, with a deadline
	}
}

func (s *scenario) app() string { return s.prefix + DefaultApp }

func (s *scenario) config(cfg Config) Config {
	cfg.App, cfg.Input, cfg.Output = s.app(), s.input, s.output
	return cfg
}

// start runs the processor with a new state directory until the test ends or the
// returned function is called (which waits until it stopped).
func (s *scenario) start(cfg Config) (stop func()) {
	s.t.Helper()
	p, err := New(s.config(cfg), s.brokers,
		stream.WithStateDir(s.t.TempDir()),
		stream.WithInstanceID("test"),
		stream.WithCommitInterval(50*time.Millisecond),
		stream.WithGroupTimeouts(6*time.Second, 10*time.Second),
		stream.WithTransactionTimeout(10*time.Second),
	)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := p.Run(ctx); err != nil {
			s.t.Errorf("processor: %v", err)
		}
	}()
	stop = func() { cancel(); wg.Wait() }
	s.t.Cleanup(stop)
	return stop
}

func (s *scenario) produce(scores ...*riskv1.RiskScore) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, sc := range scores {
		b, err := proto.Marshal(sc)
		if err != nil {
			s.t.Fatal(err)
		}
		r := &kgo.Record{Topic: s.input, Key: []byte(sc.GetEntityId()), Value: b,
			Timestamp: sc.GetMeta().GetEventTime().AsTime()}
		if err := s.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			s.t.Fatalf("produce: %v", err)
		}
	}
}

// alerts waits until the processor consumed every score produced, then returns the
// committed alerts, in partition and offset order.
func (s *scenario) alerts() []*riskv1.RiskAlert {
	s.t.Helper()
	kafkatest.WaitConsumed(s.t, s.brokers, s.app(), s.input, 45*time.Second)
	var out []*riskv1.RiskAlert
	for _, r := range kafkatest.ReadCommitted(s.t, s.brokers, s.output) {
		a := &riskv1.RiskAlert{}
		if err := proto.Unmarshal(r.Value, a); err != nil {
			s.t.Fatalf("output is not a RiskAlert: %v", err)
		}
		if string(r.Key) != a.GetEntityId() {
			s.t.Errorf("alert keyed %q, entity %q", r.Key, a.GetEntityId())
		}
		out = append(out, a)
	}
	return out
}

// forEntity returns the alerts of entity, in order.
func forEntity(all []*riskv1.RiskAlert, entity string) []*riskv1.RiskAlert {
	var out []*riskv1.RiskAlert
	for _, a := range all {
		if a.GetEntityId() == entity {
			out = append(out, a)
		}
	}
	return out
}

// base is the event time of the tests' first score: in the past, so that the broker
// accepts the records' timestamps, and recent, so that retention keeps them.
var base = time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Hour)

// score builds a RiskScore of entity for subject at base+offset.
func score(entity, subject string, offset time.Duration, d riskv1.Decision, reasons ...*riskv1.Reason) *riskv1.RiskScore {
	id := eventid.New("weir.risk.v1.RiskScore", "wallet_outflow_gbm", "v7", subject)
	return &riskv1.RiskScore{
		Meta: &commonv1.Meta{EventId: id, EventTime: timestamppb.New(base.Add(offset)),
			Source: "models/score", TraceId: "0af7651916cd43dd8448eb211c80319c"},
		EntityType:     riskv1.EntityType_ENTITY_TYPE_ADDRESS,
		EntityId:       entity,
		SubjectEventId: subject,
		ModelId:        "wallet_outflow_gbm",
		ModelVersion:   "v7",
		ScoreBp:        9120,
		ThresholdBp:    7000,
		Decision:       d,
		Reasons:        reasons,
		Contributions: []*riskv1.Contribution{
			{Feature: "value_out_sum_1h", WeightBp: 2100},
			{Feature: "account_age_days", WeightBp: 900},
		},
		Features: []*riskv1.Feature{
			fixed("account_age_days", 3, 0),
			fixed("transfers_out_count_1h", 14, 0),
			{Name: "value_out_sum_1h", Value: &riskv1.Feature_Units{Units: "1500000000"}, Asset: "USDC"},
			fixed("new_counterparty_ratio_24h", 875000, 6),
			fixed("sanctioned_exposure_24h", 1, 0),
			fixed("hour_of_day", 3, 0),
		},
		FeatureSet:           "wallet_outflow",
		FeatureSetVersion:    3,
		SanctionsListVersion: "ofac-sdn:2026-11-20",
		RulesVersion:         "rules:5e1f",
	}
}

func fixed(name string, v int64, scale uint32) *riskv1.Feature {
	return &riskv1.Feature{Name: name, Value: &riskv1.Feature_Fixed{Fixed: &riskv1.Fixed{Value: v, Scale: scale}}}
}

var (
	velocity = &riskv1.Reason{Code: "VELOCITY", RuleId: "rule:velocity_1h",
		Detail: "transfers_out_count_1h=14 >= 10"}
	modelReason = &riskv1.Reason{Code: ReasonModelScore, RuleId: "model:wallet_outflow_gbm",
		Detail: "score 9120 bp >= threshold 7000 bp"}
	sanctioned = &riskv1.Reason{Code: ReasonSanctioned, RuleId: "rule:sanctioned_counterparty",
		Detail: "counterparty on the sanctions list"}
)

// subject returns a deterministic transfer event id for tests.
func subject(n string) string {
	return eventid.ChainLog("weir.chain.v1.Transfer", 1, "0xb10c", "0x"+n, 0, 0)
}
