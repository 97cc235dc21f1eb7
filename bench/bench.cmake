# bench/bench.cmake - the benchmarks' programs (included from the top-level
# CMakeLists.txt) and the CTest test bench.smoke, which runs every benchmark for a few
# seconds at small sizes (bench/run_all.sh --smoke) so that none of them rots. It checks
# that the benchmarks run, never that a target is met. Real figures: BENCHMARKS.md.

add_executable(pktgen bench/pktgen.c)
add_executable(bpfstats bench/bpfstats.c)
target_link_libraries(bpfstats PRIVATE PkgConfig::LIBBPF)
add_executable(tcxattach bench/tcxattach.c)
target_link_libraries(tcxattach PRIVATE PkgConfig::LIBBPF)
add_executable(ingest_load bench/ingest_load.c)
target_link_libraries(ingest_load PRIVATE ayaflow_lib)
add_executable(fill_db bench/fill_db.c)
target_link_libraries(fill_db PRIVATE ayaflow_store)
add_executable(query_load bench/query_load.c)
target_link_libraries(query_load PRIVATE PkgConfig::CURL)

set(AYAFLOW_EMPTY_BPF_OBJ ${CMAKE_BINARY_DIR}/bench/empty.bpf.o)
add_custom_command(OUTPUT ${AYAFLOW_EMPTY_BPF_OBJ}
	COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/bench
	COMMAND ${CLANG} -g -O2 -target bpf -Wall -Werror -I/usr/include/x86_64-linux-gnu
		-c ${CMAKE_SOURCE_DIR}/bench/empty.bpf.c -o ${AYAFLOW_EMPTY_BPF_OBJ}
	DEPENDS ${CMAKE_SOURCE_DIR}/bench/empty.bpf.c
	COMMENT "clang -target bpf empty.bpf.c (benchmark baseline)")
add_custom_target(bench_empty_bpf ALL DEPENDS ${AYAFLOW_EMPTY_BPF_OBJ})

# Where the scripts find the programs (bench/env.sh reads these, else BENCH_BUILD).
set(AYAFLOW_BENCH_ENV
	"AYAFLOW_NODE=$<TARGET_FILE:ayaflow-node>"
	"AYAFLOW_COLLECTOR=$<TARGET_FILE:ayaflow-collector>"
	"PKTGEN=$<TARGET_FILE:pktgen>"
	"BPFSTATS=$<TARGET_FILE:bpfstats>"
	"TCXATTACH=$<TARGET_FILE:tcxattach>"
	"INGEST_LOAD=$<TARGET_FILE:ingest_load>"
	"FILL_DB=$<TARGET_FILE:fill_db>"
	"QUERY_LOAD=$<TARGET_FILE:query_load>"
	"EMPTY_BPF_OBJ=${AYAFLOW_EMPTY_BPF_OBJ}")
add_test(NAME bench.smoke COMMAND bash ${CMAKE_SOURCE_DIR}/bench/run_all.sh --smoke)
set_tests_properties(bench.smoke PROPERTIES
	ENVIRONMENT "${AYAFLOW_BENCH_ENV}"
	SKIP_RETURN_CODE 77
	TIMEOUT 600
	RUN_SERIAL TRUE
	LABELS bench)
