#!/usr/bin/env bash
# node_restart.sh - a node killed with SIGKILL while traffic flows, then restarted: the
# killed node's filters are replaced (exactly one of ours per hook, a new program), packets
# sent after the restart are counted exactly once, and the collector stores both boots'
# batches under the same node name with different boot ids. replace_killed.sh covers the
# filter replacement alone; this adds traffic during the kill and the collector.
# tc mode (--attach tc) throughout; TCX is covered by tcx_attach.sh.
#
# Node in namespace A (watching va, 1 s windows) exports to the collector in the hub. A UDP
# stream from B to A (300 datagrams, 20 ms apart) runs; after its first packets are
# counted the node is killed (SIGKILL), the stream ends, and a second node with the same
# name starts. Then exactly N datagrams on another port: the new node counts exactly N
# (live flow, total_packets), the collector stores exactly N for that flow, and its
# /api/nodes shows the new boot id; the database holds batches of both boots.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
require_tools sqlite3

PORT=3001
N=200 SIZE=64
S1_COUNT=300 S1_IVAL=20000

ours() { ip netns exec "$NS_A" tc filter show dev "$DEV_A" "$1" | grep -c 'handle 0xaf10' || true; }
prog_id() { ip netns exec "$NS_A" tc filter show dev "$DEV_A" "$1" | sed -n 's/.*handle 0xaf10 .* id \([0-9]*\) .*/\1/p'; }

ns_pair "$(ns_name a)" "$(ns_name b)" 10.86.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.86.101
NAME=e2e-restart-$E2E_ID
DB=$E2E_DIR/history.db
collector_start collector "$DB" --connection-timeout 3600
NODE_ARGS=(-i "$DEV_A" --attach tc --aggregation-window 1 --connection-timeout 3600
	--closed-timeout 3600 --node-name "$NAME" --collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT")

node_start "$NS_A" "$PORT" node1 "${NODE_ARGS[@]}"
NODE1=$NODE_PID
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node 1 connected"
cpoll_jq /api/nodes "[.nodes[] | select(.name == \"$NAME\")] | length == 1" "the collector to know node 1"
BOOT1=$(capi /api/nodes | jq -r --arg n "$NAME" '.nodes[] | select(.name == $n) | .boot_id')
OLD_IN=$(prog_id ingress)
OLD_EG=$(prog_id egress)
[ -n "$OLD_IN" ] && [ -n "$OLD_EG" ] || fail "cannot read the program ids"

# --- kill while a stream runs ----------------------------------------------------------------
ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6101 "$S1_COUNT" --timeout 60 >"$E2E_DIR/sink1.log" 2>&1 &
SINK1=$!
track_pid $SINK1
wait_listen "$NS_A" udp 6101
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP_A" 6101 "$S1_COUNT" "$SIZE" --sport 7101 \
	--interval-us "$S1_IVAL" >"$E2E_DIR/send1.log" 2>&1 &
SEND1=$!
track_pid $SEND1
npoll_jq "$NS_A" /api/stats '.export.records_acked >= 2 and .total_packets >= 50' "node 1 to count and export the stream"
node_stop "$NODE1" KILL
untrack_pid "$NODE1"
assert_eq "node 1 killed by SIGKILL" 137 "$NODE_RC"
kill -0 "$SEND1" 2>/dev/null || fail "the stream ended before the kill (machine too slow?)"
assert_eq "killed node's filter still on ingress" 1 "$(ours ingress)"
assert_eq "killed node's filter still on egress" 1 "$(ours egress)"
wait "$SEND1" || fail "udp-send 1 failed"
untrack_pid "$SEND1"
wait "$SINK1" || fail "udp-sink 1 failed"
untrack_pid "$SINK1"
assert_eq "stream 1 received" "received $S1_COUNT" "$(tail -n 1 "$E2E_DIR/sink1.log")"

# --- restart ----------------------------------------------------------------------------------
node_start "$NS_A" "$PORT" node2 "${NODE_ARGS[@]}"
NODE2=$NODE_PID
assert_eq "node 2: our filters on ingress" 1 "$(ours ingress)"
assert_eq "node 2: our filters on egress" 1 "$(ours egress)"
[ "$(prog_id ingress)" != "$OLD_IN" ] || fail "ingress filter still runs the killed node's program"
[ "$(prog_id egress)" != "$OLD_EG" ] || fail "egress filter still runs the killed node's program"
log "ok: programs replaced (ingress $OLD_IN -> $(prog_id ingress), egress $OLD_EG -> $(prog_id egress))"
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node 2 connected"

ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6102 "$N" --timeout 60 >"$E2E_DIR/sink2.log" 2>&1 &
SINK2=$!
track_pid $SINK2
wait_listen "$NS_A" udp 6102
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP_A" 6102 "$N" "$SIZE" --sport 7102 >/dev/null || fail "udp-send 2 failed"
wait "$SINK2" || fail "udp-sink 2 failed"
untrack_pid "$SINK2"
assert_eq "stream 2 received" "received $N" "$(tail -n 1 "$E2E_DIR/sink2.log")"

poll_jq "$NS_A" "/api/live?limit=1000" \
	"[.connections[] | select(.protocol == \"udp\" and .src_port == 7102)][0].stats.packets_sent >= $N" \
	"stream 2 to reach $N packets on node 2"
F=$(live_flow "$NS_A" '.protocol == "udp" and .src_port == 7102')
assert_eq "node 2: stream 2 packets_sent (once, not twice)" "$N" "$(jq .stats.packets_sent <<<"$F")"
assert_eq "node 2: stream 1 not in the new node's live table" null "$(live_flow "$NS_A" '.src_port == 7101')"

STATS=$(node_settled "$NS_A" "$NAME" 60)
assert_eq "node 2: total_packets (only stream 2)" "$N" "$(jq .total_packets <<<"$STATS")"
ND=$(capi /api/nodes | jq -c --arg n "$NAME" '[.nodes[] | select(.name == $n)]')
assert_eq "collector: one node of that name" 1 "$(jq length <<<"$ND")"
BOOT2=$(jq -r '.[0].boot_id' <<<"$ND")
[ -n "$BOOT2" ] && [ "$BOOT2" != "$BOOT1" ] || fail "the boot id did not change ($BOOT1 -> $BOOT2)"
log "ok: boot id $BOOT1 -> $BOOT2"
assert_eq "collector: node total_packets = node 2" "$N" "$(jq '.[0].total_packets' <<<"$ND")"
HIST=$(history_all "node=$NAME")
assert_eq "history: stream 2 stored exactly once" "$N" \
	"$(jq '[.[] | select(.src_port == 7102 or .dst_port == 7102) | .packet_count] | add // 0' <<<"$HIST")"
S1STORED=$(jq '[.[] | select(.src_port == 7101 or .dst_port == 7101) | .packet_count] | add // 0' <<<"$HIST")
log "stream 1: $S1STORED of $S1_COUNT packets stored (node 1's unsent windows died with it)"
[ "$S1STORED" -gt 0 ] && [ "$S1STORED" -le "$S1_COUNT" ] || fail "stream 1: $S1STORED packets stored"

node_stop "$NODE2" TERM
untrack_pid "$NODE2"
assert_eq "node 2 exit status" 0 "$NODE_RC"
assert_eq "no filter of ours left on ingress" 0 "$(ours ingress)"
assert_eq "no filter of ours left on egress" 0 "$(ours egress)"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
assert_eq "database: batches of both boots" 2 \
	"$(sqlite3 "$DB" "SELECT count(DISTINCT b.boot_id) FROM batches b JOIN nodes n ON n.id = b.node_id WHERE n.name = '$NAME';")"
assert_eq "database: both boot ids" "$(printf '%s\n' "$BOOT1" "$BOOT2" | sort | tr '\n' ' ')" \
	"$(sqlite3 "$DB" "SELECT DISTINCT b.boot_id FROM batches b JOIN nodes n ON n.id = b.node_id WHERE n.name = '$NAME';" | sort | tr '\n' ' ')"
check_sanitizer_logs
