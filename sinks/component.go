package sinks

import (
	"context"
	"fmt"
)

// Opener connects a Writer's store (and prepares it: schema migrations, templates). It
// returns the Writer and a func that closes it.
type Opener func(ctx context.Context) (Writer, func(), error)

// Component runs a sink as one of weir's components (`weir run`, `weir dev`): it opens
// its store when it starts (a store that cannot be reached then is an error, as a
// misconfiguration should be), then runs Run until stopped.
type Component struct {
	name string
	open Opener
	opts Options
}

// NewComponent returns the component called name that lands opts.Topics through the
// Writer open returns.
func NewComponent(name string, open Opener, opts Options) *Component {
	return &Component{name: name, open: open, opts: opts}
}

// Name returns the component name.
func (c *Component) Name() string { return c.name }

// Describe says what the sink reads.
func (c *Component) Describe() string {
	if len(c.opts.Topics) == 0 {
		return "reads every catalogue topic"
	}
	return fmt.Sprintf("reads %d topics", len(c.opts.Topics))
}

// Run opens the store and lands records until ctx is done.
func (c *Component) Run(ctx context.Context) error {
	w, closeWriter, err := c.open(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	defer closeWriter()
	return Run(ctx, w, c.opts)
}
