#!/usr/bin/env bash
# flow_flood.sh - one million distinct flows in one burst: the node's memory stays bounded,
# the kernel flow map fills up and every packet it could not hold is counted
# (flow_map_full), exactly; the node keeps answering; the collector stays bounded too.
#
# The node (namespace A, default --max-flows 131072, idle timeout 3600 s so that nothing
# leaves the map during the test) exports to a collector in the hub. tests/e2e/floodgen
# sends 1,000,000 IPv4/UDP frames out of va (AF_PACKET, as fast as it goes; the TC egress
# hook sees each frame it sends), every frame its own 5-tuple, to a MAC nobody has (no
# replies). Nothing else IP crosses va. Asserted, exactly:
#   node total_packets = 1,000,000;
#   ayaflow_flow_map_entries + lost_packets.flow_map_full = 1,000,000
#     (entries = max_flows: the map is full);
# and the node answers /api/health during and after the burst. Memory, sampled from
# /proc/PID/status (VmRSS) every 0.2 s during the burst and after the export:
#   node: RSS - RSS before < 32 MiB + 1 KiB * max_flows (= 160 MiB): the flow map mirror,
#     the live table and one window's export batches are each bounded by max_flows (a few
#     hundred bytes an entry), plus allocator and ASan overhead in the Debug build (its
#     quarantine cut to 8 MiB for this test). Measured: +69 MiB with 262144 flows (Debug,
#     ASan; the live table grows with the flows, 144 B each). Unbounded
#     growth with 1M flows would be far above.
#   collector: RSS - RSS before < 128 MiB (the ingest queue is bounded to 200,000 records,
#     a window's batches are split at 10,000 records). Measured: +41 MiB (Debug, ASan).
# The figures (peak RSS, burst rate) are logged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
: "${FLOODGEN:?FLOODGEN must name the floodgen binary}"

PORT=3001
FLOWS=1000000
MAX_FLOWS=131072
NODE_GROWTH_MAX_KB=$((32 * 1024 + MAX_FLOWS))
COLL_GROWTH_MAX_KB=$((128 * 1024))

ns_pair "$(ns_name a)" "$(ns_name b)" 10.87.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.87.101
NAME=e2e-flood-$E2E_ID
# In the Debug build (ASan) freed memory sits in ASan's quarantine, 256 MiB by default, and
# counts in RSS: a small quarantine keeps RSS about what the programs hold.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8
collector_start collector "$E2E_DIR/history.db" --connection-timeout 3600
node_start "$NS_A" "$PORT" node -i "$DEV_A" --aggregation-window 1 --connection-timeout 3600 \
	--closed-timeout 3600 --node-name "$NAME" --collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT"
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node connected"
assert_eq "max_flows (default)" "$MAX_FLOWS" "$(api "$NS_A" /api/stats | jq .runtime.max_flows)"
assert_eq "total_packets before the burst" 0 "$(api "$NS_A" /api/stats | jq .total_packets)"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
NODE_RSS0=$(rss_kb "$NODE_PID")
COLL_RSS0=$(rss_kb "$COLLECTOR_PID")
log "RSS before: node $NODE_RSS0 KiB, collector $COLL_RSS0 KiB"

# --- the burst, with RSS sampling and health checks --------------------------------------------
T0=$(date +%s.%N)
nsx "$NS_A" "$FLOODGEN" "$DEV_A" "$MAC_A" 02:00:00:00:fe:01 10.200.0.1 10.201.0.1 9 "$FLOWS" \
	>"$E2E_DIR/floodgen.log" 2>&1 &
FG=$!
track_pid $FG
NODE_PEAK=$NODE_RSS0 COLL_PEAK=$COLL_RSS0 HEALTH_OK=0
while kill -0 "$FG" 2>/dev/null; do
	r=$(rss_kb "$NODE_PID") && [ "$r" -gt "$NODE_PEAK" ] && NODE_PEAK=$r
	r=$(rss_kb "$COLLECTOR_PID") && [ "$r" -gt "$COLL_PEAK" ] && COLL_PEAK=$r
	api "$NS_A" /api/health | jq -e '.status == "ok"' >/dev/null || fail "node /api/health during the burst"
	HEALTH_OK=$((HEALTH_OK + 1))
	sleep 0.2
done
log "node /api/health answered $HEALTH_OK times during the burst"
wait "$FG" || fail "floodgen failed: $(cat "$E2E_DIR/floodgen.log")"
untrack_pid "$FG"
T1=$(date +%s.%N)
assert_eq "floodgen" "sent $FLOWS" "$(cat "$E2E_DIR/floodgen.log")"
log "burst: $FLOWS frames in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f s (%.0f pps)", b - a, '"$FLOWS"' / (b - a) }')"
api "$NS_A" /api/health | jq -e '.status == "ok"' >/dev/null || fail "node /api/health right after the burst"

# --- the ledger ------------------------------------------------------------------------------------
deadline=$((SECONDS + 60))
while :; do
	r=$(rss_kb "$NODE_PID") && [ "$r" -gt "$NODE_PEAK" ] && NODE_PEAK=$r
	r=$(rss_kb "$COLLECTOR_PID") && [ "$r" -gt "$COLL_PEAK" ] && COLL_PEAK=$r
	S=$(api "$NS_A" /api/stats) || fail "node /api/stats failed"
	M=$(api "$NS_A" /metrics) || fail "node /metrics failed"
	HEALTH_OK=$((HEALTH_OK + 1))
	TOTAL=$(jq .total_packets <<<"$S")
	FULL=$(jq .lost_packets.flow_map_full <<<"$S")
	ENTRIES=$(metric "$M" ayaflow_flow_map_entries)
	[ "$TOTAL" = "$FLOWS" ] && [ "$((ENTRIES + FULL))" = "$FLOWS" ] && break
	[ "$SECONDS" -lt "$deadline" ] ||
		fail "ledger not settled after 60 s: total $TOTAL, entries $ENTRIES, flow_map_full $FULL"
	sleep 0.5
done
assert_eq "node total_packets" "$FLOWS" "$TOTAL"
assert_eq "flow map entries (full)" "$MAX_FLOWS" "$ENTRIES"
assert_eq "flow map entries + flow_map_full = frames sent" "$FLOWS" "$((ENTRIES + FULL))"
assert_eq "node metric lost{flow_map_full}" "$FULL" "$(metric "$M" ayaflow_lost_packets_total 'reason="flow_map_full"')"

# --- export of the 131072 flows; memory after -----------------------------------------------------------
STATS=$(node_settled "$NS_A" "$NAME" 120)
log "export: $(jq -c .export <<<"$STATS")"
ND=$(capi /api/nodes | jq -c --arg n "$NAME" '.nodes[] | select(.name == $n)')
assert_eq "collector: node total_packets" "$FLOWS" "$(jq .total_packets <<<"$ND")"
assert_eq "collector: node lost flow_map_full" "$FULL" "$(jq .lost_packets.flow_map_full <<<"$ND")"
for _ in 1 2 3 4 5; do
	r=$(rss_kb "$NODE_PID") && [ "$r" -gt "$NODE_PEAK" ] && NODE_PEAK=$r
	r=$(rss_kb "$COLLECTOR_PID") && [ "$r" -gt "$COLL_PEAK" ] && COLL_PEAK=$r
	sleep 0.2
done
NODE_RSS1=$(rss_kb "$NODE_PID")
COLL_RSS1=$(rss_kb "$COLLECTOR_PID")
log "RSS: node before $NODE_RSS0, peak $NODE_PEAK, after $NODE_RSS1 KiB (bound: +$NODE_GROWTH_MAX_KB)"
log "RSS: collector before $COLL_RSS0, peak $COLL_PEAK, after $COLL_RSS1 KiB (bound: +$COLL_GROWTH_MAX_KB)"
[ "$((NODE_PEAK - NODE_RSS0))" -lt "$NODE_GROWTH_MAX_KB" ] ||
	fail "node RSS grew by $((NODE_PEAK - NODE_RSS0)) KiB (bound $NODE_GROWTH_MAX_KB)"
[ "$((COLL_PEAK - COLL_RSS0))" -lt "$COLL_GROWTH_MAX_KB" ] ||
	fail "collector RSS grew by $((COLL_PEAK - COLL_RSS0)) KiB (bound $COLL_GROWTH_MAX_KB)"
api "$NS_A" /api/health | jq -e '.status == "ok"' >/dev/null || fail "node /api/health after the export"
capi /api/health | jq -e '.status == "ok"' >/dev/null || fail "collector /api/health after the export"

node_stop "$NODE_PID"
assert_eq "node exit status" 0 "$NODE_RC"
untrack_pid "$NODE_PID"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
