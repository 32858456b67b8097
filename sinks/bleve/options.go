package bleve

import (
	"errors"

	"github.com/weirhq/weir/schemas/catalog"
)

// Options configures a Writer. Dir is required; every other field has a default.
type Options struct {
	// Dir is the data directory; the index lives in Dir/index, created on the first
	// Open. Required.
	Dir string
	// Topics lists the topics whose event types make the index mapping (the union of
	// their Elasticsearch mappings). Default catalog.All(). A record of a topic not
	// listed is stored, but only its fields that the mapping has are searchable.
	Topics []catalog.Topic
}

func (o *Options) setDefaults() {
	if o.Topics == nil {
		o.Topics = catalog.All()
	}
}

// Validate checks o after defaults are applied: Dir is set.
func (o Options) Validate() error {
	if o.Dir == "" {
		return errors.New("bleve: Options.Dir is required")
	}
	return nil
}
