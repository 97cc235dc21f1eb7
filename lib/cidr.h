/* cidr.h - CIDR allowlists (IPv4 and IPv6) for the HTTP APIs.
 * An empty list allows everybody. IPv4 clients seen as IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d, dual-stack listeners) match IPv4 entries. */
#ifndef AYAFLOW_CIDR_H
#define AYAFLOW_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct cidr_list;

struct cidr_list *cidr_list_new(void);
void cidr_list_free(struct cidr_list *list);
/* Adds "10.0.0.0/8", "fd00::/8", or a bare address (a host). Returns 0, or -EINVAL for
 * text that is not an address or prefix (host bits set are accepted and masked), -ENOMEM. */
int cidr_list_add(struct cidr_list *list, const char *text);
size_t cidr_list_count(const struct cidr_list *list);
bool cidr_list_match(const struct cidr_list *list, const struct sockaddr *addr);
/* Validates one entry; on error writes a message naming the text into err. */
int cidr_check(const char *text, char *err, size_t errlen);

#endif
