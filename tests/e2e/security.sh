#!/usr/bin/env bash
# security.sh - mutual TLS between node and collector, the API bearer token and the HTTP
# idle-connection timeout.
#
# Namespaces: pair A <-> B (traffic on va), a hub C running the collector, linked to A
# (x1) and to B (x2). A CA and certificates come from scripts/make-test-ca.sh in the
# work directory; a second CA ("other") makes a node certificate the collector must refuse.
#  TLS:   collector --listen tls+tcp://HUB:7400 with its certificate. Node A (valid
#         certificate) exports, and the collector's history equals its counters exactly;
#         node B (certificate of the other CA) never connects; a node with a tls+tcp://
#         collector but without certificate files exits 2 naming them; a plain tcp://
#         node against the TLS listener never connects.
#  Token: collector and node with --api-token-file: 401 + WWW-Authenticate + the JSON
#         error without or with a wrong token, 200 with it (/api/stats, /metrics, the
#         /api/stream upgrade: 101), /api/health open only with --api-health-open;
#         ayaflowctl --token works, and without it exits 2 naming the 401.
#  Idle:  with AYAFLOW_HTTP_TIMEOUT_S=2 a client that connects and sends nothing is
#         disconnected after about 2 s while other clients are served; a POST to a GET
#         route is 405.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
require_tools openssl
: "${AYAFLOW_CLI:?AYAFLOW_CLI must name the ayaflowctl binary}"

PORT=3001
WINDOW=1
SRC=$(cd "$(dirname "$0")/../.." && pwd)

# --- namespaces and certificates --------------------------------------------------------
ns_pair "$(ns_name a)" "$(ns_name b)" 10.83.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.83.101
HUB_IP1=$HUB_IP
hub_link "$NS_B" 2 10.83.102
HUB_IP2=$HUB_IP

PKI=$E2E_DIR/pki
sh "$SRC/scripts/make-test-ca.sh" "$PKI" --collector-name "$HUB_IP1" \
	--collector-name "$HUB_IP2" --collector-name collector.test --node nodea --node nodeb >/dev/null
sh "$SRC/scripts/make-test-ca.sh" "$PKI/other" --node nodeb >/dev/null
[ -s "$PKI/collector.crt" ] && [ -s "$PKI/nodea.key" ] && [ -s "$PKI/other/nodeb.crt" ] ||
	fail "make-test-ca.sh did not write the certificates"

# --- TLS --------------------------------------------------------------------------------
# The collector listens on TLS only (collector_start's tcp:// listener is on another port).
# shellcheck disable=SC2034 # read by collector_start (cluster.sh)
COLLECTOR_INGEST_PORT=7410
TLS_PORT=7411
TLS_URL1="tls+tcp://$HUB_IP1:$TLS_PORT"
TLS_URL2="tls+tcp://$HUB_IP2:$TLS_PORT"
collector_start collector "$E2E_DIR/history.db" --connection-timeout 3600 \
	--listen "tls+tcp://0.0.0.0:$TLS_PORT" \
	--tls-ca "$PKI/ca.crt" --tls-cert "$PKI/collector.crt" --tls-key "$PKI/collector.key"

NA=e2e-sa-$E2E_ID
NB=e2e-sb-$E2E_ID
NP=e2e-sp-$E2E_ID
node_start "$NS_A" "$PORT" nodea -i va --aggregation-window "$WINDOW" --node-name "$NA" \
	--connection-timeout 3600 --closed-timeout 3600 --collector "$TLS_URL1" \
	--tls-ca "$PKI/ca.crt" --tls-cert "$PKI/nodea.crt" --tls-key "$PKI/nodea.key"
NODEA_PID=$NODE_PID
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' \
	"node A connected over TLS"

node_start "$NS_B" "$PORT" nodeb -i vb --aggregation-window "$WINDOW" --node-name "$NB" \
	--collector "$TLS_URL2" \
	--tls-ca "$PKI/ca.crt" --tls-cert "$PKI/other/nodeb.crt" --tls-key "$PKI/other/nodeb.key"
NODEB_PID=$NODE_PID

# Workload on the watched pair, in both directions.
nsx "$NS_B" ping -c 6 -i 0.2 -q "$IP_A" >/dev/null
nsx "$NS_A" ping -c 4 -i 0.2 -q "$IP_B" >/dev/null

STATS_A=$(node_settled "$NS_A" "$NA")
HIST=$(history_all "node=$NA" 50)
assert_eq "node A: history packet_count = node total_packets" \
	"$(jq .total_packets <<<"$STATS_A")" "$(hsum "$HIST" packet_count)"
assert_eq "node A: history length = node total_bytes" \
	"$(jq .total_bytes <<<"$STATS_A")" "$(hsum "$HIST" length)"
[ "$(jq .total_packets <<<"$STATS_A")" -ge 20 ] || fail "node A saw too few packets"

# Node B: batches made, none acknowledged, never connected, unknown to the collector.
sleep 3
STATS_B=$(api "$NS_B" /api/stats)
assert_eq "node B (other CA): connected" false "$(jq .export.connected <<<"$STATS_B")"
assert_eq "node B (other CA): batches acknowledged" 0 "$(jq .export.batches_acked <<<"$STATS_B")"
[ "$(jq .export.batches_sent <<<"$STATS_B")" -ge 1 ] || fail "node B sent no batch (test is void)"
assert_eq "collector /api/nodes lacks node B" 0 \
	"$(capi /api/nodes | jq --arg n "$NB" '[.nodes[] | select(.name == $n)] | length')"
node_stop "$NODEB_PID"
untrack_pid "$NODEB_PID"

# A plain tcp:// node against the TLS listener: never connected.
node_start "$NS_B" "$PORT" nodeplain -i vb --aggregation-window "$WINDOW" --node-name "$NP" \
	--collector "tcp://$HUB_IP2:$TLS_PORT"
NODEP_PID=$NODE_PID
nsx "$NS_B" ping -c 3 -i 0.2 -q "$IP_A" >/dev/null
sleep 3
STATS_P=$(api "$NS_B" /api/stats)
assert_eq "plain tcp:// node: connected" false "$(jq .export.connected <<<"$STATS_P")"
assert_eq "plain tcp:// node: batches acknowledged" 0 "$(jq .export.batches_acked <<<"$STATS_P")"
assert_eq "collector /api/nodes lacks the plain node" 0 \
	"$(capi /api/nodes | jq --arg n "$NP" '[.nodes[] | select(.name == $n)] | length')"
node_stop "$NODEP_PID"
untrack_pid "$NODEP_PID"

# Node C: a tls+tcp:// collector without certificate files is a config error.
rc=0
"$AYAFLOW_NODE" --collector "$TLS_URL1" --tls-ca "$PKI/ca.crt" >"$E2E_DIR/nodec.log" 2>&1 || rc=$?
assert_eq "node without client certificate files: exit status" 2 "$rc"
grep -q -- "--tls-cert --tls-key" "$E2E_DIR/nodec.log" ||
	fail "node C's error does not name the missing files: $(cat "$E2E_DIR/nodec.log")"
rc=0
"$AYAFLOW_COLLECTOR" --listen "tls+tcp://127.0.0.1:1" --db-path "$E2E_DIR/x.db" \
	>"$E2E_DIR/colc.log" 2>&1 || rc=$?
assert_eq "collector tls+tcp:// without files: exit status" 2 "$rc"
grep -q -- "--tls-ca --tls-cert --tls-key" "$E2E_DIR/colc.log" ||
	fail "collector's error does not name the missing files: $(cat "$E2E_DIR/colc.log")"
node_stop "$NODEA_PID"
untrack_pid "$NODEA_PID"
collector_stop
log "TLS: ok"

# --- API token ----------------------------------------------------------------------------
TOKEN=tok-$E2E_ID-$RANDOM$RANDOM
printf '%s\n' "$TOKEN" >"$E2E_DIR/token"
: >"$E2E_DIR/empty-token"
rc=0
"$AYAFLOW_COLLECTOR" --api-token-file "$E2E_DIR/empty-token" --db-path "$E2E_DIR/y.db" \
	>"$E2E_DIR/colempty.log" 2>&1 || rc=$?
assert_eq "collector with an empty token file: exit status" 2 "$rc"
grep -q "empty token file" "$E2E_DIR/colempty.log" || fail "no 'empty token file' message"
rc=0
"$AYAFLOW_NODE" --api-token-file "$E2E_DIR/missing-token" >"$E2E_DIR/nodemissing.log" 2>&1 || rc=$?
assert_eq "node with a missing token file: exit status" 2 "$rc"

TPORT=3002
ip netns exec "$HUB_NS" env AYAFLOW_HTTP_TIMEOUT_S=2 "$AYAFLOW_COLLECTOR" \
	--listen "tcp://127.0.0.1:7412" -p "$TPORT" --db-path "$E2E_DIR/token.db" \
	--api-token-file "$E2E_DIR/token" >>"$E2E_DIR/collector-token.log" 2>&1 &
TCOL_PID=$!
track_pid "$TCOL_PID"
wait_for "token collector answers" \
	"ip netns exec $HUB_NS curl -s -m 2 -o /dev/null http://127.0.0.1:$TPORT/api/health"

# code NS URL [curl args...]: the HTTP status; headers in $E2E_DIR/hdr, body in body.
code()
{
	local ns=$1 url=$2
	shift 2
	ip netns exec "$ns" curl -sS -m 5 -D "$E2E_DIR/hdr" -o "$E2E_DIR/body" \
		-w '%{http_code}' "$@" "$url" || true
}

# check_token NS BASE HEALTH_OPEN: the token rules on one server.
check_token()
{
	local ns=$1 base=$2 health_open=$3 path c
	for path in /api/stats /metrics /api/health; do
		[ "$path" = /api/health ] && [ "$health_open" = 1 ] && continue
		c=$(code "$ns" "$base$path")
		assert_eq "$base$path without token" 401 "$c"
		grep -qi '^WWW-Authenticate: Bearer realm="ayaflow"' "$E2E_DIR/hdr" ||
			fail "$base$path: 401 without WWW-Authenticate: Bearer realm=\"ayaflow\""
		assert_eq "$base$path without token: JSON error" 401 "$(jq .error.code "$E2E_DIR/body")"
		c=$(code "$ns" "$base$path" -H "Authorization: Bearer wrong-$TOKEN")
		assert_eq "$base$path with a wrong token" 401 "$c"
		c=$(code "$ns" "$base$path" -H "Authorization: Bearer ${TOKEN}x")
		assert_eq "$base$path with the token plus a byte" 401 "$c"
		c=$(code "$ns" "$base$path" -H "Authorization: Bearer $TOKEN")
		assert_eq "$base$path with the token" 200 "$c"
	done
	if [ "$health_open" = 1 ]; then
		assert_eq "$base/api/health open" 200 "$(code "$ns" "$base/api/health")"
		assert_eq "$base/api/stats still closed" 401 "$(code "$ns" "$base/api/stats")"
	fi
	local ws=(-H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13"
		-H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
	assert_eq "$base/api/stream upgrade without token" 401 \
		"$(code "$ns" "$base/api/stream" -m 2 "${ws[@]}")"
	assert_eq "$base/api/stream upgrade with the token" 101 \
		"$(code "$ns" "$base/api/stream" -m 2 "${ws[@]}" -H "Authorization: Bearer $TOKEN")"
	assert_eq "$base/api/stream upgrade with ?ayaflow_token=" 101 \
		"$(code "$ns" "$base/api/stream?ayaflow_token=$TOKEN" -m 2 "${ws[@]}")"
	assert_eq "$base/api/stats with ?ayaflow_token= (only the stream takes it)" 401 \
		"$(code "$ns" "$base/api/stats?ayaflow_token=$TOKEN")"
}

check_token "$HUB_NS" "http://127.0.0.1:$TPORT" 0
# The dashboard page stays open.
assert_eq "collector / without token" 200 "$(code "$HUB_NS" "http://127.0.0.1:$TPORT/")"

# ayaflowctl
OUT=$(ip netns exec "$HUB_NS" "$AYAFLOW_CLI" --collector "http://127.0.0.1:$TPORT" --token "$TOKEN" \
	stats 2>&1) || fail "ayaflowctl --token stats failed: $OUT"
OUT=$(ip netns exec "$HUB_NS" env AYAFLOW_TOKEN="$TOKEN" "$AYAFLOW_CLI" \
	--collector "http://127.0.0.1:$TPORT" stats 2>&1) || fail "AYAFLOW_TOKEN stats failed: $OUT"
rc=0
OUT=$(ip netns exec "$HUB_NS" env -u AYAFLOW_TOKEN "$AYAFLOW_CLI" \
	--collector "http://127.0.0.1:$TPORT" stats 2>&1) || rc=$?
assert_eq "ayaflowctl without token: exit status" 2 "$rc"
grep -q "API token" <<<"$OUT" || fail "ayaflowctl without token does not report the 401: $OUT"

# --- idle connection timeout (AYAFLOW_HTTP_TIMEOUT_S=2) -------------------------------------
# An idle client: connect, send nothing, read until the server closes.
ip netns exec "$HUB_NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$TPORT || exit 3
	s=\$(date +%s%N); read -r -t 20 -u 3 _; rc=\$?; e=\$(date +%s%N)
	echo \$rc \$(( (e - s) / 1000000 ))" >"$E2E_DIR/idle.out" 2>&1 &
IDLE_PID=$!
track_pid "$IDLE_PID"
sleep 0.5
# Others are served meanwhile.
for i in 1 2 3; do
	assert_eq "served while a client idles ($i)" 200 \
		"$(code "$HUB_NS" "http://127.0.0.1:$TPORT/api/stats" -H "Authorization: Bearer $TOKEN")"
done
wait "$IDLE_PID" || true
untrack_pid "$IDLE_PID"
read -r IDLE_RC IDLE_MS <"$E2E_DIR/idle.out" || fail "idle client: $(cat "$E2E_DIR/idle.out")"
log "idle client: read rc $IDLE_RC after $IDLE_MS ms"
[ "$IDLE_RC" = 1 ] || fail "idle client was not disconnected (read rc $IDLE_RC; >128 = our timeout)"
[ "$IDLE_MS" -ge 1000 ] && [ "$IDLE_MS" -le 10000 ] ||
	fail "idle client disconnected after $IDLE_MS ms, expected about 2000"
assert_eq "POST /api/stats is 405" 405 \
	"$(code "$HUB_NS" "http://127.0.0.1:$TPORT/api/stats" -X POST -H "Authorization: Bearer $TOKEN")"
assert_eq "PUT / is 405" 405 "$(code "$HUB_NS" "http://127.0.0.1:$TPORT/" -X PUT)"
kill -TERM "$TCOL_PID"
wait "$TCOL_PID" || fail "token collector exited with $?"
untrack_pid "$TCOL_PID"

# The node: token with --api-health-open.
NODE_WAIT=http node_start "$NS_A" "$PORT" nodetoken -i va --api-token-file "$E2E_DIR/token" \
	--api-health-open
NODET_PID=$NODE_PID
check_token "$NS_A" "$NODE_URL" 1
node_stop "$NODET_PID"
untrack_pid "$NODET_PID"
assert_eq "node with token: exit status" 0 "$NODE_RC"
log "token and idle timeout: ok"
log "PASS"
