package bleve

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Search limits, the Elasticsearch sink's.
const (
	// DefaultSearchSize is the number of hits Search returns when SearchOptions.Size is 0.
	DefaultSearchSize = 10
	// MaxSearchSize bounds From+Size of one Search.
	MaxSearchSize = 10000
)

// SearchOptions narrows a Search. The zero value searches every event, newest first,
// and returns the first DefaultSearchSize hits.
type SearchOptions struct {
	// Topic restricts the search to the events of one topic (e.g. "payments.intents").
	// Default: every topic.
	Topic string
	// Size is the number of hits to return: default DefaultSearchSize (10), at most
	// MaxSearchSize.
	Size int
	// From skips that many hits, for paging. Default 0.
	From int
}

// Hit is one document found by Search, shaped like elasticsearch.Hit.
type Hit struct {
	// Index is the event's topic, e.g. "payments.intents": Bleve keeps every event in
	// one index, so the topic stands where Elasticsearch names the index.
	Index string
	// ID is the document id: the event's Meta.event_id.
	ID string
	// Source is the document as indexed (see elasticsearch.EventFields);
	// elasticsearch.DecodeEvent turns it back into the event.
	Source json.RawMessage
}

// Search runs query (see ParseQuery for the syntax: `merchant_id:m_123 AND
// state:failed`, default operator AND) over all events or one topic, newest
// meta.event_time first (then best score, then id), and returns the hits and the exact
// number of matching documents. An empty query matches every document. Retracted events
// are found too; add `AND retracted:false` to leave them out. It blocks for the search;
// it is safe for concurrent use with Write.
func (w *Writer) Search(ctx context.Context, q string, opts SearchOptions) ([]Hit, uint64, error) {
	size := opts.Size
	if size == 0 {
		size = DefaultSearchSize
	}
	if size < 0 || size > MaxSearchSize || opts.From < 0 || opts.From+size > MaxSearchSize {
		return nil, 0, fmt.Errorf("bleve: search window from %d size %d is outside 0..%d", opts.From, size, MaxSearchSize)
	}
	qq, err := w.ParseQuery(q)
	if err != nil {
		return nil, 0, err
	}
	if opts.Topic != "" {
		t := query.NewTermQuery(opts.Topic)
		t.SetField(fieldTopic)
		qq = query.NewConjunctionQuery([]query.Query{t, qq})
	}
	req := bleve.NewSearchRequestOptions(qq, size, opts.From, false)
	req.Fields = []string{fieldSource}
	req.SortByCustom(search.SortOrder{
		&search.SortField{Field: eventTimeField, Desc: true, Type: search.SortFieldAsDate, Missing: search.SortFieldMissingLast},
		&search.SortScore{Desc: true},
		&search.SortDocID{},
	})
	res, err := w.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, 0, fmt.Errorf("bleve: search: %w", err)
	}
	hits := make([]Hit, len(res.Hits))
	for i, h := range res.Hits {
		src, _ := h.Fields[fieldSource].(string)
		var doc struct {
			Topic string `json:"topic"`
		}
		if err := json.Unmarshal([]byte(src), &doc); err != nil {
			return nil, 0, fmt.Errorf("bleve: document %s: %w", h.ID, err)
		}
		hits[i] = Hit{Index: doc.Topic, ID: h.ID, Source: json.RawMessage(src)}
	}
	return hits, res.Total, nil
}
