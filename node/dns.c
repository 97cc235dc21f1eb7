/* dns.c - the DNS message parser of deep inspection (see dns.h): header, question and the
 * A/AAAA/CNAME answers of one message snippet, with compression pointers followed under
 * strict rules. Every read goes through a bounds check against the snippet's length. */
#include "node/dns.h"

#include <errno.h>
#include <string.h>

#define DNS_MAX_MSG	 65535 /* the largest message a 16-bit length can frame */
#define DNS_MIN_QUESTION 5     /* root name + qtype + qclass */
#define DNS_MIN_RR	 11    /* root name + type + class + ttl + rdlength */

/* The snippet being parsed: buf[0..len) is all we may read. */
struct dns_cursor {
	const uint8_t *buf;
	size_t len;
};

static uint16_t dns_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t dns_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Decodes the name at pos into out (DNS_NAME_MAX + 1 bytes). On success *end is the offset
 * just after the name's bytes at pos (after the first pointer, or the root label). Returns
 * 0, or -1 with *why. */
static int dns_read_name(const struct dns_cursor *c, size_t pos, char *out, size_t *end,
			 enum dns_error *why)
{
	size_t cur = pos, seg_start = pos, wire = 0, olen = 0, i;
	bool end_set = false;
	int jumps = 0;

	for (;;) {
		uint8_t b;

		if (cur >= c->len) {
			*why = DNS_ERR_SHORT;
			return -1;
		}
		b = c->buf[cur];
		if (b == 0) {
			if (!end_set)
				*end = cur + 1;
			break;
		}
		if ((b & 0xc0) == 0xc0) {
			size_t target;

			if (cur + 1 >= c->len) {
				*why = DNS_ERR_SHORT;
				return -1;
			}
			target = ((size_t)(b & 0x3f) << 8) | c->buf[cur + 1];
			if (!end_set) {
				*end = cur + 2;
				end_set = true;
			}
			/* Strictly before the sequence holding the pointer: the positions
			 * jumped to decrease, so no loop can form. */
			if (target >= seg_start || ++jumps > DNS_MAX_JUMPS) {
				*why = DNS_ERR_LOOP;
				return -1;
			}
			cur = seg_start = target;
			continue;
		}
		if (b & 0xc0) { /* 01 (extended, obsolete) or 10 (reserved) */
			*why = DNS_ERR_NAME;
			return -1;
		}
		/* b is a label length 1..63; the wire form counts it, its length byte and,
		 * eventually, the root label. */
		wire += 1 + (size_t)b;
		if (wire + 1 > DNS_NAME_MAX) {
			*why = DNS_ERR_NAME;
			return -1;
		}
		if (cur + 1 + b > c->len) {
			*why = DNS_ERR_SHORT;
			return -1;
		}
		if (olen > 0)
			out[olen++] = '.';
		for (i = 0; i < b; i++) {
			uint8_t ch = c->buf[cur + 1 + i];

			if (ch < 0x21 || ch > 0x7e || ch == '.') {
				*why = DNS_ERR_NAME;
				return -1;
			}
			if (ch >= 'A' && ch <= 'Z')
				ch = (uint8_t)(ch - 'A' + 'a');
			out[olen++] = (char)ch;
		}
		cur += 1 + (size_t)b;
	}
	/* olen <= wire - 2 <= DNS_NAME_MAX - 3 */
	out[olen] = '\0';
	return 0;
}

/* Reads one resource record at *pos and keeps it in m if it is an A, AAAA or CNAME of class
 * IN. Returns 1 if the record was read (*pos advanced), 0 if the snippet ends inside it or
 * the message has no room for another answer (m->answers_cut set), or -1 with *why. */
static int dns_read_answer(const struct dns_cursor *c, size_t *pos, struct dns_message *m,
			   enum dns_error *why)
{
	struct dns_answer a;
	uint16_t rdlen;
	size_t end, rdata;

	memset(&a, 0, sizeof(a));
	if (dns_read_name(c, *pos, a.name, &end, why) != 0)
		goto cut_or_fail;
	if (end + 10 > c->len)
		goto cut;
	a.type = dns_get16(c->buf + end);
	a.class = dns_get16(c->buf + end + 2);
	a.ttl = dns_get32(c->buf + end + 4);
	rdlen = dns_get16(c->buf + end + 8);
	rdata = end + 10;
	if (rdata + rdlen > c->len)
		goto cut;
	if (a.class != DNS_CLASS_IN ||
	    (a.type != DNS_TYPE_A && a.type != DNS_TYPE_AAAA && a.type != DNS_TYPE_CNAME))
		goto skip;
	if (m->nanswers == DNS_MAX_ANSWERS)
		goto cut;
	switch (a.type) {
	case DNS_TYPE_A:
		if (rdlen != 4) {
			*why = DNS_ERR_NOT_DNS;
			return -1;
		}
		a.addr[10] = 0xff;
		a.addr[11] = 0xff;
		memcpy(a.addr + 12, c->buf + rdata, 4);
		break;
	case DNS_TYPE_AAAA:
		if (rdlen != 16) {
			*why = DNS_ERR_NOT_DNS;
			return -1;
		}
		memcpy(a.addr, c->buf + rdata, 16);
		break;
	default: /* CNAME: exactly one name fills the rdata */
		if (dns_read_name(c, rdata, a.target, &end, why) != 0)
			goto cut_or_fail;
		if (end != rdata + rdlen) {
			*why = DNS_ERR_NAME;
			return -1;
		}
		break;
	}
	m->answers[m->nanswers++] = a;
skip:
	*pos = rdata + rdlen;
	return 1;
cut_or_fail:
	/* A name running past the snippet (possibly through a pointer) is a cut snippet. */
	if (*why != DNS_ERR_SHORT)
		return -1;
cut:
	m->answers_cut = true;
	return 0;
}

/* Parses buf[0..len) as one message whose true size is at most msg_max. */
static int dns_parse_message(const uint8_t *buf, size_t len, size_t msg_max, struct dns_message *m,
			     enum dns_error *why)
{
	struct dns_cursor c = {.buf = buf, .len = len};
	uint16_t flags, qdcount, ancount, nscount, arcount, i;
	size_t pos;
	int ret;

	memset(m, 0, sizeof(*m));
	if (len < DNS_HEADER_LEN) {
		*why = DNS_ERR_SHORT;
		return -1;
	}
	m->id = dns_get16(buf);
	flags = dns_get16(buf + 2);
	m->response = flags & 0x8000;
	m->opcode = (flags >> 11) & 0x0f;
	m->truncated_flag = flags & 0x0200;
	m->rcode = flags & 0x000f;
	qdcount = dns_get16(buf + 4);
	ancount = dns_get16(buf + 6);
	nscount = dns_get16(buf + 8);
	arcount = dns_get16(buf + 10);
	/* Assigned opcodes: 0 query, 1 inverse query (obsolete), 2 status, 4 notify, 5 update. */
	if (m->opcode == 3 || m->opcode > 5 || qdcount != 1) {
		*why = DNS_ERR_NOT_DNS;
		return -1;
	}
	if (DNS_HEADER_LEN + DNS_MIN_QUESTION +
		DNS_MIN_RR * ((size_t)ancount + (size_t)nscount + (size_t)arcount) >
	    msg_max) {
		*why = DNS_ERR_COUNT;
		return -1;
	}
	if (dns_read_name(&c, DNS_HEADER_LEN, m->qname, &pos, why) != 0)
		return -1;
	if (pos + 4 > len) {
		*why = DNS_ERR_SHORT;
		return -1;
	}
	m->qtype = dns_get16(buf + pos);
	m->qclass = dns_get16(buf + pos + 2);
	pos += 4;
	for (i = 0; i < ancount; i++) {
		ret = dns_read_answer(&c, &pos, m, why);
		if (ret < 0)
			return -1;
		if (ret == 0)
			break;
	}
	return 0;
}

int dns_parse(const uint8_t *buf, size_t len, struct dns_message *out, enum dns_error *why)
{
	struct dns_message m;
	enum dns_error reason = DNS_OK;

	if (buf == NULL && len > 0)
		len = 0;
	if (dns_parse_message(buf, len, DNS_MAX_MSG, &m, &reason) != 0) {
		if (why)
			*why = reason;
		return -EINVAL;
	}
	*out = m;
	if (why)
		*why = DNS_OK;
	return 0;
}

int dns_parse_tcp(const uint8_t *buf, size_t len, struct dns_message *out, enum dns_error *why)
{
	struct dns_message m;
	enum dns_error reason = DNS_OK;
	size_t msglen, avail;

	if (buf == NULL || len < 2) {
		reason = DNS_ERR_SHORT;
		goto fail;
	}
	msglen = dns_get16(buf);
	if (msglen < DNS_HEADER_LEN) {
		reason = DNS_ERR_NOT_DNS;
		goto fail;
	}
	avail = len - 2 < msglen ? len - 2 : msglen;
	if (dns_parse_message(buf + 2, avail, msglen, &m, &reason) != 0)
		goto fail;
	*out = m;
	if (why)
		*why = DNS_OK;
	return 0;
fail:
	if (why)
		*why = reason;
	return -EINVAL;
}

/* Index of name in names[0..n), or -1. */
static int dns_find_name(const char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

size_t dns_resolved_addrs(const struct dns_message *m, const uint8_t **addrs, size_t max)
{
	const char *chain[DNS_MAX_ANSWERS + 1];
	size_t nchain = 1, i, n = 0;
	bool grew = true;

	chain[0] = m->qname;
	/* Each round appends the target of the CNAME owned by the chain's last name; a
	 * target already in the chain (a CNAME loop) ends it. */
	while (grew && nchain < DNS_MAX_ANSWERS + 1) {
		grew = false;
		for (i = 0; i < m->nanswers && i < DNS_MAX_ANSWERS; i++) {
			const struct dns_answer *a = &m->answers[i];

			if (a->type != DNS_TYPE_CNAME || strcmp(a->name, chain[nchain - 1]) != 0)
				continue;
			if (dns_find_name(chain, nchain, a->target) >= 0)
				break;
			chain[nchain++] = a->target;
			grew = true;
			break;
		}
	}
	for (i = 0; i < m->nanswers && i < DNS_MAX_ANSWERS && n < max; i++) {
		const struct dns_answer *a = &m->answers[i];

		if (a->type != DNS_TYPE_A && a->type != DNS_TYPE_AAAA)
			continue;
		if (dns_find_name(chain, nchain, a->name) >= 0)
			addrs[n++] = a->addr;
	}
	return n;
}

const char *dns_error_name(enum dns_error e)
{
	static const char *const names[DNS_ERR_MAX] = {
	    [DNS_OK] = "ok",
	    [DNS_ERR_SHORT] = "short",
	    [DNS_ERR_NAME] = "bad_name",
	    [DNS_ERR_LOOP] = "pointer_loop",
	    [DNS_ERR_COUNT] = "bad_count",
	    [DNS_ERR_NOT_DNS] = "not_dns",
	};

	if ((unsigned int)e >= DNS_ERR_MAX)
		return "unknown";
	return names[e];
}

const char *dns_rcode_name(uint8_t rcode)
{
	static const char *const names[] = {
	    [DNS_RCODE_NOERROR] = "noerror",   [DNS_RCODE_FORMERR] = "formerr",
	    [DNS_RCODE_SERVFAIL] = "servfail", [DNS_RCODE_NXDOMAIN] = "nxdomain",
	    [DNS_RCODE_NOTIMP] = "notimp",     [DNS_RCODE_REFUSED] = "refused",
	};

	if (rcode >= sizeof(names) / sizeof(names[0]))
		return "other";
	return names[rcode];
}

const char *dns_type_name(uint16_t type)
{
	switch (type) {
	case DNS_TYPE_A:
		return "A";
	case DNS_TYPE_AAAA:
		return "AAAA";
	case DNS_TYPE_CNAME:
		return "CNAME";
	case DNS_TYPE_PTR:
		return "PTR";
	case DNS_TYPE_MX:
		return "MX";
	case DNS_TYPE_TXT:
		return "TXT";
	case DNS_TYPE_NS:
		return "NS";
	case DNS_TYPE_SOA:
		return "SOA";
	case DNS_TYPE_SRV:
		return "SRV";
	case DNS_TYPE_HTTPS:
		return "HTTPS";
	case DNS_TYPE_ANY:
		return "ANY";
	default:
		return "other";
	}
}
