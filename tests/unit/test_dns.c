/* test_dns.c - unit tests of node/dns.c, the DNS parser of deep inspection: queries and
 * responses shaped like real traffic built byte by byte (A, AAAA, a CNAME chain through
 * compression pointers, NXDOMAIN, TC, TCP framing), every cut of a valid response (parses
 * with answers_cut or fails as "short", nothing else, never a read past the end: the test
 * hands the parser exact-size heap copies so that ASan sees any overread), and hostile
 * input: pointer loops, over-long names and labels, bad bytes, impossible counts, too many
 * answers, bad rdata, random mutations. Regressions found by fuzzing end the file.
 *
 * `test_dns --write-corpus DIR` writes the seed corpus of tests/fuzz/fuzz_dns.c. */
#include "node/dns.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --- a message builder --- */

struct mb {
	uint8_t b[70000];
	size_t len;
};

static void mb_u8(struct mb *m, uint8_t v)
{
	if (m->len >= sizeof(m->b))
		abort();
	m->b[m->len++] = v;
}

static void mb_u16(struct mb *m, uint16_t v)
{
	mb_u8(m, v >> 8);
	mb_u8(m, v & 0xff);
}

static void mb_u32(struct mb *m, uint32_t v)
{
	mb_u16(m, v >> 16);
	mb_u16(m, v & 0xffff);
}

static void mb_bytes(struct mb *m, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		mb_u8(m, b[i]);
}

/* Labels of a dotted name, without the root label (so a pointer may follow). */
static void mb_labels(struct mb *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);

		mb_u8(m, (uint8_t)n);
		mb_bytes(m, name, n);
		name += n;
		if (*name == '.')
			name++;
	}
}

static void mb_name(struct mb *m, const char *name)
{
	mb_labels(m, name);
	mb_u8(m, 0);
}

static void mb_ptr(struct mb *m, size_t off)
{
	mb_u16(m, (uint16_t)(0xc000 | off));
}

static void mb_header(struct mb *m, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		      uint16_t ns, uint16_t ar)
{
	m->len = 0;
	mb_u16(m, id);
	mb_u16(m, flags);
	mb_u16(m, qd);
	mb_u16(m, an);
	mb_u16(m, ns);
	mb_u16(m, ar);
}

static void mb_question(struct mb *m, const char *name, uint16_t type)
{
	mb_name(m, name);
	mb_u16(m, type);
	mb_u16(m, DNS_CLASS_IN);
}

/* Type, class IN, ttl, rdlength (the owner name is written by the caller). */
static void mb_rr_fixed(struct mb *m, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	mb_u16(m, type);
	mb_u16(m, DNS_CLASS_IN);
	mb_u32(m, ttl);
	mb_u16(m, rdlen);
}

static void mb_a(struct mb *m, uint32_t ttl, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	mb_rr_fixed(m, DNS_TYPE_A, ttl, 4);
	mb_u8(m, a);
	mb_u8(m, b);
	mb_u8(m, c);
	mb_u8(m, d);
}

/* Sets the 16-bit field at off (a count, an rdlength). */
static void mb_set16(struct mb *m, size_t off, uint16_t v)
{
	m->b[off] = v >> 8;
	m->b[off + 1] = v & 0xff;
}

/* Parses an exact-size heap copy, so that ASan catches a read past len. */
static int parse_exact(const uint8_t *buf, size_t len, bool tcp, struct dns_message *out,
		       enum dns_error *why)
{
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	if (copy == NULL)
		abort();
	if (len)
		memcpy(copy, buf, len);
	ret = tcp ? dns_parse_tcp(copy, len, out, why) : dns_parse(copy, len, out, why);
	free(copy);
	return ret;
}

static struct dns_message msg; /* big: kept off the stack */

/* Parses m and returns the error (DNS_OK on success), checking the return value agrees. */
static enum dns_error parse_why(const struct mb *m)
{
	enum dns_error why = DNS_ERR_MAX;
	int ret = parse_exact(m->b, m->len, false, &msg, &why);

	CHECK_EQ_INT(ret, why == DNS_OK ? 0 : -EINVAL);
	return why;
}

static const uint8_t v4_93[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 93, 184, 216, 34};

/* --- messages used by several tests --- */

/* www.example.com A? -> CNAME edge.example.net, edge.example.net A 93.184.216.34, with
 * the owner names as pointers (to the question, into the CNAME's rdata). Returns the offset
 * where the answer section starts. */
static size_t build_cname_response(struct mb *m)
{
	size_t qoff = 12, target, ans;

	mb_header(m, 0xbeef, 0x8180, 1, 2, 0, 0);
	mb_question(m, "www.example.com", DNS_TYPE_A);
	ans = m->len;
	mb_ptr(m, qoff);
	mb_rr_fixed(m, DNS_TYPE_CNAME, 3600, 18);
	target = m->len;
	mb_name(m, "edge.example.net");
	mb_ptr(m, target);
	mb_a(m, 60, 93, 184, 216, 34);
	return ans;
}

/* --- tests --- */

static void test_names(void)
{
	CHECK_EQ_STR(dns_error_name(DNS_OK), "ok");
	CHECK_EQ_STR(dns_error_name(DNS_ERR_SHORT), "short");
	CHECK_EQ_STR(dns_error_name(DNS_ERR_NAME), "bad_name");
	CHECK_EQ_STR(dns_error_name(DNS_ERR_LOOP), "pointer_loop");
	CHECK_EQ_STR(dns_error_name(DNS_ERR_COUNT), "bad_count");
	CHECK_EQ_STR(dns_error_name(DNS_ERR_NOT_DNS), "not_dns");
	CHECK_EQ_STR(dns_error_name(DNS_ERR_MAX), "unknown");
	CHECK_EQ_STR(dns_error_name((enum dns_error) - 1), "unknown");
	CHECK_EQ_STR(dns_rcode_name(0), "noerror");
	CHECK_EQ_STR(dns_rcode_name(1), "formerr");
	CHECK_EQ_STR(dns_rcode_name(2), "servfail");
	CHECK_EQ_STR(dns_rcode_name(3), "nxdomain");
	CHECK_EQ_STR(dns_rcode_name(4), "notimp");
	CHECK_EQ_STR(dns_rcode_name(5), "refused");
	CHECK_EQ_STR(dns_rcode_name(6), "other");
	CHECK_EQ_STR(dns_rcode_name(255), "other");
	CHECK_EQ_STR(dns_type_name(1), "A");
	CHECK_EQ_STR(dns_type_name(28), "AAAA");
	CHECK_EQ_STR(dns_type_name(5), "CNAME");
	CHECK_EQ_STR(dns_type_name(12), "PTR");
	CHECK_EQ_STR(dns_type_name(15), "MX");
	CHECK_EQ_STR(dns_type_name(16), "TXT");
	CHECK_EQ_STR(dns_type_name(2), "NS");
	CHECK_EQ_STR(dns_type_name(6), "SOA");
	CHECK_EQ_STR(dns_type_name(33), "SRV");
	CHECK_EQ_STR(dns_type_name(65), "HTTPS");
	CHECK_EQ_STR(dns_type_name(255), "ANY");
	CHECK_EQ_STR(dns_type_name(46), "other");
	CHECK_EQ_STR(dns_type_name(0), "other");
}

static void test_query_a(void)
{
	struct mb m;

	/* dig www.example.com: RD set, an EDNS OPT record in the additional section. */
	mb_header(&m, 0x1234, 0x0100, 1, 0, 0, 1);
	mb_question(&m, "www.example.com", DNS_TYPE_A);
	mb_u8(&m, 0);
	mb_u16(&m, 41);
	mb_u16(&m, 1232);
	mb_u32(&m, 0);
	mb_u16(&m, 0);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_INT(msg.id, 0x1234);
	CHECK_EQ_INT(msg.response, false);
	CHECK_EQ_INT(msg.opcode, 0);
	CHECK_EQ_INT(msg.rcode, 0);
	CHECK_EQ_INT(msg.truncated_flag, false);
	CHECK_EQ_STR(msg.qname, "www.example.com");
	CHECK_EQ_INT(msg.qtype, DNS_TYPE_A);
	CHECK_EQ_INT(msg.qclass, DNS_CLASS_IN);
	CHECK_EQ_U64(msg.nanswers, 0);
	CHECK_EQ_INT(msg.answers_cut, false);
}

static void test_response_a(void)
{
	const uint8_t *addrs[4];
	struct mb m;

	mb_header(&m, 0x1234, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com", DNS_TYPE_A);
	mb_ptr(&m, 12);
	mb_a(&m, 86400, 93, 184, 216, 34);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_INT(msg.response, true);
	CHECK_EQ_STR(msg.qname, "example.com");
	CHECK_EQ_U64(msg.nanswers, 1);
	CHECK_EQ_STR(msg.answers[0].name, "example.com");
	CHECK_EQ_INT(msg.answers[0].type, DNS_TYPE_A);
	CHECK_EQ_INT(msg.answers[0].class, DNS_CLASS_IN);
	CHECK_EQ_U64(msg.answers[0].ttl, 86400);
	CHECK(memcmp(msg.answers[0].addr, v4_93, 16) == 0);
	CHECK_EQ_STR(msg.answers[0].target, "");
	CHECK_EQ_INT(msg.answers_cut, false);
	CHECK_EQ_U64(dns_resolved_addrs(&msg, addrs, 4), 1);
	CHECK(addrs[0] == msg.answers[0].addr);
}

static void test_response_aaaa(void)
{
	static const uint8_t v6[16] = {0x26, 0x06, 0x28, 0x00, 0x02, 0x20, 0x00, 0x01,
				       0x02, 0x48, 0x18, 0x93, 0x25, 0xc8, 0x19, 0x46};
	const uint8_t *addrs[4];
	struct mb m;

	mb_header(&m, 7, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com", DNS_TYPE_AAAA);
	mb_ptr(&m, 12);
	mb_rr_fixed(&m, DNS_TYPE_AAAA, 300, 16);
	mb_bytes(&m, v6, 16);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_INT(msg.qtype, DNS_TYPE_AAAA);
	CHECK_EQ_U64(msg.nanswers, 1);
	CHECK_EQ_INT(msg.answers[0].type, DNS_TYPE_AAAA);
	CHECK_EQ_U64(msg.answers[0].ttl, 300);
	CHECK(memcmp(msg.answers[0].addr, v6, 16) == 0);
	CHECK_EQ_U64(dns_resolved_addrs(&msg, addrs, 4), 1);
	CHECK(addrs[0] != NULL && memcmp(addrs[0], v6, 16) == 0);
}

static void test_cname_chain(void)
{
	const uint8_t *addrs[4];
	struct mb m;

	build_cname_response(&m);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_INT(msg.id, 0xbeef);
	CHECK_EQ_STR(msg.qname, "www.example.com");
	CHECK_EQ_U64(msg.nanswers, 2);
	CHECK_EQ_STR(msg.answers[0].name, "www.example.com");
	CHECK_EQ_INT(msg.answers[0].type, DNS_TYPE_CNAME);
	CHECK_EQ_U64(msg.answers[0].ttl, 3600);
	CHECK_EQ_STR(msg.answers[0].target, "edge.example.net");
	CHECK_EQ_STR(msg.answers[1].name, "edge.example.net");
	CHECK_EQ_INT(msg.answers[1].type, DNS_TYPE_A);
	CHECK_EQ_U64(msg.answers[1].ttl, 60);
	CHECK(memcmp(msg.answers[1].addr, v4_93, 16) == 0);
	CHECK_EQ_INT(msg.answers_cut, false);
	CHECK_EQ_U64(dns_resolved_addrs(&msg, addrs, 4), 1);
	CHECK(addrs[0] == msg.answers[1].addr);
	CHECK_EQ_U64(dns_resolved_addrs(&msg, addrs, 0), 0);
}

/* Two hops, the second target sharing a suffix with the first through a pointer, records
 * of other types and classes in between, and an address of an unrelated name. */
static void test_cname_two_hops_and_skipped_records(void)
{
	const uint8_t *addrs[8];
	size_t t1, t2;
	struct mb m;

	mb_header(&m, 1, 0x8180, 1, 6, 0, 0);
	mb_question(&m, "WWW.Example.COM", DNS_TYPE_A);
	mb_ptr(&m, 12);
	mb_rr_fixed(&m, DNS_TYPE_CNAME, 10, 18);
	t1 = m.len;
	mb_name(&m, "edge.example.net");
	mb_ptr(&m, 12); /* an RRSIG-like record: kept out */
	mb_rr_fixed(&m, 46, 10, 3);
	mb_bytes(&m, "sig", 3);
	mb_ptr(&m, t1);
	mb_rr_fixed(&m, DNS_TYPE_CNAME, 20, 6);
	t2 = m.len;
	mb_labels(&m, "cdn");
	mb_ptr(&m, t1 + 5); /* "example.net" */
	mb_ptr(&m, t2);
	mb_u16(&m, DNS_TYPE_A); /* class CH: kept out */
	mb_u16(&m, 3);
	mb_u32(&m, 0);
	mb_u16(&m, 4);
	mb_u32(&m, 0x01020304);
	mb_ptr(&m, t2);
	mb_a(&m, 30, 93, 184, 216, 34);
	mb_name(&m, "other.example.org");
	mb_a(&m, 30, 10, 0, 0, 1);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_STR(msg.qname, "www.example.com");
	CHECK_EQ_U64(msg.nanswers, 4);
	CHECK_EQ_STR(msg.answers[0].target, "edge.example.net");
	CHECK_EQ_STR(msg.answers[1].name, "edge.example.net");
	CHECK_EQ_STR(msg.answers[1].target, "cdn.example.net");
	CHECK_EQ_STR(msg.answers[2].name, "cdn.example.net");
	CHECK(memcmp(msg.answers[2].addr, v4_93, 16) == 0);
	CHECK_EQ_STR(msg.answers[3].name, "other.example.org");
	CHECK_EQ_U64(dns_resolved_addrs(&msg, addrs, 8), 1);
	CHECK(addrs[0] == msg.answers[2].addr);
}

static void test_cname_loop_in_answers_terminates(void)
{
	const uint8_t *addrs[4];
	struct mb m;

	mb_header(&m, 1, 0x8180, 1, 3, 0, 0);
	mb_question(&m, "a.test", DNS_TYPE_A);
	mb_ptr(&m, 12);
	mb_rr_fixed(&m, DNS_TYPE_CNAME, 1, 8);
	mb_name(&m, "b.test");
	mb_name(&m, "b.test");
	mb_rr_fixed(&m, DNS_TYPE_CNAME, 1, 8);
	mb_name(&m, "a.test");
	mb_ptr(&m, 12);
	mb_a(&m, 1, 192, 0, 2, 1);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_U64(msg.nanswers, 3);
	CHECK_EQ_U64(dns_resolved_addrs(&msg, addrs, 4), 1);
	CHECK(addrs[0] == msg.answers[2].addr);
}

static void test_nxdomain(void)
{
	struct mb m;

	mb_header(&m, 0x4242, 0x8183, 1, 0, 1, 0);
	mb_question(&m, "nope.example.com", DNS_TYPE_A);
	mb_ptr(&m, 12 + 5); /* example.com SOA ... (authority is not read) */
	mb_rr_fixed(&m, DNS_TYPE_SOA, 3600, 4);
	mb_u32(&m, 0);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_INT(msg.rcode, DNS_RCODE_NXDOMAIN);
	CHECK_EQ_STR(dns_rcode_name(msg.rcode), "nxdomain");
	CHECK_EQ_STR(msg.qname, "nope.example.com");
	CHECK_EQ_U64(msg.nanswers, 0);
	CHECK_EQ_INT(msg.answers_cut, false);
}

static void test_tc_flag(void)
{
	struct mb m;

	mb_header(&m, 9, 0x8380, 1, 0, 0, 0);
	mb_question(&m, "big.example.com", DNS_TYPE_TXT);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_INT(msg.truncated_flag, true);
	CHECK_EQ_INT(msg.response, true);
	CHECK_EQ_INT(msg.qtype, DNS_TYPE_TXT);
	CHECK_EQ_INT(msg.answers_cut, false);
}

static void test_root_name_and_opcodes(void)
{
	struct mb m;

	mb_header(&m, 9, 0x0000, 1, 0, 0, 0);
	mb_question(&m, "", DNS_TYPE_NS);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_STR(msg.qname, "");
	CHECK_EQ_INT(msg.qtype, DNS_TYPE_NS);

	mb_set16(&m, 2, 4 << 11); /* NOTIFY */
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_INT(msg.opcode, 4);
	mb_set16(&m, 2, 3 << 11); /* unassigned */
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NOT_DNS);
	mb_set16(&m, 2, 15 << 11);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NOT_DNS);
}

static void test_tcp_framing(void)
{
	enum dns_error why;
	struct mb m, t;
	size_t i;

	build_cname_response(&m);
	t.len = 0;
	mb_u16(&t, (uint16_t)m.len);
	mb_bytes(&t, m.b, m.len);
	mb_bytes(&t, m.b, 12); /* the next message's start: ignored */
	CHECK_EQ_INT(parse_exact(t.b, t.len, true, &msg, &why), 0);
	CHECK_EQ_INT(why, DNS_OK);
	CHECK_EQ_STR(msg.qname, "www.example.com");
	CHECK_EQ_U64(msg.nanswers, 2);
	CHECK_EQ_INT(msg.answers_cut, false);

	/* The prefix bounds the message: claiming one byte less cuts the last answer. */
	mb_set16(&t, 0, (uint16_t)(m.len - 1));
	CHECK_EQ_INT(parse_exact(t.b, t.len, true, &msg, &why), 0);
	CHECK_EQ_U64(msg.nanswers, 1);
	CHECK_EQ_INT(msg.answers_cut, true);

	/* Without the prefix the message is not DNS over TCP; a prefix below 12 neither. */
	CHECK_EQ_INT(parse_exact(m.b, m.len, true, &msg, &why), -EINVAL);
	mb_set16(&t, 0, 11);
	CHECK_EQ_INT(parse_exact(t.b, t.len, true, &msg, &why), -EINVAL);
	CHECK_EQ_INT(why, DNS_ERR_NOT_DNS);
	/* Counts checked against the prefix: 2 answers cannot fit in 30 bytes. */
	mb_set16(&t, 0, 30);
	CHECK_EQ_INT(parse_exact(t.b, t.len, true, &msg, &why), -EINVAL);
	CHECK_EQ_INT(why, DNS_ERR_COUNT);
	for (i = 0; i < 2; i++) {
		CHECK_EQ_INT(parse_exact(t.b, i, true, &msg, &why), -EINVAL);
		CHECK_EQ_INT(why, DNS_ERR_SHORT);
	}
	CHECK_EQ_INT(dns_parse_tcp(NULL, 0, &msg, NULL), -EINVAL);
}

/* Every cut of a valid response, over UDP and over TCP: the header and the question are
 * needed (DNS_ERR_SHORT before), after that it parses with what the cut left. */
static void test_every_cut_length(void)
{
	struct dns_message full;
	enum dns_error why;
	size_t ans, k, bad = 0;
	struct mb m, t;
	int ret;

	ans = build_cname_response(&m);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	full = msg;
	for (k = 0; k < m.len; k++) {
		why = DNS_ERR_MAX;
		ret = parse_exact(m.b, k, false, &msg, &why);
		if (k < ans) {
			bad += !(ret == -EINVAL && why == DNS_ERR_SHORT);
			continue;
		}
		bad += !(ret == 0 && why == DNS_OK && msg.answers_cut);
		bad += strcmp(msg.qname, full.qname) != 0;
		/* answer 0 ends at ans + 12 + 18 */
		bad += msg.nanswers != (k >= ans + 30 ? 1u : 0u);
	}
	CHECK_EQ_U64(bad, 0);

	t.len = 0;
	mb_u16(&t, (uint16_t)m.len);
	mb_bytes(&t, m.b, m.len);
	bad = 0;
	for (k = 0; k < t.len; k++) {
		why = DNS_ERR_MAX;
		ret = parse_exact(t.b, k, true, &msg, &why);
		if (k < ans + 2)
			bad += !(ret == -EINVAL && why == DNS_ERR_SHORT);
		else
			bad += !(ret == 0 && why == DNS_OK && msg.answers_cut);
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_INT(parse_exact(t.b, t.len, true, &msg, &why), 0);
	CHECK_EQ_INT(msg.answers_cut, false);
}

static void test_pointer_loops(void)
{
	struct mb m;
	size_t p, i, base;

	/* The question name is a pointer to itself. */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_ptr(&m, 12);
	mb_u32(&m, 0x00010001);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_LOOP);

	/* A label, then a pointer back to that label: backwards, yet a cycle. */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_labels(&m, "www");
	mb_ptr(&m, 12);
	mb_u32(&m, 0x00010001);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_LOOP);

	/* Two pointers to each other (the first points forward). */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_ptr(&m, 14);
	mb_ptr(&m, 12);
	mb_u32(&m, 0x00010001);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_LOOP);

	/* A forward pointer to a valid name: no loop, one jump, still refused (a compressor
	 * only points at names already written). */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_ptr(&m, 18);
	mb_u32(&m, 0x00010001);
	mb_name(&m, "example.com");
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_LOOP);

	/* In an answer: the owner name points to itself. */
	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com", DNS_TYPE_A);
	p = m.len;
	mb_ptr(&m, p);
	mb_a(&m, 1, 1, 2, 3, 4);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_LOOP);

	/* Owner name and CNAME target pointing to each other. */
	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com", DNS_TYPE_A);
	p = m.len;
	mb_ptr(&m, p + 12);
	mb_rr_fixed(&m, DNS_TYPE_CNAME, 1, 2);
	mb_ptr(&m, p);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_LOOP);

	/* A chain of backward pointers, each a jump: 32 are followed, 33 are too many. The
	 * chain (i pointers) lives in the rdata of a TXT record; the A record's name enters
	 * it with one more jump. */
	for (i = DNS_MAX_JUMPS - 1; i <= DNS_MAX_JUMPS; i++) {
		size_t j;

		mb_header(&m, 1, 0x8180, 1, 2, 0, 0);
		mb_question(&m, "example.com", DNS_TYPE_A);
		mb_ptr(&m, 12);
		mb_rr_fixed(&m, DNS_TYPE_TXT, 1, (uint16_t)(2 * i));
		base = m.len;
		mb_ptr(&m, 12);
		for (j = 1; j < i; j++)
			mb_ptr(&m, base + 2 * (j - 1));
		mb_ptr(&m, base + 2 * (i - 1));
		mb_a(&m, 1, 1, 2, 3, 4);
		CHECK_EQ_INT(parse_why(&m), i + 1 == DNS_MAX_JUMPS ? DNS_OK : DNS_ERR_LOOP);
		if (i + 1 == DNS_MAX_JUMPS) {
			CHECK_EQ_U64(msg.nanswers, 1);
			CHECK_EQ_STR(msg.answers[0].name, "example.com");
		}
	}
}

/* A question name of `wire` bytes in wire form (labels of 63, then the rest). */
static void build_long_name(struct mb *m, size_t wire)
{
	size_t left = wire - 1, n;

	mb_header(m, 1, 0, 1, 0, 0, 0);
	while (left > 0) {
		n = left - 1 > 63 ? 63 : left - 1;
		mb_u8(m, (uint8_t)n);
		left -= 1 + n;
		while (n--)
			mb_u8(m, 'a');
	}
	mb_u8(m, 0);
	mb_u32(m, 0x00010001);
}

static void test_name_limits(void)
{
	struct mb m;

	build_long_name(&m, 255);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_U64(strlen(msg.qname), 253);
	build_long_name(&m, 256);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NAME);
	build_long_name(&m, 300);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NAME);

	/* 255 through a pointer: the limit counts the decoded name, not the bytes here. */
	build_long_name(&m, 255);
	mb_set16(&m, 4, 1);
	mb_set16(&m, 6, 1);
	mb_labels(&m, "x");
	mb_ptr(&m, 12);
	mb_a(&m, 1, 1, 2, 3, 4);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NAME);

	/* Label length 64 (type bits 01) and 128 (10). */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_u8(&m, 64);
	while (m.len < 12 + 65)
		mb_u8(&m, 'a');
	mb_u8(&m, 0);
	mb_u32(&m, 0x00010001);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NAME);
	m.b[12] = 0x80;
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NAME);
	m.b[12] = 63;
	m.b[12 + 64] = 0; /* now a valid 63-byte label and a root */
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_U64(strlen(msg.qname), 63);
}

static void test_bad_label_bytes(void)
{
	static const uint8_t bad[] = {' ', '.', 0x00, 0x7f, 0x80, 0xff, '\n'};
	struct mb m;
	size_t i;

	for (i = 0; i < sizeof(bad); i++) {
		mb_header(&m, 1, 0, 1, 0, 0, 0);
		mb_u8(&m, 3);
		mb_u8(&m, 'a');
		mb_u8(&m, bad[i]);
		mb_u8(&m, 'b');
		mb_u8(&m, 0);
		mb_u32(&m, 0x00010001);
		CHECK_EQ_INT(parse_why(&m), DNS_ERR_NAME);
	}
	/* Printable punctuation is kept as is (_sip._tcp, wildcards, RFC 2317 '/'). */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_question(&m, "_SIP._tcp.*.0/25.Ex-1", DNS_TYPE_SRV);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_STR(msg.qname, "_sip._tcp.*.0/25.ex-1");
}

static void test_counts(void)
{
	struct mb m;
	size_t i;

	for (i = 0; i <= 2; i += 2) {
		mb_header(&m, 1, 0x0100, (uint16_t)i, 0, 0, 0);
		if (i)
			mb_question(&m, "a.example", DNS_TYPE_A);
		mb_question(&m, "b.example", DNS_TYPE_A);
		CHECK_EQ_INT(parse_why(&m), DNS_ERR_NOT_DNS);
	}
	/* ancount 65535 in a 40-byte message: no 65535-byte message holds that many. */
	mb_header(&m, 1, 0x8180, 1, 65535, 0, 0);
	mb_question(&m, "example.com", DNS_TYPE_A);
	while (m.len < 40)
		mb_u8(&m, 0);
	CHECK_EQ_U64(m.len, 40);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_COUNT);
	mb_set16(&m, 6, 0);
	mb_set16(&m, 10, 65535);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_COUNT);
	/* 100 answers could exist; the snippet just ends: answers_cut. The zero bytes read
	 * as a root-owned record of type 0 with rdlength 0... and then the bytes run out. */
	mb_set16(&m, 6, 100);
	mb_set16(&m, 10, 0);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_U64(msg.nanswers, 0);
	CHECK_EQ_INT(msg.answers_cut, true);
	/* The largest possible: 12 + 5 + 11 * n <= 65535. */
	mb_set16(&m, 6, 5956);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	mb_set16(&m, 6, 5957);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_COUNT);
}

static void test_header_and_question_short(void)
{
	struct mb m;

	mb_header(&m, 1, 0, 1, 0, 0, 0);
	m.len = 11;
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_SHORT);
	m.len = 12;
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_SHORT);
	mb_question(&m, "example.com", DNS_TYPE_A);
	m.len--;
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_SHORT);
	CHECK_EQ_INT(dns_parse(NULL, 0, &msg, NULL), -EINVAL);
}

static void test_uppercase_lowered(void)
{
	struct mb m;

	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "WwW.ExAmPlE.CoM", DNS_TYPE_A);
	mb_name(&m, "WWW.EXAMPLE.COM");
	mb_a(&m, 5, 93, 184, 216, 34);
	CHECK_EQ_INT(parse_why(&m), DNS_OK);
	CHECK_EQ_STR(msg.qname, "www.example.com");
	CHECK_EQ_STR(msg.answers[0].name, "www.example.com");
}

static void test_answer_limit(void)
{
	const uint8_t *addrs[DNS_MAX_ANSWERS + 4];
	struct mb m;
	int n;

	for (n = DNS_MAX_ANSWERS; n <= DNS_MAX_ANSWERS + 1; n++) {
		int i;

		mb_header(&m, 1, 0x8180, 1, (uint16_t)n, 0, 0);
		mb_question(&m, "many.example.com", DNS_TYPE_A);
		for (i = 0; i < n; i++) {
			mb_ptr(&m, 12);
			mb_a(&m, 1, 10, 0, 0, (uint8_t)i);
		}
		CHECK_EQ_INT(parse_why(&m), DNS_OK);
		CHECK_EQ_U64(msg.nanswers, DNS_MAX_ANSWERS);
		CHECK_EQ_INT(msg.answers_cut, n > DNS_MAX_ANSWERS);
		CHECK_EQ_INT(msg.answers[15].addr[15], 15);
		CHECK_EQ_INT(msg.answers[15].addr[12], 10);
		CHECK_EQ_U64(dns_resolved_addrs(&msg, addrs, DNS_MAX_ANSWERS + 4), DNS_MAX_ANSWERS);
		CHECK_EQ_U64(dns_resolved_addrs(&msg, addrs, 3), 3);
		CHECK(addrs[2] == msg.answers[2].addr);
	}
}

static void test_bad_rdata(void)
{
	struct mb m;

	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com", DNS_TYPE_A);
	mb_ptr(&m, 12);
	mb_rr_fixed(&m, DNS_TYPE_A, 1, 5);
	mb_u32(&m, 0x01020304);
	mb_u8(&m, 5);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NOT_DNS);

	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com", DNS_TYPE_AAAA);
	mb_ptr(&m, 12);
	mb_rr_fixed(&m, DNS_TYPE_AAAA, 1, 4);
	mb_u32(&m, 0x01020304);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NOT_DNS);

	/* A CNAME whose name ends before its rdata does. */
	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com", DNS_TYPE_A);
	mb_ptr(&m, 12);
	mb_rr_fixed(&m, DNS_TYPE_CNAME, 1, 4);
	mb_ptr(&m, 12);
	mb_u16(&m, 0);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NAME);
	/* ...or runs past it. */
	mb_set16(&m, m.len - 6, 1);
	m.len -= 2;
	mb_set16(&m, 6, 2);
	mb_ptr(&m, 12);
	mb_a(&m, 1, 1, 2, 3, 4);
	CHECK_EQ_INT(parse_why(&m), DNS_ERR_NAME);
}

static void test_output_untouched_on_failure(void)
{
	struct dns_message before;
	enum dns_error why = DNS_OK;
	struct mb m;

	memset(&msg, 0xa5, sizeof(msg));
	before = msg;
	mb_header(&m, 1, 0, 2, 0, 0, 0);
	CHECK_EQ_INT(dns_parse(m.b, m.len, &msg, &why), -EINVAL);
	CHECK_EQ_INT(why, DNS_ERR_NOT_DNS);
	CHECK(memcmp(&msg, &before, sizeof(msg)) == 0);
	CHECK_EQ_INT(dns_parse_tcp(m.b, 1, &msg, &why), -EINVAL);
	CHECK(memcmp(&msg, &before, sizeof(msg)) == 0);
}

/* Invariants of any successful parse (the fuzzer checks the same). */
static bool message_sane(const struct dns_message *m)
{
	size_t i;

	if (m->nanswers > DNS_MAX_ANSWERS || strnlen(m->qname, sizeof(m->qname)) > 253)
		return false;
	for (i = 0; i < m->nanswers; i++)
		if (strnlen(m->answers[i].name, DNS_NAME_MAX + 1) > 253 ||
		    strnlen(m->answers[i].target, DNS_NAME_MAX + 1) > 253)
			return false;
	return true;
}

static void test_random_mutations_never_crash(void)
{
	uint32_t seed = 12345;
	size_t iter, bad = 0, ok = 0;
	enum dns_error why;
	struct mb base, m;
	int ret, j;

	build_cname_response(&base);
	for (iter = 0; iter < 20000; iter++) {
		m = base;
		for (j = 0; j < 1 + (int)(iter % 4); j++) {
			seed = seed * 1103515245u + 12345u;
			m.b[(seed >> 8) % m.len] = (uint8_t)(seed >> 20);
		}
		seed = seed * 1103515245u + 12345u;
		ret = parse_exact(m.b, m.len - (seed >> 10) % 8, iter & 1, &msg, &why);
		if (ret == 0) {
			ok++;
			bad += why != DNS_OK || !message_sane(&msg);
		} else {
			bad += ret != -EINVAL || why == DNS_OK || why >= DNS_ERR_MAX;
		}
	}
	CHECK_EQ_U64(bad, 0);
	CHECK(ok > 0);
}

/* --- the fuzzer's seed corpus --- */

static int write_file(const char *dir, const char *name, const uint8_t *buf, size_t len)
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

/* Writes m as name (UDP) and name_tcp (with the length prefix). */
static int write_both(const char *dir, const char *name, const struct mb *m)
{
	static struct mb t;
	char tcp[256];
	int ret;

	t.len = 0;
	mb_u16(&t, (uint16_t)m->len);
	mb_bytes(&t, m->b, m->len);
	snprintf(tcp, sizeof(tcp), "%s_tcp", name);
	ret = write_file(dir, name, m->b, m->len);
	return ret | write_file(dir, tcp, t.b, t.len);
}

static int write_corpus(const char *dir)
{
	static struct mb m;
	int ret = 0, i;

	mb_header(&m, 0x1234, 0x0100, 1, 0, 0, 0);
	mb_question(&m, "www.example.com", DNS_TYPE_A);
	ret |= write_both(dir, "query_a", &m);
	build_cname_response(&m);
	ret |= write_both(dir, "response_cname_chain", &m);
	mb_header(&m, 7, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com", DNS_TYPE_AAAA);
	mb_ptr(&m, 12);
	mb_rr_fixed(&m, DNS_TYPE_AAAA, 300, 16);
	mb_bytes(&m, v4_93, 16);
	ret |= write_both(dir, "response_aaaa", &m);
	mb_header(&m, 0x4242, 0x8183, 1, 0, 1, 0);
	mb_question(&m, "nope.example.com", DNS_TYPE_A);
	mb_ptr(&m, 12 + 5);
	mb_rr_fixed(&m, DNS_TYPE_SOA, 3600, 4);
	mb_u32(&m, 0);
	ret |= write_both(dir, "response_nxdomain", &m);
	mb_header(&m, 1, 0x8180, 1, 17, 0, 0);
	mb_question(&m, "many.example.com", DNS_TYPE_A);
	for (i = 0; i < 17; i++) {
		mb_ptr(&m, 12);
		mb_a(&m, 1, 10, 0, 0, (uint8_t)i);
	}
	ret |= write_both(dir, "response_17_answers", &m);
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_labels(&m, "www");
	mb_ptr(&m, 12);
	mb_u32(&m, 0x00010001);
	ret |= write_both(dir, "pointer_loop", &m);
	return ret ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]) == 0 ? 0 : 1;

	test_names();
	test_query_a();
	test_response_a();
	test_response_aaaa();
	test_cname_chain();
	test_cname_two_hops_and_skipped_records();
	test_cname_loop_in_answers_terminates();
	test_nxdomain();
	test_tc_flag();
	test_root_name_and_opcodes();
	test_tcp_framing();
	test_every_cut_length();
	test_pointer_loops();
	test_name_limits();
	test_bad_label_bytes();
	test_counts();
	test_header_and_question_short();
	test_uppercase_lowered();
	test_answer_limit();
	test_bad_rdata();
	test_output_untouched_on_failure();
	test_random_mutations_never_crash();
	return check_exit();
}
