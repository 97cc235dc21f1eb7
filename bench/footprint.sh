#!/usr/bin/env bash
# footprint.sh - benchmark 4: the node's footprint.
#  (a) CPU (utime + stime from /proc/PID/stat) and resident memory (VmRSS, sampled every
#      5 s) of ayaflow-node watching va in namespace A, exporting to a collector, while
#      pktgen sends 250 000 packets/s over 10 000 concurrent flows. Full run: the issue's
#      10 minutes (BENCH_FOOTPRINT_SECONDS). Smoke: 5 s.
#  (b) the whole machine's CPU time (all cores, user + system + irq + softirq, from
#      /proc/stat) over 10 s of 150 000 packets/s with node and collector running,
#      against the same traffic with nothing running; alternated, median of the
#      differences (CPU-seconds per 10 s of traffic);
#  (c) the classifier's own run time over the same traffic (kernel accounting), the
#      part of (b)'s difference that is the program itself.
#  At the end of (a) the node's /proc/PID/smaps_rollup and its largest mappings (by
#  resident KiB, from /proc/PID/smaps) are printed: where the memory is, measured.
#
# usage: bench/footprint.sh [--smoke]
# Knobs (environment): BENCH_FOOTPRINT_SECONDS (length of a, default 600),
# BENCH_FOOTPRINT_ROUNDS (rounds of b, default 5; 0 skips b), BENCH_FOOTPRINT_NODE_ARGS
# (extra node flags, e.g. "--max-flows 65536").
source "$(dirname "$0")/common.sh"
bench_init "$@"
need "$AYAFLOW_NODE" "$AYAFLOW_COLLECTOR" "$PKTGEN" "$BPFSTATS"

LONG=${BENCH_FOOTPRINT_SECONDS:-600} ROUNDS=${BENCH_FOOTPRINT_ROUNDS:-5} WIN=10
[ "$SMOKE" = 0 ] || LONG=5 ROUNDS=1 WIN=2
read -r -a NODE_ARGS <<<"${BENCH_FOOTPRINT_NODE_ARGS:-}"

# smaps_top PID: the resident KiB of the node's largest mappings (name or [anon]).
smaps_top()
{
	awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anon " $1 "]" : $6) }
		/^Rss:/ { rss[name] += $2 }
		END { for (n in rss) if (rss[n] >= 64) printf "    %8d KiB  %s\n", rss[n], n }' \
		"/proc/$1/smaps" | sort -rn | head -12
}

ns_pair 10.94.1
HTTP=$(rand_port)
CPORT=$((HTTP + 1))
IPORT=$((HTTP + 2))

# --- (a) node CPU and memory at 250 000 packets/s, 10 000 flows ---
collector_start "$NS_A" "$CPORT" "$IPORT" "$BENCH_DIR/fp.db" collector
node_start "$NS_A" "$HTTP" node -i va --collector "tcp://127.0.0.1:$IPORT" ${NODE_ARGS[@]+"${NODE_ARGS[@]}"}
NPID=$NODE_PID
ip netns exec "$NS_A" "$PKTGEN" udp va "$MAC_A" "$MAC_B" 10.94.0.1 "$IP_SINK" --flows 10000 --pps 250000 \
	--duration $((LONG + 7)) >"$BENCH_DIR/pktgen-a.log" 2>&1 &
GEN=$!
track_pid "$GEN"
sleep 5 # every flow in the map, first window exported
T0=$(proc_cpu_ticks "$NPID")
R0=$(date +%s.%N)
: >"$BENCH_DIR/rss"
for _ in $(seq 1 $((LONG / 5 > 0 ? LONG / 5 : 1))); do
	proc_rss_kib "$NPID" >>"$BENCH_DIR/rss"
	sleep 5
done
T1=$(proc_cpu_ticks "$NPID")
R1=$(date +%s.%N)
proc_rss_kib "$NPID" >>"$BENCH_DIR/rss"
wait "$GEN" || die "pktgen failed: $(cat "$BENCH_DIR/pktgen-a.log")"
ACTIVE=$(nsx "$NS_A" curl -sf "http://127.0.0.1:$HTTP/api/health" | jq .active_connections)
NODE_CPU=$(awk -v t0="$T0" -v t1="$T1" -v r0="$R0" -v r1="$R1" -v hz="$CLK_TCK" \
	'BEGIN { printf "%.2f %%", 100 * (t1 - t0) / hz / (r1 - r0) }')
RSS_MAX=$(sort -n "$BENCH_DIR/rss" | tail -1)
RSS_FIRST=$(head -1 "$BENCH_DIR/rss")
RSS_LAST=$(tail -1 "$BENCH_DIR/rss")
grep -E '^(Rss|Pss_Anon|Pss_File|Anonymous|Private_Dirty|Shared_Clean)' "/proc/$NPID/smaps_rollup" \
	>"$BENCH_DIR/rollup"
cp "/proc/$NPID/smaps" "$BENCH_DIR/smaps" # kept with BENCH_KEEP=1
smaps_top "$NPID" >"$BENCH_DIR/smaps_top"
THREADS=$(awk '/^Threads:/ { print $2 }' "/proc/$NPID/status")
stop_pid "$NPID"
stop_pid "$COLLECTOR_PID"

# --- (b) machine CPU: node + collector vs nothing, same traffic, alternated ---
: >"$BENCH_DIR/machine"
: >"$BENCH_DIR/procs"
for r in $(seq 1 "$ROUNDS"); do # (none when ROUNDS=0)
	for side in with without; do
		pids=()
		if [ "$side" = with ]; then
			collector_start "$NS_A" "$CPORT" "$IPORT" "$BENCH_DIR/fp-$r.db" "collector-$r"
			pids+=("$COLLECTOR_PID")
			node_start "$NS_A" "$HTTP" "node-$r" -i va --collector "tcp://127.0.0.1:$IPORT"
			pids+=("$NODE_PID")
		fi
		ip netns exec "$NS_A" "$PKTGEN" udp va "$MAC_A" "$MAC_B" 10.94.0.1 "$IP_SINK" --flows 10000 \
			--pps 150000 --duration $((WIN + 2)) >"$BENCH_DIR/pktgen-b.log" 2>&1 &
		GEN=$!
		track_pid "$GEN"
		sleep 1
		P0=0 P1=0
		for p in "${pids[@]}"; do P0=$((P0 + $(proc_cpu_ticks "$p"))); done
		B0=$(machine_busy_ticks)
		S0=$(date +%s.%N)
		sleep "$WIN"
		B1=$(machine_busy_ticks)
		S1=$(date +%s.%N)
		for p in "${pids[@]}"; do P1=$((P1 + $(proc_cpu_ticks "$p"))); done
		wait "$GEN" || die "pktgen failed"
		# CPU-seconds per 10 s of traffic: the machine's, then (with) the node's and the
		# collector's own, so that the difference can be told apart from the kernel's.
		awk -v b0="$B0" -v b1="$B1" -v s0="$S0" -v s1="$S1" -v hz="$CLK_TCK" \
			'BEGIN { printf "%.3f ", (b1 - b0) / hz * 10 / (s1 - s0) }' >>"$BENCH_DIR/machine"
		[ "$side" = without ] || awk -v p0="$P0" -v p1="$P1" -v s0="$S0" -v s1="$S1" \
			-v hz="$CLK_TCK" 'BEGIN { printf "%.3f\n", (p1 - p0) / hz * 10 / (s1 - s0) }' \
			>>"$BENCH_DIR/procs"
		for p in "${pids[@]}"; do stop_pid "$p"; done
	done
	echo >>"$BENCH_DIR/machine"
done
# --- (c) the classifier's own share of (b): the kernel's run time of both programs over
# the same traffic (BPF_ENABLE_STATS; the node attached with tc, whose filter list names
# the program ids). The accounting adds its own ~40 ns a run (benchmark 1's empty
# classifier), so this is an upper bound.
CLS=""
if [ "$ROUNDS" -gt 0 ]; then
	"$BPFSTATS" hold >"$BENCH_DIR/bpfstats.log" 2>&1 &
	STATS=$!
	track_pid "$STATS"
	for _ in $(seq 1 50); do grep -q ready "$BENCH_DIR/bpfstats.log" && break; sleep 0.1; done
	grep -q ready "$BENCH_DIR/bpfstats.log" || die "BPF_ENABLE_STATS failed: $(cat "$BENCH_DIR/bpfstats.log")"
	collector_start "$NS_A" "$CPORT" "$IPORT" "$BENCH_DIR/fp-c.db" collector-c
	node_start "$NS_A" "$HTTP" node-c -i va --attach tc --collector "tcp://127.0.0.1:$IPORT"
	ids=""
	for hook in ingress egress; do
		ids="$ids $(nsx "$NS_A" tc filter show dev va "$hook" |
			awk '/pref 1 bpf/ && / id / { for (i = 1; i < NF; i++) if ($i == "id") print $(i + 1) }' | head -1)"
	done
	[ "$(wc -w <<<"$ids")" = 2 ] || die "cannot find the node's program ids"
	ip netns exec "$NS_A" "$PKTGEN" udp va "$MAC_A" "$MAC_B" 10.94.0.1 "$IP_SINK" --flows 10000 \
		--pps 150000 --duration $((WIN + 2)) >"$BENCH_DIR/pktgen-c.log" 2>&1 &
	GEN=$!
	track_pid "$GEN"
	sleep 1
	# shellcheck disable=SC2086 # two ids
	X0=$("$BPFSTATS" read $ids | awk '{ t += $2; n += $3 } END { print t, n }')
	S0=$(date +%s.%N)
	sleep "$WIN"
	# shellcheck disable=SC2086
	X1=$("$BPFSTATS" read $ids | awk '{ t += $2; n += $3 } END { print t, n }')
	S1=$(date +%s.%N)
	wait "$GEN" || die "pktgen failed"
	CLS=$(awk -v x0="$X0" -v x1="$X1" -v s0="$S0" -v s1="$S1" 'BEGIN {
		split(x0, a, " "); split(x1, b, " "); n = b[2] - a[2]
		if (n <= 0) exit 1
		printf "%.3f %.1f", (b[1] - a[1]) / 1e9 * 10 / (s1 - s0), (b[1] - a[1]) / n }') ||
		die "no packets counted in (c)"
	stop_pid "$NODE_PID"
	stop_pid "$COLLECTOR_PID"
	stop_pid "$STATS"
fi

log "machine CPU-seconds per 10 s (with, without) per round:"
sed 's/^/    /' "$BENCH_DIR/machine" >&2
DIFF=$(awk '{ print $1 - $2 }' "$BENCH_DIR/machine" | median)

echo "node footprint (a: ${LONG}s at 250 000 packets/s, 10 000 flows; b: $ROUNDS alternated rounds of ${WIN}s at 150 000 packets/s)"
result "active connections on the node" "$ACTIVE" "10000"
result "ayaflow-node CPU (of one core)" "$NODE_CPU" "<= 2 %"
result "ayaflow-node RSS first / last (KiB)" "$RSS_FIRST / $RSS_LAST" "steady"
result "ayaflow-node RSS max (MiB)" "$(awk -v k="$RSS_MAX" 'BEGIN { printf "%.1f", k / 1024 }')" "<= 8 MiB"
result "ayaflow-node threads (at the end of a)" "$THREADS" "-"
echo "  node memory at the end of (a), /proc/PID/smaps_rollup (KiB):"
sed 's/^/    /' "$BENCH_DIR/rollup"
echo "  largest mappings, resident (/proc/PID/smaps):"
cat "$BENCH_DIR/smaps_top"
[ "$ROUNDS" -gt 0 ] || exit 0
result "machine CPU, node+collector (median, s/10s)" "$(awk '{ print $1 }' "$BENCH_DIR/machine" | median)" "-"
result "machine CPU, nothing (median, s/10s)" "$(awk '{ print $2 }' "$BENCH_DIR/machine" | median)" "-"
result "machine CPU added (median of differences)" "$DIFF" "<= 0.3 s per 10 s"
result "  of it node + collector processes (median, s/10s)" "$(median <"$BENCH_DIR/procs")" "-"
result "  the classifier's run time (c, s/10s; ns/packet)" "$(awk '{ print $1 "; " $2 }' <<<"$CLS")" "-"
