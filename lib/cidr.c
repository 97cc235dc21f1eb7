/* cidr.c - CIDR allowlists for the HTTP APIs (lib/http.c asks cidr_list_match() for each
 * client). Entries are parsed with inet_pton, stored with host bits masked, and matched
 * by prefix. IPv4-mapped IPv6 entries (::ffff:10.0.0.0/104) are stored as IPv4 entries,
 * and IPv4-mapped IPv6 clients (dual-stack listeners) are matched against IPv4 entries. */
#include "cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest text accepted: an IPv6 address in its longest form plus "/128". */
#define CIDR_TEXT_MAX (INET6_ADDRSTRLEN + 4)

struct cidr_entry {
	int family;	     /* AF_INET or AF_INET6 */
	unsigned int prefix; /* 0..32 or 0..128 */
	uint8_t addr[16];    /* network byte order, host bits zero; IPv4 uses the first 4 */
};

struct cidr_list {
	struct cidr_entry *entries;
	size_t count;
	size_t cap;
};

static const uint8_t cidr_v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void cidr_mask(uint8_t *addr, size_t len, unsigned int prefix)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (prefix >= 8) {
			prefix -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff << (8 - prefix));
		prefix = 0;
	}
}

static bool cidr_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned int prefix)
{
	size_t whole = prefix / 8;
	unsigned int rest = prefix % 8;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* Parses one entry into *out. Returns 0 or -EINVAL with a message in err. */
static int cidr_parse(const char *text, struct cidr_entry *out, char *err, size_t errlen)
{
	char buf[CIDR_TEXT_MAX + 1];
	const char *start, *end, *slash;
	struct cidr_entry e;
	unsigned long prefix = 0;
	unsigned int max;
	bool has_prefix = false;
	size_t len;
	const char *p;

	if (text == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "missing address or prefix");
		return -EINVAL;
	}
	start = text;
	while (isspace((unsigned char)*start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	len = (size_t)(end - start);
	if (len == 0 || len > CIDR_TEXT_MAX) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "'%s' is not an IP address or CIDR prefix", text);
		return -EINVAL;
	}
	memcpy(buf, start, len);
	buf[len] = '\0';

	slash = strchr(buf, '/');
	if (slash != NULL) {
		/* Digits only: no sign, no spaces, no second '/'; at most 3 digits. */
		p = slash + 1;
		if (*p == '\0' || strlen(p) > 3)
			goto bad_prefix;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				goto bad_prefix;
			prefix = prefix * 10 + (unsigned long)(*p - '0');
		}
		has_prefix = true;
		buf[slash - buf] = '\0';
	}

	memset(&e, 0, sizeof(e));
	if (inet_pton(AF_INET, buf, e.addr) == 1) {
		e.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, e.addr) == 1) {
		e.family = AF_INET6;
		max = 128;
	} else {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "'%s' is not an IP address or CIDR prefix", text);
		return -EINVAL;
	}
	if (!has_prefix)
		prefix = max;
	if (prefix > max)
		goto bad_prefix;
	e.prefix = (unsigned int)prefix;

	/* ::ffff:a.b.c.d/n with n >= 96 is an IPv4 prefix in disguise. */
	if (e.family == AF_INET6 && e.prefix >= 96 &&
	    memcmp(e.addr, cidr_v4mapped_prefix, sizeof(cidr_v4mapped_prefix)) == 0) {
		memmove(e.addr, e.addr + 12, 4);
		memset(e.addr + 4, 0, 12);
		e.family = AF_INET;
		e.prefix -= 96;
	}
	cidr_mask(e.addr, sizeof(e.addr), e.prefix);
	*out = e;
	return 0;

bad_prefix:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "'%s' has an invalid prefix length", text);
	return -EINVAL;
}

struct cidr_list *cidr_list_new(void)
{
	return calloc(1, sizeof(struct cidr_list));
}

void cidr_list_free(struct cidr_list *list)
{
	if (list == NULL)
		return;
	free(list->entries);
	free(list);
}

int cidr_list_add(struct cidr_list *list, const char *text)
{
	struct cidr_entry e;
	struct cidr_entry *grown;
	size_t cap;
	int ret;

	if (list == NULL)
		return -EINVAL;
	ret = cidr_parse(text, &e, NULL, 0);
	if (ret < 0)
		return ret;
	if (list->count == list->cap) {
		cap = list->cap ? list->cap * 2 : 8;
		grown = reallocarray(list->entries, cap, sizeof(*grown));
		if (grown == NULL)
			return -ENOMEM;
		list->entries = grown;
		list->cap = cap;
	}
	list->entries[list->count++] = e;
	return 0;
}

size_t cidr_list_count(const struct cidr_list *list)
{
	return list != NULL ? list->count : 0;
}

/* An empty (or NULL) list allows everybody; a NULL address matches only an empty list. */
bool cidr_list_match(const struct cidr_list *list, const struct sockaddr *addr)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t v4[4];
	const uint8_t *v6 = NULL;
	bool have_v4 = false;
	size_t i;

	if (list == NULL || list->count == 0)
		return true;
	if (addr == NULL)
		return false;

	if (addr->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)addr;
		memcpy(v4, &sin->sin_addr, 4);
		have_v4 = true;
	} else if (addr->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)addr;
		v6 = sin6->sin6_addr.s6_addr;
		if (memcmp(v6, cidr_v4mapped_prefix, sizeof(cidr_v4mapped_prefix)) == 0) {
			memcpy(v4, v6 + 12, 4);
			have_v4 = true;
		}
	} else {
		return false;
	}

	for (i = 0; i < list->count; i++) {
		const struct cidr_entry *e = &list->entries[i];

		if (e->family == AF_INET && have_v4 && cidr_prefix_equal(e->addr, v4, e->prefix))
			return true;
		if (e->family == AF_INET6 && v6 != NULL &&
		    cidr_prefix_equal(e->addr, v6, e->prefix))
			return true;
	}
	return false;
}

int cidr_check(const char *text, char *err, size_t errlen)
{
	struct cidr_entry e;

	return cidr_parse(text, &e, err, errlen);
}
