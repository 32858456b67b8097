package sinks_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/proctest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/codectest"
	"github.com/weirhq/weir/sinks"
	"github.com/weirhq/weir/sinks/clickhouse"
	"github.com/weirhq/weir/sinks/elasticsearch"
)

// childEnv makes the test binary run a sink instead of the tests; the CHILD_*
// variables say which and where.
const childEnv = "WEIR_SINK_CHILD"

func TestMain(m *testing.M) {
	if kind := os.Getenv(childEnv); kind != "" {
		os.Exit(runChild(kind))
	}
	os.Exit(m.Run())
}

func runChild(kind string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	w, closeW, err := openWriter(ctx, kind, os.Getenv("CHILD_STORE"), os.Getenv("CHILD_NAME"))
	if err == nil {
		defer closeW()
		err = sinks.Run(ctx, w, sinks.Options{Brokers: strings.Split(os.Getenv("CHILD_BROKERS"), ","),
			Topics: e2eTopics, MaxBatch: 300, RetryBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// e2eTopics are the topics the end-to-end tests fill: three families of three kinds of
// producer (the indexer, the gateway, the risk scorer).
var e2eTopics = []string{"chain.transfers", "payments.intents", "risk.scores"}

// openWriter opens the ClickHouse (store = address, name = database) or Elasticsearch
// (store = URL, name = index prefix) writer, with the schema in place.
func openWriter(ctx context.Context, kind, store, name string) (sinks.Writer, func(), error) {
	switch kind {
	case "clickhouse":
		o := clickhouse.Options{Addr: store, Database: name}
		if _, err := clickhouse.Migrate(ctx, o); err != nil {
			return nil, nil, err
		}
		w, err := clickhouse.Open(ctx, o)
		if err != nil {
			return nil, nil, err
		}
		return w, func() { _ = w.Close() }, nil
	case "elasticsearch":
		w, err := elasticsearch.Open(ctx, elasticsearch.Options{URL: store, IndexPrefix: name})
		if err != nil {
			return nil, nil, err
		}
		if err := w.EnsureTemplates(ctx); err != nil {
			return nil, nil, err
		}
		return w, func() { _ = w.Close(context.Background()) }, nil
	}
	return nil, nil, fmt.Errorf("no sink %q", kind)
}

// workload is what the tests produce: n events of each e2e topic.
type workload struct {
	brokers []string
	n       int
}

// newWorkload starts a kfake cluster with the e2e topics (the sinks under test are
// real; the broker is not what these tests are about) and produces the first part of
// the events.
func newWorkload(t *testing.T, n int) *workload {
	t.Helper()
	w := &workload{brokers: kafkatest.Cluster(t), n: n}
	cl := w.client(t)
	defer cl.Close()
	var topics []catalog.Topic
	for _, tp := range catalog.All() {
		for _, name := range e2eTopics {
			if tp.Name == name {
				topics = append(topics, tp)
			}
		}
	}
	if _, err := catalog.Apply(context.Background(), kadm.NewClient(cl), topics); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *workload) client(t *testing.T) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// produce writes events from..to-1 of every e2e topic.
func (w *workload) produce(t *testing.T, from, to int) {
	t.Helper()
	cl := w.client(t)
	defer cl.Close()
	types := map[string]string{}
	for _, tp := range catalog.All() {
		types[tp.Name] = tp.Value
	}
	var recs []*kgo.Record
	for _, topic := range e2eTopics {
		for i := from; i < to; i++ {
			ev, err := codec.New(types[topic])
			if err != nil {
				t.Fatal(err)
			}
			codectest.Populate(ev.ProtoReflect(), i)
			v, err := codec.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: v})
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// waitConsumed waits until the sink's group has committed every record.
func (w *workload) waitConsumed(t *testing.T, group string) {
	t.Helper()
	for _, topic := range e2eTopics {
		kafkatest.WaitConsumed(t, w.brokers, group, topic, 3*time.Minute)
	}
}

// counter counts what a store holds per e2e topic.
type counter func(t *testing.T) map[string]int

func clickHouseCounter(addr, db string) counter {
	return func(t *testing.T) map[string]int {
		t.Helper()
		conn, err := sql.Open("clickhouse", "clickhouse://"+addr+"/"+db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		out := map[string]int{}
		for _, topic := range e2eTopics {
			table := strings.NewReplacer(".", "_", "-", "_").Replace(topic)
			var n uint64
			// No FINAL: the rows themselves must not be doubled.
			if err := conn.QueryRow("SELECT count() FROM " + table).Scan(&n); err != nil {
				return map[string]int{"error": -1}
			}
			out[topic] = int(n)
		}
		return out
	}
}

func elasticCounter(url, prefix string) counter {
	return func(t *testing.T) map[string]int {
		t.Helper()
		out := map[string]int{}
		if resp, err := http.Post(url+"/"+prefix+"*/_refresh", "application/json", nil); err == nil {
			resp.Body.Close()
		}
		for _, topic := range e2eTopics {
			resp, err := http.Get(url + "/" + prefix + topic + "-*/_count")
			if err != nil {
				return map[string]int{"error": -1}
			}
			var c struct {
				Count int `json:"count"`
			}
			err = json.NewDecoder(resp.Body).Decode(&c)
			resp.Body.Close()
			if err != nil {
				return map[string]int{"error": -1}
			}
			out[topic] = c.Count
		}
		return out
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func waitCount(t *testing.T, count counter, atLeast int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for total(count(t)) < atLeast {
		if time.Now().After(deadline) {
			t.Fatalf("the store holds %v, want at least %d in all", count(t), atLeast)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkExact(t *testing.T, count counter, n int) {
	t.Helper()
	got := count(t)
	for _, topic := range e2eTopics {
		if got[topic] != n {
			t.Errorf("%s: %d rows, want exactly %d", topic, got[topic], n)
		}
	}
}

// TestKillNine runs each sink as a child process, kills it with SIGKILL twice while it
// lands records (mid-batch: batches are 300 records), restarts it, and checks that the
// store then holds every record exactly once: ClickHouse rows counted without FINAL,
// Elasticsearch documents after a refresh.
func TestKillNine(t *testing.T) {
	for _, kind := range []string{"clickhouse", "elasticsearch"} {
		t.Run(kind, func(t *testing.T) {
			var store, name string
			var count counter
			if kind == "clickhouse" {
				store, name = testenv.ClickHouse(t), fmt.Sprintf("kill%d", time.Now().UnixNano())
				count = clickHouseCounter(store, name)
				t.Cleanup(func() { dropDatabase(t, store, name) })
			} else {
				store, name = testenv.Elasticsearch(t), fmt.Sprintf("kill%d-", time.Now().UnixNano())
				count = elasticCounter(store, name)
				t.Cleanup(func() { deleteIndices(t, store, name) })
			}
			const n = 3000
			w := newWorkload(t, n)
			w.produce(t, 0, n)
			env := []string{childEnv + "=" + kind, "CHILD_BROKERS=" + strings.Join(w.brokers, ","),
				"CHILD_STORE=" + store, "CHILD_NAME=" + name}
			c := proctest.Start(t, env...)
			waitCount(t, count, n)
			c.Kill(t)
			c = proctest.Start(t, env...)
			waitCount(t, count, 2*n)
			c.Kill(t)
			c = proctest.Start(t, env...)
			w.waitConsumed(t, "weir-sink-"+kind)
			c.Stop(t)
			checkExact(t, count, n)
		})
	}
}

// TestClickHouseOutage lands records into a ClickHouse server of its own, stops the
// server mid-stream, produces more while it is down, starts it again, and checks that
// every record is there exactly once.
func TestClickHouseOutage(t *testing.T) {
	testenv.ClickHouse(t) // the stack (and so the clickhouse-server binary) is here
	srv := startPrivateClickHouse(t)
	db := "outage"
	count := clickHouseCounter(srv.addr, db)
	const n = 2000
	w := newWorkload(t, n)
	w.produce(t, 0, n/2)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer, closeW, err := openWriter(ctx, "clickhouse", srv.addr, db)
	if err != nil {
		t.Fatal(err)
	}
	defer closeW()
	done := make(chan error, 1)
	go func() {
		done <- sinks.Run(ctx, writer, sinks.Options{Brokers: w.brokers, Topics: e2eTopics, MaxBatch: 200,
			RetryBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	}()
	waitCount(t, count, n/2)
	srv.stop(t)
	w.produce(t, n/2, n)
	time.Sleep(2 * time.Second) // the sink fails, pauses and pings a server that is gone
	srv.start(t)
	w.waitConsumed(t, "weir-sink-clickhouse")
	checkExact(t, count, n)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestElasticsearchOutage lands documents into an Elasticsearch node of its own, stops
// the node mid-stream (a real server stop: SIGTERM, the process exits), produces more
// while it is down, starts it again on the same ports and data, and checks that every
// document is there exactly once.
func TestElasticsearchOutage(t *testing.T) {
	srv := startPrivateElasticsearch(t)
	prefix := "outage-"
	count := elasticCounter(srv.url, prefix)
	const n = 2000
	w := newWorkload(t, n)
	w.produce(t, 0, n/2)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer, closeW, err := openWriter(ctx, "elasticsearch", srv.url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer closeW()
	done := make(chan error, 1)
	go func() {
		done <- sinks.Run(ctx, writer, sinks.Options{Brokers: w.brokers, Topics: e2eTopics, MaxBatch: 200,
			RetryBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	}()
	waitCount(t, count, n/4)
	t.Logf("stopping Elasticsearch with %d of %d documents in", total(count(t)), 3*n)
	srv.stop(t)
	w.produce(t, n/2, n)
	time.Sleep(2 * time.Second) // the sink fails, pauses and pings a server that is gone
	srv.start(t)
	w.waitConsumed(t, "weir-sink-elasticsearch")
	checkExact(t, count, n)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// privateClickHouse is a clickhouse-server of the test's own, on free loopback ports,
// with its data in a temporary directory that survives stop and start.
type privateClickHouse struct {
	dir, addr string
	args      []string
	cmd       *exec.Cmd
}

func startPrivateClickHouse(t *testing.T) *privateClickHouse {
	t.Helper()
	dir := t.TempDir()
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	s := &privateClickHouse{dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), args: []string{
		"--config-file=/etc/clickhouse-server/config.xml", "--",
		"--listen_host=127.0.0.1", fmt.Sprintf("--tcp_port=%d", ports[0]), fmt.Sprintf("--http_port=%d", ports[1]),
		fmt.Sprintf("--interserver_http_port=%d", ports[2]),
		"--path=" + dir + "/data/", "--tmp_path=" + dir + "/tmp/", "--user_files_path=" + dir + "/user_files/",
		"--format_schema_path=" + dir + "/format_schemas/",
		"--logger.log=" + filepath.Join(dir, "server.log"), "--logger.errorlog=" + filepath.Join(dir, "err.log"),
	}}
	s.start(t)
	t.Cleanup(func() {
		if s.cmd != nil {
			s.stop(t)
		}
	})
	return s
}

func (s *privateClickHouse) start(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command("clickhouse-server", s.args...)
	s.cmd.Dir = s.dir
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("clickhouse-server: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(s.dir, "err.log"))
			t.Fatalf("clickhouse-server not up after a minute: %s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *privateClickHouse) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

func dropDatabase(t *testing.T, addr, db string) {
	conn, err := sql.Open("clickhouse", "clickhouse://"+addr+"/default")
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = conn.Exec("DROP DATABASE IF EXISTS " + db)
}

func deleteIndices(t *testing.T, url, prefix string) {
	for _, path := range []string{"/" + prefix + "*", "/_index_template/" + prefix + "*"} {
		req, _ := http.NewRequest(http.MethodDelete, url+path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}
