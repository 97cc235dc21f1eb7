#!/usr/bin/env bash
# collector_restart.sh - the collector is killed (SIGKILL) while a node streams to it and
# restarted on the same database: every packet the node counted is stored exactly once.
#
# One node (namespace A, watching va) exports to the collector in namespace C (see
# cluster.sh) with a 1 s window, while a steady known UDP stream (and a ping) runs over
# ~15 s. After a few windows the collector is killed; the node keeps counting and
# spooling (export.connected false, the spool grows) for ~3 windows; the collector is
# restarted on the same database and ports. Batches that were in flight at the kill may
# be committed and then resent: the collector must recognise them (node, boot id,
# sequence) and not store them twice. Once the spool has drained, the history of the
# node must add up to its total_packets exactly, with nothing lost.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector

PORT=3001
WINDOW=1
UDP_COUNT=1500 UDP_SIZE=200 UDP_IVAL=10000 UDP_SPORT=7301 UDP_DPORT=6301
PING_COUNT=30

ns_pair "$(ns_name a)" "$(ns_name b)" 10.82.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.82.101
NAME=e2e-restart-$E2E_ID
DB=$E2E_DIR/history.db

collector_start collector "$DB" --connection-timeout 3600
node_start "$NS_A" "$PORT" node -i "$DEV_A" --aggregation-window "$WINDOW" \
	--connection-timeout 3600 --closed-timeout 3600 --node-name "$NAME" \
	--collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT"
NODE1_PID=$NODE_PID
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node connected"

# --- a steady stream over ~15 s ------------------------------------------------------------
ip netns exec "$NS_B" "$TRAFFICGEN" udp-sink "$UDP_DPORT" "$UDP_COUNT" --timeout 60 \
	>"$E2E_DIR/sink.log" 2>&1 &
SINK=$!
track_pid $SINK
wait_listen "$NS_B" udp "$UDP_DPORT"
nsx "$NS_A" "$TRAFFICGEN" udp-send "$IP_B" "$UDP_DPORT" "$UDP_COUNT" "$UDP_SIZE" \
	--sport "$UDP_SPORT" --interval-us "$UDP_IVAL" >"$E2E_DIR/sender.log" 2>&1 &
SENDER=$!
track_pid $SENDER
nsx "$NS_B" ping -c "$PING_COUNT" -s 56 -i 0.5 -q "$IP_A" >"$E2E_DIR/ping.log" 2>&1 &
PINGER=$!
track_pid $PINGER

# A few windows with records reach the collector.
npoll_jq "$NS_A" /api/stats '.export.records_acked >= 4' "records of a few windows acknowledged" 30
BEFORE=$(api "$NS_A" /api/stats)
log "before the kill: export $(jq -c .export <<<"$BEFORE")"

# --- kill the collector, let the node spool ~3 windows ------------------------------------
collector_stop KILL
assert_eq "collector killed by SIGKILL" 137 "$COLLECTOR_RC"
npoll_jq "$NS_A" /api/stats '.export.connected == false' "node to notice the collector is gone"
npoll_jq "$NS_A" /api/stats '.export.spool_batches >= 3' "the spool to grow while the collector is down"
DURING=$(api "$NS_A" /api/stats)
log "collector down: export $(jq -c .export <<<"$DURING")"
kill -0 "$SENDER" 2>/dev/null || fail "the stream ended before the collector restarted (machine too slow?)"

# --- restart on the same database and ports -------------------------------------------------
collector_start collector "$DB" --connection-timeout 3600
npoll_jq "$NS_A" /api/stats '.export.connected == true' "node to reconnect" 30

wait "$SENDER" || fail "udp-send failed"
untrack_pid "$SENDER"
wait "$PINGER" || fail "ping failed"
untrack_pid "$PINGER"
wait "$SINK" || fail "udp-sink failed"
untrack_pid "$SINK"
assert_eq "udp-sink received" "received $UDP_COUNT" "$(tail -n 1 "$E2E_DIR/sink.log")"

STATS=$(node_settled "$NS_A" "$NAME")
log "settled: export $(jq -c .export <<<"$STATS")"
TOTAL=$(jq .total_packets <<<"$STATS")

# --- every packet stored exactly once --------------------------------------------------------
HIST=$(history_all "node=$NAME")
echo "$HIST" | jq . >"$E2E_DIR/history.json"
log "$(jq length <<<"$HIST") history rows"
assert_eq "sum of history packet_count = node total_packets" "$TOTAL" "$(hsum "$HIST" packet_count)"
assert_eq "sum of history length = node total_bytes" "$(jq .total_bytes <<<"$STATS")" "$(hsum "$HIST" length)"
assert_eq "node lost_packets.export_spool_full" 0 "$(jq .lost_packets.export_spool_full <<<"$STATS")"
assert_eq "node lost_packets.collector_rejected" 0 "$(jq .lost_packets.collector_rejected <<<"$STATS")"
assert_eq "node batches_rejected" 0 "$(jq .export.batches_rejected <<<"$STATS")"

ROWS=$(history_all "node=$NAME&protocol=udp&src_ip=$IP_A&src_port=$UDP_SPORT&dst_ip=$IP_B&dst_port=$UDP_DPORT")
assert_eq "udp stream: history packets_sent" "$UDP_COUNT" "$(hsum "$ROWS" packets_sent)"
assert_eq "udp stream: history bytes_sent" "$((UDP_COUNT * (UDP_SIZE + 28)))" "$(hsum "$ROWS" bytes_sent)"
assert_eq "udp stream: history packets_received" 0 "$(hsum "$ROWS" packets_received)"
ROWS=$(history_all "node=$NAME&protocol=icmp&src_ip=$IP_B&dst_ip=$IP_A")
assert_eq "ping: history packets_sent" "$PING_COUNT" "$(hsum "$ROWS" packets_sent)"
assert_eq "ping: history packets_received" "$PING_COUNT" "$(hsum "$ROWS" packets_received)"
assert_eq "ping: history bytes" "$((2 * PING_COUNT * 84))" \
	"$(($(hsum "$ROWS" bytes_sent) + $(hsum "$ROWS" bytes_received)))"
# One row per window at most for each connection: a duplicate batch would repeat one.
assert_eq "no (connection, window) twice in the history" 0 \
	"$(jq '[group_by([.protocol, .src_ip, .src_port, .dst_ip, .dst_port, .window_end])[] | select(length > 1)] | length' <<<"$HIST")"

NODES=$(capi /api/nodes)
echo "$NODES" | jq . >"$E2E_DIR/collector-nodes.json"
ND=$(jq -c --arg n "$NAME" '[.nodes[] | select(.name == $n)] | if length == 1 then .[0] else error("\(length) matches") end' <<<"$NODES") ||
	fail "/api/nodes does not list $NAME exactly once"
assert_eq "/api/nodes total_packets = node" "$TOTAL" "$(jq .total_packets <<<"$ND")"
assert_eq "/api/nodes: every batch stored once (batches = last_seq)" "$(jq .last_seq <<<"$ND")" "$(jq .batches <<<"$ND")"
assert_eq "/api/nodes export_spool_full" 0 "$(jq .lost_packets.export_spool_full <<<"$ND")"
CSTATS=$(capi /api/stats)
log "collector after restart: ingest $(jq -c .ingest <<<"$CSTATS"); node resent $(jq .export.batches_resent <<<"$STATS"), duplicates acknowledged $(jq .export.batches_duplicate <<<"$STATS")"

# --- clean stop, sanitizer reports ----------------------------------------------------------
node_stop "$NODE1_PID"
assert_eq "node exit status" 0 "$NODE_RC"
untrack_pid "$NODE1_PID"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
