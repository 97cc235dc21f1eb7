/* ingest_load.c - load generator of bench/ingest.sh and bench/queries.sh: N simulated
 * nodes, each with its own lib/transport client (its own connection, as a real node),
 * sending real FlowBatches (lib/wire) of R records to a collector and counting what is
 * acknowledged.
 *
 * To keep the generator's own CPU off the two cores the collector needs, every node's
 * batch is encoded once; each send only patches the sequence number and the window in
 * place (fixed-length varints: sequence numbers start at 2^28, 5 bytes; Unix ms times are
 * 6 bytes from 1971 to 2109). Every batch is therefore a new (node, boot id, seq) and is
 * stored, not deduplicated, and covers the 5 s before it was sent, as a real node's
 * windows follow each other (a store that looks a batch up by node and time reads what
 * a real node's batch would cost). Its records are the same in every batch of a node, so
 * a store's bytes per record after this load are lower than real traffic's
 * (bench/fill_db's records are drawn anew for each record).
 *
 *   ingest_load URL [URL...] [OPTIONS]
 *	URL              a collector's nng URL; with several, each node dials all of them and
 *	                 nng sends each request to whichever is ready (as a node configured
 *	                 with several collectors), unless --split
 *	--split          node i dials only URL i % (number of URLs): the nodes split evenly
 *	--nodes N        simulated nodes, each its own connection (default 4)
 *	--records R      flow records per batch (default 5000, at most 10000)
 *	--inflight K     batches in flight per node (default 2)
 *	--duration S     seconds of load (default 10)
 *	--rate N         records/s over all nodes (default 0: as fast as acknowledged)
 *	--domain-pct P   percentage of records with a domain (default 30)
 *	--tag NAME       node names are NAME-<i> (default "sim")
 *
 * Prints one line of key=value figures at the end: acknowledged records/s, batch
 * round-trip latency (send -> acknowledgement, client side) p50/p99, encoded bytes per
 * record, errors. Exit 1 when it cannot run (no connection at all, encode failure). */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "transport.h"
#include "wire.h"

#define IL_SEQ_BASE	(1ull << 28)
#define IL_SEQ_BYTES	5
#define IL_MS_BYTES	6 /* a varint of [2^35, 2^42): Unix ms from 1971 to 2109 */
#define IL_WINDOW_MS	5000
#define IL_MAX_LAT	(1u << 21)
#define IL_MAX_INFLIGHT 64
#define IL_MAX_URLS	8

struct il_node {
	struct transport_client *c;
	uint8_t *buf; /* the encoded batch; seq, window start and end patched at their offsets */
	size_t len;
	size_t seq_off;
	size_t start_off;
	size_t end_off;
	uint64_t next_seq;
	atomic_uint inflight;
	double sent_at[IL_MAX_INFLIGHT]; /* by seq % IL_MAX_INFLIGHT */
	pthread_mutex_t lock;
};

static struct {
	unsigned records;
	atomic_ullong acked_records, acked_batches, errors, rejected, duplicates;
	atomic_int running;
	pthread_mutex_t lat_lock;
	double *lat;
	size_t nlat;
} il;

static double il_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t il_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void il_v4(uint8_t out[16], uint32_t ip)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	out[12] = (uint8_t)(ip >> 24);
	out[13] = (uint8_t)(ip >> 16);
	out[14] = (uint8_t)(ip >> 8);
	out[15] = (uint8_t)ip;
}

/* Writes v as a varint of exactly nbytes bytes (v must need that many). */
static void il_patch_varint(uint8_t *p, uint64_t v, int nbytes)
{
	int i;

	for (i = 0; i < nbytes; i++) {
		p[i] = (uint8_t)(v & 0x7f) | (i < nbytes - 1 ? 0x80 : 0);
		v >>= 7;
	}
}

static void il_on_reply(void *ctx, uint64_t token, int err, const uint8_t *buf, size_t len)
{
	struct il_node *n = ctx;
	struct wire_ack ack;
	double dt;

	pthread_mutex_lock(&n->lock);
	dt = il_now() - n->sent_at[token % IL_MAX_INFLIGHT];
	pthread_mutex_unlock(&n->lock);
	if (err) {
		if (err != -ECANCELED && atomic_load(&il.running))
			atomic_fetch_add(&il.errors, 1);
	} else if (wire_decode_ack(buf, len, &ack) != 0) {
		atomic_fetch_add(&il.errors, 1);
	} else if (!ack.ok) {
		atomic_fetch_add(&il.rejected, 1);
	} else {
		if (ack.duplicate)
			atomic_fetch_add(&il.duplicates, 1);
		if (atomic_load(&il.running)) {
			atomic_fetch_add(&il.acked_records, il.records);
			atomic_fetch_add(&il.acked_batches, 1);
			pthread_mutex_lock(&il.lat_lock);
			if (il.nlat < IL_MAX_LAT)
				il.lat[il.nlat++] = dt;
			pthread_mutex_unlock(&il.lat_lock);
		}
	}
	atomic_fetch_sub(&n->inflight, 1);
}

static int il_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Encodes b (one field changed from the encoding base/len) and sets *off to where that
 * field's nbytes-byte varint sits: the one run of bytes that differ. */
static int il_locate(const struct wire_batch *b, const uint8_t *base, size_t len, int nbytes,
		     size_t *off)
{
	size_t l2, k, first = (size_t)-1, last = 0;
	uint8_t *b2 = NULL;
	int rc = -1;

	if (wire_encode_batch(b, &b2, &l2) || l2 != len)
		goto out;
	for (k = 0; k < len; k++)
		if (base[k] != b2[k]) {
			if (first == (size_t)-1)
				first = k;
			last = k;
		}
	if (first != (size_t)-1 && last - first + 1 == (size_t)nbytes) {
		*off = first;
		rc = 0;
	}
out:
	free(b2);
	return rc;
}

/* Builds node i's batch and finds where its seq and window varints sit. */
static int il_build(struct il_node *n, unsigned i, const char *tag, unsigned domain_pct)
{
	struct wire_batch b;
	uint8_t *b1 = NULL;
	size_t l1;
	uint64_t now = il_unix_ms();
	unsigned r;

	memset(&b, 0, sizeof(b));
	snprintf(b.node, sizeof(b.node), "%s-%u", tag, i);
	snprintf(b.boot_id, sizeof(b.boot_id), "bench-%u-%ld-%u", (unsigned)getpid(),
		 (long)time(NULL), i);
	snprintf(b.agent_version, sizeof(b.agent_version), "bench");
	b.window_start_ms = now - 5000;
	b.window_end_ms = now;
	b.total_packets = 1000000;
	b.total_bytes = 500000000;
	b.active_connections = il.records;
	b.nrecords = il.records;
	b.records = calloc(il.records, sizeof(*b.records));
	if (!b.records)
		return -1;
	for (r = 0; r < il.records; r++) {
		struct wire_record *w = &b.records[r];
		uint32_t h = (i * 2654435761u) ^ (r * 40503u);

		il_v4(w->src_addr, 0x0a000000u | ((i & 0xff) << 16) | (r & 0xffff));
		il_v4(w->dst_addr, 0x0a800000u | (h & 0x3fff));
		w->src_port = (uint16_t)(32768 + (r % 28000));
		w->dst_port = (uint16_t)((h >> 14) % 4 == 0 ? 443 : 1024 + (h % 4000));
		w->proto = (h & 1) ? 6 : 17;
		w->ip_version = 4;
		w->tcp_flags = w->proto == 6 ? 0x18 : 0;
		w->packets_sent = 10 + (h % 90);
		w->packets_received = 5 + (h % 50);
		w->bytes_sent = w->packets_sent * 600;
		w->bytes_received = w->packets_received * 80;
		w->first_seen_ms = now - 4000 - (h % 1000);
		w->last_seen_ms = now - (h % 1000);
		snprintf(w->interface, sizeof(w->interface), "eth0");
		if (h % 100 < domain_pct)
			snprintf(w->domain, sizeof(w->domain), "svc-%u.example.com", h % 500);
	}
	/* Where each patched field sits: the base encoding against one with only that
	 * field changed (in its first and last varint byte, so the bytes that differ are
	 * exactly the field's). */
	b.seq = IL_SEQ_BASE;
	if (wire_encode_batch(&b, &b1, &l1))
		goto fail;
	b.seq = (1ull << 35) - 1;
	if (il_locate(&b, b1, l1, IL_SEQ_BYTES, &n->seq_off))
		goto fail;
	b.seq = IL_SEQ_BASE;
	b.window_start_ms ^= 1 | 1ull << 36;
	if (il_locate(&b, b1, l1, IL_MS_BYTES, &n->start_off))
		goto fail;
	b.window_start_ms ^= 1 | 1ull << 36;
	b.window_end_ms ^= 1 | 1ull << 36;
	if (il_locate(&b, b1, l1, IL_MS_BYTES, &n->end_off))
		goto fail;
	n->buf = b1;
	n->len = l1;
	n->next_seq = IL_SEQ_BASE;
	wire_batch_fini(&b);
	return 0;
fail:
	free(b1);
	wire_batch_fini(&b);
	return -1;
}

int main(int argc, char **argv)
{
	char *urls[IL_MAX_URLS];
	const char *tag = "sim";
	unsigned nodes = 4, inflight = 2, domain_pct = 30, i, nurls = 0;
	bool split = false;
	double duration = 10, rate = 0;
	struct il_node *ns;
	char err[256];
	int a;

	il.records = 5000;
	for (a = 1; a < argc; a++) {
		const char *o = argv[a];

		if (o[0] != '-') {
			if (nurls == IL_MAX_URLS)
				goto usage;
			urls[nurls++] = (char *)o;
			continue;
		}
		if (!strcmp(o, "--split")) {
			split = true;
			continue;
		}
		if (a + 1 >= argc)
			goto usage;
		if (!strcmp(o, "--nodes"))
			nodes = (unsigned)atoi(argv[++a]);
		else if (!strcmp(o, "--records"))
			il.records = (unsigned)atoi(argv[++a]);
		else if (!strcmp(o, "--inflight"))
			inflight = (unsigned)atoi(argv[++a]);
		else if (!strcmp(o, "--duration"))
			duration = atof(argv[++a]);
		else if (!strcmp(o, "--rate"))
			rate = atof(argv[++a]);
		else if (!strcmp(o, "--domain-pct"))
			domain_pct = (unsigned)atoi(argv[++a]);
		else if (!strcmp(o, "--tag"))
			tag = argv[++a];
		else
			goto usage;
	}
	if (!nurls || !nodes || !il.records || il.records > WIRE_MAX_RECORDS || !inflight ||
	    inflight > IL_MAX_INFLIGHT)
		goto usage;

	ns = calloc(nodes, sizeof(*ns));
	il.lat = malloc(IL_MAX_LAT * sizeof(double));
	pthread_mutex_init(&il.lat_lock, NULL);
	if (!ns || !il.lat)
		return 1;
	for (i = 0; i < nodes; i++) {
		pthread_mutex_init(&ns[i].lock, NULL);
		if (il_build(&ns[i], i, tag, domain_pct)) {
			fprintf(stderr, "ingest_load: cannot encode the batch of node %u\n", i);
			return 1;
		}
		ns[i].c = transport_client_new(split ? &urls[i % nurls] : urls, split ? 1 : nurls,
					       inflight + 1, 30000, il_on_reply, &ns[i], err,
					       sizeof(err));
		if (!ns[i].c) {
			fprintf(stderr, "ingest_load: %s\n", err);
			return 1;
		}
	}
	/* Wait (up to 20 s) until every node is connected. */
	unsigned connected = 0;
	double t0 = il_now();

	while (il_now() - t0 < 20) {
		connected = 0;
		for (i = 0; i < nodes; i++)
			connected += transport_client_connected(ns[i].c);
		if (connected == nodes)
			break;
		usleep(20000);
	}
	double connect_s = il_now() - t0;

	if (connected == 0) {
		fprintf(stderr, "ingest_load: no connection to %s%s\n", urls[0],
			nurls > 1 ? " or the others" : "");
		return 1;
	}
	atomic_store(&il.running, 1);
	double start = il_now(), end = start + duration, tokens = 0, last = start;
	unsigned long long sent_batches = 0;
	unsigned peak_connected = connected;

	while (il_now() < end) {
		bool any = false;
		double now = il_now();

		if (rate > 0) {
			tokens += (now - last) * rate;
			if (tokens > rate * 0.05 + il.records)
				tokens = rate * 0.05 + il.records;
		}
		last = now;
		for (i = 0; i < nodes; i++) {
			struct il_node *n = &ns[i];

			if (atomic_load(&n->inflight) >= inflight)
				continue;
			if (rate > 0 && tokens < il.records)
				break;
			pthread_mutex_lock(&n->lock);
			uint64_t seq = n->next_seq++;

			il_patch_varint(n->buf + n->seq_off, seq, IL_SEQ_BYTES);
			uint64_t now_ms = il_unix_ms();

			il_patch_varint(n->buf + n->start_off, now_ms - IL_WINDOW_MS, IL_MS_BYTES);
			il_patch_varint(n->buf + n->end_off, now_ms, IL_MS_BYTES);
			n->sent_at[seq % IL_MAX_INFLIGHT] = il_now();
			pthread_mutex_unlock(&n->lock);
			atomic_fetch_add(&n->inflight, 1);
			if (transport_client_send(n->c, seq, n->buf, n->len) != 0) {
				atomic_fetch_sub(&n->inflight, 1);
				atomic_fetch_add(&il.errors, 1);
				continue;
			}
			sent_batches++;
			if (rate > 0)
				tokens -= il.records;
			any = true;
		}
		if (!any)
			usleep(200);
		if (((unsigned)(now * 10)) % 10 == 0) {
			unsigned c = 0;

			for (i = 0; i < nodes; i++)
				c += transport_client_connected(ns[i].c);
			if (c > peak_connected)
				peak_connected = c;
		}
	}
	double elapsed = il_now() - start;

	atomic_store(&il.running, 0);
	unsigned long long acked = atomic_load(&il.acked_records);

	connected = 0;
	for (i = 0; i < nodes; i++)
		connected += transport_client_connected(ns[i].c);
	for (i = 0; i < nodes; i++)
		transport_client_free(ns[i].c);

	double p50 = 0, p99 = 0, bytes = 0;

	qsort(il.lat, il.nlat, sizeof(double), il_cmp);
	if (il.nlat) {
		p50 = il.lat[il.nlat / 2];
		p99 = il.lat[(size_t)((double)(il.nlat - 1) * 0.99)];
	}
	for (i = 0; i < nodes; i++)
		bytes += (double)ns[i].len;
	bytes /= (double)nodes * il.records;
	printf("nodes=%u connected_at_end=%u connect_seconds=%.2f records_per_batch=%u "
	       "seconds=%.2f batches_sent=%llu batches_acked=%llu records_acked=%llu "
	       "records_per_second=%.0f latency_p50_ms=%.2f latency_p99_ms=%.2f "
	       "bytes_per_record=%.1f errors=%llu rejected=%llu duplicates=%llu\n",
	       nodes, connected, connect_s, il.records, elapsed, sent_batches,
	       (unsigned long long)atomic_load(&il.acked_batches), acked, (double)acked / elapsed,
	       p50 * 1000, p99 * 1000, bytes, (unsigned long long)atomic_load(&il.errors),
	       (unsigned long long)atomic_load(&il.rejected),
	       (unsigned long long)atomic_load(&il.duplicates));
	(void)peak_connected;
	for (i = 0; i < nodes; i++) {
		free(ns[i].buf);
		pthread_mutex_destroy(&ns[i].lock);
	}
	free(ns);
	free(il.lat);
	return 0;
usage:
	fprintf(stderr, "usage: ingest_load URL [URL...] [--split] [--nodes N] [--records R] "
			"[--inflight K] [--duration S] [--rate N] [--domain-pct P] [--tag NAME]\n");
	return 2;
}
