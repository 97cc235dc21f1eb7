#!/usr/bin/env bash
# ingest.sh - benchmark 5: collector ingest, per history store, side by side in one run.
# bench/ingest_load speaks the real protocol (lib/transport over nng, FlowBatches from
# lib/wire) as N simulated nodes, each its own connection, against collectors whose store
# is on the machine's disk, everything in a namespace of its own (bench_netns). Stores
# (BENCH_STORES, default "sqlite clickhouse"; clickhouse needs clickhouse-server):
#   sqlite        one collector, a SQLite file
#   clickhouse    a private clickhouse-server (tests/clickhouse/server.sh), measured with
#                 one collector and with two collectors writing the same database; the
#                 load generator then gives every node both URLs (as a node configured
#                 with two collectors: nng sends each batch to whichever is ready), or
#                 with BENCH_INGEST_SPLIT=1 half the nodes to each. A fresh database per
#                 phase, made idle (no merge running) before it starts.
#  (a) throughput: NODES_A nodes (default 16), 5 000 records per batch, 2 batches in
#      flight each, as fast as acknowledged: records/s stored and acknowledged, round
#      trip p50/p99 (client side), the collectors' commit time p50/p99 (their /metrics
#      histogram), encoded bytes per record, CPU of collectors and server, the store's
#      bytes per record (ClickHouse: as written and after OPTIMIZE TABLE ... FINAL; the
#      load repeats each node's records, so these compress better than real traffic's:
#      bench/queries.sh measures fill_db's records too), and for ClickHouse the time of
#      its INSERTs (system.query_log). Enough batches in flight to keep the writer busy:
#      with 4 nodes the client's pipeline, not the collector, set the rate (BENCHMARKS.md, 5).
#  (b) 1 000 simulated nodes connected at once, each sending batches of 100 records
#      (sqlite, and clickhouse with one collector).
#
# usage: bench/ingest.sh [--smoke]
source "$(dirname "$0")/common.sh"
bench_init "$@"
need "$AYAFLOW_COLLECTOR" "$INGEST_LOAD"
bench_netns ingest "$@"

DUR=20 NODES=1000 RECORDS=5000 NODES_A=${BENCH_INGEST_NODES:-16}
[ "$SMOKE" = 0 ] || DUR=3 NODES=50 RECORDS=1000 NODES_A=4
STORES=${BENCH_STORES:-sqlite clickhouse}
SPLIT=()
[ "${BENCH_INGEST_SPLIT:-0}" = 0 ] || SPLIT=(--split)

VARIANTS=()
for st in $STORES; do
	case $st in
	sqlite) VARIANTS+=(sqlite) ;;
	clickhouse)
		if bench_has_clickhouse; then
			VARIANTS+=(ch1 ch2)
		else
			log "clickhouse-server not installed: ClickHouse not measured"
		fi
		;;
	*) die "BENCH_STORES: unknown store '$st' (sqlite, clickhouse)" ;;
	esac
done
[ "${#VARIANTS[@]}" -gt 0 ] || die "no store to measure"

DBDIR=$(mktemp -d /var/tmp/ayf-bench-ingest.XXXXXX)
on_cleanup "rm -rf '$DBDIR'"
case " ${VARIANTS[*]} " in *" ch1 "*) bench_ch_start ;; esac

# hist_quantile Q METRICS: estimate from the commit-time histogram (upper bucket bound);
# METRICS may hold several collectors' /metrics, whose buckets are summed.
hist_quantile()
{
	awk -v q="$1" '/^ayaflow_collector_commit_seconds_bucket/ {
		le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
		if (!(le in c)) { n++; b[n] = le }
		c[le] += $2 }
		END { total = c[b[n]]; for (i = 1; i <= n; i++) if (c[b[i]] >= q * total) { print b[i]; exit } }' <<<"$2"
}

# metric NAME METRICS: the sum of a sample over the collectors in METRICS.
metric() { awk -v m="$1" '$1 == m { s += $2 } END { printf "%.0f\n", s }' <<<"$2"; }
metric_f() { awk -v m="$1" '$1 == m { s += $2 } END { print s + 0 }' <<<"$2"; }


# start_collectors VARIANT TAG: the collectors of a variant (ports in HTTPS, their PIDs in
# CPIDS, their ingest URLs in URLS), on a fresh store (STORE).
start_collectors()
{
	local v=$1 tag=$2 n=1 k http
	HTTPS=() CPIDS=() URLS=()
	case $v in
	sqlite) STORE="$DBDIR/$tag.db" ;;
	ch1 | ch2)
		[ "$v" = ch1 ] || n=2
		CHDB="${tag}_$v"
		ch_query "CREATE DATABASE $CHDB" >/dev/null || die "CREATE DATABASE $CHDB failed"
		STORE="clickhouse://127.0.0.1:$CH_HTTP_PORT/$CHDB"
		;;
	esac
	for ((k = 0; k < n; k++)); do
		http=$(rand_port)
		collector_start "$NS" "$http" $((http + 1)) "$STORE" "collector-$tag-$v-$k"
		HTTPS+=("$http")
		CPIDS+=("$COLLECTOR_PID")
		URLS+=("tcp://127.0.0.1:$((http + 1))")
	done
}

stop_collectors()
{
	local p
	for p in "${CPIDS[@]}"; do
		stop_pid "$p"
	done
}

all_metrics()
{
	local h
	for h in "${HTTPS[@]}"; do
		nsx "$NS" curl -sf -m 10 "http://127.0.0.1:$h/metrics" || die "no /metrics from port $h"
	done
}

declare -A R

# --- (a) throughput, each variant ---
for v in "${VARIANTS[@]}"; do
	if [ "$v" != sqlite ]; then
		log "$v: waiting for ClickHouse's merges to end ($(bench_ch_settle 300) s)"
	fi
	start_collectors "$v" a
	t_busy0=$(machine_busy_ticks)
	w0=$(date +%s%N)
	t_col0=0
	for p in "${CPIDS[@]}"; do t_col0=$((t_col0 + $(proc_cpu_ticks "$p"))); done
	t_ch0=0
	[ "$v" = sqlite ] || t_ch0=$(proc_cpu_ticks "$CH_PID")
	A=$(nsx "$NS" "$INGEST_LOAD" "${URLS[@]}" "${SPLIT[@]}" --nodes "$NODES_A" --records "$RECORDS" \
		--inflight 2 --duration "$DUR" --tag "tput-$v") || die "ingest_load failed ($v)"
	t_busy=$(($(machine_busy_ticks) - t_busy0))
	wall=$((($(date +%s%N) - w0) / 1000000))
	t_col=0
	for p in "${CPIDS[@]}"; do t_col=$((t_col + $(proc_cpu_ticks "$p"))); done
	t_col=$((t_col - t_col0))
	t_ch=0
	[ "$v" = sqlite ] || t_ch=$(($(proc_cpu_ticks "$CH_PID") - t_ch0))
	M=$(all_metrics)
	stop_collectors
	log "ingest_load ($v): $A"
	R[$v,rate]=$(kv records_per_second "$A")
	R[$v,acked]="$(kv records_acked "$A") / $(metric ayaflow_collector_records_stored_total "$M")"
	R[$v,split]=$(awk '$1 == "ayaflow_collector_records_stored_total" {
		printf "%s%.0f", sep, $2; sep = " + " }' <<<"$M")
	R[$v,lat]="$(kv latency_p50_ms "$A") / $(kv latency_p99_ms "$A")"
	R[$v,commit]="$(hist_quantile 0.5 "$M") / $(hist_quantile 0.99 "$M")"
	COMMITS=$(metric ayaflow_collector_commit_seconds_count "$M")
	R[$v,cmean]=$(awk -v s="$(metric_f ayaflow_collector_commit_seconds_sum "$M")" -v c="$COMMITS" \
		'BEGIN { printf "%.3f x %d", c ? s / c : 0, c }')
	R[$v,wire]=$(kv bytes_per_record "$A")
	R[$v,errors]="$(kv errors "$A")/$(kv rejected "$A")"
	R[$v,cpu]=$(awk -v c="$t_col" -v k="$t_ch" -v b="$t_busy" -v h="$CLK_TCK" -v w="$wall" \
		'BEGIN { printf "%.2f / %.2f / %.2f", c / h / w * 1000, k / h / w * 1000, b / h / w * 1000 }')
	if [ "$v" = sqlite ]; then
		ROWS=$(sqlite3 "file:$STORE?mode=ro" "SELECT coalesce(sum(n), 0) FROM flow_blocks")
		BYTES=$(sqlite3 "file:$STORE?mode=ro" \
			"SELECT page_count * page_size FROM pragma_page_count, pragma_page_size")
		R[$v,rows]=$ROWS
		R[$v,bpr]=$(awk -v b="$BYTES" -v r="$ROWS" 'BEGIN { printf "%.1f", r ? b / r : 0 }')
		R[$v,bprm]="-"
		R[$v,ins]="-"
		rm -f "$STORE" "$STORE-wal" "$STORE-shm"
	else
		ROWS=$(ch_query "SELECT count() FROM $CHDB.flows")
		R[$v,rows]=$ROWS
		ch_query "SYSTEM FLUSH LOGS" >/dev/null
		# ClickHouse's own time per commit (store_append): the dedup lookups, the
		# INSERT into flows (with its materialized views), the other INSERTs.
		R[$v,ins]=$(ch_query "SELECT concat(
			toString(round(sumIf(query_duration_ms, query LIKE 'SELECT%') / $COMMITS, 1)), ' / ',
			toString(round(sumIf(query_duration_ms, query LIKE 'INSERT INTO $CHDB.flows %') / $COMMITS, 1)), ' / ',
			toString(round(sumIf(query_duration_ms, query LIKE 'INSERT%' AND query NOT LIKE 'INSERT INTO $CHDB.flows %') / $COMMITS, 1)))
			FROM system.query_log WHERE type = 2 AND query LIKE '%$CHDB.%'")
		R[$v,insrows]=$(ch_query "SELECT round(avg(written_rows)) FROM system.query_log
			WHERE type = 2 AND query LIKE 'INSERT INTO $CHDB.flows %'")
		R[$v,bpr]=$(awk -v b="$(bench_ch_bytes "$CHDB")" -v r="$ROWS" \
			'BEGIN { printf "%.1f", r ? b / r : 0 }')
		R[$v,parts]="$(bench_ch_parts "$CHDB" flows)"
		bench_ch_optimize "$CHDB"
		R[$v,bprm]=$(awk -v b="$(bench_ch_bytes "$CHDB")" -v r="$ROWS" \
			'BEGIN { printf "%.1f", r ? b / r : 0 }')
		ch_query "DROP DATABASE $CHDB" >/dev/null
	fi
done

# --- (b) many nodes at once: sqlite, and ClickHouse with one collector ---
for v in "${VARIANTS[@]}"; do
	[ "$v" != ch2 ] || continue
	[ "$v" = sqlite ] || log "$v: waiting for ClickHouse's merges to end ($(bench_ch_settle 300) s)"
	start_collectors "$v" b
	ip netns exec "$NS" bash -c 'ulimit -n 65536; exec "$@"' _ "$INGEST_LOAD" "${URLS[0]}" \
		--nodes "$NODES" --records 100 --inflight 1 --duration $((DUR / 2 + 5)) --tag "many-$v" \
		>"$BENCH_DIR/many-$v.out" 2>"$BENCH_DIR/many-$v.log" &
	LP=$!
	track_pid "$LP"
	PEAK=0
	for _ in $(seq 1 $((DUR / 2 + 20))); do
		sleep 1
		kill -0 "$LP" 2>/dev/null || break
		n=$(nsx "$NS" curl -sf -m 5 "http://127.0.0.1:${HTTPS[0]}/metrics" |
			awk '/^ayaflow_collector_nodes_connected / { print $2 }') || n=0
		[ "${n:-0}" -le "$PEAK" ] || PEAK=$n
	done
	wait "$LP" || die "ingest_load (many nodes, $v) failed: $(cat "$BENCH_DIR/many-$v.log")"
	B=$(cat "$BENCH_DIR/many-$v.out")
	log "ingest_load (many, $v): $B"
	stop_collectors
	R[$v,bconn]="$(kv connected_at_end "$B") of $NODES"
	R[$v,bpeak]=$PEAK
	R[$v,brate]=$(kv records_per_second "$B")
	R[$v,blat]="$(kv latency_p50_ms "$B") / $(kv latency_p99_ms "$B")"
	R[$v,berr]="$(kv errors "$B")/$(kv rejected "$B")"
	[ "$v" = sqlite ] || ch_query "DROP DATABASE ${CHDB}" >/dev/null
done

# --- the table: one column per variant ---
declare -A NAME=([sqlite]=sqlite [ch1]="clickhouse" [ch2]="clickhouse x2")
row()
{
	local label=$1 key=$2 target=$3 v
	printf '  %-44s' "$label"
	for v in "${VARIANTS[@]}"; do
		printf ' %22s' "${R[$v,$key]:--}"
	done
	printf '   %s\n' "$target"
}
echo "collector ingest (a: $NODES_A nodes x $RECORDS-record batches, 2 in flight, ${DUR}s;" \
	"b: $NODES nodes x 100-record batches)"
printf '  %-44s' ""
for v in "${VARIANTS[@]}"; do printf ' %22s' "${NAME[$v]}"; done
printf '   target\n'
row "records stored and acknowledged /s" rate ">= 250 000"
row "records acknowledged / stored (collectors)" acked "-"
row "  stored by each collector" split "-"
row "flow records in the store" rows "-"
row "batch round trip p50 / p99 (ms, client)" lat "report"
row "commit p50 / p99 (s, /metrics bucket bound)" commit "report"
row "commit mean (s) x commits" cmean "report"
row "ClickHouse ms per commit: dedup / flows / other" ins "report (query_log)"
row "ClickHouse rows per INSERT into flows" insrows "report"
row "cores busy: collectors / clickhouse / machine" cpu "report (of 2)"
row "encoded bytes per record (protobuf)" wire "report"
row "store bytes per record, as written" bpr "ClickHouse <= 30"
row "  (ClickHouse: flows parts as written)" parts "-"
row "store bytes per record, OPTIMIZE ... FINAL" bprm "ClickHouse <= 30"
row "simulated nodes connected (b, client side)" bconn ">= 1000"
row "nodes connected at peak (b, /metrics)" bpeak ">= 1000"
row "many nodes: records/s acknowledged" brate "-"
row "many nodes: round trip p50 / p99 (ms)" blat "report"
row "errors / rejected (a)" errors "0"
row "errors / rejected (b)" berr "0"
echo "  load average at the end (the machine is shared): $(cut -d' ' -f1-3 /proc/loadavg)"
