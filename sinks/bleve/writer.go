package bleve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks"
	"github.com/weirhq/weir/sinks/elasticsearch"
)

// chainPackage is the protobuf package of the events a Retraction can retract.
const chainPackage protoreflect.FullName = "weir.chain.v1"

// retractedPrefix starts the internal keys of retracted event ids; the value is the
// JSON of a retractedEntry.
const retractedPrefix = "weir/retracted/"

// Writer indexes records into an embedded Bleve index: a sinks.Writer with the
// documents of the Elasticsearch sink. Write, Ping, Search and Close are safe for
// concurrent use (Writes are serialized); Close must be the last call.
type Writer struct {
	opts   Options
	path   string
	idx    bleve.Index
	schema *node
	topics map[string]protoreflect.MessageDescriptor

	mu sync.Mutex // serializes Writes: a retraction's read-modify-write of documents
}

var _ sinks.Writer = (*Writer)(nil)

// Open opens the index in opts.Dir/index, or creates it (and Dir) when it does not
// exist, with the mapping made from the event types of opts.Topics (see indexMapping).
// An existing index made with another mapping (the schemas changed) is rebuilt from
// its stored documents first. It does not block beyond the disk work; ctx is checked
// before it starts.
func Open(ctx context.Context, opts Options) (*Writer, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	topics := make(map[string]protoreflect.MessageDescriptor, len(opts.Topics))
	mds := make([]protoreflect.MessageDescriptor, 0, len(opts.Topics))
	for _, t := range opts.Topics {
		ev, err := codec.New(t.Value)
		if err != nil {
			return nil, fmt.Errorf("bleve: topic %s: %w", t.Name, err)
		}
		md := ev.ProtoReflect().Descriptor()
		topics[t.Name] = md
		mds = append(mds, md)
	}
	schema, err := schemaOf(mds)
	if err != nil {
		return nil, fmt.Errorf("bleve: %w", err)
	}
	im, err := indexMapping(schema)
	if err != nil {
		return nil, fmt.Errorf("bleve: %w", err)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("bleve: %w", err)
	}
	path := filepath.Join(opts.Dir, "index")
	w := &Writer{opts: opts, path: path, schema: schema, topics: topics}
	idx, err := openIndex(path, im)
	if err != nil {
		return nil, err
	}
	w.idx = idx
	return w, nil
}

// openIndex opens the index at path or creates it with im.
func openIndex(path string, im *mapping.IndexMappingImpl) (bleve.Index, error) {
	idx, err := bleve.Open(path)
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		idx, err = bleve.New(path, im)
		if err != nil {
			return nil, fmt.Errorf("bleve: create index %s: %w", path, err)
		}
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bleve: open index %s: %w", path, err)
	}
	have, err1 := json.Marshal(idx.Mapping())
	want, err2 := json.Marshal(im)
	if err := errors.Join(err1, err2); err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("bleve: mapping: %w", err)
	}
	if !bytes.Equal(have, want) {
		_ = idx.Close()
		return nil, fmt.Errorf("bleve: index %s was made with another mapping (the event schemas changed); remove it to rebuild", path)
	}
	return idx, nil
}

// Name returns "bleve".
func (w *Writer) Name() string { return "bleve" }

// Ping reports whether the index is open and readable: it counts its documents.
func (w *Writer) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := w.idx.DocCount(); err != nil {
		return fmt.Errorf("bleve: %w", err)
	}
	return nil
}

// Close closes the index, waiting for its background persisting and merging to stop.
// The Writer must not be used afterwards.
func (w *Writer) Close() error {
	if err := w.idx.Close(); err != nil {
		return fmt.Errorf("bleve: close: %w", err)
	}
	return nil
}

// DocCount returns the number of documents in the index.
func (w *Writer) DocCount() (uint64, error) {
	n, err := w.idx.DocCount()
	if err != nil {
		return 0, fmt.Errorf("bleve: %w", err)
	}
	return n, nil
}

// blockRef is a weir.chain.v1.BlockRef in a document, as the Elasticsearch sink writes
// it.
type blockRef struct {
	Number string `json:"number"`
	Hash   string `json:"hash"`
}

func refOf(b *chainv1.BlockRef) *blockRef {
	if b == nil {
		return nil
	}
	return &blockRef{Number: strconv.FormatUint(b.GetNumber(), 10), Hash: b.GetHash()}
}

// mark is how a retracted event is marked.
type mark struct {
	RetractedBy     string    `json:"retracted_by"`
	ReplacedByBlock *blockRef `json:"replaced_by_block,omitempty"`
}

// retractedEntry is the value of the internal key of a retracted event id.
type retractedEntry struct {
	mark
	OrphanedBlock *blockRef `json:"orphaned_block,omitempty"`
	ChainID       string    `json:"chain_id"`
}

func applyMark(doc map[string]any, m mark) {
	doc[fieldRetracted] = true
	doc[fieldRetractedBy] = m.RetractedBy
	if m.ReplacedByBlock != nil {
		doc[fieldReplacedByBlock] = map[string]any{"number": m.ReplacedByBlock.Number, "hash": m.ReplacedByBlock.Hash}
	}
}

// pending is one document on its way to the index.
type pending struct {
	id    string
	chain bool
	doc   map[string]any
}

// Write indexes recs in one Bleve batch, one document per event under its
// Meta.event_id, so writing a record again replaces its document with an equal one:
// replays after a crash leave one document per event. It blocks until the batch is
// durable: Bleve's scorch index (unsafe_batch off, its default for an index on disk)
// returns from a batch only after the persister wrote the new segment (fsync) and
// committed and fsynced the bolt root that lists it, so a batch Write returned nil for
// survives a crash, and a batch it did not return for is either wholly there or wholly
// absent.
//
// A weir.chain.v1.Retraction is indexed like any event and, in the same batch, marks
// the documents of the events it lists (retracted: true, retracted_by,
// replaced_by_block) and remembers the retracted ids in internal keys, so a chain event
// written after its retraction (or replayed) is indexed already marked.
//
// The error wraps sinks.ErrPoison when a record cannot be turned into a document (no
// event id or time, the wrong type for its topic, a float with no JSON form); any other
// error is the index's, and Write may be called again with the same records.
func (w *Writer) Write(ctx context.Context, recs []sinks.Record) error {
	if len(recs) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	batch := make([]pending, 0, len(recs))
	inBatch := make(map[string]int, len(recs))
	marks := make(map[string]retractedEntry)
	for i := range recs {
		p, err := w.pendingOf(&recs[i])
		if err != nil {
			return fmt.Errorf("bleve: %w: %w", sinks.ErrPoison, err)
		}
		if j, dup := inBatch[p.id]; dup {
			batch[j] = p // the same event twice in one batch: one document
		} else {
			inBatch[p.id] = len(batch)
			batch = append(batch, p)
		}
		if r, ok := recs[i].Event.(*chainv1.Retraction); ok {
			e := retractedEntry{
				mark:          mark{RetractedBy: r.GetMeta().GetEventId(), ReplacedByBlock: refOf(r.GetReplacedBy())},
				OrphanedBlock: refOf(r.GetOrphanedBlock()),
				ChainID:       strconv.FormatUint(r.GetChainId(), 10),
			}
			for _, id := range r.GetRetractedEventIds() {
				marks[id] = e
			}
		}
	}

	adv, err := w.idx.Advanced()
	if err != nil {
		return fmt.Errorf("bleve: %w", err)
	}
	rd, err := adv.Reader()
	if err != nil {
		return fmt.Errorf("bleve: reader: %w", err)
	}
	defer func() { _ = rd.Close() }()

	b := w.idx.NewBatch()
	// Chain events retracted before (a replay, or a retraction read first) or by this
	// batch are indexed marked.
	for i := range batch {
		p := &batch[i]
		if !p.chain {
			continue
		}
		if e, ok := marks[p.id]; ok {
			applyMark(p.doc, e.mark)
			continue
		}
		v, err := rd.GetInternal([]byte(retractedPrefix + p.id))
		if err != nil {
			return fmt.Errorf("bleve: look up retracted id %s: %w", p.id, err)
		}
		if v != nil {
			var e retractedEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("bleve: retracted id %s: %w", p.id, err)
			}
			applyMark(p.doc, e.mark)
		}
	}
	// Events retracted by this batch that are already indexed are marked in place.
	ids := make([]string, 0, len(marks))
	for id, e := range marks {
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("bleve: %w", err)
		}
		b.SetInternal([]byte(retractedPrefix+id), v)
		if _, ok := inBatch[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		doc, err := storedDocument(rd, id)
		if err != nil {
			return err
		}
		if doc == nil {
			continue // not indexed yet: it is marked when it comes
		}
		applyMark(doc, marks[id].mark)
		batch = append(batch, pending{id: id, chain: true, doc: doc})
	}

	for _, p := range batch {
		src, err := json.Marshal(p.doc)
		if err != nil {
			return fmt.Errorf("bleve: %w: document %s: %w", sinks.ErrPoison, p.id, err)
		}
		view := w.schema.view(p.doc)
		view[fieldSource] = string(src)
		if err := b.Index(p.id, view); err != nil {
			return fmt.Errorf("bleve: %w: document %s: %w", sinks.ErrPoison, p.id, err)
		}
	}
	if err := w.idx.Batch(b); err != nil {
		return fmt.Errorf("bleve: batch: %w", err)
	}
	return nil
}

// storedDocument returns the document of id as stored in _source, decoded with numbers
// kept exact, or nil when there is none.
func storedDocument(rd index.IndexReader, id string) (map[string]any, error) {
	d, err := rd.Document(id)
	if err != nil {
		return nil, fmt.Errorf("bleve: document %s: %w", id, err)
	}
	if d == nil {
		return nil, nil
	}
	var src []byte
	d.VisitFields(func(f index.Field) {
		if f.Name() == fieldSource {
			src = f.Value()
		}
	})
	if src == nil {
		return nil, fmt.Errorf("bleve: document %s has no %s", id, fieldSource)
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("bleve: document %s: %w", id, err)
	}
	return doc, nil
}

// pendingOf turns a record into its document, the Elasticsearch sink's.
func (w *Writer) pendingOf(r *sinks.Record) (pending, error) {
	if r.Event == nil {
		return pending{}, fmt.Errorf("record %s/%d@%d has no event", r.Topic, r.Partition, r.Offset)
	}
	meta := r.Event.GetMeta()
	id := meta.GetEventId()
	if id == "" || meta.GetEventTime() == nil {
		return pending{}, fmt.Errorf("record %s/%d@%d has no event id or time", r.Topic, r.Partition, r.Offset)
	}
	m := r.Event.ProtoReflect()
	if want, ok := w.topics[r.Topic]; ok && want.FullName() != m.Descriptor().FullName() {
		return pending{}, fmt.Errorf("record %s/%d@%d holds a %s, topic %s holds %s", r.Topic, r.Partition, r.Offset, m.Descriptor().FullName(), r.Topic, want.FullName())
	}
	doc, err := elasticsearch.EventFields(m)
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
	return pending{id: id, chain: m.Descriptor().ParentFile().Package() == chainPackage, doc: doc}, nil
}

// view returns what Bleve indexes of doc: the fields the schema has, with numbers as
// float64 (64-bit integers are decimal strings in documents) and timestamps, keywords
// and text as strings. A number that does not parse is left out (ignore_malformed).
func (n *node) view(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		c, ok := n.children[k]
		if !ok {
			continue
		}
		if x, ok := c.value(v); ok {
			out[k] = x
		}
	}
	return out
}

func (n *node) value(v any) (any, bool) {
	if l, ok := v.([]any); ok {
		out := make([]any, 0, len(l))
		for _, e := range l {
			if x, ok := n.value(e); ok {
				out = append(out, x)
			}
		}
		return out, len(out) > 0
	}
	switch n.kind {
	case kindObject:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		return n.view(m), true
	case kindNumber:
		switch x := v.(type) {
		case string:
			f, err := strconv.ParseFloat(x, 64)
			return f, err == nil
		case json.Number:
			f, err := x.Float64()
			return f, err == nil
		case int32, int64, uint32, uint64, float64, float32, int:
			return x, true
		}
		return nil, false
	case kindBool:
		b, ok := v.(bool)
		return b, ok
	default:
		s, ok := v.(string)
		return s, ok
	}
}
