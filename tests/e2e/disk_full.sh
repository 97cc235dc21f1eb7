#!/usr/bin/env bash
# disk_full.sh - the collector's disk fills up: it keeps running, says so, acknowledges
# nothing it could not store, corrupts nothing, and catches up once there is space again.
#
# The collector's database lives on a 2 MiB tmpfs mounted in the test's work directory
# (unmounted by the EXIT trap). A node (namespace A, watching va, 1 s windows) exports to
# it while UDP streams run; batchsend then fills the disk with batches of another node
# name, big and then smaller, until the collector answers "store" (SQLITE_FULL) even to a
# batch of 2 records. While the disk is full:
# the collector process lives, /api/health says "degraded" with the store error,
# /metrics counts ayaflow_collector_store_errors_total{reason="full"} and
# batches{result="retry"}, the node's batches are not acknowledged (batches_acked stays,
# its spool grows). Then the tmpfs is remounted with 64 MiB: the node's spool drains and
# history packets = node total_packets exactly, export_spool_full 0. After a clean stop,
# `PRAGMA integrity_check` is "ok".
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
require_tools sqlite3 mount umount mountpoint
: "${BATCHSEND:?BATCHSEND must name the batchsend binary}"

PORT=3001
WINDOW=1
STREAMS=4 UDP_COUNT=300 UDP_SIZE=100 UDP_IVAL=50000 UDP_DPORT=6501

ns_pair "$(ns_name a)" "$(ns_name b)" 10.84.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.84.101
NAME=e2e-diskfull-$E2E_ID
MNT=$E2E_DIR/dbfs
mkdir -p "$MNT"
mount -t tmpfs -o size=2m "ayf-$E2E_ID-dbfs" "$MNT"
on_cleanup "umount -l '$MNT'"
DB=$MNT/history.db

collector_start collector "$DB" --connection-timeout 3600
INGEST_URL="tcp://$HUB_IP:$COLLECTOR_INGEST_PORT"
LOCAL_URL="tcp://127.0.0.1:$COLLECTOR_INGEST_PORT" # batchsend runs in the hub
node_start "$NS_A" "$PORT" node -i "$DEV_A" --aggregation-window "$WINDOW" \
	--connection-timeout 3600 --closed-timeout 3600 --node-name "$NAME" \
	--collector "$INGEST_URL"
NODE1_PID=$NODE_PID
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node connected"

# --- traffic: UDP streams over ~15 s ----------------------------------------------------------
ip netns exec "$NS_B" "$TRAFFICGEN" udp-sink "$UDP_DPORT" "$((STREAMS * UDP_COUNT))" --timeout 90 \
	>"$E2E_DIR/sink.log" 2>&1 &
SINK=$!
track_pid $SINK
wait_listen "$NS_B" udp "$UDP_DPORT"
SENDERS=()
for ((i = 1; i <= STREAMS; i++)); do
	nsx "$NS_A" "$TRAFFICGEN" udp-send "$IP_B" "$UDP_DPORT" "$UDP_COUNT" "$UDP_SIZE" \
		--sport "$((7500 + i))" --interval-us "$UDP_IVAL" >>"$E2E_DIR/senders.log" 2>&1 &
	SENDERS+=($!)
	track_pid $!
done
npoll_jq "$NS_A" /api/stats ".export.records_acked >= $STREAMS" "the streams' first records acknowledged" 30

# --- fill the disk: batches of 2000 records from another "node" until one is refused ------------
NOW=$(($(date +%s) * 1000))
RECS=()
for ((i = 0; i < 2000; i++)); do
	RECS+=(--record "src=10.200.$((i / 250)).$((i % 250 + 1)),dst=10.201.0.1,sport=$((20000 + i)),dport=443,proto=6,flags=18,ps=3,pr=2,bs=300,br=200,first=$((NOW - 900)),last=$((NOW - 100)),if=eth0,domain=filler-$i.example.com")
done
# A refused 2000-record batch can leave room for many small ones (a node's 1 s batch is a
# few records: one block row and a few key rows), so the filler goes on with smaller
# batches until one of 2 records is refused as well: then the node's batches find no room.
FULL=0 SEQ=0 FILL_TOTAL=0 FILL_ROWS=0
for size in 2000 200 20 2; do
	refused=0
	for ((k = 1; k <= 400; k++)); do
		SEQ=$((SEQ + 1))
		FILL_TOTAL=$((FILL_TOTAL + 3 * size))
		ACK=$(nsx "$HUB_NS" "$BATCHSEND" --node "filler-$E2E_ID" --boot fill --seq "$SEQ" \
			--start "$((NOW - 1000))" --end "$NOW" --totals "$FILL_TOTAL,0,0" \
			"${RECS[@]:0:$((2 * size))}" "$LOCAL_URL") || fail "batchsend got no answer (seq $SEQ)"
		case $ACK in
		ok=1*) FILL_ROWS=$((FILL_ROWS + size)) ;;
		*reason=store*)
			refused=1
			[ "$FULL" -gt 0 ] || FULL=$SEQ
			break
			;;
		*) fail "filler batch $SEQ ($size records): unexpected answer: $ACK" ;;
		esac
	done
	[ "$refused" = 1 ] || fail "the 2 MiB tmpfs never refused a batch of $size records"
done
log "the store refused filler batch $FULL first, the last at $SEQ: $ACK ($(df -k "$MNT" | tail -n 1))"

# --- while full: alive, degraded, counted, nothing acknowledged ---------------------------------
cpoll_jq /api/health '.status == "degraded" and (.store_error | test("full|space"; "i"))' \
	"/api/health degraded with the store error"
log "health while full: $(capi /api/health | jq -c .)"
# A small batch may still fit in pages SQLite freed, so an acknowledgement now and then is
# no error; what must hold is that every batch not acknowledged stays in the spool.
npoll_jq "$NS_A" /api/stats ".export.spool_batches >= 3" "the node's spool to grow (batches not acknowledged)" 30
S1=$(api "$NS_A" /api/stats)
log "node while full: export $(jq -c .export <<<"$S1")"
# Every batch sent and not acknowledged is still spooled (the spool may hold more: new
# batches wait there for one of the node's 2 requests in flight); none was dropped.
assert_eq "node: sent, not acknowledged, and spooled while the disk is full" true \
	"$(jq '.export.spool_batches >= .export.batches_sent - .export.batches_acked' <<<"$S1")"
assert_eq "node batches dropped or rejected while the disk is full" 0 \
	"$(jq '.export.batches_dropped + .export.batches_rejected' <<<"$S1")"
[ "$(jq .export.batches_resent <<<"$S1")" -gt 0 ] || fail "the node resent nothing"
M=$(capi /metrics)
FULLERR=$(metric "$M" ayaflow_collector_store_errors_total 'reason="full"')
RETRY=$(metric "$M" ayaflow_collector_batches_total 'result="retry"')
log "collector: store_errors_total{full} $FULLERR, batches{retry} $RETRY"
[ "$FULLERR" -gt 0 ] || fail "ayaflow_collector_store_errors_total{reason=\"full\"} is 0"
[ "$RETRY" -gt 0 ] || fail "ayaflow_collector_batches_total{result=\"retry\"} is 0"
assert_eq "ayaflow_collector_store_healthy while full" 0 "$(metric "$M" ayaflow_collector_store_healthy)"
assert_eq "node lost_packets.collector_rejected" 0 "$(jq .lost_packets.collector_rejected <<<"$S1")"
kill -0 "$COLLECTOR_PID" || fail "the collector died"

# --- space again: the spool drains, exactly everything stored --------------------------------------
mount -o remount,size=64m "$MNT"
cpoll_jq /api/health '.status == "ok"' "/api/health ok again" 60
for p in "${SENDERS[@]}"; do
	wait "$p" || fail "udp-send failed"
	untrack_pid "$p"
done
wait "$SINK" || fail "udp-sink failed"
untrack_pid "$SINK"
assert_eq "udp-sink received" "received $((STREAMS * UDP_COUNT))" "$(tail -n 1 "$E2E_DIR/sink.log")"
STATS=$(node_settled "$NS_A" "$NAME" 120)
log "settled: export $(jq -c .export <<<"$STATS")"
TOTAL=$(jq .total_packets <<<"$STATS")
HIST=$(history_all "node=$NAME")
STORED=$(hsum "$HIST" packet_count)
log "$(jq length <<<"$HIST") history rows, $STORED packets stored, $TOTAL counted"
assert_eq "history packet_count = node total_packets" "$TOTAL" "$STORED"
assert_eq "node lost_packets.export_spool_full" 0 "$(jq .lost_packets.export_spool_full <<<"$STATS")"
assert_eq "node lost_packets.collector_rejected" 0 "$(jq .lost_packets.collector_rejected <<<"$STATS")"
assert_eq "no (connection, window) twice in the history" 0 \
	"$(jq '[group_by([.protocol, .src_ip, .src_port, .dst_ip, .dst_port, .window_end])[] | select(length > 1)] | length' <<<"$HIST")"
[ "$TOTAL" -ge "$((STREAMS * UDP_COUNT))" ] || fail "node counted $TOTAL packets, fewer than sent"
# The filler batches stored before the disk filled are all there, each exactly once.
assert_eq "filler rows stored" "$FILL_ROWS" \
	"$(capi "/api/history?node=filler-$E2E_ID&limit=1" | jq .total)"

# --- clean stop; the database is intact --------------------------------------------------------------
node_stop "$NODE1_PID"
assert_eq "node exit status" 0 "$NODE_RC"
untrack_pid "$NODE1_PID"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
assert_eq "PRAGMA integrity_check" ok "$(sqlite3 "$DB" 'PRAGMA integrity_check;')"
check_sanitizer_logs
