// Package deploy is the catalogue of the servers that weir runs against in cluster mode —
// Kafka, ClickHouse, Elasticsearch, Redis and an Ethereum node — and the home of the files
// that start them:
//
//   - local/up.sh starts the real stack on loopback without Docker: it installs what is
//     missing (Debian packages, Maven Central artifacts, geth built with go install at the
//     go.mod version), starts each server in the background with its logs and pid file in
//     local/.run/, waits until each one answers a real request, and writes local/stack.env
//     with the addresses (WEIR_KAFKA_BROKERS, …). It is idempotent: a healthy server is
//     left alone. local/down.sh stops, by pid, what it started.
//   - compose/compose.yaml runs the same services on the same loopback ports with Docker.
//
// [Services] lists each server with the ports it listens on and the stack.env variables
// that point at it; the tests of this package keep up.sh and compose.yaml consistent with
// that list, so a port changed in one place only fails the build.
//
// Known limits of the local stack: ClickHouse is Debian's 18.16 (native protocol only for
// clickhouse-go v2; no DateTime64, Map or 256-bit types). Elasticsearch is the
// integ-test-zip distribution, whose only modules are transport-netty4, x-pack-core,
// x-pack-security (disabled) and apm: the server's core APIs (index, get, bulk, search
// with the core queries and aggregations, mappings, _cluster/health) work, but GET / (the
// client's Info call), analysis-common filters, painless scripts and the reindex module
// (_reindex, _update_by_query, _delete_by_query) are absent.
package deploy
