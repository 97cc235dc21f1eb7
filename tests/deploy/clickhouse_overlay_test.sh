#!/usr/bin/env bash
# deploy.clickhouse_overlay - the configuration of k8s/overlays/clickhouse as its two
# replicas use it, against a private ClickHouse (tests/clickhouse/server.sh) instead of
# the cluster's, with nothing of Kubernetes:
#   - both collectors start at once on one existing database with the overlay's
#     collector.yaml (only the store's host and port, the listen address, the API port
#     and the password file's path replaced, as the Secret's mount would provide it);
#   - they create the schema once between them: the tables, views and schema version the
#     README names, the tables plain MergeTree (AggregatingMergeTree for nodes);
#   - /api/health answers 200 on both, also while ClickHouse is hung (SIGSTOP), within
#     the probes' 2 s timeout: a store outage fails no readiness or liveness probe.
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

expect_eq "tables" "ayaflow_schema MergeTree
batches MergeTree
dns MergeTree
flows MergeTree
flows_addr MergeTree
flows_addr_mv MaterializedView
flows_domain MergeTree
flows_domain_mv MaterializedView
nodes AggregatingMergeTree
nodes_mv MaterializedView" \
	"$(ch_query "SELECT name, engine FROM system.tables WHERE database = 'ayaflow'
		ORDER BY name FORMAT TSV" | tr '\t' ' ')"
expect_eq "schema version" 1 "$(ch_query "SELECT max(version) FROM ayaflow.ayaflow_schema FORMAT TSV")"

kill -STOP "$CH_PID"
STOPPED=$CH_PID
# Long enough for each writer's once-a-second maintenance query to be waiting on it.
sleep 3
for i in 0 1; do
	health "${PORTS[i]}" >/dev/null ||
		fail "collector $((i + 1)): /api/health not 200 within 2 s while ClickHouse is hung"
done
kill -CONT "$CH_PID"
STOPPED=
log "health answered while the store was hung"

