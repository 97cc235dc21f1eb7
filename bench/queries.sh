#!/usr/bin/env bash
# queries.sh - benchmark 6: query latency through HTTP on a large history.
# bench/fill_db loads RECORDS flow records (default 10 000 000; BENCH_QUERY_RECORDS
# overrides) straight through the collector's own store code (store_append of
# collector/store/, SQLite, every index in place; no nng/protobuf, to load fast),
# spread over 24 hours, 50 nodes. Then ayaflow-collector serves it and
# bench/query_load measures each query (one keep-alive connection, sequential):
#   /api/history newest 1000; by ip; by node with a one-hour time range; by domain;
#   /api/live and /api/stats while bench/ingest_load feeds 100 000 records/s.
# BENCH_QUERY_DB=path: reuse that database, or fill it there when it does not exist; it
# is kept either way (for EXPLAIN QUERY PLAN and repeated runs).
#
# usage: bench/queries.sh [--smoke]
source "$(dirname "$0")/common.sh"
bench_init "$@"
need "$AYAFLOW_COLLECTOR" "$FILL_DB" "$QUERY_LOAD" "$INGEST_LOAD"

RECORDS=${BENCH_QUERY_RECORDS:-10000000} N=200 INGEST_RATE=100000 INGEST_DUR=25
[ "$SMOKE" = 0 ] || RECORDS=20000 N=20 INGEST_RATE=20000 INGEST_DUR=6

ns_new query
HTTP=$(rand_port)
IPORT=$((HTTP + 1))
if [ -n "${BENCH_QUERY_DB:-}" ] && [ -f "$BENCH_QUERY_DB" ]; then
	DB=$BENCH_QUERY_DB
	LOADED="(reused $DB)"
elif [ -n "${BENCH_QUERY_DB:-}" ]; then
	DB=$BENCH_QUERY_DB
	LOADED=$("$FILL_DB" "$DB" "$RECORDS") || die "fill_db failed"
	log "fill_db: $LOADED"
else
	DBDIR=$(mktemp -d /var/tmp/ayf-bench-query.XXXXXX)
	on_cleanup "rm -rf '$DBDIR'"
	DB=$DBDIR/q.db
	LOADED=$("$FILL_DB" "$DB" "$RECORDS") || die "fill_db failed"
	log "fill_db: $LOADED"
fi
ROWS=$(sqlite3 "file:$DB?mode=ro" "SELECT coalesce(sum(n), 0) FROM flow_blocks")
collector_start "$NS" "$HTTP" "$IPORT" "$DB" collector
BASE="http://127.0.0.1:$HTTP"
NOW=$(($(date +%s) * 1000))

ql() { nsx "$NS" "$QUERY_LOAD" "$BASE" --n "$N" "$@" || die "query_load failed ($*)"; }

paths_ip=() paths_node=() paths_domain=()
for i in $(seq 0 19); do
	paths_ip+=("/api/history?ip=10.1.$((i * 7 % 256)).$((i * 13 % 256))")
	s=$((NOW - (i + 2) * 3600 * 1000))
	paths_node+=("/api/history?node=node-$((i * 3 % 50))&start_time=$s&end_time=$((s + 3600 * 1000))")
	paths_domain+=("/api/history?domain=svc-$((i * 97 % 2000)).example.com")
done
Q_NEWEST=$(ql "/api/history?limit=1000")
Q_IP=$(ql "${paths_ip[@]}")
Q_NODE=$(ql "${paths_node[@]}")
Q_DOMAIN=$(ql "${paths_domain[@]}")

# /api/live and /api/stats while ingesting.
ip netns exec "$NS" "$INGEST_LOAD" "tcp://127.0.0.1:$IPORT" --nodes 10 --records 2000 --inflight 2 \
	--rate "$INGEST_RATE" --duration "$INGEST_DUR" --tag live >"$BENCH_DIR/ingest.out" 2>&1 &
LP=$!
track_pid "$LP"
sleep 3
Q_LIVE=$(ql "/api/live?limit=50")
Q_STATS=$(ql "/api/stats")
wait "$LP" || die "ingest_load failed: $(cat "$BENCH_DIR/ingest.out")"
ING=$(cat "$BENCH_DIR/ingest.out")

echo "queries on $ROWS stored flow records ($N requests each; p50 / p95 / p99 ms)"
fmt() { echo "$(kv p50_ms "$1") / $(kv p95_ms "$1") / $(kv p99_ms "$1")"; }
result "history newest 1000" "$(fmt "$Q_NEWEST")" "p95 <= 10"
result "history by ip (20 addresses)" "$(fmt "$Q_IP")" "p95 <= 20"
result "history by node + 1 h range" "$(fmt "$Q_NODE")" "p95 <= 20"
result "history by domain (20 names)" "$(fmt "$Q_DOMAIN")" "p95 <= 20"
result "ingest while live/stats measured (rec/s)" "$(kv records_per_second "$ING")" "100 000"
result "/api/live during ingest" "$(fmt "$Q_LIVE")" "p95 <= 5"
result "/api/stats during ingest" "$(fmt "$Q_STATS")" "p95 <= 5"
result "errors (newest, ip, node, domain, live, stats)" "$(kv errors "$Q_NEWEST"),$(kv errors "$Q_IP"),$(kv errors "$Q_NODE"),$(kv errors "$Q_DOMAIN"),$(kv errors "$Q_LIVE"),$(kv errors "$Q_STATS")" "0"
