# shellcheck shell=bash
# lib.sh - shared helpers of the e2e scenarios (sourced by tests/e2e/*.sh).
#
# Each scenario makes its own uniquely named network namespaces joined by a veth
# pair, runs ayaflow-node inside one of them and sends traffic only inside them.
# Everything a test starts or creates is registered here and torn down by the EXIT
# trap, also when the test fails: processes by pid, namespaces by name.
#
# Environment (set by CTest, see tests.cmake): AYAFLOW_NODE, TRAFFICGEN, DROP_BPF_OBJ.
# E2E_KEEP=1 keeps the work directory for inspection.

set -euo pipefail

E2E_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
E2E_PIDS=()
E2E_NETNS=()
E2E_CLEANUP_CMDS=()
E2E_TIMEOUT=${E2E_TIMEOUT:-20}

log() { echo "[$E2E_NAME] $*" >&2; }

fail()
{
	echo "[$E2E_NAME] FAIL: $*" >&2
	exit 1
}

skip()
{
	echo "[$E2E_NAME] SKIP: $*" >&2
	exit 77
}

# --- preconditions ---------------------------------------------------------------

require_root()
{
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, TC, BPF)"
}

require_tools()
{
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || fail "required tool '$t' not installed (scripts/setup.sh installs it)"
	done
}

require_env()
{
	: "${AYAFLOW_NODE:?AYAFLOW_NODE must name the ayaflow-node binary}"
	: "${TRAFFICGEN:?TRAFFICGEN must name the trafficgen binary}"
	[ -x "$AYAFLOW_NODE" ] || fail "AYAFLOW_NODE=$AYAFLOW_NODE is not executable"
	[ -x "$TRAFFICGEN" ] || fail "TRAFFICGEN=$TRAFFICGEN is not executable"
}

# Common start of a scenario: root, tools, binaries, work dir and the cleanup trap.
e2e_init()
{
	require_root
	require_tools ip tc ss curl jq ethtool sysctl tcpdump
	require_env
	E2E_ID="$$$(printf '%04x' $((RANDOM)))"
	E2E_DIR=$(mktemp -d "/tmp/ayf-e2e-$E2E_NAME.XXXXXX")
	trap e2e_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# --- cleanup ---------------------------------------------------------------------

# Registers a process started by the test; the trap kills it (TERM, then KILL).
track_pid() { E2E_PIDS+=("$1"); }

# Registers a shell command the trap runs (e.g. deleting a qdisc).
on_cleanup() { E2E_CLEANUP_CMDS+=("$1"); }

e2e_cleanup()
{
	local rc=$?
	local pid ns i
	set +e
	# A tracked pid may be a subshell (a shell function run with &): its children are
	# the programs it started, so they are ended with it.
	for pid in "${E2E_PIDS[@]}"; do
		pkill -TERM -P "$pid" 2>/dev/null
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${E2E_PIDS[@]}"; do
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		pkill -KILL -P "$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for ((i = ${#E2E_CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do
		eval "${E2E_CLEANUP_CMDS[$i]}" >/dev/null 2>&1
	done
	for ns in "${E2E_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${E2E_DIR:-}" ]; then
		local f
		for f in "$E2E_DIR"/*.log; do
			[ -s "$f" ] || continue
			echo "----- $(basename "$f") (last 40 lines) -----" >&2
			tail -n 40 "$f" >&2
		done
	fi
	if [ -n "${E2E_DIR:-}" ] && [ "${E2E_KEEP:-0}" != 1 ]; then
		rm -rf "$E2E_DIR"
	elif [ -n "${E2E_DIR:-}" ]; then
		echo "[$E2E_NAME] kept $E2E_DIR" >&2
	fi
	if [ "$rc" -eq 0 ]; then
		echo "[$E2E_NAME] PASS" >&2
	fi
	exit "$rc"
}

# --- namespaces --------------------------------------------------------------------

# Runs a command inside namespace $1.
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Creates a unique namespace name from a tag: ayf-<pid><rand>-<tag>.
ns_name() { echo "ayf-$E2E_ID-$1"; }

# Makes the namespace deterministic for exact byte counts: loopback up, no offloads on
# $2, and TCP headers without options except the SYN's MSS (no timestamps, SACK or
# window scaling), so a non-SYN TCP packet has exactly 40 bytes of headers.
ns_tune()
{
	local ns=$1 dev=$2
	nsx "$ns" ip link set lo up
	nsx "$ns" sysctl -qw net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0 \
		net.ipv4.tcp_window_scaling=0 net.ipv4.tcp_ecn=0
	nsx "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 ||
		nsx "$ns" ethtool -K "$dev" tso off gso off gro off
	# tx/rx checksumming stays on: it changes no length.
}

# ns_pair A B NET: two namespaces A, B with veth "va"/"vb", IPv4 NET.1/24 on A and
# NET.2/24 on B (NET like 10.77.3), IPv6 fd00:ae:N::1/64 and ::2 (N = last part of NET).
# IPv6 is kept quiet so that its packets can be counted exactly: no DAD, no router
# solicitations, and permanent neighbour entries for the fd00 addresses (no NS/NA).
# Sets NS_A NS_B DEV_A DEV_B IP_A IP_B IP6_A IP6_B MAC_A MAC_B. The links come up at
# once, or with NS_PAIR_UP=0 only when ns_pair_up is called.
ns_pair()
{
	local a=$1 b=$2 net=$3 ns
	NS_A=$a NS_B=$b DEV_A=va DEV_B=vb
	IP_A="$net.1" IP_B="$net.2"
	local n3=${net##*.}
	IP6_A="fd00:ae:$n3::1" IP6_B="fd00:ae:$n3::2"
	for ns in "$NS_A" "$NS_B"; do
		ip netns add "$ns"
		E2E_NETNS+=("$ns")
		nsx "$ns" sysctl -qw net.ipv6.conf.default.dad_transmits=0 \
			net.ipv6.conf.default.router_solicitations=0 \
			net.ipv6.conf.all.dad_transmits=0 net.ipv6.conf.all.router_solicitations=0
	done
	ip -n "$NS_A" link add "$DEV_A" type veth peer name "$DEV_B" netns "$NS_B"
	ip -n "$NS_A" addr add "$IP_A/24" dev "$DEV_A"
	ip -n "$NS_B" addr add "$IP_B/24" dev "$DEV_B"
	ip -n "$NS_A" -6 addr add "$IP6_A/64" dev "$DEV_A" nodad
	ip -n "$NS_B" -6 addr add "$IP6_B/64" dev "$DEV_B" nodad
	MAC_A=$(ip -n "$NS_A" -j link show "$DEV_A" | jq -r '.[0].address')
	MAC_B=$(ip -n "$NS_B" -j link show "$DEV_B" | jq -r '.[0].address')
	ns_tune "$NS_A" "$DEV_A"
	ns_tune "$NS_B" "$DEV_B"
	if [ "${NS_PAIR_UP:-1}" = 1 ]; then
		ns_pair_up
	fi
}

ns_pair_up()
{
	ip -n "$NS_A" link set "$DEV_A" up
	ip -n "$NS_B" link set "$DEV_B" up
	ip -n "$NS_A" -6 neigh replace "$IP6_B" lladdr "$MAC_B" dev "$DEV_A" nud permanent
	ip -n "$NS_B" -6 neigh replace "$IP6_A" lladdr "$MAC_A" dev "$DEV_B" nud permanent
	wait_for "veth $DEV_A up" "ip -n $NS_A -j link show $DEV_A | jq -e '.[0].operstate == \"UP\"'"
	wait_for "veth $DEV_B up" "ip -n $NS_B -j link show $DEV_B | jq -e '.[0].operstate == \"UP\"'"
}

# --- polling -----------------------------------------------------------------------

# wait_for DESC CMD [TIMEOUT]: polls the shell command CMD (quietly) every 0.1 s until it
# succeeds; fails the test after TIMEOUT seconds (default E2E_TIMEOUT).
wait_for()
{
	local desc=$1 cmd=$2 timeout=${3:-$E2E_TIMEOUT}
	local deadline=$((SECONDS + timeout))
	while ! eval "$cmd" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			fail "timed out after ${timeout}s waiting for: $desc"
		fi
		sleep 0.1
	done
}

# wait_listen NS PROTO PORT: waits for a tcp/udp socket bound to PORT in NS.
wait_listen()
{
	local ns=$1 proto=$2 port=$3 opt
	if [ "$proto" = tcp ]; then opt=-Hltn; else opt=-Hlun; fi
	wait_for "$proto port $port bound in $ns" \
		"[ -n \"\$(ip netns exec $ns ss $opt 'sport = :$port')\" ]"
}

# wait_tcp_settled NS: waits until every TCP connection of NS off loopback has finished
# its closing handshake (nothing left but TIME-WAIT), so no packet of it is still due.
wait_tcp_settled()
{
	local ns=$1
	wait_for "TCP connections closed in $ns" \
		"[ -z \"\$(ip netns exec $ns ss -Htan state connected exclude time-wait '( not src 127.0.0.1 and not src [::1] )')\" ]"
}

# --- the node ----------------------------------------------------------------------

# node_start NS PORT LOGNAME ARGS...: starts ayaflow-node in NS in the background with
# -p PORT (left out with NODE_PORT_FLAG=0) and ARGS; sets NODE_PID and NODE_URL and
# waits until /api/health answers (with NODE_WAIT=http: until any HTTP status comes).
node_start()
{
	local ns=$1 port=$2 name=$3
	shift 3
	local portflag=(-p "$port")
	[ "${NODE_PORT_FLAG:-1}" = 1 ] || portflag=()
	ip netns exec "$ns" "$AYAFLOW_NODE" "${portflag[@]}" "$@" >"$E2E_DIR/$name.log" 2>&1 &
	NODE_PID=$!
	track_pid "$NODE_PID"
	NODE_URL="http://127.0.0.1:$port"
	if [ "${NODE_WAIT:-health}" = health ]; then
		node_wait_health "$ns" "$port" "$NODE_PID"
	else
		node_wait_http "$ns" "$port" "$NODE_PID"
	fi
}

# node_wait_http NS PORT PID: waits until the node answers HTTP at all (any status, for
# nodes whose allowlist refuses loopback).
node_wait_http()
{
	local ns=$1 port=$2 pid=$3 code
	local deadline=$((SECONDS + E2E_TIMEOUT))
	while :; do
		kill -0 "$pid" 2>/dev/null || fail "ayaflow-node (pid $pid) exited before answering HTTP"
		code=$(ip netns exec "$ns" curl -s -m 2 -o /dev/null -w '%{http_code}' \
			"http://127.0.0.1:$port/api/health" 2>/dev/null) || true
		[ "${code:-000}" = 000 ] || return 0
		[ "$SECONDS" -lt "$deadline" ] || fail "ayaflow-node did not answer HTTP within ${E2E_TIMEOUT}s"
		sleep 0.1
	done
}

node_wait_health()
{
	local ns=$1 port=$2 pid=$3
	local deadline=$((SECONDS + E2E_TIMEOUT))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null && true
			fail "ayaflow-node (pid $pid) exited before /api/health answered"
		fi
		if ip netns exec "$ns" curl -sf -m 2 "http://127.0.0.1:$port/api/health" 2>/dev/null |
			jq -e '.status == "ok"' >/dev/null 2>&1; then
			return 0
		fi
		[ "$SECONDS" -lt "$deadline" ] || fail "ayaflow-node did not answer /api/health within ${E2E_TIMEOUT}s"
		sleep 0.1
	done
}

# node_stop PID [SIGNAL]: signals the node and waits for it; sets NODE_RC.
node_stop()
{
	local pid=$1 sig=${2:-TERM}
	kill -"$sig" "$pid"
	local rc=0
	wait "$pid" || rc=$?
	NODE_RC=$rc # read by the scenarios
	export NODE_RC
}

# api NS URLPATH: GET from the node in NS (loopback), prints the body; fails on HTTP error.
api()
{
	local ns=$1 path=$2
	ip netns exec "$ns" curl -sS -f -m 5 "$NODE_URL$path"
}

# http_code NS METHOD URLPATH: prints the HTTP status; the body goes to $E2E_DIR/body.
http_code()
{
	local ns=$1 method=$2 path=$3
	ip netns exec "$ns" curl -sS -m 5 -o "$E2E_DIR/body" -w '%{http_code}' -X "$method" \
		"$NODE_URL$path"
}

# poll_jq NS URLPATH JQ-EXPR DESC: polls the endpoint until the jq expression is true;
# on timeout fails and prints the last body.
poll_jq()
{
	local ns=$1 path=$2 expr=$3 desc=$4
	local deadline=$((SECONDS + E2E_TIMEOUT)) body=""
	while :; do
		body=$(api "$ns" "$path" 2>/dev/null) || body=""
		if [ -n "$body" ] && jq -e "$expr" >/dev/null 2>&1 <<<"$body"; then
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$body" | jq . >"$E2E_DIR/last_body.log" 2>/dev/null || echo "$body" >"$E2E_DIR/last_body.log"
			fail "timed out after ${E2E_TIMEOUT}s waiting for $desc ($path: $expr)"
		fi
		sleep 0.2
	done
}

# live_flow NS FILTER: prints the first connection of /api/live?limit=1000 matching the
# jq FILTER (applied to each connection), or "null".
live_flow()
{
	local ns=$1 filter=$2
	api "$ns" "/api/live?limit=1000" | jq -c "[.connections[] | select($filter)] | .[0]"
}

# assert_eq DESC EXPECTED ACTUAL
assert_eq()
{
	if [ "$2" != "$3" ]; then
		fail "$1: expected '$2', got '$3'"
	fi
	log "ok: $1 = $3"
}

# metric BODY NAME [LABEL="VALUE"]...: the value of the first sample of NAME in the
# Prometheus text BODY that carries all the given labels (in any order); 0 when absent.
metric()
{
	local body=$1 name=$2
	shift 2
	awk -v name="$name" -v want="$*" '
		BEGIN { n = split(want, labels, " ") }
		/^#/ { next }
		{
			series = $1
			base = series; sub(/\{.*/, "", base)
			if (base != name) next
			for (i = 1; i <= n; i++)
				if (index(series, labels[i]) == 0) next
			print $2; found = 1; exit
		}
		END { if (!found) print 0 }' <<<"$body"
}

# udp_round NS_SEND NS_RECV IP N SPORT9 SPORT_OTHER: sends N datagrams to port 9 and
# then N to port 6000; prints what the two sinks received as "<port9> <port6000>".
# With the foreign filter DROP_BPF_OBJ (drops UDP to port 9) on the receiver's ingress
# it prints "0 N" (filter_coexist, tcx_attach).
udp_round()
{
	local ns_s=$1 ns_r=$2 ip=$3 n=$4 sp9=$5 spo=$6 p9 po
	ip netns exec "$ns_r" "$TRAFFICGEN" udp-sink 9 "$n" --timeout 60 >"$E2E_DIR/sink9.log" 2>&1 &
	p9=$!
	track_pid $p9
	ip netns exec "$ns_r" "$TRAFFICGEN" udp-sink 6000 "$n" --timeout 60 >"$E2E_DIR/sink6000.log" 2>&1 &
	po=$!
	track_pid $po
	wait_listen "$ns_r" udp 9
	wait_listen "$ns_r" udp 6000
	nsx "$ns_s" "$TRAFFICGEN" udp-send "$ip" 9 "$n" 32 --sport "$sp9" >/dev/null ||
		fail "udp-send to port 9 failed"
	nsx "$ns_s" "$TRAFFICGEN" udp-send "$ip" 6000 "$n" 32 --sport "$spo" >/dev/null ||
		fail "udp-send to port 6000 failed"
	wait "$po" || fail "udp-sink 6000 failed"
	# The port 9 datagrams went first on the same veth queue: whatever was not dropped
	# has arrived by now, so the sink can be stopped (it prints its count on SIGTERM).
	kill -TERM "$p9"
	wait "$p9" || fail "udp-sink 9 failed"
	echo "$(tail -n 1 "$E2E_DIR/sink9.log" | awk '{print $2}') $(tail -n 1 "$E2E_DIR/sink6000.log" | awk '{print $2}')"
}

# assert_round_counted NS N SPORT9 SPORT_OTHER DESC: the node in NS counted udp_round's two
# flows exactly (also the one a foreign filter dropped after the node saw it): N packets
# sent each, N * (32 + 28) bytes, nothing received.
assert_round_counted()
{
	local ns=$1 n=$2 sp9=$3 spo=$4 desc=$5 live f sp
	poll_jq "$ns" "/api/live?limit=1000" \
		"([.connections[] | select(.protocol == \"udp\" and .src_port == $sp9 and .dst_port == 9)][0].stats.packets_sent == $n) and ([.connections[] | select(.protocol == \"udp\" and .src_port == $spo and .dst_port == 6000)][0].stats.packets_sent == $n)" \
		"$desc: both UDP flows counted with $n packets"
	live=$(api "$ns" "/api/live?limit=1000")
	for sp in "$sp9" "$spo"; do
		f=$(jq -c "[.connections[] | select(.protocol == \"udp\" and .src_port == $sp)]" <<<"$live")
		assert_eq "$desc: flows from :$sp" 1 "$(jq length <<<"$f")"
		assert_eq "$desc: flow :$sp packets_sent" "$n" "$(jq '.[0].stats.packets_sent' <<<"$f")"
		assert_eq "$desc: flow :$sp packets_received" 0 "$(jq '.[0].stats.packets_received' <<<"$f")"
		assert_eq "$desc: flow :$sp bytes_sent" $((n * (32 + 28))) "$(jq '.[0].stats.bytes_sent' <<<"$f")"
	done
}

# udp_counted_once NS_SEND IP N SIZE SPORT DESC: N datagrams of SIZE bytes from SPORT to
# a sink on port 6000 of IP in namespace A, where the node runs: the sink gets them all,
# and the node counts them exactly once (one flow of N packets, not 2N) as its only IP
# packets since it started (/api/health totals; ARP is not IP, ns_pair keeps IPv6 quiet).
udp_counted_once()
{
	local ns_s=$1 ip=$2 n=$3 size=$4 sport=$5 desc=$6 sink f health
	ip netns exec "$NS_A" "$TRAFFICGEN" udp-sink 6000 "$n" --timeout 60 >"$E2E_DIR/sink.log" 2>&1 &
	sink=$!
	track_pid $sink
	wait_listen "$NS_A" udp 6000
	nsx "$ns_s" "$TRAFFICGEN" udp-send "$ip" 6000 "$n" "$size" --sport "$sport" >/dev/null ||
		fail "udp-send failed"
	wait "$sink" || fail "udp-sink failed"
	assert_eq "$desc: sink received" "received $n" "$(tail -n 1 "$E2E_DIR/sink.log")"
	poll_jq "$NS_A" "/api/live?limit=1000" \
		"[.connections[] | select(.protocol == \"udp\" and .src_port == $sport)][0].stats.packets_sent >= $n" \
		"UDP flow to reach $n packets"
	f=$(api "$NS_A" "/api/live?limit=1000" |
		jq -c "[.connections[] | select(.protocol == \"udp\" and .src_port == $sport)]")
	assert_eq "$desc: flows from :$sport" 1 "$(jq length <<<"$f")"
	assert_eq "$desc: packets_sent (once, not twice)" "$n" "$(jq '.[0].stats.packets_sent' <<<"$f")"
	assert_eq "$desc: bytes_sent" $((n * (size + 28))) "$(jq '.[0].stats.bytes_sent' <<<"$f")"
	health=$(api "$NS_A" /api/health)
	assert_eq "$desc: total_packets" "$n" "$(jq .total_packets <<<"$health")"
	assert_eq "$desc: total_bytes" $((n * (size + 28))) "$(jq .total_bytes <<<"$health")"
}

# --- ground truth --------------------------------------------------------------------

# pcap_start NS DEV FILE: starts tcpdump on DEV in NS, waits until it captures; sets
# PCAP_PID.
pcap_start()
{
	local ns=$1 dev=$2 file=$3
	ip netns exec "$ns" tcpdump -i "$dev" -nn -U --immediate-mode -Z root -s 128 -w "$file" \
		>"$E2E_DIR/tcpdump.log" 2>&1 &
	PCAP_PID=$!
	track_pid "$PCAP_PID"
	wait_for "tcpdump listening" "grep -q 'listening on' '$E2E_DIR/tcpdump.log'"
}

pcap_stop()
{
	kill -INT "$PCAP_PID" 2>/dev/null || true
	wait "$PCAP_PID" 2>/dev/null || true
}

# pcap_count FILE FILTER: number of frames matching the pcap filter.
pcap_count()
{
	tcpdump -r "$1" -nn "$2" 2>/dev/null | wc -l
}

# pcap_iplen FILE FILTER: sum of the IP lengths (IPv4 total length) of matching frames.
pcap_iplen()
{
	tcpdump -r "$1" -nn -v "$2" 2>/dev/null |
		sed -n 's/.*proto [^(]*([0-9]*), length \([0-9]*\)).*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }'
}
