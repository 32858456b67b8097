package elasticsearch

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/weirhq/weir/schemas/catalog"
)

// Defaults of Options.
const (
	DefaultURL                = "http://127.0.0.1:9200"
	DefaultIndexPrefix        = "weir-"
	DefaultFlushBytes         = 5 << 20
	DefaultWorkers            = 2
	DefaultAutoExpandReplicas = "0-1"
)

// Options configures a Writer. The zero value is usable: every field has a default.
type Options struct {
	// URL is the base URL of Elasticsearch. Default DefaultURL
	// ("http://127.0.0.1:9200").
	URL string
	// IndexPrefix starts the name of every index, alias and template the writer
	// manages: indices <prefix><topic>-YYYY.MM, family aliases <prefix><topic>, the alias
	// of all events <prefix>events, the index of retracted ids <prefix>retracted.
	// Default DefaultIndexPrefix ("weir-"). Lowercase; tests use a unique one.
	IndexPrefix string
	// FlushBytes is the size at which the bulk indexer sends a request; a Write sends
	// its records in requests of about this size. Default DefaultFlushBytes (5 MiB).
	FlushBytes int
	// Workers is the number of bulk requests a Write has in flight at once. Default
	// DefaultWorkers (2).
	Workers int
	// Topics lists the topics whose index templates EnsureTemplates manages (a template
	// per topic, with the mapping of its Value type). Default catalog.All(). A record of
	// a topic not listed still gets a template, made from its event's descriptor the
	// first time Write sees the topic.
	Topics []catalog.Topic
	// AutoExpandReplicas is the index.auto_expand_replicas setting of new indices.
	// Default DefaultAutoExpandReplicas ("0-1": no replica on a single node, one as soon
	// as a second node joins).
	AutoExpandReplicas string
	// Transport is the HTTP transport of the client. Default http.DefaultTransport.
	Transport http.RoundTripper
}

func (o *Options) setDefaults() {
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if o.IndexPrefix == "" {
		o.IndexPrefix = DefaultIndexPrefix
	}
	if o.FlushBytes == 0 {
		o.FlushBytes = DefaultFlushBytes
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	if o.Topics == nil {
		o.Topics = catalog.All()
	}
	if o.AutoExpandReplicas == "" {
		o.AutoExpandReplicas = DefaultAutoExpandReplicas
	}
}

// Validate checks o after defaults are applied: a parsable http(s) URL, a prefix that
// is a legal start of an index name, positive FlushBytes and Workers.
func (o Options) Validate() error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("elasticsearch: URL %q is not an http(s) URL", o.URL)
	}
	if err := checkIndexName(o.IndexPrefix + "x"); err != nil {
		return fmt.Errorf("elasticsearch: IndexPrefix %q: %w", o.IndexPrefix, err)
	}
	if o.FlushBytes < 1 {
		return fmt.Errorf("elasticsearch: FlushBytes %d, want at least 1", o.FlushBytes)
	}
	if o.Workers < 1 {
		return fmt.Errorf("elasticsearch: Workers %d, want at least 1", o.Workers)
	}
	return nil
}

// checkIndexName applies Elasticsearch's rules for index names.
func checkIndexName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return errors.New("empty index name")
	case len(name) > 255:
		return errors.New("index name longer than 255 bytes")
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return fmt.Errorf("index name %q has a character Elasticsearch refuses", name)
	case strings.ToLower(name) != name:
		return fmt.Errorf("index name %q is not lowercase", name)
	case strings.IndexAny(name[:1], "-_+") == 0:
		return fmt.Errorf("index name %q starts with -, _ or +", name)
	}
	return nil
}
