#!/usr/bin/env bash
# queries.sh - benchmark 6: query latency through the collector's HTTP API on a large
# history, per history store, side by side in one run (BENCH_STORES, default "sqlite
# clickhouse"; clickhouse needs clickhouse-server, started privately with
# tests/clickhouse/server.sh). Everything runs in a namespace of its own (bench_netns).
#
# bench/fill_db loads RECORDS flow records (default 10 000 000; BENCH_QUERY_RECORDS
# overrides) into each store through the collector's own store code (store_append of
# collector/store/: its writer, schema, indexes or materialized views; no nng/protobuf,
# to load fast), spread over 24 hours, 50 nodes, 5 000-record batches of random records
# (fill_db.c says which). Then one ayaflow-collector per store serves it, and
# bench/query_load measures each query (one keep-alive connection, sequential), the
# stores alternated query by query:
#   /api/history newest 1000; by ip; by node with a one-hour time range; by domain;
#   /api/live and /api/stats while bench/ingest_load feeds 100 000 records/s.
# ClickHouse, besides: its background merges after the fill are waited for before any
# measurement; bytes per record as filled and after OPTIMIZE TABLE ... FINAL, the history
# queries again on the merged parts, and ClickHouse's own share of each history request
# (system.query_log: SQL queries, their time and rows read per HTTP request).
# BENCH_QUERY_DB=path: reuse that SQLite database, or fill it there when it does not
# exist; it is kept either way. BENCH_QUERY_CH_DIR=dir: the same for the ClickHouse
# server's directory (database "ayaflow"). Reused stores grow by each run's ingest phase.
#
# usage: bench/queries.sh [--smoke]
source "$(dirname "$0")/common.sh"
bench_init "$@"
need "$AYAFLOW_COLLECTOR" "$FILL_DB" "$QUERY_LOAD" "$INGEST_LOAD"
bench_netns query "$@"

RECORDS=${BENCH_QUERY_RECORDS:-10000000} N=200 INGEST_RATE=100000 INGEST_DUR=25
[ "$SMOKE" = 0 ] || RECORDS=20000 N=20 INGEST_RATE=20000 INGEST_DUR=6
WARMUP=5
CHDB=ayaflow

ST=()
for st in ${BENCH_STORES:-sqlite clickhouse}; do
	case $st in
	sqlite) ST+=(sqlite) ;;
	clickhouse)
		if bench_has_clickhouse; then
			ST+=(clickhouse)
		else
			log "clickhouse-server not installed: ClickHouse not measured"
		fi
		;;
	*) die "BENCH_STORES: unknown store '$st' (sqlite, clickhouse)" ;;
	esac
done
[ "${#ST[@]}" -gt 0 ] || die "no store to measure"

declare -A R STORE HTTP

ratio() { awk -v b="$1" -v r="$2" 'BEGIN { printf "%.1f", r ? b / r : 0 }'; }

# ch_tables_bpr: bytes on disk per flow record of flows / flows_addr / flows_domain.
ch_tables_bpr()
{
	ch_query "SELECT concat(toString(round(sumIf(bytes_on_disk, table = 'flows') / r, 1)), ' / ',
		toString(round(sumIf(bytes_on_disk, table = 'flows_addr') / r, 1)), ' / ',
		toString(round(sumIf(bytes_on_disk, table = 'flows_domain') / r, 1)))
		FROM system.parts WHERE database = '$CHDB' AND active AND ((SELECT count() FROM $CHDB.flows) AS r) > 0"
}

# --- fill (or reuse) each store ---
for st in "${ST[@]}"; do
	case $st in
	sqlite)
		if [ -n "${BENCH_QUERY_DB:-}" ] && [ -f "$BENCH_QUERY_DB" ]; then
			DB=$BENCH_QUERY_DB
			R[sqlite,fill]="(reused $DB)"
		else
			if [ -n "${BENCH_QUERY_DB:-}" ]; then
				DB=$BENCH_QUERY_DB
			else
				DBDIR=$(mktemp -d /var/tmp/ayf-bench-query.XXXXXX)
				on_cleanup "rm -rf '$DBDIR'"
				DB=$DBDIR/q.db
			fi
			F=$("$FILL_DB" "$DB" "$RECORDS") || die "fill_db failed (sqlite)"
			log "fill_db (sqlite): $F"
			R[sqlite,fill]="$(kv seconds "$F") s, $(kv records_per_second "$F")/s"
		fi
		STORE[sqlite]=$DB
		R[sqlite,rows]=$(sqlite3 "file:$DB?mode=ro" "SELECT coalesce(sum(n), 0) FROM flow_blocks")
		R[sqlite,bpr]=$(ratio "$(sqlite3 "file:$DB?mode=ro" \
			"SELECT page_count * page_size FROM pragma_page_count, pragma_page_size")" \
			"${R[sqlite,rows]}")
		;;
	clickhouse)
		bench_ch_start "${BENCH_QUERY_CH_DIR:-}"
		STORE[clickhouse]="clickhouse://127.0.0.1:$CH_HTTP_PORT/$CHDB"
		if [ "$(ch_query "EXISTS TABLE $CHDB.flows")" = 1 ]; then
			R[clickhouse,fill]="(reused ${BENCH_QUERY_CH_DIR})"
		else
			ch_query "CREATE DATABASE IF NOT EXISTS $CHDB" >/dev/null
			F=$("$FILL_DB" "${STORE[clickhouse]}" "$RECORDS") || die "fill_db failed (clickhouse)"
			log "fill_db (clickhouse): $F"
			R[clickhouse,fill]="$(kv seconds "$F") s, $(kv records_per_second "$F")/s"
		fi
		R[clickhouse,settle]=$(bench_ch_settle 600)
		log "clickhouse: merges ended after ${R[clickhouse,settle]} s"
		R[clickhouse,rows]=$(ch_query "SELECT count() FROM $CHDB.flows")
		R[clickhouse,bpr]=$(ratio "$(bench_ch_bytes $CHDB)" "${R[clickhouse,rows]}")
		R[clickhouse,parts]="$(bench_ch_parts $CHDB flows) / $(bench_ch_parts $CHDB flows_addr) / $(bench_ch_parts $CHDB flows_domain)"
		R[clickhouse,tables]=$(ch_tables_bpr)
		;;
	esac
done

for st in "${ST[@]}"; do
	HTTP[$st]=$(rand_port)
	collector_start "$NS" "${HTTP[$st]}" $((HTTP[$st] + 1)) "${STORE[$st]}" "collector-$st"
done
NOW=$(($(date +%s) * 1000))

paths_ip=() paths_node=() paths_domain=()
for i in $(seq 0 19); do
	paths_ip+=("/api/history?ip=10.1.$((i * 7 % 256)).$((i * 13 % 256))")
	s=$((NOW - (i + 2) * 3600 * 1000))
	paths_node+=("/api/history?node=node-$((i * 3 % 50))&start_time=$s&end_time=$((s + 3600 * 1000))")
	paths_domain+=("/api/history?domain=svc-$((i * 97 % 2000)).example.com")
done

# ql STORE PATH...: query_load against STORE's collector.
ql()
{
	local st=$1
	shift
	nsx "$NS" "$QUERY_LOAD" "http://127.0.0.1:${HTTP[$st]}" --n "$N" --warmup "$WARMUP" "$@" ||
		die "query_load failed ($st: $*)"
}

# ch_share SQL_PATTERN T0 T1: ClickHouse's side of the requests of one query class
# measured between T0 and T1 (Unix seconds): SQL queries per HTTP request, their summed
# time (query_log, whole ms), rows and MB read per request.
ch_share()
{
	ch_query "SYSTEM FLUSH LOGS" >/dev/null
	ch_query "SELECT concat(toString(round(count() / $((N + WARMUP)), 1)), ' / ',
		toString(round(sum(query_duration_ms) / $((N + WARMUP)), 1)), ' / ',
		toString(round(sum(read_rows) / $((N + WARMUP)))), ' / ',
		toString(round(sum(read_bytes) / $((N + WARMUP)) / 1e6, 1)))
		FROM system.query_log WHERE type = 2 AND event_time >= toDateTime($2)
		AND event_time <= toDateTime($3) AND query LIKE '$1'"
}

# history [merged]: the four history queries, the stores alternated query by query; with
# "merged", ClickHouse's alone (its results under the column clickhousemerged).
history()
{
	local round=${1:-} st t0 cls
	declare -A pattern=([newest]="%FROM $CHDB.flows WHERE 1 %" [ip]="%FROM $CHDB.flows_addr WHERE%"
		[node]="%FROM $CHDB.flows WHERE 1 %node = %" [domain]="%FROM $CHDB.flows_domain WHERE%")
	for cls in newest ip node domain; do
		for st in "${ST[@]}"; do
			[ -z "$round" ] || [ "$st" = clickhouse ] || continue
			t0=$(date +%s)
			case $cls in
			newest) R[$st$round,$cls]=$(ql "$st" "/api/history?limit=1000") ;;
			ip) R[$st$round,$cls]=$(ql "$st" "${paths_ip[@]}") ;;
			node) R[$st$round,$cls]=$(ql "$st" "${paths_node[@]}") ;;
			domain) R[$st$round,$cls]=$(ql "$st" "${paths_domain[@]}") ;;
			esac
			[ "$st" = clickhouse ] || continue
			sleep 1 # the next class's queries start in another second of query_log
			R[$st$round,$cls-ch]=$(ch_share "${pattern[$cls]}" "$t0" $(($(date +%s) - 1)))
		done
	done
}
history

# --- ClickHouse: merged, the history queries again ---
for st in "${ST[@]}"; do
	[ "$st" = clickhouse ] || continue
	t0=$SECONDS
	bench_ch_optimize "$CHDB"
	R[clickhouse,optimize]=$((SECONDS - t0))
	log "clickhouse: OPTIMIZE TABLE ... FINAL took ${R[clickhouse,optimize]} s"
	R[clickhouse,bprm]=$(ratio "$(bench_ch_bytes $CHDB)" "${R[clickhouse,rows]}")
	R[clickhouse,partsm]="$(bench_ch_parts $CHDB flows) / $(bench_ch_parts $CHDB flows_addr) / $(bench_ch_parts $CHDB flows_domain)"
	R[clickhouse,tablesm]=$(ch_tables_bpr)
	history merged
done

# --- /api/live and /api/stats while ingesting, each store in turn ---
for st in "${ST[@]}"; do
	ip netns exec "$NS" "$INGEST_LOAD" "tcp://127.0.0.1:$((HTTP[$st] + 1))" --nodes 10 --records 2000 \
		--inflight 2 --rate "$INGEST_RATE" --duration "$INGEST_DUR" --tag "live-$st" \
		>"$BENCH_DIR/ingest-$st.out" 2>&1 &
	LP=$!
	track_pid "$LP"
	sleep 3
	R[$st,live]=$(ql "$st" "/api/live?limit=50")
	R[$st,stats]=$(ql "$st" "/api/stats")
	wait "$LP" || die "ingest_load failed ($st): $(cat "$BENCH_DIR/ingest-$st.out")"
	R[$st,ingest]=$(kv records_per_second "$(cat "$BENCH_DIR/ingest-$st.out")")
done

# --- the table: one column per store (and ClickHouse merged) ---
COLS=("${ST[@]}")
declare -A NAME=([sqlite]=sqlite [clickhouse]=clickhouse [clickhousemerged]="clickhouse merged")
for st in "${ST[@]}"; do
	[ "$st" != clickhouse ] || COLS+=(clickhousemerged)
done
fmt() { [ -z "$1" ] || echo "$(kv p50_ms "$1") / $(kv p95_ms "$1") / $(kv p99_ms "$1")"; }
cell()
{
	local c=$1 key=$2
	case $key in
	newest | ip | node | domain | live | stats) fmt "${R[$c,$key]:-}" ;;
	*) echo "${R[$c,$key]:-}" ;;
	esac
}
row()
{
	local label=$1 key=$2 target=$3 c v
	printf '  %-42s' "$label"
	for c in "${COLS[@]}"; do
		v=$(cell "$c" "$key")
		printf ' %24s' "${v:--}"
	done
	printf '   %s\n' "$target"
}
# Merged ClickHouse: the store-wide figures are the same store's.
for k in rows fill bpr; do R[clickhousemerged,$k]=${R[clickhouse,$k]:-}; done
R[clickhousemerged,bpr]=${R[clickhouse,bprm]:-}
R[clickhousemerged,parts]=${R[clickhouse,partsm]:-}
R[clickhousemerged,tables]=${R[clickhouse,tablesm]:-}

echo "queries ($N requests each after $WARMUP; p50 / p95 / p99 ms; stores alternated query by query)"
printf '  %-42s' ""
for c in "${COLS[@]}"; do printf ' %24s' "${NAME[$c]}"; done
printf '   target\n'
row "flow records stored" rows "10 M"
row "fill (fill_db)" fill "-"
row "store bytes per record" bpr "ClickHouse <= 30"
row "  of it flows / flows_addr / flows_domain" tables "-"
row "parts: flows / flows_addr / flows_domain" parts "-"
row "history newest 1000" newest "p95 <= 10 (SQLite) / 20"
row "  ClickHouse: queries / ms / rows / MB" newest-ch "per request"
row "history by ip (20 addresses)" ip "p95 <= 20"
row "  ClickHouse: queries / ms / rows / MB" ip-ch "per request"
row "history by node + 1 h range" node "p95 <= 20"
row "  ClickHouse: queries / ms / rows / MB" node-ch "per request"
row "history by domain (20 names)" domain "p95 <= 20"
row "  ClickHouse: queries / ms / rows / MB" domain-ch "per request"
row "ingest while live/stats measured (rec/s)" ingest "100 000"
row "/api/live during ingest" live "p95 <= 5"
row "/api/stats during ingest" stats "p95 <= 5"
errs=""
for c in "${COLS[@]}"; do
	for k in newest ip node domain live stats; do
		[ -z "${R[$c,$k]:-}" ] || errs+="$(kv errors "${R[$c,$k]}"),"
	done
done
result "errors (every query above)" "${errs%,}" "all 0"
[ "${R[clickhouse,settle]:-}" = "" ] ||
	echo "  ClickHouse: merges after the fill ended after ${R[clickhouse,settle]} s;" \
		"OPTIMIZE TABLE ... FINAL took ${R[clickhouse,optimize]:-?} s"
echo "  load average at the end (the machine is shared): $(cut -d' ' -f1-3 /proc/loadavg)"
