/* test_cidr.c - unit tests of lib/cidr.c: parsing of prefixes and bare addresses,
 * rejection of malformed entries, and matching of IPv4, IPv6 and IPv4-mapped clients. */
#include "cidr.h"
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Builds a sockaddr for text (IPv4 or IPv6) in *ss. */
static const struct sockaddr *test_addr(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
	} else {
		fprintf(stderr, "test_addr: bad test address '%s'\n", text);
		abort();
	}
	return (const struct sockaddr *)ss;
}

/* Does a list made of the given entries match client? */
static bool test_match(const char *const *entries, size_t n, const char *client)
{
	struct sockaddr_storage ss;
	struct cidr_list *list;
	bool ok;
	size_t i;

	list = cidr_list_new();
	if (list == NULL)
		abort();
	for (i = 0; i < n; i++)
		if (cidr_list_add(list, entries[i]) != 0) {
			fprintf(stderr, "test_match: could not add '%s'\n", entries[i]);
			abort();
		}
	ok = cidr_list_match(list, test_addr(client, &ss));
	cidr_list_free(list);
	return ok;
}

#define MATCH1(entry, client) test_match((const char *const[]){entry}, 1, client)

static void test_ipv4_prefix_matches_inside_only(void)
{
	CHECK(MATCH1("10.0.0.0/8", "10.1.2.3"));
	CHECK(MATCH1("10.0.0.0/8", "10.255.255.255"));
	CHECK(!MATCH1("10.0.0.0/8", "11.0.0.1"));
	CHECK(!MATCH1("10.0.0.0/8", "9.255.255.255"));
	CHECK(MATCH1("192.168.1.0/24", "192.168.1.77"));
	CHECK(!MATCH1("192.168.1.0/24", "192.168.2.1"));
	CHECK(MATCH1("172.16.0.0/12", "172.31.255.1"));
	CHECK(!MATCH1("172.16.0.0/12", "172.32.0.1"));
}

static void test_ipv4_mapped_client_matches_ipv4_entry(void)
{
	CHECK(MATCH1("10.0.0.0/8", "::ffff:10.1.2.3"));
	CHECK(!MATCH1("10.0.0.0/8", "::ffff:11.0.0.1"));
	CHECK(MATCH1("127.0.0.1", "::ffff:127.0.0.1"));
	/* A mapped entry is an IPv4 entry: it matches plain IPv4 clients too. */
	CHECK(MATCH1("::ffff:10.0.0.0/104", "10.9.9.9"));
	CHECK(!MATCH1("::ffff:10.0.0.0/104", "11.9.9.9"));
}

static void test_ipv6_prefix_matches_inside_only(void)
{
	CHECK(MATCH1("2001:db8::/32", "2001:db8::1"));
	CHECK(MATCH1("2001:db8::/32", "2001:db8:ffff::1"));
	CHECK(!MATCH1("2001:db8::/32", "2001:db9::1"));
	CHECK(MATCH1("fd00::/8", "fdab:cdef::1"));
	CHECK(!MATCH1("fd00::/8", "fe80::1"));
	CHECK(MATCH1("2001:db8::/33", "2001:db8:7fff::1"));
	CHECK(!MATCH1("2001:db8::/33", "2001:db8:8000::1"));
}

static void test_zero_prefix_matches_whole_family(void)
{
	CHECK(MATCH1("0.0.0.0/0", "1.2.3.4"));
	CHECK(MATCH1("0.0.0.0/0", "255.255.255.255"));
	CHECK(MATCH1("0.0.0.0/0", "::ffff:8.8.8.8"));
	CHECK(!MATCH1("0.0.0.0/0", "2001:db8::1"));
	CHECK(MATCH1("::/0", "2001:db8::1"));
	CHECK(MATCH1("::/0", "::1"));
	CHECK(!MATCH1("::/0", "1.2.3.4"));
}

static void test_bare_address_is_host_prefix(void)
{
	CHECK(MATCH1("127.0.0.1", "127.0.0.1"));
	CHECK(!MATCH1("127.0.0.1", "127.0.0.2"));
	CHECK(MATCH1("::1", "::1"));
	CHECK(!MATCH1("::1", "::2"));
	CHECK(MATCH1("10.0.0.5/32", "10.0.0.5"));
	CHECK(!MATCH1("10.0.0.5/32", "10.0.0.4"));
	CHECK(MATCH1("2001:db8::5/128", "2001:db8::5"));
	CHECK(!MATCH1("2001:db8::5/128", "2001:db8::6"));
}

static void test_host_bits_are_masked(void)
{
	CHECK(MATCH1("10.1.2.3/8", "10.200.0.1"));
	CHECK(MATCH1("2001:db8::1/32", "2001:db8:1::9"));
	CHECK(MATCH1("192.168.1.200/25", "192.168.1.129"));
	CHECK(!MATCH1("192.168.1.200/25", "192.168.1.127"));
}

static void test_whitespace_is_trimmed(void)
{
	CHECK(MATCH1("  10.0.0.0/8", "10.1.1.1"));
	CHECK(MATCH1("10.0.0.0/8 \t", "10.1.1.1"));
	CHECK(MATCH1(" ::1 ", "::1"));
	CHECK_EQ_INT(cidr_check("  10.0.0.0/8  ", NULL, 0), 0);
}

static void test_any_entry_of_several_matches(void)
{
	const char *const entries[] = {"10.0.0.0/8", "192.168.0.0/16", "fd00::/8"};

	CHECK(test_match(entries, 3, "10.0.0.1"));
	CHECK(test_match(entries, 3, "192.168.44.1"));
	CHECK(test_match(entries, 3, "fd12::1"));
	CHECK(test_match(entries, 3, "::ffff:192.168.0.1"));
	CHECK(!test_match(entries, 3, "8.8.8.8"));
	CHECK(!test_match(entries, 3, "2001:db8::1"));
}

static void test_empty_list_matches_all(void)
{
	struct sockaddr_storage ss;
	struct cidr_list *list = cidr_list_new();

	CHECK(list != NULL);
	CHECK_EQ_U64(cidr_list_count(list), 0);
	CHECK(cidr_list_match(list, test_addr("1.2.3.4", &ss)));
	CHECK(cidr_list_match(list, test_addr("2001:db8::1", &ss)));
	CHECK(cidr_list_match(list, test_addr("::ffff:1.2.3.4", &ss)));
	cidr_list_free(list);
	cidr_list_free(NULL);
}

static void test_other_families_never_match(void)
{
	struct sockaddr_storage ss;
	struct cidr_list *list = cidr_list_new();

	CHECK_EQ_INT(cidr_list_add(list, "0.0.0.0/0"), 0);
	CHECK_EQ_INT(cidr_list_add(list, "::/0"), 0);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	CHECK(!cidr_list_match(list, (const struct sockaddr *)&ss));
	CHECK(!cidr_list_match(list, NULL));
	cidr_list_free(list);
}

static void test_bad_entries_rejected(void)
{
	static const char *const bad[] = {
	    "10.0.0.0/33", "1.2.3",	   "abc",	    "",
	    "   ",	   "10.0.0.0/8/1", "::1/129",	    "10.0.0.0/",
	    "10.0.0.0/-1", "10.0.0.0/+8",  "10.0.0.0/8a",   "10.0.0.0/ 8",
	    "10.0.0.0 /8", "1.2.3.4.5",	   "256.0.0.1",	    "/8",
	    "::1/1280",	   "2001:db8:::1", "10.0.0.0/0008", "1.2.3.4 5",
	};
	struct cidr_list *list = cidr_list_new();
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (!CHECK_EQ_INT(cidr_check(bad[i], err, sizeof(err)), -EINVAL))
			fprintf(stderr, "    input: '%s'\n", bad[i]);
		CHECK_CONTAINS(err, bad[i]);
		CHECK_EQ_INT(cidr_list_add(list, bad[i]), -EINVAL);
	}
	CHECK_EQ_INT(cidr_list_add(list, NULL), -EINVAL);
	CHECK_EQ_U64(cidr_list_count(list), 0);
	cidr_list_free(list);
}

static void test_check_messages_exact(void)
{
	char err[128];

	CHECK_EQ_INT(cidr_check("abc", err, sizeof(err)), -EINVAL);
	CHECK_EQ_STR(err, "'abc' is not an IP address or CIDR prefix");
	CHECK_EQ_INT(cidr_check("10.0.0.0/33", err, sizeof(err)), -EINVAL);
	CHECK_EQ_STR(err, "'10.0.0.0/33' has an invalid prefix length");
	CHECK_EQ_INT(cidr_check("::1/129", err, sizeof(err)), -EINVAL);
	CHECK_EQ_STR(err, "'::1/129' has an invalid prefix length");
}

static void test_good_entries_accepted(void)
{
	static const char *const good[] = {
	    "10.0.0.0/8", "0.0.0.0/0",	"1.2.3.4",	  "::",		 "::/0",
	    "::1/128",	  "fe80::1/64", "::ffff:1.2.3.4", "10.0.0.0/32", "2001:db8::/32",
	};
	struct cidr_list *list = cidr_list_new();
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!CHECK_EQ_INT(cidr_check(good[i], NULL, 0), 0))
			fprintf(stderr, "    input: '%s'\n", good[i]);
		CHECK_EQ_INT(cidr_list_add(list, good[i]), 0);
	}
	CHECK_EQ_U64(cidr_list_count(list), sizeof(good) / sizeof(good[0]));
	cidr_list_free(list);
}

int main(void)
{
	test_ipv4_prefix_matches_inside_only();
	test_ipv4_mapped_client_matches_ipv4_entry();
	test_ipv6_prefix_matches_inside_only();
	test_zero_prefix_matches_whole_family();
	test_bare_address_is_host_prefix();
	test_host_bits_are_masked();
	test_whitespace_is_trimmed();
	test_any_entry_of_several_matches();
	test_empty_list_matches_all();
	test_other_families_never_match();
	test_bad_entries_rejected();
	test_check_messages_exact();
	test_good_entries_accepted();
	return check_exit();
}
