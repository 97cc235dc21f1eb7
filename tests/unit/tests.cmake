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
ayaflow_unit_test(test_store ${CMAKE_SOURCE_DIR}/collector/store_sqlite.c
	${CMAKE_SOURCE_DIR}/collector/store/flowkeys.c
	${CMAKE_SOURCE_DIR}/collector/store/flowblock.c)
target_link_libraries(test_store PRIVATE PkgConfig::SQLITE)
ayaflow_unit_test(test_output ${CMAKE_SOURCE_DIR}/cli/output.c)
ayaflow_unit_test(test_ws)
ayaflow_unit_test(test_dns ${CMAKE_SOURCE_DIR}/node/dns.c)
ayaflow_unit_test(test_tls ${CMAKE_SOURCE_DIR}/node/tls.c)
target_compile_definitions(test_transport PRIVATE AYAFLOW_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
ayaflow_unit_test(test_http_auth)
ayaflow_unit_test(test_log)
ayaflow_unit_test(test_flowkeys ${CMAKE_SOURCE_DIR}/collector/store/flowkeys.c
	${CMAKE_SOURCE_DIR}/collector/store/flowblock.c)
