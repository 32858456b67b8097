package totals

import (
	"context"
	"fmt"

	"github.com/weirhq/weir/processors/stream"
)

// Processor runs the totals processor on the stream runtime: one member of its consumer
// group. It is a weir component (Name, Run, Describe).
type Processor struct {
	cfg  Config
	topo stream.Topology
	rt   *stream.Runtime
}

// New builds the processor for the given brokers. opts configure the runtime (state
// directory, instance id, metrics registry, logger…). It does no I/O.
func New(cfg Config, brokers []string, opts ...stream.Option) (*Processor, error) {
	cfg = cfg.withDefaults()
	topo, err := Topology(cfg)
	if err != nil {
		return nil, fmt.Errorf("totals: %w", err)
	}
	rt, err := stream.New(topo, brokers, opts...)
	if err != nil {
		return nil, fmt.Errorf("totals: %w", err)
	}
	return &Processor{cfg: cfg, topo: topo, rt: rt}, nil
}

// Name returns the processor's app name.
func (p *Processor) Name() string { return p.cfg.App }

// Run processes postings until ctx is cancelled; see stream.Runtime.Run.
func (p *Processor) Run(ctx context.Context) error { return p.rt.Run(ctx) }

// Describe says what the processor reads, writes and keeps.
func (p *Processor) Describe() string {
	return fmt.Sprintf("reads %s, writes %s; state %q (%v windows, %v grace), DLQ %s",
		p.cfg.Input, p.cfg.Output, windowsStore, p.cfg.Window.Size(), p.cfg.Window.Grace(),
		stream.DLQTopic(p.cfg.Input))
}
