#!/usr/bin/env bash
# link_cut.sh - the network between a node and the collector is cut while traffic flows,
# then restored: the node spools, reconnects and catches up; with a small spool the
# overflow is counted, exactly.
#
# One collector in the hub (cluster.sh); the node in namespace A (watching va, 1 s windows)
# reaches it over the hub link x1 <-> c1. Eight UDP streams run for ~50 s. A few windows
# in, the node's side of the hub link is set down (ip link set x1 down) for 30 windows of
# the node's clock (30 s), then up again. Two rounds, each with its own node process and
# node name:
#   1. default --spool-size (64 MiB): nothing is lost: history packets = total_packets and
#      export_spool_full = 0, exactly;
#   2. --spool-size 2048: the spool overflows during the cut: history packets +
#      lost_packets.export_spool_full = total_packets, exactly (as spool_loss.sh). The
#      batch being sent when the link went down times out, but its bytes may still reach
#      the collector when the link is back: the spool never drops a batch once sent
#      (node/spool.h), so such a batch is stored once and never also counted lost.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector

PORT=3001
WINDOW=1
CUT_WINDOWS=30
STREAMS=8 UDP_COUNT=500 UDP_SIZE=100 UDP_IVAL=100000
EXPORT_TIMEOUT_S=10 # the node's export timeout: after it, no send is still pending

ns_pair "$(ns_name a)" "$(ns_name b)" 10.85.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.85.101
DB=$E2E_DIR/history.db
collector_start collector "$DB" --connection-timeout 3600

# cut_round TAG SPOOL_ARGS...: one node, traffic, the cut, the catch-up. Sets R_TOTAL,
# R_STORED, R_LOST.
cut_round()
{
	local tag=$1 p i t0
	shift
	local name=e2e-cut-$tag-$E2E_ID dport=$((6600 + ${#tag}))
	log "--- round $tag: $*"
	node_start "$NS_A" "$PORT" "node-$tag" -i "$DEV_A" --aggregation-window "$WINDOW" \
		--connection-timeout 3600 --closed-timeout 3600 --node-name "$name" \
		--collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT" "$@"
	local npid=$NODE_PID
	npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node connected"

	ip netns exec "$NS_B" "$TRAFFICGEN" udp-sink "$dport" "$((STREAMS * UDP_COUNT))" --timeout 150 \
		>"$E2E_DIR/sink-$tag.log" 2>&1 &
	local sink=$!
	track_pid $sink
	wait_listen "$NS_B" udp "$dport"
	local senders=()
	for ((i = 1; i <= STREAMS; i++)); do
		nsx "$NS_A" "$TRAFFICGEN" udp-send "$IP_B" "$dport" "$UDP_COUNT" "$UDP_SIZE" \
			--sport "$((7600 + i))" --interval-us "$UDP_IVAL" >>"$E2E_DIR/senders-$tag.log" 2>&1 &
		senders+=($!)
		track_pid $!
	done
	npoll_jq "$NS_A" /api/stats ".export.records_acked >= $((2 * STREAMS))" "records of a few windows acknowledged" 30
	assert_eq "round $tag: no loss before the cut" 0 "$(api "$NS_A" /api/stats | jq .lost_packets.export_spool_full)"

	# --- the cut --------------------------------------------------------------------------
	ip -n "$NS_A" link set x1 down
	on_cleanup "ip -n '$NS_A' link set x1 up"
	t0=$(api "$NS_A" /api/stats | jq .uptime_seconds)
	npoll_jq "$NS_A" /api/stats ".uptime_seconds >= $t0 + $CUT_WINDOWS * $WINDOW" \
		"$CUT_WINDOWS windows with the link down" 90
	local during
	during=$(api "$NS_A" /api/stats)
	log "round $tag, link down: export $(jq -c .export <<<"$during"), export_spool_full $(jq .lost_packets.export_spool_full <<<"$during")"
	[ "$(jq .export.spool_batches <<<"$during")" -ge 3 ] ||
		fail "round $tag: the node did not spool during the cut"
	for p in "${senders[@]}"; do
		kill -0 "$p" 2>/dev/null || fail "round $tag: a stream ended before the link came back (machine too slow?)"
	done
	ip -n "$NS_A" link set x1 up
	wait_for "hub link x1 up again" "ip -n $NS_A -j link show x1 | jq -e '.[0].operstate == \"UP\"'"

	# --- catch up -------------------------------------------------------------------------
	for p in "${senders[@]}"; do
		wait "$p" || fail "udp-send failed"
		untrack_pid "$p"
	done
	wait "$sink" || fail "udp-sink failed"
	untrack_pid "$sink"
	assert_eq "round $tag: udp-sink received" "received $((STREAMS * UDP_COUNT))" "$(tail -n 1 "$E2E_DIR/sink-$tag.log")"
	SETTLE_LOSSY=1 node_settled "$NS_A" "$name" 120 >/dev/null
	t0=$(api "$NS_A" /api/stats | jq .uptime_seconds)
	npoll_jq "$NS_A" /api/stats ".uptime_seconds >= $t0 + $EXPORT_TIMEOUT_S + 2" "the export timeout to pass" 60
	local stats hist
	stats=$(SETTLE_LOSSY=1 node_settled "$NS_A" "$name" 120)
	log "round $tag settled: export $(jq -c .export <<<"$stats")"
	R_TOTAL=$(jq .total_packets <<<"$stats")
	R_LOST=$(jq .lost_packets.export_spool_full <<<"$stats")
	hist=$(history_all "node=$name")
	echo "$hist" | jq . >"$E2E_DIR/history-$tag.json"
	R_STORED=$(hsum "$hist" packet_count)
	log "round $tag: $(jq length <<<"$hist") history rows, $R_STORED stored, $R_LOST lost (export_spool_full), $R_TOTAL counted"
	assert_eq "round $tag: no (connection, window) twice in the history" 0 \
		"$(jq '[group_by([.protocol, .src_ip, .src_port, .dst_ip, .dst_port, .window_end])[] | select(length > 1)] | length' <<<"$hist")"
	assert_eq "round $tag: node lost_packets.collector_rejected" 0 "$(jq .lost_packets.collector_rejected <<<"$stats")"
	[ "$R_TOTAL" -ge "$((STREAMS * UDP_COUNT))" ] || fail "round $tag: node counted $R_TOTAL, fewer than sent"
	node_stop "$npid"
	assert_eq "round $tag: node exit status" 0 "$NODE_RC"
	untrack_pid "$npid"
}

# --- round 1: the default spool holds the whole cut ------------------------------------------
cut_round big
assert_eq "default spool: history packets = node total_packets" "$R_TOTAL" "$R_STORED"
assert_eq "default spool: export_spool_full" 0 "$R_LOST"

# --- round 2: a 2 KiB spool overflows ----------------------------------------------------------------
cut_round small --spool-size 2048
[ "$R_LOST" -gt 0 ] || fail "small spool: export_spool_full is 0: the spool did not overflow"
assert_eq "small spool: history packets + export_spool_full = node total_packets" "$R_TOTAL" "$((R_STORED + R_LOST))"

collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
