# tests/bpf: the TC classifier (bpf/flow.bpf.c) on crafted frames through
# BPF_PROG_TEST_RUN, using the skeleton the top level generates (target flow_skel).
# Needs root and BPF; exits 77 (skipped) otherwise. Included from tests/CMakeLists.txt.

add_executable(test_classifier bpf/test_classifier.c)
add_dependencies(test_classifier flow_skel)
target_link_libraries(test_classifier PRIVATE ayaflow_lib PkgConfig::LIBBPF)
add_test(NAME bpf.classifier COMMAND test_classifier)
set_tests_properties(bpf.classifier PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
