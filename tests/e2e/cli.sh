#!/usr/bin/env bash
# cli.sh - ayaflowctl against a real collector fed by a real node: every subcommand in
# every output format. JSON output is the API's body byte for byte (compared with curl
# of the same URL; for endpoints with changing values, after jq removes the volatile
# fields), table and CSV values are checked exactly against the API, history filters
# give the exact rows, and the exit statuses: 1 with the usage line for bad usage, 2
# with the message for an unreachable collector and for an API error.
#
# Node in A watches the pair A <-> B (UDP 5 x 20-byte datagrams, ICMP 2 echoes); the
# collector runs in the hub namespace, linked to A (cluster.sh); ayaflowctl runs in the
# hub and talks to the collector over loopback.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
: "${AYAFLOW_CLI:?AYAFLOW_CLI must name the ayaflowctl binary}"
[ -x "$AYAFLOW_CLI" ] || fail "AYAFLOW_CLI=$AYAFLOW_CLI is not executable"

NODE_NAME=cli-node

ns_pair "$(ns_name a)" "$(ns_name b)" 10.83.1
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.83.101
collector_start collector "$E2E_DIR/flows.db"
node_start "$NS_A" 3001 node -i "$DEV_A" --collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT" \
	--aggregation-window 1 --node-name "$NODE_NAME"

# ctl ARGS...: ayaflowctl in the hub, against the collector, 250 columns wide (every
# table column fits). AYAFLOW_COLLECTOR, which names the collector binary in the test
# environment, is not given to it. Stdout to $E2E_DIR/out, stderr to $E2E_DIR/err; the
# exit status is CTL_RC.
ctl()
{
	CTL_RC=0
	ip netns exec "$HUB_NS" env -u AYAFLOW_COLLECTOR -u AYAFLOW_TOKEN COLUMNS=250 \
		"$AYAFLOW_CLI" --collector "$COLLECTOR_URL" "$@" >"$E2E_DIR/out" 2>"$E2E_DIR/err" ||
		CTL_RC=$?
}

# ctl_ok ARGS...: ctl that must exit 0 with nothing on stderr; prints stdout.
ctl_ok()
{
	ctl "$@"
	[ "$CTL_RC" = 0 ] || fail "ayaflowctl $*: exit $CTL_RC: $(cat "$E2E_DIR/err")"
	[ ! -s "$E2E_DIR/err" ] || fail "ayaflowctl $*: wrote to stderr: $(cat "$E2E_DIR/err")"
	cat "$E2E_DIR/out"
}

# curl_raw URLPATH FILE: the collector's body, byte for byte.
curl_raw() { ip netns exec "$HUB_NS" curl -sS -m 10 -o "$2" "$COLLECTOR_URL$1"; }

# same_json DESC URLPATH ARGS...: `ayaflowctl -o json ARGS` is byte-identical to curl.
same_json()
{
	local desc=$1 path=$2
	shift 2
	ctl -o json "$@"
	[ "$CTL_RC" = 0 ] || fail "$desc: exit $CTL_RC: $(cat "$E2E_DIR/err")"
	curl_raw "$path" "$E2E_DIR/curl"
	cmp -s "$E2E_DIR/out" "$E2E_DIR/curl" ||
		fail "$desc: -o json differs from curl $path: $(head -c 300 "$E2E_DIR/out") vs $(head -c 300 "$E2E_DIR/curl")"
	log "ok: $desc: -o json is byte-identical to GET $path"
}

# same_json_jq DESC URLPATH JQ ARGS...: the same after the jq filter JQ (which removes
# the fields that change between two calls) on both.
same_json_jq()
{
	local desc=$1 path=$2 filter=$3 a b
	shift 3
	ctl -o json "$@"
	[ "$CTL_RC" = 0 ] || fail "$desc: exit $CTL_RC: $(cat "$E2E_DIR/err")"
	curl_raw "$path" "$E2E_DIR/curl"
	a=$(jq -c "$filter" "$E2E_DIR/out") || fail "$desc: -o json is not JSON"
	b=$(jq -c "$filter" "$E2E_DIR/curl")
	assert_eq "$desc: -o json vs GET $path, after $filter" "$b" "$a"
}

# csv_expect JQ-PATHS: the CSV rows the API's JSON (stdin) should give: the values of
# each object as jq prints them, null as empty (our values hold no comma or quote).
csv_expect()
{
	jq -r "$1 | map(if . == null then \"\" else tostring end) | join(\",\")"
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
node_settled "$NS_A" "$NODE_NAME" >/dev/null
cpoll_jq "/api/history?limit=1000" \
	'([.items[] | select(.protocol == "udp") | .packet_count] | add) == 5 and
	 ([.items[] | select(.protocol == "icmp") | .packet_count] | add) == 4' \
	"5 UDP and 4 ICMP packets in the history"
cpoll_jq /api/live '[.connections[] | select(.protocol == "udp" or .protocol == "icmp")] | length == 2' \
	"the UDP and ICMP connections in the collector's live view"

# --- version, help --------------------------------------------------------------------
OUT=$(ctl_ok --version)
[[ "$OUT" =~ ^ayaflowctl\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version printed '$OUT'"
log "ok: --version: $OUT"
OUT=$(ctl_ok --help)
for cmd in health stats nodes live history watch; do
	grep -q "^  $cmd " <<<"$OUT" || fail "--help does not list $cmd"
	OUT2=$(ctl_ok "$cmd" --help)
	grep -q "^usage: ayaflowctl $cmd " <<<"$OUT2" || fail "$cmd --help: no usage line: $OUT2"
	OUT2=$(ctl_ok -h "$cmd")
	grep -q "^usage: ayaflowctl $cmd " <<<"$OUT2" || fail "-h $cmd: no usage line"
done
for opt in --node --ip --src-ip --dst-ip --port --src-port --dst-port --protocol --domain \
	--since --until --limit --offset; do
	grep -q -- "$opt " <<<"$(ctl_ok history --help)" || fail "history --help lacks $opt"
done
log "ok: --help of every subcommand"

# --- health -------------------------------------------------------------------------------
same_json_jq "health" /api/health 'del(.uptime_seconds)' health
H=$(capi /api/health)
OUT=$(ctl_ok health)
assert_eq "health table header" "STATUS UPTIME NODES CONNS PACKETS BYTES" "$(sed -n 1p <<<"$OUT" | tr -s ' ')"
read -r st _up nodes conns pkts bytes unit <<<"$(sed -n 2p <<<"$OUT")"
assert_eq "health table status" ok "$st"
assert_eq "health table nodes" "$(jq .nodes <<<"$H")" "$nodes"
assert_eq "health table connections" "$(jq .active_connections <<<"$H")" "$conns"
assert_eq "health table packets" "$(jq .total_packets <<<"$H")" "$pkts"
assert_eq "health table bytes" "$(jq .total_bytes <<<"$H") B" "$bytes $unit"
OUT=$(ctl_ok -o csv health)
assert_eq "health csv header" "status,uptime_seconds,nodes,active_connections,total_packets,total_bytes" \
	"$(sed -n 1p <<<"$OUT")"
assert_eq "health csv row (uptime left out)" \
	"$(csv_expect '[.status, .nodes, .active_connections, .total_packets, .total_bytes]' <<<"$H")" \
	"$(sed -n 2p <<<"$OUT" | cut -d, -f1,3-)"
assert_eq "health csv lines" 2 "$(wc -l <<<"$OUT")"

# --- stats --------------------------------------------------------------------------------
VOLATILE_STATS='del(.uptime_seconds, .packets_per_second, .bytes_per_second, .ingest, .db_bytes,
	.nodes[].last_seen, .nodes[].packets_per_second, .nodes[].bytes_per_second)'
same_json_jq "stats" /api/stats "$VOLATILE_STATS" stats
S=$(capi /api/stats)
OUT=$(ctl_ok stats)
echo "$OUT" >"$E2E_DIR/stats_table.txt"
read -r _up nodes conns pkts bytes unit _rest <<<"$(sed -n 2p <<<"$OUT")"
assert_eq "stats table nodes" "$(jq .nodes_connected <<<"$S")" "$nodes"
assert_eq "stats table packets" "$(jq .total_packets <<<"$S")" "$pkts"
assert_eq "stats table bytes" "$(jq .total_bytes <<<"$S") B" "$bytes $unit"
assert_eq "stats table connections" "$(jq .active_connections <<<"$S")" "$conns"
for reason in $(jq -r '.lost_packets | keys[]' <<<"$S"); do
	got=$(awk -v r="$reason" '$1 == r { print $2 }' <<<"$OUT")
	assert_eq "stats table loss ledger $reason" "$(jq ".lost_packets.$reason" <<<"$S")" "$got"
done
LINE=$(grep "^$NODE_NAME " <<<"$OUT") || fail "stats table has no row for $NODE_NAME: $OUT"
read -r _name connected nconns npkts nbytes nunit _rest <<<"$LINE"
assert_eq "stats table node connected" yes "$connected"
assert_eq "stats table node connections" "$(jq '.nodes[0].active_connections' <<<"$S")" "$nconns"
assert_eq "stats table node packets" "$(jq '.nodes[0].packets' <<<"$S")" "$npkts"
assert_eq "stats table node bytes" "$(jq '.nodes[0].bytes' <<<"$S") B" "$nbytes $nunit"
OUT=$(ctl_ok -o csv stats)
[ "$(wc -l <<<"$OUT")" = 2 ] || fail "stats csv: not header + 1 row: $OUT"
HDR=$(sed -n 1p <<<"$OUT")
ROW=$(sed -n 2p <<<"$OUT")
# csv_field NAME: the value of column NAME in the stats row.
csv_field()
{
	awk -F, -v name="$1" -v hdr="$HDR" -v row="$ROW" 'BEGIN {
		n = split(hdr, h, ","); split(row, v, ",")
		for (i = 1; i <= n; i++) if (h[i] == name) { print v[i]; exit }
		print "MISSING" }'
}
assert_eq "stats csv total_packets" "$(jq .total_packets <<<"$S")" "$(csv_field total_packets)"
assert_eq "stats csv total_bytes" "$(jq .total_bytes <<<"$S")" "$(csv_field total_bytes)"
assert_eq "stats csv lost_packets.ipv6_disabled" "$(jq .lost_packets.ipv6_disabled <<<"$S")" \
	"$(csv_field lost_packets.ipv6_disabled)"
assert_eq "stats csv ingest.records_stored" "$(jq .ingest.records_stored <<<"$(capi /api/stats)")" \
	"$(csv_field ingest.records_stored)"

# --- nodes --------------------------------------------------------------------------------
same_json_jq "nodes" /api/nodes \
	'del(.nodes[].last_seen, .nodes[].batches, .nodes[].last_seq, .nodes[].lost_packets)' nodes
N=$(capi /api/nodes)
OUT=$(ctl_ok nodes)
assert_eq "nodes table rows" 2 "$(wc -l <<<"$OUT")"
read -r name connected conns pkts bytes unit _rest <<<"$(sed -n 2p <<<"$OUT")"
assert_eq "nodes table name" "$NODE_NAME" "$name"
assert_eq "nodes table connected" yes "$connected"
assert_eq "nodes table packets" "$(jq '.nodes[0].total_packets' <<<"$N")" "$pkts"
assert_eq "nodes table bytes" "$(jq '.nodes[0].total_bytes' <<<"$N") B" "$bytes $unit"
OUT=$(ctl_ok -o csv nodes)
assert_eq "nodes csv header" "name,boot_id,agent_version,first_seen,last_seen,connected,total_packets,total_bytes,active_connections,lost_packets.unparsable,lost_packets.flow_map_full,lost_packets.ipv6_disabled,lost_packets.export_spool_full,lost_packets.collector_rejected,lost_packets.payload_ringbuf_full,batches,records" \
	"$(sed -n 1p <<<"$OUT")"
assert_eq "nodes csv row (stable fields)" \
	"$(csv_expect '.nodes[0] | [.name, .boot_id, .agent_version, .first_seen, .connected, .total_packets, .total_bytes, .active_connections, .records]' <<<"$N")" \
	"$(sed -n 2p <<<"$OUT" | cut -d, -f1-4,6-9,17)"

# --- live -----------------------------------------------------------------------------------
same_json "live" /api/live live
same_json "live --limit 1 --node" "/api/live?node=$NODE_NAME&limit=1" live --node "$NODE_NAME" --limit 1
L=$(capi /api/live)
OUT=$(ctl_ok live)
echo "$OUT" >"$E2E_DIR/live_table.txt"
assert_eq "live table header" "PROTO SRC DST PACKETS SENT RECEIVED NODE DOMAIN FLAGS LAST SEEN IFACE" \
	"$(sed -n 1p <<<"$OUT" | tr -s ' ')"
grep -Eq "^udp +$IP_B:7001 +$IP_A:6000 +5 +240 B +0 B +$NODE_NAME +- +- +[0-9-]+ [0-9:]+ +$DEV_A\$" <<<"$OUT" ||
	fail "live table: no exact UDP row: $OUT"
grep -Eq "^icmp +$IP_B:0 +$IP_A:0 +4 +168 B +168 B +$NODE_NAME +- +- " <<<"$OUT" ||
	fail "live table: no exact ICMP row: $OUT"
log "ok: live table rows (udp 5 packets 240 B, icmp 4 packets 168 B each way)"
assert_eq "live table rows" "$(($(jq '.connections | length' <<<"$L") + 1))" "$(wc -l <<<"$OUT")"
OUT=$(ctl_ok -o csv live)
LIVE_KEYS='connection,protocol,ip_version,src_ip,src_port,dst_ip,dst_port,first_seen,last_seen,tcp_flags,domain,node,interface,stats.packets_count,stats.packets_sent,stats.packets_received,stats.bytes_sent,stats.bytes_received'
assert_eq "live csv header" "$LIVE_KEYS" "$(sed -n 1p <<<"$OUT")"
assert_eq "live csv rows = API" \
	"$(csv_expect '.connections[] | [.connection, .protocol, .ip_version, .src_ip, .src_port, .dst_ip, .dst_port, .first_seen, .last_seen, .tcp_flags, .domain, .node, .interface, .stats.packets_count, .stats.packets_sent, .stats.packets_received, .stats.bytes_sent, .stats.bytes_received]' <<<"$L")" \
	"$(sed -n '2,$p' <<<"$OUT")"
assert_eq "live csv UDP row" "$IP_B:7001 -> $IP_A:6000,udp,4,$IP_B,7001,$IP_A,6000,5,5,0,240,0" \
	"$(grep ',udp,' <<<"$OUT" | cut -d, -f1-7,14-)"
# a narrow terminal: the least important columns go, the essential ones stay
OUT=$(ip netns exec "$HUB_NS" env -u AYAFLOW_COLLECTOR COLUMNS=60 "$AYAFLOW_CLI" --collector "$COLLECTOR_URL" live)
# (63 columns with RECEIVED, the rightmost of the least important pair)
assert_eq "live table at 60 columns" "PROTO SRC DST PACKETS SENT" "$(sed -n 1p <<<"$OUT" | tr -s ' ')"
awk 'length > 60 { exit 1 }' <<<"$OUT" || fail "live table at 60 columns has longer lines: $OUT"
# not a terminal, no $COLUMNS: 100 columns
OUT=$(ip netns exec "$HUB_NS" env -u AYAFLOW_COLLECTOR -u COLUMNS "$AYAFLOW_CLI" --collector "$COLLECTOR_URL" live)
awk 'length > 100 { exit 1 }' <<<"$OUT" || fail "live table without a terminal is wider than 100: $OUT"
log "ok: tables fit 60 and 100 columns"

# --- history ------------------------------------------------------------------------------
HIST_CSV='.items[] | [.timestamp, .window_end, .node, .protocol, .ip_version, .src_ip, .src_port, .dst_ip, .dst_port, .packets_sent, .packets_received, .bytes_sent, .bytes_received, .packet_count, .length, .tcp_flags, .domain, .first_seen, .last_seen, .interface]'
HIST_KEYS='timestamp,window_end,node,protocol,ip_version,src_ip,src_port,dst_ip,dst_port,packets_sent,packets_received,bytes_sent,bytes_received,packet_count,length,tcp_flags,domain,first_seen,last_seen,interface'
same_json "history" /api/history history
ALL=$(capi "/api/history?limit=1000")
NALL=$(jq '.items | length' <<<"$ALL")
[ "$NALL" -ge 2 ] || fail "history has $NALL rows, want at least 2"
OUT=$(ctl_ok history --limit 1000)
assert_eq "history table rows" $((NALL + 1)) "$(wc -l <<<"$OUT")"
assert_eq "history table header" "TIME PROTO SRC DST PACKETS BYTES NODE DOMAIN FLAGS IFACE" \
	"$(sed -n 1p <<<"$OUT" | tr -s ' ')"
assert_eq "history table UDP packets" 5 \
	"$(awk '$3 == "udp" { s += $6 } END { print s }' <<<"$OUT")"
assert_eq "history table ICMP packets" 4 \
	"$(awk '$3 == "icmp" { s += $6 } END { print s }' <<<"$OUT")"
assert_eq "history table UDP rows" \
	"$(jq -r ".items[] | select(.protocol == \"udp\") | \"udp $IP_B:7001 $IP_A:6000 \(.packet_count) \(.length) B $NODE_NAME - - $DEV_A\"" <<<"$ALL")" \
	"$(awk '$3 == "udp" { $1 = $2 = ""; sub(/^ +/, ""); print }' <<<"$OUT")"

# history_case DESC QUERY ARGS...: `history ARGS -o csv` gives exactly the rows of
# GET /api/history?QUERY, and `-o json` is that body byte for byte. Prints the count.
history_case()
{
	local desc=$1 query=$2 body
	shift 2
	body=$(capi "/api/history?$query")
	OUT=$(ctl_ok -o csv history "$@")
	assert_eq "history $desc: csv header" "$HIST_KEYS" "$(sed -n 1p <<<"$OUT")"
	assert_eq "history $desc: csv rows" "$(csv_expect "$HIST_CSV" <<<"$body")" "$(sed -n '2,$p' <<<"$OUT")"
	HC_N=$(jq '.items | length' <<<"$body")
}
history_case "all" "limit=1000" --limit 1000
assert_eq "history all: rows" "$NALL" "$HC_N"
history_case "--node" "node=$NODE_NAME&limit=1000" --node "$NODE_NAME" --limit 1000
assert_eq "history --node: rows" "$NALL" "$HC_N"
history_case "--node other" "node=nobody" --node nobody
assert_eq "history --node nobody: rows" 0 "$HC_N"
history_case "--ip" "ip=$IP_B&limit=1000" --ip "$IP_B" --limit 1000
assert_eq "history --ip: rows" "$NALL" "$HC_N"
history_case "--ip other" "ip=10.9.9.9" --ip 10.9.9.9
assert_eq "history --ip 10.9.9.9: rows" 0 "$HC_N"
history_case "--protocol udp" "protocol=udp&limit=1000" --protocol udp --limit 1000
NUDP=$(jq '[.items[] | select(.protocol == "udp")] | length' <<<"$ALL")
assert_eq "history --protocol udp: rows" "$NUDP" "$HC_N"
assert_eq "history --protocol udp: packets" 5 \
	"$(sed -n '2,$p' <<<"$OUT" | awk -F, '{ s += $14 } END { print s }')"
assert_eq "history --protocol udp: bytes" 240 \
	"$(sed -n '2,$p' <<<"$OUT" | awk -F, '{ s += $15 } END { print s }')"
history_case "--src-port --dst-port" "src_port=7001&dst_port=6000&limit=1000" \
	--src-port 7001 --dst-port 6000 --limit 1000
assert_eq "history --src-port 7001 --dst-port 6000: rows" "$NUDP" "$HC_N"
history_case "--since 10m" "limit=1000" --since 10m --limit 1000
assert_eq "history --since 10m: rows" "$NALL" "$HC_N"
history_case "--until 10m" "end_time=1" --until 10m
assert_eq "history --until 10m: rows" 0 "$HC_N"
history_case "--since RFC 3339" "limit=1000" --since 2000-01-01T00:00:00Z --limit 1000
assert_eq "history --since 2000-01-01T00:00:00Z: rows" "$NALL" "$HC_N"
history_case "--until Unix ms" "end_time=1" --until 1
assert_eq "history --until 1: rows" 0 "$HC_N"
history_case "--limit 1" "limit=1" --limit 1
assert_eq "history --limit 1: rows" 1 "$HC_N"
history_case "--limit 1 --offset 1" "limit=1&offset=1" --limit 1 --offset 1
assert_eq "history --limit 1 --offset 1: rows" 1 "$HC_N"
same_json "history --protocol udp --limit 1" "/api/history?protocol=udp&limit=1" \
	history --protocol udp --limit 1
same_json "history --node (URL-encoded)" "/api/history?node=$NODE_NAME" history --node "$NODE_NAME"
same_json "history --domain (URL-encoded)" "/api/history?domain=a%20b%26c" history --domain 'a b&c'
# global options after the subcommand, and the collector from the environment
OUT=$(ip netns exec "$HUB_NS" env AYAFLOW_COLLECTOR="$COLLECTOR_URL" "$AYAFLOW_CLI" history --limit 1 -o json)
assert_eq "AYAFLOW_COLLECTOR and -o after the subcommand" "$(capi '/api/history?limit=1')" "$OUT"

# --- bearer token: --token, else $AYAFLOW_TOKEN (seen on the wire, loopback of the hub) ----
require_tools tcpdump
# (pcap_start captures 128 bytes of each frame: not enough for the HTTP headers)
ip netns exec "$HUB_NS" tcpdump -i lo -nn -U --immediate-mode -Z root -s 2048 \
	-w "$E2E_DIR/token.pcap" 'tcp dst port 3000' >"$E2E_DIR/tcpdump.log" 2>&1 &
PCAP_PID=$!
track_pid "$PCAP_PID"
wait_for "tcpdump listening" "grep -q 'listening on' '$E2E_DIR/tcpdump.log'"
ctl_ok --token s3cret-flag health >/dev/null
ip netns exec "$HUB_NS" env -u AYAFLOW_COLLECTOR AYAFLOW_TOKEN=s3cret-env "$AYAFLOW_CLI" \
	--collector "$COLLECTOR_URL" health >/dev/null || fail "health with AYAFLOW_TOKEN failed"
sleep 0.5
pcap_stop
TOKENS=$(tcpdump -r "$E2E_DIR/token.pcap" -nn -A 2>/dev/null | grep -a -o 'Authorization: Bearer [a-z0-9-]*' || true)
assert_eq "Authorization headers sent" "Authorization: Bearer s3cret-flag
Authorization: Bearer s3cret-env" "$TOKENS"

# --- watch ----------------------------------------------------------------------------------
OUT=$(ctl_ok watch --count 3)
assert_eq "watch --count 3: updates" 3 "$(grep -c '^UPTIME ' <<<"$OUT")"
assert_eq "watch --count 3: node rows" 3 "$(grep -c "^$NODE_NAME " <<<"$OUT")"
grep -q $'\033' <<<"$OUT" && fail "watch wrote escape codes to a pipe"
OUT=$(ctl_ok -o json watch --count 2)
assert_eq "watch -o json --count 2: lines" 2 "$(wc -l <<<"$OUT")"
assert_eq "watch -o json: JSON stats" "true
true" "$(jq -c '.total_packets > 0' <<<"$OUT")"
OUT=$(ctl_ok -o csv watch --count 2)
assert_eq "watch -o csv --count 2: header + 2 rows" 3 "$(wc -l <<<"$OUT")"
ip netns exec "$HUB_NS" env -u AYAFLOW_COLLECTOR "$AYAFLOW_CLI" --collector "$COLLECTOR_URL" watch \
	>"$E2E_DIR/watch.out" 2>"$E2E_DIR/watch.log" &
WATCH=$!
track_pid $WATCH
wait_for "watch drew an update" "grep -q '^UPTIME ' '$E2E_DIR/watch.out'"
kill -INT $WATCH
RC=0
wait $WATCH || RC=$?
untrack_pid $WATCH
assert_eq "watch exit status on SIGINT" 0 "$RC"

# --- bad usage: exit 1 and the usage line on stderr, nothing on stdout -----------------------
# usage_case DESC ARGS...
usage_case()
{
	local desc=$1
	shift
	ctl "$@"
	assert_eq "$desc: exit status" 1 "$CTL_RC"
	grep -q '^usage: ayaflowctl' "$E2E_DIR/err" || fail "$desc: no usage line: $(cat "$E2E_DIR/err")"
	[ ! -s "$E2E_DIR/out" ] || fail "$desc: wrote to stdout: $(cat "$E2E_DIR/out")"
}
usage_case "unknown subcommand" frobnicate
usage_case "unknown flag" history --frobnicate
usage_case "--limit abc" history --limit abc
usage_case "-o xml" -o xml health
usage_case "missing value" live --limit
usage_case "extra argument" health now
usage_case "no subcommand"
usage_case "watch --count 0" watch --count 0
grep -q "'abc'" <<<"$(ctl history --limit abc; cat "$E2E_DIR/err")" || fail "--limit abc: message does not name the value"

# --- collector errors: exit 2 with the message ----------------------------------------------
# a closed port on 127.0.0.1 (in the hub nothing listens but the collector)
ctl --collector http://127.0.0.1:9 health
assert_eq "unreachable collector: exit status" 2 "$CTL_RC"
grep -q 'cannot reach the collector' "$E2E_DIR/err" || fail "unreachable: message: $(cat "$E2E_DIR/err")"
[ ! -s "$E2E_DIR/out" ] || fail "unreachable: wrote to stdout"
ctl history --ip 1.2.3
assert_eq "history --ip 1.2.3: exit status" 2 "$CTL_RC"
MSG=$(ip netns exec "$HUB_NS" curl -s -m 10 "$COLLECTOR_URL/api/history?ip=1.2.3" | jq -r .error.message)
assert_eq "history --ip 1.2.3: the collector's message" "ayaflowctl: collector: $MSG" "$(cat "$E2E_DIR/err")"
ctl history --limit 0
assert_eq "history --limit 0 (refused by the collector): exit status" 2 "$CTL_RC"
grep -q "^ayaflowctl: collector: parameter 'limit'" "$E2E_DIR/err" || fail "--limit 0: $(cat "$E2E_DIR/err")"

check_sanitizer_logs
