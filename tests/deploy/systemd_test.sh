#!/usr/bin/env bash
# deploy.systemd - the systemd units as `cmake --install` writes them pass
# `systemd-analyze verify` without a single complaint (unknown or misspelt keys are only
# warnings there, so any output fails the test).
#
#   systemd_test.sh BUILD_DIR
# Installs the build into a temporary prefix (so that ExecStart names programs that
# exist), verifies both units, checks that a second install keeps edited configuration
# files, and removes the prefix.
set -euo pipefail
BUILD=$1
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed (scripts/setup.sh)" >&2; exit 1; }
PREFIX=$(mktemp -d /tmp/ayf-deploy-systemd.XXXXXX)
trap 'rm -rf "$PREFIX"' EXIT

cmake --install "$BUILD" --prefix "$PREFIX" >"$PREFIX.log" 2>&1 || { cat "$PREFIX.log" >&2; rm -f "$PREFIX.log"; exit 1; }
rm -f "$PREFIX.log"
UNITS=("$PREFIX/lib/systemd/system/ayaflow-node.service" "$PREFIX/lib/systemd/system/ayaflow-collector.service")
for u in "${UNITS[@]}"; do
	[ -f "$u" ] || { echo "FAIL: $u not installed" >&2; exit 1; }
	grep -q "^ExecStart=$PREFIX/bin/" "$u" || { echo "FAIL: $u: ExecStart not in $PREFIX/bin" >&2; exit 1; }
	grep -q -- "--config $PREFIX/etc/ayaflow/" "$u" || { echo "FAIL: $u: --config not in $PREFIX/etc/ayaflow" >&2; exit 1; }
done
for c in node collector; do
	[ -f "$PREFIX/etc/ayaflow/$c.yaml" ] || { echo "FAIL: $c.yaml not installed" >&2; exit 1; }
done

out=$(systemd-analyze verify --man=no "${UNITS[@]}" 2>&1) || { echo "$out" >&2; echo "FAIL: systemd-analyze verify" >&2; exit 1; }
if [ -n "$out" ]; then
	echo "$out" >&2
	echo "FAIL: systemd-analyze verify printed warnings" >&2
	exit 1
fi
echo "ok: systemd-analyze verify ayaflow-node.service ayaflow-collector.service"

echo "# edited" >>"$PREFIX/etc/ayaflow/node.yaml"
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
grep -q "^# edited" "$PREFIX/etc/ayaflow/node.yaml" || { echo "FAIL: reinstall overwrote node.yaml" >&2; exit 1; }
echo "ok: a reinstall keeps the configuration"
