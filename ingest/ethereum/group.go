package ethereum

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
)

// DefaultComponent is the name `weir run` and `weir dev` know the indexers by.
const DefaultComponent = "ingest-eth"

// Group runs the indexers of several chains as one component, each in its own
// goroutine, owned by Run.
type Group struct {
	name     string
	indexers []*Indexer
}

// NewGroup builds an indexer for each of cfgs; two with the same id (Config.ID) are an
// error, as they would fight over one position.
func NewGroup(name string, cfgs []Config) (*Group, error) {
	if len(cfgs) == 0 {
		return nil, fmt.Errorf("%s: no chain to index", name)
	}
	g := &Group{name: name}
	seen := map[string]bool{}
	for _, c := range cfgs {
		if seen[c.ID()] {
			return nil, fmt.Errorf("%s: two indexers with id %s; name them apart", name, c.ID())
		}
		seen[c.ID()] = true
		ix, err := New(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.ID(), err)
		}
		g.indexers = append(g.indexers, ix)
	}
	return g, nil
}

// Name returns the component name.
func (g *Group) Name() string { return g.name }

// Describe says which chains are indexed from where, into which topics.
func (g *Group) Describe() string {
	var chains []string
	for _, ix := range g.indexers {
		chains = append(chains, fmt.Sprintf("chain %d from %s", ix.cfg.ChainID, ix.cfg.RPCURL))
	}
	t := g.indexers[0].cfg.Topics
	return fmt.Sprintf("indexes %s; writes %s, %s, %s, %s, %s, %s, %s, %s",
		strings.Join(chains, ", "), t.Blocks, t.Transactions, t.Receipts, t.Logs, t.Transfers, t.Approvals,
		t.Retractions, t.Finality)
}

// Run runs every indexer until ctx is done. The first indexer to fail stops the others
// and its error is returned: a chain that cannot be indexed is not left behind silently.
func (g *Group) Run(ctx context.Context) error {
	eg, ectx := errgroup.WithContext(ctx)
	for _, ix := range g.indexers {
		eg.Go(func() error {
			if err := ix.Run(ectx); err != nil {
				return fmt.Errorf("%s: %w", ix.Name(), err)
			}
			if ctx.Err() == nil && ix.cfg.StopBlock == 0 {
				return fmt.Errorf("%s: stopped", ix.Name())
			}
			return nil
		})
	}
	return eg.Wait()
}
