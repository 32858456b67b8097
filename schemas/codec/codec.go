package codec

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	ledgerv1 "github.com/weirhq/weir/schemas/gen/weir/ledger/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	reconciliationv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
	settlementv1 "github.com/weirhq/weir/schemas/gen/weir/settlement/v1"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
)

// Errors returned (wrapped) by this package; test with errors.Is.
var (
	// ErrMalformed means the bytes are not a valid protobuf encoding of the message.
	ErrMalformed = errors.New("malformed")
	// ErrInvalid means the message decoded but breaks a rule of the schema; the error
	// chain holds a *FieldError naming the field.
	ErrInvalid = errors.New("invalid")
	// ErrUnknownType means the name is not the full name of a weir event message.
	ErrUnknownType = errors.New("unknown event type")
)

// MaxEventIDLen is the longest Meta.event_id accepted, in bytes. Ids from
// schemas/eventid are 64.
const MaxEventIDLen = 256

// Event is a weir event message: every generated event type (e.g. *ledgerv1.Posting)
// implements it.
type Event interface {
	proto.Message
	// GetMeta returns the event's Meta, nil when it is not set.
	GetMeta() *commonv1.Meta
}

// FieldError reports a field that breaks a schema rule. It unwraps to ErrInvalid.
type FieldError struct {
	// Path locates the field from the event's root, e.g. "amount.value",
	// "features[2].units", "meta.event_time".
	Path string
	// Reason says what is wrong, e.g. `not a canonical decimal: leading zero in "007"`.
	Reason string
}

// Error returns "<path>: <reason>".
func (e *FieldError) Error() string { return e.Path + ": " + e.Reason }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// events lists every event type; New and Decode resolve names against it only, so a
// record can never be decoded as a non-event message such as weir.common.v1.Amount.
var events = []Event{
	(*chainv1.Block)(nil),
	(*chainv1.Transaction)(nil),
	(*chainv1.Receipt)(nil),
	(*chainv1.Log)(nil),
	(*chainv1.Transfer)(nil),
	(*chainv1.Approval)(nil),
	(*chainv1.Retraction)(nil),
	(*chainv1.FinalityMarker)(nil),
	(*chainv1.IngestCheckpoint)(nil),
	(*paymentsv1.IntentTransition)(nil),
	(*paymentsv1.MerchantConfig)(nil),
	(*paymentsv1.ConditionEvent)(nil),
	(*paymentsv1.Subscription)(nil),
	(*paymentsv1.UsageRecord)(nil),
	(*paymentsv1.MicroCharge)(nil),
	(*paymentsv1.ChargeSettlement)(nil),
	(*paymentsv1.ApprovalRequest)(nil),
	(*paymentsv1.WebhookDelivery)(nil),
	(*signerv1.SigningRequest)(nil),
	(*signerv1.SigningApproval)(nil),
	(*signerv1.SignedTransaction)(nil),
	(*signerv1.KeyRecoveryStep)(nil),
	(*signerv1.AuditRecord)(nil),
	(*ledgerv1.Posting)(nil),
	(*ledgerv1.AccountWindowTotal)(nil),
	(*riskv1.FeatureVector)(nil),
	(*riskv1.RiskScore)(nil),
	(*riskv1.RiskAlert)(nil),
	(*riskv1.RiskLabel)(nil),
	(*reconciliationv1.ReconciliationResult)(nil),
	(*settlementv1.SettlementBatch)(nil),
	(*settlementv1.Payout)(nil),
}

// Names returns the full names of all event messages, sorted, e.g.
// "weir.ledger.v1.Posting". It returns a new slice on each call.
func Names() []string {
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = string(e.ProtoReflect().Descriptor().FullName())
	}
	slices.Sort(names)
	return names
}

// New returns a new, empty event of the named type (a message full name, as in
// catalog.Topic.Value). The error wraps ErrUnknownType for a name that is not an event.
func New(name string) (Event, error) {
	for _, e := range events {
		mt := e.ProtoReflect().Type()
		if string(mt.Descriptor().FullName()) == name {
			return mt.New().Interface().(Event), nil
		}
	}
	return nil, fmt.Errorf("codec: %w %q", ErrUnknownType, name)
}

// Decode decodes b as an event of the named type and validates it (see Unmarshal).
func Decode(name string, b []byte) (Event, error) {
	ev, err := New(name)
	if err != nil {
		return nil, err
	}
	if err := Unmarshal(b, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// Unmarshal decodes b into ev, replacing its contents, and validates it. Unknown fields
// are kept. The error wraps ErrMalformed or ErrInvalid and names the message type.
func Unmarshal(b []byte, ev Event) error {
	name := ev.ProtoReflect().Descriptor().FullName()
	if err := proto.Unmarshal(b, ev); err != nil {
		return fmt.Errorf("codec: %w %s: %w", ErrMalformed, name, err)
	}
	return Validate(ev)
}

// Marshal validates ev and encodes it deterministically (map entries sorted), so that
// equal events encode to equal bytes. The error wraps ErrInvalid.
func Marshal(ev Event) ([]byte, error) {
	if err := Validate(ev); err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("codec: marshal %s: %w", ev.ProtoReflect().Descriptor().FullName(), err)
	}
	return b, nil
}

// Validate checks ev against the rules listed in the package documentation and returns
// the first violation as an error wrapping a *FieldError (and so ErrInvalid), or nil.
func Validate(ev Event) error {
	m := ev.ProtoReflect()
	name := m.Descriptor().FullName()
	if err := validateMeta(ev.GetMeta()); err != nil {
		return fmt.Errorf("codec: %w %s: %w", ErrInvalid, name, err)
	}
	if err := validateMessage(m); err != nil {
		return fmt.Errorf("codec: %w %s: %w", ErrInvalid, name, err)
	}
	return nil
}

// validateMeta checks Meta explicitly, so that the rule holds even for an event whose
// schema forgot the options.
func validateMeta(meta *commonv1.Meta) *FieldError {
	switch {
	case meta == nil:
		return &FieldError{Path: "meta", Reason: "missing"}
	case meta.GetEventId() == "":
		return &FieldError{Path: "meta.event_id", Reason: "empty"}
	case len(meta.GetEventId()) > MaxEventIDLen:
		return &FieldError{Path: "meta.event_id", Reason: fmt.Sprintf("longer than %d bytes", MaxEventIDLen)}
	case meta.GetEventTime() == nil:
		return &FieldError{Path: "meta.event_time", Reason: "missing"}
	case meta.GetSource() == "":
		return &FieldError{Path: "meta.source", Reason: "empty"}
	}
	return nil
}

// A FieldError's Path is built while the error travels back up from the field: each
// level prepends its field name, so the success path allocates nothing for paths.
func (e *FieldError) under(segment string) *FieldError {
	switch {
	case e.Path == "":
		e.Path = segment
	case strings.HasPrefix(e.Path, "["):
		e.Path = segment + e.Path
	default:
		e.Path = segment + "." + e.Path
	}
	return e
}

func errAt(name protoreflect.Name, format string, args ...any) *FieldError {
	return &FieldError{Path: string(name), Reason: fmt.Sprintf(format, args...)}
}

type rules struct {
	required, uint256, decimalPlaces bool
}

func fieldRules(fd protoreflect.FieldDescriptor) rules {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil {
		return rules{}
	}
	return rules{
		required:      proto.GetExtension(opts, commonv1.E_Required).(bool),
		uint256:       proto.GetExtension(opts, commonv1.E_Uint256).(bool),
		decimalPlaces: proto.GetExtension(opts, commonv1.E_DecimalPlaces).(bool),
	}
}

// plan is what to check in one message type: only the fields that carry a rule or hold
// messages, with their rules read once from the descriptors' options.
type plan struct {
	fields []fieldPlan
}

type fieldPlan struct {
	fd protoreflect.FieldDescriptor
	rules
}

// plans holds the plan of every message type reachable from an event type. It is built
// once, when the package is initialised, and only read afterwards.
var plans = buildPlans()

func buildPlans() map[protoreflect.FullName]*plan {
	out := make(map[protoreflect.FullName]*plan)
	var add func(md protoreflect.MessageDescriptor)
	add = func(md protoreflect.MessageDescriptor) {
		if _, ok := out[md.FullName()]; ok {
			return
		}
		p := planOf(md)
		out[md.FullName()] = p
		for _, f := range p.fields {
			switch {
			case f.fd.IsMap() && f.fd.MapValue().Message() != nil:
				add(f.fd.MapValue().Message())
			case f.fd.Message() != nil && !f.fd.IsMap():
				add(f.fd.Message())
			}
		}
	}
	for _, e := range events {
		add(e.ProtoReflect().Descriptor())
	}
	return out
}

func planOf(md protoreflect.MessageDescriptor) *plan {
	p := &plan{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		r := fieldRules(fd)
		holdsMessage := fd.Message() != nil && (!fd.IsMap() || fd.MapValue().Message() != nil)
		if r != (rules{}) || holdsMessage {
			p.fields = append(p.fields, fieldPlan{fd: fd, rules: r})
		}
	}
	return p
}

const (
	timestampName protoreflect.FullName = "google.protobuf.Timestamp"
	durationName  protoreflect.FullName = "google.protobuf.Duration"
)

func validateMessage(m protoreflect.Message) *FieldError {
	md := m.Descriptor()
	switch md.FullName() {
	case timestampName:
		if err := asTime(m).CheckValid(); err != nil {
			return &FieldError{Reason: fmt.Sprintf("invalid timestamp: %v", err)}
		}
		return nil
	case durationName:
		if err := asDuration(m).CheckValid(); err != nil {
			return &FieldError{Reason: fmt.Sprintf("invalid duration: %v", err)}
		}
		return nil
	}
	p, ok := plans[md.FullName()]
	if !ok {
		p = planOf(md) // a message type not reachable from the events list
	}
	for _, f := range p.fields {
		fd, r := f.fd, f.rules
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			if r.required && l.Len() == 0 {
				return errAt(fd.Name(), "required, empty")
			}
			for j := 0; j < l.Len(); j++ {
				if err := validateValue(fd, r, l.Get(j)); err != nil {
					return err.under("[" + strconv.Itoa(j) + "]").under(string(fd.Name()))
				}
			}
		case fd.IsMap():
			mp := m.Get(fd).Map()
			if r.required && mp.Len() == 0 {
				return errAt(fd.Name(), "required, empty")
			}
			var err *FieldError
			mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				if err = validateValue(fd.MapValue(), rules{}, v); err != nil {
					err = err.under("[" + strconv.Quote(k.String()) + "]").under(string(fd.Name()))
				}
				return err == nil
			})
			if err != nil {
				return err
			}
		default:
			if !m.Has(fd) {
				if r.required {
					return errAt(fd.Name(), "required, not set")
				}
				// Implicit-presence fields read as their zero value, which the
				// uint256 rule rejects (""); explicit-presence ones are simply absent.
				if !r.uint256 || fd.HasPresence() {
					continue
				}
			}
			if err := validateValue(fd, r, m.Get(fd)); err != nil {
				return err.under(string(fd.Name()))
			}
		}
	}
	return nil
}

// validateValue checks one value of fd; the returned error's Path is relative to the value
// (empty for a scalar), and the caller prepends the field's name.
func validateValue(fd protoreflect.FieldDescriptor, r rules, v protoreflect.Value) *FieldError {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return validateMessage(v.Message())
	case protoreflect.StringKind:
		if r.required && v.String() == "" {
			return &FieldError{Reason: "required, empty"}
		}
		if r.uint256 {
			if err := CheckUint256(v.String()); err != nil {
				return &FieldError{Reason: err.Error()}
			}
		}
	case protoreflect.Uint32Kind:
		if r.decimalPlaces && v.Uint() > MaxDecimals {
			return &FieldError{Reason: fmt.Sprintf("%d decimal places, more than %d", v.Uint(), MaxDecimals)}
		}
	}
	return nil
}

func asTime(m protoreflect.Message) *timestamppb.Timestamp {
	if t, ok := m.Interface().(*timestamppb.Timestamp); ok {
		return t
	}
	fields := m.Descriptor().Fields()
	return &timestamppb.Timestamp{
		Seconds: m.Get(fields.ByName("seconds")).Int(),
		Nanos:   int32(m.Get(fields.ByName("nanos")).Int()),
	}
}

func asDuration(m protoreflect.Message) *durationpb.Duration {
	if d, ok := m.Interface().(*durationpb.Duration); ok {
		return d
	}
	fields := m.Descriptor().Fields()
	return &durationpb.Duration{
		Seconds: m.Get(fields.ByName("seconds")).Int(),
		Nanos:   int32(m.Get(fields.ByName("nanos")).Int()),
	}
}
