// Package testenv gives integration tests the addresses of the real servers that
// deploy/local/up.sh starts (Kafka, ClickHouse, Elasticsearch, Redis, an Ethereum node).
//
// Each accessor reads the same environment variable that weir itself reads
// (WEIR_KAFKA_BROKERS, …) and checks that the server answers on TCP. When the variable is
// unset or the server does not answer, the test is skipped on a developer's machine and
// fails when CI is set: integration tests must never pass by skipping in CI.
package testenv

import (
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// Environment variables naming the real servers; deploy/local/stack.env sets them.
const (
	EnvKafka         = "WEIR_KAFKA_BROKERS"
	EnvClickHouse    = "WEIR_CLICKHOUSE_ADDR"
	EnvElasticsearch = "WEIR_ELASTICSEARCH_URL"
	EnvRedis         = "WEIR_REDIS_ADDR"
	EnvEthRPC        = "WEIR_ETH_RPC_URL"
)

// dialTimeout bounds the reachability probe of each server.
const dialTimeout = 3 * time.Second

// InCI reports whether the tests run under CI (the CI variable is set and not "false"
// or "0"), where a missing server is a failure, not a skip.
func InCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// Kafka returns the seed brokers of the real Kafka cluster.
func Kafka(t testing.TB) []string {
	t.Helper()
	v := require(t, EnvKafka)
	brokers := strings.Split(v, ",")
	reachable(t, EnvKafka, brokers[0])
	return brokers
}

// ClickHouse returns the host:port of ClickHouse's native protocol.
func ClickHouse(t testing.TB) string {
	t.Helper()
	v := require(t, EnvClickHouse)
	reachable(t, EnvClickHouse, v)
	return v
}

// Elasticsearch returns the base URL of Elasticsearch.
func Elasticsearch(t testing.TB) string {
	t.Helper()
	v := require(t, EnvElasticsearch)
	reachable(t, EnvElasticsearch, hostPort(t, v))
	return v
}

// Redis returns the host:port of Redis.
func Redis(t testing.TB) string {
	t.Helper()
	v := require(t, EnvRedis)
	reachable(t, EnvRedis, v)
	return v
}

// EthRPC returns the HTTP JSON-RPC URL of the Ethereum node.
func EthRPC(t testing.TB) string {
	t.Helper()
	v := require(t, EnvEthRPC)
	reachable(t, EnvEthRPC, hostPort(t, v))
	return v
}

func require(t testing.TB, env string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		missing(t, "%s is not set: start the real stack with deploy/local/up.sh and source deploy/local/stack.env", env)
	}
	return v
}

func reachable(t testing.TB, env, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		missing(t, "%s=%s does not answer: %v", env, addr, err)
		return
	}
	_ = conn.Close()
}

func hostPort(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("testenv: %q is not a URL: %v", raw, err)
	}
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("testenv: "+format+" (CI is set, so this fails instead of skipping)", args...)
	}
	t.Skipf("testenv: "+format, args...)
}
