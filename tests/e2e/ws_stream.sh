#!/usr/bin/env bash
# ws_stream.sh - the WebSocket /api/stream of node and collector (RFC 6455 on the API
# port), driven by tests/e2e/wsclient (its own socket and handshake; frames from
# lib/ws.c): well-formed messages a second apart that agree with /api/stats, ping/pong,
# the closing handshake, 100 clients at once, a client killed mid-stream, the allowlist
# (403 before upgrading), a plain GET (400 JSON error), `ayaflowctl watch` on the stream,
# the stream gauges on /metrics, and a clean SIGTERM exit with clients still connected.
#
# Node in A watches the pair A <-> B (UDP 5 x 20-byte datagrams, ICMP 2 echoes) and
# exports to the collector in the hub namespace (cluster.sh); the clients run next to
# each server, over loopback.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
: "${AYAFLOW_CLI:?AYAFLOW_CLI must name the ayaflowctl binary}"
: "${WSCLIENT:?WSCLIENT must name the wsclient binary}"
[ -x "$WSCLIENT" ] || fail "WSCLIENT=$WSCLIENT is not executable"

NODE_NAME=ws-node
NODE_PORT=3001

ns_pair "$(ns_name a)" "$(ns_name b)" 10.84.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.84.101
collector_start collector "$E2E_DIR/flows.db"
node_start "$NS_A" "$NODE_PORT" node -i "$DEV_A" \
	--collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT" --aggregation-window 1 \
	--node-name "$NODE_NAME"

# wsc_node / wsc_col ARGS...: wsclient against the node (in A) or the collector (hub).
wsc_node() { nsx "$NS_A" "$WSCLIENT" 127.0.0.1 "$NODE_PORT" "$@"; }
wsc_col() { nsx "$HUB_NS" "$WSCLIENT" 127.0.0.1 "$COLLECTOR_HTTP_PORT" "$@"; }
# wsc_bg WHO OUT ARGS...: the same in the background, output to OUT; sets WSC_PID to the
# wsclient process itself (ip netns exec execs it), so that kill -9 hits the client.
wsc_bg()
{
	local who=$1 out=$2
	shift 2
	if [ "$who" = node ]; then
		ip netns exec "$NS_A" "$WSCLIENT" 127.0.0.1 "$NODE_PORT" "$@" >"$out" 2>&1 &
	else
		ip netns exec "$HUB_NS" "$WSCLIENT" 127.0.0.1 "$COLLECTOR_HTTP_PORT" "$@" >"$out" 2>&1 &
	fi
	WSC_PID=$!
	track_pid "$WSC_PID"
}

# check_messages FILE KIND: FILE holds >= 3 messages (one per line) of a node or a
# collector: every key with its type, nodes only on the collector, timestamps increasing
# at least 500 ms apart.
check_messages()
{
	local file=$1 kind=$2
	jq -s -e --arg kind "$kind" '
		length >= 3 and
		all(.[];
			(.timestamp | type) == "number" and
			(.active_connections | type) == "number" and
			(.total_packets | type) == "number" and
			(.total_bytes | type) == "number" and
			(.packets_per_second | type) == "number" and
			(.bytes_per_second | type) == "number" and
			(if $kind == "collector" then
				(.nodes | type) == "array" and
				all(.nodes[];
					(.name | type) == "string" and
					(.connected | type) == "boolean" and
					(.active_connections | type) == "number" and
					(.packets_per_second | type) == "number" and
					(.bytes_per_second | type) == "number")
			else (has("nodes") | not) end)) and
		([range(1; length) as $i | .[$i].timestamp - .[$i - 1].timestamp >= 500] | all)' \
		"$file" >/dev/null || fail "$kind stream messages are not well-formed: $(cat "$file")"
	log "ok: $kind: $(wc -l <"$file") well-formed messages, >= 500 ms apart"
}

# --- known traffic, then wait until the collector holds all of it -----------------------
ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6000 5 >"$E2E_DIR/sink.log" 2>&1 &
SINK=$!
track_pid $SINK
wait_listen "$NS_A" udp 6000
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP_A" 6000 5 20 --sport 7001 >/dev/null
wait "$SINK" || fail "udp-sink failed"
untrack_pid $SINK
nsx "$NS_B" ping -c 2 -i 0.2 -q "$IP_A" >/dev/null || fail "ping failed"
STATS=$(node_settled "$NS_A" "$NODE_NAME")
NODE_TOTAL=$(jq .total_packets <<<"$STATS")
[ "$NODE_TOTAL" -ge 9 ] || fail "the node counted $NODE_TOTAL packets, expected at least 9"

# --- (a) messages a second apart, consistent with /api/stats ----------------------------
wsc_node recv 3 >"$E2E_DIR/node_msgs" || fail "node: wsclient recv 3 failed"
check_messages "$E2E_DIR/node_msgs" node
assert_eq "node stream total_packets = /api/stats" "$(jq .total_packets <<<"$(api "$NS_A" /api/stats)")" \
	"$(tail -n 1 "$E2E_DIR/node_msgs" | jq .total_packets)"
assert_eq "node stream total_bytes = /api/stats" "$(jq .total_bytes <<<"$(api "$NS_A" /api/stats)")" \
	"$(tail -n 1 "$E2E_DIR/node_msgs" | jq .total_bytes)"

wsc_col recv 3 >"$E2E_DIR/col_msgs" || fail "collector: wsclient recv 3 failed"
check_messages "$E2E_DIR/col_msgs" collector
S=$(capi /api/stats)
LAST=$(tail -n 1 "$E2E_DIR/col_msgs")
assert_eq "collector stream total_packets = /api/stats" "$(jq .total_packets <<<"$S")" \
	"$(jq .total_packets <<<"$LAST")"
assert_eq "collector stream total_bytes = /api/stats" "$(jq .total_bytes <<<"$S")" \
	"$(jq .total_bytes <<<"$LAST")"
assert_eq "collector stream node" "$NODE_NAME true $NODE_TOTAL" \
	"$(jq -r '.nodes[0] | "\(.name) \(.connected) \(.packets)"' <<<"$LAST")"
assert_eq "collector stream nodes" 1 "$(jq '.nodes | length' <<<"$LAST")"

# --- (b) ping -> pong with the payload, (c) the closing handshake --------------------------
for who in node col; do
	assert_eq "$who: pong" "pong ping-$who-42" "$("wsc_$who" ping "ping-$who-42")"
	assert_eq "$who: close 1000 echoed" "close 1000" "$("wsc_$who" close 1000)"
	assert_eq "$who: close 4001 echoed" "close 4001" "$("wsc_$who" close 4001)"
done

# --- (g) a plain GET is a JSON error, (f) the allowlist refuses the upgrade ---------------
CODE=$(nsx "$HUB_NS" curl -sS -m 5 -o "$E2E_DIR/body" -w '%{http_code}' "$COLLECTOR_URL/api/stream")
assert_eq "collector: plain GET /api/stream" 400 "$CODE"
assert_eq "collector: plain GET error body" 400 "$(jq .error.code "$E2E_DIR/body")"
CODE=$(http_code "$NS_A" GET /api/stream)
assert_eq "node: plain GET /api/stream" 400 "$CODE"
assert_eq "node: plain GET error body" 400 "$(jq .error.code "$E2E_DIR/body")"

ip netns exec "$HUB_NS" "$AYAFLOW_COLLECTOR" --listen "tcp://127.0.0.1:7401" -p 3002 \
	--db-path "$E2E_DIR/allow.db" --allowed-ips 10.99.0.0/16 >"$E2E_DIR/collector_allow.log" 2>&1 &
ALLOW_PID=$!
track_pid $ALLOW_PID
wait_for "the allowlisted collector answers (403)" \
	"[ \"\$(ip netns exec $HUB_NS curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:3002/api/health)\" = 403 ]"
assert_eq "allowlist: upgrade refused" 403 \
	"$(nsx "$HUB_NS" "$WSCLIENT" 127.0.0.1 3002 status)"
kill -TERM $ALLOW_PID
RC=0
wait $ALLOW_PID || RC=$?
untrack_pid $ALLOW_PID
assert_eq "allowlisted collector exit status" 0 "$RC"

# --- (d) 100 clients at once, (e) a client that vanishes ---------------------------------
OUT=$(wsc_col many 100 2) || fail "collector: 100 clients: $OUT"
assert_eq "collector: 100 clients" "100 clients got 2 messages each" "$OUT"
OUT=$(wsc_node many 100 2) || fail "node: 100 clients: $OUT"
assert_eq "node: 100 clients" "100 clients got 2 messages each" "$OUT"

for who in node col; do
	wsc_bg "$who" "$E2E_DIR/hold_$who" hold
	HOLD=$WSC_PID
	wait_for "$who: held client upgraded" "grep -q upgraded '$E2E_DIR/hold_$who'"
	wsc_bg "$who" "$E2E_DIR/after_kill_$who" recv 3
	RECV=$WSC_PID
	sleep 0.5
	kill -KILL $HOLD
	wait $HOLD 2>/dev/null || true
	untrack_pid $HOLD
	RC=0
	wait $RECV || RC=$?
	untrack_pid $RECV
	assert_eq "$who: another client unaffected by a killed one" 0 "$RC"
	[ "$(wc -l <"$E2E_DIR/after_kill_$who")" = 3 ] || fail "$who: not 3 messages after the kill"
done
api "$NS_A" /api/health >/dev/null || fail "node unhealthy after a client vanished"
capi /api/health >/dev/null || fail "collector unhealthy after a client vanished"
wait_for "collector: stream clients back to 0" \
	"[ \"\$(metric \"\$(capi /metrics)\" ayaflow_http_stream_clients)\" = 0 ]"
wait_for "node: stream clients back to 0" \
	"[ \"\$(metric \"\$(api $NS_A /metrics)\" ayaflow_http_stream_clients)\" = 0 ]"
log "ok: the killed clients were dropped"

# --- (h) ayaflowctl watch follows the stream ------------------------------------------------
ctl()
{
	ip netns exec "$HUB_NS" env -u AYAFLOW_COLLECTOR -u AYAFLOW_TOKEN COLUMNS=250 \
		"$AYAFLOW_CLI" --collector "$COLLECTOR_URL" "$@" 2>"$E2E_DIR/ctl_err"
}
M0=$(metric "$(capi /metrics)" ayaflow_http_stream_messages_total)
OUT=$(ctl -o json watch --count 3) || fail "ayaflowctl -o json watch: $(cat "$E2E_DIR/ctl_err")"
[ ! -s "$E2E_DIR/ctl_err" ] || fail "ayaflowctl watch wrote to stderr: $(cat "$E2E_DIR/ctl_err")"
echo "$OUT" >"$E2E_DIR/watch_msgs"
check_messages "$E2E_DIR/watch_msgs" collector
assert_eq "watch -o json: the stream's messages (timestamp and nodes)" "true
true
true" "$(jq -c 'has("timestamp") and (.nodes | length) == 1' <<<"$OUT")"
M1=$(metric "$(capi /metrics)" ayaflow_http_stream_messages_total)
[ "$((M1 - M0))" -ge 3 ] || fail "watch: messages_total went from $M0 to $M1 only"
OUT=$(ctl watch --count 3) || fail "ayaflowctl watch: $(cat "$E2E_DIR/ctl_err")"
assert_eq "watch --count 3: updates" 3 "$(grep -c '^UPTIME ' <<<"$OUT")"
assert_eq "watch --count 3: node rows" 3 "$(grep -c "^$NODE_NAME " <<<"$OUT")"
log "ok: ayaflowctl watch used /api/stream"

# --- the gauges on both /metrics --------------------------------------------------------------
for body in "$(capi /metrics)" "$(api "$NS_A" /metrics)"; do
	grep -q '^# TYPE ayaflow_http_stream_clients gauge$' <<<"$body" || fail "no ayaflow_http_stream_clients gauge"
	grep -q '^# TYPE ayaflow_http_stream_messages_total counter$' <<<"$body" || fail "no messages counter"
	[ "$(metric "$body" ayaflow_http_stream_messages_total)" -gt 100 ] || fail "messages_total too low"
done
log "ok: stream metrics on both /metrics"

# --- SIGTERM with clients connected: both exit 0 promptly ------------------------------------
for who in node col; do
	wsc_bg "$who" "$E2E_DIR/final_$who" hold
	wait_for "$who: a client held for the shutdown" "grep -q upgraded '$E2E_DIR/final_$who'"
done
T0=$SECONDS
node_stop "$NODE_PID"
untrack_pid "$NODE_PID"
assert_eq "node exit status with a stream client" 0 "$NODE_RC"
collector_stop TERM
assert_eq "collector exit status with a stream client" 0 "$COLLECTOR_RC"
[ $((SECONDS - T0)) -le 15 ] || fail "stopping took $((SECONDS - T0)) s"
log "ok: both stopped in $((SECONDS - T0)) s with clients connected"
check_sanitizer_logs
