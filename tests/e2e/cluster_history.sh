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
# The workload arrays are read through namerefs (local -n) in the functions below.
# shellcheck disable=SC2034,SC2178
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
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

# start_workload N: starts node N's workload in the background: servers and sinks first,
# then all clients at once, so that they overlap over several windows. Sets WL_CLIENTS_N,
# WL_SERVERS_N, WL_SINKS_N (pids, tracked for the EXIT trap).
start_workload()
{
	local n=$1 c u p cns sns sip sport cport up down rns rip dport count size ival pns tip
	local -n tcp="TCP_$n" udp="UDP_$n" icmp="ICMP_$n"
	local -n clients="WL_CLIENTS_$n" servers="WL_SERVERS_$n" sinks="WL_SINKS_$n"
	local -A nconn=()
	clients=() servers=() sinks=()
	for c in "${tcp[@]}"; do
		read -r cns sns sip sport cport up down <<<"$c"
		nconn[$sns:$sport]=$((${nconn[$sns:$sport]:-0} + 1))
	done
	for c in "${!nconn[@]}"; do
		ip netns exec "${c%:*}" "$TRAFFICGEN" tcp-server "${c#*:}" --count "${nconn[$c]}" \
			>"$E2E_DIR/srv$n-${c#*:}.log" 2>&1 &
		servers+=($!)
		track_pid $!
		wait_listen "${c%:*}" tcp "${c#*:}"
	done
	for u in "${udp[@]}"; do
		read -r sns rns rip dport sport count size ival <<<"$u"
		ip netns exec "$rns" "$TRAFFICGEN" udp-sink "$dport" "$count" --timeout 30 \
			>"$E2E_DIR/sink$n-$dport.log" 2>&1 &
		sinks+=($!)
		track_pid $!
		wait_listen "$rns" udp "$dport"
	done
	for c in "${tcp[@]}"; do
		read -r cns sns sip sport cport up down <<<"$c"
		nsx "$cns" "$TRAFFICGEN" tcp-client "$sip" "$sport" "$up" "$down" --sport "$cport" \
			>>"$E2E_DIR/clients$n.log" 2>&1 &
		clients+=($!)
		track_pid $!
	done
	for u in "${udp[@]}"; do
		read -r sns rns rip dport sport count size ival <<<"$u"
		nsx "$sns" "$TRAFFICGEN" udp-send "$rip" "$dport" "$count" "$size" --sport "$sport" \
			--interval-us "$ival" >>"$E2E_DIR/clients$n.log" 2>&1 &
		clients+=($!)
		track_pid $!
	done
	for p in "${icmp[@]}"; do
		read -r pns tip count <<<"$p"
		nsx "$pns" ping -c "$count" -s 56 -i 0.5 -q "$tip" >>"$E2E_DIR/clients$n.log" 2>&1 &
		clients+=($!)
		track_pid $!
	done
}

# finish_workload N: waits for node N's workload; checks what the receivers got.
finish_workload()
{
	local n=$1 p u i=0 sns rns rip dport sport count size ival
	local -n udp="UDP_$n"
	local -n clients="WL_CLIENTS_$n" servers="WL_SERVERS_$n" sinks="WL_SINKS_$n"
	for p in "${clients[@]}" "${servers[@]}"; do
		wait "$p" || fail "node $n: a client or server of the workload failed (see clients$n.log)"
		untrack_pid "$p"
	done
	for u in "${udp[@]}"; do
		read -r sns rns rip dport sport count size ival <<<"$u"
		wait "${sinks[$i]}" || fail "node $n: udp-sink $dport failed"
		untrack_pid "${sinks[$i]}"
		assert_eq "node $n: udp-sink :$dport received" "received $count" \
			"$(tail -n 1 "$E2E_DIR/sink$n-$dport.log")"
		i=$((i + 1))
	done
}

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
check_node()
{
	local n=$1 ns=$2 name=$3 stats=$4
	local live hist conns nconn i conn q rows proto sip sport dip dport
	local -n tcp="TCP_$n" udp="UDP_$n" icmp="ICMP_$n"
	live=$(api "$ns" "/api/live?limit=1000")
	echo "$live" | jq . >"$E2E_DIR/node$n-live.json"
	assert_eq "node $n: /api/live total_packets = /api/stats total_packets" \
		"$(jq .total_packets <<<"$stats")" "$(jq .total_packets <<<"$live")"
	[ "$(jq '[.connections[] | select(.ip_version != 4)] | length' <<<"$live")" = 0 ] ||
		fail "node $n: IPv6 connections in /api/live (IPv6 must be off and quiet)"

	# All history rows of the node, paged in small pages to exercise offset paging.
	hist=$(history_all "node=$name" 7)
	echo "$hist" | jq . >"$E2E_DIR/node$n-history.json"
	log "node $n: $(jq length <<<"$hist") history rows"
	[ "$(jq length <<<"$hist")" -gt 0 ] || fail "node $n: no history rows"
	assert_eq "node $n: every history row names the node" 0 \
		"$(jq --arg n "$name" '[.[] | select(.node != $n)] | length' <<<"$hist")"
	assert_eq "node $n: every history row is IPv4 on va" 0 \
		"$(jq '[.[] | select(.ip_version != 4 or .interface != "va")] | length' <<<"$hist")"
	assert_eq "node $n: packet_count = packets_sent + packets_received in every row" 0 \
		"$(jq '[.[] | select(.packet_count != .packets_sent + .packets_received)] | length' <<<"$hist")"
	assert_eq "node $n: length = bytes_sent + bytes_received in every row" 0 \
		"$(jq '[.[] | select(.length != .bytes_sent + .bytes_received)] | length' <<<"$hist")"
	assert_eq "node $n: no empty rows" 0 "$(jq '[.[] | select(.packet_count == 0)] | length' <<<"$hist")"
	assert_eq "node $n: sum of history packet_count = node total_packets" \
		"$(jq .total_packets <<<"$stats")" "$(hsum "$hist" packet_count)"
	assert_eq "node $n: sum of history length = node total_bytes" \
		"$(jq .total_bytes <<<"$stats")" "$(hsum "$hist" length)"

	# The connections of the history are exactly those of the node's live table.
	assert_eq "node $n: connections in history = in node /api/live" \
		"$(jq -c '[.connections[] | [.protocol, .src_ip, .src_port, .dst_ip, .dst_port]] | sort' <<<"$live")" \
		"$(jq -c '[.[] | [.protocol, .src_ip, .src_port, .dst_ip, .dst_port]] | unique' <<<"$hist")"
	nconn=$(jq '.connections | length' <<<"$live")
	assert_eq "node $n: number of connections" \
		"$(( ${#tcp[@]} + ${#udp[@]} + ${#icmp[@]} ))" "$nconn"

	# Each connection: the filtered history query, paged, sums to the live counters.
	for ((i = 0; i < nconn; i++)); do
		conn=$(jq -c ".connections[$i]" <<<"$live")
		read -r proto sip sport dip dport <<<"$(jq -r '[.protocol, .src_ip, .src_port, .dst_ip, .dst_port] | @tsv' <<<"$conn")"
		q="node=$name&protocol=$proto&src_ip=$sip&dst_ip=$dip"
		[ "$proto" = icmp ] || q="$q&src_port=$sport&dst_port=$dport"
		rows=$(history_all "$q" 3)
		assert_eq "node $n: $proto $sip:$sport->$dip:$dport filtered rows = rows of the full history" \
			"$(jq -c --arg p "$proto" --arg s "$sip" --arg d "$dip" --argjson sp "$sport" --argjson dp "$dport" \
				'[.[] | select(.protocol == $p and .src_ip == $s and .dst_ip == $d and .src_port == $sp and .dst_port == $dp)] | length' <<<"$hist")" \
			"$(jq length <<<"$rows")"
		for f in packets_sent packets_received bytes_sent bytes_received; do
			assert_eq "node $n: $proto $sip:$sport->$dip:$dport history $f = node live" \
				"$(jq ".stats.$f" <<<"$conn")" "$(hsum "$rows" "$f")"
		done
		assert_eq "node $n: $proto $sip:$sport->$dip:$dport history tcp_flags of the last row = live" \
			"$(jq -r .tcp_flags <<<"$conn")" \
			"$(jq -r 'max_by(.window_end) | .tcp_flags' <<<"$rows")"
	done

	# The known workloads, against the history sums.
	local c u p cns sns sip2 sport2 cport up down rns rip dport2 count size ival pns tip cip
	for u in "${udp[@]}"; do
		read -r sns rns rip dport2 sport2 count size ival <<<"$u"
		cip=${NSIP[$sns]}
		rows=$(history_all "node=$name&protocol=udp&src_ip=$cip&src_port=$sport2&dst_ip=$rip&dst_port=$dport2")
		assert_eq "node $n: udp :$sport2 history packets_sent" "$count" "$(hsum "$rows" packets_sent)"
		assert_eq "node $n: udp :$sport2 history packets_received" 0 "$(hsum "$rows" packets_received)"
		assert_eq "node $n: udp :$sport2 history bytes_sent" "$((count * (size + 28)))" "$(hsum "$rows" bytes_sent)"
		assert_eq "node $n: udp :$sport2 history bytes_received" 0 "$(hsum "$rows" bytes_received)"
	done
	for p in "${icmp[@]}"; do
		read -r pns tip count <<<"$p"
		cip=${NSIP[$pns]}
		rows=$(history_all "node=$name&protocol=icmp&src_ip=$cip&dst_ip=$tip")
		assert_eq "node $n: icmp $cip->$tip history packets_sent" "$count" "$(hsum "$rows" packets_sent)"
		assert_eq "node $n: icmp $cip->$tip history packets_received" "$count" "$(hsum "$rows" packets_received)"
		assert_eq "node $n: icmp $cip->$tip history bytes_sent" "$((count * 84))" "$(hsum "$rows" bytes_sent)"
		assert_eq "node $n: icmp $cip->$tip history bytes_received" "$((count * 84))" "$(hsum "$rows" bytes_received)"
	done
	for c in "${tcp[@]}"; do
		read -r cns sns sip2 sport2 cport up down <<<"$c"
		cip=${NSIP[$cns]}
		rows=$(history_all "node=$name&protocol=tcp&src_ip=$cip&src_port=$cport&dst_ip=$sip2&dst_port=$sport2")
		[ "$(jq length <<<"$rows")" -gt 0 ] || fail "node $n: tcp :$cport not in the history"
		# No TCP options but the SYN's MSS (ns_tune): payload + 40 per packet + 4.
		assert_eq "node $n: tcp :$cport history bytes_sent" \
			"$((up + 40 * $(hsum "$rows" packets_sent) + 4))" "$(hsum "$rows" bytes_sent)"
		assert_eq "node $n: tcp :$cport history bytes_received" \
			"$((down + 40 * $(hsum "$rows" packets_received) + 4))" "$(hsum "$rows" bytes_received)"
	done
}

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
for n in 1 2; do
	ns_var="NS_A$n" name_var="N$n"
	live=$(jq -c . "$E2E_DIR/node$n-live.json")
	nconn=$(jq '.connections | length' <<<"$live")
	for ((i = 0; i < nconn; i++)); do
		conn=$(jq -c ".connections[$i]" <<<"$live")
		key=$(jq -c '[.protocol, .src_ip, .src_port, .dst_ip, .dst_port]' <<<"$conn")
		cc=$(jq -c --argjson k "$key" --arg n "${!name_var}" \
			'[.connections[] | select([.protocol, .src_ip, .src_port, .dst_ip, .dst_port] == $k and .node == $n)] | if length == 1 then .[0] else error("\(length) matches") end' <<<"$CLIVE") ||
			fail "collector /api/live: connection $key of ${!name_var} not there exactly once"
		assert_eq "collector /api/live $key node" "${!name_var}" "$(jq -r .node <<<"$cc")"
		assert_eq "collector /api/live $key stats = node live" "$(jq -c .stats <<<"$conn")" "$(jq -c .stats <<<"$cc")"
		assert_eq "collector /api/live $key connection" "$(jq -r .connection <<<"$conn")" "$(jq -r .connection <<<"$cc")"
	done
	# The node filter of the collector's /api/live.
	assert_eq "collector /api/live?node=${!name_var}: connections" "$nconn" \
		"$(capi "/api/live?limit=1000&node=${!name_var}" | jq --arg n "${!name_var}" '[.connections[] | select(.node == $n)] | length')"
done
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
