/* ws.c - RFC 6455 framing (see ws.h). The one user of GnuTLS: SHA-1 and base64 for the
 * handshake, and its random generator for client nonces and masks. */
#include "ws.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

bool ws_key_valid(const char *key)
{
	gnutls_datum_t in, out = {NULL, 0};
	bool ok;

	if (!key || strlen(key) != WS_KEY_LEN)
		return false;
	in.data = (unsigned char *)key;
	in.size = WS_KEY_LEN;
	if (gnutls_base64_decode2(&in, &out) < 0)
		return false;
	ok = out.size == 16;
	gnutls_free(out.data);
	return ok;
}

/* base64 of data[0..len) into out (exactly want characters + NUL). */
static int ws_base64(const void *data, size_t len, char *out, size_t want)
{
	gnutls_datum_t in = {(unsigned char *)data, (unsigned int)len}, b64 = {NULL, 0};
	int ret = 0;

	if (gnutls_base64_encode2(&in, &b64) < 0)
		return -EIO;
	if (b64.size != want)
		ret = -EIO;
	else
		memcpy(out, b64.data, want);
	out[ret == 0 ? want : 0] = '\0';
	gnutls_free(b64.data);
	return ret;
}

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	char cat[WS_KEY_LEN + sizeof(WS_GUID)];
	uint8_t sha[20];

	if (!ws_key_valid(key))
		return -EINVAL;
	memcpy(cat, key, WS_KEY_LEN);
	memcpy(cat + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID));
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, cat, WS_KEY_LEN + sizeof(WS_GUID) - 1, sha) < 0)
		return -EIO;
	return ws_base64(sha, sizeof(sha), out, WS_ACCEPT_LEN);
}

int ws_client_key(const uint8_t nonce[16], char out[WS_KEY_LEN + 1])
{
	return ws_base64(nonce, 16, out, WS_KEY_LEN);
}

int ws_random(void *buf, size_t len)
{
	return gnutls_rnd(GNUTLS_RND_NONCE, buf, len) < 0 ? -EIO : 0;
}

size_t ws_frame_size(size_t len, bool masked)
{
	size_t hdr = len < 126 ? 2 : len <= 0xffff ? 4 : 10;

	return hdr + (masked ? WS_MASK_LEN : 0) + len;
}

static bool ws_is_control(unsigned int op)
{
	return op & 0x8;
}

ssize_t ws_frame_encode(uint8_t *out, size_t cap, enum ws_opcode op, bool fin, const void *payload,
			size_t len, const uint8_t *mask)
{
	size_t need = ws_frame_size(len, mask != NULL), h = 0;
	const uint8_t *p = payload;

	if (ws_is_control(op) && (len > WS_CONTROL_MAX || !fin))
		return -EINVAL;
	if (need > cap || need > SSIZE_MAX)
		return -ENOSPC;
	out[h++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
	if (len < 126) {
		out[h++] = (uint8_t)((mask ? 0x80 : 0) | len);
	} else if (len <= 0xffff) {
		out[h++] = (uint8_t)((mask ? 0x80 : 0) | 126);
		out[h++] = (uint8_t)(len >> 8);
		out[h++] = (uint8_t)len;
	} else {
		out[h++] = (uint8_t)((mask ? 0x80 : 0) | 127);
		for (int i = 7; i >= 0; i--)
			out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (mask) {
		memcpy(out + h, mask, WS_MASK_LEN);
		h += WS_MASK_LEN;
		for (size_t i = 0; i < len; i++)
			out[h + i] = p[i] ^ mask[i & 3];
	} else if (len > 0) {
		memcpy(out + h, p, len);
	}
	return (ssize_t)need;
}

ssize_t ws_close_encode(uint8_t *out, size_t cap, uint16_t code, const char *reason,
			const uint8_t *mask)
{
	uint8_t body[WS_CONTROL_MAX];
	size_t n = 0, rlen;

	if (code) {
		body[n++] = (uint8_t)(code >> 8);
		body[n++] = (uint8_t)code;
		rlen = reason ? strlen(reason) : 0;
		if (rlen > WS_CONTROL_MAX - 2)
			rlen = WS_CONTROL_MAX - 2;
		/* never cut a UTF-8 sequence in two */
		while (rlen > 0 && rlen < strlen(reason) && ((uint8_t)reason[rlen] & 0xc0) == 0x80)
			rlen--;
		if (rlen)
			memcpy(body + n, reason, rlen);
		n += rlen;
	}
	return ws_frame_encode(out, cap, WS_OP_CLOSE, true, body, n, mask);
}

uint16_t ws_close_code_of(int err)
{
	switch (err) {
	case -EPROTO:
		return WS_CLOSE_PROTOCOL;
	case -EMSGSIZE:
		return WS_CLOSE_TOO_BIG;
	case -EILSEQ:
		return WS_CLOSE_BAD_DATA;
	default:
		return WS_CLOSE_INTERNAL;
	}
}

bool ws_close_code_valid(uint16_t code)
{
	if (code >= 3000 && code <= 4999)
		return true;
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

bool ws_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false; /* continuation byte, overlong 2-byte lead, or > U+10FFFF */
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

void ws_decoder_init(struct ws_decoder *d, bool expect_masked, size_t max_message)
{
	memset(d, 0, sizeof(*d));
	d->expect_masked = expect_masked;
	d->max_message = max_message;
}

void ws_decoder_fini(struct ws_decoder *d)
{
	if (!d)
		return;
	free(d->buf);
	d->buf = NULL;
	d->len = 0;
	d->cap = 0;
}

/* After the first two header bytes: checks them and says how long the header is. */
static int ws_header_start(struct ws_decoder *d)
{
	uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
	unsigned int op = b0 & 0x0f, len7 = b1 & 0x7f;

	d->fin = b0 & 0x80;
	d->op = (uint8_t)op;
	d->masked = b1 & 0x80;
	if (b0 & 0x70)
		return -EPROTO; /* RSV bits: no extension was negotiated */
	if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
	    op != WS_OP_PING && op != WS_OP_PONG)
		return -EPROTO;
	if (ws_is_control(op) && (!d->fin || len7 > WS_CONTROL_MAX))
		return -EPROTO;
	if (d->masked != d->expect_masked)
		return -EPROTO;
	d->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (d->masked ? WS_MASK_LEN : 0);
	return 0;
}

/* The whole header is in: length, mask, message sequencing and size. */
static int ws_header_end(struct ws_decoder *d)
{
	unsigned int len7 = d->hdr[1] & 0x7f;
	size_t h = 2;
	uint64_t len = len7;

	if (len7 == 126) {
		len = ((uint64_t)d->hdr[2] << 8) | d->hdr[3];
		h = 4;
		if (len < 126)
			return -EPROTO; /* not the minimal encoding */
	} else if (len7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | d->hdr[2 + i];
		h = 10;
		if (len >> 63 || len <= 0xffff)
			return -EPROTO;
	}
	if (d->masked)
		memcpy(d->mask, d->hdr + h, WS_MASK_LEN);
	d->payload_len = len;
	d->payload_have = 0;
	if (ws_is_control(d->op))
		return 0;
	if (d->op == WS_OP_CONT) {
		if (!d->in_message)
			return -EPROTO;
	} else {
		if (d->in_message)
			return -EPROTO; /* a new message inside a fragmented one */
		d->in_message = true;
		d->msg_op = d->op;
		d->len = 0;
	}
	if (len > d->max_message || d->len + len > d->max_message)
		return -EMSGSIZE;
	if (d->len + len > d->cap) {
		size_t cap = d->len + (size_t)len;
		uint8_t *p = realloc(d->buf, cap);

		if (!p)
			return -ENOMEM;
		d->buf = p;
		d->cap = cap;
	}
	return 0;
}

/* A frame's payload is in: a control frame or the last fragment makes a message. */
static int ws_frame_done(struct ws_decoder *d, struct ws_message *msg)
{
	size_t n = (size_t)d->payload_len;

	d->in_payload = false;
	d->hdr_have = 0;
	d->hdr_need = 0;
	if (ws_is_control(d->op)) {
		msg->op = (enum ws_opcode)d->op;
		msg->data = d->ctl;
		msg->len = n;
		msg->code = 0;
		if (d->op != WS_OP_CLOSE)
			return 1;
		if (n == 1)
			return -EPROTO;
		if (n == 0) {
			msg->code = WS_CLOSE_NO_STATUS;
			return 1;
		}
		msg->code = (uint16_t)((d->ctl[0] << 8) | d->ctl[1]);
		if (!ws_close_code_valid(msg->code))
			return -EPROTO;
		msg->data = d->ctl + 2;
		msg->len = n - 2;
		if (!ws_utf8_valid(msg->data, msg->len))
			return -EILSEQ;
		return 1;
	}
	d->len += n;
	if (!d->fin)
		return 0;
	d->in_message = false;
	if (d->msg_op == WS_OP_TEXT && !ws_utf8_valid(d->buf, d->len))
		return -EILSEQ;
	msg->op = (enum ws_opcode)d->msg_op;
	msg->data = d->buf ? d->buf : (const uint8_t *)"";
	msg->len = d->len;
	msg->code = 0;
	return 1;
}

int ws_decoder_feed(struct ws_decoder *d, const uint8_t *buf, size_t len, size_t *used,
		    struct ws_message *msg)
{
	size_t i = 0;
	int ret = 0;

	if (d->error) {
		*used = 0;
		return d->error;
	}
	while (ret == 0 && (i < len || (d->in_payload && d->payload_have == d->payload_len))) {
		if (!d->in_payload) {
			if (d->hdr_need == 0)
				d->hdr_need = 2;
			while (i < len && d->hdr_have < d->hdr_need) {
				d->hdr[d->hdr_have++] = buf[i++];
				if (d->hdr_have == 2) {
					ret = ws_header_start(d);
					if (ret < 0)
						break;
				}
			}
			if (ret < 0 || d->hdr_have < d->hdr_need)
				break;
			ret = ws_header_end(d);
			if (ret < 0)
				break;
			d->in_payload = true;
		}
		if (d->payload_have < d->payload_len) {
			uint64_t left = d->payload_len - d->payload_have;
			size_t n = len - i < left ? len - i : (size_t)left;
			uint8_t *dst = ws_is_control(d->op)
					   ? d->ctl + d->payload_have
					   : d->buf + d->len + (size_t)d->payload_have;

			if (d->masked) {
				for (size_t k = 0; k < n; k++)
					dst[k] = buf[i + k] ^ d->mask[(d->payload_have + k) & 3];
			} else if (n > 0) {
				memcpy(dst, buf + i, n);
			}
			i += n;
			d->payload_have += n;
		}
		if (d->payload_have == d->payload_len)
			ret = ws_frame_done(d, msg);
	}
	*used = i;
	if (ret < 0)
		d->error = ret;
	return ret;
}
