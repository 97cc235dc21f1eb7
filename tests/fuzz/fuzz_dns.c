/* fuzz_dns.c - libFuzzer target for the DNS parser of deep inspection (node/dns.c): the
 * input is handed to dns_parse() (a UDP payload) and to dns_parse_tcp() (the same bytes
 * read as a TCP payload with its length prefix). Besides "no crash, no read past the end"
 * (ASan, UBSan), it checks the parser's contract:
 *   - a failure is -EINVAL with a reason in range; success is 0 with DNS_OK;
 *   - on success every string is NUL-terminated and at most 253 characters, of lower-case
 *     printable ASCII, nanswers <= DNS_MAX_ANSWERS, answers are A/AAAA/CNAME of class IN,
 *     and dns_resolved_addrs() stays within what it was given;
 *   - a cut snippet never turns a success into anything but success or DNS_ERR_SHORT.
 *
 * Built twice by tests/fuzz/fuzz.cmake: as fuzz_dns with -fsanitize=fuzzer (clang,
 * AYAFLOW_FUZZ=ON), and with fuzz_main.c as fuzz_dns_corpus, which CTest runs over the
 * seed corpus tests/fuzz/corpus/dns in every build. */
#include "node/dns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_dns: %s\n", what);
	abort();
}

static void fuzz_check_name(const char *name)
{
	size_t n = strnlen(name, DNS_NAME_MAX + 1), i;

	if (n > DNS_NAME_MAX - 2)
		fuzz_fail("a name is not terminated or longer than 253");
	for (i = 0; i < n; i++)
		if (name[i] < 0x21 || name[i] > 0x7e || (name[i] >= 'A' && name[i] <= 'Z'))
			fuzz_fail("a name holds a byte outside lower-case printable ASCII");
	if (n > 0 && (name[0] == '.' || name[n - 1] == '.' || strstr(name, "..") != NULL))
		fuzz_fail("a name has an empty label");
}

static void fuzz_check_message(const struct dns_message *m)
{
	const uint8_t *addrs[DNS_MAX_ANSWERS + 1];
	size_t i, n;

	fuzz_check_name(m->qname);
	if (m->nanswers > DNS_MAX_ANSWERS)
		fuzz_fail("nanswers over DNS_MAX_ANSWERS");
	for (i = 0; i < m->nanswers; i++) {
		const struct dns_answer *a = &m->answers[i];

		fuzz_check_name(a->name);
		fuzz_check_name(a->target);
		if (a->class != DNS_CLASS_IN ||
		    (a->type != DNS_TYPE_A && a->type != DNS_TYPE_AAAA &&
		     a->type != DNS_TYPE_CNAME))
			fuzz_fail("an answer kept that is not A, AAAA or CNAME of class IN");
		if (a->type != DNS_TYPE_CNAME && a->target[0] != '\0')
			fuzz_fail("an address answer with a target");
	}
	n = dns_resolved_addrs(m, addrs, DNS_MAX_ANSWERS + 1);
	if (n > m->nanswers)
		fuzz_fail("more resolved addresses than answers");
	for (i = 0; i < n; i++)
		if (addrs[i] < (const uint8_t *)m->answers ||
		    addrs[i] >= (const uint8_t *)(m->answers + m->nanswers))
			fuzz_fail("a resolved address outside the message");
	if (n > 0 && dns_resolved_addrs(m, addrs, 1) != 1)
		fuzz_fail("dns_resolved_addrs ignores max");
}

typedef int (*fuzz_parse_fn)(const uint8_t *, size_t, struct dns_message *, enum dns_error *);

static void fuzz_one(fuzz_parse_fn parse, const uint8_t *data, size_t size)
{
	static struct dns_message m, cut;
	enum dns_error why = DNS_ERR_MAX;
	size_t k;
	int ret;

	ret = parse(data, size, &m, &why);
	if (ret != 0) {
		if (ret != -EINVAL || why == DNS_OK || why >= DNS_ERR_MAX)
			fuzz_fail("a failure without -EINVAL and a reason");
		return;
	}
	if (why != DNS_OK)
		fuzz_fail("a success with a reason");
	fuzz_check_message(&m);
	if (size == 0)
		return;
	/* One cut, at a point that depends on the input. */
	k = data[size - 1] % size;
	ret = parse(data, k, &cut, &why);
	if (ret != 0 && why != DNS_ERR_SHORT)
		fuzz_fail("cutting a valid message gives an error other than short");
	if (ret == 0) {
		fuzz_check_message(&cut);
		if (strcmp(cut.qname, m.qname) != 0 || cut.nanswers > m.nanswers)
			fuzz_fail("a cut message parses differently");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_one(dns_parse, data, size);
	fuzz_one(dns_parse_tcp, data, size);
	return 0;
}
