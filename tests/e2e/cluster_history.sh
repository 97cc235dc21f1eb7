#!/usr/bin/env bash
# cluster_history.sh - two nodes export to one collector; the collector's history holds
# every packet of each node exactly once, per connection and per direction.
#
# Pair 1 (namespaces A1 <-> B1) is watched by node N1 in A1, pair 2 (A2 <-> B2) by node
# N2 in A2, each on its traffic veth "va" only. The collector runs in namespace C, with
# a veth pair to A1 and one to A2 (see cluster.sh). Aggregation window 1 s, so the
# workloads, paced over several seconds, spread over several windows and history rows.
# Each pair gets a different known workload (UDP, ICMP, TCP). Once both nodes have
# exported everything, the history sums per connection must equal the node's own live
# counters and, for UDP and ICMP, the workload; the history of a node must add up to
# its total_packets; /api/nodes, /api/stats and the collector's /api/live must agree.
# The workloads and the checks against them are workload.sh's.
# shellcheck disable=SC2034
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
source "$(dirname "$0")/workload.sh"
e2e_init
require_collector

PORT=3001
WINDOW=1

# --- namespaces ---------------------------------------------------------------------
ns_pair "$(ns_name a1)" "$(ns_name b1)" 10.81.1
NS_A1=$NS_A NS_B1=$NS_B IP_A1=$IP_A IP_B1=$IP_B
ns_pair "$(ns_name a2)" "$(ns_name b2)" 10.81.2
NS_A2=$NS_A NS_B2=$NS_B IP_A2=$IP_A IP_B2=$IP_B
hub_create "$(ns_name c)"
hub_link "$NS_A1" 1 10.81.101
HUB_IP1=$HUB_IP
hub_link "$NS_A2" 2 10.81.102
HUB_IP2=$HUB_IP

N1=e2e-n1-$E2E_ID
N2=e2e-n2-$E2E_ID
collector_start collector "$E2E_DIR/history.db" --connection-timeout 3600

NODE_ARGS=(-i va --aggregation-window "$WINDOW" --connection-timeout 3600 --closed-timeout 3600)
node_start "$NS_A1" "$PORT" node1 "${NODE_ARGS[@]}" --node-name "$N1" \
	--collector "tcp://$HUB_IP1:$COLLECTOR_INGEST_PORT"
NODE1_PID=$NODE_PID
node_start "$NS_A2" "$PORT" node2 "${NODE_ARGS[@]}" --node-name "$N2" \
	--collector "tcp://$HUB_IP2:$COLLECTOR_INGEST_PORT"
NODE2_PID=$NODE_PID
npoll_jq "$NS_A1" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node 1 connected"
npoll_jq "$NS_A2" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node 2 connected"

# --- workloads ------------------------------------------------------------------------
# Per node: TCP "client_ns server_ns server_ip server_port client_port up down",
# UDP "sender_ns receiver_ns receiver_ip dport sport count payload interval_us",
# ICMP "pinger_ns target_ip count".
TCP_1=(
	"$NS_B1 $NS_A1 $IP_A1 5101 41101 1000 50000"
	"$NS_B1 $NS_A1 $IP_A1 5101 41102 20000 300"
)
UDP_1=(
	"$NS_B1 $NS_A1 $IP_A1 6101 7101 23 100 100000"
	"$NS_A1 $NS_B1 $IP_B1 6102 7102 11 500 250000"
)
ICMP_1=("$NS_B1 $IP_A1 4")
TCP_2=(
	"$NS_A2 $NS_B2 $IP_B2 5201 41201 7777 2222"
)
UDP_2=(
	"$NS_B2 $NS_A2 $IP_A2 6201 7201 31 64 80000"
	"$NS_A2 $NS_B2 $IP_B2 6202 7202 5 1200 400000"
	"$NS_B2 $NS_A2 $IP_A2 6203 7203 17 1 150000"
)
ICMP_2=("$NS_A2 $IP_B2 5")

WL_CLIENTS_1=() WL_SERVERS_1=() WL_SINKS_1=() WL_CLIENTS_2=() WL_SERVERS_2=() WL_SINKS_2=()
declare -A NSIP=(["$NS_A1"]=$IP_A1 ["$NS_B1"]=$IP_B1 ["$NS_A2"]=$IP_A2 ["$NS_B2"]=$IP_B2)

start_workload 1
start_workload 2
finish_workload 1
finish_workload 2
# Every TCP connection has finished its closing handshake (nothing but TIME-WAIT left).
# (The nodes' own connections to the collector, on the x links, do not count.)
for ns in "$NS_A1" "$NS_B1" "$NS_A2" "$NS_B2"; do
	wait_for "TCP closed in $ns" \
		"[ -z \"\$(ip netns exec $ns ss -Htan state connected exclude time-wait dst 10.81.0.0/16 and not dport = :$COLLECTOR_INGEST_PORT)\" ]"
done

# --- wait until both nodes exported everything -------------------------------------------
STATS_1=$(node_settled "$NS_A1" "$N1")
STATS_2=$(node_settled "$NS_A2" "$N2")
log "node 1 export: $(jq -c .export <<<"$STATS_1")"
log "node 2 export: $(jq -c .export <<<"$STATS_2")"
# Node 1 settled first; check it again (nothing may have moved meanwhile).
STATS_1=$(node_settled "$NS_A1" "$N1")

# --- per node, per connection: history = node live (= workload) --------------------------
check_node 1 "$NS_A1" "$N1" "$STATS_1"
check_node 2 "$NS_A2" "$N2" "$STATS_2"

# --- cluster views ----------------------------------------------------------------------
H1=$(api "$NS_A1" /api/health)
H2=$(api "$NS_A2" /api/health)
T1=$(jq .total_packets <<<"$H1")
T2=$(jq .total_packets <<<"$H2")
NODES=$(capi /api/nodes)
echo "$NODES" | jq . >"$E2E_DIR/collector-nodes.json"
assert_eq "/api/nodes: number of nodes" 2 "$(jq '.nodes | length' <<<"$NODES")"
for n in 1 2; do
	name_var="N$n" t_var="T$n" h_var="H$n"
	nd=$(jq -c --arg n "${!name_var}" '[.nodes[] | select(.name == $n)] | if length == 1 then .[0] else error("\(length) matches") end' <<<"$NODES") ||
		fail "/api/nodes does not list ${!name_var} exactly once"
	assert_eq "/api/nodes ${!name_var} total_packets = node /api/health" "${!t_var}" "$(jq .total_packets <<<"$nd")"
	assert_eq "/api/nodes ${!name_var} total_bytes = node /api/health" \
		"$(jq .total_bytes <<<"${!h_var}")" "$(jq .total_bytes <<<"$nd")"
	assert_eq "/api/nodes ${!name_var} connected" true "$(jq .connected <<<"$nd")"
	assert_eq "/api/nodes ${!name_var} export_spool_full" 0 "$(jq .lost_packets.export_spool_full <<<"$nd")"
	assert_eq "/api/nodes ${!name_var} collector_rejected" 0 "$(jq .lost_packets.collector_rejected <<<"$nd")"
done
CSTATS=$(capi /api/stats)
echo "$CSTATS" | jq . >"$E2E_DIR/collector-stats.json"
assert_eq "collector /api/stats total_packets = sum of the nodes" "$((T1 + T2))" "$(jq .total_packets <<<"$CSTATS")"
assert_eq "collector /api/stats nodes" 2 "$(jq '.nodes | length' <<<"$CSTATS")"
assert_eq "collector /api/health total_packets = sum of the nodes" "$((T1 + T2))" \
	"$(capi /api/health | jq .total_packets)"
assert_eq "collector rejected no batch" 0 "$(jq .ingest.batches_rejected <<<"$CSTATS")"

CLIVE=$(capi "/api/live?limit=1000")
echo "$CLIVE" | jq . >"$E2E_DIR/collector-live.json"
check_live_node 1 "$N1" "$CLIVE"
check_live_node 2 "$N2" "$CLIVE"
assert_eq "collector /api/live: connections of both nodes and no others" \
	"$(( $(jq '.connections | length' "$E2E_DIR/node1-live.json") + $(jq '.connections | length' "$E2E_DIR/node2-live.json") ))" \
	"$(jq '.connections | length' <<<"$CLIVE")"
assert_eq "collector /api/live total_packets" "$((T1 + T2))" "$(jq .total_packets <<<"$CLIVE")"

# --- clean stop, sanitizer reports --------------------------------------------------------
node_stop "$NODE1_PID"
assert_eq "node 1 exit status" 0 "$NODE_RC"
untrack_pid "$NODE1_PID"
node_stop "$NODE2_PID"
assert_eq "node 2 exit status" 0 "$NODE_RC"
untrack_pid "$NODE2_PID"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
