package embedded

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	testTopic = "payments.test"
	testGroup = "resume-test"
	nRecords  = 100
)

func start(t *testing.T, dir string) *Broker {
	t.Helper()
	b, err := Start(Options{DataDir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func closeBroker(t *testing.T, b *Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func client(t *testing.T, b *Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consume polls cl until it has n records or the deadline passes.
func consume(ctx context.Context, t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		got = append(got, fs.Records()...)
	}
	return got
}

// TestBrokerResumes is the "running it again resumes" guarantee of weir dev: topics,
// records and committed group offsets survive Close and a restart on the same data dir.
func TestBrokerResumes(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()

	b := start(t, dir)
	if b.DataDir() != dir {
		t.Errorf("DataDir = %q, want %q", b.DataDir(), dir)
	}
	adm := kadm.NewClient(client(t, b))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, testTopic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	prod := client(t, b, kgo.DefaultProduceTopic(testTopic))
	var recs []*kgo.Record
	for i := range nRecords {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "acct-%d", i%7), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	// A group consumes everything and commits.
	cons := client(t, b, kgo.ConsumerGroup(testGroup), kgo.ConsumeTopics(testTopic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	consume(ctx, t, cons, nRecords)
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed, err := adm.FetchOffsets(ctx, testGroup)
	if err != nil || committed.Error() != nil {
		t.Fatalf("fetch offsets before restart: %v %v", err, committed.Error())
	}
	cons.Close()
	closeBroker(t, b)

	// Restart on the same dir (on another port: the state does not depend on it).
	b2 := start(t, dir)
	adm2 := kadm.NewClient(client(t, b2))

	details, err := adm2.ListTopics(ctx, testTopic)
	if err != nil {
		t.Fatal(err)
	}
	if td := details[testTopic]; td.Err != nil || len(td.Partitions) != 3 {
		t.Fatalf("topic after restart: err %v, %d partitions", td.Err, len(td.Partitions))
	}

	got := consume(ctx, t, client(t, b2, kgo.ConsumeTopics(testTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), nRecords)
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	for i := range nRecords {
		if !seen[fmt.Sprintf("v%d", i)] {
			t.Errorf("record v%d missing after restart", i)
		}
	}

	after, err := adm2.FetchOffsets(ctx, testGroup)
	if err != nil || after.Error() != nil {
		t.Fatalf("fetch offsets after restart: %v %v", err, after.Error())
	}
	var total int64
	committed.Each(func(o kadm.OffsetResponse) {
		a, ok := after.Lookup(o.Topic, o.Partition)
		if !ok || a.At != o.At {
			t.Errorf("%s/%d: committed offset %d before restart, %+v after", o.Topic, o.Partition, o.At, a)
		}
		total += o.At
	})
	if total != nRecords {
		t.Errorf("committed offsets sum to %d, want %d", total, nRecords)
	}

	// The group resumes after its commits: new records are all it sees.
	prod2 := client(t, b2, kgo.DefaultProduceTopic(testTopic))
	if err := prod2.ProduceSync(ctx, &kgo.Record{Value: []byte("after-restart")}).FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	cons2 := client(t, b2, kgo.ConsumerGroup(testGroup), kgo.ConsumeTopics(testTopic), kgo.DisableAutoCommit())
	if r := consume(ctx, t, cons2, 1); len(r) != 1 || string(r[0].Value) != "after-restart" {
		t.Errorf("group resumed with %d records, first %q; want only the new one", len(r), r[0].Value)
	}
	closeBroker(t, b2)
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Options{}); err == nil {
		t.Error("Start without DataDir succeeded")
	}
	b := start(t, t.TempDir())
	_, err := Start(Options{DataDir: t.TempDir(), Addr: b.Addr()})
	if !errors.Is(err, ErrAddrInUse) {
		t.Errorf("Start on a taken address = %v, want ErrAddrInUse", err)
	}
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	b := start(t, dir)
	_, err := Start(Options{DataDir: dir, Addr: "127.0.0.1:0"})
	if !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second Start on the same dir = %v, want ErrDataDirLocked", err)
	}
	t.Log(err)
	closeBroker(t, b)
	start(t, dir) // released by Close
}

func TestCloseTwice(t *testing.T) {
	b := start(t, t.TempDir())
	closeBroker(t, b)
	closeBroker(t, b)
}
