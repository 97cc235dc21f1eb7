# tests/e2e/tests.cmake - end-to-end scenarios in network namespaces (included from
# tests/CMakeLists.txt). Builds the traffic generator and the foreign TC program the
# scenarios use, and registers each scenario script as a CTest test. The scenarios need
# root; without it they exit 77 and CTest reports them as skipped.

add_executable(trafficgen e2e/trafficgen.c)
# Feeds the collector one batch built from the command line (collector_api, collector_dns).
add_executable(batchsend e2e/batchsend.c)
target_link_libraries(batchsend PRIVATE ayaflow_lib)
# The WebSocket client of ws_stream (its own socket; framing from lib/ws.c).
add_executable(wsclient e2e/wsclient.c)
target_link_libraries(wsclient PRIVATE ayaflow_lib)
# The API clients of load (libcurl's multi interface: many clients, one process).
# PkgConfig::CURL comes from the top-level CMakeLists.txt.
if(NOT TARGET PkgConfig::CURL)
	pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
endif()
add_executable(apiload e2e/apiload.c)
target_link_libraries(apiload PRIVATE PkgConfig::CURL)
# One million distinct 5-tuples through AF_PACKET (flow_flood).
add_executable(floodgen e2e/floodgen.c)
# Counts the programs attached through TCX on an interface's hooks (tcx_attach).
# PkgConfig::LIBBPF comes from the top-level CMakeLists.txt.
add_executable(tcxq e2e/tcxq.c)
target_link_libraries(tcxq PRIVATE PkgConfig::LIBBPF)

set(AYAFLOW_DROP_BPF_OBJ ${CMAKE_CURRENT_BINARY_DIR}/drop.bpf.o)
add_custom_command(OUTPUT ${AYAFLOW_DROP_BPF_OBJ}
	COMMAND ${CLANG} -g -O2 -target bpf -Wall -Werror -I/usr/include/x86_64-linux-gnu
		-c ${CMAKE_CURRENT_SOURCE_DIR}/e2e/drop.bpf.c -o ${AYAFLOW_DROP_BPF_OBJ}
	DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/e2e/drop.bpf.c
	COMMENT "clang -target bpf drop.bpf.c (e2e foreign filter)")
add_custom_target(e2e_drop_bpf ALL DEPENDS ${AYAFLOW_DROP_BPF_OBJ})

set(AYAFLOW_E2E_TESTS
	live_counts
	filter_coexist
	replace_killed
	http_api
	config_errors
	ipv6
	vlan
	collector_api
	collector_dns
	cluster_history
	collector_restart
	collector_failover
	spool_loss
	ws_stream
	cli
	dashboard
	deep_inspect
	reverse_dns
	disk_full
	hostile
	link_cut
	node_restart
	tcx_attach
	flow_flood
	load
	security)

foreach(name ${AYAFLOW_E2E_TESTS})
	add_test(NAME e2e.${name}
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${name}.sh)
	set_tests_properties(e2e.${name} PROPERTIES
		ENVIRONMENT "AYAFLOW_NODE=$<TARGET_FILE:ayaflow-node>;AYAFLOW_COLLECTOR=$<TARGET_FILE:ayaflow-collector>;BATCHSEND=$<TARGET_FILE:batchsend>;TRAFFICGEN=$<TARGET_FILE:trafficgen>;AYAFLOW_CLI=$<TARGET_FILE:ayaflowctl>;DROP_BPF_OBJ=${AYAFLOW_DROP_BPF_OBJ};TCXQ=$<TARGET_FILE:tcxq>;TCXATTACH=$<TARGET_FILE:tcxattach>"
		SKIP_RETURN_CODE 77
		TIMEOUT 180
		RUN_SERIAL TRUE
		LABELS e2e)
endforeach()

# The dashboard's screenshot is kept as a test artifact.
set_property(TEST e2e.dashboard APPEND PROPERTY
	ENVIRONMENT "AYAFLOW_ARTIFACTS=${CMAKE_BINARY_DIR}/artifacts")

set_property(TEST e2e.ws_stream APPEND PROPERTY ENVIRONMENT "WSCLIENT=$<TARGET_FILE:wsclient>")
set_property(TEST e2e.load APPEND PROPERTY ENVIRONMENT "WSCLIENT=$<TARGET_FILE:wsclient>")
set_property(TEST e2e.load APPEND PROPERTY ENVIRONMENT "APILOAD=$<TARGET_FILE:apiload>")
set_property(TEST e2e.load APPEND PROPERTY ENVIRONMENT "INGEST_LOAD=$<TARGET_FILE:ingest_load>")
set_property(TEST e2e.flow_flood APPEND PROPERTY ENVIRONMENT "FLOODGEN=$<TARGET_FILE:floodgen>")
# Two rounds of a 30 s link cut and the catch-up after it.
set_property(TEST e2e.link_cut PROPERTY TIMEOUT 420)

# The scenarios with a real ClickHouse as the collectors' store: each starts its own
# server (tests/clickhouse/server.sh) in its work directory and stops it in its trap.
#   clickhouse_cluster       two nodes, two collectors sharing one ClickHouse, one of
#                            them killed mid-stream and restarted
#   clickhouse_same_answers  the same batches to a SQLite and a ClickHouse collector: the
#                            same answers to every query
#   clickhouse_outage        the ClickHouse hangs (SIGSTOP), then stops and restarts, while
#                            a node streams: degraded, 503, spooled, then stored once
set(AYAFLOW_E2E_CLICKHOUSE_TESTS
	clickhouse_cluster
	clickhouse_same_answers
	clickhouse_outage)

foreach(name ${AYAFLOW_E2E_CLICKHOUSE_TESTS})
	add_test(NAME e2e.${name}
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${name}.sh)
	set_tests_properties(e2e.${name} PROPERTIES
		ENVIRONMENT "AYAFLOW_NODE=$<TARGET_FILE:ayaflow-node>;AYAFLOW_COLLECTOR=$<TARGET_FILE:ayaflow-collector>;BATCHSEND=$<TARGET_FILE:batchsend>;TRAFFICGEN=$<TARGET_FILE:trafficgen>"
		SKIP_RETURN_CODE 77
		TIMEOUT 300
		RUN_SERIAL TRUE
		LABELS "e2e;clickhouse")
endforeach()
