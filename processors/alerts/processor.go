package alerts

import (
	"context"
	"fmt"

	"github.com/weirhq/weir/processors/stream"
)

// Processor runs the alerts processor on the stream runtime: one member of its consumer
// group. It is a weir component (Name, Run, Describe).
type Processor struct {
	cfg Config
	rt  *stream.Runtime
}

// New builds the processor for the given brokers. opts configure the runtime (state
// directory, instance id, metrics registry, logger…). It does no I/O.
func New(cfg Config, brokers []string, opts ...stream.Option) (*Processor, error) {
	cfg = cfg.withDefaults()
	topo, err := Topology(cfg)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	rt, err := stream.New(topo, brokers, opts...)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return &Processor{cfg: cfg, rt: rt}, nil
}

// Name returns the component name, "alerts" (the `weir run` argument and state
// directory); the consumer group is Config.App.
func (p *Processor) Name() string { return DefaultComponent }

// Run processes scores until ctx is cancelled; see stream.Runtime.Run. It blocks.
func (p *Processor) Run(ctx context.Context) error { return p.rt.Run(ctx) }

// Describe says what the processor reads, writes and keeps.
func (p *Processor) Describe() string {
	return fmt.Sprintf("reads %s, writes %s; group %s, state %q and %q, suppression %v, DLQ %s",
		p.cfg.Input, p.cfg.Output, p.cfg.App, openStore, seenStore, p.cfg.SuppressionWindow,
		stream.DLQTopic(p.cfg.Input))
}
