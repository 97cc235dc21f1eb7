#!/usr/bin/env bash
# deploy.clickhouse_overlay - the configuration of k8s/overlays/clickhouse as its two
# replicas use it, against a private ClickHouse (tests/clickhouse/server.sh) instead of
# the cluster's, with nothing of Kubernetes:
#   - both collectors start at once on one existing database with the overlay's
#     collector.yaml (only the store's host and port, the listen address, the API port
#     and the password file's path replaced, as the Secret's mount would provide it);
#   - between them they create the schema: the tables the README names, plain MergeTree
#     (ReplacingMergeTree for the records, AggregatingMergeTree for nodes) and materialized
#     views, at this version;
#   - /api/health answers 200 on both within the probes' 2 s timeout, "degraded" while
#     ClickHouse is hung (SIGSTOP), "ok" once it answers again: a store outage fails no
#     readiness or liveness probe.
#   deploy/clickhouse_overlay_test.sh SOURCE_DIR COLLECTOR_BINARY
# Needs clickhouse-server (scripts/setup.sh) and curl; not root.
set -euo pipefail
SRC=$(cd "$1" && pwd)
COLLECTOR=$2
# shellcheck source=tests/clickhouse/server.sh
source "$SRC/tests/clickhouse/server.sh"

NAME=deploy.clickhouse_overlay
CONFIG=$SRC/k8s/overlays/clickhouse/collector.yaml
WORK=
PIDS=()
STOPPED=

log() { echo "[$NAME] $*" >&2; }

fail()
{
	echo "[$NAME] FAIL: $*" >&2
	for f in "$WORK"/collector*.log; do
		[ -e "$f" ] && sed "s|^|[$(basename "$f")] |" "$f" >&2
	done
	exit 1
}

cleanup()
{
	local rc=$?
	set +e
	[ -z "$STOPPED" ] || kill -CONT "$STOPPED" 2>/dev/null
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	ch_server_stop
	[ -z "$WORK" ] || rm -rf -- "$WORK"
	[ "$rc" -ne 0 ] || log PASS
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

expect_eq()
{
	[ "$2" = "$3" ] || fail "$1: expected [$2], got [$3]"
}

# health PORT: the body of /api/health, failing unless it is a 200 within 2 s (the
# probes' timeoutSeconds).
health()
{
	curl -sS -f --max-time 2 "http://127.0.0.1:$1/api/health"
}

WORK=$(mktemp -d /tmp/ayf-deploy-ch.XXXXXX)
ch_server_start "$WORK/clickhouse"
ch_query "CREATE DATABASE ayaflow" >/dev/null
store_url="clickhouse://ayaflow@127.0.0.1:$CH_HTTP_PORT/ayaflow"
grep -q '^store: clickhouse://ayaflow@[^ ]*/ayaflow$' "$CONFIG" ||
	fail "collector.yaml: no store: line with user ayaflow and database ayaflow"

# Ports of collector 1 and 2: API 0 and 1, ingest 2 and 3.
read -r -a PORTS < <(ch__pick_ports 4)
for i in 0 1; do
	"$COLLECTOR" --config "$CONFIG" --store "$store_url" \
		--store-password-file "$CH_PASSWORD_FILE" \
		--listen "tcp://127.0.0.1:${PORTS[i + 2]}" --port "${PORTS[i]}" \
		>"$WORK/collector$((i + 1)).log" 2>&1 &
	PIDS+=($!)
done

for i in 0 1; do
	body=
	for _ in $(seq 100); do
		body=$(health "${PORTS[i]}" 2>/dev/null) && break
		kill -0 "${PIDS[i]}" 2>/dev/null || fail "collector $((i + 1)) exited"
		sleep 0.2
	done
	case "$body" in
	*'"status":"ok"'*) ;;
	*) fail "collector $((i + 1)): /api/health: [${body:-no answer}]" ;;
	esac
done
log "both collectors up on one database"

# The tables of the README's schema, each one engine the collector creates (no Replicated
# or Distributed one), and the schema version this collector writes.
tables=$(ch_query "SELECT name, engine FROM system.tables WHERE database = 'ayaflow'
	ORDER BY name FORMAT TSV" | tr '\t' ' ')
for t in "ayaflow_schema MergeTree" "batches MergeTree" "dns ReplacingMergeTree" "flows ReplacingMergeTree" \
	"flows_addr ReplacingMergeTree" "flows_domain ReplacingMergeTree" "nodes AggregatingMergeTree"; do
	grep -qx "$t" <<<"$tables" || fail "no table $t in: $tables"
done
expect_eq "engines" "" "$(cut -d' ' -f2 <<<"$tables" |
	grep -vx 'MergeTree\|ReplacingMergeTree\|AggregatingMergeTree\|MaterializedView' || true)"
version=$(sed -n 's/^#define STORE_CLICKHOUSE_SCHEMA_VERSION \([0-9]*\)$/\1/p' \
	"$SRC/collector/store/clickhouse.h")
expect_eq "schema version" "$version" \
	"$(ch_query "SELECT max(version) FROM ayaflow.ayaflow_schema FORMAT TSV")"

# wait_status STATUS: every answer of both collectors a 200 within 2 s until both say
# "status":"STATUS" (at most 60 s).
wait_status()
{
	local i body
	for i in 0 1; do
		for _ in $(seq 120); do
			body=$(health "${PORTS[i]}") ||
				fail "collector $((i + 1)): /api/health not 200 within 2 s (waiting for $1)"
			case "$body" in *"\"status\":\"$1\""*) continue 2 ;; esac
			sleep 0.5
		done
		fail "collector $((i + 1)): /api/health never $1: $body"
	done
}

# A hung store (the server stopped: requests time out after 10 s) makes both degraded,
# still 200 for the probes; continued, both are ok again.
kill -STOP "$CH_PID"
STOPPED=$CH_PID
wait_status degraded
log "degraded and answering 200 while the store is hung"
kill -CONT "$CH_PID"
STOPPED=
wait_status ok
log "ok again once the store answers"
