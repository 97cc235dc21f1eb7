/* test_ws.c - unit tests of lib/ws.c against the exact bytes of RFC 6455: the handshake
 * key of section 1.3, the "Hello" frames of section 5.7 (unmasked, masked, fragmented,
 * ping/pong, 16- and 64-bit lengths), and the decoder's errors and their close codes. */
#include "ws.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t hello_unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
				       0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t rfc_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

static void test_accept_key_matches_rfc_example(void)
{
	char out[WS_ACCEPT_LEN + 1];
	uint8_t nonce[16] = "the sample nonce";
	char key[WS_KEY_LEN + 1];

	CHECK_EQ_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	CHECK_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK_EQ_INT(ws_client_key(nonce, key), 0);
	CHECK_EQ_STR(key, "dGhlIHNhbXBsZSBub25jZQ==");
	CHECK(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ="));
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==x"));
	CHECK(!ws_key_valid("!!!!!!!!!!!!!!!!!!!!!!=="));
	CHECK(!ws_key_valid(NULL));
	CHECK_EQ_INT(ws_accept_key("short", out), -EINVAL);
}

static void test_encode_hello_frames(void)
{
	uint8_t out[64];

	CHECK_EQ_INT(ws_frame_encode(out, sizeof(out), WS_OP_TEXT, true, "Hello", 5, NULL), 7);
	CHECK(memcmp(out, hello_unmasked, 7) == 0);
	CHECK_EQ_INT(ws_frame_encode(out, sizeof(out), WS_OP_TEXT, true, "Hello", 5, rfc_mask), 11);
	CHECK(memcmp(out, hello_masked, 11) == 0);
	/* section 5.7: fragmented "Hel" + "lo", and an unmasked ping "Hello" */
	CHECK_EQ_INT(ws_frame_encode(out, sizeof(out), WS_OP_TEXT, false, "Hel", 3, NULL), 5);
	CHECK(memcmp(out, "\x01\x03\x48\x65\x6c", 5) == 0);
	CHECK_EQ_INT(ws_frame_encode(out, sizeof(out), WS_OP_CONT, true, "lo", 2, NULL), 4);
	CHECK(memcmp(out, "\x80\x02\x6c\x6f", 4) == 0);
	CHECK_EQ_INT(ws_frame_encode(out, sizeof(out), WS_OP_PING, true, "Hello", 5, NULL), 7);
	CHECK(memcmp(out, "\x89\x05\x48\x65\x6c\x6c\x6f", 7) == 0);
	CHECK_EQ_INT(ws_frame_encode(out, sizeof(out), WS_OP_PONG, true, "Hello", 5, rfc_mask), 11);
	CHECK(memcmp(out, "\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11) == 0);
	CHECK_EQ_INT(ws_frame_encode(out, 6, WS_OP_TEXT, true, "Hello", 5, NULL), -ENOSPC);
	CHECK_EQ_INT(ws_frame_encode(out, sizeof(out), WS_OP_PING, false, "x", 1, NULL), -EINVAL);
	CHECK_EQ_INT(ws_close_encode(out, sizeof(out), 1000, "bye", NULL), 7);
	CHECK(memcmp(out,
		     "\x88\x05\x03\xe8"
		     "bye",
		     7) == 0);
	CHECK_EQ_INT(ws_close_encode(out, sizeof(out), 0, NULL, NULL), 2);
	CHECK(memcmp(out, "\x88\x00", 2) == 0);
}

static void test_encode_extended_lengths(void)
{
	size_t big = 65536;
	uint8_t *payload = calloc(1, big), *out = malloc(big + 16);

	CHECK(payload && out);
	if (!payload || !out)
		goto done;
	/* section 5.7: 256 bytes in one unmasked binary frame, then 64 KiB */
	CHECK_EQ_INT(ws_frame_encode(out, big + 16, WS_OP_BINARY, true, payload, 256, NULL), 260);
	CHECK(memcmp(out, "\x82\x7e\x01\x00", 4) == 0);
	CHECK_EQ_INT(ws_frame_encode(out, big + 16, WS_OP_BINARY, true, payload, big, NULL),
		     (long long)big + 10);
	CHECK(memcmp(out, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10) == 0);
	CHECK_EQ_U64(ws_frame_size(125, false), 127);
	CHECK_EQ_U64(ws_frame_size(126, true), 134);
done:
	free(payload);
	free(out);
}

/* Feeds the whole of in, one byte at a time when bytewise; the first message or error. */
static int test_decode(struct ws_decoder *d, const uint8_t *in, size_t len, bool bytewise,
		       struct ws_message *msg, size_t *consumed)
{
	size_t off = 0, used;
	int ret = 0;

	while (off < len) {
		size_t n = bytewise ? 1 : len - off;

		ret = ws_decoder_feed(d, in + off, n, &used, msg);
		off += used;
		if (ret != 0)
			break;
	}
	*consumed = off;
	return ret;
}

static void test_decode_hello(void)
{
	struct ws_decoder d;
	struct ws_message m;
	size_t used;

	for (int bytewise = 0; bytewise < 2; bytewise++) {
		ws_decoder_init(&d, true, 1024);
		CHECK_EQ_INT(
		    test_decode(&d, hello_masked, sizeof(hello_masked), bytewise, &m, &used), 1);
		CHECK_EQ_U64(used, sizeof(hello_masked));
		CHECK_EQ_INT(m.op, WS_OP_TEXT);
		CHECK(m.len == 5 && memcmp(m.data, "Hello", 5) == 0);
		/* the server refuses unmasked client frames */
		CHECK_EQ_INT(test_decode(&d, hello_unmasked, 7, bytewise, &m, &used), -EPROTO);
		ws_decoder_fini(&d);

		ws_decoder_init(&d, false, 1024);
		CHECK_EQ_INT(test_decode(&d, hello_unmasked, 7, bytewise, &m, &used), 1);
		CHECK(m.op == WS_OP_TEXT && m.len == 5 && memcmp(m.data, "Hello", 5) == 0);
		CHECK_EQ_INT(test_decode(&d, hello_masked, 11, bytewise, &m, &used), -EPROTO);
		ws_decoder_fini(&d);
	}
}

static void test_decode_fragments_with_interleaved_ping(void)
{
	static const uint8_t in[] = {0x01, 0x03, 'H', 'e', 'l',	 0x89, 0x02, 'h', 'i',
				     0x80, 0x02, 'l', 'o', 0x88, 0x02, 0x03, 0xe9};
	struct ws_decoder d;
	struct ws_message m;
	size_t off = 0, used;

	ws_decoder_init(&d, false, 16);
	CHECK_EQ_INT(ws_decoder_feed(&d, in, sizeof(in), &used, &m), 1);
	CHECK_EQ_U64(used, 9);
	CHECK(m.op == WS_OP_PING && m.len == 2 && memcmp(m.data, "hi", 2) == 0);
	off += used;
	CHECK_EQ_INT(ws_decoder_feed(&d, in + off, sizeof(in) - off, &used, &m), 1);
	CHECK(m.op == WS_OP_TEXT && m.len == 5 && memcmp(m.data, "Hello", 5) == 0);
	off += used;
	CHECK_EQ_INT(ws_decoder_feed(&d, in + off, sizeof(in) - off, &used, &m), 1);
	CHECK_EQ_INT(m.op, WS_OP_CLOSE);
	CHECK_EQ_INT(m.code, 1001);
	CHECK_EQ_U64(m.len, 0);
	CHECK_EQ_U64(off + used, sizeof(in));
	CHECK_EQ_INT(ws_decoder_feed(&d, in, 0, &used, &m), 0);
	ws_decoder_fini(&d);
}

static void test_decode_lengths(void)
{
	uint8_t frame[300 + 14], payload[300];
	struct ws_decoder d;
	struct ws_message m;
	ssize_t n;
	size_t used;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)('a' + i % 26);
	n = ws_frame_encode(frame, sizeof(frame), WS_OP_TEXT, true, payload, 300, rfc_mask);
	CHECK_EQ_INT(n, 308);
	ws_decoder_init(&d, true, 300);
	CHECK_EQ_INT(test_decode(&d, frame, (size_t)n, true, &m, &used), 1);
	CHECK(m.len == 300 && memcmp(m.data, payload, 300) == 0);
	ws_decoder_fini(&d);
	/* one byte over the bound: 1009 */
	ws_decoder_init(&d, true, 299);
	CHECK_EQ_INT(test_decode(&d, frame, (size_t)n, false, &m, &used), -EMSGSIZE);
	CHECK_EQ_INT(ws_close_code_of(-EMSGSIZE), WS_CLOSE_TOO_BIG);
	ws_decoder_fini(&d);
	/* 64-bit length with the top bit set, and non-minimal lengths: 1002 */
	ws_decoder_init(&d, false, 1 << 20);
	CHECK_EQ_INT(
	    test_decode(&d, (const uint8_t *)"\x82\x7f\x80\0\0\0\0\0\0\x01", 10, false, &m, &used),
	    -EPROTO);
	ws_decoder_fini(&d);
	ws_decoder_init(&d, false, 1 << 20);
	CHECK_EQ_INT(test_decode(&d, (const uint8_t *)"\x82\x7e\x00\x05hello", 9, false, &m, &used),
		     -EPROTO);
	ws_decoder_fini(&d);
	/* an empty binary message */
	ws_decoder_init(&d, false, 0);
	CHECK_EQ_INT(test_decode(&d, (const uint8_t *)"\x82\x00", 2, false, &m, &used), 1);
	CHECK(m.op == WS_OP_BINARY && m.len == 0 && m.data != NULL);
	ws_decoder_fini(&d);
}

/* One frame (hex-free bytes) must fail with want. */
static void test_decode_error(const char *in, size_t len, bool masked, int want, int line)
{
	struct ws_decoder d;
	struct ws_message m;
	size_t used;
	int got;

	ws_decoder_init(&d, masked, 1024);
	got = test_decode(&d, (const uint8_t *)in, len, false, &m, &used);
	if (got != want)
		fprintf(stderr, "test_ws.c:%d: frame error %d, want %d\n", line, got, want);
	CHECK_EQ_INT(got, want);
	/* sticky */
	CHECK_EQ_INT(ws_decoder_feed(&d, (const uint8_t *)"\x81\x00", 2, &used, &m), want);
	ws_decoder_fini(&d);
}

static void test_decode_errors_map_to_close_codes(void)
{
	test_decode_error("\xc1\x00", 2, false, -EPROTO, __LINE__);	    /* RSV1 */
	test_decode_error("\x83\x00", 2, false, -EPROTO, __LINE__);	    /* opcode 3 */
	test_decode_error("\x8b\x00", 2, false, -EPROTO, __LINE__);	    /* opcode 0xb */
	test_decode_error("\x09\x00", 2, false, -EPROTO, __LINE__);	    /* fragmented ping */
	test_decode_error("\x89\x7e\x00\x7e", 4, false, -EPROTO, __LINE__); /* ping > 125 */
	test_decode_error("\x80\x00", 2, false, -EPROTO, __LINE__);	    /* continuation first */
	test_decode_error("\x01\x01"
			  "a\x01\x01"
			  "b",
			  6, false, -EPROTO, __LINE__);				/* nested */
	test_decode_error("\x88\x01\x03", 3, false, -EPROTO, __LINE__);		/* close, 1 byte */
	test_decode_error("\x88\x02\x03\xed", 4, false, -EPROTO, __LINE__);	/* code 1005 */
	test_decode_error("\x88\x02\x03\xe7", 4, false, -EPROTO, __LINE__);	/* code 999 */
	test_decode_error("\x88\x03\x03\xe8\xff", 5, false, -EILSEQ, __LINE__); /* reason */
	test_decode_error("\x81\x02\xc0\xaf", 4, false, -EILSEQ, __LINE__);	/* overlong */
	test_decode_error("\x81\x03\xed\xa0\x80", 5, false, -EILSEQ, __LINE__); /* surrogate */
	test_decode_error("\x81\x01\xe2", 3, false, -EILSEQ, __LINE__);		/* cut sequence */
	CHECK_EQ_INT(ws_close_code_of(-EPROTO), WS_CLOSE_PROTOCOL);
	CHECK_EQ_INT(ws_close_code_of(-EILSEQ), WS_CLOSE_BAD_DATA);
	CHECK_EQ_INT(ws_close_code_of(-ENOMEM), WS_CLOSE_INTERNAL);
}

static void test_utf8(void)
{
	CHECK(ws_utf8_valid((const uint8_t *)"", 0));
	CHECK(ws_utf8_valid((const uint8_t *)"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
	CHECK(ws_utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
	CHECK(!ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	CHECK(!ws_utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3));     /* overlong */
	CHECK(!ws_utf8_valid((const uint8_t *)"\x80", 1));
	CHECK(!ws_utf8_valid((const uint8_t *)"\xc3", 1));
}

int main(void)
{
	test_accept_key_matches_rfc_example();
	test_encode_hello_frames();
	test_encode_extended_lengths();
	test_decode_hello();
	test_decode_fragments_with_interleaved_ping();
	test_decode_lengths();
	test_decode_errors_map_to_close_codes();
	test_utf8();
	return check_exit();
}
