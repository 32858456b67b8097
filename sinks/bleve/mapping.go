package bleve

import (
	"fmt"
	"slices"
	"strings"

	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/simple"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/weirhq/weir/sinks/elasticsearch"
)

// Names of the fields the writer adds to every document, the same as the Elasticsearch
// sink's (see elasticsearch.Mapping).
const (
	fieldTopic           = "topic"
	fieldPartition       = "partition"
	fieldOffset          = "offset"
	fieldEventType       = "event_type"
	fieldRetracted       = "retracted"
	fieldRetractedBy     = "retracted_by"
	fieldReplacedByBlock = "replaced_by_block"
)

// fieldSource is the stored (not indexed) field holding the document's JSON, which
// Search returns as Hit.Source.
const fieldSource = "_source"

// fieldAll is Bleve's composite field, searched by terms without a field.
const fieldAll = "_all"

// keywordSubfield is the exact subfield of enum and free-text fields (state.keyword), as
// in the Elasticsearch mapping.
const keywordSubfield = "keyword"

// textAnalyzer is the analyzer of free text and of the words of a query without a field:
// Unicode word segmentation and lowercasing, like Elasticsearch's standard analyzer (no
// stop words, unlike Bleve's "standard").
const textAnalyzer = "weir_standard"

// eventTimeField is the field Search sorts on.
const eventTimeField = "meta.event_time"

// kind is how a document field is indexed.
type kind int

const (
	kindObject  kind = iota // a message: its fields are children
	kindKeyword             // exact term (ids, hashes, addresses, assets, uint256, bytes, durations)
	kindEnum                // enum name: words (simple analyzer) + exact name in .keyword
	kindText                // free text: words (textAnalyzer) + exact value in .keyword
	kindNumber              // integers and floats (float64 in the index)
	kindDate                // RFC 3339 timestamps
	kindBool
)

func (k kind) String() string {
	return [...]string{"object", "keyword", "enum", "text", "number", "date", "boolean"}[k]
}

// node is the schema of a document field: the union of the Elasticsearch mappings of the
// indexed event types.
type node struct {
	kind     kind
	children map[string]*node
}

// schemaOf merges the Elasticsearch mappings (elasticsearch.Mapping) of mds into one
// tree. Bleve keeps every event in one index, so a field path must mean the same in
// every event type; schemaOf returns an error when two types give one path different
// kinds.
func schemaOf(mds []protoreflect.MessageDescriptor) (*node, error) {
	root := &node{kind: kindObject, children: map[string]*node{}}
	for _, md := range mds {
		m, err := elasticsearch.Mapping(md)
		if err != nil {
			return nil, err
		}
		n, err := nodeOf(m)
		if err != nil {
			return nil, fmt.Errorf("mapping of %s: %w", md.FullName(), err)
		}
		if err := merge(root, n, ""); err != nil {
			return nil, fmt.Errorf("mapping of %s: %w", md.FullName(), err)
		}
	}
	return root, nil
}

// nodeOf translates one Elasticsearch field mapping (or a whole mapping).
func nodeOf(m map[string]any) (*node, error) {
	if props, ok := m["properties"].(map[string]any); ok {
		n := &node{kind: kindObject, children: make(map[string]*node, len(props))}
		for name, p := range props {
			pm, ok := p.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("field %s: mapping is a %T", name, p)
			}
			c, err := nodeOf(pm)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", name, err)
			}
			n.children[name] = c
		}
		return n, nil
	}
	switch m["type"] {
	case "keyword":
		return &node{kind: kindKeyword}, nil
	case "text":
		if m["analyzer"] == "simple" {
			return &node{kind: kindEnum}, nil
		}
		return &node{kind: kindText}, nil
	case "integer", "long", "unsigned_long", "short", "byte", "double", "float":
		return &node{kind: kindNumber}, nil
	case "date", "date_nanos":
		return &node{kind: kindDate}, nil
	case "boolean":
		return &node{kind: kindBool}, nil
	}
	return nil, fmt.Errorf("mapping type %v has no Bleve equivalent", m["type"])
}

// merge adds src's fields to dst. A path that is a keyword in one event type and an enum
// or free text in another is widened to the analyzed kind (whose .keyword subfield keeps
// the exact value, so exact queries still work on both); any other difference is an
// error.
func merge(dst, src *node, path string) error {
	if w, ok := widen(dst.kind, src.kind); ok {
		dst.kind = w
	}
	if dst.kind != src.kind && !analyzedOverKeyword(dst.kind, src.kind) {
		return fmt.Errorf("field %s is %s in one event type and %s in another", strings.TrimPrefix(path, "."), dst.kind, src.kind)
	}
	for name, c := range src.children {
		d, ok := dst.children[name]
		if !ok {
			dst.children[name] = c
			continue
		}
		if err := merge(d, c, path+"."+name); err != nil {
			return err
		}
	}
	return nil
}

// widen returns the kind of a path that is a in one event type and b in another, when one
// is a keyword and the other an enum or text (or enum and text: text).
func widen(a, b kind) (kind, bool) {
	switch {
	case a == b:
		return a, false
	case analyzedOverKeyword(a, b):
		return a, true
	case analyzedOverKeyword(b, a):
		return b, true
	}
	return a, false
}

// analyzedOverKeyword reports whether kind a subsumes kind b: a is text and b a keyword or
// enum, or a is an enum and b a keyword.
func analyzedOverKeyword(a, b kind) bool {
	return (a == kindText && (b == kindKeyword || b == kindEnum)) || (a == kindEnum && b == kindKeyword)
}

// lookup returns the node of a dotted field path, and whether the path names the
// keyword subfield of an enum or text field (state.keyword). It returns nil for a path
// the schema does not have.
func (n *node) lookup(path string) (*node, bool) {
	cur := n
	parts := strings.Split(path, ".")
	for i, p := range parts {
		if cur.kind != kindObject {
			if i == len(parts)-1 && p == keywordSubfield && (cur.kind == kindEnum || cur.kind == kindText) {
				return cur, true
			}
			return nil, false
		}
		c, ok := cur.children[p]
		if !ok {
			return nil, false
		}
		cur = c
	}
	return cur, false
}

// indexMapping returns the Bleve mapping of documents of schema root: a static mapping
// (fields the schema does not have are stored in _source but not indexed), with
//
//   - keyword fields: the keyword analyzer (one exact, case-sensitive term);
//   - enum fields: the simple analyzer (lowercase letter runs, so state:failed matches
//     INTENT_STATE_FAILED), plus the exact name in <field>.keyword;
//   - free text: textAnalyzer (Unicode words, lowercase, with positions for phrases),
//     plus the exact value in <field>.keyword;
//   - numbers: numeric (float64; 64-bit integers above 2^53 are rounded in the index,
//     never in _source); timestamps: datetime; booleans: boolean;
//   - _source: stored only, the document's JSON.
//
// Words of keyword, enum and text fields also go to the composite field _all, which
// terms without a field search.
func indexMapping(root *node) (*mapping.IndexMappingImpl, error) {
	im := mapping.NewIndexMapping()
	if err := im.AddCustomAnalyzer(textAnalyzer, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name},
	}); err != nil {
		return nil, fmt.Errorf("analyzer: %w", err)
	}
	im.DefaultAnalyzer = textAnalyzer
	im.IndexDynamic = false
	im.StoreDynamic = false
	im.DocValuesDynamic = false
	dm := documentMapping(root)
	src := mapping.NewDocumentStaticMapping()
	src.AddFieldMapping(&mapping.FieldMapping{Type: "text", Analyzer: keyword.Name, Store: true})
	dm.AddSubDocumentMapping(fieldSource, src)
	im.DefaultMapping = dm
	if err := im.Validate(); err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	return im, nil
}

func documentMapping(n *node) *mapping.DocumentMapping {
	dm := mapping.NewDocumentStaticMapping()
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := n.children[name]
		if c.kind == kindObject {
			dm.AddSubDocumentMapping(name, documentMapping(c))
			continue
		}
		sub := mapping.NewDocumentStaticMapping()
		for _, fm := range fieldMappings(name, c.kind) {
			sub.AddFieldMapping(fm)
		}
		if c.kind == kindEnum || c.kind == kindText {
			// Queries of <field>.keyword find no mapping of their own and take the
			// default analyzer of the closest one.
			sub.DefaultAnalyzer = keyword.Name
		}
		dm.AddSubDocumentMapping(name, sub)
	}
	return dm
}

func fieldMappings(name string, k kind) []*mapping.FieldMapping {
	exact := func(fieldName string) *mapping.FieldMapping {
		return &mapping.FieldMapping{Type: "text", Name: fieldName, Analyzer: keyword.Name, Index: true, IncludeInAll: true, DocValues: true}
	}
	switch k {
	case kindKeyword:
		return []*mapping.FieldMapping{exact("")}
	case kindEnum:
		return []*mapping.FieldMapping{
			{Type: "text", Analyzer: simple.Name, Index: true, IncludeInAll: true},
			exact(name + "." + keywordSubfield),
		}
	case kindText:
		kw := exact(name + "." + keywordSubfield)
		kw.IncludeInAll = false
		return []*mapping.FieldMapping{
			{Type: "text", Analyzer: textAnalyzer, Index: true, IncludeTermVectors: true, IncludeInAll: true},
			kw,
		}
	case kindNumber:
		return []*mapping.FieldMapping{{Type: "number", Index: true, DocValues: true}}
	case kindDate:
		return []*mapping.FieldMapping{{Type: "datetime", Index: true, DocValues: true}}
	case kindBool:
		return []*mapping.FieldMapping{{Type: "boolean", Index: true, DocValues: true}}
	}
	return nil
}
