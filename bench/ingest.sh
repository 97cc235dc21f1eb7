#!/usr/bin/env bash
# ingest.sh - benchmark 5: collector ingest. bench/ingest_load speaks the real protocol
# (lib/transport over nng, FlowBatches from lib/wire) as N simulated nodes, each its
# own connection, against a collector with its default schema (every history index)
# and its database on the machine's disk, both in a namespace of their own.
#  (a) throughput: NODES_A nodes (default 16), 5 000 records per batch, 2 batches in
#      flight each, as fast as acknowledged: records/s stored and acknowledged, round
#      trip p50/p99 (client side), the collector's commit time p50/p99 (its /metrics
#      histogram), encoded bytes per record. Enough batches in flight to keep the
#      writer busy: with 4 nodes (40 000 records in flight, ~160 ms round trip) the
#      client's pipeline, not the collector, set the rate (BENCHMARKS.md, 5).
#  (b) 1 000 simulated nodes connected at once, each sending batches of 100 records.
#
# usage: bench/ingest.sh [--smoke]
source "$(dirname "$0")/common.sh"
bench_init "$@"
need "$AYAFLOW_COLLECTOR" "$INGEST_LOAD"

DUR=20 NODES=1000 RECORDS=5000 NODES_A=${BENCH_INGEST_NODES:-16}
[ "$SMOKE" = 0 ] || DUR=3 NODES=50 RECORDS=1000 NODES_A=4

ns_new ingest
HTTP=$(rand_port)
IPORT=$((HTTP + 1))
DBDIR=$(mktemp -d /var/tmp/ayf-bench-ingest.XXXXXX)
on_cleanup "rm -rf '$DBDIR'"

# quantile Q METRICS: estimate from the commit-time histogram (upper bucket bound).
hist_quantile()
{
	awk -v q="$1" '/^ayaflow_collector_commit_seconds_bucket/ {
		le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le); n++; b[n] = le; c[n] = $2 }
		END { total = c[n]; for (i = 1; i <= n; i++) if (c[i] >= q * total) { print b[i]; exit } }' <<<"$2"
}

# --- (a) throughput ---
collector_start "$NS" "$HTTP" "$IPORT" "$DBDIR/a.db" collector-a
A=$(nsx "$NS" "$INGEST_LOAD" "tcp://127.0.0.1:$IPORT" --nodes "$NODES_A" --records "$RECORDS" --inflight 2 \
	--duration "$DUR" --tag tput) || die "ingest_load failed"
M=$(nsx "$NS" curl -sf "http://127.0.0.1:$HTTP/metrics")
STORED=$(awk '/^ayaflow_collector_records_stored_total/ { print $2 }' <<<"$M")
COMMITS=$(awk '/^ayaflow_collector_commit_seconds_count/ { print $2 }' <<<"$M")
CSUM=$(awk '/^ayaflow_collector_commit_seconds_sum/ { print $2 }' <<<"$M")
ROWS=$(sqlite3 "file:$DBDIR/a.db?mode=ro" "SELECT coalesce(sum(n), 0) FROM flow_blocks")
stop_pid "$COLLECTOR_PID"
log "ingest_load: $A"

# --- (b) many nodes at once ---
collector_start "$NS" "$HTTP" "$IPORT" "$DBDIR/b.db" collector-b
ip netns exec "$NS" bash -c 'ulimit -n 65536; exec "$@"' _ "$INGEST_LOAD" "tcp://127.0.0.1:$IPORT" \
	--nodes "$NODES" --records 100 --inflight 1 --duration $((DUR / 2 + 5)) --tag many \
	>"$BENCH_DIR/many.out" 2>"$BENCH_DIR/many.log" &
LP=$!
track_pid "$LP"
PEAK=0
for _ in $(seq 1 $((DUR / 2 + 20))); do
	sleep 1
	kill -0 "$LP" 2>/dev/null || break
	n=$(nsx "$NS" curl -sf -m 5 "http://127.0.0.1:$HTTP/metrics" |
		awk '/^ayaflow_collector_nodes_connected / { print $2 }') || n=0
	[ "${n:-0}" -le "$PEAK" ] || PEAK=$n
done
wait "$LP" || die "ingest_load (many nodes) failed: $(cat "$BENCH_DIR/many.log")"
B=$(cat "$BENCH_DIR/many.out")
log "ingest_load: $B"
stop_pid "$COLLECTOR_PID"

echo "collector ingest (a: $NODES_A nodes x 5000-record batches for ${DUR}s; b: $NODES nodes x 100-record batches)"
result "records stored and acknowledged /s" "$(kv records_per_second "$A")" ">= 250 000"
result "records acknowledged / stored (collector)" "$(kv records_acked "$A") / $STORED" "-"
result "flow records in the database" "$ROWS" "-"
result "batch round trip p50 (ms, client)" "$(kv latency_p50_ms "$A")" "report"
result "batch round trip p99 (ms, client)" "$(kv latency_p99_ms "$A")" "report"
result "commit p50 / p99 (s, /metrics bucket bound)" "$(hist_quantile 0.5 "$M") / $(hist_quantile 0.99 "$M")" "report"
result "commit mean (s) over commits" "$(awk -v s="$CSUM" -v c="$COMMITS" 'BEGIN { printf "%.4f", c ? s / c : 0 }') x $COMMITS" "report"
result "encoded bytes per record (protobuf)" "$(kv bytes_per_record "$A")" "report"
result "simulated nodes connected (client side)" "$(kv connected_at_end "$B") of $NODES" ">= 1000"
result "nodes connected at peak (collector /metrics)" "$PEAK" ">= 1000"
result "many nodes: records/s acknowledged" "$(kv records_per_second "$B")" "-"
result "many nodes: round trip p50 / p99 (ms)" "$(kv latency_p50_ms "$B") / $(kv latency_p99_ms "$B")" "report"
result "errors / rejected (a; b)" "$(kv errors "$A")/$(kv rejected "$A"); $(kv errors "$B")/$(kv rejected "$B")" "0"
