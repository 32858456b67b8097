package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks"
)

// chainPackage is the protobuf package of the events a Retraction can retract.
const chainPackage protoreflect.FullName = "weir.chain.v1"

// maxIDsPerRequest bounds the ids of one _mget or ids query.
const maxIDsPerRequest = 1000

// Writer indexes records into Elasticsearch: a sinks.Writer. Write and Ping are meant
// for one goroutine (the runner's); Search and EnsureTemplates are safe for concurrent
// use with them and with each other.
type Writer struct {
	opts   Options
	es     *elasticsearch.Client
	topics map[string]protoreflect.MessageDescriptor

	mu             sync.Mutex
	ready          map[string]bool // topics whose template this Writer made sure of
	retractedReady bool
}

var _ sinks.Writer = (*Writer)(nil)

// Open returns a Writer for the cluster at opts.URL, after checking that it answers
// (Ping). It blocks for at most as long as ctx allows. It does not create templates:
// EnsureTemplates does, and Write creates the ones that are missing.
func Open(ctx context.Context, opts Options) (*Writer, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	topics := make(map[string]protoreflect.MessageDescriptor, len(opts.Topics))
	for _, t := range opts.Topics {
		ev, err := codec.New(t.Value)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: topic %s: %w", t.Name, err)
		}
		if err := checkIndexName(opts.IndexPrefix + t.Name); err != nil {
			return nil, fmt.Errorf("elasticsearch: topic %s: %w", t.Name, err)
		}
		topics[t.Name] = ev.ProtoReflect().Descriptor()
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:     []string{opts.URL},
		Transport:     opts.Transport,
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    3,
		RetryBackoff:  func(attempt int) time.Duration { return time.Duration(attempt) * 100 * time.Millisecond },
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: client: %w", err)
	}
	w := &Writer{opts: opts, es: es, topics: topics, ready: make(map[string]bool)}
	if err := w.Ping(ctx); err != nil {
		_ = es.Close(ctx)
		return nil, err
	}
	return w, nil
}

// Name returns "elasticsearch".
func (w *Writer) Name() string { return "elasticsearch" }

// Ping asks for the cluster health and returns an error only when the cluster does not
// answer (a red cluster answers: writes to its healthy indices work, and Write reports
// the others).
func (w *Writer) Ping(ctx context.Context) error {
	_, err := w.do(ctx, http.MethodGet, "/_cluster/health", nil, nil)
	return err
}

// Close releases the client's connections. The Writer must not be used afterwards.
func (w *Writer) Close(ctx context.Context) error {
	if err := w.es.Close(ctx); err != nil {
		return fmt.Errorf("elasticsearch: close: %w", err)
	}
	return nil
}

// Names derived from the prefix.

func (w *Writer) familyAlias(topic string) string { return w.opts.IndexPrefix + topic }
func (w *Writer) eventsAlias() string             { return w.opts.IndexPrefix + "events" }
func (w *Writer) retractedIndex() string          { return w.opts.IndexPrefix + "retracted" }
func (w *Writer) chainPattern() string            { return w.opts.IndexPrefix + "chain.*" }

// IndexName returns the index of an event of topic at time t: <prefix><topic>-YYYY.MM,
// the month in UTC.
func (w *Writer) IndexName(topic string, t time.Time) string {
	return fmt.Sprintf("%s%s-%s", w.opts.IndexPrefix, topic, t.UTC().Format("2006.01"))
}

// EnsureTemplates makes the cluster ready for every topic of Options.Topics: it puts
// (creates or replaces) the index template <prefix><topic> for indices
// <prefix><topic>-* with the topic's mapping and the aliases <prefix><topic> and
// <prefix>events, adds new fields to the mappings of the topic's existing indices, and
// creates the index <prefix>retracted. It is idempotent; it blocks until the cluster has
// acknowledged every change.
func (w *Writer) EnsureTemplates(ctx context.Context) error {
	for name, md := range w.topics {
		if err := w.ensureTemplate(ctx, name, md, true); err != nil {
			return err
		}
	}
	return w.ensureRetractedIndex(ctx)
}

// ensureTemplate puts the template of topic (replacing an existing one only when
// replace is set) and adds new fields to its existing indices.
func (w *Writer) ensureTemplate(ctx context.Context, topic string, md protoreflect.MessageDescriptor, replace bool) error {
	if err := checkIndexName(w.opts.IndexPrefix + topic); err != nil {
		return fmt.Errorf("elasticsearch: topic %s: %w", topic, err)
	}
	mapping, err := Mapping(md)
	if err != nil {
		return fmt.Errorf("elasticsearch: %w", err)
	}
	tmpl := map[string]any{
		"index_patterns": []string{w.opts.IndexPrefix + topic + "-*"},
		"priority":       200,
		"template": map[string]any{
			"settings": map[string]any{
				"number_of_shards":           1,
				"index.auto_expand_replicas": w.opts.AutoExpandReplicas,
			},
			"mappings": mapping,
			"aliases": map[string]any{
				w.familyAlias(topic): map[string]any{},
				w.eventsAlias():      map[string]any{},
			},
		},
		"_meta": map[string]any{"managed_by": "weir sinks/elasticsearch", "topic": topic, "message": string(md.FullName())},
	}
	q := url.Values{}
	if !replace {
		q.Set("create", "true")
	}
	_, err = w.do(ctx, http.MethodPut, "/_index_template/"+url.PathEscape(w.opts.IndexPrefix+topic), q, tmpl)
	var re *responseError
	if err != nil && !(errors.As(err, &re) && !replace && re.Status == 400 && strings.Contains(re.Reason, "already exists")) {
		return fmt.Errorf("elasticsearch: template of %s: %w", topic, err)
	}
	// Indices made from an older template lack fields added since; adding fields to a
	// mapping is always allowed (changing a field's type is not, and fails here).
	pm := url.Values{"allow_no_indices": {"true"}, "ignore_unavailable": {"true"}}
	if _, err := w.do(ctx, http.MethodPut, "/"+url.PathEscape(w.opts.IndexPrefix+topic+"-*")+"/_mapping", pm, mapping); err != nil {
		return fmt.Errorf("elasticsearch: mapping of the indices of %s: %w", topic, err)
	}
	return nil
}

// ensureRetractedIndex creates <prefix>retracted, the ids of retracted events, if it is
// missing.
func (w *Writer) ensureRetractedIndex(ctx context.Context) error {
	body := map[string]any{
		"settings": map[string]any{
			"number_of_shards":           1,
			"index.auto_expand_replicas": w.opts.AutoExpandReplicas,
		},
		"mappings": map[string]any{
			"dynamic": "strict",
			"properties": map[string]any{
				fieldRetractedBy:     keyword(),
				fieldReplacedByBlock: writerFields()[fieldReplacedByBlock],
				"orphaned_block":     writerFields()[fieldReplacedByBlock],
				"chain_id":           map[string]any{"type": "long", "ignore_malformed": true},
				"retraction_time":    map[string]any{"type": "date_nanos", "ignore_malformed": true},
			},
		},
	}
	_, err := w.do(ctx, http.MethodPut, "/"+url.PathEscape(w.retractedIndex()), nil, body)
	var re *responseError
	if err != nil && !(errors.As(err, &re) && re.Type == "resource_already_exists_exception") {
		return fmt.Errorf("elasticsearch: index %s: %w", w.retractedIndex(), err)
	}
	return nil
}

// ready makes sure the templates of topics and the retracted index exist, once per
// Writer.
func (w *Writer) prepare(ctx context.Context, recs []sinks.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range recs {
		if w.ready[r.Topic] {
			continue
		}
		// The catalogue's type, not the record's, makes a known topic's mapping: a
		// record of another type must not add its fields to the topic's indices.
		md, ok := w.topics[r.Topic]
		if !ok {
			md = r.Event.ProtoReflect().Descriptor()
		}
		if err := w.ensureTemplate(ctx, r.Topic, md, false); err != nil {
			return err
		}
		w.ready[r.Topic] = true
	}
	if !w.retractedReady {
		if err := w.ensureRetractedIndex(ctx); err != nil {
			return err
		}
		w.retractedReady = true
	}
	return nil
}

// blockRef is a weir.chain.v1.BlockRef in a document.
type blockRef struct {
	Number string `json:"number"`
	Hash   string `json:"hash"`
}

func refOf(b *chainv1.BlockRef) *blockRef {
	if b == nil {
		return nil
	}
	return &blockRef{Number: fmt.Sprint(b.GetNumber()), Hash: b.GetHash()}
}

// mark is how a retracted event is marked: the fields of its entry in the retracted
// index and of the partial update of its document.
type mark struct {
	RetractedBy     string    `json:"retracted_by"`
	ReplacedByBlock *blockRef `json:"replaced_by_block,omitempty"`
}

// retractedEntry is a document of the retracted index, _id = the retracted event id.
type retractedEntry struct {
	mark
	OrphanedBlock  *blockRef `json:"orphaned_block,omitempty"`
	ChainID        string    `json:"chain_id"`
	RetractionTime string    `json:"retraction_time,omitempty"`
}

// pending is one record on its way to the index.
type pending struct {
	index, id string
	chain     bool
	doc       map[string]any
}

// Write indexes recs, one document per event (_id = Meta.event_id, so writing a record
// again replaces its document with an equal one), and blocks until Elasticsearch has
// acknowledged every operation. Retractions (chain.retractions records) are indexed too,
// and mark the documents of the events they list (see the package documentation for the
// steps and the ordering they rely on).
//
// The error wraps sinks.ErrPoison when the only failures are documents refused for
// their content (HTTP 400, e.g. a value the mapping cannot hold) or records that cannot
// be turned into documents; any other failure (connection, 429, 5xx, a missing index)
// is a plain error, and Write may be called again with the same records.
func (w *Writer) Write(ctx context.Context, recs []sinks.Record) error {
	if len(recs) == 0 {
		return nil
	}
	batch := make([]pending, 0, len(recs))
	marks := make(map[string]retractedEntry) // retracted ids of the batch's retractions
	for i := range recs {
		p, err := w.pendingOf(&recs[i])
		if err != nil {
			return fmt.Errorf("elasticsearch: %w: %w", sinks.ErrPoison, err)
		}
		batch = append(batch, p)
		if r, ok := recs[i].Event.(*chainv1.Retraction); ok {
			e := retractedEntry{
				mark:          mark{RetractedBy: r.GetMeta().GetEventId(), ReplacedByBlock: refOf(r.GetReplacedBy())},
				OrphanedBlock: refOf(r.GetOrphanedBlock()),
				ChainID:       fmt.Sprint(r.GetChainId()),
			}
			if t := r.GetMeta().GetEventTime(); t != nil {
				e.RetractionTime = t.AsTime().UTC().Format(time.RFC3339Nano)
			}
			for _, id := range r.GetRetractedEventIds() {
				marks[id] = e
			}
		}
	}
	if err := w.prepare(ctx, recs); err != nil {
		return err
	}

	// 1. Remember every retracted id first, so that an event indexed from now on is
	// indexed retracted, whatever order the sinks read the topics in.
	if len(marks) > 0 {
		ops := make([]bulkOp, 0, len(marks))
		for id, e := range marks {
			body, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("elasticsearch: %w", err)
			}
			ops = append(ops, bulkOp{action: "index", index: w.retractedIndex(), id: id, body: body})
		}
		if err := w.bulk(ctx, ops); err != nil {
			return fmt.Errorf("elasticsearch: record retracted ids: %w", err)
		}
	}

	// 2. Index the chain events already retracted as retracted (a replay, or a
	// retraction read before the event).
	var chainIDs []string
	for _, p := range batch {
		if p.chain {
			chainIDs = append(chainIDs, p.id)
		}
	}
	known, err := w.retracted(ctx, chainIDs)
	if err != nil {
		return err
	}
	ops := make([]bulkOp, 0, len(batch))
	for _, p := range batch {
		if m, ok := known[p.id]; ok {
			applyMark(p.doc, m)
		}
		body, err := json.Marshal(p.doc)
		if err != nil {
			return fmt.Errorf("elasticsearch: %w: document %s: %w", sinks.ErrPoison, p.id, err)
		}
		ops = append(ops, bulkOp{action: "index", index: p.index, id: p.id, body: body})
	}
	if err := w.bulk(ctx, ops); err != nil {
		return err
	}

	// 3. Mark what was retracted meanwhile, and what the batch's retractions retract.
	updates := make(map[[2]string]mark)
	if len(chainIDs) > 0 {
		var unmarked []string
		index := make(map[string]string)
		for _, p := range batch {
			if _, ok := known[p.id]; p.chain && !ok {
				unmarked = append(unmarked, p.id)
				index[p.id] = p.index
			}
		}
		late, err := w.retracted(ctx, unmarked)
		if err != nil {
			return err
		}
		for id, m := range late {
			updates[[2]string{index[id], id}] = m
		}
	}
	if len(marks) > 0 {
		ids := make([]string, 0, len(marks))
		for id := range marks {
			ids = append(ids, id)
		}
		found, err := w.locate(ctx, ids)
		if err != nil {
			return err
		}
		for _, f := range found {
			updates[f] = marks[f[1]].mark
		}
	}
	if len(updates) > 0 {
		ops := make([]bulkOp, 0, len(updates))
		for k, m := range updates {
			body, err := json.Marshal(map[string]any{"doc": markFields(m)})
			if err != nil {
				return fmt.Errorf("elasticsearch: %w", err)
			}
			ops = append(ops, bulkOp{action: "update", index: k[0], id: k[1], body: body, ignoreMissing: true})
		}
		if err := w.bulk(ctx, ops); err != nil {
			return fmt.Errorf("elasticsearch: mark retracted events: %w", err)
		}
	}
	return nil
}

// pendingOf turns a record into its document.
func (w *Writer) pendingOf(r *sinks.Record) (pending, error) {
	if r.Event == nil {
		return pending{}, fmt.Errorf("record %s/%d@%d has no event", r.Topic, r.Partition, r.Offset)
	}
	meta := r.Event.GetMeta()
	id := meta.GetEventId()
	if id == "" || meta.GetEventTime() == nil {
		return pending{}, fmt.Errorf("record %s/%d@%d has no event id or time", r.Topic, r.Partition, r.Offset)
	}
	index := w.IndexName(r.Topic, meta.GetEventTime().AsTime())
	if err := checkIndexName(index); err != nil {
		return pending{}, fmt.Errorf("topic %s: %w", r.Topic, err)
	}
	m := r.Event.ProtoReflect()
	if want, ok := w.topics[r.Topic]; ok && want.FullName() != m.Descriptor().FullName() {
		return pending{}, fmt.Errorf("record %s/%d@%d holds a %s, topic %s holds %s", r.Topic, r.Partition, r.Offset, m.Descriptor().FullName(), r.Topic, want.FullName())
	}
	doc, err := EventFields(m)
	if err != nil {
		return pending{}, fmt.Errorf("event %s: %w", id, err)
	}
	eventType := r.Type
	if eventType == "" {
		eventType = string(m.Descriptor().FullName())
	}
	doc[fieldTopic] = r.Topic
	doc[fieldPartition] = r.Partition
	doc[fieldOffset] = r.Offset
	doc[fieldEventType] = eventType
	doc[fieldRetracted] = false
	return pending{index: index, id: id, chain: m.Descriptor().ParentFile().Package() == chainPackage, doc: doc}, nil
}

func markFields(m mark) map[string]any {
	f := map[string]any{fieldRetracted: true, fieldRetractedBy: m.RetractedBy}
	if m.ReplacedByBlock != nil {
		f[fieldReplacedByBlock] = m.ReplacedByBlock
	}
	return f
}

func applyMark(doc map[string]any, m mark) {
	for k, v := range markFields(m) {
		doc[k] = v
	}
}

// retracted returns the entries of the retracted index for ids, with _mget, which is
// real-time (it sees entries written a moment ago, unlike a search).
func (w *Writer) retracted(ctx context.Context, ids []string) (map[string]mark, error) {
	out := make(map[string]mark)
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxIDsPerRequest)]
		ids = ids[len(chunk):]
		var res struct {
			Docs []struct {
				ID     string          `json:"_id"`
				Found  bool            `json:"found"`
				Source json.RawMessage `json:"_source"`
				Error  json.RawMessage `json:"error"`
			} `json:"docs"`
		}
		b, err := w.do(ctx, http.MethodPost, "/"+url.PathEscape(w.retractedIndex())+"/_mget", nil, map[string]any{"ids": chunk})
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: look up retracted ids: %w", err)
		}
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, fmt.Errorf("elasticsearch: look up retracted ids: %w", err)
		}
		for _, d := range res.Docs {
			if len(d.Error) > 0 {
				return nil, fmt.Errorf("elasticsearch: look up retracted id %s: %s", d.ID, d.Error)
			}
			if !d.Found {
				continue
			}
			var m mark
			if err := json.Unmarshal(d.Source, &m); err != nil {
				return nil, fmt.Errorf("elasticsearch: retracted id %s: %w", d.ID, err)
			}
			out[d.ID] = m
		}
	}
	return out, nil
}

// locate returns the (index, id) of the documents of ids among the chain indices. It
// refreshes them first: an ids query is a search, which sees only refreshed documents.
func (w *Writer) locate(ctx context.Context, ids []string) ([][2]string, error) {
	q := url.Values{"allow_no_indices": {"true"}, "ignore_unavailable": {"true"}}
	path := "/" + url.PathEscape(w.chainPattern())
	if _, err := w.do(ctx, http.MethodPost, path+"/_refresh", q, nil); err != nil {
		return nil, fmt.Errorf("elasticsearch: refresh chain indices: %w", err)
	}
	var out [][2]string
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxIDsPerRequest)]
		ids = ids[len(chunk):]
		body := map[string]any{
			"size":             min(10000, 2*len(chunk)),
			"_source":          false,
			"track_total_hits": false,
			"query":            map[string]any{"ids": map[string]any{"values": chunk}},
		}
		b, err := w.do(ctx, http.MethodPost, path+"/_search", q, body)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: find retracted events: %w", err)
		}
		var res struct {
			Hits struct {
				Hits []struct {
					Index string `json:"_index"`
					ID    string `json:"_id"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, fmt.Errorf("elasticsearch: find retracted events: %w", err)
		}
		for _, h := range res.Hits.Hits {
			out = append(out, [2]string{h.Index, h.ID})
		}
	}
	return out, nil
}

// bulkOp is one operation of a bulk request.
type bulkOp struct {
	action    string // "index" or "update"
	index, id string
	body      []byte
	// ignoreMissing accepts a 404 (an update of a document deleted meanwhile).
	ignoreMissing bool
}

// maxReported bounds the item errors quoted in an error.
const maxReported = 3

// bulk runs ops with the bulk indexer and waits until every one is acknowledged. The
// error wraps sinks.ErrPoison when every failure is a 400 (the document's content).
func (w *Writer) bulk(ctx context.Context, ops []bulkOp) error {
	var (
		mu                sync.Mutex
		acked             int
		poison, transient []string
	)
	fail := func(list *[]string, msg string) {
		mu.Lock()
		defer mu.Unlock()
		*list = append(*list, msg)
	}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        w.es,
		NumWorkers:    w.opts.Workers,
		FlushBytes:    w.opts.FlushBytes,
		FlushInterval: time.Minute, // Close flushes; this only bounds a stuck Add
	})
	if err != nil {
		return fmt.Errorf("bulk indexer: %w", err)
	}
	retries := 3
	for _, op := range ops {
		item := esutil.BulkIndexerItem{
			Action:     op.action,
			Index:      op.index,
			DocumentID: op.id,
			Body:       bytes.NewReader(op.body),
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
				mu.Lock()
				acked++
				mu.Unlock()
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				switch {
				case err != nil:
					fail(&transient, fmt.Sprintf("%s %s/%s: %v", op.action, op.index, op.id, err))
				case res.Status == http.StatusNotFound && op.ignoreMissing:
					mu.Lock()
					acked++
					mu.Unlock()
				case res.Status == http.StatusBadRequest:
					fail(&poison, fmt.Sprintf("%s %s/%s: %d %s: %s", op.action, op.index, op.id, res.Status, res.Error.Type, res.Error.Reason))
				default:
					fail(&transient, fmt.Sprintf("%s %s/%s: %d %s: %s", op.action, op.index, op.id, res.Status, res.Error.Type, res.Error.Reason))
				}
			},
		}
		if op.action == "update" {
			item.RetryOnConflict = &retries
		}
		if err := bi.Add(ctx, item); err != nil {
			_ = bi.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("bulk: %w", err)
		}
	}
	if err := bi.Close(ctx); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case len(transient) > 0:
		return fmt.Errorf("bulk: %d of %d operations failed: %s", len(transient)+len(poison), len(ops), summary(append(transient, poison...)))
	case len(poison) > 0:
		return fmt.Errorf("bulk: %w: %d of %d documents refused: %s", sinks.ErrPoison, len(poison), len(ops), summary(poison))
	case acked != len(ops):
		return fmt.Errorf("bulk: %d of %d operations acknowledged", acked, len(ops))
	}
	return nil
}

func summary(errs []string) string {
	if len(errs) > maxReported {
		return strings.Join(errs[:maxReported], "; ") + fmt.Sprintf("; and %d more", len(errs)-maxReported)
	}
	return strings.Join(errs, "; ")
}

// responseError is an error answer of Elasticsearch.
type responseError struct {
	Status int
	Type   string
	Reason string
}

func (e *responseError) Error() string {
	return fmt.Sprintf("status %d: %s: %s", e.Status, e.Type, e.Reason)
}

// do sends one request with a JSON body (nil for none) and returns the body of a 2xx
// answer, or an error: a *responseError for an error answer.
func (w *Writer) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := w.es.Perform(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		re := &responseError{Status: res.StatusCode}
		var e struct {
			Error struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil {
			re.Type, re.Reason = e.Error.Type, e.Error.Reason
		}
		if re.Type == "" {
			re.Reason = string(b[:min(len(b), 300)])
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, re)
	}
	return b, nil
}
