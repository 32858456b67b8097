#!/usr/bin/env bash
# up.sh — install what is missing and start weir's real stack on loopback, without Docker:
#
#   Apache Kafka (KRaft, one node)   jars from Maven Central, run with the machine's Java
#   ClickHouse                       Debian clickhouse-server, packaged config, run as root
#   Elasticsearch                    integ-test-zip from Maven Central, run as an unprivileged user
#   Redis                            Debian redis-server
#   geth --dev                       go install'ed at the go-ethereum version of go.mod
#   chdb-core (ClickHouse 26.9)      pip install'ed into a virtualenv by chdb.sh: the engine
#                                    of a current ClickHouse, in-process, for the tests
#   SoftHSM2                         Debian softhsm2: a PKCS#11 module (a library, no server)
#                                    for the HSM key backend; tests make their own tokens
#
# Idempotent: a server that already answers its health check is left alone, so a second run
# takes seconds. Downloads and the geth binary are cached in ${WEIR_CACHE:-$HOME/.cache/weir}
# (and Maven's local repository), so a fresh clone on the same machine reuses them.
# Everything a run creates — logs, pid files, data, configs — lives in deploy/local/.run/.
# At the end it writes deploy/local/stack.env, the addresses weir and the tests read:
#
#   set -a; source deploy/local/stack.env; set +a
#
# deploy/local/down.sh stops, by pid, what this script started.
# The ports below are also in deploy/services.go; deploy/services_test.go checks they agree.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=$HERE/.run
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"
CACHE=${WEIR_CACHE:-$HOME/.cache/weir}
STACK_ENV=$HERE/stack.env

# Loopback ports. Clients use the first of each service; the others are internal listeners.
readonly KAFKA_PORT=19092
readonly KAFKA_CONTROLLER_PORT=19093
readonly CLICKHOUSE_NATIVE_PORT=9000
readonly CLICKHOUSE_HTTP_PORT=8123
readonly CLICKHOUSE_INTERSERVER_PORT=9009
readonly ES_HTTP_PORT=9200
readonly ES_TRANSPORT_PORT=9300
readonly REDIS_PORT=6379
readonly GETH_HTTP_PORT=8545
readonly GETH_WS_PORT=8546
readonly GETH_AUTHRPC_PORT=8551

readonly HOST=127.0.0.1
readonly ES_USER=weir-es   # Elasticsearch refuses to run as root
readonly KAFKA_HEAP=1g
readonly ES_HEAP=512m

# Bounded waits, in seconds, for each server to become healthy after it is started.
readonly WAIT_REDIS=30 WAIT_CLICKHOUSE=90 WAIT_KAFKA=120 WAIT_ES=180 WAIT_GETH=90
readonly WAIT_GETH_BUILD=1200

START=$SECONDS
GETH_BUILD_PID=

# ---------------------------------------------------------------------------------------
# helpers

log() { printf '[up %3ds] %s\n' "$((SECONDS - START))" "$*"; }

die() {
	printf '[up] error: %s\n' "$*" >&2
	exit 1
}

# tail_logs FILE...: for an error report, the last 40 lines of each existing log, from
# the latest "=== … starting" marker of start_bg on (older runs are not this failure).
tail_logs() {
	local f
	for f in "$@"; do
		[[ -s $f ]] || continue
		printf -- '----- last lines of %s -----\n' "$f" >&2
		awk '/^=== .*: starting / { n = 0 } { line[n++] = $0 }
			END { for (i = (n > 40 ? n - 40 : 0); i < n; i++) print line[i] }' "$f" >&2
	done
}

# start_bg NAME DIR CMD...: run CMD in its own session in the background, in DIR, with
# stdout and stderr appended to .run/logs/NAME.log, and record its pid. The process
# writes its own pid before exec'ing, so the pid file names the server, not a wrapper.
start_bg() {
	local name=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	rm -f "$RUN/pids/$name.pid"
	printf '\n=== %s: starting %s\n' "$(date -u +%FT%TZ)" "$name" >>"$RUN/logs/$name.log"
	(
		cd "$dir"
		# shellcheck disable=SC2016 # expanded by the inner shell
		exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$RUN/pids/$name.pid" "$@" \
			</dev/null >>"$RUN/logs/$name.log" 2>&1
	) &
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -s $RUN/pids/$name.pid ]] && return 0
		sleep 0.1
	done
	die "$name did not start (no pid file); see $RUN/logs/$name.log"
}

# wait_healthy NAME SECONDS CHECK LOG...: poll CHECK (a function that gives up on its own
# within seconds) once a second until it succeeds. Fails with the log tails when the
# deadline passes or the process exits.
wait_healthy() {
	local name=$1 timeout=$2 check=$3
	shift 3
	local deadline=$((SECONDS + timeout)) next=$((SECONDS + 15))
	until "$check" >/dev/null 2>&1; do
		if ! owned_pid "$name" >/dev/null; then
			tail_logs "$@"
			die "$name exited before it became healthy (logs above)"
		fi
		if ((SECONDS >= deadline)); then
			tail_logs "$@"
			die "$name not healthy after ${timeout}s (logs above); deploy/local/down.sh stops it"
		fi
		if ((SECONDS >= next)); then
			log "  waiting for $name ($((timeout - (deadline - SECONDS)))s of ${timeout}s)"
			next=$((SECONDS + 15))
		fi
		sleep 1
	done
}

# ensure_service NAME CHECK START_FN WAIT LOG...: leave a healthy server alone; wait for one
# of ours that is still starting; otherwise start it and wait until it is healthy.
ensure_service() {
	local name=$1 check=$2 start_fn=$3 timeout=$4
	shift 4
	if "$check" >/dev/null 2>&1; then
		log "$name: already healthy, left alone"
		return 0
	fi
	if owned_pid "$name" >/dev/null; then
		log "$name: running (pid $(owned_pid "$name")) but not healthy yet; waiting"
	else
		log "$name: starting"
		"$start_fn"
	fi
	wait_healthy "$name" "$timeout" "$check" "$@"
	log "$name: healthy"
}

# ---------------------------------------------------------------------------------------
# prerequisites: Debian packages and Maven artifacts

# missing_packages: the Debian packages needed and not installed (commands first).
missing_packages() {
	local -A want=(
		[clickhouse-server]=1 [clickhouse-client]=1 [redis-server]=1 [redis-tools]=1
		[softhsm2]=1
	)
	command -v curl >/dev/null || want[curl]=1
	command -v unzip >/dev/null || want[unzip]=1
	command -v setpriv >/dev/null || want[util-linux]=1
	command -v flock >/dev/null || want[util-linux]=1
	command -v python3 >/dev/null || want[python3]=1
	python3 -c 'import ensurepip, venv' 2>/dev/null || want[python3-venv]=1
	command -v mvn >/dev/null || want[maven]=1
	command -v java >/dev/null || want[openjdk-17-jre-headless]=1
	local p
	for p in "${!want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			echo "$p"
	done | sort
}

# install_packages: apt-get update (once) and install what is missing. Package scripts
# must not start servers (no init system here, and we start our own): a policy-rc.d that
# forbids it is put in place for the install when the machine has none.
install_packages() {
	local -a pkgs
	mapfile -t pkgs < <(missing_packages)
	((${#pkgs[@]} == 0)) && return 0
	log "installing Debian packages: ${pkgs[*]} (apt-get update + install, about a minute)"
	local policy=/usr/sbin/policy-rc.d own_policy=
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	local rc=0
	{
		# Wait for a concurrent apt/dpkg instead of failing on its lock.
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
				--no-install-recommends "${pkgs[@]}"
	} >"$RUN/logs/apt.log" 2>&1 || rc=$?
	[[ -n $own_policy ]] && rm -f "$policy"
	if ((rc != 0)); then
		tail_logs "$RUN/logs/apt.log"
		die "apt-get failed (rc $rc)"
	fi
	log "installed: ${pkgs[*]}"
}

# maven_copy POM DEST WHAT: resolve POM's dependencies into DEST (once; the cache key is a
# hash of the pom, so editing a version there resolves a new set).
maven_copy() {
	local pom=$1 dest=$2 what=$3
	[[ -f $dest/.complete ]] && return 0
	log "resolving $what from Maven Central (first run only)"
	local tmp=$dest.tmp.$$
	rm -rf "$tmp"
	if ! mvn -B -q -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$tmp" >"$RUN/logs/maven.log" 2>&1; then
		rm -rf "$tmp"
		tail_logs "$RUN/logs/maven.log"
		die "mvn could not resolve $what"
	fi
	touch "$tmp/.complete"
	rm -rf "$dest"
	mv "$tmp" "$dest"
}

pom_key() { sha256sum "$1" | cut -c1-12; }

java_home() { dirname "$(dirname "$(readlink -f "$(command -v java)")")"; }

# ---------------------------------------------------------------------------------------
# Kafka: one KRaft node, broker and controller in one JVM.

KAFKA_LIBS=
KAFKA_CMD=()

kafka_prepare() {
	KAFKA_LIBS=$CACHE/kafka/$(pom_key "$HERE/kafka/pom.xml")
	maven_copy "$HERE/kafka/pom.xml" "$KAFKA_LIBS" "Kafka jars"
	# The readiness probe speaks the Kafka protocol (franz-go's kadm), not just TCP.
	local probe=$RUN/bin/kafkaready src=$HERE/kafkaready/main.go
	if [[ ! -x $probe || $src -nt $probe ]]; then
		log "building the Kafka readiness probe"
		(cd "$REPO" && go build -o "$probe" ./deploy/local/kafkaready) ||
			die "go build ./deploy/local/kafkaready failed"
	fi
}

kafka_version() {
	local jars=("$KAFKA_LIBS"/kafka_2.13-*.jar) jar
	jar=${jars[0]##*/kafka_2.13-}
	echo "${jar%.jar}"
}

kafka_healthy() { "$RUN/bin/kafkaready" -brokers "$HOST:$KAFKA_PORT" -timeout 3s; }

kafka_configure() {
	local dir=$RUN/kafka
	mkdir -p "$dir/data" "$RUN/logs"
	cat >"$dir/server.properties" <<EOF
# Written by deploy/local/up.sh: one KRaft node, broker and controller, on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data

# Topics are created explicitly from the topic catalogue (schemas/), never by accident.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1

# One node: internal topics with one replica, and no rebalance delay for fast tests.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
	cat >"$dir/log4j2.properties" <<EOF
# Written by deploy/local/up.sh: the broker's log, rolled at 64 MB, three files kept.
name=weir-local-kafka
status=warn
appender.file.type=RollingFile
appender.file.name=file
appender.file.fileName=$RUN/logs/kafka-server.log
appender.file.filePattern=$RUN/logs/kafka-server.log.%i
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
appender.file.policies.type=Policies
appender.file.policies.size.type=SizeBasedTriggeringPolicy
appender.file.policies.size.size=64MB
appender.file.strategy.type=DefaultRolloverStrategy
appender.file.strategy.max=3
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
EOF
}

# kafka_jvm CLASS ARGS...: the command line of a Kafka class on the resolved jars.
kafka_jvm() {
	KAFKA_CMD=(java -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true
		-Dlog4j2.configurationFile="$RUN/kafka/log4j2.properties" -cp "$KAFKA_LIBS/*" "$@")
}

kafka_start() {
	kafka_configure
	local dir=$RUN/kafka
	# KRaft storage is formatted once, with a new cluster id, before the first start.
	if [[ ! -f $dir/data/meta.properties ]]; then
		log "kafka: formatting KRaft storage"
		local id
		kafka_jvm kafka.tools.StorageTool random-uuid
		id=$("${KAFKA_CMD[@]}" 2>>"$RUN/logs/kafka.log") ||
			die "kafka: StorageTool random-uuid failed; see $RUN/logs/kafka.log"
		kafka_jvm kafka.tools.StorageTool format --cluster-id "$id" --config "$dir/server.properties"
		"${KAFKA_CMD[@]}" >>"$RUN/logs/kafka.log" 2>&1 ||
			{ tail_logs "$RUN/logs/kafka.log"; die "kafka: formatting the storage failed"; }
	fi
	kafka_jvm kafka.Kafka "$dir/server.properties"
	start_bg kafka "$dir" "${KAFKA_CMD[@]}"
}

kafka_up() {
	ensure_service kafka kafka_healthy kafka_start "$WAIT_KAFKA" \
		"$RUN/logs/kafka.log" "$RUN/logs/kafka-server.log"
}

# ---------------------------------------------------------------------------------------
# ClickHouse: the Debian package's server with its packaged config (data in its packaged
# path), run as root; ports and log files are set on the command line.

clickhouse_healthy() {
	[[ $(timeout 5 clickhouse-client --host "$HOST" --port "$CLICKHOUSE_NATIVE_PORT" --query 'SELECT 1') == 1 ]] &&
		[[ $(curl -fsS --max-time 3 "http://$HOST:$CLICKHOUSE_HTTP_PORT/?query=SELECT%201") == 1 ]]
}

clickhouse_start() {
	start_bg clickhouse "$RUN/clickhouse" clickhouse-server \
		--config-file=/etc/clickhouse-server/config.xml -- \
		--listen_host="$HOST" \
		--tcp_port="$CLICKHOUSE_NATIVE_PORT" \
		--http_port="$CLICKHOUSE_HTTP_PORT" \
		--interserver_http_port="$CLICKHOUSE_INTERSERVER_PORT" \
		--logger.log="$RUN/logs/clickhouse-server.log" \
		--logger.errorlog="$RUN/logs/clickhouse-server.err.log"
}

clickhouse_up() {
	ensure_service clickhouse clickhouse_healthy clickhouse_start "$WAIT_CLICKHOUSE" \
		"$RUN/logs/clickhouse.log" "$RUN/logs/clickhouse-server.err.log"
}

# ---------------------------------------------------------------------------------------
# Redis: the Debian binary with its settings on the command line (no config file).

redis_healthy() { [[ $(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping) == PONG ]]; }

redis_start() {
	start_bg redis "$RUN/redis" redis-server --bind "$HOST" --port "$REDIS_PORT" \
		--protected-mode yes --daemonize no --logfile '' --dir "$RUN/redis" \
		--save '' --appendonly no --maxmemory 1gb --maxmemory-policy noeviction
}

redis_up() {
	ensure_service redis redis_healthy redis_start "$WAIT_REDIS" "$RUN/logs/redis.log"
}

# ---------------------------------------------------------------------------------------
# Elasticsearch: the integ-test-zip, unpacked under .run and owned by an unprivileged user.

ES_ZIP=
ES_HOME=$RUN/elasticsearch/home

es_prepare() {
	local dest
	dest=$CACHE/elasticsearch/$(pom_key "$HERE/elasticsearch/pom.xml")
	maven_copy "$HERE/elasticsearch/pom.xml" "$dest" "the Elasticsearch zip (about 110 MB)"
	local zips=("$dest"/elasticsearch-*.zip)
	ES_ZIP=${zips[0]}
	[[ -f $ES_ZIP ]] || die "no Elasticsearch zip in $dest"
}

es_version() {
	local v=${ES_ZIP##*/elasticsearch-}
	echo "${v%.zip}"
}

es_healthy() {
	curl -fsS --max-time 3 "http://$HOST:$ES_HTTP_PORT/_cluster/health" |
		grep -Eq '"status":"(green|yellow)"'
}

es_install() {
	if ! id -u "$ES_USER" >/dev/null 2>&1; then
		log "elasticsearch: creating the unprivileged user $ES_USER"
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$ES_USER"
	fi
	# The user must be able to reach the checkout to run the server from .run.
	setpriv --reuid="$ES_USER" --regid="$ES_USER" --init-groups test -x "$RUN" ||
		die "user $ES_USER cannot enter $RUN: clone the repository to a path other users can traverse"
	local version
	version=$(es_version)
	if [[ $(cat "$ES_HOME/.version" 2>/dev/null) != "$version" ]]; then
		log "elasticsearch: unpacking $version"
		local tmp=$RUN/elasticsearch/unpack
		rm -rf "$tmp" "$ES_HOME"
		mkdir -p "$tmp"
		unzip -q "$ES_ZIP" -d "$tmp"
		mv "$tmp/elasticsearch-$version" "$ES_HOME"
		rm -rf "$tmp"
		echo "$version" >"$ES_HOME/.version"
	fi
	mkdir -p "$RUN/elasticsearch/data" "$RUN/logs/elasticsearch"
	cat >"$ES_HOME/config/elasticsearch.yml" <<EOF
# Written by deploy/local/up.sh: one node on loopback, no security, for development.
cluster.name: weir-local
node.name: weir-local-1
network.host: $HOST
http.port: $ES_HTTP_PORT
transport.port: $ES_TRANSPORT_PORT
discovery.type: single-node
path.data: $RUN/elasticsearch/data
path.logs: $RUN/logs/elasticsearch
xpack.security.enabled: false
# A development disk that fills up must not turn indexes read-only.
cluster.routing.allocation.disk.threshold_enabled: false
EOF
	printf -- '-Xms%s\n-Xmx%s\n' "$ES_HEAP" "$ES_HEAP" >"$ES_HOME/config/jvm.options.d/heap.options"
	chown -R "$ES_USER:$ES_USER" "$RUN/elasticsearch" "$RUN/logs/elasticsearch"
}

es_start() {
	# The CLI launcher stays in the foreground and stops the server JVM when it is
	# signalled; -p also records the server's own pid for down.sh.
	start_bg elasticsearch "$RUN/elasticsearch" setpriv --reuid="$ES_USER" --regid="$ES_USER" \
		--init-groups env HOME="$RUN/elasticsearch" ES_JAVA_HOME="$(java_home)" \
		"$ES_HOME/bin/elasticsearch" -p "$RUN/elasticsearch/server.pid"
}

es_up() {
	# Unpacked even when a server already answers (say, one started from another
	# checkout): tests start private nodes from this checkout's distribution.
	es_install
	ensure_service elasticsearch es_healthy es_start "$WAIT_ES" \
		"$RUN/logs/elasticsearch.log" "$RUN/logs/elasticsearch/weir-local.log"
}

# ---------------------------------------------------------------------------------------
# geth --dev, built from the go-ethereum version that go.mod requires.

GETH_VERSION=
GETH=$CACHE/bin/geth

geth_binary_ok() {
	[[ -x $GETH ]] && "$GETH" version 2>/dev/null | grep -qx "Version: ${GETH_VERSION#v}-stable"
}

# geth_build_start: go install geth into the cache, in the background (it takes about four
# minutes on two cores), with a build cache of its own that is removed afterwards.
geth_build_start() {
	GETH_VERSION=$(cd "$REPO" && go list -m -f '{{.Version}}' github.com/ethereum/go-ethereum) ||
		die "cannot read the go-ethereum version from go.mod"
	geth_binary_ok && return 0
	log "geth: building $GETH_VERSION in the background (about 4 minutes on 2 cores)"
	mkdir -p "$CACHE/bin"
	# Its own session, so that a failed up.sh can stop the whole build (go and compilers).
	# shellcheck disable=SC2016 # expanded by the inner shell
	GOBIN=$CACHE/bin GOCACHE=$CACHE/go-build-geth setsid bash -c \
		'go install "github.com/ethereum/go-ethereum/cmd/geth@$0" && rm -rf "$GOCACHE"' \
		"$GETH_VERSION" </dev/null >"$RUN/logs/geth-build.log" 2>&1 &
	GETH_BUILD_PID=$!
}

geth_build_wait() {
	[[ -n $GETH_BUILD_PID ]] || return 0
	local began=$SECONDS next=$((SECONDS + 30))
	while kill -0 "$GETH_BUILD_PID" 2>/dev/null; do
		if ((SECONDS - began > WAIT_GETH_BUILD)); then
			tail_logs "$RUN/logs/geth-build.log"
			die "geth build still running after ${WAIT_GETH_BUILD}s"
		fi
		if ((SECONDS >= next)); then
			log "  geth build still running"
			next=$((SECONDS + 30))
		fi
		sleep 2
	done
	local rc=0
	wait "$GETH_BUILD_PID" || rc=$?
	GETH_BUILD_PID=
	if ((rc != 0)) || ! geth_binary_ok; then
		tail_logs "$RUN/logs/geth-build.log"
		die "geth build failed (rc $rc)"
	fi
	log "geth: built $GETH_VERSION"
}

geth_rpc() {
	curl -fsS --max-time 3 -H 'Content-Type: application/json' \
		--data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":[]}" \
		"http://$HOST:$GETH_HTTP_PORT"
}

geth_healthy() { geth_rpc eth_chainId | grep -q '"result":"0x'; }

# geth logs warnings and errors only: at its default level it writes several lines for
# every one-second block, about 100 MB a day. WEIR_GETH_VERBOSITY=3 (info) brings them back.
geth_start() {
	start_bg geth "$RUN/geth" "$GETH" --dev --dev.period 1 --datadir "$RUN/geth" \
		--ipcdisable --nat none \
		--verbosity "${WEIR_GETH_VERBOSITY:-2}" \
		--http --http.addr "$HOST" --http.port "$GETH_HTTP_PORT" \
		--http.api eth,net,web3,debug,txpool \
		--ws --ws.addr "$HOST" --ws.port "$GETH_WS_PORT" --ws.api eth,net,web3,debug \
		--authrpc.addr "$HOST" --authrpc.port "$GETH_AUTHRPC_PORT"
}

geth_up() {
	if geth_healthy >/dev/null 2>&1; then
		log "geth: already healthy, left alone"
		return 0
	fi
	geth_build_wait
	ensure_service geth geth_healthy geth_start "$WAIT_GETH" "$RUN/logs/geth.log"
}

# ---------------------------------------------------------------------------------------
# chdb-core: ClickHouse's engine in-process (Python), the only current ClickHouse here;
# chdb.sh installs it into $CACHE/venv/chdb once and prints its python.

CHDB_PYTHON=

chdb_prepare() {
	CHDB_PYTHON=$(WEIR_CACHE=$CACHE bash "$HERE/chdb.sh") || die "chdb: deploy/local/chdb.sh failed (output above)"
	log "chdb: chdb-core ready ($CHDB_PYTHON)"
}

# ---------------------------------------------------------------------------------------
# SoftHSM2: nothing to start. signer/keys loads the PKCS#11 module in-process; its tests
# make their own token in a temporary directory (SOFTHSM2_CONF) with softhsm2-util.

SOFTHSM2_MODULE=

softhsm2_prepare() {
	local -a libs
	mapfile -t libs < <(
		echo /usr/lib/softhsm/libsofthsm2.so
		dpkg-query -L libsofthsm2 2>/dev/null | grep '/libsofthsm2\.so$'
	)
	local lib
	for lib in "${libs[@]}"; do
		if [[ -f $lib ]]; then
			SOFTHSM2_MODULE=$lib
			break
		fi
	done
	[[ -n $SOFTHSM2_MODULE ]] || die "softhsm2: libsofthsm2.so not found (dpkg-query -L libsofthsm2)"
	command -v softhsm2-util >/dev/null || die "softhsm2: softhsm2-util is not on PATH"
	log "softhsm2: PKCS#11 module $SOFTHSM2_MODULE"
}

# ---------------------------------------------------------------------------------------

write_stack_env() {
	cat >"$STACK_ENV.tmp" <<EOF
# Written by deploy/local/up.sh: the real stack on loopback. Load with
#   set -a; source deploy/local/stack.env; set +a
WEIR_KAFKA_BROKERS=$HOST:$KAFKA_PORT
WEIR_CLICKHOUSE_ADDR=$HOST:$CLICKHOUSE_NATIVE_PORT
WEIR_ELASTICSEARCH_URL=http://$HOST:$ES_HTTP_PORT
WEIR_REDIS_ADDR=$HOST:$REDIS_PORT
WEIR_ETH_RPC_URL=http://$HOST:$GETH_HTTP_PORT
WEIR_ETH_WS_URL=ws://$HOST:$GETH_WS_PORT
WEIR_CHDB_PYTHON=$CHDB_PYTHON
WEIR_SOFTHSM2_MODULE=$SOFTHSM2_MODULE
EOF
	mv "$STACK_ENV.tmp" "$STACK_ENV"
}

summary() {
	local ch es
	ch=$(timeout 5 clickhouse-client --host "$HOST" --port "$CLICKHOUSE_NATIVE_PORT" --query 'SELECT version()' 2>/dev/null || echo '?')
	# (GET / is served by a module that the integ-test-zip does not ship.)
	es=$(curl -fsS --max-time 3 "http://$HOST:$ES_HTTP_PORT/_cat/nodes?h=version" || true)
	cat <<EOF

weir local stack is up ($((SECONDS - START))s); addresses in ${STACK_ENV#"$REPO"/}:
  kafka          $HOST:$KAFKA_PORT      Apache Kafka $(kafka_version), KRaft (controller $HOST:$KAFKA_CONTROLLER_PORT)
  clickhouse     $HOST:$CLICKHOUSE_NATIVE_PORT  native, $HOST:$CLICKHOUSE_HTTP_PORT http   ClickHouse $ch
  elasticsearch  http://$HOST:$ES_HTTP_PORT   Elasticsearch ${es:-?}
  redis          $HOST:$REDIS_PORT      Redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
  geth --dev     http://$HOST:$GETH_HTTP_PORT  ws://$HOST:$GETH_WS_PORT   geth $GETH_VERSION
  chdb-core      $CHDB_PYTHON   chdb-core $("$CHDB_PYTHON" -c 'import importlib.metadata as m; print(m.version("chdb-core"))' 2>/dev/null || echo '?') (ClickHouse in-process)
  softhsm2       $SOFTHSM2_MODULE   SoftHSM $(softhsm2-util --version 2>/dev/null || echo '?') (PKCS#11, in-process)
logs and pids: ${RUN#"$REPO"/}/   stop: bash deploy/local/down.sh
EOF
}

on_exit() {
	local rc=$?
	# A failed run must not leave the geth build running on its own.
	if [[ -n $GETH_BUILD_PID ]] && kill -0 "$GETH_BUILD_PID" 2>/dev/null; then
		kill -TERM -- "-$GETH_BUILD_PID" 2>/dev/null || true
	fi
	exit "$rc"
}

main() {
	((EUID == 0)) || die "run as root: it installs Debian packages, creates a user for Elasticsearch and runs ClickHouse with its packaged paths"
	command -v go >/dev/null || die "go is not on PATH"
	mkdir -p "$RUN/logs" "$RUN/pids" "$RUN/bin" "$CACHE"
	trap on_exit EXIT

	geth_build_start # CPU-bound: overlaps with the downloads below
	install_packages
	command -v java >/dev/null || die "java is not on PATH"
	kafka_prepare
	es_prepare
	chdb_prepare
	softhsm2_prepare

	redis_up
	clickhouse_up
	kafka_up
	es_up
	geth_up

	write_stack_env
	summary
}

main "$@"
