#!/usr/bin/env bash
# test.sh - README command (2): install dependencies, build the Debug configuration
# (address and undefined-behaviour sanitizers) in build-debug and run every test with
# CTest: unit, BPF classifier, fuzz corpora, deployment and end-to-end (network
# namespaces; they need root and are reported as skipped without it). Without arguments it
# first builds the libFuzzer targets with clang in build-fuzz and runs each for a short
# time (fuzz.smoke). Exits non-zero if anything failed. Extra arguments go to the main
# ctest run and skip the fuzz run (e.g. -R e2e.live_counts).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug
cmake --build build-debug -j2

fuzz_rc=0
if [ $# -eq 0 ]; then
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DAYAFLOW_FUZZ=ON
	cmake --build build-fuzz -j2 --target fuzz_wire fuzz_ws fuzz_dns fuzz_tls \
		fuzz_config fuzz_http_query fuzz_classifier
	ctest --test-dir build-fuzz -R '^fuzz\.smoke$' --output-on-failure || fuzz_rc=$?
fi

rc=0
ctest --test-dir build-debug --output-on-failure "$@" || rc=$?
if [ "$fuzz_rc" -ne 0 ]; then
	echo "test.sh: fuzz.smoke failed (see above)" >&2
	[ "$rc" -ne 0 ] || rc=$fuzz_rc
fi
exit "$rc"
