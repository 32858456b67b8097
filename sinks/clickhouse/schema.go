package clickhouse

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// column is one column of a table and how to compute its values.
type column struct {
	name   string
	chType string
	// newBuf returns an empty buffer of the column's values.
	newBuf func() colBuf
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

// leaf is a scalar (or Timestamp/Duration) field at the end of a path.
type leaf struct {
	fd   protoreflect.FieldDescriptor
	keys bool // the keys of map fd, not its values
}

// builder generates the columns of one message type.
type builder struct {
	types Types
	cols  []column
	seen  map[string]bool
	// nodes are the messages the columns read, nodeOf their indexes by path.
	nodes  []node
	nodeOf map[string]int
	err    error
}

// node is a message reached from the event through singular message fields, read once
// per record for all the columns below it.
type node struct {
	parent int // index of the parent among the table's nodes; node 0 is the event
	fd     protoreflect.FieldDescriptor
}

// node returns the index of the node reached by steps, all singular.
func (b *builder) node(steps []step) int {
	if len(steps) == 0 {
		return 0
	}
	var key strings.Builder
	for _, s := range steps {
		key.WriteString(string(s.fd.FullName()))
		key.WriteByte('/')
	}
	if i, ok := b.nodeOf[key.String()]; ok {
		return i
	}
	parent := b.node(steps[:len(steps)-1])
	b.nodes = append(b.nodes, node{parent: parent, fd: steps[len(steps)-1].fd})
	b.nodeOf[key.String()] = len(b.nodes) - 1
	return len(b.nodes) - 1
}

// eventColumns returns the columns of an event message md, flattened from its
// descriptor as documented in the package comment, and the nodes they read.
func eventColumns(md protoreflect.MessageDescriptor, t Types) ([]column, []node, error) {
	b := &builder{types: t, seen: map[string]bool{}, nodes: []node{{}}, nodeOf: map[string]int{}}
	b.message(md, "", nil, false, 0)
	if b.err != nil {
		return nil, nil, fmt.Errorf("clickhouse: columns of %s: %w", md.FullName(), b.err)
	}
	return b.cols, b.nodes, nil
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
	p := path{steps: steps, leaf: lf, arrays: arrays}
	if arrays == 0 {
		p.node = b.node(steps)
	}
	if vd.Message() != nil {
		switch vd.Message().FullName() {
		case timestampName:
			if b.types.DateTime64 {
				addLeaf(b, name, "DateTime64(9, 'UTC')", p, nullable, orNull(timeConv(minDateTime64, maxDateTime64, false)))
				return
			}
			addLeaf(b, name, "DateTime('UTC')", p, nullable, orNull(timeConv(minDateTime, maxDateTime, true)))
			addLeaf(b, name+"_nanos", "UInt32", p, nullable, orNull(nanosConv))
		case durationName:
			addLeaf(b, name, "Decimal(38, 9)", p, nullable, orNull(durationConv))
		default:
			b.fail("field %s: message %s cannot be a column", lf.fd.FullName(), vd.Message().FullName())
		}
		return
	}
	if vd.Kind() == protoreflect.StringKind && isUint256(vd) {
		addLeaf(b, name, "String", p, nullable, orNull(stringConv))
		if b.types.UInt256 {
			// Nullable only when the value may be absent or empty.
			null := nullable || optional
			addLeaf(b, name+"_num", "UInt256", p, null, uint256Conv(null))
		} else {
			// Always Nullable: NULL above 38 digits.
			addLeaf(b, name+"_num", "Decimal(38, 0)", p, true, decimal38Conv)
		}
		return
	}
	switch vd.Kind() {
	case protoreflect.StringKind:
		addLeaf(b, name, "String", p, nullable, orNull(stringConv))
	case protoreflect.BytesKind:
		addLeaf(b, name, "String", p, nullable, orNull(func(v protoreflect.Value, _ bool) (string, error) { return string(v.Bytes()), nil }))
	case protoreflect.BoolKind:
		addLeaf(b, name, "UInt8", p, nullable, orNull(func(v protoreflect.Value, _ bool) (uint8, error) {
			if v.Bool() {
				return 1, nil
			}
			return 0, nil
		}))
	case protoreflect.EnumKind:
		values := vd.Enum().Values()
		addLeaf(b, name, "String", p, nullable, orNull(func(v protoreflect.Value, _ bool) (string, error) {
			if ev := values.ByNumber(v.Enum()); ev != nil {
				return string(ev.Name()), nil
			}
			return strconv.Itoa(int(v.Enum())), nil
		}))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		addLeaf(b, name, "Int32", p, nullable, orNull(func(v protoreflect.Value, _ bool) (int32, error) { return int32(v.Int()), nil }))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		addLeaf(b, name, "Int64", p, nullable, orNull(func(v protoreflect.Value, _ bool) (int64, error) { return v.Int(), nil }))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		addLeaf(b, name, "UInt32", p, nullable, orNull(func(v protoreflect.Value, _ bool) (uint32, error) { return uint32(v.Uint()), nil }))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		addLeaf(b, name, "UInt64", p, nullable, orNull(func(v protoreflect.Value, _ bool) (uint64, error) { return v.Uint(), nil }))
	case protoreflect.FloatKind:
		addLeaf(b, name, "Float32", p, nullable, orNull(func(v protoreflect.Value, _ bool) (float32, error) { return float32(v.Float()), nil }))
	case protoreflect.DoubleKind:
		addLeaf(b, name, "Float64", p, nullable, orNull(func(v protoreflect.Value, _ bool) (float64, error) { return v.Float(), nil }))
	default:
		b.fail("field %s: kind %s has no column type", lf.fd.FullName(), vd.Kind())
	}
}

// addLeaf adds the column name of base type base (Nullable when null, in Array(…) for
// the repeated level of p) whose values conv gives.
func addLeaf[T any](b *builder, name, base string, p path, null bool, conv nullConv[T]) {
	typ := nullIf(null, base)
	for range p.arrays {
		typ = "Array(" + typ + ")"
	}
	conv = named(p.leaf.fd, conv)
	var newBuf func() colBuf
	switch {
	case p.arrays > 1:
		b.fail("column %s: arrays of arrays are not supported", name)
		return
	case p.arrays == 1 && null:
		elem := func(v protoreflect.Value, present bool) (*T, error) {
			x, ok, err := conv(v, present)
			if err != nil || !ok {
				return nil, err
			}
			return &x, nil
		}
		newBuf = func() colBuf {
			return &plainBuf[[]*T]{rowWise: true, get: func(s *source) ([]*T, error) {
				return collect(p, s.msgs[0], 0, []*T{}, elem)
			}}
		}
	case p.arrays == 1:
		elem := func(v protoreflect.Value, present bool) (T, error) {
			x, _, err := conv(v, present)
			return x, err
		}
		newBuf = func() colBuf {
			return &plainBuf[[]T]{rowWise: true, get: func(s *source) ([]T, error) {
				return collect(p, s.msgs[0], 0, []T{}, elem)
			}}
		}
	case null:
		newBuf = func() colBuf {
			return &nullBuf[T]{get: func(s *source) (T, bool, error) { return conv(p.scalar(s)) }}
		}
	default:
		newBuf = func() colBuf {
			return &plainBuf[T]{get: func(s *source) (T, error) {
				x, _, err := conv(p.scalar(s))
				return x, err
			}}
		}
	}
	b.add(column{name: name, chType: typ, newBuf: newBuf})
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

// nullConv converts one value of a leaf for its column: present says whether the field
// is set (always true for the entries of lists and maps), ok false means NULL (a
// column that is not Nullable ignores it and takes x).
type nullConv[T any] func(v protoreflect.Value, present bool) (x T, ok bool, err error)

// orNull makes conv a nullConv that is NULL when the value is absent.
func orNull[T any](conv func(protoreflect.Value, bool) (T, error)) nullConv[T] {
	return func(v protoreflect.Value, present bool) (T, bool, error) {
		x, err := conv(v, present)
		return x, present, err
	}
}

// named prefixes conv's errors with the name of field fd.
func named[T any](fd protoreflect.FieldDescriptor, conv nullConv[T]) nullConv[T] {
	return func(v protoreflect.Value, present bool) (T, bool, error) {
		x, ok, err := conv(v, present)
		if err != nil {
			return x, false, fmt.Errorf("%s: %w", fd.FullName(), err)
		}
		return x, ok, nil
	}
}

func stringConv(v protoreflect.Value, _ bool) (string, error) { return v.String(), nil }

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
func decimal38Conv(v protoreflect.Value, present bool) (decimal.Decimal, bool, error) {
	s := v.String()
	if !present || s == "" || len(s) > maxDecimal38 {
		return decimal.Decimal{}, false, nil
	}
	if err := checkDigits(s); err != nil {
		return decimal.Decimal{}, false, err
	}
	if len(s) <= 18 { // fits an int64: no parsing through big.Int
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return decimal.New(n, 0), true, nil
		}
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, false, fmt.Errorf("%w: %v", errValue, err)
	}
	return d, true, nil
}

// uint256Conv gives the UInt256 value of a uint256 string; for a Nullable column NULL
// when absent or empty.
func uint256Conv(nullable bool) nullConv[big.Int] {
	return func(v protoreflect.Value, present bool) (big.Int, bool, error) {
		var n big.Int
		s := v.String()
		if nullable && (!present || s == "") {
			return n, false, nil
		}
		if err := checkDigits(s); err != nil {
			return n, false, err
		}
		if _, ok := n.SetString(s, 10); !ok || n.BitLen() > 256 {
			return big.Int{}, false, fmt.Errorf("%w: %q is not a uint256", errValue, s)
		}
		return n, true, nil
	}
}

// Field numbers of google.protobuf.Timestamp and Duration.
const (
	secondsField protoreflect.FieldNumber = 1
	nanosField   protoreflect.FieldNumber = 2
)

// secondsNanos returns the fields of a Timestamp or Duration.
func secondsNanos(v protoreflect.Value) (int64, int64) {
	m := v.Message()
	f := m.Descriptor().Fields()
	return m.Get(f.ByNumber(secondsField)).Int(), m.Get(f.ByNumber(nanosField)).Int()
}

func protoTime(v protoreflect.Value) time.Time {
	return time.Unix(secondsNanos(v)).UTC()
}

// timeConv converts a Timestamp, refusing times outside [lo, hi]; truncate drops the
// nanoseconds (kept in a <name>_nanos column).
func timeConv(lo, hi time.Time, truncate bool) func(protoreflect.Value, bool) (time.Time, error) {
	return func(v protoreflect.Value, present bool) (time.Time, error) {
		if !present {
			return time.Time{}, nil
		}
		t := protoTime(v)
		if t.Before(lo) || t.After(hi) {
			return time.Time{}, fmt.Errorf("%w: time %s outside %s..%s", errValue, t.Format(time.RFC3339Nano), lo.Format(time.RFC3339), hi.Format(time.RFC3339))
		}
		if truncate {
			t = t.Truncate(time.Second)
		}
		return t, nil
	}
}

func nanosConv(v protoreflect.Value, present bool) (uint32, error) {
	if !present {
		return 0, nil
	}
	return uint32(protoTime(v).Nanosecond()), nil
}

func durationConv(v protoreflect.Value, present bool) (decimal.Decimal, error) {
	if !present {
		return decimal.Decimal{}, nil
	}
	secs, nanos := secondsNanos(v)
	n := new(big.Int).Mul(big.NewInt(secs), big.NewInt(1e9))
	n.Add(n, big.NewInt(nanos))
	return decimal.NewFromBigInt(n, -9), nil
}

// path leads from an event to one leaf: through the message fields of steps, then the
// leaf's field.
type path struct {
	steps []step
	leaf  leaf
	// arrays counts the repeated levels on the way, the leaf's own included.
	arrays int
	// node is the node steps lead to, when arrays is 0.
	node int
}

// scalar returns the leaf's value in s and whether it is set, for a path with no
// repeated level.
func (p path) scalar(s *source) (protoreflect.Value, bool) {
	m := s.msgs[p.node]
	fd := p.leaf.fd
	return m.Get(fd), !fd.HasPresence() || m.Has(fd)
}

// collect appends to out the converted values of the leaf reached from m by the steps
// from i on, for a path with one repeated level: list entries in order, map entries in
// key order.
func collect[E any](p path, m protoreflect.Message, i int, out []E, conv func(protoreflect.Value, bool) (E, error)) ([]E, error) {
	add := func(v protoreflect.Value, present bool) error {
		e, err := conv(v, present)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}
	if i == len(p.steps) {
		fd := p.leaf.fd
		switch {
		case fd.IsMap():
			mp := m.Get(fd).Map()
			for _, k := range sortedKeys(mp) {
				v := mp.Get(k)
				if p.leaf.keys {
					v = k.Value()
				}
				if err := add(v, true); err != nil {
					return nil, err
				}
			}
		case fd.IsList():
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				if err := add(l.Get(j), true); err != nil {
					return nil, err
				}
			}
		default:
			if err := add(m.Get(fd), !fd.HasPresence() || m.Has(fd)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	s := p.steps[i]
	var err error
	switch {
	case s.mp:
		mp := m.Get(s.fd).Map()
		for _, k := range sortedKeys(mp) {
			if out, err = collect(p, mp.Get(k).Message(), i+1, out, conv); err != nil {
				return nil, err
			}
		}
	case s.list:
		l := m.Get(s.fd).List()
		for j := 0; j < l.Len(); j++ {
			if out, err = collect(p, l.Get(j).Message(), i+1, out, conv); err != nil {
				return nil, err
			}
		}
	default:
		return collect(p, m.Get(s.fd).Message(), i+1, out, conv)
	}
	return out, nil
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
