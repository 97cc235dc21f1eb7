#!/usr/bin/env bash
# load.sh - the collector under concurrent API load while it ingests: no request fails.
#
# The collector runs alone in the hub (everything over its loopback). At the same time:
#   - bench/ingest_load as 4 simulated nodes (real protocol, each its own connection)
#     offering RATE flow records/s (default 100 000) in batches of RECORDS, for INGEST_S
#     seconds, longer than the API load below;
#   - 100 WebSocket clients on /api/stream (wsclient many 100 5: each must receive 5
#     messages);
#   - 200 API clients (tests/e2e/apiload: one process, libcurl's multi interface, keep-alive
#     connections, at most one per client), each REQS requests in a row over /api/health,
#     /api/stats, /api/nodes, /api/live, /api/history?limit=100, /metrics. One process
#     rather than 200 shell loops forking curl: on a small machine thousands of forks take
#     the CPU from the collector, and the latency measured would be the harness's.
# Asserted: apiload made CLIENTS * REQS requests and none failed (transport error, 30 s
# timeout or HTTP status other than 200), the WebSocket clients all got their messages, the
# ingest ran through the whole API load without a transport error, every acknowledged
# record is stored, and the collector answers and stops cleanly afterwards. Reported in the
# log, not asserted (machine-dependent: this is the Debug build with sanitizers; bench/
# measures the Release build): request latency p50/p99/max and the ingest rate reached
# (records stored per second; batches beyond what the collector can store are answered
# "retry", the designed back-pressure).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
: "${INGEST_LOAD:?INGEST_LOAD must name the bench/ingest_load binary}"
: "${WSCLIENT:?WSCLIENT must name the wsclient binary}"
: "${APILOAD:?APILOAD must name the tests/e2e/apiload binary}"

# kv KEY LINE: the value of KEY in a line of key=value pairs (ingest_load's, apiload's summary).
kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

CLIENTS=200 REQS=20 WS_CLIENTS=100 WS_MSGS=5
RATE=${LOAD_RATE:-100000} RECORDS=5000 INGEST_S=${LOAD_INGEST_S:-90}

hub_create "$(ns_name c)"
collector_start collector "$E2E_DIR/history.db"
URL="tcp://127.0.0.1:$COLLECTOR_INGEST_PORT"

# --- load generator ------------------------------------------------------------------------------
ip netns exec "$HUB_NS" "$INGEST_LOAD" "$URL" --nodes 4 --records "$RECORDS" --inflight 2 \
	--rate "$RATE" --duration "$INGEST_S" --tag load >"$E2E_DIR/ingest.out" 2>"$E2E_DIR/ingest.log" &
LOADER=$!
track_pid $LOADER
wait_for "the first batches stored" "[ \"\$(capi /api/stats | jq .ingest.records_stored)\" -gt 0 ]" 30
T0=$(date +%s.%N)
R0=$(capi /api/stats | jq .ingest.records_stored)

# --- WebSocket clients ----------------------------------------------------------------------------
WSCLIENT_TIMEOUT_S=$INGEST_S nsx "$HUB_NS" "$WSCLIENT" 127.0.0.1 "$COLLECTOR_HTTP_PORT" many "$WS_CLIENTS" "$WS_MSGS" \
	>"$E2E_DIR/ws.out" 2>"$E2E_DIR/ws.log" &
WS=$!
track_pid $WS

# --- API clients ------------------------------------------------------------------------------------
PATHS=(/api/health /api/stats /api/nodes "/api/live?limit=100" "/api/history?limit=100" /metrics)
# stderr (the failed requests) in .err, not .log: shown once below, not again by the trap
nsx "$HUB_NS" "$APILOAD" 127.0.0.1 "$COLLECTOR_HTTP_PORT" --clients "$CLIENTS" --requests "$REQS" \
	"${PATHS[@]}" >"$E2E_DIR/api.out" 2>"$E2E_DIR/api.err" &
API=$!
track_pid $API
wait "$API" || fail "apiload failed: $(tail -n 5 "$E2E_DIR/api.err")"
untrack_pid "$API"
# Read with T1, not after the WebSocket clients: they may end seconds after a short API
# load, and those records would be counted in a rate over T1 - T0.
T1=$(date +%s.%N)
R1=$(capi /api/stats | jq .ingest.records_stored)
wait "$WS" || fail "WebSocket clients: $(tail -n 5 "$E2E_DIR/ws.log")"
untrack_pid "$WS"
log "ok: $WS_CLIENTS WebSocket clients got $WS_MSGS messages each"

# --- results ------------------------------------------------------------------------------------------
kill -0 "$LOADER" 2>/dev/null ||
	fail "the ingest load ended before the API load did (raise LOAD_INGEST_S above $INGEST_S)"
wait "$LOADER" || fail "ingest_load failed: $(tail -n 5 "$E2E_DIR/ingest.log")"
untrack_pid "$LOADER"
AL=$(cat "$E2E_DIR/api.out")
log "apiload: $AL"
assert_eq "API requests made" "$((CLIENTS * REQS))" "$(kv requests "$AL")"
if [ "$(kv failed "$AL")" != 0 ]; then
	cat "$E2E_DIR/api.err" >&2
	fail "$(kv failed "$AL") of $((CLIENTS * REQS)) API requests failed (client, path, error or HTTP status above; the first 20)"
fi
log "ok: all $((CLIENTS * REQS)) API requests answered 200"
log "API latency under load ($CLIENTS clients x $REQS requests, $(kv connections "$AL") connections): p50 $(kv p50_ms "$AL") ms p99 $(kv p99_ms "$AL") ms max $(kv max_ms "$AL") ms"
IL=$(cat "$E2E_DIR/ingest.out")
log "ingest_load: $IL"
assert_eq "ingest_load transport errors" 0 "$(kv errors "$IL")"
STORED=$(capi /api/stats | jq .ingest.records_stored)
[ "$STORED" -ge "$(kv records_acked "$IL")" ] ||
	fail "collector stored $STORED records, fewer than the $(kv records_acked "$IL") acknowledged"
log "ingest during the API load: $((R1 - R0)) records in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s: $(awk -v a="$T0" -v b="$T1" -v r="$((R1 - R0))" 'BEGIN { printf "%.0f", r / (b - a) }') records/s stored (offered $RATE/s; $(kv rejected "$IL") batches answered retry)"

capi /api/health | jq -e '.status == "ok"' >/dev/null || fail "/api/health after the load"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
