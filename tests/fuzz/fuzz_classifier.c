/* fuzz_classifier.c - libFuzzer target for the TC classifier (bpf/flow.bpf.c): random
 * frames through the real, verified program with BPF_PROG_TEST_RUN. The kernel's verifier
 * already proves memory safety; what this checks is the classifier's contract, "observe,
 * never interfere": for every frame, on either hook, with or without GSO metadata, the
 * program returns TC_ACT_UNSPEC and the frame comes out byte for byte unchanged. And it is
 * differential: the classifier reads common packets in place (parse_fast) and all others
 * through bpf_skb_load_bytes (parse_slow); a second copy loaded with cfg_general_parser
 * sends every packet through the latter, and both copies must end each run with the same
 * flow entries (but for timestamps), counters, totals and snippets. Both skeletons (IPv6
 * and deep inspection on, so the DNS/TLS snippet paths run too) are loaded once and their
 * flow maps emptied after each run (the "map full" path is covered by test_classifier).
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
#include <stddef.h>
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

#define FUZZ_FRAME_MAX 3072
#define FUZZ_ETH_HLEN  14
#define FUZZ_MAX_FLOWS 1024
#define FUZZ_SNIPPETS  8 /* a frame makes at most one snippet; room for more */
#define FUZZ_SKIP      77

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One loaded copy of the classifier and the snippets it made in the current run. */
struct fuzz_copy {
	struct flow_bpf *skel;
	struct ring_buffer *ring;
	struct flow_snippet sn[FUZZ_SNIPPETS];
	unsigned int nsn;
};

/* [0]: as the node loads it; [1]: cfg_general_parser. */
static struct fuzz_copy fuzz_copies[2];
static int fuzz_ncpus;

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_classifier: %s\n", what);
	abort();
}

static int fuzz_snippet(void *ctx, void *data, size_t size)
{
	struct fuzz_copy *c = ctx;

	if (size != sizeof(struct flow_snippet))
		fuzz_fail("a snippet record of the wrong size");
	if (c->nsn == FUZZ_SNIPPETS)
		fuzz_fail("more snippets than frames");
	memcpy(&c->sn[c->nsn++], data, sizeof(struct flow_snippet));
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

static void fuzz_load(struct fuzz_copy *c, bool general)
{
	int err;

	c->skel = flow_bpf__open();
	if (!c->skel) {
		fprintf(stderr, "fuzz_classifier: cannot open the skeleton: %s\n", strerror(errno));
		exit(FUZZ_SKIP);
	}
	c->skel->rodata->cfg_enable_ipv6 = true;
	c->skel->rodata->cfg_deep_inspect = true;
	c->skel->rodata->cfg_general_parser = general;
	err = bpf_map__set_max_entries(c->skel->maps.flows, FUZZ_MAX_FLOWS);
	if (!err)
		err = flow_bpf__load(c->skel);
	if (err) {
		fprintf(stderr,
			"fuzz_classifier: cannot load the classifier (%s): skipped, needs "
			"root and BPF\n",
			strerror(-err));
		exit(FUZZ_SKIP);
	}
	c->ring = ring_buffer__new(bpf_map__fd(c->skel->maps.snippets), fuzz_snippet, c, NULL);
	if (!c->ring)
		fuzz_fail("cannot open the snippet ring");
}

static void fuzz_init(void)
{
	libbpf_set_print(fuzz_libbpf_print);
	fuzz_ncpus = libbpf_num_possible_cpus();
	if (fuzz_ncpus <= 0 || fuzz_ncpus > 1024)
		fuzz_fail("cannot count the CPUs");
	fuzz_load(&fuzz_copies[0], false);
	fuzz_load(&fuzz_copies[1], true);
}

/* Sum over the CPUs of per-CPU array slot `key`, as n u64 words. */
static void fuzz_percpu_sum(int fd, __u32 key, __u64 *sum, size_t n)
{
	__u64 vals[1024 * 2];

	if (n > 2 || bpf_map_lookup_elem(fd, &key, vals) != 0)
		fuzz_fail("cannot read a per-CPU counter");
	for (size_t w = 0; w < n; w++) {
		sum[w] = 0;
		for (int c = 0; c < fuzz_ncpus; c++)
			sum[w] += vals[(size_t)c * n + w];
	}
}

/* The two copies' counters and totals must be equal (they saw the same frames). */
static void fuzz_compare_counters(void)
{
	for (__u32 k = 0; k < FLOW_CNT_MAX; k++) {
		__u64 a, b;

		fuzz_percpu_sum(bpf_map__fd(fuzz_copies[0].skel->maps.counters), k, &a, 1);
		fuzz_percpu_sum(bpf_map__fd(fuzz_copies[1].skel->maps.counters), k, &b, 1);
		if (a != b)
			fuzz_fail("the parsers disagree on a counter");
	}
	for (__u32 k = 0; k < FLOW_TOTAL_SLOTS; k++) {
		__u64 a[2], b[2];

		fuzz_percpu_sum(bpf_map__fd(fuzz_copies[0].skel->maps.totals), k, a, 2);
		fuzz_percpu_sum(bpf_map__fd(fuzz_copies[1].skel->maps.totals), k, b, 2);
		if (a[0] != b[0] || a[1] != b[1])
			fuzz_fail("the parsers disagree on a total");
	}
}

/* Every flow of copy 0 must be in copy 1 with the same counts and flags, and no more;
 * both maps are emptied. */
static void fuzz_compare_flows(void)
{
	int fa = bpf_map__fd(fuzz_copies[0].skel->maps.flows);
	int fb = bpf_map__fd(fuzz_copies[1].skel->maps.flows);
	struct flow_key k;
	struct flow_value a, b;

	while (bpf_map_get_next_key(fa, NULL, &k) == 0) {
		if (bpf_map_lookup_elem(fa, &k, &a) != 0)
			fuzz_fail("cannot read a flow");
		if (bpf_map_lookup_elem(fb, &k, &b) != 0)
			fuzz_fail("the parsers disagree on a flow key");
		a.first_seen_ns = b.first_seen_ns = 0;
		a.last_seen_ns = b.last_seen_ns = 0;
		if (memcmp(&a, &b, sizeof(a)) != 0)
			fuzz_fail("the parsers disagree on a flow's counts or flags");
		if (bpf_map_delete_elem(fa, &k) != 0 || bpf_map_delete_elem(fb, &k) != 0)
			fuzz_fail("cannot delete a flow");
	}
	if (bpf_map_get_next_key(fb, NULL, &k) == 0)
		fuzz_fail("the general parser made a flow the fast one did not");
}

/* Same snippets in the same order, but for their timestamps. */
static void fuzz_compare_snippets(void)
{
	struct fuzz_copy *a = &fuzz_copies[0], *b = &fuzz_copies[1];

	a->nsn = b->nsn = 0;
	ring_buffer__consume(a->ring);
	ring_buffer__consume(b->ring);
	if (a->nsn != b->nsn)
		fuzz_fail("the parsers disagree on the number of snippets");
	for (unsigned int i = 0; i < a->nsn; i++) {
		a->sn[i].ts_ns = b->sn[i].ts_ns = 0;
		if (memcmp(&a->sn[i], &b->sn[i],
			   offsetof(struct flow_snippet, data) + a->sn[i].len) != 0)
			fuzz_fail("the parsers disagree on a snippet");
	}
}

/* Runs the frame through one copy and checks "observe, never interfere". 0, or 1 when
 * the kernel's harness refused the frame. */
static int fuzz_run(struct fuzz_copy *c, bool egress, const struct __sk_buff *ctx_in,
		    const uint8_t *frame, size_t len)
{
	static uint8_t out[FUZZ_FRAME_MAX + 64];
	struct __sk_buff ctx = *ctx_in;
	struct bpf_program *prog =
	    egress ? c->skel->progs.flow_egress : c->skel->progs.flow_ingress;
	int err;

	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	memset(out, 0, sizeof(out));
	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
	/* The kernel's test-run harness refuses some frames before the program runs (e.g. an
	 * IPv4 ethertype without a full IPv4 header, GSO metadata it does not like): those
	 * are no classifier case. */
	if (err == -EINVAL)
		return 1;
	if (err) {
		fprintf(stderr, "fuzz_classifier: BPF_PROG_TEST_RUN on %zu bytes: %s\n", len,
			strerror(-err));
		fuzz_fail("BPF_PROG_TEST_RUN failed");
	}
	if ((int)opts.retval != TC_ACT_UNSPEC)
		fuzz_fail("the classifier did not return TC_ACT_UNSPEC");
	if (opts.data_size_out != len || memcmp(out, frame, len) != 0)
		fuzz_fail("the classifier changed the frame");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *frame;
	size_t len;
	bool egress, gso;
	int refused;

	if (size < 2 + FUZZ_ETH_HLEN || size - 2 > FUZZ_FRAME_MAX)
		return 0;
	if (!fuzz_copies[0].skel)
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
	refused = fuzz_run(&fuzz_copies[0], egress, &ctx, frame, len);
	if (fuzz_run(&fuzz_copies[1], egress, &ctx, frame, len) != refused)
		fuzz_fail("the test-run harness took the frame for one copy only");
	fuzz_compare_snippets();
	fuzz_compare_counters();
	fuzz_compare_flows();
	return 0;
}
