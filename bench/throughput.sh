#!/usr/bin/env bash
# throughput.sh - benchmark 2: throughput kept across a veth with the node attached,
# against no program, alternated in one run.
#
# Namespaces A and B joined by veth va/vb. Ways of being attached:
#   one node:  ayaflow-node in A watching va (its ingress and egress hooks, TCX links: the
#              default on this kernel): every packet crosses the classifier once (egress
#              of va), as between a watched node and an unwatched peer - the issue's
#              "node attached (ingress and egress)";
#   one node, tc (UDP only): the same with --attach tc (clsact filters);
#   empty (UDP only): no node, an empty classifier (bench/empty.bpf.c) on va's TCX hooks
#              by bench/tcxattach - the floor: what the hook and a program that does
#              nothing cost, which no classifier can go below;
#   both ends: one node in A watching va and one in B watching vb: every packet crosses
#              it twice (egress of va, ingress of vb), as between two nodes of a cluster.
# The traffic runs without a break; the phases alternate (one node, none, one node tc,
# none, ...): each phase starts or stops the programs, waits a second, then counts vb's
# received packets or bytes over the measuring interval. One ratio per round and way
# (attached / the "none" phase right after it); the figures are medians of the ratios.
#   UDP: 64-byte frames (60 + FCS) from pktgen (AF_PACKET, 1 000 flows), as fast as it
#        goes, to an address B drops in routing (no reply traffic).
#   TCP: one bulk connection (pktgen tcp-send -> tcp-sink), default offloads.
#
# usage: bench/throughput.sh [--smoke]
source "$(dirname "$0")/common.sh"
bench_init "$@"
need "$AYAFLOW_NODE" "$PKTGEN" "$TCXATTACH" "$EMPTY_BPF_OBJ"

ROUNDS=5 INTERVAL=3
[ "$SMOKE" = 0 ] || ROUNDS=1 INTERVAL=1

ns_pair 10.92.1
PORT=$(rand_port)
NODES=()

# nodes_up one|onetc|empty|both
nodes_up()
{
	case $1 in
	one) node_start "$NS_A" "$PORT" node-a -i va ;;
	onetc) node_start "$NS_A" "$PORT" node-a -i va --attach tc ;;
	empty)
		ip netns exec "$NS_A" "$TCXATTACH" "$EMPTY_BPF_OBJ" va >"$BENCH_DIR/tcxattach.log" 2>&1 &
		NODE_PID=$!
		track_pid "$NODE_PID"
		local i
		for i in $(seq 1 50); do
			grep -q ready "$BENCH_DIR/tcxattach.log" && break
			kill -0 "$NODE_PID" 2>/dev/null || die "tcxattach: $(cat "$BENCH_DIR/tcxattach.log")"
			sleep 0.1
		done
		;;
	both) node_start "$NS_A" "$PORT" node-a -i va ;;
	esac
	NODES=("$NODE_PID")
	if [ "$1" = both ]; then
		node_start "$NS_B" "$PORT" node-b -i vb
		NODES+=("$NODE_PID")
	fi
}

nodes_down()
{
	local p
	for p in "${NODES[@]}"; do stop_pid "$p"; done
	NODES=()
}

# rate NAME STAT: STAT of vb per second over the interval.
rate()
{
	local v0 v1
	v0=$(dev_stat "$NS_B" vb "$1")
	sleep "$INTERVAL"
	v1=$(dev_stat "$NS_B" vb "$1")
	echo $(((v1 - v0) / INTERVAL))
}

# run_phases NAME STAT WAY...: alternates; one line per round and way into
# $BENCH_DIR/NAME-WAY: attached/s, none/s, ratio.
run_phases()
{
	local name=$1 stat=$2 r way with without
	shift 2
	for way in "$@"; do : >"$BENCH_DIR/$name-$way"; done
	for r in $(seq 1 "$ROUNDS"); do
		for way in "$@"; do
			nodes_up "$way"
			sleep 1
			with=$(rate "$stat")
			nodes_down
			sleep 1
			without=$(rate "$stat")
			[ "$without" -gt 0 ] || die "no traffic measured"
			echo "$with $without" | awk '{ printf "%d %d %.4f\n", $1, $2, $1 / $2 }' \
				>>"$BENCH_DIR/$name-$way"
		done
	done
	for way in "$@"; do
		log "$name rounds, $way (attached/s, none/s, ratio):"
		sed 's/^/    /' "$BENCH_DIR/$name-$way" >&2
	done
}

TOTAL=$((ROUNDS * 4 * (2 * INTERVAL + 6) + 10))

# --- UDP ---
ip netns exec "$NS_A" "$PKTGEN" udp va "$MAC_A" "$MAC_B" 10.92.0.1 "$IP_SINK" --flows 1000 \
	--duration "$TOTAL" >"$BENCH_DIR/pktgen-udp.log" 2>&1 &
GEN=$!
track_pid "$GEN"
sleep 1
run_phases udp rx_packets one onetc empty both
stop_pid "$GEN"

# --- TCP ---
ip netns exec "$NS_B" "$PKTGEN" tcp-sink 5201 >"$BENCH_DIR/sink.log" 2>&1 &
track_pid $!
sleep 0.5
ip netns exec "$NS_A" "$PKTGEN" tcp-send "$IP_B" 5201 --duration "$TOTAL" >"$BENCH_DIR/pktgen-tcp.log" 2>&1 &
GEN=$!
track_pid "$GEN"
sleep 1
run_phases tcp rx_bytes one both
stop_pid "$GEN"

median_col() { awk -v c="$2" '{ print $c }' "$BENCH_DIR/$1" | median; }
way_label()
{
	case $1 in
	one) echo "one node" ;;
	onetc) echo "one node, tc" ;;
	empty) echo "empty classifier" ;;
	both) echo "both ends" ;;
	esac
}
echo "throughput kept with the node attached (median of $ROUNDS alternated rounds, ${INTERVAL}s each)"
result "UDP 64 B: packets/s, none (median)" "$(median_col udp-one 2)" "-"
for way in one onetc empty both; do
	label=$(way_label "$way")
	target=">= 95 %"
	[ "$way" != empty ] || target="floor (-)"
	result "UDP 64 B, $label: packets/s attached (median)" "$(median_col "udp-$way" 1)" "-"
	result "UDP 64 B, $label: kept (median of ratios)" \
		"$(median_col "udp-$way" 3 | awk '{ printf "%.1f %%", $1 * 100 }')" "$target"
done
result "TCP: Gbit/s, none (median)" "$(median_col tcp-one 2 | awk '{ printf "%.2f", $1 * 8 / 1e9 }')" "-"
for way in one both; do
	label=$(way_label "$way")
	result "TCP, $label: Gbit/s attached (median)" "$(median_col "tcp-$way" 1 | awk '{ printf "%.2f", $1 * 8 / 1e9 }')" "-"
	result "TCP, $label: kept (median of ratios)" \
		"$(median_col "tcp-$way" 3 | awk '{ printf "%.1f %%", $1 * 100 }')" ">= 95 %"
done
