package recon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/proctest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	reconv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
	settlementv1 "github.com/weirhq/weir/schemas/gen/weir/settlement/v1"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
)

// testPartitions is the partition count of the keyed test topics (the catalogue's is
// 12; fewer keeps each test's startup short).
const testPartitions = 2

// base is the event time the scenarios start at: well in the past, so that an expiry
// that followed the wall clock would fire at once.
var base = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// scenario is one test's topics, on the real Kafka, and its running processor.
type scenario struct {
	t       *testing.T
	brokers []string
	prefix  string
	cfg     Config
	cl      *kgo.Client
	adm     *kadm.Client

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// testConfig is the processor's configuration on the topics of prefix.
func testConfig(prefix, stateDir string) Config {
	return Config{
		App:          prefix + "recon",
		Transfers:    prefix + DefaultTransfers,
		Transactions: prefix + DefaultTransactions,
		Retractions:  prefix + DefaultRetractions,
		Finality:     prefix + DefaultFinality,
		Blocks:       prefix + DefaultBlocks,
		Intents:      prefix + DefaultIntents,
		Payouts:      prefix + DefaultPayouts,
		Signed:       prefix + DefaultSigned,
		Results:      prefix + DefaultResults,
		DefaultDepth: 1000, // finality comes from FINALIZED unless a test says otherwise
		StateDir:     stateDir,
	}
}

// runtimeOptions are the stage options of the tests: short commits and timeouts.
func runtimeOptions() []stream.Option {
	return []stream.Option{
		stream.WithInstanceID("test"),
		stream.WithCommitInterval(50 * time.Millisecond),
		stream.WithGroupTimeouts(6*time.Second, 10*time.Second),
		stream.WithTransactionTimeout(10 * time.Second),
		// The tests' topics are all new: let clients refresh metadata sooner than the
		// default 5s when a produce meets a topic they do not know yet.
		stream.WithKafkaOpts(kgo.MetadataMinAge(200 * time.Millisecond)),
		stream.WithLogger(testLogger()),
	}
}

// testLogger logs the stages to stderr when RECON_TEST_LOG is set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("RECON_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// childEnv, when set, makes the test binary run the processor (see TestMain) on the
// topics of CHILD_PREFIX with state in CHILD_STATE, until SIGTERM.
const childEnv = "WEIR_RECON_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	p, err := New(testConfig(os.Getenv("CHILD_PREFIX"), os.Getenv("CHILD_STATE")),
		strings.Split(os.Getenv("CHILD_BROKERS"), ","), runtimeOptions()...)
	if err == nil {
		err = p.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func newScenario(t *testing.T, tweak func(*Config)) *scenario {
	return newScenarioWith(t, tweak, true)
}

// newScenarioWith creates the scenario's topics and, if start, starts the processor in
// this process.
func newScenarioWith(t *testing.T, tweak func(*Config), start bool) *scenario {
	t.Helper()
	t.Parallel()
	brokers := testenv.Kafka(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	prefix := "t" + hex.EncodeToString(suffix) + "."
	cfg := testConfig(prefix, filepath.Join(t.TempDir(), "state"))
	if tweak != nil {
		tweak(&cfg)
	}
	// Metadata is cached for MetadataMinAge (5s by default), which would hide the
	// topics a test just created from the checks below.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, brokers: brokers, prefix: prefix, cfg: cfg, cl: cl, adm: kadm.NewClient(cl)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := map[string]int32{
		cfg.Transfers: testPartitions, cfg.Transactions: testPartitions, cfg.Intents: testPartitions,
		cfg.Payouts: testPartitions, cfg.Results: testPartitions, cfg.Signed: 1,
		cfg.Retractions: 1, cfg.Finality: 1, cfg.Blocks: 1,
	}
	for name, n := range topics {
		resp, err := s.adm.CreateTopic(ctx, n, -1, nil, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	// A broker may answer metadata requests before it learns of a topic the controller
	// just created, and the processor checks its topics when it starts: wait for them.
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	for {
		details, err := s.adm.ListTopics(ctx, names...)
		if err == nil && details.Error() == nil && len(details) == len(names) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not visible 30s after their creation: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling broker metadata, with a deadline
	}
	t.Cleanup(func() {
		s.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		all, _ := s.adm.ListTopics(ctx)
		var mine []string
		for name := range all {
			if strings.HasPrefix(name, prefix) {
				mine = append(mine, name)
			}
		}
		_, _ = s.adm.DeleteTopics(ctx, mine...)
		_, _ = s.adm.DeleteGroup(ctx, cfg.App)
		for _, app := range []string{cfg.rekeyApp(), cfg.signedApp(), cfg.broadcastApp(), cfg.pairApp()} {
			_, _ = s.adm.DeleteGroup(ctx, app)
		}
		cl.Close()
	})
	if start {
		s.start()
	}
	return s
}

// startChild runs the processor as a separate process, to be killed with SIGKILL.
func (s *scenario) startChild() *proctest.Child {
	s.t.Helper()
	return proctest.Start(s.t, childEnv+"=1", "CHILD_BROKERS="+strings.Join(s.brokers, ","),
		"CHILD_PREFIX="+s.prefix, "CHILD_STATE="+s.cfg.StateDir)
}

// start runs the processor in the background until stop.
func (s *scenario) start() {
	s.t.Helper()
	p, err := New(s.cfg, s.brokers, runtimeOptions()...)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	s.mu.Lock()
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
}

// stop stops the processor (a clean shutdown: the open transaction commits) and waits.
func (s *scenario) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("processor: %v", err)
		}
	case <-time.After(45 * time.Second):
		s.t.Errorf("processor did not stop within 45s")
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

// settle waits until every stage has processed everything produced so far, stage by
// stage in the order data flows.
func (s *scenario) settle() {
	s.t.Helper()
	c := s.cfg
	s.waitConsumed(c.rekeyApp(), false, c.Intents, c.Payouts, c.Transactions)
	s.waitConsumed(c.signedApp(), false, c.Signed)
	s.waitConsumed(c.broadcastApp(), false, c.Retractions, c.Finality, c.Blocks)
	s.waitConsumed(c.pairApp(), true, c.signingTopic())
	s.waitConsumed(c.App, true, c.keyedTopic(), c.controlTopic())
	s.waitConsumed(c.App, false, c.Transfers)
}

// waitConsumed waits until group has committed the end of every non-empty partition of
// topics. On a transactionally written topic the group's committed offset stops after
// the last data record, before commit markers (several, when several producers
// interleave): there it waits until only markers follow the committed offset.
func (s *scenario) waitConsumed(group string, transactional bool, topics ...string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ends, err := s.adm.ListEndOffsets(ctx, topics...)
		var committed kadm.OffsetResponses
		if err == nil {
			committed, err = s.adm.FetchOffsets(ctx, group)
		}
		done := err == nil
		if done {
			ends.Each(func(o kadm.ListedOffset) {
				if !done || o.Offset == 0 {
					return
				}
				c, ok := committed.Lookup(o.Topic, o.Partition)
				switch {
				case !ok:
					done = false
				case c.At >= o.Offset:
				case !transactional:
					done = false
				default:
					done = s.onlyMarkers(ctx, o.Topic, o.Partition, c.At, o.Offset)
				}
			})
		}
		cancel()
		if done {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("group %s did not consume %v within 60s (err %v)", group, topics, err)
		}
		time.Sleep(50 * time.Millisecond) // polling broker state, with a deadline
	}
}

// onlyMarkers reports whether the records of topic/partition from offset from to end
// are all transaction markers (or aborted).
func (s *scenario) onlyMarkers(ctx context.Context, topic string, partition int32, from, end int64) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return false
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			return false // an open transaction, or a slow broker: look again later
		}
		data, last := false, int64(-1)
		fs.EachRecord(func(r *kgo.Record) {
			data = data || !r.Attrs.IsControl()
			last = max(last, r.Offset)
		})
		if data {
			return false
		}
		if last+1 >= end {
			return true
		}
	}
}

// results reads every committed result, checks what holds for all of them (key, event
// id, consecutive versions per subject) and returns them by subject in version order.
func (s *scenario) results() map[string][]*reconv1.ReconciliationResult {
	s.t.Helper()
	out := map[string][]*reconv1.ReconciliationResult{}
	for _, rec := range kafkatest.ReadCommitted(s.t, s.brokers, s.cfg.Results) {
		r := new(reconv1.ReconciliationResult)
		if err := codec.Unmarshal(rec.Value, r); err != nil {
			s.t.Fatalf("result does not decode: %v", err)
		}
		if string(rec.Key) != r.GetMerchantId() {
			s.t.Errorf("result key %q, merchant %q", rec.Key, r.GetMerchantId())
		}
		subj := subjectOf(r)
		if want := eventid.New(resultKind, subj, fmt.Sprint(r.GetVersion())); r.GetMeta().GetEventId() != want {
			s.t.Errorf("result %s v%d: event id %s, want %s", subj, r.GetVersion(), r.GetMeta().GetEventId(), want)
		}
		out[subj] = append(out[subj], r)
	}
	for subj, rs := range out {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].GetVersion() < rs[j].GetVersion() })
		for i, r := range rs {
			if r.GetVersion() != uint64(i+1) {
				s.t.Errorf("subject %s: versions %v, want 1, 2, 3…", subj, versions(rs))
				break
			}
		}
	}
	return out
}

func versions(rs []*reconv1.ReconciliationResult) []uint64 {
	var v []uint64
	for _, r := range rs {
		v = append(v, r.GetVersion())
	}
	return v
}

func subjectOf(r *reconv1.ReconciliationResult) string {
	switch {
	case r.GetPayoutId() != "":
		return r.GetPayoutId()
	case r.GetIntentId() != "":
		return r.GetIntentId()
	default:
		return r.GetTransferEventIds()[0]
	}
}

// summary is a result in one line, for exact comparison.
func summary(r *reconv1.ReconciliationResult) string {
	return fmt.Sprintf("v%d %s %s recv=%s diff=%s final=%t transfers=%d",
		r.GetVersion(), strings.TrimPrefix(r.GetStatus().String(), "RECON_STATUS_"), r.GetRule(),
		r.GetReceived().GetValue(), r.GetDifference().GetValue(), r.GetFinal(), len(r.GetTransferEventIds()))
}

// expect waits for the pipeline to settle and checks the results of each subject, and
// that no other subject has any.
func (s *scenario) expect(want map[string][]string) map[string][]*reconv1.ReconciliationResult {
	s.t.Helper()
	s.settle()
	got := s.results()
	for subj, lines := range want {
		var have []string
		for _, r := range got[subj] {
			have = append(have, summary(r))
		}
		if strings.Join(have, "\n") != strings.Join(lines, "\n") {
			s.t.Errorf("subject %s:\n got:\n  %s\n want:\n  %s", subj, strings.Join(have, "\n  "), strings.Join(lines, "\n  "))
		}
	}
	for subj, rs := range got {
		if _, ok := want[subj]; !ok {
			var have []string
			for _, r := range rs {
				have = append(have, summary(r))
			}
			s.t.Errorf("unexpected results for %s:\n  %s", subj, strings.Join(have, "\n  "))
		}
	}
	return got
}

// --- event builders ---

func hexOf(name string, n int) string {
	sum := sha256.Sum256([]byte(name))
	return "0x" + hex.EncodeToString(sum[:])[:n]
}

func addr(name string) string   { return hexOf("addr/"+name, 40) }
func txHash(name string) string { return hexOf("tx/"+name, 64) }
func blockHash(n uint64, fork string) string {
	return hexOf(fmt.Sprintf("block/%d/%s", n, fork), 64)
}

func meta(id string, at time.Time) *commonv1.Meta {
	return &commonv1.Meta{EventId: id, EventTime: timestamppb.New(at), Source: "test"}
}

func eth(v string) *commonv1.Amount { return &commonv1.Amount{Value: v, Asset: "ETH", Decimals: 18} }

const usdc = "erc20:1:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"

func (s *scenario) record(topic, key string, m proto.Message, at time.Time) *kgo.Record {
	s.t.Helper()
	b, err := codec.Marshal(m.(codec.Event))
	if err != nil {
		s.t.Fatalf("encode %T: %v", m, err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b, Timestamp: at}
}

type intentOpt func(*paymentsv1.IntentTransition)

func expires(at time.Time) intentOpt {
	return func(it *paymentsv1.IntentTransition) { it.ExpiresTime = timestamppb.New(at) }
}

func onChain(id uint64) intentOpt {
	return func(it *paymentsv1.IntentTransition) { it.ChainId = id }
}

func (s *scenario) intent(id, merchant, deposit, value string, version uint64, state paymentsv1.IntentState, at time.Time, opts ...intentOpt) *kgo.Record {
	it := &paymentsv1.IntentTransition{
		Meta:     meta(eventid.New("weir.payments.v1.IntentTransition", id, fmt.Sprint(version)), at),
		IntentId: id, MerchantId: merchant, Version: version, State: state, Amount: eth(value),
		Method: paymentsv1.PaymentMethod_PAYMENT_METHOD_ONCHAIN, ChainId: 1, DepositAddress: deposit,
		CreatedTime: timestamppb.New(base),
	}
	for _, o := range opts {
		o(it)
	}
	return s.record(s.cfg.Intents, merchant, it, at)
}

// transfer is a transfer of value (asset) to `to` in transaction tx of block n on chain.
type transferSpec struct {
	name, to, tx, value, asset string
	chain, block               uint64
	fork                       string
	at                         time.Time
	conf                       chainv1.ConfirmationStatus
}

func (s *scenario) transfer(sp transferSpec) (*kgo.Record, string) {
	if sp.chain == 0 {
		sp.chain = 1
	}
	if sp.asset == "" {
		sp.asset = "ETH"
	}
	if sp.conf == 0 {
		sp.conf = chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST
	}
	if sp.tx == "" {
		sp.tx = txHash(sp.name)
	}
	bh := blockHash(sp.block, sp.fork)
	id := eventid.ChainTrace("weir.chain.v1.Transfer", sp.chain, bh, sp.tx, "")
	decimals := uint32(18)
	if sp.asset == usdc {
		decimals = 6
	}
	tr := &chainv1.Transfer{
		Meta: meta(id, sp.at), ChainId: sp.chain, Block: &chainv1.BlockRef{Number: sp.block, Hash: bh},
		TransactionHash: sp.tx, Kind: chainv1.TransferKind_TRANSFER_KIND_NATIVE, From: addr("payer"), To: sp.to,
		Amount: &commonv1.Amount{Value: sp.value, Asset: sp.asset, Decimals: decimals}, Confirmation: sp.conf,
	}
	return s.record(s.cfg.Transfers, sp.to, tr, sp.at), id
}

func (s *scenario) block(chain, n uint64, at time.Time) *kgo.Record {
	bh := blockHash(n, "")
	b := &chainv1.Block{Meta: meta(eventid.ChainBlock("weir.chain.v1.Block", chain, bh), at), ChainId: chain,
		Number: n, Hash: bh, ParentHash: blockHash(n-1, ""), Timestamp: timestamppb.New(at),
		Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST}
	return s.record(s.cfg.Blocks, fmt.Sprint(chain), b, at)
}

func (s *scenario) finalized(chain, n uint64, at time.Time) *kgo.Record {
	bh := blockHash(n, "")
	m := &chainv1.FinalityMarker{Meta: meta(eventid.New("weir.chain.v1.FinalityMarker", fmt.Sprint(chain), "FINALIZED", bh), at),
		ChainId: chain, Block: &chainv1.BlockRef{Number: n, Hash: bh},
		Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED}
	return s.record(s.cfg.Finality, fmt.Sprint(chain), m, at)
}

func (s *scenario) retraction(chain, n uint64, at time.Time, ids ...string) *kgo.Record {
	bh := blockHash(n, "")
	r := &chainv1.Retraction{Meta: meta(eventid.New("weir.chain.v1.Retraction", fmt.Sprint(chain), bh, "1"), at),
		ChainId: chain, OrphanedBlock: &chainv1.BlockRef{Number: n, Hash: bh}, Depth: 1,
		RetractedEventIds: ids, Part: 1, Parts: 1}
	return s.record(s.cfg.Retractions, fmt.Sprint(chain), r, at)
}

func (s *scenario) payout(id, merchant, dest, value, request string, version uint64, at time.Time) *kgo.Record {
	p := &settlementv1.Payout{Meta: meta(eventid.New("weir.settlement.v1.Payout", id, fmt.Sprint(version)), at),
		PayoutId: id, BatchId: "b-" + id, MerchantId: merchant, Version: version,
		Status: settlementv1.PayoutStatus_PAYOUT_STATUS_INITIATED, Amount: eth(value),
		Rail: settlementv1.PayoutRail_PAYOUT_RAIL_ONCHAIN, Destination: dest, ChainId: 1, SigningRequestId: request}
	return s.record(s.cfg.Payouts, merchant, p, at)
}

func (s *scenario) signed(request, hash string, at time.Time) *kgo.Record {
	st := &signerv1.SignedTransaction{Meta: meta(eventid.New("weir.signer.v1.SignedTransaction", request), at),
		RequestId: request, KeyId: "hot-1", ChainId: 1, From: addr("hot-wallet"), Nonce: 7,
		TransactionHash: hash, RawTransaction: []byte{0x02, 0x01}}
	return s.record(s.cfg.Signed, "hot-1", st, at)
}

func (s *scenario) transaction(hash string, block uint64, status chainv1.TransactionStatus, at time.Time) *kgo.Record {
	bh := blockHash(block, "")
	tx := &chainv1.Transaction{Meta: meta(eventid.ChainTx("weir.chain.v1.Transaction", 1, bh, hash), at),
		ChainId: 1, Hash: hash, Block: &chainv1.BlockRef{Number: block, Hash: bh}, From: addr("hot-wallet"),
		To: addr("somewhere"), Value: eth("0"), Fee: eth("21000"), EffectiveGasPrice: "1", Status: status,
		Confirmation: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST}
	return s.record(s.cfg.Transactions, addr("hot-wallet"), tx, at)
}

// waitResults waits until the results topic holds at least n records, committed or
// not: enough to know the processor is mid-stream.
func (s *scenario) waitResults(n int64) {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ends, err := s.adm.ListEndOffsets(ctx, s.cfg.Results)
		cancel()
		var total int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
			if total >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("results did not reach %d records within 90s (have %d, err %v)", n, total, err)
		}
		time.Sleep(20 * time.Millisecond) // polling broker state, with a deadline
	}
}
