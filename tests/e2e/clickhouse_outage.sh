#!/usr/bin/env bash
# clickhouse_outage.sh - the collector's ClickHouse goes away while a node streams to it, twice:
# first it hangs (SIGSTOP: connections accepted, nothing answered) for 30 s, then it stops
# (SIGTERM: connections refused) for 30 s and starts again on the same directory and ports.
#
# One node (namespace A, watching va) exports with a 1 s window to one collector in the
# root namespace (clickhouse.sh) whose store is a private ClickHouse; a known UDP stream
# runs through each outage (and a ping through the first). During each outage:
#   - /api/health answers 200 "degraded" with a store_error;
#   - /api/history answers 503 with a JSON error within the store timeout (10 s, checked
#     < 15 s; curl gives up only at 20 s), and while ClickHouse is down so do /api/nodes,
#     /api/domains and /api/dns (while it hangs each would hold the API's one thread 10 s);
#   - the node keeps its batches in its spool (spool_batches grows) and loses nothing
#     (lost_packets.export_spool_full and batches_dropped stay 0).
# After each: /api/health is ok again and the spool drains. At the end, everything that was
# spooled is stored exactly once: the history sums per connection = the node's counters
# (and the streams: what was sent), the history adds up to the node's total_packets, no
# (connection, window) twice, /api/nodes batches = last_seq = the batches the node had
# acknowledged, records = records acknowledged = history rows.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
source "$(dirname "$0")/workload.sh"
source "$(dirname "$0")/clickhouse.sh"
e2e_init
require_collector

PORT=3001
WINDOW=1
OUTAGE=30

ch_e2e_server ayaflow_outage
ns_pair "$(ns_name a)" "$(ns_name b)" 10.84.1
root_link "$NS_A" 1 198.18.233
read -r HTTP ING <<<"$(free_ports 2)"
col_start collector "$HTTP" --listen "tcp://$ROOT_IP:$ING" --store "$CH_STORE" --connection-timeout 3600
COL=$COL_PID
NAME=e2e-outage-$E2E_ID
node_start "$NS_A" "$PORT" node -i "$DEV_A" --aggregation-window "$WINDOW" \
	--connection-timeout 3600 --closed-timeout 3600 --node-name "$NAME" \
	--collector "tcp://$ROOT_IP:$ING"
NODE1_PID=$NODE_PID
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 2' "node connected"

# The workloads (workload.sh): one per outage, each a UDP stream of ~40 s, and a ping
# through the first (only one: ICMP has no ports, a second ping would be the same flow).
declare -A NSIP=(["$NS_A"]=$IP_A ["$NS_B"]=$IP_B)
# shellcheck disable=SC2034 # read by workload.sh through namerefs
{
	TCP_hang=() UDP_hang=("$NS_A $NS_B $IP_B 6401 7401 800 200 50000") ICMP_hang=("$NS_B $IP_A 80")
	TCP_stop=() UDP_stop=("$NS_B $NS_A $IP_A 6402 7402 800 300 50000") ICMP_stop=()
}

# health_json: the collector's /api/health (200 also while degraded).
health_json() { capi /api/health; }

# outage_checks WHAT PATH...: what must hold while the store is away (the stream runs);
# each PATH must answer 503. (The API has one thread: while the store hangs, each query
# holds it for the store timeout, so the hang checks only /api/history.)
outage_checks()
{
	local what=$1 path t0 ms code before
	shift
	before=$(api "$NS_A" /api/stats | jq .export.spool_batches)
	# While the store hangs, the writer's upkeep waits out two store timeouts (the size,
	# then following) before it reports: degraded shows after ~20 s, not 10.
	cpoll_jq /api/health '.status == "degraded" and (.store_error | type == "string" and length > 0)' \
		"$what: /api/health degraded with a store_error" 28
	log "$what: /api/health $(health_json | jq -c .)"
	for path in "$@"; do
		t0=$(date +%s%N)
		code=$(curl -sS --max-time 20 -o "$E2E_DIR/body" -w '%{http_code}' "$COL_URL$path") ||
			fail "$what: GET $path did not answer within 20 s"
		ms=$((($(date +%s%N) - t0) / 1000000))
		assert_eq "$what: GET $path status" 503 "$code"
		assert_eq "$what: GET $path: a JSON error" 503 "$(jq .error.code "$E2E_DIR/body")"
		[ "$ms" -lt 15000 ] || fail "$what: GET $path took $ms ms (the store timeout is 10 s)"
		log "ok: $what: GET $path: 503 in $ms ms: $(jq -c .error.message "$E2E_DIR/body")"
	done
	npoll_jq "$NS_A" /api/stats ".export.spool_batches >= $before + 5" "$what: the node's spool to grow" 20
	local s
	s=$(api "$NS_A" /api/stats)
	log "$what: node export $(jq -c .export <<<"$s")"
	assert_eq "$what: node lost_packets.export_spool_full" 0 "$(jq .lost_packets.export_spool_full <<<"$s")"
	assert_eq "$what: node batches_dropped" 0 "$(jq .export.batches_dropped <<<"$s")"
	assert_eq "$what: node batches_rejected" 0 "$(jq .export.batches_rejected <<<"$s")"
}

# recovered WHAT: the store is back: health ok, the spool drained.
recovered()
{
	local what=$1
	cpoll_jq /api/health '.status == "ok" and (has("store_error") | not)' "$what: /api/health ok again" 30
	npoll_jq "$NS_A" /api/stats '.export.spool_batches <= 1 and .export.connected == true' \
		"$what: the node's spool to drain" 60
	log "$what: recovered; node export $(api "$NS_A" /api/stats | jq -c .export)"
}

col_use "$COL_URL"
# --- outage 1: ClickHouse hangs --------------------------------------------------------------
start_workload hang
npoll_jq "$NS_A" /api/stats '.export.records_acked >= 3' "records of the stream stored" 20
T_OUT=$SECONDS
kill -STOP "$CH_PID"
log "ClickHouse $CH_PID stopped (SIGSTOP): hung for ${OUTAGE} s"
outage_checks hang "/api/history?limit=5"
# shellcheck disable=SC2154 # set by start_workload
kill -0 "${WL_CLIENTS_hang[0]}" 2>/dev/null || fail "the stream ended during the outage (machine too slow?)"
sleep $((OUTAGE - (SECONDS - T_OUT) > 0 ? OUTAGE - (SECONDS - T_OUT) : 0))
kill -CONT "$CH_PID"
log "ClickHouse continued after $((SECONDS - T_OUT)) s"
recovered hang
finish_workload hang

# --- outage 2: ClickHouse stops and starts again -------------------------------------------------
start_workload stop
npoll_jq "$NS_A" /api/stats '.export.records_acked >= 3' "records of the second stream stored" 20
T_OUT=$SECONDS
ch_server_kill TERM || fail "ch_server_kill failed"
log "ClickHouse stopped (SIGTERM) in $((SECONDS - T_OUT)) s: down for ${OUTAGE} s"
outage_checks stop "/api/history?limit=5" /api/nodes /api/domains /api/dns
# shellcheck disable=SC2154 # set by start_workload
kill -0 "${WL_CLIENTS_stop[0]}" 2>/dev/null || fail "the stream ended during the outage (machine too slow?)"
sleep $((OUTAGE - (SECONDS - T_OUT) > 0 ? OUTAGE - (SECONDS - T_OUT) : 0))
ch_server_restart || fail "ClickHouse did not start again on port $CH_HTTP_PORT"
log "ClickHouse $CH_PID up again on $CH_URL after $((SECONDS - T_OUT)) s"
recovered stop
finish_workload stop

# --- everything spooled stored exactly once -------------------------------------------------------
STATS=$(node_settled "$NS_A" "$NAME")
log "settled: node export $(jq -c .export <<<"$STATS")"
assert_eq "node lost_packets.export_spool_full" 0 "$(jq .lost_packets.export_spool_full <<<"$STATS")"
assert_eq "node lost_packets.collector_rejected" 0 "$(jq .lost_packets.collector_rejected <<<"$STATS")"
assert_eq "node batches_dropped" 0 "$(jq .export.batches_dropped <<<"$STATS")"
assert_eq "node batches_rejected" 0 "$(jq .export.batches_rejected <<<"$STATS")"
check_history_sums 1 "$NS_A" "$NAME" "$STATS"
for wl in hang stop; do
	check_workload 1 "$NAME" "$wl" "$E2E_DIR/node1-history-$HTTP.json"
done
assert_eq "connections in the history" 3 \
	"$(jq '[.[] | [.protocol, .src_ip, .src_port, .dst_ip, .dst_port]] | unique | length' "$E2E_DIR/node1-history-$HTTP.json")"

# /api/nodes against the node, read while the node sent nothing: its stats S (all sent
# acknowledged), /api/nodes, then S' with the same batches_sent.
deadline=$((SECONDS + 30))
while :; do
	S1=$(api "$NS_A" /api/stats)
	if [ "$(jq '.export.spool_batches == 0 and .export.batches_sent == .export.batches_acked' <<<"$S1")" = true ]; then
		NODES=$(capi /api/nodes)
		S2=$(api "$NS_A" /api/stats)
		[ "$(jq .export.batches_sent <<<"$S2")" = "$(jq .export.batches_sent <<<"$S1")" ] && break
	fi
	[ "$SECONDS" -lt "$deadline" ] || fail "no quiet moment of the node in 30 s"
	sleep 0.1
done
ND=$(jq -c --arg n "$NAME" '[.nodes[] | select(.name == $n)] | if length == 1 then .[0] else error("\(length) matches") end' <<<"$NODES") ||
	fail "/api/nodes does not list $NAME exactly once"
assert_eq "/api/nodes last_seq = batches the node sent" "$(jq .export.batches_sent <<<"$S1")" "$(jq .last_seq <<<"$ND")"
assert_eq "/api/nodes batches = batches the node had acknowledged (each once)" \
	"$(jq .export.batches_acked <<<"$S1")" "$(jq .batches <<<"$ND")"
assert_eq "/api/nodes records = records the node had acknowledged" \
	"$(jq .export.records_acked <<<"$S1")" "$(jq .records <<<"$ND")"
assert_eq "history rows = /api/nodes records (no record twice)" \
	"$(jq .records <<<"$ND")" "$(jq length "$E2E_DIR/node1-history-$HTTP.json")"
assert_eq "/api/nodes total_packets = node" "$(jq .total_packets <<<"$S1")" "$(jq .total_packets <<<"$ND")"
assert_eq "/api/health" ok "$(health_json | jq -r .status)"
CSTATS=$(capi /api/stats)
log "collector ingest: $(jq -c .ingest <<<"$CSTATS"); node resent $(jq .export.batches_resent <<<"$S1"), duplicates acknowledged $(jq .export.batches_duplicate <<<"$S1")"

# --- clean stop, sanitizer reports --------------------------------------------------------------
node_stop "$NODE1_PID"
assert_eq "node exit status" 0 "$NODE_RC"
untrack_pid "$NODE1_PID"
col_stop "$COL" TERM
assert_eq "collector exit status" 0 "$COL_RC"
check_sanitizer_logs
