// Package codectest builds valid events with every field set, for tests of the code that
// stores or moves events (sinks, round trips): what such code drops or mangles shows up
// as a field that differs.
package codectest

import (
	"fmt"
	"math/big"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// BaseTime is the time every populated timestamp is near: BaseTime plus seed seconds.
var BaseTime = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// MaxUint256 is 2^256-1 in decimal, the largest value a uint256 field holds; Populate
// puts it in the second element of repeated uint256 fields and in uint256 fields of
// odd seeds, so stores must keep 78-digit amounts exactly.
const MaxUint256 = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

// Populate sets every field of m, recursively, to a value that satisfies the schema's
// rules (codec.Validate accepts the result), varied by seed so that events of different
// seeds differ in every field: strings end in the seed, numbers grow with it,
// timestamps are BaseTime plus seed seconds, and Meta.event_id is
// eventid.New(message name, "populated", seed). Lists get two elements, maps one entry;
// of a oneof, the last member is set. It panics on a field kind it does not know.
func Populate(m protoreflect.Message, seed int) {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		ts := timestamppb.New(BaseTime.Add(time.Duration(seed) * time.Second))
		m.Set(m.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(ts.Seconds))
		m.Set(m.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(ts.Nanos))
		return
	case "google.protobuf.Duration":
		d := durationpb.New(1500*time.Millisecond + time.Duration(seed)*time.Millisecond)
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
					Populate(e.Message(), seed)
					l.Append(e)
				} else {
					l.Append(scalar(fd, seed, j))
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			k := scalar(fd.MapKey(), seed, 0).MapKey()
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v := mp.NewValue()
				Populate(v.Message(), seed)
				mp.Set(k, v)
			} else {
				mp.Set(k, scalar(fd.MapValue(), seed, 0))
			}
		case fd.Kind() == protoreflect.MessageKind:
			Populate(m.Mutable(fd).Message(), seed)
		default:
			m.Set(fd, scalar(fd, seed, 0))
		}
	}
	if meta := m.Descriptor().Fields().ByName("meta"); meta != nil {
		mm := m.Get(meta).Message()
		id := eventid.New(string(m.Descriptor().FullName()), "populated", strconv.Itoa(seed))
		mm.Set(mm.Descriptor().Fields().ByName("event_id"), protoreflect.ValueOfString(id))
	}
}

// scalar is the value of element j of scalar field fd for seed.
func scalar(fd protoreflect.FieldDescriptor, seed, j int) protoreflect.Value {
	opts, _ := fd.Options().(*descriptorpb.FieldOptions)
	uint256 := opts != nil && proto.GetExtension(opts, commonv1.E_Uint256).(bool)
	decimals := opts != nil && proto.GetExtension(opts, commonv1.E_DecimalPlaces).(bool)
	switch fd.Kind() {
	case protoreflect.StringKind:
		if uint256 {
			if j == 1 || seed%2 == 1 {
				return protoreflect.ValueOfString(MaxUint256)
			}
			v := new(big.Int).Add(big.NewInt(1_000_000_000_000_000_000), big.NewInt(int64(seed)))
			return protoreflect.ValueOfString(v.String())
		}
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d-%d", fd.Name(), j, seed))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0x02, 0xf8, byte(j), byte(seed)})
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(seed%2 == 0)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if vals.Len() < 2 {
			return protoreflect.ValueOfEnum(vals.Get(0).Number())
		}
		// Any value but 0 (UNSPECIFIED, which required enums refuse), varied by seed.
		return protoreflect.ValueOfEnum(vals.Get(1 + seed%(vals.Len()-1)).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(-7 - j - seed))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(-1)<<40 - int64(j) - int64(seed))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if decimals {
			return protoreflect.ValueOfUint32(18)
		}
		return protoreflect.ValueOfUint32(uint32(7 + j + seed))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(1)<<40 + uint64(j) + uint64(seed))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(0.25 + float64(seed))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(0.25 + float32(seed))
	}
	panic(fmt.Sprintf("codectest: field %s has kind %s, which Populate does not know", fd.FullName(), fd.Kind()))
}
