# Unit tests, one line per test: ayaflow_unit_test(name [extra sources]) (tests/CMakeLists.txt).
ayaflow_unit_test(test_cidr)
ayaflow_unit_test(test_config)
ayaflow_unit_test(test_prom)
ayaflow_unit_test(test_live ${CMAKE_SOURCE_DIR}/node/live.c ${CMAKE_SOURCE_DIR}/node/kvmap.c)
ayaflow_unit_test(test_kvmap ${CMAKE_SOURCE_DIR}/node/kvmap.c)
ayaflow_unit_test(test_flowfmt)
ayaflow_unit_test(test_spool ${CMAKE_SOURCE_DIR}/node/spool.c)
ayaflow_unit_test(test_transport)
ayaflow_unit_test(test_wire)
# The store's conformance suite: one binary, the backend chosen at run time. On SQLite
# here (AYAFLOW_TEST_CLICKHOUSE unset even if the caller has it), on ClickHouse below.
ayaflow_unit_test(test_store)
target_link_libraries(test_store PRIVATE ayaflow_store PkgConfig::CURL)
set_tests_properties(unit.test_store PROPERTIES
	ENVIRONMENT_MODIFICATION AYAFLOW_TEST_CLICKHOUSE=unset:)
add_test(NAME unit.test_store.clickhouse
	COMMAND bash ${CMAKE_SOURCE_DIR}/tests/clickhouse/server.sh run -- $<TARGET_FILE:test_store>)
set_tests_properties(unit.test_store.clickhouse PROPERTIES TIMEOUT 300 LABELS clickhouse)
# What only the SQLite backend does.
ayaflow_unit_test(test_store_sqlite)
target_link_libraries(test_store_sqlite PRIVATE ayaflow_store PkgConfig::SQLITE)
ayaflow_unit_test(test_output ${CMAKE_SOURCE_DIR}/cli/output.c)
ayaflow_unit_test(test_ws)
ayaflow_unit_test(test_dns ${CMAKE_SOURCE_DIR}/node/dns.c)
ayaflow_unit_test(test_tls ${CMAKE_SOURCE_DIR}/node/tls.c)
target_compile_definitions(test_transport PRIVATE AYAFLOW_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
# nng 1.5's leak of a send racing a connection's close (tests/unit/lsan_nng.supp).
set_tests_properties(unit.test_transport PROPERTIES ENVIRONMENT
	"LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/unit/lsan_nng.supp")
ayaflow_unit_test(test_http_auth)
ayaflow_unit_test(test_log)
ayaflow_unit_test(test_flowkeys ${CMAKE_SOURCE_DIR}/collector/store/flowkeys.c
	${CMAKE_SOURCE_DIR}/collector/store/flowblock.c)
# The ClickHouse backend's own tests, against a private server started for the run.
add_executable(test_store_clickhouse unit/test_store_clickhouse.c)
target_link_libraries(test_store_clickhouse PRIVATE ayaflow_store ayaflow_lib PkgConfig::CURL)
add_test(NAME unit.test_store_clickhouse
	COMMAND bash ${CMAKE_SOURCE_DIR}/tests/clickhouse/server.sh run -- $<TARGET_FILE:test_store_clickhouse>)
set_tests_properties(unit.test_store_clickhouse PROPERTIES TIMEOUT 300 LABELS clickhouse)
