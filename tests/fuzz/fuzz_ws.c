/* fuzz_ws.c - libFuzzer target for the WebSocket frame decoder (lib/ws.c), which reads
 * bytes from any client of /api/stream. The first input byte picks the role (masked
 * client frames or unmasked server frames), the bound on message size and how the rest
 * is cut into chunks. Besides "no crash, no leak" (ASan, UBSan) it checks the contract:
 * feeding the stream in one piece or cut anywhere gives the same messages and the same
 * error; every message respects the bound; text is UTF-8; close codes are valid.
 *
 * Built twice by tests/fuzz/fuzz.cmake: as fuzz_ws with -fsanitize=fuzzer (clang,
 * AYAFLOW_FUZZ=ON), and with fuzz_main.c as fuzz_ws_corpus, which CTest runs over the
 * seed corpus tests/fuzz/corpus/ws in every build. */
#include "ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_WS_MAX_MESSAGES 4096

struct fuzz_ws_result {
	size_t n;
	uint64_t hash[FUZZ_WS_MAX_MESSAGES];
	int error;
};

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_ws: %s\n", what);
	abort();
}

static uint64_t fuzz_ws_hash(const struct ws_message *m)
{
	uint64_t h = 1469598103934665603ull ^ ((uint64_t)m->op << 32) ^ m->code;

	for (size_t i = 0; i < m->len; i++)
		h = (h ^ m->data[i]) * 1099511628211ull;
	return h ^ m->len;
}

static void fuzz_ws_check(const struct ws_message *m, size_t max)
{
	switch (m->op) {
	case WS_OP_TEXT:
		if (!ws_utf8_valid(m->data, m->len))
			fuzz_fail("text message that is not UTF-8");
		/* fall through */
	case WS_OP_BINARY:
		if (m->len > max)
			fuzz_fail("message over the bound");
		break;
	case WS_OP_CLOSE:
		if (m->code != WS_CLOSE_NO_STATUS && !ws_close_code_valid(m->code))
			fuzz_fail("close with an invalid code");
		/* fall through */
	case WS_OP_PING:
	case WS_OP_PONG:
		if (m->len > WS_CONTROL_MAX)
			fuzz_fail("control frame over 125 bytes");
		break;
	default:
		fuzz_fail("unexpected opcode");
	}
}

/* Decodes data in chunks of at most chunk bytes (0: all at once). */
static void fuzz_ws_run(const uint8_t *data, size_t size, bool masked, size_t max, size_t chunk,
			struct fuzz_ws_result *r)
{
	struct ws_decoder d;
	struct ws_message m;
	size_t off = 0, used;

	memset(r, 0, sizeof(*r));
	ws_decoder_init(&d, masked, max);
	while (off < size) {
		size_t n = chunk && size - off > chunk ? chunk : size - off;
		size_t end = off + n;

		while (off < end) {
			int ret = ws_decoder_feed(&d, data + off, end - off, &used, &m);

			if (used > end - off)
				fuzz_fail("consumed more than given");
			off += used;
			if (ret < 0) {
				if (ret != -EPROTO && ret != -EMSGSIZE && ret != -EILSEQ &&
				    ret != -ENOMEM)
					fuzz_fail("unexpected error");
				r->error = ret;
				goto out;
			}
			if (ret == 0) {
				if (off != end)
					fuzz_fail("need-more with input left");
				break;
			}
			fuzz_ws_check(&m, max);
			if (r->n < FUZZ_WS_MAX_MESSAGES)
				r->hash[r->n] = fuzz_ws_hash(&m);
			r->n++;
		}
	}
out:
	ws_decoder_fini(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_ws_result whole, cut;
	static const size_t bounds[4] = {0, 16, 1024, 65536};
	bool masked;
	size_t max, chunk;

	if (size < 1)
		return 0;
	masked = data[0] & 1;
	max = bounds[(data[0] >> 1) & 3];
	chunk = 1 + ((data[0] >> 3) & 7) * 3;
	data++;
	size--;
	fuzz_ws_run(data, size, masked, max, 0, &whole);
	fuzz_ws_run(data, size, masked, max, chunk, &cut);
	if (whole.n != cut.n || whole.error != cut.error)
		fuzz_fail("chunking changed the result");
	for (size_t i = 0; i < whole.n && i < FUZZ_WS_MAX_MESSAGES; i++) {
		if (whole.hash[i] != cut.hash[i])
			fuzz_fail("chunking changed a message");
	}
	return 0;
}
