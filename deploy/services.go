package deploy

// Port is a TCP port that a service listens on, on the loopback address.
type Port struct {
	// Name says what the port serves, e.g. "broker", "native", "http", "ws".
	Name string
	// Number is the TCP port, the same in local/up.sh and compose/compose.yaml.
	Number int
	// Env is the variable of local/stack.env whose address contains this port, or "" when
	// no variable points at it (a secondary protocol or an internal port).
	Env string
	// Internal marks a port used only by the server itself (a KRaft controller, a cluster
	// transport, an engine API): up.sh binds it on loopback, compose does not publish it.
	Internal bool
}

// Service is one server of the real stack.
type Service struct {
	// Name is the service's short name; local/up.sh names its pid file and log after it.
	Name string
	// Compose is the name of the service in compose/compose.yaml.
	Compose string
	// Image is the container image repository that compose.yaml runs (without the tag).
	Image string
	// Ports are the loopback ports the server listens on, clients' ports first.
	Ports []Port
}

// Env returns the stack.env variables that point at the service, in port order.
func (s Service) Env() []string {
	var env []string
	for _, p := range s.Ports {
		if p.Env != "" {
			env = append(env, p.Env)
		}
	}
	return env
}

// Published returns the ports clients connect to: every port that is not Internal.
func (s Service) Published() []Port {
	var ports []Port
	for _, p := range s.Ports {
		if !p.Internal {
			ports = append(ports, p)
		}
	}
	return ports
}

// ToolEnv lists the variables of local/stack.env that name a tool up.sh installs rather
// than a server's address: no port, no compose service.
//   - WEIR_CHDB_PYTHON: a Python with chdb-core (ClickHouse's current engine, in process),
//     for the test of the current-ClickHouse schema.
//   - WEIR_SOFTHSM2_MODULE: SoftHSM2's PKCS#11 module, for the signer's HSM backend.
func ToolEnv() []string { return []string{"WEIR_CHDB_PYTHON", "WEIR_SOFTHSM2_MODULE"} }

// Services returns the catalogue of the real stack, in the order local/up.sh starts it.
// Each call returns a new slice that the caller may modify.
//
// Kafka listens on 19092, not Kafka's usual 9092, so that it never clashes with the
// embedded broker of `weir dev`, which defaults to 127.0.0.1:9092.
func Services() []Service {
	return []Service{
		{
			Name: "redis", Compose: "redis", Image: "redis",
			Ports: []Port{{Name: "resp", Number: 6379, Env: "WEIR_REDIS_ADDR"}},
		},
		{
			Name: "clickhouse", Compose: "clickhouse", Image: "clickhouse/clickhouse-server",
			Ports: []Port{
				{Name: "native", Number: 9000, Env: "WEIR_CLICKHOUSE_ADDR"},
				{Name: "http", Number: 8123},
				{Name: "interserver", Number: 9009, Internal: true},
			},
		},
		{
			Name: "kafka", Compose: "kafka", Image: "apache/kafka",
			Ports: []Port{
				{Name: "broker", Number: 19092, Env: "WEIR_KAFKA_BROKERS"},
				{Name: "controller", Number: 19093, Internal: true},
			},
		},
		{
			Name: "elasticsearch", Compose: "elasticsearch", Image: "docker.elastic.co/elasticsearch/elasticsearch",
			Ports: []Port{
				{Name: "http", Number: 9200, Env: "WEIR_ELASTICSEARCH_URL"},
				{Name: "transport", Number: 9300, Internal: true},
			},
		},
		{
			Name: "geth", Compose: "geth", Image: "ethereum/client-go",
			Ports: []Port{
				{Name: "http", Number: 8545, Env: "WEIR_ETH_RPC_URL"},
				{Name: "ws", Number: 8546, Env: "WEIR_ETH_WS_URL"},
				{Name: "authrpc", Number: 8551, Internal: true},
			},
		},
	}
}
