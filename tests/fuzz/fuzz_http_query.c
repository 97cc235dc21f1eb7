/* fuzz_http_query.c - libFuzzer target for the collector's query-parameter parsers
 * (collector/params.c: time, address, protocol, as /api/history, /api/dns and /api/domains
 * use them). The input is split at the first NUL bytes into up to three parameter values
 * (the HTTP layer hands the parsers NUL-terminated strings); each value goes through every
 * parser. Besides "no crash" it checks their contracts: an accepted time is at most
 * 9999-12-31T23:59:59.999Z, and for plain digits equals the number; an accepted address
 * prints back (inet_ntop) and parses to the same 16 bytes; an accepted protocol name or
 * number is what it says; a rejection is -EINVAL and leaves the output untouched.
 *
 * Built twice by tests/fuzz/fuzz.cmake: as fuzz_http_query (clang, -DAYAFLOW_FUZZ=ON) and
 * with fuzz_main.c as fuzz_http_query_corpus, CTest's fuzz.http_query_corpus over
 * tests/fuzz/corpus/http_query. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector/params.h"

#define FUZZ_TIME_MAX_MS 253402300799999ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_http_query: %s: '%s'\n", what, s);
	abort();
}

static void fuzz_time(const char *s)
{
	uint64_t t = 0xdeadbeef;
	int ret = params_parse_time(s, &t);
	size_t n = strspn(s, "0123456789");

	if (ret != 0) {
		if (ret != -EINVAL || t != 0xdeadbeef)
			fuzz_fail("time: a rejection other than -EINVAL, or the output touched", s);
		return;
	}
	if (t > FUZZ_TIME_MAX_MS)
		fuzz_fail("time: accepted beyond year 9999", s);
	if (n > 0 && s[n] == '\0' && t != strtoull(s, NULL, 10))
		fuzz_fail("time: digits parsed to another number", s);
}

static void fuzz_ip(const char *s)
{
	uint8_t a[16], b[16];
	char text[INET6_ADDRSTRLEN];
	int ret;

	memset(a, 0xa5, sizeof(a));
	ret = params_parse_ip(s, a);
	if (ret != 0) {
		static const uint8_t untouched[16] = {0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
						      0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5};
		if (ret != -EINVAL || memcmp(a, untouched, 16) != 0)
			fuzz_fail("ip: a rejection other than -EINVAL, or the output touched", s);
		return;
	}
	if (!inet_ntop(AF_INET6, a, text, sizeof(text)))
		fuzz_fail("ip: an accepted address does not print", s);
	if (params_parse_ip(text, b) != 0 || memcmp(a, b, 16) != 0)
		fuzz_fail("ip: an accepted address does not round-trip", s);
}

static void fuzz_proto(const char *s)
{
	uint8_t p = 0xa5;
	int ret = params_parse_proto(s, &p);
	size_t n = strspn(s, "0123456789");

	if (ret != 0) {
		if (ret != -EINVAL || p != 0xa5)
			fuzz_fail("proto: a rejection other than -EINVAL, or the output touched", s);
		return;
	}
	if (n > 0 && s[n] == '\0') {
		if (n > 3 || strtoul(s, NULL, 10) != p)
			fuzz_fail("proto: a number parsed to another number", s);
	} else if (!((strcasecmp(s, "tcp") == 0 && p == 6) || (strcasecmp(s, "udp") == 0 && p == 17) ||
		     (strcasecmp(s, "icmp") == 0 && p == 1) ||
		     (strcasecmp(s, "icmpv6") == 0 && p == 58))) {
		fuzz_fail("proto: an accepted name is not a known protocol", s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char *s;
	size_t off = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (int i = 0; i < 3 && off <= size; i++) {
		s = buf + off;
		fuzz_time(s);
		fuzz_ip(s);
		fuzz_proto(s);
		off += strlen(s) + 1;
	}
	free(buf);
	return 0;
}
