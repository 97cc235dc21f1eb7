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
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "setup.sh: all dependencies present"
fi
