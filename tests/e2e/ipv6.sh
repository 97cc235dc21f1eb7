#!/usr/bin/env bash
# ipv6.sh - with --enable-ipv6 UDP, TCP and ICMPv6 over IPv6 are counted per connection
# with IPv6 lengths (payload + 40) and bracketed addresses; without it every IPv6 packet
# is counted as lost (ipv6_disabled) and none reaches the flows or the totals.
source "$(dirname "$0")/lib.sh"
e2e_init

# --- part 1: --enable-ipv6 ----------------------------------------------------------
ns_pair "$(ns_name a)" "$(ns_name b)" 10.77.8
PCAP=$E2E_DIR/va.pcap
pcap_start "$NS_A" "$DEV_A" "$PCAP"
node_start "$NS_A" 3001 node6 -i "$DEV_A" --enable-ipv6 --closed-timeout 120

ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6000 11 >"$E2E_DIR/sink.log" 2>&1 &
SINK=$!
track_pid $SINK
ip netns exec "$NS_A" "$TRAFFICGEN" tcp-server 5001 --bind "$IP6_A" >"$E2E_DIR/srv.log" 2>&1 &
SRV=$!
track_pid $SRV
wait_listen "$NS_A" udp 6000
wait_listen "$NS_A" tcp 5001

nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP6_A" 6000 11 100 --sport 7000 >/dev/null || fail "udp-send failed"
nsx "$NS_B" "$TRAFFICGEN" tcp-client "$IP6_A" 5001 5000 3000 --sport 40001 >/dev/null ||
	fail "tcp-client failed"
nsx "$NS_B" ping -6 -c 2 -s 56 -i 0.2 -q "$IP6_A" >/dev/null || fail "ping -6 failed"
wait "$SINK" || fail "udp-sink failed"
wait "$SRV" || fail "tcp-server failed"
assert_eq "sink received" "received 11" "$(tail -n 1 "$E2E_DIR/sink.log")"
wait_tcp_settled "$NS_A"
wait_tcp_settled "$NS_B"
pcap_stop

UP_P=$(pcap_count "$PCAP" "ip6 and tcp and src port 40001 and dst port 5001")
DOWN_P=$(pcap_count "$PCAP" "ip6 and tcp and src port 5001 and dst port 40001")
[ "$UP_P" -gt 0 ] && [ "$DOWN_P" -gt 0 ] || fail "capture has no IPv6 TCP packets ($UP_P/$DOWN_P)"

poll_jq "$NS_A" "/api/live?limit=1000" "
	([.connections[] | select(.protocol == \"udp\" and .src_port == 7000)][0].stats.packets_count == 11) and
	([.connections[] | select(.protocol == \"tcp\" and .src_port == 40001)][0].stats.packets_count == $((UP_P + DOWN_P))) and
	([.connections[] | select(.protocol == \"icmpv6\" and .src_ip == \"$IP6_B\" and .dst_ip == \"$IP6_A\")][0].stats.packets_count == 4)" \
	"IPv6 UDP, TCP and ICMPv6 flows complete"
LIVE=$(api "$NS_A" "/api/live?limit=1000")
echo "$LIVE" | jq . >"$E2E_DIR/live.json"
one() { jq -c "[.connections[] | select($1)] | if length == 1 then .[0] else error(\"\(length) matches\") end" <<<"$LIVE"; }

f=$(one '.protocol == "udp" and .src_port == 7000') || fail "UDP flow not exactly once"
assert_eq "udp6 connection" "[$IP6_B]:7000 -> [$IP6_A]:6000" "$(jq -r .connection <<<"$f")"
assert_eq "udp6 ip_version" 6 "$(jq .ip_version <<<"$f")"
assert_eq "udp6 src_ip" "$IP6_B" "$(jq -r .src_ip <<<"$f")"
assert_eq "udp6 dst_ip" "$IP6_A" "$(jq -r .dst_ip <<<"$f")"
assert_eq "udp6 dst_port" 6000 "$(jq .dst_port <<<"$f")"
assert_eq "udp6 packets_sent" 11 "$(jq .stats.packets_sent <<<"$f")"
assert_eq "udp6 packets_received" 0 "$(jq .stats.packets_received <<<"$f")"
assert_eq "udp6 bytes_sent" $((11 * (100 + 40 + 8))) "$(jq .stats.bytes_sent <<<"$f")"

f=$(one '.protocol == "tcp" and .src_port == 40001') || fail "TCP flow not exactly once"
assert_eq "tcp6 connection" "[$IP6_B]:40001 -> [$IP6_A]:5001" "$(jq -r .connection <<<"$f")"
assert_eq "tcp6 ip_version" 6 "$(jq .ip_version <<<"$f")"
assert_eq "tcp6 packets_sent" "$UP_P" "$(jq .stats.packets_sent <<<"$f")"
assert_eq "tcp6 packets_received" "$DOWN_P" "$(jq .stats.packets_received <<<"$f")"
# IPv6 (40) + TCP (20) headers per packet, + the 4-byte MSS option on SYN and SYN-ACK.
assert_eq "tcp6 bytes_sent" $((5000 + 60 * UP_P + 4)) "$(jq .stats.bytes_sent <<<"$f")"
assert_eq "tcp6 bytes_received" $((3000 + 60 * DOWN_P + 4)) "$(jq .stats.bytes_received <<<"$f")"
flags=$(jq -r .tcp_flags <<<"$f")
for fl in SYN ACK FIN; do
	[[ ",$flags," == *",$fl,"* ]] || fail "tcp6 tcp_flags '$flags' lacks $fl"
done

f=$(one ".protocol == \"icmpv6\" and .src_ip == \"$IP6_B\" and .dst_ip == \"$IP6_A\"") ||
	fail "ICMPv6 echo flow not exactly once"
assert_eq "icmpv6 ip_version" 6 "$(jq .ip_version <<<"$f")"
assert_eq "icmpv6 packets_sent" 2 "$(jq .stats.packets_sent <<<"$f")"
assert_eq "icmpv6 packets_received" 2 "$(jq .stats.packets_received <<<"$f")"
assert_eq "icmpv6 bytes_sent" $((2 * (56 + 8 + 40))) "$(jq .stats.bytes_sent <<<"$f")"
assert_eq "icmpv6 bytes_received" $((2 * (56 + 8 + 40))) "$(jq .stats.bytes_received <<<"$f")"

S=$(api "$NS_A" /api/stats)
assert_eq "ipv6_disabled with --enable-ipv6" 0 "$(jq .lost_packets.ipv6_disabled <<<"$S")"
M=$(api "$NS_A" /metrics)
assert_eq "ayaflow_packets_total{ingress,udp}" 11 \
	"$(metric "$M" ayaflow_packets_total 'direction="ingress"' 'protocol="udp"')"
assert_eq "ayaflow_bytes_total{ingress,udp}" $((11 * 148)) \
	"$(metric "$M" ayaflow_bytes_total 'direction="ingress"' 'protocol="udp"')"
node_stop "$NODE_PID" TERM

# --- part 2: IPv6 off (the default) ---------------------------------------------------------
# Everything IPv6 that crosses the veth while the node runs must show up as ipv6_disabled.
# The capture (on "any", which is up before the veth is) and the node both start before
# the link comes up, so both see all of it, including the link's own MLD reports.
NS_PAIR_UP=0 ns_pair "$(ns_name c)" "$(ns_name d)" 10.77.18
PCAP=$E2E_DIR/any.pcap
pcap_start "$NS_A" any "$PCAP"
NODE_WAIT=http node_start "$NS_A" 3001 node4 -i "$DEV_A"
ns_pair_up

ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6000 13 >"$E2E_DIR/sink2.log" 2>&1 &
SINK=$!
track_pid $SINK
wait_listen "$NS_A" udp 6000
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP6_A" 6000 13 100 --sport 7000 >/dev/null || fail "udp-send failed"
wait "$SINK" || fail "udp-sink failed"
assert_eq "sink received" "received 13" "$(tail -n 1 "$E2E_DIR/sink2.log")"

# Loopback carries only IPv4 (the API); IPv6 in the capture is the veth's.
v6_on_veth() { pcap_count "$PCAP" "ip6 and not ip6 host ::1"; }
# MLD reports of the new link may still trickle in: poll until the capture, /api/stats
# and /metrics agree on one number.
deadline=$((SECONDS + E2E_TIMEOUT))
while :; do
	want=$(v6_on_veth)
	got=$(api "$NS_A" /api/stats | jq .lost_packets.ipv6_disabled)
	got_m=$(metric "$(api "$NS_A" /metrics)" ayaflow_lost_packets_total 'reason="ipv6_disabled"')
	[ "$want" -ge 13 ] && [ "$got" = "$want" ] && [ "$got_m" = "$want" ] && break
	[ "$SECONDS" -lt "$deadline" ] ||
		fail "ipv6_disabled: expected the $want IPv6 packets of the capture, got $got on /api/stats and $got_m on /metrics"
	sleep 0.2
done
log "ok: ipv6_disabled = $got on /api/stats and /metrics (= IPv6 packets captured, 13 of them UDP)"
assert_eq "captured IPv6 UDP" 13 "$(pcap_count "$PCAP" "ip6 and udp port 6000")"
S=$(api "$NS_A" /api/stats)
assert_eq "total_packets without IPv6" 0 "$(jq .total_packets <<<"$S")"
assert_eq "total_bytes without IPv6" 0 "$(jq .total_bytes <<<"$S")"
L=$(api "$NS_A" "/api/live?limit=1000")
assert_eq "no flows without IPv6" 0 "$(jq '.connections | length' <<<"$L")"
M=$(api "$NS_A" /metrics)
assert_eq "ayaflow_packets_total{ingress,udp}" 0 \
	"$(metric "$M" ayaflow_packets_total 'direction="ingress"' 'protocol="udp"')"
pcap_stop
node_stop "$NODE_PID" TERM
