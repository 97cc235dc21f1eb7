#!/usr/bin/env bash
# http_api.sh - the node's HTTP API: field names and types of /api/health, /api/stats
# and /api/live, the limit parameter, JSON errors (400, 403, 404, 405), the CIDR
# allowlist and Prometheus text that promtool accepts.
source "$(dirname "$0")/lib.sh"
e2e_init
require_tools promtool

ns_pair "$(ns_name a)" "$(ns_name b)" 10.77.6
node_start "$NS_A" 3001 node -i "$DEV_A"

# assert_jq DESC JSON EXPR: the jq expression is true on the JSON.
assert_jq()
{
	jq -e "$3" >/dev/null 2>&1 <<<"$2" || fail "$1: '$3' is not true on: $(head -c 2000 <<<"$2")"
	log "ok: $1"
}

# assert_error METHOD PATH CODE [WORD]: the request fails with CODE and the JSON error
# body {"error":{"code":CODE,"message":"..."}}, whose message names WORD.
assert_error()
{
	local method=$1 path=$2 code=$3 word=${4:-} got body
	got=$(http_code "$NS_A" "$method" "$path")
	body=$(cat "$E2E_DIR/body")
	assert_eq "$method $path status" "$code" "$got"
	assert_jq "$method $path error body" "$body" \
		"(.error.code == $code) and (.error.message | type == \"string\" and length > 0)"
	if [ -n "$word" ]; then
		jq -e --arg w "$word" '.error.message | contains($w)' >/dev/null <<<"$body" ||
			fail "$method $path: error message does not name '$word': $body"
		log "ok: $method $path error names '$word'"
	fi
}

# --- traffic so that /api/live has several connections -----------------------------
ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6000 12 >"$E2E_DIR/sink.log" 2>&1 &
SINK=$!
track_pid $SINK
wait_listen "$NS_A" udp 6000
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP_A" 6000 7 20 --sport 7001 >/dev/null
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP_A" 6000 3 20 --sport 7002 >/dev/null
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP_A" 6000 2 20 --sport 7003 >/dev/null
wait "$SINK" || fail "udp-sink failed"
poll_jq "$NS_A" "/api/live" '[.connections[] | select(.protocol == "udp")] | length == 3' \
	"three UDP flows on /api/live"

# --- /api/health ----------------------------------------------------------------------
H=$(api "$NS_A" /api/health)
assert_jq "/api/health status" "$H" '.status == "ok"'
for k in uptime_seconds active_connections total_packets total_bytes; do
	assert_jq "/api/health .$k is a number" "$H" ".$k | type == \"number\""
done
assert_jq "/api/health counts" "$H" '.active_connections == 3 and .total_packets == 12 and .total_bytes == 12 * 48'
CT=$(ip netns exec "$NS_A" curl -s -m 5 -o /dev/null -w '%{content_type}' "$NODE_URL/api/health")
[[ "$CT" == application/json* ]] || fail "/api/health Content-Type is '$CT', want application/json"

# --- /api/stats -----------------------------------------------------------------------
S=$(api "$NS_A" /api/stats)
for k in uptime_seconds total_packets total_bytes active_connections packets_per_second \
	bytes_per_second; do
	assert_jq "/api/stats .$k is a number" "$S" ".$k | type == \"number\""
done
for r in unparsable flow_map_full ipv6_disabled; do
	assert_jq "/api/stats .lost_packets.$r is a number" "$S" ".lost_packets.$r | type == \"number\""
done
assert_jq "/api/stats lost_packets: every reason a number" "$S" \
	'.lost_packets | (type == "object") and ([.[] | type == "number"] | all)'
assert_jq "/api/stats counts" "$S" '.total_packets == 12 and .total_bytes == 576 and .active_connections == 3'
assert_jq "/api/stats .runtime is an object" "$S" '.runtime | type == "object"'
assert_jq "/api/stats .runtime.port" "$S" '.runtime.port == 3001'
assert_jq "/api/stats .runtime.enable_ipv6" "$S" '.runtime.enable_ipv6 == false'

# --- /api/live --------------------------------------------------------------------------
L=$(api "$NS_A" /api/live)
assert_jq "/api/live shape" "$L" \
	'(.connections | type == "array") and (.total_packets == 12) and (.total_bytes == 576)'
assert_jq "/api/live sorted by packets, most first" "$L" \
	'[.connections[].stats.packets_count] as $p | $p == ($p | sort | reverse)'
assert_jq "/api/live first connection is the 7-packet flow" "$L" \
	'.connections[0].src_port == 7001 and .connections[0].stats.packets_count == 7'
assert_jq "/api/live connection field types" "$L" '
	.connections | all(
		(.connection | type == "string") and (.protocol | type == "string") and
		(.ip_version | type == "number") and (.src_ip | type == "string") and
		(.src_port | type == "number") and (.dst_ip | type == "string") and
		(.dst_port | type == "number") and (.first_seen | type == "number") and
		(.last_seen | type == "number") and (.tcp_flags | type == "string") and
		(.domain == null) and (.node | type == "string") and
		(.interface | type == "string") and
		(.stats | (.packets_count, .packets_sent, .packets_received, .bytes_sent,
			.bytes_received) | type == "number"))'
assert_jq "/api/live UDP connection string" "$L" \
	"[.connections[] | select(.src_port == 7002)][0].connection == \"$IP_B:7002 -> $IP_A:6000\""
assert_jq "/api/live?limit=1 returns 1" "$(api "$NS_A" '/api/live?limit=1')" '.connections | length == 1'
assert_jq "/api/live?limit=2 returns 2" "$(api "$NS_A" '/api/live?limit=2')" '.connections | length == 2'
assert_jq "/api/live?limit=1000 returns all" "$(api "$NS_A" '/api/live?limit=1000')" \
	'[.connections[] | select(.protocol == "udp")] | length == 3'

# --- errors -----------------------------------------------------------------------------
assert_error GET '/api/live?limit=abc' 400 limit
assert_error GET '/api/live?limit=5000' 400 limit
assert_error GET '/api/live?limit=-1' 400 limit
assert_error GET /nope 404
assert_error POST /api/live 405
assert_error DELETE /api/health 405

# --- /metrics -----------------------------------------------------------------------------
M=$(api "$NS_A" /metrics)
echo "$M" >"$E2E_DIR/metrics.txt"
promtool check metrics <"$E2E_DIR/metrics.txt" >"$E2E_DIR/promtool.log" 2>&1 ||
	fail "promtool check metrics: $(cat "$E2E_DIR/promtool.log")"
log "ok: promtool check metrics"
for name in ayaflow_packets_total ayaflow_bytes_total ayaflow_active_connections \
	ayaflow_lost_packets_total ayaflow_flow_map_entries ayaflow_build_info; do
	grep -q "^${name}[{ ]" <<<"$M" || fail "/metrics lacks $name"
done
grep -q '^process_' <<<"$M" || fail "/metrics lacks process_* metrics"
assert_eq "ayaflow_packets_total{ingress,udp}" 12 \
	"$(metric "$M" ayaflow_packets_total 'direction="ingress"' 'protocol="udp"')"
assert_eq "ayaflow_bytes_total{ingress,udp}" 576 \
	"$(metric "$M" ayaflow_bytes_total 'direction="ingress"' 'protocol="udp"')"
assert_eq "ayaflow_active_connections" 3 "$(metric "$M" ayaflow_active_connections)"
assert_eq "ayaflow_flow_map_entries" 3 "$(metric "$M" ayaflow_flow_map_entries)"
assert_eq "ayaflow_build_info" 1 "$(metric "$M" ayaflow_build_info 'version="')"
node_stop "$NODE_PID" TERM
assert_eq "node exit status" 0 "$NODE_RC"

# --- allowlist ----------------------------------------------------------------------------
NODE_WAIT=http node_start "$NS_A" 3002 node_deny -i "$DEV_A" --allowed-ips 10.99.0.0/16
assert_error GET /api/health 403
assert_error GET /metrics 403
node_stop "$NODE_PID" TERM

node_start "$NS_A" 3003 node_allow -i "$DEV_A" --allowed-ips 127.0.0.1/32
assert_eq "GET /api/health from an allowed address" 200 "$(http_code "$NS_A" GET /api/health)"
node_stop "$NODE_PID" TERM
