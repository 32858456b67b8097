package sinkbench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	es8 "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/weirhq/weir/schemas/catalog"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks/elasticsearch"
)

// elasticsearch indexes the records under a fresh prefix through the sink, then the
// same documents under another with a plain bulk indexer, and deletes both.
func (b *bench) elasticsearch(ctx context.Context) (sink, raw time.Duration, err error) {
	es, err := es8.NewClient(es8.Config{Addresses: []string{b.o.ElasticsearchURL}})
	if err != nil {
		return 0, 0, err
	}
	b.quietES = func(ctx context.Context) (bool, error) { return esMergesIdle(ctx, es) }
	defer func() { b.quietES = nil }()
	sinkPrefix, rawPrefix := b.id+"-sink-", b.id+"-raw-"
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, p := range []string{sinkPrefix, rawPrefix} {
			_ = esCleanup(cctx, es, p)
		}
	}()
	var topics []catalog.Topic
	for _, t := range catalog.All() {
		if t.Name == Topic {
			topics = append(topics, t)
		}
	}
	timing := &timedTransport{rt: http.DefaultTransport, took: map[string]time.Duration{}, count: map[string]int{}}
	open := func(prefix string) (*elasticsearch.Writer, error) {
		w, err := elasticsearch.Open(ctx, elasticsearch.Options{URL: b.o.ElasticsearchURL, IndexPrefix: prefix, Topics: topics, Transport: timing})
		if err != nil {
			return nil, err
		}
		if err := w.EnsureTemplates(ctx); err != nil {
			_ = w.Close(context.WithoutCancel(ctx))
			return nil, err
		}
		return w, nil
	}

	// The sink.
	w, err := open(sinkPrefix)
	if err != nil {
		return 0, 0, err
	}
	defer w.Close(context.WithoutCancel(ctx))
	if err := b.quiet(ctx); err != nil {
		return 0, 0, err
	}
	b.progress("elasticsearch sink: sinks.Run with the elasticsearch writer into %s%s-*, batches of up to %d", sinkPrefix, Topic, b.o.Batch)
	timing.reset()
	if err := phase(ctx, "elasticsearch-sink", func(ctx context.Context) error {
		sink, err = b.drain(ctx, w)
		return err
	}); err != nil {
		return 0, 0, err
	}
	b.progress("  elasticsearch sink: its requests: %s", timing.summary())
	if err := b.countDocs(ctx, es, sinkPrefix+Topic+"-*"); err != nil {
		return 0, 0, err
	}
	b.progress("  elasticsearch sink: %d documents in %v = %.0f docs/s", b.o.Records, sink.Round(time.Millisecond), b.rate(sink))

	// A plain bulk indexer, into indices made from the same templates.
	rw, err := open(rawPrefix)
	if err != nil {
		return 0, 0, err
	}
	defer rw.Close(context.WithoutCancel(ctx))
	events := b.generated()
	if err := b.quiet(ctx); err != nil {
		return 0, 0, err
	}
	b.progress("elasticsearch raw: esutil.BulkIndexer (default settings) of the same documents into %s%s-* (events from memory, no Kafka)", rawPrefix, Topic)
	if err := phase(ctx, "elasticsearch-raw", func(ctx context.Context) error {
		raw, err = b.rawElasticsearch(ctx, es, rw, events)
		return err
	}); err != nil {
		return 0, 0, err
	}
	if err := b.countDocs(ctx, es, rawPrefix+Topic+"-*"); err != nil {
		return 0, 0, err
	}
	b.progress("  elasticsearch raw: %d documents in %v = %.0f docs/s", b.o.Records, raw.Round(time.Millisecond), b.rate(raw))
	if b.o.Compare {
		n, err := b.sameDocs(ctx, es, w, rw, events)
		if err != nil {
			return 0, 0, err
		}
		b.progress("  elasticsearch: %d sampled documents of both paths are equal", n)
	}
	return sink, raw, nil
}

// sameDocs checks that 200 documents spread over the run have equal _source in the
// indices of both paths, and returns how many it compared.
func (b *bench) sameDocs(ctx context.Context, es *es8.Client, sink, raw *elasticsearch.Writer, events []*chainv1.Transfer) (int, error) {
	step := max(1, len(events)/200)
	n := 0
	for i := 0; i < len(events); i += step {
		t := events[i]
		var sources [2]any
		for j, w := range []*elasticsearch.Writer{sink, raw} {
			path := "/" + url.PathEscape(w.IndexName(Topic, t.GetMeta().GetEventTime().AsTime())) + "/_source/" + url.PathEscape(t.GetMeta().GetEventId())
			body, err := esDo(ctx, es, http.MethodGet, path)
			if err != nil {
				return n, fmt.Errorf("compare documents: %w", err)
			}
			if err := json.Unmarshal(body, &sources[j]); err != nil {
				return n, fmt.Errorf("compare documents: %w", err)
			}
		}
		if !reflect.DeepEqual(sources[0], sources[1]) {
			return n, fmt.Errorf("document %s differs: sink %v, raw %v", t.GetMeta().GetEventId(), sources[0], sources[1])
		}
		n++
	}
	return n, nil
}

// rawElasticsearch indexes the documents of events with one bulk indexer of default
// settings and returns the time from the first document built to the indexer closed
// (every item acknowledged). names gives the index of each document.
func (b *bench) rawElasticsearch(ctx context.Context, es *es8.Client, names *elasticsearch.Writer, events []*chainv1.Transfer) (time.Duration, error) {
	var (
		mu     sync.Mutex
		failed int
		first  string
	)
	onFailure := func(_ context.Context, item esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		if first == "" {
			if err != nil {
				first = fmt.Sprintf("%s: %v", item.DocumentID, err)
			} else {
				first = fmt.Sprintf("%s: %d %s: %s", item.DocumentID, res.Status, res.Error.Type, res.Error.Reason)
			}
		}
	}
	start := time.Now()
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es})
	if err != nil {
		return 0, err
	}
	lastReport := start
	for i, t := range events {
		body, err := document(t, b.pos[i])
		if err != nil {
			_ = bi.Close(context.WithoutCancel(ctx))
			return 0, fmt.Errorf("document %d: %w", i, err)
		}
		err = bi.Add(ctx, esutil.BulkIndexerItem{
			Action:     "index",
			Index:      names.IndexName(Topic, t.GetMeta().GetEventTime().AsTime()),
			DocumentID: t.GetMeta().GetEventId(),
			Body:       bytes.NewReader(body),
			OnFailure:  onFailure,
		})
		if err != nil {
			_ = bi.Close(context.WithoutCancel(ctx))
			return 0, err
		}
		if i%1000 == 0 {
			if now := time.Now(); now.Sub(lastReport) >= progressEvery {
				lastReport = now
				n := bi.Stats().NumIndexed
				b.progress("  elasticsearch raw: %d/%d indexed (%.0f docs/s)", n, len(events), float64(n)/now.Sub(start).Seconds())
			}
		}
	}
	if err := bi.Close(ctx); err != nil {
		return 0, err
	}
	took := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if failed > 0 {
		return 0, fmt.Errorf("%d documents failed, the first %s", failed, first)
	}
	if n := bi.Stats().NumIndexed; n != uint64(len(events)) {
		return 0, fmt.Errorf("%d of %d documents indexed", n, len(events))
	}
	return took, nil
}

// document is the body the sink writes for a record: the event's fields
// (elasticsearch.EventFields) plus the writer's own.
func document(t *chainv1.Transfer, pos position) ([]byte, error) {
	doc, err := elasticsearch.EventFields(t.ProtoReflect())
	if err != nil {
		return nil, err
	}
	doc["topic"] = Topic
	doc["partition"] = pos.partition
	doc["offset"] = pos.offset
	doc["event_type"] = "weir.chain.v1.Transfer"
	doc["retracted"] = false
	return json.Marshal(doc)
}

// countDocs refreshes the indices of pattern and checks that they hold exactly
// Options.Records documents.
func (b *bench) countDocs(ctx context.Context, es *es8.Client, pattern string) error {
	q := "?allow_no_indices=true"
	if _, err := esDo(ctx, es, http.MethodPost, "/"+pattern+"/_refresh"+q); err != nil {
		return err
	}
	body, err := esDo(ctx, es, http.MethodGet, "/"+pattern+"/_count"+q)
	if err != nil {
		return err
	}
	var res struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("count %s: %w", pattern, err)
	}
	if res.Count != b.o.Records {
		return fmt.Errorf("%s holds %d documents, want %d", pattern, res.Count, b.o.Records)
	}
	return nil
}

// esMergesIdle reports whether no node runs a segment merge.
func esMergesIdle(ctx context.Context, es *es8.Client) (bool, error) {
	body, err := esDo(ctx, es, http.MethodGet, "/_nodes/stats/indices/merge?filter_path=nodes.*.indices.merges.current")
	if err != nil {
		return false, err
	}
	var res struct {
		Nodes map[string]struct {
			Indices struct {
				Merges struct {
					Current int `json:"current"`
				} `json:"merges"`
			} `json:"indices"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return false, fmt.Errorf("merge stats: %w", err)
	}
	for _, n := range res.Nodes {
		if n.Indices.Merges.Current > 0 {
			return false, nil
		}
	}
	return true, nil
}

// esCleanup deletes the indices and index templates of prefix, by name (the server
// refuses wildcard deletes).
func esCleanup(ctx context.Context, es *es8.Client, prefix string) error {
	var errs []error
	body, err := esDo(ctx, es, http.MethodGet, "/_cat/indices/"+url.PathEscape(prefix+"*")+"?format=json&h=index&expand_wildcards=all")
	if err != nil {
		errs = append(errs, err)
	} else {
		var idx []struct {
			Index string `json:"index"`
		}
		if err := json.Unmarshal(body, &idx); err != nil {
			errs = append(errs, err)
		}
		names := make([]string, len(idx))
		for i, x := range idx {
			names[i] = x.Index
		}
		if len(names) > 0 {
			if _, err := esDo(ctx, es, http.MethodDelete, "/"+strings.Join(names, ",")); err != nil {
				errs = append(errs, err)
			}
		}
	}
	body, err = esDo(ctx, es, http.MethodGet, "/_index_template/"+url.PathEscape(prefix+"*"))
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	var tm struct {
		IndexTemplates []struct {
			Name string `json:"name"`
		} `json:"index_templates"`
	}
	if err := json.Unmarshal(body, &tm); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, x := range tm.IndexTemplates {
		if _, err := esDo(ctx, es, http.MethodDelete, "/_index_template/"+url.PathEscape(x.Name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// esDo sends a request without a body and returns the body of a 2xx answer.
func esDo(ctx context.Context, es *es8.Client, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	res, err := es.Perform(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: status %d: %s", method, path, res.StatusCode, body[:min(len(body), 300)])
	}
	return body, nil
}

// timedTransport adds up the time of the requests it carries by endpoint (the path's
// last segment starting with '_', e.g. _bulk, _mget): where a writer waits. Safe for
// concurrent use.
type timedTransport struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	took  map[string]time.Duration
	count map[string]int
}

func (t *timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.rt.RoundTrip(r)
	if err == nil {
		// The answer is read after RoundTrip returns; count its reading too.
		res.Body = &timedBody{ReadCloser: res.Body, done: func() { t.add(r.URL.Path, time.Since(start)) }}
	}
	return res, err
}

func (t *timedTransport) add(path string, d time.Duration) {
	endpoint := "other"
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "_") {
			endpoint = seg
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.took[endpoint] += d
	t.count[endpoint]++
}

func (t *timedTransport) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.took)
	clear(t.count)
}

// summary lists the endpoints by time: "_bulk 200 requests 150.2s, …" (requests in
// flight at once add up: the sum can exceed the wall time).
func (t *timedTransport) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, 0, len(t.took))
	for n := range t.took {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(t.took[b], t.took[a]) })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d requests %.1fs", n, t.count[n], t.took[n].Seconds())
	}
	return strings.Join(parts, ", ")
}

type timedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *timedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
