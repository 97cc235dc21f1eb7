#!/usr/bin/env bash
# run.sh - README command (1): install dependencies, build, and run the collector with a
# node feeding it.
#
#   scripts/run.sh -i IFACE[,IFACE...] [node flags...]
#	runs build/ayaflow-collector (API on :3000, ingest on 127.0.0.1:7400, database
#	./traffic.db) in the background and build/ayaflow-node on real interfaces in the
#	foreground (also with -c FILE), sending to that collector.
#   scripts/run.sh [--duration SECONDS] [node flags...]
#	demo: makes two network namespaces joined by a veth pair (unique names), runs the
#	collector and the node (on the veth) in one of them, sends a mix of TCP, UDP and
#	ping between them in a loop and prints the node's live flows and the collector's
#	history every 2 seconds until Ctrl-C (or SECONDS), then removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."

usage()
{
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

REAL=0
DURATION=0
NODE_ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage 0 ;;
	--duration)
		[ $# -ge 2 ] || usage 2
		DURATION=$2
		shift 2
		;;
	--duration=*)
		DURATION=${1#--duration=}
		shift
		;;
	-i | --interface | -i* | --interface=* | -c | --config | --config=*)
		REAL=1
		NODE_ARGS+=("$1")
		shift
		;;
	*)
		NODE_ARGS+=("$1")
		shift
		;;
	esac
done
[[ "$DURATION" =~ ^[0-9]+$ ]] || { echo "run.sh: --duration needs whole seconds, not '$DURATION'" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: run as root (installing packages, attaching TC programs)" >&2
	exit 1
fi

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2

NODE=$PWD/build/ayaflow-node
COLLECTOR=$PWD/build/ayaflow-collector
TG=$PWD/build/tests/trafficgen

if [ "$REAL" = 1 ]; then
	"$COLLECTOR" --listen tcp://127.0.0.1:7400 -p 3000 --db-path traffic.db &
	COLLECTOR_PID=$!
	trap 'kill -TERM $COLLECTOR_PID 2>/dev/null; wait $COLLECTOR_PID 2>/dev/null' EXIT
	trap 'exit 0' INT TERM
	"$NODE" --collector tcp://127.0.0.1:7400 "${NODE_ARGS[@]}" || exit $?
	exit 0
fi

# --- demo ---------------------------------------------------------------------------
PORT=3001
for ((i = 0; i < ${#NODE_ARGS[@]}; i++)); do
	case "${NODE_ARGS[$i]}" in
	-p | --port) PORT=${NODE_ARGS[$((i + 1))]:-3001} ;;
	--port=*) PORT=${NODE_ARGS[$i]#--port=} ;;
	esac
done

ID="$$$(printf '%04x' $RANDOM)"
NS_A="ayf-demo-$ID-a"
NS_B="ayf-demo-$ID-b"
IP_A=10.213.0.1
IP_B=10.213.0.2
WORK=$(mktemp -d /tmp/ayaflow-demo.XXXXXX)
PIDS=()
LOOP_PID=""
NSES=()

cleanup()
{
	local rc=$? pid i
	set +e
	trap - INT TERM
	touch "$WORK/stop"
	if [ -n "$LOOP_PID" ]; then
		for i in $(seq 1 50); do
			kill -0 "$LOOP_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -TERM "$LOOP_PID" 2>/dev/null
		wait "$LOOP_PID" 2>/dev/null
	fi
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for ns in "${NSES[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ -s "$WORK/node.log" ]; then
		echo "--- node log ---" >&2
		tail -n 30 "$WORK/node.log" >&2
	fi
	rm -rf "$WORK"
	echo "run.sh: demo stopped, namespaces $NS_A and $NS_B removed" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

ip netns add "$NS_A"
NSES+=("$NS_A")
ip netns add "$NS_B"
NSES+=("$NS_B")
ip -n "$NS_A" link add va type veth peer name vb netns "$NS_B"
ip -n "$NS_A" addr add "$IP_A/24" dev va
ip -n "$NS_B" addr add "$IP_B/24" dev vb
for ns in "$NS_A" "$NS_B"; do
	ip -n "$ns" link set lo up
done
ip -n "$NS_A" link set va up
ip -n "$NS_B" link set vb up

CPORT=3000
ip netns exec "$NS_A" "$COLLECTOR" --listen tcp://127.0.0.1:7400 -p "$CPORT" \
	--db-path "$WORK/traffic.db" >"$WORK/collector.log" 2>&1 &
PIDS+=($!)
CURL="http://127.0.0.1:$CPORT"

ip netns exec "$NS_A" "$NODE" -i va -p "$PORT" --node-name demo \
	--collector tcp://127.0.0.1:7400 --aggregation-window 2 "${NODE_ARGS[@]}" \
	>"$WORK/node.log" 2>&1 &
NODE_PID=$!
PIDS+=("$NODE_PID")
URL="http://127.0.0.1:$PORT"
for i in $(seq 1 100); do
	kill -0 "$NODE_PID" 2>/dev/null || { echo "run.sh: ayaflow-node exited" >&2; exit 1; }
	nsx "$NS_A" curl -sf -m 1 "$URL/api/health" >/dev/null 2>&1 && break
	[ "$i" -lt 100 ] || { echo "run.sh: ayaflow-node does not answer on $URL" >&2; exit 1; }
	sleep 0.1
done

ip netns exec "$NS_A" "$TG" tcp-server 5001 --count 4000000000 >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$NS_B" "$TG" tcp-server 5002 --count 4000000000 >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$NS_A" "$TG" udp-sink 6000 4000000000 --timeout 86400 >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$NS_B" "$TG" udp-sink 5353 4000000000 --timeout 86400 >/dev/null 2>&1 &
PIDS+=($!)
for i in $(seq 1 100); do
	[ -n "$(nsx "$NS_A" ss -Hltn 'sport = :5001')" ] &&
		[ -n "$(nsx "$NS_B" ss -Hltn 'sport = :5002')" ] && break
	sleep 0.1
done

# Mixed traffic until the stop file appears; every step is short.
(
	while [ ! -e "$WORK/stop" ]; do
		nsx "$NS_B" "$TG" tcp-client "$IP_A" 5001 $((RANDOM % 20000 + 100)) \
			$((RANDOM * 8 + 100)) >/dev/null 2>&1 || true
		nsx "$NS_B" "$TG" udp-send "$IP_A" 6000 $((RANDOM % 20 + 1)) 512 \
			--sport $((20000 + RANDOM % 4)) >/dev/null 2>&1 || true
		nsx "$NS_A" "$TG" tcp-client "$IP_B" 5002 $((RANDOM % 5000 + 100)) \
			$((RANDOM % 50000 + 100)) >/dev/null 2>&1 || true
		nsx "$NS_A" "$TG" udp-send "$IP_B" 5353 2 64 --sport 40000 >/dev/null 2>&1 || true
		nsx "$NS_B" ping -c 1 -s 56 -W 1 -q "$IP_A" >/dev/null 2>&1 || true
		sleep 0.3
	done
) &
LOOP_PID=$!

echo "run.sh: demo running: collector and node in $NS_A (node on va, API $URL; collector API $CURL), traffic from $NS_B"
[ "$DURATION" -gt 0 ] && echo "run.sh: stopping after $DURATION seconds" || echo "run.sh: Ctrl-C to stop"

table()
{
	nsx "$NS_A" curl -sf -m 2 "$URL/api/live?limit=15" | jq -r '
		"total: \(.total_packets) packets, \(.total_bytes) bytes, \(.connections | length) connections shown",
		(["CONNECTION", "PROTO", "PKTS>", "PKTS<", "BYTES>", "BYTES<", "FLAGS"] | @tsv),
		(.connections[] | [.connection, .protocol, .stats.packets_sent,
			.stats.packets_received, .stats.bytes_sent, .stats.bytes_received,
			(.tcp_flags // "")] | @tsv)' |
		awk -F'\t' 'NR == 1 { print; next }
			{ printf "%-44s %-6s %8s %8s %11s %11s  %s\n", $1, $2, $3, $4, $5, $6, $7 }'
}

history()
{
	nsx "$NS_A" curl -sf -m 2 "$CURL/api/history?limit=8" | jq -r '
		"stored: \(.total) flow records",
		(["WINDOW", "NODE", "PROTO", "SRC", "DST", "PKTS", "BYTES"] | @tsv),
		(.items[] | [(.timestamp / 1000 | strftime("%H:%M:%S")), .node, .protocol,
			"\(.src_ip):\(.src_port)", "\(.dst_ip):\(.dst_port)", .packet_count,
			.length] | @tsv)' |
		awk -F'\t' 'NR == 1 { print; next }
			{ printf "%-9s %-6s %-6s %-21s %-21s %7s %10s\n", $1, $2, $3, $4, $5, $6, $7 }'
}

START=$SECONDS
while :; do
	sleep 2
	kill -0 "$NODE_PID" 2>/dev/null || { echo "run.sh: ayaflow-node exited" >&2; exit 1; }
	echo
	echo "=== $(date +%T) live flows (sent '>' from the side that started the connection) ==="
	table || echo "(no answer from the node)"
	echo "--- collector ($CURL inside $NS_A): newest history rows ---"
	history || echo "(no answer from the collector)"
	if [ "$DURATION" -gt 0 ] && [ $((SECONDS - START)) -ge "$DURATION" ]; then
		break
	fi
done
