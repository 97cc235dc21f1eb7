#!/usr/bin/env bash
# classifier_variant.sh - design experiments for benchmark 1: measures candidate builds
# of the classifier (BPF objects with a flow_egress program, e.g. bpf/flow.bpf.c with a
# change) the same way as classifier_cost.sh (kernel run time / run count, an empty
# classifier after it on the same packets), without ayaflow-node: each object is loaded
# with bpftool into a private bpffs under the work dir and attached with tc on va egress.
# Rounds alternate between the objects; figures are medians. Not part of run_all.sh.
#
# usage: [BENCH_FLOWS=N | BENCH_STORM=1] [BENCH_PPS=N] bench/classifier_variant.sh [--smoke] OBJ...
source "$(dirname "$0")/common.sh"
OBJS=()
ARGS=()
for a in "$@"; do
	case $a in --*) ARGS+=("$a") ;; *) OBJS+=("$a") ;; esac
done
bench_init "${ARGS[@]}"
need "$PKTGEN" "$BPFSTATS" "$EMPTY_BPF_OBJ" "${OBJS[@]}"
command -v bpftool >/dev/null || die "bpftool not installed"
[ "${#OBJS[@]}" -gt 0 ] || die "usage: $0 [--smoke] OBJ..."

ROUNDS=5 INTERVAL=2
[ "$SMOKE" = 0 ] || ROUNDS=1 INTERVAL=1
FLOWS=${BENCH_FLOWS:-1000}
TRAFFIC=(--flows "$FLOWS")
[ "${BENCH_STORM:-0}" = 0 ] || TRAFFIC=(--storm) # every packet a new 5-tuple
# Paced traffic (e.g. footprint's 150 000/s): a flow's data has left the caches by its next
# packet, which full rate over few flows hides.
[ -z "${BENCH_PPS:-}" ] || TRAFFIC+=(--pps "$BENCH_PPS")

ns_pair 10.95.1
mkdir -p "$BENCH_DIR/bpffs"
mount -t bpf bpf "$BENCH_DIR/bpffs" || die "cannot mount a bpffs"
on_cleanup "umount '$BENCH_DIR/bpffs'"
"$BPFSTATS" hold >"$BENCH_DIR/bpfstats.log" 2>&1 &
track_pid $!
sleep 0.3
nsx "$NS_A" tc qdisc add dev va clsact
nsx "$NS_A" tc filter add dev va egress prio 2 handle 0xbe01 bpf da obj "$EMPTY_BPF_OBJ" sec tc
i=0
for o in "${OBJS[@]}"; do
	bpftool prog loadall "$o" "$BENCH_DIR/bpffs/v$i" type classifier || die "cannot load $o"
	i=$((i + 1))
done
TOTAL=$((ROUNDS * ${#OBJS[@]} * (INTERVAL + 1) + 3))
ip netns exec "$NS_A" "$PKTGEN" udp va "$MAC_A" "$MAC_B" 10.95.0.1 "$IP_SINK" "${TRAFFIC[@]}" \
	--duration "$TOTAL" >"$BENCH_DIR/pktgen.log" 2>&1 &
track_pid $!
for r in $(seq 1 "$ROUNDS"); do
	for i in $(seq 0 $((${#OBJS[@]} - 1))); do
		nsx "$NS_A" tc filter replace dev va egress prio 1 handle 0x1 bpf da \
			pinned "$BENCH_DIR/bpffs/v$i/flow_egress"
		f=$(nsx "$NS_A" tc filter show dev va egress)
		idv=$(awk '/pref 1 bpf/ && / id / { for (k = 1; k < NF; k++) if ($k == "id") print $(k + 1) }' <<<"$f" | head -1)
		ide=$(awk '/pref 2 bpf/ && / id / { for (k = 1; k < NF; k++) if ($k == "id") print $(k + 1) }' <<<"$f" | head -1)
		sleep 0.5
		s0=$("$BPFSTATS" read "$idv" "$ide")
		sleep "$INTERVAL"
		s1=$("$BPFSTATS" read "$idv" "$ide")
		paste <(echo "$s0") <(echo "$s1") | awk -v v="$i" '
			NR == 1 { a = ($5 - $2) / ($6 - $3) } NR == 2 { e = ($5 - $2) / ($6 - $3) }
			END { printf "%d %.1f %.1f\n", v, a, e }' >>"$BENCH_DIR/samples"
	done
done
echo "classifier variants, ${TRAFFIC[*]} (ns/packet, median of $ROUNDS alternated rounds)"
for i in $(seq 0 $((${#OBJS[@]} - 1))); do
	result "$(basename "${OBJS[$i]}")" \
		"$(awk -v v="$i" '$1 == v { print $2 }' "$BENCH_DIR/samples" | median) (empty $(awk -v v="$i" '$1 == v { print $3 }' "$BENCH_DIR/samples" | median))" "<= 150"
done
