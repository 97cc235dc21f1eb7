#!/usr/bin/env bash
# replace_killed.sh - a node started while a SIGKILLed node's filter is still attached
# replaces that filter (same prio and handle), so every packet is counted once.
# tc mode (--attach tc) throughout; TCX is covered by tcx_attach.sh.
source "$(dirname "$0")/lib.sh"
e2e_init

N=23
SIZE=64

ours() { ip netns exec "$NS_A" tc filter show dev "$DEV_A" "$1" | grep -c 'handle 0xaf10' || true; }
prog_id() { ip netns exec "$NS_A" tc filter show dev "$DEV_A" "$1" | sed -n 's/.*handle 0xaf10 .* id \([0-9]*\) .*/\1/p'; }

ns_pair "$(ns_name a)" "$(ns_name b)" 10.77.5

node_start "$NS_A" 3001 node1 -i "$DEV_A" --attach tc
assert_eq "first node: our filters on ingress" 1 "$(ours ingress)"
assert_eq "first node: our filters on egress" 1 "$(ours egress)"
OLD_IN=$(prog_id ingress)
OLD_EG=$(prog_id egress)
[ -n "$OLD_IN" ] && [ -n "$OLD_EG" ] || fail "cannot read the program ids: $(nsx "$NS_A" tc filter show dev "$DEV_A" ingress)"

node_stop "$NODE_PID" KILL
assert_eq "first node killed by SIGKILL" 137 "$NODE_RC"
assert_eq "killed node's filter still on ingress" 1 "$(ours ingress)"
assert_eq "killed node's filter still on egress" 1 "$(ours egress)"

node_start "$NS_A" 3001 node2 -i "$DEV_A" --attach tc
assert_eq "second node: our filters on ingress" 1 "$(ours ingress)"
assert_eq "second node: our filters on egress" 1 "$(ours egress)"
[ "$(prog_id ingress)" != "$OLD_IN" ] || fail "ingress filter still runs the killed node's program (id $OLD_IN)"
[ "$(prog_id egress)" != "$OLD_EG" ] || fail "egress filter still runs the killed node's program (id $OLD_EG)"
log "ok: programs replaced (ingress $OLD_IN -> $(prog_id ingress), egress $OLD_EG -> $(prog_id egress))"

udp_counted_once "$NS_B" "$IP_A" "$N" "$SIZE" 7000 "second node"

node_stop "$NODE_PID" TERM
assert_eq "second node exit status after SIGTERM" 0 "$NODE_RC"
assert_eq "no filter of ours left on ingress" 0 "$(ours ingress)"
assert_eq "no filter of ours left on egress" 0 "$(ours egress)"
