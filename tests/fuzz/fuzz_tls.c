/* fuzz_tls.c - libFuzzer target for the TLS ClientHello parser of deep inspection
 * (node/tls.c). Besides "no crash, no read past the end" (ASan, UBSan), it checks the
 * parser's contract:
 *   - a failure is -EINVAL with a reason in range; success is 0 with TLS_OK;
 *   - on success has_sni is set and sni is a NUL-terminated 1..255-byte string of
 *     [a-z0-9._-]; max_version is a 0x03xx version;
 *   - a cut snippet never turns a success into anything but the same SNI or TLS_ERR_SHORT.
 *
 * Built twice by tests/fuzz/fuzz.cmake: as fuzz_tls with -fsanitize=fuzzer (clang,
 * AYAFLOW_FUZZ=ON), and with fuzz_main.c as fuzz_tls_corpus, which CTest runs over the
 * seed corpus tests/fuzz/corpus/tls in every build. */
#include "node/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_tls: %s\n", what);
	abort();
}

static void fuzz_check_hello(const struct tls_client_hello *h)
{
	size_t n = strnlen(h->sni, sizeof(h->sni)), i;

	if (!h->has_sni)
		fuzz_fail("a success without an SNI");
	if (n == 0 || n > TLS_SNI_MAX)
		fuzz_fail("sni empty, unterminated or over 255 bytes");
	for (i = 0; i < n; i++) {
		char c = h->sni[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_'))
			fuzz_fail("sni holds a byte outside [a-z0-9._-]");
	}
	if ((h->max_version >> 8) != 3 || (h->hello_version >> 8) != 3 ||
	    (h->record_version >> 8) != 3)
		fuzz_fail("a version that is not 0x03xx");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_client_hello h, cut;
	enum tls_error why = TLS_ERR_MAX;
	size_t k;
	int ret;

	ret = tls_parse_client_hello(data, size, &h, &why);
	if (ret != 0) {
		if (ret != -EINVAL || why == TLS_OK || why >= TLS_ERR_MAX)
			fuzz_fail("a failure without -EINVAL and a reason");
		return 0;
	}
	if (why != TLS_OK)
		fuzz_fail("a success with a reason");
	fuzz_check_hello(&h);
	/* One cut, at a point that depends on the input. */
	k = data[size - 1] % size;
	ret = tls_parse_client_hello(data, k, &cut, &why);
	if (ret != 0 && why != TLS_ERR_SHORT)
		fuzz_fail("cutting a valid hello gives an error other than short");
	if (ret == 0) {
		fuzz_check_hello(&cut);
		if (strcmp(cut.sni, h.sni) != 0)
			fuzz_fail("a cut hello parses differently");
	}
	return 0;
}
