package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/testenv"
)

// newKfake starts an in-process Kafka (kfake) with three brokers and returns an admin
// client for it; both are closed when the test ends.
func newKfake(t *testing.T) *kadm.Client {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return newAdmin(t, c.ListenAddrs())
}

func newAdmin(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func TestApplyKfake(t *testing.T) {
	adm := newKfake(t)
	testApply(t, adm, All())
}

// TestApplyRealKafka runs the same scenario against the real Kafka of deploy/local
// (WEIR_KAFKA_BROKERS); it skips when that is not set, and fails when CI is set. Topic
// names get a unique prefix per run and are deleted afterwards.
func TestApplyRealKafka(t *testing.T) {
	brokers := testenv.Kafka(t)
	adm := newAdmin(t, brokers)
	topics := WithPrefix(uniquePrefix(t), All())
	t.Cleanup(func() { deleteTopics(t, adm, topics) })
	testApply(t, adm, topics)
}

func TestApplyConcurrentKfake(t *testing.T) {
	adm := newKfake(t)
	topics := All()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created = make(map[string]int)
	)
	for range 3 {
		wg.Go(func() {
			changes, err := Apply(t.Context(), adm, topics)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, c := range changes {
				if c.Action != ActionCreate {
					t.Errorf("unexpected change %s", c)
				}
				created[c.Topic]++
			}
		})
	}
	wg.Wait()
	for _, tp := range expand(topics) {
		if created[tp.Name] != 1 {
			t.Errorf("%s reported created %d times by 3 concurrent Applies, want once", tp.Name, created[tp.Name])
		}
	}
	assertMatches(t, adm, topics)
}

func TestApplyRejectsInvalidTopicsBeforeTouchingTheCluster(t *testing.T) {
	adm := newKfake(t)
	topics := []Topic{
		{Name: "good.one", Key: "k", Value: "v", Partitions: 1},
		{Name: "bad name", Key: "k", Value: "v", Partitions: 1},
	}
	if _, err := Apply(t.Context(), adm, topics); err == nil {
		t.Fatal("Apply accepted an invalid topic name")
	}
	details, err := adm.ListTopics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(details) != 0 {
		t.Fatalf("Apply created %v despite invalid input", details.Names())
	}
}

// testApply is the scenario run on kfake and on real Kafka: create from empty, a second
// run changes nothing, a raised partition count is applied (to the DLQ too), drifted
// configs are repaired, and a topic with more partitions than listed is left alone with a
// note.
func testApply(t *testing.T, adm *kadm.Client, topics []Topic) {
	ctx := t.Context()
	all := expand(topics)

	// 1. From empty: every topic and dead-letter topic is created.
	changes := mustApply(t, ctx, adm, topics)
	if len(changes) != len(all) {
		t.Fatalf("first Apply made %d changes, want %d creates:\n%s", len(changes), len(all), join(changes))
	}
	for i, c := range changes {
		if c.Action != ActionCreate || c.Topic != all[i].Name {
			t.Fatalf("change %d = %s, want create %s", i, c, all[i].Name)
		}
	}
	assertMatches(t, adm, topics)

	// 2. Idempotent: nothing to do.
	if changes := mustApply(t, ctx, adm, topics); len(changes) != 0 {
		t.Fatalf("second Apply changed:\n%s", join(changes))
	}

	// 3. The catalogue raises a partition count: the topic and its DLQ grow.
	grown := slices.Clone(topics)
	i := indexOf(t, grown, func(tp Topic) bool { return tp.DLQ && !tp.Compacted })
	grown[i].Partitions += 2
	changes = mustApply(t, ctx, adm, grown)
	want := []string{
		fmt.Sprintf("add-partitions %s: partitions %d -> %d", grown[i].Name, topics[i].Partitions, grown[i].Partitions),
		fmt.Sprintf("add-partitions %s: partitions %d -> %d", grown[i].DLQName(), topics[i].Partitions, grown[i].Partitions),
	}
	if got := strings.Split(join(changes), "\n"); !slices.Equal(got, want) {
		t.Fatalf("Apply after raising partitions:\n%s\nwant:\n%s", join(changes), strings.Join(want, "\n"))
	}
	assertMatches(t, adm, grown)
	if changes := mustApply(t, ctx, adm, grown); len(changes) != 0 {
		t.Fatalf("Apply after growing is not a no-op:\n%s", join(changes))
	}

	// 4. Someone changed configs by hand: Apply sets them back.
	retained := indexOf(t, grown, func(tp Topic) bool { return !tp.Compacted && tp.Retention > 0 })
	compacted := indexOf(t, grown, func(tp Topic) bool { return tp.Compacted })
	alter(t, adm, grown[retained].Name, "retention.ms", "1000")
	alter(t, adm, grown[compacted].Name, "cleanup.policy", "delete")
	changes = mustApply(t, ctx, adm, grown)
	want = []string{
		fmt.Sprintf("alter-config %s: retention.ms=%d (was 1000)", grown[retained].Name, grown[retained].Retention.Milliseconds()),
		fmt.Sprintf("alter-config %s: cleanup.policy=compact (was delete)", grown[compacted].Name),
	}
	slices.Sort(want)
	got := strings.Split(join(changes), "\n")
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Apply after config drift:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	assertMatches(t, adm, grown)

	// 5. The original (smaller) catalogue again: partitions are never lowered; two notes,
	// and no change.
	changes = mustApply(t, ctx, adm, topics)
	if len(changes) != 2 {
		t.Fatalf("Apply with fewer partitions than the cluster:\n%s\nwant two notes", join(changes))
	}
	for _, c := range changes {
		if c.Action != ActionNote || !strings.Contains(c.Detail, "never removed") {
			t.Fatalf("unexpected change %s, want a note", c)
		}
	}
	assertMatches(t, adm, grown)
}

func mustApply(t *testing.T, ctx context.Context, adm *kadm.Client, topics []Topic) []Change {
	t.Helper()
	changes, err := Apply(ctx, adm, topics)
	if err != nil {
		t.Fatalf("Apply: %v (changes so far:\n%s)", err, join(changes))
	}
	return changes
}

// assertMatches checks the cluster against topics directly, without Apply's code.
func assertMatches(t *testing.T, adm *kadm.Client, topics []Topic) {
	t.Helper()
	all := expand(topics)
	names := make([]string, len(all))
	for i, tp := range all {
		names[i] = tp.Name
	}
	ctx := kadm.WithAuthorizedOps(t.Context()) // bypass the client's metadata cache
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range all {
		d, ok := details[tp.Name]
		if !ok || d.Err != nil {
			t.Errorf("%s: missing (%v)", tp.Name, d.Err)
			continue
		}
		if got := int32(len(d.Partitions)); got != tp.Partitions {
			t.Errorf("%s: %d partitions, want %d", tp.Name, got, tp.Partitions)
		}
		rc, err := rcs.On(tp.Name, nil)
		if err != nil {
			t.Errorf("%s: configs: %v", tp.Name, err)
			continue
		}
		for k, v := range tp.Configs() {
			var have string
			for _, c := range rc.Configs {
				if c.Key == k {
					have = c.MaybeValue()
				}
			}
			if have != v {
				t.Errorf("%s: %s=%q, want %q", tp.Name, k, have, v)
			}
		}
	}
}

func alter(t *testing.T, adm *kadm.Client, topic, key, value string) {
	t.Helper()
	resps, err := adm.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: kadm.StringPtr(value)}}, topic)
	if err == nil {
		for _, r := range resps {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("set %s=%s on %s: %v", key, value, topic, err)
	}
	// A real broker serves configs from its metadata image, which may trail the
	// controller by a moment: wait until the drift is visible, so Apply sees it too.
	ctx, cancel := context.WithTimeout(t.Context(), ConvergeTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err == nil {
			if rc, err := rcs.On(topic, nil); err == nil {
				for _, c := range rc.Configs {
					if c.Key == key && c.MaybeValue() == value {
						return
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s=%s on %s never became visible: %v", key, value, topic, ctx.Err())
		case <-tick.C:
		}
	}
}

func indexOf(t *testing.T, topics []Topic, f func(Topic) bool) int {
	t.Helper()
	for i, tp := range topics {
		if f(tp) {
			return i
		}
	}
	t.Fatal("the catalogue has no topic the test needs")
	return -1
}

func join(changes []Change) string {
	s := make([]string, len(changes))
	for i, c := range changes {
		s[i] = c.String()
	}
	return strings.Join(s, "\n")
}

// uniquePrefix returns "weirtest-<time>-<random>." so that reruns and parallel runs
// against one cluster never share topics.
func uniquePrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("weirtest-%d-%s.", time.Now().Unix(), hex.EncodeToString(b))
}

// deleteTopics deletes topics and their dead-letter topics, with a fresh context (the
// test's own is done by the time cleanups run).
func deleteTopics(t *testing.T, adm *kadm.Client, topics []Topic) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := expand(topics)
	names := make([]string, len(all))
	for i, tp := range all {
		names[i] = tp.Name
	}
	resps, err := adm.DeleteTopics(ctx, names...)
	if err != nil {
		t.Errorf("delete test topics: %v", err)
		return
	}
	for _, r := range resps {
		if r.Err != nil && !strings.Contains(r.Err.Error(), "UNKNOWN_TOPIC") {
			t.Errorf("delete %s: %v", r.Topic, r.Err)
		}
	}
}
