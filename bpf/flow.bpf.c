// SPDX-License-Identifier: GPL-2.0
/* flow.bpf.c - the TC classifier: parses every packet on ingress and egress and
 * aggregates it into the flow map; user space (node/drain.c) reads the map.
 *
 * It only observes: it never drops, changes or redirects a packet and always returns
 * TC_ACT_UNSPEC so that filters after it still run. The common packet (untagged
 * Ethernet, IPv4 without options or IPv6 without extension headers, TCP or UDP, headers
 * in the linear part of the skb) is read in place (parse_fast); everything else goes
 * through bpf_skb_load_bytes, so headers need not be linear (parse_slow).
 * Every reason a packet is not fully accounted is counted in `counters`.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bpf/flow.h"

#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef EEXIST
#define EEXIST 17
#endif

#define ETH_P_8021Q_  0x8100
#define ETH_P_8021AD_ 0x88A8
#define ETH_P_IP_     0x0800
#define ETH_P_IPV6_   0x86DD

#define IPPROTO_HOPOPTS_  0
#define IPPROTO_ROUTING_  43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_	  51
#define IPPROTO_DSTOPTS_  60
#define IPPROTO_ICMPV6_	  58

/* Set by user space through the skeleton's rodata before load. */
const volatile __u8 cfg_enable_ipv6 = 0;
const volatile __u8 cfg_deep_inspect = 0; /* off: the snippet code is dead and dropped */
/* Tests only: every packet through parse_slow, to prove both parsers agree. As with the
 * others, the verifier drops the branch not taken, so it costs nothing. */
const volatile __u8 cfg_general_parser = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FLOW_DEFAULT_MAX_FLOWS); /* resized before load (--max-flows) */
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOW_TOTAL_SLOTS);
	__type(key, __u32);
	__type(value, struct flow_total);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Deep inspection snippets; resized by user space (a single page when off). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} snippets SEC(".maps");

/* What the parser learned about one packet. */
struct pkt_info {
	struct flow_key key; /* still in packet order (a = sender) until canonicalised */
	__u32 l3_off;
	__u32 l4_off;
	__u32 ip_len;	  /* IP length of one packet as on the wire */
	__u32 l4_hdr_len; /* TCP/UDP header length, for GSO byte accounting */
	__u8 tcp_flags;
	__u8 has_ports;
	__u32 payload_off; /* L4 payload, valid when has_ports */
};

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1; /* per-CPU: no atomics needed */
}

static __always_inline void count_total(__u32 hook, __u8 proto, __u8 ip_version, __u64 packets,
					__u64 bytes)
{
	__u32 bucket;
	__u32 idx;
	struct flow_total *t;

	switch (proto) {
	case IPPROTO_TCP:
		bucket = FLOW_PROTO_TCP;
		break;
	case IPPROTO_UDP:
		bucket = FLOW_PROTO_UDP;
		break;
	case IPPROTO_ICMP:
		bucket = ip_version == 4 ? FLOW_PROTO_ICMP : FLOW_PROTO_OTHER;
		break;
	case IPPROTO_ICMPV6_:
		bucket = ip_version == 6 ? FLOW_PROTO_ICMPV6 : FLOW_PROTO_OTHER;
		break;
	default:
		bucket = FLOW_PROTO_OTHER;
	}
	idx = FLOW_TOTAL_INDEX(hook, bucket);
	t = bpf_map_lookup_elem(&totals, &idx);
	if (t) {
		t->packets += packets;
		t->bytes += bytes;
	}
}

/* Walks Ethernet and up to FLOW_MAX_VLAN tags; returns the L3 ethertype (host order)
 * and sets *off to the L3 offset, or returns 0 when the frame is too short. */
static __always_inline __u16 parse_l2(struct __sk_buff *skb, __u32 *off)
{
	__u16 proto;
	__u32 o = 12;

#pragma unroll
	for (int i = 0; i <= FLOW_MAX_VLAN; i++) {
		if (bpf_skb_load_bytes(skb, o, &proto, sizeof(proto)) < 0)
			return 0;
		proto = bpf_ntohs(proto);
		o += 2;
		if (proto != ETH_P_8021Q_ && proto != ETH_P_8021AD_)
			break;
		if (i == FLOW_MAX_VLAN)
			return 0; /* more tags than we walk: give up, counted unparsable */
		o += 2;		  /* TCI, then the next ethertype */
	}
	*off = o;
	return proto;
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt_info *pi)
{
	__u8 hdr[20];
	__u32 ihl;
	__u16 frag;

	if (bpf_skb_load_bytes(skb, pi->l3_off, hdr, sizeof(hdr)) < 0)
		return -1;
	if ((hdr[0] >> 4) != 4)
		return -1;
	ihl = (hdr[0] & 0x0f) * 4;
	if (ihl < 20)
		return -1;
	pi->ip_len = ((__u32)hdr[2] << 8) | hdr[3];
	/* IPv4 BIG TCP: GSO/GRO packets over 64 KiB carry tot_len 0; like the kernel's
	 * skb_ip_totlen(), take their length from the skb (handle() does so for GSO). */
	if (pi->ip_len == 0 && skb->gso_segs > 1)
		pi->ip_len = skb->len - pi->l3_off;
	if (pi->ip_len < ihl)
		return -1;
	pi->key.ip_version = 4;
	pi->key.proto = hdr[9];
	/* IPv4-mapped IPv6: ::ffff:a.b.c.d */
	pi->key.addr_a[10] = 0xff;
	pi->key.addr_a[11] = 0xff;
	pi->key.addr_b[10] = 0xff;
	pi->key.addr_b[11] = 0xff;
	__builtin_memcpy(&pi->key.addr_a[12], &hdr[12], 4);
	__builtin_memcpy(&pi->key.addr_b[12], &hdr[16], 4);
	pi->l4_off = pi->l3_off + ihl;
	frag = (((__u16)hdr[6] << 8) | hdr[7]) & 0x1fff;
	return frag ? 1 : 0; /* 1: non-first fragment, no L4 header here */
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, struct pkt_info *pi)
{
	__u8 hdr[40];
	__u8 ext[2];
	__u8 next;
	__u32 off;

	if (bpf_skb_load_bytes(skb, pi->l3_off, hdr, sizeof(hdr)) < 0)
		return -1;
	if ((hdr[0] >> 4) != 6)
		return -1;
	pi->ip_len = (((__u32)hdr[4] << 8) | hdr[5]) + 40;
	pi->key.ip_version = 6;
	__builtin_memcpy(pi->key.addr_a, &hdr[8], 16);
	__builtin_memcpy(pi->key.addr_b, &hdr[24], 16);
	next = hdr[6];
	off = pi->l3_off + 40;

#pragma unroll
	for (int i = 0; i < FLOW_MAX_IPV6_EXT; i++) {
		if (next != IPPROTO_HOPOPTS_ && next != IPPROTO_ROUTING_ &&
		    next != IPPROTO_DSTOPTS_ && next != IPPROTO_FRAGMENT_ && next != IPPROTO_AH_)
			break;
		if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext)) < 0)
			return -1;
		if (next == IPPROTO_FRAGMENT_) {
			__u8 fh[4];

			if (bpf_skb_load_bytes(skb, off, fh, sizeof(fh)) < 0)
				return -1;
			next = fh[0];
			off += 8;
			if (((((__u16)fh[2] << 8) | fh[3]) & 0xfff8) != 0) {
				pi->key.proto = next;
				pi->l4_off = off;
				return 1; /* non-first fragment */
			}
			continue;
		}
		if (next == IPPROTO_AH_)
			off += ((__u32)ext[1] + 2) * 4;
		else
			off += ((__u32)ext[1] + 1) * 8;
		next = ext[0];
	}
	if (next == IPPROTO_HOPOPTS_ || next == IPPROTO_ROUTING_ || next == IPPROTO_DSTOPTS_ ||
	    next == IPPROTO_FRAGMENT_ || next == IPPROTO_AH_)
		return -1; /* longer extension chain than we walk */
	pi->key.proto = next;
	pi->l4_off = off;
	return 0;
}

/* Reads ports and flags; returns 0, or -1 when the L4 header is cut short. */
static __always_inline int parse_l4(struct __sk_buff *skb, struct pkt_info *pi)
{
	__u8 l4[20];

	switch (pi->key.proto) {
	case IPPROTO_TCP:
		if (bpf_skb_load_bytes(skb, pi->l4_off, l4, 20) < 0)
			return -1;
		pi->tcp_flags = l4[13];
		pi->l4_hdr_len = (l4[12] >> 4) * 4;
		if (pi->l4_hdr_len < 20)
			return -1;
		break;
	case IPPROTO_UDP:
		if (bpf_skb_load_bytes(skb, pi->l4_off, l4, 8) < 0)
			return -1;
		pi->l4_hdr_len = 8;
		break;
	default:
		return 0; /* ICMP and others: no ports */
	}
	pi->key.port_a = ((__u16)l4[0] << 8) | l4[1];
	pi->key.port_b = ((__u16)l4[2] << 8) | l4[3];
	pi->has_ports = 1;
	pi->payload_off = pi->l4_off + pi->l4_hdr_len;
	return 0;
}

/* Deep inspection: copies the start of DNS payloads and TLS ClientHellos into the ring
 * buffer, with the flow's canonical key and the packet's way. */
static __always_inline void snippet(struct __sk_buff *skb, struct pkt_info *pi, __u32 way)
{
	struct flow_snippet *sn;
	__u32 payload_len, len, kind = 0;
	__u64 flags;

	if (!pi->has_ports)
		return;
	/* Payload length from the IP length: Ethernet padding is not payload. */
	if (pi->l3_off + pi->ip_len <= pi->payload_off)
		return;
	payload_len = pi->l3_off + pi->ip_len - pi->payload_off;
	if (pi->key.port_a == 53 || pi->key.port_b == 53) {
		kind = pi->key.proto == IPPROTO_UDP ? FLOW_SNIPPET_DNS_UDP : FLOW_SNIPPET_DNS_TCP;
	} else if (pi->key.proto == IPPROTO_TCP && payload_len >= 6) {
		__u8 h[6];

		/* A TLS handshake record (22, version 3.x) holding a ClientHello (1). */
		if (bpf_skb_load_bytes(skb, pi->payload_off, h, sizeof(h)) < 0)
			return;
		if (h[0] == 22 && h[1] == 3 && h[5] == 1)
			kind = FLOW_SNIPPET_TLS;
	}
	if (!kind)
		return;
	/* A cut-short frame may end before the payload (a data offset past its end). */
	if (skb->len <= pi->payload_off)
		return;
	len = payload_len;
	if (len > skb->len - pi->payload_off)
		len = skb->len - pi->payload_off;
	if (len > FLOW_SNIPPET_MAX)
		len = FLOW_SNIPPET_MAX;
	if (len == 0)
		return;

	sn = bpf_ringbuf_reserve(&snippets, sizeof(*sn), 0);
	if (!sn) {
		count(FLOW_LOSS_PAYLOAD_RINGBUF_FULL);
		return;
	}
	if (bpf_skb_load_bytes(skb, pi->payload_off, sn->data, len) < 0) {
		/* len is within skb->len, so this does not happen; if it did, the snippet
		 * is lost like one without room. */
		bpf_ringbuf_discard(sn, BPF_RB_NO_WAKEUP);
		count(FLOW_LOSS_PAYLOAD_RINGBUF_FULL);
		return;
	}
	sn->key = pi->key;
	sn->ts_ns = bpf_ktime_get_ns(); /* fine: DNS latency is measured from these */
	sn->way = way;
	sn->kind = kind;
	sn->pad[0] = 0; /* ring memory is reused: no stale bytes to user space */
	sn->pad[1] = 0;
	sn->len = len;
	sn->payload_len = payload_len > 0xffff ? 0xffff : payload_len;
	count(FLOW_CNT_SNIPPET);
	/* Batched wakeups: user space polls the ring every 100 ms anyway; wake it early
	 * only when a good part of the ring is used. */
	flags = bpf_ringbuf_query(&snippets, BPF_RB_AVAIL_DATA) >= FLOW_SNIPPET_WAKEUP_BYTES
		    ? BPF_RB_FORCE_WAKEUP
		    : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(sn, flags);
}

/* Fills pi from the headers in place for the common packet, with no helper call; returns
 * 0 then, or -1 to leave the packet to the general parser (which gives the same result
 * for any packet this one accepts). */
static __always_inline int parse_fast(struct __sk_buff *skb, struct pkt_info *pi)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 l4_off;
	__u8 proto;
	void *l4;

	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP_)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl != 5 ||
		    (ip->frag_off & bpf_htons(0x1fff)))
			return -1;
		pi->ip_len = bpf_ntohs(ip->tot_len);
		if (pi->ip_len < sizeof(*ip))
			return -1; /* incl. BIG TCP's 0: the general parser knows it */
		proto = ip->protocol;
		pi->key.ip_version = 4;
		pi->key.addr_a[10] = 0xff;
		pi->key.addr_a[11] = 0xff;
		pi->key.addr_b[10] = 0xff;
		pi->key.addr_b[11] = 0xff;
		__builtin_memcpy(&pi->key.addr_a[12], &ip->saddr, 4);
		__builtin_memcpy(&pi->key.addr_b[12], &ip->daddr, 4);
		l4 = ip + 1;
		l4_off = sizeof(*eth) + sizeof(*ip);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6_) && cfg_enable_ipv6) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return -1;
		pi->ip_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		proto = ip6->nexthdr;
		pi->key.ip_version = 6;
		__builtin_memcpy(pi->key.addr_a, &ip6->saddr, 16);
		__builtin_memcpy(pi->key.addr_b, &ip6->daddr, 16);
		l4 = ip6 + 1;
		l4_off = sizeof(*eth) + sizeof(*ip6);
	} else {
		return -1;
	}
	if (proto == IPPROTO_TCP) {
		struct tcphdr *t = l4;

		if ((void *)(t + 1) > end || t->doff < 5)
			return -1;
		pi->tcp_flags = ((__u8 *)t)[13];
		pi->l4_hdr_len = t->doff * 4;
		pi->key.port_a = bpf_ntohs(t->source);
		pi->key.port_b = bpf_ntohs(t->dest);
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *u = l4;

		if ((void *)(u + 1) > end)
			return -1;
		pi->l4_hdr_len = sizeof(*u);
		pi->key.port_a = bpf_ntohs(u->source);
		pi->key.port_b = bpf_ntohs(u->dest);
	} else {
		return -1;
	}
	pi->key.proto = proto;
	pi->l3_off = sizeof(*eth);
	pi->l4_off = l4_off;
	pi->has_ports = 1;
	pi->payload_off = l4_off + pi->l4_hdr_len;
	return 0;
}

/* Orders the endpoints so both directions share one key; returns the way of this packet. */
static __always_inline __u32 canonicalise(struct flow_key *k)
{
	__u32 a[4], b[4];
	int cmp = 0;

	/* Four big-endian words compare like sixteen bytes, in a quarter of the steps. */
	__builtin_memcpy(a, k->addr_a, sizeof(a));
	__builtin_memcpy(b, k->addr_b, sizeof(b));
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (cmp == 0 && a[i] != b[i])
			cmp = bpf_ntohl(a[i]) < bpf_ntohl(b[i]) ? -1 : 1;
	}
	if (cmp == 0 && k->port_a != k->port_b)
		cmp = k->port_a < k->port_b ? -1 : 1;
	if (cmp <= 0)
		return FLOW_WAY_AB;

	__u8 tmp[16];
	__u16 p = k->port_a;

	__builtin_memcpy(tmp, k->addr_a, 16);
	__builtin_memcpy(k->addr_a, k->addr_b, 16);
	__builtin_memcpy(k->addr_b, tmp, 16);
	k->port_a = k->port_b;
	k->port_b = p;
	return FLOW_WAY_BA;
}

/* The initiator a SYN names for good: the sender of a bare SYN, or the peer of a SYN-ACK. */
static __always_inline __u32 syn_initiator(__u8 tcp_flags, __u32 way)
{
	__u32 init_way = (tcp_flags & FLOW_TCP_ACK) ? !way : way;

	return FLOW_F_INITIATOR_SYN | (init_way == FLOW_WAY_BA ? FLOW_F_INITIATOR_BA : 0);
}

/* A new flow's entry is inserted already holding its first packet: one hash operation
 * instead of insert + lookup. 0, or -EEXIST when another CPU inserted it first. */
static __always_inline long insert_flow(struct pkt_info *pi, __u32 way, __u64 packets, __u64 bytes,
					__u64 now)
{
	struct flow_value init = {};
	__u8 f = pi->key.proto == IPPROTO_TCP && pi->has_ports ? pi->tcp_flags : 0;

	/* Constant indexes: the verifier refuses the pointer arithmetic of init.x[way]. */
	if (way == FLOW_WAY_BA) {
		init.packets[FLOW_WAY_BA] = packets;
		init.bytes[FLOW_WAY_BA] = bytes;
		init.tcp_flags[FLOW_WAY_BA] = f;
	} else {
		init.packets[FLOW_WAY_AB] = packets;
		init.bytes[FLOW_WAY_AB] = bytes;
		init.tcp_flags[FLOW_WAY_AB] = f;
	}
	init.first_seen_ns = now;
	init.last_seen_ns = now;
	if (f & FLOW_TCP_SYN)
		init.flags = syn_initiator(f, way);
	else if (way == FLOW_WAY_BA)
		init.flags = FLOW_F_INITIATOR_BA; /* until a SYN says otherwise */
	return bpf_map_update_elem(&flows, &pi->key, &init, BPF_NOEXIST);
}

static __always_inline void update_flow(struct pkt_info *pi, __u32 way, __u64 packets, __u64 bytes)
{
	/* A tick's resolution is enough for first/last seen (reported in ms, idle timeouts
	 * in seconds) and costs a fraction of the fine clock per packet. */
	__u64 now = bpf_ktime_get_coarse_ns();
	struct flow_value *v;

	v = bpf_map_lookup_elem(&flows, &pi->key);
	if (!v) {
		long err = insert_flow(pi, way, packets, bytes, now);

		if (err == 0)
			return;
		if (err != -EEXIST) {
			count(FLOW_LOSS_FLOW_MAP_FULL);
			return;
		}
		v = bpf_map_lookup_elem(&flows, &pi->key);
		if (!v) { /* inserted by another CPU and already drained away */
			count(FLOW_LOSS_FLOW_MAP_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&v->packets[way], packets);
	__sync_fetch_and_add(&v->bytes[way], bytes);
	v->last_seen_ns = now;
	if (pi->key.proto == IPPROTO_TCP && pi->has_ports) {
		__u8 f = pi->tcp_flags;

		if (f)
			__sync_fetch_and_or(&v->tcp_flags[way], (__u32)f);
		/* Racing writers store the same value. */
		if ((f & FLOW_TCP_SYN) && !(v->flags & FLOW_F_INITIATOR_SYN))
			v->flags = syn_initiator(f, way);
	}
}

/* The general parser: any header layout, linear or not. 0 when pi is filled (perhaps
 * without ports), -1 when the packet was counted and is done. */
static __always_inline int parse_slow(struct __sk_buff *skb, struct pkt_info *pi)
{
	__u16 ethertype;
	int frag;

	ethertype = parse_l2(skb, &pi->l3_off);
	if (ethertype == 0) {
		count(FLOW_LOSS_UNPARSABLE);
		return -1;
	}
	if (ethertype == ETH_P_IP_) {
		frag = parse_ipv4(skb, pi);
	} else if (ethertype == ETH_P_IPV6_) {
		if (!cfg_enable_ipv6) {
			count(FLOW_LOSS_IPV6_DISABLED);
			return -1;
		}
		frag = parse_ipv6(skb, pi);
	} else {
		count(FLOW_CNT_NON_IP);
		return -1;
	}
	if (frag < 0) {
		count(FLOW_LOSS_UNPARSABLE);
		return -1;
	}
	if (frag > 0) {
		count(FLOW_CNT_FRAGMENT);
	} else if (parse_l4(skb, pi) < 0) {
		count(FLOW_CNT_L4_TRUNCATED);
	}
	return 0;
}

static __always_inline int handle(struct __sk_buff *skb, __u32 hook)
{
	struct pkt_info pi = {};
	__u64 packets, bytes;
	__u32 way;

	if (cfg_general_parser || parse_fast(skb, &pi) < 0) {
		__builtin_memset(&pi, 0, sizeof(pi)); /* a partial fast parse leaves nothing */
		if (parse_slow(skb, &pi) < 0)
			return TC_ACT_UNSPEC;
	}

	/* A GSO/GRO packet stands for gso_segs wire packets, each with its own headers. */
	packets = 1;
	bytes = pi.ip_len;
	if (skb->gso_segs > 1) {
		__u64 segs = skb->gso_segs;
		__u64 hdrs = pi.l4_off - pi.l3_off + pi.l4_hdr_len;

		packets = segs;
		if (skb->len > pi.l3_off)
			bytes = (skb->len - pi.l3_off) + (segs - 1) * hdrs;
	}

	pi.key.ifindex = skb->ifindex;
	way = canonicalise(&pi.key);
	count_total(hook, pi.key.proto, pi.key.ip_version, packets, bytes);
	update_flow(&pi, way, packets, bytes);
	if (cfg_deep_inspect)
		snippet(skb, &pi, way);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int flow_ingress(struct __sk_buff *skb)
{
	return handle(skb, FLOW_HOOK_INGRESS);
}

SEC("tc")
int flow_egress(struct __sk_buff *skb)
{
	return handle(skb, FLOW_HOOK_EGRESS);
}

char LICENSE[] SEC("license") = "GPL";
