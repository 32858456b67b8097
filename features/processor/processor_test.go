package processor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/features/online"
	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/processors/stream"
)

// TestProcessorOnKafka runs the three stages in-process on the real Kafka and feeds
// them transfers one at a time (in order, out of order within grace, beyond grace,
// a mint, a transfer to a sanctioned address) and two reorg retractions (one of a
// transfer already applied, one of a transfer that has not been produced yet). Every
// committed vector must equal, field for field, the vector the Engine computes on the
// same events with the runtime's per-partition watermarks; each once; the late
// transfer's copies are in the internal topic's DLQ; the online store, written by its
// sink from the committed vectors, reads back each entity's latest vector unchanged.
func TestProcessorOnKafka(t *testing.T) {
	brokers := testenv.Kafka(t)
	s := newScenario(t, brokers)
	p, err := newProcessor(brokers, s.prefix, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// The online store, fed by its sink from the committed vectors.
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	defer rdb.Close()
	store := online.New(rdb, features.AddressActivity.Name, online.WithPrefix(s.prefix))
	sink, err := online.NewSink(online.SinkConfig{Brokers: brokers, Topic: s.cfg.Output, Group: s.prefix + "online"}, store)
	if err != nil {
		t.Fatal(err)
	}
	sinkDone := make(chan error, 1)
	go func() { sinkDone <- sink.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
		if err := <-sinkDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("sink: %v", err)
		}
		keys, _ := rdb.Keys(context.Background(), s.prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	}()

	A, B, C, D, S := addr("A"), addr("B"), addr("C"), addr("D"), sanctionedAddr
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	s.send(transfer("tx1", A, B, 100, at(0)), true)
	s.send(transfer("tx2", C, A, 200, at(30)), true)
	s.send(transfer("tx3", A, B, 950, at(120)), true)
	s.send(transfer("tx4", A, D, 300, at(60)), true) // out of order, within grace
	s.send(transfer("tx5", A, S, 10, at(180)), true)
	s.send(transfer("late", A, C, 999, at(-400)), true) // 580 s behind A's partition: beyond grace
	s.retract("reorg1", at(200), "tx3", "tx8")          // tx8 is retracted before it arrives
	s.send(transfer("tx6", B, A, 50, at(240)), true)
	s.send(transfer("tx8", A, C, 1, at(245)), true) // dropped: already retracted
	s.send(transfer("mint", "0x0000000000000000000000000000000000000000", A, 5, at(250)), true)
	s.send(transfer("tx7", "0x"+strings.ToUpper(A[2:]), B, 20, at(300)), true)
	// Eight days on, A's partition expires A's old events and the retracted ids: the
	// changelog ends each of their keys with a tombstone.
	s.send(transfer("week-later", A, B, 1, at(8*24*3600)), true)
	s.check()
	s.checkExpired(entityID(A), at(8*24*3600))
	if s.model.late == 0 {
		t.Fatal("the workload has no late event")
	}
	// The online store holds, for every entity, the vector of its latest event.
	deadline := time.Now().Add(30 * time.Second)
	for entity, want := range s.model.latest {
		for {
			got, err := store.Read(ctx, entity)
			if err == nil && proto.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("online store for %s: %v (%v), want %v", entity, got, err, want)
			}
			time.Sleep(20 * time.Millisecond) // polling the sink's progress, with a deadline
		}
	}
	dlq := kafkatest.ReadCommitted(t, brokers, stream.DLQTopic(s.cfg.Internal))
	if len(dlq) != s.model.late {
		t.Fatalf("DLQ holds %d records, want %d late events", len(dlq), s.model.late)
	}
	for _, r := range dlq {
		for _, h := range r.Headers {
			if h.Key == stream.HeaderError && !strings.Contains(string(h.Value), "later than the grace") {
				t.Errorf("DLQ error %q", h.Value)
			}
		}
	}
}
