/* wire.c - the protobuf codec of the node <-> collector contract (proto/ayaflow.proto).
 * The node's exporter encodes one FlowBatch per window with wire_encode_batch(); the
 * collector's ingest decodes it with wire_decode_batch(), which validates everything
 * before anyone else sees the batch, and answers with wire_encode_ack().
 *
 * This is the only file that includes the protoc-c generated header (one adapter per
 * library). Decoding runs protobuf-c with our own allocator, for two reasons: it caps
 * the memory a hostile batch can make the unpacker allocate (small fields expand into
 * large structs), and it remembers each allocation's size, which tells a string's
 * length on the wire, so that an embedded NUL byte is caught instead of silently
 * truncating the string. */
#include "wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "ayaflow.pb-c.h"

/* What the unpacker may allocate for one message. A full valid batch (10000 records
 * with long domains) needs well under 10 MiB; a hostile one is stopped here. */
#define WIRE_DECODE_MEM_MAX (32u * 1024 * 1024)
/* Acks are small; this leaves room for fields added later. */
#define WIRE_ACK_MAX_BYTES (64u * 1024)
#define WIRE_WINDOW_MAX_MS (24ull * 60 * 60 * 1000) /* one day */
#define WIRE_IP_HEADER_MIN 20			    /* bytes: no IP packet is shorter */

static const char *const wire_loss_names[WIRE_LOSS_MAX] = {
    [WIRE_LOSS_UNPARSABLE] = "unparsable",
    [WIRE_LOSS_FLOW_MAP_FULL] = "flow_map_full",
    [WIRE_LOSS_IPV6_DISABLED] = "ipv6_disabled",
    [WIRE_LOSS_EXPORT_SPOOL_FULL] = "export_spool_full",
    [WIRE_LOSS_COLLECTOR_REJECTED] = "collector_rejected",
    [WIRE_LOSS_PAYLOAD_RINGBUF_FULL] = "payload_ringbuf_full",
};

static const char *const wire_reject_names[WIRE_REJECT_MAX] = {
    [WIRE_REJECT_NONE] = "none",
    [WIRE_REJECT_DECODE] = "decode",
    [WIRE_REJECT_TOO_LARGE] = "too_large",
    [WIRE_REJECT_MISSING_FIELD] = "missing_field",
    [WIRE_REJECT_BAD_WINDOW] = "bad_window",
    [WIRE_REJECT_BAD_ADDRESS] = "bad_address",
    [WIRE_REJECT_BAD_ENUM] = "bad_enum",
    [WIRE_REJECT_BAD_STRING] = "bad_string",
    [WIRE_REJECT_BAD_RECORD] = "bad_record",
    [WIRE_REJECT_STORE] = "store",
};

/* The proto enums are numbered from the C enums; a mismatch breaks the contract. */
#define WIRE_SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " must equal " #b)
WIRE_SAME(AYAFLOW__V1__LOSS_REASON__LOSS_REASON_UNPARSABLE, WIRE_LOSS_UNPARSABLE + 1);
WIRE_SAME(AYAFLOW__V1__LOSS_REASON__LOSS_REASON_FLOW_MAP_FULL, WIRE_LOSS_FLOW_MAP_FULL + 1);
WIRE_SAME(AYAFLOW__V1__LOSS_REASON__LOSS_REASON_IPV6_DISABLED, WIRE_LOSS_IPV6_DISABLED + 1);
WIRE_SAME(AYAFLOW__V1__LOSS_REASON__LOSS_REASON_EXPORT_SPOOL_FULL, WIRE_LOSS_EXPORT_SPOOL_FULL + 1);
WIRE_SAME(AYAFLOW__V1__LOSS_REASON__LOSS_REASON_COLLECTOR_REJECTED,
	  WIRE_LOSS_COLLECTOR_REJECTED + 1);
WIRE_SAME(AYAFLOW__V1__LOSS_REASON__LOSS_REASON_PAYLOAD_RINGBUF_FULL,
	  WIRE_LOSS_PAYLOAD_RINGBUF_FULL + 1);
WIRE_SAME(WIRE_LOSS_PAYLOAD_RINGBUF_FULL + 1, WIRE_LOSS_MAX);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_NONE, WIRE_REJECT_NONE);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_DECODE, WIRE_REJECT_DECODE);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_TOO_LARGE, WIRE_REJECT_TOO_LARGE);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_MISSING_FIELD, WIRE_REJECT_MISSING_FIELD);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_BAD_WINDOW, WIRE_REJECT_BAD_WINDOW);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_BAD_ADDRESS, WIRE_REJECT_BAD_ADDRESS);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_BAD_ENUM, WIRE_REJECT_BAD_ENUM);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_BAD_STRING, WIRE_REJECT_BAD_STRING);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_BAD_RECORD, WIRE_REJECT_BAD_RECORD);
WIRE_SAME(AYAFLOW__V1__REJECT_REASON__REJECT_REASON_STORE, WIRE_REJECT_STORE);
WIRE_SAME(WIRE_REJECT_STORE + 1, WIRE_REJECT_MAX);
#undef WIRE_SAME

const char *wire_loss_name(enum wire_loss reason)
{
	if ((unsigned int)reason >= WIRE_LOSS_MAX)
		return "unknown";
	return wire_loss_names[reason];
}

const char *wire_reject_name(enum wire_reject reason)
{
	if ((unsigned int)reason >= WIRE_REJECT_MAX)
		return "unknown";
	return wire_reject_names[reason];
}

void wire_batch_fini(struct wire_batch *b)
{
	if (b == NULL)
		return;
	free(b->records);
	b->records = NULL;
	b->nrecords = 0;
	free(b->dns);
	b->dns = NULL;
	b->ndns = 0;
}

/* --- the unpacker's allocator: a size header in front of every block, and a budget --- */

struct wire_alloc {
	size_t used; /* bytes live, headers included */
	size_t max;
	bool over_budget; /* a request was refused because of max */
	bool oom;	  /* malloc itself failed */
};

/* Keeps the block after the header aligned for any type. */
union wire_alloc_hdr {
	size_t size; /* as requested by protobuf-c */
	max_align_t align;
};

static void *wire_alloc_alloc(void *data, size_t size)
{
	struct wire_alloc *a = data;
	union wire_alloc_hdr *h;
	size_t total;

	if (size > a->max || a->max - size < sizeof(*h) || a->used + size + sizeof(*h) > a->max) {
		a->over_budget = true;
		return NULL;
	}
	total = size + sizeof(*h);
	h = malloc(total);
	if (h == NULL) {
		a->oom = true;
		return NULL;
	}
	h->size = size;
	a->used += total;
	return h + 1;
}

static void wire_alloc_free(void *data, void *ptr)
{
	struct wire_alloc *a = data;
	union wire_alloc_hdr *h;

	if (ptr == NULL)
		return;
	h = (union wire_alloc_hdr *)ptr - 1;
	a->used -= h->size + sizeof(*h);
	free(h);
}

static void wire_alloc_init(struct wire_alloc *a, ProtobufCAllocator *pa)
{
	memset(a, 0, sizeof(*a));
	a->max = WIRE_DECODE_MEM_MAX;
	pa->alloc = wire_alloc_alloc;
	pa->free = wire_alloc_free;
	pa->allocator_data = a;
}

/* The length a string had on the wire. protobuf-c leaves an absent string at its
 * initializer (unset) and gives a present one a block of exactly length + 1 bytes from
 * our allocator; strlen() would stop at an embedded NUL. */
static size_t wire_str_wire_len(const char *s, const char *unset)
{
	const union wire_alloc_hdr *h;

	if (s == NULL || s == unset)
		return 0;
	h = (const union wire_alloc_hdr *)s - 1;
	return h->size - 1;
}

/* --- validation --- */

/* Is s[0..len) well-formed UTF-8 (no overlong forms, no surrogates, <= U+10FFFF)? */
static bool wire_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* NULL if the string is acceptable, else what is wrong with it. NUL counts as a
 * control character. */
static const char *wire_str_problem(const char *s, const char *unset, size_t max, size_t *lenp)
{
	size_t len = wire_str_wire_len(s, unset);
	size_t i;

	*lenp = len;
	if (len > max)
		return "too long";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
	}
	if (!wire_utf8_valid((const unsigned char *)s, len))
		return "not valid UTF-8";
	return NULL;
}

/* Where decode errors go; reason and buf may be NULL. */
struct wire_err {
	enum wire_reject *reason;
	char *buf;
	size_t len;
};

__attribute__((format(printf, 3, 4))) static int wire_fail(struct wire_err *e, enum wire_reject r,
							   const char *fmt, ...)
{
	va_list ap;

	if (e->reason != NULL)
		*e->reason = r;
	if (e->buf != NULL && e->len > 0) {
		va_start(ap, fmt);
		vsnprintf(e->buf, e->len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Checks a batch-level string and copies it into dst (of size max + 1). */
static int wire_take_str(struct wire_err *e, const char *field, const char *s, const char *unset,
			 char *dst, size_t max)
{
	const char *why;
	size_t len;

	why = wire_str_problem(s, unset, max, &len);
	if (why != NULL)
		return wire_fail(e, WIRE_REJECT_BAD_STRING, "%s: %s (%zu bytes, at most %zu)",
				 field, why, len, max);
	memcpy(dst, len ? s : "", len);
	dst[len] = '\0';
	return 0;
}

/* Same for a record's string. */
static int wire_take_rec_str(struct wire_err *e, size_t i, const char *field, const char *s,
			     const char *unset, char *dst, size_t max)
{
	const char *why;
	size_t len;

	why = wire_str_problem(s, unset, max, &len);
	if (why != NULL)
		return wire_fail(e, WIRE_REJECT_BAD_STRING,
				 "records[%zu].%s: %s (%zu bytes, at most %zu)", i, field, why, len,
				 max);
	memcpy(dst, len ? s : "", len);
	dst[len] = '\0';
	return 0;
}

/* Copies a 4-byte (ip_version 4) or 16-byte wire address into the 16-byte form (IPv4 as
 * ::ffff:a.b.c.d); false when the length does not match ip_version. */
static bool wire_addr16(const ProtobufCBinaryData *a, uint32_t ip_version, uint8_t dst[16])
{
	size_t want = ip_version == 4 ? 4 : 16;

	if (a->len != want)
		return false;
	if (want == 4) {
		memset(dst, 0, 10);
		dst[10] = 0xff;
		dst[11] = 0xff;
		memcpy(dst + 12, a->data, 4);
	} else {
		memcpy(dst, a->data, 16);
	}
	return true;
}

/* Copies a 4- or 16-byte wire address into the 16-byte form (IPv4 as ::ffff:a.b.c.d). */
static int wire_take_addr(struct wire_err *e, const char *list, size_t i, const char *field,
			  const ProtobufCBinaryData *a, uint32_t ip_version, uint8_t dst[16])
{
	if (!wire_addr16(a, ip_version, dst))
		return wire_fail(e, WIRE_REJECT_BAD_ADDRESS,
				 "%s[%zu].%s: %zu bytes, want %u for ip_version %u", list, i, field,
				 a->len, ip_version == 4 ? 4u : 16u, (unsigned int)ip_version);
	return 0;
}

/* bytes >= 20 * packets, without overflowing. */
static bool wire_bytes_plausible(uint64_t packets, uint64_t bytes)
{
	if (packets > UINT64_MAX / WIRE_IP_HEADER_MIN)
		return false;
	return bytes >= packets * WIRE_IP_HEADER_MIN;
}

/* strict: also what only a plausible record has (times in order, 20 bytes a packet at
 * least): what ingest requires; a stored record is read back without it, so that a rule
 * added later never hides history. */
static int wire_take_record(struct wire_err *e, size_t i, const Ayaflow__V1__FlowRecord *m,
			    struct wire_record *r, bool strict)
{
	static const Ayaflow__V1__FlowRecord unset = AYAFLOW__V1__FLOW_RECORD__INIT;
	int err;

	if (m->ip_version != 4 && m->ip_version != 6)
		return wire_fail(e, WIRE_REJECT_BAD_ADDRESS,
				 "records[%zu].ip_version: %u, want 4 or 6", i,
				 (unsigned int)m->ip_version);
	err = wire_take_addr(e, "records", i, "src_addr", &m->src_addr, m->ip_version, r->src_addr);
	if (err)
		return err;
	err = wire_take_addr(e, "records", i, "dst_addr", &m->dst_addr, m->ip_version, r->dst_addr);
	if (err)
		return err;
	if (m->src_port > 65535)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "records[%zu].src_port: %u > 65535", i,
				 (unsigned int)m->src_port);
	if (m->dst_port > 65535)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "records[%zu].dst_port: %u > 65535", i,
				 (unsigned int)m->dst_port);
	if (m->protocol > 255)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "records[%zu].protocol: %u > 255", i,
				 (unsigned int)m->protocol);
	if (m->tcp_flags > 0xff)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "records[%zu].tcp_flags: %#x > 0xff", i,
				 (unsigned int)m->tcp_flags);
	if (!strict)
		goto strings;
	if (m->last_seen_ms < m->first_seen_ms)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD,
				 "records[%zu].last_seen_ms: %llu before first_seen_ms %llu", i,
				 (unsigned long long)m->last_seen_ms,
				 (unsigned long long)m->first_seen_ms);
	if (!wire_bytes_plausible(m->packets_sent, m->bytes_sent))
		return wire_fail(e, WIRE_REJECT_BAD_RECORD,
				 "records[%zu].bytes_sent: %llu for %llu packets, < 20 each", i,
				 (unsigned long long)m->bytes_sent,
				 (unsigned long long)m->packets_sent);
	if (!wire_bytes_plausible(m->packets_received, m->bytes_received))
		return wire_fail(e, WIRE_REJECT_BAD_RECORD,
				 "records[%zu].bytes_received: %llu for %llu packets, < 20 each", i,
				 (unsigned long long)m->bytes_received,
				 (unsigned long long)m->packets_received);
strings:
	err = wire_take_rec_str(e, i, "interface", m->interface, unset.interface, r->interface,
				WIRE_IFNAME_MAX - 1);
	if (err)
		return err;
	err = wire_take_rec_str(e, i, "domain", m->domain, unset.domain, r->domain, WIRE_NAME_MAX);
	if (err)
		return err;
	err = wire_take_rec_str(e, i, "src_hostname", m->src_hostname, unset.src_hostname,
				r->src_hostname, WIRE_NAME_MAX);
	if (err)
		return err;
	err = wire_take_rec_str(e, i, "dst_hostname", m->dst_hostname, unset.dst_hostname,
				r->dst_hostname, WIRE_NAME_MAX);
	if (err)
		return err;
	r->src_port = (uint16_t)m->src_port;
	r->dst_port = (uint16_t)m->dst_port;
	r->proto = (uint8_t)m->protocol;
	r->ip_version = (uint8_t)m->ip_version;
	r->tcp_flags = m->tcp_flags;
	r->packets_sent = m->packets_sent;
	r->packets_received = m->packets_received;
	r->bytes_sent = m->bytes_sent;
	r->bytes_received = m->bytes_received;
	r->first_seen_ms = m->first_seen_ms;
	r->last_seen_ms = m->last_seen_ms;
	return 0;
}

/* One DNS answer: A needs a 4-byte address, AAAA 16 bytes, CNAME a target and no
 * address; no other type is sent. */
static int wire_take_dns_answer(struct wire_err *e, size_t i, size_t j,
				const Ayaflow__V1__DnsAnswer *m, struct wire_dns_answer *a)
{
	static const Ayaflow__V1__DnsAnswer unset = AYAFLOW__V1__DNS_ANSWER__INIT;
	const char *why;
	size_t len;

	memset(a, 0, sizeof(*a));
	if (m->type != 1 && m->type != 28 && m->type != 5)
		return wire_fail(
		    e, WIRE_REJECT_BAD_RECORD,
		    "dns[%zu].answers[%zu].type: %u, want 1 (A), 28 (AAAA) or 5 (CNAME)", i, j,
		    (unsigned int)m->type);
	why = wire_str_problem(m->target, unset.target, WIRE_NAME_MAX, &len);
	if (why != NULL)
		return wire_fail(e, WIRE_REJECT_BAD_STRING,
				 "dns[%zu].answers[%zu].target: %s (%zu bytes, at most %u)", i, j,
				 why, len, WIRE_NAME_MAX);
	if (m->type == 5) {
		if (m->addr.len != 0)
			return wire_fail(e, WIRE_REJECT_BAD_ADDRESS,
					 "dns[%zu].answers[%zu].addr: %zu bytes on a CNAME, want 0",
					 i, j, m->addr.len);
		if (len == 0)
			return wire_fail(e, WIRE_REJECT_BAD_RECORD,
					 "dns[%zu].answers[%zu].target: missing on a CNAME", i, j);
		memcpy(a->target, m->target, len);
		a->target[len] = '\0';
	} else {
		if (!wire_addr16(&m->addr, m->type == 1 ? 4 : 6, a->addr))
			return wire_fail(
			    e, WIRE_REJECT_BAD_ADDRESS,
			    "dns[%zu].answers[%zu].addr: %zu bytes, want %u for type %u", i, j,
			    m->addr.len, m->type == 1 ? 4u : 16u, (unsigned int)m->type);
		if (len != 0)
			return wire_fail(e, WIRE_REJECT_BAD_RECORD,
					 "dns[%zu].answers[%zu].target: set on type %u", i, j,
					 (unsigned int)m->type);
	}
	a->type = (uint16_t)m->type;
	a->ttl = m->ttl;
	return 0;
}

static int wire_take_dns(struct wire_err *e, size_t i, const Ayaflow__V1__DnsRecord *m,
			 struct wire_dns *d)
{
	static const Ayaflow__V1__DnsRecord unset = AYAFLOW__V1__DNS_RECORD__INIT;
	const char *why;
	size_t len;
	int err;

	if (m->ts_ms == 0)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "dns[%zu].ts_ms: missing (0)", i);
	if (m->ip_version != 4 && m->ip_version != 6)
		return wire_fail(e, WIRE_REJECT_BAD_ADDRESS, "dns[%zu].ip_version: %u, want 4 or 6",
				 i, (unsigned int)m->ip_version);
	err = wire_take_addr(e, "dns", i, "client_addr", &m->client_addr, m->ip_version,
			     d->client_addr);
	if (err)
		return err;
	err = wire_take_addr(e, "dns", i, "server_addr", &m->server_addr, m->ip_version,
			     d->server_addr);
	if (err)
		return err;
	if (m->client_port > 65535)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "dns[%zu].client_port: %u > 65535", i,
				 (unsigned int)m->client_port);
	if (m->server_port > 65535)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "dns[%zu].server_port: %u > 65535", i,
				 (unsigned int)m->server_port);
	if (m->qtype > 65535)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "dns[%zu].qtype: %u > 65535", i,
				 (unsigned int)m->qtype);
	if (m->rcode > 15)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "dns[%zu].rcode: %u > 15", i,
				 (unsigned int)m->rcode);
	/* Without a response there is no rcode, latency or answer to report. */
	if (!m->answered && (m->rcode != 0 || m->latency_us != 0 || m->n_answers != 0))
		return wire_fail(
		    e, WIRE_REJECT_BAD_RECORD,
		    "dns[%zu].answered: false with rcode %u, latency_us %u, %zu answers", i,
		    (unsigned int)m->rcode, (unsigned int)m->latency_us, m->n_answers);
	if (m->n_answers > WIRE_DNS_MAX_ANSWERS)
		return wire_fail(e, WIRE_REJECT_BAD_RECORD, "dns[%zu].answers: %zu, at most %u", i,
				 m->n_answers, WIRE_DNS_MAX_ANSWERS);
	why = wire_str_problem(m->name, unset.name, WIRE_NAME_MAX, &len);
	if (why != NULL)
		return wire_fail(e, WIRE_REJECT_BAD_STRING,
				 "dns[%zu].name: %s (%zu bytes, at most %u)", i, why, len,
				 WIRE_NAME_MAX);
	memcpy(d->name, len ? m->name : "", len);
	d->name[len] = '\0';
	for (size_t j = 0; j < m->n_answers; j++) {
		err = wire_take_dns_answer(e, i, j, m->answers[j], &d->answers[j]);
		if (err)
			return err;
	}
	d->nanswers = m->n_answers;
	d->ts_ms = m->ts_ms;
	d->qtype = (uint16_t)m->qtype;
	d->rcode = (uint8_t)m->rcode;
	d->answered = m->answered ? 1 : 0;
	d->latency_us = m->latency_us;
	d->ip_version = (uint8_t)m->ip_version;
	d->client_port = (uint16_t)m->client_port;
	d->server_port = (uint16_t)m->server_port;
	return 0;
}

/* Validates the unpacked message m and converts it into *out (records malloc'd). */
static int wire_take_batch(struct wire_err *e, const Ayaflow__V1__FlowBatch *m,
			   struct wire_batch *out)
{
	static const Ayaflow__V1__FlowBatch unset = AYAFLOW__V1__FLOW_BATCH__INIT;
	struct wire_batch b;
	bool seen[WIRE_LOSS_MAX] = {false};
	size_t i;
	int err;

	memset(&b, 0, sizeof(b));
	if (m->n_records > WIRE_MAX_RECORDS)
		return wire_fail(e, WIRE_REJECT_TOO_LARGE, "records: %zu, at most %u", m->n_records,
				 WIRE_MAX_RECORDS);
	if (m->n_dns > WIRE_MAX_DNS)
		return wire_fail(e, WIRE_REJECT_TOO_LARGE, "dns: %zu, at most %u", m->n_dns,
				 WIRE_MAX_DNS);
	if (wire_str_wire_len(m->node, unset.node) == 0)
		return wire_fail(e, WIRE_REJECT_MISSING_FIELD, "node: missing");
	if (wire_str_wire_len(m->boot_id, unset.boot_id) == 0)
		return wire_fail(e, WIRE_REJECT_MISSING_FIELD, "boot_id: missing");
	if (m->seq == 0)
		return wire_fail(e, WIRE_REJECT_MISSING_FIELD, "seq: missing (0)");
	if (m->window_start_ms == 0)
		return wire_fail(e, WIRE_REJECT_MISSING_FIELD, "window_start_ms: missing (0)");
	err = wire_take_str(e, "node", m->node, unset.node, b.node, WIRE_NAME_MAX);
	if (err)
		return err;
	err = wire_take_str(e, "boot_id", m->boot_id, unset.boot_id, b.boot_id, WIRE_BOOT_ID_MAX);
	if (err)
		return err;
	err = wire_take_str(e, "agent_version", m->agent_version, unset.agent_version,
			    b.agent_version, WIRE_VERSION_MAX);
	if (err)
		return err;
	if (m->window_start_ms >= m->window_end_ms)
		return wire_fail(e, WIRE_REJECT_BAD_WINDOW,
				 "window_end_ms: %llu, not after window_start_ms %llu",
				 (unsigned long long)m->window_end_ms,
				 (unsigned long long)m->window_start_ms);
	if (m->window_end_ms - m->window_start_ms > WIRE_WINDOW_MAX_MS)
		return wire_fail(e, WIRE_REJECT_BAD_WINDOW,
				 "window_end_ms: window of %llu ms, at most %llu",
				 (unsigned long long)(m->window_end_ms - m->window_start_ms),
				 WIRE_WINDOW_MAX_MS);
	b.seq = m->seq;
	b.window_start_ms = m->window_start_ms;
	b.window_end_ms = m->window_end_ms;
	if (m->counters != NULL) {
		b.total_packets = m->counters->total_packets;
		b.total_bytes = m->counters->total_bytes;
		b.active_connections = m->counters->active_connections;
	}
	for (i = 0; i < m->n_lost; i++) {
		int v = (int)m->lost[i]->reason;

		if (v < 1 || v > WIRE_LOSS_MAX)
			return wire_fail(e, WIRE_REJECT_BAD_ENUM,
					 "lost[%zu].reason: unknown value %d", i, v);
		if (seen[v - 1])
			return wire_fail(e, WIRE_REJECT_BAD_ENUM,
					 "lost[%zu].reason: %s listed twice", i,
					 wire_loss_name((enum wire_loss)(v - 1)));
		seen[v - 1] = true;
		b.lost[v - 1] = m->lost[i]->packets;
	}
	if (m->n_records > 0) {
		b.records = calloc(m->n_records, sizeof(*b.records));
		if (b.records == NULL)
			goto oom;
		b.nrecords = m->n_records;
	}
	if (m->n_dns > 0) {
		b.dns = calloc(m->n_dns, sizeof(*b.dns));
		if (b.dns == NULL)
			goto oom;
		b.ndns = m->n_dns;
	}
	for (i = 0; i < m->n_records; i++) {
		err = wire_take_record(e, i, m->records[i], &b.records[i], true);
		if (err)
			goto fail;
	}
	for (i = 0; i < m->n_dns; i++) {
		err = wire_take_dns(e, i, m->dns[i], &b.dns[i]);
		if (err)
			goto fail;
	}
	*out = b;
	return 0;
oom:
	if (e->reason != NULL)
		*e->reason = WIRE_REJECT_STORE;
	if (e->buf != NULL && e->len > 0)
		snprintf(e->buf, e->len, "%s: out of memory",
			 m->n_records > 0 && b.records == NULL ? "records" : "dns");
	err = -ENOMEM;
fail:
	wire_batch_fini(&b);
	return err;
}

int wire_decode_batch(const uint8_t *buf, size_t len, struct wire_batch *b,
		      enum wire_reject *reason, char *err, size_t errlen)
{
	struct wire_err e = {.reason = reason, .buf = err, .len = errlen};
	Ayaflow__V1__FlowBatch *m;
	ProtobufCAllocator pa;
	struct wire_alloc a;
	int ret;

	if (b == NULL)
		return wire_fail(&e, WIRE_REJECT_DECODE, "no batch to decode into");
	if (len > WIRE_MAX_BATCH_BYTES)
		return wire_fail(&e, WIRE_REJECT_TOO_LARGE, "batch: %zu bytes, at most %u", len,
				 WIRE_MAX_BATCH_BYTES);
	if (buf == NULL && len > 0)
		return wire_fail(&e, WIRE_REJECT_DECODE, "batch: no buffer");
	wire_alloc_init(&a, &pa);
	m = ayaflow__v1__flow_batch__unpack(&pa, len, buf);
	if (m == NULL) {
		if (a.oom) {
			if (reason != NULL)
				*reason = WIRE_REJECT_STORE;
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "batch: out of memory while decoding");
			return -ENOMEM;
		}
		if (a.over_budget)
			return wire_fail(&e, WIRE_REJECT_TOO_LARGE,
					 "batch: decoding needs over %u bytes of memory",
					 WIRE_DECODE_MEM_MAX);
		return wire_fail(&e, WIRE_REJECT_DECODE,
				 "batch: not a protobuf FlowBatch (%zu bytes)", len);
	}
	ret = wire_take_batch(&e, m, b);
	ayaflow__v1__flow_batch__free_unpacked(m, &pa);
	if (ret == 0) {
		if (reason != NULL)
			*reason = WIRE_REJECT_NONE;
		if (err != NULL && errlen > 0)
			err[0] = '\0';
	}
	return ret;
}

/* --- encoding --- */

/* Is the char array s[0..size) NUL-terminated? */
static bool wire_terminated(const char *s, size_t size)
{
	return strnlen(s, size) < size;
}

static const uint8_t wire_v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Points the wire address at the record's bytes: the last 4 for IPv4. */
static int wire_put_addr(const uint8_t addr[16], uint8_t ip_version, ProtobufCBinaryData *out)
{
	if (ip_version == 4) {
		if (memcmp(addr, wire_v4_prefix, sizeof(wire_v4_prefix)) != 0)
			return -EINVAL;
		out->data = (uint8_t *)addr + 12;
		out->len = 4;
	} else {
		out->data = (uint8_t *)addr;
		out->len = 16;
	}
	return 0;
}

static int wire_put_record(const struct wire_record *r, Ayaflow__V1__FlowRecord *m)
{
	int err;

	if (r->ip_version != 4 && r->ip_version != 6)
		return -EINVAL;
	if (!wire_terminated(r->interface, sizeof(r->interface)) ||
	    !wire_terminated(r->domain, sizeof(r->domain)) ||
	    !wire_terminated(r->src_hostname, sizeof(r->src_hostname)) ||
	    !wire_terminated(r->dst_hostname, sizeof(r->dst_hostname)))
		return -EINVAL;
	err = wire_put_addr(r->src_addr, r->ip_version, &m->src_addr);
	if (err)
		return err;
	err = wire_put_addr(r->dst_addr, r->ip_version, &m->dst_addr);
	if (err)
		return err;
	m->src_port = r->src_port;
	m->dst_port = r->dst_port;
	m->protocol = r->proto;
	m->ip_version = r->ip_version;
	m->tcp_flags = r->tcp_flags;
	m->packets_sent = r->packets_sent;
	m->packets_received = r->packets_received;
	m->bytes_sent = r->bytes_sent;
	m->bytes_received = r->bytes_received;
	m->first_seen_ms = r->first_seen_ms;
	m->last_seen_ms = r->last_seen_ms;
	m->interface = (char *)r->interface;
	m->domain = (char *)r->domain;
	m->src_hostname = (char *)r->src_hostname;
	m->dst_hostname = (char *)r->dst_hostname;
	return 0;
}

/* d's answers go into ans[] (WIRE_DNS_MAX_ANSWERS of them) and ansp[]. */
static int wire_put_dns(const struct wire_dns *d, Ayaflow__V1__DnsRecord *m,
			Ayaflow__V1__DnsAnswer *ans, Ayaflow__V1__DnsAnswer **ansp)
{
	int err;

	if (d->ip_version != 4 && d->ip_version != 6)
		return -EINVAL;
	if (d->nanswers > WIRE_DNS_MAX_ANSWERS || !wire_terminated(d->name, sizeof(d->name)))
		return -EINVAL;
	err = wire_put_addr(d->client_addr, d->ip_version, &m->client_addr);
	if (err)
		return err;
	err = wire_put_addr(d->server_addr, d->ip_version, &m->server_addr);
	if (err)
		return err;
	for (size_t j = 0; j < d->nanswers; j++) {
		const struct wire_dns_answer *a = &d->answers[j];

		ayaflow__v1__dns_answer__init(&ans[j]);
		if (!wire_terminated(a->target, sizeof(a->target)))
			return -EINVAL;
		ans[j].type = a->type;
		ans[j].ttl = a->ttl;
		if (a->type == 1 || a->type == 28) {
			err = wire_put_addr(a->addr, a->type == 1 ? 4 : 6, &ans[j].addr);
			if (err)
				return err;
		}
		ans[j].target = (char *)a->target;
		ansp[j] = &ans[j];
	}
	m->ts_ms = d->ts_ms;
	m->name = (char *)d->name;
	m->qtype = d->qtype;
	m->rcode = d->rcode;
	m->answered = d->answered ? 1 : 0;
	m->latency_us = d->latency_us;
	m->ip_version = d->ip_version;
	m->client_port = d->client_port;
	m->server_port = d->server_port;
	m->n_answers = d->nanswers;
	m->answers = ansp;
	return 0;
}

/* Packs m into a new malloc'd buffer. */
static int wire_pack(const ProtobufCMessage *m, size_t max, uint8_t **out, size_t *len)
{
	size_t size = protobuf_c_message_get_packed_size(m);
	uint8_t *buf;

	if (size > max)
		return -EMSGSIZE;
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return -ENOMEM;
	if (protobuf_c_message_pack(m, buf) != size) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*len = size;
	return 0;
}

int wire_encode_batch(const struct wire_batch *b, uint8_t **out, size_t *len)
{
	Ayaflow__V1__FlowBatch m = AYAFLOW__V1__FLOW_BATCH__INIT;
	Ayaflow__V1__NodeCounters counters = AYAFLOW__V1__NODE_COUNTERS__INIT;
	Ayaflow__V1__LossCount lost[WIRE_LOSS_MAX];
	Ayaflow__V1__LossCount *lostp[WIRE_LOSS_MAX];
	Ayaflow__V1__FlowRecord *recs = NULL;
	Ayaflow__V1__FlowRecord **recp = NULL;
	Ayaflow__V1__DnsRecord *dns = NULL;
	Ayaflow__V1__DnsRecord **dnsp = NULL;
	Ayaflow__V1__DnsAnswer *ans = NULL;
	Ayaflow__V1__DnsAnswer **ansp = NULL;
	size_t i;
	int err;

	if (b == NULL || out == NULL || len == NULL)
		return -EINVAL;
	if ((b->nrecords > 0 && b->records == NULL) || (b->ndns > 0 && b->dns == NULL))
		return -EINVAL;
	if (!wire_terminated(b->node, sizeof(b->node)) ||
	    !wire_terminated(b->boot_id, sizeof(b->boot_id)) ||
	    !wire_terminated(b->agent_version, sizeof(b->agent_version)))
		return -EINVAL;

	m.node = (char *)b->node;
	m.boot_id = (char *)b->boot_id;
	m.agent_version = (char *)b->agent_version;
	m.seq = b->seq;
	m.window_start_ms = b->window_start_ms;
	m.window_end_ms = b->window_end_ms;
	counters.total_packets = b->total_packets;
	counters.total_bytes = b->total_bytes;
	counters.active_connections = b->active_connections;
	m.counters = &counters;
	/* Reasons with no loss are left out: absent counts 0. */
	for (i = 0; i < WIRE_LOSS_MAX; i++) {
		if (b->lost[i] == 0)
			continue;
		ayaflow__v1__loss_count__init(&lost[m.n_lost]);
		lost[m.n_lost].reason = (Ayaflow__V1__LossReason)(i + 1);
		lost[m.n_lost].packets = b->lost[i];
		lostp[m.n_lost] = &lost[m.n_lost];
		m.n_lost++;
	}
	m.lost = lostp;

	if (b->nrecords > 0) {
		recs = calloc(b->nrecords, sizeof(*recs));
		recp = calloc(b->nrecords, sizeof(*recp));
		if (recs == NULL || recp == NULL) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < b->nrecords; i++) {
		ayaflow__v1__flow_record__init(&recs[i]);
		err = wire_put_record(&b->records[i], &recs[i]);
		if (err)
			goto out;
		recp[i] = &recs[i];
	}
	m.n_records = b->nrecords;
	m.records = recp;

	if (b->ndns > 0) {
		dns = calloc(b->ndns, sizeof(*dns));
		dnsp = calloc(b->ndns, sizeof(*dnsp));
		ans = calloc(b->ndns * WIRE_DNS_MAX_ANSWERS, sizeof(*ans));
		ansp = calloc(b->ndns * WIRE_DNS_MAX_ANSWERS, sizeof(*ansp));
		if (dns == NULL || dnsp == NULL || ans == NULL || ansp == NULL) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < b->ndns; i++) {
		ayaflow__v1__dns_record__init(&dns[i]);
		err = wire_put_dns(&b->dns[i], &dns[i], &ans[i * WIRE_DNS_MAX_ANSWERS],
				   &ansp[i * WIRE_DNS_MAX_ANSWERS]);
		if (err)
			goto out;
		dnsp[i] = &dns[i];
	}
	m.n_dns = b->ndns;
	m.dns = dnsp;

	err = wire_pack(&m.base, WIRE_MAX_BATCH_BYTES, out, len);
out:
	free(ansp);
	free(ans);
	free(dnsp);
	free(dns);
	free(recp);
	free(recs);
	return err;
}

/* --- acks --- */

int wire_encode_record(const struct wire_record *r, uint8_t *buf, size_t cap, size_t *len)
{
	Ayaflow__V1__FlowRecord m = AYAFLOW__V1__FLOW_RECORD__INIT;
	size_t size;
	int err;

	err = wire_put_record(r, &m);
	if (err)
		return err;
	size = ayaflow__v1__flow_record__get_packed_size(&m);
	if (size > cap)
		return -EMSGSIZE;
	if (ayaflow__v1__flow_record__pack(&m, buf) != size)
		return -EIO;
	*len = size;
	return 0;
}

int wire_decode_record(const uint8_t *buf, size_t len, struct wire_record *r, char *err,
		       size_t errlen)
{
	struct wire_err e = {.buf = err, .len = errlen};
	Ayaflow__V1__FlowRecord *m;
	ProtobufCAllocator pa;
	struct wire_alloc a;
	int ret;

	wire_alloc_init(&a, &pa);
	m = ayaflow__v1__flow_record__unpack(&pa, len, buf);
	if (m == NULL) {
		if (a.oom)
			return -ENOMEM;
		return wire_fail(&e, WIRE_REJECT_DECODE, "not a protobuf FlowRecord (%zu bytes)",
				 len);
	}
	memset(r, 0, sizeof(*r));
	ret = wire_take_record(&e, 0, m, r, false);
	ayaflow__v1__flow_record__free_unpacked(m, &pa);
	return ret;
}

int wire_encode_ack(const struct wire_ack *a, uint8_t **out, size_t *len)
{
	Ayaflow__V1__Ack m = AYAFLOW__V1__ACK__INIT;

	if (a == NULL || out == NULL || len == NULL)
		return -EINVAL;
	if ((unsigned int)a->reason >= WIRE_REJECT_MAX ||
	    !wire_terminated(a->message, sizeof(a->message)))
		return -EINVAL;
	m.seq = a->seq;
	m.ok = a->ok ? 1 : 0;
	m.duplicate = a->duplicate ? 1 : 0;
	m.reason = (Ayaflow__V1__RejectReason)a->reason;
	m.message = (char *)a->message;
	return wire_pack(&m.base, WIRE_ACK_MAX_BYTES, out, len);
}

int wire_decode_ack(const uint8_t *buf, size_t len, struct wire_ack *a)
{
	static const Ayaflow__V1__Ack unset = AYAFLOW__V1__ACK__INIT;
	Ayaflow__V1__Ack *m;
	ProtobufCAllocator pa;
	struct wire_alloc al;
	struct wire_ack ack;
	size_t mlen;
	int v, ret = -EINVAL;

	if (a == NULL || len > WIRE_ACK_MAX_BYTES || (buf == NULL && len > 0))
		return -EINVAL;
	wire_alloc_init(&al, &pa);
	m = ayaflow__v1__ack__unpack(&pa, len, buf);
	if (m == NULL)
		return al.oom ? -ENOMEM : -EINVAL;
	v = (int)m->reason;
	if (v < 0 || v >= WIRE_REJECT_MAX)
		goto out;
	/* The node logs the message: it must be short, printable text. */
	if (wire_str_problem(m->message, unset.message, sizeof(ack.message) - 1, &mlen) != NULL)
		goto out;
	memset(&ack, 0, sizeof(ack));
	ack.seq = m->seq;
	ack.ok = m->ok ? 1 : 0;
	ack.duplicate = m->duplicate ? 1 : 0;
	ack.reason = (enum wire_reject)v;
	memcpy(ack.message, mlen ? m->message : "", mlen);
	ack.message[mlen] = '\0';
	*a = ack;
	ret = 0;
out:
	ayaflow__v1__ack__free_unpacked(m, &pa);
	return ret;
}
