/* attach.h - puts the classifier on the ingress and egress hooks of each interface and
 * takes it off again.
 *
 * Two ways (enum attach_mode):
 * - TCX (Linux >= 6.6): one BPF link per hook, first in the hook's TCX chain. The links
 *   belong to this process: the kernel detaches them when it exits, even by SIGKILL, so
 *   nothing of a dead agent keeps running. TCX programs run before classic tc filters.
 *   A stale tc filter of ours (a killed tc-mode agent's) is removed at attach.
 * - tc: clsact filters with a fixed priority and handle, attached with replace, so a new
 *   agent takes over from a killed one without a packet being counted twice. Only what
 *   this process did is undone: our filters always, the clsact qdisc only if we created
 *   it.
 * Either way our program returns TC_ACT_UNSPEC (TCX_NEXT): what runs after it still runs. */
#ifndef AYAFLOW_NODE_ATTACH_H
#define AYAFLOW_NODE_ATTACH_H

#include <stddef.h>

#define ATTACH_TC_PRIORITY 1
#define ATTACH_TC_HANDLE   0xaf10

enum attach_mode {
	ATTACH_AUTO = 0, /* TCX where the kernel has it, else tc */
	ATTACH_TCX,
	ATTACH_TC,
};

struct attach_set;

/* "auto", "tcx" or "tc" into *mode: 0, or -EINVAL. */
int attach_parse_mode(const char *name, enum attach_mode *mode);
/* Attaches prog fds to every interface named. On failure undoes what it did, returns
 * NULL with errno set and a message in err naming the interface. */
struct attach_set *attach_new(char *const *ifnames, size_t n, enum attach_mode mode, int fd_ingress,
			      int fd_egress, char *err, size_t errlen);
/* Detaches and frees. Accepts NULL. */
void attach_free(struct attach_set *set);
/* The mode in effect ("tcx" or "tc"; never "auto"). */
const char *attach_mode_name(const struct attach_set *set);
size_t attach_count(const struct attach_set *set);
const char *attach_ifname(const struct attach_set *set, size_t i);
/* The name of an attached interface by index, or NULL. */
const char *attach_name_of(const struct attach_set *set, unsigned int ifindex);
/* The interface of the default route (IPv4, else IPv6) into buf. 0 or -ENOENT. */
int attach_default_ifname(char *buf, size_t len);

#endif
