#!/usr/bin/env bash
# deploy.prometheus - the shipped monitoring configuration against a real Prometheus
# (Debian's prometheus package).
#
# promtool checks the shipped prometheus.yml, alerts.yml and prometheus-kubernetes.yml.
# Then, in a pair of namespaces of its own joined by a veth pair: a collector started with
# the shipped k8s/base/config/collector.yaml and a node with k8s/base/config/node.yaml (flags
# override the database, the interface and the collector address), ping traffic across
# the veth, and Prometheus started with the test variant of the shipped prometheus.yml:
# the same jobs and alert rules, targets mapped to loopback, scrape every second. The
# test waits until both targets are up, reads real series back through the HTTP API, and
# runs every PromQL expression of the shipped dashboards and alert rules
# (promql_check.py). The host configurations of the systemd units are checked by the
# programs themselves. Cleanup (processes, namespaces, Prometheus's data) by the EXIT
# trap of tests/e2e/lib.sh.
#
# Environment (set by CTest): AYAFLOW_NODE, AYAFLOW_COLLECTOR, TRAFFICGEN.
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# shellcheck source=../e2e/lib.sh
source "$SRC/tests/e2e/lib.sh"

PY=/usr/bin/python3
PROMQL="$HERE/promql_check.py"
PROMDIR="$SRC/k8s/deploy/prometheus"
DASHDIR="$SRC/k8s/deploy/grafana/dashboards"
TIMEOUT=${DEPLOY_TIMEOUT:-90}

e2e_init
require_tools prometheus promtool ping
: "${AYAFLOW_COLLECTOR:?AYAFLOW_COLLECTOR must name the ayaflow-collector binary}"
[ -x "$PY" ] && "$PY" -c 'import yaml' 2>/dev/null || fail "/usr/bin/python3 with python3-yaml needed"

# --- static checks ----------------------------------------------------------------------
promtool check rules "$PROMDIR/alerts.yml" || fail "promtool check rules alerts.yml"
promtool check config "$PROMDIR/prometheus.yml" || fail "promtool check config prometheus.yml"
# Debian's Prometheus is built without Kubernetes discovery: check the rest of the file.
echo '[]' >"$E2E_DIR/none.json"
"$PY" "$PROMQL" k8s-config "$PROMDIR/prometheus-kubernetes.yml" "$E2E_DIR/prometheus-kubernetes.yml"
promtool check config "$E2E_DIR/prometheus-kubernetes.yml" || fail "promtool check config prometheus-kubernetes.yml"

# --- the programs -----------------------------------------------------------------------
ns_pair "$(ns_name a)" "$(ns_name b)" 10.78.1
NS=$NS_A

# Collector with the Kubernetes configuration (listen 0.0.0.0:7400, HTTP 3000).
ip netns exec "$NS" "$AYAFLOW_COLLECTOR" --config "$SRC/k8s/base/config/collector.yaml" \
	--db-path "$E2E_DIR/traffic.db" >"$E2E_DIR/collector.log" 2>&1 &
COLLECTOR_PID=$!
track_pid "$COLLECTOR_PID"
wait_for "collector /api/health" \
	"ip netns exec $NS curl -sf -m 2 http://127.0.0.1:3000/api/health | jq -e '.status == \"ok\"'"

# Node with the Kubernetes configuration (port 3001); a window of 1 s for quick batches.
NODE_PORT_FLAG=0 node_start "$NS" 3001 node --config "$SRC/k8s/base/config/node.yaml" \
	-i "$DEV_A" --node-name deploy-node --collector tcp://127.0.0.1:7400 --aggregation-window 1

nsx "$NS" ping -q -i 0.2 -c 1000 "$IP_B" >/dev/null 2>&1 &
track_pid $!
poll_jq "$NS" /api/stats '.export.batches_acked > 0 and .total_packets > 0' "node exporting to the collector"

# The host configurations of the systemd units: accepted by the programs.
ip netns exec "$NS" "$AYAFLOW_COLLECTOR" --config "$SRC/k8s/deploy/systemd/collector.yaml" \
	--db-path "$E2E_DIR/host.db" --listen tcp://127.0.0.1:7402 -p 3002 >"$E2E_DIR/host-collector.log" 2>&1 &
HOST_COLLECTOR=$!
track_pid "$HOST_COLLECTOR"
wait_for "collector with systemd/collector.yaml" \
	"ip netns exec $NS curl -sf -m 2 http://127.0.0.1:3002/api/health | jq -e '.status == \"ok\"'"
kill -TERM "$HOST_COLLECTOR"
wait "$HOST_COLLECTOR" || fail "collector with systemd/collector.yaml did not stop cleanly"
rc=0
ip netns exec "$NS" "$AYAFLOW_NODE" --config "$SRC/k8s/deploy/systemd/node.yaml" -i nosuch0 -p 3003 \
	>"$E2E_DIR/host-node.log" 2>&1 || rc=$?
# Status 2 would be a configuration error; this one stops later, at the interface.
[ "$rc" -ne 2 ] && grep -q "unknown interface 'nosuch0'" "$E2E_DIR/host-node.log" ||
	fail "ayaflow-node rejected systemd/node.yaml (status $rc)"
log "ok: systemd/collector.yaml and systemd/node.yaml accepted"

# --- Prometheus ------------------------------------------------------------------------
"$PY" "$PROMQL" test-config "$PROMDIR/prometheus.yml" "$E2E_DIR/prometheus.yml" \
	collector:3000=127.0.0.1:3000 node:3001=127.0.0.1:3001
promtool check config "$E2E_DIR/prometheus.yml" || fail "promtool check config (test variant)"
mkdir "$E2E_DIR/prom-data"
ip netns exec "$NS" prometheus --config.file="$E2E_DIR/prometheus.yml" \
	--storage.tsdb.path="$E2E_DIR/prom-data" --web.listen-address=127.0.0.1:9090 \
	>"$E2E_DIR/prometheus.log" 2>&1 &
track_pid $!
PROM=http://127.0.0.1:9090
wait_for "Prometheus ready" "ip netns exec $NS curl -sf -m 2 $PROM/-/ready" "$TIMEOUT"
for job in ayaflow-node ayaflow-collector; do
	wait_for "target $job up" \
		"ip netns exec $NS curl -sf -m 2 '$PROM/api/v1/query?query=up%7Bjob%3D%22$job%22%7D' |
			jq -e '.data.result[0].value[1] == \"1\"'" "$TIMEOUT"
	log "ok: Prometheus scrapes $job"
done

# Real data read back: the node's ICMP packets and the records the collector stored.
promq()
{
	ip netns exec "$NS" curl -sf -m 5 -G "$PROM/api/v1/query" --data-urlencode "query=$1"
}
wait_for "node ICMP egress packets in Prometheus" \
	"promq 'ayaflow_packets_total{job=\"ayaflow-node\",direction=\"egress\",protocol=\"icmp\"} > 0' |
		jq -e '.data.result | length == 1'" "$TIMEOUT"
wait_for "collector records stored in Prometheus" \
	"promq 'ayaflow_collector_records_stored_total{job=\"ayaflow-collector\"} > 0' |
		jq -e '.data.result | length == 1'" "$TIMEOUT"
wait_for "the collector's ledger of node deploy-node in Prometheus" \
	"promq 'ayaflow_lost_packets_total{job=\"ayaflow-collector\",node=\"deploy-node\"}' |
		jq -e '.data.result | length > 0'" "$TIMEOUT"
log "ok: series of both read back"

ip netns exec "$NS" "$PY" "$PROMQL" check "$PROM" "$DASHDIR" "$PROMDIR/alerts.yml" "$TIMEOUT" ||
	fail "dashboard or alert expressions"
