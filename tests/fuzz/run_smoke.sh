#!/usr/bin/env bash
# run_smoke.sh - runs every libFuzzer target of a build (fuzz_*, built with clang and
# -DAYAFLOW_FUZZ=ON) for a few seconds each on a scratch copy of its seed corpus
# tests/fuzz/corpus/<name>, and fails if any of them finds a crash, a leak or a timeout.
# The seed corpus in the repository is never written to; the inputs that made a target
# fail are kept in BUILD_DIR/fuzz-artifacts/<target>/ for the unit tests' regressions.
#
#   tests/fuzz/run_smoke.sh BUILD_DIR [SECONDS [TARGET...]]
#     BUILD_DIR  the build directory (or its tests/ subdirectory)
#     SECONDS    per target, default 20; a long run is the same command with, e.g., 3600
#     TARGET     only these targets (e.g. fuzz_dns), default all found
#
# CTest runs it as fuzz.smoke in a fuzz build; .ci/run runs that.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [SECONDS [TARGET...]]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
build=$1
seconds=${2:-20}
shift $(($# >= 2 ? 2 : 1))
case $seconds in
'' | *[!0-9]*) usage ;;
esac
[ -d "$build" ] || { echo "run_smoke: $build: not a directory" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)

targets=()
if [ $# -gt 0 ]; then
	for t in "$@"; do
		bin=$(find "$build" -maxdepth 2 -type f -perm -u+x -name "$t" | head -n 1)
		[ -n "$bin" ] || { echo "run_smoke: $t: not built in $build" >&2; exit 1; }
		targets+=("$bin")
	done
else
	while IFS= read -r bin; do
		targets+=("$bin")
	done < <(find "$build" -maxdepth 2 -type f -perm -u+x -name 'fuzz_*' ! -name '*_corpus' |
		sort)
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "run_smoke: no fuzz_* targets in $build (configure with CC=clang -DAYAFLOW_FUZZ=ON)" >&2
	exit 1
fi

scratch=$(mktemp -d /tmp/ayaflow-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

failed=0
for bin in "${targets[@]}"; do
	name=$(basename "$bin")
	corpus=$src/tests/fuzz/corpus/${name#fuzz_}
	if [ ! -d "$corpus" ]; then
		echo "run_smoke: $name: no seed corpus $corpus" >&2
		failed=1
		continue
	fi
	work=$scratch/$name
	mkdir -p "$work/corpus" "$work/artifacts"
	cp -R "$corpus/." "$work/corpus/"
	seeds=$(find "$work/corpus" -type f | wc -l)
	rc=0
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	grown=$(find "$work/corpus" -type f | wc -l)
	if [ "$rc" -ne 0 ]; then
		keep=$build/fuzz-artifacts/$name
		mkdir -p "$keep"
		cp -R "$work/artifacts/." "$keep/" 2>/dev/null || true
		cp "$work/log" "$keep/log"
		echo "run_smoke: $name FAILED (exit $rc) after ${runs:-?} runs; inputs and log in $keep:"
		ls -1 "$keep" | sed 's/^/    /'
		grep -E 'ERROR|SUMMARY|fuzz_[a-z]+: ' "$work/log" | head -n 20 | sed 's/^/    /' || true
		failed=1
	else
		echo "run_smoke: $name ok: ${runs:-?} runs in ${seconds}s, corpus $seeds -> $grown"
	fi
done
exit $failed
