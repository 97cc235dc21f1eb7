/* flow.h - the contract between the TC classifier (flow.bpf.c) and user space.
 *
 * Flows are keyed canonically: endpoint "a" is the lower (address, port) pair, so
 * both directions of a connection land in one map entry. Counters are indexed by
 * enum flow_way; user space orients the flow (src = initiator) when it reads it.
 * Every struct has explicit padding and a size assertion checked on both sides.
 */
#ifndef AYAFLOW_BPF_FLOW_H
#define AYAFLOW_BPF_FLOW_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Which TC hook saw the packet. */
enum flow_hook {
	FLOW_HOOK_INGRESS = 0,
	FLOW_HOOK_EGRESS = 1,
	FLOW_HOOK_MAX,
};

/* Protocol buckets of the per-CPU totals. */
enum flow_proto_bucket {
	FLOW_PROTO_TCP = 0,
	FLOW_PROTO_UDP,
	FLOW_PROTO_ICMP,
	FLOW_PROTO_ICMPV6,
	FLOW_PROTO_OTHER, /* any other IP protocol */
	FLOW_PROTO_MAX,
};

/* Direction inside a flow entry: a->b or b->a (a is the canonical lower endpoint). */
enum flow_way {
	FLOW_WAY_AB = 0,
	FLOW_WAY_BA = 1,
	FLOW_WAY_MAX,
};

/* Per-CPU counters besides the totals: every reason a packet is not (fully) in a flow
 * record is one of the FLOW_LOSS_* slots; together they form the kernel's part of the
 * loss ledger. FLOW_CNT_NON_IP is not a loss: such frames carry no flow at all. */
enum flow_counter {
	FLOW_LOSS_UNPARSABLE = 0,	/* truncated or malformed L2/L3 header */
	FLOW_LOSS_FLOW_MAP_FULL,	/* no room for a new flow entry */
	FLOW_LOSS_IPV6_DISABLED,	/* IPv6 packet while --enable-ipv6 is off */
	FLOW_LOSS_PAYLOAD_RINGBUF_FULL, /* deep inspection: no room for the snippet */
	FLOW_LOSS_MAX,
	FLOW_CNT_NON_IP = FLOW_LOSS_MAX, /* ARP, LLDP, ... */
	FLOW_CNT_L4_TRUNCATED,		 /* counted by addresses only: L4 header cut short */
	FLOW_CNT_FRAGMENT,		 /* non-first fragment: counted by addresses only */
	FLOW_CNT_SNIPPET, /* deep inspection: payload snippets handed to user space */
	FLOW_CNT_MAX,
};

/* Flags in flow_value.flags. */
#define FLOW_F_INITIATOR_BA  (1u << 0) /* b started the flow (else a) */
#define FLOW_F_INITIATOR_SYN (1u << 1) /* initiator learned from a SYN, final */

/* TCP flag bits as in the TCP header byte 13. */
#define FLOW_TCP_FIN 0x01
#define FLOW_TCP_SYN 0x02
#define FLOW_TCP_RST 0x04
#define FLOW_TCP_PSH 0x08
#define FLOW_TCP_ACK 0x10
#define FLOW_TCP_URG 0x20
#define FLOW_TCP_ECE 0x40
#define FLOW_TCP_CWR 0x80

/* Addresses are 16 bytes: IPv4 as an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
struct flow_key {
	__u8 addr_a[16];
	__u8 addr_b[16];
	__u16 port_a; /* host byte order; 0 where the protocol has none */
	__u16 port_b;
	__u32 ifindex;
	__u8 proto;	 /* IP protocol number */
	__u8 ip_version; /* 4 or 6 */
	__u8 pad[6];
};

struct flow_value {
	__u64 packets[FLOW_WAY_MAX];
	__u64 bytes[FLOW_WAY_MAX]; /* IP length: IPv4 total length, IPv6 payload + 40 */
	__u64 first_seen_ns;	   /* bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC_COARSE */
	__u64 last_seen_ns;
	__u32 tcp_flags[FLOW_WAY_MAX]; /* OR of the flags seen per way (u32 for atomics) */
	__u32 flags;		       /* FLOW_F_* */
	__u32 pad;
};

/* Per-CPU totals, one slot per (hook, protocol bucket). */
struct flow_total {
	__u64 packets;
	__u64 bytes;
};

#define FLOW_TOTAL_INDEX(hook, bucket) ((hook)*FLOW_PROTO_MAX + (bucket))
#define FLOW_TOTAL_SLOTS	       (FLOW_HOOK_MAX * FLOW_PROTO_MAX)

/* Deep inspection (--deep-inspect): the first bytes of the payload of DNS packets (UDP and
 * TCP port 53) and of TLS ClientHello records go to user space through the `snippets`
 * ring buffer. */
enum flow_snippet_kind {
	FLOW_SNIPPET_DNS_UDP = 1,
	FLOW_SNIPPET_DNS_TCP = 2, /* with the 2-byte length prefix */
	FLOW_SNIPPET_TLS = 3,	  /* starts at the TLS record header */
};

#define FLOW_SNIPPET_MAX 512

struct flow_snippet {
	struct flow_key key; /* canonical: the flow this packet belongs to */
	__u64 ts_ns;	     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u8 way;	     /* enum flow_way of this packet */
	__u8 kind;	     /* enum flow_snippet_kind */
	__u16 len;	     /* bytes in data[] */
	__u16 payload_len;   /* the packet's whole L4 payload (may exceed len) */
	__u8 pad[2];
	__u8 data[FLOW_SNIPPET_MAX];
};

/* Snippets wake user space only once this much is waiting (else it polls). */
#define FLOW_SNIPPET_WAKEUP_BYTES (64 * 1024)

/* IPv6 extension headers walked at most this many times. */
#define FLOW_MAX_IPV6_EXT 8
/* VLAN tags parsed at most (802.1ad outer + 802.1Q inner). */
#define FLOW_MAX_VLAN 2
/* Default capacity of the flow map (--max-flows). */
#define FLOW_DEFAULT_MAX_FLOWS 65536

_Static_assert(sizeof(struct flow_key) == 48, "flow_key layout");
_Static_assert(sizeof(struct flow_value) == 64, "flow_value layout");
_Static_assert(sizeof(struct flow_total) == 16, "flow_total layout");
_Static_assert(sizeof(struct flow_snippet) == 48 + 8 + 8 + FLOW_SNIPPET_MAX, "flow_snippet layout");

#endif
