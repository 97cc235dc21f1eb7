#!/usr/bin/env bash
# spool_loss.sh - a node whose spool overflows while the collector is down counts the
# dropped batches' packets in the loss ledger, and nothing else is lost or counted twice.
#
# One node (namespace A, watching va) with a 2048-byte spool and a 1 s window exports to
# the collector in namespace C (see cluster.sh). Eight UDP streams run for ~25 s, so
# every window's batch holds several records and the spool holds only a few batches.
# The collector is stopped (SIGTERM) for ~10 windows, so the spool drops its oldest
# batches, then restarted on the same database. Once the spool has drained:
# history packets + lost_packets.export_spool_full = total_packets, exactly.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector

PORT=3001
WINDOW=1
SPOOL=2048
DOWN_WINDOWS=10
STREAMS=8 UDP_COUNT=250 UDP_SIZE=100 UDP_IVAL=100000 UDP_DPORT=6401
# Longer than the node's export timeout (10 s): a send still waiting for a connection
# has surely completed or failed after it.
EXPORT_TIMEOUT_S=10

ns_pair "$(ns_name a)" "$(ns_name b)" 10.83.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.83.101
NAME=e2e-spool-$E2E_ID
DB=$E2E_DIR/history.db

collector_start collector "$DB" --connection-timeout 3600
node_start "$NS_A" "$PORT" node -i "$DEV_A" --aggregation-window "$WINDOW" \
	--connection-timeout 3600 --closed-timeout 3600 --node-name "$NAME" \
	--spool-size "$SPOOL" --collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT"
NODE1_PID=$NODE_PID
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node connected"
assert_eq "node runtime spool_size" "$SPOOL" "$(api "$NS_A" /api/stats | jq .runtime.spool_size)"

# --- eight streams over ~25 s ----------------------------------------------------------------
ip netns exec "$NS_B" "$TRAFFICGEN" udp-sink "$UDP_DPORT" "$((STREAMS * UDP_COUNT))" --timeout 60 \
	>"$E2E_DIR/sink.log" 2>&1 &
SINK=$!
track_pid $SINK
wait_listen "$NS_B" udp "$UDP_DPORT"
SENDERS=()
for ((i = 1; i <= STREAMS; i++)); do
	nsx "$NS_A" "$TRAFFICGEN" udp-send "$IP_B" "$UDP_DPORT" "$UDP_COUNT" "$UDP_SIZE" \
		--sport "$((7400 + i))" --interval-us "$UDP_IVAL" >>"$E2E_DIR/senders.log" 2>&1 &
	SENDERS+=($!)
	track_pid $!
done

npoll_jq "$NS_A" /api/stats ".export.records_acked >= $((2 * STREAMS))" "records of a few windows acknowledged" 30
BEFORE=$(api "$NS_A" /api/stats)
log "before the stop: export $(jq -c .export <<<"$BEFORE")"
assert_eq "no loss before the stop" 0 "$(jq .lost_packets.export_spool_full <<<"$BEFORE")"

# --- stop the collector for ~10 windows ---------------------------------------------------------
collector_stop TERM
assert_eq "collector exit status (SIGTERM)" 0 "$COLLECTOR_RC"
STOP_UPTIME=$(api "$NS_A" /api/stats | jq .uptime_seconds)
npoll_jq "$NS_A" /api/stats '.export.connected == false' "node to notice the collector is gone"
# ~10 windows of the node's own clock pass, and the spool overflows meanwhile.
npoll_jq "$NS_A" /api/stats ".uptime_seconds >= $STOP_UPTIME + $DOWN_WINDOWS * $WINDOW" \
	"$DOWN_WINDOWS windows with the collector down" 60
npoll_jq "$NS_A" /api/stats '.lost_packets.export_spool_full > 0' "the spool to overflow" 30
DURING=$(api "$NS_A" /api/stats)
log "collector down: export $(jq -c .export <<<"$DURING"), export_spool_full $(jq .lost_packets.export_spool_full <<<"$DURING")"
for p in "${SENDERS[@]}"; do
	kill -0 "$p" 2>/dev/null || fail "a stream ended before the collector restarted (machine too slow?)"
done

# --- restart, let the traffic end and the spool drain ------------------------------------------
collector_start collector "$DB" --connection-timeout 3600
npoll_jq "$NS_A" /api/stats '.export.connected == true' "node to reconnect" 30
for p in "${SENDERS[@]}"; do
	wait "$p" || fail "udp-send failed"
	untrack_pid "$p"
done
wait "$SINK" || fail "udp-sink failed"
untrack_pid "$SINK"
assert_eq "udp-sink received" "received $((STREAMS * UDP_COUNT))" "$(tail -n 1 "$E2E_DIR/sink.log")"

# Batches the spool dropped were acknowledged by nobody, so "drained" cannot be "all sent
# batches acknowledged" here; it is: at most the last window's batch in the spool, the
# collector has the node's final total, and no request is left waiting (a node export
# timeout after the traffic ended, then drained again).
SETTLE_LOSSY=1 node_settled "$NS_A" "$NAME" >/dev/null
T0=$(api "$NS_A" /api/stats | jq .uptime_seconds)
npoll_jq "$NS_A" /api/stats ".uptime_seconds >= $T0 + $EXPORT_TIMEOUT_S + 2" "the export timeout to pass" 60
STATS=$(SETTLE_LOSSY=1 node_settled "$NS_A" "$NAME")
log "settled: export $(jq -c .export <<<"$STATS")"
TOTAL=$(jq .total_packets <<<"$STATS")
LOST=$(jq .lost_packets.export_spool_full <<<"$STATS")

# --- the ledger: stored + lost = counted ---------------------------------------------------------
HIST=$(history_all "node=$NAME")
echo "$HIST" | jq . >"$E2E_DIR/history.json"
STORED=$(hsum "$HIST" packet_count)
log "$(jq length <<<"$HIST") history rows, $STORED packets stored, $LOST lost (export_spool_full), $TOTAL counted"
[ "$LOST" -gt 0 ] || fail "lost_packets.export_spool_full is 0: the spool did not overflow"
assert_eq "history packet_count + export_spool_full = node total_packets" "$TOTAL" "$((STORED + LOST))"
assert_eq "node lost_packets.collector_rejected" 0 "$(jq .lost_packets.collector_rejected <<<"$STATS")"
assert_eq "no (connection, window) twice in the history" 0 \
	"$(jq '[group_by([.protocol, .src_ip, .src_port, .dst_ip, .dst_port, .window_end])[] | select(length > 1)] | length' <<<"$HIST")"

NODES=$(capi /api/nodes)
echo "$NODES" | jq . >"$E2E_DIR/collector-nodes.json"
ND=$(jq -c --arg n "$NAME" '[.nodes[] | select(.name == $n)] | if length == 1 then .[0] else error("\(length) matches") end' <<<"$NODES") ||
	fail "/api/nodes does not list $NAME exactly once"
assert_eq "/api/nodes total_packets = node" "$TOTAL" "$(jq .total_packets <<<"$ND")"
assert_eq "/api/nodes lost_packets.export_spool_full = node" "$LOST" "$(jq .lost_packets.export_spool_full <<<"$ND")"
CMETRICS=$(capi /metrics)
assert_eq "collector ayaflow_lost_packets_total{node,export_spool_full}" "$LOST" \
	"$(metric "$CMETRICS" ayaflow_lost_packets_total "node=\"$NAME\"" 'reason="export_spool_full"')"
NMETRICS=$(api "$NS_A" /metrics)
assert_eq "node ayaflow_lost_packets_total{export_spool_full}" "$LOST" \
	"$(metric "$NMETRICS" ayaflow_lost_packets_total 'reason="export_spool_full"')"
CSTATS=$(capi /api/stats)
log "collector after restart: ingest $(jq -c .ingest <<<"$CSTATS")"

# --- clean stop, sanitizer reports ------------------------------------------------------------
node_stop "$NODE1_PID"
assert_eq "node exit status" 0 "$NODE_RC"
untrack_pid "$NODE1_PID"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
