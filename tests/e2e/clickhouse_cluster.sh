#!/usr/bin/env bash
# clickhouse_cluster.sh - two nodes, two collectors, one ClickHouse: every collector answers
# for the whole cluster, a collector killed mid-stream loses nothing (the nodes move to
# the other and resend what was not acknowledged) and stores nothing twice.
#
# Pair 1 (A1 <-> B1) is watched by node N1 in A1, pair 2 (A2 <-> B2) by N2 in A2, as in
# cluster_history. Collectors C1 and C2 run in the root namespace (clickhouse.sh), share
# one private ClickHouse, and listen on the root end of a veth to each node namespace;
# each node gets both collectors' URLs and sends each batch to one of them (nng REQ).
#   1. Both collectors store batches of both nodes directly (and follow the other's).
#   2. Phase 1: known workloads over ~8 s; once C1 has stored records of them it hangs
#      (SIGSTOP) for 3 s, taking batches it does not answer, and is killed (SIGKILL); the
#      nodes resend those to C2 (at least one batch resent) and go on through C2.
#   3. C1 is restarted with the same options (same name, same store); the nodes send to it
#      again. Phase 2: more known workloads (new connections) over ~3 s.
#   4. Once everything is stored, asking EACH collector: the history sums per connection
#      = the node's own counters (and the workloads), the history of a node adds up to its
#      total_packets, and nothing is there twice: /api/nodes batches = last_seq = the
#      node's batches acknowledged, records = records acknowledged = history rows.
#   5. With the nodes frozen (SIGSTOP: no new batch; both collectors have followed
#      everything): /api/nodes, /api/stats and /api/live agree between the collectors,
#      volatile fields aside (which and why: see below); C2's /api/live = the nodes' own
#      live tables. C1's live view began at its restart: it holds the phase 2 connections
#      exactly (sent to it or followed) but of phase 1 only what C2 stored in the 30 s
#      before (STORE_FOLLOW_BACK_MS; not its own earlier life's batches, which carry its
#      own name), so for phase 1 connections it is only checked not to exceed the node's.
#   6. One hand-made batch (batchsend) to C1 and again to C2: the second is a duplicate.
# shellcheck disable=SC2034 # the workload arrays are read by workload.sh through namerefs
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
source "$(dirname "$0")/workload.sh"
source "$(dirname "$0")/clickhouse.sh"
e2e_init
require_collector
: "${BATCHSEND:?BATCHSEND must name the batchsend binary}"

PORT=3001
WINDOW=1

# --- ClickHouse, namespaces, collectors, nodes ---------------------------------------------
ch_e2e_server ayaflow_cluster
ns_pair "$(ns_name a1)" "$(ns_name b1)" 10.83.1
NS_A1=$NS_A NS_B1=$NS_B IP_A1=$IP_A IP_B1=$IP_B
ns_pair "$(ns_name a2)" "$(ns_name b2)" 10.83.2
NS_A2=$NS_A NS_B2=$NS_B IP_A2=$IP_A IP_B2=$IP_B
root_link "$NS_A1" 1 198.18.231
ROOT_IP1=$ROOT_IP
root_link "$NS_A2" 2 198.18.232
ROOT_IP2=$ROOT_IP

read -r HTTP1 HTTP2 ING1 ING2 <<<"$(free_ports 4)"
C1_ARGS=(--listen "tcp://$ROOT_IP1:$ING1" --listen "tcp://$ROOT_IP2:$ING1" --store "$CH_STORE"
	--connection-timeout 3600)
C2_ARGS=(--listen "tcp://$ROOT_IP1:$ING2" --listen "tcp://$ROOT_IP2:$ING2" --store "$CH_STORE"
	--connection-timeout 3600)
col_start collector1 "$HTTP1" "${C1_ARGS[@]}"
C1_PID=$COL_PID C1=$COL_URL
col_start collector2 "$HTTP2" "${C2_ARGS[@]}"
C2_PID=$COL_PID C2=$COL_URL

N1=e2e-chn1-$E2E_ID
N2=e2e-chn2-$E2E_ID
NODE_ARGS=(-i va --aggregation-window "$WINDOW" --connection-timeout 3600 --closed-timeout 3600)
node_start "$NS_A1" "$PORT" node1 "${NODE_ARGS[@]}" --node-name "$N1" \
	--collector "tcp://$ROOT_IP1:$ING1" --collector "tcp://$ROOT_IP1:$ING2"
NODE1_PID=$NODE_PID
node_start "$NS_A2" "$PORT" node2 "${NODE_ARGS[@]}" --node-name "$N2" \
	--collector "tcp://$ROOT_IP2:$ING1" --collector "tcp://$ROOT_IP2:$ING2"
NODE2_PID=$NODE_PID
npoll_jq "$NS_A1" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node 1 connected"
npoll_jq "$NS_A2" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node 2 connected"

# Both collectors get batches directly, and each follows the other's.
for url in "$C1" "$C2"; do
	col_use "$url"
	cpoll_jq /api/stats '.ingest.batches_stored >= 3 and .ingest.batches_followed >= 3' \
		"collector $url to store and to follow batches" 30
	cpoll_jq /api/nodes "[.nodes[].name] == ([\"$N1\", \"$N2\"] | sort)" "both nodes in $url's /api/nodes"
done

# --- workloads (see workload.sh) ---------------------------------------------------------------
# Phase 1, ~8 s each; phase 2 (after C1's restart), ~3 s, new connections only (no ping:
# an ICMP connection has no ports, so a second one would be the first one again).
TCP_1=(
	"$NS_B1 $NS_A1 $IP_A1 5101 41101 1000 50000"
	"$NS_B1 $NS_A1 $IP_A1 5101 41102 20000 300"
)
UDP_1=(
	"$NS_B1 $NS_A1 $IP_A1 6101 7101 80 100 100000"
	"$NS_A1 $NS_B1 $IP_B1 6102 7102 30 500 250000"
)
ICMP_1=("$NS_B1 $IP_A1 16")
TCP_2=(
	"$NS_A2 $NS_B2 $IP_B2 5201 41201 7777 2222"
)
UDP_2=(
	"$NS_B2 $NS_A2 $IP_A2 6201 7201 100 64 80000"
	"$NS_A2 $NS_B2 $IP_B2 6202 7202 20 1200 400000"
	"$NS_B2 $NS_A2 $IP_A2 6203 7203 50 1 150000"
)
ICMP_2=("$NS_A2 $IP_B2 16")
TCP_1b=("$NS_A1 $NS_B1 $IP_B1 5111 41111 3000 3000")
UDP_1b=("$NS_B1 $NS_A1 $IP_A1 6111 7111 30 200 100000")
ICMP_1b=()
TCP_2b=("$NS_B2 $NS_A2 $IP_A2 5211 41211 4000 100")
UDP_2b=("$NS_A2 $NS_B2 $IP_B2 6211 7211 25 300 120000")
ICMP_2b=()
declare -A NSIP=(["$NS_A1"]=$IP_A1 ["$NS_B1"]=$IP_B1 ["$NS_A2"]=$IP_A2 ["$NS_B2"]=$IP_B2)

# tcp_closed: every workload TCP connection has finished its closing handshake (the
# nodes' connections to the collectors, to 198.18.x, do not count).
tcp_closed()
{
	local ns
	for ns in "$NS_A1" "$NS_B1" "$NS_A2" "$NS_B2"; do
		wait_for "TCP closed in $ns" \
			"[ -z \"\$(ip netns exec $ns ss -Htan state connected exclude time-wait dst 10.83.0.0/16)\" ]"
	done
}

# --- phase 1, C1 killed mid-stream -------------------------------------------------------------
col_use "$C1"
RECORDS_BEFORE=$(capi /api/stats | jq .ingest.records_stored)
start_workload 1
start_workload 2
cpoll_jq /api/stats ".ingest.records_stored >= $RECORDS_BEFORE + 6" "C1 to store records of the workloads" 20
sleep 1
for p in "${WL_CLIENTS_1[@]}" "${WL_CLIENTS_2[@]}"; do
	kill -0 "$p" 2>/dev/null || continue
	ALIVE=1
done
[ "${ALIVE:-0}" = 1 ] || fail "the workloads ended before the kill (machine too slow?)"
ACKED1=$(api "$NS_A1" /api/stats | jq .export.batches_acked)
ACKED2=$(api "$NS_A2" /api/stats | jq .export.batches_acked)
log "C1 before the kill: ingest $(capi /api/stats | jq -c .ingest)"
# C1 hangs first (SIGSTOP) for 3 s, so that batches are sent to it and never answered,
# then dies: what it had not acknowledged must be resent to C2.
kill -STOP "$C1_PID"
sleep 3
log "C1 hung for 3 s: unacknowledged batches of node 1: $(api "$NS_A1" /api/stats | jq '.export.batches_sent - .export.batches_acked'), node 2: $(api "$NS_A2" /api/stats | jq '.export.batches_sent - .export.batches_acked')"
col_stop "$C1_PID" KILL
assert_eq "C1 killed by SIGKILL" 137 "$COL_RC"
finish_workload 1
finish_workload 2
tcp_closed
# The nodes went on through C2 (their batches since the kill all acknowledged there).
npoll_jq "$NS_A1" /api/stats ".export.connected == true and .export.batches_acked >= $ACKED1 + 5" \
	"node 1 to go on through C2" 30
npoll_jq "$NS_A2" /api/stats ".export.connected == true and .export.batches_acked >= $ACKED2 + 5" \
	"node 2 to go on through C2" 30

# --- C1 restarted, phase 2 ------------------------------------------------------------------------
col_start collector1 "$HTTP1" "${C1_ARGS[@]}"
C1_PID=$COL_PID
cpoll_jq /api/stats '.ingest.batches_stored >= 2 and .ingest.batches_followed >= 2' \
	"restarted C1 to store and to follow batches again" 30
start_workload 1b
start_workload 2b
finish_workload 1b
finish_workload 2b
tcp_closed

# --- everything stored -------------------------------------------------------------------------
col_use "$C2"
STATS_1=$(node_settled "$NS_A1" "$N1")
STATS_2=$(node_settled "$NS_A2" "$N2")
STATS_1=$(node_settled "$NS_A1" "$N1")
for n in 1 2; do
	s="STATS_$n"
	log "node $n export: $(jq -c .export <<<"${!s}")"
	assert_eq "node $n: batches rejected" 0 "$(jq .export.batches_rejected <<<"${!s}")"
	assert_eq "node $n: batches dropped" 0 "$(jq .export.batches_dropped <<<"${!s}")"
	assert_eq "node $n: lost_packets.export_spool_full" 0 "$(jq .lost_packets.export_spool_full <<<"${!s}")"
	assert_eq "node $n: lost_packets.collector_rejected" 0 "$(jq .lost_packets.collector_rejected <<<"${!s}")"
done
[ "$(($(jq .export.batches_resent <<<"$STATS_1") + $(jq .export.batches_resent <<<"$STATS_2")))" -ge 1 ] ||
	fail "no batch was resent: the kill found nothing in flight to C1"

# node_exact N NS NAME: the store's account of node N (in NS, named NAME) as the collector of
# capi gives it in /api/nodes, read while the node sent nothing: its stats S (everything
# sent acknowledged), then /api/nodes, then S' with the same batches_sent. Then the
# batches stored are exactly the batches the node sent and had acknowledged, each once.
node_exact()
{
	local n=$1 ns=$2 name=$3 s1 s2 nodes nd deadline=$((SECONDS + 30))
	while :; do
		s1=$(api "$ns" /api/stats)
		if [ "$(jq '.export.spool_batches == 0 and .export.batches_sent == .export.batches_acked' <<<"$s1")" = true ]; then
			nodes=$(capi /api/nodes)
			s2=$(api "$ns" /api/stats)
			[ "$(jq .export.batches_sent <<<"$s2")" = "$(jq .export.batches_sent <<<"$s1")" ] && break
		fi
		[ "$SECONDS" -lt "$deadline" ] || fail "node $n: no quiet moment to compare with $COLLECTOR_URL in 30 s"
		sleep 0.1
	done
	nd=$(jq -c --arg n "$name" '[.nodes[] | select(.name == $n)] | if length == 1 then .[0] else error("\(length) matches") end' <<<"$nodes") ||
		fail "$COLLECTOR_URL /api/nodes does not list $name exactly once"
	assert_eq "$COLLECTOR_URL node $n: /api/nodes last_seq = batches the node sent" \
		"$(jq .export.batches_sent <<<"$s1")" "$(jq .last_seq <<<"$nd")"
	assert_eq "$COLLECTOR_URL node $n: /api/nodes batches = batches the node had acknowledged" \
		"$(jq .export.batches_acked <<<"$s1")" "$(jq .batches <<<"$nd")"
	assert_eq "$COLLECTOR_URL node $n: /api/nodes records = records the node had acknowledged" \
		"$(jq .export.records_acked <<<"$s1")" "$(jq .records <<<"$nd")"
	assert_eq "$COLLECTOR_URL node $n: /api/nodes total_packets = node" \
		"$(jq .total_packets <<<"$s1")" "$(jq .total_packets <<<"$nd")"
	assert_eq "$COLLECTOR_URL node $n: history rows = /api/nodes records (no record twice)" \
		"$(jq .records <<<"$nd")" "$(capi "/api/history?node=$name&limit=1" | jq .total)"
	log "node $n: resent $(jq .export.batches_resent <<<"$s1"), acknowledged as duplicates $(jq .export.batches_duplicate <<<"$s1")"
}

# --- asking each collector: history = the nodes' counters, nothing twice --------------------------
for url in "$C1" "$C2"; do
	col_use "$url"
	log "--- asking $url"
	node_exact 1 "$NS_A1" "$N1"
	node_exact 2 "$NS_A2" "$N2"
	check_history_sums 1 "$NS_A1" "$N1" "$STATS_1"
	check_history_sums 2 "$NS_A2" "$N2" "$STATS_2"
	assert_eq "$url: rejected no batch" 0 "$(capi /api/stats | jq .ingest.batches_rejected)"
done
# Both read the same rows, which hold what the workloads sent. (The filters of
# /api/history on ClickHouse are e2e.clickhouse_same_answers' subject.)
assert_eq "the history of C1 and C2" "$(cat "$E2E_DIR/node1-history-$HTTP2.json" "$E2E_DIR/node2-history-$HTTP2.json")" \
	"$(cat "$E2E_DIR/node1-history-$HTTP1.json" "$E2E_DIR/node2-history-$HTTP1.json")"
for wl in 1 1b; do check_workload 1 "$N1" "$wl" "$E2E_DIR/node1-history-$HTTP1.json"; done
for wl in 2 2b; do check_workload 2 "$N2" "$wl" "$E2E_DIR/node2-history-$HTTP1.json"; done

# --- the nodes frozen: the collectors agree -------------------------------------------------------
kill -STOP "$NODE1_PID" "$NODE2_PID"
on_cleanup "kill -CONT $NODE1_PID $NODE2_PID"
# Volatile, left out: uptime_seconds (of each process); ingest (what each received, stored,
# followed); live (the size of each one's live view: C1's began at its restart); db_bytes
# (ClickHouse merges parts at any time); runtime (each one's options: ports, listeners);
# the rates (packets/bytes_per_second: from the batch before the newest that each saw,
# and a collector sees the other's batches a second late, so in another order).
STATS_FILTER='del(.uptime_seconds, .ingest, .live, .db_bytes, .runtime, .packets_per_second,
	.bytes_per_second, .nodes[].packets_per_second, .nodes[].bytes_per_second)'
# Both have followed everything once the nodes' newest batches are in both live views.
deadline=$((SECONDS + 15))
while :; do
	S1=$(curl -sS -f -m 20 "$C1/api/stats" | jq -S "$STATS_FILTER")
	S2=$(curl -sS -f -m 20 "$C2/api/stats" | jq -S "$STATS_FILTER")
	[ "$S1" != "$S2" ] || break
	if [ "$SECONDS" -ge "$deadline" ]; then
		diff <(echo "$S1") <(echo "$S2") >&2 || true
		fail "/api/stats of C1 and C2 still differ 15 s after the nodes stopped sending"
	fi
	sleep 0.5
done
log "ok: /api/stats of C1 and C2 agree (volatile fields aside)"
NODES1=$(curl -sS -f -m 20 "$C1/api/nodes" | jq -S .)
NODES2=$(curl -sS -f -m 20 "$C2/api/nodes" | jq -S .)
assert_eq "/api/nodes of C1 and C2" "$NODES2" "$NODES1"
assert_eq "/api/stats total_packets = the nodes' /api/nodes total_packets" \
	"$(jq '[.nodes[].total_packets] | add' <<<"$NODES1")" "$(jq .total_packets <<<"$S1")"
assert_eq "/api/stats nodes" "$(jq -c '[.nodes[].name]' <<<"$NODES1")" "$(jq -c '[.nodes[].name]' <<<"$S1")"
assert_eq "/api/stats nodes connected" 2 "$(jq .nodes_connected <<<"$S1")"

LIVE1=$(curl -sS -f -m 20 "$C1/api/live?limit=1000")
LIVE2=$(curl -sS -f -m 20 "$C2/api/live?limit=1000")
echo "$LIVE1" | jq . >"$E2E_DIR/c1-live.json"
echo "$LIVE2" | jq . >"$E2E_DIR/c2-live.json"
assert_eq "/api/live totals of C1 and C2" "$(jq -c '[.total_packets, .total_bytes]' <<<"$LIVE2")" \
	"$(jq -c '[.total_packets, .total_bytes]' <<<"$LIVE1")"
# C2 holds every connection exactly as the nodes count them.
col_use "$C2"
check_live_node 1 "$N1" "$LIVE2"
check_live_node 2 "$N2" "$LIVE2"
assert_eq "C2 /api/live: connections of both nodes and no others" \
	"$(($(jq '.connections | length' "$E2E_DIR/node1-live.json") + $(jq '.connections | length' "$E2E_DIR/node2-live.json")))" \
	"$(jq '.connections | length' <<<"$LIVE2")"
# C1: the phase 2 connections as C2 has them; the others not above the node's counters.
KEY='[.node, .protocol, .src_ip, .src_port, .dst_ip, .dst_port]'
for wl in 1b 2b; do
	declare -n tcp="TCP_$wl" udp="UDP_$wl"
	for c in "${tcp[@]}"; do
		read -r cns sns sip sport cport up down <<<"$c"
		PHASE2+=("${NSIP[$cns]}:$cport")
	done
	for u in "${udp[@]}"; do
		read -r sns rns rip dport sport count size ival <<<"$u"
		PHASE2+=("${NSIP[$sns]}:$sport")
	done
	unset -n tcp udp
done
for k in "${PHASE2[@]}"; do
	sel="[.connections[] | select(.src_ip == \"${k%:*}\" and .src_port == ${k#*:})]"
	assert_eq "C1 /api/live = C2's for phase 2 connection $k" "$(jq -c "$sel" <<<"$LIVE2")" "$(jq -c "$sel" <<<"$LIVE1")"
	[ "$(jq "$sel | length" <<<"$LIVE1")" = 1 ] || fail "C1 /api/live: phase 2 connection $k not there once"
done
assert_eq "C1 /api/live: no connection above C2's counters" 0 "$(jq --slurpfile b "$E2E_DIR/c2-live.json" "
	[.connections[] | . as \$c | (\$b[0].connections[] | select($KEY == (\$c | $KEY))) as \$d |
	 select(\$c.stats.packets_sent > \$d.stats.packets_sent or \$c.stats.packets_received > \$d.stats.packets_received or
		\$c.stats.bytes_sent > \$d.stats.bytes_sent or \$c.stats.bytes_received > \$d.stats.bytes_received)] | length" <<<"$LIVE1")"
assert_eq "C1 /api/live: no connection C2 does not have" 0 "$(jq --slurpfile b "$E2E_DIR/c2-live.json" "
	[.connections[] | $KEY] - [\$b[0].connections[] | $KEY] | length" <<<"$LIVE1")"
kill -CONT "$NODE1_PID" "$NODE2_PID"

# --- one batch through both collectors: stored once -----------------------------------------------
T=$(($(date +%s) * 1000))
# shellcheck disable=SC2054 # the commas are batchsend's record syntax
DUP=(--node "e2e-dup-$E2E_ID" --boot dup-boot --agent 0.0.1 --seq 1 --start $((T - 2000)) --end $((T - 1000))
	--totals 3,300,1 --record "src=10.83.9.1,dst=10.83.9.2,sport=1,dport=2,proto=17,ps=3,pr=0,bs=300,br=0,first=$((T - 2000)),last=$((T - 1000)),if=eth0")
assert_eq "batch to C1" 'ok=1 duplicate=0 seq=1 reason=none message=""' "$("$BATCHSEND" "${DUP[@]}" "tcp://$ROOT_IP1:$ING1")"
assert_eq "the same batch to C2: a duplicate" 'ok=1 duplicate=1 seq=1 reason=none message=""' \
	"$("$BATCHSEND" "${DUP[@]}" "tcp://$ROOT_IP1:$ING2")"
for url in "$C1" "$C2"; do
	col_use "$url"
	assert_eq "$url: the batch stored once" "1 1 3" "$(capi /api/nodes |
		jq -r --arg n "e2e-dup-$E2E_ID" '.nodes[] | select(.name == $n) | "\(.batches) \(.records) \(.total_packets)"')"
	assert_eq "$url: its record once" 1 "$(capi "/api/history?node=e2e-dup-$E2E_ID" | jq .total)"
done

# --- clean stop, sanitizer reports --------------------------------------------------------------
node_stop "$NODE1_PID"
assert_eq "node 1 exit status" 0 "$NODE_RC"
untrack_pid "$NODE1_PID"
node_stop "$NODE2_PID"
assert_eq "node 2 exit status" 0 "$NODE_RC"
untrack_pid "$NODE2_PID"
col_stop "$C1_PID" TERM
assert_eq "C1 exit status" 0 "$COL_RC"
col_stop "$C2_PID" TERM
assert_eq "C2 exit status" 0 "$COL_RC"
check_sanitizer_logs
