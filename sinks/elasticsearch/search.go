package elasticsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Search limits.
const (
	// DefaultSearchSize is the number of hits Search returns when SearchOptions.Size is 0.
	DefaultSearchSize = 10
	// MaxSearchSize is the most hits one Search returns (Elasticsearch's
	// index.max_result_window bounds From+Size to 10000).
	MaxSearchSize = 10000
)

// SearchOptions narrows a Search. The zero value searches every event, newest first,
// and returns the first DefaultSearchSize hits.
type SearchOptions struct {
	// Topic restricts the search to one event family (the alias <prefix><topic>, e.g.
	// "payments.intents"). Default: every family (the alias <prefix>events).
	Topic string
	// Size is the number of hits to return: default DefaultSearchSize (10), at most
	// MaxSearchSize.
	Size int
	// From skips that many hits, for paging. Default 0.
	From int
}

// Hit is one document found by Search.
type Hit struct {
	// Index is the index holding the document, e.g. "weir-payments.intents-2026.11".
	Index string
	// ID is the document id: the event's Meta.event_id.
	ID string
	// Source is the document as indexed (see EventFields); DecodeEvent turns it back
	// into the event.
	Source json.RawMessage
}

// Search runs a Lucene query_string query (e.g. `merchant_id:m_123 AND status:failed`,
// default operator AND, lenient about fields of other types) over all events or one
// family, newest event_time first, and returns the hits and the exact number of
// matching documents. Retracted events are found too; add `AND retracted:false` to leave
// them out. It blocks for one request; it is safe for concurrent use.
func (w *Writer) Search(ctx context.Context, query string, opts SearchOptions) ([]Hit, int64, error) {
	size := opts.Size
	if size == 0 {
		size = DefaultSearchSize
	}
	if size < 0 || size > MaxSearchSize || opts.From < 0 || opts.From+size > MaxSearchSize {
		return nil, 0, fmt.Errorf("elasticsearch: search window from %d size %d is outside 0..%d", opts.From, size, MaxSearchSize)
	}
	target := w.eventsAlias()
	if opts.Topic != "" {
		target = w.familyAlias(opts.Topic)
	}
	body := map[string]any{
		"from":             opts.From,
		"size":             size,
		"track_total_hits": true,
		"query": map[string]any{"query_string": map[string]any{
			"query":            query,
			"default_operator": "AND",
			"lenient":          true,
		}},
		"sort": []any{
			map[string]any{"meta.event_time": map[string]any{"order": "desc", "unmapped_type": "date_nanos"}},
			"_score",
		},
	}
	q := url.Values{"allow_no_indices": {"true"}, "ignore_unavailable": {"true"}}
	b, err := w.do(ctx, http.MethodPost, "/"+url.PathEscape(target)+"/_search", q, body)
	if err != nil {
		return nil, 0, fmt.Errorf("elasticsearch: search: %w", err)
	}
	var res struct {
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
			Hits []struct {
				Index  string          `json:"_index"`
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, 0, fmt.Errorf("elasticsearch: search: %w", err)
	}
	hits := make([]Hit, len(res.Hits.Hits))
	for i, h := range res.Hits.Hits {
		hits[i] = Hit{Index: h.Index, ID: h.ID, Source: h.Source}
	}
	return hits, res.Hits.Total.Value, nil
}
