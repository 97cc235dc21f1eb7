/* bpfstats.c - the kernel's own per-program accounting for bench/classifier_cost.sh.
 *
 *   bpfstats hold          enables run-time statistics (BPF_ENABLE_STATS, the same
 *                          counters as kernel.bpf_stats_enabled, but reference-counted
 *                          and gone when this process exits), prints "ready", and
 *                          waits for SIGTERM/SIGINT
 *   bpfstats read ID...    prints "ID run_time_ns run_cnt" for each program id
 *
 * Exit 1 on errors, 2 on bad usage. */
#include <bpf/bpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t bs_stop;

static void bs_on_signal(int sig)
{
	(void)sig;
	bs_stop = 1;
}

int main(int argc, char **argv)
{
	int i;

	if (argc >= 2 && !strcmp(argv[1], "hold")) {
		int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

		if (fd < 0) {
			fprintf(stderr, "bpfstats: BPF_ENABLE_STATS: %s\n", strerror(-fd));
			return 1;
		}
		signal(SIGTERM, bs_on_signal);
		signal(SIGINT, bs_on_signal);
		printf("ready\n");
		fflush(stdout);
		while (!bs_stop)
			pause();
		close(fd);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "read")) {
		for (i = 2; i < argc; i++) {
			struct bpf_prog_info info;
			__u32 len = sizeof(info);
			unsigned int id = (unsigned int)strtoul(argv[i], NULL, 10);
			int fd = bpf_prog_get_fd_by_id(id);

			if (fd < 0) {
				fprintf(stderr, "bpfstats: program %u: %s\n", id, strerror(errno));
				return 1;
			}
			memset(&info, 0, sizeof(info));
			if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
				fprintf(stderr, "bpfstats: info of %u: %s\n", id, strerror(errno));
				return 1;
			}
			printf("%u %llu %llu\n", id, (unsigned long long)info.run_time_ns,
			       (unsigned long long)info.run_cnt);
			close(fd);
		}
		return 0;
	}
	fprintf(stderr, "usage: bpfstats hold | bpfstats read ID...\n");
	return 2;
}
