/* attach.c - attach/detach of the classifier through TCX links or tc filters (see
 * attach.h). */
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "log.h"

/* From Linux 6.6's uapi (enum bpf_attach_type, BPF_F_BEFORE); Debian 12's headers and
 * libbpf 1.1 predate TCX, but bpf_link_create passes them through. */
#define ATTACH_BPF_TCX_INGRESS 46
#define ATTACH_BPF_TCX_EGRESS  47
#define ATTACH_BPF_F_BEFORE    (1U << 3)
/* Kernel-internal "not supported", seen by user space as errno 524. */
#define ATTACH_ENOTSUPP 524

struct attach_iface {
	char name[IF_NAMESIZE];
	unsigned int ifindex;
	bool created_qdisc;
	bool attached[2]; /* tc: [0] ingress, [1] egress */
	int link_fd[2];	  /* TCX: the links, -1 when none */
};

struct attach_set {
	enum attach_mode mode; /* ATTACH_TCX or ATTACH_TC once attached */
	size_t n;
	struct attach_iface ifaces[];
};

static const enum bpf_tc_attach_point attach_points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};
static const int attach_tcx_types[2] = {ATTACH_BPF_TCX_INGRESS, ATTACH_BPF_TCX_EGRESS};
static const char *const attach_hook_names[2] = {"ingress", "egress"};

int attach_parse_mode(const char *name, enum attach_mode *mode)
{
	if (!strcmp(name, "auto"))
		*mode = ATTACH_AUTO;
	else if (!strcmp(name, "tcx"))
		*mode = ATTACH_TCX;
	else if (!strcmp(name, "tc"))
		*mode = ATTACH_TC;
	else
		return -EINVAL;
	return 0;
}

const char *attach_mode_name(const struct attach_set *set)
{
	return set->mode == ATTACH_TCX ? "tcx" : "tc";
}

static void attach_undo(struct attach_iface *ifc)
{
	/* TCX: closing our only reference detaches the link. */
	for (int i = 0; i < 2; i++) {
		if (ifc->link_fd[i] >= 0) {
			close(ifc->link_fd[i]);
			ifc->link_fd[i] = -1;
		}
	}
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
			log_warn("%s: cannot detach %s filter: %s", ifc->name, attach_hook_names[i],
				 strerror(-err));
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

/* TCX mode: a tc filter with our priority and handle can only be a killed tc-mode
 * agent's. Its program still runs and counts into maps nobody reads: remove it. */
static void attach_remove_stale_tc(struct attach_iface *ifc)
{
	/* Usually there is nothing to remove; libbpf would log the kernel's "no such qdisc"
	 * or "no such filter" for it. Attaching runs before any thread uses libbpf. */
	libbpf_print_fn_t print = libbpf_set_print(NULL);

	for (int i = 0; i < 2; i++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
				    .attach_point = attach_points[i]);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ATTACH_TC_HANDLE,
				    .priority = ATTACH_TC_PRIORITY);
		int err = bpf_tc_detach(&hook, &opts);

		if (err == 0)
			log_info("%s: removed a stale ayaflow tc filter from %s (a killed agent's)",
				 ifc->name, attach_hook_names[i]);
		else if (err != -ENOENT && err != -EINVAL && err != -ENODEV)
			log_warn("%s: cannot remove a stale ayaflow tc filter from %s: %s",
				 ifc->name, attach_hook_names[i], strerror(-err));
	}
	libbpf_set_print(print);
}

/* 0, or a negative errno; -EOPNOTSUPP when the kernel has no TCX (before Linux 6.6 it
 * refuses the attach type with EINVAL). */
static int attach_one_tcx(struct attach_iface *ifc, const int fds[2], char *err, size_t errlen)
{
	for (int i = 0; i < 2; i++) {
		/* First in the chain, as tc's priority 1 was: we see every packet that reaches
		 * the hook, before any program that may drop it. */
		DECLARE_LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = ATTACH_BPF_F_BEFORE);
		int fd = bpf_link_create(fds[i], (int)ifc->ifindex,
					 (enum bpf_attach_type)attach_tcx_types[i], &lo);

		if (fd < 0) {
			if (fd == -EINVAL || fd == -EOPNOTSUPP || fd == -ATTACH_ENOTSUPP)
				fd = -EOPNOTSUPP;
			snprintf(err, errlen, "interface '%s': cannot attach %s TCX link: %s%s",
				 ifc->name, attach_hook_names[i], strerror(-fd),
				 fd == -EOPNOTSUPP ? " (TCX needs Linux >= 6.6; try --attach tc)"
						   : "");
			return fd;
		}
		ifc->link_fd[i] = fd;
	}
	attach_remove_stale_tc(ifc);
	return 0;
}

static int attach_one_tc(struct attach_iface *ifc, const int fds[2], char *err, size_t errlen)
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
				 ifc->name, attach_hook_names[i], strerror(-rc));
			return rc;
		}
		ifc->attached[i] = true;
	}
	return 0;
}

struct attach_set *attach_new(char *const *ifnames, size_t n, enum attach_mode mode, int fd_ingress,
			      int fd_egress, char *err, size_t errlen)
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
	set->mode = mode == ATTACH_TC ? ATTACH_TC : ATTACH_TCX;
	for (size_t i = 0; i < n; i++) {
		struct attach_iface *ifc = &set->ifaces[i];

		ifc->link_fd[0] = ifc->link_fd[1] = -1;

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
		if (set->mode == ATTACH_TCX) {
			rc = attach_one_tcx(ifc, fds, err, errlen);
			/* auto: the kernel's answer for the first interface decides for all. */
			if (rc == -EOPNOTSUPP && mode == ATTACH_AUTO && i == 0) {
				log_info("%s; attaching with tc (clsact) instead", err);
				attach_undo(ifc);
				set->mode = ATTACH_TC;
				rc = attach_one_tc(ifc, fds, err, errlen);
			}
		} else {
			rc = attach_one_tc(ifc, fds, err, errlen);
		}
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
