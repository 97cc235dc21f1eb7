# shellcheck shell=bash
# clickhouse.sh - helpers of the scenarios whose collectors keep their history in a real
# ClickHouse (sourced after lib.sh and cluster.sh).
#
# The server is tests/clickhouse/server.sh's private one: started by the test in
# $E2E_DIR/clickhouse, listening on 127.0.0.1 only, stopped by pid in the EXIT trap
# (on_cleanup), after the collectors. Collectors must reach 127.0.0.1 of the server's
# namespace, so they run in the root namespace: on loopback ports picked at run time, and
# the nodes (in their namespaces) reach them through a veth pair each (root_link) on
# 198.18.N.0/30 (RFC 2544's benchmark range, not routed), which goes with the node's
# namespace. Nothing else is created in the root namespace. The collectors' HTTP APIs are
# queried from the root namespace: capi (cluster.sh's history_all, node_settled, cpoll_jq
# use it) asks the collector of COLLECTOR_URL; col_use switches it.
#
# Environment (set by CTest, see tests.cmake): AYAFLOW_COLLECTOR, besides lib.sh's;
# CLICKHOUSE_SERVER (server.sh's).

# shellcheck source=tests/clickhouse/server.sh
source "$(dirname "${BASH_SOURCE[0]}")/../clickhouse/server.sh"

# ch_e2e_server DB: starts the private server in $E2E_DIR/clickhouse (stopped, and the
# directory removed, by the EXIT trap) and creates database DB. Sets CH_STORE, the
# collectors' --store URL; CH_PID, CH_URL, CH_HTTP_PORT... as ch_server_start.
ch_e2e_server()
{
	local db=$1
	on_cleanup ch_server_stop
	ch_server_start "$E2E_DIR/clickhouse" || fail "clickhouse-server did not start"
	log "clickhouse-server $CH_PID on $CH_URL (up in $CH_START_MS ms)"
	ch_query "CREATE DATABASE $db" >/dev/null || fail "CREATE DATABASE $db failed"
	# shellcheck disable=SC2034 # read by the scenarios
	CH_STORE="clickhouse://127.0.0.1:$CH_HTTP_PORT/$db"
}

# free_ports N: prints N distinct TCP ports nothing listens on (server.sh's picker: below
# the ephemeral range, so no client socket holds one).
free_ports() { ch__pick_ports "$1"; }

# root_link NODE_NS N NET: veth "<id>r<N>" in the root namespace (NET.1/30) <-> "x<N>" in
# NODE_NS (NET.2/30), IPv6 off on both ends; the pair goes when NODE_NS is deleted. Sets
# ROOT_IP (the collectors' address for that node).
root_link()
{
	local ns=$1 n=$2 net=$3 dev
	dev="ayf${E2E_ID: -6}r$n"
	nsx "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip link add "$dev" type veth peer name "x$n" netns "$ns"
	on_cleanup "ip link del $dev"
	sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
	nsx "$ns" sysctl -qw "net.ipv6.conf.x$n.disable_ipv6=1"
	ip addr add "$net.1/30" dev "$dev"
	ip -n "$ns" addr add "$net.2/30" dev "x$n"
	ip link set "$dev" up
	ip -n "$ns" link set "x$n" up
	# shellcheck disable=SC2034 # read by the scenarios
	ROOT_IP="$net.1"
	wait_for "root link $dev up" "ip -j link show $dev | jq -e '.[0].operstate == \"UP\"'"
	wait_for "root link x$n up" "ip -n $ns -j link show x$n | jq -e '.[0].operstate == \"UP\"'"
}

# col_start LOGNAME HTTP_PORT ARGS...: starts ayaflow-collector in the root namespace with
# -p HTTP_PORT and ARGS (--listen, --store...), appending to LOGNAME.log; waits until its
# /api/health says ok. Sets COL_PID and COL_URL and makes it capi's collector.
col_start()
{
	local name=$1 port=$2
	shift 2
	"$AYAFLOW_COLLECTOR" -p "$port" "$@" >>"$E2E_DIR/$name.log" 2>&1 &
	COL_PID=$!
	track_pid "$COL_PID"
	COL_URL="http://127.0.0.1:$port"
	COLLECTOR_URL=$COL_URL
	local deadline=$((SECONDS + E2E_TIMEOUT))
	while :; do
		if ! kill -0 "$COL_PID" 2>/dev/null; then
			wait "$COL_PID" 2>/dev/null && true
			untrack_pid "$COL_PID"
			fail "ayaflow-collector $name (pid $COL_PID) exited before /api/health answered"
		fi
		if curl -sf -m 2 "$COL_URL/api/health" 2>/dev/null | jq -e '.status == "ok"' >/dev/null 2>&1; then
			return 0
		fi
		[ "$SECONDS" -lt "$deadline" ] ||
			fail "ayaflow-collector $name did not answer /api/health within ${E2E_TIMEOUT}s"
		sleep 0.1
	done
}

# col_stop PID [SIGNAL]: signals a collector, waits for it and forgets its pid; sets COL_RC.
col_stop()
{
	local pid=$1 sig=${2:-TERM} rc=0
	kill -"$sig" "$pid"
	{ wait "$pid"; } 2>/dev/null || rc=$?
	untrack_pid "$pid"
	# shellcheck disable=SC2034 # read by the scenarios
	COL_RC=$rc
}

# col_use URL: the collector capi (and cluster.sh's helpers) ask from now on.
col_use() { COLLECTOR_URL=$1; }

# capi URLPATH: GET from the collector of COLLECTOR_URL (root namespace), prints the body;
# fails on an HTTP error. Replaces cluster.sh's, which asks inside the hub namespace.
capi() { curl -sS -f -m 20 "$COLLECTOR_URL$1"; }

# ccode URL: prints the HTTP status of a GET (at most 20 s); the body goes to
# $E2E_DIR/body.
ccode() { curl -sS -m 20 -o "$E2E_DIR/body" -w '%{http_code}' "$1"; }
