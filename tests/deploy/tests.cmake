# tests/deploy/tests.cmake - the deployment files of k8s/ (included from
# tests/CMakeLists.txt). Python tests run with Debian's /usr/bin/python3 (python3-yaml).
#   deploy.yamllint    yamllint over every YAML file of k8s/
#   deploy.manifests   the promised properties, asserted on the parsed manifests (the base
#                      and the overlay k8s/overlays/clickhouse), compose file, Prometheus
#                      and Grafana files, Dockerfiles, unit templates
#   deploy.clickhouse_overlay  two collectors with the overlay's configuration on one
#                      private ClickHouse (tests/clickhouse/server.sh): schema, health
#   deploy.systemd     systemd-analyze verify on the installed units
#   deploy.prometheus  a real Prometheus scrapes a node and a collector (namespaces, root)
#                      with the shipped configuration; every dashboard and alert
#                      expression is run against it
set(AYAFLOW_DEPLOY_DIR ${CMAKE_CURRENT_SOURCE_DIR}/deploy)

add_test(NAME deploy.yamllint
	COMMAND yamllint --strict -c ${AYAFLOW_DEPLOY_DIR}/yamllint.yml ${CMAKE_SOURCE_DIR}/k8s)
add_test(NAME deploy.manifests
	COMMAND /usr/bin/python3 ${AYAFLOW_DEPLOY_DIR}/manifests_test.py ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
add_test(NAME deploy.clickhouse_overlay
	COMMAND bash ${AYAFLOW_DEPLOY_DIR}/clickhouse_overlay_test.sh ${CMAKE_SOURCE_DIR} $<TARGET_FILE:ayaflow-collector>)
add_test(NAME deploy.systemd
	COMMAND bash ${AYAFLOW_DEPLOY_DIR}/systemd_test.sh ${CMAKE_BINARY_DIR})
add_test(NAME deploy.prometheus
	COMMAND bash ${AYAFLOW_DEPLOY_DIR}/prometheus_test.sh)
set_tests_properties(deploy.yamllint deploy.manifests deploy.clickhouse_overlay deploy.systemd
	deploy.prometheus PROPERTIES
	TIMEOUT 300
	LABELS deploy)
# Both install the build (cmake --install): they need the programs built first, and run
# alone like the namespace scenarios.
set_tests_properties(deploy.manifests deploy.systemd PROPERTIES RUN_SERIAL TRUE)
set_tests_properties(deploy.prometheus PROPERTIES
	ENVIRONMENT "AYAFLOW_NODE=$<TARGET_FILE:ayaflow-node>;AYAFLOW_COLLECTOR=$<TARGET_FILE:ayaflow-collector>;TRAFFICGEN=$<TARGET_FILE:trafficgen>"
	SKIP_RETURN_CODE 77
	RUN_SERIAL TRUE)
