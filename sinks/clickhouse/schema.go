package clickhouse

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// column is one column of a table and how to compute its value.
type column struct {
	name   string
	chType string
	// value returns the column's value for one event, of a type clickhouse-go
	// appends to chType (a slice for an Array column). It is nil for the columns a
	// table fills itself (_topic, …).
	value func(m protoreflect.Message) (any, error)
}

// errValue marks a value a column cannot take; Write wraps it in sinks.ErrPoison.
var errValue = errors.New("value out of the column's range")

const (
	timestampName protoreflect.FullName = "google.protobuf.Timestamp"
	durationName  protoreflect.FullName = "google.protobuf.Duration"
	metaName      protoreflect.FullName = "weir.common.v1.Meta"
)

// Ranges of the time types: DateTime holds seconds as a UInt32, DateTime64(9) holds
// nanoseconds as an Int64.
var (
	minDateTime   = time.Unix(0, 0).UTC()
	maxDateTime   = time.Unix(1<<32-1, 0).UTC()
	minDateTime64 = time.Unix(0, -1<<63).UTC()
	maxDateTime64 = time.Unix(0, 1<<63-1).UTC()
)

// maxDecimal38 is the most digits Decimal(38, 0) holds.
const maxDecimal38 = 38

// step descends from a message into one of its message fields.
type step struct {
	fd   protoreflect.FieldDescriptor
	list bool // a repeated field or a map's values: one element per entry
	mp   bool // a map: entries in key order
}

// leaf is a scalar (or Timestamp/Duration) field at the end of a path, with how to
// convert one of its values.
type leaf struct {
	fd    protoreflect.FieldDescriptor
	keys  bool // the keys of map fd, not its values
	goTyp reflect.Type
	conv  func(v protoreflect.Value, present bool) (any, error)
}

// builder generates the columns of one message type.
type builder struct {
	types Types
	cols  []column
	seen  map[string]bool
	err   error
}

// eventColumns returns the columns of an event message md, flattened from its
// descriptor as documented in the package comment.
func eventColumns(md protoreflect.MessageDescriptor, t Types) ([]column, error) {
	b := &builder{types: t, seen: map[string]bool{}}
	b.message(md, "", nil, false, 0)
	if b.err != nil {
		return nil, fmt.Errorf("clickhouse: columns of %s: %w", md.FullName(), b.err)
	}
	return b.cols, nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "_" + name
}

// message adds the columns of the fields of md, reached by steps. optional says an
// ancestor message field may be unset (so its implicit-presence fields read empty);
// arrays counts the repeated levels above.
func (b *builder) message(md protoreflect.MessageDescriptor, prefix string, steps []step, optional bool, arrays int) {
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := join(prefix, string(fd.Name()))
		if md.FullName() == metaName && prefix == "meta" && (fd.Name() == "event_id" || fd.Name() == "event_time") {
			name = string(fd.Name()) // the two columns every table is keyed and partitioned by
		}
		b.field(fd, name, steps, optional, arrays)
	}
}

func (b *builder) field(fd protoreflect.FieldDescriptor, name string, steps []step, optional bool, arrays int) {
	wellKnown := fd.Message() != nil && (fd.Message().FullName() == timestampName || fd.Message().FullName() == durationName)
	switch {
	case fd.IsMap():
		b.leaf(leaf{fd: fd, keys: true}, name+"_keys", steps, false, optional, arrays+1)
		vd := fd.MapValue()
		if vd.Message() != nil && vd.Message().FullName() != timestampName && vd.Message().FullName() != durationName {
			next := append(slices.Clone(steps), step{fd: fd, list: true, mp: true})
			b.message(vd.Message(), name+"_values", next, optional, arrays+1)
			return
		}
		b.leaf(leaf{fd: fd}, name+"_values", steps, false, optional, arrays+1)
	case fd.Message() != nil && !wellKnown:
		next := append(slices.Clone(steps), step{fd: fd, list: fd.IsList()})
		if fd.IsList() {
			b.message(fd.Message(), name, next, optional, arrays+1)
			return
		}
		b.message(fd.Message(), name, next, optional || !required(fd), arrays)
	case fd.IsList():
		b.leaf(leaf{fd: fd}, name, steps, false, optional, arrays+1)
	default:
		nullable := fd.HasPresence() && !(wellKnown && required(fd))
		b.leaf(leaf{fd: fd}, name, steps, nullable, optional, arrays)
	}
}

func required(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && opts != nil && proto.GetExtension(opts, commonv1.E_Required).(bool)
}

func isUint256(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && opts != nil && proto.GetExtension(opts, commonv1.E_Uint256).(bool)
}

// leaf adds the column(s) of one leaf: its value's field descriptor is lf.fd (or, for
// a map, its key or value).
func (b *builder) leaf(lf leaf, name string, steps []step, nullable, optional bool, arrays int) {
	vd := lf.fd
	if lf.fd.IsMap() {
		vd = lf.fd.MapValue()
		if lf.keys {
			vd = lf.fd.MapKey()
		}
	}
	add := func(name, base string, null bool, conv func(protoreflect.Value, bool) (any, error), sample any) {
		typ := nullIf(null, base)
		for range arrays {
			typ = "Array(" + typ + ")"
		}
		l := lf
		l.conv = conv
		l.goTyp = reflect.TypeOf(sample)
		b.add(column{name: name, chType: typ, value: valueFunc(steps, l)})
	}
	if vd.Message() != nil {
		switch vd.Message().FullName() {
		case timestampName:
			if b.types.DateTime64 {
				add(name, "DateTime64(9, 'UTC')", nullable, opt(nullable, timeConv(minDateTime64, maxDateTime64, false)), ptrIf(nullable, time.Time{}))
				return
			}
			add(name, "DateTime('UTC')", nullable, opt(nullable, timeConv(minDateTime, maxDateTime, true)), ptrIf(nullable, time.Time{}))
			add(name+"_nanos", "UInt32", nullable, opt(nullable, nanosConv), ptrIf(nullable, uint32(0)))
		case durationName:
			add(name, "Decimal(38, 9)", nullable, opt(nullable, durationConv), ptrIf(nullable, decimal.Decimal{}))
		default:
			b.fail("field %s: message %s cannot be a column", lf.fd.FullName(), vd.Message().FullName())
		}
		return
	}
	if vd.Kind() == protoreflect.StringKind && isUint256(vd) {
		add(name, "String", nullable, opt(nullable, stringConv), ptrIf(nullable, ""))
		if b.types.UInt256 {
			// Nullable only when the value may be absent or empty.
			null := nullable || optional
			add(name+"_num", "UInt256", null, uint256Conv(null), ptrIf(null, big.Int{}))
		} else {
			// Always Nullable: NULL above 38 digits.
			add(name+"_num", "Decimal(38, 0)", true, decimal38Conv, (*decimal.Decimal)(nil))
		}
		return
	}
	base, conv, sample, ok := scalarConv(vd)
	if !ok {
		b.fail("field %s: kind %s has no column type", lf.fd.FullName(), vd.Kind())
		return
	}
	add(name, base, nullable, opt(nullable, conv), ptrIf(nullable, sample))
}

func nullIf(null bool, typ string) string {
	if null {
		return "Nullable(" + typ + ")"
	}
	return typ
}

func (b *builder) add(c column) {
	if b.seen[c.name] {
		b.fail("two columns named %s", c.name)
		return
	}
	b.seen[c.name] = true
	b.cols = append(b.cols, c)
}

func (b *builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

// ptrIf returns sample, or a pointer to it when nullable (clickhouse-go takes a nil
// pointer as NULL).
func ptrIf(nullable bool, sample any) any {
	if !nullable {
		return sample
	}
	p := reflect.New(reflect.TypeOf(sample))
	p.Elem().Set(reflect.ValueOf(sample))
	return p.Interface()
}

// opt wraps conv for a Nullable column: absent values are nil pointers, present ones
// pointers to conv's value.
func opt(nullable bool, conv func(protoreflect.Value, bool) (any, error)) func(protoreflect.Value, bool) (any, error) {
	if !nullable {
		return conv
	}
	return func(v protoreflect.Value, present bool) (any, error) {
		out, err := conv(v, present)
		if err != nil {
			return nil, err
		}
		if !present {
			return reflect.Zero(reflect.PointerTo(reflect.TypeOf(out))).Interface(), nil
		}
		p := reflect.New(reflect.TypeOf(out))
		p.Elem().Set(reflect.ValueOf(out))
		return p.Interface(), nil
	}
}

func scalarConv(fd protoreflect.FieldDescriptor) (string, func(protoreflect.Value, bool) (any, error), any, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "String", stringConv, "", true
	case protoreflect.BytesKind:
		return "String", func(v protoreflect.Value, _ bool) (any, error) { return string(v.Bytes()), nil }, "", true
	case protoreflect.BoolKind:
		return "UInt8", func(v protoreflect.Value, _ bool) (any, error) {
			if v.Bool() {
				return uint8(1), nil
			}
			return uint8(0), nil
		}, uint8(0), true
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		return "String", func(v protoreflect.Value, _ bool) (any, error) {
			if ev := values.ByNumber(v.Enum()); ev != nil {
				return string(ev.Name()), nil
			}
			return fmt.Sprint(int32(v.Enum())), nil
		}, "", true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "Int32", func(v protoreflect.Value, _ bool) (any, error) { return int32(v.Int()), nil }, int32(0), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "Int64", func(v protoreflect.Value, _ bool) (any, error) { return v.Int(), nil }, int64(0), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "UInt32", func(v protoreflect.Value, _ bool) (any, error) { return uint32(v.Uint()), nil }, uint32(0), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "UInt64", func(v protoreflect.Value, _ bool) (any, error) { return v.Uint(), nil }, uint64(0), true
	case protoreflect.FloatKind:
		return "Float32", func(v protoreflect.Value, _ bool) (any, error) { return float32(v.Float()), nil }, float32(0), true
	case protoreflect.DoubleKind:
		return "Float64", func(v protoreflect.Value, _ bool) (any, error) { return v.Float(), nil }, float64(0), true
	}
	return "", nil, nil, false
}

func stringConv(v protoreflect.Value, _ bool) (any, error) { return v.String(), nil }

// checkDigits reports whether s is a decimal number (codec has checked it already; a
// value that is not would make the numeric column lie).
func checkDigits(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%w: %q is not a decimal number", errValue, s)
		}
	}
	return nil
}

// decimal38Conv gives the Nullable(Decimal(38, 0)) value of a uint256 string: NULL
// when absent, empty or longer than 38 digits.
func decimal38Conv(v protoreflect.Value, present bool) (any, error) {
	s := v.String()
	if !present || s == "" || len(s) > maxDecimal38 {
		return (*decimal.Decimal)(nil), nil
	}
	if err := checkDigits(s); err != nil {
		return nil, err
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errValue, err)
	}
	return &d, nil
}

// uint256Conv gives the UInt256 value of a uint256 string; for a Nullable column NULL
// when absent or empty.
func uint256Conv(nullable bool) func(protoreflect.Value, bool) (any, error) {
	return func(v protoreflect.Value, present bool) (any, error) {
		s := v.String()
		if nullable && (!present || s == "") {
			return (*big.Int)(nil), nil
		}
		if err := checkDigits(s); err != nil {
			return nil, err
		}
		n, ok := new(big.Int).SetString(s, 10)
		if !ok || n.BitLen() > 256 {
			return nil, fmt.Errorf("%w: %q is not a uint256", errValue, s)
		}
		if nullable {
			return n, nil
		}
		return *n, nil
	}
}

func protoTime(v protoreflect.Value) time.Time {
	m := v.Message()
	f := m.Descriptor().Fields()
	return time.Unix(m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int()).UTC()
}

// timeConv converts a Timestamp, refusing times outside [lo, hi]; truncate drops the
// nanoseconds (kept in a <name>_nanos column).
func timeConv(lo, hi time.Time, truncate bool) func(protoreflect.Value, bool) (any, error) {
	return func(v protoreflect.Value, present bool) (any, error) {
		if !present {
			return time.Time{}, nil
		}
		t := protoTime(v)
		if t.Before(lo) || t.After(hi) {
			return nil, fmt.Errorf("%w: time %s outside %s..%s", errValue, t.Format(time.RFC3339Nano), lo.Format(time.RFC3339), hi.Format(time.RFC3339))
		}
		if truncate {
			t = t.Truncate(time.Second)
		}
		return t, nil
	}
}

func nanosConv(v protoreflect.Value, present bool) (any, error) {
	if !present {
		return uint32(0), nil
	}
	return uint32(protoTime(v).Nanosecond()), nil
}

func durationConv(v protoreflect.Value, present bool) (any, error) {
	if !present {
		return decimal.Decimal{}, nil
	}
	m := v.Message()
	f := m.Descriptor().Fields()
	n := new(big.Int).Mul(big.NewInt(m.Get(f.ByName("seconds")).Int()), big.NewInt(1e9))
	n.Add(n, big.NewInt(m.Get(f.ByName("nanos")).Int()))
	return decimal.NewFromBigInt(n, -9), nil
}

// valueFunc returns the function computing a column's value from an event: it walks
// steps down to the leaf, making one typed slice per repeated level.
func valueFunc(steps []step, lf leaf) func(protoreflect.Message) (any, error) {
	// types[i] is the type of the value at step i; types[len(steps)] the leaf's.
	types := make([]reflect.Type, len(steps)+1)
	t := lf.goTyp
	if lf.fd.IsList() || lf.fd.IsMap() {
		t = reflect.SliceOf(t)
	}
	types[len(steps)] = t
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].list {
			t = reflect.SliceOf(t)
		}
		types[i] = t
	}
	var walk func(m protoreflect.Message, i int) (reflect.Value, error)
	walk = func(m protoreflect.Message, i int) (reflect.Value, error) {
		if i == len(steps) {
			return leafValue(m, lf, types[i])
		}
		s := steps[i]
		switch {
		case s.mp:
			mp := m.Get(s.fd).Map()
			out := reflect.MakeSlice(types[i], 0, mp.Len())
			for _, k := range sortedKeys(mp) {
				v, err := walk(mp.Get(k).Message(), i+1)
				if err != nil {
					return reflect.Value{}, err
				}
				out = reflect.Append(out, v)
			}
			return out, nil
		case s.list:
			l := m.Get(s.fd).List()
			out := reflect.MakeSlice(types[i], 0, l.Len())
			for j := 0; j < l.Len(); j++ {
				v, err := walk(l.Get(j).Message(), i+1)
				if err != nil {
					return reflect.Value{}, err
				}
				out = reflect.Append(out, v)
			}
			return out, nil
		default:
			return walk(m.Get(s.fd).Message(), i+1)
		}
	}
	return func(m protoreflect.Message) (any, error) {
		v, err := walk(m, 0)
		if err != nil {
			return nil, err
		}
		return v.Interface(), nil
	}
}

func leafValue(m protoreflect.Message, lf leaf, typ reflect.Type) (reflect.Value, error) {
	fd := lf.fd
	conv := func(v protoreflect.Value, present bool) (reflect.Value, error) {
		out, err := lf.conv(v, present)
		if err != nil {
			return reflect.Value{}, fmt.Errorf("%s: %w", fd.FullName(), err)
		}
		return reflect.ValueOf(out), nil
	}
	switch {
	case fd.IsMap():
		mp := m.Get(fd).Map()
		out := reflect.MakeSlice(typ, 0, mp.Len())
		for _, k := range sortedKeys(mp) {
			v := mp.Get(k)
			if lf.keys {
				v = k.Value()
			}
			e, err := conv(v, true)
			if err != nil {
				return reflect.Value{}, err
			}
			out = reflect.Append(out, e)
		}
		return out, nil
	case fd.IsList():
		l := m.Get(fd).List()
		out := reflect.MakeSlice(typ, 0, l.Len())
		for j := 0; j < l.Len(); j++ {
			e, err := conv(l.Get(j), true)
			if err != nil {
				return reflect.Value{}, err
			}
			out = reflect.Append(out, e)
		}
		return out, nil
	default:
		present := !fd.HasPresence() || m.Has(fd)
		return conv(m.Get(fd), present)
	}
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
			if av == bv {
				return 0
			}
			if !av {
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
