/* dns.h - the DNS message parser of deep inspection. The classifier hands user space bounded
 * snippets (at most 512 bytes, possibly cut short) of DNS traffic on port 53; this module
 * turns one snippet into the query name, the response code and the addresses the name
 * resolved to, so that the node can map a peer address back to the name it was looked up by.
 *
 * Pure functions: no allocation, no global state, no I/O. Every byte read is bounds-checked
 * against the length given; the input is hostile. The caller owns every buffer; results
 * are copied into the caller's struct dns_message, which holds no pointers.
 *
 * Names are returned in presentation form: labels joined by '.', ASCII lower-cased, no
 * trailing dot, "" for the root. A label byte outside printable ASCII (0x21..0x7e) or a
 * '.' inside a label is rejected with DNS_ERR_NAME, so a name is always printable and
 * splits back into its labels. The wire form of a name is at most 255 bytes (RFC 1035), so
 * a decoded name is at most 253 characters. Compression pointers must point strictly
 * before the start of the label sequence that holds them (so a chain of pointers always
 * moves backwards and cannot loop) and at most DNS_MAX_JUMPS are followed per name. */
#ifndef AYAFLOW_NODE_DNS_H
#define AYAFLOW_NODE_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX	255 /* bytes of a name's wire form, and of our buffers minus NUL */
#define DNS_MAX_ANSWERS 16  /* A, AAAA and CNAME answers kept per message */
#define DNS_MAX_JUMPS	32  /* compression pointers followed per name */
#define DNS_HEADER_LEN	12

#define DNS_TYPE_A     1
#define DNS_TYPE_NS    2
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_SOA   6
#define DNS_TYPE_PTR   12
#define DNS_TYPE_MX    15
#define DNS_TYPE_TXT   16
#define DNS_TYPE_AAAA  28
#define DNS_TYPE_SRV   33
#define DNS_TYPE_HTTPS 65
#define DNS_TYPE_ANY   255
#define DNS_CLASS_IN   1

#define DNS_RCODE_NOERROR  0
#define DNS_RCODE_FORMERR  1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP   4
#define DNS_RCODE_REFUSED  5

/* Why a snippet was rejected; indexes the node's per-reason counters. */
enum dns_error {
	DNS_OK = 0,
	DNS_ERR_SHORT,	 /* the header, the question or a length prefix is cut short */
	DNS_ERR_NAME,	 /* label type 01/10 (a length > 63), name > 255 bytes, bad byte */
	DNS_ERR_LOOP,	 /* pointer not strictly backwards (self, loop) or too many jumps */
	DNS_ERR_COUNT,	 /* section counts impossible for the message size */
	DNS_ERR_NOT_DNS, /* unassigned opcode, qdcount != 1, TCP length < 12, bad rdata */
	DNS_ERR_MAX
};

/* One A, AAAA or CNAME answer of class IN. */
struct dns_answer {
	char name[DNS_NAME_MAX + 1]; /* owner name */
	uint16_t type;		     /* DNS_TYPE_A, DNS_TYPE_AAAA or DNS_TYPE_CNAME */
	uint16_t class;
	uint32_t ttl;
	uint8_t addr[16];	       /* A: ::ffff:a.b.c.d; AAAA: the 16 bytes; CNAME: zero */
	char target[DNS_NAME_MAX + 1]; /* CNAME: the canonical name; otherwise "" */
};

struct dns_message {
	uint16_t id;
	bool response; /* QR */
	uint8_t opcode;
	uint8_t rcode;
	bool truncated_flag; /* TC: the server truncated the message, not the snippet */
	char qname[DNS_NAME_MAX + 1];
	uint16_t qtype;
	uint16_t qclass;
	size_t nanswers;
	struct dns_answer answers[DNS_MAX_ANSWERS]; /* in message order */
	/* More A/AAAA/CNAME answers than DNS_MAX_ANSWERS, or the snippet ended inside the
	 * answer section (also when ancount promises more records than the bytes hold):
	 * the answers kept are still valid, the list may be incomplete. */
	bool answers_cut;
};

/* Parses one DNS message (a UDP payload, or a snippet of one). Returns 0 and fills *out,
 * or -EINVAL and leaves *out untouched. *why (may be NULL) is set on every return:
 * DNS_OK on success. Succeeds with answers_cut when the snippet ends inside the answer
 * section, provided the header and the question are complete. The authority and
 * additional sections are not read. Counts are checked against the largest possible
 * message (65535 bytes, every record at least 11): e.g. ancount 65535 is DNS_ERR_COUNT
 * whatever the snippet, while ancount 100 in a 40-byte snippet parses with answers_cut. */
int dns_parse(const uint8_t *buf, size_t len, struct dns_message *out, enum dns_error *why);

/* The same for a TCP payload starting with the 2-byte length prefix (RFC 1035 4.2.2);
 * parses the first message only. The prefix bounds the message (bytes after it are
 * ignored) and the counts are checked against it. A prefix below 12 is DNS_ERR_NOT_DNS. */
int dns_parse_tcp(const uint8_t *buf, size_t len, struct dns_message *out, enum dns_error *why);

/* Follows the CNAME chain from m->qname through m->answers and points addrs[0..] at the
 * 16-byte addresses (IPv4 as ::ffff:a.b.c.d) of the A and AAAA answers owned by any name
 * of the chain, in message order. Returns how many were stored (at most max). The pointers
 * point into *m and live as long as it does. */
size_t dns_resolved_addrs(const struct dns_message *m, const uint8_t **addrs, size_t max);

/* Static strings, never NULL: "short", "bad_name", "pointer_loop", "bad_count", "not_dns"
 * ("ok" for DNS_OK, "unknown" out of range). */
const char *dns_error_name(enum dns_error e);
/* "noerror", "formerr", "servfail", "nxdomain", "notimp", "refused", else "other". */
const char *dns_rcode_name(uint8_t rcode);
/* "A", "AAAA", "CNAME", "PTR", "MX", "TXT", "NS", "SOA", "SRV", "HTTPS", "ANY", else "other". */
const char *dns_type_name(uint16_t type);

#endif
