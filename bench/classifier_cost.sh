#!/usr/bin/env bash
# classifier_cost.sh - benchmark 1: the classifier's cost per packet from the kernel's
# own accounting (BPF_ENABLE_STATS: run time / run count per program), 64-byte UDP
# frames at the highest rate pktgen reaches through veth va (namespace A) -> vb (B).
#
# ayaflow-node runs in A watching va, attached with tc (--attach tc: the kernel's run
# time covers the program, not the hook, so the mode does not change the figure, and
# tc names both programs' ids); an empty classifier (bench/empty.bpf.c, TC_ACT_UNSPEC)
# is attached on the same hook right after it (prio 2; ayaflow's filter is prio 1 and
# returns TC_ACT_UNSPEC, so both run on every packet). Both are
# therefore measured on the same packets in the same intervals; each interval gives one
# ratio, and the figures are medians over the intervals.
# Two workloads: established flows (1 000 flows, all in the map), and a new-flow storm
# (every packet a new 5-tuple; the default 65 536-entry map is full within a fraction
# of a second, after which every packet is a failed insert counted as flow_map_full).
#
# usage: bench/classifier_cost.sh [--smoke]
source "$(dirname "$0")/common.sh"
bench_init "$@"
need "$AYAFLOW_NODE" "$PKTGEN" "$BPFSTATS" "$EMPTY_BPF_OBJ"

ROUNDS=7 INTERVAL=2
[ "$SMOKE" = 0 ] || ROUNDS=2 INTERVAL=1

ns_pair 10.91.1
"$BPFSTATS" hold >"$BENCH_DIR/bpfstats.log" 2>&1 &
track_pid $!
for _ in $(seq 1 50); do grep -q ready "$BENCH_DIR/bpfstats.log" && break; sleep 0.1; done
grep -q ready "$BENCH_DIR/bpfstats.log" || die "BPF_ENABLE_STATS failed: $(cat "$BENCH_DIR/bpfstats.log")"

PORT=$(rand_port)
node_start "$NS_A" "$PORT" node -i va --attach tc
nsx "$NS_A" tc filter add dev va egress prio 2 handle 0xbe01 bpf da obj "$EMPTY_BPF_OBJ" sec tc
FILTERS=$(nsx "$NS_A" tc filter show dev va egress)
ID_FLOW=$(awk '/pref 1 bpf/ && / id / { for (i = 1; i < NF; i++) if ($i == "id") print $(i + 1) }' <<<"$FILTERS" | head -1)
ID_EMPTY=$(awk '/pref 2 bpf/ && / id / { for (i = 1; i < NF; i++) if ($i == "id") print $(i + 1) }' <<<"$FILTERS" | head -1)
[ -n "$ID_FLOW" ] && [ -n "$ID_EMPTY" ] || die "cannot find the program ids in: $FILTERS"
log "ayaflow egress program id $ID_FLOW, empty program id $ID_EMPTY"

# measure NAME PKTGEN-ARGS...: prints the medians of ns/packet (ayaflow, empty, ratio).
measure()
{
	local name=$1
	shift
	local total=$((ROUNDS * INTERVAL + 2)) r a0 a1 e0 e1 s
	ip netns exec "$NS_A" "$PKTGEN" udp va "$MAC_A" "$MAC_B" 10.91.0.1 "$IP_SINK" --duration "$total" "$@" \
		>"$BENCH_DIR/pktgen-$name.log" 2>&1 &
	local gen=$!
	track_pid "$gen"
	sleep 1
	: >"$BENCH_DIR/$name.samples"
	for r in $(seq 1 "$ROUNDS"); do
		s=$("$BPFSTATS" read "$ID_FLOW" "$ID_EMPTY")
		a0=$(awk 'NR == 1 { print $2, $3 }' <<<"$s")
		e0=$(awk 'NR == 2 { print $2, $3 }' <<<"$s")
		sleep "$INTERVAL"
		s=$("$BPFSTATS" read "$ID_FLOW" "$ID_EMPTY")
		a1=$(awk 'NR == 1 { print $2, $3 }' <<<"$s")
		e1=$(awk 'NR == 2 { print $2, $3 }' <<<"$s")
		awk -v a0="$a0" -v a1="$a1" -v e0="$e0" -v e1="$e1" 'BEGIN {
			split(a0, x, " "); split(a1, y, " "); split(e0, p, " "); split(e1, q, " ")
			n = y[2] - x[2]; m = q[2] - p[2]
			if (n <= 0 || m <= 0) exit 1
			fa = (y[1] - x[1]) / n; fe = (q[1] - p[1]) / m
			printf "%.1f %.1f %.3f %.0f\n", fa, fe, fa / fe, n / 1 }' >>"$BENCH_DIR/$name.samples" ||
			die "no packets counted in an interval"
	done
	wait "$gen" || die "pktgen failed: $(cat "$BENCH_DIR/pktgen-$name.log")"
	local pps
	pps=$(kv pps "$(cat "$BENCH_DIR/pktgen-$name.log")")
	log "$name samples (ayaflow ns, empty ns, ratio, packets):"
	sed 's/^/    /' "$BENCH_DIR/$name.samples" >&2
	echo "$(awk '{ print $1 }' "$BENCH_DIR/$name.samples" | median)" \
		"$(awk '{ print $2 }' "$BENCH_DIR/$name.samples" | median)" \
		"$(awk '{ print $3 }' "$BENCH_DIR/$name.samples" | median)" "$pps"
}

EST=$(measure established --flows 1000)
STORM=$(measure storm --storm)
METRICS=$(nsx "$NS_A" curl -sf "http://127.0.0.1:$PORT/metrics")
FULL=$(awk '/^ayaflow_lost_packets_total\{reason="flow_map_full"\}/ { print $2 }' <<<"$METRICS")

read -r e_a e_e e_r e_pps <<<"$EST"
read -r s_a s_e s_r s_pps <<<"$STORM"
echo "classifier cost per packet (kernel run_time_ns / run_cnt, median of $ROUNDS x ${INTERVAL}s intervals)"
result "established (1000 flows): sender pps" "$e_pps" "-"
result "established: ayaflow ns/packet" "$e_a" "<= 150"
result "established: empty classifier ns/packet" "$e_e" "(baseline)"
result "established: ayaflow / empty (median ratio)" "$e_r" "-"
result "storm (new 5-tuple per packet): sender pps" "$s_pps" "-"
result "storm: ayaflow ns/packet" "$s_a" "<= 500"
result "storm: empty classifier ns/packet" "$s_e" "(baseline)"
result "storm: ayaflow / empty (median ratio)" "$s_r" "-"
result "storm: packets counted flow_map_full" "${FULL:-0}" "(ledger)"
