package parquet

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// errValue marks a value a column cannot take; Write wraps it in sinks.ErrPoison.
var errValue = errors.New("value out of the column's range")

const (
	timestampName protoreflect.FullName = "google.protobuf.Timestamp"
	durationName  protoreflect.FullName = "google.protobuf.Duration"
	metaName      protoreflect.FullName = "weir.common.v1.Meta"
)

// maxDecimal38 is the most digits Decimal128(38, 0) holds.
const maxDecimal38 = 38

// Arrow types of the columns.
var (
	timestampType = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
	uint256Num    = &arrow.Decimal128Type{Precision: 38, Scale: 0}
	durationType  = &arrow.Decimal128Type{Precision: 38, Scale: 9}
)

// column is one column of a topic's schema and how to fill it from an event.
type column struct {
	field arrow.Field
	// add appends the column's value for event m to b (of the builder type of
	// field.Type). It is nil for the system columns, which the writer fills.
	add func(b array.Builder, m protoreflect.Message) error
}

// step descends from a message into one of its message fields.
type step struct {
	fd   protoreflect.FieldDescriptor
	list bool // a repeated field or a map's values: one list element per entry
	mp   bool // a map: entries in key order
}

// builder generates the columns of one message type.
type builder struct {
	cols []column
	seen map[string]bool
	err  error
}

// eventColumns returns the columns of event message md: the same flattening and names
// as the ClickHouse tables (see the package comment).
func eventColumns(md protoreflect.MessageDescriptor) ([]column, error) {
	b := &builder{seen: map[string]bool{}}
	b.message(md, "", nil, 0)
	if b.err != nil {
		return nil, fmt.Errorf("parquet: columns of %s: %w", md.FullName(), b.err)
	}
	return b.cols, nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "_" + name
}

func (b *builder) message(md protoreflect.MessageDescriptor, prefix string, steps []step, lists int) {
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := join(prefix, string(fd.Name()))
		if md.FullName() == metaName && prefix == "meta" && (fd.Name() == "event_id" || fd.Name() == "event_time") {
			name = string(fd.Name())
		}
		b.field(fd, name, steps, lists)
	}
}

func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md != nil && (md.FullName() == timestampName || md.FullName() == durationName)
}

func (b *builder) field(fd protoreflect.FieldDescriptor, name string, steps []step, lists int) {
	switch {
	case fd.IsMap():
		b.leaf(leaf{fd: fd, keys: true}, name+"_keys", steps, lists+1)
		vd := fd.MapValue()
		if vd.Message() != nil && !isWellKnown(vd.Message()) {
			next := append(slices.Clone(steps), step{fd: fd, list: true, mp: true})
			b.message(vd.Message(), name+"_values", next, lists+1)
			return
		}
		b.leaf(leaf{fd: fd}, name+"_values", steps, lists+1)
	case fd.Message() != nil && !isWellKnown(fd.Message()):
		next := append(slices.Clone(steps), step{fd: fd, list: fd.IsList()})
		if fd.IsList() {
			b.message(fd.Message(), name, next, lists+1)
			return
		}
		b.message(fd.Message(), name, next, lists)
	case fd.IsList():
		b.leaf(leaf{fd: fd}, name, steps, lists+1)
	default:
		b.leaf(leaf{fd: fd}, name, steps, lists)
	}
}

func isUint256(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && opts != nil && proto.GetExtension(opts, commonv1.E_Uint256).(bool)
}

// leaf is a scalar (or Timestamp/Duration) field at the end of a path.
type leaf struct {
	fd   protoreflect.FieldDescriptor
	keys bool // the keys of map fd, not its values
}

// scalar appends one value v of a leaf to b; present is false for an absent field with
// presence, which becomes NULL.
type scalar func(b array.Builder, v protoreflect.Value, present bool) error

func (b *builder) leaf(lf leaf, name string, steps []step, lists int) {
	vd := lf.fd
	if lf.fd.IsMap() {
		vd = lf.fd.MapValue()
		if lf.keys {
			vd = lf.fd.MapKey()
		}
	}
	add := func(name string, typ arrow.DataType, conv scalar) {
		for range lists {
			typ = arrow.ListOf(typ)
		}
		if b.seen[name] {
			b.fail("two columns named %s", name)
			return
		}
		b.seen[name] = true
		b.cols = append(b.cols, column{
			field: arrow.Field{Name: name, Type: typ, Nullable: true},
			add:   appender(steps, lf, conv),
		})
	}
	if vd.Message() != nil {
		switch vd.Message().FullName() {
		case timestampName:
			add(name, timestampType, appendTime)
			add(name+"_nanos", arrow.PrimitiveTypes.Uint32, appendNanos)
		case durationName:
			add(name, durationType, appendDuration)
		default:
			b.fail("field %s: message %s cannot be a column", lf.fd.FullName(), vd.Message().FullName())
		}
		return
	}
	if vd.Kind() == protoreflect.StringKind && isUint256(vd) {
		add(name, arrow.BinaryTypes.String, appendString)
		add(name+"_num", uint256Num, appendUint256Num)
		return
	}
	typ, conv, ok := scalarColumn(vd)
	if !ok {
		b.fail("field %s: kind %s has no column type", lf.fd.FullName(), vd.Kind())
		return
	}
	add(name, typ, conv)
}

func (b *builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

// appender returns the function that walks an event down steps to the leaf and
// appends its value(s) to the column's builder: one list level per repeated step.
func appender(steps []step, lf leaf, conv scalar) func(array.Builder, protoreflect.Message) error {
	var walk func(b array.Builder, m protoreflect.Message, i int) error
	walk = func(b array.Builder, m protoreflect.Message, i int) error {
		if i == len(steps) {
			return appendLeaf(b, m, lf, conv)
		}
		s := steps[i]
		switch {
		case s.mp:
			lb := b.(*array.ListBuilder)
			lb.Append(true)
			mp := m.Get(s.fd).Map()
			for _, k := range sortedKeys(mp) {
				if err := walk(lb.ValueBuilder(), mp.Get(k).Message(), i+1); err != nil {
					return err
				}
			}
			return nil
		case s.list:
			lb := b.(*array.ListBuilder)
			lb.Append(true)
			l := m.Get(s.fd).List()
			for j := 0; j < l.Len(); j++ {
				if err := walk(lb.ValueBuilder(), l.Get(j).Message(), i+1); err != nil {
					return err
				}
			}
			return nil
		default:
			return walk(b, m.Get(s.fd).Message(), i+1)
		}
	}
	return func(b array.Builder, m protoreflect.Message) error { return walk(b, m, 0) }
}

func appendLeaf(b array.Builder, m protoreflect.Message, lf leaf, conv scalar) error {
	fd := lf.fd
	wrap := func(err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", fd.FullName(), err)
		}
		return nil
	}
	switch {
	case fd.IsMap():
		lb := b.(*array.ListBuilder)
		lb.Append(true)
		mp := m.Get(fd).Map()
		for _, k := range sortedKeys(mp) {
			v := mp.Get(k)
			if lf.keys {
				v = k.Value()
			}
			if err := conv(lb.ValueBuilder(), v, true); err != nil {
				return wrap(err)
			}
		}
		return nil
	case fd.IsList():
		lb := b.(*array.ListBuilder)
		lb.Append(true)
		l := m.Get(fd).List()
		for j := 0; j < l.Len(); j++ {
			if err := conv(lb.ValueBuilder(), l.Get(j), true); err != nil {
				return wrap(err)
			}
		}
		return nil
	default:
		present := !fd.HasPresence() || m.Has(fd)
		return wrap(conv(b, m.Get(fd), present))
	}
}

// scalarColumn returns the Arrow type and appender of a scalar field.
func scalarColumn(fd protoreflect.FieldDescriptor) (arrow.DataType, scalar, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return arrow.BinaryTypes.String, appendString, true
	case protoreflect.BytesKind:
		return arrow.BinaryTypes.Binary, func(b array.Builder, v protoreflect.Value, present bool) error {
			if !present {
				b.AppendNull()
				return nil
			}
			b.(*array.BinaryBuilder).Append(v.Bytes())
			return nil
		}, true
	case protoreflect.BoolKind:
		return arrow.FixedWidthTypes.Boolean, func(b array.Builder, v protoreflect.Value, present bool) error {
			if !present {
				b.AppendNull()
				return nil
			}
			b.(*array.BooleanBuilder).Append(v.Bool())
			return nil
		}, true
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		return arrow.BinaryTypes.String, func(b array.Builder, v protoreflect.Value, present bool) error {
			if !present {
				b.AppendNull()
				return nil
			}
			name := fmt.Sprint(int32(v.Enum()))
			if ev := values.ByNumber(v.Enum()); ev != nil {
				name = string(ev.Name())
			}
			b.(*array.StringBuilder).Append(name)
			return nil
		}, true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return arrow.PrimitiveTypes.Int32, func(b array.Builder, v protoreflect.Value, present bool) error {
			if !present {
				b.AppendNull()
				return nil
			}
			b.(*array.Int32Builder).Append(int32(v.Int()))
			return nil
		}, true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return arrow.PrimitiveTypes.Int64, func(b array.Builder, v protoreflect.Value, present bool) error {
			if !present {
				b.AppendNull()
				return nil
			}
			b.(*array.Int64Builder).Append(v.Int())
			return nil
		}, true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return arrow.PrimitiveTypes.Uint32, func(b array.Builder, v protoreflect.Value, present bool) error {
			if !present {
				b.AppendNull()
				return nil
			}
			b.(*array.Uint32Builder).Append(uint32(v.Uint()))
			return nil
		}, true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return arrow.PrimitiveTypes.Uint64, func(b array.Builder, v protoreflect.Value, present bool) error {
			if !present {
				b.AppendNull()
				return nil
			}
			b.(*array.Uint64Builder).Append(v.Uint())
			return nil
		}, true
	case protoreflect.FloatKind:
		return arrow.PrimitiveTypes.Float32, func(b array.Builder, v protoreflect.Value, present bool) error {
			if !present {
				b.AppendNull()
				return nil
			}
			b.(*array.Float32Builder).Append(float32(v.Float()))
			return nil
		}, true
	case protoreflect.DoubleKind:
		return arrow.PrimitiveTypes.Float64, func(b array.Builder, v protoreflect.Value, present bool) error {
			if !present {
				b.AppendNull()
				return nil
			}
			b.(*array.Float64Builder).Append(v.Float())
			return nil
		}, true
	}
	return nil, nil, false
}

func appendString(b array.Builder, v protoreflect.Value, present bool) error {
	if !present {
		b.AppendNull()
		return nil
	}
	b.(*array.StringBuilder).Append(v.String())
	return nil
}

// appendUint256Num appends the Decimal128(38, 0) value of a uint256 string: NULL when
// absent, empty or longer than 38 digits.
func appendUint256Num(b array.Builder, v protoreflect.Value, present bool) error {
	s := v.String()
	if !present || s == "" || len(s) > maxDecimal38 {
		b.AppendNull()
		return nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%w: %q is not a decimal number", errValue, s)
		}
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return fmt.Errorf("%w: %q is not a decimal number", errValue, s)
	}
	b.(*array.Decimal128Builder).Append(decimal128.FromBigInt(n))
	return nil
}

// Range of timestamp[ns]: nanoseconds since the epoch in an int64.
var (
	minTime = time.Unix(0, -1<<63).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

func protoTime(v protoreflect.Value) time.Time {
	m := v.Message()
	f := m.Descriptor().Fields()
	return time.Unix(m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int()).UTC()
}

func appendTime(b array.Builder, v protoreflect.Value, present bool) error {
	if !present {
		b.AppendNull()
		return nil
	}
	t := protoTime(v)
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%w: time %s outside %s..%s", errValue, t.Format(time.RFC3339Nano), minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339))
	}
	b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixNano()))
	return nil
}

// appendNanos appends the nanoseconds within the second of a timestamp: DuckDB reads
// timestamp[ns, UTC] at microsecond precision, so <name>_nanos keeps the exact value
// (as on ClickHouse 18.16).
func appendNanos(b array.Builder, v protoreflect.Value, present bool) error {
	if !present {
		b.AppendNull()
		return nil
	}
	b.(*array.Uint32Builder).Append(uint32(protoTime(v).Nanosecond()))
	return nil
}

// appendDuration appends a Duration as Decimal128(38, 9) seconds, exact.
func appendDuration(b array.Builder, v protoreflect.Value, present bool) error {
	if !present {
		b.AppendNull()
		return nil
	}
	m := v.Message()
	f := m.Descriptor().Fields()
	n := new(big.Int).Mul(big.NewInt(m.Get(f.ByName("seconds")).Int()), big.NewInt(1e9))
	n.Add(n, big.NewInt(m.Get(f.ByName("nanos")).Int()))
	b.(*array.Decimal128Builder).Append(decimal128.FromBigInt(n))
	return nil
}

// sortedKeys returns the keys of mp in ascending order, so that a map's keys and values
// columns line up and equal maps give equal rows.
func sortedKeys(mp protoreflect.Map) []protoreflect.MapKey {
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	slices.SortFunc(keys, func(a, b protoreflect.MapKey) int {
		switch av := a.Interface().(type) {
		case string:
			return cmp.Compare(av, b.Interface().(string))
		case bool:
			bv := b.Interface().(bool)
			switch {
			case av == bv:
				return 0
			case !av:
				return -1
			}
			return 1
		case int32, int64:
			return cmp.Compare(a.Int(), b.Int())
		default:
			return cmp.Compare(a.Uint(), b.Uint())
		}
	})
	return keys
}
