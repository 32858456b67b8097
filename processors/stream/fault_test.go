package stream

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSessionRecoversFromFailedCommits makes the broker refuse the first transaction
// commits (the producer is told it was fenced, as a zombie would be). Each failure ends
// the session; the runtime starts a new one, which aborts the open transaction and
// resumes from the last commit. Every key's counts must come out exactly 1..n: nothing
// lost, nothing counted twice. A handler panic meanwhile sends its record to the DLQ.
func TestSessionRecoversFromFailedCommits(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	var failed atomic.Int32
	const failures = 3
	kc.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		end := req.(*kmsg.EndTxnRequest)
		if !end.Commit || failed.Load() >= failures {
			kc.KeepControl()
			return nil, nil, false
		}
		kc.KeepControl()
		failed.Add(1)
		resp := end.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.ProducerFenced.Code
		return resp, nil, true
	})

	brokers := kc.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	c := &cluster{t: t, brokers: brokers, cl: cl, adm: kadm.NewClient(cl)}
	c.createTopic("events", 2)
	c.createTopic("counts", 2)

	const keys, perKey = 8, 60
	var recs []*kgo.Record
	for i := range keys * perKey {
		recs = append(recs, &kgo.Record{Topic: "events", Key: []byte("k" + strconv.Itoa(i%keys)), Value: []byte("x")})
	}
	recs = append(recs, &kgo.Record{Topic: "events", Key: []byte("k0"), Value: []byte("panic")})

	reg := prometheus.NewRegistry()
	topo := counterTopology()
	topo.Handler = panicky{countHandler{output: "counts"}}
	stop := start(t, topo, brokers, WithStateDir(t.TempDir()), WithRegisterer(reg),
		WithRetryBackoff(10*time.Millisecond, 50*time.Millisecond),
		// A fenced producer leaves its transaction open until the broker times it out.
		WithTransactionTimeout(time.Second))
	// Produce in several batches so that several transactions, and so several failures,
	// happen while records are still arriving.
	for start := 0; start < len(recs); start += 60 {
		c.produce(recs[start:min(start+60, len(recs))]...)
	}
	c.waitConsumed("counter", "events")
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := failed.Load(); got != failures {
		t.Fatalf("%d commits refused, want %d: the fault was not exercised", got, failures)
	}
	if n := metricSum(t, reg, "weir_stream_session_restarts_total", nil); n < failures {
		t.Errorf("session restarts = %v, want at least %d", n, failures)
	}

	counts := map[string][]int{}
	for _, r := range c.readCommitted("counts") {
		n, err := strconv.Atoi(string(r.Value))
		if err != nil {
			t.Fatalf("count %q: %v", r.Value, err)
		}
		counts[string(r.Key)] = append(counts[string(r.Key)], n)
	}
	for k := range keys {
		key := "k" + strconv.Itoa(k)
		got := counts[key]
		if len(got) != perKey {
			t.Errorf("key %s: %d counts emitted, want %d: %v", key, len(got), perKey, got)
			continue
		}
		for i, n := range got {
			if n != i+1 {
				t.Errorf("key %s: counts %v, want 1..%d", key, got, perKey)
				break
			}
		}
	}
	dlq := c.readCommitted(DLQTopic("events"))
	if len(dlq) != 1 || string(dlq[0].Value) != "panic" {
		t.Fatalf("DLQ = %d records, want the one that panicked", len(dlq))
	}
	for _, h := range dlq[0].Headers {
		if h.Key == HeaderError && string(h.Value) != "handler panicked: boom" {
			t.Errorf("DLQ error %q", h.Value)
		}
	}
}

// panicky panics on a record whose value is "panic".
type panicky struct{ countHandler }

func (p panicky) Process(c *Context, r *kgo.Record) error {
	if string(r.Value) == "panic" {
		panic(errors.New("boom"))
	}
	return p.countHandler.Process(c, r)
}
