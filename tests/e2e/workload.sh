# shellcheck shell=bash
# workload.sh - known workloads of the node -> collector scenarios and the checks of a
# collector's history and live view against them (sourced after lib.sh and cluster.sh).
#
# A workload W is three arrays, each entry one connection:
#   TCP_W  "client_ns server_ns server_ip server_port client_port up down"
#   UDP_W  "sender_ns receiver_ns receiver_ip dport sport count payload interval_us"
#   ICMP_W "pinger_ns target_ip count"
# and NSIP maps each namespace to its address. The arrays are read through namerefs
# (local -n). The checks ask the collector through capi (cluster.sh's, or the one of
# clickhouse.sh).
# shellcheck disable=SC2034,SC2178

# start_workload W: starts workload W in the background: servers and sinks first, then all
# clients at once, so that they overlap over several windows. Sets WL_CLIENTS_W,
# WL_SERVERS_W, WL_SINKS_W (pids, tracked for the EXIT trap).
start_workload()
{
	local n=$1 c u p cns sns sip sport cport up down rns rip dport count size ival pns tip
	local -n tcp="TCP_$n" udp="UDP_$n" icmp="ICMP_$n"
	local -n clients="WL_CLIENTS_$n" servers="WL_SERVERS_$n" sinks="WL_SINKS_$n"
	local -A nconn=()
	clients=() servers=() sinks=()
	for c in "${tcp[@]}"; do
		read -r cns sns sip sport cport up down <<<"$c"
		nconn[$sns:$sport]=$((${nconn[$sns:$sport]:-0} + 1))
	done
	for c in "${!nconn[@]}"; do
		ip netns exec "${c%:*}" "$TRAFFICGEN" tcp-server "${c#*:}" --count "${nconn[$c]}" \
			>"$E2E_DIR/srv$n-${c#*:}.log" 2>&1 &
		servers+=($!)
		track_pid $!
		wait_listen "${c%:*}" tcp "${c#*:}"
	done
	for u in "${udp[@]}"; do
		read -r sns rns rip dport sport count size ival <<<"$u"
		ip netns exec "$rns" "$TRAFFICGEN" udp-sink "$dport" "$count" --timeout 30 \
			>"$E2E_DIR/sink$n-$dport.log" 2>&1 &
		sinks+=($!)
		track_pid $!
		wait_listen "$rns" udp "$dport"
	done
	for c in "${tcp[@]}"; do
		read -r cns sns sip sport cport up down <<<"$c"
		nsx "$cns" "$TRAFFICGEN" tcp-client "$sip" "$sport" "$up" "$down" --sport "$cport" \
			>>"$E2E_DIR/clients$n.log" 2>&1 &
		clients+=($!)
		track_pid $!
	done
	for u in "${udp[@]}"; do
		read -r sns rns rip dport sport count size ival <<<"$u"
		nsx "$sns" "$TRAFFICGEN" udp-send "$rip" "$dport" "$count" "$size" --sport "$sport" \
			--interval-us "$ival" >>"$E2E_DIR/clients$n.log" 2>&1 &
		clients+=($!)
		track_pid $!
	done
	for p in "${icmp[@]}"; do
		read -r pns tip count <<<"$p"
		nsx "$pns" ping -c "$count" -s 56 -i 0.5 -q "$tip" >>"$E2E_DIR/clients$n.log" 2>&1 &
		clients+=($!)
		track_pid $!
	done
}

# finish_workload W: waits for workload W; checks what the receivers got.
finish_workload()
{
	local n=$1 p u i=0 sns rns rip dport sport count size ival
	local -n udp="UDP_$n"
	local -n clients="WL_CLIENTS_$n" servers="WL_SERVERS_$n" sinks="WL_SINKS_$n"
	for p in "${clients[@]}" "${servers[@]}"; do
		wait "$p" || fail "workload $n: a client or server failed (see clients$n.log)"
		untrack_pid "$p"
	done
	for u in "${udp[@]}"; do
		read -r sns rns rip dport sport count size ival <<<"$u"
		wait "${sinks[$i]}" || fail "workload $n: udp-sink $dport failed"
		untrack_pid "${sinks[$i]}"
		assert_eq "workload $n: udp-sink :$dport received" "received $count" \
			"$(tail -n 1 "$E2E_DIR/sink$n-$dport.log")"
		i=$((i + 1))
	done
}

# check_node N NS NAME STATS [W...]: the collector's history of node N (in namespace NS,
# named NAME; STATS its settled /api/stats) against the node's own live counters and the
# workloads W (default: the workload named N) that are all its traffic: per connection
# (the filtered history sums = the node's counters), in total (= total_packets and
# total_bytes), per workload (= what was sent). Saves the node's /api/live as
# $E2E_DIR/nodeN-live.json (for check_live_node).
check_node()
{
	local n=$1 ns=$2 name=$3 stats=$4
	shift 4
	local wls=("$@") wl ntotal=0
	[ "${#wls[@]}" -gt 0 ] || wls=("$n")
	local live hist conns nconn i conn q rows proto sip sport dip dport
	live=$(api "$ns" "/api/live?limit=1000")
	echo "$live" | jq . >"$E2E_DIR/node$n-live.json"
	assert_eq "node $n: /api/live total_packets = /api/stats total_packets" \
		"$(jq .total_packets <<<"$stats")" "$(jq .total_packets <<<"$live")"
	[ "$(jq '[.connections[] | select(.ip_version != 4)] | length' <<<"$live")" = 0 ] ||
		fail "node $n: IPv6 connections in /api/live (IPv6 must be off and quiet)"

	# All history rows of the node, paged in small pages to exercise offset paging.
	hist=$(history_all "node=$name" 7)
	echo "$hist" | jq . >"$E2E_DIR/node$n-history.json"
	log "node $n: $(jq length <<<"$hist") history rows"
	[ "$(jq length <<<"$hist")" -gt 0 ] || fail "node $n: no history rows"
	assert_eq "node $n: every history row names the node" 0 \
		"$(jq --arg n "$name" '[.[] | select(.node != $n)] | length' <<<"$hist")"
	assert_eq "node $n: every history row is IPv4 on va" 0 \
		"$(jq '[.[] | select(.ip_version != 4 or .interface != "va")] | length' <<<"$hist")"
	assert_eq "node $n: packet_count = packets_sent + packets_received in every row" 0 \
		"$(jq '[.[] | select(.packet_count != .packets_sent + .packets_received)] | length' <<<"$hist")"
	assert_eq "node $n: length = bytes_sent + bytes_received in every row" 0 \
		"$(jq '[.[] | select(.length != .bytes_sent + .bytes_received)] | length' <<<"$hist")"
	assert_eq "node $n: no empty rows" 0 "$(jq '[.[] | select(.packet_count == 0)] | length' <<<"$hist")"
	assert_eq "node $n: sum of history packet_count = node total_packets" \
		"$(jq .total_packets <<<"$stats")" "$(hsum "$hist" packet_count)"
	assert_eq "node $n: sum of history length = node total_bytes" \
		"$(jq .total_bytes <<<"$stats")" "$(hsum "$hist" length)"

	# The connections of the history are exactly those of the node's live table.
	assert_eq "node $n: connections in history = in node /api/live" \
		"$(jq -c '[.connections[] | [.protocol, .src_ip, .src_port, .dst_ip, .dst_port]] | sort' <<<"$live")" \
		"$(jq -c '[.[] | [.protocol, .src_ip, .src_port, .dst_ip, .dst_port]] | unique' <<<"$hist")"
	nconn=$(jq '.connections | length' <<<"$live")
	for wl in "${wls[@]}"; do
		ntotal=$((ntotal + $(workload_size "$wl")))
	done
	assert_eq "node $n: number of connections" "$ntotal" "$nconn"

	# Each connection: the filtered history query, paged, sums to the live counters.
	for ((i = 0; i < nconn; i++)); do
		conn=$(jq -c ".connections[$i]" <<<"$live")
		read -r proto sip sport dip dport <<<"$(jq -r '[.protocol, .src_ip, .src_port, .dst_ip, .dst_port] | @tsv' <<<"$conn")"
		q="node=$name&protocol=$proto&src_ip=$sip&dst_ip=$dip"
		[ "$proto" = icmp ] || q="$q&src_port=$sport&dst_port=$dport"
		rows=$(history_all "$q" 3)
		assert_eq "node $n: $proto $sip:$sport->$dip:$dport filtered rows = rows of the full history" \
			"$(jq -c --arg p "$proto" --arg s "$sip" --arg d "$dip" --argjson sp "$sport" --argjson dp "$dport" \
				'[.[] | select(.protocol == $p and .src_ip == $s and .dst_ip == $d and .src_port == $sp and .dst_port == $dp)] | length' <<<"$hist")" \
			"$(jq length <<<"$rows")"
		for f in packets_sent packets_received bytes_sent bytes_received; do
			assert_eq "node $n: $proto $sip:$sport->$dip:$dport history $f = node live" \
				"$(jq ".stats.$f" <<<"$conn")" "$(hsum "$rows" "$f")"
		done
		assert_eq "node $n: $proto $sip:$sport->$dip:$dport history tcp_flags of the last row = live" \
			"$(jq -r .tcp_flags <<<"$conn")" \
			"$(jq -r 'max_by(.window_end) | .tcp_flags' <<<"$rows")"
	done

	# The known workloads, against the history sums.
	for wl in "${wls[@]}"; do
		check_workload "$n" "$name" "$wl"
	done
}

# wl_rows HISTFILE QUERY: the history rows matching QUERY (node, protocol, src_ip,
# src_port, dst_ip, dst_port as in /api/history's parameters), from HISTFILE (the rows of
# the node) or, without it, from the collector.
wl_rows()
{
	local file=$1 query=$2
	if [ -z "$file" ]; then
		history_all "$query"
		return
	fi
	jq -c --arg q "$query" '($q | split("&") | map(split("=") | {(.[0]): .[1]}) | add) as $f |
		[.[] | select(.node == $f.node and .protocol == $f.protocol and .src_ip == $f.src_ip and
			.dst_ip == $f.dst_ip and
			($f.src_port == null or (.src_port | tostring) == $f.src_port) and
			($f.dst_port == null or (.dst_port | tostring) == $f.dst_port))]' "$file"
}

# workload_size W: the number of connections of workload W.
workload_size()
{
	local -n tcp="TCP_$1" udp="UDP_$1" icmp="ICMP_$1"
	echo $((${#tcp[@]} + ${#udp[@]} + ${#icmp[@]}))
}

# check_workload N NAME W [HISTFILE]: node N's (named NAME) history sums of each connection
# of workload W = what its clients sent. The rows of each connection come from a filtered
# /api/history query, or with HISTFILE (a JSON array of all the node's rows) from it.
check_workload()
{
	local n=$1 name=$2 wl=$3 file=${4:-} rows
	local -n tcp="TCP_$wl" udp="UDP_$wl" icmp="ICMP_$wl"
	local c u p cns sns sip2 sport2 cport up down rns rip dport2 count size ival pns tip cip
	for u in "${udp[@]}"; do
		read -r sns rns rip dport2 sport2 count size ival <<<"$u"
		cip=${NSIP[$sns]}
		rows=$(wl_rows "$file" "node=$name&protocol=udp&src_ip=$cip&src_port=$sport2&dst_ip=$rip&dst_port=$dport2")
		assert_eq "node $n: udp :$sport2 history packets_sent" "$count" "$(hsum "$rows" packets_sent)"
		assert_eq "node $n: udp :$sport2 history packets_received" 0 "$(hsum "$rows" packets_received)"
		assert_eq "node $n: udp :$sport2 history bytes_sent" "$((count * (size + 28)))" "$(hsum "$rows" bytes_sent)"
		assert_eq "node $n: udp :$sport2 history bytes_received" 0 "$(hsum "$rows" bytes_received)"
	done
	for p in "${icmp[@]}"; do
		read -r pns tip count <<<"$p"
		cip=${NSIP[$pns]}
		rows=$(wl_rows "$file" "node=$name&protocol=icmp&src_ip=$cip&dst_ip=$tip")
		assert_eq "node $n: icmp $cip->$tip history packets_sent" "$count" "$(hsum "$rows" packets_sent)"
		assert_eq "node $n: icmp $cip->$tip history packets_received" "$count" "$(hsum "$rows" packets_received)"
		assert_eq "node $n: icmp $cip->$tip history bytes_sent" "$((count * 84))" "$(hsum "$rows" bytes_sent)"
		assert_eq "node $n: icmp $cip->$tip history bytes_received" "$((count * 84))" "$(hsum "$rows" bytes_received)"
	done
	for c in "${tcp[@]}"; do
		read -r cns sns sip2 sport2 cport up down <<<"$c"
		cip=${NSIP[$cns]}
		rows=$(wl_rows "$file" "node=$name&protocol=tcp&src_ip=$cip&src_port=$cport&dst_ip=$sip2&dst_port=$sport2")
		[ "$(jq length <<<"$rows")" -gt 0 ] || fail "node $n: tcp :$cport not in the history"
		# No TCP options but the SYN's MSS (ns_tune): payload + 40 per packet + 4.
		assert_eq "node $n: tcp :$cport history bytes_sent" \
			"$((up + 40 * $(hsum "$rows" packets_sent) + 4))" "$(hsum "$rows" bytes_sent)"
		assert_eq "node $n: tcp :$cport history bytes_received" \
			"$((down + 40 * $(hsum "$rows" packets_received) + 4))" "$(hsum "$rows" bytes_received)"
	done
}

# check_live_node N NAME CLIVE: every connection of node N (named NAME; its /api/live saved
# by check_node or check_history_sums) is in the collector's /api/live answer CLIVE exactly once, under its
# node, with the node's counters, and the collector's node filter finds them all.
check_live_node()
{
	local n=$1 name=$2 clive=$3 live nconn i conn key cc
	live=$(jq -c . "$E2E_DIR/node$n-live.json")
	nconn=$(jq '.connections | length' <<<"$live")
	for ((i = 0; i < nconn; i++)); do
		conn=$(jq -c ".connections[$i]" <<<"$live")
		key=$(jq -c '[.protocol, .src_ip, .src_port, .dst_ip, .dst_port]' <<<"$conn")
		cc=$(jq -c --argjson k "$key" --arg n "$name" \
			'[.connections[] | select([.protocol, .src_ip, .src_port, .dst_ip, .dst_port] == $k and .node == $n)] | if length == 1 then .[0] else error("\(length) matches") end' <<<"$clive") ||
			fail "collector /api/live: connection $key of $name not there exactly once"
		assert_eq "collector /api/live $key node" "$name" "$(jq -r .node <<<"$cc")"
		assert_eq "collector /api/live $key stats = node live" "$(jq -c .stats <<<"$conn")" "$(jq -c .stats <<<"$cc")"
		assert_eq "collector /api/live $key connection" "$(jq -r .connection <<<"$conn")" "$(jq -r .connection <<<"$cc")"
	done
	# The node filter of the collector's /api/live.
	assert_eq "collector /api/live?node=$name: connections" "$nconn" \
		"$(capi "/api/live?limit=1000&node=$name" | jq --arg n "$name" '[.connections[] | select(.node == $n)] | length')"
}

# check_history_sums N NS NAME STATS: the quick form of check_node, in one history read:
# the collector's history of node N (in NS, named NAME; STATS its settled /api/stats),
# summed per connection, equals the node's live counters of each connection (the same
# connections, none more, none less) and adds up to its total_packets and total_bytes;
# no (connection, window) is there twice. Saves the history as
# $E2E_DIR/nodeN-history-<port of COLLECTOR_URL>.json and the node's /api/live as
# $E2E_DIR/nodeN-live.json (for check_live_node).
check_history_sums()
{
	local n=$1 ns=$2 name=$3 stats=$4 hist live res file
	file="$E2E_DIR/node$n-history-${COLLECTOR_URL##*:}.json"
	hist=$(history_all "node=$name")
	echo "$hist" >"$file"
	live=$(api "$ns" "/api/live?limit=1000")
	echo "$live" | jq . >"$E2E_DIR/node$n-live.json"
	assert_eq "$COLLECTOR_URL node $n: sum of history packet_count = node total_packets" \
		"$(jq .total_packets <<<"$stats")" "$(hsum "$hist" packet_count)"
	assert_eq "$COLLECTOR_URL node $n: sum of history length = node total_bytes" \
		"$(jq .total_bytes <<<"$stats")" "$(hsum "$hist" length)"
	assert_eq "$COLLECTOR_URL node $n: no (connection, window) twice in the history" 0 \
		"$(jq '[group_by([.protocol, .src_ip, .src_port, .dst_ip, .dst_port, .window_end])[] | select(length > 1)] | length' <<<"$hist")"
	res=$(jq -nrc --slurpfile h "$file" --argjson l "$live" '
		def key: [.protocol, .src_ip, .src_port, .dst_ip, .dst_port] | tostring;
		($h[0] | group_by(key) | map({key: (.[0] | key), value: {
			packets_sent: (map(.packets_sent) | add),
			packets_received: (map(.packets_received) | add),
			bytes_sent: (map(.bytes_sent) | add),
			bytes_received: (map(.bytes_received) | add)}}) | from_entries) as $hist |
		($l.connections | map({key: key, value: (.stats |
			{packets_sent, packets_received, bytes_sent, bytes_received})}) | from_entries) as $node |
		if $hist == $node then "equal \($node | length)"
		else {history: $hist, node: $node} end')
	case $res in
	"equal "*) log "ok: $COLLECTOR_URL node $n: history sums = node live counters for each of ${res#equal } connections" ;;
	*) fail "$COLLECTOR_URL node $n: history sums per connection differ from the node's counters: $res" ;;
	esac
}
