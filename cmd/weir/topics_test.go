package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/config"
	"github.com/weirhq/weir/internal/embedded"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/catalog"
)

// topicsApply runs `weir topics apply` with args and returns its output.
func topicsApply(t *testing.T, args ...string) string {
	t.Helper()
	var out strings.Builder
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"topics", "apply"}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("weir topics apply %v: %v\noutput:\n%s", args, err, out.String())
	}
	return out.String()
}

// noChanges reports whether apply's summary, its last line, says it changed nothing.
func noChanges(out string) bool {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.HasPrefix(lines[len(lines)-1], "no changes")
}

// checkCatalogTopics checks that every catalogue topic (and DLQ) exists on the cluster
// with at least its partition count.
func checkCatalogTopics(t *testing.T, brokers []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range catalog.All() {
		names := []string{tp.Name}
		if tp.DLQ {
			names = append(names, tp.DLQName())
		}
		for _, n := range names {
			d, ok := details[n]
			if !ok || d.Err != nil {
				t.Errorf("topic %s missing after apply (%v)", n, d.Err)
				continue
			}
			if int32(len(d.Partitions)) < tp.Partitions {
				t.Errorf("topic %s has %d partitions, want at least %d", n, len(d.Partitions), tp.Partitions)
			}
		}
	}
}

func TestTopicsApplyEmbedded(t *testing.T) {
	if len(catalog.All()) == 0 {
		t.Fatal("the catalogue is empty")
	}
	b, err := embedded.Start(embedded.Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())

	first := topicsApply(t, "--brokers", b.Addr())
	if noChanges(first) {
		t.Fatalf("first apply on an empty broker made no changes:\n%s", first)
	}
	checkCatalogTopics(t, []string{b.Addr()})

	// The second run finds the brokers in the environment and has nothing to do.
	t.Setenv(config.EnvKafkaBrokers, b.Addr())
	if second := topicsApply(t); !noChanges(second) {
		t.Fatalf("second apply made changes:\n%s", second)
	}
}

func TestTopicsApplyKafka(t *testing.T) {
	brokers := testenv.Kafka(t)
	// The catalogue topics are shared on a real cluster: the first run may or may not
	// change anything, the second must not.
	t.Log(topicsApply(t, "--brokers", strings.Join(brokers, ",")))
	checkCatalogTopics(t, brokers)
	if second := topicsApply(t, "--brokers", strings.Join(brokers, ",")); !noChanges(second) {
		t.Fatalf("second apply made changes:\n%s", second)
	}
}
