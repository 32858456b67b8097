// Package processor runs the address_activity features on the stream runtime.
//
// Three stages, each its own stream.Topology (consumer group, changelogs, transactions):
//
//		chain.transfers (key: recipient) ──rekey──────► features.activity (key: entity id) ──features──► risk.features
//		chain.retractions (1 partition) ──broadcast──►        ▲ one copy per partition                  (+ OnVector outputs)
//
//	  - rekey ("<app>-rekey") emits every transfer twice into the internal topic, keyed by
//	    the sender's and by the recipient's entity id, with header weir.features.direction
//	    "out" / "in" (the value is the Transfer's bytes, unchanged). Mints have no sender
//	    copy and burns no recipient copy (the zero address is not an entity).
//	  - broadcast ("<app>-retractions") copies every Retraction to every partition of the
//	    internal topic (header weir.features.kind "retraction"), using one key per
//	    partition that Kafka's partitioner maps there, so that every features task sees it.
//	  - features ("<app>") applies each event to the task's "activity" store through
//	    features.Engine, emits the entity's FeatureVector to risk.features (key: entity id)
//	    and calls Config.OnVector in the same transaction; a retraction undoes the
//	    retracted transfers in every task.
//
// Exactly-once holds end to end: each stage commits its outputs with its input offsets.
// The internal topic is created by Run when missing (it is not in the topic catalogue).
//
// Late data: an event more than Config.Engine.Grace behind its task's watermark is
// refused with features.ErrLate and lands in "features.activity.dlq" with the error in
// its headers (the runtime's DLQ count metric counts it). A retraction does not move the
// watermark. Duplicates and events retracted before they arrived are dropped silently.
//
// Retractions and arrival order: rekey and broadcast are separate groups, so a
// retraction may reach a task before the transfer it retracts; the engine remembers
// retracted ids for the retention period and drops such a transfer when it comes.
package processor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// Defaults of Config.
const (
	DefaultApp                = "features"
	DefaultTransfers          = "chain.transfers"
	DefaultRetractions        = "chain.retractions"
	DefaultInternal           = "features.activity"
	DefaultInternalPartitions = 12
	DefaultOutput             = "risk.features"
	// Store is the features stage's state store.
	Store = "activity"
)

// Headers on internal records.
const (
	HeaderDirection = "weir.features.direction" // "out" or "in"
	HeaderKind      = "weir.features.kind"      // "retraction"; absent on transfers
)

// Config configures the processor. The zero value takes every default except StateDir.
type Config struct {
	// App prefixes the three stages' group ids: App+"-rekey", App+"-retractions", App.
	// Default: "features".
	App string
	// Transfers is the chain.v1.Transfer topic. Default: "chain.transfers".
	Transfers string
	// Retractions is the chain.v1.Retraction topic. Default: "chain.retractions".
	Retractions string
	// Internal is the re-keyed topic between the stages. Default: "features.activity".
	Internal string
	// InternalPartitions is the partition count of Internal, used when Run creates it
	// and checked when it exists. Default: 12.
	InternalPartitions int
	// InternalReplicas is Internal's replication factor when Run creates it.
	// Default: -1, the broker's default.
	InternalReplicas int16
	// Output is the FeatureVector topic. Default: "risk.features".
	Output string
	// StateDir holds the three stages' state, one subdirectory each. Required.
	StateDir string
	// Engine configures the features: grace, thresholds, sanctions list.
	Engine features.Config
	// OnVector, when set, is called with every vector the features stage emits, in the
	// same handler call and Kafka transaction: a scorer emits its results with
	// sc.Emit (to topics listed in ExtraOutputs) and keeps state in ExtraStores. An
	// error sends the triggering record to the DLQ and discards the vector. It is
	// called from one goroutine per task at a time.
	OnVector func(sc *stream.Context, v *riskv1.FeatureVector) error
	// ExtraOutputs and ExtraStores are declared on the features stage for OnVector.
	ExtraOutputs []string
	ExtraStores  []string
}

func (c Config) withDefaults() Config {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.App, DefaultApp)
	def(&c.Transfers, DefaultTransfers)
	def(&c.Retractions, DefaultRetractions)
	def(&c.Internal, DefaultInternal)
	def(&c.Output, DefaultOutput)
	if c.InternalPartitions == 0 {
		c.InternalPartitions = DefaultInternalPartitions
	}
	if c.InternalReplicas == 0 {
		c.InternalReplicas = -1
	}
	return c
}

// Validate reports what is missing or malformed.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("no state dir"))
	}
	if c.InternalPartitions < 1 || c.InternalPartitions > 10000 {
		errs = append(errs, fmt.Errorf("internal partitions %d: want 1..10000", c.InternalPartitions))
	}
	return errors.Join(errs...)
}

// Topologies returns the three stages: rekey, broadcast, features.
func Topologies(cfg Config) (rekey, broadcast, feats stream.Topology, err error) {
	cfg = cfg.withDefaults()
	eng, err := features.New(cfg.Engine)
	if err != nil {
		return rekey, broadcast, feats, err
	}
	rekey = stream.Topology{
		App: cfg.App + "-rekey", Inputs: []string{cfg.Transfers}, Outputs: []string{cfg.Internal},
		Handler: &rekeyHandler{internal: cfg.Internal},
	}
	broadcast = stream.Topology{
		App: cfg.App + "-retractions", Inputs: []string{cfg.Retractions}, Outputs: []string{cfg.Internal},
		Handler: &broadcastHandler{internal: cfg.Internal, keys: BroadcastKeys(cfg.Internal, cfg.InternalPartitions)},
	}
	feats = stream.Topology{
		App:     cfg.App,
		Inputs:  []string{cfg.Internal},
		Outputs: append([]string{cfg.Output}, cfg.ExtraOutputs...),
		Stores:  append([]string{Store}, cfg.ExtraStores...),
		Handler: &Handler{Engine: eng, Output: cfg.Output, OnVector: cfg.OnVector},
	}
	return rekey, broadcast, feats, nil
}

// BroadcastKeys returns one record key per partition of topic (n partitions) that
// Kafka's default partitioner (murmur2, as franz-go's StickyKeyPartitioner and the
// runtime use) sends to that partition: key i goes to partition i.
func BroadcastKeys(topic string, n int) [][]byte {
	keys := make([][]byte, n)
	part := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	for found, i := 0, 0; found < n; i++ {
		k := []byte("retraction-broadcast-" + strconv.Itoa(i))
		p := part.Partition(&kgo.Record{Key: k}, n)
		if keys[p] == nil {
			keys[p] = k
			found++
		}
	}
	return keys
}

// Processor runs the three stages: one member of each of their groups. It is a weir
// component (Name, Run, Describe).
type Processor struct {
	cfg      Config
	brokers  []string
	kopts    []kgo.Opt
	runtimes []*stream.Runtime
}

// New builds the processor. opts configure the three runtimes (instance id, metrics,
// logger, Kafka options…); each gets its own state directory under cfg.StateDir. It
// does no I/O.
func New(cfg Config, brokers []string, opts ...stream.Option) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	cfg = cfg.withDefaults()
	rekey, broadcast, feats, err := Topologies(cfg)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	p := &Processor{cfg: cfg, brokers: brokers}
	for _, topo := range []stream.Topology{rekey, broadcast, feats} {
		o := append(append([]stream.Option{}, opts...), stream.WithStateDir(filepath.Join(cfg.StateDir, topo.App)))
		rt, err := stream.New(topo, brokers, o...)
		if err != nil {
			return nil, fmt.Errorf("features: %s: %w", topo.App, err)
		}
		p.runtimes = append(p.runtimes, rt)
	}
	return p, nil
}

// WithAdminOpts sets the franz-go options (TLS, SASL) of the admin client Run uses to
// create the internal topic. Not safe to call while Run runs.
func (p *Processor) WithAdminOpts(opts ...kgo.Opt) *Processor { p.kopts = opts; return p }

// Name returns the processor's app name.
func (p *Processor) Name() string { return p.cfg.App }

// Describe says what the processor reads, writes and keeps.
func (p *Processor) Describe() string {
	return fmt.Sprintf("reads %s and %s, re-keys into %s (%d partitions), writes %s; state %q; DLQ %s",
		p.cfg.Transfers, p.cfg.Retractions, p.cfg.Internal, p.cfg.InternalPartitions, p.cfg.Output,
		Store, stream.DLQTopic(p.cfg.Internal))
}

// Run creates the internal topic if needed and runs the three stages until ctx is
// cancelled or one fails; see stream.Runtime.Run. It blocks.
func (p *Processor) Run(ctx context.Context) error {
	if err := EnsureInternalTopic(ctx, p.brokers, p.cfg, p.kopts...); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, rt := range p.runtimes {
		g.Go(func() error { return rt.Run(ctx) })
	}
	return g.Wait()
}

// EnsureInternalTopic creates cfg's internal topic when it is missing and checks its
// partition count when it exists.
func EnsureInternalTopic(ctx context.Context, brokers []string, cfg Config, opts ...kgo.Opt) error {
	cfg = cfg.withDefaults()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("features: admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, cfg.Internal)
	if err != nil {
		return fmt.Errorf("features: list %s: %w", cfg.Internal, err)
	}
	if d, ok := details[cfg.Internal]; ok && d.Err == nil {
		if n := len(d.Partitions); n != cfg.InternalPartitions {
			return fmt.Errorf("features: %s has %d partitions, configured %d", cfg.Internal, n, cfg.InternalPartitions)
		}
		return nil
	}
	// LogAppendTime: the stages read event times from the values, and a backfill of old
	// blocks must not meet time-based retention (or the broker's check of future
	// timestamps) on the way through.
	retention := strconv.FormatInt((7 * 24 * time.Hour).Milliseconds(), 10)
	appendTime := "LogAppendTime"
	resp, err := adm.CreateTopic(ctx, int32(cfg.InternalPartitions), cfg.InternalReplicas,
		map[string]*string{"retention.ms": &retention, "message.timestamp.type": &appendTime}, cfg.Internal)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerrTopicExists) {
		return fmt.Errorf("features: create %s: %w", cfg.Internal, err)
	}
	// A broker may answer metadata before it learns of a topic just created.
	for {
		details, err := adm.ListTopics(ctx, cfg.Internal)
		if err == nil {
			if d, ok := details[cfg.Internal]; ok && d.Err == nil && len(d.Partitions) == cfg.InternalPartitions {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("features: %s not visible after creation: %w", cfg.Internal, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rekeyHandler copies each transfer to the internal topic under its sender and its
// recipient.
type rekeyHandler struct{ internal string }

func (h *rekeyHandler) Process(ctx *stream.Context, rec *kgo.Record) error {
	var tr chainv1.Transfer
	if err := codec.Unmarshal(rec.Value, &tr); err != nil {
		return fmt.Errorf("decode transfer: %w", err)
	}
	ctx.SetTime(tr.GetMeta().GetEventTime().AsTime())
	for _, dir := range []features.Direction{features.Out, features.In} {
		ev, err := features.TransferEvent(&tr, dir)
		if errors.Is(err, features.ErrNotAnEntity) {
			continue
		}
		if err != nil {
			return err
		}
		if err := ctx.Emit(h.internal, []byte(ev.Entity), rec.Value,
			kgo.RecordHeader{Key: HeaderDirection, Value: []byte(dir.String())}); err != nil {
			return err
		}
	}
	return nil
}

func (h *rekeyHandler) OnTimer(*stream.Context, time.Time, []byte) error { return nil }

// broadcastHandler copies each retraction to every partition of the internal topic.
type broadcastHandler struct {
	internal string
	keys     [][]byte
}

func (h *broadcastHandler) Process(ctx *stream.Context, rec *kgo.Record) error {
	var r chainv1.Retraction
	if err := codec.Unmarshal(rec.Value, &r); err != nil {
		return fmt.Errorf("decode retraction: %w", err)
	}
	ctx.SetTime(r.GetMeta().GetEventTime().AsTime())
	for _, k := range h.keys {
		if err := ctx.Emit(h.internal, k, rec.Value,
			kgo.RecordHeader{Key: HeaderKind, Value: []byte("retraction")}); err != nil {
			return err
		}
	}
	return nil
}

func (h *broadcastHandler) OnTimer(*stream.Context, time.Time, []byte) error { return nil }

// Handler is the features stage: it applies internal records to the task's store with
// Engine and emits vectors. Exported so that a scorer can embed the stage in a
// topology of its own.
type Handler struct {
	// Engine computes the features. Required.
	Engine *features.Engine
	// Output is the FeatureVector topic. Required.
	Output string
	// OnVector is Config.OnVector.
	OnVector func(sc *stream.Context, v *riskv1.FeatureVector) error
}

// Timer keys: 'e' entity → expire the entity's old events; 'x' event id → forget a
// retracted id.
const (
	timerExpire    = 'e'
	timerRetracted = 'x'
)

// expiryStep rounds expiry timers up to the minute, so that an entity has at most one
// timer per minute of event time rather than one per event.
const expiryStep = time.Minute

// Process handles one internal record.
func (h *Handler) Process(ctx *stream.Context, rec *kgo.Record) error {
	st, err := ctx.Store(Store)
	if err != nil {
		return err
	}
	var dir features.Direction
	for _, hd := range rec.Headers {
		switch {
		case hd.Key == HeaderKind && string(hd.Value) == "retraction":
			return h.retract(ctx, st, rec)
		case hd.Key == HeaderDirection && string(hd.Value) == "out":
			dir = features.Out
		case hd.Key == HeaderDirection && string(hd.Value) == "in":
			dir = features.In
		}
	}
	if dir == 0 {
		return errors.New("internal record without direction or kind header")
	}
	var tr chainv1.Transfer
	if err := codec.Unmarshal(rec.Value, &tr); err != nil {
		return fmt.Errorf("decode transfer: %w", err)
	}
	ev, err := features.TransferEvent(&tr, dir)
	if err != nil {
		return err
	}
	ctx.SetTime(ev.Time)
	vec, err := h.Engine.Apply(st, ev, ctx.Watermark())
	switch {
	case errors.Is(err, features.ErrDuplicate), errors.Is(err, features.ErrRetracted):
		return nil
	case err != nil:
		return err
	}
	expireAt := ev.Time.Add(h.Engine.Retention()).Truncate(expiryStep).Add(expiryStep)
	if err := ctx.Schedule(expireAt, append([]byte{timerExpire}, ev.Entity...)); err != nil {
		return err
	}
	if err := h.emit(ctx, st, vec); err != nil {
		return err
	}
	if h.OnVector != nil {
		return h.OnVector(ctx, vec)
	}
	return nil
}

func (h *Handler) retract(ctx *stream.Context, st *stream.Store, rec *kgo.Record) error {
	var r chainv1.Retraction
	if err := codec.Unmarshal(rec.Value, &r); err != nil {
		return fmt.Errorf("decode retraction: %w", err)
	}
	// A retraction must not move the watermark: it is stamped when the reorg was seen,
	// possibly ahead of transfers still in flight through the rekey stage.
	wm := ctx.Watermark()
	if wm.IsZero() {
		wm = time.Unix(0, 0).UTC()
	}
	ctx.SetTime(wm)
	at := r.GetMeta().GetEventTime().AsTime()
	touched, err := h.Engine.Retract(st, r.GetRetractedEventIds(), at)
	if err != nil {
		return err
	}
	// Re-publish the vector of each entity whose history changed, so that the online
	// store and other consumers of risk.features stop serving the retracted transfers.
	// OnVector is not called: a scorer sees one vector per subject event.
	for _, entity := range touched {
		vec, err := h.Engine.Refresh(st, entity, r.GetMeta().GetEventId())
		if err != nil {
			return err
		}
		if vec == nil {
			continue
		}
		if err := h.emit(ctx, st, vec, kgo.RecordHeader{Key: features.HeaderRefresh, Value: []byte(r.GetMeta().GetEventId())}); err != nil {
			return err
		}
	}
	forget := later(at, wm).Add(h.Engine.Retention()).Truncate(expiryStep).Add(expiryStep)
	for _, id := range r.GetRetractedEventIds() {
		if err := ctx.Schedule(forget, append([]byte{timerRetracted}, id...)); err != nil {
			return err
		}
	}
	return nil
}

// emit sends a vector to Output, keyed by entity, with the entity's generation.
func (h *Handler) emit(ctx *stream.Context, st *stream.Store, vec *riskv1.FeatureVector, headers ...kgo.RecordHeader) error {
	gen, err := h.Engine.Generation(st, vec.GetEntityId())
	if err != nil {
		return err
	}
	b, err := codec.Marshal(vec)
	if err != nil {
		return fmt.Errorf("encode vector: %w", err)
	}
	headers = append(headers, kgo.RecordHeader{Key: features.HeaderGeneration, Value: []byte(strconv.FormatUint(gen, 10))})
	return ctx.Emit(h.Output, []byte(vec.GetEntityId()), b, headers...)
}

// OnTimer expires old events and forgets retracted ids.
func (h *Handler) OnTimer(ctx *stream.Context, at time.Time, key []byte) error {
	st, err := ctx.Store(Store)
	if err != nil {
		return err
	}
	if len(key) < 2 {
		return nil
	}
	switch key[0] {
	case timerExpire:
		_, err = h.Engine.Expire(st, string(key[1:]), later(at, ctx.Watermark()))
		return err
	case timerRetracted:
		return h.Engine.ExpireRetracted(st, string(key[1:]))
	}
	return nil
}

var kerrTopicExists = kerr.TopicAlreadyExists

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
