// Package clickhouse lands every topic of the catalogue in ClickHouse, one table per
// topic, for analysts' SQL.
//
// # Tables
//
// A topic's table is named after it with '.' and '-' replaced by '_' (chain.transfers →
// chain_transfers, ledger.account-totals.1m → ledger_account_totals_1m) and lives in
// Options.Database ("weir"). Its columns are generated from the protobuf descriptor of
// the topic's value message, so every field of every event lands: nested messages are
// flattened with '_' (amount.value → amount_value, block.hash → block_hash), except
// that meta.event_id and meta.event_time become event_id and event_time and the other
// Meta fields meta_<name>. Column types:
//
//   - uint256 decimal strings (the (weir.common.v1.uint256) option): a String column
//     with the exact digits plus a numeric column <name>_num, UInt256 on servers that
//     have it (Nullable when the field may be absent), else Nullable(Decimal(38, 0)),
//     NULL when the value has more than 38 digits. Never a float.
//   - google.protobuf.Timestamp: DateTime64(9, 'UTC'), or on servers without it
//     DateTime('UTC') plus <name>_nanos UInt32. Nullable unless the field is required.
//   - google.protobuf.Duration: Decimal(38, 9), in seconds, exact. Nullable.
//   - enums: String holding the value's name; bool: UInt8; bytes: String.
//   - repeated fields: Array(T) (repeated messages: one array per flattened field);
//     maps: <name>_keys and <name>_values arrays, sorted by key. A repeated field
//     inside a repeated message (Array(Array(T))) is refused: Tables fails.
//   - scalars with explicit presence (proto3 optional, oneof members): Nullable(T).
//
// Every table also has _topic String, _partition Int32, _offset Int64 and
// _ingested_at DateTime('UTC'). The engine is ReplacingMergeTree, partitioned by
// toYYYYMM(event_time), ordered by a per-table key that ends in event_id (see
// SortKey).
//
// The server's version picks the types: DateTime64 from 20.1, UInt256 from 21.7
// (ClickHouse 18.16, the Debian package, has neither). The choice is made when the
// database is first migrated and recorded in schema_migrations, so a server upgrade
// does not change the types of existing tables under a running writer.
//
// Write computes each table's rows column by column, into typed slices planned once
// per table from the descriptor, and hands them to clickhouse-go column by column, so
// that no value is boxed or built by reflection.
//
// # Exactly once
//
// Write remembers, per table and partition, the highest _offset the table holds
// (read from ClickHouse the first time a partition is seen and again after Assigned),
// skips records at or below it, and sends one INSERT per table per Write. A replay
// after a crash therefore adds no rows; ReplacingMergeTree is the backstop for an
// INSERT that was split across months and only partly landed.
//
// # Reorgs, views and rollups
//
// Records of chain.retractions also land, one row per retracted event id, in
// chain_retracted_events; the views <table>_canonical of every chain table select the
// rows (FINAL) whose event_id was not retracted. Analysts query those views.
// Materialized views keep hourly rollups: payments_volume_hourly (succeeded intents
// per merchant and asset, exact sums), risk_score_distribution_hourly (scores per
// model version and 1000-basis-point bucket) and risk_alerts_hourly (alerts per
// severity). All of it is created by Migrate, in numbered migrations recorded in
// schema_migrations.
//
// # Migrations
//
// The first migration, the tables, is generated from the catalogue and the event
// descriptors, so it changes whenever a topic or a field is added. Migrate then
// evolves the database additively: missing tables are created, missing columns added
// in the code's order (ALTER TABLE … ADD COLUMN … AFTER, which ClickHouse 18.16 has;
// it has neither FIRST nor ADD COLUMN IF NOT EXISTS), the *_canonical views of the
// tables that gained columns re-created (a view keeps the columns it was created
// with), and the migration recorded again with its new checksum, so schema_migrations
// keeps one row per version of the tables. Nothing is dropped or retyped: a column
// whose type differs from the code's stops Migrate (ErrColumnType) before it changes
// anything, for a human to write the migration; a column the catalogue no longer has
// stays (the writer names its columns, so it takes its default) and is logged. Enum
// fields are String columns, so a new enum value changes no type. The other
// migrations are written by hand and checked strictly: a recorded checksum that
// differs from the code's stops Migrate and Open (ErrChecksum). Open refuses a
// database not yet evolved to its catalogue (ErrNotMigrated).
//
// On ClickHouse 18.16, toString() of a Decimal128 with more than about 20 digits prints
// garbage; the value itself, its sums and clickhouse-client's output formats are right.
// Compare and print the *_num columns as they are, not through toString.
package clickhouse
