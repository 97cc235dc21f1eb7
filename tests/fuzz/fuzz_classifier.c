/* fuzz_classifier.c - libFuzzer target for the TC classifier (bpf/flow.bpf.c): random
 * frames through the real, verified program with BPF_PROG_TEST_RUN. The kernel's verifier
 * already proves memory safety; what this checks is the classifier's contract, "observe,
 * never interfere": for every frame, on either hook, with or without GSO metadata, the
 * program returns TC_ACT_UNSPEC and the frame comes out byte for byte unchanged. The
 * libbpf skeleton (IPv6 and deep inspection on, so the DNS/TLS snippet paths run too) is
 * loaded once; the snippet ring is drained after each run and the flow map is emptied
 * every FUZZ_CLEAR_EVERY runs so that both the "new flow" and the "map full" paths stay
 * reachable.
 *
 * Input: byte 0 = flags (bit 0: egress hook, bit 1: GSO metadata with gso_segs = byte 1),
 * byte 1 = gso_segs, the rest = the frame (at least an Ethernet header, at most
 * FUZZ_FRAME_MAX bytes; other inputs are ignored).
 *
 * Needs root (BPF). Built twice by tests/fuzz/fuzz.cmake: as fuzz_classifier (clang,
 * -DAYAFLOW_FUZZ=ON: the user-space side is instrumented, the coverage of the BPF program
 * itself is not visible to libFuzzer, so it mutates blind there) and with fuzz_main.c as
 * fuzz_classifier_corpus, CTest's fuzz.classifier_corpus over tests/fuzz/corpus/classifier
 * (exits 77, skipped, when BPF cannot be loaded, e.g. not root). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/flow.h"
#include "flow.skel.h"

#define FUZZ_FRAME_MAX	 3072
#define FUZZ_ETH_HLEN	 14
#define FUZZ_MAX_FLOWS	 1024
#define FUZZ_CLEAR_EVERY 4096
#define FUZZ_SKIP	 77

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct flow_bpf *fuzz_skel;
static struct ring_buffer *fuzz_ring;
static unsigned long fuzz_runs;

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_classifier: %s\n", what);
	abort();
}

static int fuzz_snippet(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	if (size != sizeof(struct flow_snippet))
		fuzz_fail("a snippet record of the wrong size");
	return 0;
}

static int fuzz_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static int fuzz_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void fuzz_init(void)
{
	int err;

	libbpf_set_print(fuzz_libbpf_print);
	fuzz_skel = flow_bpf__open();
	if (!fuzz_skel) {
		fprintf(stderr, "fuzz_classifier: cannot open the skeleton: %s\n", strerror(errno));
		exit(FUZZ_SKIP);
	}
	fuzz_skel->rodata->cfg_enable_ipv6 = true;
	fuzz_skel->rodata->cfg_deep_inspect = true;
	err = bpf_map__set_max_entries(fuzz_skel->maps.flows, FUZZ_MAX_FLOWS);
	if (!err)
		err = flow_bpf__load(fuzz_skel);
	if (err) {
		fprintf(stderr, "fuzz_classifier: cannot load the classifier (%s): skipped, needs "
				"root and BPF\n",
			strerror(-err));
		exit(FUZZ_SKIP);
	}
	fuzz_ring =
	    ring_buffer__new(bpf_map__fd(fuzz_skel->maps.snippets), fuzz_snippet, NULL, NULL);
	if (!fuzz_ring)
		fuzz_fail("cannot open the snippet ring");
}

/* Deletes every flow map entry (keys collected first: deleting while iterating restarts). */
static void fuzz_clear_flows(void)
{
	int fd = bpf_map__fd(fuzz_skel->maps.flows);
	static struct flow_key keys[FUZZ_MAX_FLOWS];
	struct flow_key k;
	size_t n = 0;
	void *prev = NULL;

	while (n < FUZZ_MAX_FLOWS && bpf_map_get_next_key(fd, prev, &k) == 0) {
		keys[n] = k;
		prev = &keys[n];
		n++;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &keys[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[FUZZ_FRAME_MAX + 64];
	const uint8_t *frame;
	size_t len;
	bool egress, gso;
	struct bpf_program *prog;
	int err;

	if (size < 2 + FUZZ_ETH_HLEN || size - 2 > FUZZ_FRAME_MAX)
		return 0;
	if (!fuzz_skel)
		fuzz_init();
	egress = data[0] & 1;
	gso = data[0] & 2;
	frame = data + 2;
	len = size - 2;

	struct __sk_buff ctx = {
	    .ifindex = 1,
	    .gso_segs = gso ? data[1] : 0,
	    .gso_size = gso ? 1400 : 0,
	};
	prog = egress ? fuzz_skel->progs.flow_egress : fuzz_skel->progs.flow_ingress;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	memset(out, 0, sizeof(out));
	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
	/* The kernel's test-run harness refuses some frames before the program runs (e.g. an
	 * IPv4 ethertype without a full IPv4 header, GSO metadata it does not like): those
	 * are no classifier case. */
	if (err == -EINVAL)
		return 0;
	if (err) {
		fprintf(stderr, "fuzz_classifier: BPF_PROG_TEST_RUN on %zu bytes: %s\n", len,
			strerror(-err));
		fuzz_fail("BPF_PROG_TEST_RUN failed");
	}
	if ((int)opts.retval != TC_ACT_UNSPEC)
		fuzz_fail("the classifier did not return TC_ACT_UNSPEC");
	if (opts.data_size_out != len || memcmp(out, frame, len) != 0)
		fuzz_fail("the classifier changed the frame");
	ring_buffer__consume(fuzz_ring);
	if (++fuzz_runs % FUZZ_CLEAR_EVERY == 0)
		fuzz_clear_flows();
	return 0;
}
