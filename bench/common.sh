# shellcheck shell=bash
# common.sh - shared helpers of the benchmarks (sourced by bench/*.sh).
#
# Each benchmark makes its own uniquely named network namespaces (veth pairs, 10.x
# addresses only inside them), runs the programs it needs inside them, and tears
# everything down in an EXIT trap: processes by pid, namespaces by name. Timings live
# here, never in tests. A benchmark exits non-zero only when it cannot run; a missed
# target is reported in its figures.
#
# ClickHouse: bench_ch_start starts a private server with tests/clickhouse/server.sh; a
# benchmark that uses one runs inside a namespace of its own (bench_netns).
#
# Programs: AYAFLOW_NODE, AYAFLOW_COLLECTOR, PKTGEN, BPFSTATS, TCXATTACH, INGEST_LOAD, FILL_DB,
# QUERY_LOAD, EMPTY_BPF_OBJ (CTest sets them); otherwise they are taken from BENCH_BUILD
# (default: <repo>/build, a Release build: cmake -DCMAKE_BUILD_TYPE=Release).

set -euo pipefail

BENCH_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_BUILD=${BENCH_BUILD:-$BENCH_ROOT/build}
AYAFLOW_NODE=${AYAFLOW_NODE:-$BENCH_BUILD/ayaflow-node}
AYAFLOW_COLLECTOR=${AYAFLOW_COLLECTOR:-$BENCH_BUILD/ayaflow-collector}
PKTGEN=${PKTGEN:-$BENCH_BUILD/pktgen}
BPFSTATS=${BPFSTATS:-$BENCH_BUILD/bpfstats}
TCXATTACH=${TCXATTACH:-$BENCH_BUILD/tcxattach}
INGEST_LOAD=${INGEST_LOAD:-$BENCH_BUILD/ingest_load}
FILL_DB=${FILL_DB:-$BENCH_BUILD/fill_db}
QUERY_LOAD=${QUERY_LOAD:-$BENCH_BUILD/query_load}
EMPTY_BPF_OBJ=${EMPTY_BPF_OBJ:-$BENCH_BUILD/bench/empty.bpf.o}

BENCH_PIDS=()
BENCH_NETNS=()
BENCH_CLEANUP=()
SMOKE=0

log() { echo "[$BENCH_NAME] $*" >&2; }

die()
{
	echo "[$BENCH_NAME] cannot run: $*" >&2
	exit 1
}

# bench_init "$@": parses --smoke, checks root and tools, makes the work dir and trap.
bench_init()
{
	local a
	for a in "$@"; do
		case $a in
		--smoke) SMOKE=1 ;;
		*) die "unknown argument '$a' (usage: $0 [--smoke])" ;;
		esac
	done
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TC, BPF)"
	local t
	for t in ip tc curl jq sysctl sqlite3 awk; do
		command -v "$t" >/dev/null 2>&1 || die "tool '$t' not installed"
	done
	BENCH_ID="$$$(printf '%04x' $((RANDOM)))"
	BENCH_DIR=$(mktemp -d "/tmp/ayf-bench-$BENCH_NAME.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

need()
{
	local f
	for f in "$@"; do
		[ -x "$f" ] || [ -f "$f" ] || die "$f not built (cmake --build with bench/bench.cmake)"
	done
}

track_pid() { BENCH_PIDS+=("$1"); }
on_cleanup() { BENCH_CLEANUP+=("$1"); }

# stop_pid PID: TERM, wait up to 5 s, then KILL; removes nothing from the list.
stop_pid()
{
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

bench_cleanup()
{
	local rc=$? pid ns i
	set +e
	for pid in "${BENCH_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${BENCH_PIDS[@]}"; do
		stop_pid "$pid"
	done
	for ((i = ${#BENCH_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${BENCH_CLEANUP[$i]}" >/dev/null 2>&1
	done
	for ns in "${BENCH_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ -n "${BENCH_DIR:-}" ]; then
		local f
		for f in "$BENCH_DIR"/*.log; do
			[ -s "$f" ] || continue
			echo "----- $(basename "$f") (last 20 lines) -----" >&2
			tail -n 20 "$f" >&2
		done
	fi
	[ -z "${BENCH_DIR:-}" ] || [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$BENCH_DIR"
	exit "$rc"
}

# nsx NS CMD...: runs CMD in NS. Background processes are started with `ip netns exec`
# directly (never through this function), so that $! is the program itself (ip execs
# it) and the cleanup signals the program, not a subshell.
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ns_new TAG: a namespace with loopback up; sets NS to its name. (Not meant for $(...):
# registered for cleanup in this shell, not in a subshell.)
ns_new()
{
	NS="ayfb-$BENCH_ID-$1"
	ip netns add "$NS"
	BENCH_NETNS+=("$NS")
	ip -n "$NS" link set lo up
}

# ns_pair NET [TAG]: namespaces NS_A, NS_B joined by veth va/vb, NET.1/24 and NET.2/24,
# IPv6 off (no router solicitations or DAD noise). Sets NS_A NS_B IP_A IP_B MAC_A MAC_B.
ns_pair()
{
	local net=$1 tag=${2:-} ns
	NS_A="ayfb-$BENCH_ID$tag-a"
	NS_B="ayfb-$BENCH_ID$tag-b"
	for ns in "$NS_A" "$NS_B"; do
		ip netns add "$ns"
		BENCH_NETNS+=("$ns")
		nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_A" link add va type veth peer name vb netns "$NS_B"
	IP_A="$net.1" IP_B="$net.2"
	ip -n "$NS_A" addr add "$IP_A/24" dev va
	ip -n "$NS_B" addr add "$IP_B/24" dev vb
	ip -n "$NS_A" link set va up
	ip -n "$NS_B" link set vb up
	MAC_A=$(ip -n "$NS_A" -j link show va | jq -r '.[0].address')
	MAC_B=$(ip -n "$NS_B" -j link show vb | jq -r '.[0].address')
	local i
	for i in $(seq 1 50); do
		[ "$(ip -n "$NS_B" -j link show vb | jq -r '.[0].operstate')" = UP ] && break
		sleep 0.1
	done
	# Packets to NET.3 reach vb (its MAC) and are dropped by B's routing (not local, no
	# forwarding, no ICMP): the receiver costs little and sends nothing back.
	IP_SINK="$net.3"
}

# dev_stat NS DEV FIELD: a counter of /sys/class/net/DEV/statistics.
dev_stat() { nsx "$1" cat "/sys/class/net/$2/statistics/$3"; }

# node_start NS PORT LOG ARGS...: ayaflow-node in NS; waits for /api/health. Sets NODE_PID.
node_start()
{
	local ns=$1 port=$2 name=$3 i
	shift 3
	ip netns exec "$ns" "$AYAFLOW_NODE" -p "$port" -q "$@" >"$BENCH_DIR/$name.log" 2>&1 &
	NODE_PID=$!
	track_pid "$NODE_PID"
	for i in $(seq 1 200); do
		kill -0 "$NODE_PID" 2>/dev/null || die "ayaflow-node exited (see $name.log): $(tail -3 "$BENCH_DIR/$name.log")"
		if nsx "$ns" curl -sf -m 2 "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	die "ayaflow-node did not answer /api/health"
}

# collector_start NS HTTP_PORT INGEST_PORT STORE LOG: sets COLLECTOR_PID. STORE is a SQLite
# file (--db-path) or a store URL (--store: sqlite://FILE, clickhouse://host:port/db).
collector_start()
{
	local ns=$1 port=$2 iport=$3 store=$4 name=$5 i opt=--db-path
	case $store in *://*) opt=--store ;; esac
	ip netns exec "$ns" bash -c 'ulimit -n 65536; exec "$@"' _ "$AYAFLOW_COLLECTOR" -p "$port" \
		--listen "tcp://127.0.0.1:$iport" "$opt" "$store" -q >"$BENCH_DIR/$name.log" 2>&1 &
	COLLECTOR_PID=$!
	track_pid "$COLLECTOR_PID"
	for i in $(seq 1 300); do
		kill -0 "$COLLECTOR_PID" 2>/dev/null || die "ayaflow-collector exited: $(tail -3 "$BENCH_DIR/$name.log")"
		if nsx "$ns" curl -sf -m 2 "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	die "ayaflow-collector did not answer /api/health"
}

# bench_netns TAG "$@" (right after bench_init): the rest of the script runs inside a
# namespace of its own, so that everything it starts - collectors, a clickhouse-server
# (tests/clickhouse/server.sh binds 127.0.0.1 and checks its port in /proc/net/tcp, both
# of the caller's namespace), load generators - and its own curl share one private
# loopback. The first call makes the namespace (NS), runs this script again inside it with
# the same arguments, and exits with its status (the trap removes the namespace); inside,
# the call only sets NS. nsx "$NS" works the same in both.
bench_netns()
{
	local tag=$1 rc=0 pid
	shift
	if [ -n "${BENCH_NETNS_INNER:-}" ]; then
		NS=$BENCH_NETNS_INNER
		return 0
	fi
	ns_new "$tag"
	ip netns exec "$NS" env BENCH_NETNS_INNER="$NS" bash "${BASH_SOURCE[1]}" "$@" &
	pid=$!
	# Stopped by the cleanup with time for its own cleanup (a ClickHouse server may take
	# seconds to stop), not with the tracked processes' 5 s.
	on_cleanup "bench_stop_inner $pid"
	wait "$pid" || rc=$?
	exit "$rc"
}

bench_stop_inner()
{
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# --- ClickHouse (tests/clickhouse/server.sh) ---

# bench_has_clickhouse: true when clickhouse-server is installed (scripts/setup.sh does).
bench_has_clickhouse()
{
	[ -n "${CLICKHOUSE_SERVER:-}" ] || command -v clickhouse-server >/dev/null 2>&1 ||
		[ -x /usr/sbin/clickhouse-server ]
}

# bench_ch_start [DIR]: a private clickhouse-server (tests/clickhouse/server.sh) in DIR
# (default: a new directory under /var/tmp, the disk the SQLite files use), stopped and
# removed by the cleanup. A DIR that already holds a server's data is reused and kept, as
# is any DIR with BENCH_CH_KEEP=1. Its query log is on (system.query_log, flushed every
# second): the benchmarks read ClickHouse's own time per query from it. Sets server.sh's
# CH_URL, CH_HTTP_PORT, CH_PID; ch_query SQL runs a statement.
bench_ch_start()
{
	local dir=${1:-}
	# shellcheck source=../tests/clickhouse/server.sh
	source "$BENCH_ROOT/tests/clickhouse/server.sh"
	if [ -z "$dir" ]; then
		dir=$(mktemp -d /var/tmp/ayf-bench-ch.XXXXXX)
	elif [ -d "$dir/data" ]; then
		export CH_KEEP=1
	fi
	[ "${BENCH_CH_KEEP:-0}" = 0 ] || export CH_KEEP=1
	mkdir -p "$dir/config.d" "$dir/users.d"
	# The server merges config.d/*.xml and users.d/*.xml beside config.xml and users.xml
	# into them (18.16 and later); server.sh writes only the two main files.
	cat >"$dir/config.d/bench-query-log.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <flush_interval_milliseconds>1000</flush_interval_milliseconds>
    </query_log>
</yandex>
EOF
	cat >"$dir/users.d/bench-log-queries.xml" <<EOF
<?xml version="1.0"?>
<yandex><profiles><default><log_queries>1</log_queries></default></profiles></yandex>
EOF
	on_cleanup ch_server_stop
	ch_server_start "$dir" || die "clickhouse-server did not start (see above)"
	log "clickhouse-server $(ch_query 'SELECT version()') on port $CH_HTTP_PORT (pid $CH_PID, started in ${CH_START_MS} ms), $dir"
}

# bench_ch_bytes DB: sum(bytes_on_disk) of the active parts of DB's tables.
bench_ch_bytes()
{
	ch_query "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = '$1' AND active"
}

# bench_ch_parts DB TABLE: the active parts of one table.
bench_ch_parts()
{
	ch_query "SELECT count() FROM system.parts WHERE database = '$1' AND table = '$2' AND active"
}

# bench_ch_optimize DB: OPTIMIZE TABLE ... FINAL on each MergeTree table of DB (each
# partition's parts merged into one), one after another.
bench_ch_optimize()
{
	local t
	for t in $(ch_query "SELECT name FROM system.tables WHERE database = '$1' AND engine LIKE '%MergeTree'"); do
		ch_query "OPTIMIZE TABLE $1.$t FINAL" >/dev/null || die "OPTIMIZE TABLE $1.$t FINAL failed"
	done
}

# bench_ch_settle [SECONDS]: waits (up to SECONDS, default 300) until no merge has run for
# 3 s, so that a measurement does not share the cores with the background merges that
# follow a fill. Prints the seconds waited.
bench_ch_settle()
{
	local max=${1:-300} t0=$SECONDS quiet=0
	while [ $((SECONDS - t0)) -lt "$max" ]; do
		if [ "$(ch_query "SELECT count() FROM system.merges")" = 0 ]; then
			quiet=$((quiet + 1))
			[ "$quiet" -lt 3 ] || break
		else
			quiet=0
		fi
		sleep 1
	done
	echo $((SECONDS - t0))
}

# median: the median of the numbers on stdin (one per line).
median()
{
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# kv KEY LINE: the value of KEY=VALUE in a line of key=value figures.
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1; }

# result NAME VALUE TARGET: one figure, with its target beside it.
result() { printf '  %-46s %14s   target %s\n' "$1" "$2" "$3"; }

# proc_cpu_ticks PID: utime + stime of a process, in clock ticks.
proc_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# proc_rss_kib PID
proc_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# machine_busy_ticks: all CPUs' non-idle time from /proc/stat (user nice system irq softirq steal).
machine_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

CLK_TCK=$(getconf CLK_TCK)

# free_port: a TCP port nobody listens on in the root namespace (benchmarks bind in
# their own namespaces anyway; this only avoids confusion in logs).
rand_port() { echo $((20000 + RANDOM % 20000)); }
