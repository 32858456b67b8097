// Package codec decodes and encodes weir events: protobuf messages of schemas/proto that
// carry weir.common.v1.Meta as field 1.
//
// Protobuf checks the wire format; codec also checks what protobuf cannot, so that a
// malformed or dishonest record is rejected at the edge of every consumer with an error
// that names the field (and goes to the topic's dead-letter topic) instead of corrupting
// state:
//
//   - Meta is present, with a non-empty event_id (at most 256 bytes), a valid event_time
//     and a source;
//   - fields marked (weir.common.v1.required) are set: non-empty strings, bytes and lists,
//     non-zero numbers and enums, present messages;
//   - fields marked (weir.common.v1.uint256) — every amount of base units, e.g.
//     Amount.value — are canonical decimals below 2^256: digits only, no sign, no leading
//     zeros or spaces, at most 78 digits (see CheckUint256);
//   - fields marked (weir.common.v1.decimal_places) are at most 77;
//   - every google.protobuf.Timestamp and Duration that is set is valid.
//
// Unmarshal decodes into a message of a known type, Decode looks the type up by its full
// name (the catalogue's Topic.Value), Marshal validates and encodes deterministically.
// Errors wrap ErrMalformed (not protobuf), ErrInvalid (a rule above; errors.As gives the
// *FieldError) or ErrUnknownType. Unknown fields are kept, so a consumer built from older
// schemas passes newer fields through.
//
// Everything here is stateless and safe for concurrent use.
package codec
