// Package parquet is the Parquet archive of every topic, written with Arrow, and weir
// dev's analytics store: Query runs DuckDB SQL over it with the views and column names
// of the ClickHouse tables (package sinks/clickhouse).
//
// # Layout
//
//	<Dir>/<topic>/date=YYYY-MM-DD/<partition>-<firstOffset>-<lastOffset>.parquet
//
// The date is the event's Meta.event_time in UTC. A file holds records of one
// partition and date with offsets from first to last (offsets between may belong to
// other dates). Its key-value metadata repeats weir.topic, weir.partition,
// weir.first_offset and weir.last_offset; a file written by Compact also lists the
// ranges it replaced in weir.merged. Temporary files start with '.' and end in .tmp,
// so no *.parquet glob reads them.
//
// # Columns
//
// One Arrow schema per topic, generated from the descriptor of its message with the
// ClickHouse sink's flattening and names: nested messages flattened with '_'
// (amount.value → amount_value), meta.event_id and meta.event_time as event_id and
// event_time, the other Meta fields meta_<name>, then _topic, _partition, _offset and
// _ingested_at. The column names are those of the tables on ClickHouse 18.16:
//
//   - uint256 decimal strings: utf8 with the exact digits, plus <name>_num
//     Decimal128(38, 0), NULL when absent, empty or longer than 38 digits;
//   - Timestamp: timestamp[ns, UTC] plus <name>_nanos uint32, the nanoseconds of the
//     second (DuckDB reads the timestamp at microsecond precision); Duration:
//     Decimal128(38, 9) seconds;
//   - enums: utf8 names; bool: boolean; bytes: binary; repeated fields: lists (of a
//     repeated message, one list per flattened field); maps: <name>_keys and
//     <name>_values lists in key order;
//   - fields with explicit presence are NULL when absent.
//
// # Exactly once
//
// Write groups records by topic, partition and date and writes each group through a
// synced temporary file renamed into place (then the directory is synced), so a file
// exists whole or not at all. For each (topic, partition) it knows, per date, the
// highest offset archived — from the file names, scanned when the partition is first
// seen and again after Assigned — and leaves out records at or below it. The threshold
// is per date, not per partition: a Write whose records interleave two dates writes two
// files, and a crash between them must not make the replay skip the second date's
// records. It holds because the runner hands records in offset order and writes a batch
// only after the previous one succeeded, so within one partition and date every record
// at or below the highest archived offset is archived. The writer's files of one
// partition and date therefore never overlap.
//
// # Compaction
//
// Compact merges consecutive small files of one partition and date into one named
// after the range it spans; inputs are removed only once it is synced in place. A
// file inside the range of another of its partition and date is covered: readers
// (Query, the writer's scan) ignore it and the next Compact removes it. A merged file
// covers one partition, so every file name states its exact coverage and no manifest
// is needed; a (topic, date) keeps at least one file per partition.
package parquet
