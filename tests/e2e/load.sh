#!/usr/bin/env bash
# load.sh - the collector under concurrent API load while it ingests: no request fails.
#
# The collector runs alone in the hub (everything over its loopback). At the same time:
#   - a load generator: LOADERS loops of batchsend, each sending batches of RECORDS flow
#     records (new node/seq each time) as fast as they are acknowledged, until told to stop;
#   - 100 WebSocket clients on /api/stream (wsclient many 100 5: each must receive 5
#     messages);
#   - 200 API clients (curl, each its own process), each REQS requests in a row over
#     /api/health, /api/stats, /api/nodes, /api/live, /api/history?limit=100, /metrics.
# Asserted: every curl exits 0 with HTTP 200 (CLIENTS * REQS results), the WebSocket clients
# all got their messages, every batch sent was acknowledged, and the collector answers and
# stops cleanly afterwards. Reported in the log, not asserted (machine-dependent): request
# latency p50/p99/max and the ingest rate reached (records stored per second).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
: "${BATCHSEND:?BATCHSEND must name the batchsend binary}"
: "${WSCLIENT:?WSCLIENT must name the wsclient binary}"

CLIENTS=200 REQS=20 WS_CLIENTS=100 WS_MSGS=5
LOADERS=4 RECORDS=1000

hub_create "$(ns_name c)"
collector_start collector "$E2E_DIR/history.db"
URL="tcp://127.0.0.1:$COLLECTOR_INGEST_PORT"

# --- load generator ------------------------------------------------------------------------------
NOW=$(($(date +%s) * 1000))
RECS=()
for ((i = 0; i < RECORDS; i++)); do
	RECS+=(--record "src=10.210.$((i / 250)).$((i % 250 + 1)),dst=10.211.0.1,sport=$((20000 + i)),dport=443,proto=6,flags=18,ps=3,pr=2,bs=300,br=200,first=$((NOW - 900)),last=$((NOW - 100)),if=eth0")
done
loader()
{
	local k=$1 seq=0 ack
	while [ ! -e "$E2E_DIR/stop" ]; do
		seq=$((seq + 1))
		ack=$(nsx "$HUB_NS" "$BATCHSEND" --node "load-$k" --boot b --seq "$seq" --start "$((NOW - 1000))" \
			--end "$NOW" --totals "$((seq * 5 * RECORDS)),0,0" "${RECS[@]}" "$URL" 2>&1) || ack="ERR $ack"
		echo "$ack" >>"$E2E_DIR/loader-$k.acks"
	done
}
LOADER_PIDS=()
for ((k = 1; k <= LOADERS; k++)); do
	loader "$k" &
	LOADER_PIDS+=($!)
	track_pid $!
done
wait_for "the first batches stored" "[ \"\$(cat '$E2E_DIR'/loader-*.acks 2>/dev/null | grep -c '^ok=1')\" -ge $LOADERS ]" 30
T0=$(date +%s.%N)
R0=$(capi /api/stats | jq .ingest.records_stored)

# --- WebSocket clients ----------------------------------------------------------------------------
nsx "$HUB_NS" "$WSCLIENT" 127.0.0.1 "$COLLECTOR_HTTP_PORT" many "$WS_CLIENTS" "$WS_MSGS" \
	>"$E2E_DIR/ws.out" 2>"$E2E_DIR/ws.log" &
WS=$!
track_pid $WS

# --- API clients ------------------------------------------------------------------------------------
PATHS=(/api/health /api/stats /api/nodes "/api/live?limit=100" "/api/history?limit=100" /metrics)
client()
{
	local c=$1 i p rc out
	for ((i = 0; i < REQS; i++)); do
		p=${PATHS[$(((c + i) % ${#PATHS[@]}))]}
		rc=0
		out=$(curl -s -m 30 -o /dev/null -w '%{http_code} %{time_total}' \
			"http://127.0.0.1:$COLLECTOR_HTTP_PORT$p") || rc=$?
		echo "$rc $out $p"
	done >"$E2E_DIR/client-$c.res"
}
export -f client
export REQS COLLECTOR_HTTP_PORT E2E_DIR
CLIENT_PIDS=()
for ((c = 1; c <= CLIENTS; c++)); do
	PATHS_STR="${PATHS[*]}" ip netns exec "$HUB_NS" bash -c \
		'set -f; PATHS=($PATHS_STR); client '"$c" &
	CLIENT_PIDS+=($!)
	track_pid $!
done
for p in "${CLIENT_PIDS[@]}"; do
	wait "$p" || fail "an API client loop failed"
	untrack_pid "$p"
done
T1=$(date +%s.%N)
wait "$WS" || fail "WebSocket clients: $(tail -n 5 "$E2E_DIR/ws.log")"
untrack_pid "$WS"
log "ok: $WS_CLIENTS WebSocket clients got $WS_MSGS messages each"

# --- stop the load; results ----------------------------------------------------------------------------
touch "$E2E_DIR/stop"
for p in "${LOADER_PIDS[@]}"; do
	wait "$p" || true
	untrack_pid "$p"
done
R1=$(capi /api/stats | jq .ingest.records_stored)
cat "$E2E_DIR"/client-*.res >"$E2E_DIR/all.res"
assert_eq "API results" "$((CLIENTS * REQS))" "$(wc -l <"$E2E_DIR/all.res")"
BAD=$(awk '$1 != 0 || $2 != 200' "$E2E_DIR/all.res" | wc -l)
if [ "$BAD" -ne 0 ]; then
	awk '$1 != 0 || $2 != 200' "$E2E_DIR/all.res" | sort | uniq -c | sort -rn | head -n 10 >&2
	fail "$BAD of $((CLIENTS * REQS)) API requests failed (curl exit, HTTP status, time, path above)"
fi
log "ok: all $((CLIENTS * REQS)) API requests answered 200"
awk '{ print $3 }' "$E2E_DIR/all.res" | sort -g >"$E2E_DIR/times"
n=$(wc -l <"$E2E_DIR/times")
P50=$(sed -n "$(((n * 50 + 99) / 100))p" "$E2E_DIR/times")
P99=$(sed -n "$(((n * 99 + 99) / 100))p" "$E2E_DIR/times")
MAX=$(tail -n 1 "$E2E_DIR/times")
log "API latency under load ($CLIENTS clients x $REQS requests): p50 ${P50}s p99 ${P99}s max ${MAX}s"
cat "$E2E_DIR"/loader-*.acks >"$E2E_DIR/acks"
SENT=$(wc -l <"$E2E_DIR/acks")
OK=$(grep -c '^ok=1 duplicate=0' "$E2E_DIR/acks" || true)
assert_eq "batches acknowledged (of those sent)" "$SENT" "$OK"
log "ingest during the API load: $((R1 - R0)) records in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s of API load ($(awk -v a="$T0" -v b="$T1" -v r="$((R1 - R0))" 'BEGIN { printf "%.0f", r / (b - a) }') records/s upper bound; $SENT batches of $RECORDS records in total)"
assert_eq "collector records stored = batches x records" "$((SENT * RECORDS))" "$(capi /api/stats | jq .ingest.records_stored)"

capi /api/health | jq -e '.status == "ok"' >/dev/null || fail "/api/health after the load"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
