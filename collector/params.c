/* params.c - the pure parsers of the collector's query parameters (see params.h), apart
 * from collector/api.c so that they can be tested and fuzzed without a server
 * (tests/fuzz/fuzz_http_query.c). */
#include "params.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PARAMS_TIME_MAX_MS 253402300799999ull /* 9999-12-31T23:59:59.999Z */

static bool params_digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static bool params_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t params_days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), 'T' and 'Z' in either
 * case, leap second 60 allowed, fraction truncated to milliseconds. No locale. */
static int params_parse_rfc3339(const char *s, uint64_t *out)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, sign = 0, dim;
	const char *p;
	int64_t t;

	if (strlen(s) < 20)
		return -EINVAL;
	if (!params_digits(s, 4, &y) || s[4] != '-' || !params_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !params_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !params_digits(s + 11, 2, &h) || s[13] != ':' || !params_digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !params_digits(s + 17, 2, &sec))
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		int ndig = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, ndig++) {
			if (ndig < 3)
				ms = ms * 10 + (*p - '0');
		}
		if (ndig == 0)
			return -EINVAL;
		for (; ndig < 3; ndig++)
			ms *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!params_digits(p + 1, 2, &oh) || p[3] != ':' || !params_digits(p + 4, 2, &om))
			return -EINVAL;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -EINVAL;
	dim = mdays[mo - 1] + (mo == 2 && params_leap(y));
	if (d > dim)
		return -EINVAL;
	t = params_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	/* Not before 1970; not after 9999-12-31T23:59:59.999Z either, like Unix ms (a leap
	 * second or a negative offset on the last day would go past it: found by fuzzing). */
	if (t < 0 || (uint64_t)t * 1000 + (uint64_t)ms > PARAMS_TIME_MAX_MS)
		return -EINVAL;
	*out = (uint64_t)t * 1000 + (uint64_t)ms;
	return 0;
}

/* Unix ms (digits only) or RFC 3339. */
int params_parse_time(const char *s, uint64_t *out)
{
	size_t n = strspn(s, "0123456789");

	if (n > 0 && s[n] == '\0') {
		uint64_t v = 0;

		if (n > 15)
			return -EINVAL;
		for (size_t i = 0; i < n; i++)
			v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > PARAMS_TIME_MAX_MS)
			return -EINVAL;
		*out = v;
		return 0;
	}
	return params_parse_rfc3339(s, out);
}

/* IPv4 or IPv6 text -> 16 bytes, IPv4 as ::ffff:a.b.c.d. */
int params_parse_ip(const char *s, uint8_t out[16])
{
	uint8_t v4[4];

	if (inet_pton(AF_INET, s, v4) == 1) {
		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, v4, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1)
		return 0;
	return -EINVAL;
}

int params_parse_proto(const char *s, uint8_t *out)
{
	static const struct {
		const char *name;
		uint8_t num;
	} names[] = {{"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58}};
	size_t n = strspn(s, "0123456789");

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].num;
			return 0;
		}
	}
	if (n > 0 && n <= 3 && s[n] == '\0') {
		int v = atoi(s);

		if (v <= 255) {
			*out = (uint8_t)v;
			return 0;
		}
	}
	return -EINVAL;
}
