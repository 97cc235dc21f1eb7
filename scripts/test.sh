#!/usr/bin/env bash
# test.sh - README command (2): install dependencies, build the Debug configuration
# (address and undefined-behaviour sanitizers) in build-debug and run every test with
# CTest: unit, BPF classifier and end-to-end (network namespaces; they need root and are
# reported as skipped without it). Exits with CTest's status. Extra arguments go to ctest
# (e.g. -R e2e.live_counts).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug
cmake --build build-debug -j2
exec ctest --test-dir build-debug --output-on-failure "$@"
