#!/usr/bin/env bash
# filter_coexist.sh - the node's classifier coexists with a foreign TC filter and undoes
# only what it did.
#
# Part 1: a foreign filter (drop.bpf.o, drops UDP to port 9) is already attached at
# prio 10 on A's veth ingress before the node starts. With the node attached at prio 1
# the foreign filter still acts (port 9 receives nothing, another port everything) and
# the node still counts both flows. On SIGTERM the node removes its own filters only:
# the foreign filter and the clsact qdisc it did not create stay, and keep working.
# Part 2: on a veth without a qdisc the node creates clsact and removes it on SIGTERM.
# tc mode (--attach tc) throughout; TCX is covered by tcx_attach.sh.
source "$(dirname "$0")/lib.sh"
e2e_init
: "${DROP_BPF_OBJ:?DROP_BPF_OBJ must name drop.bpf.o}"
[ -r "$DROP_BPF_OBJ" ] || fail "DROP_BPF_OBJ=$DROP_BPF_OBJ not readable"

ours() { ip netns exec "$1" tc filter show dev "$2" "$3" | grep -c 'handle 0xaf10' || true; }
foreign() { ip netns exec "$1" tc filter show dev "$2" "$3" | grep -c 'handle 0x10 .*drop_udp9' || true; }
has_clsact() { ip netns exec "$1" tc -j qdisc show dev "$2" | jq '[.[] | select(.kind == "clsact")] | length'; }

# --- part 1: foreign filter present ------------------------------------------------
ns_pair "$(ns_name a)" "$(ns_name b)" 10.77.2
nsx "$NS_A" tc qdisc add dev "$DEV_A" clsact
nsx "$NS_A" tc filter add dev "$DEV_A" ingress prio 10 handle 0x10 bpf da \
	obj "$DROP_BPF_OBJ" sec tc
assert_eq "foreign filter attached" 1 "$(foreign "$NS_A" "$DEV_A" ingress)"

node_start "$NS_A" 3001 node -i "$DEV_A" --attach tc --closed-timeout 120
assert_eq "node filter on ingress" 1 "$(ours "$NS_A" "$DEV_A" ingress)"
assert_eq "node filter on egress" 1 "$(ours "$NS_A" "$DEV_A" egress)"
nsx "$NS_A" tc filter show dev "$DEV_A" ingress | grep 'handle 0xaf10' | grep -q 'pref 1 ' ||
	fail "node filter is not at pref 1: $(nsx "$NS_A" tc filter show dev "$DEV_A" ingress)"
assert_eq "foreign filter still attached" 1 "$(foreign "$NS_A" "$DEV_A" ingress)"

got=$(udp_round "$NS_B" "$NS_A" "$IP_A" 5 7009 7000)
assert_eq "received on port 9 / port 6000 (node attached)" "0 5" "$got"

assert_round_counted "$NS_A" 5 7009 7000 "node attached"

node_stop "$NODE_PID" TERM
assert_eq "node exit status after SIGTERM" 0 "$NODE_RC"
assert_eq "node filter gone from ingress" 0 "$(ours "$NS_A" "$DEV_A" ingress)"
assert_eq "node filter gone from egress" 0 "$(ours "$NS_A" "$DEV_A" egress)"
assert_eq "foreign filter kept" 1 "$(foreign "$NS_A" "$DEV_A" ingress)"
assert_eq "foreign clsact qdisc kept" 1 "$(has_clsact "$NS_A" "$DEV_A")"

got=$(udp_round "$NS_B" "$NS_A" "$IP_A" 3 7019 7010)
assert_eq "received on port 9 / port 6000 (node gone)" "0 3" "$got"

# --- part 2: no qdisc before the node ------------------------------------------------
ns_pair "$(ns_name c)" "$(ns_name d)" 10.77.12
assert_eq "no clsact before the node" 0 "$(has_clsact "$NS_A" "$DEV_A")"
node_start "$NS_A" 3001 node2 -i "$DEV_A" --attach tc
assert_eq "node created clsact" 1 "$(has_clsact "$NS_A" "$DEV_A")"
assert_eq "node filter on ingress (fresh veth)" 1 "$(ours "$NS_A" "$DEV_A" ingress)"
node_stop "$NODE_PID" TERM
assert_eq "node exit status after SIGTERM (fresh veth)" 0 "$NODE_RC"
assert_eq "clsact removed by the node that created it" 0 "$(has_clsact "$NS_A" "$DEV_A")"
