#!/usr/bin/env bash
# ledger.sh - benchmark 3: the loss ledger is exact. pktgen sends 64-byte UDP frames
# with 100 000 distinct flows as fast as it goes for 10 s through va (namespace A, where
# ayaflow-node watches va with default settings and exports to a collector running in
# A). When the traffic has stopped and every window is acknowledged:
#   packets in the collector's flow records (sum of packets_sent + packets_received)
#   + packets in the node's loss ledger (every reason) + non-IP frames
#   = packets va counted (tx + rx), exactly;
# and the share of packets in flow records is reported against the 99.9 % target.
# A second run with the old default --max-flows 65536 shows what a too small flow map
# costs (flow_map_full). Each run also reports the node's resident memory holding the
# 100 000 flows (VmRSS at the end): it follows the flows present, not --max-flows.
#
# usage: bench/ledger.sh [--smoke]
source "$(dirname "$0")/common.sh"
bench_init "$@"
need "$AYAFLOW_NODE" "$AYAFLOW_COLLECTOR" "$PKTGEN"

DURATION=10 FLOWS=100000
[ "$SMOKE" = 0 ] || DURATION=2 FLOWS=100000
CONFIGS=("default" "--max-flows 65536")
[ "$SMOKE" = 0 ] || CONFIGS=("default")

# one_run LABEL EXTRA-NODE-ARGS: prints a result block. Each run has namespaces, ports
# and a database of its own.
RUN=0
one_run()
{
	local label=$1 extra=$2 db="$BENCH_DIR/ledger-$RANDOM.db"
	RUN=$((RUN + 1))
	ns_pair 10.93.1 "r$RUN"
	HTTP=$(rand_port)
	CPORT=$((HTTP + 1))
	IPORT=$((HTTP + 2))
	collector_start "$NS_A" "$CPORT" "$IPORT" "$db" "collector-$label"
	local cpid=$COLLECTOR_PID
	# shellcheck disable=SC2086
	node_start "$NS_A" "$HTTP" "node-$label" -i va --collector "tcp://127.0.0.1:$IPORT" $extra
	local npid=$NODE_PID
	local tx0 rx0 tx1 rx1 gen
	tx0=$(dev_stat "$NS_A" va tx_packets)
	rx0=$(dev_stat "$NS_A" va rx_packets)
	nsx "$NS_A" "$PKTGEN" udp va "$MAC_A" "$MAC_B" 10.93.0.1 "$IP_SINK" --flows "$FLOWS" \
		--duration "$DURATION" >"$BENCH_DIR/pktgen-$label.log" 2>&1 ||
		die "pktgen failed: $(cat "$BENCH_DIR/pktgen-$label.log")"
	# Let the last windows go out: wait until the node has seen everything and the
	# collector has acknowledged every record sent, over two quiet windows.
	local stats i prev="" cur
	for i in $(seq 1 120); do
		sleep 1
		stats=$(nsx "$NS_A" curl -sf "http://127.0.0.1:$HTTP/api/stats") || continue
		cur=$(jq -c '[.total_packets, .export.records_sent, .export.records_acked, .export.spool_batches]' <<<"$stats")
		if [ "$cur" = "$prev" ] && jq -e '.[1] == .[2] and .[3] == 0' <<<"$cur" >/dev/null; then
			break
		fi
		prev=$cur
	done
	sleep 11 # more than two aggregation windows (5 s): every delta has been exported
	stats=$(nsx "$NS_A" curl -sf "http://127.0.0.1:$HTTP/api/stats")
	tx1=$(dev_stat "$NS_A" va tx_packets)
	rx1=$(dev_stat "$NS_A" va rx_packets)
	local iface=$((tx1 - tx0 + rx1 - rx0))
	local rss
	rss=$(proc_rss_kib "$npid")
	local records lost nonip seen
	records=$(sqlite3 "file:$db?mode=ro" "SELECT coalesce(sum(packets), 0) FROM flow_blocks")
	lost=$(jq '[.lost_packets[]] | add' <<<"$stats")
	nonip=$(jq '.classifier_events.non_ip' <<<"$stats")
	seen=$(jq '.total_packets' <<<"$stats")
	local sent
	sent=$(kv sent "$(cat "$BENCH_DIR/pktgen-$label.log")")
	echo "loss ledger, $FLOWS flows, ${DURATION}s at full rate, node settings: $label"
	result "sender: packets sent (pktgen)" "$sent" "-"
	result "va counted (tx + rx)" "$iface" "-"
	result "in flow records (collector database)" "$records" "-"
	result "in the loss ledger (all reasons)" "$lost" "-"
	jq -r '.lost_packets | to_entries[] | select(.value > 0) | "    \(.key) \(.value)"' <<<"$stats"
	result "non-IP frames (not a loss)" "$nonip" "-"
	result "records + ledger + non-IP - interface" "$((records + lost + nonip - iface))" "= 0"
	result "in flow records / interface" \
		"$(awk -v r="$records" -v i="$iface" 'BEGIN { printf "%.3f %%", 100 * r / i }')" ">= 99.9 %"
	result "(node total_packets, for reference)" "$seen" "-"
	result "node RSS holding the flows (KiB)" "$rss" "-"
	stop_pid "$npid"
	stop_pid "$cpid"
	ip netns del "$NS_A"
	ip netns del "$NS_B"
}

for c in "${CONFIGS[@]}"; do
	if [ "$c" = default ]; then one_run default ""; else one_run "${c// /=}" "$c"; fi
done
