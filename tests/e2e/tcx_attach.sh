#!/usr/bin/env bash
# tcx_attach.sh - on a kernel with TCX the node (default --attach auto) attaches its
# classifier through TCX links owned by its process: no clsact qdisc and no tc filter of
# ours, foreign tc filters still act after ours, nothing is left after SIGTERM or SIGKILL,
# and a stale tc filter left by a SIGKILLed tc-mode node is removed at start. The tc path
# itself is covered by filter_coexist, replace_killed and node_restart (--attach tc).
#
# One pair of namespaces, A watched by the node:
#  a. auto on a bare veth: attach_mode "tcx", ayaflow_attach_info{mode="tcx"} 1, one TCX
#     program per hook, no clsact and no filter of ours.
#  b. a foreign clsact + drop.bpf.o (drops UDP to port 9) added on A's ingress while the
#     node runs: the foreign filter still drops, the node counts both flows exactly.
#  c. SIGTERM: exit 0, no TCX program left, the foreign filter and its clsact stay.
#  d. SIGKILL of an auto node: the kernel releases its TCX links with the process.
#  e. a tc-mode node SIGKILLed leaves its filters (prio 1, handle 0xaf10); an auto node
#     removes them from both hooks, keeps the foreign filter and counts N datagrams once.
#  f. --attach tc: attach_mode "tc", no TCX program, our tc filters on both hooks.
#  g. a foreign TCX program (drop.bpf.o held by bench/tcxattach, no tc filter left) is
#     attached before the node: the node's links go first in the chain (BPF_F_BEFORE), so
#     it counts the port 9 datagrams the foreign program then drops.
source "$(dirname "$0")/lib.sh"
e2e_init
: "${DROP_BPF_OBJ:?DROP_BPF_OBJ must name drop.bpf.o}"
[ -r "$DROP_BPF_OBJ" ] || fail "DROP_BPF_OBJ=$DROP_BPF_OBJ not readable"
: "${TCXQ:?TCXQ must name the tcxq binary}"
[ -x "$TCXQ" ] || fail "TCXQ=$TCXQ is not executable"
: "${TCXATTACH:?TCXATTACH must name the tcxattach binary}"
[ -x "$TCXATTACH" ] || fail "TCXATTACH=$TCXATTACH is not executable"

PORT=3001
N=17 SIZE=64

# Programs attached through TCX to A's veth: "ingress N egress M".
tcx() { ip netns exec "$NS_A" "$TCXQ" "$DEV_A"; }
# Filters of ours (handle 0xaf10) on a hook of A's veth (0 also when there is no clsact).
ours() { { ip netns exec "$NS_A" tc filter show dev "$DEV_A" "$1" 2>/dev/null || true; } | grep -c 'handle 0xaf10' || true; }
foreign() { ip netns exec "$NS_A" tc filter show dev "$DEV_A" ingress | grep -c 'handle 0x10 .*drop_udp9' || true; }
has_clsact() { ip netns exec "$NS_A" tc -j qdisc show dev "$DEV_A" | jq '[.[] | select(.kind == "clsact")] | length'; }
# attach_info BODY: the ayaflow_attach_info samples of a /metrics body, one line.
attach_info() { grep '^ayaflow_attach_info' <<<"$1" | tr '\n' ' ' | sed 's/ $//'; }

ns_pair "$(ns_name a)" "$(ns_name b)" 10.77.21

# --- a. auto mode on a bare veth: TCX ------------------------------------------------------
assert_eq "a: no clsact before the node" 0 "$(has_clsact)"
assert_eq "a: no TCX program before the node" "ingress 0 egress 0" "$(tcx)"
node_start "$NS_A" "$PORT" node_auto -i "$DEV_A" --closed-timeout 120
S=$(api "$NS_A" /api/stats)
assert_eq "a: /api/stats attach_mode" tcx "$(jq -r .attach_mode <<<"$S")"
assert_eq "a: /api/stats runtime.attach" auto "$(jq -r .runtime.attach <<<"$S")"
assert_eq "a: /metrics ayaflow_attach_info" 'ayaflow_attach_info{mode="tcx"} 1' \
	"$(attach_info "$(api "$NS_A" /metrics)")"
assert_eq "a: TCX programs" "ingress 1 egress 1" "$(tcx)"
assert_eq "a: no clsact created by the node" 0 "$(has_clsact)"
assert_eq "a: no filter of ours on ingress" 0 "$(ours ingress)"
assert_eq "a: no filter of ours on egress" 0 "$(ours egress)"

# --- b. a foreign tc filter runs after the TCX program ------------------------------------
nsx "$NS_A" tc qdisc add dev "$DEV_A" clsact
nsx "$NS_A" tc filter add dev "$DEV_A" ingress prio 10 handle 0x10 bpf da \
	obj "$DROP_BPF_OBJ" sec tc
assert_eq "b: foreign filter attached" 1 "$(foreign)"

got=$(udp_round "$NS_B" "$NS_A" "$IP_A" 5 7009 7000)
assert_eq "b: received on port 9 / port 6000 (TCX node attached)" "0 5" "$got"
assert_round_counted "$NS_A" 5 7009 7000 b
assert_eq "b: TCX programs (foreign filter added)" "ingress 1 egress 1" "$(tcx)"
assert_eq "b: no filter of ours on ingress" 0 "$(ours ingress)"

# --- c. SIGTERM: the node closes its links, the foreign filter stays -------------------------
node_stop "$NODE_PID" TERM
assert_eq "c: node exit status after SIGTERM" 0 "$NODE_RC"
assert_eq "c: TCX programs after SIGTERM" "ingress 0 egress 0" "$(tcx)"
assert_eq "c: foreign filter kept" 1 "$(foreign)"
assert_eq "c: foreign clsact qdisc kept" 1 "$(has_clsact)"
got=$(udp_round "$NS_B" "$NS_A" "$IP_A" 3 7019 7010)
assert_eq "c: received on port 9 / port 6000 (node gone)" "0 3" "$got"

# --- d. SIGKILL: the kernel detaches the links with the process ------------------------------
node_start "$NS_A" "$PORT" node_killed -i "$DEV_A"
assert_eq "d: TCX programs before SIGKILL" "ingress 1 egress 1" "$(tcx)"
node_stop "$NODE_PID" KILL
assert_eq "d: node killed by SIGKILL" 137 "$NODE_RC"
# The last reference to a link goes with the process's files; its release may be deferred.
wait_for "TCX links released after SIGKILL" "[ \"\$(ip netns exec $NS_A $TCXQ $DEV_A)\" = 'ingress 0 egress 0' ]" 5
assert_eq "d: TCX programs after SIGKILL" "ingress 0 egress 0" "$(tcx)"
assert_eq "d: no filter of ours on ingress" 0 "$(ours ingress)"
assert_eq "d: no filter of ours on egress" 0 "$(ours egress)"
assert_eq "d: foreign filter kept" 1 "$(foreign)"

# --- e. a killed tc-mode node's filters are removed by a TCX node ---------------------------
node_start "$NS_A" "$PORT" node_tc_killed -i "$DEV_A" --attach tc
assert_eq "e: tc node: attach_mode" tc "$(api "$NS_A" /api/stats | jq -r .attach_mode)"
node_stop "$NODE_PID" KILL
assert_eq "e: tc node killed by SIGKILL" 137 "$NODE_RC"
assert_eq "e: stale filter of ours on ingress" 1 "$(ours ingress)"
assert_eq "e: stale filter of ours on egress" 1 "$(ours egress)"
nsx "$NS_A" tc filter show dev "$DEV_A" ingress | grep 'handle 0xaf10' | grep -q 'pref 1 ' ||
	fail "stale filter is not at pref 1: $(nsx "$NS_A" tc filter show dev "$DEV_A" ingress)"

node_start "$NS_A" "$PORT" node_after_tc -i "$DEV_A" --closed-timeout 120
assert_eq "e: attach_mode" tcx "$(api "$NS_A" /api/stats | jq -r .attach_mode)"
assert_eq "e: stale filter removed from ingress" 0 "$(ours ingress)"
assert_eq "e: stale filter removed from egress" 0 "$(ours egress)"
assert_eq "e: TCX programs" "ingress 1 egress 1" "$(tcx)"
assert_eq "e: foreign filter kept" 1 "$(foreign)"
assert_eq "e: clsact kept" 1 "$(has_clsact)"

udp_counted_once "$NS_B" "$IP_A" "$N" "$SIZE" 7100 e
node_stop "$NODE_PID" TERM
assert_eq "e: node exit status after SIGTERM" 0 "$NODE_RC"
assert_eq "e: TCX programs after SIGTERM" "ingress 0 egress 0" "$(tcx)"

# --- f. --attach tc: classic tc filters, no TCX --------------------------------------------
node_start "$NS_A" "$PORT" node_tc -i "$DEV_A" --attach tc
S=$(api "$NS_A" /api/stats)
assert_eq "f: /api/stats attach_mode" tc "$(jq -r .attach_mode <<<"$S")"
assert_eq "f: /api/stats runtime.attach" tc "$(jq -r .runtime.attach <<<"$S")"
assert_eq "f: /metrics ayaflow_attach_info" 'ayaflow_attach_info{mode="tc"} 1' \
	"$(attach_info "$(api "$NS_A" /metrics)")"
assert_eq "f: TCX programs" "ingress 0 egress 0" "$(tcx)"
assert_eq "f: our filter on ingress" 1 "$(ours ingress)"
assert_eq "f: our filter on egress" 1 "$(ours egress)"
assert_eq "f: foreign filter kept" 1 "$(foreign)"
node_stop "$NODE_PID" TERM
assert_eq "f: node exit status after SIGTERM" 0 "$NODE_RC"
assert_eq "f: our filter removed from ingress" 0 "$(ours ingress)"
assert_eq "f: our filter removed from egress" 0 "$(ours egress)"
assert_eq "f: foreign clsact kept (not ours)" 1 "$(has_clsact)"

# --- g. the node goes before a TCX program attached earlier ----------------------------------
nsx "$NS_A" tc qdisc del dev "$DEV_A" clsact
assert_eq "g: no clsact" 0 "$(has_clsact)"
ip netns exec "$NS_A" "$TCXATTACH" "$DROP_BPF_OBJ" "$DEV_A" >"$E2E_DIR/tcxattach.log" 2>&1 &
FOREIGN=$!
track_pid $FOREIGN
wait_for "the foreign TCX program attached" "grep -q ready '$E2E_DIR/tcxattach.log'" 10
assert_eq "g: foreign TCX program" "ingress 1 egress 1" "$(tcx)"
got=$(udp_round "$NS_B" "$NS_A" "$IP_A" 4 7029 7020)
assert_eq "g: received on port 9 / port 6000 (foreign TCX program alone)" "0 4" "$got"
node_start "$NS_A" "$PORT" node_before -i "$DEV_A" --closed-timeout 120
assert_eq "g: TCX programs (foreign + ours)" "ingress 2 egress 2" "$(tcx)"
got=$(udp_round "$NS_B" "$NS_A" "$IP_A" 5 7039 7030)
assert_eq "g: received on port 9 / port 6000 (node before the foreign program)" "0 5" "$got"
assert_round_counted "$NS_A" 5 7039 7030 g
node_stop "$NODE_PID" TERM
assert_eq "g: node exit status after SIGTERM" 0 "$NODE_RC"
assert_eq "g: the foreign TCX program stays" "ingress 1 egress 1" "$(tcx)"
kill -TERM "$FOREIGN"
wait "$FOREIGN" || fail "tcxattach did not exit cleanly"
assert_eq "g: no TCX program left" "ingress 0 egress 0" "$(tcx)"
