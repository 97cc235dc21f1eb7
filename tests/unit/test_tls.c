/* test_tls.c - unit tests of node/tls.c, the ClientHello parser of deep inspection: real
 * ClientHellos captured from `openssl s_client` (OpenSSL 3.0; TLS 1.3 with SNI, -tls1_2,
 * -noservername), every cut of each (TLS_ERR_SHORT until the server_name extension is
 * complete, success after), a record announcing 16 KiB of which the snippet holds 512
 * bytes, a hello continued in a second record, GREASE, and hostile input: every length
 * made inconsistent (TLS_ERR_MALFORMED), other record and handshake types, host names with
 * bytes outside [A-Za-z0-9._-] (TLS_ERR_BAD_SNI), random mutations. The parser gets
 * exact-size heap copies, so that ASan sees any read past the snippet.
 *
 * `test_tls --write-corpus DIR` writes the seed corpus of tests/fuzz/fuzz_tls.c. */
#include "node/tls.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Captured on 127.0.0.1: `openssl s_client -connect 127.0.0.1:PORT -servername
 * www.example.com` (tls_hello13), the same with -tls1_2 (tls_hello12), and with
 * -noservername (tls_hello_nosni); a listener saved the first bytes received. */
static const uint8_t tls_hello13[321] = {
    0x16, 0x03, 0x01, 0x01, 0x3c, 0x01, 0x00, 0x01, 0x38, 0x03, 0x03, 0xe8, 0xce, 0xa5, 0x95, 0x89,
    0xd9, 0x6c, 0xaf, 0xc3, 0x67, 0x59, 0x21, 0xd9, 0x4b, 0x82, 0x0c, 0x23, 0xa7, 0x9e, 0x05, 0x84,
    0x8b, 0xe9, 0x81, 0x4d, 0x4b, 0xb3, 0x9a, 0xc6, 0xc8, 0x2a, 0x38, 0x20, 0xb0, 0x05, 0x02, 0xe4,
    0x60, 0x33, 0x6e, 0xa1, 0x51, 0x41, 0x00, 0xf6, 0x08, 0xe9, 0x19, 0xf6, 0xc7, 0x87, 0x5b, 0xc5,
    0x33, 0x92, 0xb7, 0xcb, 0xb9, 0x0a, 0xa3, 0x67, 0xb7, 0x72, 0x11, 0x0f, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xb1,
    0x00, 0x00, 0x00, 0x14, 0x00, 0x12, 0x00, 0x00, 0x0f, 0x77, 0x77, 0x77, 0x2e, 0x65, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02,
    0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
    0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16,
    0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03,
    0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
    0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02,
    0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03,
    0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
    0x20, 0x99, 0xe5, 0x88, 0x1d, 0xd6, 0x9c, 0xd4, 0x6d, 0xd7, 0xe3, 0x2c, 0x5b, 0x05, 0x57, 0xc5,
    0x6e, 0xa2, 0xd8, 0x25, 0xe3, 0x24, 0xb4, 0xa5, 0x61, 0xbb, 0x81, 0x96, 0xd2, 0x92, 0x56, 0xe6,
    0x6f,
};

static const uint8_t tls_hello12[212] = {
    0x16, 0x03, 0x01, 0x00, 0xcf, 0x01, 0x00, 0x00, 0xcb, 0x03, 0x03, 0x54, 0x6d, 0x20, 0x57, 0x70,
    0xeb, 0x7e, 0x03, 0xea, 0x5a, 0x43, 0x63, 0x80, 0xe3, 0xca, 0x8c, 0x8c, 0xf3, 0x99, 0xc3, 0x96,
    0xfd, 0x06, 0x9d, 0x65, 0xcb, 0x4b, 0x07, 0x42, 0x5b, 0xfa, 0x81, 0x00, 0x00, 0x38, 0xc0, 0x2c,
    0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e,
    0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14,
    0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
    0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x6a, 0x00, 0x00, 0x00, 0x14, 0x00, 0x12,
    0x00, 0x00, 0x0f, 0x77, 0x77, 0x77, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63,
    0x6f, 0x6d, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c, 0x00, 0x0a,
    0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16,
    0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03,
    0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
    0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02,
    0x05, 0x02, 0x06, 0x02,
};

static const uint8_t tls_hello_nosni[297] = {
    0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x0d, 0x9c, 0xdc, 0x8e, 0x61,
    0xc3, 0xe0, 0x0d, 0x28, 0x16, 0x94, 0x25, 0x54, 0x0d, 0xac, 0xb8, 0x34, 0x86, 0x68, 0x16, 0x7b,
    0x66, 0x01, 0x47, 0x08, 0xf0, 0xf6, 0x09, 0x8f, 0xce, 0x11, 0x00, 0x20, 0xab, 0xec, 0xc6, 0x0d,
    0x44, 0xd3, 0xea, 0x9c, 0x3c, 0x39, 0x47, 0x70, 0xbe, 0x69, 0x76, 0x90, 0x7d, 0x30, 0xd8, 0xe0,
    0xb2, 0x8d, 0xa8, 0xc0, 0x77, 0x92, 0x1f, 0xe8, 0xf6, 0x55, 0x43, 0xf8, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
    0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
    0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03,
    0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
    0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
    0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
    0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
    0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00,
    0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x89, 0x2c, 0x98, 0xf4, 0x45, 0x16, 0x39,
    0xda, 0xbd, 0xda, 0x28, 0xce, 0x30, 0xfc, 0x6c, 0xec, 0x11, 0xfb, 0x86, 0x80, 0xf3, 0x15, 0xd8,
    0xc5, 0xa8, 0x32, 0xa1, 0x44, 0x8a, 0x3b, 0x3e, 0x14,
};

/* Where the parts of the captured hellos lie (checked by test_capture_layout). */
#define HELLO13_SNI_END	     168 /* server_name extension at 144, 4 + 20 bytes */
#define HELLO13_VERSIONS_END 273 /* supported_versions at 260, 4 + 9 bytes */
#define HELLO12_SNI_END	     130 /* server_name extension at 106 */

/* --- builders --- */

struct hb {
	uint8_t b[20000];
	size_t len;
};

static void hb_u8(struct hb *h, uint8_t v)
{
	if (h->len >= sizeof(h->b))
		abort();
	h->b[h->len++] = v;
}

static void hb_u16(struct hb *h, uint16_t v)
{
	hb_u8(h, v >> 8);
	hb_u8(h, v & 0xff);
}

static void hb_bytes(struct hb *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		hb_u8(h, b[i]);
}

static void hb_set16(struct hb *h, size_t off, uint16_t v)
{
	h->b[off] = v >> 8;
	h->b[off + 1] = v & 0xff;
}

static void hb_set24(struct hb *h, size_t off, uint32_t v)
{
	h->b[off] = (v >> 16) & 0xff;
	h->b[off + 1] = (v >> 8) & 0xff;
	h->b[off + 2] = v & 0xff;
}

/* One extension: type, length, data. */
static void ext_raw(struct hb *e, uint16_t type, const void *data, size_t len)
{
	hb_u16(e, type);
	hb_u16(e, (uint16_t)len);
	hb_bytes(e, data, len);
}

/* server_name with one host_name of n bytes. */
static void ext_sni(struct hb *e, const char *name, size_t n)
{
	hb_u16(e, 0);
	hb_u16(e, (uint16_t)(n + 5));
	hb_u16(e, (uint16_t)(n + 3));
	hb_u8(e, 0);
	hb_u16(e, (uint16_t)n);
	hb_bytes(e, name, n);
}

static void ext_versions(struct hb *e, const uint16_t *v, size_t n)
{
	size_t i;

	hb_u16(e, 43);
	hb_u16(e, (uint16_t)(1 + 2 * n));
	hb_u8(e, (uint8_t)(2 * n));
	for (i = 0; i < n; i++)
		hb_u16(e, v[i]);
}

/* A ClientHello record: legacy_version 0x0303, a 32-byte session id, two suites, null
 * compression, then the extension block ext (none at all if ext is NULL). */
static void build_hello(struct hb *h, const struct hb *ext)
{
	size_t i;

	h->len = 0;
	hb_bytes(h, "\x16\x03\x01\x00\x00\x01\x00\x00\x00\x03\x03", 11);
	for (i = 0; i < 32; i++)
		hb_u8(h, (uint8_t)(0x40 + i));
	hb_u8(h, 32);
	for (i = 0; i < 32; i++)
		hb_u8(h, (uint8_t)(0x80 + i));
	hb_bytes(h, "\x00\x04\x13\x01\xc0\x2f\x01\x00", 8);
	if (ext != NULL) {
		hb_u16(h, (uint16_t)ext->len);
		hb_bytes(h, ext->b, ext->len);
	}
	hb_set16(h, 3, (uint16_t)(h->len - 5));
	hb_set24(h, 6, (uint32_t)(h->len - 9));
}

/* Offset of the extension block's length in a well-formed hello. */
static size_t ext_block_offset(const uint8_t *b)
{
	size_t pos = 9 + 2 + 32;

	pos += 1 + b[pos];
	pos += 2 + (size_t)((b[pos] << 8) | b[pos + 1]);
	pos += 1 + b[pos];
	return pos;
}

/* Sets the record, handshake and extension block lengths from h->len. */
static void fix_lengths(struct hb *h)
{
	size_t ext = ext_block_offset(h->b);

	hb_set16(h, 3, (uint16_t)(h->len - 5));
	hb_set24(h, 6, (uint32_t)(h->len - 9));
	hb_set16(h, ext, (uint16_t)(h->len - ext - 2));
}

static void hb_copy(struct hb *h, const uint8_t *b, size_t n)
{
	h->len = 0;
	hb_bytes(h, b, n);
}

static struct tls_client_hello hello;

/* Parses an exact-size heap copy of buf[0..len); returns the error, TLS_OK on success,
 * checking that the return value agrees. */
static enum tls_error parse_why(const uint8_t *buf, size_t len)
{
	enum tls_error why = TLS_ERR_MAX;
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	if (copy == NULL)
		abort();
	if (len)
		memcpy(copy, buf, len);
	ret = tls_parse_client_hello(copy, len, &hello, &why);
	free(copy);
	CHECK_EQ_INT(ret, why == TLS_OK ? 0 : -EINVAL);
	return why;
}

static enum tls_error parse_hb(const struct hb *h)
{
	return parse_why(h->b, h->len);
}

/* --- tests --- */

static void test_names(void)
{
	CHECK_EQ_STR(tls_error_name(TLS_OK), "ok");
	CHECK_EQ_STR(tls_error_name(TLS_ERR_NOT_HANDSHAKE), "not_handshake");
	CHECK_EQ_STR(tls_error_name(TLS_ERR_NOT_CLIENT_HELLO), "not_client_hello");
	CHECK_EQ_STR(tls_error_name(TLS_ERR_SHORT), "short");
	CHECK_EQ_STR(tls_error_name(TLS_ERR_MALFORMED), "malformed");
	CHECK_EQ_STR(tls_error_name(TLS_ERR_NO_SNI), "no_sni");
	CHECK_EQ_STR(tls_error_name(TLS_ERR_BAD_SNI), "bad_sni");
	CHECK_EQ_STR(tls_error_name(TLS_ERR_MAX), "unknown");
	CHECK_EQ_STR(tls_error_name((enum tls_error) - 1), "unknown");
	CHECK_EQ_STR(tls_version_name(0x0300), "SSL3.0");
	CHECK_EQ_STR(tls_version_name(0x0301), "TLS1.0");
	CHECK_EQ_STR(tls_version_name(0x0302), "TLS1.1");
	CHECK_EQ_STR(tls_version_name(0x0303), "TLS1.2");
	CHECK_EQ_STR(tls_version_name(0x0304), "TLS1.3");
	CHECK_EQ_STR(tls_version_name(0x0305), "unknown");
	CHECK_EQ_STR(tls_version_name(0x0a0a), "unknown");
}

static void test_capture_layout(void)
{
	CHECK_EQ_U64(ext_block_offset(tls_hello13), 142);
	CHECK_EQ_INT(tls_hello13[144 + 1], 0);	/* server_name */
	CHECK_EQ_INT(tls_hello13[260 + 1], 43); /* supported_versions */
	CHECK_EQ_U64(ext_block_offset(tls_hello12), 104);
	CHECK_EQ_INT(tls_hello12[106 + 1], 0);
}

static void test_real_tls13_hello(void)
{
	CHECK_EQ_INT(parse_why(tls_hello13, sizeof(tls_hello13)), TLS_OK);
	CHECK_EQ_INT(hello.record_version, TLS_VERSION_TLS1_0);
	CHECK_EQ_INT(hello.hello_version, TLS_VERSION_TLS1_2);
	CHECK_EQ_INT(hello.max_version, TLS_VERSION_TLS1_3);
	CHECK_EQ_STR(tls_version_name(hello.max_version), "TLS1.3");
	CHECK_EQ_INT(hello.has_sni, true);
	CHECK_EQ_STR(hello.sni, "www.example.com");
	CHECK_EQ_INT(hello.extensions_cut, false);
}

static void test_real_tls12_only_hello(void)
{
	CHECK_EQ_INT(parse_why(tls_hello12, sizeof(tls_hello12)), TLS_OK);
	CHECK_EQ_INT(hello.hello_version, TLS_VERSION_TLS1_2);
	CHECK_EQ_INT(hello.max_version, TLS_VERSION_TLS1_2);
	CHECK_EQ_STR(hello.sni, "www.example.com");
	CHECK_EQ_INT(hello.extensions_cut, false);
}

static void test_real_hello_without_sni(void)
{
	CHECK_EQ_INT(parse_why(tls_hello_nosni, sizeof(tls_hello_nosni)), TLS_ERR_NO_SNI);
}

static void test_every_cut_length(void)
{
	size_t k, bad = 0;
	enum tls_error why;

	for (k = 0; k < sizeof(tls_hello13); k++) {
		why = parse_why(tls_hello13, k);
		if (k < HELLO13_SNI_END) {
			bad += why != TLS_ERR_SHORT;
			continue;
		}
		bad += why != TLS_OK || strcmp(hello.sni, "www.example.com") != 0;
		bad += !hello.extensions_cut;
		bad += hello.max_version !=
		       (k < HELLO13_VERSIONS_END ? TLS_VERSION_TLS1_2 : TLS_VERSION_TLS1_3);
	}
	CHECK_EQ_U64(bad, 0);
	for (k = 0; k < sizeof(tls_hello12); k++) {
		why = parse_why(tls_hello12, k);
		bad += why != (k < HELLO12_SNI_END ? TLS_ERR_SHORT : TLS_OK);
	}
	CHECK_EQ_U64(bad, 0);
	for (k = 0; k < sizeof(tls_hello_nosni); k++)
		bad += parse_why(tls_hello_nosni, k) != TLS_ERR_SHORT;
	CHECK_EQ_U64(bad, 0);
}

/* The real hello padded (extension 21) to a 16384-byte record; the node sees 512 bytes. */
static void build_big_hello(struct hb *h)
{
	static const uint8_t zeros[16064];

	hb_copy(h, tls_hello13, sizeof(tls_hello13));
	ext_raw(h, 21, zeros, sizeof(zeros));
	fix_lengths(h);
}

static void test_big_record_cut_to_512(void)
{
	static struct hb h;

	build_big_hello(&h);
	CHECK_EQ_U64(h.len, 5 + 16384);
	CHECK_EQ_INT(parse_why(h.b, 512), TLS_OK);
	CHECK_EQ_STR(hello.sni, "www.example.com");
	CHECK_EQ_INT(hello.max_version, TLS_VERSION_TLS1_3);
	CHECK_EQ_INT(hello.extensions_cut, true);
	CHECK_EQ_INT(parse_hb(&h), TLS_OK);
	CHECK_EQ_INT(hello.extensions_cut, false);
	/* One byte over the largest plaintext record (the stray byte after the padding
	 * extension makes the complete hello malformed too). */
	hb_u8(&h, 0);
	fix_lengths(&h);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_MALFORMED);
	CHECK_EQ_INT(parse_why(h.b, 512), TLS_ERR_MALFORMED);
}

/* A hello continued in a second record: only the first record is read. */
static void test_hello_spanning_records(void)
{
	static struct hb h;

	hb_copy(&h, tls_hello13, sizeof(tls_hello13));
	hb_set16(&h, 3, 200);
	CHECK_EQ_INT(parse_hb(&h), TLS_OK);
	CHECK_EQ_STR(hello.sni, "www.example.com");
	CHECK_EQ_INT(hello.extensions_cut, true);
	CHECK_EQ_INT(hello.max_version, TLS_VERSION_TLS1_2);
	hb_set16(&h, 3, 150);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_SHORT);
}

static void test_grease_and_versions(void)
{
	static const uint16_t grease13[] = {0x3a3a, 0x0304, 0x0303};
	static const uint16_t grease12[] = {0x0303, 0xfafa, 0x0302};
	static const uint16_t draft[] = {0x7f1c, 0x0a0a};
	static const uint16_t lower[] = {0x0302};
	static struct hb e, h;

	e.len = 0;
	ext_raw(&e, 0x2a2a, NULL, 0); /* a GREASE extension */
	ext_sni(&e, "grease.example", 14);
	ext_versions(&e, grease13, 3);
	ext_raw(&e, 0xdada, "\x00", 1);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_OK);
	CHECK_EQ_STR(hello.sni, "grease.example");
	CHECK_EQ_INT(hello.max_version, TLS_VERSION_TLS1_3);

	e.len = 0;
	ext_versions(&e, grease12, 3);
	ext_sni(&e, "a", 1);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_OK);
	CHECK_EQ_INT(hello.max_version, TLS_VERSION_TLS1_2);

	/* Only a draft version and GREASE: legacy_version stands. */
	e.len = 0;
	ext_sni(&e, "a", 1);
	ext_versions(&e, draft, 2);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_OK);
	CHECK_EQ_INT(hello.max_version, TLS_VERSION_TLS1_2);

	/* The extension says 1.1 only: it overrides legacy_version. */
	e.len = 0;
	ext_sni(&e, "a", 1);
	ext_versions(&e, lower, 1);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_OK);
	CHECK_EQ_INT(hello.max_version, TLS_VERSION_TLS1_1);
}

static void test_no_extensions(void)
{
	static struct hb e, h;

	build_hello(&h, NULL);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_NO_SNI);
	CHECK_EQ_INT(parse_why(h.b, h.len - 1), TLS_ERR_SHORT);
	e.len = 0;
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_NO_SNI);
}

static void test_sni_list_entries(void)
{
	static struct hb e, h;

	/* A non-host_name entry first, then the host_name, upper case. */
	e.len = 0;
	hb_u16(&e, 0);
	hb_u16(&e, 2 + 4 + 3 + 11);
	hb_u16(&e, 4 + 3 + 11);
	hb_bytes(&e, "\x01\x00\x01X", 4);
	hb_bytes(&e, "\x00\x00\x0bWWW.Example", 3 + 11);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_OK);
	CHECK_EQ_STR(hello.sni, "www.example");

	/* Two host_names in one list. */
	e.len = 0;
	hb_u16(&e, 0);
	hb_u16(&e, 2 + 4 + 4);
	hb_u16(&e, 4 + 4);
	hb_bytes(&e,
		 "\x00\x00\x01"
		 "a"
		 "\x00\x00\x01"
		 "b",
		 8);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_MALFORMED);

	/* Two server_name extensions. */
	e.len = 0;
	ext_sni(&e, "a", 1);
	ext_sni(&e, "b", 1);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_MALFORMED);

	/* Two server_name extensions, the first without a host_name. */
	e.len = 0;
	hb_bytes(&e, "\x00\x00\x00\x06\x00\x04\x01\x00\x01X", 10);
	ext_sni(&e, "b", 1);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_MALFORMED);

	/* A list with no host_name: as if there were no SNI. */
	e.len = 0;
	hb_bytes(&e, "\x00\x00\x00\x06\x00\x04\x01\x00\x01X", 10);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_NO_SNI);

	/* The longest host name, and one more. */
	{
		char name[256];

		memset(name, 'a', sizeof(name));
		e.len = 0;
		ext_sni(&e, name, 255);
		build_hello(&h, &e);
		CHECK_EQ_INT(parse_hb(&h), TLS_OK);
		CHECK_EQ_U64(strlen(hello.sni), 255);
		e.len = 0;
		ext_sni(&e, name, 256);
		build_hello(&h, &e);
		CHECK_EQ_INT(parse_hb(&h), TLS_ERR_BAD_SNI);
	}
}

static void test_bad_sni(void)
{
	static const char *const bad[] = {
	    "www.exa\0mple.com",   "www example.com", "www.example.com/",
	    "caf\xc3\xa9.example", "a:443",	      "a\nb"};
	static const size_t len[] = {16, 15, 16, 13, 5, 3};
	static struct hb e, h;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.len = 0;
		ext_sni(&e, bad[i], len[i]);
		build_hello(&h, &e);
		CHECK_EQ_INT(parse_hb(&h), TLS_ERR_BAD_SNI);
	}
	e.len = 0;
	ext_sni(&e, "", 0);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_BAD_SNI);
	e.len = 0;
	ext_sni(&e, "_dmarc.Mail-1.example.", 22);
	build_hello(&h, &e);
	CHECK_EQ_INT(parse_hb(&h), TLS_OK);
	CHECK_EQ_STR(hello.sni, "_dmarc.mail-1.example.");
}

static void test_malformed_lengths(void)
{
	static struct hb h;
	size_t ext = ext_block_offset(tls_hello13);

#define MUTATE(stmt)                                                                               \
	do {                                                                                       \
		hb_copy(&h, tls_hello13, sizeof(tls_hello13));                                     \
		stmt;                                                                              \
		CHECK_EQ_INT(parse_hb(&h), TLS_ERR_MALFORMED);                                     \
	} while (0)

	MUTATE(hb_set16(&h, 144 + 2, 0xffff)); /* SNI extension past the block */
	MUTATE(hb_set16(&h, 144 + 2, 19));     /* SNI list past the extension */
	MUTATE(hb_set16(&h, 144 + 4, 19));     /* SNI list shorter than the extension */
	MUTATE(hb_set16(&h, 144 + 7, 16));     /* host_name past the list */
	MUTATE(hb_set16(&h, 144 + 4, 0); hb_set16(&h, 144 + 2, 2)); /* empty list */
	MUTATE(hb_set16(&h, ext, 176)); /* block shorter than the hello */
	MUTATE(hb_set16(&h, ext, 178)); /* block longer than the hello */
	MUTATE(h.b[260 + 4] = 7);	/* odd versions list */
	MUTATE(h.b[260 + 4] = 10);	/* versions list past the extension */
	MUTATE(h.b[43] = 33);		/* session id > 32 */
	MUTATE(h.b[43] = 0xff);
	MUTATE(hb_set16(&h, 76, 61));	  /* odd cipher suites */
	MUTATE(hb_set16(&h, 76, 0));	  /* no cipher suite */
	MUTATE(hb_set16(&h, 76, 0xfffe)); /* suites past the hello */
	MUTATE(h.b[140] = 0);		  /* no compression method */
	MUTATE(hb_set16(&h, 3, 0));	  /* empty record */
	MUTATE(hb_set16(&h, 3, 3));	  /* record without a handshake header */
	MUTATE(hb_set16(&h, 3, 16385));	  /* record over 2^14 */
	MUTATE(hb_set24(&h, 6, 20));	  /* handshake too short for its fields */
	MUTATE(hb_set24(&h, 6, 0));
	MUTATE(h.b[9] = 2); /* legacy_version 0x0203 */
#undef MUTATE
	/* A handshake longer than its fields: the extension block no longer ends with it. */
	hb_copy(&h, tls_hello13, sizeof(tls_hello13));
	hb_set24(&h, 6, 0xffffff);
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_MALFORMED);
}

static void test_not_client_hello(void)
{
	static const uint8_t app_data[] = {0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5};
	static const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
	static const uint8_t sslv2[] = {0x80, 0x2e, 0x01, 0x00, 0x02};
	static const uint8_t http[] = "GET / HTTP/1.1\r\n";
	static const uint8_t bad_major[] = {0x16, 0x02, 0x00, 0x00, 0x04, 0x01, 0, 0, 0};
	static struct hb h;

	CHECK_EQ_INT(parse_why(app_data, sizeof(app_data)), TLS_ERR_NOT_HANDSHAKE);
	CHECK_EQ_INT(parse_why(app_data, 1), TLS_ERR_NOT_HANDSHAKE);
	CHECK_EQ_INT(parse_why(alert, sizeof(alert)), TLS_ERR_NOT_HANDSHAKE);
	CHECK_EQ_INT(parse_why(sslv2, sizeof(sslv2)), TLS_ERR_NOT_HANDSHAKE);
	CHECK_EQ_INT(parse_why(http, sizeof(http) - 1), TLS_ERR_NOT_HANDSHAKE);
	CHECK_EQ_INT(parse_why(bad_major, sizeof(bad_major)), TLS_ERR_NOT_HANDSHAKE);
	CHECK_EQ_INT(parse_why(bad_major, 2), TLS_ERR_NOT_HANDSHAKE);
	CHECK_EQ_INT(parse_why(NULL, 0), TLS_ERR_SHORT);

	/* A ServerHello: same record, handshake type 2. */
	hb_copy(&h, tls_hello13, sizeof(tls_hello13));
	h.b[5] = 2;
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_NOT_CLIENT_HELLO);
	CHECK_EQ_INT(parse_why(h.b, 6), TLS_ERR_NOT_CLIENT_HELLO);
	CHECK_EQ_INT(parse_why(h.b, 5), TLS_ERR_SHORT);
	h.b[5] = 11; /* Certificate */
	CHECK_EQ_INT(parse_hb(&h), TLS_ERR_NOT_CLIENT_HELLO);
}

static void test_output_untouched_on_failure(void)
{
	struct tls_client_hello before;
	enum tls_error why = TLS_OK;

	memset(&hello, 0x5a, sizeof(hello));
	before = hello;
	CHECK_EQ_INT(tls_parse_client_hello(tls_hello_nosni, sizeof(tls_hello_nosni), &hello, &why),
		     -EINVAL);
	CHECK_EQ_INT(why, TLS_ERR_NO_SNI);
	CHECK(memcmp(&hello, &before, sizeof(hello)) == 0);
	CHECK_EQ_INT(tls_parse_client_hello(tls_hello13, 100, &hello, NULL), -EINVAL);
	CHECK(memcmp(&hello, &before, sizeof(hello)) == 0);
}

/* Invariants of any successful parse (the fuzzer checks the same). */
static bool hello_sane(const struct tls_client_hello *h)
{
	size_t n = strnlen(h->sni, sizeof(h->sni)), i;

	if (!h->has_sni || n == 0 || n > TLS_SNI_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((h->sni[i] >= 'a' && h->sni[i] <= 'z') ||
		      (h->sni[i] >= '0' && h->sni[i] <= '9') || h->sni[i] == '-' ||
		      h->sni[i] == '.' || h->sni[i] == '_'))
			return false;
	return true;
}

static void test_random_mutations_never_crash(void)
{
	uint32_t seed = 4242;
	size_t iter, bad = 0, ok = 0, len;
	enum tls_error why;
	static struct hb h;
	int j;

	for (iter = 0; iter < 20000; iter++) {
		hb_copy(&h, tls_hello13, sizeof(tls_hello13));
		for (j = 0; j < 1 + (int)(iter % 3); j++) {
			seed = seed * 1103515245u + 12345u;
			h.b[(seed >> 8) % h.len] = (uint8_t)(seed >> 20);
		}
		seed = seed * 1103515245u + 12345u;
		len = h.len - (seed >> 10) % 32;
		why = parse_why(h.b, len);
		if (why == TLS_OK) {
			ok++;
			bad += !hello_sane(&hello);
		} else {
			bad += why >= TLS_ERR_MAX;
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

static int write_corpus(const char *dir)
{
	static const uint16_t grease13[] = {0x3a3a, 0x0304, 0x0303};
	static struct hb e, h;
	int ret = 0;

	ret |= write_file(dir, "hello_tls13_sni", tls_hello13, sizeof(tls_hello13));
	ret |= write_file(dir, "hello_tls12_sni", tls_hello12, sizeof(tls_hello12));
	ret |= write_file(dir, "hello_no_sni", tls_hello_nosni, sizeof(tls_hello_nosni));
	build_big_hello(&h);
	ret |= write_file(dir, "hello_16k_record_512", h.b, 512);
	e.len = 0;
	ext_raw(&e, 0x2a2a, NULL, 0);
	ext_sni(&e, "grease.example", 14);
	ext_versions(&e, grease13, 3);
	build_hello(&h, &e);
	ret |= write_file(dir, "hello_grease", h.b, h.len);
	hb_copy(&h, tls_hello13, sizeof(tls_hello13));
	h.b[5] = 2;
	ret |= write_file(dir, "server_hello", h.b, h.len);
	return ret ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]) == 0 ? 0 : 1;

	test_names();
	test_capture_layout();
	test_real_tls13_hello();
	test_real_tls12_only_hello();
	test_real_hello_without_sni();
	test_every_cut_length();
	test_big_record_cut_to_512();
	test_hello_spanning_records();
	test_grease_and_versions();
	test_no_extensions();
	test_sni_list_entries();
	test_bad_sni();
	test_malformed_lengths();
	test_not_client_hello();
	test_output_untouched_on_failure();
	test_random_mutations_never_crash();
	return check_exit();
}
