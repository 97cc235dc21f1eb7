#!/bin/sh
# make-test-ca.sh - a throwaway CA and certificates for TLS between node and collector
# (tls+tcp://), for tests and trials; not for production keys.
#
#   scripts/make-test-ca.sh DIR [--collector-name NAME|IP]... [--node NAME]...
#
# Writes into DIR (created): ca.crt/ca.key (the CA), collector.crt/collector.key (a
# server certificate whose subjectAltName holds every --collector-name: DNS names, and IP
# addresses both as IP and as DNS entries, because nng's mbedTLS 2.28 matches the server
# name against DNS entries and the CN only), and NAME.crt/NAME.key per --node (client
# certificates; default: one node called "node"). Defaults: --collector-name localhost
# and 127.0.0.1. EC P-256 keys, SHA-256, valid 30 days. Needs openssl(1).
set -eu

usage() {
	echo "usage: $0 DIR [--collector-name NAME|IP]... [--node NAME]..." >&2
	exit 2
}

[ $# -ge 1 ] || usage
dir=$1
shift
names=""
nodes=""
while [ $# -gt 0 ]; do
	case $1 in
	--collector-name) [ $# -ge 2 ] || usage; names="$names $2"; shift 2 ;;
	--node) [ $# -ge 2 ] || usage; nodes="$nodes $2"; shift 2 ;;
	*) usage ;;
	esac
done
[ -n "$names" ] || names="localhost 127.0.0.1"
[ -n "$nodes" ] || nodes="node"

mkdir -p "$dir"
umask 077
cd "$dir"

# subjectAltName: IPs as IP: and DNS: (see above), names as DNS:
san=""
for n in $names; do
	case $n in
	*[!0-9.:a-fA-F]* | "") san="$san,DNS:$n" ;;
	*) san="$san,IP:$n,DNS:$n" ;;
	esac
done
san=${san#,}
first=${names# }
first=${first%% *}

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

newkey ca.key
openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=ayaflow test CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out ca.crt

# sign NAME CN EXTFILE-CONTENT
sign() {
	newkey "$1.key"
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
	printf '%s\n' "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 30 \
		-extfile "$1.ext" -out "$1.crt" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

sign collector "$first" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san"
for n in $nodes; do
	sign "$n" "$n" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
done
rm -f ca.srl
chmod 644 ./*.crt
echo "$dir: ca.crt collector.crt (SAN $san)$(for n in $nodes; do printf ' %s.crt' "$n"; done)"
