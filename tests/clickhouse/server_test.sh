#!/usr/bin/env bash
# clickhouse.server - the private ClickHouse server of tests/clickhouse/server.sh, as the
# tests of the ClickHouse store use it:
#   - it listens on 127.0.0.1 only, on its HTTP and native ports and nothing else, and
#     keeps HTTP connections alive;
#   - a MergeTree table partitioned by day (PARTITION BY intDiv(ts, 86400000)) takes rows
#     in TabSeparated and in RowBinary and gives them back exactly, in both formats;
#   - user "ayaflow" is refused with a wrong password (basic auth and X-ClickHouse-Key) and
#     served with the one in DIR/password;
#   - ALTER TABLE ... DROP PARTITION removes one day;
#   - ch_query fails, with the server's "Code: N" on stderr, on an error status;
#   - the command mode (server.sh run -- CMD) runs a second server beside the first, passes
#     CMD's exit status through and cleans up also when it is killed by a signal;
#   - ch_server_kill (TERM or KILL) stops the server but keeps its directory, ports and data,
#     and ch_server_restart serves them again on the same URL;
#   - ch_server_start fails cleanly when the server cannot start; ch_server_stop leaves no
#     process and no directory, also of a server left stopped (SIGSTOP), and may be called
#     twice.
# Needs clickhouse-server (scripts/setup.sh), not root.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/clickhouse/server.sh source-path=SCRIPTDIR
source "$HERE/server.sh"

NAME=clickhouse.server
DB=ayf_selftest
DAY=86400000
WORK=
RUN_PID=

log() { echo "[$NAME] $*" >&2; }

fail()
{
	echo "[$NAME] FAIL: $*" >&2
	exit 1
}

cleanup()
{
	local rc=$?
	set +e
	if [ -n "$RUN_PID" ]; then
		kill -TERM "$RUN_PID" 2>/dev/null
		wait "$RUN_PID" 2>/dev/null
	fi
	ch_server_stop
	[ -z "$WORK" ] || rm -rf -- "$WORK"
	if [ "$rc" -eq 0 ]; then
		log PASS
	fi
	exit "$rc"
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq()
{
	[ "$2" = "$3" ] || fail "$1: expected [$2], got [$3]"
}

# Prints the printf escapes of N as 8 little-endian bytes (RowBinary UInt64). Bash
# arithmetic is signed 64-bit: -1 stands for 2^64-1.
le64()
{
	local n=$1 i out=
	for ((i = 0; i < 8; i++)); do
		out+=$(printf '\\x%02x' $(((n >> (8 * i)) & 255)))
	done
	printf '%s' "$out"
}

# RowBinary String as printf escapes: LEB128 length (one byte below 128), then the bytes.
# The string goes into a printf format: no % or backslash in it.
rb_string()
{
	local s=$1 n
	n=$(printf '%s' "$s" | wc -c)
	[ "$n" -lt 128 ] || fail "rb_string: only short strings"
	printf '\\x%02x%s' "$n" "$s"
}

# HTTP status of a request to the server, the body in $WORK/body.
http_status()
{
	curl -sS -o "$WORK/body" -w '%{http_code}' "$@"
}

# "ADDR:PORT" of every listening TCP socket of process $1, sorted.
listeners_of()
{
	local pid=$1 inodes=" " fd l _sl laddr _rem st _q _tr _rt _uid _to inode _rest
	for fd in /proc/"$pid"/fd/*; do
		l=$(readlink "$fd" 2>/dev/null) || continue
		case "$l" in socket:\[*\]) l=${l#socket:[}; inodes+="${l%]} " ;; esac
	done
	tail -q -n +2 /proc/net/tcp /proc/net/tcp6 |
		while read -r _sl laddr _rem st _q _tr _rt _uid _to inode _rest; do
			[ "$st" = 0A ] || continue
			case "$inodes" in *" $inode "*) ;; *) continue ;; esac
			echo "$(hexaddr "${laddr%:*}"):$((16#${laddr##*:}))"
		done | sort
}

# /proc/net/tcp's IPv4 address (little-endian hex) as a dotted quad; IPv6 ones as is.
hexaddr()
{
	local h=$1
	if [ "${#h}" -eq 8 ]; then
		echo "$((16#${h:6:2})).$((16#${h:4:2})).$((16#${h:2:2})).$((16#${h:0:2}))"
	else
		echo "$h"
	fi
}

gone() { [ ! -e "/proc/$1" ] || [ "$(ch__state "$1")" = Z ]; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ayf-chtest.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- a server that cannot start ------------------------------------------------------------
rc=0
CLICKHOUSE_SERVER=/bin/false ch_server_start "$WORK/broken" 2>"$WORK/broken.err" || rc=$?
[ "$rc" -ne 0 ] || fail "ch_server_start with /bin/false as the server succeeded"
grep -q 'exited before answering /ping' "$WORK/broken.err" ||
	fail "no reason given for a server that exited: $(cat "$WORK/broken.err")"
expect_eq "CH_PID after a failed start" "" "$CH_PID"
ch_server_stop
[ ! -e "$WORK/broken" ] || fail "ch_server_stop left the directory of a failed start"

# --- the server ------------------------------------------------------------------------------
ch_server_start "$WORK/server"
log "server $CH_PID ready in ${CH_START_MS} ms on $CH_URL (native $CH_TCP_PORT)"
SERVER_DIR=$CH_DIR
SERVER_PID=$CH_PID
expect_eq "CH_URL" "http://127.0.0.1:$CH_HTTP_PORT" "$CH_URL"
expect_eq "listening sockets" "$(printf '127.0.0.1:%s\n' "$CH_HTTP_PORT" "$CH_TCP_PORT" | sort)" \
	"$(listeners_of "$CH_PID")"
VERSION=$(ch_query "SELECT version()")
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+ ]] || fail "SELECT version() gave [$VERSION]"
log "clickhouse-server $VERSION"
# Two requests on one curl: the second reuses the first's connection (0 new connects).
expect_eq "new connections for two kept-alive requests" "1 0" "$(curl -sS \
	-o /dev/null -w '%{num_connects}' --data-binary 'SELECT 1' "$CH_URL/" --next \
	-o /dev/null -w ' %{num_connects}' --data-binary 'SELECT 2' "$CH_URL/")"
[ -s "$CH_PASSWORD_FILE" ] || fail "no password in $CH_PASSWORD_FILE"
expect_eq "password file mode" 600 "$(stat -c %a "$CH_PASSWORD_FILE")"
PASSWORD=$(cat "$CH_PASSWORD_FILE")

# --- table, TabSeparated and RowBinary in ----------------------------------------------------
ch_query "CREATE DATABASE $DB"
ch_query "CREATE TABLE $DB.flows (ts UInt64, node String, bytes UInt64, proto UInt8)
	ENGINE = MergeTree() PARTITION BY intDiv(ts, $DAY) ORDER BY (node, ts)"

# Days 19000, 19001, 19002 (2022-01-08..10): two rows each, one from each format.
D0=$((19000 * DAY)) D1=$((19001 * DAY)) D2=$((19002 * DAY))
printf '%s\t%s\t%s\t%s\n' \
	$((D0 + 1000)) node-a 1500 6 \
	$((D0 + 2000)) node-b 40 17 \
	$((D1 + 0)) node-a 123456789012 6 >"$WORK/rows.tsv"
ch_insert "INSERT INTO $DB.flows FORMAT TabSeparated" <"$WORK/rows.tsv"

# RowBinary: UInt64 little-endian, String with its length, UInt8. The names hold a tab and
# UTF-8 (n, U+00F6, d, e) to see both come back byte for byte.
# shellcheck disable=SC2059 # the formats are the escapes made by le64 and rb_string
{
	printf "$(le64 $((D1 + 1000)))$(rb_string 'a	b')$(le64 1)\\x01"
	printf "$(le64 $((D2 + 0)))$(rb_string $'n\xc3\xb6de')$(le64 0)\\x00"
	printf "$(le64 $((D2 + 1000)))$(rb_string node-d)$(le64 -1)\\xff"
} >"$WORK/rows.bin"
expect_eq "RowBinary input size" $(((8 + 1 + 3 + 8 + 1) + (8 + 1 + 5 + 8 + 1) + (8 + 1 + 6 + 8 + 1))) \
	"$(stat -c %s "$WORK/rows.bin")"
ch_insert "INSERT INTO $DB.flows FORMAT RowBinary" <"$WORK/rows.bin"

# --- read back ---------------------------------------------------------------------------
# TabSeparated escapes the tab as \t; UInt64 prints in full.
expect_eq "rows (TabSeparated)" \
"$((D0 + 1000))	node-a	1500	6
$((D0 + 2000))	node-b	40	17
$D1	node-a	123456789012	6
$((D1 + 1000))	a\\tb	1	1
$D2	n$(printf '\xc3\xb6')de	0	0
$((D2 + 1000))	node-d	18446744073709551615	255" \
	"$(ch_query "SELECT ts, node, bytes, proto FROM $DB.flows ORDER BY ts FORMAT TabSeparated")"

ch_query "SELECT ts, node, bytes, proto FROM $DB.flows WHERE ts >= $((D1 + 1000)) ORDER BY ts
	FORMAT RowBinary" >"$WORK/out.bin"
cmp "$WORK/rows.bin" "$WORK/out.bin" || fail "RowBinary out differs from RowBinary in"

expect_eq "active partitions" "19000 19001 19002" "$(ch_query "SELECT DISTINCT partition
	FROM system.parts WHERE database = '$DB' AND table = 'flows' AND active
	ORDER BY partition" | tr '\n' ' ' | sed 's/ $//')"

# --- users ---------------------------------------------------------------------------------
COUNT_SQL="SELECT count() FROM $DB.flows"
expect_eq "count as ayaflow (basic auth)" 6 "$(ch_query "$COUNT_SQL" -u "ayaflow:$PASSWORD")"
expect_eq "count as ayaflow (X-ClickHouse-User/Key)" 6 \
	"$(ch_query "$COUNT_SQL" -H "X-ClickHouse-User: ayaflow" -H "X-ClickHouse-Key: $PASSWORD")"
# 18.16 says 401 with Code 193 (wrong password); servers from 20.x say 516
# (AUTHENTICATION_FAILED). Either way not 200, and nothing of the table.
for auth in "-u ayaflow:wrong-$PASSWORD" "-u ayaflow:" \
	"-H X-ClickHouse-User:ayaflow -H X-ClickHouse-Key:wrong"; do
	# shellcheck disable=SC2086 # $auth is two or four words on purpose
	status=$(http_status $auth --data-binary "$COUNT_SQL" "$CH_URL/")
	expect_eq "status with [$auth]" 401 "$status"
	grep -Eq '^Code: (193|194|516)\b' "$WORK/body" ||
		fail "body with [$auth] is not an authentication error: $(head -c 300 "$WORK/body")"
done
! ch_query "SELECT 1" -u "ayaflow:wrong" 2>"$WORK/err" || fail "ch_query succeeded with a wrong password"
grep -q 'HTTP 401' "$WORK/err" || fail "ch_query did not report the status: $(cat "$WORK/err")"

# --- errors --------------------------------------------------------------------------------
! ch_query "SELECT 1 FROM nonexistent_db.t" 2>"$WORK/err" ||
	fail "ch_query succeeded on a missing database"
if ! grep -q 'HTTP 404' "$WORK/err" || ! grep -q 'Code: 81' "$WORK/err"; then
	fail "missing database: expected HTTP 404, Code: 81, got: $(cat "$WORK/err")"
fi
! ch_query "SELECT 1" --url-query database=nonexistent_db 2>"$WORK/err" ||
	fail "ch_query succeeded with ?database=nonexistent_db"
grep -q 'Code: 81' "$WORK/err" || fail "?database=nonexistent_db: $(cat "$WORK/err")"

# --- DROP PARTITION -------------------------------------------------------------------------
ch_query "ALTER TABLE $DB.flows DROP PARTITION 19001"
expect_eq "count after DROP PARTITION 19001" 4 "$(ch_query "$COUNT_SQL")"
expect_eq "days after DROP PARTITION 19001" "19000 19000 19002 19002" \
	"$(ch_query "SELECT intDiv(ts, $DAY) FROM $DB.flows ORDER BY ts" | tr '\n' ' ' | sed 's/ $//')"

# --- command mode, beside the first server ----------------------------------------------------
# CMD checks its environment, queries its own server and exits 7.
rc=0
bash "$HERE/server.sh" run -- bash -c '
	set -eu
	echo "$CH_PID $CH_DIR $CH_HTTP_PORT" >"$1/run1"
	[ "$AYAFLOW_TEST_CLICKHOUSE" = "clickhouse://127.0.0.1:$CH_HTTP_PORT/" ]
	[ "$(curl -sS --data-binary "SELECT 41 + 1" "$CH_URL/")" = 42 ]
	# A database of the first server does not exist here.
	[ "$(curl -sS -o /dev/null -w "%{http_code}" --data-binary "SELECT 1" \
		"$CH_URL/?database='"$DB"'")" = 404 ]
	exit 7' run1 "$WORK" || rc=$?
expect_eq "exit status through server.sh run" 7 "$rc"
read -r RUN1_PID RUN1_DIR RUN1_PORT <"$WORK/run1" || fail "the command of server.sh run did not run"
[ "$RUN1_PORT" != "$CH_HTTP_PORT" ] || fail "two servers on one port $RUN1_PORT"
gone "$RUN1_PID" || fail "server.sh run left its server $RUN1_PID running"
[ ! -e "$RUN1_DIR" ] || fail "server.sh run left $RUN1_DIR"

# SIGTERM to server.sh run while CMD runs: CMD and the server stop, the directory goes.
bash "$HERE/server.sh" run -- bash -c 'echo "$CH_PID $CH_DIR $$" >"$1/run2.tmp"
	mv "$1/run2.tmp" "$1/run2"; exec sleep 300' run2 "$WORK" &
RUN_PID=$!
deadline=$((SECONDS + 60))
until [ -e "$WORK/run2" ]; do
	[ "$SECONDS" -lt "$deadline" ] || fail "server.sh run (signal case) did not start CMD in 60 s"
	sleep 0.1
done
read -r RUN2_PID RUN2_DIR RUN2_CMD <"$WORK/run2"
kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
RUN_PID=
expect_eq "exit status of server.sh run on SIGTERM" 143 "$rc"
gone "$RUN2_PID" || fail "server.sh run left its server $RUN2_PID running after SIGTERM"
gone "$RUN2_CMD" || fail "server.sh run left CMD $RUN2_CMD running after SIGTERM"
[ ! -e "$RUN2_DIR" ] || fail "server.sh run left $RUN2_DIR after SIGTERM"

# The first server served all along.
expect_eq "first server still answering" 4 "$(ch_query "$COUNT_SQL")"

# --- kill and restart on the same directory --------------------------------------------------
# A clean shutdown (TERM) and a crash (KILL): each time the directory, the ports and the
# data stay, and the restarted server answers on the same URL with the rows it had.
for sig in TERM KILL; do
	old_pid=$CH_PID
	ch_server_kill "$sig"
	expect_eq "CH_PID after ch_server_kill $sig" "" "$CH_PID"
	gone "$old_pid" || fail "ch_server_kill $sig left the server $old_pid running"
	[ -e "$SERVER_DIR/config.xml" ] || fail "ch_server_kill $sig removed $SERVER_DIR"
	! ch_query "SELECT 1" 2>/dev/null || fail "a query succeeded after ch_server_kill $sig"
	ch_server_restart
	if [ -z "$CH_PID" ] || [ "$CH_PID" = "$old_pid" ]; then
		fail "ch_server_restart set no new CH_PID"
	fi
	expect_eq "listening sockets after ch_server_restart ($sig)" \
		"$(printf '127.0.0.1:%s\n' "$CH_HTTP_PORT" "$CH_TCP_PORT" | sort)" "$(listeners_of "$CH_PID")"
	expect_eq "rows after ch_server_kill $sig and ch_server_restart" 4 "$(ch_query "$COUNT_SQL")"
done
! ch_server_restart 2>/dev/null || fail "ch_server_restart of a running server succeeded"
SERVER_PID=$CH_PID

# --- stop ------------------------------------------------------------------------------------
# Stopped as a hung-store test may leave it (SIGSTOP): it still goes at once, not after the
# 20 s that SIGTERM is given.
kill -STOP "$SERVER_PID"
t0=$SECONDS
ch_server_stop
[ $((SECONDS - t0)) -lt 10 ] || fail "ch_server_stop of a stopped server took $((SECONDS - t0)) s"
gone "$SERVER_PID" || fail "ch_server_stop left the server $SERVER_PID running"
[ ! -e "$SERVER_DIR" ] || fail "ch_server_stop left $SERVER_DIR"
ch_server_stop || fail "a second ch_server_stop failed"
