/* fill_db.c - fills a collector database for bench/queries.sh: a direct store_append loop
 * linked with the collector's store (collector/store/: its own writer code, schema and
 * every history index), bypassing nng and protobuf so that millions of records load in
 * minutes. DBPATH is a file, or any store URL (store_url_parse).
 *
 *   fill_db DBPATH RECORDS [--nodes N] [--span-hours H] [--batch R] [--group G] [--boot B]
 *
 * Records are spread evenly over the last H hours (default 24) in batches of R records
 * (default 5000), one batch per (node, 5-second window), round robin over N nodes
 * (default 50, named node-<i>), G batches per transaction (default 20). Addresses:
 * sources from 10.1.0.0/16 (65 536), destinations from 10.200.0.0/20 (4 096); 30 % of the
 * records carry a domain svc-<k>.example.com (k < 2 000). Boot ids are <B>-<i> (default
 * B "fill"): another B appends to a filled database (the same B would be all duplicates),
 * to measure the insert rate of a large database. Prints the rate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/store/store.h"

static double fd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fd_v4(uint8_t out[16], uint32_t ip)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	out[12] = (uint8_t)(ip >> 24);
	out[13] = (uint8_t)(ip >> 16);
	out[14] = (uint8_t)(ip >> 8);
	out[15] = (uint8_t)ip;
}

static uint32_t fd_rand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

int main(int argc, char **argv)
{
	unsigned nodes = 50, per = 5000, group = 20, i, g;
	double span_h = 24;
	const char *boot = "fill";
	unsigned long long total, done = 0;
	struct store_config cfg = {0};
	struct store *s;
	char err[512];
	uint64_t rng = 42;
	int a;

	if (argc < 3)
		goto usage;
	total = strtoull(argv[2], NULL, 10);
	for (a = 3; a < argc; a++) {
		if (a + 1 >= argc)
			goto usage;
		if (!strcmp(argv[a], "--nodes"))
			nodes = (unsigned)atoi(argv[++a]);
		else if (!strcmp(argv[a], "--span-hours"))
			span_h = atof(argv[++a]);
		else if (!strcmp(argv[a], "--batch"))
			per = (unsigned)atoi(argv[++a]);
		else if (!strcmp(argv[a], "--group"))
			group = (unsigned)atoi(argv[++a]);
		else if (!strcmp(argv[a], "--boot"))
			boot = argv[++a];
		else
			goto usage;
	}
	if (!total || !nodes || !per || per > WIRE_MAX_RECORDS || !group || group > 256)
		goto usage;
	if (store_url_parse(argv[1], &cfg.url, err, sizeof(err)) < 0) {
		fprintf(stderr, "fill_db: %s\n", err);
		return 1;
	}
	s = store_open(&cfg, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "fill_db: %s\n", err);
		return 1;
	}

	struct wire_batch *bs = calloc(group, sizeof(*bs));
	const struct wire_batch **ptrs = calloc(group, sizeof(*ptrs));
	bool *dup = calloc(group, sizeof(*dup));

	if (!bs || !ptrs || !dup)
		return 1;
	for (g = 0; g < group; g++) {
		bs[g].records = calloc(per, sizeof(struct wire_record));
		if (!bs[g].records)
			return 1;
		ptrs[g] = &bs[g];
	}

	struct timespec rt;

	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t now_ms = (uint64_t)rt.tv_sec * 1000 + (uint64_t)rt.tv_nsec / 1000000;
	uint64_t span_ms = (uint64_t)(span_h * 3600 * 1000);
	unsigned long long nbatches = (total + per - 1) / per, k = 0;
	double t0 = fd_now(), last_print = t0;

	while (done < total) {
		unsigned n = 0;

		for (g = 0; g < group && done < total; g++, n++, k++) {
			struct wire_batch *b = &bs[g];
			unsigned cnt = total - done < per ? (unsigned)(total - done) : per;
			uint64_t ts = now_ms - span_ms + k * span_ms / nbatches;

			snprintf(b->node, sizeof(b->node), "node-%llu", k % nodes);
			snprintf(b->boot_id, sizeof(b->boot_id), "%s-%llu", boot, k % nodes);
			snprintf(b->agent_version, sizeof(b->agent_version), "bench");
			b->seq = k / nodes + 1;
			b->window_start_ms = ts;
			b->window_end_ms = ts + 5000;
			b->total_packets = k * 1000;
			b->total_bytes = k * 100000;
			b->active_connections = cnt;
			b->nrecords = cnt;
			for (i = 0; i < cnt; i++) {
				struct wire_record *w = &b->records[i];
				uint32_t h = fd_rand(&rng);

				memset(w, 0, sizeof(*w));
				fd_v4(w->src_addr, 0x0a010000u | (h & 0xffff));
				fd_v4(w->dst_addr, 0x0ac80000u | (fd_rand(&rng) & 0xfff));
				w->src_port = (uint16_t)(32768 + h % 28000);
				w->dst_port =
				    (uint16_t)((h >> 16) % 4 == 0 ? 443 : 1024 + (h >> 16) % 4000);
				w->proto = (h >> 20) & 1 ? 6 : 17;
				w->ip_version = 4;
				w->tcp_flags = w->proto == 6 ? 0x1b : 0;
				w->packets_sent = 1 + h % 100;
				w->packets_received = 1 + (h >> 8) % 50;
				w->bytes_sent = w->packets_sent * 700;
				w->bytes_received = w->packets_received * 60;
				w->first_seen_ms = ts;
				w->last_seen_ms = ts + 4000;
				snprintf(w->interface, sizeof(w->interface), "eth0");
				if (h % 10 < 3)
					snprintf(w->domain, sizeof(w->domain), "svc-%u.example.com",
						 fd_rand(&rng) % 2000);
			}
			done += cnt;
		}
		int rc = store_append(s, ptrs, n, dup);

		if (rc) {
			fprintf(stderr, "fill_db: store_append: %s\n", store_last_error(s));
			return 1;
		}
		if (fd_now() - last_print > 10) {
			last_print = fd_now();
			fprintf(stderr, "fill_db: %llu records, %.0f/s\n", done,
				(double)done / (last_print - t0));
		}
	}
	double el = fd_now() - t0;

	printf("records=%llu seconds=%.1f records_per_second=%.0f db_bytes=%lld\n", done, el,
	       (double)done / el, (long long)store_db_bytes(s));
	store_close(s);
	for (g = 0; g < group; g++)
		free(bs[g].records);
	free(bs);
	free(ptrs);
	free(dup);
	return 0;
usage:
	fprintf(stderr, "usage: fill_db DBPATH RECORDS [--nodes N] [--span-hours H] [--batch R] "
			"[--group G] [--boot B]\n");
	return 2;
}
