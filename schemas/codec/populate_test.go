package codec

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
)

var testTime = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// populate sets every field of m, recursively, to a value that satisfies the schema's
// rules, so that a round trip exercises every field of every message. Lists get two
// elements, maps one entry; of a oneof, the last member is set.
func populate(t testing.TB, m protoreflect.Message) {
	t.Helper()
	switch m.Descriptor().FullName() {
	case timestampName:
		ts := timestamppb.New(testTime)
		m.Set(m.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(ts.Seconds))
		m.Set(m.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(ts.Nanos))
		return
	case durationName:
		d := durationpb.New(1500 * time.Millisecond)
		m.Set(m.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(d.Seconds))
		m.Set(m.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(d.Nanos))
		return
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for j := 0; j < 2; j++ {
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					populate(t, e.Message())
					l.Append(e)
				} else {
					l.Append(scalar(t, fd, j))
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			k := scalar(t, fd.MapKey(), 0).MapKey()
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v := mp.NewValue()
				populate(t, v.Message())
				mp.Set(k, v)
			} else {
				mp.Set(k, scalar(t, fd.MapValue(), 0))
			}
		case fd.Kind() == protoreflect.MessageKind:
			populate(t, m.Mutable(fd).Message())
		default:
			m.Set(fd, scalar(t, fd, 0))
		}
	}
	if meta := m.Descriptor().Fields().ByName("meta"); meta != nil {
		mm := m.Get(meta).Message()
		id := eventid.New(string(m.Descriptor().FullName()), "populated")
		mm.Set(mm.Descriptor().Fields().ByName("event_id"), protoreflect.ValueOfString(id))
	}
}

func scalar(t testing.TB, fd protoreflect.FieldDescriptor, j int) protoreflect.Value {
	t.Helper()
	r := fieldRules(fd)
	switch fd.Kind() {
	case protoreflect.StringKind:
		if r.uint256 {
			return protoreflect.ValueOfString([]string{"1000000000000000000", MaxUint256}[j])
		}
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d", fd.Name(), j))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0x02, 0xf8, byte(j)})
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(-7 - j))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(-1)<<40 - int64(j))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if r.decimalPlaces {
			return protoreflect.ValueOfUint32(18)
		}
		return protoreflect.ValueOfUint32(uint32(7 + j))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(1)<<40 + uint64(j))
	}
	t.Fatalf("populate: field %s has kind %s, which the test does not know: extend scalar()", fd.FullName(), fd.Kind())
	return protoreflect.Value{}
}
