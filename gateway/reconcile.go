package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	reconciliationv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
)

// ReconDriver moves payment intents on reconciliation results: it consumes recon.results
// (group "weir-gateway-recon", read_committed) and, for each result about an intent, makes
// the transition the result calls for (processing, succeeded, underpaid, overpaid,
// expired, or back to requires_payment after a reorg), produced to payments.intents and
// stored, under the intent's lock. A result older than one already applied to the intent
// (by the result's version) changes nothing, so replays after a crash are harmless.
// Offsets are committed after the transitions are acknowledged.
type ReconDriver struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Client produces the transitions. Required.
	Client *kgo.Client
	// Store is the projection. Required.
	Store *Store
	// TopicPrefix is put before topic names. Default "".
	TopicPrefix string
	// Group is the consumer group. Default "weir-gateway-recon".
	Group string
	// NotFoundWait is how long a result waits for its intent to reach the projection
	// before it is logged and skipped. Default 30 s.
	NotFoundWait time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// KafkaOpts are extra client options (TLS, SASL).
	KafkaOpts []kgo.Opt
	// Logger receives failures. Default slog.Default().
	Logger *slog.Logger
}

// Run drives intents until ctx is done; it returns nil then. It blocks.
func (d *ReconDriver) Run(ctx context.Context) error {
	if d.Group == "" {
		d.Group = "weir-gateway-recon"
	}
	if d.NotFoundWait <= 0 {
		d.NotFoundWait = 30 * time.Second
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	// The client's own context, cancelled once a leave has had reconLeaveWait (see below).
	cctx, cancelClient := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelClient()
	opts := append([]kgo.Opt{
		kgo.WithContext(cctx),
		kgo.SeedBrokers(d.Brokers...),
		kgo.ConsumerGroup(d.Group),
		kgo.ConsumeTopics(d.TopicPrefix + TopicRecon),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	}, d.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("gateway: recon client: %w", err)
	}
	defer func() {
		// Close leaves the group, and a leave waits for a join in flight, which the
		// coordinator holds until every member has rejoined or timed out: after a crash,
		// until the dead member's session expires (45 s by default). Offsets are committed
		// after each batch, so nothing is lost by giving up on the leave.
		t := time.AfterFunc(reconLeaveWait, cancelClient)
		defer t.Stop()
		cl.Close()
	}()
	for {
		fs := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			d.Logger.Warn("recon fetch failed; retrying", "topic", t, "partition", p, "err", err)
		})
		recs := fs.Records()
		for _, r := range recs {
			if err := retry(ctx, func() error {
				err := d.handle(ctx, r)
				if err != nil && ctx.Err() == nil {
					d.Logger.Error("recon result not applied; retrying", "offset", r.Offset, "err", err)
				}
				return err
			}); err != nil {
				cl.AllowRebalance()
				return nil
			}
		}
		if len(recs) > 0 {
			if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
				d.Logger.Warn("recon offset commit failed; results will be seen again", "err", err)
			}
		}
		cl.AllowRebalance()
	}
}

// reconLeaveWait bounds how long a stopping ReconDriver tries to leave its group.
const reconLeaveWait = 5 * time.Second

// handle applies one recon.results record.
func (d *ReconDriver) handle(ctx context.Context, rec *kgo.Record) error {
	res := new(reconciliationv1.ReconciliationResult)
	if err := proto.Unmarshal(rec.Value, res); err != nil {
		d.Logger.Error("recon result skipped: it does not decode", "partition", rec.Partition, "offset", rec.Offset, "err", err)
		return nil
	}
	id := res.GetIntentId()
	if id == "" {
		return nil // UNEXPECTED: a transfer without an intent
	}
	unlock, err := d.Store.Lock(ctx, id, lockTTL, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	applied, err := d.Store.reconVersion(ctx, id)
	if err != nil {
		return err
	}
	if res.GetVersion() <= applied {
		return nil
	}
	cur, err := d.Store.Intent(ctx, id)
	if errors.Is(err, ErrNotFound) {
		// The intent may be on its way to the projection; wait for it a while.
		if time.Since(rec.Timestamp) < d.NotFoundWait {
			return fmt.Errorf("intent %s not projected yet", id)
		}
		d.Logger.Error("recon result skipped: no such intent", "intent", id, "offset", rec.Offset)
		return nil
	}
	if err != nil {
		return err
	}
	if n := applyRecon(cur, res, res.GetMeta().GetEventId(), d.Now()); n != nil {
		if err := produceIntent(ctx, d.Client, d.TopicPrefix, n); err != nil {
			return fmt.Errorf("produce transition of %s: %w", id, err)
		}
		if _, err := d.Store.ApplyIntent(ctx, n); err != nil {
			return err
		}
	}
	return d.Store.setReconVersion(ctx, id, res.GetVersion())
}

func (s *Store) reconVersion(ctx context.Context, intent string) (uint64, error) {
	v, err := s.rdb.Get(ctx, s.key("rv", intent)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("gateway: read recon version: %w", err)
	}
	return strconv.ParseUint(v, 10, 64)
}

func (s *Store) setReconVersion(ctx context.Context, intent string, v uint64) error {
	return s.rdb.Set(ctx, s.key("rv", intent), v, 0).Err()
}
