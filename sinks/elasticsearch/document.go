package elasticsearch

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
)

// EventFields returns the fields of m as a document, the JSON form Mapping describes:
// proto field names; enums as names (numbers, as decimal strings, when unknown);
// 64-bit integers as decimal strings; 32-bit integers, floats and bools as JSON numbers
// and booleans; bytes as "0x" + lowercase hex; Timestamps as RFC 3339 in UTC with up to
// nine fractional digits; Durations as in protojson ("1.5s"); uint256 strings as they
// are. Implicit-presence scalars are written even when zero (so final:false finds
// events); unset messages, optional fields and empty lists are left out; of a oneof only
// the member set. Secret fields and maps are never written. It returns an error for a
// message nested deeper than Mapping allows.
func EventFields(m protoreflect.Message) (map[string]any, error) {
	return messageFields(m, 0)
}

func messageFields(m protoreflect.Message, depth int) (map[string]any, error) {
	if depth > maxMessageDepth {
		return nil, fmt.Errorf("%s nests deeper than %d levels", m.Descriptor().FullName(), maxMessageDepth)
	}
	out := make(map[string]any)
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if Secret(fd) || fd.IsMap() {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			if l.Len() == 0 {
				continue
			}
			vals := make([]any, l.Len())
			for j := range vals {
				v, err := fieldValue(fd, l.Get(j), depth)
				if err != nil {
					return nil, err
				}
				vals[j] = v
			}
			out[string(fd.Name())] = vals
		case fd.HasPresence() && !m.Has(fd):
			continue
		default:
			v, err := fieldValue(fd, m.Get(fd), depth)
			if err != nil {
				return nil, err
			}
			out[string(fd.Name())] = v
		}
	}
	return out, nil
}

func fieldValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int) (any, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool(), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return v.Int(), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return v.Uint(), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(v.Int(), 10), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10), nil
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("field %s: %v has no JSON form", fd.FullName(), f)
		}
		return f, nil
	case protoreflect.StringKind:
		return v.String(), nil
	case protoreflect.BytesKind:
		return "0x" + hex.EncodeToString(v.Bytes()), nil
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name()), nil
		}
		return strconv.Itoa(int(v.Enum())), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := v.Message()
		switch m.Descriptor().FullName() {
		case timestampName:
			f := m.Descriptor().Fields()
			t := time.Unix(m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int()).UTC()
			return t.Format(time.RFC3339Nano), nil
		case durationName:
			f := m.Descriptor().Fields()
			d := &durationpb.Duration{Seconds: m.Get(f.ByName("seconds")).Int(), Nanos: int32(m.Get(f.ByName("nanos")).Int())}
			b, err := protojson.Marshal(d)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", fd.FullName(), err)
			}
			var s string
			if err := json.Unmarshal(b, &s); err != nil {
				return nil, fmt.Errorf("field %s: %w", fd.FullName(), err)
			}
			return s, nil
		}
		return messageFields(m, depth+1)
	}
	return nil, fmt.Errorf("field %s has kind %s, which has no document form", fd.FullName(), fd.Kind())
}

// DecodeEvent sets the fields of m from a document's _source as written by the writer
// (the form EventFields describes), ignoring the writer's own fields (topic, retracted,
// …). It is the inverse of EventFields: for an event without secret fields,
// DecodeEvent(EventFields(ev)) equals ev. It returns an error for a field m does not
// have or a value of the wrong form.
func DecodeEvent(source []byte, m protoreflect.Message) error {
	dec := json.NewDecoder(bytes.NewReader(source))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("elasticsearch: decode document: %w", err)
	}
	for name := range writerFields() {
		delete(doc, name)
	}
	if err := setMessage(m, doc); err != nil {
		return fmt.Errorf("elasticsearch: decode document as %s: %w", m.Descriptor().FullName(), err)
	}
	return nil
}

func setMessage(m protoreflect.Message, obj map[string]any) error {
	fields := m.Descriptor().Fields()
	for name, raw := range obj {
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil {
			return fmt.Errorf("no field %q in %s", name, m.Descriptor().FullName())
		}
		if fd.IsList() {
			arr, ok := raw.([]any)
			if !ok {
				return fmt.Errorf("%s: want an array, have %T", name, raw)
			}
			l := m.Mutable(fd).List()
			for _, e := range arr {
				v, err := protoValue(fd, e, func() protoreflect.Value { return l.NewElement() })
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				l.Append(v)
			}
			continue
		}
		v, err := protoValue(fd, raw, func() protoreflect.Value { return m.NewField(fd) })
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		m.Set(fd, v)
	}
	return nil
}

func protoValue(fd protoreflect.FieldDescriptor, raw any, newMessage func() protoreflect.Value) (protoreflect.Value, error) {
	var zero protoreflect.Value
	str := func() (string, error) {
		switch s := raw.(type) {
		case string:
			return s, nil
		case json.Number:
			return s.String(), nil
		}
		return "", fmt.Errorf("want a string or number, have %T", raw)
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		b, ok := raw.(bool)
		if !ok {
			return zero, fmt.Errorf("want a bool, have %T", raw)
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		s, err := str()
		if err != nil {
			return zero, err
		}
		bits := 64
		if fd.Kind() == protoreflect.Int32Kind || fd.Kind() == protoreflect.Sint32Kind || fd.Kind() == protoreflect.Sfixed32Kind {
			bits = 32
		}
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return zero, err
		}
		if bits == 32 {
			return protoreflect.ValueOfInt32(int32(n)), nil
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		s, err := str()
		if err != nil {
			return zero, err
		}
		bits := 64
		if fd.Kind() == protoreflect.Uint32Kind || fd.Kind() == protoreflect.Fixed32Kind {
			bits = 32
		}
		n, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return zero, err
		}
		if bits == 32 {
			return protoreflect.ValueOfUint32(uint32(n)), nil
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		s, err := str()
		if err != nil {
			return zero, err
		}
		if fd.Kind() == protoreflect.FloatKind {
			f, err := strconv.ParseFloat(s, 32)
			return protoreflect.ValueOfFloat32(float32(f)), err
		}
		f, err := strconv.ParseFloat(s, 64)
		return protoreflect.ValueOfFloat64(f), err
	case protoreflect.StringKind:
		s, ok := raw.(string)
		if !ok {
			return zero, fmt.Errorf("want a string, have %T", raw)
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BytesKind:
		s, ok := raw.(string)
		if !ok || !strings.HasPrefix(s, "0x") {
			return zero, fmt.Errorf("want 0x-hex, have %v", raw)
		}
		b, err := hex.DecodeString(s[2:])
		if err != nil {
			return zero, err
		}
		return protoreflect.ValueOfBytes(b), nil
	case protoreflect.EnumKind:
		s, err := str()
		if err != nil {
			return zero, err
		}
		if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return zero, fmt.Errorf("no value %q in %s", s, fd.Enum().FullName())
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		v := newMessage()
		m := v.Message()
		f := m.Descriptor().Fields()
		switch m.Descriptor().FullName() {
		case timestampName:
			s, ok := raw.(string)
			if !ok {
				return zero, fmt.Errorf("want a timestamp string, have %T", raw)
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return zero, err
			}
			m.Set(f.ByName("seconds"), protoreflect.ValueOfInt64(t.Unix()))
			m.Set(f.ByName("nanos"), protoreflect.ValueOfInt32(int32(t.Nanosecond())))
			return v, nil
		case durationName:
			s, ok := raw.(string)
			if !ok {
				return zero, fmt.Errorf("want a duration string, have %T", raw)
			}
			d := new(durationpb.Duration)
			if err := protojson.Unmarshal([]byte(strconv.Quote(s)), d); err != nil {
				return zero, err
			}
			m.Set(f.ByName("seconds"), protoreflect.ValueOfInt64(d.Seconds))
			m.Set(f.ByName("nanos"), protoreflect.ValueOfInt32(d.Nanos))
			return v, nil
		}
		obj, ok := raw.(map[string]any)
		if !ok {
			return zero, fmt.Errorf("want an object, have %T", raw)
		}
		if err := setMessage(m, obj); err != nil {
			return zero, err
		}
		return v, nil
	}
	return zero, fmt.Errorf("kind %s has no document form", fd.Kind())
}
