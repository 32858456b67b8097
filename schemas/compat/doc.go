// Package compat holds the schema compatibility baseline, baseline.binpb: a buf image of
// the event schemas as last accepted. schemas/breaking.sh (make breaking) fails when
// schemas/proto breaks a message of the baseline, under the rules in schemas/buf.yaml
// (WIRE_JSON: field numbers, types, names and enum values of existing messages never
// change; plus no deleted packages, messages or enums). The package has no Go API; its tests
// prove that the check rejects breaking edits and accepts compatible ones.
package compat
