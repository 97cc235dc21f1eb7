#!/usr/bin/env bash
# clickhouse_same_answers.sh - the two store backends answer the same API queries the same:
# one collector on SQLite and one on ClickHouse get the same hand-made batches (batchsend:
# the node's own wire + transport code) in the same order, and every query of /api/history
# (each filter: ip, src_ip, dst_ip, port, src_port, dst_port, protocol, node with a time
# range, domain exact, by ".suffix" and in another case; limit/offset pages), /api/domains
# (with and without node, ranges, limit), /api/dns (node, client, name exact and suffix,
# time range, pages) and /api/nodes must give byte-identical JSON once sorted (jq -S),
# with only /api/nodes' "connected" left out: it is the live view's (a batch received in
# the last 30 s), not the store's, and may turn between the two requests. Every
# difference is printed with both answers, then the test fails.
#
# The data: four nodes (two restarted with a new boot id, one IPv6-only whose first
# sequence number is 5), windows from 20 days to a few seconds back (so that the
# ClickHouse reader's newest-first lookback windows of a minute, hour, day and week are
# all crossed), several records in one window and windows starting at the same time on
# two nodes (ties ordered by storage), IPv4 and IPv6, TCP, UDP, ICMP, ICMPv6, a record to
# itself, domains in mixed case and look-alikes (badexample.com), reverse-DNS host names,
# DNS records with A, AAAA and CNAME answers, NXDOMAIN, unanswered, other types; a batch
# sent twice (acknowledged as a duplicate by both), batches out of order, an empty batch.
# Also checks that the answers hold what was sent (the totals), so that two empty answers
# cannot pass.
#
# Needs no root: 127.0.0.1 ports picked at run time, a temp dir, clickhouse-server.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
source "$(dirname "$0")/clickhouse.sh"

: "${AYAFLOW_COLLECTOR:?AYAFLOW_COLLECTOR must name the ayaflow-collector binary}"
: "${BATCHSEND:?BATCHSEND must name the batchsend binary}"
[ -x "$AYAFLOW_COLLECTOR" ] || fail "AYAFLOW_COLLECTOR=$AYAFLOW_COLLECTOR is not executable"
[ -x "$BATCHSEND" ] || fail "BATCHSEND=$BATCHSEND is not executable"
require_tools curl jq
E2E_DIR=$(mktemp -d "/tmp/ayf-e2e-$E2E_NAME.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ch_e2e_server ayaflow_same
read -r HTTP_SQL HTTP_CH INGEST_SQL INGEST_CH <<<"$(free_ports 4)"
col_start collector-sqlite "$HTTP_SQL" --listen "tcp://127.0.0.1:$INGEST_SQL" \
	--store "sqlite://$E2E_DIR/traffic.db" --connection-timeout 3600
SQL_PID=$COL_PID SQL_URL=$COL_URL
col_start collector-clickhouse "$HTTP_CH" --listen "tcp://127.0.0.1:$INGEST_CH" \
	--store "$CH_STORE" --connection-timeout 3600
CH_COL_PID=$COL_PID CH_COL_URL=$COL_URL
assert_eq "SQLite collector's store" sqlite "$(curl -sS -f "$SQL_URL/api/stats" | jq -r .store.backend)"
assert_eq "ClickHouse collector's store" clickhouse "$(curl -sS -f "$CH_COL_URL/api/stats" | jq -r .store.backend)"

# send2 EXPECTED_DUPLICATE ARGS...: one batch to both collectors (SQLite first); both
# must acknowledge it alike.
NBATCHES=0
send2()
{
	local dup=$1 a b seq
	shift
	a=$("$BATCHSEND" "$@" "tcp://127.0.0.1:$INGEST_SQL") || fail "batchsend to SQLite failed: $a"
	b=$("$BATCHSEND" "$@" "tcp://127.0.0.1:$INGEST_CH") || fail "batchsend to ClickHouse failed: $b"
	seq=$(sed -n 's/.* seq=\([0-9]*\) .*/\1/p' <<<"$a")
	[ "$a" = "ok=1 duplicate=$dup seq=$seq reason=none message=\"\"" ] ||
		fail "SQLite collector's acknowledgement: $a"
	[ "$a" = "$b" ] || fail "acknowledgements differ: SQLite '$a', ClickHouse '$b'"
	NBATCHES=$((NBATCHES + 1))
}

# rec SRC DST SPORT DPORT PROTO FLAGS PS PR BS BR FIRST LAST IF [DOMAIN [SHOST [DHOST]]]
rec()
{
	local s="src=$1,dst=$2,sport=$3,dport=$4,proto=$5,flags=$6,ps=$7,pr=$8,bs=$9,br=${10}"
	s="$s,first=${11},last=${12},if=${13}"
	[ -z "${14:-}" ] || s="$s,domain=${14}"
	[ -z "${15:-}" ] || s="$s,shost=${15}"
	[ -z "${16:-}" ] || s="$s,dhost=${16}"
	echo "$s"
}

# --- the batches ------------------------------------------------------------------------------
# T: a whole second; windows of 10 s.
S=1000 M=60000 H=3600000 D=86400000
T=$(($(date +%s) * 1000))
W=$((10 * S))
A1=$((T - 20 * D)) A2=$((T - 3 * D)) A3=$((T - 5 * H)) A4=$((T - 10 * M))
A5=$((T - 60 * S)) A6=$((T - 50 * S))
B1=$((T - 45 * S)) B2=$((T - 35 * S)) B3=$((T - 25 * S))
C5=$B2 # node-c's window starts with node-b's second: equal timestamps, two nodes

# node-a, first boot: two old windows.
send2 0 --node node-a --boot boot-a1 --agent 0.9.0 --seq 1 --start "$A1" --end $((A1 + W)) \
	--totals 40,9000,2 --lost flow_map_full=1 \
	--record "$(rec 10.1.0.1 10.1.0.2 40000 443 6 18 10 8 1000 2000 $((A1 + 5)) $((A1 + 900)) eth0 example.com)" \
	--record "$(rec 10.1.0.1 10.1.0.53 5353 53 17 0 1 1 80 120 $((A1 + 10)) $((A1 + 20)) eth0)" \
	--dns "ts=$((A1 + 1)),name=example.com,qtype=1,answered=1,rcode=0,lat=1200,client=10.1.0.1,cport=5353,server=10.1.0.53,sport=53,an=1/300/10.1.0.2"
send2 0 --node node-a --boot boot-a1 --agent 0.9.0 --seq 2 --start "$A2" --end $((A2 + W)) \
	--totals 60,15000,2 --lost flow_map_full=3 \
	--record "$(rec 10.1.0.1 93.184.216.34 40001 443 6 27 7 9 700 9000 $((A2 + 1)) $((A2 + 9000)) eth0 WWW.Example.COM laptop.lan)" \
	--record "$(rec 10.1.0.1 10.1.0.9 0 0 1 0 3 3 252 252 $((A2 + 100)) $((A2 + 2100)) eth1)"

# node-a, second boot (another agent version): 5 hours, 10 minutes and a minute back.
send2 0 --node node-a --boot boot-a2 --agent 1.0.0 --seq 1 --start "$A3" --end $((A3 + W)) \
	--totals 12,3000,2 \
	--record "$(rec fd00::1 fd00::2 50000 80 6 2 4 4 400 400 $((A3 + 1)) $((A3 + 8000)) ens3 api.example.com)" \
	--record "$(rec 10.1.0.1 10.1.0.123 123 123 17 0 1 1 76 76 $((A3 + 50)) $((A3 + 60)) ens3)" \
	--dns "ts=$((A3 + 2)),name=api.example.com,qtype=28,answered=1,rcode=0,lat=800,client=fd00::1,cport=41000,server=fd00::53,sport=53,an=28/120/fd00::2" \
	--dns "ts=$((A3 + 3)),name=nothere.example.org,qtype=1,answered=1,rcode=3,lat=2250,client=10.1.0.1,cport=41001,server=10.1.0.53,sport=53"
# Five records in one window: their order among equal timestamps is the storage order.
send2 0 --node node-a --boot boot-a2 --agent 1.0.0 --seq 2 --start "$A4" --end $((A4 + W)) \
	--totals 80,40000,6 --lost unparsable=2 \
	--record "$(rec 10.1.0.1 10.1.0.2 40100 443 6 24 20 20 3000 30000 $((A4 + 1)) $((A4 + 9999)) ens3 www.example.com laptop.lan web-1.example.com)" \
	--record "$(rec 10.1.0.1 10.1.0.3 40101 443 6 24 5 5 600 1600 $((A4 + 2)) $((A4 + 5000)) ens3 badexample.com)" \
	--record "$(rec 10.1.0.1 10.1.0.4 40102 8443 6 17 6 4 900 1900 $((A4 + 3)) $((A4 + 6000)) ens3 shop.example.net)" \
	--record "$(rec 10.1.0.4 10.1.0.1 443 40103 6 16 2 2 200 200 $((A4 + 4)) $((A4 + 7000)) ens3 Shop.Example.NET)" \
	--record "$(rec 10.1.0.7 10.1.0.7 9000 9000 17 0 3 0 300 0 $((A4 + 5)) $((A4 + 6)) lo)"
send2 0 --node node-a --boot boot-a2 --agent 1.0.0 --seq 3 --start "$A5" --end $((A5 + W)) \
	--totals 95,47000,3 --lost unparsable=2 \
	--record "$(rec 10.1.0.1 10.1.0.2 40100 443 6 17 3 3 300 500 $((A4 + 1)) $((A5 + 2000)) ens3 www.example.com laptop.lan web-1.example.com)" \
	--record "$(rec 10.1.0.1 10.1.0.53 33000 53 17 0 2 2 140 300 $((A5 + 10)) $((A5 + 30)) ens3)" \
	--dns "ts=$((A5 + 10)),name=www.example.com,qtype=1,answered=1,rcode=0,lat=1500,client=10.1.0.1,cport=33000,server=10.1.0.53,sport=53,an=5/60/web-1.example.com,an=1/300/10.1.0.2" \
	--dns "ts=$((A5 + 10)),name=www.example.com,qtype=28,answered=1,rcode=0,lat=1700,client=10.1.0.1,cport=33000,server=10.1.0.53,sport=53,an=5/60/web-1.example.com,an=28/300/2001:db8::1"
# The same batch again (a resend): a duplicate for both.
send2 1 --node node-a --boot boot-a2 --agent 1.0.0 --seq 3 --start "$A5" --end $((A5 + W)) \
	--totals 95,47000,3 --lost unparsable=2 \
	--record "$(rec 10.1.0.1 10.1.0.2 40100 443 6 17 3 3 300 500 $((A4 + 1)) $((A5 + 2000)) ens3 www.example.com laptop.lan web-1.example.com)" \
	--record "$(rec 10.1.0.1 10.1.0.53 33000 53 17 0 2 2 140 300 $((A5 + 10)) $((A5 + 30)) ens3)" \
	--dns "ts=$((A5 + 10)),name=www.example.com,qtype=1,answered=1,rcode=0,lat=1500,client=10.1.0.1,cport=33000,server=10.1.0.53,sport=53,an=5/60/web-1.example.com,an=1/300/10.1.0.2" \
	--dns "ts=$((A5 + 10)),name=www.example.com,qtype=28,answered=1,rcode=0,lat=1700,client=10.1.0.1,cport=33000,server=10.1.0.53,sport=53,an=5/60/web-1.example.com,an=28/300/2001:db8::1"
# No flow records, only DNS (one unanswered, one of a type without a name here).
send2 0 --node node-a --boot boot-a2 --agent 1.0.0 --seq 4 --start "$A6" --end $((A6 + W)) \
	--totals 95,47000,1 --lost unparsable=2 \
	--dns "ts=$((A6 + 500)),name=Mail.Example.ORG,qtype=15,answered=0,rcode=0,lat=0,client=10.1.0.1,cport=33001,server=10.1.0.53,sport=53" \
	--dns "ts=$((A6 + 600)),name=example.com,qtype=16,answered=1,rcode=0,lat=900,client=10.1.0.1,cport=33002,server=10.1.0.53,sport=53"

# node-b: seq 1, then 3 before 2 (a late retry).
send2 0 --node node-b --boot boot-b1 --agent 1.0.0 --seq 1 --start "$B1" --end $((B1 + W)) \
	--totals 30,5000,3 \
	--record "$(rec fd00::b fd00::1 0 0 58 0 2 2 208 208 $((B1 + 1)) $((B1 + 1001)) eth0)" \
	--record "$(rec 10.1.0.2 10.1.0.1 443 40000 6 24 9 11 9000 1100 $((B1 + 2)) $((B1 + 9000)) eth0 example.com web-1.example.com laptop.lan)" \
	--record "$(rec 10.2.0.5 10.1.0.53 53000 53 17 0 1 1 70 130 $((B1 + 3)) $((B1 + 4)) eth0)" \
	--dns "ts=$((B1 + 3)),name=shop.example.net,qtype=1,answered=1,rcode=0,lat=3000,client=10.2.0.5,cport=53000,server=10.1.0.53,sport=53,an=1/60/10.1.0.4"
send2 0 --node node-b --boot boot-b1 --agent 1.0.0 --seq 3 --start "$B3" --end $((B3 + W)) \
	--totals 52,9000,2 --lost ipv6_disabled=4 \
	--record "$(rec 10.2.0.5 10.1.0.1 53001 80 6 2 1 0 60 0 $((B3 + 1)) $((B3 + 1)) eth0)"
send2 0 --node node-b --boot boot-b1 --agent 1.0.0 --seq 2 --start "$B2" --end $((B2 + W)) \
	--totals 45,8000,3 --lost ipv6_disabled=1 \
	--record "$(rec 10.2.0.5 10.1.0.4 53002 8443 6 27 5 5 500 5000 $((B2 + 1)) $((B2 + 5000)) eth0 shop.example.net)" \
	--record "$(rec 10.2.0.5 10.1.0.9 0 0 1 0 1 1 84 84 $((B2 + 2)) $((B2 + 3)) eth0)"

# node-c: IPv6 only, first sequence number 5, its window starting with node-b's seq 2.
send2 0 --node node-c --boot boot-c1 --agent 1.1.0 --seq 5 --start "$C5" --end $((C5 + W)) \
	--totals 400,100000,2 \
	--record "$(rec 2001:db8::10 2001:db8::1 44000 443 6 24 30 40 3000 60000 $((C5 + 1)) $((C5 + 9000)) eth0 mail.example.org mx.lan)" \
	--record "$(rec 2001:db8::10 fd00::53 44001 53 17 0 1 1 90 150 $((C5 + 2)) $((C5 + 3)) eth0)" \
	--dns "ts=$((C5 + 2)),name=mail.example.org,qtype=28,answered=1,rcode=0,lat=400,client=2001:db8::10,cport=44001,server=fd00::53,sport=53,an=28/60/2001:db8::1" \
	--dns "ts=$((C5 + 2)),name=MAIL.example.org,qtype=1,answered=1,rcode=2,lat=5000,client=2001:db8::10,cport=44002,server=fd00::53,sport=53"
# node-d restarts (a new boot id, its sequence from 1 again) with counters past 2^32; a
# domain in UTF-8 (only ASCII letters compare without regard to case).
D7=$((T - 20 * S)) D1=$((T - 12 * S)) DE=$((T - 10 * S))
send2 0 --node node-d --boot boot-d1 --agent 1.1.0 --seq 7 --start "$D7" --end "$D1" \
	--totals 9000000000,12345678901234,4 --lost flow_map_full=5 \
	--record "$(rec 10.4.0.1 10.4.0.3 45001 443 6 24 5000000000 4000000000 6000000000000 5000000000000 $((D7 + 1)) $((D1 - 1)) eth0 bücher.example.net)"
send2 0 --node node-d --boot boot-d2 --agent 1.2.0 --seq 1 --start "$D1" --end "$DE" \
	--totals 3,300,1 \
	--record "$(rec 10.4.0.1 10.4.0.2 45000 443 6 2 3 0 300 0 $((D1 + 1)) $((D1 + 2)) eth0 Bücher.Example.NET)"
log "$NBATCHES batches sent to both collectors"

# --- what was stored, on both -------------------------------------------------------------------
# 23 flow records and 10 DNS records stored once each (the duplicate not again).
for url in "$SQL_URL" "$CH_COL_URL"; do
	col_use "$url"
	assert_eq "$url: history total" 23 "$(capi "/api/history?limit=1" | jq .total)"
	assert_eq "$url: DNS total" 10 "$(capi "/api/dns?limit=1" | jq .total)"
	assert_eq "$url: nodes" "node-a node-b node-c node-d" "$(capi /api/nodes | jq -r '[.nodes[].name] | join(" ")')"
	assert_eq "$url: node-a batches (the duplicate once)" 6 \
		"$(capi /api/nodes | jq '.nodes[] | select(.name == "node-a") | .batches')"
done

# --- the queries --------------------------------------------------------------------------------
ALL="start_time=$((T - 30 * D))&end_time=$((T + M))"
QUERIES=(
	# history: no filter, pages
	"/api/history"
	"/api/history?limit=10000"
	"/api/history?limit=3"
	"/api/history?limit=3&offset=3"
	"/api/history?limit=5&offset=20"
	"/api/history?node=node-d"
	"/api/history?offset=23"
	"/api/history?limit=1&offset=22"
	# history: node, node with a time range (each window edge), time alone
	"/api/history?node=node-a"
	"/api/history?node=node-b"
	"/api/history?node=node-c"
	"/api/history?node=node-x"
	"/api/history?node=node-a&start_time=$A3&end_time=$A5"
	"/api/history?node=node-a&start_time=$((A3 + 1))&end_time=$((A5 + 1))"
	"/api/history?node=node-a&start_time=$A2"
	"/api/history?node=node-a&end_time=$A4"
	"/api/history?node=node-b&start_time=$B1&end_time=$B3&limit=2"
	"/api/history?start_time=$B2&end_time=$((B2 + 1))"
	"/api/history?start_time=$((T - H))"
	"/api/history?end_time=$((T - D))"
	"/api/history?start_time=$A6&end_time=$B3"
	# history: addresses
	"/api/history?ip=10.1.0.1"
	"/api/history?ip=10.1.0.1&limit=4&offset=4"
	"/api/history?ip=10.1.0.7"
	"/api/history?ip=fd00::1"
	"/api/history?ip=fd00:0::2"
	"/api/history?ip=2001:db8::10"
	"/api/history?ip=10.9.9.9"
	"/api/history?ip=::ffff:10.1.0.2"
	"/api/history?src_ip=10.1.0.1"
	"/api/history?src_ip=10.1.0.2"
	"/api/history?src_ip=10.1.0.7"
	"/api/history?dst_ip=10.1.0.1"
	"/api/history?dst_ip=10.1.0.53"
	"/api/history?dst_ip=fd00::53"
	"/api/history?src_ip=10.1.0.1&dst_ip=10.1.0.2"
	"/api/history?ip=10.1.0.1&dst_ip=10.1.0.4"
	"/api/history?ip=10.1.0.4&src_ip=10.1.0.4"
	"/api/history?ip=10.1.0.1&node=node-b"
	# history: ports and protocols
	"/api/history?port=443"
	"/api/history?port=53"
	"/api/history?port=123"
	"/api/history?port=9000"
	"/api/history?port=0"
	"/api/history?src_port=443"
	"/api/history?dst_port=443"
	"/api/history?src_port=40100&dst_port=443"
	"/api/history?port=443&protocol=tcp&limit=3&offset=2"
	"/api/history?port=8443&ip=10.1.0.4"
	"/api/history?protocol=tcp"
	"/api/history?protocol=udp"
	"/api/history?protocol=icmp"
	"/api/history?protocol=icmpv6"
	"/api/history?protocol=47"
	"/api/history?protocol=udp&node=node-a&start_time=$A4"
	# history: domains
	"/api/history?domain=example.com"
	"/api/history?domain=EXAMPLE.COM"
	"/api/history?domain=www.example.com"
	"/api/history?domain=WWW.EXAMPLE.com"
	"/api/history?domain=.example.com"
	"/api/history?domain=.Example.Com"
	"/api/history?domain=.com"
	"/api/history?domain=badexample.com"
	"/api/history?domain=.badexample.com"
	"/api/history?domain=xample.com"
	"/api/history?domain=.xample.com"
	"/api/history?domain=shop.example.net"
	"/api/history?domain=.net"
	"/api/history?domain=.org"
	"/api/history?domain=mail.example.org"
	"/api/history?domain=b%C3%BCcher.example.net"
	"/api/history?domain=B%C3%BCCHER.example.net"
	"/api/history?domain=.example.net&node=node-d"
	"/api/history?domain=.example.com&limit=2&offset=1"
	"/api/history?domain=.example.com&node=node-a&start_time=$A4"
	"/api/history?domain=.example.com&ip=10.1.0.1"
	"/api/history?domain=.example.net&port=8443"
	"/api/history?domain=example.com&protocol=tcp&src_port=443"
	# domains: the whole range, per node, sub-ranges, limits, the default (last hour)
	"/api/domains?$ALL"
	"/api/domains?$ALL&node=node-a"
	"/api/domains?$ALL&node=node-b"
	"/api/domains?$ALL&node=node-c"
	"/api/domains?$ALL&node=node-x"
	"/api/domains?$ALL&limit=2"
	"/api/domains?$ALL&limit=1&node=node-a"
	"/api/domains?start_time=$A4&end_time=$A5"
	"/api/domains?start_time=$A2&end_time=$((A2 + 1))"
	"/api/domains?start_time=$((T - D))&end_time=$T"
	"/api/domains?start_time=$A1&end_time=$A3&node=node-a"
	"/api/domains"
	"/api/domains?node=node-b"
	"/api/domains?node=node-d"
	# DNS: no filter, pages, node, client, name, time
	"/api/dns"
	"/api/dns?limit=3"
	"/api/dns?limit=3&offset=3"
	"/api/dns?limit=4&offset=9"
	"/api/dns?offset=10"
	"/api/dns?node=node-a"
	"/api/dns?node=node-c"
	"/api/dns?node=node-x"
	"/api/dns?client=10.1.0.1"
	"/api/dns?client=2001:db8::10"
	"/api/dns?client=fd00::1"
	"/api/dns?client=10.1.0.53"
	"/api/dns?name=www.example.com"
	"/api/dns?name=WWW.example.COM"
	"/api/dns?name=example.com"
	"/api/dns?name=.example.com"
	"/api/dns?name=.example.org"
	"/api/dns?name=mail.example.org"
	"/api/dns?name=.org"
	"/api/dns?name=.xample.com"
	"/api/dns?start_time=$A5&end_time=$B1"
	"/api/dns?start_time=$((T - H))"
	"/api/dns?end_time=$A3"
	"/api/dns?node=node-a&name=.example.com&start_time=$A3&limit=2&offset=1"
	"/api/dns?client=10.1.0.1&name=.com"
	# nodes
	"/api/nodes"
)

# The answers as compared, in one jq: the JSON values equal (so key order aside), with
# /api/nodes' "connected" left out (the live view's), and the range that /api/domains
# echoes left out where it defaulted to now. Prints "same ROWS" (ROWS: items, domains or
# nodes in the answer) or "differ".
# shellcheck disable=SC2016 # jq's variables, not the shell's
COMPARE='def norm($q):
		if ($q | startswith("/api/nodes")) then del(.nodes[].connected)
		elif ($q == "/api/domains" or ($q | startswith("/api/domains?node="))) then del(.start_time, .end_time)
		else . end;
	($s[0] | norm($q)) as $a | ($c[0] | norm($q)) as $b |
	if $a == $b then "same \([$a.items, $a.domains, $a.nodes] | map(select(. != null) | length) | add // 0)"
	else "differ" end'

DIFFS=0
NONEMPTY=0
for q in "${QUERIES[@]}"; do
	code_s=$(ccode "$SQL_URL$q")
	mv "$E2E_DIR/body" "$E2E_DIR/body.sqlite"
	code_c=$(ccode "$CH_COL_URL$q")
	mv "$E2E_DIR/body" "$E2E_DIR/body.clickhouse"
	[ "$code_s" = 200 ] || fail "SQLite collector: $q: HTTP $code_s: $(cat "$E2E_DIR/body.sqlite")"
	if [ "$code_c" != 200 ]; then
		log "DIFF $q: SQLite HTTP 200, ClickHouse HTTP $code_c: $(cat "$E2E_DIR/body.clickhouse")"
		DIFFS=$((DIFFS + 1))
		continue
	fi
	res=$(jq -nr --arg q "$q" --slurpfile s "$E2E_DIR/body.sqlite" \
		--slurpfile c "$E2E_DIR/body.clickhouse" "$COMPARE") ||
		fail "$q: an answer is not JSON: SQLite $(cat "$E2E_DIR/body.sqlite"), ClickHouse $(cat "$E2E_DIR/body.clickhouse")"
	case $res in
	"same 0") ;;
	same*) NONEMPTY=$((NONEMPTY + 1)) ;;
	*)
		DIFFS=$((DIFFS + 1))
		log "DIFF $q"
		log "  SQLite:     $(jq -cS . "$E2E_DIR/body.sqlite")"
		log "  ClickHouse: $(jq -cS . "$E2E_DIR/body.clickhouse")"
		diff <(jq -S . "$E2E_DIR/body.sqlite") <(jq -S . "$E2E_DIR/body.clickhouse") | head -40 >&2 || true
		;;
	esac
done
log "${#QUERIES[@]} queries, $NONEMPTY with rows, $DIFFS different"
[ "$NONEMPTY" -ge $((${#QUERIES[@]} - 16)) ] ||
	fail "only $NONEMPTY of ${#QUERIES[@]} queries found rows: the data does not reach the filters"
[ "$DIFFS" -eq 0 ] || fail "$DIFFS of ${#QUERIES[@]} queries answered differently by the two backends"
log "ok: all ${#QUERIES[@]} queries answered identically by SQLite and ClickHouse"

# --- clean stop, sanitizer reports --------------------------------------------------------------
col_stop "$SQL_PID" TERM
assert_eq "SQLite collector exit status" 0 "$COL_RC"
col_stop "$CH_COL_PID" TERM
assert_eq "ClickHouse collector exit status" 0 "$COL_RC"
check_sanitizer_logs
