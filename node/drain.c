/* drain.c - kernel maps -> user space (see drain.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "drain.h"
#include "log.h"

/* Flow entries per batched lookup: 28 KiB of buffers, rewritten every tick (10 000 flows
 * are 40 syscalls a second). */
#define DRAIN_BATCH 256
/* Ended connections removed per pass over the live table: the buffer stays small at any
 * --max-flows, and a mass expiry (a flood that stopped) takes count / this passes. */
#define DRAIN_EXPIRE_BATCH 4096

struct drain {
	int flows_fd;
	int totals_fd;
	int counters_fd;
	int ncpus;
	struct flow_key *keys;	  /* DRAIN_BATCH */
	struct flow_value *vals;  /* DRAIN_BATCH */
	struct flow_key *expired; /* DRAIN_EXPIRE_BATCH */
	void *percpu;		  /* ncpus * largest per-CPU value */
};

struct drain *drain_new(int flows_fd, int totals_fd, int counters_fd)
{
	struct drain *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->flows_fd = flows_fd;
	d->totals_fd = totals_fd;
	d->counters_fd = counters_fd;
	d->ncpus = libbpf_num_possible_cpus();
	if (d->ncpus <= 0) {
		free(d);
		errno = EINVAL;
		return NULL;
	}
	d->keys = calloc(DRAIN_BATCH, sizeof(*d->keys));
	d->vals = calloc(DRAIN_BATCH, sizeof(*d->vals));
	d->expired = calloc(DRAIN_EXPIRE_BATCH, sizeof(*d->expired));
	d->percpu = calloc((size_t)d->ncpus, sizeof(struct flow_total));
	if (!d->keys || !d->vals || !d->expired || !d->percpu) {
		drain_free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

void drain_free(struct drain *d)
{
	if (!d)
		return;
	free(d->keys);
	free(d->vals);
	free(d->expired);
	free(d->percpu);
	free(d);
}

/* Calls fn on every kernel flow entry, in batches of DRAIN_BATCH. Returns the number read
 * or -errno. */
static int drain_flows(struct drain *d,
		       void (*fn)(void *arg, const struct flow_key *key,
				  const struct flow_value *val),
		       void *arg)
{
	/* Hash map batch tokens are a bucket index; a key-sized buffer always fits. */
	struct flow_key in_batch, out_batch;
	void *in = NULL;
	int total = 0;

	for (;;) {
		__u32 count = DRAIN_BATCH;
		int err;

		err = bpf_map_lookup_batch(d->flows_fd, in, &out_batch, d->keys, d->vals, &count,
					   NULL);
		if (err && errno != ENOENT) {
			err = -errno;
			log_error("reading the flow map: %s", strerror(-err));
			return err;
		}
		for (__u32 i = 0; i < count; i++)
			fn(arg, &d->keys[i], &d->vals[i]);
		total += (int)count;
		if (err) /* ENOENT: that was the last batch */
			break;
		in_batch = out_batch;
		in = &in_batch;
	}
	return total;
}

struct drain_mirror {
	struct live_table *t;
	int failed, err;
};

static void drain_mirror_one(void *arg, const struct flow_key *key, const struct flow_value *val)
{
	struct drain_mirror *m = arg;
	int rc = live_table_update(m->t, key, val);

	/* The table is as large as the map, so only ENOMEM (no room to grow): the entry
	 * stays in the kernel map and is mirrored (and exported, its counters cumulative)
	 * at a later tick. */
	if (rc) {
		m->failed++;
		m->err = rc;
	}
}

int drain_read_flows(struct drain *d, struct live_table *t)
{
	struct drain_mirror m = {t, 0, 0};
	int total = drain_flows(d, drain_mirror_one, &m);

	if (m.failed) /* once a tick, not once a flow */
		log_warn("live table: %d flows not mirrored this tick: %s", m.failed,
			 strerror(-m.err));
	return total;
}

struct drain_walk {
	void (*fn)(void *arg, const struct live_flow *f);
	void *arg;
};

static void drain_walk_one(void *arg, const struct flow_key *key, const struct flow_value *val)
{
	struct drain_walk *w = arg;
	struct live_flow f = {*key, *val};

	w->fn(w->arg, &f);
}

int drain_walk_flows(struct drain *d, void (*fn)(void *arg, const struct live_flow *f), void *arg)
{
	struct drain_walk w = {fn, arg};

	return drain_flows(d, drain_walk_one, &w);
}

static int drain_sum_percpu(struct drain *d, int fd, __u32 slots, size_t value_size, uint64_t *out)
{
	/* Values of a per-CPU array are all u64 fields: sum field by field. */
	size_t fields = value_size / sizeof(uint64_t);

	for (__u32 k = 0; k < slots; k++) {
		const uint64_t *v = d->percpu;

		if (bpf_map_lookup_elem(fd, &k, d->percpu))
			return -errno;
		for (size_t f = 0; f < fields; f++) {
			uint64_t sum = 0;

			for (int c = 0; c < d->ncpus; c++)
				sum += v[(size_t)c * fields + f];
			out[k * fields + f] = sum;
		}
	}
	return 0;
}

int drain_read_totals(struct drain *d, struct flow_total totals[FLOW_TOTAL_SLOTS],
		      uint64_t counters[FLOW_CNT_MAX])
{
	int err;

	err = drain_sum_percpu(d, d->totals_fd, FLOW_TOTAL_SLOTS, sizeof(struct flow_total),
			       (uint64_t *)totals);
	if (!err)
		err = drain_sum_percpu(d, d->counters_fd, FLOW_CNT_MAX, sizeof(uint64_t), counters);
	if (err)
		log_error("reading classifier counters: %s", strerror(-err));
	return err;
}

/* Removes the n connections named in d->expired (see drain_expire). */
static int drain_remove(struct drain *d, struct live_table *t, size_t n, drain_final_fn on_final,
			void *arg)
{
	for (size_t i = 0; i < n; i++) {
		struct live_conn *c = live_table_find(t, &d->expired[i]);
		struct live_flow last = {.key = d->expired[i]};
		bool read = false;

		/* Atomic read-and-remove: the counters are final, a packet after this
		 * starts a new entry. */
		if (bpf_map_lookup_and_delete_elem(d->flows_fd, &d->expired[i], &last.val) == 0)
			read = true;
		else if (errno != ENOENT)
			return -errno;
		if (c && on_final)
			on_final(arg, read ? &last : NULL, &c->key, &c->exported);
		(void)live_table_remove(t, &d->expired[i]); /* -ENOENT: not mirrored yet */
	}
	return 0;
}

int drain_expire(struct drain *d, struct live_table *t, uint64_t now_ns, uint64_t idle_ns,
		 uint64_t closed_ns, drain_final_fn on_final, void *arg)
{
	int removed = 0;
	size_t n;

	/* A full buffer may have left more behind: look again until a pass finds fewer. */
	do {
		int err;

		n = live_table_expired(t, now_ns, idle_ns, closed_ns, d->expired,
				       DRAIN_EXPIRE_BATCH);
		err = drain_remove(d, t, n, on_final, arg);
		if (err)
			return err;
		removed += (int)n;
	} while (n == DRAIN_EXPIRE_BATCH);
	return removed;
}
