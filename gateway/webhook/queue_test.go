package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/weirhq/weir/internal/testenv"
)

// newTestQueue returns a queue on the real Redis under a prefix unique to this run of t,
// and deletes its keys when t ends.
func newTestQueue(t *testing.T) *Queue {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	var r [6]byte
	_, _ = rand.Read(r[:])
	prefix := "weirtest:webhook:" + t.Name() + ":" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		ctx := context.Background()
		var keys []string
		iter := rdb.Scan(ctx, 0, "{"+prefix+"}:*", 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return NewQueue(rdb, prefix)
}

// testDelivery returns a valid delivery with id id to url.
func testDelivery(id, url string) Delivery {
	return Delivery{
		DeliveryID:      id,
		MerchantID:      "mer_1",
		EndpointID:      "ep_1",
		URL:             url,
		SubjectEventID:  "subject-" + id,
		Type:            "payment_intent.succeeded",
		Sequence:        7,
		Payload:         []byte(`{"id":"` + id + `"}`),
		SigningVersions: []uint32{1},
	}
}

func TestQueueEnqueueIdempotent(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	d := testDelivery("d1", "http://example.invalid/hook")
	for i, want := range []bool{true, false, false} {
		added, err := q.Enqueue(ctx, d)
		if err != nil || added != want {
			t.Fatalf("Enqueue #%d = %v, %v; want %v, nil", i+1, added, err, want)
		}
	}
	if n, err := q.Pending(ctx); err != nil || n != 1 {
		t.Fatalf("Pending = %d, %v; want 1", n, err)
	}
	now := time.Now()
	got, err := q.Claim(ctx, now, time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].DeliveryID != "d1" || got[0].Attempt != 1 {
		t.Fatalf("Claim = %+v, %v", got, err)
	}
	// Finished: enqueuing the same id again (a producer re-reading its input) is a no-op.
	if err := q.Done(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if added, err := q.Enqueue(ctx, d); err != nil || added {
		t.Fatalf("Enqueue after Done = %v, %v; want false, nil", added, err)
	}
	if n, err := q.Pending(ctx); err != nil || n != 0 {
		t.Fatalf("Pending = %d, %v; want 0", n, err)
	}
	// A missing field is refused.
	bad := d
	bad.DeliveryID, bad.SigningVersions = "d2", nil
	if _, err := q.Enqueue(ctx, bad); !errors.Is(err, ErrInvalidDelivery) {
		t.Fatalf("Enqueue without signing versions = %v, want ErrInvalidDelivery", err)
	}
}

func TestQueueClaimLeaseReschedule(t *testing.T) {
	ctx := t.Context()
	q := newTestQueue(t)
	now := time.Now()
	later := testDelivery("later", "http://example.invalid/hook")
	later.NextAttempt = now.Add(time.Hour)
	for _, d := range []Delivery{testDelivery("a", "http://example.invalid/a"), testDelivery("b", "http://example.invalid/b"), later} {
		if _, err := q.Enqueue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.Claim(ctx, now, time.Minute, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Claim(max 1) = %+v, %v", got, err)
	}
	got2, err := q.Claim(ctx, now, time.Minute, 10)
	if err != nil || len(got2) != 1 || got2[0].DeliveryID == got[0].DeliveryID {
		t.Fatalf("second Claim = %+v, %v; want the other due delivery", got2, err)
	}
	if got3, err := q.Claim(ctx, now, time.Minute, 10); err != nil || len(got3) != 0 {
		t.Fatalf("Claim while leased = %+v, %v; want none", got3, err)
	}
	// After the lease both are due again; "later" is not.
	got4, err := q.Claim(ctx, now.Add(time.Minute), time.Minute, 10)
	if err != nil || len(got4) != 2 {
		t.Fatalf("Claim after lease = %+v, %v; want 2", got4, err)
	}
	if err := q.Done(ctx, got4[1]); err != nil {
		t.Fatal(err)
	}
	d := got4[0]
	d.Attempt = 2
	if err := q.Reschedule(ctx, d, now.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got5, err := q.Claim(ctx, now.Add(30*time.Minute), time.Minute, 10)
	if err != nil || len(got5) != 1 || got5[0].DeliveryID != d.DeliveryID || got5[0].Attempt != 2 {
		t.Fatalf("Claim after Reschedule = %+v, %v", got5, err)
	}
	// Reschedule of a finished delivery does not bring it back.
	if err := q.Done(ctx, got5[0]); err != nil {
		t.Fatal(err)
	}
	if err := q.Reschedule(ctx, got5[0], now); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Pending(ctx); n != 1 {
		t.Fatalf("Pending = %d, want 1 (later)", n)
	}
	if _, err := q.Replay(ctx, "nope", "nope-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Replay of unknown = %v, want ErrNotFound", err)
	}
}
