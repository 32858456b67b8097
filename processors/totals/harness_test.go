package totals

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/proctest"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/processors/window"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	ledgerv1 "github.com/weirhq/weir/schemas/gen/weir/ledger/v1"
)

// The tests run the processor either in-process or as a child process (this test binary
// re-executed with childEnv set), so that it can be killed with SIGKILL.
const childEnv = "WEIR_TOTALS_CHILD"

const testPartitions = 4

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild runs the processor described by the environment until SIGTERM.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := childConfig{
		brokers: strings.Split(os.Getenv("CHILD_BROKERS"), ","),
		prefix:  os.Getenv("CHILD_PREFIX"),
		state:   os.Getenv("CHILD_STATE"),
		id:      os.Getenv("CHILD_ID"),
	}
	if err := runProcessor(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

type childConfig struct {
	brokers []string
	prefix  string
	state   string
	id      string
	reg     prometheus.Registerer // nil: no metrics
}

func testTopology(prefix string) (stream.Topology, error) {
	w := window.Tumbling(time.Minute).WithGrace(5 * time.Second)
	return Topology(Config{
		App:    prefix + "totals",
		Input:  prefix + "ledger.postings",
		Output: prefix + "ledger.account-totals.1m",
		Window: &w,
	})
}

func runProcessor(ctx context.Context, cfg childConfig) error {
	topo, err := testTopology(cfg.prefix)
	if err != nil {
		return err
	}
	rt, err := stream.New(topo, cfg.brokers,
		stream.WithStateDir(cfg.state),
		stream.WithInstanceID(cfg.id),
		stream.WithCommitInterval(100*time.Millisecond),
		stream.WithMaxPollRecords(500),
		stream.WithGroupTimeouts(6*time.Second, 10*time.Second),
		stream.WithTransactionTimeout(10*time.Second),
		stream.WithRegisterer(cfg.reg),
	)
	if err != nil {
		return err
	}
	return rt.Run(ctx)
}

// scenario is one test's topics on one broker.
type scenario struct {
	t       *testing.T
	brokers []string
	prefix  string
	input   string
	output  string
	adm     *kadm.Client
	cl      *kgo.Client
}

func newScenario(t *testing.T, brokers []string) *scenario {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	s := &scenario{t: t, brokers: brokers, prefix: "t" + hex.EncodeToString(suffix) + "."}
	s.input = s.prefix + "ledger.postings"
	s.output = s.prefix + "ledger.account-totals.1m"
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.cl = cl
	s.adm = kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range []string{s.input, s.output} {
		resp, err := s.adm.CreateTopic(ctx, testPartitions, -1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	// A broker may answer metadata requests before it learns of a topic the controller
	// just created; the child process checks its topics at start, so wait for them.
	for {
		details, err := s.adm.ListTopics(ctx, s.input, s.output)
		if err == nil && details.Error() == nil && len(details) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not visible 30s after their creation: %v %v", err, details.Error())
		}
		time.Sleep(50 * time.Millisecond)
	}
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
		_, _ = s.adm.DeleteGroup(ctx, s.prefix+"totals")
		cl.Close()
	})
	return s
}

func (s *scenario) app() string { return s.prefix + "totals" }

// windowKey identifies one expected output.
type windowKey struct {
	account, asset string
	start          int64
}

type windowTotal struct {
	debit, credit *big.Int
	postings      uint64
}

// workload is a set of postings and the totals the processor must emit for them.
type workload struct {
	records  []*kgo.Record
	expected map[windowKey]*windowTotal
}

var base = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func posting(id, account, asset string, decimals uint32, dir ledgerv1.Direction, value string, at time.Time) *ledgerv1.Posting {
	return &ledgerv1.Posting{
		Meta:      &commonv1.Meta{EventId: id, EventTime: timestamppb.New(at), Source: "test", TraceId: id},
		PostingId: id, JournalId: "j-" + id, AccountId: account, Direction: dir,
		Amount: &commonv1.Amount{Value: value, Asset: asset, Decimals: decimals},
		Status: ledgerv1.PostingStatus_POSTING_STATUS_POSTED,
	}
}

func record(topic string, p *ledgerv1.Posting) *kgo.Record {
	b, err := proto.Marshal(p)
	if err != nil {
		panic(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(p.GetAccountId()), Value: b, Timestamp: p.GetMeta().GetEventTime().AsTime()}
}

// genWorkload makes n postings over accounts and two assets, spread over minutes windows
// with per-account times jittered backwards by less than the grace period, then one
// far-future posting per partition that closes every window.
func (s *scenario) genWorkload(n, accounts, minutes int) *workload {
	w := &workload{expected: map[windowKey]*windowTotal{}}
	step := time.Duration(minutes) * time.Minute / time.Duration(n)
	spec := window.Tumbling(time.Minute)
	for i := range n {
		account := fmt.Sprintf("acct-%03d", i%accounts)
		asset, decimals := "USDC", uint32(6)
		if i%3 == 0 {
			asset, decimals = "ETH", 18
		}
		jitter := time.Duration(i%7) * 300 * time.Millisecond // < 5s grace
		at := base.Add(time.Duration(i) * step).Add(-jitter)
		if at.Before(base) {
			at = base
		}
		dir := ledgerv1.Direction_DIRECTION_CREDIT
		if i%2 == 0 {
			dir = ledgerv1.Direction_DIRECTION_DEBIT
		}
		value := strconv.Itoa(1 + i%1000)
		if i%101 == 0 {
			value = "115792089237316195423570985008687907853269984665640564039457584007913129639935" // 2^256-1
		}
		p := posting(fmt.Sprintf("p-%d", i), account, asset, decimals, dir, value, at)
		w.records = append(w.records, record(s.input, p))
		k := windowKey{account, asset, spec.Assign(at)[0].Start.UnixNano()}
		tot := w.expected[k]
		if tot == nil {
			tot = &windowTotal{debit: new(big.Int), credit: new(big.Int)}
			w.expected[k] = tot
		}
		v, _ := new(big.Int).SetString(value, 10)
		if dir == ledgerv1.Direction_DIRECTION_DEBIT {
			tot.debit.Add(tot.debit, v)
		} else {
			tot.credit.Add(tot.credit, v)
		}
		tot.postings++
	}
	return w
}

// closers returns one posting per partition, far in the future, that moves every
// partition's watermark past every window of the workload. Their own windows stay open.
func (s *scenario) closers(minutes int) []*kgo.Record {
	var recs []*kgo.Record
	part := kgo.StickyKeyPartitioner(nil).ForTopic(s.input)
	seen := map[int]bool{}
	for i := 0; len(seen) < testPartitions; i++ {
		key := fmt.Sprintf("closer-%d", i)
		p := part.Partition(&kgo.Record{Key: []byte(key)}, testPartitions)
		if seen[p] {
			continue
		}
		seen[p] = true
		at := base.Add(time.Duration(minutes+10) * time.Minute)
		recs = append(recs, record(s.input, posting(key, key, "USDC", 6, ledgerv1.Direction_DIRECTION_CREDIT, "1", at)))
	}
	return recs
}

func (s *scenario) produce(recs []*kgo.Record) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for start := 0; start < len(recs); start += 1000 {
		end := min(start+1000, len(recs))
		if err := s.cl.ProduceSync(ctx, recs[start:end]...).FirstErr(); err != nil {
			s.t.Fatalf("produce: %v", err)
		}
	}
}

// waitConsumed waits until the processor's group has committed every input offset.
func (s *scenario) waitConsumed(timeout time.Duration) {
	s.t.Helper()
	kafkatest.WaitConsumed(s.t, s.brokers, s.app(), s.input, timeout)
}

// readAll reads every committed record of topic, up to its last stable offset.
func (s *scenario) readAll(topic string) []*kgo.Record {
	s.t.Helper()
	return kafkatest.ReadCommitted(s.t, s.brokers, topic)
}

// checkTotals compares the output topic with the expected totals: every window once,
// with exact sums, and nothing else.
func (s *scenario) checkTotals(w *workload) {
	s.t.Helper()
	got := map[windowKey]int{}
	for _, r := range s.readAll(s.output) {
		var tot ledgerv1.AccountWindowTotal
		if err := proto.Unmarshal(r.Value, &tot); err != nil {
			s.t.Fatalf("output is not an AccountWindowTotal: %v", err)
		}
		if string(r.Key) != tot.GetAccountId() {
			s.t.Errorf("output key %q, account %q", r.Key, tot.GetAccountId())
		}
		k := windowKey{tot.GetAccountId(), tot.GetAsset(), tot.GetWindowStart().AsTime().UnixNano()}
		got[k]++
		if got[k] > 1 {
			s.t.Errorf("window %v emitted %d times", k, got[k])
			continue
		}
		want, ok := w.expected[k]
		if !ok {
			s.t.Errorf("unexpected window %v", k)
			continue
		}
		if tot.GetDebitTotal() != want.debit.String() || tot.GetCreditTotal() != want.credit.String() || tot.GetPostings() != want.postings {
			s.t.Errorf("window %v: got debit %s credit %s postings %d, want %s %s %d", k,
				tot.GetDebitTotal(), tot.GetCreditTotal(), tot.GetPostings(), want.debit, want.credit, want.postings)
		}
		if tot.GetMeta().GetEventId() == "" || !tot.GetWindowEnd().AsTime().Equal(tot.GetWindowStart().AsTime().Add(time.Minute)) {
			s.t.Errorf("window %v: bad meta or bounds: %v", k, &tot)
		}
	}
	missing := 0
	for k := range w.expected {
		if got[k] == 0 {
			missing++
			if missing <= 5 {
				s.t.Errorf("window %v never emitted", k)
			}
		}
	}
	if missing > 0 || s.t.Failed() {
		s.t.Fatalf("%d of %d windows missing; %d distinct emitted", missing, len(w.expected), len(got))
	}
}

// startChild runs the processor as a separate process (see proctest).
func (s *scenario) startChild(state, id string) *proctest.Child {
	s.t.Helper()
	return proctest.Start(s.t, childEnv+"=1",
		"CHILD_BROKERS="+strings.Join(s.brokers, ","), "CHILD_PREFIX="+s.prefix,
		"CHILD_STATE="+state, "CHILD_ID="+id)
}

// waitOutput waits until the output topic holds at least n records (committed or not).
func (s *scenario) waitOutput(n int64, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ends, err := s.adm.ListEndOffsets(ctx, s.output)
		cancel()
		var total int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
			if total >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("output did not reach %d records within %v (have %d, err %v)", n, timeout, total, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a broker-side condition, with a deadline
	}
}
