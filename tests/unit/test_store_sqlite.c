/* test_store_sqlite.c - what only the SQLite backend of the history store does, on real
 * files under a mkdtemp directory (removed at the end). The behaviour both backends share
 * is tests/unit/test_store.c's conformance suite, which runs on SQLite too.
 *
 * Checked here: the query plans of the history, DNS and top-domains queries use an index
 * for every filter (store_sqlite_explain_*); retention in exact max_rows steps (a batch's
 * block, then its keys, then DNS records, then dedup entries), also when a step stops
 * between the blocks of one window, and the file space it gives back; a clean close
 * checkpoints the WAL and keeps PRAGMA user_version; a newer schema version is refused
 * and left alone, a file that is not a database is refused, a reader never creates a
 * file; a reader beside a writer thread reads snapshots (the page and the total of one
 * query agree); the migration of version 1 and version 2 databases (built here with the
 * released SQL of those versions) keeps their data, ids and dedup set. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "collector/store/sqlite.h"
#include "tests/unit/check.h"

static char tmpdir[64];

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void addr(uint8_t out[16], const char *text)
{
	memset(out, 0, 16);
	if (strchr(text, ':')) {
		CHECK(inet_pton(AF_INET6, text, out) == 1);
		return;
	}
	out[10] = out[11] = 0xff;
	CHECK(inet_pton(AF_INET, text, out + 12) == 1);
}

/* tag: a unique number per record, stored as packets_sent, to name rows in results. */
static void rec_set(struct wire_record *r, uint64_t tag, const char *src, uint16_t sport,
		    const char *dst, uint16_t dport, uint8_t proto, const char *domain)
{
	memset(r, 0, sizeof(*r));
	addr(r->src_addr, src);
	addr(r->dst_addr, dst);
	r->ip_version = strchr(src, ':') ? 6 : 4;
	r->src_port = sport;
	r->dst_port = dport;
	r->proto = proto;
	r->packets_sent = tag;
	r->packets_received = 1;
	r->bytes_sent = 100;
	r->bytes_received = 200;
	r->first_seen_ms = 1;
	r->last_seen_ms = 2;
	snprintf(r->interface, sizeof(r->interface), "eth0");
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
}

static void batch_init(struct wire_batch *b, const char *node, const char *boot, uint64_t seq,
		       uint64_t start, uint64_t end, size_t nrecords)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->node, sizeof(b->node), "%s", node);
	snprintf(b->boot_id, sizeof(b->boot_id), "%s", boot);
	snprintf(b->agent_version, sizeof(b->agent_version), "0.1.0");
	b->seq = seq;
	b->window_start_ms = start;
	b->window_end_ms = end;
	b->total_packets = 1000 + seq;
	b->total_bytes = 2000 + seq;
	b->active_connections = 3 + seq;
	for (int i = 0; i < WIRE_LOSS_MAX; i++)
		b->lost[i] = seq * 10 + (uint64_t)i;
	b->nrecords = nrecords;
	b->records = calloc(nrecords ? nrecords : 1, sizeof(*b->records));
	CHECK(b->records != NULL);
	for (size_t i = 0; i < nrecords; i++)
		rec_set(&b->records[i], seq * 1000 + i, "10.1.0.1", 1000, "10.1.0.2", 80, 6, "");
}

static void batch_free(struct wire_batch *b)
{
	free(b->records);
	b->records = NULL;
}

static int append1(struct store *s, const struct wire_batch *b, bool *dup)
{
	const struct wire_batch *v[1] = {b};

	return store_append(s, v, 1, dup);
}

/* The store_config of the SQLite file at path. */
static const struct store_config *sqlite_cfg(struct store_config *cfg, const char *path)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->url.kind = STORE_SQLITE;
	snprintf(cfg->url.path, sizeof(cfg->url.path), "%s", path);
	return cfg;
}

static struct store *open_store(const char *name)
{
	struct store_config cfg;
	char path[128];
	char err[256];
	struct store *s;

	path_of(path, sizeof(path), name);
	s = store_open(sqlite_cfg(&cfg, path), err, sizeof(err));
	if (!CHECK(s != NULL))
		fprintf(stderr, "    %s\n", err);
	return s;
}

static struct store_reader *open_reader(const char *name)
{
	struct store_config cfg;
	char path[128];
	char err[256];
	struct store_reader *r;

	path_of(path, sizeof(path), name);
	r = store_reader_open(sqlite_cfg(&cfg, path), err, sizeof(err));
	if (!CHECK(r != NULL))
		fprintf(stderr, "    %s\n", err);
	return r;
}

static uint64_t count_all(struct store_reader *r)
{
	struct store_filter f = {.limit = 1};
	struct store_history h;
	uint64_t total;

	if (!CHECK_EQ_INT(store_query_history(r, &f, &h), 0))
		return UINT64_MAX;
	total = h.total;
	store_history_fini(&h);
	return total;
}

/* tag: stored as client_port, to name rows in results. */
static void dns_set(struct wire_dns *d, uint16_t tag, uint64_t ts, const char *name, uint16_t qtype,
		    const char *client, const char *server)
{
	memset(d, 0, sizeof(*d));
	d->ts_ms = ts;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->qtype = qtype;
	d->ip_version = strchr(client, ':') ? 6 : 4;
	addr(d->client_addr, client);
	addr(d->server_addr, server);
	d->client_port = tag;
	d->server_port = 53;
}

static void dns_answer(struct wire_dns *d, uint16_t type, uint32_t ttl, const char *value)
{
	struct wire_dns_answer *a = &d->answers[d->nanswers++];

	memset(a, 0, sizeof(*a));
	a->type = type;
	a->ttl = ttl;
	if (type == 5)
		snprintf(a->target, sizeof(a->target), "%s", value);
	else
		addr(a->addr, value);
}

/* Four DNS records, tags 1..4: ts 1100 (1), 1200 (2) of n1; 2100 (3), 2200 (4) of n2.
 * Newest first is 4,3,2,1. */
static void dns_fill(struct store *s, struct wire_dns d[4])
{
	struct wire_batch b[2];
	const struct wire_batch *v[2] = {&b[0], &b[1]};
	bool dup[2];

	dns_set(&d[0], 1, 1100, "www.example.com", 1, "10.0.0.1", "10.0.0.53");
	d[0].answered = 1;
	d[0].latency_us = 1500;
	dns_answer(&d[0], 5, 60, "edge.example.net");
	dns_answer(&d[0], 1, 300, "93.184.216.34");
	dns_set(&d[1], 2, 1200, "example.com", 28, "10.0.0.2", "10.0.0.53");
	d[1].answered = 1;
	d[1].latency_us = 800;
	dns_answer(&d[1], 28, 4294967295u, "2001:db8::7");
	dns_set(&d[2], 3, 2100, "nx.example.org", 1, "10.0.0.1", "10.0.0.53");
	d[2].answered = 1;
	d[2].rcode = 3;
	d[2].latency_us = 2000;
	dns_set(&d[3], 4, 2200, "Mixed.Example.COM", 16, "fd00::1", "fd00::53");

	batch_init(&b[0], "n1", "boot", 1, 1000, 2000, 0);
	b[0].dns = &d[0];
	b[0].ndns = 2;
	batch_init(&b[1], "n2", "boot", 1, 2000, 3000, 1);
	b[1].dns = &d[2];
	b[1].ndns = 2;
	CHECK_EQ_INT(store_append(s, v, 2, dup), 0);
	/* a duplicate batch stores its DNS records only once */
	CHECK_EQ_INT(store_append(s, v, 1, dup), 0);
	CHECK(dup[0]);
	batch_free(&b[0]);
	batch_free(&b[1]);
}

static void expect_dns(struct store_reader *r, const struct store_dns_filter *f, const char *label,
		       const char *want, uint64_t total)
{
	struct store_dns_result res;
	char got[256];
	char exp[256];
	size_t len;

	snprintf(exp, sizeof(exp), "%s: [%s] total %" PRIu64, label, want, total);
	if (!CHECK_EQ_INT(store_query_dns(r, f, &res), 0)) {
		fprintf(stderr, "    %s: %s\n", label, store_reader_last_error(r));
		return;
	}
	len = (size_t)snprintf(got, sizeof(got), "%s: [", label);
	for (size_t i = 0; i < res.n && len < sizeof(got); i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%u", i ? "," : "",
					(unsigned int)res.rows[i].dns.client_port);
	if (len < sizeof(got))
		snprintf(got + len, sizeof(got) - len, "] total %" PRIu64, res.total);
	CHECK_EQ_STR(got, exp);
	store_dns_result_fini(&res);
}

/* ---- the message of a refused append ---- */

static void test_failed_append_names_the_encoding(void)
{
	struct store *s = open_store("fail.db");
	struct wire_batch bad;
	bool dup = true;

	if (!s)
		return;
	batch_init(&bad, "node-a", "boot-1", 2, 2000, 3000, 3);
	bad.records[2].ip_version = 5; /* cannot be encoded: refused mid-batch */
	CHECK_EQ_INT(append1(s, &bad, &dup), -EINVAL);
	CHECK_CONTAINS(store_last_error(s), "encoding a batch's records: Invalid argument");
	CHECK(dup);
	batch_free(&bad);
	store_close(s);
}

/* ---- query plans ---- */

/* Eight records, tags 1..8; ts 1000 (1, 2), 2000 (3, 4), 2500 (5, 6), 4000 (7, 8). Newest
 * first is 8,7,6,5,4,3,2,1. */
static void filters_fill(struct store *s)
{
	struct wire_batch b[4];
	const struct wire_batch *v[4] = {&b[0], &b[1], &b[2], &b[3]};
	bool dup[4];

	batch_init(&b[0], "n1", "boot", 1, 1000, 2000, 2);
	rec_set(&b[0].records[0], 1, "10.0.0.1", 40000, "10.0.0.2", 443, 6, "a.example.com");
	rec_set(&b[0].records[1], 2, "10.0.0.3", 5353, "10.0.0.1", 53, 17, "example.com");
	batch_init(&b[1], "n1", "boot", 2, 2000, 3000, 2);
	rec_set(&b[1].records[0], 3, "2001:db8::1", 50000, "2001:db8::2", 443, 6, "badexample.com");
	rec_set(&b[1].records[1], 4, "10.0.0.1", 40001, "10.0.0.9", 80, 6, "");
	batch_init(&b[2], "n2", "boot", 1, 2500, 3500, 2);
	rec_set(&b[2].records[0], 5, "10.0.0.2", 443, "10.0.0.1", 40002, 6, "A.Example.COM");
	rec_set(&b[2].records[1], 6, "10.0.0.4", 123, "10.0.0.5", 123, 17, "x-example.com");
	batch_init(&b[3], "n2", "boot", 2, 4000, 5000, 2);
	rec_set(&b[3].records[0], 7, "2001:db8::2", 443, "2001:db8::1", 50001, 6, "example.org");
	rec_set(&b[3].records[1], 8, "10.0.0.1", 1, "10.0.0.2", 2, 1, "www.example.com");
	CHECK_EQ_INT(store_append(s, v, 4, dup), 0);
	for (int i = 0; i < 4; i++)
		batch_free(&b[i]);
}

/* Runs f and compares the tags of the rows, in order, and the total. */
static void expect_rows(struct store_reader *r, const struct store_filter *f, const char *label,
			const char *want, uint64_t total)
{
	struct store_history h;
	char got[256];
	char exp[256];
	size_t len;

	snprintf(exp, sizeof(exp), "%s: [%s] total %" PRIu64, label, want, total);
	if (!CHECK_EQ_INT(store_query_history(r, f, &h), 0)) {
		fprintf(stderr, "    %s: %s\n", label, store_reader_last_error(r));
		return;
	}
	len = (size_t)snprintf(got, sizeof(got), "%s: [", label);
	for (size_t i = 0; i < h.n && len < sizeof(got); i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%" PRIu64, i ? "," : "",
					h.rows[i].rec.packets_sent);
	if (len < sizeof(got))
		snprintf(got + len, sizeof(got) - len, "] total %" PRIu64, h.total);
	CHECK_EQ_STR(got, exp);
	store_history_fini(&h);
}

/* Every plan step on flows is an index search or an index-ordered scan; want: the index
 * names the filter must use. */
static void expect_plan(struct store_reader *r, const struct store_filter *f, const char *label,
			const char *want1, const char *want2)
{
	char plan[4096];
	char line[256];
	const char *p;

	if (!CHECK_EQ_INT(store_sqlite_explain_history(r, f, plan, sizeof(plan)), 0)) {
		fprintf(stderr, "    %s: %s\n", label, store_reader_last_error(r));
		return;
	}
	CHECK_CONTAINS(plan, want1);
	if (want2)
		CHECK_CONTAINS(plan, want2);
	for (p = plan; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		snprintf(line, sizeof(line), "%s: %.*s", label, (int)n, p);
		/* The count reads its bounded subquery's rows: that scan is of those rows,
		 * the subquery's own steps on flows are checked like every other. */
		if (strstr(line, "SCAN ") && !strstr(line, "INDEX") &&
		    !strstr(line, "SCAN (subquery-"))
			CHECK_EQ_STR(line, "(an index scan)");
		CHECK(!strstr(line, "SCAN flows") || strstr(line, "INDEX"));
		p += n + (nl ? 1 : 0);
	}
}

#define KEYS_RANGE "SEARCH flow_keys USING PRIMARY KEY (kind=? AND value=? AND ts>? AND ts<?)"
#define BY_ID	   "SEARCH b USING INTEGER PRIMARY KEY (rowid=?)"

static void test_query_plans_use_indexes(void)
{
	struct store *s = open_store("plans.db");
	struct store_reader *r = open_reader("plans.db");
	struct store_filter t = {
	    .has_start = true, .start_ms = 1000, .has_end = true, .end_ms = 5000};
	struct store_filter f;
	char plan[4096];

	if (!s || !r)
		goto out;
	filters_fill(s);
	/* Without a filter on records, the blocks are read by time (and node); a filter is
	 * served by its key rows (flow_keys, kind and value then time). The page's blocks
	 * are read by id. */
	expect_plan(r, &t, "time", "SEARCH flow_blocks USING INDEX flow_blocks_ts (ts>? AND ts<?)",
		    BY_ID);
	f = t;
	f.node = "n1";
	expect_plan(
	    r, &f, "node",
	    "SEARCH flow_blocks USING INDEX flow_blocks_node_ts (node_id=? AND ts>? AND ts<?)",
	    BY_ID);
	f = t;
	f.has_ip = true;
	expect_plan(r, &f, "ip", KEYS_RANGE, BY_ID);
	f = t;
	f.has_src_ip = true;
	expect_plan(r, &f, "src_ip", KEYS_RANGE, BY_ID);
	f = t;
	f.has_dst_ip = true;
	expect_plan(r, &f, "dst_ip", KEYS_RANGE, BY_ID);
	f = t;
	f.has_port = true;
	expect_plan(r, &f, "port", KEYS_RANGE, BY_ID);
	f = t;
	f.has_src_port = true;
	expect_plan(r, &f, "src_port", KEYS_RANGE, BY_ID);
	f = t;
	f.has_dst_port = true;
	expect_plan(r, &f, "dst_port", KEYS_RANGE, BY_ID);
	f = t;
	f.has_proto = true;
	expect_plan(r, &f, "proto", KEYS_RANGE, BY_ID);
	f = t;
	f.domain = "example.com";
	expect_plan(r, &f, "domain", KEYS_RANGE, BY_ID);
	f = t;
	f.domain = ".example.com";
	expect_plan(r, &f, "domain suffix",
		    "SEARCH flow_keys USING PRIMARY KEY (kind=? AND value>? AND value<?)", BY_ID);
	/* the address drives; the port is checked on each candidate record */
	f = t;
	f.has_ip = true;
	f.has_dst_port = true;
	expect_plan(r, &f, "ip+dst_port", KEYS_RANGE, BY_ID);
	/* only a start, or only an end, still ranges over the keys */
	f = (struct store_filter){.has_start = true, .start_ms = 1, .has_dst_port = true};
	expect_plan(r, &f, "dst_port+start",
		    "SEARCH flow_keys USING PRIMARY KEY (kind=? AND value=? AND ts>?)", BY_ID);
	f = (struct store_filter){0};
	expect_plan(r, &f, "none", "SCAN flow_blocks USING INDEX flow_blocks_ts", BY_ID);
	/* too small a buffer is an error, not a truncated plan */
	CHECK_EQ_INT(store_sqlite_explain_history(r, &t, plan, 8), -ENOSPC);
out:
	store_reader_close(r);
	store_close(s);
}

static void expect_dns_plan(struct store_reader *r, const struct store_dns_filter *f,
			    const char *label, const char *want)
{
	char plan[4096];

	if (!CHECK_EQ_INT(store_sqlite_explain_dns(r, f, plan, sizeof(plan)), 0)) {
		fprintf(stderr, "    %s: %s\n", label, store_reader_last_error(r));
		return;
	}
	if (!CHECK(strstr(plan, want) != NULL))
		fprintf(stderr, "    %s: want %s in:\n%s", label, want, plan);
	if (!CHECK(!strstr(plan, "SCAN d\n") && !strstr(plan, "SCAN dns\n")))
		fprintf(stderr, "    %s: a full scan:\n%s", label, plan);
}

static void test_dns_query_plans_use_indexes(void)
{
	struct store *s = open_store("dns.db");
	struct store_reader *r = open_reader("dns.db");
	struct store_dns_filter t = {
	    .has_start = true, .start_ms = 1000, .has_end = true, .end_ms = 5000};
	struct store_dns_filter f;
	struct wire_dns d[4];

	if (!s || !r)
		goto out;
	dns_fill(s, d);
	/* each filter with a time range is an index range scan */
	expect_dns_plan(r, &t, "time", "USING INDEX dns_ts (ts>? AND ts<?)");
	f = t;
	f.node = "n1";
	expect_dns_plan(r, &f, "node", "USING INDEX dns_node_ts (node_id=? AND ts>? AND ts<?)");
	f = t;
	f.has_client = true;
	expect_dns_plan(r, &f, "client",
			"USING INDEX dns_client_ts (client_ip=? AND ts>? AND ts<?)");
	f = t;
	f.name = "example.com";
	expect_dns_plan(r, &f, "name", "USING INDEX dns_name_ts (name_rev=? AND ts>? AND ts<?)");
	f = t;
	f.name = ".example.com";
	expect_dns_plan(r, &f, "name suffix",
			"USING INDEX dns_name_ts (name_rev>? AND name_rev<?)");
	f = (struct store_dns_filter){0};
	expect_dns_plan(r, &f, "none", "SCAN d USING INDEX dns_ts");
out:
	store_reader_close(r);
	store_close(s);
}

/* On dns.db as test_dns_query_plans_use_indexes left it. */
static void test_dns_retention_steps(void)
{
	struct store *s = open_store("dns.db");
	struct store_reader *r = open_reader("dns.db");
	struct store_dns_filter f = {0};
	unsigned deleted = 0;

	if (!s || !r)
		goto out;
	/* flows first (one block, ts 2000) and its 4 keys, then DNS records oldest first,
	 * within max_rows */
	CHECK_EQ_INT(store_retention_step(s, 2150, 5, &deleted), 0);
	CHECK_EQ_INT(deleted, 5);
	expect_dns(r, &f, "after the flow", "4,3,2,1", 4);
	CHECK_EQ_INT(store_retention_step(s, 2150, 1, &deleted), 0);
	CHECK_EQ_INT(deleted, 1);
	expect_dns(r, &f, "after one step", "4,3,2", 3);
	CHECK_EQ_INT(store_retention_step(s, 2150, 5, &deleted), 0);
	CHECK_EQ_INT(deleted, 2);
	expect_dns(r, &f, "after two steps", "4", 1);
	CHECK_EQ_INT(store_retention_step(s, 2150, 5, &deleted), 0);
	CHECK_EQ_INT(deleted, 0);
out:
	store_reader_close(r);
	store_close(s);
}

static void test_domains_query_plan_is_bounded_by_time(void)
{
	struct store_reader *r = open_reader("plans.db");
	char plan[4096];

	if (!r)
		return;
	/* the domain keys of the range, by time */
	if (CHECK_EQ_INT(store_sqlite_explain_domains(r, 1000, 5000, NULL, 10, plan, sizeof(plan)),
			 0))
		CHECK_CONTAINS(plan,
			       "SEARCH k USING INDEX flow_keys_kind_ts (kind=? AND ts>? AND ts<?)");
	if (CHECK_EQ_INT(store_sqlite_explain_domains(r, 1000, 5000, "n1", 10, plan, sizeof(plan)),
			 0))
		CHECK_CONTAINS(plan,
			       "SEARCH k USING INDEX flow_keys_kind_ts (kind=? AND ts>? AND ts<?)");
	CHECK_EQ_INT(store_sqlite_explain_domains(r, 1000, 5000, NULL, 0, plan, sizeof(plan)),
		     -EINVAL);
	store_reader_close(r);
}

/* ---- retention steps ---- */

static void test_retention_steps(void)
{
	struct store *s = open_store("retention.db");
	struct store_reader *r = open_reader("retention.db");
	struct wire_batch b[3];
	struct store_filter f = {0};
	unsigned deleted = 99;
	bool dup = true;

	if (!s || !r)
		goto out;
	batch_init(&b[0], "n", "boot", 1, 1000, 2000, 5);
	batch_init(&b[1], "n", "boot", 2, 2000, 3000, 5);
	batch_init(&b[2], "n", "boot", 3, 3000, 4000, 5);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(append1(s, &b[i], &dup), 0);
	CHECK_EQ_U64(count_all(r), 15);

	/* A batch's records go together (one block, one row), oldest first; then their
	 * keys (4 a batch here: protocol, one address prefix, two port prefixes). */
	CHECK_EQ_INT(store_retention_step(s, 1500, 4, &deleted), 0);
	CHECK_EQ_INT(deleted, 4); /* the block of ts 1000 and 3 of its keys */
	CHECK_EQ_U64(count_all(r), 10);
	f = (struct store_filter){.has_end = true, .end_ms = 2500};
	expect_rows(r, &f, "oldest left", "2004,2003,2002,2001,2000", 5);
	/* through the keys left of the deleted block: it is not counted */
	f = (struct store_filter){.has_proto = true, .proto = 6, .has_end = true, .end_ms = 2500};
	expect_rows(r, &f, "oldest left, by protocol", "2004,2003,2002,2001,2000", 5);
	f = (struct store_filter){.has_dst_port = true, .dst_port = 80};
	expect_rows(r, &f, "by port", "3004,3003,3002,3001,3000,2004,2003,2002,2001,2000", 10);
	CHECK_EQ_INT(store_retention_step(s, 2500, 4, &deleted), 0);
	CHECK_EQ_INT(deleted, 4); /* the block of ts 2000 and 3 of the 5 keys left */
	CHECK_EQ_INT(store_retention_step(s, 2500, 4, &deleted), 0);
	CHECK_EQ_INT(deleted, 2);
	f = (struct store_filter){.has_dst_port = true, .dst_port = 80};
	expect_rows(r, &f, "by port, after", "3004,3003,3002,3001,3000", 5);
	/* done: the dedup entries are younger than the dedup window */
	CHECK_EQ_INT(store_retention_step(s, 2500, 4, &deleted), 0);
	CHECK_EQ_INT(deleted, 0);
	CHECK_EQ_INT(store_retention_step(s, 2500, 0, &deleted), 0);
	CHECK_EQ_INT(deleted, 0);
	f = (struct store_filter){0};
	expect_rows(r, &f, "young kept", "3004,3003,3002,3001,3000", 5);

	/* everything older than the far future: all flows go, dedup entries stay */
	CHECK_EQ_INT(store_retention_step(s, UINT64_MAX, 100, &deleted), 0);
	CHECK_EQ_INT(deleted, 5); /* the block and its 4 keys */
	CHECK_EQ_U64(count_all(r), 0);
	CHECK_EQ_INT(append1(s, &b[0], &dup), 0);
	CHECK(dup);
	CHECK_EQ_U64(count_all(r), 0);
	for (int i = 0; i < 3; i++)
		batch_free(&b[i]);
out:
	store_reader_close(r);
	store_close(s);
}

/* Retention that stops between blocks of one time: the keys left of the deleted block
 * are not counted (the oldest block left bounds them by time and id). */
static void test_retention_mid_window(void)
{
	struct store *s = open_store("midwin.db");
	struct store_reader *r = open_reader("midwin.db");
	struct wire_batch a, b;
	struct store_filter f = {.has_proto = true, .proto = 6};
	unsigned deleted = 0;
	bool dup;

	if (!s || !r)
		goto out;
	batch_init(&a, "n1", "boot", 1, 1000, 2000, 3);
	batch_init(&b, "n2", "boot", 1, 1000, 2000, 2);
	CHECK_EQ_INT(append1(s, &a, &dup), 0);
	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	expect_rows(r, &f, "both", "1001,1000,1002,1001,1000", 5);
	CHECK_EQ_INT(store_retention_step(s, 1500, 1, &deleted), 0);
	CHECK_EQ_INT(deleted, 1); /* n1's block: the first of ts 1000 */
	expect_rows(r, &f, "one left", "1001,1000", 2);
	f = (struct store_filter){.has_ip = true};
	addr(f.ip, "10.1.0.2");
	expect_rows(r, &f, "one left, by address", "1001,1000", 2);
	batch_free(&a);
	batch_free(&b);
out:
	store_reader_close(r);
	store_close(s);
}

static void test_retention_gives_space_back(void)
{
	struct store *s = open_store("space.db");
	struct wire_batch b;
	unsigned deleted = 0;
	unsigned steps = 0;
	int64_t full, after;
	bool dup;

	if (!s)
		return;
	batch_init(&b, "n", "boot", 1, 1000, 2000, WIRE_MAX_RECORDS);
	for (size_t i = 0; i < b.nrecords; i++)
		snprintf(b.records[i].domain, sizeof(b.records[i].domain),
			 "host-%zu.some-rather-long-domain.example.com", i);
	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	full = store_db_bytes(s);
	do {
		CHECK_EQ_INT(store_retention_step(s, 1500, 1000, &deleted), 0);
		CHECK(deleted <= 1000);
	} while (deleted == 1000 && ++steps < 100);
	CHECK_EQ_INT(steps, 10); /* the block and 999 keys, then 9 × 1000 keys (a domain each) */
	for (int i = 0; i < 50; i++) /* the vacuum gives back a bounded number of pages */
		CHECK_EQ_INT(store_retention_step(s, 1500, 1000, &deleted), 0);
	after = store_db_bytes(s);
	CHECK(full > 1000000);
	CHECK(after > 0);
	if (!CHECK(after < full / 4))
		fprintf(stderr, "    full %lld, after %lld\n", (long long)full, (long long)after);
	batch_free(&b);
	store_close(s);
}

/* ---- the file: WAL, schema version ---- */

static int header_user_version(const char *name)
{
	char path[128];
	uint8_t v[4];
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, O_RDONLY);
	if (!CHECK(fd >= 0))
		return -1;
	CHECK_EQ_INT(pread(fd, v, 4, 60), 4); /* the header's user version, big endian */
	close(fd);
	return (int)((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3]);
}

static void set_header_user_version(const char *name, uint32_t version)
{
	uint8_t v[4] = {version >> 24, version >> 16, version >> 8, version};
	char path[128];
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, O_WRONLY);
	if (!CHECK(fd >= 0))
		return;
	CHECK_EQ_INT(pwrite(fd, v, 4, 60), 4);
	close(fd);
}

static void test_close_checkpoints_and_keeps_the_version(void)
{
	struct store *s = open_store("reopen.db");
	struct store_reader *r;
	struct wire_batch b1;
	char path[128];
	struct stat sb;
	bool dup = true;

	if (!s)
		return;
	batch_init(&b1, "n", "boot", 1, 1000, 2000, 3);
	CHECK_EQ_INT(append1(s, &b1, &dup), 0);
	store_close(s);
	/* closed cleanly: the WAL was checkpointed into the file and removed */
	path_of(path, sizeof(path), "reopen.db-wal");
	CHECK(stat(path, &sb) != 0 && errno == ENOENT);
	CHECK_EQ_INT(header_user_version("reopen.db"), STORE_SQLITE_SCHEMA_VERSION);

	s = open_store("reopen.db"); /* the migration would fail if run again */
	r = open_reader("reopen.db");
	if (s && r)
		CHECK_EQ_U64(count_all(r), 3);
	store_reader_close(r);
	store_close(s);
	CHECK_EQ_INT(header_user_version("reopen.db"), STORE_SQLITE_SCHEMA_VERSION);
	batch_free(&b1);
}

static void test_newer_schema_refused(void)
{
	struct store *s = open_store("newer.db");
	struct store_config cfg;
	struct store_reader *r;
	char path[128];
	char err[256];

	store_close(s);
	set_header_user_version("newer.db", STORE_SQLITE_SCHEMA_VERSION + 1);
	path_of(path, sizeof(path), "newer.db");
	err[0] = '\0';
	errno = 0;
	s = store_open(sqlite_cfg(&cfg, path), err, sizeof(err));
	CHECK(s == NULL);
	CHECK_EQ_INT(errno, EPROTO);
	CHECK_CONTAINS(err, "newer.db: schema version 4 is newer than this program's (3)");
	store_close(s);
	errno = 0;
	r = store_reader_open(sqlite_cfg(&cfg, path), err, sizeof(err));
	CHECK(r == NULL);
	CHECK_EQ_INT(errno, EPROTO);
	CHECK_CONTAINS(err, "schema version 4, this program reads version 3");
	store_reader_close(r);
	/* untouched */
	CHECK_EQ_INT(header_user_version("newer.db"), STORE_SQLITE_SCHEMA_VERSION + 1);
}

static void test_not_a_database_refused(void)
{
	struct store_config cfg;
	struct store *s;
	char path[128];
	char err[256];
	int fd;

	/* not a database at all */
	path_of(path, sizeof(path), "garbage.db");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (CHECK(fd >= 0)) {
		char junk[4096];

		memset(junk, 'x', sizeof(junk));
		CHECK_EQ_INT(write(fd, junk, sizeof(junk)), (int)sizeof(junk));
		close(fd);
	}
	errno = 0;
	s = store_open(sqlite_cfg(&cfg, path), err, sizeof(err));
	CHECK(s == NULL);
	CHECK_EQ_INT(errno, EIO);
	CHECK_CONTAINS(err, "not a database");
	store_close(s);
}

static void test_reader_does_not_create_a_file(void)
{
	struct store_config cfg;
	struct store_reader *r;
	char path[128];
	char err[256];

	/* a reader cannot create a database */
	path_of(path, sizeof(path), "absent.db");
	errno = 0;
	r = store_reader_open(sqlite_cfg(&cfg, path), err, sizeof(err));
	CHECK(r == NULL);
	CHECK_EQ_INT(errno, ENOENT);
	CHECK_CONTAINS(err, "absent.db");
	CHECK(access(path, F_OK) != 0);
}

/* ---- a reader beside a writer thread ---- */

#define CONC_BATCHES 200
#define CONC_RECORDS 10

static void *conc_writer(void *arg)
{
	struct store *s = arg;
	struct wire_batch b;
	long failures = 0;
	bool dup;

	for (uint64_t seq = 1; seq <= CONC_BATCHES; seq++) {
		batch_init(&b, "busy", "boot", seq, seq * 1000, seq * 1000 + 1000, CONC_RECORDS);
		if (append1(s, &b, &dup) != 0 || dup)
			failures++;
		batch_free(&b);
	}
	return (void *)failures;
}

/* Each query reads one snapshot: whole transactions, never part of one, never going back,
 * and its page and its total from the same committed state. */
static void test_reader_beside_a_writer_reads_snapshots(void)
{
	struct store *s = open_store("concurrent.db");
	struct store_reader *r = open_reader("concurrent.db");
	struct store_filter f = {.node = "busy", .limit = 5};
	uint64_t last = 0;
	unsigned queries = 0;
	bool torn = false;
	bool backwards = false;
	bool failed = false;
	pthread_t writer;
	void *failures = NULL;

	if (!s || !r)
		goto out;
	if (!CHECK_EQ_INT(pthread_create(&writer, NULL, conc_writer, s), 0))
		goto out;
	while (last < CONC_BATCHES * CONC_RECORDS && queries < 1000000) {
		struct store_history h;

		if (store_query_history(r, &f, &h) != 0) {
			failed = true;
			break;
		}
		queries++;
		/* a query sees whole transactions, never part of one, never going back */
		torn |= h.total % CONC_RECORDS != 0;
		backwards |= h.total < last;
		if (h.n)
			torn |= h.rows[0].ts_ms != h.total / CONC_RECORDS * 1000;
		last = h.total;
		store_history_fini(&h);
	}
	CHECK_EQ_INT(pthread_join(writer, &failures), 0);
	CHECK_EQ_INT((long)failures, 0);
	CHECK(!failed);
	CHECK(!torn);
	CHECK(!backwards);
	CHECK(queries > 1);
	CHECK_EQ_U64(count_all(r), CONC_BATCHES * CONC_RECORDS);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- migrations ---- */

/* Migration 1 exactly as released (collector/store_sqlite.c, schema version 1). */
static const char v1_schema[] =
    "CREATE TABLE nodes ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " boot_id TEXT NOT NULL,"
    " agent_version TEXT NOT NULL,"
    " last_seq INTEGER NOT NULL,"
    " first_seen_ms INTEGER NOT NULL,"
    " last_seen_ms INTEGER NOT NULL,"
    " total_packets INTEGER NOT NULL,"
    " total_bytes INTEGER NOT NULL,"
    " active_connections INTEGER NOT NULL,"
    " batches INTEGER NOT NULL,"
    " records INTEGER NOT NULL);"
    /* reason: enum wire_loss, whose values are only ever added */
    "CREATE TABLE node_loss ("
    " node_id INTEGER NOT NULL REFERENCES nodes(id),"
    " reason INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " PRIMARY KEY (node_id, reason)) WITHOUT ROWID;"
    "CREATE TABLE batches ("
    " node_id INTEGER NOT NULL REFERENCES nodes(id),"
    " boot_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " window_start_ms INTEGER NOT NULL,"
    " window_end_ms INTEGER NOT NULL,"
    " records INTEGER NOT NULL,"
    " stored_ms INTEGER NOT NULL," /* collector clock, for dedup retention */
    " CHECK (window_start_ms < window_end_ms),"
    " PRIMARY KEY (node_id, boot_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX batches_stored ON batches(stored_ms);"
    "CREATE TABLE flows ("
    " id INTEGER PRIMARY KEY,"
    " ts INTEGER NOT NULL," /* window start, Unix ms */
    " window_end INTEGER NOT NULL,"
    " node_id INTEGER NOT NULL REFERENCES nodes(id),"
    " proto INTEGER NOT NULL,"
    " ip_version INTEGER NOT NULL CHECK (ip_version IN (4, 6)),"
    " src_ip BLOB NOT NULL CHECK (length(src_ip) = 16),"
    " dst_ip BLOB NOT NULL CHECK (length(dst_ip) = 16),"
    " src_port INTEGER NOT NULL,"
    " dst_port INTEGER NOT NULL,"
    " tcp_flags INTEGER NOT NULL,"
    " packets_sent INTEGER NOT NULL,"
    " packets_received INTEGER NOT NULL,"
    " bytes_sent INTEGER NOT NULL,"
    " bytes_received INTEGER NOT NULL,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " interface TEXT NOT NULL,"
    " domain TEXT," /* NULL when unknown */
    /* "." + domain, reversed, ASCII lower case: "a.Example.com" -> "moc.elpmaxe.a.",
     * so that "example.com" and all its subdomains are one key range. BLOB: the
     * bytes of a reversed UTF-8 string are not text. */
    " domain_rev BLOB);"
    "CREATE INDEX flows_ts ON flows(ts);"
    "CREATE INDEX flows_node_ts ON flows(node_id, ts);"
    "CREATE INDEX flows_src_ip_ts ON flows(src_ip, ts);"
    "CREATE INDEX flows_dst_ip_ts ON flows(dst_ip, ts);"
    "CREATE INDEX flows_src_port_ts ON flows(src_port, ts);"
    "CREATE INDEX flows_dst_port_ts ON flows(dst_port, ts);"
    "CREATE INDEX flows_proto_ts ON flows(proto, ts);"
    "CREATE INDEX flows_domain_ts ON flows(domain_rev, ts);";

/* A version 1 database as the old store_open left it, with one node, one batch and two
 * flow records. */
static void make_v1_db(const char *name)
{
	char path[128];
	sqlite3 *db = NULL;

	path_of(path, sizeof(path), name);
	if (!CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK))
		goto out;
	CHECK_EQ_INT(sqlite3_exec(db,
				  "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;"
				  " BEGIN;",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	CHECK_EQ_INT(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	CHECK_EQ_INT(
	    sqlite3_exec(
		db,
		"INSERT INTO nodes VALUES (1, 'old-node', 'boot-1', '0.1.0', 3, 1000, 2000, 50,"
		" 5000, 2, 1, 2);"
		"INSERT INTO node_loss VALUES (1, 1, 7);"
		"INSERT INTO batches VALUES (1, 'boot-1', 3, 1000, 2000, 2, 1000);"
		"INSERT INTO flows (ts, window_end, node_id, proto, ip_version, src_ip, dst_ip,"
		" src_port, dst_port, tcp_flags, packets_sent, packets_received, bytes_sent,"
		" bytes_received, first_seen, last_seen, interface, domain, domain_rev) VALUES"
		" (1000, 2000, 1, 6, 4, x'00000000000000000000ffff0a000001',"
		" x'00000000000000000000ffff0a000002', 40000, 443, 18, 11, 12, 1300, 1400, 900,"
		" 1900, 'eth0', 'example.com', CAST('moc.elpmaxe.' AS BLOB)),"
		" (1000, 2000, 1, 17, 4, x'00000000000000000000ffff0a000001',"
		" x'00000000000000000000ffff0a000003', 5353, 53, 0, 22, 1, 80, 120, 950, 960,"
		" 'eth0', NULL, NULL);"
		"PRAGMA user_version = 1; COMMIT;",
		NULL, NULL, NULL),
	    SQLITE_OK);
out:
	sqlite3_close(db);
}

static void test_migration_from_v1(void)
{
	struct store_filter f = {0};
	struct store_dns_filter df = {0};
	struct store_node *nodes = NULL;
	struct store_history h;
	struct store_reader *r;
	struct wire_batch b;
	struct wire_dns d;
	struct store *s;
	size_t n = 0;
	bool dup = false;

	make_v1_db("v1.db");
	CHECK_EQ_INT(header_user_version("v1.db"), 1);
	s = open_store("v1.db");
	r = open_reader("v1.db");
	if (!s || !r)
		goto out;

	/* the old rows are all there, with no host names */
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.total, 2);
		if (CHECK_EQ_INT(h.n, 2)) {
			CHECK_EQ_STR(h.rows[0].node, "old-node");
			CHECK_EQ_U64(h.rows[0].id, 2); /* ids survive the move into a block */
			CHECK_EQ_U64(h.rows[1].id, 1);
			CHECK_EQ_U64(h.rows[0].ts_ms, 1000);
			CHECK_EQ_U64(h.rows[0].window_end_ms, 2000);
			CHECK_EQ_U64(h.rows[0].rec.packets_sent, 22);
			CHECK_EQ_STR(h.rows[0].rec.domain, "");
			CHECK_EQ_U64(h.rows[1].rec.packets_sent, 11);
			CHECK_EQ_U64(h.rows[1].rec.bytes_received, 1400);
			CHECK_EQ_INT(h.rows[1].rec.tcp_flags, 18);
			CHECK_EQ_STR(h.rows[1].rec.domain, "example.com");
			CHECK_EQ_STR(h.rows[1].rec.src_hostname, "");
			CHECK_EQ_STR(h.rows[1].rec.dst_hostname, "");
		}
		store_history_fini(&h);
	}
	f = (struct store_filter){.domain = ".example.com"};
	expect_rows(r, &f, "v1 domain index still used", "11", 1);
	/* the migrated records have keys and a block like new ones */
	f = (struct store_filter){.node = "old-node"};
	expect_rows(r, &f, "v1 by node", "22,11", 2);
	f = (struct store_filter){.has_dst_ip = true};
	addr(f.dst_ip, "10.0.0.3");
	expect_rows(r, &f, "v1 by address", "22", 1);
	f = (struct store_filter){.has_port = true, .port = 443, .has_proto = true, .proto = 6};
	expect_rows(r, &f, "v1 by port and protocol", "11", 1);
	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	if (CHECK_EQ_INT(n, 1)) {
		CHECK_EQ_STR(nodes[0].name, "old-node");
		CHECK_EQ_U64(nodes[0].lost[1], 7);
		CHECK_EQ_U64(nodes[0].batches, 1);
	}
	store_nodes_free(nodes);
	expect_dns(r, &df, "no DNS records yet", "", 0);

	/* the dedup set survived; new batches store host names and DNS records */
	batch_init(&b, "old-node", "boot-1", 3, 1000, 2000, 1);
	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	CHECK(dup);
	b.seq = 4;
	b.window_start_ms = 2000;
	b.window_end_ms = 3000;
	snprintf(b.records[0].dst_hostname, sizeof(b.records[0].dst_hostname), "web.lan");
	dns_set(&d, 9, 2500, "new.example.com", 1, "10.0.0.1", "10.0.0.53");
	b.dns = &d;
	b.ndns = 1;
	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	CHECK(!dup);
	f = (struct store_filter){.limit = 1};
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.total, 3);
		if (CHECK_EQ_INT(h.n, 1)) {
			CHECK_EQ_STR(h.rows[0].rec.dst_hostname, "web.lan");
			CHECK_EQ_U64(h.rows[0].id, 3); /* after the migrated ones */
		}
		store_history_fini(&h);
	}
	expect_dns(r, &df, "DNS after the migration", "9", 1);
	batch_free(&b);
	store_reader_close(r);
	store_close(s);
	CHECK_EQ_INT(header_user_version("v1.db"), 3); /* checkpointed at close */
	/* and it opens again without migrating twice */
	s = open_store("v1.db");
	r = open_reader("v1.db");
	if (r)
		expect_dns(r, &df, "after reopening", "9", 1);
out:
	store_reader_close(r);
	store_close(s);
}

/* Migration 2 exactly as released (collector/store_sqlite.c, schema version 2). */
static const char v2_schema[] =
    /* reverse-DNS host names of flows */
    "ALTER TABLE flows ADD COLUMN src_hostname TEXT;"
    "ALTER TABLE flows ADD COLUMN dst_hostname TEXT;"
    /* DNS records */
    "CREATE TABLE dns ("
    " id INTEGER PRIMARY KEY,"
    " ts INTEGER NOT NULL,"
    " node_id INTEGER NOT NULL REFERENCES nodes(id),"
    " name TEXT NOT NULL,"
    " name_rev BLOB NOT NULL,"
    " qtype INTEGER NOT NULL CHECK (qtype BETWEEN 0 AND 65535),"
    " rcode INTEGER NOT NULL CHECK (rcode BETWEEN 0 AND 15),"
    " answered INTEGER NOT NULL CHECK (answered IN (0, 1)),"
    " latency_us INTEGER NOT NULL,"
    " ip_version INTEGER NOT NULL CHECK (ip_version IN (4, 6)),"
    " client_ip BLOB NOT NULL CHECK (length(client_ip) = 16),"
    " server_ip BLOB NOT NULL CHECK (length(server_ip) = 16),"
    " client_port INTEGER NOT NULL,"
    " server_port INTEGER NOT NULL,"
    " answers TEXT NOT NULL);"
    "CREATE INDEX dns_ts ON dns(ts);"
    "CREATE INDEX dns_node_ts ON dns(node_id, ts);"
    "CREATE INDEX dns_client_ts ON dns(client_ip, ts);"
    "CREATE INDEX dns_name_ts ON dns(name_rev, ts);";

#define V2_IP(last) "x'00000000000000000000ffff0a0000" last "'"

/* A version 2 database as the old store_open left it: two nodes, four batches, six flow
 * records (a row each; ids 1..5 and 7: id 6 was deleted), host names, two DNS records. */
static void make_v2_db(const char *name)
{
	char path[128];
	sqlite3 *db = NULL;

	path_of(path, sizeof(path), name);
	if (!CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK))
		goto out;
	CHECK_EQ_INT(sqlite3_exec(db,
				  "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;"
				  " BEGIN;",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	CHECK_EQ_INT(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	CHECK_EQ_INT(sqlite3_exec(db, v2_schema, NULL, NULL, NULL), SQLITE_OK);
	CHECK_EQ_INT(
	    sqlite3_exec(
		db,
		"INSERT INTO nodes VALUES (1, 'n1', 'boot-1', '0.2.0', 5, 1000, 3000, 70, 7000, 4,"
		" 3, 5), (2, 'n2', 'boot-9', '0.2.0', 1, 1000, 2000, 10, 1000, 1, 1, 1);"
		"INSERT INTO node_loss VALUES (1, 0, 4), (2, 2, 9);"
		"INSERT INTO batches VALUES (1, 'boot-1', 3, 1000, 2000, 2, 1000),"
		" (2, 'boot-9', 1, 1000, 2000, 1, 1000), (1, 'boot-1', 4, 2000, 3000, 2, 1000),"
		" (1, 'boot-1', 5, 2000, 3000, 1, 1000);"
		"INSERT INTO flows (id, ts, window_end, node_id, proto, ip_version, src_ip, dst_ip,"
		" src_port, dst_port, tcp_flags, packets_sent, packets_received, bytes_sent,"
		" bytes_received, first_seen, last_seen, interface, domain, domain_rev,"
		" src_hostname, dst_hostname) VALUES"
		" (1, 1000, 2000, 1, 6, 4, " V2_IP("01") ", " V2_IP(
		    "02") ", 40000, 443, 18, 11,"
			  " 1, 100, 200, 900, 1900, 'eth0', 'example.com', CAST('moc.elpmaxe.' AS "
			  "BLOB),"
			  " 'a.lan', 'b.lan'),"
			  " (2, 1000, 2000, 1, 17, 4, " V2_IP("01") ", " V2_IP(
			      "03") ", 40001, 53, 0, 12,"
				    " 1, 100, 200, 900, 1900, 'eth0', NULL, NULL, NULL, NULL),"
				    " (3, 1000, 2000, 2, 6, 4, " V2_IP("05") ", " V2_IP(
					"02") ", 40002, 80, 2, 13,"
					      " 1, 100, 200, 900, 1900, 'ens3', NULL, NULL, NULL, "
					      "'b.lan'),"
					      " (4, 2000, 3000, 1, 6, 4, " V2_IP("01") ", " V2_IP(
						  "02") ", 40003, 443, 16, 14,"
							" 1, 100, 200, 1900, 2900, 'eth0', NULL, "
							"NULL, 'a.lan', NULL),"
							" (5, 2000, 3000, 1, 6, 4, " V2_IP(
							    "01") ", " V2_IP("04") ", 40004, 22, "
										   "16, 15,"
										   " 1, 100, 200, "
										   "1900, 2900, "
										   "'eth0', NULL, "
										   "NULL, NULL, "
										   "NULL),"
										   " (7, 2000, "
										   "3000, 1, 6, "
										   "4, " V2_IP("06") ", " V2_IP(
										       "02") ", "
											     "40005"
											     ", "
											     "443, "
											     "16, "
											     "17,"
											     " 1, "
											     "100, "
											     "200, "
											     "1900,"
											     " 2900"
											     ", "
											     "'eth0"
											     "', "
											     "NULL,"
											     " NULL"
											     ", "
											     "NULL,"
											     " NULL"
											     ");"
											     "INSER"
											     "T "
											     "INTO "
											     "dns "
											     "VALUE"
											     "S"
											     " (1, "
											     "1500,"
											     " 1, "
											     "'www."
											     "examp"
											     "le."
											     "com',"
											     " CAST"
											     "('"
											     "moc."
											     "elpma"
											     "xe."
											     "www.'"
											     " AS "
											     "BLOB)"
											     ", 1, "
											     "0, "
											     "1, "
											     "900,"
											     " 4,"
											     " " V2_IP(
												 "0"
												 "1") ", x'00000000000000000000ffff0a000035', 1, 53,"
												      " '5 60 edge.example.net' || char(10) || '1 300 93.184.216.34'),"
												      " (2, 2500, 2, 'nx.example.org', CAST('gro.elpmaxe.xn.' AS BLOB), 28, 3, 1, 2000,"
												      " 4, " V2_IP(
													  "05") ", x'00000000000000000000ffff0a000035', 2, 53, '');"
														"PRAGMA user_version = 2; COMMIT;",
		NULL, NULL, NULL),
	    SQLITE_OK);
out:
	sqlite3_close(db);
}

/* Version 2's rows become blocks (a run of consecutive ids of one node and window each),
 * keeping their ids, host names and keys; its DNS records and dedup set stay as they were. */
static void test_migration_from_v2(void)
{
	struct store_filter f = {0};
	struct store_dns_filter df = {0};
	struct store_dns_result res;
	struct store_node *nodes = NULL;
	struct store_history h;
	struct store_reader *r;
	struct wire_batch b;
	struct store *s;
	size_t n = 0;
	bool dup = false;

	make_v2_db("v2.db");
	CHECK_EQ_INT(header_user_version("v2.db"), 2);
	s = open_store("v2.db");
	r = open_reader("v2.db");
	if (!s || !r)
		goto out;

	expect_rows(r, &f, "v2 all", "17,15,14,13,12,11", 6);
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		static const int64_t ids[] = {7, 5, 4, 3, 2, 1};

		if (CHECK_EQ_INT(h.n, 6)) {
			for (size_t i = 0; i < 6; i++)
				CHECK_EQ_U64(h.rows[i].id, ids[i]);
			CHECK_EQ_STR(h.rows[5].node, "n1");
			CHECK_EQ_STR(h.rows[5].rec.src_hostname, "a.lan");
			CHECK_EQ_STR(h.rows[5].rec.dst_hostname, "b.lan");
			CHECK_EQ_STR(h.rows[5].rec.domain, "example.com");
			CHECK_EQ_U64(h.rows[5].rec.first_seen_ms, 900);
			CHECK_EQ_INT(h.rows[5].rec.tcp_flags, 18);
			CHECK_EQ_STR(h.rows[3].node, "n2");
			CHECK_EQ_STR(h.rows[3].rec.interface, "ens3");
			CHECK_EQ_STR(h.rows[3].rec.src_hostname, "");
			CHECK_EQ_STR(h.rows[3].rec.dst_hostname, "b.lan");
			CHECK_EQ_STR(h.rows[2].rec.src_hostname, "a.lan");
			CHECK_EQ_STR(h.rows[2].rec.dst_hostname, "");
			CHECK_EQ_U64(h.rows[0].window_end_ms, 3000);
		}
		store_history_fini(&h);
	}
	f = (struct store_filter){.node = "n2"};
	expect_rows(r, &f, "v2 by node", "13", 1);
	f = (struct store_filter){.has_dst_ip = true};
	addr(f.dst_ip, "10.0.0.2");
	expect_rows(r, &f, "v2 by address", "17,14,13,11", 4);
	f = (struct store_filter){.has_port = true, .port = 443};
	expect_rows(r, &f, "v2 by port", "17,14,11", 3);
	f = (struct store_filter){.has_proto = true, .proto = 17};
	expect_rows(r, &f, "v2 by protocol", "12", 1);
	f = (struct store_filter){.domain = ".example.com"};
	expect_rows(r, &f, "v2 by domain", "11", 1);
	f = (struct store_filter){.has_start = true, .start_ms = 2000, .limit = 2, .offset = 1};
	expect_rows(r, &f, "v2 by time, a page", "15,14", 3);

	if (CHECK_EQ_INT(store_query_dns(r, &df, &res), 0)) {
		if (CHECK_EQ_INT(res.n, 2)) {
			const struct wire_dns *d = &res.rows[1].dns;
			uint8_t a[16];

			CHECK_EQ_U64(res.rows[0].id, 2);
			CHECK_EQ_STR(res.rows[0].node, "n2");
			CHECK_EQ_INT(res.rows[0].dns.rcode, 3);
			CHECK_EQ_INT(res.rows[0].dns.qtype, 28);
			CHECK_EQ_U64(res.rows[0].dns.nanswers, 0);
			CHECK_EQ_U64(res.rows[1].id, 1);
			CHECK_EQ_STR(d->name, "www.example.com");
			CHECK_EQ_U64(d->ts_ms, 1500);
			CHECK_EQ_U64(d->latency_us, 900);
			addr(a, "10.0.0.53");
			CHECK(memcmp(d->server_addr, a, 16) == 0);
			if (CHECK_EQ_U64(d->nanswers, 2)) {
				CHECK_EQ_INT(d->answers[0].type, 5);
				CHECK_EQ_U64(d->answers[0].ttl, 60);
				CHECK_EQ_STR(d->answers[0].target, "edge.example.net");
				CHECK_EQ_INT(d->answers[1].type, 1);
				CHECK_EQ_U64(d->answers[1].ttl, 300);
				addr(a, "93.184.216.34");
				CHECK(memcmp(d->answers[1].addr, a, 16) == 0);
			}
		}
		store_dns_result_fini(&res);
	}
	df = (struct store_dns_filter){.name = ".example.com"};
	expect_dns(r, &df, "v2 DNS by name", "1", 1);
	df = (struct store_dns_filter){.node = "n2"};
	expect_dns(r, &df, "v2 DNS by node", "2", 1);

	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	if (CHECK_EQ_INT(n, 2)) {
		CHECK_EQ_STR(nodes[0].name, "n1");
		CHECK_EQ_U64(nodes[0].last_seq, 5);
		CHECK_EQ_U64(nodes[0].lost[0], 4);
		CHECK_EQ_U64(nodes[0].batches, 3);
		CHECK_EQ_U64(nodes[0].records, 5);
		CHECK_EQ_STR(nodes[1].name, "n2");
		CHECK_EQ_U64(nodes[1].lost[2], 9);
	}
	store_nodes_free(nodes);

	/* the dedup set survived; a new batch's records come after the migrated ids */
	batch_init(&b, "n1", "boot-1", 5, 2000, 3000, 1);
	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	CHECK(dup);
	b.seq = 6;
	b.window_start_ms = 3000;
	b.window_end_ms = 4000;
	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	CHECK(!dup);
	f = (struct store_filter){.limit = 1};
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.total, 7);
		if (CHECK_EQ_INT(h.n, 1))
			CHECK_EQ_U64(h.rows[0].id, 8);
		store_history_fini(&h);
	}
	batch_free(&b);
	store_reader_close(r);
	r = NULL;
	store_close(s);
	s = NULL;
	CHECK_EQ_INT(header_user_version("v2.db"), STORE_SQLITE_SCHEMA_VERSION);
out:
	store_reader_close(r);
	store_close(s);
}

static void remove_tmpdir(void)
{
	char path[sizeof(tmpdir) + 300];
	struct dirent *e;
	DIR *d = opendir(tmpdir);

	if (!CHECK(d != NULL))
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		if (!CHECK(unlink(path) == 0))
			fprintf(stderr, "    unlink %s: %s\n", path, strerror(errno));
	}
	closedir(d);
	if (!CHECK(rmdir(tmpdir) == 0))
		fprintf(stderr, "    rmdir %s: %s\n", tmpdir, strerror(errno));
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_store_sqlite.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_failed_append_names_the_encoding();
	test_query_plans_use_indexes();
	test_dns_query_plans_use_indexes();
	test_dns_retention_steps();
	test_domains_query_plan_is_bounded_by_time();
	test_retention_steps();
	test_retention_mid_window();
	test_retention_gives_space_back();
	test_close_checkpoints_and_keeps_the_version();
	test_newer_schema_refused();
	test_not_a_database_refused();
	test_reader_does_not_create_a_file();
	test_reader_beside_a_writer_reads_snapshots();
	test_migration_from_v1();
	test_migration_from_v2();
	remove_tmpdir();
	return check_exit();
}
