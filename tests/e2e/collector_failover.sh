#!/usr/bin/env bash
# collector_failover.sh - a node with two collectors; one of them stops answering but keeps
# its TCP connection (SIGSTOP for ~15 s, then SIGCONT). The node moves its batches to the
# other one: during the stop its acknowledgements go on and its spool does not keep
# growing; afterwards every batch it sent is stored, in one of the two stores or both.
#
# Two collectors in the hub (cluster.sh), A on ports 7400/3000 and B on 7401/3002, each
# with its own SQLite file. The node (namespace A, watching va, 1 s windows) is given both
# URLs; a steady UDP stream runs across the stop. Before the stop both collectors have
# stored batches of the node (the node spreads them). B is stopped with SIGSTOP: its
# kernel keeps the connection up and takes the requests, nothing answers. The node's
# export timeout is 10 s, so for up to ~10 s the batches sent to B wait; then the node
# closes that connection, resends what B held to A, and leaves B out (its transport holds
# the URL off; a redial could not complete nng's handshake with a stopped process anyway).
# Checked each second of the stop: from ~12 s on the spool is back to a few batches and
# batches_acked grows again. After SIGCONT, B is used again.
#
# The ledger: with two separate stores a batch can be stored twice: B read the requests in
# its socket buffer when it resumed, stored them and answered on a connection the node
# had closed, while the node had resent them to A. So the check is per batch, from both
# SQLite files (batches joined to their flow block by window): every sequence number the
# node sent is stored in at least one, a batch stored in both holds the same packets in
# both, and the packets of the distinct batches add up to the node's total_packets
# exactly. Duplicates across the stores are counted and reported (a shared ClickHouse
# store would dedup them). The collectors' /api/history sums, less the duplicates, agree.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
require_tools sqlite3

PORT=3001
WINDOW=1
STOP_S=15
EXPORT_TIMEOUT_S=10 # the node's export timeout (node/main.c NODE_EXPORT_TIMEOUT_MS)
UDP_COUNT=4000 UDP_SIZE=120 UDP_IVAL=10000 UDP_SPORT=7311 UDP_DPORT=6311

ns_pair "$(ns_name a)" "$(ns_name b)" 10.86.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.86.101
NAME=e2e-failover-$E2E_ID
DB_A=$E2E_DIR/a.db
DB_B=$E2E_DIR/b.db

# use_collector A|B: points capi (COLLECTOR_URL) and collector_stop (COLLECTOR_PID) at one.
use_collector()
{
	if [ "$1" = A ]; then
		COLLECTOR_URL=http://127.0.0.1:3000 COLLECTOR_PID=$PID_A
	else
		COLLECTOR_URL=http://127.0.0.1:3002 COLLECTOR_PID=$PID_B
	fi
}

COLLECTOR_INGEST_PORT=7400 COLLECTOR_HTTP_PORT=3000
collector_start collector-a "$DB_A" --connection-timeout 3600
PID_A=$COLLECTOR_PID
COLLECTOR_INGEST_PORT=7401 COLLECTOR_HTTP_PORT=3002
collector_start collector-b "$DB_B" --connection-timeout 3600
PID_B=$COLLECTOR_PID
# (Should the test fail while B is stopped, the trap's SIGKILL ends it all the same.)

node_start "$NS_A" "$PORT" node -i "$DEV_A" --aggregation-window "$WINDOW" \
	--connection-timeout 3600 --closed-timeout 3600 --node-name "$NAME" \
	--collector "tcp://$HUB_IP:7400" --collector "tcp://$HUB_IP:7401"
NODE1_PID=$NODE_PID
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node connected"

# nodes_batches A|B: the batches collector A or B stored for the node (0 when none).
nodes_batches()
{
	use_collector "$1"
	capi /api/nodes | jq --arg n "$NAME" '[.nodes[] | select(.name == $n) | .batches] | add // 0'
}
wait_for "both collectors to store batches of the node" \
	"[ \$(nodes_batches A) -ge 1 ] && [ \$(nodes_batches B) -ge 1 ]" 30

# --- a steady stream over ~40 s ------------------------------------------------------------
ip netns exec "$NS_B" "$TRAFFICGEN" udp-sink "$UDP_DPORT" "$UDP_COUNT" --timeout 120 \
	>"$E2E_DIR/sink.log" 2>&1 &
SINK=$!
track_pid $SINK
wait_listen "$NS_B" udp "$UDP_DPORT"
nsx "$NS_A" "$TRAFFICGEN" udp-send "$IP_B" "$UDP_DPORT" "$UDP_COUNT" "$UDP_SIZE" \
	--sport "$UDP_SPORT" --interval-us "$UDP_IVAL" >"$E2E_DIR/sender.log" 2>&1 &
SENDER=$!
track_pid $SENDER
npoll_jq "$NS_A" /api/stats '.export.records_acked >= 4' "records of a few windows acknowledged" 30
BEFORE=$(api "$NS_A" /api/stats)
log "before the stop: export $(jq -c .export <<<"$BEFORE"); stored: A $(nodes_batches A), B $(nodes_batches B)"

# --- B stops answering: one sample of the node's export counters a second ------------------
kill -STOP "$PID_B"
SAMPLES=()
for ((i = 1; i <= STOP_S; i++)); do
	sleep 1
	SAMPLES+=("$(api "$NS_A" /api/stats | jq -c '.export | {spool_batches, batches_acked, batches_resent, connections_closed, collector_holds}')")
	log "stopped ${i}s: ${SAMPLES[-1]}"
done
DURING=$(api "$NS_A" /api/stats)
kill -CONT "$PID_B"
kill -0 "$SENDER" 2>/dev/null || fail "the stream ended before B resumed (machine too slow?)"
RESUMED_SEQ=$(jq .export.batches_sent <<<"$DURING")

# The first batch B held times out after EXPORT_TIMEOUT_S; by then at most that many
# windows' batches wait (plus the ones in flight). After it, the node has left B: the
# spool is down to a few batches and acknowledgements go on, every second.
MAX_SPOOL=$(printf '%s\n' "${SAMPLES[@]}" | jq -s 'map(.spool_batches) | max')
LAST=${SAMPLES[-1]}
AT_DETECT=${SAMPLES[$((EXPORT_TIMEOUT_S + 1))]} # 12 s into the stop
log "spool during the stop: max $MAX_SPOOL, at the end $(jq .spool_batches <<<"$LAST")"
[ "$MAX_SPOOL" -le $((EXPORT_TIMEOUT_S + 4)) ] ||
	fail "the spool grew to $MAX_SPOOL batches while B was stopped"
[ "$(jq .spool_batches <<<"$LAST")" -le 3 ] ||
	fail "the spool still holds $(jq .spool_batches <<<"$LAST") batches after ${STOP_S}s of B stopped: the node did not leave B"
[ "$(jq .batches_acked <<<"$LAST")" -ge $(($(jq .batches_acked <<<"$AT_DETECT") + STOP_S - EXPORT_TIMEOUT_S - 3)) ] ||
	fail "batches_acked stalled while B was stopped: $(jq .batches_acked <<<"$AT_DETECT") -> $(jq .batches_acked <<<"$LAST")"
[ "$(jq .batches_acked <<<"$LAST")" -gt "$(jq .export.batches_acked <<<"$BEFORE")" ] ||
	fail "no batch acknowledged while B was stopped"
[ "$(jq .connections_closed <<<"$LAST")" -ge 1 ] || fail "export.connections_closed is 0"
[ "$(jq .collector_holds <<<"$LAST")" -ge 1 ] || fail "export.collector_holds is 0"
grep -q "collector tcp://$HUB_IP:7401 sent no reply" "$E2E_DIR/node.log" ||
	fail "the node did not log which collector it left"
log "ok: the node left B (connections_closed $(jq .connections_closed <<<"$LAST"), holds $(jq .collector_holds <<<"$LAST"))"

# --- B is used again once it answers ---------------------------------------------------------
wait_for "B to store batches made after it resumed" \
	"[ \"\$(sqlite3 '$DB_B' \"SELECT count(*) FROM batches WHERE seq > $RESUMED_SEQ + 2\")\" -ge 1 ]" 60

wait "$SENDER" || fail "udp-send failed"
untrack_pid "$SENDER"
wait "$SINK" || fail "udp-sink failed"
untrack_pid "$SINK"
assert_eq "udp-sink received" "received $UDP_COUNT" "$(tail -n 1 "$E2E_DIR/sink.log")"

# Settled: the spool drained while two more batches were sent, total_packets unchanged,
# and the collector that stored the latest batch shows the node's total.
STATS=""
deadline=$((SECONDS + 90))
while :; do
	s1=$(api "$NS_A" /api/stats)
	sent1=$(jq .export.batches_sent <<<"$s1")
	wait_for "two more batches and a drained spool" \
		"api '$NS_A' /api/stats | jq -e '.export.batches_sent >= $sent1 + 2 and (.export.spool_batches == 0 or (.export.spool_batches == 1 and .export.batches_sent == .export.batches_acked + .export.batches_rejected + 1))'" 60
	s2=$(api "$NS_A" /api/stats)
	total=$(jq .total_packets <<<"$s2")
	if [ "$(jq .total_packets <<<"$s1")" = "$total" ] &&
		[ "$(for c in A B; do use_collector $c; capi /api/nodes | jq --arg n "$NAME" '.nodes[] | select(.name == $n) | .total_packets'; done | sort -n | tail -1)" = "$total" ]; then
		STATS=$s2
		break
	fi
	[ "$SECONDS" -lt "$deadline" ] || fail "the node did not settle (export: $(jq -c .export <<<"$s2"))"
done
log "settled: export $(jq -c .export <<<"$STATS")"
TOTAL=$(jq .total_packets <<<"$STATS")
SENT=$(jq .export.batches_sent <<<"$STATS")
assert_eq "node lost_packets.export_spool_full" 0 "$(jq .lost_packets.export_spool_full <<<"$STATS")"
assert_eq "node lost_packets.collector_rejected" 0 "$(jq .lost_packets.collector_rejected <<<"$STATS")"
assert_eq "node batches_dropped" 0 "$(jq .export.batches_dropped <<<"$STATS")"

# The histories, from both collectors, before they stop.
use_collector A
HIST_A=$(history_all "node=$NAME")
use_collector B
HIST_B=$(history_all "node=$NAME")
echo "$HIST_A" | jq . >"$E2E_DIR/history-a.json"
echo "$HIST_B" | jq . >"$E2E_DIR/history-b.json"

node_stop "$NODE1_PID"
assert_eq "node exit status" 0 "$NODE_RC"
untrack_pid "$NODE1_PID"
for c in A B; do
	use_collector $c
	collector_stop TERM
	assert_eq "collector $c exit status" 0 "$COLLECTOR_RC"
done

# --- every batch stored: per sequence number, from both SQLite files ------------------------
# seq and the packets of its records (its flow block, found by window; none: 0).
batches_of()
{
	sqlite3 -separator ' ' "$1" "SELECT b.seq, coalesce(fb.packets, 0), b.window_start_ms, b.window_end_ms
		FROM batches b JOIN nodes n ON n.id = b.node_id
		LEFT JOIN flow_blocks fb ON fb.node_id = b.node_id AND fb.ts = b.window_start_ms
			AND fb.window_end = b.window_end_ms
		WHERE n.name = '$NAME' ORDER BY b.seq"
}
batches_of "$DB_A" >"$E2E_DIR/batches-a.txt"
batches_of "$DB_B" >"$E2E_DIR/batches-b.txt"
for f in a b; do
	# One batch per window here (a few flows): the window finds its block.
	assert_eq "store $f: one batch per window" "$(wc -l <"$E2E_DIR/batches-$f.txt")" \
		"$(awk '{print $3, $4}' "$E2E_DIR/batches-$f.txt" | sort -u | wc -l)"
	assert_eq "store $f: no sequence number twice" "$(wc -l <"$E2E_DIR/batches-$f.txt")" \
		"$(awk '{print $1}' "$E2E_DIR/batches-$f.txt" | sort -u | wc -l)"
done
N_A=$(wc -l <"$E2E_DIR/batches-a.txt")
N_B=$(wc -l <"$E2E_DIR/batches-b.txt")
# The node sent a few more (empty) batches between the settled snapshot (SENT batches)
# and its stop: those must hold no packets.
LEDGER=$(awk -v sent="$SENT" '
	{ if ($1 in pk) { dup++; duppk += $2; if (pk[$1] != $2) bad++ }; pk[$1] = $2 }
	END {
		for (s in pk) {
			if (s + 0 <= sent) { n++; sum += pk[s] } else { later++; latersum += pk[s] }
			if (min == "" || s + 0 < min) min = s + 0
		}
		printf "%d %d %d %d %d %d %d %d\n", n, min, sum, later, latersum, dup, duppk, bad
	}' "$E2E_DIR/batches-a.txt" "$E2E_DIR/batches-b.txt")
read -r DISTINCT MINSEQ SUM LATER LATER_PACKETS DUP DUP_PACKETS BAD <<<"$LEDGER"
log "stores: A $N_A batches, B $N_B batches; $DUP stored in both ($DUP_PACKETS packets); node sent $SENT by the snapshot, $LATER after"
assert_eq "every batch sent is stored: distinct sequence numbers 1..$SENT" "$SENT" "$DISTINCT"
assert_eq "lowest sequence number" 1 "$MINSEQ"
assert_eq "a batch stored in both stores holds the same packets in both" 0 "$BAD"
assert_eq "packets of the distinct batches = node total_packets" "$TOTAL" "$SUM"
assert_eq "packets of the batches after the snapshot" 0 "$LATER_PACKETS"
assert_eq "history packets A + B - duplicates = node total_packets" "$TOTAL" \
	"$(($(hsum "$HIST_A" packet_count) + $(hsum "$HIST_B" packet_count) - DUP_PACKETS))"
ROWS_A=$(jq -c "[.[] | select(.protocol == \"udp\" and .src_port == $UDP_SPORT and .dst_port == $UDP_DPORT)]" <<<"$HIST_A")
ROWS_B=$(jq -c "[.[] | select(.protocol == \"udp\" and .src_port == $UDP_SPORT and .dst_port == $UDP_DPORT)]" <<<"$HIST_B")
# The stream's rows of the duplicate batches, counted once: by window end, those in both.
UDP_DUP=$(jq -n --argjson a "$ROWS_A" --argjson b "$ROWS_B" \
	'[$a[].window_end] as $ea | [$b[] | select(.window_end as $w | any($ea[]; . == $w)) | .packets_sent] | add // 0')
assert_eq "udp stream: history packets_sent over both stores, duplicates once" "$UDP_COUNT" \
	"$(($(hsum "$ROWS_A" packets_sent) + $(hsum "$ROWS_B" packets_sent) - UDP_DUP))"
check_sanitizer_logs
