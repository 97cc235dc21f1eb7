/* tcxattach.c - attaches the first program of a BPF object to an interface's TCX hooks the
 * way ayaflow-node does (first in the chain), prints "ready" and holds the links until
 * SIGTERM/SIGINT; the kernel detaches them when this process exits. bench/throughput.sh
 * measures the empty classifier's floor with it; e2e.tcx_attach holds a foreign program.
 *
 *   tcxattach OBJ IFNAME    ingress and egress
 *
 * Exit 1 on errors, 2 on bad usage. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Linux 6.6 uapi (Debian 12's headers predate TCX); as in node/attach.c. */
#define TA_TCX_INGRESS 46
#define TA_TCX_EGRESS  47
#define TA_F_BEFORE    (1U << 3)

static volatile sig_atomic_t ta_stop;

static void ta_on_signal(int sig)
{
	(void)sig;
	ta_stop = 1;
}

int main(int argc, char **argv)
{
	const int types[2] = {TA_TCX_INGRESS, TA_TCX_EGRESS};
	struct bpf_object *obj;
	struct bpf_program *prog;
	unsigned int ifindex;
	int links[2], err;

	if (argc != 3) {
		fprintf(stderr, "usage: tcxattach OBJ IFNAME\n");
		return 2;
	}
	ifindex = if_nametoindex(argv[2]);
	if (!ifindex) {
		fprintf(stderr, "tcxattach: interface %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "tcxattach: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	err = bpf_object__load(obj);
	prog = bpf_object__next_program(obj, NULL);
	if (err || !prog) {
		fprintf(stderr, "tcxattach: cannot load %s: %s\n", argv[1],
			err ? strerror(-err) : "no program");
		bpf_object__close(obj);
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = TA_F_BEFORE);

		links[i] = bpf_link_create(bpf_program__fd(prog), (int)ifindex,
					   (enum bpf_attach_type)types[i], &lo);
		if (links[i] < 0) {
			fprintf(stderr, "tcxattach: TCX link on %s: %s\n", argv[2],
				strerror(-links[i]));
			if (i)
				close(links[0]);
			bpf_object__close(obj);
			return 1;
		}
	}
	signal(SIGTERM, ta_on_signal);
	signal(SIGINT, ta_on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!ta_stop)
		pause();
	close(links[0]);
	close(links[1]);
	bpf_object__close(obj);
	return 0;
}
