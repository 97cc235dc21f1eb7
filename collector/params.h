/* params.h - pure parsers of the collector's query parameters (/api/history, /api/dns,
 * /api/domains): no server, no allocation, callable on any NUL-terminated string. */
#ifndef AYAFLOW_COLLECTOR_PARAMS_H
#define AYAFLOW_COLLECTOR_PARAMS_H

#include <stdint.h>

/* Unix milliseconds (digits only, at most 9999-12-31T23:59:59.999Z) or an RFC 3339
 * date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), fraction truncated to ms, not
 * before 1970). 0, or -EINVAL. */
int params_parse_time(const char *s, uint64_t *out);
/* IPv4 or IPv6 text -> 16 bytes, IPv4 as ::ffff:a.b.c.d. 0 or -EINVAL. */
int params_parse_ip(const char *s, uint8_t out[16]);
/* tcp, udp, icmp, icmpv6 (any case) or a number 0..255 (at most 3 digits). 0 or -EINVAL. */
int params_parse_proto(const char *s, uint8_t *out);

#endif
