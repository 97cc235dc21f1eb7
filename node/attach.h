/* attach.h - puts the classifier on the TC hooks (clsact ingress + egress) of each
 * interface and takes it off again. Only what this process did is undone: our filters
 * always, the clsact qdisc only if we created it. Filters use a fixed priority and
 * handle and are attached with replace, so a new agent takes over from a killed one
 * without a packet being counted twice. */
#ifndef AYAFLOW_NODE_ATTACH_H
#define AYAFLOW_NODE_ATTACH_H

#include <stddef.h>

#define ATTACH_TC_PRIORITY 1
#define ATTACH_TC_HANDLE   0xaf10

struct attach_set;

/* Attaches prog fds to every interface named. On failure undoes what it did, returns
 * NULL with errno set and a message in err naming the interface. */
struct attach_set *attach_new(char *const *ifnames, size_t n, int fd_ingress, int fd_egress,
			      char *err, size_t errlen);
/* Detaches and frees. Accepts NULL. */
void attach_free(struct attach_set *set);
size_t attach_count(const struct attach_set *set);
const char *attach_ifname(const struct attach_set *set, size_t i);
/* The name of an attached interface by index, or NULL. */
const char *attach_name_of(const struct attach_set *set, unsigned int ifindex);
/* The interface of the default route (IPv4, else IPv6) into buf. 0 or -ENOENT. */
int attach_default_ifname(char *buf, size_t len);

#endif
