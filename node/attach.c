/* attach.c - TC attach/detach of the classifier (see attach.h). */
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "log.h"

struct attach_iface {
	char name[IF_NAMESIZE];
	unsigned int ifindex;
	bool created_qdisc;
	bool attached[2]; /* [0] ingress, [1] egress */
};

struct attach_set {
	size_t n;
	struct attach_iface ifaces[];
};

static const enum bpf_tc_attach_point attach_points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};

static void attach_undo(struct attach_iface *ifc)
{
	for (int i = 0; i < 2; i++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
				    .attach_point = attach_points[i]);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ATTACH_TC_HANDLE,
				    .priority = ATTACH_TC_PRIORITY);
		int err;

		if (!ifc->attached[i])
			continue;
		err = bpf_tc_detach(&hook, &opts);
		if (err && err != -ENOENT && err != -ENODEV)
			log_warn("%s: cannot detach %s filter: %s", ifc->name,
				 i ? "egress" : "ingress", strerror(-err));
		ifc->attached[i] = false;
	}
	if (ifc->created_qdisc) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
		int err = bpf_tc_hook_destroy(&hook);

		if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
			log_warn("%s: cannot remove clsact qdisc: %s", ifc->name, strerror(-err));
		ifc->created_qdisc = false;
	}
}

static int attach_one(struct attach_iface *ifc, const int fds[2], char *err, size_t errlen)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int rc;

	rc = bpf_tc_hook_create(&hook);
	if (rc == 0) {
		ifc->created_qdisc = true;
	} else if (rc != -EEXIST) {
		snprintf(err, errlen, "interface '%s': cannot create clsact qdisc: %s", ifc->name,
			 strerror(-rc));
		return rc;
	}
	for (int i = 0; i < 2; i++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ATTACH_TC_HANDLE,
				    .priority = ATTACH_TC_PRIORITY, .prog_fd = fds[i],
				    .flags = BPF_TC_F_REPLACE);

		hook.attach_point = attach_points[i];
		rc = bpf_tc_attach(&hook, &opts);
		if (rc) {
			snprintf(err, errlen, "interface '%s': cannot attach %s filter: %s",
				 ifc->name, i ? "egress" : "ingress", strerror(-rc));
			return rc;
		}
		ifc->attached[i] = true;
	}
	return 0;
}

struct attach_set *attach_new(char *const *ifnames, size_t n, int fd_ingress, int fd_egress,
			      char *err, size_t errlen)
{
	const int fds[2] = {fd_ingress, fd_egress};
	struct attach_set *set;
	int rc = 0;

	set = calloc(1, sizeof(*set) + n * sizeof(set->ifaces[0]));
	if (!set) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		struct attach_iface *ifc = &set->ifaces[i];

		if (strlen(ifnames[i]) >= IF_NAMESIZE ||
		    (ifc->ifindex = if_nametoindex(ifnames[i])) == 0) {
			snprintf(err, errlen, "unknown interface '%s'", ifnames[i]);
			rc = -ENODEV;
			goto fail;
		}
		for (size_t j = 0; j < i; j++) {
			if (set->ifaces[j].ifindex == ifc->ifindex) {
				snprintf(err, errlen, "interface '%s' is named twice", ifnames[i]);
				rc = -EINVAL;
				goto fail;
			}
		}
		snprintf(ifc->name, sizeof(ifc->name), "%s", ifnames[i]);
		set->n = i + 1;
		rc = attach_one(ifc, fds, err, errlen);
		if (rc)
			goto fail;
	}
	return set;

fail:
	attach_free(set);
	errno = -rc;
	return NULL;
}

void attach_free(struct attach_set *set)
{
	if (!set)
		return;
	for (size_t i = set->n; i-- > 0;)
		attach_undo(&set->ifaces[i]);
	free(set);
}

size_t attach_count(const struct attach_set *set)
{
	return set->n;
}

const char *attach_ifname(const struct attach_set *set, size_t i)
{
	return i < set->n ? set->ifaces[i].name : NULL;
}

const char *attach_name_of(const struct attach_set *set, unsigned int ifindex)
{
	for (size_t i = 0; i < set->n; i++) {
		if (set->ifaces[i].ifindex == ifindex)
			return set->ifaces[i].name;
	}
	return NULL;
}

int attach_default_ifname(char *buf, size_t len)
{
	char line[512], ifname[IF_NAMESIZE + 1];
	unsigned long dest, flags;
	FILE *f;
	int found = 0;

	/* Iface Destination Gateway Flags ...; default route: destination 0, RTF_UP. */
	f = fopen("/proc/net/route", "re");
	if (f) {
		while (!found && fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%16s %lx %*x %lx", ifname, &dest, &flags) == 3 &&
			    dest == 0 && (flags & 1))
				found = 1;
		}
		fclose(f);
	}
	if (!found) {
		char dst[33];
		unsigned int plen;

		f = fopen("/proc/net/ipv6_route", "re");
		if (f) {
			/* dst plen src plen next metric refcnt use flags iface */
			while (!found && fgets(line, sizeof(line), f)) {
				if (sscanf(line, "%32s %x %*s %*x %*s %*x %*x %*x %lx %16s", dst,
					   &plen, &flags, ifname) == 4 &&
				    plen == 0 && (flags & 1) && strcmp(ifname, "lo") != 0)
					found = 1;
			}
			fclose(f);
		}
	}
	if (!found)
		return -ENOENT;
	snprintf(buf, len, "%s", ifname);
	return 0;
}
