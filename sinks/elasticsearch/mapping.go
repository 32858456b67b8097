package elasticsearch

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// Names of the fields the writer adds to every document, next to the event's own fields.
// An event field with one of these names is refused by Mapping.
const (
	fieldTopic           = "topic"
	fieldPartition       = "partition"
	fieldOffset          = "offset"
	fieldEventType       = "event_type"
	fieldRetracted       = "retracted"
	fieldRetractedBy     = "retracted_by"
	fieldReplacedByBlock = "replaced_by_block"
)

// Subfield names of the mapping.
const (
	// numSubfield is the exact numeric subfield of a uint256 field (amount.value.num).
	numSubfield = "num"
	// keywordSubfield is the exact subfield of text and enum fields (reason.keyword).
	keywordSubfield = "keyword"
)

// maxMessageDepth bounds the recursion of the mapping and document generators; weir's
// schemas nest three levels at most, so more means a recursive message type.
const maxMessageDepth = 12

// keywordIgnoreAbove is the longest keyword value indexed (in characters); longer values
// stay in _source but are not searchable, instead of failing the document (Lucene refuses
// terms over 32766 bytes; 8191 characters of at most 4 bytes fit).
const keywordIgnoreAbove = 8191

const (
	timestampName protoreflect.FullName = "google.protobuf.Timestamp"
	durationName  protoreflect.FullName = "google.protobuf.Duration"
)

// Mapping returns the explicit mapping ("dynamic": "strict") of the documents of events
// of type md, generated from the descriptor:
//
//   - strings: keyword (ids, hashes, addresses, assets); free text (a name ending in
//     reason, description, summary, message, error, comment or note) is text with a
//     keyword subfield "keyword";
//   - uint256 decimal strings (the weir.common.v1.uint256 option): keyword, exact in all
//     78 digits, with a subfield "num" of type long holding the value only when it is at
//     most 2^63-1 (ignore_malformed: larger values are left out of it, never rounded).
//     unsigned_long would reach 2^64-1 but is not in every distribution; a double is
//     never used for money;
//   - enums: the value's name as text with the "simple" analyzer, so status:failed
//     matches INTENT_STATE_FAILED, plus a keyword subfield "keyword" with the exact name;
//   - int32: integer; uint32, int64, uint64 and their fixed variants: long (uint64 values
//     above 2^63-1 are kept in _source but not indexed: ignore_malformed). 64-bit integers
//     are JSON strings in the document, as in protojson, so no JSON reader rounds them;
//   - bool: boolean; double/float: double/float;
//   - bytes: "0x" + lowercase hex, keyword;
//   - google.protobuf.Timestamp: date_nanos (ignore_malformed: a time before 1970 or after
//     2262 stays in _source only); google.protobuf.Duration: its protojson string
//     ("1.5s") as keyword;
//   - other messages: object with their fields' mappings; repeated fields are arrays of
//     the same mapping.
//
// Fields for which Secret reports true are left out. The writer's own fields (topic,
// partition, offset, event_type, retracted, retracted_by, replaced_by_block) are added.
// It returns an error for a message nested deeper than 12 levels or a field that collides
// with a writer field.
func Mapping(md protoreflect.MessageDescriptor) (map[string]any, error) {
	props, err := properties(md, 0)
	if err != nil {
		return nil, fmt.Errorf("mapping of %s: %w", md.FullName(), err)
	}
	for name, m := range writerFields() {
		if _, dup := props[name]; dup {
			return nil, fmt.Errorf("mapping of %s: field %q collides with the writer's field of that name", md.FullName(), name)
		}
		props[name] = m
	}
	return map[string]any{
		"dynamic":        "strict",
		"date_detection": false,
		"properties":     props,
	}, nil
}

// writerFields is the mapping of the fields the writer adds.
func writerFields() map[string]any {
	return map[string]any{
		fieldTopic:       keyword(),
		fieldPartition:   map[string]any{"type": "integer"},
		fieldOffset:      map[string]any{"type": "long"},
		fieldEventType:   keyword(),
		fieldRetracted:   map[string]any{"type": "boolean"},
		fieldRetractedBy: keyword(),
		fieldReplacedByBlock: map[string]any{"properties": map[string]any{
			"number": map[string]any{"type": "long"},
			"hash":   keyword(),
		}},
	}
}

func keyword() map[string]any {
	return map[string]any{"type": "keyword", "ignore_above": keywordIgnoreAbove}
}

func properties(md protoreflect.MessageDescriptor, depth int) (map[string]any, error) {
	if depth > maxMessageDepth {
		return nil, fmt.Errorf("%s nests deeper than %d levels", md.FullName(), maxMessageDepth)
	}
	props := make(map[string]any)
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if Secret(fd) {
			continue
		}
		if fd.IsMap() {
			// No weir event has a map; index its entries as an object would need a
			// dynamic mapping, so a map is kept out of the index rather than guessed.
			continue
		}
		m, err := fieldMapping(fd, depth)
		if err != nil {
			return nil, err
		}
		props[string(fd.Name())] = m
	}
	return props, nil
}

func fieldMapping(fd protoreflect.FieldDescriptor, depth int) (map[string]any, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return map[string]any{"type": "boolean"}, nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return map[string]any{"type": "integer"}, nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return map[string]any{"type": "long"}, nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return map[string]any{"type": "long", "ignore_malformed": true}, nil
	case protoreflect.DoubleKind:
		return map[string]any{"type": "double"}, nil
	case protoreflect.FloatKind:
		return map[string]any{"type": "float"}, nil
	case protoreflect.BytesKind:
		return keyword(), nil
	case protoreflect.EnumKind:
		return map[string]any{
			"type":     "text",
			"analyzer": "simple",
			"fields":   map[string]any{keywordSubfield: keyword()},
		}, nil
	case protoreflect.StringKind:
		switch {
		case isUint256(fd):
			return map[string]any{
				"type":         "keyword",
				"ignore_above": keywordIgnoreAbove,
				"fields": map[string]any{numSubfield: map[string]any{
					"type": "long", "ignore_malformed": true,
				}},
			}, nil
		case isFreeText(fd):
			return map[string]any{
				"type":   "text",
				"fields": map[string]any{keywordSubfield: map[string]any{"type": "keyword", "ignore_above": 1024}},
			}, nil
		}
		return keyword(), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		switch fd.Message().FullName() {
		case timestampName:
			return map[string]any{"type": "date_nanos", "ignore_malformed": true}, nil
		case durationName:
			return keyword(), nil
		}
		props, err := properties(fd.Message(), depth+1)
		if err != nil {
			return nil, err
		}
		return map[string]any{"properties": props}, nil
	}
	return nil, fmt.Errorf("field %s has kind %s, which has no mapping", fd.FullName(), fd.Kind())
}

// isUint256 reports whether fd carries the weir.common.v1.uint256 option.
func isUint256(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && opts != nil && proto.GetExtension(opts, commonv1.E_Uint256).(bool)
}

// freeTextWords are the last name tokens of string fields that hold prose.
var freeTextWords = map[string]bool{
	"reason": true, "description": true, "summary": true, "message": true,
	"error": true, "comment": true, "note": true, "notes": true,
}

func isFreeText(fd protoreflect.FieldDescriptor) bool {
	name := string(fd.Name())
	return freeTextWords[name[strings.LastIndexByte(name, '_')+1:]]
}
