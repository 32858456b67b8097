package stream

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestStateAheadOfChangelog moves an instance's state directory to a broker whose
// changelog does not have what the local state holds (as after a topic is recreated, or
// an embedded broker lost its tail in a crash). The runtime must rebuild the state from
// the changelog, not keep counting on top of writes the broker never kept.
func TestStateAheadOfChangelog(t *testing.T) {
	dir := t.TempDir()
	counts := func(c *cluster, n int) []string {
		c.createTopic("events", 1)
		c.createTopic("counts", 1)
		var recs []*kgo.Record
		for range n {
			recs = append(recs, &kgo.Record{Topic: "events", Key: []byte("k"), Value: []byte("x")})
		}
		c.produce(recs...)
		stop := start(t, counterTopology(), c.brokers, WithStateDir(dir))
		c.waitConsumed("counter", "events")
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		var got []string
		for _, r := range c.readCommitted("counts") {
			got = append(got, string(r.Value))
		}
		return got
	}

	first := counts(newCluster(t), 5)
	if len(first) != 5 || first[4] != "5" {
		t.Fatalf("first broker: counts %v, want 1..5", first)
	}
	second := counts(newCluster(t), 3) // a new, empty broker; the same local state
	for i, v := range second {
		if v != strconv.Itoa(i+1) {
			t.Fatalf("second broker: counts %v, want 1..3 (state rebuilt from its changelog)", second)
		}
	}
	if len(second) != 3 {
		t.Fatalf("second broker: counts %v, want 1..3", second)
	}
}
