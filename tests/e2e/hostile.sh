#!/usr/bin/env bash
# hostile.sh - hostile input on the collector's two ports is refused, counted where the
# collector counts it, and does not keep it from serving and storing.
#
# The collector runs alone in its namespace (cluster.sh's hub; everything over its
# loopback). tests/e2e/hostile_client.py does the raw-socket part:
#   ingest port: garbage bytes instead of the SP header, a valid SP header then a message
#     claiming 1 GiB, a wrong SP protocol: each connection is closed by the collector
#     (nng; not counted, there is no batch);
#   held connections: 50 bare TCP connections, 50 after the SP header, 50 in the middle
#     of a frame, and 200 slowloris HTTP requests (one header byte a second), all held
#     while the rest of the test runs;
#   HTTP port: a bad request line, a bad version, /../../etc/passwd, /%2e%2e/%2e%2e/...,
#     1000 headers of 100 bytes, a 1 MiB header, a 1 MiB URL, a negative Content-Length, a
#     NUL in the path: each answered 4xx or closed, never 200, never a file's content.
# batchsend adds valid nng framing with bad payloads: random bytes and a truncated batch
# (answered reason=decode, counted in ayaflow_collector_rejected_batches_total) and a
# 5 MiB message (over the 4 MiB limit: nng closes the connection, no answer).
# Afterwards, and while the connections are still held: /api/health is ok and a valid
# batch is acknowledged and stored; the collector stops cleanly.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
require_tools python3
: "${BATCHSEND:?BATCHSEND must name the batchsend binary}"
HC="python3 $(dirname "$0")/hostile_client.py"

hub_create "$(ns_name c)"
DB=$E2E_DIR/history.db
collector_start collector "$DB"
URL="tcp://127.0.0.1:$COLLECTOR_INGEST_PORT"
send() { nsx "$HUB_NS" "$BATCHSEND" "$@" "$URL"; }
reason() { sed -n 's/.*reason=\([a-z_]*\).*/\1/p'; }

# --- connections held for the rest of the test ------------------------------------------------
hold()
{
	local port=$1 kind=$2 n=$3
	# ip netns exec directly, not nsx: a backgrounded shell function is a subshell whose
	# pid, killed, leaves the python holder running.
	ip netns exec "$HUB_NS" $HC hold 127.0.0.1 "$port" "$kind" "$n" "$E2E_DIR/ready-$kind" \
		>"$E2E_DIR/hold-$kind.log" 2>&1 &
	track_pid $!
	HOLDERS+=($!)
}
HOLDERS=()
hold "$COLLECTOR_INGEST_PORT" bare 50
hold "$COLLECTOR_INGEST_PORT" sp-header 50
hold "$COLLECTOR_INGEST_PORT" partial-frame 50
hold "$COLLECTOR_HTTP_PORT" slowloris 200
for k in bare sp-header partial-frame slowloris; do
	wait_for "$k connections held" "grep -q ready '$E2E_DIR/ready-$k'"
done
log "held: $(cat "$E2E_DIR"/ready-* | tr '\n' ' ')"
capi /api/health | jq -e '.status == "ok"' >/dev/null || fail "/api/health with connections held"
log "ok: /api/health answers with 350 connections held"

# --- raw attacks ----------------------------------------------------------------------------------
nsx "$HUB_NS" $HC ingest 127.0.0.1 "$COLLECTOR_INGEST_PORT" >"$E2E_DIR/ingest-cases.log" 2>&1 ||
	{ cat "$E2E_DIR/ingest-cases.log" >&2; fail "an ingest attack was not refused"; }
sed 's/^/  /' "$E2E_DIR/ingest-cases.log" >&2
nsx "$HUB_NS" $HC http 127.0.0.1 "$COLLECTOR_HTTP_PORT" >"$E2E_DIR/http-cases.log" 2>&1 ||
	{ cat "$E2E_DIR/http-cases.log" >&2; fail "an HTTP attack was not refused"; }
sed 's/^/  /' "$E2E_DIR/http-cases.log" >&2
assert_eq "ingest cases refused" 3 "$(grep -c ' closed' "$E2E_DIR/ingest-cases.log")"
assert_eq "HTTP cases refused" 10 "$(grep -cE ' (closed|status=4[0-9][0-9]|status=505)$' "$E2E_DIR/http-cases.log")"
# curl with --path-as-is too (what a scanner sends), and a path curl normalises.
for p in '/../../etc/passwd' '/%2e%2e/%2e%2e/etc/passwd' '/api/../../../etc/passwd' '/%2e%2e/'; do
	code=$(nsx "$HUB_NS" curl -sS -m 5 --path-as-is -o "$E2E_DIR/body" -w '%{http_code}' \
		"$COLLECTOR_URL$p") || fail "curl $p failed"
	case $code in 400 | 404) ;; *) fail "GET $p: HTTP $code" ;; esac
	! grep -q 'root:' "$E2E_DIR/body" || fail "GET $p leaked a file"
	log "ok: GET $p -> $code"
done

# --- valid framing, bad payloads ---------------------------------------------------------------
T=$(($(date +%s) * 1000))
REC="src=10.1.0.1,dst=10.1.0.2,sport=40000,dport=443,proto=6,ps=10,pr=8,bs=1000,br=2000,first=$((T - 900)),last=$((T - 100)),if=eth0"
head -c 4096 /dev/urandom >"$E2E_DIR/random.bin"
printf '\xff' | cat - "$E2E_DIR/random.bin" >"$E2E_DIR/garbage.bin" # 0xff..: no valid tag
assert_eq "random payload" decode "$(send --raw "$E2E_DIR/garbage.bin" | reason)"
nsx "$HUB_NS" "$BATCHSEND" --node hostile --boot x --seq 1 --start "$((T - 1000))" --end "$T" \
	--record "$REC" --out "$E2E_DIR/good.bin"
assert_eq "truncated batch" decode "$(send --raw "$E2E_DIR/good.bin" --truncate 5 | reason)"
head -c $((5 * 1024 * 1024)) /dev/zero >"$E2E_DIR/huge.bin"
if send --raw "$E2E_DIR/huge.bin" --timeout 3000 >"$E2E_DIR/huge.log" 2>&1; then
	fail "a 5 MiB message got an answer: $(cat "$E2E_DIR/huge.log")"
fi
log "ok: 5 MiB message: no answer (nng refuses it)"

# --- still serving and storing, connections still held ----------------------------------------
for p in "${HOLDERS[@]}"; do
	kill -0 "$p" 2>/dev/null || fail "a holder exited: $(cat "$E2E_DIR"/hold-*.log)"
done
capi /api/health | jq -e '.status == "ok"' >/dev/null || fail "/api/health after the attacks"
assert_eq "valid batch acknowledged" 'ok=1 duplicate=0 seq=1 reason=none message=""' \
	"$(send --node hostile --boot x --seq 1 --start "$((T - 1000))" --end "$T" --totals 18,3000,1 --record "$REC")"
assert_eq "history: the valid batch stored" 18 \
	"$(capi '/api/history?node=hostile' | jq '[.items[].packet_count] | add')"
M=$(capi /metrics)
assert_eq "rejected_batches{decode}" 2 "$(metric "$M" ayaflow_collector_rejected_batches_total 'reason="decode"')"
assert_eq "batches{rejected}" 2 "$(metric "$M" ayaflow_collector_batches_total 'result="rejected"')"
assert_eq "batches{stored}" 1 "$(metric "$M" ayaflow_collector_batches_total 'result="stored"')"
S=$(capi /api/stats)
log "collector ingest: $(jq -c .ingest <<<"$S")"

# --- release the connections; still fine; clean stop -----------------------------------------
for p in "${HOLDERS[@]}"; do
	kill "$p"
	wait "$p" 2>/dev/null || true
	untrack_pid "$p"
done
capi /api/health | jq -e '.status == "ok"' >/dev/null || fail "/api/health after the holders left"
kill -0 "$COLLECTOR_PID" || fail "the collector died"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
