/* tcxq.c - how many programs are attached through TCX to an interface, for the e2e
 * scenarios that check where the node attached its classifier (tcx_attach.sh).
 *
 *   tcxq IFNAME    prints "ingress N egress M": the number of programs in the TCX
 *                  chain of each hook of IFNAME (in the caller's network namespace;
 *                  run it with `ip netns exec`)
 *
 * Classic tc filters (clsact) are not counted: `tc filter show` lists those.
 * Exit 1 on errors (unknown interface, query refused), 2 on bad usage. */
#include <bpf/bpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

/* Debian 12's linux/bpf.h and libbpf 1.1 predate TCX (Linux 6.6): the attach types are
 * defined here with the kernel's values from enum bpf_attach_type. */
#define TCXQ_BPF_TCX_INGRESS 46
#define TCXQ_BPF_TCX_EGRESS  47

/* tcxq_count: number of programs on the TCX hook TYPE of IFINDEX into *CNT (written only
 * on success); 0 or a negative errno. */
static int tcxq_count(unsigned int ifindex, int type, __u32 *cnt)
{
	__u32 n = 0; /* in: room for ids (none, prog_ids is NULL); out: programs attached */
	int err;

	/* For TCX the kernel reads target_fd as the interface index (a union in bpf_attr). */
	err = bpf_prog_query((int)ifindex, (enum bpf_attach_type)type, 0, NULL, NULL, &n);
	if (err)
		return err < 0 ? err : -EIO;
	*cnt = n;
	return 0;
}

int main(int argc, char **argv)
{
	const char *ifname;
	unsigned int ifindex;
	__u32 in_cnt, eg_cnt;
	int err;

	if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
		fprintf(stderr, "usage: tcxq IFNAME\n");
		return 2;
	}
	ifname = argv[1];
	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "tcxq: interface '%s': %s\n", ifname, strerror(errno));
		return 1;
	}
	err = tcxq_count(ifindex, TCXQ_BPF_TCX_INGRESS, &in_cnt);
	if (err) {
		fprintf(stderr, "tcxq: query TCX ingress of '%s' (ifindex %u): %s\n", ifname,
			ifindex, strerror(-err));
		return 1;
	}
	err = tcxq_count(ifindex, TCXQ_BPF_TCX_EGRESS, &eg_cnt);
	if (err) {
		fprintf(stderr, "tcxq: query TCX egress of '%s' (ifindex %u): %s\n", ifname,
			ifindex, strerror(-err));
		return 1;
	}
	if (printf("ingress %u egress %u\n", in_cnt, eg_cnt) < 0 || fflush(stdout)) {
		fprintf(stderr, "tcxq: writing the result: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
