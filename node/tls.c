/* tls.c - the TLS ClientHello parser of deep inspection (see tls.h): record header,
 * handshake header, the fixed ClientHello fields and a walk of the extension list for
 * server_name and supported_versions. Every length is checked first against the length
 * that encloses it (TLS_ERR_MALFORMED), then against the bytes the snippet holds
 * (TLS_ERR_SHORT), so that cutting a valid hello never turns it into a malformed one. */
#include "node/tls.h"

#include <errno.h>
#include <string.h>

#define TLS_CONTENT_HANDSHAKE	   22
#define TLS_HANDSHAKE_CLIENT_HELLO 1
#define TLS_RECORD_HEADER	   5
#define TLS_HANDSHAKE_HEADER	   4
#define TLS_RANDOM_LEN		   32
#define TLS_EXT_SERVER_NAME	   0
#define TLS_EXT_SUPPORTED_VERSIONS 43
#define TLS_SNI_HOST_NAME	   0

/* The hello being parsed: fields must end by `end` (the handshake length says so) and
 * can only be read below `avail` (the snippet and the first record end there). */
struct tls_cursor {
	const uint8_t *buf;
	size_t end;
	size_t avail;
};

static uint16_t tls_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* Whether n bytes at pos can be read; -1 with *why if not. */
static int tls_need(const struct tls_cursor *c, size_t pos, size_t n, enum tls_error *why)
{
	if (pos + n > c->end) {
		*why = TLS_ERR_MALFORMED;
		return -1;
	}
	if (pos + n > c->avail) {
		*why = TLS_ERR_SHORT;
		return -1;
	}
	return 0;
}

static bool tls_is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* server_name extension data at p[0..len), complete. */
static int tls_read_sni(const uint8_t *p, size_t len, struct tls_client_hello *h,
			enum tls_error *why)
{
	size_t pos = 2, nlen, i;

	if (len < 2 || tls_get16(p) + 2u != len || len == 2) {
		*why = TLS_ERR_MALFORMED;
		return -1;
	}
	while (pos < len) {
		if (pos + 3 > len) {
			*why = TLS_ERR_MALFORMED;
			return -1;
		}
		nlen = tls_get16(p + pos + 1);
		if (pos + 3 + nlen > len) {
			*why = TLS_ERR_MALFORMED;
			return -1;
		}
		if (p[pos] == TLS_SNI_HOST_NAME) {
			/* RFC 6066 3: at most one name of each type. */
			if (h->has_sni) {
				*why = TLS_ERR_MALFORMED;
				return -1;
			}
			if (nlen == 0 || nlen > TLS_SNI_MAX) {
				*why = TLS_ERR_BAD_SNI;
				return -1;
			}
			for (i = 0; i < nlen; i++) {
				uint8_t ch = p[pos + 3 + i];

				if (ch >= 'A' && ch <= 'Z')
					ch = (uint8_t)(ch - 'A' + 'a');
				else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
					   ch == '-' || ch == '.' || ch == '_')) {
					*why = TLS_ERR_BAD_SNI;
					return -1;
				}
				h->sni[i] = (char)ch;
			}
			h->sni[nlen] = '\0';
			h->has_sni = true;
		}
		pos += 3 + nlen;
	}
	return 0;
}

/* supported_versions extension data (ClientHello form) at p[0..len), complete. */
static int tls_read_versions(const uint8_t *p, size_t len, struct tls_client_hello *h,
			     enum tls_error *why)
{
	uint16_t best = 0, v;
	size_t i;

	if (len < 3 || p[0] + 1u != len || (p[0] & 1)) {
		*why = TLS_ERR_MALFORMED;
		return -1;
	}
	for (i = 1; i + 1 < len; i += 2) {
		v = tls_get16(p + i);
		if (tls_is_grease(v) || (v >> 8) != 3)
			continue;
		if (v > best)
			best = v;
	}
	if (best != 0)
		h->max_version = best;
	return 0;
}

/* Walks the extension list from pos to c->end. */
static int tls_read_extensions(const struct tls_cursor *c, size_t pos, struct tls_client_hello *h,
			       enum tls_error *why)
{
	bool seen_sni = false;
	uint16_t type, elen;

	while (pos < c->end) {
		if (pos + 4 > c->end) {
			*why = TLS_ERR_MALFORMED;
			return -1;
		}
		if (pos + 4 > c->avail)
			goto cut;
		type = tls_get16(c->buf + pos);
		elen = tls_get16(c->buf + pos + 2);
		if (pos + 4 + elen > c->end) {
			*why = TLS_ERR_MALFORMED;
			return -1;
		}
		if (pos + 4 + elen > c->avail)
			goto cut;
		if (type == TLS_EXT_SERVER_NAME) {
			if (seen_sni) {
				*why = TLS_ERR_MALFORMED;
				return -1;
			}
			seen_sni = true;
			if (tls_read_sni(c->buf + pos + 4, elen, h, why) != 0)
				return -1;
		} else if (type == TLS_EXT_SUPPORTED_VERSIONS) {
			if (tls_read_versions(c->buf + pos + 4, elen, h, why) != 0)
				return -1;
		}
		pos += 4 + (size_t)elen;
	}
	if (!h->has_sni) {
		*why = TLS_ERR_NO_SNI;
		return -1;
	}
	return 0;
cut:
	h->extensions_cut = true;
	if (!h->has_sni) {
		*why = TLS_ERR_SHORT;
		return -1;
	}
	return 0;
}

static int tls_parse(const uint8_t *buf, size_t len, struct tls_client_hello *h,
		     enum tls_error *why)
{
	struct tls_cursor c = {.buf = buf};
	size_t rec_len, hs_len, pos, n;

	memset(h, 0, sizeof(*h));
	/* Reject what is plainly not a handshake as early as the bytes allow. */
	if (len >= 1 && buf[0] != TLS_CONTENT_HANDSHAKE) {
		*why = TLS_ERR_NOT_HANDSHAKE;
		return -1;
	}
	if (len >= 2 && buf[1] != 3) {
		*why = TLS_ERR_NOT_HANDSHAKE;
		return -1;
	}
	if (len < TLS_RECORD_HEADER) {
		*why = TLS_ERR_SHORT;
		return -1;
	}
	h->record_version = tls_get16(buf + 1);
	rec_len = tls_get16(buf + 3);
	if (rec_len < TLS_HANDSHAKE_HEADER || rec_len > TLS_RECORD_MAX) {
		*why = TLS_ERR_MALFORMED;
		return -1;
	}
	if (len < TLS_RECORD_HEADER + 1) {
		*why = TLS_ERR_SHORT;
		return -1;
	}
	if (buf[TLS_RECORD_HEADER] != TLS_HANDSHAKE_CLIENT_HELLO) {
		*why = TLS_ERR_NOT_CLIENT_HELLO;
		return -1;
	}
	if (len < TLS_RECORD_HEADER + TLS_HANDSHAKE_HEADER) {
		*why = TLS_ERR_SHORT;
		return -1;
	}
	hs_len = ((size_t)buf[6] << 16) | ((size_t)buf[7] << 8) | buf[8];
	pos = TLS_RECORD_HEADER + TLS_HANDSHAKE_HEADER;
	c.end = pos + hs_len;
	c.avail = len;
	if (c.avail > TLS_RECORD_HEADER + rec_len)
		c.avail = TLS_RECORD_HEADER + rec_len;
	if (c.avail > c.end)
		c.avail = c.end;

	if (tls_need(&c, pos, 2 + TLS_RANDOM_LEN + 1, why) != 0)
		return -1;
	h->hello_version = tls_get16(buf + pos);
	if ((h->hello_version >> 8) != 3) {
		*why = TLS_ERR_MALFORMED;
		return -1;
	}
	h->max_version = h->hello_version;
	pos += 2 + TLS_RANDOM_LEN;
	n = buf[pos]; /* session id */
	if (n > TLS_SESSION_ID_MAX) {
		*why = TLS_ERR_MALFORMED;
		return -1;
	}
	pos += 1 + n;
	if (tls_need(&c, pos, 2, why) != 0)
		return -1;
	n = tls_get16(buf + pos); /* cipher suites, 2 bytes each, at least one */
	if (n == 0 || (n & 1)) {
		*why = TLS_ERR_MALFORMED;
		return -1;
	}
	pos += 2 + n;
	if (tls_need(&c, pos, 1, why) != 0)
		return -1;
	n = buf[pos]; /* compression methods, at least one */
	if (n == 0) {
		*why = TLS_ERR_MALFORMED;
		return -1;
	}
	pos += 1 + n;
	if (pos == c.end) { /* no extensions at all (allowed before TLS 1.3) */
		if (pos > c.avail) {
			*why = TLS_ERR_SHORT;
			return -1;
		}
		*why = TLS_ERR_NO_SNI;
		return -1;
	}
	if (tls_need(&c, pos, 2, why) != 0)
		return -1;
	if (pos + 2 + tls_get16(buf + pos) != c.end) {
		*why = TLS_ERR_MALFORMED;
		return -1;
	}
	return tls_read_extensions(&c, pos + 2, h, why);
}

int tls_parse_client_hello(const uint8_t *buf, size_t len, struct tls_client_hello *out,
			   enum tls_error *why)
{
	struct tls_client_hello h;
	enum tls_error reason = TLS_OK;

	if (buf == NULL)
		len = 0;
	if (tls_parse(buf, len, &h, &reason) != 0) {
		if (why)
			*why = reason;
		return -EINVAL;
	}
	*out = h;
	if (why)
		*why = TLS_OK;
	return 0;
}

const char *tls_error_name(enum tls_error e)
{
	static const char *const names[TLS_ERR_MAX] = {
	    [TLS_OK] = "ok",
	    [TLS_ERR_NOT_HANDSHAKE] = "not_handshake",
	    [TLS_ERR_NOT_CLIENT_HELLO] = "not_client_hello",
	    [TLS_ERR_SHORT] = "short",
	    [TLS_ERR_MALFORMED] = "malformed",
	    [TLS_ERR_NO_SNI] = "no_sni",
	    [TLS_ERR_BAD_SNI] = "bad_sni",
	};

	if ((unsigned int)e >= TLS_ERR_MAX)
		return "unknown";
	return names[e];
}

const char *tls_version_name(uint16_t v)
{
	switch (v) {
	case TLS_VERSION_SSL3_0:
		return "SSL3.0";
	case TLS_VERSION_TLS1_0:
		return "TLS1.0";
	case TLS_VERSION_TLS1_1:
		return "TLS1.1";
	case TLS_VERSION_TLS1_2:
		return "TLS1.2";
	case TLS_VERSION_TLS1_3:
		return "TLS1.3";
	default:
		return "unknown";
	}
}
