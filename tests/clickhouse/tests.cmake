# tests/clickhouse/tests.cmake - the private ClickHouse server that the tests of the
# ClickHouse store run against (included from tests/CMakeLists.txt).
#   clickhouse.server  tests/clickhouse/server.sh itself: start on free loopback ports,
#                      TabSeparated and RowBinary in and out of a day-partitioned
#                      MergeTree table, password users, DROP PARTITION, the command mode
#                      beside a second server, cleanup on failure and on SIGTERM.
# Each server picks its own ports and directory, so these tests may run in parallel
# (ctest -j) with each other and with everything that is not RUN_SERIAL. Needs
# clickhouse-server (scripts/setup.sh); not root.
add_test(NAME clickhouse.server
	COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/server_test.sh)
set_tests_properties(clickhouse.server PROPERTIES
	TIMEOUT 180
	LABELS clickhouse)
