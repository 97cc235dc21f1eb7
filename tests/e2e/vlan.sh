#!/usr/bin/env bash
# vlan.sh - 802.1Q, QinQ (802.1ad + 802.1Q) and double 802.1Q tagged IPv4 UDP frames are
# counted as UDP flows with the inner addresses, ports and IP lengths.
#
# VLAN devices do not exist in every kernel, so trafficgen crafts the tagged frames and
# sends them raw. Frames from B arrive on A's veth ingress (where the kernel moves the
# outer tag out of the packet data before TC runs); frames sent raw from A leave through
# A's veth egress with every tag still in the data. Three tags are more than the
# classifier walks: such a frame is counted as unparsable, not as a flow.
source "$(dirname "$0")/lib.sh"
e2e_init

ns_pair "$(ns_name a)" "$(ns_name b)" 10.77.9
node_start "$NS_A" 3001 node -i "$DEV_A"

# frames SRC_MAC DST_MAC SRC_IP DST_IP SPORT DPORT SIZE COUNT TAGS...: COUNT copies of
# one frame, hex, separated by spaces.
frames()
{
	local smac=$1 dmac=$2 sip=$3 dip=$4 sp=$5 dp=$6 size=$7 n=$8 f i tags=()
	shift 8
	for t in "$@"; do tags+=(--vlan "$t"); done
	f=$("$TRAFFICGEN" udp4-frame "$smac" "$dmac" "$sip" "$dip" "$sp" "$dp" "$size" "${tags[@]}") ||
		fail "udp4-frame failed"
	for ((i = 0; i < n; i++)); do printf '%s ' "$f"; done
}

# Flows: "name sender sport dport size count tags..."
FLOWS=(
	"in_q   B 7001 6001 50 4 0x8100:100"
	"in_qinq B 7002 6002 60 3 0x88a8:200 0x8100:100"
	"in_qq  B 7003 6003 10 2 0x8100:300 0x8100:301"
	"eg_q   A 7101 6101 20 5 0x8100:100"
	"eg_qinq A 7102 6102 30 6 0x88a8:200 0x8100:100"
)
IN_P=0 IN_B=0 EG_P=0 EG_B=0
for fl in "${FLOWS[@]}"; do
	read -r name who sp dp size n tags <<<"$fl"
	# The frames are separate words on purpose.
	# shellcheck disable=SC2086,SC2046
	if [ "$who" = B ]; then
		nsx "$NS_B" "$TRAFFICGEN" raw-send "$DEV_B" \
			$(frames "$MAC_B" "$MAC_A" "$IP_B" "$IP_A" "$sp" "$dp" "$size" "$n" $tags) \
			>/dev/null || fail "raw-send $name failed"
		IN_P=$((IN_P + n)) IN_B=$((IN_B + n * (size + 28)))
	else
		nsx "$NS_A" "$TRAFFICGEN" raw-send "$DEV_A" \
			$(frames "$MAC_A" "$MAC_B" "$IP_A" "$IP_B" "$sp" "$dp" "$size" "$n" $tags) \
			>/dev/null || fail "raw-send $name failed"
		EG_P=$((EG_P + n)) EG_B=$((EG_B + n * (size + 28)))
	fi
done
# One frame with three tags, out through A's egress: unparsable.
# shellcheck disable=SC2046
nsx "$NS_A" "$TRAFFICGEN" raw-send "$DEV_A" \
	$(frames "$MAC_A" "$MAC_B" "$IP_A" "$IP_B" 7200 6200 10 1 0x88a8:1 0x8100:2 0x8100:3) \
	>/dev/null || fail "raw-send of the triple-tagged frame failed"

poll_jq "$NS_A" /api/health ".total_packets == $((IN_P + EG_P))" "all tagged frames counted"
poll_jq "$NS_A" /api/stats '.lost_packets.unparsable == 1' "the triple-tagged frame counted unparsable"
LIVE=$(api "$NS_A" "/api/live?limit=1000")
echo "$LIVE" | jq . >"$E2E_DIR/live.json"

for fl in "${FLOWS[@]}"; do
	read -r name who sp dp size n tags <<<"$fl"
	if [ "$who" = B ]; then sip=$IP_B dip=$IP_A; else sip=$IP_A dip=$IP_B; fi
	f=$(jq -c "[.connections[] | select(.protocol == \"udp\" and .src_port == $sp)]" <<<"$LIVE")
	assert_eq "$name: flows" 1 "$(jq length <<<"$f")"
	assert_eq "$name: connection" "$sip:$sp -> $dip:$dp" "$(jq -r '.[0].connection' <<<"$f")"
	assert_eq "$name: src_ip" "$sip" "$(jq -r '.[0].src_ip' <<<"$f")"
	assert_eq "$name: dst_ip" "$dip" "$(jq -r '.[0].dst_ip' <<<"$f")"
	assert_eq "$name: dst_port" "$dp" "$(jq '.[0].dst_port' <<<"$f")"
	assert_eq "$name: interface" "$DEV_A" "$(jq -r '.[0].interface' <<<"$f")"
	assert_eq "$name: packets_sent" "$n" "$(jq '.[0].stats.packets_sent' <<<"$f")"
	assert_eq "$name: packets_received" 0 "$(jq '.[0].stats.packets_received' <<<"$f")"
	assert_eq "$name: bytes_sent" "$((n * (size + 28)))" "$(jq '.[0].stats.bytes_sent' <<<"$f")"
done
assert_eq "flows in total" "${#FLOWS[@]}" "$(jq '.connections | length' <<<"$LIVE")"
assert_eq "total_bytes" "$((IN_B + EG_B))" "$(jq .total_bytes <<<"$LIVE")"

M=$(api "$NS_A" /metrics)
assert_eq "ayaflow_packets_total{ingress,udp}" "$IN_P" \
	"$(metric "$M" ayaflow_packets_total 'direction="ingress"' 'protocol="udp"')"
assert_eq "ayaflow_bytes_total{ingress,udp}" "$IN_B" \
	"$(metric "$M" ayaflow_bytes_total 'direction="ingress"' 'protocol="udp"')"
assert_eq "ayaflow_packets_total{egress,udp}" "$EG_P" \
	"$(metric "$M" ayaflow_packets_total 'direction="egress"' 'protocol="udp"')"
assert_eq "ayaflow_bytes_total{egress,udp}" "$EG_B" \
	"$(metric "$M" ayaflow_bytes_total 'direction="egress"' 'protocol="udp"')"
assert_eq "ayaflow_lost_packets_total{unparsable}" 1 \
	"$(metric "$M" ayaflow_lost_packets_total 'reason="unparsable"')"
