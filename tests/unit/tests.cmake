# Unit tests, one line per test: ayaflow_unit_test(name [extra sources]) (tests/CMakeLists.txt).
ayaflow_unit_test(test_cidr)
ayaflow_unit_test(test_config)
ayaflow_unit_test(test_prom)
ayaflow_unit_test(test_live ${CMAKE_SOURCE_DIR}/node/live.c)
ayaflow_unit_test(test_flowfmt)
ayaflow_unit_test(test_spool ${CMAKE_SOURCE_DIR}/node/spool.c)
