package recon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/weirhq/weir/processors/stream"
)

// Processor runs the reconciliation processor: its five stages, each a stream.Runtime,
// as one member of each stage's consumer group. It is a weir component (Name, Run,
// Describe).
type Processor struct {
	cfg     Config
	brokers []string
	opts    []stream.Option
}

// New checks cfg and returns the processor for the given brokers. opts configure every
// stage's runtime (instance id, metrics registry, logger, commit interval…); each
// stage's state directory is Config.StateDir/<stage app> and its Kafka options are
// Config.KafkaOpts, whatever opts say. New does no I/O.
func New(cfg Config, brokers []string, opts ...stream.Option) (*Processor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("recon: config: %w", err)
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("recon: no brokers")
	}
	return &Processor{cfg: cfg, brokers: brokers, opts: opts}, nil
}

// Name returns the processor's app name.
func (p *Processor) Name() string { return p.cfg.App }

// Describe says what the processor reads, writes and keeps.
func (p *Processor) Describe() string {
	c := p.cfg
	return fmt.Sprintf("reads %s, %s, %s, %s, %s, %s, %s, %s; writes %s; internal %s, %s, %s",
		c.Transfers, c.Intents, c.Payouts, c.Signed, c.Transactions, c.Retractions, c.Finality, c.Blocks,
		c.Results, c.keyedTopic(), c.controlTopic(), c.signingTopic())
}

// Run creates the internal topics (with the partition count of the transfers topic) if
// they do not exist, then runs every stage until ctx is cancelled (nil) or one stage
// fails (its error, after stopping the others). It blocks; call it once.
func (p *Processor) Run(ctx context.Context) error {
	n, err := p.ensureInternalTopics(ctx)
	if err != nil {
		return err
	}
	topos := Topologies(p.cfg, n)
	g, gctx := errgroup.WithContext(ctx)
	for _, topo := range topos {
		opts := append(append([]stream.Option{}, p.opts...),
			stream.WithStateDir(filepath.Join(p.cfg.StateDir, topo.App)), stream.WithKafkaOpts(p.cfg.KafkaOpts...))
		rt, err := stream.New(topo, p.brokers, opts...)
		if err != nil {
			return fmt.Errorf("recon: stage %s: %w", topo.App, err)
		}
		g.Go(func() error {
			err := rt.Run(gctx)
			if err == nil && ctx.Err() == nil {
				err = fmt.Errorf("stopped on its own")
			}
			if err != nil {
				return fmt.Errorf("recon: stage %s: %w", topo.App, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Topologies returns the declarations of the processor's stages for internal topics of
// partitions partitions, in the order data flows: rekey, signed, broadcast, pair, join.
func Topologies(cfg Config, partitions int32) []stream.Topology {
	cfg = cfg.withDefaults()
	keys := broadcastKeys(partitions)
	return []stream.Topology{
		{
			App:     cfg.rekeyApp(),
			Inputs:  []string{cfg.Intents, cfg.Payouts, cfg.Transactions},
			Outputs: []string{cfg.keyedTopic(), cfg.signingTopic(), cfg.controlTopic()},
			Handler: &rekeyHandler{cfg: cfg, keys: keys},
		},
		{
			App:     cfg.signedApp(),
			Inputs:  []string{cfg.Signed},
			Outputs: []string{cfg.signingTopic()},
			Handler: &signedHandler{cfg: cfg},
		},
		{
			App:     cfg.broadcastApp(),
			Inputs:  []string{cfg.Retractions, cfg.Finality, cfg.Blocks},
			Outputs: []string{cfg.controlTopic()},
			Handler: &broadcastHandler{cfg: cfg, keys: keys},
		},
		{
			App:     cfg.pairApp(),
			Inputs:  []string{cfg.signingTopic()},
			Outputs: []string{cfg.keyedTopic()},
			Stores:  []string{requestsStore},
			Handler: &pairHandler{cfg: cfg},
		},
		{
			App:     cfg.App,
			Inputs:  []string{cfg.Transfers, cfg.keyedTopic(), cfg.controlTopic()},
			Outputs: []string{cfg.Results},
			Stores:  joinStores,
			Handler: &joinHandler{cfg: cfg},
		},
	}
}

// ensureInternalTopics creates the internal topics with the partition count of the
// transfers topic, and checks existing ones have it. It returns that count.
func (p *Processor) ensureInternalTopics(ctx context.Context) (int32, error) {
	// A short metadata cache, so that the topics it creates show up within a poll.
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, p.cfg.KafkaOpts...), kgo.SeedBrokers(p.brokers...),
		kgo.MetadataMinAge(250*time.Millisecond))...)
	if err != nil {
		return 0, fmt.Errorf("recon: admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, p.cfg.Transfers)
	if err != nil {
		return 0, fmt.Errorf("recon: list %s: %w", p.cfg.Transfers, err)
	}
	d, ok := details[p.cfg.Transfers]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return 0, fmt.Errorf("recon: topic %s does not exist (apply the topic catalogue first)", p.cfg.Transfers)
	}
	n := int32(len(d.Partitions))
	internal := []string{p.cfg.keyedTopic(), p.cfg.controlTopic(), p.cfg.signingTopic()}
	for _, name := range internal {
		resp, err := adm.CreateTopic(ctx, n, p.cfg.Replicas, nil, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errorsIsTopicExists(err) {
			return 0, fmt.Errorf("recon: create %s: %w", name, err)
		}
	}
	// A broker may answer metadata before it learns of a topic just created; the
	// runtimes check their topics when they start, so wait until all are visible.
	deadline := time.Now().Add(30 * time.Second)
	for {
		details, err := adm.ListTopics(ctx, internal...)
		ready := err == nil
		for _, name := range internal {
			d, ok := details[name]
			if !ok || d.Err != nil {
				ready = false
				continue
			}
			if got := int32(len(d.Partitions)); got != n {
				return 0, fmt.Errorf("recon: internal topic %s has %d partitions, %s has %d",
					name, got, p.cfg.Transfers, n)
			}
		}
		if ready {
			return n, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("recon: internal topics not visible 30s after creation: %v", err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func errorsIsTopicExists(err error) bool { return errors.Is(err, kerr.TopicAlreadyExists) }
