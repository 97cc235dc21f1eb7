#!/usr/bin/env bash
# collector_api.sh - ayaflow-collector without a node: batches built by batchsend (the
# node's own wire + transport code) go in over nng on loopback, and the cluster-wide API
# must show exactly them: /api/history (every field, every filter), /api/nodes,
# /api/stats, /api/live, /api/health and /metrics. Also: a duplicate batch is
# acknowledged again and stored once (also after a restart); malformed batches are
# rejected with the right reason, counted and store nothing; bad query parameters are a
# 400 naming them; SQL in parameters is data; --allowed-ips refuses loopback; config,
# store and port errors are clear. The collector is the sanitizer build: its log must be clean.
#
# Needs no root: only 127.0.0.1 ports (17400 + pid % 1000 and up) and a temp dir.
source "$(dirname "$0")/lib.sh"

: "${AYAFLOW_COLLECTOR:?AYAFLOW_COLLECTOR must name the ayaflow-collector binary}"
: "${BATCHSEND:?BATCHSEND must name the batchsend binary}"
[ -x "$AYAFLOW_COLLECTOR" ] || fail "AYAFLOW_COLLECTOR=$AYAFLOW_COLLECTOR is not executable"
[ -x "$BATCHSEND" ] || fail "BATCHSEND=$BATCHSEND is not executable"
require_tools curl jq promtool
E2E_DIR=$(mktemp -d "/tmp/ayf-e2e-$E2E_NAME.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

HTTP_PORT=$((17400 + $$ % 1000))
INGEST_PORT=$((HTTP_PORT + 1000))
HTTP_PORT2=$((HTTP_PORT + 2000)) # the second collector (allowlist, port errors)
INGEST_PORT2=$((HTTP_PORT + 3000))
INGEST_URL="tcp://127.0.0.1:$INGEST_PORT"
BASE="http://127.0.0.1:$HTTP_PORT"
DB="$E2E_DIR/traffic.db"

# col_start LOGNAME HTTP_PORT ARGS...: starts a collector; sets COL_PID; waits until its
# HTTP port answers (any status).
col_start()
{
	local name=$1 port=$2 code
	shift 2
	"$AYAFLOW_COLLECTOR" -p "$port" "$@" >"$E2E_DIR/$name.log" 2>&1 &
	COL_PID=$!
	track_pid "$COL_PID"
	local deadline=$((SECONDS + E2E_TIMEOUT))
	while :; do
		kill -0 "$COL_PID" 2>/dev/null || fail "ayaflow-collector ($name) exited at start"
		code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health") || true
		[ "${code:-000}" = 000 ] || return 0
		[ "$SECONDS" -lt "$deadline" ] || fail "ayaflow-collector ($name) did not answer HTTP"
		sleep 0.1
	done
}

# col_stop PID LOGNAME: SIGTERM, expects exit 0 and a log without sanitizer reports.
col_stop()
{
	local pid=$1 name=$2 rc=0
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	assert_eq "$name: exit status after SIGTERM" 0 "$rc"
	if grep -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error" "$E2E_DIR/$name.log"; then
		fail "$name: sanitizer report in the collector's log"
	fi
	log "ok: $name: no sanitizer report"
}

# capi PATH: GET, prints the body; fails on an HTTP error.
capi() { curl -sS -f -m 5 "$BASE$1"; }

# ccode PATH: prints the HTTP status; the body goes to $E2E_DIR/body.
ccode() { curl -sS -m 5 -o "$E2E_DIR/body" -w '%{http_code}' "$BASE$1"; }

# send ARGS...: one batch to the collector; prints batchsend's ack line.
send() { "$BATCHSEND" "$@" "$INGEST_URL"; }

# hist QUERY JQ: the jq expression applied to /api/history?QUERY.
hist() { capi "/api/history?$1" | jq -rc "$2"; }

# assert_json DESC EXPECTED ACTUAL: equal as JSON (key order ignored).
assert_json()
{
	local e a
	e=$(jq -cS . <<<"$2") a=$(jq -cS . <<<"$3")
	[ "$e" = "$a" ] || fail "$1:\n expected $e\n got      $a"
	log "ok: $1"
}

# --- data ----------------------------------------------------------------------------
# T: a whole second, so that window bounds print exactly as RFC 3339.
T=$(( $(date +%s) * 1000 ))
A0=$((T - 10000)) A1=$((T - 5000)) B1=$T
R1="src=10.1.0.1,dst=10.1.0.2,sport=40000,dport=443,proto=6,flags=18,ps=10,pr=8,bs=1000,br=2000,first=$((A0 + 100)),last=$((A1 - 100)),if=eth0,domain=example.com"
R2="src=10.1.0.1,dst=10.1.0.3,sport=5353,dport=53,proto=17,ps=1,pr=1,bs=80,br=120,first=$((A0 + 200)),last=$((A0 + 300)),if=eth0"
R3="src=10.1.0.1,dst=10.1.0.9,proto=1,ps=3,pr=3,bs=252,br=252,first=$((A1 + 10)),last=$((B1 - 10)),if=eth1"
R4="src=10.1.0.1,dst=10.1.0.2,sport=40000,dport=443,proto=6,flags=17,ps=5,pr=5,bs=500,br=500,first=$((A0 + 100)),last=$((B1 - 50)),if=eth0,domain=example.com"
R5="src=fd00::1,dst=fd00::2,sport=50000,dport=80,proto=6,flags=2,ps=4,pr=4,bs=400,br=400,first=$((A0 + 1)),last=$((A1 - 1)),if=ens3,domain=www.example.org"
BATCH_A=(--node node-a --boot boot-a --agent 0.1.0 --seq 1 --start "$A0" --end "$A1"
	--totals 100,20000,2 --lost flow_map_full=7 --record "$R1" --record "$R2")
BATCH_B=(--node node-a --boot boot-a --agent 0.1.0 --seq 2 --start "$A1" --end "$B1"
	--totals 150,30000,3 --lost flow_map_full=9 --lost unparsable=1 --record "$R3"
	--record "$R4")
BATCH_C=(--node node-b --boot boot-b --agent 0.1.1 --seq 1 --start "$A0" --end "$A1"
	--totals 40,4000,1 --lost ipv6_disabled=2 --record "$R5")

col_start collector "$HTTP_PORT" --listen "$INGEST_URL" --db-path "$DB"
COL1=$COL_PID

# --- storing, duplicates ---------------------------------------------------------------
assert_eq "batch A acknowledged" 'ok=1 duplicate=0 seq=1 reason=none message=""' "$(send "${BATCH_A[@]}")"
assert_eq "batch B acknowledged" 'ok=1 duplicate=0 seq=2 reason=none message=""' "$(send "${BATCH_B[@]}")"
assert_eq "batch C acknowledged" 'ok=1 duplicate=0 seq=1 reason=none message=""' "$(send "${BATCH_C[@]}")"
assert_eq "batch A again: duplicate" 'ok=1 duplicate=1 seq=1 reason=none message=""' "$(send "${BATCH_A[@]}")"
assert_eq "history total after the duplicate" 5 "$(hist "" .total)"

# --- every field of every item, newest first (ts desc, then storage order desc) --------
item()
{ # node ts end proto ipv src sport dst dport ps pr bs br flags domain first last if
	jq -n --arg node "$1" --argjson ts "$2" --argjson wend "$3" --arg proto "$4" \
		--argjson ipv "$5" --arg src "$6" --argjson sport "$7" --arg dst "$8" \
		--argjson dport "$9" --argjson ps "${10}" --argjson pr "${11}" --argjson bs "${12}" \
		--argjson br "${13}" --arg flags "${14}" --arg domain "${15}" --argjson first "${16}" \
		--argjson last "${17}" --arg ifname "${18}" \
		'{timestamp: $ts, window_end: $wend, node: $node, protocol: $proto, ip_version: $ipv,
		  src_ip: $src, src_port: $sport, dst_ip: $dst, dst_port: $dport, packets_sent: $ps,
		  packets_received: $pr, bytes_sent: $bs, bytes_received: $br,
		  packet_count: ($ps + $pr), length: ($bs + $br), tcp_flags: $flags,
		  domain: (if $domain == "" then null else $domain end), first_seen: $first,
		  last_seen: $last, interface: $ifname, src_hostname: null, dst_hostname: null}'
}
I1=$(item node-a "$A0" "$A1" tcp 4 10.1.0.1 40000 10.1.0.2 443 10 8 1000 2000 "SYN,ACK" example.com $((A0 + 100)) $((A1 - 100)) eth0)
I2=$(item node-a "$A0" "$A1" udp 4 10.1.0.1 5353 10.1.0.3 53 1 1 80 120 "" "" $((A0 + 200)) $((A0 + 300)) eth0)
I3=$(item node-a "$A1" "$B1" icmp 4 10.1.0.1 0 10.1.0.9 0 3 3 252 252 "" "" $((A1 + 10)) $((B1 - 10)) eth1)
I4=$(item node-a "$A1" "$B1" tcp 4 10.1.0.1 40000 10.1.0.2 443 5 5 500 500 "ACK,FIN" example.com $((A0 + 100)) $((B1 - 50)) eth0)
I5=$(item node-b "$A0" "$A1" tcp 6 fd00::1 50000 fd00::2 80 4 4 400 400 "SYN" www.example.org $((A0 + 1)) $((A1 - 1)) ens3)
assert_json "history: all items, exact, newest first" \
	"{\"items\":[$I4,$I3,$I5,$I2,$I1],\"limit\":100,\"offset\":0,\"returned\":5,\"total\":5,\"total_capped\":false,\"has_more\":false}" \
	"$(capi /api/history)"

# --- filters narrow to exactly the expected rows ------------------------------------
# ids QUERY: the items as "node/src_port/dst_port/protocol/timestamp-offset" sorted.
ids() { hist "$1" "[.items[] | \"\(.node)/\(.protocol)/\(.src_port)-\(.dst_port)/\(.timestamp - $A0)\"] | sort | join(\" \")"; }
K1="node-a/tcp/40000-443/0" K2="node-a/udp/5353-53/0" K3="node-a/icmp/0-0/5000"
K4="node-a/tcp/40000-443/5000" K5="node-b/tcp/50000-80/0"
assert_eq "filter node=node-b" "$K5" "$(ids node=node-b)"
assert_eq "filter node=node-a" "$K3 $K1 $K4 $K2" "$(ids node=node-a)"
assert_eq "filter ip=10.1.0.3 (either side)" "$K2" "$(ids ip=10.1.0.3)"
assert_eq "filter ip=10.1.0.1 (either side)" "$K3 $K1 $K4 $K2" "$(ids ip=10.1.0.1)"
assert_eq "filter ip=fd00::2" "$K5" "$(ids ip=fd00::2)"
assert_eq "filter src_ip=10.1.0.1" "$K3 $K1 $K4 $K2" "$(ids src_ip=10.1.0.1)"
assert_eq "filter src_ip=10.1.0.2 (it is only a destination)" "" "$(ids src_ip=10.1.0.2)"
assert_eq "filter dst_ip=10.1.0.2" "$K1 $K4" "$(ids dst_ip=10.1.0.2)"
assert_eq "filter dst_ip=fd00::2" "$K5" "$(ids dst_ip=fd00:0:0::2)"
assert_eq "filter port=53 (either side)" "$K2" "$(ids port=53)"
assert_eq "filter port=40000" "$K1 $K4" "$(ids port=40000)"
assert_eq "filter src_port=5353" "$K2" "$(ids src_port=5353)"
assert_eq "filter dst_port=80" "$K5" "$(ids dst_port=80)"
assert_eq "filter protocol=tcp" "$K1 $K4 $K5" "$(ids protocol=tcp)"
assert_eq "filter protocol=17" "$K2" "$(ids protocol=17)"
assert_eq "filter protocol=icmp" "$K3" "$(ids protocol=icmp)"
assert_eq "filter node=node-a&protocol=tcp&dst_port=443" "$K1 $K4" "$(ids 'node=node-a&protocol=tcp&dst_port=443')"
assert_eq "filter domain=example.com" "$K1 $K4" "$(ids domain=example.com)"
assert_eq "filter domain=.example.org (suffix)" "$K5" "$(ids domain=.example.org)"
assert_eq "filter start_time (ms)" "$K3 $K4" "$(ids "start_time=$A1")"
assert_eq "filter end_time (ms)" "$K1 $K2 $K5" "$(ids "end_time=$A1")"
assert_eq "filter start_time..end_time (ms)" "$K1 $K2 $K5" "$(ids "start_time=$A0&end_time=$((A0 + 1))")"
RFC_A1=$(date -u -d "@$((A1 / 1000))" +%Y-%m-%dT%H:%M:%SZ)
RFC_A1_PLUS1=$(date -u -d "@$((A1 / 1000 + 3600))" +%Y-%m-%dT%H:%M:%S)%2B01:00
RFC_A1_MINUS=$(date -u -d "@$((A1 / 1000 - 5400))" +%Y-%m-%dT%H:%M:%S)-01:30
assert_eq "filter start_time (RFC 3339 Z)" "$K3 $K4" "$(ids "start_time=$RFC_A1")"
assert_eq "filter start_time (RFC 3339 +01:00)" "$K3 $K4" "$(ids "start_time=$RFC_A1_PLUS1")"
assert_eq "filter end_time (RFC 3339 -01:30)" "$K1 $K2 $K5" "$(ids "end_time=$RFC_A1_MINUS")"
assert_eq "filter end_time (RFC 3339 with .001 fraction)" "$K3 $K1 $K4 $K2 $K5" \
	"$(ids "end_time=${RFC_A1%Z}.001Z")"

# --- paging ----------------------------------------------------------------------------
assert_json "limit=2" '{"limit":2,"offset":0,"returned":2,"total":5,"total_capped":false,"has_more":true}' \
	"$(hist limit=2 'del(.items)')"
assert_eq "limit=2: the two newest" "$(jq -c '[.[0], .[1]]' <<<"[$I4,$I3]")" "$(hist limit=2 .items)"
assert_json "limit=2&offset=2" '{"limit":2,"offset":2,"returned":2,"total":5,"total_capped":false,"has_more":true}' \
	"$(hist 'limit=2&offset=2' 'del(.items)')"
assert_eq "limit=2&offset=2: the next two" "$(jq -c . <<<"[$I5,$I2]")" "$(hist 'limit=2&offset=2' .items)"
assert_json "limit=2&offset=4" '{"limit":2,"offset":4,"returned":1,"total":5,"total_capped":false,"has_more":false}' \
	"$(hist 'limit=2&offset=4' 'del(.items)')"
assert_json "offset past the end" '{"limit":100,"offset":9,"returned":0,"total":5,"total_capped":false,"has_more":false}' \
	"$(hist 'offset=9' 'del(.items)')"
assert_eq "limit=5000 is clamped to 1000" "1000 5" "$(hist limit=5000 '"\(.limit) \(.returned)"')"

# --- bad parameters: 400 naming them -------------------------------------------------
for q in limit=abc limit=0 offset=-1 start_time=yesterday end_time=2026-13-01T00:00:00Z \
	start_time=2026-02-29T00:00:00Z end_time=2026-11-28T14:00:00 ip=1.2.3 src_ip=10.0.0.256 \
	dst_ip=fd00:::1 port=70000 src_port=x dst_port=-1 protocol=foo protocol=256 unknown=1 \
	node= domain=.; do
	name=${q%%=*}
	code=$(ccode "/api/history?$q")
	assert_eq "$q: status" 400 "$code"
	msg=$(jq -r .error.message "$E2E_DIR/body")
	grep -qF -- "'$name'" <<<"$msg" || fail "$q: the error does not name '$name': $msg"
	assert_eq "$q: error code in the body" 400 "$(jq .error.code "$E2E_DIR/body")"
done

# --- SQL in parameters is only data ------------------------------------------------------
assert_eq "node=' OR '1'='1 matches nothing" 0 "$(hist "node=%27%20OR%20%271%27%3D%271" .total)"
assert_eq "node=x'; DROP TABLE ... matches nothing" 0 \
	"$(hist "node=x%27%3B%20DROP%20TABLE%20flows%3B--" .total)"
assert_eq "domain=' OR 1=1 -- matches nothing" 0 "$(hist "domain=%27%20OR%201%3D1%20--" .total)"
assert_eq "domain=%25 (LIKE wildcard) matches nothing" 0 "$(hist "domain=%25" .total)"
assert_eq "the data is intact" 5 "$(hist "" .total)"

# --- /api/nodes ------------------------------------------------------------------------
assert_json "/api/nodes" "$(jq -n --argjson a0 "$A0" --argjson a1 "$A1" --argjson b1 "$B1" '{nodes: [
	{name: "node-a", boot_id: "boot-a", agent_version: "0.1.0", first_seen: $a0, last_seen: $b1,
	 connected: true, total_packets: 150, total_bytes: 30000, active_connections: 3,
	 lost_packets: {unparsable: 1, flow_map_full: 9, ipv6_disabled: 0, export_spool_full: 0,
	   collector_rejected: 0, payload_ringbuf_full: 0}, batches: 2, records: 4, last_seq: 2},
	{name: "node-b", boot_id: "boot-b", agent_version: "0.1.1", first_seen: $a0, last_seen: $a1,
	 connected: true, total_packets: 40, total_bytes: 4000, active_connections: 1,
	 lost_packets: {unparsable: 0, flow_map_full: 0, ipv6_disabled: 2, export_spool_full: 0,
	   collector_rejected: 0, payload_ringbuf_full: 0}, batches: 1, records: 1, last_seq: 1}]}')" \
	"$(capi /api/nodes)"

# --- /api/live: summed per connection, top by packets -------------------------------------
LIVE=$(capi "/api/live")
assert_eq "live: totals" "190 34000" "$(jq -r '"\(.total_packets) \(.total_bytes)"' <<<"$LIVE")"
assert_eq "live: connections by packets" \
	"node-a:10.1.0.1:40000->10.1.0.2:443:28 node-b:fd00::1:50000->fd00::2:80:8 node-a:10.1.0.1:0->10.1.0.9:0:6 node-a:10.1.0.1:5353->10.1.0.3:53:2" \
	"$(jq -r '[.connections[] | "\(.node):\(.src_ip):\(.src_port)->\(.dst_ip):\(.dst_port):\(.stats.packets_count)"] | join(" ")' <<<"$LIVE")"
assert_json "live: the TCP connection of node-a, summed over its two windows" \
	"$(jq -n --argjson f $((A0 + 100)) --argjson l $((B1 - 50)) '{connection: "10.1.0.1:40000 -> 10.1.0.2:443",
	  protocol: "tcp", ip_version: 4, src_ip: "10.1.0.1", src_port: 40000, dst_ip: "10.1.0.2",
	  dst_port: 443, first_seen: $f, last_seen: $l, tcp_flags: "SYN,ACK,FIN", domain: "example.com",
	  node: "node-a", interface: "eth0", src_hostname: null, dst_hostname: null,
	  stats: {packets_count: 28, packets_sent: 15,
	  packets_received: 13, bytes_sent: 1500, bytes_received: 2500}}')" \
	"$(jq -c '.connections[0]' <<<"$LIVE")"
assert_eq "live?node=node-b" "1 40 4000 fd00::1" \
	"$(capi '/api/live?node=node-b' | jq -r '"\(.connections | length) \(.total_packets) \(.total_bytes) \(.connections[0].src_ip)"')"
assert_eq "live?node=nosuch" "0 0" "$(capi '/api/live?node=nosuch' | jq -r '"\(.connections | length) \(.total_packets)"')"
assert_eq "live?limit=1" 1 "$(capi '/api/live?limit=1' | jq '.connections | length')"
assert_eq "live?limit=1001: status" 400 "$(ccode '/api/live?limit=1001')"
assert_eq "live?limit=abc: status" 400 "$(ccode '/api/live?limit=abc')"

# --- /api/health and /api/stats ---------------------------------------------------------
assert_json "/api/health (without uptime)" \
	'{"status":"ok","nodes":2,"active_connections":4,"total_packets":190,"total_bytes":34000}' \
	"$(capi /api/health | jq -c 'del(.uptime_seconds)')"
STATS=$(capi /api/stats)
assert_json "stats: cluster sums" \
	'{"total_packets":190,"total_bytes":34000,"active_connections":4,"packets_per_second":10,"bytes_per_second":2000,
	  "lost_packets":{"unparsable":1,"flow_map_full":9,"ipv6_disabled":2,"export_spool_full":0,"collector_rejected":0,"payload_ringbuf_full":0}}' \
	"$(jq -c '{total_packets, total_bytes, active_connections, packets_per_second, bytes_per_second, lost_packets}' <<<"$STATS")"
assert_json "stats: node-a" \
	"$(jq -n --argjson b1 "$B1" '{name: "node-a", packets: 150, bytes: 30000, active_connections: 3,
	  packets_per_second: 10, bytes_per_second: 2000, lost_packets: {unparsable: 1, flow_map_full: 9,
	  ipv6_disabled: 0, export_spool_full: 0, collector_rejected: 0, payload_ringbuf_full: 0},
	  last_seen: $b1, connected: true}')" \
	"$(jq -c '.nodes[0]' <<<"$STATS")"
assert_eq "stats: node-b (one batch: no rate yet)" "node-b 40 4000 0 0 true" \
	"$(jq -r '.nodes[1] | "\(.name) \(.packets) \(.bytes) \(.packets_per_second) \(.bytes_per_second) \(.connected)"' <<<"$STATS")"
assert_json "stats: ingest counters" \
	'{"batches_received":4,"batches_stored":3,"batches_duplicate":1,"batches_rejected":0,"records_stored":5,"queue_depth":0}' \
	"$(jq -c '.ingest | {batches_received, batches_stored, batches_duplicate, batches_rejected, records_stored, queue_depth}' <<<"$STATS")"
jq -e '.db_bytes > 0' <<<"$STATS" >/dev/null || fail "stats: db_bytes is not positive"

# --- malformed batches: rejected with the right reason, counted, nothing stored ----------
head -c 256 /dev/urandom >"$E2E_DIR/random.bin"
printf '\xff' | cat - "$E2E_DIR/random.bin" >"$E2E_DIR/garbage.bin" # 0xff..: no valid tag
assert_eq "random bytes" decode \
	"$(send --raw "$E2E_DIR/garbage.bin" | sed -n 's/.*reason=\([a-z_]*\).*/\1/p')"
"$BATCHSEND" --node bad-node --boot x --seq 1 --start "$A0" --end "$A1" --record "$R1" \
	--out "$E2E_DIR/good.bin"
assert_eq "truncated encoding" decode \
	"$(send --raw "$E2E_DIR/good.bin" --truncate 7 | sed -n 's/.*reason=\([a-z_]*\).*/\1/p')"
assert_eq "window start = end" bad_window \
	"$(send --node bad-node --boot x --seq 1 --start "$A1" --end "$A1" | sed -n 's/.*reason=\([a-z_]*\).*/\1/p')"
assert_eq "window start > end" bad_window \
	"$(send --node bad-node --boot x --seq 2 --start "$A1" --end "$A0" | sed -n 's/.*reason=\([a-z_]*\).*/\1/p')"
# An extra record (field 9): src_addr of 5 bytes, dst_addr of 4, ip_version 4.
assert_eq "bad address length" bad_address \
	"$(send --node bad-node --boot x --seq 3 --start "$A0" --end "$A1" --record "$R1" \
		--append-hex 4a0f0a0501020304051204010203043004 | sed -n 's/.*reason=\([a-z_]*\).*/\1/p')"
assert_eq "bad address: ok=0" "ok=0" "$(send --node bad-node --boot x --seq 3 --start "$A0" --end "$A1" \
	--append-hex 4a0f0a0501020304051204010203043004 | cut -d' ' -f1)"
assert_eq "missing node" missing_field \
	"$(send --boot x --seq 1 --start "$A0" --end "$A1" | sed -n 's/.*reason=\([a-z_]*\).*/\1/p')"
assert_eq "nothing stored by the malformed batches" 5 "$(hist "" .total)"
assert_eq "no node 'bad-node'" '["node-a","node-b"]' "$(capi /api/nodes | jq -c '[.nodes[].name]')"

M=$(capi /metrics)
promtool check metrics <<<"$M" || fail "promtool check metrics failed"
log "ok: promtool check metrics"
assert_eq "metric rejected{decode}" 2 "$(metric "$M" ayaflow_collector_rejected_batches_total 'reason="decode"')"
assert_eq "metric rejected{bad_window}" 2 "$(metric "$M" ayaflow_collector_rejected_batches_total 'reason="bad_window"')"
assert_eq "metric rejected{bad_address}" 2 "$(metric "$M" ayaflow_collector_rejected_batches_total 'reason="bad_address"')"
assert_eq "metric rejected{missing_field}" 1 "$(metric "$M" ayaflow_collector_rejected_batches_total 'reason="missing_field"')"
for r in too_large bad_enum bad_string bad_record store; do
	grep -q "^ayaflow_collector_rejected_batches_total{reason=\"$r\"} 0$" <<<"$M" ||
		fail "metric rejected{$r} 0 missing"
done
assert_eq "metric batches{stored}" 3 "$(metric "$M" ayaflow_collector_batches_total 'result="stored"')"
assert_eq "metric batches{duplicate}" 1 "$(metric "$M" ayaflow_collector_batches_total 'result="duplicate"')"
assert_eq "metric batches{rejected}" 7 "$(metric "$M" ayaflow_collector_batches_total 'result="rejected"')"
assert_eq "metric batches{retry}" 0 "$(metric "$M" ayaflow_collector_batches_total 'result="retry"')"
assert_eq "metric records stored" 5 "$(metric "$M" ayaflow_collector_records_stored_total)"
assert_eq "metric nodes connected" 2 "$(metric "$M" ayaflow_collector_nodes_connected)"
assert_eq "metric queue depth" 0 "$(metric "$M" ayaflow_collector_ingest_queue_depth)"
assert_eq "metric commits" 4 "$(metric "$M" ayaflow_collector_commit_seconds_count)"
assert_eq "metric lost{node-a,flow_map_full}" 9 "$(metric "$M" ayaflow_lost_packets_total 'node="node-a"' 'reason="flow_map_full"')"
assert_eq "metric lost{node-b,ipv6_disabled}" 2 "$(metric "$M" ayaflow_lost_packets_total 'node="node-b"' 'reason="ipv6_disabled"')"
assert_eq "metric packets{node-a}" 150 "$(metric "$M" ayaflow_packets_total 'node="node-a"')"
assert_eq "metric bytes{node-b}" 4000 "$(metric "$M" ayaflow_bytes_total 'node="node-b"')"
assert_eq "metric build_info" 1 "$(metric "$M" ayaflow_build_info)"
grep -q '^ayaflow_collector_database_bytes [1-9]' <<<"$M" || fail "metric database_bytes not positive"
grep -q '^process_resident_memory_bytes ' <<<"$M" || fail "process_* metrics missing"

# --- routes ------------------------------------------------------------------------------
assert_eq "unknown route: 404" 404 "$(ccode /api/nope)"
assert_eq "POST: 405" 405 "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -X POST "$BASE/api/history")"

# --- second instance: port errors, allowlist, config errors --------------------------------
# run_fail DESC LOGNAME ARGS...: a collector that must exit by itself, non-zero.
run_fail()
{
	local desc=$1 name=$2
	shift 2
	RC=0
	timeout 30 "$AYAFLOW_COLLECTOR" "$@" >"$E2E_DIR/$name.log" 2>&1 || RC=$?
	OUT=$(cat "$E2E_DIR/$name.log")
	[ "$RC" -ne 124 ] || fail "$desc: the collector did not exit within 30s"
	[ "$RC" -ne 0 ] || fail "$desc: the collector exited 0"
	grep -qE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error" <<<"$OUT" &&
		fail "$desc: sanitizer report: $OUT"
	log "$desc: exit $RC: $(head -n 2 <<<"$OUT" | tr '\n' ' ')"
}
assert_says() { grep -qF -- "$2" <<<"$OUT" || fail "$1: message does not contain '$2': $OUT"; log "ok: $1 names '$2'"; }

run_fail "HTTP port in use" port_busy -p "$HTTP_PORT" --listen "tcp://127.0.0.1:$INGEST_PORT2" \
	--db-path "$E2E_DIR/second.db"
assert_says "HTTP port in use" "port $HTTP_PORT is already in use"
run_fail "ingest address in use" ingest_busy -p "$HTTP_PORT2" --listen "$INGEST_URL" \
	--db-path "$E2E_DIR/second.db"
assert_says "ingest address in use" "$INGEST_URL"

printf 'port: %s\nbogus_key: 1\n' "$HTTP_PORT2" >"$E2E_DIR/collector.yaml"
run_fail "YAML unknown key" yaml_unknown -c "$E2E_DIR/collector.yaml"
assert_eq "YAML unknown key: exit status" 2 "$RC"
assert_says "YAML unknown key" "collector.yaml:2"
assert_says "YAML unknown key" "bogus_key"
run_fail "flag out of range" bad_port -p 70000
assert_eq "flag out of range: exit status" 2 "$RC"
assert_says "flag out of range" "70000"

# The store options: a URL that cannot be parsed, a password in the URL (refused, and not
# repeated in the message), a missing password file and a store that cannot be opened are
# configuration errors: exit 2, naming what is wrong.
SECOND=(-p "$HTTP_PORT2" --listen "tcp://127.0.0.1:$INGEST_PORT2")
run_fail "unknown store scheme" store_scheme "${SECOND[@]}" --store bogus://x
assert_eq "unknown store scheme: exit status" 2 "$RC"
assert_says "unknown store scheme" "bogus://x"
PW=pw$$x
run_fail "password in the store URL" store_password "${SECOND[@]}" \
	--store "clickhouse://u:$PW@127.0.0.1/ayaflow"
assert_eq "password in the store URL: exit status" 2 "$RC"
assert_says "password in the store URL" "a password does not belong in the URL"
assert_says "password in the store URL: the URL without the password" \
	"clickhouse://u:***@127.0.0.1/ayaflow"
! grep -qF -- "$PW" <<<"$OUT" || fail "the password is in the message: $OUT"
run_fail "missing password file" store_pwfile "${SECOND[@]}" --db-path "$E2E_DIR/second.db" \
	--store-password-file /nonexistent
assert_eq "missing password file: exit status" 2 "$RC"
assert_says "missing password file" "--store-password-file: /nonexistent"
: >"$E2E_DIR/empty-password"
run_fail "empty password file" store_pwempty "${SECOND[@]}" --db-path "$E2E_DIR/second.db" \
	--store-password-file "$E2E_DIR/empty-password"
assert_eq "empty password file: exit status" 2 "$RC"
assert_says "empty password file" "empty password file"
run_fail "store cannot be opened" store_open "${SECOND[@]}" --db-path "$E2E_DIR/nodir/x.db"
assert_eq "store cannot be opened: exit status" 2 "$RC"
assert_says "store cannot be opened" "sqlite://$E2E_DIR/nodir/x.db"
printf 'port: %s\nstore: "bogus://y"\n' "$HTTP_PORT2" >"$E2E_DIR/store.yaml"
run_fail "YAML store key" yaml_store -c "$E2E_DIR/store.yaml" --listen "tcp://127.0.0.1:$INGEST_PORT2"
assert_eq "YAML store key: exit status" 2 "$RC"
assert_says "YAML store key" "bogus://y"

# --store sqlite://FILE: the same store as --db-path FILE.
col_start allowlist "$HTTP_PORT2" --listen "tcp://127.0.0.1:$INGEST_PORT2" \
	--store "sqlite://$E2E_DIR/second.db" --allowed-ips 10.99.0.0/16
COL2=$COL_PID
grep -qF "history store sqlite://$E2E_DIR/second.db" "$E2E_DIR/allowlist.log" ||
	fail "the collector does not log its store: $(cat "$E2E_DIR/allowlist.log")"
for p in /api/health /api/history /metrics /api/nope; do
	code=$(curl -sS -m 5 -o "$E2E_DIR/body" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT2$p")
	assert_eq "--allowed-ips 10.99.0.0/16: $p from 127.0.0.1" 403 "$code"
	assert_eq "403 JSON error" 403 "$(jq .error.code "$E2E_DIR/body")"
done
col_stop "$COL2" allowlist

# --- restart: the history survives, duplicates are still recognised ---------------------
col_stop "$COL1" collector
col_start collector2 "$HTTP_PORT" --listen "$INGEST_URL" --db-path "$DB"
COL1=$COL_PID
assert_eq "after restart: history total" 5 "$(hist "" .total)"
assert_eq "after restart: batch B is a duplicate" 'ok=1 duplicate=1 seq=2 reason=none message=""' \
	"$(send "${BATCH_B[@]}")"
assert_eq "after restart: history total unchanged" 5 "$(hist "" .total)"
assert_json "after restart: items unchanged" "[$I4,$I3,$I5,$I2,$I1]" "$(hist "" .items)"
col_stop "$COL1" collector2
