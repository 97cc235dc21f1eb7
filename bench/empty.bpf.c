// SPDX-License-Identifier: GPL-2.0
/* empty.bpf.c - the baseline of bench/classifier_cost.sh: a TC classifier that does
 * nothing and lets the packet go on (TC_ACT_UNSPEC), measured with the same kernel
 * accounting (run time / run count) as the ayaflow classifier. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int empty(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
