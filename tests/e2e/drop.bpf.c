// SPDX-License-Identifier: GPL-2.0
/* drop.bpf.c - a foreign TC classifier for the e2e tests (filter_coexist.sh).
 *
 * It stands for "somebody else's filter" on the same device as ayaflow's: it drops
 * IPv4 UDP packets to port 9 (discard) and lets everything else pass, so a test can
 * observe that it still runs after ayaflow's classifier and still runs once ayaflow
 * has detached. Attached with
 *   tc filter add dev X ingress prio 10 handle 0x10 bpf da obj drop.bpf.o sec tc
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define DROP_PORT 9

SEC("tc")
int drop_udp9(struct __sk_buff *skb)
{
	__u8 ip[20];
	__u16 dport;
	__u32 ihl;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, ip, sizeof(ip)) < 0)
		return TC_ACT_OK;
	if (ip[9] != IPPROTO_UDP || ((ip[6] & 0x1f) | ip[7]) != 0)
		return TC_ACT_OK; /* not UDP, or a non-first fragment */
	ihl = (ip[0] & 0x0f) * 4;
	if (ihl < 20)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + ihl + 2, &dport, sizeof(dport)) < 0)
		return TC_ACT_OK;
	return dport == bpf_htons(DROP_PORT) ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
