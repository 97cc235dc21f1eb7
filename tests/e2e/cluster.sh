# shellcheck shell=bash
# cluster.sh - helpers of the node -> collector scenarios (sourced after lib.sh).
#
# The collector runs in its own namespace (the "hub"), joined to each node's namespace
# by an extra veth pair on its own 10.x/24: hub side "c<N>" = NET.1, node side "x<N>" =
# NET.2. The nodes watch only their traffic veth (-i va), so the export traffic is never
# captured. Nothing is created in the root namespace. The collector's HTTP API is
# queried from inside the hub over loopback.
#
# Environment (set by CTest, see tests.cmake): AYAFLOW_COLLECTOR, besides lib.sh's.

COLLECTOR_INGEST_PORT=7400
COLLECTOR_HTTP_PORT=3000

require_collector()
{
	: "${AYAFLOW_COLLECTOR:?AYAFLOW_COLLECTOR must name the ayaflow-collector binary}"
	[ -x "$AYAFLOW_COLLECTOR" ] || fail "AYAFLOW_COLLECTOR=$AYAFLOW_COLLECTOR is not executable"
}

# untrack_pid PID: forgets a process the test has already stopped and reaped, so that
# the EXIT trap never signals a pid the system may have given to somebody else.
untrack_pid()
{
	local pid=$1 p keep=()
	for p in "${E2E_PIDS[@]}"; do
		[ "$p" = "$pid" ] || keep+=("$p")
	done
	E2E_PIDS=("${keep[@]}")
}

# hub_create NS: the collector's namespace (loopback up, IPv6 off: nothing but IPv4 on
# its links). Sets HUB_NS.
hub_create()
{
	HUB_NS=$1
	ip netns add "$HUB_NS"
	E2E_NETNS+=("$HUB_NS")
	nsx "$HUB_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	nsx "$HUB_NS" ip link set lo up
}

# hub_link NODE_NS N NET: veth "c<N>" in the hub (NET.1/24) <-> "x<N>" in NODE_NS
# (NET.2/24), IPv6 off on both ends. Sets HUB_IP (the collector's address for that node).
hub_link()
{
	local ns=$1 n=$2 net=$3
	nsx "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip -n "$HUB_NS" link add "c$n" type veth peer name "x$n" netns "$ns"
	nsx "$ns" sysctl -qw "net.ipv6.conf.x$n.disable_ipv6=1"
	nsx "$HUB_NS" sysctl -qw "net.ipv6.conf.c$n.disable_ipv6=1"
	ip -n "$HUB_NS" addr add "$net.1/24" dev "c$n"
	ip -n "$ns" addr add "$net.2/24" dev "x$n"
	ip -n "$HUB_NS" link set "c$n" up
	ip -n "$ns" link set "x$n" up
	# shellcheck disable=SC2034 # read by the scenarios
	HUB_IP="$net.1"
	wait_for "hub link c$n up" "ip -n $HUB_NS -j link show c$n | jq -e '.[0].operstate == \"UP\"'"
	wait_for "hub link x$n up" "ip -n $ns -j link show x$n | jq -e '.[0].operstate == \"UP\"'"
}

# collector_start LOGNAME DB ARGS...: starts ayaflow-collector in the hub, listening for
# batches on all of the hub's addresses and serving HTTP on COLLECTOR_HTTP_PORT; waits
# until /api/health answers. Sets COLLECTOR_PID and COLLECTOR_URL. The log is appended
# to, so that a restarted collector keeps the first one's log.
collector_start()
{
	local name=$1 db=$2
	shift 2
	ip netns exec "$HUB_NS" "$AYAFLOW_COLLECTOR" \
		--listen "tcp://0.0.0.0:$COLLECTOR_INGEST_PORT" -p "$COLLECTOR_HTTP_PORT" \
		--db-path "$db" "$@" >>"$E2E_DIR/$name.log" 2>&1 &
	COLLECTOR_PID=$!
	track_pid "$COLLECTOR_PID"
	COLLECTOR_URL="http://127.0.0.1:$COLLECTOR_HTTP_PORT"
	local deadline=$((SECONDS + E2E_TIMEOUT))
	while :; do
		if ! kill -0 "$COLLECTOR_PID" 2>/dev/null; then
			wait "$COLLECTOR_PID" 2>/dev/null && true
			untrack_pid "$COLLECTOR_PID"
			fail "ayaflow-collector (pid $COLLECTOR_PID) exited before /api/health answered"
		fi
		if capi /api/health 2>/dev/null | jq -e '.status == "ok"' >/dev/null 2>&1; then
			return 0
		fi
		[ "$SECONDS" -lt "$deadline" ] ||
			fail "ayaflow-collector did not answer /api/health within ${E2E_TIMEOUT}s"
		sleep 0.1
	done
}

# collector_stop [SIGNAL]: signals the collector, waits for it and forgets its pid; sets
# COLLECTOR_RC.
collector_stop()
{
	local sig=${1:-TERM} rc=0
	kill -"$sig" "$COLLECTOR_PID"
	{ wait "$COLLECTOR_PID"; } 2>/dev/null || rc=$?
	untrack_pid "$COLLECTOR_PID"
	COLLECTOR_RC=$rc
	export COLLECTOR_RC
}

# capi URLPATH: GET from the collector (inside the hub), prints the body; fails on error.
capi()
{
	ip netns exec "$HUB_NS" curl -sS -f -m 10 "$COLLECTOR_URL$1"
}

# cpoll_jq URLPATH JQ-EXPR DESC [TIMEOUT]: polls the collector until the expression holds.
cpoll_jq()
{
	local path=$1 expr=$2 desc=$3 timeout=${4:-$E2E_TIMEOUT}
	local deadline=$((SECONDS + timeout)) body=""
	while :; do
		body=$(capi "$path" 2>/dev/null) || body=""
		if [ -n "$body" ] && jq -e "$expr" >/dev/null 2>&1 <<<"$body"; then
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$body" >"$E2E_DIR/last_body.log"
			fail "timed out after ${timeout}s waiting for $desc (collector $path: $expr)"
		fi
		sleep 0.2
	done
}

# npoll_jq NS URLPATH JQ-EXPR DESC [TIMEOUT]: poll_jq on a node with its own timeout.
npoll_jq()
{
	local E2E_TIMEOUT=${5:-$E2E_TIMEOUT}
	poll_jq "$1" "$2" "$3" "$4"
}

# history_all QUERY [PAGE]: every /api/history item matching QUERY (URL parameters without
# limit/offset), paging with limit=PAGE (default 1000) and offset; prints one JSON array.
# Checks the paging fields on each page: returned = number of items, the same total on
# every page, has_more exactly while offset + returned < total.
history_all()
{
	local query=$1 page=${2:-1000} offset=0 body total="" n all="[]" more
	while :; do
		body=$(capi "/api/history?$query&limit=$page&offset=$offset") ||
			fail "GET /api/history?$query&limit=$page&offset=$offset failed"
		n=$(jq '.items | length' <<<"$body")
		[ "$(jq .returned <<<"$body")" = "$n" ] ||
			fail "/api/history?$query offset $offset: returned $(jq .returned <<<"$body") but $n items"
		[ "$(jq .limit <<<"$body")" = "$page" ] || fail "/api/history: limit is not $page"
		[ "$(jq .offset <<<"$body")" = "$offset" ] || fail "/api/history: offset is not $offset"
		if [ -z "$total" ]; then
			total=$(jq .total <<<"$body")
		else
			[ "$(jq .total <<<"$body")" = "$total" ] ||
				fail "/api/history?$query: total changed between pages ($total -> $(jq .total <<<"$body"))"
		fi
		all=$(jq -c --argjson a "$all" '$a + .items' <<<"$body")
		more=$(jq .has_more <<<"$body")
		offset=$((offset + n))
		if [ "$offset" -lt "$total" ]; then
			[ "$more" = true ] || fail "/api/history?$query: has_more false at $offset of $total"
			[ "$n" -gt 0 ] || fail "/api/history?$query: empty page at $offset of $total"
		else
			[ "$more" = false ] || fail "/api/history?$query: has_more true at $offset of $total"
			break
		fi
	done
	[ "$(jq length <<<"$all")" = "$total" ] || fail "/api/history?$query: paged $(jq length <<<"$all") of total $total"
	echo "$all"
}

# hsum ITEMS FIELD: sum of FIELD over a JSON array of history items.
hsum() { jq "[.[].$2] | add // 0" <<<"$1"; }

# node_settled NS NAME [TIMEOUT]: waits until the node in NS (named NAME) has exported,
# and the collector stored, everything the node counted: total_packets did not change
# while two more batches were sent, the spool holds nothing but the batch of the last
# window, and the collector's /api/nodes shows the node's total_packets. Prints the
# node's final /api/stats.
#
# The node's /api/stats is a snapshot taken at each 1 s tick right after the window's
# batch was sent, before its acknowledgement arrives: with --aggregation-window 1 it
# shows that batch in the spool almost always. So "drained" is: spool_batches == 0, or
# exactly 1 with every other batch sent acknowledged or rejected (no loss scenarios;
# with SETTLE_LOSSY=1, where the spool dropped batches that had been sent, only
# spool_batches <= 1 is required).
node_settled()
{
	local ns=$1 name=$2 timeout=${3:-90}
	local deadline=$((SECONDS + timeout)) s1 s2 sent1 total1 nodes drained
	if [ "${SETTLE_LOSSY:-0}" = 1 ]; then
		drained='.export.spool_batches <= 1'
	else
		drained='.export.spool_batches == 0 or (.export.spool_batches == 1 and .export.batches_sent == .export.batches_acked + .export.batches_rejected + 1)'
	fi
	while :; do
		s1=$(api "$ns" /api/stats) || fail "node /api/stats in $ns failed"
		sent1=$(jq .export.batches_sent <<<"$s1")
		total1=$(jq .total_packets <<<"$s1")
		while :; do
			s2=$(api "$ns" /api/stats) || fail "node /api/stats in $ns failed"
			if [ "$(jq ".export.batches_sent >= $sent1 + 2 and ($drained)" <<<"$s2")" = true ]; then
				break
			fi
			if [ "$SECONDS" -ge "$deadline" ]; then
				echo "$s2" >"$E2E_DIR/last_stats.log"
				fail "node in $ns did not drain its spool within ${timeout}s (export: $(jq -c .export <<<"$s2"))"
			fi
			sleep 0.2
		done
		if [ "$(jq .total_packets <<<"$s2")" = "$total1" ]; then
			nodes=$(capi /api/nodes 2>/dev/null) || nodes='{"nodes":[]}'
			if [ "$(jq --arg n "$name" --argjson t "$total1" \
				'[.nodes[] | select(.name == $n and .total_packets == $t)] | length' <<<"$nodes")" = 1 ]; then
				echo "$s2"
				return 0
			fi
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$s2" >"$E2E_DIR/last_stats.log"
			echo "$nodes" >"$E2E_DIR/last_nodes.log"
			fail "node in $ns: total_packets still changing or not at the collector after ${timeout}s"
		fi
	done
}

# check_sanitizer_logs: fails if any log of the run reports AddressSanitizer or UBSan.
check_sanitizer_logs()
{
	local f
	for f in "$E2E_DIR"/*.log; do
		[ -f "$f" ] || continue
		if grep -qE 'ERROR: AddressSanitizer|runtime error|ERROR: LeakSanitizer' "$f"; then
			grep -nE -A5 'ERROR: AddressSanitizer|runtime error|ERROR: LeakSanitizer' "$f" | head -40 >&2
			fail "sanitizer report in $(basename "$f")"
		fi
	done
	log "ok: no sanitizer reports in the logs"
}
