#!/usr/bin/env bash
# config_errors.sh - configuration errors stop the node with a clear message and the
# right exit status (2 for bad flags, YAML and values), leaving nothing attached; a YAML
# file is read with its keys and command-line flags override it.
source "$(dirname "$0")/lib.sh"
e2e_init
: "${TCXQ:?TCXQ must name the tcxq binary}"

ns_pair "$(ns_name a)" "$(ns_name b)" 10.77.7

# run_node_fail DESC LOGNAME ARGS...: runs the node in A, expecting it to exit by itself
# (bounded by `timeout`); sets RC and OUT (stdout and stderr).
run_node_fail()
{
	local desc=$1 name=$2
	shift 2
	RC=0
	ip netns exec "$NS_A" timeout 30 "$AYAFLOW_NODE" "$@" >"$E2E_DIR/$name.log" 2>&1 || RC=$?
	OUT=$(cat "$E2E_DIR/$name.log")
	[ "$RC" -ne 124 ] || fail "$desc: the node did not exit within 30s"
	[ "$RC" -ne 0 ] || fail "$desc: the node exited 0"
	log "$desc: exit $RC: $(head -n 3 <<<"$OUT" | tr '\n' ' ')"
}

# assert_says DESC FIXED-STRING: the last output contains the string.
assert_says()
{
	grep -qF -- "$2" <<<"$OUT" || fail "$1: message does not contain '$2': $OUT"
	log "ok: $1 names '$2'"
}

# nothing_attached DESC: no clsact qdisc (so no filter of ours) and no TCX program are
# left on A's veth.
nothing_attached()
{
	local n
	n=$(ip netns exec "$NS_A" tc -j qdisc show dev "$DEV_A" | jq '[.[] | select(.kind == "clsact")] | length')
	assert_eq "$1: no clsact qdisc left" 0 "$n"
	assert_eq "$1: no TCX program left" "ingress 0 egress 0" \
		"$(ip netns exec "$NS_A" "$TCXQ" "$DEV_A")"
}

# --- unknown interface -------------------------------------------------------------
run_node_fail "unknown interface" unknown_if -i "$DEV_A,ayfnosuch0" -p 3001
assert_says "unknown interface" "ayfnosuch0"
nothing_attached "unknown interface"

# --- bad flags and values: exit 2 naming them ------------------------------------------
run_node_fail "unknown flag" bad_flag -i "$DEV_A" --no-such-flag
assert_eq "unknown flag: exit status" 2 "$RC"
assert_says "unknown flag" "no-such-flag"

run_node_fail "port out of range" bad_port -i "$DEV_A" -p 70000
assert_eq "port out of range: exit status" 2 "$RC"
assert_says "port out of range" "70000"

run_node_fail "bad CIDR" bad_cidr -i "$DEV_A" -p 3001 --allowed-ips 127.0.0.1/32,10.0.0.0/33
assert_eq "bad CIDR: exit status" 2 "$RC"
assert_says "bad CIDR" "10.0.0.0/33"
nothing_attached "bad CIDR"

run_node_fail "bad CIDR (not an address)" bad_cidr2 -i "$DEV_A" -p 3001 --allowed-ips notanip/8
assert_eq "bad CIDR (not an address): exit status" 2 "$RC"
assert_says "bad CIDR (not an address)" "notanip/8"

run_node_fail "bad attach mode" bad_attach -i "$DEV_A" -p 3001 --attach bogus
assert_eq "bad attach mode: exit status" 2 "$RC"
assert_says "bad attach mode" "bogus"
assert_says "bad attach mode: valid modes listed" "auto"
assert_says "bad attach mode: valid modes listed" "tcx"
nothing_attached "bad attach mode"

# --- YAML errors: exit 2 naming file:line and the key ----------------------------------
CFG=$E2E_DIR/unknown_key.yaml
printf 'port: 3001\ninterface: %s\nbogus_key: 1\n' "$DEV_A" >"$CFG"
run_node_fail "YAML unknown key" yaml_unknown -c "$CFG"
assert_eq "YAML unknown key: exit status" 2 "$RC"
assert_says "YAML unknown key" "$(basename "$CFG"):3"
assert_says "YAML unknown key" "bogus_key"
nothing_attached "YAML unknown key"

CFG=$E2E_DIR/bad_value.yaml
printf 'interface: %s\nport: 3001\nallowed_ips: "10.0.0.0/8,300.1.1.1/32"\n' "$DEV_A" >"$CFG"
run_node_fail "YAML bad CIDR" yaml_cidr -c "$CFG"
assert_eq "YAML bad CIDR: exit status" 2 "$RC"
assert_says "YAML bad CIDR" "$(basename "$CFG"):3"
assert_says "YAML bad CIDR" "300.1.1.1/32"

CFG=$E2E_DIR/bad_attach.yaml
printf 'interface: %s\nport: 3001\nattach: nope\n' "$DEV_A" >"$CFG"
run_node_fail "YAML bad attach mode" yaml_attach -c "$CFG"
assert_eq "YAML bad attach mode: exit status" 2 "$RC"
assert_says "YAML bad attach mode" "$(basename "$CFG"):3"
assert_says "YAML bad attach mode" "nope"
nothing_attached "YAML bad attach mode"

CFG=$E2E_DIR/syntax.yaml
printf 'interface: %s\nport: [3001\n' "$DEV_A" >"$CFG"
run_node_fail "YAML syntax error" yaml_syntax -c "$CFG"
assert_eq "YAML syntax error: exit status" 2 "$RC"
assert_says "YAML syntax error" "$(basename "$CFG"):"

run_node_fail "missing config file" yaml_missing -c "$E2E_DIR/nonexistent.yaml"
assert_eq "missing config file: exit status" 2 "$RC"
assert_says "missing config file" "nonexistent.yaml"

# --- port already in use ------------------------------------------------------------------
ip netns exec "$NS_A" "$TRAFFICGEN" tcp-server 3001 --bind 127.0.0.1 >"$E2E_DIR/squatter.log" 2>&1 &
SQUATTER=$!
track_pid $SQUATTER
wait_listen "$NS_A" tcp 3001
run_node_fail "port in use" port_in_use -i "$DEV_A" -p 3001
assert_says "port in use" "3001"
grep -qiE 'in use|EADDRINUSE' <<<"$OUT" || fail "port in use: message does not say the port is in use: $OUT"
nothing_attached "port in use"
kill -TERM "$SQUATTER"
wait "$SQUATTER" 2>/dev/null || true

# --- YAML values, overridden by flags -------------------------------------------------------
CFG=$E2E_DIR/good.yaml
cat >"$CFG" <<EOF
# a comment
interface: $DEV_A
port: 3010
closed_timeout: 42
node_name: from-yaml
EOF
node_start "$NS_A" 3011 node_override -c "$CFG" --node-name from-flag
S=$(api "$NS_A" /api/stats)
assert_eq "flag -p overrides YAML port" 3011 "$(jq .runtime.port <<<"$S")"
assert_eq "flag --node-name overrides YAML node_name" from-flag "$(jq -r .runtime.node_name <<<"$S")"
assert_eq "YAML closed_timeout applies" 42 "$(jq .runtime.closed_timeout <<<"$S")"
assert_eq "YAML interface applies" "[\"$DEV_A\"]" "$(jq -c .runtime.interface <<<"$S")"
[ -z "$(ip netns exec "$NS_A" ss -Hltn 'sport = :3010')" ] || fail "the node also listens on the YAML port 3010"
node_stop "$NODE_PID" TERM
assert_eq "node exit status" 0 "$NODE_RC"

NODE_PORT_FLAG=0 node_start "$NS_A" 3010 node_yaml -c "$CFG"
S=$(api "$NS_A" /api/stats)
assert_eq "YAML port without flag" 3010 "$(jq .runtime.port <<<"$S")"
assert_eq "YAML node_name without flag" from-yaml "$(jq -r .runtime.node_name <<<"$S")"
node_stop "$NODE_PID" TERM
