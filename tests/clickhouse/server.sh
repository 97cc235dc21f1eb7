#!/usr/bin/env bash
# shellcheck shell=bash
# tests/clickhouse/server.sh - a private clickhouse-server for the tests of the ClickHouse
# store backend (collector/store_clickhouse) and its conformance runs.
#
# Every server lives in a directory of its own: its configuration, users, data, temporary
# files and logs are all inside it, it listens on 127.0.0.1 only, on ports picked at run
# time, so that several tests (ctest -j) and a developer's own server can run side by side.
# Nothing of the package's /etc/clickhouse-server or /var/lib/clickhouse is read or written.
#
# As a library (source it):
#   ch_server_start DIR   start a server in DIR (made if missing; give it a directory of
#                         its own, e.g. $E2E_DIR/clickhouse: it is removed on stop); exports
#                         CH_PID CH_HTTP_PORT CH_TCP_PORT CH_DIR CH_URL (http://127.0.0.1:PORT)
#                         CH_PASSWORD_FILE CH_START_MS. Call it in the test's own shell, not
#                         in $(...) or a pipeline: the server is tied to the calling shell
#   ch_server_stop        stop it by pid (TERM, then KILL after 20 s) and remove DIR;
#                         idempotent, safe in a trap. One server per shell at a time
#   ch_server_kill [SIG]  stop it by pid as ch_server_stop does (SIG TERM, the default: a
#                         clean shutdown; KILL: at once, a crash) but keep DIR, its data
#                         and its ports, for ch_server_restart; CH_PID is then empty.
#                         For a hung server instead, kill -STOP "$CH_PID" (and -CONT)
#   ch_server_restart     start the server again in CH_DIR on the same ports (its
#                         config.xml), with the data it had, and wait for /ping; exports
#                         CH_PID. Fails if a port was taken meanwhile (clients keep CH_URL)
#   ch_query SQL [CURL_ARG...]   POST SQL to CH_URL, print the result; non-zero on a
#                         status other than 200 (the body then goes to stderr)
#   ch_insert SQL [CURL_ARG...] <DATA   the same with SQL in the URL and DATA as the body
# Users: "default" without a password, and "ayaflow" whose random password is in
# DIR/password (for the tests of password handling).
#
# As a command:
#   bash tests/clickhouse/server.sh run -- CMD [ARG...]
# starts a server in a temporary directory, exports AYAFLOW_TEST_CLICKHOUSE
# (clickhouse://127.0.0.1:HTTP_PORT/, no database: a test creates its own) and the CH_*
# variables above, runs CMD, stops the server on exit (also on failure or a signal) and
# exits with CMD's status.
#
# Environment: CLICKHOUSE_SERVER (the server binary; default: clickhouse-server on PATH,
# then /usr/sbin/clickhouse-server), CH_KEEP=1 keeps DIR for inspection.

set -euo pipefail

CH_START_TIMEOUT=${CH_START_TIMEOUT:-60}
CH_STOP_TIMEOUT=${CH_STOP_TIMEOUT:-20}
# Marks a directory as made by ch_server_start: ch_server_stop removes only such a directory.
CH_MARKER=.ayaflow-clickhouse-test

ch__log() { echo "[clickhouse] $*" >&2; }

ch__server_bin()
{
	if [ -n "${CLICKHOUSE_SERVER:-}" ]; then
		echo "$CLICKHOUSE_SERVER"
	elif command -v clickhouse-server 2>/dev/null; then
		:
	elif [ -x /usr/sbin/clickhouse-server ]; then
		# /usr/sbin is not on a normal user's PATH.
		echo /usr/sbin/clickhouse-server
	else
		ch__log "clickhouse-server not installed (scripts/setup.sh installs it)"
		return 1
	fi
}

# Prints the TCP ports something listens on (IPv4 and IPv6), from /proc: no ss needed.
ch__listening_ports()
{
	local _sl laddr _rem st _rest
	tail -q -n +2 /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		while read -r _sl laddr _rem st _rest; do
			# 0A = TCP_LISTEN; the port is the hex after the colon of the local address.
			[ "$st" = 0A ] && echo $((16#${laddr##*:}))
		done
	return 0
}

# ch__owns_port PID PORT: true when process PID holds the socket listening on PORT. A
# server that failed to bind finds another process answering /ping on its port (a
# developer's server, a parallel test): only our own listening socket counts as ready.
ch__owns_port()
{
	local pid=$1 port=$2 _sl laddr _rem st _q _tr _rt _uid _to inode _rest fd
	inode=$(tail -q -n +2 /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		while read -r _sl laddr _rem st _q _tr _rt _uid _to inode _rest; do
			if [ "$st" = 0A ] && [ $((16#${laddr##*:})) -eq "$port" ]; then
				echo "$inode"
				break
			fi
		done)
	[ -n "$inode" ] || return 1
	for fd in /proc/"$pid"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ] && return 0
	done
	return 1
}

# ch__pick_ports N: prints N distinct ports nothing listens on, below the ephemeral range
# (32768+) so that no client socket can be holding one. Another process may still take a
# port before the server binds it: ch_server_start retries on "Address already in use".
ch__pick_ports()
{
	local n=$1 used port tries=0 picked=()
	used=" $(ch__listening_ports | tr '\n' ' ') "
	while [ "${#picked[@]}" -lt "$n" ]; do
		tries=$((tries + 1))
		[ "$tries" -le 1000 ] || { ch__log "no free port found"; return 1; }
		port=$((20000 + RANDOM % 12000))
		case "$used${picked[*]} " in *" $port "*) continue ;; esac
		picked+=("$port")
	done
	echo "${picked[*]}"
}

# State letter of a process (R, S, Z...), empty when it is gone. A server that exited but
# is not yet reaped is a zombie: kill -0 still succeeds on it, so kill -0 cannot tell.
ch__state()
{
	local stat
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 0
	stat=${stat##*) }
	echo "${stat%% *}"
}

ch__alive()
{
	local s
	s=$(ch__state "$1")
	[ -n "$s" ] && [ "$s" != Z ]
}

ch__write_users()
{
	local dir=$1 hash
	hash=$(printf '%s' "$(cat "$dir/password")" | sha256sum)
	hash=${hash%% *}
	# Profile settings must be ones the server knows: an unknown setting in a profile is
	# an error, unlike an unknown top-level key in config.xml, which is ignored.
	cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by tests/clickhouse/server.sh for a test server; removed with it. -->
<yandex>
    <profiles>
        <default>
            <!-- One query may use 2 GiB: the machines are shared by parallel tests. -->
            <max_memory_usage>2147483648</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <ayaflow>
            <password_sha256_hex>$hash</password_sha256_hex>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </ayaflow>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

# A configuration of our own rather than an edited copy of the package's config.xml: the
# package's file names remote_servers on port 9000, /etc/metrika.xml includes, query_log
# and dictionaries that a test needs none of, and it differs between versions. Everything
# below is known to 18.16 and to current servers (which still accept the <yandex> root).
ch__write_config()
{
	local dir=$1 http=$2 tcp=$3
	cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by tests/clickhouse/server.sh for a test server; removed with it. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$dir/log/clickhouse-server.log</log>
        <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>

    <!-- Loopback only, IPv4 only: a test server is never reachable from outside. -->
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <!-- No interserver_http_port, mysql_port, postgresql_port, https_port or
         tcp_port_secure: a listener is opened only when its port is configured. -->
    <!-- Idle kept-alive HTTP connections are closed after 3 s, as with the package's
         config.xml (the built-in default is 10 s): clients meet closed pooled
         connections in tests as they will in production. -->
    <keep_alive_timeout>3</keep_alive_timeout>

    <path>$dir/data/</path>
    <tmp_path>$dir/data/tmp/</tmp_path>
    <user_files_path>$dir/data/user_files/</user_files_path>
    <format_schema_path>$dir/data/format_schemas/</format_schema_path>
    <!-- Paths of newer servers (unknown top-level keys are ignored by 18.16). -->
    <user_scripts_path>$dir/data/user_scripts/</user_scripts_path>
    <dictionaries_lib_path>$dir/data/dictionaries_lib/</dictionaries_lib_path>
    <access_control_path>$dir/data/access/</access_control_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <!-- Texts of DateTime values do not depend on the machine. -->
    <timezone>UTC</timezone>

    <!-- Memory: the package sizes these for a dedicated host (5 GiB of marks, 8 GiB of
         uncompressed blocks); a test server shares 2 cores with other tests.
         max_server_memory_usage is known from 20.x on and ignored by 18.16. -->
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <max_server_memory_usage>4294967296</max_server_memory_usage>
    <mlock_executable>false</mlock_executable>

    <!-- Tests drop tables and partitions of any size. -->
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
EOF
}

# Prints the end of the server's logs, for a failure message.
ch__log_tail()
{
	local dir=$1 f
	for f in "$dir/log/stdout.log" "$dir/log/clickhouse-server.err.log" \
		"$dir/log/clickhouse-server.log"; do
		[ -s "$f" ] || continue
		echo "----- $f (last 30 lines) -----" >&2
		tail -n 30 "$f" >&2
	done
}

# Sets CH__PDEATH to a command prefix that makes the kernel send the started program
# SIGTERM when this shell dies: a shell killed by SIGKILL (CTest's timeout) runs no trap,
# and the server would otherwise outlive it. Empty without util-linux's setpriv.
ch__pdeath_prefix()
{
	CH__PDEATH=()
	if setpriv --help 2>/dev/null | grep -q -- --pdeathsig; then
		CH__PDEATH=(setpriv --pdeathsig TERM --)
	fi
}

# Starts the server with the ports in CH_HTTP_PORT/CH_TCP_PORT and waits for /ping.
# Returns 0 when it answers, 2 when it exited because a port was taken, 1 otherwise.
ch__start_once()
{
	local dir=$1 bin=$2 deadline
	ch__pdeath_prefix
	# Newer servers may fork a watchdog parent; then CH_PID would not be the server.
	CLICKHOUSE_WATCHDOG_ENABLE=0 "${CH__PDEATH[@]}" "$bin" --config-file="$dir/config.xml" \
		</dev/null >"$dir/log/stdout.log" 2>&1 &
	CH_PID=$!
	deadline=$((SECONDS + CH_START_TIMEOUT))
	while :; do
		if [ "$(curl -s -m 2 "$CH_URL/ping" 2>/dev/null)" = "Ok." ] &&
			ch__owns_port "$CH_PID" "$CH_HTTP_PORT"; then
			return 0
		fi
		if ! ch__alive "$CH_PID"; then
			wait "$CH_PID" 2>/dev/null || true
			CH_PID=
			if grep -qs 'Address already in use' "$dir/log/clickhouse-server.err.log" \
				"$dir/log/stdout.log"; then
				return 2
			fi
			ch__log "clickhouse-server exited before answering /ping"
			ch__log_tail "$dir"
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			ch__log "clickhouse-server did not answer /ping within ${CH_START_TIMEOUT}s"
			ch__log_tail "$dir"
			return 1
		fi
		sleep 0.1
	done
}

# ch_server_start DIR: see the top of the file. On failure the server's log tail is on
# stderr, no server runs, and CH_DIR is set so that ch_server_stop removes DIR.
ch_server_start()
{
	local dir=${1:?ch_server_start DIR} bin ports attempt rc t0
	bin=$(ch__server_bin) || return 1
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	touch "$dir/$CH_MARKER"
	export CH_DIR=$dir CH_PID='' CH_PASSWORD_FILE=$dir/password
	mkdir -p "$dir/log" "$dir/data" || return 1
	# The server runs as the user who starts it (root in CI); 18.16 does not refuse root,
	# and newer servers only object when the data directory belongs to another user,
	# which it cannot here: this user made it.
	(umask 077 && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 \
		>"$dir/password") || return 1
	ch__write_users "$dir" || return 1
	t0=$(date +%s%N)
	for attempt in 1 2 3 4 5; do
		ports=$(ch__pick_ports 2) || return 1
		export CH_HTTP_PORT=${ports% *} CH_TCP_PORT=${ports#* }
		export CH_URL="http://127.0.0.1:$CH_HTTP_PORT"
		ch__write_config "$dir" "$CH_HTTP_PORT" "$CH_TCP_PORT" || return 1
		rc=0
		ch__start_once "$dir" "$bin" || rc=$?
		if [ "$rc" -eq 0 ]; then
			export CH_PID
			# Milliseconds from start to the first "Ok.", for the record.
			CH_START_MS=$((($(date +%s%N) - t0) / 1000000))
			export CH_START_MS
			return 0
		fi
		[ "$rc" -eq 2 ] || break
		ch__log "port $CH_HTTP_PORT or $CH_TCP_PORT taken meanwhile; trying others (attempt $attempt)"
	done
	ch__stop_pid
	return 1
}

# Stops CH_PID: SIGTERM, up to CH_STOP_TIMEOUT seconds for a clean shutdown, then SIGKILL.
ch__stop_pid()
{
	local pid=${CH_PID:-} i
	[ -n "$pid" ] || return 0
	if ch__alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		# A test may have left it stopped (SIGSTOP makes a hung store): a stopped process
		# acts on SIGTERM only once continued.
		kill -CONT "$pid" 2>/dev/null || true
		for ((i = 0; i < CH_STOP_TIMEOUT * 10; i++)); do
			ch__alive "$pid" || break
			sleep 0.1
		done
		if ch__alive "$pid"; then
			ch__log "clickhouse-server $pid ignored SIGTERM for ${CH_STOP_TIMEOUT}s; SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	# Reaps it when it is this shell's child; otherwise its own parent does.
	wait "$pid" 2>/dev/null || true
	CH_PID=
}

ch_server_stop()
{
	local dir=${CH_DIR:-}
	ch__stop_pid
	if [ -n "$dir" ] && [ -e "$dir/$CH_MARKER" ]; then
		if [ "${CH_KEEP:-0}" = 1 ]; then
			ch__log "kept $dir"
		else
			rm -rf -- "$dir"
		fi
	fi
	CH_DIR=
	return 0
}

ch_server_kill()
{
	local sig=${1:-TERM}
	[ -n "${CH_PID:-}" ] || return 0
	case $sig in
	TERM) ch__stop_pid ;;
	KILL)
		kill -KILL "$CH_PID" 2>/dev/null || true
		wait "$CH_PID" 2>/dev/null || true
		CH_PID=
		;;
	*)
		ch__log "ch_server_kill: signal TERM or KILL, not $sig"
		return 1
		;;
	esac
	export CH_PID
}

ch_server_restart()
{
	local bin rc=0
	if [ -z "${CH_DIR:-}" ] || [ ! -e "$CH_DIR/config.xml" ]; then
		ch__log "ch_server_restart: no server directory (ch_server_start first)"
		return 1
	fi
	if [ -n "${CH_PID:-}" ]; then
		ch__log "ch_server_restart: server $CH_PID still runs (ch_server_kill first)"
		return 1
	fi
	bin=$(ch__server_bin) || return 1
	# The ports are those of config.xml: CH_HTTP_PORT and CH_TCP_PORT are unchanged.
	ch__start_once "$CH_DIR" "$bin" || rc=$?
	if [ "$rc" -ne 0 ]; then
		[ "$rc" -ne 2 ] || ch__log "ch_server_restart: port $CH_HTTP_PORT or $CH_TCP_PORT taken meanwhile"
		ch__stop_pid
		return 1
	fi
	export CH_PID
}

# ch__request CURL_ARG...: one request; prints the body on 200, else the status and the
# body on stderr and returns 1. The body goes through a file, not $(...), so that binary
# results (RowBinary) and trailing newlines come out intact.
ch__request()
{
	local out code rc=0
	: "${CH_URL:?no server: call ch_server_start first}"
	out=$(mktemp "${CH_DIR:-/tmp}/query.XXXXXX") || return 1
	code=$(curl -sS -o "$out" -w '%{http_code}' "$@") || rc=$?
	if [ "$rc" -ne 0 ]; then
		ch__log "curl failed ($rc) on $CH_URL"
		rm -f "$out"
		return 1
	fi
	if [ "$code" != 200 ]; then
		ch__log "HTTP $code:"
		cat "$out" >&2
		rm -f "$out"
		return 1
	fi
	cat "$out"
	rm -f "$out"
}

# ch_query SQL [CURL_ARG...]: SQL as the POST body (e.g. -u ayaflow:PW as an extra arg).
ch_query()
{
	local sql=${1:?ch_query SQL}
	shift
	ch__request --data-binary "$sql" "$@" "$CH_URL/"
}

# ch_insert SQL [CURL_ARG...] <DATA: SQL (INSERT ... FORMAT F) in the URL, stdin as the
# body. --url-query (curl 7.87+) URL-encodes SQL without turning the POST into a GET.
ch_insert()
{
	local sql=${1:?ch_insert SQL}
	shift
	ch__request --url-query "query=$sql" --data-binary @- "$@" "$CH_URL/"
}

# --- command mode -------------------------------------------------------------------------

CH__CMD_PID=

ch__run_exit()
{
	local rc=$?
	set +e
	if [ -n "$CH__CMD_PID" ] && ch__alive "$CH__CMD_PID"; then
		kill -TERM "$CH__CMD_PID" 2>/dev/null
		wait "$CH__CMD_PID" 2>/dev/null
	fi
	ch_server_stop
	exit "$rc"
}

ch__run()
{
	local dir rc=0
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ayf-clickhouse.XXXXXX")
	# Marked at once: ch_server_stop in the trap removes it even if the start fails early.
	touch "$dir/$CH_MARKER"
	CH_DIR=$dir
	trap ch__run_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ch_server_start "$dir" || exit 1
	export AYAFLOW_TEST_CLICKHOUSE="clickhouse://127.0.0.1:$CH_HTTP_PORT/"
	# CMD runs in the background and this shell waits for it, so that a signal to this
	# shell runs the trap at once instead of after CMD ends. The explicit <&0 keeps CMD's
	# stdin (a background command would get /dev/null).
	ch__pdeath_prefix
	"${CH__PDEATH[@]}" "$@" <&0 &
	CH__CMD_PID=$!
	wait "$CH__CMD_PID" || rc=$?
	CH__CMD_PID=
	exit "$rc"
}

ch__usage()
{
	echo "usage: bash ${0##*/} run -- CMD [ARG...]" >&2
	exit 2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	[ "${1:-}" = run ] || ch__usage
	shift
	[ "${1:-}" = -- ] && shift
	[ "$#" -gt 0 ] || ch__usage
	ch__run "$@"
fi
