# fuzz.cmake - the fuzz targets (included by tests/CMakeLists.txt).
#
# In every build: fuzz_wire_corpus (the target + fuzz_main.c, any compiler) runs over the
# seed corpus as the CTest test fuzz.wire_corpus, so the seeds are regression tests.
# With clang and -DAYAFLOW_FUZZ=ON: fuzz_wire, the libFuzzer binary. It compiles
# lib/wire.c and the generated protobuf code itself, so that they carry libFuzzer's
# coverage instrumentation:
#   fuzz_wire -max_total_time=60 <scratch copy of tests/fuzz/corpus/wire>
option(AYAFLOW_FUZZ "Build the libFuzzer targets (needs clang)" OFF)

add_executable(fuzz_wire_corpus fuzz/fuzz_wire.c fuzz/fuzz_main.c)
target_link_libraries(fuzz_wire_corpus PRIVATE ayaflow_lib)
add_test(NAME fuzz.wire_corpus
	COMMAND fuzz_wire_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/wire)
set_tests_properties(fuzz.wire_corpus PROPERTIES TIMEOUT 120)

# The same for the WebSocket frame decoder (lib/ws.c): fuzz.ws_corpus over corpus/ws.
add_executable(fuzz_ws_corpus fuzz/fuzz_ws.c fuzz/fuzz_main.c)
target_link_libraries(fuzz_ws_corpus PRIVATE ayaflow_lib)
add_test(NAME fuzz.ws_corpus
	COMMAND fuzz_ws_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/ws)
set_tests_properties(fuzz.ws_corpus PROPERTIES TIMEOUT 120)

if(AYAFLOW_FUZZ AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
	set(AYAFLOW_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer)
	# A private copy of the generated code (same rule as proto/proto.cmake), so that the
	# fuzzer builds without the rest of ayaflow_lib and without sharing its build rule.
	set(FUZZ_PROTO_DIR ${CMAKE_CURRENT_BINARY_DIR}/fuzz_gen)
	add_custom_command(OUTPUT ${FUZZ_PROTO_DIR}/ayaflow.pb-c.c ${FUZZ_PROTO_DIR}/ayaflow.pb-c.h
		COMMAND ${CMAKE_COMMAND} -E make_directory ${FUZZ_PROTO_DIR}
		COMMAND ${PROTOC_C} --c_out=${FUZZ_PROTO_DIR} -I${CMAKE_SOURCE_DIR}/proto
			ayaflow.proto
		DEPENDS ${CMAKE_SOURCE_DIR}/proto/ayaflow.proto
		COMMENT "protoc-c ayaflow.proto (fuzz_wire)"
		VERBATIM)
	add_executable(fuzz_wire fuzz/fuzz_wire.c ${CMAKE_SOURCE_DIR}/lib/wire.c
		${FUZZ_PROTO_DIR}/ayaflow.pb-c.c)
	target_include_directories(fuzz_wire PRIVATE ${FUZZ_PROTO_DIR})
	target_compile_options(fuzz_wire PRIVATE ${AYAFLOW_FUZZ_FLAGS})
	target_link_options(fuzz_wire PRIVATE ${AYAFLOW_FUZZ_FLAGS})
	target_link_libraries(fuzz_wire PRIVATE PkgConfig::PROTOBUFC)
	#   fuzz_ws -max_total_time=60 <scratch copy of tests/fuzz/corpus/ws>
	add_executable(fuzz_ws fuzz/fuzz_ws.c ${CMAKE_SOURCE_DIR}/lib/ws.c)
	target_compile_options(fuzz_ws PRIVATE ${AYAFLOW_FUZZ_FLAGS})
	target_link_options(fuzz_ws PRIVATE ${AYAFLOW_FUZZ_FLAGS})
	target_link_libraries(fuzz_ws PRIVATE PkgConfig::GNUTLS)
elseif(AYAFLOW_FUZZ)
	message(WARNING "AYAFLOW_FUZZ needs clang (CC=clang); fuzz_wire and fuzz_ws are not built")
endif()

# --- fuzz_dns, fuzz_tls: the deep-inspection parsers node/dns.c and node/tls.c. Pure C, no
# library: the corpus runs (fuzz.dns_corpus, fuzz.tls_corpus) are in every build, the
# libFuzzer binaries with clang and -DAYAFLOW_FUZZ=ON. Seeds: `test_dns --write-corpus DIR`,
# `test_tls --write-corpus DIR`.
foreach(parser dns tls)
	add_executable(fuzz_${parser}_corpus fuzz/fuzz_${parser}.c fuzz/fuzz_main.c
		${CMAKE_SOURCE_DIR}/node/${parser}.c)
	add_test(NAME fuzz.${parser}_corpus
		COMMAND fuzz_${parser}_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${parser})
	set_tests_properties(fuzz.${parser}_corpus PROPERTIES TIMEOUT 120)
	if(AYAFLOW_FUZZ AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
		add_executable(fuzz_${parser} fuzz/fuzz_${parser}.c
			${CMAKE_SOURCE_DIR}/node/${parser}.c)
		target_compile_options(fuzz_${parser} PRIVATE ${AYAFLOW_FUZZ_FLAGS})
		target_link_options(fuzz_${parser} PRIVATE ${AYAFLOW_FUZZ_FLAGS})
	endif()
endforeach()

# --- fuzz_config (lib/config.c: config_parse on a YAML file), fuzz_http_query
# (collector/params.c: the query-parameter parsers), fuzz_classifier (bpf/flow.bpf.c through
# BPF_PROG_TEST_RUN; needs root, its corpus run exits 77 = skipped without BPF). Corpus runs
# in every build, the libFuzzer binaries with clang and -DAYAFLOW_FUZZ=ON.
add_executable(fuzz_config_corpus fuzz/fuzz_config.c fuzz/fuzz_main.c)
target_link_libraries(fuzz_config_corpus PRIVATE ayaflow_lib)
add_executable(fuzz_http_query_corpus fuzz/fuzz_http_query.c fuzz/fuzz_main.c
	${CMAKE_SOURCE_DIR}/collector/params.c)
add_executable(fuzz_classifier_corpus fuzz/fuzz_classifier.c fuzz/fuzz_main.c)
add_dependencies(fuzz_classifier_corpus flow_skel)
target_link_libraries(fuzz_classifier_corpus PRIVATE PkgConfig::LIBBPF)
foreach(t config http_query classifier)
	add_test(NAME fuzz.${t}_corpus
		COMMAND fuzz_${t}_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t})
	set_tests_properties(fuzz.${t}_corpus PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
endforeach()
if(AYAFLOW_FUZZ AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
	add_executable(fuzz_config fuzz/fuzz_config.c ${CMAKE_SOURCE_DIR}/lib/config.c
		${CMAKE_SOURCE_DIR}/lib/cidr.c)
	target_link_libraries(fuzz_config PRIVATE PkgConfig::YAML PkgConfig::JANSSON)
	add_executable(fuzz_http_query fuzz/fuzz_http_query.c ${CMAKE_SOURCE_DIR}/collector/params.c)
	add_executable(fuzz_classifier fuzz/fuzz_classifier.c)
	add_dependencies(fuzz_classifier flow_skel)
	target_link_libraries(fuzz_classifier PRIVATE PkgConfig::LIBBPF)
	foreach(t fuzz_config fuzz_http_query fuzz_classifier)
		target_compile_options(${t} PRIVATE ${AYAFLOW_FUZZ_FLAGS})
		target_link_options(${t} PRIVATE ${AYAFLOW_FUZZ_FLAGS})
	endforeach()
endif()

# --- fuzz.smoke: every libFuzzer binary of this build for a short time on a scratch copy
# of its seed corpus; fails on any crash, leak or timeout (tests/fuzz/run_smoke.sh). A
# longer run is the same script with more seconds. Only with the libFuzzer binaries.
if(AYAFLOW_FUZZ AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
	set(AYAFLOW_FUZZ_SMOKE_SECONDS 20 CACHE STRING "Seconds per fuzz target in fuzz.smoke")
	add_test(NAME fuzz.smoke
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run_smoke.sh
			${CMAKE_CURRENT_BINARY_DIR} ${AYAFLOW_FUZZ_SMOKE_SECONDS})
	set_tests_properties(fuzz.smoke PROPERTIES TIMEOUT 1800 LABELS fuzz)
endif()
