#!/usr/bin/env bash
# deep_inspect.sh - --deep-inspect: domains from real DNS exchanges (UDP and TCP) and real
# TLS handshakes, on the node's /api/live and /metrics, and at the collector (history by
# domain, /api/domains, /api/dns) and in ayaflowctl.
#
# Namespaces A <-> B (10.87.1.0/24; A also has 10.87.1.3 on its veth). Node N in A watches
# "va" with --deep-inspect and exports to the collector in the hub namespace (cluster.sh).
# In A: a small DNS responder (trafficgen dns-server) on port 53 with a known zone, a TCP
# server on 8080 and `openssl s_server` on 10.87.1.1:8443 and 10.87.1.3:443 (self-signed
# certificate made here). B asks the responder (UDP and TCP, fixed source ports), then
# connects to both addresses on 8080 and makes a TLS handshake to each server with a
# known SNI. Each server address is the answer of exactly one name (10.87.1.1: api; the
# CNAME chain www -> edge ends at 10.87.1.3), so the expected domain of each connection
# is exact:
#   DNS connections            the name they asked for
#   TCP 8080 to .1 / .3        api.example.com / www.example.com (the queried name of the
#                              answer that resolved the address)
#   TLS to .1:8443 / .3:443    shop.example.org / cdn.example.org (SNI before DNS)
#   ICMP A -> B                none
# tcpdump on "va" is the ground truth of ayaflow_deep_inspect_packets_total (DNS packets
# with payload + TLS ClientHello records). Finally the node runs again without
# --deep-inspect: no domain anywhere, every deep-inspection counter 0.
# shellcheck disable=SC2016 # jq programs in single quotes
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector
require_tools openssl
: "${AYAFLOW_CLI:?AYAFLOW_CLI must name the ayaflowctl binary}"
[ -x "$AYAFLOW_CLI" ] || fail "AYAFLOW_CLI=$AYAFLOW_CLI is not executable"

NODE_NAME=di-node-$E2E_ID
NET=10.87.1
IP_A3=$NET.3
# IPv6 address answered for v6.example.com (no IPv6 traffic: the node runs without IPv6).
V6_ADDR=fd00:ae:87::5

ns_pair "$(ns_name a)" "$(ns_name b)" "$NET"
ip -n "$NS_A" addr add "$IP_A3/24" dev "$DEV_A"
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.87.101
collector_start collector "$E2E_DIR/flows.db" --connection-timeout 3600

NODE_ARGS=(-i "$DEV_A" --aggregation-window 1 --connection-timeout 3600 --closed-timeout 3600
	--node-name "$NODE_NAME")
node_start "$NS_A" 3001 node --deep-inspect "${NODE_ARGS[@]}" \
	--collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT"
NODE1_PID=$NODE_PID
npoll_jq "$NS_A" /api/stats '.export.connected == true and .export.batches_acked >= 1' "node connected"

# --- servers in A ----------------------------------------------------------------------
ZONE=$E2E_DIR/zone.txt
cat >"$ZONE" <<EOF
# name type value ttl
api.example.com   A     $IP_A 300
www.example.com   CNAME edge.example.net 300
edge.example.net  A     $IP_A3 300
v6.example.com    AAAA  $V6_ADDR 300
fail.example.com  RCODE 2 0
slow.example.com  DROP  - 0
EOF
ip netns exec "$NS_A" "$TRAFFICGEN" dns-server 53 "$ZONE" >"$E2E_DIR/dns-server.log" 2>&1 &
DNS_PID=$!
track_pid "$DNS_PID"
wait_listen "$NS_A" udp 53
wait_listen "$NS_A" tcp 53

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=ayaflow-e2e" \
	-keyout "$E2E_DIR/key.pem" -out "$E2E_DIR/cert.pem" >"$E2E_DIR/openssl-req.log" 2>&1 ||
	fail "openssl req failed"

# tls_server NAME ADDR PORT: openssl s_server in A for one connection; sets TLS_PID.
tls_server()
{
	local name=$1 addr=$2 port=$3
	ip netns exec "$NS_A" openssl s_server -accept "$addr:$port" -naccept 1 -quiet \
		-cert "$E2E_DIR/cert.pem" -key "$E2E_DIR/key.pem" </dev/null \
		>"$E2E_DIR/$name.log" 2>&1 &
	TLS_PID=$!
	track_pid "$TLS_PID"
	wait_listen "$NS_A" tcp "$port"
}

# tls_client NAME ADDR PORT SNI: a full TLS handshake from B; the client then closes.
tls_client()
{
	local name=$1 addr=$2 port=$3 sni=$4
	nsx "$NS_B" timeout 20 openssl s_client -connect "$addr:$port" -servername "$sni" \
		</dev/null >"$E2E_DIR/$name.out" 2>&1 || fail "openssl s_client $addr:$port (SNI $sni) failed"
	grep -q '^CONNECTED' "$E2E_DIR/$name.out" || fail "s_client $addr:$port did not connect"
	grep -qE '^(New|Reused), TLS' "$E2E_DIR/$name.out" ||
		fail "s_client $addr:$port: no TLS session established"
}

# wait_pid DESC PID: waits for a process the test started and forgets it.
wait_pid()
{
	wait "$2" || fail "$1 exited with status $?"
	untrack_pid "$2"
}

PCAP=$E2E_DIR/va.pcap
pcap_start "$NS_A" "$DEV_A" "$PCAP"

# --- DNS from B ------------------------------------------------------------------------
# dns_query SPORT NAME TYPE [--tcp] ...: asks A from B; the output goes to $E2E_DIR/q<SPORT>.
dns_query()
{
	local sport=$1 name=$2 type=$3 rc=0
	shift 3
	nsx "$NS_B" "$TRAFFICGEN" dns-query "$IP_A" 53 "$name" "$type" --sport "$sport" "$@" \
		>"$E2E_DIR/q$sport" 2>>"$E2E_DIR/dns-client.log" || rc=$?
	DNS_RC=$rc
}

# Query table: sport proto name type rcode (none = no response) expected-answers.
QUERIES=(
	"40001 udp api.example.com A noerror api.example.com|A|$IP_A"
	"40002 tcp www.example.com A noerror www.example.com|CNAME|edge.example.net;edge.example.net|A|$IP_A3"
	"40003 udp v6.example.com AAAA noerror v6.example.com|AAAA|$V6_ADDR"
	"40004 udp nope.example.com A nxdomain -"
	"40005 tcp api.example.com A noerror api.example.com|A|$IP_A"
	"40006 udp slow.example.com A none -"
	"40007 udp fail.example.com A servfail -"
)
for q in "${QUERIES[@]}"; do
	read -r sport proto name type rcode ans <<<"$q"
	opts=()
	[ "$proto" = tcp ] && opts+=(--tcp)
	[ "$rcode" = none ] && opts+=(--timeout 1)
	dns_query "$sport" "$name" "$type" "${opts[@]}"
	if [ "$rcode" = none ]; then
		assert_eq "dns-query $name (dropped by the server): exit status" 3 "$DNS_RC"
		continue
	fi
	assert_eq "dns-query $name $type ($proto): exit status" 0 "$DNS_RC"
	assert_eq "dns-query $name $type ($proto): rcode" "rcode $rcode" "$(head -n 1 "$E2E_DIR/q$sport")"
	got=$(tail -n +2 "$E2E_DIR/q$sport" | awk '{ printf "%s%s|%s|%s", (NR > 1 ? ";" : ""), $1, $2, $3 }')
	[ "$ans" = - ] && ans=""
	assert_eq "dns-query $name $type ($proto): answers" "$ans" "$got"
done

# --- TCP and TLS from B ------------------------------------------------------------------
ip netns exec "$NS_A" "$TRAFFICGEN" tcp-server 8080 --count 2 >"$E2E_DIR/tcp-server.log" 2>&1 &
TCPSRV_PID=$!
track_pid "$TCPSRV_PID"
wait_listen "$NS_A" tcp 8080
nsx "$NS_B" "$TRAFFICGEN" tcp-client "$IP_A" 8080 1000 5000 --sport 41001 >>"$E2E_DIR/tcp-client.log" 2>&1 ||
	fail "tcp-client to $IP_A:8080 failed"
nsx "$NS_B" "$TRAFFICGEN" tcp-client "$IP_A3" 8080 3000 700 --sport 41002 >>"$E2E_DIR/tcp-client.log" 2>&1 ||
	fail "tcp-client to $IP_A3:8080 failed"
wait_pid "tcp-server" "$TCPSRV_PID"

tls_server tls-server-1 "$IP_A" 8443
TLS1_PID=$TLS_PID
tls_client tls-client-1 "$IP_A" 8443 shop.example.org
wait_pid "s_server $IP_A:8443" "$TLS1_PID"
tls_server tls-server-2 "$IP_A3" 443
TLS2_PID=$TLS_PID
tls_client tls-client-2 "$IP_A3" 443 cdn.example.org
wait_pid "s_server $IP_A3:443" "$TLS2_PID"

nsx "$NS_A" ping -c 2 -i 0.2 -q "$IP_B" >"$E2E_DIR/ping.log" 2>&1 || fail "ping $IP_B failed"

for ns in "$NS_A" "$NS_B"; do
	wait_for "TCP closed in $ns" \
		"[ -z \"\$(ip netns exec $ns ss -Htan state connected exclude time-wait dst $NET.0/24)\" ]"
done
# The dropped query becomes an unanswered DNS record after the node's query timeout.
npoll_jq "$NS_A" /api/stats '.total_packets > 0' "node stats" 5
deadline=$((SECONDS + 30))
while :; do
	M=$(api "$NS_A" /metrics)
	[ "$(metric "$M" ayaflow_dns_queries_total 'rcode="none"')" = 0 ] || break
	[ "$SECONDS" -lt "$deadline" ] || fail "the dropped query was never counted as unanswered (rcode none)"
	sleep 0.2
done

node_settled "$NS_A" "$NODE_NAME" >/dev/null
pcap_stop

# --- ground truth -----------------------------------------------------------------------
TCP_PAYLOAD='(ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2))'
TCP_DATA='tcp[((tcp[12] & 0xf0) >> 2)'
GT_DNS_UDP=$(pcap_count "$PCAP" "udp and port 53")
GT_DNS_TCP=$(pcap_count "$PCAP" "tcp and port 53 and $TCP_PAYLOAD > 0")
GT_HELLO=$(pcap_count "$PCAP" "tcp and not port 53 and $TCP_PAYLOAD >= 6 and ${TCP_DATA}] = 22 and ${TCP_DATA} + 1] = 3 and ${TCP_DATA} + 5] = 1")
log "capture: $GT_DNS_UDP UDP DNS packets, $GT_DNS_TCP TCP DNS segments with payload, $GT_HELLO ClientHellos"
# The workload: 4 answered UDP queries x 2 + 1 unanswered, 2 TCP exchanges x 2, 2 handshakes.
assert_eq "capture: UDP DNS packets" 9 "$GT_DNS_UDP"
assert_eq "capture: TCP DNS segments with payload" 4 "$GT_DNS_TCP"
assert_eq "capture: TLS ClientHello records" 2 "$GT_HELLO"

# --- node: /metrics ----------------------------------------------------------------------
M=$(api "$NS_A" /metrics)
echo "$M" >"$E2E_DIR/node-metrics.txt"
assert_eq "node ayaflow_deep_inspect_packets_total = DNS packets + ClientHellos of the capture" \
	"$((GT_DNS_UDP + GT_DNS_TCP + GT_HELLO))" "$(metric "$M" ayaflow_deep_inspect_packets_total)"
assert_eq 'node ayaflow_domains_resolved_total{source="sni"}' 2 \
	"$(metric "$M" ayaflow_domains_resolved_total 'source="sni"')"
assert_eq 'node ayaflow_tls_client_hellos_total{version="TLS1.3"}' 2 \
	"$(metric "$M" ayaflow_tls_client_hellos_total 'version="TLS1.3"')"
assert_eq 'node ayaflow_tls_client_hellos_total{version="TLS1.2"}' 0 \
	"$(metric "$M" ayaflow_tls_client_hellos_total 'version="TLS1.2"')"
# api -> .1 (asked twice: learned once), www -> .3 (via the CNAME), v6 -> its AAAA.
assert_eq 'node ayaflow_domains_resolved_total{source="dns"}' 3 \
	"$(metric "$M" ayaflow_domains_resolved_total 'source="dns"')"
assert_eq 'node ayaflow_domains_resolved_total{source="ptr"}' 0 \
	"$(metric "$M" ayaflow_domains_resolved_total 'source="ptr"')"
for rc in noerror:4 formerr:0 servfail:1 nxdomain:1 notimp:0 refused:0 other:0 none:1; do
	assert_eq "node ayaflow_dns_queries_total{rcode=\"${rc%:*}\"}" "${rc#*:}" \
		"$(metric "$M" ayaflow_dns_queries_total "rcode=\"${rc%:*}\"")"
done
assert_eq "node ayaflow_inspect_parse_failures_total (all reasons)" 0 \
	"$(awk '/^ayaflow_inspect_parse_failures_total/ { s += $2 } END { print s + 0 }' <<<"$M")"
assert_eq 'node ayaflow_lost_packets_total{reason="payload_ringbuf_full"}' 0 \
	"$(metric "$M" ayaflow_lost_packets_total 'reason="payload_ringbuf_full"')"

# --- node: /api/live ---------------------------------------------------------------------
LIVE=$(api "$NS_A" "/api/live?limit=1000")
echo "$LIVE" | jq . >"$E2E_DIR/node-live.json"
# Expected connections: "protocol src_ip src_port dst_ip dst_port domain" (domain - = null).
EXPECT=()
for q in "${QUERIES[@]}"; do
	read -r sport proto name _ <<<"$q"
	EXPECT+=("$proto $IP_B $sport $IP_A 53 $name")
done
EXPECT+=(
	"tcp $IP_B 41001 $IP_A 8080 api.example.com"
	"tcp $IP_B 41002 $IP_A3 8080 www.example.com"
	"tcp $IP_B * $IP_A 8443 shop.example.org"
	"tcp $IP_B * $IP_A3 443 cdn.example.org"
	"icmp $IP_A 0 $IP_B 0 -"
)
assert_eq "node /api/live: number of connections" "${#EXPECT[@]}" "$(jq '.connections | length' <<<"$LIVE")"
for e in "${EXPECT[@]}"; do
	read -r proto sip sport dip dport dom <<<"$e"
	sel=".protocol == \"$proto\" and .src_ip == \"$sip\" and .dst_ip == \"$dip\" and .dst_port == $dport"
	[ "$sport" = "*" ] || sel="$sel and .src_port == $sport"
	n=$(jq "[.connections[] | select($sel)] | length" <<<"$LIVE")
	assert_eq "node /api/live: $proto $sip:$sport -> $dip:$dport present once" 1 "$n"
	want=$dom
	[ "$dom" = - ] && want=null
	assert_eq "node /api/live: $proto $sip:$sport -> $dip:$dport domain" "$want" \
		"$(jq -r "[.connections[] | select($sel)][0].domain" <<<"$LIVE")"
done

# --- collector: history by domain ---------------------------------------------------------
HIST=$(history_all "node=$NODE_NAME")
echo "$HIST" | jq . >"$E2E_DIR/history.json"
assert_eq "history: connections = node /api/live" \
	"$(jq -c '[.connections[] | [.protocol, .src_ip, .src_port, .dst_ip, .dst_port]] | sort' <<<"$LIVE")" \
	"$(jq -c '[.[] | [.protocol, .src_ip, .src_port, .dst_ip, .dst_port]] | unique' <<<"$HIST")"
# Per connection: the newest record carries the live domain; every record of a connection
# carries it, except that records of a TLS connection from before its ClientHello (a window
# that ended between the SYN and the ClientHello) carry the DNS name of the address.
NCONN=$(jq '.connections | length' <<<"$LIVE")
SPLIT=0
for ((i = 0; i < NCONN; i++)); do
	read -r proto sip sport dip dport dom <<<"$(jq -r ".connections[$i] | [.protocol, .src_ip, .src_port, .dst_ip, .dst_port, (.domain // \"-\")] | @tsv" <<<"$LIVE")"
	key="$proto $sip:$sport -> $dip:$dport"
	rows=$(jq -c --arg p "$proto" --arg s "$sip" --arg d "$dip" --argjson sp "$sport" --argjson dp "$dport" \
		'[.[] | select(.protocol == $p and .src_ip == $s and .dst_ip == $d and .src_port == $sp and .dst_port == $dp)]' <<<"$HIST")
	for f in packets_sent packets_received bytes_sent bytes_received; do
		assert_eq "history $key: sum of $f = node live" \
			"$(jq ".connections[$i].stats.$f" <<<"$LIVE")" "$(hsum "$rows" "$f")"
	done
	assert_eq "history $key: domain of the newest record" "$dom" \
		"$(jq -r 'max_by(.window_end) | .domain // "-"' <<<"$rows")"
	others=$(jq -c --arg d "$dom" '[.[] | .domain // "-" | select(. != $d)] | unique' <<<"$rows")
	if [ "$others" != "[]" ]; then
		case "$dport" in
		8443) allowed='["api.example.com"]' ;;
		443) allowed='["www.example.com"]' ;;
		*) allowed='[]' ;;
		esac
		assert_eq "history $key: domains of older records" "$allowed" "$others"
		SPLIT=1
		log "note: $key had records before its ClientHello was seen ($others)"
	fi
done

# hist_keys JSON: the rows as sorted, comparable tuples.
hist_keys() { jq -c '[.[] | [.window_end, .protocol, .src_ip, .src_port, .dst_ip, .dst_port, .domain, .packet_count, .length]] | sort' <<<"$1"; }
check_domain_filter()
{
	local q=$1 sel=$2 rows want
	rows=$(history_all "domain=$q" 3)
	want=$(jq -c "[.[] | select(.domain != null and ($sel))]" <<<"$HIST")
	assert_eq "/api/history?domain=$q: the rows of the full history with such a domain" \
		"$(hist_keys "$want")" "$(hist_keys "$rows")"
	[ "$(jq length <<<"$rows")" -gt 0 ] || fail "/api/history?domain=$q: no rows"
}
check_domain_filter api.example.com '.domain == "api.example.com"'
check_domain_filter .example.com '.domain | endswith(".example.com")'
check_domain_filter .example.org '.domain | endswith(".example.org")'
check_domain_filter shop.example.org '.domain == "shop.example.org"'
assert_eq "/api/history?domain=api.example.com: connections (but the TLS one before its ClientHello)" \
	"$(jq -nc --arg a "$IP_A" '[["tcp",41001,$a,8080],["tcp",40005,$a,53],["udp",40001,$a,53]] | sort')" \
	"$(history_all "domain=api.example.com" | jq -c '[.[] | select(.dst_port != 8443) | [.protocol, .src_port, .dst_ip, .dst_port]] | unique')"
assert_eq "/api/history?domain=.example.com: domains" \
	'["api.example.com","fail.example.com","nope.example.com","slow.example.com","v6.example.com","www.example.com"]' \
	"$(history_all "domain=.example.com" | jq -c '[.[].domain] | unique')"
assert_eq "/api/history?domain=.example.org: domains" '["cdn.example.org","shop.example.org"]' \
	"$(history_all "domain=.example.org" | jq -c '[.[].domain] | unique')"
assert_eq "/api/history?domain=edge.example.net: rows (the CNAME target names no flow)" 0 \
	"$(capi "/api/history?domain=edge.example.net" | jq .total)"
assert_eq "/api/history?domain=example.com: rows (exact: no flow is example.com itself)" 0 \
	"$(capi "/api/history?domain=example.com" | jq .total)"

# --- collector: /api/domains ---------------------------------------------------------------
# Expected: the history rows grouped by domain (bytes = sum of length, packets = sum of
# packet_count, flows = records), most bytes first, ties by the reversed name ("." + domain,
# reversed: collector/store/store.h; nope.example.com and fail.example.com tie).
WANT_DOMAINS=$(jq -c '[.[] | select(.domain != null)] | group_by(.domain)
	| map({domain: .[0].domain, bytes: (map(.length) | add), packets: (map(.packet_count) | add), flows: length})
	| sort_by(-.bytes, ("." + .domain | explode | reverse | implode))' <<<"$HIST")
DOMAINS=$(capi "/api/domains?node=$NODE_NAME&limit=1000")
echo "$DOMAINS" | jq . >"$E2E_DIR/domains.json"
assert_eq "/api/domains?node=N: domains, bytes, packets and flows = the history grouped by domain" \
	"$WANT_DOMAINS" "$(jq -c .domains <<<"$DOMAINS")"
assert_eq "/api/domains: truncated" false "$(jq .truncated <<<"$DOMAINS")"
assert_eq "/api/domains: the domains of the test" \
	'["api.example.com","cdn.example.org","fail.example.com","nope.example.com","shop.example.org","slow.example.com","v6.example.com","www.example.com"]' \
	"$(jq -c '[.domains[].domain] | sort' <<<"$DOMAINS")"
# The byte sums equal the node's live counters of the connections with that domain (when no
# TLS connection had a record before its ClientHello, see above).
LIVE_DOMAINS=$(jq -c '[.connections[] | select(.domain != null)] | group_by(.domain)
	| map({domain: .[0].domain, bytes: (map(.stats.bytes_sent + .stats.bytes_received) | add),
	       packets: (map(.stats.packets_count) | add)})
	| sort_by(-.bytes, ("." + .domain | explode | reverse | implode))' <<<"$LIVE")
if [ "$SPLIT" = 0 ]; then
	assert_eq "/api/domains: bytes and packets per domain = node /api/live" "$LIVE_DOMAINS" \
		"$(jq -c '[.domains[] | {domain, bytes, packets}]' <<<"$DOMAINS")"
fi
assert_eq "/api/domains (all nodes, default range) = ?node=N" "$(jq -c .domains <<<"$DOMAINS")" \
	"$(capi "/api/domains?limit=1000" | jq -c .domains)"
assert_eq "/api/domains?limit=3: the top 3" "$(jq -c '.[:3]' <<<"$WANT_DOMAINS")" \
	"$(capi "/api/domains?node=$NODE_NAME&limit=3" | jq -c .domains)"
assert_eq "/api/domains?node=other: no domains" "[]" "$(capi "/api/domains?node=other-$E2E_ID" | jq -c .domains)"
T_FIRST=$(jq '[.[].timestamp] | min' <<<"$HIST")
T_LAST=$(jq '[.[].timestamp] | max' <<<"$HIST")
assert_eq "/api/domains over the test's range = default range" "$(jq -c .domains <<<"$DOMAINS")" \
	"$(capi "/api/domains?limit=1000&start_time=$T_FIRST&end_time=$((T_LAST + 1))" | jq -c .domains)"
assert_eq "/api/domains before the test: no domains" "[]" \
	"$(capi "/api/domains?limit=1000&start_time=$((T_FIRST - 3600000))&end_time=$T_FIRST" | jq -c .domains)"

# --- collector: /api/dns -------------------------------------------------------------------
DNS=$(capi "/api/dns?node=$NODE_NAME&limit=1000")
echo "$DNS" | jq . >"$E2E_DIR/dns.json"
assert_eq "/api/dns: one record per query" "${#QUERIES[@]}" "$(jq .total <<<"$DNS")"
for q in "${QUERIES[@]}"; do
	read -r sport proto name type rcode ans <<<"$q"
	rec=$(jq -c --argjson p "$sport" '[.items[] | select(.client_port == $p)]' <<<"$DNS")
	assert_eq "/api/dns :$sport: records" 1 "$(jq length <<<"$rec")"
	rec=$(jq -c '.[0]' <<<"$rec")
	assert_eq "/api/dns :$sport: name, type, node, client, server" \
		"$name $type $NODE_NAME $IP_B $sport $IP_A 53 4" \
		"$(jq -r '[.name, .type, .node, .client_ip, .client_port, .server_ip, .server_port, .ip_version] | join(" ")' <<<"$rec")"
	if [ "$rcode" = none ]; then
		assert_eq "/api/dns :$sport ($name): unanswered" "false null [] 0 null" \
			"$(jq -c -r '[.answered, .rcode, .answers, .latency_us, .latency_ms] | map(tojson) | join(" ")' <<<"$rec")"
		continue
	fi
	assert_eq "/api/dns :$sport ($name): answered, rcode" "true $rcode" "$(jq -r '"\(.answered) \(.rcode)"' <<<"$rec")"
	[ "$ans" = - ] && ans=""
	want=$(tr ';' '\n' <<<"$ans" | awk -F'|' 'NF { printf "%s%s|%s|300", (n++ ? ";" : ""), $2, $3 }')
	assert_eq "/api/dns :$sport ($name): answers" "$want" \
		"$(jq -r '[.answers[] | "\(.type)|\(.address // .target)|\(.ttl)"] | join(";")' <<<"$rec")"
	assert_eq "/api/dns :$sport ($name): latency > 0" true \
		"$(jq '.latency_us > 0 and .latency_ms > 0 and (.latency_ms * 1000 - .latency_us | fabs) < 1' <<<"$rec")"
	assert_eq "/api/dns :$sport ($name): time within the test" true \
		"$(jq --argjson a "$T_FIRST" --argjson b "$T_LAST" '.timestamp >= $a - 2000 and .timestamp <= $b + 2000' <<<"$rec")"
done
assert_eq "/api/dns: newest first" "$(jq -c '[.items[].timestamp] | sort | reverse' <<<"$DNS")" \
	"$(jq -c '[.items[].timestamp]' <<<"$DNS")"
# dns_ports QUERY: the client ports of the matching records, sorted.
dns_ports() { capi "/api/dns?limit=1000&$1" | jq -c '[.items[].client_port] | sort'; }
ALL_PORTS=$(jq -c '[.items[].client_port] | sort' <<<"$DNS")
assert_eq "/api/dns?name=api.example.com" "[40001,40005]" "$(dns_ports "name=api.example.com")"
assert_eq "/api/dns?name=.example.com" "[40001,40002,40003,40004,40005,40006,40007]" "$(dns_ports "name=.example.com")"
assert_eq "/api/dns?name=example.com (exact)" "[]" "$(dns_ports "name=example.com")"
assert_eq "/api/dns?name=edge.example.net (an answer, not a query)" "[]" "$(dns_ports "name=edge.example.net")"
assert_eq "/api/dns?client=B" "$ALL_PORTS" "$(dns_ports "client=$IP_B")"
assert_eq "/api/dns?client=A" "[]" "$(dns_ports "client=$IP_A")"
assert_eq "/api/dns?node=other" "[]" "$(dns_ports "node=other-$E2E_ID")"
assert_eq "/api/dns?client=B&name=nope.example.com&node=N" "[40004]" \
	"$(dns_ports "client=$IP_B&name=nope.example.com&node=$NODE_NAME")"
D_FIRST=$(jq '[.items[].timestamp] | min' <<<"$DNS")
D_LAST=$(jq '[.items[].timestamp] | max' <<<"$DNS")
assert_eq "/api/dns over [first, last]" "$ALL_PORTS" "$(dns_ports "start_time=$D_FIRST&end_time=$((D_LAST + 1))")"
assert_eq "/api/dns before the first" "[]" "$(dns_ports "end_time=$D_FIRST")"
assert_eq "/api/dns after the last" "[]" "$(dns_ports "start_time=$((D_LAST + 1))")"
assert_eq "/api/dns paging: limit=3 offset=3" "$(jq -c '[.items[3:6][].client_port]' <<<"$DNS")" \
	"$(capi "/api/dns?node=$NODE_NAME&limit=3&offset=3" | jq -c '[.items[].client_port]')"
assert_eq "collector /api/dns: a bad client is a 400" 400 \
	"$(ip netns exec "$HUB_NS" curl -s -o /dev/null -w '%{http_code}' "$COLLECTOR_URL/api/dns?client=1.2.3")"

# --- ayaflowctl domains / dns ----------------------------------------------------------------
# ctl ARGS...: ayaflowctl in the hub against the collector (AYAFLOW_COLLECTOR names the
# collector binary in the test environment: not given to the CLI); must exit 0 and write
# nothing to stderr; prints stdout.
ctl()
{
	local rc=0
	ip netns exec "$HUB_NS" env -u AYAFLOW_COLLECTOR -u AYAFLOW_TOKEN COLUMNS=250 \
		"$AYAFLOW_CLI" --collector "$COLLECTOR_URL" "$@" >"$E2E_DIR/ctl.out" 2>"$E2E_DIR/ctl.err" || rc=$?
	[ "$rc" = 0 ] || fail "ayaflowctl $*: exit $rc: $(cat "$E2E_DIR/ctl.err")"
	[ ! -s "$E2E_DIR/ctl.err" ] || fail "ayaflowctl $*: wrote to stderr: $(cat "$E2E_DIR/ctl.err")"
	cat "$E2E_DIR/ctl.out"
}
assert_eq "ayaflowctl -o json domains = the API" "$(jq -c .domains <<<"$DOMAINS")" \
	"$(ctl -o json domains --node "$NODE_NAME" --limit 1000 | jq -c .domains)"
assert_eq "ayaflowctl -o csv domains" \
	"$(printf 'domain,bytes,packets,flows\n'; jq -r '.[] | "\(.domain),\(.bytes),\(.packets),\(.flows)"' <<<"$WANT_DOMAINS")" \
	"$(ctl -o csv domains --node "$NODE_NAME" --limit 1000)"
# The table: one line per domain in the API's order, with its exact packet and flow counts.
TABLE=$(ctl domains --node "$NODE_NAME" --limit 1000)
echo "$TABLE" >"$E2E_DIR/ctl-domains.txt"
assert_eq "ayaflowctl domains: table rows (domain, packets, flows)" \
	"$(jq -r '.[] | "\(.domain) \(.packets) \(.flows)"' <<<"$WANT_DOMAINS")" \
	"$(tail -n +2 <<<"$TABLE" | awk '{ print $1, $(NF - 1), $NF }')"
assert_eq "ayaflowctl -o json dns = the API" "$(jq -c .items <<<"$DNS")" \
	"$(ctl -o json dns --node "$NODE_NAME" --limit 1000 | jq -c .items)"
CSV=$(ctl -o csv dns --node "$NODE_NAME" --limit 1000)
echo "$CSV" >"$E2E_DIR/ctl-dns.csv"
assert_eq "ayaflowctl -o csv dns: header" \
	"timestamp,node,name,type,qtype,rcode,answered,latency_us,latency_ms,client_ip,client_port,server_ip,server_port,answers" \
	"$(head -n 1 <<<"$CSV")"
assert_eq "ayaflowctl -o csv dns: name,type,rcode,client_ip,client_port of each row" \
	"$(jq -r '.items[] | "\(.name),\(.type),\(.rcode // ""),\(.client_ip),\(.client_port)"' <<<"$DNS")" \
	"$(tail -n +2 <<<"$CSV" | awk -F, '{ print $3 "," $4 "," $6 "," $10 "," $11 }')"
TABLE=$(ctl dns --node "$NODE_NAME" --limit 1000)
echo "$TABLE" >"$E2E_DIR/ctl-dns.txt"
assert_eq "ayaflowctl dns: table rows" "$((${#QUERIES[@]} + 1))" "$(wc -l <<<"$TABLE")"
for q in "${QUERIES[@]}"; do
	read -r sport proto name type rcode ans <<<"$q"
	line=$(grep -F "$IP_B:$sport " <<<"$TABLE") || fail "ayaflowctl dns: no row for client $IP_B:$sport"
	for w in "$name" "$type"; do
		grep -qwF -- "$w" <<<"$line" || fail "ayaflowctl dns: row of :$sport lacks '$w': $line"
	done
	[ "$rcode" = none ] || grep -qwF "$rcode" <<<"$line" || fail "ayaflowctl dns: row of :$sport lacks '$rcode': $line"
	for a in $(tr ';' '\n' <<<"$ans" | awk -F'|' 'NF == 3 { print $3 }'); do
		grep -qF -- "$a" <<<"$line" || fail "ayaflowctl dns: row of :$sport lacks the answer '$a': $line"
	done
done
log "ok: ayaflowctl dns: every query's row shows its name, type, rcode and answers"
assert_eq "ayaflowctl dns --name .example.com --client B" "7" \
	"$(ctl -o json dns --name .example.com --client "$IP_B" | jq .total)"
assert_eq "ayaflowctl history --domain .example.org: rows" \
	"$(history_all "domain=.example.org" | jq length)" \
	"$(ctl -o json history --domain .example.org --limit 1000 | jq .total)"

# --- clean stop of the first node ------------------------------------------------------------
node_stop "$NODE1_PID"
assert_eq "node (--deep-inspect) exit status" 0 "$NODE_RC"
untrack_pid "$NODE1_PID"

# --- without --deep-inspect: no domain, nothing inspected ----------------------------------
node_start "$NS_A" 3002 node-plain "${NODE_ARGS[@]}"
NODE2_PID=$NODE_PID
dns_query 40011 api.example.com A
assert_eq "dns-query api.example.com (node without --deep-inspect): exit status" 0 "$DNS_RC"
dns_query 40012 www.example.com A --tcp
assert_eq "dns-query www.example.com --tcp (node without --deep-inspect): exit status" 0 "$DNS_RC"
ip netns exec "$NS_A" "$TRAFFICGEN" tcp-server 8080 >"$E2E_DIR/tcp-server-2.log" 2>&1 &
TCPSRV_PID=$!
track_pid "$TCPSRV_PID"
wait_listen "$NS_A" tcp 8080
nsx "$NS_B" "$TRAFFICGEN" tcp-client "$IP_A" 8080 500 500 --sport 41011 >>"$E2E_DIR/tcp-client.log" 2>&1 ||
	fail "tcp-client to $IP_A:8080 failed"
wait_pid "tcp-server" "$TCPSRV_PID"
tls_server tls-server-3 "$IP_A" 8443
TLS3_PID=$TLS_PID
tls_client tls-client-3 "$IP_A" 8443 shop.example.org
wait_pid "s_server $IP_A:8443" "$TLS3_PID"
for ns in "$NS_A" "$NS_B"; do
	wait_for "TCP closed in $ns" \
		"[ -z \"\$(ip netns exec $ns ss -Htan state connected exclude time-wait dst $NET.0/24)\" ]"
done
poll_jq "$NS_A" "/api/live?limit=1000" \
	"([.connections[] | select(.dst_port == 8443 and (.tcp_flags | test(\"FIN\")))] | length == 1) and ([.connections[] | select(.src_port == 41011 or .src_port == 40011 or .src_port == 40012)] | length == 3)" \
	"the connections on the node without --deep-inspect"
LIVE2=$(api "$NS_A" "/api/live?limit=1000")
echo "$LIVE2" | jq . >"$E2E_DIR/node-plain-live.json"
assert_eq "node without --deep-inspect: connections" 4 "$(jq '.connections | length' <<<"$LIVE2")"
assert_eq "node without --deep-inspect: connections with a domain" 0 \
	"$(jq '[.connections[] | select(.domain != null)] | length' <<<"$LIVE2")"
assert_eq "node without --deep-inspect: every connection has \"domain\": null" 4 \
	"$(jq '[.connections[] | select(has("domain") and .domain == null)] | length' <<<"$LIVE2")"
M2=$(api "$NS_A" /metrics)
echo "$M2" >"$E2E_DIR/node-plain-metrics.txt"
assert_eq "node without --deep-inspect: ayaflow_deep_inspect_packets_total" 0 \
	"$(metric "$M2" ayaflow_deep_inspect_packets_total)"
for name in ayaflow_domains_resolved_total ayaflow_dns_queries_total ayaflow_inspect_parse_failures_total; do
	assert_eq "node without --deep-inspect: sum of $name" 0 \
		"$(awk -v n="$name" '$1 ~ "^" n "({|$)" { s += $2 } END { print s + 0 }' <<<"$M2")"
done
node_stop "$NODE2_PID"
assert_eq "node (without --deep-inspect) exit status" 0 "$NODE_RC"
untrack_pid "$NODE2_PID"

kill -TERM "$DNS_PID"
wait "$DNS_PID" || fail "dns-server exited with status $?"
untrack_pid "$DNS_PID"
assert_eq "dns-server: queries served" "served 9 queries" "$(tail -n 1 "$E2E_DIR/dns-server.log")"
collector_stop TERM
assert_eq "collector exit status" 0 "$COLLECTOR_RC"
check_sanitizer_logs
