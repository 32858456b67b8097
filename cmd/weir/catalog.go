package main

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
)

// catalogResult is what applying the topic catalogue did.
type catalogResult struct {
	// total is the number of topics in the catalogue.
	total int
	// changes describes each change made, one line each; empty when none was needed.
	changes []string
}

// applyCatalog applies the topic catalogue through adm, idempotently.
//
// TODO: wire schemas/catalog (catalog.All, catalog.Apply) once it lands; until then the
// catalogue is empty.
func applyCatalog(ctx context.Context, adm *kadm.Client, dryRun bool) (catalogResult, error) {
	_, _, _ = ctx, adm, dryRun
	return catalogResult{}, nil
}
