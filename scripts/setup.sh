#!/usr/bin/env bash
# Installs every build and test dependency of ayaflow from Debian 12 packages.
# Idempotent: safe to run again; it only installs what is missing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (apt-get needs it)" >&2
	exit 1
fi

PKGS=(
	build-essential cmake pkg-config git
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
	libprotobuf-c-dev protobuf-c-compiler
	libnng-dev
	libsqlite3-dev sqlite3
	libmicrohttpd-dev libgnutls28-dev
	libyaml-dev
	libjansson-dev
	libcurl4-openssl-dev
	libclang-rt-14-dev
	iproute2 iputils-ping curl procps prometheus
	jq tcpdump ethtool openssl
	chromium nodejs
	yamllint python3-yaml systemd
	clickhouse-server clickhouse-client
)

# The tests start private ClickHouse servers (tests/clickhouse/server.sh); the package's
# own service is never wanted. These are installed with service starts denied, apart from
# the rest so that no other package's service is affected.
NOSTART_PKGS=(clickhouse-server)
POLICY_RC_D=/usr/sbin/policy-rc.d

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Installs packages while invoke-rc.d may start no service: the package's postinst would
# otherwise start clickhouse-server (and fail the whole install when 8123 or 9000 is
# taken). A policy-rc.d already present (Docker images have one) is left as it is.
install_nostart()
{
	local made=0
	if [ ! -e "$POLICY_RC_D" ]; then
		printf '#!/bin/sh\n# scripts/setup.sh: no service starts during its install\nexit 101\n' \
			>"$POLICY_RC_D"
		chmod 755 "$POLICY_RC_D"
		made=1
		trap 'rm -f "$POLICY_RC_D"' EXIT
	fi
	apt-get install -y -q --no-install-recommends "$@"
	if [ "$made" -eq 1 ]; then
		rm -f "$POLICY_RC_D"
		trap - EXIT
	fi
}

# The install enables clickhouse-server.service (and a systemd that runs may have
# started it before this script could deny it, in an earlier run): stop it and keep it
# from starting at boot. Idempotent; without a running systemd there is nothing to stop.
disable_clickhouse_service()
{
	local unit=clickhouse-server.service
	installed clickhouse-server || return 0
	[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 || return 0
	if systemctl is-enabled --quiet "$unit" 2>/dev/null ||
		systemctl is-active --quiet "$unit" 2>/dev/null; then
		echo "setup.sh: stopping and disabling $unit (tests start their own servers)"
		systemctl disable --now "$unit"
	fi
}

missing=()
missing_nostart=()
for p in "${PKGS[@]}"; do
	installed "$p" && continue
	if [[ " ${NOSTART_PKGS[*]} " == *" $p "* ]]; then
		missing_nostart+=("$p")
	else
		missing+=("$p")
	fi
done

if [ "$((${#missing[@]} + ${#missing_nostart[@]}))" -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]} ${missing_nostart[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	if [ "${#missing[@]}" -gt 0 ]; then
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
	if [ "${#missing_nostart[@]}" -gt 0 ]; then
		install_nostart "${missing_nostart[@]}"
	fi
else
	echo "setup.sh: all dependencies present"
fi
disable_clickhouse_service
