/* wire.h - the node <-> collector messages as plain C structs, and their protobuf
 * encoding (proto/ayaflow.proto, package ayaflow.v1). This is the only module that
 * includes the protobuf-c generated header: everything else speaks these structs.
 *
 * Decoding is defensive: every batch from the network is validated (sizes, enums,
 * address lengths, window bounds, string lengths and UTF-8) before anyone sees it, and
 * a rejection carries a reason that the collector counts. */
#ifndef AYAFLOW_WIRE_H
#define AYAFLOW_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_NAME_MAX 253 /* node names and domains: DNS name length */
#define WIRE_BOOT_ID_MAX 64
#define WIRE_VERSION_MAX 32
#define WIRE_IFNAME_MAX 16
#define WIRE_MAX_RECORDS 10000 /* per batch; larger windows are split */
#define WIRE_MAX_BATCH_BYTES (4u * 1024 * 1024) /* encoded; larger is rejected */
#define WIRE_MAX_DNS 2000 /* DNS records per batch */
#define WIRE_DNS_MAX_ANSWERS 8 /* answers kept per DNS record */

/* The loss ledger: one counter per reason a packet is not in a flow record. */
enum wire_loss {
	WIRE_LOSS_UNPARSABLE = 0,
	WIRE_LOSS_FLOW_MAP_FULL,
	WIRE_LOSS_IPV6_DISABLED,
	WIRE_LOSS_EXPORT_SPOOL_FULL,
	WIRE_LOSS_COLLECTOR_REJECTED,
	WIRE_LOSS_PAYLOAD_RINGBUF_FULL,
	WIRE_LOSS_MAX,
};

/* "unparsable", "flow_map_full", ... : the reason label used by every API. */
const char *wire_loss_name(enum wire_loss reason);

/* One connection's counters over one window, oriented: src started the connection. */
struct wire_record {
	uint8_t src_addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	uint8_t dst_addr[16];
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto; /* IP protocol number */
	uint8_t ip_version; /* 4 or 6 */
	uint32_t tcp_flags; /* flags seen in the window, both ways */
	uint64_t packets_sent; /* src -> dst, in the window */
	uint64_t packets_received;
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t first_seen_ms; /* the connection's first packet, Unix ms */
	uint64_t last_seen_ms; /* its last packet so far */
	char interface[WIRE_IFNAME_MAX];
	char domain[WIRE_NAME_MAX + 1]; /* "" when unknown: TLS SNI, else DNS answer */
	char src_hostname[WIRE_NAME_MAX + 1]; /* reverse DNS (PTR) of src, "" when unknown */
	char dst_hostname[WIRE_NAME_MAX + 1];
};

/* One answer of a DNS response: an address (A, AAAA) or a name (CNAME). */
struct wire_dns_answer {
	uint16_t type; /* 1 A, 28 AAAA, 5 CNAME */
	uint32_t ttl; /* seconds */
	uint8_t addr[16]; /* A: ::ffff:a.b.c.d, AAAA: 16 bytes; zero for CNAME */
	char target[WIRE_NAME_MAX + 1]; /* CNAME target; "" otherwise */
};

/* One DNS exchange the node saw: a query, its response, or both matched (by id and
 * addresses), with the latency between them. */
struct wire_dns {
	uint64_t ts_ms; /* the query, or the response when no query was seen */
	char name[WIRE_NAME_MAX + 1]; /* the queried name, lower case, no trailing dot */
	uint16_t qtype;
	uint8_t rcode; /* meaningful when answered */
	uint8_t answered; /* 1: a response was seen */
	uint32_t latency_us; /* query -> response; 0 when either was not seen */
	uint8_t ip_version; /* 4 or 6 */
	uint8_t client_addr[16]; /* the side that asked */
	uint8_t server_addr[16];
	uint16_t client_port;
	uint16_t server_port;
	size_t nanswers; /* <= WIRE_DNS_MAX_ANSWERS */
	struct wire_dns_answer answers[WIRE_DNS_MAX_ANSWERS];
};

struct wire_batch {
	char node[WIRE_NAME_MAX + 1];
	char boot_id[WIRE_BOOT_ID_MAX + 1]; /* new at every agent start */
	char agent_version[WIRE_VERSION_MAX + 1];
	uint64_t seq; /* per boot id, from 1, one per batch */
	uint64_t window_start_ms; /* Unix ms, start < end */
	uint64_t window_end_ms;
	/* The node's cumulative counters at window end (since agent start). */
	uint64_t total_packets;
	uint64_t total_bytes;
	uint64_t active_connections;
	uint64_t lost[WIRE_LOSS_MAX];
	size_t nrecords;
	struct wire_record *records; /* owned (malloc); wire_batch_fini frees it */
	size_t ndns;
	struct wire_dns *dns; /* owned (malloc); wire_batch_fini frees it */
};

/* Why a batch was rejected: counted per reason on the collector's /metrics. */
enum wire_reject {
	WIRE_REJECT_NONE = 0,
	WIRE_REJECT_DECODE, /* not a protobuf FlowBatch */
	WIRE_REJECT_TOO_LARGE, /* over WIRE_MAX_BATCH_BYTES or WIRE_MAX_RECORDS */
	WIRE_REJECT_MISSING_FIELD, /* node, boot id, seq or window missing */
	WIRE_REJECT_BAD_WINDOW, /* start >= end, or implausible times */
	WIRE_REJECT_BAD_ADDRESS, /* address length or ip_version wrong */
	WIRE_REJECT_BAD_ENUM, /* unknown loss reason */
	WIRE_REJECT_BAD_STRING, /* too long, not UTF-8, control characters */
	WIRE_REJECT_BAD_RECORD, /* other impossible record values */
	WIRE_REJECT_STORE, /* the collector could not store it now: the node retries */
	WIRE_REJECT_MAX,
};

/* "decode", "too_large", ... */
const char *wire_reject_name(enum wire_reject reason);

void wire_batch_fini(struct wire_batch *b);

/* Encodes b into a new buffer (*out, malloc'd, owned by the caller). 0 or -errno. */
int wire_encode_batch(const struct wire_batch *b, uint8_t **out, size_t *len);
/* Decodes and validates. On success fills *b (caller fini's it) and returns 0; else
 * returns -EINVAL (or -ENOMEM), sets *reason and writes a message into err; *b untouched. */
int wire_decode_batch(const uint8_t *buf, size_t len, struct wire_batch *b,
		      enum wire_reject *reason, char *err, size_t errlen);

/* One flow record alone, as a FlowRecord message: the form in which the collector's
 * history store keeps records (collector/store/flowblock.h), so that a stored record is
 * read back by the same validating decoder as one received. WIRE_RECORD_MAX_BYTES bounds
 * an encoded record. */
#define WIRE_RECORD_MAX_BYTES 1400
/* Encodes r into buf[0..cap): *len bytes. -EINVAL for a record that cannot be encoded,
 * -EMSGSIZE when cap is too small. */
int wire_encode_record(const struct wire_record *r, uint8_t *buf, size_t cap, size_t *len);
/* Decodes one FlowRecord into *r (all of it written), checking its form (address lengths,
 * ranges, strings) but not the plausibility rules of a received batch: a stored record
 * stays readable when those rules grow. -EINVAL when malformed (the reason in err),
 * -ENOMEM. */
int wire_decode_record(const uint8_t *buf, size_t len, struct wire_record *r, char *err,
		       size_t errlen);

/* The reply to one batch. */
struct wire_ack {
	uint64_t seq; /* the batch acknowledged or rejected */
	int ok; /* 1: stored (or already stored); 0: rejected (dropped by the node, counted
		 * as collector_rejected) unless reason is WIRE_REJECT_STORE (retried) */
	int duplicate; /* 1: it had been stored before */
	enum wire_reject reason; /* when !ok */
	char message[256]; /* when !ok */
};

int wire_encode_ack(const struct wire_ack *a, uint8_t **out, size_t *len);
int wire_decode_ack(const uint8_t *buf, size_t len, struct wire_ack *a);

#endif
