#!/usr/bin/env bash
# run_all.sh - every benchmark, one after another (they must not run at once: each one
# wants the two cores). With --smoke each runs for seconds at small sizes (what
# bench.smoke and .ci/run use, so that none of them rots); without it, the full runs
# whose figures go into BENCHMARKS.md (about 15-20 minutes; a Release build:
# BENCH_BUILD=build-release bench/run_all.sh).
# Exit status: non-zero when a benchmark could not run (never for a missed target).
set -uo pipefail
cd "$(dirname "$0")"
rc=0
for b in classifier_cost throughput ledger footprint ingest queries; do
	echo "=== $b $* ($(date -u +%H:%M:%S))"
	if ! bash "./$b.sh" "$@"; then
		echo "=== $b: could not run" >&2
		rc=1
	fi
done
exit "$rc"
