# proto.cmake - compiles proto/ayaflow.proto with protoc-c at build time (included by the
# top-level CMakeLists.txt before the ayaflow_lib target). The generated
# ayaflow.pb-c.c/.h go to ${CMAKE_BINARY_DIR}/gen/proto; they are compiled into
# ayaflow_lib next to lib/wire.c, the only file that includes the generated header.
#
# Sets: AYAFLOW_PROTO_GEN_DIR (include directory of ayaflow.pb-c.h) and
#       AYAFLOW_PROTO_SOURCES (the generated .c, for add_library).
find_program(PROTOC_C protoc-c REQUIRED)

set(AYAFLOW_PROTO_GEN_DIR ${CMAKE_BINARY_DIR}/gen/proto)
set(AYAFLOW_PROTO_SOURCES ${AYAFLOW_PROTO_GEN_DIR}/ayaflow.pb-c.c)
add_custom_command(OUTPUT ${AYAFLOW_PROTO_GEN_DIR}/ayaflow.pb-c.c
		${AYAFLOW_PROTO_GEN_DIR}/ayaflow.pb-c.h
	COMMAND ${CMAKE_COMMAND} -E make_directory ${AYAFLOW_PROTO_GEN_DIR}
	COMMAND ${PROTOC_C} --c_out=${AYAFLOW_PROTO_GEN_DIR} -I${CMAKE_SOURCE_DIR}/proto
		ayaflow.proto
	DEPENDS ${CMAKE_SOURCE_DIR}/proto/ayaflow.proto
	COMMENT "protoc-c ayaflow.proto"
	VERBATIM)
