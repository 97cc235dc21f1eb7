/* test_wire.c - unit tests of lib/wire.c, the node <-> collector protobuf codec: exact
 * round trips of batches (IPv4 and IPv6 records, extreme values, no records) and acks,
 * every validation rule of wire_decode_batch rejected with its reason and a message
 * naming the field, and hostile input (every truncation of a valid batch, random bytes,
 * mutations, too many records, too many bytes) that must be rejected without a crash
 * or a leak. DNS records and reverse-DNS host names ride in the same batches and are
 * checked the same way.
 *
 * Invalid batches the encoder cannot produce are written by a tiny protobuf writer
 * below (the test must not include the generated header: only lib/wire.c does).
 *
 * `test_wire --write-corpus DIR` writes the seed corpus of tests/fuzz/fuzz_wire.c. */
#include "wire.h"
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --- a minimal protobuf writer --- */

struct pb {
	uint8_t *data;
	size_t len;
	size_t cap;
};

static void pb_raw(struct pb *p, const void *data, size_t len)
{
	if (p->len + len > p->cap) {
		size_t cap = p->cap ? p->cap : 64;

		while (cap < p->len + len)
			cap *= 2;
		p->data = realloc(p->data, cap);
		if (p->data == NULL)
			abort();
		p->cap = cap;
	}
	if (len > 0)
		memcpy(p->data + p->len, data, len);
	p->len += len;
}

static void pb_varint(struct pb *p, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	do {
		b[n] = v & 0x7f;
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	pb_raw(p, b, n);
}

/* A varint field; proto3 leaves zeros out. */
static void pb_uint(struct pb *p, unsigned int field, uint64_t v)
{
	if (v == 0)
		return;
	pb_varint(p, (uint64_t)field << 3);
	pb_varint(p, v);
}

static void pb_bytes(struct pb *p, unsigned int field, const void *data, size_t len)
{
	pb_varint(p, ((uint64_t)field << 3) | 2);
	pb_varint(p, len);
	pb_raw(p, data, len);
}

/* A string field; NULL leaves it out. */
static void pb_str(struct pb *p, unsigned int field, const char *s)
{
	if (s != NULL)
		pb_bytes(p, field, s, strlen(s));
}

static void pb_sub(struct pb *p, unsigned int field, struct pb *sub)
{
	pb_bytes(p, field, sub->data, sub->len);
	free(sub->data);
	memset(sub, 0, sizeof(*sub));
}

/* One FlowRecord as fields; addresses are given with their wire length. */
struct tb_rec {
	const uint8_t *src;
	size_t src_len;
	const uint8_t *dst;
	size_t dst_len;
	uint64_t src_port, dst_port, protocol, ip_version, tcp_flags;
	uint64_t packets_sent, packets_received, bytes_sent, bytes_received;
	uint64_t first_seen_ms, last_seen_ms;
	const char *interface; /* NULL: absent */
	const char *domain;
	const char *domain_raw; /* when set, domain_raw_len bytes (may hold NUL) */
	size_t domain_raw_len;
	const char *src_hostname; /* NULL: absent */
	const char *dst_hostname;
};

/* One DnsAnswer as fields. */
struct tb_ans {
	uint64_t type, ttl;
	const uint8_t *addr;
	size_t addr_len;
	const char *target; /* NULL: absent */
};

/* One DnsRecord as fields. */
struct tb_dns {
	uint64_t ts_ms, qtype, rcode, answered, latency_us, ip_version, client_port, server_port;
	const char *name; /* NULL: absent */
	const uint8_t *client;
	size_t client_len;
	const uint8_t *server;
	size_t server_len;
	struct tb_ans ans[WIRE_DNS_MAX_ANSWERS + 1];
	size_t nans;
};

struct tb_loss {
	int64_t reason;
	uint64_t packets;
};

struct tb_batch {
	const char *node, *boot_id, *agent_version;
	const char *node_raw; /* when set, node_raw_len bytes (may hold NUL) */
	size_t node_raw_len;
	uint64_t seq, window_start_ms, window_end_ms;
	uint64_t total_packets, total_bytes, active_connections;
	struct tb_loss lost[8];
	size_t nlost;
	struct tb_rec rec[2];
	size_t nrec;
	struct tb_dns dns[2];
	size_t ndns;
};

static const uint8_t tb_v4_src[4] = {10, 1, 2, 3};
static const uint8_t tb_v4_dst[4] = {93, 184, 216, 34};
static const uint8_t tb_v6_src[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t tb_v6_dst[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
static const uint8_t tb_v4_dns[4] = {10, 1, 0, 53};

/* A valid batch with one IPv4 record and one loss entry. */
static struct tb_batch tb_valid(void)
{
	struct tb_batch t = {
	    .node = "node-a",
	    .boot_id = "2b0c6c4e-6f1e-4a33-9a43-0d1c9b1f4a10",
	    .agent_version = "0.1.0",
	    .seq = 7,
	    .window_start_ms = 1700000000000ull,
	    .window_end_ms = 1700000010000ull,
	    .total_packets = 1000,
	    .total_bytes = 100000,
	    .active_connections = 3,
	    .lost = {{2, 5}},
	    .nlost = 1,
	    .nrec = 1,
	};
	struct tb_rec r = {
	    .src = tb_v4_src,
	    .src_len = 4,
	    .dst = tb_v4_dst,
	    .dst_len = 4,
	    .src_port = 51234,
	    .dst_port = 443,
	    .protocol = 6,
	    .ip_version = 4,
	    .tcp_flags = 0x1b,
	    .packets_sent = 10,
	    .packets_received = 8,
	    .bytes_sent = 1000,
	    .bytes_received = 9000,
	    .first_seen_ms = 1699999990000ull,
	    .last_seen_ms = 1700000009000ull,
	    .interface = "eth0",
	    .domain = "example.com",
	    .src_hostname = "laptop.lan",
	    .dst_hostname = "edge-1.example.net",
	};
	struct tb_dns d = {
	    .ts_ms = 1700000001000ull,
	    .name = "example.com",
	    .qtype = 1,
	    .rcode = 0,
	    .answered = 1,
	    .latency_us = 1500,
	    .ip_version = 4,
	    .client = tb_v4_src,
	    .client_len = 4,
	    .server = tb_v4_dns,
	    .server_len = 4,
	    .client_port = 40123,
	    .server_port = 53,
	    .ans = {{.type = 5, .ttl = 60, .target = "edge.example.net"},
		    {.type = 1, .ttl = 300, .addr = tb_v4_dst, .addr_len = 4}},
	    .nans = 2,
	};

	t.rec[0] = r;
	t.dns[0] = d;
	t.ndns = 1;
	return t;
}

static void tb_encode_rec(struct pb *p, const struct tb_rec *r)
{
	pb_bytes(p, 1, r->src, r->src_len);
	pb_bytes(p, 2, r->dst, r->dst_len);
	pb_uint(p, 3, r->src_port);
	pb_uint(p, 4, r->dst_port);
	pb_uint(p, 5, r->protocol);
	pb_uint(p, 6, r->ip_version);
	pb_uint(p, 7, r->tcp_flags);
	pb_uint(p, 8, r->packets_sent);
	pb_uint(p, 9, r->packets_received);
	pb_uint(p, 10, r->bytes_sent);
	pb_uint(p, 11, r->bytes_received);
	pb_uint(p, 12, r->first_seen_ms);
	pb_uint(p, 13, r->last_seen_ms);
	pb_str(p, 14, r->interface);
	if (r->domain_raw != NULL)
		pb_bytes(p, 15, r->domain_raw, r->domain_raw_len);
	else
		pb_str(p, 15, r->domain);
	pb_str(p, 16, r->src_hostname);
	pb_str(p, 17, r->dst_hostname);
}

static void tb_encode_dns(struct pb *p, const struct tb_dns *d)
{
	struct pb sub = {0};
	size_t j;

	pb_uint(p, 1, d->ts_ms);
	pb_str(p, 2, d->name);
	pb_uint(p, 3, d->qtype);
	pb_uint(p, 4, d->rcode);
	pb_uint(p, 5, d->answered);
	pb_uint(p, 6, d->latency_us);
	pb_uint(p, 7, d->ip_version);
	pb_bytes(p, 8, d->client, d->client_len);
	pb_bytes(p, 9, d->server, d->server_len);
	pb_uint(p, 10, d->client_port);
	pb_uint(p, 11, d->server_port);
	for (j = 0; j < d->nans; j++) {
		pb_uint(&sub, 1, d->ans[j].type);
		pb_uint(&sub, 2, d->ans[j].ttl);
		if (d->ans[j].addr_len > 0)
			pb_bytes(&sub, 3, d->ans[j].addr, d->ans[j].addr_len);
		pb_str(&sub, 4, d->ans[j].target);
		pb_sub(p, 12, &sub);
	}
}

/* Encodes t into p (p->data is malloc'd; the caller frees it). */
static void tb_encode(struct pb *p, const struct tb_batch *t)
{
	struct pb sub = {0};
	size_t i;

	memset(p, 0, sizeof(*p));
	if (t->node_raw != NULL)
		pb_bytes(p, 1, t->node_raw, t->node_raw_len);
	else
		pb_str(p, 1, t->node);
	pb_str(p, 2, t->boot_id);
	pb_str(p, 3, t->agent_version);
	pb_uint(p, 4, t->seq);
	pb_uint(p, 5, t->window_start_ms);
	pb_uint(p, 6, t->window_end_ms);
	pb_uint(&sub, 1, t->total_packets);
	pb_uint(&sub, 2, t->total_bytes);
	pb_uint(&sub, 3, t->active_connections);
	pb_sub(p, 7, &sub);
	for (i = 0; i < t->nlost; i++) {
		/* A negative enum is sent as a 10-byte varint, as proto3 does. */
		pb_uint(&sub, 1, (uint64_t)t->lost[i].reason);
		pb_uint(&sub, 2, t->lost[i].packets);
		pb_sub(p, 8, &sub);
	}
	for (i = 0; i < t->nrec; i++) {
		tb_encode_rec(&sub, &t->rec[i]);
		pb_sub(p, 9, &sub);
	}
	for (i = 0; i < t->ndns; i++) {
		tb_encode_dns(&sub, &t->dns[i]);
		pb_sub(p, 10, &sub);
	}
}

/* --- helpers --- */

static void test_v4_mapped(uint8_t out[16], const uint8_t v4[4])
{
	memset(out, 0, 16);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

/* Decodes buf and expects a rejection for reason with field named in the message; the
 * output batch must stay untouched. */
static void test_expect_reject(const uint8_t *buf, size_t len, enum wire_reject want,
			       const char *field)
{
	struct wire_batch b, before;
	enum wire_reject reason = WIRE_REJECT_NONE;
	char err[256] = "";
	int ret;

	memset(&b, 0x5a, sizeof(b));
	before = b;
	ret = wire_decode_batch(buf, len, &b, &reason, err, sizeof(err));
	if (!CHECK_EQ_INT(ret, -EINVAL)) {
		fprintf(stderr, "    (expected %s on %s)\n", wire_reject_name(want), field);
		if (ret == 0)
			wire_batch_fini(&b);
		return;
	}
	if (!CHECK_EQ_STR(wire_reject_name(reason), wire_reject_name(want)))
		fprintf(stderr, "    (message: %s)\n", err);
	CHECK_CONTAINS(err, field);
	CHECK(memcmp(&b, &before, sizeof(b)) == 0);
}

static void test_expect_tb_reject(const struct tb_batch *t, enum wire_reject want,
				  const char *field)
{
	struct pb p;

	tb_encode(&p, t);
	test_expect_reject(p.data, p.len, want, field);
	free(p.data);
}

/* The DNS records of test_full_batch (one batch at a time uses them). */
static struct wire_dns test_dns[3];

/* A batch of two records and three DNS records, every field set (IPv4 and IPv6). */
static void test_full_batch(struct wire_batch *b, struct wire_record recs[2])
{
	static const uint8_t v6_src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					   0,	 0,    0,    0,	   0, 0, 0, 0x01};
	static const uint8_t v6_dst[16] = {0xfe, 0x80, 0,    0,	   0,	 0,    0,    0,
					   0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55};
	size_t i;

	memset(b, 0, sizeof(*b));
	memset(recs, 0, 2 * sizeof(recs[0]));
	strcpy(b->node, "worker-1.cluster.local");
	strcpy(b->boot_id, "2b0c6c4e-6f1e-4a33-9a43-0d1c9b1f4a10");
	strcpy(b->agent_version, "0.1.0-rc1");
	b->seq = 42;
	b->window_start_ms = 1700000000000ull;
	b->window_end_ms = 1700000010000ull;
	b->total_packets = 123456789;
	b->total_bytes = 98765432100ull;
	b->active_connections = 77;
	for (i = 0; i < WIRE_LOSS_MAX; i++)
		b->lost[i] = 100 + i;

	test_v4_mapped(recs[0].src_addr, tb_v4_src);
	test_v4_mapped(recs[0].dst_addr, tb_v4_dst);
	recs[0].src_port = 51234;
	recs[0].dst_port = 443;
	recs[0].proto = 6;
	recs[0].ip_version = 4;
	recs[0].tcp_flags = 0x1b;
	recs[0].packets_sent = 10;
	recs[0].packets_received = 8;
	recs[0].bytes_sent = 1234;
	recs[0].bytes_received = 9876;
	recs[0].first_seen_ms = 1699999990000ull;
	recs[0].last_seen_ms = 1700000009999ull;
	strcpy(recs[0].interface, "eth0");
	strcpy(recs[0].domain, "example.com");

	memcpy(recs[1].src_addr, v6_src, 16);
	memcpy(recs[1].dst_addr, v6_dst, 16);
	recs[1].src_port = 40000;
	recs[1].dst_port = 53;
	recs[1].proto = 17;
	recs[1].ip_version = 6;
	recs[1].tcp_flags = 0;
	recs[1].packets_sent = 1;
	recs[1].packets_received = 1;
	recs[1].bytes_sent = 80;
	recs[1].bytes_received = 200;
	recs[1].first_seen_ms = 1700000001000ull;
	recs[1].last_seen_ms = 1700000001000ull;
	strcpy(recs[1].interface, "vethabcdef12345");
	strcpy(recs[1].domain, "b\xc3\xbc"
			       "cher.example"); /* UTF-8 is allowed */
	strcpy(recs[0].src_hostname, "laptop.lan");
	strcpy(recs[0].dst_hostname, "edge-1.example.net");
	strcpy(recs[1].dst_hostname, "router.local"); /* src unknown: "" */

	b->nrecords = 2;
	b->records = recs;

	/* An A query answered through a CNAME, an AAAA query over IPv6, an unanswered one. */
	memset(test_dns, 0, sizeof(test_dns));
	test_dns[0].ts_ms = 1700000001000ull;
	strcpy(test_dns[0].name, "www.example.com");
	test_dns[0].qtype = 1;
	test_dns[0].rcode = 0;
	test_dns[0].answered = 1;
	test_dns[0].latency_us = 1500;
	test_dns[0].ip_version = 4;
	test_v4_mapped(test_dns[0].client_addr, tb_v4_src);
	test_v4_mapped(test_dns[0].server_addr, tb_v4_dns);
	test_dns[0].client_port = 40123;
	test_dns[0].server_port = 53;
	test_dns[0].nanswers = 3;
	test_dns[0].answers[0].type = 5;
	test_dns[0].answers[0].ttl = 60;
	strcpy(test_dns[0].answers[0].target, "edge.example.net");
	test_dns[0].answers[1].type = 1;
	test_dns[0].answers[1].ttl = 300;
	test_v4_mapped(test_dns[0].answers[1].addr, tb_v4_dst);
	test_dns[0].answers[2].type = 1;
	test_dns[0].answers[2].ttl = 0;
	test_v4_mapped(test_dns[0].answers[2].addr, tb_v4_src);

	test_dns[1].ts_ms = 1700000002000ull;
	strcpy(test_dns[1].name, "ipv6.example.org");
	test_dns[1].qtype = 28;
	test_dns[1].rcode = 3; /* NXDOMAIN */
	test_dns[1].answered = 1;
	test_dns[1].latency_us = 250;
	test_dns[1].ip_version = 6;
	memcpy(test_dns[1].client_addr, v6_src, 16);
	memcpy(test_dns[1].server_addr, v6_dst, 16);
	test_dns[1].client_port = 5353;
	test_dns[1].server_port = 53;
	test_dns[1].nanswers = 1;
	test_dns[1].answers[0].type = 28;
	test_dns[1].answers[0].ttl = 3600;
	memcpy(test_dns[1].answers[0].addr, v6_dst, 16);

	test_dns[2].ts_ms = 1700000003000ull;
	strcpy(test_dns[2].name, "lost.example");
	test_dns[2].qtype = 16;
	test_dns[2].ip_version = 4;
	test_v4_mapped(test_dns[2].client_addr, tb_v4_src);
	test_v4_mapped(test_dns[2].server_addr, tb_v4_dns);
	test_dns[2].client_port = 1;
	test_dns[2].server_port = 53;

	b->ndns = 3;
	b->dns = test_dns;
}

static void test_same_record(const struct wire_record *got, const struct wire_record *want)
{
	CHECK(memcmp(got->src_addr, want->src_addr, 16) == 0);
	CHECK(memcmp(got->dst_addr, want->dst_addr, 16) == 0);
	CHECK_EQ_INT(got->src_port, want->src_port);
	CHECK_EQ_INT(got->dst_port, want->dst_port);
	CHECK_EQ_INT(got->proto, want->proto);
	CHECK_EQ_INT(got->ip_version, want->ip_version);
	CHECK_EQ_INT(got->tcp_flags, want->tcp_flags);
	CHECK_EQ_U64(got->packets_sent, want->packets_sent);
	CHECK_EQ_U64(got->packets_received, want->packets_received);
	CHECK_EQ_U64(got->bytes_sent, want->bytes_sent);
	CHECK_EQ_U64(got->bytes_received, want->bytes_received);
	CHECK_EQ_U64(got->first_seen_ms, want->first_seen_ms);
	CHECK_EQ_U64(got->last_seen_ms, want->last_seen_ms);
	CHECK_EQ_STR(got->interface, want->interface);
	CHECK_EQ_STR(got->domain, want->domain);
	CHECK_EQ_STR(got->src_hostname, want->src_hostname);
	CHECK_EQ_STR(got->dst_hostname, want->dst_hostname);
}

static void test_same_dns(const struct wire_dns *got, const struct wire_dns *want)
{
	size_t j;

	CHECK_EQ_U64(got->ts_ms, want->ts_ms);
	CHECK_EQ_STR(got->name, want->name);
	CHECK_EQ_INT(got->qtype, want->qtype);
	CHECK_EQ_INT(got->rcode, want->rcode);
	CHECK_EQ_INT(got->answered, want->answered);
	CHECK_EQ_U64(got->latency_us, want->latency_us);
	CHECK_EQ_INT(got->ip_version, want->ip_version);
	CHECK(memcmp(got->client_addr, want->client_addr, 16) == 0);
	CHECK(memcmp(got->server_addr, want->server_addr, 16) == 0);
	CHECK_EQ_INT(got->client_port, want->client_port);
	CHECK_EQ_INT(got->server_port, want->server_port);
	if (!CHECK_EQ_U64(got->nanswers, want->nanswers))
		return;
	for (j = 0; j < got->nanswers; j++) {
		CHECK_EQ_INT(got->answers[j].type, want->answers[j].type);
		CHECK_EQ_U64(got->answers[j].ttl, want->answers[j].ttl);
		CHECK(memcmp(got->answers[j].addr, want->answers[j].addr, 16) == 0);
		CHECK_EQ_STR(got->answers[j].target, want->answers[j].target);
	}
}

static void test_same_batch(const struct wire_batch *got, const struct wire_batch *want)
{
	size_t i;

	CHECK_EQ_STR(got->node, want->node);
	CHECK_EQ_STR(got->boot_id, want->boot_id);
	CHECK_EQ_STR(got->agent_version, want->agent_version);
	CHECK_EQ_U64(got->seq, want->seq);
	CHECK_EQ_U64(got->window_start_ms, want->window_start_ms);
	CHECK_EQ_U64(got->window_end_ms, want->window_end_ms);
	CHECK_EQ_U64(got->total_packets, want->total_packets);
	CHECK_EQ_U64(got->total_bytes, want->total_bytes);
	CHECK_EQ_U64(got->active_connections, want->active_connections);
	for (i = 0; i < WIRE_LOSS_MAX; i++)
		CHECK_EQ_U64(got->lost[i], want->lost[i]);
	if (!CHECK_EQ_U64(got->nrecords, want->nrecords))
		return;
	for (i = 0; i < got->nrecords; i++)
		test_same_record(&got->records[i], &want->records[i]);
	if (!CHECK_EQ_U64(got->ndns, want->ndns))
		return;
	for (i = 0; i < got->ndns; i++)
		test_same_dns(&got->dns[i], &want->dns[i]);
}

/* Encodes b, decodes it back and compares. */
static void test_round_trip(const struct wire_batch *b)
{
	struct wire_batch got;
	enum wire_reject reason = WIRE_REJECT_MAX;
	char err[256] = "x";
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	ret = wire_encode_batch(b, &buf, &len);
	if (!CHECK_EQ_INT(ret, 0))
		return;
	CHECK(len > 0 && len <= WIRE_MAX_BATCH_BYTES);
	ret = wire_decode_batch(buf, len, &got, &reason, err, sizeof(err));
	free(buf);
	if (!CHECK_EQ_INT(ret, 0)) {
		fprintf(stderr, "    (%s: %s)\n", wire_reject_name(reason), err);
		return;
	}
	CHECK_EQ_INT(reason, WIRE_REJECT_NONE);
	CHECK_EQ_STR(err, "");
	test_same_batch(&got, b);
	wire_batch_fini(&got);
	CHECK(got.records == NULL && got.nrecords == 0);
	CHECK(got.dns == NULL && got.ndns == 0);
}

/* --- round trips --- */

static void test_round_trip_ipv4_and_ipv6_every_field(void)
{
	struct wire_record recs[2];
	struct wire_batch b;

	test_full_batch(&b, recs);
	test_round_trip(&b);
}

static void test_ipv4_sent_as_4_bytes(void)
{
	struct tb_batch t = tb_valid();
	struct wire_record rec[2];
	struct wire_batch b, got;
	enum wire_reject reason;
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[256];
	struct pb p;

	/* A hand-written encoding with 4-byte IPv4 addresses decodes to the mapped form. */
	tb_encode(&p, &t);
	CHECK_EQ_INT(wire_decode_batch(p.data, p.len, &got, &reason, err, sizeof(err)), 0);
	free(p.data);
	if (got.nrecords == 1) {
		uint8_t want[16];

		test_v4_mapped(want, tb_v4_src);
		CHECK(memcmp(got.records[0].src_addr, want, 16) == 0);
		test_v4_mapped(want, tb_v4_dst);
		CHECK(memcmp(got.records[0].dst_addr, want, 16) == 0);
		CHECK_EQ_U64(got.lost[WIRE_LOSS_IPV6_DISABLED], 0);
		CHECK_EQ_U64(got.lost[WIRE_LOSS_FLOW_MAP_FULL], 5);
	}
	wire_batch_fini(&got);

	/* And the encoder sends IPv4 addresses as 4 bytes, not in the mapped form. */
	test_full_batch(&b, rec);
	b.records = &rec[0];
	b.nrecords = 1;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), 0);
	CHECK(buf != NULL && memmem(buf, len, tb_v4_src, 4) != NULL);
	CHECK(buf != NULL && memmem(buf, len, "\x00\x00\xff\xff", 4) == NULL);
	free(buf);
}

static void test_round_trip_extreme_values(void)
{
	struct wire_record rec;
	struct wire_batch b;
	size_t i;

	memset(&b, 0, sizeof(b));
	memset(&rec, 0, sizeof(rec));
	memset(b.node, 'n', WIRE_NAME_MAX);
	memset(b.boot_id, 'b', WIRE_BOOT_ID_MAX);
	memset(b.agent_version, 'v', WIRE_VERSION_MAX);
	b.seq = UINT64_MAX;
	b.window_start_ms = UINT64_MAX - 24ull * 3600 * 1000;
	b.window_end_ms = UINT64_MAX;
	b.total_packets = UINT64_MAX;
	b.total_bytes = UINT64_MAX;
	b.active_connections = UINT64_MAX;
	for (i = 0; i < WIRE_LOSS_MAX; i++)
		b.lost[i] = UINT64_MAX - i;
	memset(rec.src_addr, 0xff, 16);
	memset(rec.dst_addr, 0, 16);
	rec.src_port = 65535;
	rec.dst_port = 65535;
	rec.proto = 255;
	rec.ip_version = 6;
	rec.tcp_flags = 0xff;
	rec.packets_sent = UINT64_MAX / 20;
	rec.packets_received = UINT64_MAX / 20;
	rec.bytes_sent = UINT64_MAX;
	rec.bytes_received = UINT64_MAX / 20 * 20; /* exactly 20 bytes per packet */
	rec.first_seen_ms = UINT64_MAX;
	rec.last_seen_ms = UINT64_MAX;
	memset(rec.interface, 'i', WIRE_IFNAME_MAX - 1);
	memset(rec.domain, 'd', WIRE_NAME_MAX);
	b.records = &rec;
	b.nrecords = 1;
	test_round_trip(&b);

	/* Zero ports with ports-less protocols, and ports with any protocol, are fine. */
	rec.proto = 1;
	rec.src_port = 0;
	rec.dst_port = 0;
	test_round_trip(&b);
	rec.proto = 47;
	rec.src_port = 1;
	rec.dst_port = 2;
	test_round_trip(&b);
}

static void test_empty_batch_is_valid(void)
{
	struct wire_batch b, got;
	enum wire_reject reason;
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[128];

	memset(&b, 0, sizeof(b));
	strcpy(b.node, "n");
	strcpy(b.boot_id, "b");
	b.seq = 1;
	b.window_start_ms = 1;
	b.window_end_ms = 2;
	test_round_trip(&b);

	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), 0);
	CHECK_EQ_INT(wire_decode_batch(buf, len, &got, &reason, err, sizeof(err)), 0);
	CHECK_EQ_U64(got.nrecords, 0);
	CHECK(got.records == NULL);
	CHECK_EQ_STR(got.agent_version, "");
	wire_batch_fini(&got);
	free(buf);
	wire_batch_fini(NULL);
}

static void test_unknown_fields_are_ignored(void)
{
	struct wire_batch got;
	enum wire_reject reason;
	struct tb_batch t = tb_valid();
	char err[128];
	struct pb p;

	/* A newer node may send fields this collector does not know (field 11 and up). */
	tb_encode(&p, &t);
	pb_bytes(&p, 11, "future", 6);
	pb_uint(&p, 99, 12345);
	CHECK_EQ_INT(wire_decode_batch(p.data, p.len, &got, &reason, err, sizeof(err)), 0);
	CHECK_EQ_U64(got.nrecords, 1);
	wire_batch_fini(&got);
	free(p.data);
}

static void test_ack_round_trips(void)
{
	struct wire_ack acks[3], got;
	uint8_t *buf;
	size_t len, i;

	memset(acks, 0, sizeof(acks));
	acks[0].seq = 1;
	acks[0].ok = 1;
	acks[1].seq = UINT64_MAX;
	acks[1].ok = 1;
	acks[1].duplicate = 1;
	acks[2].seq = 99;
	acks[2].ok = 0;
	acks[2].reason = WIRE_REJECT_BAD_ADDRESS;
	strcpy(acks[2].message, "records[3].src_addr: 5 bytes, want 4 for ip_version 4");
	for (i = 0; i < 3; i++) {
		buf = NULL;
		if (!CHECK_EQ_INT(wire_encode_ack(&acks[i], &buf, &len), 0))
			continue;
		memset(&got, 0x5a, sizeof(got));
		CHECK_EQ_INT(wire_decode_ack(buf, len, &got), 0);
		CHECK_EQ_U64(got.seq, acks[i].seq);
		CHECK_EQ_INT(got.ok, acks[i].ok);
		CHECK_EQ_INT(got.duplicate, acks[i].duplicate);
		CHECK_EQ_INT(got.reason, acks[i].reason);
		CHECK_EQ_STR(got.message, acks[i].message);
		free(buf);
	}

	/* A rejection with the longest message, and every reason. */
	memset(&acks[0], 0, sizeof(acks[0]));
	memset(acks[0].message, 'm', sizeof(acks[0].message) - 1);
	for (i = 0; i < WIRE_REJECT_MAX; i++) {
		acks[0].reason = (enum wire_reject)i;
		buf = NULL;
		if (!CHECK_EQ_INT(wire_encode_ack(&acks[0], &buf, &len), 0))
			continue;
		CHECK_EQ_INT(wire_decode_ack(buf, len, &got), 0);
		CHECK_EQ_INT(got.reason, (int)i);
		CHECK_EQ_STR(got.message, acks[0].message);
		free(buf);
	}
}

static void test_ack_rejects_bad_input(void)
{
	struct wire_ack a, got, before;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct pb p = {0};
	char big[300];

	memset(&a, 0, sizeof(a));
	a.reason = WIRE_REJECT_MAX;
	CHECK_EQ_INT(wire_encode_ack(&a, &buf, &len), -EINVAL);
	a.reason = WIRE_REJECT_NONE;
	memset(a.message, 'x', sizeof(a.message)); /* not terminated */
	CHECK_EQ_INT(wire_encode_ack(&a, &buf, &len), -EINVAL);

	memset(&got, 0x5a, sizeof(got));
	before = got;
	/* Not protobuf: a length running past the end. */
	CHECK_EQ_INT(wire_decode_ack((const uint8_t *)"\x2a\x10x", 3, &got), -EINVAL);
	/* Unknown reason. */
	pb_uint(&p, 4, WIRE_REJECT_MAX);
	CHECK_EQ_INT(wire_decode_ack(p.data, p.len, &got), -EINVAL);
	free(p.data);
	memset(&p, 0, sizeof(p));
	/* Message too long, and with a control character. */
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	pb_str(&p, 5, big);
	CHECK_EQ_INT(wire_decode_ack(p.data, p.len, &got), -EINVAL);
	free(p.data);
	memset(&p, 0, sizeof(p));
	pb_str(&p, 5, "line\nbreak");
	CHECK_EQ_INT(wire_decode_ack(p.data, p.len, &got), -EINVAL);
	free(p.data);
	CHECK(memcmp(&got, &before, sizeof(got)) == 0);

	/* An empty ack is seq 0, not ok. */
	CHECK_EQ_INT(wire_decode_ack((const uint8_t *)"", 0, &got), 0);
	CHECK_EQ_U64(got.seq, 0);
	CHECK_EQ_INT(got.ok, 0);
	CHECK_EQ_STR(got.message, "");
}

static void test_names(void)
{
	CHECK_EQ_STR(wire_loss_name(WIRE_LOSS_UNPARSABLE), "unparsable");
	CHECK_EQ_STR(wire_loss_name(WIRE_LOSS_FLOW_MAP_FULL), "flow_map_full");
	CHECK_EQ_STR(wire_loss_name(WIRE_LOSS_IPV6_DISABLED), "ipv6_disabled");
	CHECK_EQ_STR(wire_loss_name(WIRE_LOSS_EXPORT_SPOOL_FULL), "export_spool_full");
	CHECK_EQ_STR(wire_loss_name(WIRE_LOSS_COLLECTOR_REJECTED), "collector_rejected");
	CHECK_EQ_STR(wire_loss_name(WIRE_LOSS_PAYLOAD_RINGBUF_FULL), "payload_ringbuf_full");
	CHECK_EQ_STR(wire_loss_name(WIRE_LOSS_MAX), "unknown");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_NONE), "none");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_DECODE), "decode");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_TOO_LARGE), "too_large");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_MISSING_FIELD), "missing_field");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_BAD_WINDOW), "bad_window");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_BAD_ADDRESS), "bad_address");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_BAD_ENUM), "bad_enum");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_BAD_STRING), "bad_string");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_BAD_RECORD), "bad_record");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_STORE), "store");
	CHECK_EQ_STR(wire_reject_name(WIRE_REJECT_MAX), "unknown");
}

/* --- encoder refusals --- */

static void test_encode_rejects_obviously_wrong(void)
{
	struct wire_record recs[2];
	struct wire_batch b;
	uint8_t *buf = NULL;
	size_t len = 0;

	test_full_batch(&b, recs);
	recs[1].ip_version = 5;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	recs[1].ip_version = 0;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);

	test_full_batch(&b, recs);
	recs[0].src_addr[0] = 1; /* ip_version 4 but not ::ffff:a.b.c.d */
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);

	test_full_batch(&b, recs);
	memset(recs[0].interface, 'x', sizeof(recs[0].interface)); /* not terminated */
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);

	test_full_batch(&b, recs);
	memset(b.node, 'x', sizeof(b.node));
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);

	test_full_batch(&b, recs);
	b.records = NULL;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	CHECK(buf == NULL);
}

/* --- validation rules, one by one --- */

static void test_rejects_missing_fields(void)
{
	struct tb_batch t;

	t = tb_valid();
	t.node = NULL;
	test_expect_tb_reject(&t, WIRE_REJECT_MISSING_FIELD, "node");
	t = tb_valid();
	t.node = "";
	test_expect_tb_reject(&t, WIRE_REJECT_MISSING_FIELD, "node");
	t = tb_valid();
	t.boot_id = NULL;
	test_expect_tb_reject(&t, WIRE_REJECT_MISSING_FIELD, "boot_id");
	t = tb_valid();
	t.seq = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_MISSING_FIELD, "seq");
	t = tb_valid();
	t.window_start_ms = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_MISSING_FIELD, "window_start_ms");
	/* Zero bytes are not a FlowBatch with a node. */
	test_expect_reject((const uint8_t *)"", 0, WIRE_REJECT_MISSING_FIELD, "node");
}

static void test_rejects_bad_window(void)
{
	struct tb_batch t;

	t = tb_valid();
	t.window_end_ms = t.window_start_ms;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_WINDOW, "window_end_ms");
	t = tb_valid();
	t.window_end_ms = t.window_start_ms - 1;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_WINDOW, "window_start_ms");
	t = tb_valid();
	t.window_end_ms = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_WINDOW, "window_end_ms");
	t = tb_valid();
	t.window_end_ms = t.window_start_ms + 24ull * 3600 * 1000 + 1;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_WINDOW, "window_end_ms");
}

static void test_rejects_bad_addresses(void)
{
	static const uint8_t five[5] = {1, 2, 3, 4, 5};
	struct tb_batch t;

	t = tb_valid();
	t.rec[0].src = five;
	t.rec[0].src_len = 5;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "records[0].src_addr");
	t = tb_valid();
	t.rec[0].src_len = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "records[0].src_addr");
	t = tb_valid();
	t.rec[0].dst = tb_v6_dst; /* 16 bytes with ip_version 4 */
	t.rec[0].dst_len = 16;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "records[0].dst_addr");
	t = tb_valid();
	t.rec[0].ip_version = 6; /* 4 bytes with ip_version 6 */
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "records[0].src_addr");
	t = tb_valid();
	t.rec[0].ip_version = 5;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "records[0].ip_version");
	t = tb_valid();
	t.rec[0].ip_version = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "records[0].ip_version");
	t = tb_valid();
	t.rec[0].ip_version = 4 + (1ull << 32); /* truncated to 4 by a careless decoder */
	t.rec[0].src = tb_v6_src;
	t.rec[0].src_len = 16;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "records[0]");

	/* The record index is named: the second record is the bad one. */
	t = tb_valid();
	t.rec[1] = t.rec[0];
	t.rec[1].dst = tb_v6_dst;
	t.rec[1].dst_len = 16;
	t.rec[1].ip_version = 6;
	t.rec[1].src = tb_v6_src;
	t.rec[1].src_len = 15;
	t.nrec = 2;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "records[1].src_addr");
	t.rec[1].src_len = 16;
	{
		struct wire_batch got;
		enum wire_reject reason;
		char err[128];
		struct pb p;

		tb_encode(&p, &t);
		CHECK_EQ_INT(wire_decode_batch(p.data, p.len, &got, &reason, err, sizeof(err)), 0);
		CHECK_EQ_U64(got.nrecords, 2);
		if (got.nrecords == 2)
			CHECK(memcmp(got.records[1].src_addr, tb_v6_src, 16) == 0);
		wire_batch_fini(&got);
		free(p.data);
	}
}

static void test_rejects_bad_record_values(void)
{
	struct tb_batch t;

	t = tb_valid();
	t.rec[0].src_port = 65536;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "records[0].src_port");
	t = tb_valid();
	t.rec[0].dst_port = 70000;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "records[0].dst_port");
	t = tb_valid();
	t.rec[0].protocol = 256;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "records[0].protocol");
	t = tb_valid();
	t.rec[0].tcp_flags = 0x100;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "records[0].tcp_flags");
	t = tb_valid();
	t.rec[0].last_seen_ms = t.rec[0].first_seen_ms - 1;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "records[0].last_seen_ms");
	t = tb_valid();
	t.rec[0].bytes_sent = 20 * t.rec[0].packets_sent - 1;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "records[0].bytes_sent");
	t = tb_valid();
	t.rec[0].bytes_received = 20 * t.rec[0].packets_received - 1;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "records[0].bytes_received");
	t = tb_valid();
	t.rec[0].packets_received = UINT64_MAX; /* 20 * packets overflows */
	t.rec[0].bytes_received = UINT64_MAX;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "records[0].bytes_received");

	/* Exactly 20 bytes per packet, and ports on a port-less protocol, are accepted. */
	t = tb_valid();
	t.rec[0].bytes_sent = 20 * t.rec[0].packets_sent;
	t.rec[0].protocol = 1;
	{
		struct wire_batch got;
		enum wire_reject reason;
		char err[128];
		struct pb p;

		tb_encode(&p, &t);
		CHECK_EQ_INT(wire_decode_batch(p.data, p.len, &got, &reason, err, sizeof(err)), 0);
		if (got.nrecords == 1) {
			CHECK_EQ_INT(got.records[0].src_port, 51234);
			CHECK_EQ_INT(got.records[0].proto, 1);
		}
		wire_batch_fini(&got);
		free(p.data);
	}
}

static void test_rejects_bad_loss_reasons(void)
{
	struct tb_batch t;

	t = tb_valid();
	t.lost[0].reason = 0; /* UNSPECIFIED */
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ENUM, "lost[0].reason");
	t = tb_valid();
	t.lost[0].reason = WIRE_LOSS_MAX + 1;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ENUM, "lost[0].reason");
	t = tb_valid();
	t.lost[0].reason = -1;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ENUM, "lost[0].reason");
	t = tb_valid();
	t.lost[1] = t.lost[0];
	t.lost[2] = t.lost[0];
	t.lost[1].reason = 1;
	t.nlost = 3;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ENUM, "lost[2].reason");
}

static void test_rejects_bad_strings(void)
{
	char s[400];
	struct tb_batch t;

	/* Too long, one past each limit. */
	memset(s, 'a', sizeof(s));
	s[WIRE_NAME_MAX + 1] = '\0';
	t = tb_valid();
	t.node = s;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "node");
	t = tb_valid();
	t.rec[0].domain = s;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].domain");
	s[WIRE_NAME_MAX + 1] = 'a';
	s[WIRE_BOOT_ID_MAX + 1] = '\0';
	t = tb_valid();
	t.boot_id = s;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "boot_id");
	s[WIRE_BOOT_ID_MAX + 1] = 'a';
	s[WIRE_VERSION_MAX + 1] = '\0';
	t = tb_valid();
	t.agent_version = s;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "agent_version");
	s[WIRE_VERSION_MAX + 1] = 'a';
	s[WIRE_IFNAME_MAX] = '\0'; /* 16 bytes: IFNAMSIZ includes the NUL */
	t = tb_valid();
	t.rec[0].interface = s;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].interface");

	/* Not UTF-8: a lone continuation byte, an overlong '/', a surrogate, a cut sequence. */
	t = tb_valid();
	t.node = "node\x80";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "node");
	t = tb_valid();
	t.boot_id = "\xc0\xaf";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "boot_id");
	t = tb_valid();
	t.rec[0].domain = "\xed\xa0\x80.example";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].domain");
	t = tb_valid();
	t.agent_version = "1.0\xe2\x82";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "agent_version");
	t = tb_valid();
	t.rec[0].interface = "\xf5\x80\x80\x80";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].interface");

	/* Control characters, DEL, and a NUL inside the string. */
	t = tb_valid();
	t.node = "node\n";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "node");
	t = tb_valid();
	t.rec[0].domain = "exa\x7fmple.com";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].domain");
	t = tb_valid();
	t.rec[0].interface = "eth0\t";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].interface");
	t = tb_valid();
	t.node_raw = "ab\0cd";
	t.node_raw_len = 5;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "node");
	t = tb_valid();
	t.rec[0].domain_raw = "a.com\0";
	t.rec[0].domain_raw_len = 6;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].domain");
}

/* --- DNS records and host names --- */

static void test_round_trip_dns_extremes(void)
{
	struct wire_record rec;
	struct wire_dns d[2];
	struct wire_batch b;
	size_t j;

	memset(&b, 0, sizeof(b));
	memset(&rec, 0, sizeof(rec));
	memset(d, 0, sizeof(d));
	strcpy(b.node, "n");
	strcpy(b.boot_id, "b");
	b.seq = 1;
	b.window_start_ms = 1000;
	b.window_end_ms = 2000;
	test_v4_mapped(rec.src_addr, tb_v4_src);
	test_v4_mapped(rec.dst_addr, tb_v4_dst);
	rec.ip_version = 4;
	memset(rec.src_hostname, 's', WIRE_NAME_MAX);
	memset(rec.dst_hostname, 'd', WIRE_NAME_MAX);
	b.records = &rec;
	b.nrecords = 1;

	/* Every limit at once: the longest names, eight answers, the largest numbers. */
	d[0].ts_ms = UINT64_MAX;
	memset(d[0].name, 'q', WIRE_NAME_MAX);
	d[0].qtype = 65535;
	d[0].rcode = 15;
	d[0].answered = 1;
	d[0].latency_us = UINT32_MAX;
	d[0].ip_version = 6;
	memset(d[0].client_addr, 0xff, 16);
	memset(d[0].server_addr, 0, 16);
	d[0].client_port = 65535;
	d[0].server_port = 65535;
	d[0].nanswers = WIRE_DNS_MAX_ANSWERS;
	for (j = 0; j < WIRE_DNS_MAX_ANSWERS; j++) {
		struct wire_dns_answer *a = &d[0].answers[j];

		a->ttl = j == 0 ? UINT32_MAX : (uint32_t)j;
		if (j % 3 == 0) {
			a->type = 5;
			memset(a->target, 'a' + (int)j, WIRE_NAME_MAX);
		} else if (j % 3 == 1) {
			a->type = 1;
			test_v4_mapped(a->addr, tb_v4_dst);
			a->addr[15] = (uint8_t)j;
		} else {
			a->type = 28;
			memset(a->addr, (int)j, 16);
		}
	}
	/* The smallest: a query for the root (empty name), type 0, nothing else. */
	d[1].ts_ms = 1;
	d[1].ip_version = 4;
	test_v4_mapped(d[1].client_addr, tb_v4_src);
	test_v4_mapped(d[1].server_addr, tb_v4_dns);
	b.dns = d;
	b.ndns = 2;
	test_round_trip(&b);

	/* DNS records without flow records. */
	b.nrecords = 0;
	b.records = NULL;
	test_round_trip(&b);
}

static void test_dns_hand_encoded(void)
{
	struct tb_batch t = tb_valid();
	struct wire_batch got;
	enum wire_reject reason;
	char err[256];
	uint8_t want[16];
	struct pb p;

	tb_encode(&p, &t);
	if (!CHECK_EQ_INT(wire_decode_batch(p.data, p.len, &got, &reason, err, sizeof(err)), 0)) {
		fprintf(stderr, "    (%s)\n", err);
		free(p.data);
		return;
	}
	free(p.data);
	if (CHECK_EQ_U64(got.nrecords, 1)) {
		CHECK_EQ_STR(got.records[0].src_hostname, "laptop.lan");
		CHECK_EQ_STR(got.records[0].dst_hostname, "edge-1.example.net");
	}
	if (CHECK_EQ_U64(got.ndns, 1)) {
		const struct wire_dns *d = &got.dns[0];

		CHECK_EQ_U64(d->ts_ms, 1700000001000ull);
		CHECK_EQ_STR(d->name, "example.com");
		CHECK_EQ_INT(d->qtype, 1);
		CHECK_EQ_INT(d->rcode, 0);
		CHECK_EQ_INT(d->answered, 1);
		CHECK_EQ_U64(d->latency_us, 1500);
		CHECK_EQ_INT(d->ip_version, 4);
		test_v4_mapped(want, tb_v4_src);
		CHECK(memcmp(d->client_addr, want, 16) == 0);
		test_v4_mapped(want, tb_v4_dns);
		CHECK(memcmp(d->server_addr, want, 16) == 0);
		CHECK_EQ_INT(d->client_port, 40123);
		CHECK_EQ_INT(d->server_port, 53);
		if (CHECK_EQ_U64(d->nanswers, 2)) {
			CHECK_EQ_INT(d->answers[0].type, 5);
			CHECK_EQ_U64(d->answers[0].ttl, 60);
			CHECK_EQ_STR(d->answers[0].target, "edge.example.net");
			memset(want, 0, 16);
			CHECK(memcmp(d->answers[0].addr, want, 16) == 0);
			CHECK_EQ_INT(d->answers[1].type, 1);
			CHECK_EQ_U64(d->answers[1].ttl, 300);
			test_v4_mapped(want, tb_v4_dst);
			CHECK(memcmp(d->answers[1].addr, want, 16) == 0);
			CHECK_EQ_STR(d->answers[1].target, "");
		}
	}
	wire_batch_fini(&got);

	/* Absent host names decode as "". */
	t = tb_valid();
	t.rec[0].src_hostname = NULL;
	t.rec[0].dst_hostname = NULL;
	t.ndns = 0;
	tb_encode(&p, &t);
	CHECK_EQ_INT(wire_decode_batch(p.data, p.len, &got, &reason, err, sizeof(err)), 0);
	if (got.nrecords == 1) {
		CHECK_EQ_STR(got.records[0].src_hostname, "");
		CHECK_EQ_STR(got.records[0].dst_hostname, "");
	}
	CHECK(got.dns == NULL && got.ndns == 0);
	wire_batch_fini(&got);
	free(p.data);
}

static void test_rejects_bad_dns(void)
{
	static const uint8_t five[5] = {1, 2, 3, 4, 5};
	char s[400];
	struct tb_batch t;
	size_t j;

	/* addresses */
	t = tb_valid();
	t.dns[0].ip_version = 5;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].ip_version");
	t = tb_valid();
	t.dns[0].ip_version = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].ip_version");
	t = tb_valid();
	t.dns[0].ip_version = 6; /* 4-byte addresses */
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].client_addr");
	t = tb_valid();
	t.dns[0].client = five;
	t.dns[0].client_len = 5;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].client_addr");
	t = tb_valid();
	t.dns[0].server = tb_v6_dst;
	t.dns[0].server_len = 16;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].server_addr");
	t = tb_valid();
	t.dns[0].server_len = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].server_addr");

	/* numbers out of range */
	t = tb_valid();
	t.dns[0].ts_ms = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].ts_ms");
	t = tb_valid();
	t.dns[0].client_port = 65536;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].client_port");
	t = tb_valid();
	t.dns[0].server_port = 1u << 20;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].server_port");
	t = tb_valid();
	t.dns[0].qtype = 65536;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].qtype");
	t = tb_valid();
	t.dns[0].rcode = 16;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].rcode");

	/* no response: no rcode, latency or answers */
	t = tb_valid();
	t.dns[0].answered = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].answered");
	t = tb_valid();
	t.dns[0].answered = 0;
	t.dns[0].nans = 0;
	t.dns[0].rcode = 2;
	t.dns[0].latency_us = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].answered");
	t.dns[0].rcode = 0;
	t.dns[0].latency_us = 7;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].answered");

	/* more answers than the node ever sends */
	t = tb_valid();
	for (j = 0; j <= WIRE_DNS_MAX_ANSWERS; j++)
		t.dns[0].ans[j] = t.dns[0].ans[1];
	t.dns[0].nans = WIRE_DNS_MAX_ANSWERS + 1;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].answers: 9, at most 8");

	/* answers: type, address length by type, target by type */
	t = tb_valid();
	t.dns[0].ans[1].type = 15; /* MX is never sent */
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].answers[1].type");
	t = tb_valid();
	t.dns[0].ans[1].type = 0;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].answers[1].type");
	t = tb_valid();
	t.dns[0].ans[1].addr = tb_v6_dst; /* A with 16 bytes */
	t.dns[0].ans[1].addr_len = 16;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].answers[1].addr");
	t = tb_valid();
	t.dns[0].ans[1].type = 28; /* AAAA with 4 bytes */
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].answers[1].addr");
	t = tb_valid();
	t.dns[0].ans[1].addr_len = 0; /* A without an address */
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].answers[1].addr");
	t = tb_valid();
	t.dns[0].ans[1].target = "x.example"; /* A with a target */
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].answers[1].target");
	t = tb_valid();
	t.dns[0].ans[0].target = NULL; /* CNAME without a target */
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].answers[0].target");
	t = tb_valid();
	t.dns[0].ans[0].target = "";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[0].answers[0].target");
	t = tb_valid();
	t.dns[0].ans[0].addr = tb_v4_dst; /* CNAME with an address */
	t.dns[0].ans[0].addr_len = 4;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_ADDRESS, "dns[0].answers[0].addr");

	/* strings: too long, not UTF-8, control characters */
	memset(s, 'a', sizeof(s));
	s[WIRE_NAME_MAX + 1] = '\0';
	t = tb_valid();
	t.dns[0].name = s;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "dns[0].name");
	t = tb_valid();
	t.dns[0].ans[0].target = s;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "dns[0].answers[0].target");
	t = tb_valid();
	t.dns[0].name = "exa\xc0mple.com";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "dns[0].name");
	t = tb_valid();
	t.dns[0].name = "a\nb";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "dns[0].name");
	t = tb_valid();
	t.dns[0].ans[0].target = "edge\x1b[2J";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "dns[0].answers[0].target");
	t = tb_valid();
	t.rec[0].src_hostname = s;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].src_hostname");
	t = tb_valid();
	t.rec[0].dst_hostname = "host\x7f";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].dst_hostname");
	t = tb_valid();
	t.rec[0].dst_hostname = "\xed\xa0\x80.lan";
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_STRING, "records[0].dst_hostname");

	/* The index is named: the second DNS record is the bad one. */
	t = tb_valid();
	t.dns[1] = t.dns[0];
	t.dns[1].rcode = 99;
	t.ndns = 2;
	test_expect_tb_reject(&t, WIRE_REJECT_BAD_RECORD, "dns[1].rcode");
}

static void test_rejects_over_max_dns(void)
{
	struct wire_dns *d;
	struct wire_batch b, got;
	enum wire_reject reason;
	uint8_t *buf = NULL;
	size_t len = 0, i;
	char err[256];

	d = calloc(WIRE_MAX_DNS + 1, sizeof(*d));
	if (d == NULL)
		abort();
	memset(&b, 0, sizeof(b));
	strcpy(b.node, "n");
	strcpy(b.boot_id, "b");
	b.seq = 1;
	b.window_start_ms = 1000;
	b.window_end_ms = 2000;
	for (i = 0; i <= WIRE_MAX_DNS; i++) {
		d[i].ts_ms = 1000 + i;
		d[i].ip_version = 4;
		test_v4_mapped(d[i].client_addr, tb_v4_src);
		test_v4_mapped(d[i].server_addr, tb_v4_dns);
		snprintf(d[i].name, sizeof(d[i].name), "host-%zu.example.com", i);
		d[i].answered = 1;
		d[i].nanswers = WIRE_DNS_MAX_ANSWERS;
		for (size_t j = 0; j < WIRE_DNS_MAX_ANSWERS; j++) {
			d[i].answers[j].type = 5;
			memset(d[i].answers[j].target, 't', 100);
		}
	}
	b.dns = d;

	/* WIRE_MAX_DNS records with every answer slot used are accepted (at the longest
	 * names they would not fit in WIRE_MAX_BATCH_BYTES: the node splits such a window)... */
	b.ndns = WIRE_MAX_DNS;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), 0);
	CHECK(len <= WIRE_MAX_BATCH_BYTES);
	CHECK_EQ_INT(wire_decode_batch(buf, len, &got, &reason, err, sizeof(err)), 0);
	CHECK_EQ_U64(got.ndns, WIRE_MAX_DNS);
	wire_batch_fini(&got);
	free(buf);

	/* ... one more is not. */
	b.ndns = WIRE_MAX_DNS + 1;
	buf = NULL;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), 0);
	test_expect_reject(buf, len, WIRE_REJECT_TOO_LARGE, "dns: 2001, at most 2000");
	free(buf);
	free(d);
}

static void test_encode_rejects_bad_dns(void)
{
	struct wire_record recs[2];
	struct wire_batch b;
	uint8_t *buf = NULL;
	size_t len = 0;

	test_full_batch(&b, recs);
	test_dns[1].ip_version = 5;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	test_full_batch(&b, recs);
	test_dns[0].client_addr[0] = 1; /* ip_version 4 but not ::ffff:a.b.c.d */
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	test_full_batch(&b, recs);
	test_dns[0].answers[1].addr[0] = 1; /* an A answer not in the mapped form */
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	test_full_batch(&b, recs);
	test_dns[0].nanswers = WIRE_DNS_MAX_ANSWERS + 1;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	test_full_batch(&b, recs);
	memset(test_dns[2].name, 'x', sizeof(test_dns[2].name)); /* not terminated */
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	test_full_batch(&b, recs);
	memset(test_dns[0].answers[0].target, 'x', sizeof(test_dns[0].answers[0].target));
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	test_full_batch(&b, recs);
	memset(recs[0].dst_hostname, 'x', sizeof(recs[0].dst_hostname));
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	test_full_batch(&b, recs);
	b.dns = NULL;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), -EINVAL);
	CHECK(buf == NULL);
}

/* --- hostile input --- */

static void test_rejects_over_max_records(void)
{
	struct wire_record *recs;
	struct wire_batch b, got;
	enum wire_reject reason;
	uint8_t *buf = NULL;
	size_t len = 0, i;
	char err[256];

	recs = calloc(WIRE_MAX_RECORDS + 1, sizeof(*recs));
	if (recs == NULL)
		abort();
	memset(&b, 0, sizeof(b));
	strcpy(b.node, "n");
	strcpy(b.boot_id, "b");
	b.seq = 1;
	b.window_start_ms = 1000;
	b.window_end_ms = 2000;
	for (i = 0; i <= WIRE_MAX_RECORDS; i++) {
		test_v4_mapped(recs[i].src_addr, tb_v4_src);
		test_v4_mapped(recs[i].dst_addr, tb_v4_dst);
		recs[i].ip_version = 4;
		recs[i].proto = 17;
		recs[i].src_port = (uint16_t)i;
	}
	b.records = recs;

	/* WIRE_MAX_RECORDS is accepted... */
	b.nrecords = WIRE_MAX_RECORDS;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), 0);
	CHECK_EQ_INT(wire_decode_batch(buf, len, &got, &reason, err, sizeof(err)), 0);
	CHECK_EQ_U64(got.nrecords, WIRE_MAX_RECORDS);
	wire_batch_fini(&got);
	free(buf);

	/* ... one more is not. */
	b.nrecords = WIRE_MAX_RECORDS + 1;
	buf = NULL;
	CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), 0);
	test_expect_reject(buf, len, WIRE_REJECT_TOO_LARGE, "records");
	free(buf);
	free(recs);
}

static void test_rejects_over_max_bytes(void)
{
	struct tb_batch t = tb_valid();
	size_t pad;
	uint8_t *filler;
	struct pb p;

	filler = calloc(1, WIRE_MAX_BATCH_BYTES);
	if (filler == NULL)
		abort();
	/* A valid batch padded with an unknown field to one byte over the limit. */
	tb_encode(&p, &t);
	pad = WIRE_MAX_BATCH_BYTES + 1 - p.len - 1 - 4; /* tag 1 byte, length 4 bytes */
	pb_bytes(&p, 15, filler, pad);
	CHECK_EQ_U64(p.len, WIRE_MAX_BATCH_BYTES + 1);
	test_expect_reject(p.data, p.len, WIRE_REJECT_TOO_LARGE, "batch");
	/* At the limit exactly, it is fine. */
	{
		struct wire_batch got;
		enum wire_reject reason;
		char err[128];

		CHECK_EQ_INT(wire_decode_batch(p.data, p.len - 1, &got, &reason, err, sizeof(err)),
			     -EINVAL); /* the unknown field is cut: not protobuf */
		CHECK_EQ_INT(reason, WIRE_REJECT_DECODE);
		free(p.data);
		tb_encode(&p, &t);
		pb_bytes(&p, 15, filler, pad - 1);
		CHECK_EQ_U64(p.len, WIRE_MAX_BATCH_BYTES);
		CHECK_EQ_INT(wire_decode_batch(p.data, p.len, &got, &reason, err, sizeof(err)), 0);
		wire_batch_fini(&got);
	}
	free(p.data);

	/* Four megabytes of empty records would unpack into hundreds of megabytes. */
	memset(&p, 0, sizeof(p));
	while (p.len + 2 <= WIRE_MAX_BATCH_BYTES)
		pb_bytes(&p, 9, "", 0);
	test_expect_reject(p.data, p.len, WIRE_REJECT_TOO_LARGE, "memory");
	free(p.data);
	free(filler);
}

/* Decodes anything: it must either fail with a reason or succeed; never crash or leak. */
static void test_decode_anything(const uint8_t *buf, size_t len, int *ok, int *rejected)
{
	struct wire_batch got;
	struct wire_ack ack;
	enum wire_reject reason = WIRE_REJECT_NONE;
	char err[256] = "";
	int ret;

	ret = wire_decode_batch(buf, len, &got, &reason, err, sizeof(err));
	if (ret == 0) {
		(*ok)++;
		wire_batch_fini(&got);
	} else {
		(*rejected)++;
		if (!CHECK_EQ_INT(ret, -EINVAL) || !CHECK(reason != WIRE_REJECT_NONE) ||
		    !CHECK(err[0] != '\0'))
			fprintf(stderr, "    (len %zu)\n", len);
	}
	ret = wire_decode_ack(buf, len, &ack);
	CHECK(ret == 0 || ret == -EINVAL);
}

static void test_truncations_never_crash(void)
{
	struct wire_record recs[2];
	struct wire_batch b;
	uint8_t *buf = NULL, *copy;
	size_t len = 0, n;
	int ok = 0, rejected = 0;

	test_full_batch(&b, recs);
	if (!CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), 0))
		return;
	for (n = 0; n < len; n++) {
		/* An exact-size copy, so that ASan sees any read past the end. */
		copy = malloc(n ? n : 1);
		if (copy == NULL)
			abort();
		memcpy(copy, buf, n);
		test_decode_anything(copy, n, &ok, &rejected);
		free(copy);
	}
	CHECK(rejected > 0);
	CHECK_EQ_INT(ok + rejected, (int)len);
	free(buf);
}

static uint64_t test_rand_state = 0x9e3779b97f4a7c15ull;

static uint64_t test_rand(void)
{
	uint64_t x = test_rand_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	test_rand_state = x;
	return x;
}

static void test_random_bytes_never_crash(void)
{
	struct wire_record recs[2];
	struct wire_batch b;
	uint8_t *buf = NULL, *copy;
	size_t len = 0, n, i;
	int ok = 0, rejected = 0, round;

	for (round = 0; round < 3000; round++) {
		n = test_rand() % 600;
		copy = malloc(n ? n : 1);
		if (copy == NULL)
			abort();
		for (i = 0; i < n; i++)
			copy[i] = (uint8_t)test_rand();
		test_decode_anything(copy, n, &ok, &rejected);
		free(copy);
	}
	CHECK(rejected > 0);

	/* Mutations of a valid batch reach deeper than pure noise. */
	test_full_batch(&b, recs);
	if (!CHECK_EQ_INT(wire_encode_batch(&b, &buf, &len), 0))
		return;
	for (round = 0; round < 5000; round++) {
		int flips = 1 + (int)(test_rand() % 4);

		copy = malloc(len);
		if (copy == NULL)
			abort();
		memcpy(copy, buf, len);
		while (flips-- > 0)
			copy[test_rand() % len] = (uint8_t)test_rand();
		test_decode_anything(copy, len, &ok, &rejected);
		free(copy);
	}
	CHECK(ok > 0);
	free(buf);
}

static void test_decode_without_message_buffer(void)
{
	struct wire_batch got;
	enum wire_reject reason = WIRE_REJECT_NONE;

	CHECK_EQ_INT(wire_decode_batch((const uint8_t *)"\xff", 1, &got, &reason, NULL, 0),
		     -EINVAL);
	CHECK_EQ_INT(reason, WIRE_REJECT_DECODE);
	CHECK_EQ_INT(wire_decode_batch((const uint8_t *)"\xff", 1, &got, NULL, NULL, 0), -EINVAL);
}

/* --- the fuzzer's seed corpus --- */

static int test_write_file(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	if (len > 0 && fwrite(buf, 1, len, f) != len) {
		perror(path);
		fclose(f);
		return -1;
	}
	if (fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

static int test_write_tb(const char *dir, const char *name, const struct tb_batch *t)
{
	struct pb p;
	int ret;

	tb_encode(&p, t);
	ret = test_write_file(dir, name, p.data, p.len);
	free(p.data);
	return ret;
}

static int test_write_corpus(const char *dir)
{
	struct wire_record recs[2];
	struct wire_batch b;
	struct wire_ack a;
	struct tb_batch t;
	uint8_t *buf;
	size_t len;
	int ret = 0;

	test_full_batch(&b, recs);
	if (wire_encode_batch(&b, &buf, &len) != 0)
		return -1;
	ret |= test_write_file(dir, "batch_ipv4_ipv6", buf, len);
	free(buf);
	b.nrecords = 0;
	if (wire_encode_batch(&b, &buf, &len) != 0)
		return -1;
	ret |= test_write_file(dir, "batch_dns_only", buf, len);
	free(buf);
	b.ndns = 0;
	if (wire_encode_batch(&b, &buf, &len) != 0)
		return -1;
	ret |= test_write_file(dir, "batch_no_records", buf, len);
	free(buf);

	t = tb_valid();
	ret |= test_write_tb(dir, "batch_ipv4_minimal", &t);
	t.window_end_ms = t.window_start_ms;
	ret |= test_write_tb(dir, "batch_bad_window", &t);
	t = tb_valid();
	t.lost[1] = t.lost[0];
	t.nlost = 2;
	ret |= test_write_tb(dir, "batch_loss_twice", &t);
	t = tb_valid();
	t.rec[0].domain_raw = "a\0\xc3";
	t.rec[0].domain_raw_len = 3;
	ret |= test_write_tb(dir, "batch_bad_domain", &t);
	t = tb_valid();
	t.dns[0].ans[1].addr_len = 3;
	ret |= test_write_tb(dir, "batch_bad_dns_answer", &t);
	t = tb_valid();
	t.dns[0].answered = 0;
	ret |= test_write_tb(dir, "batch_dns_unanswered_with_answers", &t);

	memset(&a, 0, sizeof(a));
	a.seq = 42;
	a.ok = 1;
	a.duplicate = 1;
	if (wire_encode_ack(&a, &buf, &len) != 0)
		return -1;
	ret |= test_write_file(dir, "ack_duplicate", buf, len);
	free(buf);
	a.ok = 0;
	a.duplicate = 0;
	a.reason = WIRE_REJECT_BAD_RECORD;
	strcpy(a.message, "records[0].bytes_sent: 10 for 1 packets_sent");
	if (wire_encode_ack(&a, &buf, &len) != 0)
		return -1;
	ret |= test_write_file(dir, "ack_rejected", buf, len);
	free(buf);
	return ret ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return test_write_corpus(argv[2]) == 0 ? 0 : 1;

	test_names();
	test_round_trip_ipv4_and_ipv6_every_field();
	test_ipv4_sent_as_4_bytes();
	test_round_trip_extreme_values();
	test_empty_batch_is_valid();
	test_unknown_fields_are_ignored();
	test_ack_round_trips();
	test_ack_rejects_bad_input();
	test_encode_rejects_obviously_wrong();
	test_rejects_missing_fields();
	test_rejects_bad_window();
	test_rejects_bad_addresses();
	test_rejects_bad_record_values();
	test_rejects_bad_loss_reasons();
	test_rejects_bad_strings();
	test_round_trip_dns_extremes();
	test_dns_hand_encoded();
	test_rejects_bad_dns();
	test_rejects_over_max_dns();
	test_encode_rejects_bad_dns();
	test_rejects_over_max_records();
	test_rejects_over_max_bytes();
	test_truncations_never_crash();
	test_random_bytes_never_crash();
	test_decode_without_message_buffer();
	return check_exit();
}
