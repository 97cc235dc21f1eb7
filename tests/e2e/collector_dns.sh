#!/usr/bin/env bash
# collector_dns.sh - deep inspection on the collector, without a node: batches built by
# batchsend (the node's own wire + transport code) carry flow records with domains and
# reverse-DNS host names, and DNS records; the collector must store them and show exactly
# them: /api/dns (every field, every filter: name exact and by suffix, client, node,
# time, paging), /api/domains (ranking by bytes, sums, range, node, limit), /api/history
# (domain= exact and suffix, src_hostname/dst_hostname), /api/live (host names), the
# metric ayaflow_collector_dns_records_stored_total; a duplicate batch stores its DNS
# records once, an invalid DNS record rejects its batch; bad parameters are a 400 naming
# them; `ayaflowctl domains` and `ayaflowctl dns` in table, JSON and CSV with exact values.
#
# Needs no root: only 127.0.0.1 ports (22400 + pid % 1000 and up) and a temp dir.
source "$(dirname "$0")/lib.sh"

: "${AYAFLOW_COLLECTOR:?AYAFLOW_COLLECTOR must name the ayaflow-collector binary}"
: "${BATCHSEND:?BATCHSEND must name the batchsend binary}"
: "${AYAFLOW_CLI:?AYAFLOW_CLI must name the ayaflowctl binary}"
[ -x "$AYAFLOW_COLLECTOR" ] || fail "AYAFLOW_COLLECTOR=$AYAFLOW_COLLECTOR is not executable"
[ -x "$BATCHSEND" ] || fail "BATCHSEND=$BATCHSEND is not executable"
[ -x "$AYAFLOW_CLI" ] || fail "AYAFLOW_CLI=$AYAFLOW_CLI is not executable"
require_tools curl jq
E2E_DIR=$(mktemp -d "/tmp/ayf-e2e-$E2E_NAME.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

HTTP_PORT=$((22400 + $$ % 1000))
INGEST_PORT=$((HTTP_PORT + 1000))
INGEST_URL="tcp://127.0.0.1:$INGEST_PORT"
BASE="http://127.0.0.1:$HTTP_PORT"

"$AYAFLOW_COLLECTOR" -p "$HTTP_PORT" --listen "$INGEST_URL" --db-path "$E2E_DIR/traffic.db" \
	>"$E2E_DIR/collector.log" 2>&1 &
COL=$!
track_pid "$COL"
deadline=$((SECONDS + E2E_TIMEOUT))
until [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$BASE/api/health" || true)" = 200 ]; do
	kill -0 "$COL" 2>/dev/null || fail "ayaflow-collector exited at start: $(cat "$E2E_DIR/collector.log")"
	[ "$SECONDS" -lt "$deadline" ] || fail "ayaflow-collector did not answer HTTP"
	sleep 0.1
done

capi() { curl -sS -f -m 5 "$BASE$1"; }
ccode() { curl -sS -m 5 -o "$E2E_DIR/body" -w '%{http_code}' "$BASE$1"; }
send() { "$BATCHSEND" "$@" "$INGEST_URL"; }

# assert_json DESC EXPECTED ACTUAL: equal as JSON (key order ignored).
assert_json()
{
	local e a
	e=$(jq -cS . <<<"$2") a=$(jq -cS . <<<"$3")
	[ "$e" = "$a" ] || fail "$1:\n expected $e\n got      $a"
	log "ok: $1"
}

# ctl ARGS...: ayaflowctl against the collector, 250 columns, UTC; stdout only, exit 0
# and an empty stderr required.
ctl()
{
	local rc=0
	env -u AYAFLOW_COLLECTOR -u AYAFLOW_TOKEN COLUMNS=250 TZ=UTC \
		"$AYAFLOW_CLI" --collector "$BASE" "$@" >"$E2E_DIR/out" 2>"$E2E_DIR/err" || rc=$?
	[ "$rc" = 0 ] || fail "ayaflowctl $*: exit $rc: $(cat "$E2E_DIR/err")"
	[ ! -s "$E2E_DIR/err" ] || fail "ayaflowctl $*: wrote to stderr: $(cat "$E2E_DIR/err")"
	cat "$E2E_DIR/out"
}

utc() { date -u -d "@$(($1 / 1000))" '+%Y-%m-%d %H:%M:%S'; }

# --- data ----------------------------------------------------------------------------
T=$(($(date +%s) * 1000))
A0=$((T - 20000)) A1=$((T - 10000)) B1=$T
R1="src=10.2.0.1,dst=10.2.0.2,sport=40000,dport=443,proto=6,flags=18,ps=10,pr=10,bs=4000,br=6000,first=$((A0 + 1)),last=$((A1 - 1)),if=eth0,domain=www.example.com,shost=laptop.lan,dhost=web-1.example.com"
R2="src=10.2.0.1,dst=10.2.0.3,sport=40001,dport=443,proto=6,ps=5,pr=5,bs=1000,br=1000,first=$((A0 + 2)),last=$((A1 - 2)),if=eth0,domain=api.example.com"
R3="src=10.2.0.1,dst=10.2.0.53,sport=5353,dport=53,proto=17,ps=1,pr=1,bs=100,br=200,first=$((A0 + 3)),last=$((A0 + 4)),if=eth0"
R4="src=fd00::1,dst=fd00::2,sport=50000,dport=443,proto=6,ps=6,pr=6,bs=3000,br=3000,first=$((A1 + 1)),last=$((B1 - 1)),if=eth1,domain=www.example.com,dhost=v6host.lan"
R5="src=10.2.1.1,dst=10.2.1.2,sport=1234,dport=80,proto=6,ps=2,pr=2,bs=500,br=500,first=$((A1 + 2)),last=$((B1 - 2)),if=eth1,domain=shop.example.net"
D1="ts=$((A0 + 100)),name=www.example.com,qtype=1,answered=1,rcode=0,lat=1500,client=10.2.0.1,cport=5353,server=10.2.0.53,sport=53,an=5/60/web-1.example.com,an=1/300/10.2.0.2"
D2="ts=$((A0 + 200)),name=nx.example.org,qtype=28,answered=1,rcode=3,lat=2250,client=10.2.0.1,cport=5354,server=10.2.0.53,sport=53"
D3="ts=$((A1 + 100)),name=api.example.com,qtype=28,answered=1,rcode=0,lat=750,client=fd00::1,cport=40000,server=fd00::53,sport=53,an=28/120/fd00::2"
D4="ts=$((A1 + 200)),name=lost.example.com,qtype=1,client=10.2.1.1,cport=40001,server=10.2.1.53,sport=53"
BATCH_A=(--node node-a --boot boot-a --agent 0.2.0 --seq 1 --start "$A0" --end "$A1"
	--totals 100,10000,3 --record "$R1" --record "$R2" --record "$R3" --dns "$D1" --dns "$D2")
BATCH_B=(--node node-b --boot boot-b --agent 0.2.0 --seq 1 --start "$A1" --end "$B1"
	--totals 50,5000,2 --record "$R4" --record "$R5" --dns "$D3" --dns "$D4")

assert_eq "batch A acknowledged" 'ok=1 duplicate=0 seq=1 reason=none message=""' "$(send "${BATCH_A[@]}")"
assert_eq "batch B acknowledged" 'ok=1 duplicate=0 seq=1 reason=none message=""' "$(send "${BATCH_B[@]}")"
assert_eq "batch A again: duplicate" 'ok=1 duplicate=1 seq=1 reason=none message=""' "$(send "${BATCH_A[@]}")"
assert_eq "unanswered with an rcode: rejected" "ok=0 bad_record" \
	"$(send --node node-c --boot x --seq 1 --start "$A0" --end "$A1" \
		--dns "ts=$A0,name=x.example,client=10.0.0.1,server=10.0.0.2,rcode=3" |
		sed -n 's/^\(ok=[01]\).*reason=\([a-z_]*\).*/\1 \2/p')"

# --- /api/dns: every field, newest first ------------------------------------------------
I1=$(jq -nc --argjson ts $((A0 + 100)) '{timestamp: $ts, node: "node-a", name: "www.example.com",
	type: "A", qtype: 1, rcode: "noerror", answered: true, latency_ms: 1.5, latency_us: 1500,
	ip_version: 4, client_ip: "10.2.0.1", client_port: 5353, server_ip: "10.2.0.53", server_port: 53,
	answers: [{type: "CNAME", ttl: 60, target: "web-1.example.com"}, {type: "A", ttl: 300, address: "10.2.0.2"}]}')
I2=$(jq -nc --argjson ts $((A0 + 200)) '{timestamp: $ts, node: "node-a", name: "nx.example.org",
	type: "AAAA", qtype: 28, rcode: "nxdomain", answered: true, latency_ms: 2.25, latency_us: 2250,
	ip_version: 4, client_ip: "10.2.0.1", client_port: 5354, server_ip: "10.2.0.53", server_port: 53,
	answers: []}')
I3=$(jq -nc --argjson ts $((A1 + 100)) '{timestamp: $ts, node: "node-b", name: "api.example.com",
	type: "AAAA", qtype: 28, rcode: "noerror", answered: true, latency_ms: 0.75, latency_us: 750,
	ip_version: 6, client_ip: "fd00::1", client_port: 40000, server_ip: "fd00::53", server_port: 53,
	answers: [{type: "AAAA", ttl: 120, address: "fd00::2"}]}')
I4=$(jq -nc --argjson ts $((A1 + 200)) '{timestamp: $ts, node: "node-b", name: "lost.example.com",
	type: "A", qtype: 1, rcode: null, answered: false, latency_ms: null, latency_us: 0,
	ip_version: 4, client_ip: "10.2.1.1", client_port: 40001, server_ip: "10.2.1.53", server_port: 53,
	answers: []}')
assert_json "/api/dns: all records, exact, newest first" \
	"{\"items\":[$I4,$I3,$I2,$I1],\"limit\":100,\"offset\":0,\"returned\":4,\"total\":4,\"total_capped\":false,\"has_more\":false}" \
	"$(capi /api/dns)"

# dq QUERY: the client ports of /api/dns?QUERY in order (each record has its own), and the total.
dq() { capi "/api/dns?$1" | jq -r '"\([.items[].client_port] | join(",")) total \(.total)"'; }
assert_eq "dns name exact" "5353 total 1" "$(dq name=www.example.com)"
assert_eq "dns name exact, other case" "5353 total 1" "$(dq name=WWW.Example.com)"
assert_eq "dns name suffix .example.com" "40001,40000,5353 total 3" "$(dq name=.example.com)"
assert_eq "dns name suffix .example.org" "5354 total 1" "$(dq name=.example.org)"
assert_eq "dns name is not a substring" " total 0" "$(dq name=example.com)"
assert_eq "dns client 10.2.0.1" "5354,5353 total 2" "$(dq client=10.2.0.1)"
assert_eq "dns client fd00::1" "40000 total 1" "$(dq client=fd00::1)"
assert_eq "dns client (a server) matches nothing" " total 0" "$(dq client=10.2.0.53)"
assert_eq "dns node node-b" "40001,40000 total 2" "$(dq node=node-b)"
assert_eq "dns node unknown" " total 0" "$(dq node=nosuch)"
assert_eq "dns start_time" "40001,40000 total 2" "$(dq "start_time=$A1")"
assert_eq "dns end_time (exclusive)" "5354,5353 total 2" "$(dq "end_time=$((A1 + 100))")"
assert_eq "dns time range" "40000,5354 total 2" "$(dq "start_time=$((A0 + 150))&end_time=$((A1 + 150))")"
assert_eq "dns RFC 3339 start" "40001,40000 total 2" \
	"$(dq "start_time=$(date -u -d "@$((A1 / 1000))" +%Y-%m-%dT%H:%M:%SZ)")"
assert_eq "dns node+client+name" "5353 total 1" "$(dq 'node=node-a&client=10.2.0.1&name=.com')"
assert_json "dns limit=1&offset=1" "{\"items\":[$I3],\"limit\":1,\"offset\":1,\"returned\":1,\"total\":4,\"total_capped\":false,\"has_more\":true}" \
	"$(capi '/api/dns?limit=1&offset=1')"
assert_eq "dns SQL is data" " total 0" "$(dq "name=%27%20OR%201%3D1%20--")"

# --- /api/domains -------------------------------------------------------------------------
DOM_ALL='[{"domain":"www.example.com","bytes":16000,"packets":32,"flows":2},
	{"domain":"api.example.com","bytes":2000,"packets":10,"flows":1},
	{"domain":"shop.example.net","bytes":1000,"packets":4,"flows":1}]'
assert_json "domains: range, ranking by bytes, sums" \
	"{\"domains\":$DOM_ALL,\"start_time\":$A0,\"end_time\":$((B1 + 1)),\"truncated\":false}" \
	"$(capi "/api/domains?start_time=$A0&end_time=$((B1 + 1))")"
D=$(capi /api/domains)
assert_json "domains: default range (the last hour)" "$DOM_ALL" "$(jq -c .domains <<<"$D")"
jq -e '.end_time - .start_time == 3600000 and .end_time >= '"$T" <<<"$D" >/dev/null ||
	fail "domains: default range is not the last hour: $(jq -c '{start_time, end_time}' <<<"$D")"
log "ok: domains: default range is the hour up to now"
assert_json "domains: start_time" \
	'[{"domain":"www.example.com","bytes":6000,"packets":12,"flows":1},{"domain":"shop.example.net","bytes":1000,"packets":4,"flows":1}]' \
	"$(capi "/api/domains?start_time=$A1" | jq -c .domains)"
assert_json "domains: node" \
	'[{"domain":"www.example.com","bytes":10000,"packets":20,"flows":1},{"domain":"api.example.com","bytes":2000,"packets":10,"flows":1}]' \
	"$(capi '/api/domains?node=node-a' | jq -c .domains)"
assert_json "domains: limit" '[{"domain":"www.example.com","bytes":16000,"packets":32,"flows":2}]' \
	"$(capi '/api/domains?limit=1' | jq -c .domains)"
assert_json "domains: an empty range" "[]" "$(capi "/api/domains?start_time=$((B1 + 1))&end_time=$((B1 + 2))" | jq -c .domains)"

# --- history: domains and host names -----------------------------------------------------
hq() { capi "/api/history?$1" | jq -r '[.items[] | "\(.src_port):\(.src_hostname):\(.dst_hostname)"] | join(" ")'; }
assert_eq "history: host names (null when unknown)" \
	"1234:null:null 50000:null:v6host.lan 5353:null:null 40001:null:null 40000:laptop.lan:web-1.example.com" \
	"$(hq "")"
assert_eq "history: domain exact" "50000:null:v6host.lan 40000:laptop.lan:web-1.example.com" \
	"$(hq domain=www.example.com)"
assert_eq "history: domain suffix" \
	"50000:null:v6host.lan 40001:null:null 40000:laptop.lan:web-1.example.com" "$(hq domain=.example.com)"
assert_eq "history: domain suffix .net" "1234:null:null" "$(hq domain=.example.net)"
assert_eq "live: host names" "laptop.lan web-1.example.com" \
	"$(capi /api/live | jq -r '.connections[] | select(.src_port == 40000) | "\(.src_hostname) \(.dst_hostname)"')"
assert_eq "live: unknown host names are null" "null null" \
	"$(capi /api/live | jq -r '.connections[] | select(.src_port == 40001) | "\(.src_hostname) \(.dst_hostname)"')"

# --- counters ------------------------------------------------------------------------------
M=$(capi /metrics)
assert_eq "metric dns records stored" 4 "$(metric "$M" ayaflow_collector_dns_records_stored_total)"
assert_eq "metric records stored" 5 "$(metric "$M" ayaflow_collector_records_stored_total)"
assert_eq "stats: ingest dns_records_stored" 4 "$(capi /api/stats | jq .ingest.dns_records_stored)"

# --- bad parameters: 400 naming them ---------------------------------------------------
for q in limit=abc limit=0 offset=-1 start_time=yesterday end_time=2026-13-01T00:00:00Z \
	client=1.2.3 client=fd00:::1 name= name=. node= bogus=1; do
	name=${q%%=*}
	assert_eq "/api/dns?$q: status" 400 "$(ccode "/api/dns?$q")"
	msg=$(jq -r .error.message "$E2E_DIR/body")
	grep -qF -- "'$name'" <<<"$msg" || fail "/api/dns?$q: the error does not name '$name': $msg"
done
for q in limit=0 limit=1001 limit=x start_time=yesterday end_time=1.5 node= offset=1 \
	"start_time=$B1&end_time=$A0"; do
	name=${q%%=*}
	[ "$q" = "start_time=$B1&end_time=$A0" ] && name=end_time
	assert_eq "/api/domains?$q: status" 400 "$(ccode "/api/domains?$q")"
	msg=$(jq -r .error.message "$E2E_DIR/body")
	grep -qF -- "'$name'" <<<"$msg" || fail "/api/domains?$q: the error does not name '$name': $msg"
done
log "ok: bad parameters are a 400 naming them"

# --- ayaflowctl domains -----------------------------------------------------------------
OUT=$(ctl domains --since 1h)
assert_eq "ctl domains table" "DOMAIN               BYTES  PACKETS  FLOWS
www.example.com   15.6 KiB       32      2
api.example.com    2.0 KiB       10      1
shop.example.net    1000 B        4      1" "$OUT"
assert_eq "ctl domains --node --limit table" "DOMAIN             BYTES  PACKETS  FLOWS
www.example.com  9.8 KiB       20      1" "$(ctl domains --node node-a --limit 1)"
assert_eq "ctl domains csv" "domain,bytes,packets,flows
www.example.com,16000,32,2
api.example.com,2000,10,1
shop.example.net,1000,4,1" "$(ctl -o csv domains --since "$A0" --until $((B1 + 1)))"
ctl -o json domains --since "$A0" --until $((B1 + 1)) >/dev/null
curl -sS -m 5 -o "$E2E_DIR/curl" "$BASE/api/domains?start_time=$A0&end_time=$((B1 + 1))"
cmp -s "$E2E_DIR/out" "$E2E_DIR/curl" || fail "ctl -o json domains differs from the API body"
log "ok: ctl -o json domains is the API body byte for byte"

# --- ayaflowctl dns ---------------------------------------------------------------------
U1=$(utc $((A0 + 100))) U2=$(utc $((A0 + 200))) U3=$(utc $((A1 + 100))) U4=$(utc $((A1 + 200)))
assert_eq "ctl dns table" "TIME                 NODE    CLIENT           NAME              TYPE  RCODE     LATENCY  ANSWERS
$U4  node-b  10.2.1.1:40001   lost.example.com  A     -         -        -
$U3  node-b  [fd00::1]:40000  api.example.com   AAAA  noerror   0.8 ms   fd00::2
$U2  node-a  10.2.0.1:5354    nx.example.org    AAAA  nxdomain  2.2 ms   -
$U1  node-a  10.2.0.1:5353    www.example.com   A     noerror   1.5 ms   web-1.example.com,10.2.0.2" \
	"$(ctl dns --since 1h)"
assert_eq "ctl dns --name --client table" "TIME                 NODE    CLIENT         NAME             TYPE  RCODE    LATENCY  ANSWERS
$U1  node-a  10.2.0.1:5353  www.example.com  A     noerror  1.5 ms   web-1.example.com,10.2.0.2" \
	"$(ctl dns --name .example.com --client 10.2.0.1)"
assert_eq "ctl dns --node --limit csv" "timestamp,node,name,type,qtype,rcode,answered,latency_us,latency_ms,client_ip,client_port,server_ip,server_port,answers
$((A1 + 200)),node-b,lost.example.com,A,1,,false,0,,10.2.1.1,40001,10.2.1.53,53,[]" \
	"$(ctl -o csv dns --node node-b --limit 1)"
assert_eq "ctl dns csv: answers as JSON" \
	"$((A0 + 100)),node-a,www.example.com,A,1,noerror,true,1500,1.5,10.2.0.1,5353,10.2.0.53,53,\"[{\"\"type\"\":\"\"CNAME\"\",\"\"ttl\"\":60,\"\"target\"\":\"\"web-1.example.com\"\"},{\"\"type\"\":\"\"A\"\",\"\"ttl\"\":300,\"\"address\"\":\"\"10.2.0.2\"\"}]\"" \
	"$(ctl -o csv dns --name www.example.com | sed -n 2p)"
ctl -o json dns --name .example.com >/dev/null
curl -sS -m 5 -o "$E2E_DIR/curl" "$BASE/api/dns?name=.example.com"
cmp -s "$E2E_DIR/out" "$E2E_DIR/curl" || fail "ctl -o json dns differs from the API body"
log "ok: ctl -o json dns is the API body byte for byte"
rc=0
env -u AYAFLOW_COLLECTOR COLUMNS=250 "$AYAFLOW_CLI" --collector "$BASE" dns --client 1.2.3 \
	>"$E2E_DIR/out" 2>"$E2E_DIR/err" || rc=$?
assert_eq "ctl dns --client 1.2.3: exit status" 2 "$rc"
grep -qF "parameter 'client'" "$E2E_DIR/err" || fail "ctl dns --client 1.2.3: $(cat "$E2E_DIR/err")"

# --- ayaflowctl history shows the host names when there are some --------------------------
OUT=$(ctl history --domain .example.com)
assert_eq "ctl history table header with host names" \
	"TIME PROTO SRC DST SRC HOST DST HOST PACKETS BYTES NODE DOMAIN FLAGS IFACE" \
	"$(sed -n 1p <<<"$OUT" | tr -s ' ')"
assert_eq "ctl history table rows with host names (blanks squeezed)" \
	"$(utc "$A1") tcp [fd00::1]:50000 [fd00::2]:443 - v6host.lan 12 5.9 KiB node-b www.example.com - eth1
$(utc "$A0") tcp 10.2.0.1:40001 10.2.0.3:443 - - 10 2.0 KiB node-a api.example.com - eth0
$(utc "$A0") tcp 10.2.0.1:40000 10.2.0.2:443 laptop.lan web-1.example.com 20 9.8 KiB node-a www.example.com SYN,ACK eth0" \
	"$(sed 1d <<<"$OUT" | tr -s ' ')"
assert_eq "ctl history csv ends with the host names" "interface,src_hostname,dst_hostname" \
	"$(ctl -o csv history --domain www.example.com | sed -n 1p | grep -o 'interface,.*')"
assert_eq "ctl history without host names: the usual columns" \
	"TIME PROTO SRC DST PACKETS BYTES NODE DOMAIN FLAGS IFACE" \
	"$(ctl history --domain .example.net | sed -n 1p | tr -s ' ')"

# --- stop: clean exit, no sanitizer report ---------------------------------------------
kill -TERM "$COL"
rc=0
wait "$COL" || rc=$?
assert_eq "collector exit status after SIGTERM" 0 "$rc"
if grep -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error" "$E2E_DIR/collector.log"; then
	fail "sanitizer report in the collector's log"
fi
log "ok: no sanitizer report"
