#!/usr/bin/env bash
# reverse_dns.sh - --resolve-dns: reverse (PTR) names of both ends of each connection, on
# the node's /api/live and /metrics and in the collector's history.
#
# Namespaces A <-> B (10.88.1.0/24). A gets its own resolv.conf (/etc/netns/<A>/, made and
# removed here) naming 127.0.0.1, where a DNS responder (trafficgen dns-server) answers
# PTR queries for both addresses; the node in A (-i va, so the lookups on A's loopback are
# not captured) runs with --resolve-dns and exports to the collector in the hub namespace.
# B sends UDP datagrams to A and pings it. Expected: every connection has
# src_hostname = client.test.example (B) and dst_hostname = server.test.example (A),
# ayaflow_domains_resolved_total{source="ptr"} = 2, and the history items carry both
# names. An address without a PTR record stays null (a third address on B).
# shellcheck disable=SC2016 # jq programs in single quotes
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
e2e_init
require_collector

NODE_NAME=ptr-node-$E2E_ID
NET=10.88.1
IP_B2=$NET.9 # no PTR record

ns_pair "$(ns_name a)" "$(ns_name b)" "$NET"
ip -n "$NS_B" addr add "$IP_B2/24" dev "$DEV_B"
hub_create "$(ns_name c)"
hub_link "$NS_A" 1 10.88.101
collector_start collector "$E2E_DIR/flows.db" --connection-timeout 3600

# The node's resolver in A asks 127.0.0.1 (ip netns exec binds /etc/netns/<ns>/*).
mkdir -p "/etc/netns/$NS_A"
on_cleanup "rm -rf '/etc/netns/$NS_A'"
echo "nameserver 127.0.0.1" >"/etc/netns/$NS_A/resolv.conf"
printf '127.0.0.1 localhost\n' >"/etc/netns/$NS_A/hosts"

ZONE=$E2E_DIR/zone.txt
cat >"$ZONE" <<ZEOF
1.1.88.10.in-addr.arpa PTR server.test.example 300
2.1.88.10.in-addr.arpa PTR client.test.example 300
ZEOF
ip netns exec "$NS_A" "$TRAFFICGEN" dns-server 53 "$ZONE" --bind 127.0.0.1 \
	>"$E2E_DIR/dns-server.log" 2>&1 &
track_pid $!
wait_listen "$NS_A" udp 53

node_start "$NS_A" 3001 node -i "$DEV_A" --resolve-dns --aggregation-window 1 \
	--connection-timeout 3600 --closed-timeout 3600 --node-name "$NODE_NAME" \
	--collector "tcp://$HUB_IP:$COLLECTOR_INGEST_PORT"
npoll_jq "$NS_A" /api/stats '.export.connected == true' "node connected"

ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6000 8 --timeout 60 >"$E2E_DIR/sink.log" 2>&1 &
track_pid $!
wait_listen "$NS_A" udp 6000
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP_A" 6000 5 100 --sport 7000 >/dev/null
nsx "$NS_B" ping -c 2 -i 0.2 -q "$IP_A" >/dev/null
nsx "$NS_B" ping -c 1 -q -I "$IP_B2" "$IP_A" >/dev/null

# Names arrive asynchronously: poll until the known ones are there.
poll_jq "$NS_A" "/api/live?limit=1000" \
	'[.connections[] | select(.src_ip == "'"$IP_B"'")] | length == 2 and
	 all(.src_hostname == "client.test.example" and .dst_hostname == "server.test.example")' \
	"PTR names on B's connections"
live=$(api "$NS_A" "/api/live?limit=1000")
assert_eq "udp 7000 src_hostname" '"client.test.example"' \
	"$(jq -c '.connections[] | select(.protocol == "udp" and .src_port == 7000) | .src_hostname' <<<"$live")"
assert_eq "icmp dst_hostname" '"server.test.example"' \
	"$(jq -c '.connections[] | select(.protocol == "icmp" and .src_ip == "'"$IP_B"'") | .dst_hostname' <<<"$live")"
# The address without a record: its lookup fails (NXDOMAIN), the name stays null.
wait_for "NXDOMAIN answered for $IP_B2" "grep -q '9.1.88.10.in-addr.arpa.*nxdomain' '$E2E_DIR/dns-server.log'"
sleep 1.5 # two ticks: the failure is collected and a snapshot taken (value checked, not time)
live=$(api "$NS_A" "/api/live?limit=1000")
assert_eq "no PTR record: src_hostname" null \
	"$(jq -c '.connections[] | select(.src_ip == "'"$IP_B2"'") | .src_hostname' <<<"$live")"
assert_eq "no PTR record: dst_hostname (A)" '"server.test.example"' \
	"$(jq -c '.connections[] | select(.src_ip == "'"$IP_B2"'") | .dst_hostname' <<<"$live")"
metrics=$(api "$NS_A" /metrics)
assert_eq 'domains_resolved_total{source="ptr"}' 2 \
	"$(metric "$metrics" ayaflow_domains_resolved_total 'source="ptr"')"

# The collector's history carries the names of the windows after they were known: the
# first window of a connection is exported before its lookups finish, so send again.
nsx "$NS_B" "$TRAFFICGEN" udp-send "$IP_A" 6000 3 100 --sport 7000 >/dev/null
cpoll_jq "/api/history?node=$NODE_NAME&protocol=udp&limit=1000" \
	'[.items[] | select(.src_hostname == "client.test.example" and .dst_hostname == "server.test.example")] | length >= 1' \
	"history items with host names"

node_stop "$NODE_PID" TERM
assert_eq "node exit status" 0 "$NODE_RC"
check_sanitizer_logs
