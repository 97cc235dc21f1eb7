#!/usr/bin/env bash
# live_counts.sh - the node counts every packet and byte of known TCP, UDP and ICMP
# workloads exactly, per connection, per direction and in its totals.
#
# The node runs in namespace A on A's veth. Traffic goes both ways (B->A and A->B).
# UDP and ICMP counts are known in advance; for TCP (whose ACK pattern is up to the
# kernel) tcpdump on the same veth is the ground truth, and the header arithmetic
# (no TCP options but the SYN's MSS, see ns_tune) must match it too.
source "$(dirname "$0")/lib.sh"
e2e_init

ns_pair "$(ns_name a)" "$(ns_name b)" 10.77.1
PCAP=$E2E_DIR/va.pcap
PORT=3001

pcap_start "$NS_A" "$DEV_A" "$PCAP"
node_start "$NS_A" "$PORT" node -i "$DEV_A" --closed-timeout 120 --node-name e2e-a

# --- workload ---------------------------------------------------------------------
# TCP connections: "client_ns server_ns server_ip server_port sport up down"
TCP_CONNS=(
	"$NS_B $NS_A $IP_A 5001 40001 1000 200000"
	"$NS_B $NS_A $IP_A 5001 40002 30000 500"
	"$NS_A $NS_B $IP_B 5002 40003 77777 12345"
)
# UDP flows: "sender_ns receiver_ns receiver_ip dport sport count payload"
UDP_FLOWS=(
	"$NS_B $NS_A $IP_A 6001 7001 17 100"
	"$NS_A $NS_B $IP_B 6002 7002 9 333"
)

ip netns exec "$NS_A" "$TRAFFICGEN" tcp-server 5001 --count 2 >"$E2E_DIR/srv_a.log" 2>&1 &
SRV_A=$!
track_pid $SRV_A
ip netns exec "$NS_B" "$TRAFFICGEN" tcp-server 5002 --count 1 >"$E2E_DIR/srv_b.log" 2>&1 &
SRV_B=$!
track_pid $SRV_B
ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6001 17 >"$E2E_DIR/sink_a.log" 2>&1 &
SINK_A=$!
track_pid $SINK_A
ip netns exec "$NS_B" "$TRAFFICGEN" udp-sink 6002 9 >"$E2E_DIR/sink_b.log" 2>&1 &
SINK_B=$!
track_pid $SINK_B
wait_listen "$NS_A" tcp 5001
wait_listen "$NS_B" tcp 5002
wait_listen "$NS_A" udp 6001
wait_listen "$NS_B" udp 6002

for c in "${TCP_CONNS[@]}"; do
	read -r cns sns sip sport_srv cport up down <<<"$c"
	nsx "$cns" "$TRAFFICGEN" tcp-client "$sip" "$sport_srv" "$up" "$down" --sport "$cport" \
		>>"$E2E_DIR/clients.log" 2>&1 || fail "tcp-client $c failed"
done
for u in "${UDP_FLOWS[@]}"; do
	read -r sns _ rip dport sport count size <<<"$u"
	nsx "$sns" "$TRAFFICGEN" udp-send "$rip" "$dport" "$count" "$size" --sport "$sport" \
		>>"$E2E_DIR/clients.log" 2>&1 || fail "udp-send $u failed"
done
nsx "$NS_B" ping -c 3 -s 56 -i 0.2 -q "$IP_A" >>"$E2E_DIR/clients.log" 2>&1 || fail "ping failed"

wait "$SRV_A" || fail "tcp-server in A failed"
wait "$SRV_B" || fail "tcp-server in B failed"
wait "$SINK_A" || fail "udp-sink in A failed"
wait "$SINK_B" || fail "udp-sink in B failed"
assert_eq "udp-sink A received" "received 17" "$(tail -n 1 "$E2E_DIR/sink_a.log")"
assert_eq "udp-sink B received" "received 9" "$(tail -n 1 "$E2E_DIR/sink_b.log")"

# Every TCP connection has finished its closing handshake (nothing but TIME-WAIT left),
# so the capture is complete once tcpdump has written what it saw.
wait_tcp_settled "$NS_A"
wait_tcp_settled "$NS_B"
pcap_stop

# --- ground truth -------------------------------------------------------------------
declare -A GT
for c in "${TCP_CONNS[@]}"; do
	read -r cns sns sip sport_srv cport up down <<<"$c"
	GT[$cport.up_pkts]=$(pcap_count "$PCAP" "tcp and src port $cport and dst port $sport_srv")
	GT[$cport.down_pkts]=$(pcap_count "$PCAP" "tcp and src port $sport_srv and dst port $cport")
	GT[$cport.up_bytes]=$(pcap_iplen "$PCAP" "tcp and src port $cport and dst port $sport_srv")
	GT[$cport.down_bytes]=$(pcap_iplen "$PCAP" "tcp and src port $sport_srv and dst port $cport")
	# The capture itself must obey the header arithmetic, or the namespace set-up is off.
	assert_eq "capture: bytes up of :$cport" "$((up + 40 * GT[$cport.up_pkts] + 4))" \
		"${GT[$cport.up_bytes]}"
	assert_eq "capture: bytes down of :$cport" "$((down + 40 * GT[$cport.down_pkts] + 4))" \
		"${GT[$cport.down_bytes]}"
done

# --- per-connection assertions ------------------------------------------------------
for c in "${TCP_CONNS[@]}"; do
	read -r cns sns sip sport_srv cport up down <<<"$c"
	total=$((GT[$cport.up_pkts] + GT[$cport.down_pkts]))
	poll_jq "$NS_A" "/api/live?limit=1000" \
		"[.connections[] | select(.protocol == \"tcp\" and ((.src_port == $cport) or (.dst_port == $cport)))][0].stats.packets_count == $total" \
		"TCP :$cport to reach $total packets"
done
for u in "${UDP_FLOWS[@]}"; do
	read -r sns _ rip dport sport count size <<<"$u"
	poll_jq "$NS_A" "/api/live?limit=1000" \
		"[.connections[] | select(.protocol == \"udp\" and ((.src_port == $sport) or (.dst_port == $sport)))][0].stats.packets_count == $count" \
		"UDP :$sport to reach $count packets"
done
poll_jq "$NS_A" "/api/live?limit=1000" \
	"[.connections[] | select(.protocol == \"icmp\")][0].stats.packets_count == 6" \
	"ICMP flow to reach 6 packets"

LIVE=$(api "$NS_A" "/api/live?limit=1000")
echo "$LIVE" | jq . >"$E2E_DIR/live.json"
flow() { jq -c "[.connections[] | select($1)] | if length == 1 then .[0] else error(\"\(length) matches\") end" <<<"$LIVE"; }
field() { jq -r "$2" <<<"$1"; }

for c in "${TCP_CONNS[@]}"; do
	read -r cns sns sip sport_srv cport up down <<<"$c"
	if [ "$cns" = "$NS_A" ]; then cip=$IP_A; else cip=$IP_B; fi
	f=$(flow ".protocol == \"tcp\" and (.src_port == $cport or .dst_port == $cport)") ||
		fail "TCP :$cport not exactly once in /api/live"
	assert_eq "tcp :$cport connection" "$cip:$cport -> $sip:$sport_srv" "$(field "$f" .connection)"
	assert_eq "tcp :$cport src_ip" "$cip" "$(field "$f" .src_ip)"
	assert_eq "tcp :$cport src_port" "$cport" "$(field "$f" .src_port)"
	assert_eq "tcp :$cport dst_ip" "$sip" "$(field "$f" .dst_ip)"
	assert_eq "tcp :$cport dst_port" "$sport_srv" "$(field "$f" .dst_port)"
	assert_eq "tcp :$cport ip_version" 4 "$(field "$f" .ip_version)"
	assert_eq "tcp :$cport interface" "$DEV_A" "$(field "$f" .interface)"
	assert_eq "tcp :$cport node" "e2e-a" "$(field "$f" .node)"
	assert_eq "tcp :$cport packets_sent" "${GT[$cport.up_pkts]}" "$(field "$f" .stats.packets_sent)"
	assert_eq "tcp :$cport packets_received" "${GT[$cport.down_pkts]}" \
		"$(field "$f" .stats.packets_received)"
	assert_eq "tcp :$cport packets_count" "$((GT[$cport.up_pkts] + GT[$cport.down_pkts]))" \
		"$(field "$f" .stats.packets_count)"
	assert_eq "tcp :$cport bytes_sent" "$((up + 40 * GT[$cport.up_pkts] + 4))" \
		"$(field "$f" .stats.bytes_sent)"
	assert_eq "tcp :$cport bytes_received" "$((down + 40 * GT[$cport.down_pkts] + 4))" \
		"$(field "$f" .stats.bytes_received)"
	flags=$(field "$f" .tcp_flags)
	for fl in SYN ACK FIN; do
		[[ ",$flags," == *",$fl,"* ]] || fail "tcp :$cport tcp_flags '$flags' lacks $fl"
	done
	assert_eq "tcp :$cport first_seen <= last_seen" true \
		"$(field "$f" '.first_seen > 1600000000000 and .first_seen <= .last_seen')"
done

for u in "${UDP_FLOWS[@]}"; do
	read -r sns _ rip dport sport count size <<<"$u"
	if [ "$sns" = "$NS_A" ]; then sip=$IP_A; else sip=$IP_B; fi
	f=$(flow ".protocol == \"udp\" and (.src_port == $sport or .dst_port == $sport)") ||
		fail "UDP :$sport not exactly once in /api/live"
	assert_eq "udp :$sport connection" "$sip:$sport -> $rip:$dport" "$(field "$f" .connection)"
	assert_eq "udp :$sport src_ip" "$sip" "$(field "$f" .src_ip)"
	assert_eq "udp :$sport dst_ip" "$rip" "$(field "$f" .dst_ip)"
	assert_eq "udp :$sport dst_port" "$dport" "$(field "$f" .dst_port)"
	assert_eq "udp :$sport packets_sent" "$count" "$(field "$f" .stats.packets_sent)"
	assert_eq "udp :$sport packets_received" 0 "$(field "$f" .stats.packets_received)"
	assert_eq "udp :$sport bytes_sent" "$((count * (size + 28)))" "$(field "$f" .stats.bytes_sent)"
	assert_eq "udp :$sport bytes_received" 0 "$(field "$f" .stats.bytes_received)"
done

f=$(flow '.protocol == "icmp"') || fail "ICMP flow not exactly once in /api/live"
assert_eq "icmp src_ip" "$IP_B" "$(field "$f" .src_ip)"
assert_eq "icmp dst_ip" "$IP_A" "$(field "$f" .dst_ip)"
assert_eq "icmp packets_sent" 3 "$(field "$f" .stats.packets_sent)"
assert_eq "icmp packets_received" 3 "$(field "$f" .stats.packets_received)"
assert_eq "icmp bytes_sent" $((3 * 84)) "$(field "$f" .stats.bytes_sent)"
assert_eq "icmp bytes_received" $((3 * 84)) "$(field "$f" .stats.bytes_received)"
assert_eq "number of IPv4 flows" 6 "$(jq '[.connections[] | select(.ip_version == 4)] | length' <<<"$LIVE")"

# --- totals and /metrics against the capture ------------------------------------------
# Only IPv4 counts: IPv6 (neighbour discovery) is lost as ipv6_disabled, ARP is not IP.
ALL_PKTS=$(pcap_count "$PCAP" "ip")
ALL_BYTES=$(pcap_iplen "$PCAP" "ip")
assert_eq "/api/live total_packets" "$ALL_PKTS" "$(jq .total_packets <<<"$LIVE")"
assert_eq "/api/live total_bytes" "$ALL_BYTES" "$(jq .total_bytes <<<"$LIVE")"
HEALTH=$(api "$NS_A" /api/health)
assert_eq "/api/health total_packets" "$ALL_PKTS" "$(jq .total_packets <<<"$HEALTH")"
assert_eq "/api/health total_bytes" "$ALL_BYTES" "$(jq .total_bytes <<<"$HEALTH")"

METRICS=$(api "$NS_A" /metrics)
echo "$METRICS" >"$E2E_DIR/metrics.txt"
for dir in ingress egress; do
	if [ "$dir" = ingress ]; then mac=$MAC_B; else mac=$MAC_A; fi
	for proto in tcp udp icmp; do
		want_p=$(pcap_count "$PCAP" "ether src $mac and ip and $proto")
		want_b=$(pcap_iplen "$PCAP" "ether src $mac and ip and $proto")
		assert_eq "ayaflow_packets_total{$dir,$proto}" "$want_p" \
			"$(metric "$METRICS" ayaflow_packets_total "direction=\"$dir\"" "protocol=\"$proto\"")"
		assert_eq "ayaflow_bytes_total{$dir,$proto}" "$want_b" \
			"$(metric "$METRICS" ayaflow_bytes_total "direction=\"$dir\"" "protocol=\"$proto\"")"
	done
	for proto in icmpv6 other; do
		assert_eq "ayaflow_packets_total{$dir,$proto}" 0 \
			"$(metric "$METRICS" ayaflow_packets_total "direction=\"$dir\"" "protocol=\"$proto\"")"
	done
done
assert_eq "ayaflow_lost_packets_total{flow_map_full}" 0 \
	"$(metric "$METRICS" ayaflow_lost_packets_total 'reason="flow_map_full"')"
assert_eq "ayaflow_lost_packets_total{unparsable}" 0 \
	"$(metric "$METRICS" ayaflow_lost_packets_total 'reason="unparsable"')"
