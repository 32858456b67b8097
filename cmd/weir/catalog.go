package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/weirhq/weir/schemas/catalog"
)

// catalogResult is what applying the topic catalogue did.
type catalogResult struct {
	// total is the number of topics in the catalogue (dead-letter topics not counted).
	total int
	// changes describes each change made, one line each; empty when none was needed.
	changes []string
	// notes describes differences Apply found and left alone (e.g. a topic with more
	// partitions than listed), one line each.
	notes []string
}

// applyCatalog applies the topic catalogue (schemas/catalog) through adm, idempotently:
// a second call makes no changes.
func applyCatalog(ctx context.Context, adm *kadm.Client) (catalogResult, error) {
	topics := catalog.All()
	changes, err := catalog.Apply(ctx, adm, topics)
	res := catalogResult{total: len(topics)}
	for _, c := range changes {
		if c.Action == catalog.ActionNote {
			res.notes = append(res.notes, c.String())
		} else {
			res.changes = append(res.changes, c.String())
		}
	}
	if err != nil {
		return res, fmt.Errorf("apply topic catalogue: %w", err)
	}
	return res, nil
}
