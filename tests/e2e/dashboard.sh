#!/usr/bin/env bash
# dashboard.sh - the collector's dashboard page (GET /) in headless Chromium: it loads
# without console errors, its header shows the same totals as /api/stats, its nodes
# table lists the node, its charts are fed by the WebSocket /api/stream, and the history
# filter protocol=udp shows only UDP rows. Keeps a screenshot as a test artifact.
#
# One node (namespace A, watching veth "va" to B) streams to a collector in namespace C
# (cluster.sh). Chromium runs inside C, next to the collector, driven over the DevTools
# protocol by dashboard_cdp.mjs (Node.js; Debian's chromium, no browser download). Known
# workload while the page is open: UDP both ways, one TCP transfer, ICMP.
#
# Environment (tests.cmake): besides lib.sh's and cluster.sh's, AYAFLOW_ARTIFACTS, the
# folder the screenshot dashboard.png is written to.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
require_tools chromium node

ARTIFACTS=${AYAFLOW_ARTIFACTS:-/tmp/ayaflow-artifacts}
mkdir -p "$ARTIFACTS"
SCREENSHOT="$ARTIFACTS/dashboard.png"
rm -f "$SCREENSHOT"

PORT=3001
ns_pair "$(ns_name a)" "$(ns_name b)" 10.83.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.83.101
NODE_NAME=e2e-dash-$E2E_ID

collector_start collector "$E2E_DIR/dash.db" --connection-timeout 3600
node_start "$NS_A" "$PORT" node -i va --aggregation-window 1 --connection-timeout 3600 \
	--closed-timeout 3600 --node-name "$NODE_NAME" --collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT"
NODE1_PID=$NODE_PID
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node connected"

# --- the page is served from the binary ------------------------------------------------
for path in / /index.html /app.js /style.css; do
	code=$(ip netns exec "$HUB_NS" curl -sS -m 5 -o "$E2E_DIR/asset" -D "$E2E_DIR/headers" \
		-w '%{http_code} %{content_type}' "$COLLECTOR_URL$path")
	case $path in
	*.js) want="200 text/javascript; charset=utf-8" ;;
	*.css) want="200 text/css; charset=utf-8" ;;
	*) want="200 text/html; charset=utf-8" ;;
	esac
	assert_eq "GET $path status and type" "$want" "$code"
	grep -qi "^content-security-policy: default-src 'none'" "$E2E_DIR/headers" ||
		fail "GET $path: no Content-Security-Policy header"
	grep -qi '^cache-control: no-store' "$E2E_DIR/headers" || fail "GET $path: no Cache-Control: no-store"
done
assert_eq "GET /nosuch.js status" 404 \
	"$(ip netns exec "$HUB_NS" curl -sS -m 5 -o /dev/null -w '%{http_code}' "$COLLECTOR_URL/nosuch.js")"
assert_eq "POST / status" 405 \
	"$(ip netns exec "$HUB_NS" curl -sS -m 5 -o /dev/null -w '%{http_code}' -X POST "$COLLECTOR_URL/")"
WEB_DIR="$(dirname "$0")/../../collector/web"
ext=$(grep -Eho "https?://[^\"' )]*" "$WEB_DIR/index.html" "$WEB_DIR/app.js" "$WEB_DIR/style.css" |
	grep -v '^http://www.w3.org/2000/svg$' || true)
assert_eq "URLs outside the collector in collector/web/ (the page must work offline)" "" "$ext"

# --- is /api/stream there yet? ---------------------------------------------------------
STREAM_EXPECTED=0
code=$(ip netns exec "$HUB_NS" curl -sS -m 3 -o /dev/null -w '%{http_code}' \
	-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
	-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$COLLECTOR_URL/api/stream" 2>/dev/null) || true
if [ "$code" = 101 ]; then
	STREAM_EXPECTED=1
	log "/api/stream answers 101: the charts must be fed by the stream"
else
	log "NOTE: /api/stream is not available (HTTP $code): the page falls back to polling"
	log "NOTE: /api/stats; the stream assertions are replaced by polling ones"
fi

# --- the browser -----------------------------------------------------------------------
ip netns exec "$HUB_NS" env DASHBOARD_URL="$COLLECTOR_URL/" CHROMIUM="$(command -v chromium)" \
	SCREENSHOT="$E2E_DIR/dashboard.png" READY_FILE="$E2E_DIR/ready" \
	SETTLED_FILE="$E2E_DIR/settled.json" STREAM_EXPECTED="$STREAM_EXPECTED" \
	PROFILE_DIR="$E2E_DIR/chromium-profile" CHROMIUM_LOG="$E2E_DIR/chromium.txt" \
	node "$(dirname "$0")/dashboard_cdp.mjs" >"$E2E_DIR/result.json" 2>"$E2E_DIR/driver.log" &
DRIVER_PID=$!
track_pid "$DRIVER_PID"
wait_for "the page open with live data (driver.log)" \
	"[ -f '$E2E_DIR/ready' ] || ! kill -0 $DRIVER_PID" 60
[ -f "$E2E_DIR/ready" ] || fail "the browser driver stopped before the page was live (driver.log)"

# --- known workload, while the page is open --------------------------------------------
CLIENTS=()
ip netns exec "$NS_A" "$TRAFFICGEN" tcp-server 5301 --count 1 >"$E2E_DIR/tcp-server.log" 2>&1 &
SERVER_PID=$!
track_pid "$SERVER_PID"
wait_listen "$NS_A" tcp 5301
ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6301 60 --timeout 60 >"$E2E_DIR/sink1.log" 2>&1 &
SINK1_PID=$!
track_pid "$SINK1_PID"
ip netns exec "$NS_B" "$TRAFFICGEN" udp-sink 6302 25 --timeout 60 >"$E2E_DIR/sink2.log" 2>&1 &
SINK2_PID=$!
track_pid "$SINK2_PID"
wait_listen "$NS_A" udp 6301
wait_listen "$NS_B" udp 6302
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP_A" 6301 60 900 --sport 7301 --interval-us 150000 \
	>>"$E2E_DIR/clients.log" 2>&1 &
CLIENTS+=($!)
nsx "$NS_A" "$TRAFFICGEN" udp-send "$IP_B" 6302 25 200 --sport 7302 --interval-us 300000 \
	>>"$E2E_DIR/clients.log" 2>&1 &
CLIENTS+=($!)
nsx "$NS_B" ping -c 12 -s 56 -i 0.5 -q "$IP_A" >>"$E2E_DIR/clients.log" 2>&1 &
CLIENTS+=($!)
sleep 3 # the TCP transfer in the middle of the run: a visible step in the charts
nsx "$NS_B" "$TRAFFICGEN" tcp-client "$IP_A" 5301 300000 40000 --sport 41301 \
	>>"$E2E_DIR/clients.log" 2>&1 &
CLIENTS+=($!)
for p in "${CLIENTS[@]}"; do track_pid "$p"; done
for p in "${CLIENTS[@]}" "$SERVER_PID"; do
	wait "$p" || fail "a client or server of the workload failed (see clients.log)"
	untrack_pid "$p"
done
for p in "$SINK1_PID" "$SINK2_PID"; do
	wait "$p" || fail "a udp-sink failed"
	untrack_pid "$p"
done
assert_eq "udp-sink :6301 received" "received 60" "$(tail -n 1 "$E2E_DIR/sink1.log")"
assert_eq "udp-sink :6302 received" "received 25" "$(tail -n 1 "$E2E_DIR/sink2.log")"
# Every TCP connection of the workload has finished its closing handshake (the node's
# own connection to the collector, on the x1 link, does not count).
for ns in "$NS_A" "$NS_B"; do
	wait_for "TCP closed in $ns" \
		"[ -z \"\$(ip netns exec $ns ss -Htan state connected exclude time-wait dst 10.83.1.0/24)\" ]"
done

# --- settled: the totals the page must show ----------------------------------------------
node_settled "$NS_A" "$NODE_NAME" >/dev/null
STATS=$(capi /api/stats)
echo "$STATS" | jq . >"$E2E_DIR/collector-stats.json"
jq -c '{total_packets, total_bytes}' <<<"$STATS" >"$E2E_DIR/settled.tmp"
mv "$E2E_DIR/settled.tmp" "$E2E_DIR/settled.json"
log "settled: $(cat "$E2E_DIR/settled.json")"

rc=0
wait "$DRIVER_PID" || rc=$?
untrack_pid "$DRIVER_PID"
R=$(cat "$E2E_DIR/result.json")
[ -n "$R" ] || fail "the browser driver printed nothing (driver.log)"
jq . <<<"$R" >"$E2E_DIR/result-pretty.json"
[ "$rc" = 0 ] || fail "browser driver: $(jq -r '.failure // "exit status '"$rc"'"' <<<"$R")"
cp "$E2E_DIR/dashboard.png" "$SCREENSHOT"

# --- assertions --------------------------------------------------------------------------
assert_eq "page title" "ayaflow · cluster flows" "$(jq -r .title <<<"$R")"
assert_eq "uncaught exceptions in the page" "[]" "$(jq -c .exceptions <<<"$R")"
if [ "$STREAM_EXPECTED" = 1 ]; then
	assert_eq "console errors and warnings" "[]" "$(jq -c .console <<<"$R")"
else
	# Without /api/stream the browser itself reports each failed WebSocket handshake.
	other=$(jq -c '[.console[] | select(.text | test("WebSocket connection to .*/api/stream") | not)]' <<<"$R")
	assert_eq "console errors and warnings (besides the failing /api/stream handshakes)" "[]" "$other"
	log "NOTE: $(jq '.console | length' <<<"$R") console messages about /api/stream not existing yet were tolerated"
fi

assert_eq "header packets (data-value) = /api/stats total_packets" \
	"$(jq .total_packets <<<"$STATS")" "$(jq -r .header.packets <<<"$R")"
assert_eq "header bytes (data-value) = /api/stats total_bytes" \
	"$(jq .total_bytes <<<"$STATS")" "$(jq -r .header.bytes <<<"$R")"
log "header shows: $(jq -r '.header.packets_text + " packets, " + .header.bytes_text' <<<"$R")"
assert_eq "header lost packets = /api/stats loss ledger" \
	"$(jq '[.lost_packets[]] | add' <<<"$STATS")" "$(jq -r .header.lost <<<"$R")"
assert_eq "header nodes connected" "$(jq .nodes_connected <<<"$STATS")" "$(jq -r .header.nodes <<<"$R")"
assert_eq "header nodes total" "$(jq '.nodes | length' <<<"$STATS")" "$(jq -r .header.nodes_total <<<"$R")"
assert_eq "nodes table: the node, connected" "[{\"name\":\"$NODE_NAME\",\"connected\":true}]" \
	"$(jq -c '[.nodes[] | {name, connected}]' <<<"$R")"
[ "$(jq .top_rows <<<"$R")" -ge 4 ] || fail "top connections: $(jq .top_rows <<<"$R") rows, want the 4 connections"

if [ "$STREAM_EXPECTED" = 1 ]; then
	assert_eq "chart source" stream "$(jq -r .live_end.source <<<"$R")"
	[ "$(jq .live_start.streamMessages <<<"$R")" -ge 3 ] ||
		fail "the charts took $(jq .live_start.streamMessages <<<"$R") stream messages before the workload, want >= 3"
	[ "$(jq .live_delta.streamMessages <<<"$R")" -ge 2 ] ||
		fail "the charts took $(jq .live_delta.streamMessages <<<"$R") stream messages in 3 s, want >= 2"
	# (the first /api/stats answer may draw the first point, before the stream is open)
	assert_eq "chart updates by polling while the stream ran" 0 "$(jq .live_delta.pollUpdates <<<"$R")"
	log "ok: charts fed by /api/stream ($(jq .final.streamMessages <<<"$R") messages)"
else
	assert_eq "chart source (no stream yet)" poll "$(jq -r .live_end.source <<<"$R")"
	[ "$(jq .live_delta.pollUpdates <<<"$R")" -ge 2 ] ||
		fail "the charts took $(jq .live_delta.pollUpdates <<<"$R") polled updates in 3 s, want >= 2"
	log "NOTE: charts fed by polling /api/stats ($(jq .final.pollUpdates <<<"$R") updates): /api/stream does not exist yet"
fi
[ "$(jq .live_end.canvas_points <<<"$R")" -ge 10 ] ||
	fail "the packets/s chart drew $(jq .live_end.canvas_points <<<"$R") points, want one a second (>= 10)"

# History filter protocol=udp: only UDP rows, as many as the API has for the same query.
Q=$(jq -r .history_udp.query <<<"$R")
H=$(capi "$Q") || fail "GET $Q failed"
[ "$(jq .total <<<"$H")" -gt 0 ] || fail "$Q: no UDP rows in the history"
assert_eq "history UDP rows: protocols" '["udp"]' "$(jq -c '.history_udp.protocols | unique' <<<"$R")"
assert_eq "history UDP rows: count = the API's page" "$(jq .returned <<<"$H")" \
	"$(jq '.history_udp.protocols | length' <<<"$R")"
assert_eq "history UDP total = the API's" "$(jq .total <<<"$H")" "$(jq -r .history_udp.total <<<"$R")"
assert_eq "history without filter: every protocol of the workload" '["icmp","tcp","udp"]' \
	"$(jq -c .history_all_protocols <<<"$R")"

assert_eq "screenshot: PNG signature" "89 50 4e 47 0d 0a 1a 0a" "$(od -An -tx1 -N8 "$SCREENSHOT" | xargs)"
assert_eq "screenshot: width" "0 0 6 64" "$(od -An -tu1 -j16 -N4 "$SCREENSHOT" | xargs)" # 1600
log "screenshot: $SCREENSHOT"

# --- clean stop, sanitizer reports -------------------------------------------------------
node_stop "$NODE1_PID"
assert_eq "node exit status" 0 "$NODE_RC"
untrack_pid "$NODE1_PID"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
