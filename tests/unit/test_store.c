/* test_store.c - the history store's conformance suite: every behaviour store.h promises,
 * checked with the same expected values against whichever backend the run names.
 * Without AYAFLOW_TEST_CLICKHOUSE it runs on SQLite files in a mkdtemp directory (removed
 * at the end); with it (clickhouse://127.0.0.1:PORT/, set by tests/clickhouse/server.sh
 * run) on that ClickHouse server, each store a database of its own
 * (ayaflow_conf_<pid>_<name>), created and dropped here over HTTP with libcurl, the one
 * thing here that is not store.h. Stores are opened by their URL, as the collector does.
 *
 * Checked: exact round trips of IPv4 and IPv6 records and of every node field; dedup by
 * (node, boot, seq), within a call, across boots, and a late batch of an old boot that
 * does not roll its node back; a failed append that stores and dedups nothing; every
 * history filter alone and combined, limit, offset, paging and totals (capped, at and
 * below the bound); newest first whatever the order of storing, over old times and
 * near now; domain filters exact and by suffix, without regard to ASCII case; quotes,
 * backslashes and SQL in every string filter and in stored strings; names of the
 * longest length; DNS records (every filter, exact rows); the top domains (order, ties,
 * node, range, limit); every node field; reopening; a reader needing a writer's store;
 * store_follow finding nothing of the store's own writer; readers beside a writer;
 * retention on day boundaries (where ClickHouse, which drops whole days, and SQLite,
 * which deletes every ts < cutoff, must agree), with the dedup entries and the nodes'
 * counts kept.
 *
 * What only one backend does is beside this: test_store_sqlite.c (query plans,
 * retention in exact max_rows steps, file space, schema versions in the file,
 * migrations from older SQLite schemas, snapshot reads) and test_store_clickhouse.c. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "collector/store/store.h"
#include "tests/unit/check.h"

#define DAY_MS 86400000ull

/* ---- the backend under test ---- */

#define MADE_MAX 32

static struct {
	bool clickhouse;
	char dir[64];  /* SQLite: the directory of the files */
	char url[256]; /* ClickHouse: clickhouse://127.0.0.1:PORT/ */
	char http[256];
	char made[MADE_MAX][STORE_DB_MAX + 1]; /* ClickHouse: the databases made, to drop */
	size_t nmade;
} be;

struct admin_answer {
	char text[1024];
	size_t len;
};

static size_t admin_write(char *p, size_t size, size_t n, void *arg)
{
	struct admin_answer *a = arg;
	size_t len = size * n;

	if (len > sizeof(a->text) - 1 - a->len)
		len = sizeof(a->text) - 1 - a->len;
	memcpy(a->text + a->len, p, len);
	a->len += len;
	a->text[a->len] = '\0';
	return size * n;
}

/* Runs one statement on the ClickHouse server as its default user; true on HTTP 200. */
static bool admin_sql(const char *stmt)
{
	struct admin_answer a = {.len = 0};
	CURL *c = curl_easy_init();
	long status = 0;
	CURLcode rc = CURLE_FAILED_INIT;

	if (c) {
		curl_easy_setopt(c, CURLOPT_URL, be.http);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, stmt);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, admin_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
		rc = curl_easy_perform(c);
		if (rc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
	}
	if (status != 200)
		fprintf(stderr, "    SQL failed (%s): %s\n    %s\n", curl_easy_strerror(rc), stmt,
			a.text);
	return status == 200;
}

static void db_name(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "ayaflow_conf_%ld_%s", (long)getpid(), name);
}

/* The config of the store called name (letters, digits, '_'). */
static bool store_cfg(const char *name, struct store_config *cfg)
{
	char url[sizeof(be.dir) + 300];
	char db[STORE_DB_MAX + 1];
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	db_name(db, sizeof(db), name);
	if (be.clickhouse)
		snprintf(url, sizeof(url), "%s%s", be.url, db);
	else
		snprintf(url, sizeof(url), "sqlite://%s/%s.db", be.dir, name);
	if (!CHECK_EQ_INT(store_url_parse(url, &cfg->url, err, sizeof(err)), 0)) {
		fprintf(stderr, "    %s\n", err);
		return false;
	}
	return true;
}

/* Makes the place of a new store where the backend needs one made: a fresh ClickHouse
 * database (a SQLite file is made by store_open). */
static void store_make(const char *name)
{
	char db[STORE_DB_MAX + 1];
	char stmt[200];

	if (!be.clickhouse)
		return;
	db_name(db, sizeof(db), name);
	for (size_t i = 0; i < be.nmade; i++)
		if (!strcmp(be.made[i], db))
			return;
	if (!CHECK(be.nmade < MADE_MAX))
		return;
	snprintf(stmt, sizeof(stmt), "DROP DATABASE IF EXISTS %s", db);
	CHECK(admin_sql(stmt));
	snprintf(stmt, sizeof(stmt), "CREATE DATABASE %s", db);
	if (CHECK(admin_sql(stmt)))
		snprintf(be.made[be.nmade++], sizeof(be.made[0]), "%s", db);
}

static struct store *open_store(const char *name)
{
	struct store_config cfg;
	char err[512];
	struct store *s;

	store_make(name);
	if (!store_cfg(name, &cfg))
		return NULL;
	s = store_open(&cfg, err, sizeof(err));
	if (!CHECK(s != NULL))
		fprintf(stderr, "    %s\n", err);
	return s;
}

static struct store_reader *open_reader(const char *name)
{
	struct store_config cfg;
	char err[512];
	struct store_reader *r;

	if (!store_cfg(name, &cfg))
		return NULL;
	r = store_reader_open(&cfg, err, sizeof(err));
	if (!CHECK(r != NULL))
		fprintf(stderr, "    %s\n", err);
	return r;
}

static bool backend_setup(void)
{
	const char *url = getenv("AYAFLOW_TEST_CLICKHOUSE");

	if (url && *url) {
		if (strncmp(url, "clickhouse://", strlen("clickhouse://")) != 0 ||
		    url[strlen(url) - 1] != '/') {
			fprintf(stderr, "AYAFLOW_TEST_CLICKHOUSE: want clickhouse://HOST:PORT/\n");
			return false;
		}
		be.clickhouse = true;
		snprintf(be.url, sizeof(be.url), "%s", url);
		snprintf(be.http, sizeof(be.http), "http://%s", url + strlen("clickhouse://"));
		curl_global_init(CURL_GLOBAL_DEFAULT);
		printf("test_store: ClickHouse at %s\n", be.url);
		return true;
	}
	snprintf(be.dir, sizeof(be.dir), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(be.dir)) {
		perror("mkdtemp");
		return false;
	}
	printf("test_store: SQLite in %s\n", be.dir);
	return true;
}

static void backend_cleanup(void)
{
	char stmt[200];
	char path[sizeof(be.dir) + 300];
	struct dirent *e;
	DIR *d;

	if (be.clickhouse) {
		for (size_t i = 0; i < be.nmade; i++) {
			snprintf(stmt, sizeof(stmt), "DROP DATABASE IF EXISTS %s", be.made[i]);
			CHECK(admin_sql(stmt));
		}
		curl_global_cleanup();
		return;
	}
	d = opendir(be.dir);
	if (!CHECK(d != NULL))
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", be.dir, e->d_name);
		if (!CHECK(unlink(path) == 0))
			fprintf(stderr, "    unlink %s: %s\n", path, strerror(errno));
	}
	closedir(d);
	if (!CHECK(rmdir(be.dir) == 0))
		fprintf(stderr, "    rmdir %s: %s\n", be.dir, strerror(errno));
}

/* ---- batches ---- */

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

/* Records tagged seq * 1000 + i, 10.1.0.1:1000 -> 10.1.0.2:80 TCP. */
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

	d->answered = 1; /* lib/wire: answers only come with a response */
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->ttl = ttl;
	if (type == 5)
		snprintf(a->target, sizeof(a->target), "%s", value);
	else
		addr(a->addr, value);
}

/* A name of WIRE_NAME_MAX + 1 bytes: longer than any stored name. */
static const char *too_long_name(void)
{
	static char name[WIRE_NAME_MAX + 2];

	memset(name, 'a', WIRE_NAME_MAX + 1);
	name[WIRE_NAME_MAX + 1] = '\0';
	return name;
}

/* ---- reading back ---- */

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

/* Runs f and compares the tags of the rows, in order, and the total. */
static void expect_rows(struct store_reader *r, const struct store_filter *f, const char *label,
			const char *want, uint64_t total)
{
	struct store_history h;
	char got[512];
	char exp[512];
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
	CHECK(!h.total_capped);
	store_history_fini(&h);
}

static void expect_dns(struct store_reader *r, const struct store_dns_filter *f, const char *label,
		       const char *want, uint64_t total)
{
	struct store_dns_result res;
	char got[512];
	char exp[512];
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
	CHECK(!res.total_capped);
	store_dns_result_fini(&res);
}

/* The top domains as "domain=bytes/packets/flows" separated by spaces. */
static void expect_domains(struct store_reader *r, uint64_t start, uint64_t end, const char *node,
			   unsigned limit, const char *label, const char *want)
{
	struct store_domains d;
	char got[1024];
	size_t len = 0;

	if (!CHECK_EQ_INT(store_query_domains(r, start, end, node, limit, &d), 0)) {
		fprintf(stderr, "    %s: %s\n", label, store_reader_last_error(r));
		return;
	}
	got[0] = '\0';
	for (size_t i = 0; i < d.n && len < sizeof(got); i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len,
					"%s%s=%" PRIu64 "/%" PRIu64 "/%" PRIu64, i ? " " : "",
					d.rows[i].domain, d.rows[i].bytes, d.rows[i].packets,
					d.rows[i].flows);
	if (!CHECK_EQ_STR(got, want))
		fprintf(stderr, "    (%s)\n", label);
	CHECK(!d.truncated);
	store_domains_fini(&d);
}

/* The nodes' names, comma-separated, in the order listed. */
static void expect_node_names(struct store_reader *r, const char *label, const char *want)
{
	struct store_node *nodes = (struct store_node *)1; /* written on success only */
	char got[1024];
	size_t n = 99, len = 0;

	if (!CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0)) {
		fprintf(stderr, "    %s: %s\n", label, store_reader_last_error(r));
		return;
	}
	got[0] = '\0';
	for (size_t i = 0; i < n && len < sizeof(got); i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s", i ? "," : "",
					nodes[i].name);
	if (!CHECK_EQ_STR(got, want))
		fprintf(stderr, "    (%s)\n", label);
	CHECK(n ? nodes != NULL : nodes == NULL);
	store_nodes_free(nodes);
}

/* ---- round trip ---- */

static void test_roundtrip_ipv4_ipv6_exact(void)
{
	struct store *s = open_store("roundtrip");
	struct store_reader *r = open_reader("roundtrip");
	struct store_filter f = {0};
	struct store_history h = {0};
	struct store_node *nodes = NULL;
	struct wire_batch b;
	size_t n = 0;
	bool dup = true;
	char text[64];

	if (!s || !r)
		goto out;
	batch_init(&b, "node-a", "boot-1", 7, 1700000000000, 1700000010000, 2);
	b.total_packets = UINT64_MAX; /* round-trips bit for bit */
	snprintf(b.agent_version, sizeof(b.agent_version), "1.2.3-rc.1+g0123abc");
	rec_set(&b.records[0], 11, "192.168.1.10", 51000, "93.184.216.34", 443, 6,
		"www.example.com");
	b.records[0].tcp_flags = 0x1b;
	b.records[0].packets_received = 12;
	b.records[0].bytes_sent = 3456;
	b.records[0].bytes_received = UINT64_MAX;
	b.records[0].first_seen_ms = 1699999999123;
	b.records[0].last_seen_ms = 1700000009876;
	snprintf(b.records[0].interface, sizeof(b.records[0].interface), "ens3");
	snprintf(b.records[0].src_hostname, sizeof(b.records[0].src_hostname), "laptop.lan");
	snprintf(b.records[0].dst_hostname, sizeof(b.records[0].dst_hostname),
		 "edge-1.example.net");
	rec_set(&b.records[1], 22, "2001:db8::1", 5353, "ff02::fb", 5353, 17, "");
	b.records[1].tcp_flags = 0xff; /* every flag lib/wire lets through */
	b.records[1].packets_received = 0;
	b.records[1].bytes_sent = 0;
	b.records[1].bytes_received = 0;
	snprintf(b.records[1].interface, sizeof(b.records[1].interface), "veth0");

	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	CHECK(!dup);
	CHECK(store_db_bytes(s) > 0);
	if (!CHECK_EQ_INT(store_query_history(r, &f, &h), 0))
		fprintf(stderr, "    %s\n", store_reader_last_error(r));
	CHECK_EQ_U64(h.total, 2);
	CHECK(!h.total_capped);
	if (CHECK_EQ_INT(h.n, 2)) {
		const struct store_flow *v6 = &h.rows[0]; /* same ts: the later id first */
		const struct store_flow *v4 = &h.rows[1];
		uint8_t a[16];

		CHECK(v6->id > v4->id);
		CHECK_EQ_U64(v4->ts_ms, 1700000000000);
		CHECK_EQ_U64(v4->window_end_ms, 1700000010000);
		CHECK_EQ_STR(v4->node, "node-a");
		CHECK_EQ_INT(v4->rec.proto, 6);
		CHECK_EQ_INT(v4->rec.ip_version, 4);
		addr(a, "192.168.1.10");
		CHECK(memcmp(v4->rec.src_addr, a, 16) == 0);
		addr(a, "93.184.216.34");
		CHECK(memcmp(v4->rec.dst_addr, a, 16) == 0);
		CHECK_EQ_INT(v4->rec.src_port, 51000);
		CHECK_EQ_INT(v4->rec.dst_port, 443);
		CHECK_EQ_U64(v4->rec.tcp_flags, 0x1b);
		CHECK_EQ_U64(v4->rec.packets_sent, 11);
		CHECK_EQ_U64(v4->rec.packets_received, 12);
		CHECK_EQ_U64(v4->rec.bytes_sent, 3456);
		CHECK_EQ_U64(v4->rec.bytes_received, UINT64_MAX);
		CHECK_EQ_U64(v4->rec.first_seen_ms, 1699999999123);
		CHECK_EQ_U64(v4->rec.last_seen_ms, 1700000009876);
		CHECK_EQ_STR(v4->rec.interface, "ens3");
		CHECK_EQ_STR(v4->rec.domain, "www.example.com");
		CHECK_EQ_STR(v4->rec.src_hostname, "laptop.lan");
		CHECK_EQ_STR(v4->rec.dst_hostname, "edge-1.example.net");

		CHECK_EQ_U64(v6->ts_ms, 1700000000000);
		CHECK_EQ_U64(v6->window_end_ms, 1700000010000);
		CHECK_EQ_STR(v6->node, "node-a");
		CHECK_EQ_INT(v6->rec.proto, 17);
		CHECK_EQ_INT(v6->rec.ip_version, 6);
		addr(a, "2001:db8::1");
		CHECK(memcmp(v6->rec.src_addr, a, 16) == 0);
		addr(a, "ff02::fb");
		CHECK(memcmp(v6->rec.dst_addr, a, 16) == 0);
		inet_ntop(AF_INET6, v6->rec.dst_addr, text, sizeof(text));
		CHECK_EQ_STR(text, "ff02::fb");
		CHECK_EQ_INT(v6->rec.src_port, 5353);
		CHECK_EQ_INT(v6->rec.dst_port, 5353);
		CHECK_EQ_U64(v6->rec.tcp_flags, 0xff);
		CHECK_EQ_U64(v6->rec.packets_sent, 22);
		CHECK_EQ_U64(v6->rec.packets_received, 0);
		CHECK_EQ_U64(v6->rec.bytes_sent, 0);
		CHECK_EQ_U64(v6->rec.bytes_received, 0);
		CHECK_EQ_U64(v6->rec.first_seen_ms, 1);
		CHECK_EQ_U64(v6->rec.last_seen_ms, 2);
		CHECK_EQ_STR(v6->rec.interface, "veth0");
		CHECK_EQ_STR(v6->rec.domain, "");
		CHECK_EQ_STR(v6->rec.src_hostname, "");
		CHECK_EQ_STR(v6->rec.dst_hostname, "");
	}
	store_history_fini(&h);

	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	if (CHECK_EQ_INT(n, 1)) {
		CHECK_EQ_STR(nodes[0].name, "node-a");
		CHECK_EQ_STR(nodes[0].boot_id, "boot-1");
		CHECK_EQ_STR(nodes[0].agent_version, "1.2.3-rc.1+g0123abc");
		CHECK_EQ_U64(nodes[0].last_seq, 7);
		CHECK_EQ_U64(nodes[0].first_seen_ms, 1700000000000);
		CHECK_EQ_U64(nodes[0].last_seen_ms, 1700000010000);
		CHECK_EQ_U64(nodes[0].total_packets, UINT64_MAX);
		CHECK_EQ_U64(nodes[0].total_bytes, 2007);
		CHECK_EQ_U64(nodes[0].active_connections, 10);
		for (int i = 0; i < WIRE_LOSS_MAX; i++)
			CHECK_EQ_U64(nodes[0].lost[i], 70 + (uint64_t)i);
		CHECK_EQ_U64(nodes[0].batches, 1);
		CHECK_EQ_U64(nodes[0].records, 2);
	}
	store_nodes_free(nodes);
	batch_free(&b);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- dedup ---- */

static void test_duplicates_stored_once(void)
{
	struct store *s = open_store("dup");
	struct store_reader *r = open_reader("dup");
	struct wire_batch b1, b2, b1_boot2, b_old;
	struct store_dns_filter df = {0};
	struct store_node *nodes = NULL;
	struct wire_dns d;
	bool dup[3] = {true, true, true};
	size_t n = 0;

	if (!s || !r)
		goto out;
	batch_init(&b1, "node-a", "boot-1", 5, 1000, 2000, 3);
	dns_set(&d, 1, 1500, "example.com", 1, "10.0.0.1", "10.0.0.53");
	b1.dns = &d;
	b1.ndns = 1;
	batch_init(&b2, "node-a", "boot-1", 6, 2000, 3000, 2);
	batch_init(&b1_boot2, "node-a", "boot-2", 5, 3000, 4000, 4);
	batch_init(&b_old, "node-a", "boot-1", 4, 500, 1000, 1);

	CHECK_EQ_INT(append1(s, &b1, &dup[0]), 0);
	CHECK(!dup[0]);
	/* a retry of b1, a new b2 and b2 again within one call */
	{
		const struct wire_batch *v[3] = {&b1, &b2, &b2};

		CHECK_EQ_INT(store_append(s, v, 3, dup), 0);
		CHECK(dup[0]);
		CHECK(!dup[1]);
		CHECK(dup[2]);
	}
	CHECK_EQ_U64(count_all(r), 5);
	expect_dns(r, &df, "b1's DNS record once", "1", 1);
	/* same seq, new boot id: another batch */
	CHECK_EQ_INT(append1(s, &b1_boot2, &dup[0]), 0);
	CHECK(!dup[0]);
	CHECK_EQ_U64(count_all(r), 9);
	/* a late batch of the old boot is stored but does not roll the node back */
	CHECK_EQ_INT(append1(s, &b_old, &dup[0]), 0);
	CHECK(!dup[0]);
	CHECK_EQ_U64(count_all(r), 10);
	CHECK_EQ_INT(append1(s, &b_old, &dup[0]), 0);
	CHECK(dup[0]);
	CHECK_EQ_U64(count_all(r), 10);
	/* a batch first stored in a call of several is a duplicate alone, too */
	CHECK_EQ_INT(append1(s, &b2, &dup[0]), 0);
	CHECK(dup[0]);
	CHECK_EQ_U64(count_all(r), 10);
	expect_dns(r, &df, "still once", "1", 1);

	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	if (CHECK_EQ_INT(n, 1)) {
		CHECK_EQ_STR(nodes[0].boot_id, "boot-2");
		CHECK_EQ_U64(nodes[0].last_seq, 5);
		CHECK_EQ_U64(nodes[0].total_packets, 1005);
		CHECK_EQ_U64(nodes[0].total_bytes, 2005);
		CHECK_EQ_U64(nodes[0].active_connections, 8);
		CHECK_EQ_U64(nodes[0].lost[WIRE_LOSS_FLOW_MAP_FULL], 51);
		CHECK_EQ_U64(nodes[0].first_seen_ms, 500);
		CHECK_EQ_U64(nodes[0].last_seen_ms, 4000);
		CHECK_EQ_U64(nodes[0].batches, 4);
		CHECK_EQ_U64(nodes[0].records, 10);
	}
	store_nodes_free(nodes);
	batch_free(&b1);
	batch_free(&b2);
	batch_free(&b1_boot2);
	batch_free(&b_old);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- all or nothing ---- */

static void test_failed_append_stores_nothing(void)
{
	struct store *s = open_store("fail");
	struct store_reader *r = open_reader("fail");
	struct wire_batch good, bad, other;
	struct store_dns_filter df = {0};
	struct wire_dns d[2];
	bool dup[3] = {true, true, true};
	int err;

	if (!s || !r)
		goto out;
	batch_init(&other, "node-b", "boot-1", 1, 1000, 2000, 1);
	CHECK_EQ_INT(append1(s, &other, &dup[0]), 0);
	batch_init(&good, "node-a", "boot-1", 1, 1000, 2000, 3);
	dns_set(&d[0], 1, 1500, "good.example.com", 1, "10.0.0.1", "10.0.0.53");
	good.dns = &d[0];
	good.ndns = 1;
	batch_init(&bad, "node-a", "boot-1", 2, 2000, 3000, 3);
	dns_set(&d[1], 2, 2500, "bad.example.com", 1, "10.0.0.1", "10.0.0.53");
	bad.dns = &d[1];
	bad.ndns = 1;
	bad.records[2].ip_version = 5; /* the schema has no such thing: refused */
	{
		const struct wire_batch *v[3] = {&good, &other, &bad};

		dup[0] = dup[1] = dup[2] = true;
		err = store_append(s, v, 3, dup);
		CHECK_EQ_INT(err, -EINVAL);
		CHECK(store_last_error(s)[0] != '\0');
		CHECK(dup[0] && dup[1] && dup[2]); /* untouched on failure */
	}
	CHECK_EQ_U64(count_all(r), 1);
	expect_dns(r, &df, "no DNS of the failed call", "", 0);
	expect_node_names(r, "no node of the failed call", "node-b");
	/* nothing of the failed call was recorded for dedup either */
	CHECK_EQ_INT(append1(s, &good, &dup[0]), 0);
	CHECK(!dup[0]);
	CHECK_EQ_U64(count_all(r), 4);
	expect_dns(r, &df, "the good batch's DNS, once", "1", 1);
	/* alone, the bad batch is refused too */
	CHECK_EQ_INT(append1(s, &bad, &dup[0]), -EINVAL);
	CHECK(store_last_error(s)[0] != '\0');
	/* a window that ends before it starts is refused, and the store keeps working */
	bad.records[2].ip_version = 4;
	bad.window_end_ms = bad.window_start_ms;
	CHECK_EQ_INT(append1(s, &bad, &dup[0]), -EINVAL);
	CHECK(store_last_error(s)[0] != '\0');
	CHECK_EQ_U64(count_all(r), 4);
	bad.window_end_ms = 3000;
	CHECK_EQ_INT(append1(s, &bad, &dup[0]), 0);
	CHECK(!dup[0]);
	CHECK_EQ_U64(count_all(r), 7);
	expect_dns(r, &df, "both batches' DNS", "2,1", 2);
	{
		struct store_node *nodes = NULL;
		size_t n = 0;

		CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
		if (CHECK_EQ_INT(n, 2)) {
			CHECK_EQ_STR(nodes[0].name, "node-a");
			CHECK_EQ_U64(nodes[0].batches, 2);
			CHECK_EQ_U64(nodes[0].records, 6);
			CHECK_EQ_U64(nodes[0].last_seq, 2);
			CHECK_EQ_STR(nodes[1].name, "node-b");
			CHECK_EQ_U64(nodes[1].batches, 1);
		}
		store_nodes_free(nodes);
	}
	/* nothing at all is a success that stores nothing */
	CHECK_EQ_INT(store_append(s, NULL, 0, dup), 0);
	CHECK_EQ_U64(count_all(r), 7);
	batch_free(&good);
	batch_free(&bad);
	batch_free(&other);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- history filters ---- */

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

static void test_history_filters_alone_and_combined(void)
{
	struct store *s = open_store("filters");
	struct store_reader *r = open_reader("filters");
	struct store_history h = {0};
	struct store_filter f;

	if (!s || !r)
		goto out;
	filters_fill(s);

	f = (struct store_filter){0};
	expect_rows(r, &f, "none", "8,7,6,5,4,3,2,1", 8);

	/* time */
	f = (struct store_filter){.has_start = true, .start_ms = 2000};
	expect_rows(r, &f, "start (inclusive)", "8,7,6,5,4,3", 6);
	f = (struct store_filter){
	    .has_start = true, .start_ms = 2000, .has_end = true, .end_ms = 2500};
	expect_rows(r, &f, "start+end", "4,3", 2);
	f = (struct store_filter){.has_end = true, .end_ms = 2000};
	expect_rows(r, &f, "end (exclusive)", "2,1", 2);
	f = (struct store_filter){.has_end = true, .end_ms = 1000};
	expect_rows(r, &f, "end at the first", "", 0);
	f = (struct store_filter){.has_start = true, .start_ms = 4001};
	expect_rows(r, &f, "start after the last", "", 0);
	f = (struct store_filter){
	    .has_start = true, .start_ms = 3000, .has_end = true, .end_ms = 2000};
	expect_rows(r, &f, "start after end", "", 0);
	f = (struct store_filter){
	    .has_start = true, .start_ms = 0, .has_end = true, .end_ms = UINT64_MAX};
	expect_rows(r, &f, "the whole range of times", "8,7,6,5,4,3,2,1", 8);
	f = (struct store_filter){.has_start = true, .start_ms = UINT64_MAX};
	expect_rows(r, &f, "start at the end of time", "", 0);
	f = (struct store_filter){.has_start = true, .start_ms = (uint64_t)INT64_MAX + 1};
	expect_rows(r, &f, "start past INT64_MAX", "", 0);
	f = (struct store_filter){.has_end = true, .end_ms = (uint64_t)INT64_MAX + 1};
	expect_rows(r, &f, "end past INT64_MAX", "8,7,6,5,4,3,2,1", 8);

	/* node */
	f = (struct store_filter){.node = "n2"};
	expect_rows(r, &f, "node", "8,7,6,5", 4);
	f = (struct store_filter){.node = "n3"};
	expect_rows(r, &f, "unknown node", "", 0);
	f = (struct store_filter){.node = "N1"};
	expect_rows(r, &f, "node names are exact", "", 0);
	f = (struct store_filter){.node = "n"};
	expect_rows(r, &f, "node prefix is not a node", "", 0);
	f = (struct store_filter){.node = ""};
	expect_rows(r, &f, "node \"\" is no node", "", 0);

	/* addresses */
	f = (struct store_filter){.has_ip = true};
	addr(f.ip, "10.0.0.1");
	expect_rows(r, &f, "ip v4", "8,5,4,2,1", 5);
	f = (struct store_filter){.has_src_ip = true};
	addr(f.src_ip, "10.0.0.1");
	expect_rows(r, &f, "src_ip", "8,4,1", 3);
	f = (struct store_filter){.has_dst_ip = true};
	addr(f.dst_ip, "10.0.0.1");
	expect_rows(r, &f, "dst_ip", "5,2", 2);
	f = (struct store_filter){.has_ip = true};
	addr(f.ip, "2001:db8::1");
	expect_rows(r, &f, "ip v6", "7,3", 2);
	f = (struct store_filter){.has_src_ip = true};
	addr(f.src_ip, "2001:db8::1");
	expect_rows(r, &f, "src_ip v6", "3", 1);
	f = (struct store_filter){.has_dst_ip = true};
	addr(f.dst_ip, "2001:db8::1");
	expect_rows(r, &f, "dst_ip v6", "7", 1);
	f = (struct store_filter){.has_ip = true};
	addr(f.ip, "::a00:1"); /* 10.0.0.1 as IPv4-compatible, not mapped: another address */
	expect_rows(r, &f, "ip not mapped", "", 0);
	f = (struct store_filter){.has_ip = true};
	addr(f.ip, "10.0.0.99");
	expect_rows(r, &f, "ip unknown", "", 0);

	/* ports and protocol */
	f = (struct store_filter){.has_port = true, .port = 443};
	expect_rows(r, &f, "port", "7,5,3,1", 4);
	f = (struct store_filter){.has_src_port = true, .src_port = 443};
	expect_rows(r, &f, "src_port", "7,5", 2);
	f = (struct store_filter){.has_dst_port = true, .dst_port = 443};
	expect_rows(r, &f, "dst_port", "3,1", 2);
	f = (struct store_filter){.has_port = true, .port = 53};
	expect_rows(r, &f, "port 53", "2", 1);
	f = (struct store_filter){.has_port = true, .port = 123};
	expect_rows(r, &f, "port on both sides, once", "6", 1);
	f = (struct store_filter){.has_port = true, .port = 0};
	expect_rows(r, &f, "port 0", "", 0);
	f = (struct store_filter){.has_proto = true, .proto = 17};
	expect_rows(r, &f, "proto udp", "6,2", 2);
	f = (struct store_filter){.has_proto = true, .proto = 1};
	expect_rows(r, &f, "proto icmp", "8", 1);
	f = (struct store_filter){.has_proto = true, .proto = 6};
	expect_rows(r, &f, "proto tcp", "7,5,4,3,1", 5);
	f = (struct store_filter){.has_proto = true, .proto = 0};
	expect_rows(r, &f, "proto 0", "", 0);

	/* domains: exact or by suffix, without regard to ASCII case */
	f = (struct store_filter){.domain = "example.com"};
	expect_rows(r, &f, "domain exact", "2", 1);
	f = (struct store_filter){.domain = "EXAMPLE.com"};
	expect_rows(r, &f, "domain exact case", "2", 1);
	f = (struct store_filter){.domain = "a.example.com"};
	expect_rows(r, &f, "domain exact sub", "5,1", 2);
	f = (struct store_filter){.domain = ".example.com"};
	expect_rows(r, &f, "domain suffix", "8,5,2,1", 4);
	f = (struct store_filter){.domain = ".EXAMPLE.Com"};
	expect_rows(r, &f, "domain suffix case", "8,5,2,1", 4);
	f = (struct store_filter){.domain = ".com"};
	expect_rows(r, &f, "domain suffix com", "8,6,5,3,2,1", 6);
	f = (struct store_filter){.domain = ".ample.com"};
	expect_rows(r, &f, "domain suffix not a label", "", 0);
	f = (struct store_filter){.domain = "example"};
	expect_rows(r, &f, "domain prefix is not exact", "", 0);
	f = (struct store_filter){.domain = "badexample.com"};
	expect_rows(r, &f, "badexample.com exact", "3", 1);
	f = (struct store_filter){.domain = ".org"};
	expect_rows(r, &f, "domain suffix org", "7", 1);
	f = (struct store_filter){.domain = "example.com."};
	expect_rows(r, &f, "domain with a trailing dot", "", 0);

	/* combinations */
	f = (struct store_filter){.node = "n1", .has_ip = true};
	addr(f.ip, "10.0.0.1");
	expect_rows(r, &f, "node+ip", "4,2,1", 3);
	f = (struct store_filter){
	    .has_start = true, .start_ms = 2000, .has_proto = true, .proto = 6};
	expect_rows(r, &f, "start+proto", "7,5,4,3", 4);
	f = (struct store_filter){
	    .domain = ".example.com", .node = "n2", .has_start = true, .start_ms = 3000};
	expect_rows(r, &f, "domain+node+start", "8", 1);
	f = (struct store_filter){.has_src_ip = true, .has_dst_port = true, .dst_port = 443};
	addr(f.src_ip, "10.0.0.1");
	expect_rows(r, &f, "src_ip+dst_port", "1", 1);
	f = (struct store_filter){.has_port = true,
				  .port = 443,
				  .has_proto = true,
				  .proto = 6,
				  .has_end = true,
				  .end_ms = 3000};
	expect_rows(r, &f, "port+proto+end", "5,3,1", 3);
	f = (struct store_filter){.has_ip = true, .has_port = true, .port = 443};
	addr(f.ip, "10.0.0.2");
	expect_rows(r, &f, "ip+port", "5,1", 2);
	f = (struct store_filter){.has_ip = true, .domain = ".example.com"};
	addr(f.ip, "10.0.0.2");
	expect_rows(r, &f, "ip+domain", "8,5,1", 3);
	f = (struct store_filter){.domain = ".example.com", .has_port = true, .port = 443};
	expect_rows(r, &f, "domain+port", "5,1", 2);
	f = (struct store_filter){.has_dst_ip = true, .has_proto = true, .proto = 6};
	addr(f.dst_ip, "10.0.0.2");
	expect_rows(r, &f, "dst_ip+proto", "1", 1);
	f = (struct store_filter){.node = "n1", .domain = "badexample.com"};
	expect_rows(r, &f, "node+domain", "3", 1);
	f = (struct store_filter){.node = "n2", .domain = "badexample.com"};
	expect_rows(r, &f, "node+domain, none", "", 0);
	f = (struct store_filter){.has_start = true,
				  .start_ms = 1000,
				  .has_end = true,
				  .end_ms = 4000,
				  .node = "n2",
				  .has_port = true,
				  .port = 443};
	expect_rows(r, &f, "start+end+node+port", "5", 1);
	f = (struct store_filter){
	    .has_src_port = true, .src_port = 40000, .has_dst_port = true, .dst_port = 443};
	expect_rows(r, &f, "src_port+dst_port", "1", 1);
	f = (struct store_filter){.has_ip = true, .has_src_ip = true};
	addr(f.ip, "10.0.0.2");
	addr(f.src_ip, "10.0.0.1");
	expect_rows(r, &f, "ip+src_ip", "8,1", 2);
	f = (struct store_filter){.has_src_ip = true, .has_dst_ip = true};
	addr(f.src_ip, "10.0.0.2");
	addr(f.dst_ip, "10.0.0.2");
	expect_rows(r, &f, "src_ip+dst_ip, none", "", 0);
	f = (struct store_filter){.has_src_ip = true,
				  .has_dst_ip = true,
				  .has_src_port = true,
				  .src_port = 40000,
				  .has_proto = true,
				  .proto = 6};
	addr(f.src_ip, "10.0.0.1");
	addr(f.dst_ip, "10.0.0.2");
	expect_rows(r, &f, "5-tuple", "1", 1);

	/* limit, offset, paging, total */
	f = (struct store_filter){.limit = 3};
	expect_rows(r, &f, "page 1", "8,7,6", 8);
	f = (struct store_filter){.limit = 3, .offset = 3};
	expect_rows(r, &f, "page 2", "5,4,3", 8);
	f = (struct store_filter){.limit = 3, .offset = 6};
	expect_rows(r, &f, "page 3", "2,1", 8);
	f = (struct store_filter){.limit = 3, .offset = 7};
	expect_rows(r, &f, "offset tail", "1", 8);
	f = (struct store_filter){.limit = 3, .offset = 8};
	expect_rows(r, &f, "offset past end", "", 8);
	f = (struct store_filter){.limit = 1, .offset = UINT64_MAX};
	expect_rows(r, &f, "offset huge", "", 8);
	f = (struct store_filter){.has_port = true, .port = 443, .limit = 2, .offset = 1};
	expect_rows(r, &f, "port+limit+offset", "5,3", 4);
	f = (struct store_filter){.domain = ".example.com", .limit = 1, .offset = 3};
	expect_rows(r, &f, "domain+limit+offset", "1", 4);
	f = (struct store_filter){.has_ip = true, .limit = 2, .offset = 4};
	addr(f.ip, "10.0.0.1");
	expect_rows(r, &f, "ip+limit+offset", "1", 5);
	f = (struct store_filter){.node = "n3", .limit = 2, .offset = 4};
	expect_rows(r, &f, "nothing+offset", "", 0);
	f = (struct store_filter){.limit = 1};
	expect_rows(r, &f, "limit 1", "8", 8);
	f = (struct store_filter){.limit = STORE_HISTORY_LIMIT_MAX};
	expect_rows(r, &f, "limit max", "8,7,6,5,4,3,2,1", 8);

	/* invalid filters: -EINVAL, *out untouched */
	f = (struct store_filter){.limit = STORE_HISTORY_LIMIT_MAX + 1};
	CHECK_EQ_INT(store_query_history(r, &f, &h), -EINVAL);
	CHECK(store_reader_last_error(r)[0] != '\0');
	f = (struct store_filter){.domain = ""};
	CHECK_EQ_INT(store_query_history(r, &f, &h), -EINVAL);
	f = (struct store_filter){.domain = "."};
	CHECK_EQ_INT(store_query_history(r, &f, &h), -EINVAL);
	f = (struct store_filter){.domain = too_long_name()};
	CHECK_EQ_INT(store_query_history(r, &f, &h), -EINVAL);
	CHECK(h.rows == NULL && h.n == 0);
	/* and the reader goes on */
	f = (struct store_filter){.limit = 2};
	expect_rows(r, &f, "after invalid filters", "8,7", 8);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- newest first ---- */

/* Stored in separate calls, out of time order: the order of the results is by ts, then
 * by the order of storing (later rows first), never by the order of the calls alone. */
static void test_newest_first_whatever_the_order_stored(void)
{
	struct store *s = open_store("order");
	struct store_reader *r = open_reader("order");
	struct store_history h;
	struct store_filter f;
	struct store_dns_filter df;
	struct store_dns_result res;
	struct wire_batch b[4];
	struct wire_dns d[4];
	bool dup;

	if (!s || !r)
		goto out;
	batch_init(&b[0], "n1", "boot", 1, 2000, 3000, 2);
	rec_set(&b[0].records[0], 1, "10.0.0.1", 1, "10.0.0.2", 80, 6, "");
	rec_set(&b[0].records[1], 2, "10.0.0.1", 2, "10.0.0.2", 80, 6, "");
	dns_set(&d[0], 1, 2500, "a.example.com", 1, "10.0.0.1", "10.0.0.53");
	dns_set(&d[1], 2, 1500, "b.example.com", 1, "10.0.0.1", "10.0.0.53");
	b[0].dns = &d[0];
	b[0].ndns = 2;
	batch_init(&b[1], "n2", "boot", 1, 3000, 4000, 1);
	rec_set(&b[1].records[0], 3, "10.0.0.1", 3, "10.0.0.2", 80, 6, "");
	dns_set(&d[2], 3, 2500, "c.example.com", 1, "10.0.0.1", "10.0.0.53");
	dns_set(&d[3], 4, 3500, "d.example.com", 1, "10.0.0.1", "10.0.0.53");
	b[1].dns = &d[2];
	b[1].ndns = 2;
	batch_init(&b[2], "n1", "boot", 2, 1000, 2000, 2); /* an older window, stored later */
	rec_set(&b[2].records[0], 4, "10.0.0.1", 4, "10.0.0.2", 80, 6, "");
	rec_set(&b[2].records[1], 5, "10.0.0.1", 5, "10.0.0.2", 80, 6, "");
	batch_init(&b[3], "n3", "boot", 1, 2000, 3000, 1); /* b[0]'s time, stored later */
	rec_set(&b[3].records[0], 6, "10.0.0.1", 6, "10.0.0.2", 80, 6, "");
	for (int i = 0; i < 4; i++) {
		CHECK_EQ_INT(append1(s, &b[i], &dup), 0);
		CHECK(!dup);
	}

	f = (struct store_filter){0};
	expect_rows(r, &f, "newest first", "3,6,2,1,5,4", 6);
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		for (size_t i = 1; i < h.n; i++) {
			CHECK(h.rows[i - 1].ts_ms >= h.rows[i].ts_ms);
			if (h.rows[i - 1].ts_ms == h.rows[i].ts_ms)
				CHECK(h.rows[i - 1].id > h.rows[i].id);
			for (size_t j = 0; j < i; j++)
				CHECK(h.rows[j].id != h.rows[i].id);
		}
		store_history_fini(&h);
	}
	/* pages of one order */
	f = (struct store_filter){.limit = 2};
	expect_rows(r, &f, "page 1", "3,6", 6);
	f.offset = 2;
	expect_rows(r, &f, "page 2", "2,1", 6);
	f.offset = 4;
	expect_rows(r, &f, "page 3", "5,4", 6);
	f = (struct store_filter){.has_ip = true, .limit = 3, .offset = 1};
	addr(f.ip, "10.0.0.2");
	expect_rows(r, &f, "by address, a page", "6,2,1", 6);
	f = (struct store_filter){.has_end = true, .end_ms = 3000, .limit = 2, .offset = 1};
	expect_rows(r, &f, "by time, a page", "2,1", 5);

	df = (struct store_dns_filter){0};
	expect_dns(r, &df, "DNS newest first", "4,3,1,2", 4);
	df = (struct store_dns_filter){.limit = 2, .offset = 1};
	expect_dns(r, &df, "DNS, a page", "3,1", 4);
	df = (struct store_dns_filter){0};
	if (CHECK_EQ_INT(store_query_dns(r, &df, &res), 0)) {
		if (CHECK_EQ_INT(res.n, 4))
			CHECK(res.rows[1].id > res.rows[2].id); /* same ts: the later first */
		store_dns_result_fini(&res);
	}
	for (int i = 0; i < 4; i++)
		batch_free(&b[i]);
out:
	store_reader_close(r);
	store_close(s);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	CHECK(clock_gettime(CLOCK_REALTIME, &ts) == 0);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Records of the last seconds, minutes, hours, days and weeks, and one of a node whose
 * clock is ahead: the newest first, each page and total as over old times (a backend
 * may look at the recent past first; the answer is the same). */
static void test_newest_first_near_now(void)
{
	static const int64_t ago_ms[] = {
	    40 * (int64_t)DAY_MS, 3 * (int64_t)DAY_MS, 5 * 3600000, 20 * 60000, 20000, -600000,
	};
	struct store *s = open_store("recent");
	struct store_reader *r = open_reader("recent");
	uint64_t now = now_ms();
	struct store_filter f;
	struct store_dns_filter df;
	struct wire_batch b;
	struct wire_dns d;
	bool dup;

	if (!s || !r)
		goto out;
	/* tags 1..6 from the oldest; 3 is another node's; 2, 4 and 6 have a domain */
	for (int i = 0; i < 6; i++) {
		uint64_t ts = (uint64_t)((int64_t)now - ago_ms[i]);

		batch_init(&b, i == 2 ? "other" : "near", "boot", (uint64_t)i + 1, ts, ts + 1000,
			   1);
		rec_set(&b.records[0], (uint64_t)i + 1, "10.0.0.1", 1000, "10.0.0.2", 443, 6,
			i % 2 ? "near.example.com" : "");
		dns_set(&d, (uint16_t)(i + 1), ts + 10, "near.example.com", 1, "10.0.0.1",
			"10.0.0.53");
		b.dns = &d;
		b.ndns = 1;
		CHECK_EQ_INT(append1(s, &b, &dup), 0);
		CHECK(!dup);
		batch_free(&b);
	}

	f = (struct store_filter){0};
	expect_rows(r, &f, "recent: all", "6,5,4,3,2,1", 6);
	f = (struct store_filter){.limit = 1};
	expect_rows(r, &f, "recent: the newest", "6", 6);
	f = (struct store_filter){.limit = 2, .offset = 1};
	expect_rows(r, &f, "recent: page 2 of 2", "5,4", 6);
	f = (struct store_filter){.limit = 2, .offset = 3};
	expect_rows(r, &f, "recent: page 4 of 2", "3,2", 6);
	f = (struct store_filter){.limit = 3, .offset = 4};
	expect_rows(r, &f, "recent: the oldest", "2,1", 6);
	f = (struct store_filter){.has_end = true, .end_ms = now};
	expect_rows(r, &f, "recent: before now", "5,4,3,2,1", 5);
	f = (struct store_filter){.has_end = true, .end_ms = now, .limit = 1};
	expect_rows(r, &f, "recent: the newest before now", "5", 5);
	f = (struct store_filter){
	    .has_end = true, .end_ms = now - 3600000, .limit = 1, .offset = 1};
	expect_rows(r, &f, "recent: before an hour ago, the second", "2", 3);
	f = (struct store_filter){.has_start = true, .start_ms = now - 7200000};
	expect_rows(r, &f, "recent: the last two hours", "6,5,4", 3);
	f = (struct store_filter){
	    .has_start = true, .start_ms = now - 7200000, .limit = 1, .offset = 1};
	expect_rows(r, &f, "recent: the last two hours, the second", "5", 3);
	f = (struct store_filter){.has_start = true,
				  .start_ms = now - 4 * DAY_MS,
				  .has_end = true,
				  .end_ms = now - 600000};
	expect_rows(r, &f, "recent: 4 days to 10 minutes ago", "4,3,2", 3);
	f = (struct store_filter){.node = "near", .limit = 2, .offset = 1};
	expect_rows(r, &f, "recent: by node, a page", "5,4", 5);
	f = (struct store_filter){.has_ip = true, .limit = 2, .offset = 2};
	addr(f.ip, "10.0.0.2");
	expect_rows(r, &f, "recent: by address, a page", "4,3", 6);
	f = (struct store_filter){.domain = ".example.com", .limit = 1, .offset = 1};
	expect_rows(r, &f, "recent: by domain, a page", "4", 3);

	df = (struct store_dns_filter){0};
	expect_dns(r, &df, "recent DNS: all", "6,5,4,3,2,1", 6);
	df = (struct store_dns_filter){.limit = 2, .offset = 1};
	expect_dns(r, &df, "recent DNS: a page", "5,4", 6);
	df = (struct store_dns_filter){.has_end = true, .end_ms = now, .limit = 1};
	expect_dns(r, &df, "recent DNS: the newest before now", "5", 5);
	df = (struct store_dns_filter){.node = "near", .limit = 1, .offset = 4};
	expect_dns(r, &df, "recent DNS: by node, the oldest", "1", 5);

	expect_domains(r, now - 50 * DAY_MS, now + DAY_MS, NULL, 10, "recent: domains",
		       "near.example.com=900/15/3");
	expect_domains(r, now - DAY_MS, now, "near", 10, "recent: domains of a day",
		       "near.example.com=300/5/1");
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- totals ---- */

/* Totals are exact up to STORE_COUNT_CAP (or offset + limit + 1), "at least" beyond. */
static void test_totals_capped(void)
{
	struct store *s = open_store("capped");
	struct store_reader *r = open_reader("capped");
	struct store_filter f;
	struct store_history h;
	struct store_dns_filter df;
	struct store_dns_result res;
	struct wire_batch b;
	struct wire_dns *d = NULL;
	const size_t ndns = STORE_COUNT_CAP + 50;
	bool dup;

	if (!s || !r)
		goto out;
	batch_init(&b, "n", "boot", 1, 1000, 2000, 6000);
	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	b.seq = 2;
	d = calloc(ndns, sizeof(*d));
	if (!CHECK(d != NULL))
		goto out;
	for (size_t i = 0; i < ndns; i++)
		dns_set(&d[i], (uint16_t)i, 1000 + i, "example.com", 1, "10.0.0.1", "10.0.0.53");
	b.dns = d;
	b.ndns = ndns;
	CHECK_EQ_INT(append1(s, &b, &dup), 0); /* 12 000 rows */
	batch_free(&b);

	f = (struct store_filter){.limit = 10};
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.n, 10);
		CHECK_EQ_U64(h.total, STORE_COUNT_CAP);
		CHECK(h.total_capped);
		store_history_fini(&h);
	}
	f = (struct store_filter){0}; /* the default page */
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.n, STORE_HISTORY_LIMIT_DEFAULT);
		CHECK_EQ_U64(h.total, STORE_COUNT_CAP);
		CHECK(h.total_capped);
		store_history_fini(&h);
	}
	f = (struct store_filter){.limit = STORE_HISTORY_LIMIT_MAX, .offset = 1000};
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) { /* the largest page */
		CHECK_EQ_U64(h.n, STORE_HISTORY_LIMIT_MAX);
		CHECK_EQ_U64(h.total, 1000 + STORE_HISTORY_LIMIT_MAX + 1);
		CHECK(h.total_capped);
		if (h.n == STORE_HISTORY_LIMIT_MAX) {
			/* the second batch's records, then the first's (both tagged 1000 +
			 * index), each newest first */
			CHECK_EQ_U64(h.rows[0].rec.packets_sent, 1000 + 4999);
			CHECK_EQ_U64(h.rows[4999].rec.packets_sent, 1000);
			CHECK_EQ_U64(h.rows[5000].rec.packets_sent, 1000 + 5999);
			CHECK_EQ_U64(h.rows[STORE_HISTORY_LIMIT_MAX - 1].rec.packets_sent,
				     1000 + 1000);
		}
		store_history_fini(&h);
	}
	f = (struct store_filter){.limit = 100, .offset = 11990}; /* bound 12 091: exact */
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.n, 10);
		CHECK_EQ_U64(h.total, 12000);
		CHECK(!h.total_capped);
		store_history_fini(&h);
	}
	f = (struct store_filter){.limit = 100, .offset = 10000}; /* bound 10 101: capped */
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.n, 100);
		CHECK_EQ_U64(h.total, 10101);
		CHECK(h.total_capped);
		store_history_fini(&h);
	}
	f = (struct store_filter){.limit = 100, .has_end = true, .end_ms = 500};
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) { /* nothing that old: exact 0 */
		CHECK_EQ_U64(h.total, 0);
		CHECK(!h.total_capped);
		store_history_fini(&h);
	}
	f = (struct store_filter){.has_port = true, .port = 80, .limit = 10};
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) { /* capped through a filter too */
		CHECK_EQ_U64(h.n, 10);
		CHECK_EQ_U64(h.total, STORE_COUNT_CAP);
		CHECK(h.total_capped);
		store_history_fini(&h);
	}

	df = (struct store_dns_filter){0}; /* the default page */
	if (CHECK_EQ_INT(store_query_dns(r, &df, &res), 0)) {
		CHECK_EQ_U64(res.n, STORE_HISTORY_LIMIT_DEFAULT);
		CHECK_EQ_U64(res.total, STORE_COUNT_CAP);
		CHECK(res.total_capped);
		store_dns_result_fini(&res);
	}
	df = (struct store_dns_filter){.limit = 10};
	if (CHECK_EQ_INT(store_query_dns(r, &df, &res), 0)) {
		CHECK_EQ_U64(res.n, 10);
		CHECK_EQ_U64(res.total, STORE_COUNT_CAP);
		CHECK(res.total_capped);
		CHECK_EQ_U64(res.rows[0].dns.ts_ms, 1000 + ndns - 1);
		store_dns_result_fini(&res);
	}
	/* exactly the bound: "at least", as beyond it */
	df = (struct store_dns_filter){.has_start = true, .start_ms = 1050, .limit = 10};
	if (CHECK_EQ_INT(store_query_dns(r, &df, &res), 0)) {
		CHECK_EQ_U64(res.total, STORE_COUNT_CAP);
		CHECK(res.total_capped);
		store_dns_result_fini(&res);
	}
	/* one less: exact */
	df = (struct store_dns_filter){.has_start = true, .start_ms = 1051, .limit = 10};
	if (CHECK_EQ_INT(store_query_dns(r, &df, &res), 0)) {
		CHECK_EQ_U64(res.total, STORE_COUNT_CAP - 1);
		CHECK(!res.total_capped);
		store_dns_result_fini(&res);
	}
	df = (struct store_dns_filter){.limit = 100, .offset = ndns - 10};
	if (CHECK_EQ_INT(store_query_dns(r, &df, &res), 0)) {
		CHECK_EQ_U64(res.n, 10);
		CHECK_EQ_U64(res.total, ndns);
		CHECK(!res.total_capped);
		if (res.n)
			CHECK_EQ_U64(res.rows[res.n - 1].dns.ts_ms, 1000);
		store_dns_result_fini(&res);
	}
out:
	free(d);
	store_reader_close(r);
	store_close(s);
}

/* ---- strings are data ---- */

/* Quotes, backslashes and SQL in the stored strings (lib/wire lets through any printable
 * UTF-8) and in every string filter: stored and found exactly as given, never run. */
static void test_quotes_backslashes_and_sql_are_data(void)
{
	static const char *const evil[] = {
	    "n1' OR '1'='1",
	    "n1\" OR 1=1 --",
	    "y'; DROP TABLE flows; --",
	    "'); DELETE FROM flows; --",
	    ".com' OR 1=1 --",
	    "%",
	    "*",
	    "_",
	    "\\",
	    "\\'",
	    "o\\'hara",	     /* a quote escaped by a backslash that was dropped */
	    "o''hara",	     /* a quote doubled */
	    "back\\\\slash", /* a backslash escaped that was kept */
	    "o'hara%",	     /* LIKE */
	    "%hara",	     /* LIKE */
	    "it''s.example.com",
	    "it\\'s.example.com",
	    ".example.com' OR '1'='1",
	};
	struct store *s = open_store("strings");
	struct store_reader *r = open_reader("strings");
	struct wire_batch b[3];
	const struct wire_batch *v[3] = {&b[0], &b[1], &b[2]};
	struct store_filter f;
	struct store_dns_filter df;
	struct store_dns_result res;
	struct store_history h;
	struct store_node *nodes = NULL;
	struct wire_dns d[2];
	size_t n = 0;
	bool dup[3];

	if (!s || !r)
		goto out;
	batch_init(&b[0], "o'hara", "b'1\\", 1, 1000, 2000, 2);
	rec_set(&b[0].records[0], 1, "10.0.0.1", 1, "10.0.0.2", 443, 6, "it's.example.com");
	snprintf(b[0].records[0].interface, sizeof(b[0].records[0].interface), "eth'0\\");
	snprintf(b[0].records[0].src_hostname, sizeof(b[0].records[0].src_hostname),
		 "back\\slash.lan");
	snprintf(b[0].records[0].dst_hostname, sizeof(b[0].records[0].dst_hostname),
		 "\"quoted\".lan");
	rec_set(&b[0].records[1], 2, "10.0.0.1", 2, "10.0.0.2", 443, 6, "back\\slash.Example.com");
	dns_set(&d[0], 1, 1500, "it's.example.com", 5, "10.0.0.1", "10.0.0.53");
	dns_answer(&d[0], 5, 60, "x'y\\z.example.net");
	b[0].dns = &d[0];
	b[0].ndns = 1;
	batch_init(&b[1], "back\\slash", "boot", 1, 2000, 3000, 1);
	rec_set(&b[1].records[0], 3, "10.0.0.3", 3, "10.0.0.2", 443, 6, "q\"uote.example.org");
	dns_set(&d[1], 2, 2500, "a\\b.example.org", 1, "10.0.0.3", "10.0.0.53");
	b[1].dns = &d[1];
	b[1].ndns = 1;
	batch_init(&b[2], "x'; DROP TABLE flows; --", "boot", 1, 3000, 4000, 1);
	rec_set(&b[2].records[0], 4, "10.0.0.4", 4, "10.0.0.2", 443, 6, "example.com");
	CHECK_EQ_INT(store_append(s, v, 3, dup), 0);

	/* stored as given */
	f = (struct store_filter){0};
	expect_rows(r, &f, "all", "4,3,2,1", 4);
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		if (CHECK_EQ_INT(h.n, 4)) {
			CHECK_EQ_STR(h.rows[0].node, "x'; DROP TABLE flows; --");
			CHECK_EQ_STR(h.rows[1].node, "back\\slash");
			CHECK_EQ_STR(h.rows[1].rec.domain, "q\"uote.example.org");
			CHECK_EQ_STR(h.rows[2].rec.domain, "back\\slash.Example.com");
			CHECK_EQ_STR(h.rows[3].node, "o'hara");
			CHECK_EQ_STR(h.rows[3].rec.domain, "it's.example.com");
			CHECK_EQ_STR(h.rows[3].rec.interface, "eth'0\\");
			CHECK_EQ_STR(h.rows[3].rec.src_hostname, "back\\slash.lan");
			CHECK_EQ_STR(h.rows[3].rec.dst_hostname, "\"quoted\".lan");
		}
		store_history_fini(&h);
	}
	df = (struct store_dns_filter){0};
	if (CHECK_EQ_INT(store_query_dns(r, &df, &res), 0)) {
		if (CHECK_EQ_INT(res.n, 2)) {
			CHECK_EQ_STR(res.rows[0].node, "back\\slash");
			CHECK_EQ_STR(res.rows[0].dns.name, "a\\b.example.org");
			CHECK_EQ_STR(res.rows[1].node, "o'hara");
			CHECK_EQ_STR(res.rows[1].dns.name, "it's.example.com");
			if (CHECK_EQ_U64(res.rows[1].dns.nanswers, 1))
				CHECK_EQ_STR(res.rows[1].dns.answers[0].target,
					     "x'y\\z.example.net");
		}
		store_dns_result_fini(&res);
	}
	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	if (CHECK_EQ_INT(n, 3)) {
		CHECK_EQ_STR(nodes[0].name, "back\\slash");
		CHECK_EQ_STR(nodes[1].name, "o'hara");
		CHECK_EQ_STR(nodes[1].boot_id, "b'1\\");
		CHECK_EQ_STR(nodes[2].name, "x'; DROP TABLE flows; --");
	}
	store_nodes_free(nodes);

	/* and found exactly as given */
	f = (struct store_filter){.node = "o'hara"};
	expect_rows(r, &f, "node with a quote", "2,1", 2);
	f = (struct store_filter){.node = "back\\slash"};
	expect_rows(r, &f, "node with a backslash", "3", 1);
	f = (struct store_filter){.node = "x'; DROP TABLE flows; --"};
	expect_rows(r, &f, "node named in SQL", "4", 1);
	f = (struct store_filter){.domain = "it's.example.com"};
	expect_rows(r, &f, "domain with a quote", "1", 1);
	f = (struct store_filter){.domain = "BACK\\slash.example.com"};
	expect_rows(r, &f, "domain with a backslash, any case", "2", 1);
	f = (struct store_filter){.domain = "q\"uote.example.org"};
	expect_rows(r, &f, "domain with a double quote", "3", 1);
	f = (struct store_filter){.domain = ".example.com"};
	expect_rows(r, &f, "suffix over them", "4,2,1", 3);
	f = (struct store_filter){
	    .node = "o'hara", .domain = ".example.com", .has_port = true, .port = 2};
	expect_rows(r, &f, "node+domain+port", "2", 1);
	df = (struct store_dns_filter){.node = "back\\slash"};
	expect_dns(r, &df, "DNS node with a backslash", "2", 1);
	df = (struct store_dns_filter){.node = "o'hara"};
	expect_dns(r, &df, "DNS node with a quote", "1", 1);
	df = (struct store_dns_filter){.name = "a\\b.example.org"};
	expect_dns(r, &df, "DNS name with a backslash", "2", 1);
	df = (struct store_dns_filter){.name = "IT'S.example.com"};
	expect_dns(r, &df, "DNS name with a quote, any case", "1", 1);
	df = (struct store_dns_filter){.name = ".example.org"};
	expect_dns(r, &df, "DNS suffix over them", "2", 1);
	expect_domains(r, 0, 10000, "o'hara", 10, "domains of a node with a quote",
		       "back\\slash.example.com=300/3/1 it's.example.com=300/2/1");
	expect_domains(r, 0, 10000, "back\\slash", 10, "domains of a node with a backslash",
		       "q\"uote.example.org=300/4/1");

	/* what is not a name finds nothing and changes nothing */
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		f = (struct store_filter){.node = evil[i]};
		expect_rows(r, &f, evil[i], "", 0);
		f = (struct store_filter){.domain = evil[i]};
		expect_rows(r, &f, evil[i], "", 0);
		df = (struct store_dns_filter){.node = evil[i]};
		expect_dns(r, &df, evil[i], "", 0);
		df = (struct store_dns_filter){.name = evil[i]};
		expect_dns(r, &df, evil[i], "", 0);
		expect_domains(r, 0, 10000, evil[i], 10, evil[i], "");
	}
	f = (struct store_filter){0};
	expect_rows(r, &f, "intact", "4,3,2,1", 4);
	df = (struct store_dns_filter){0};
	expect_dns(r, &df, "DNS intact", "2,1", 2);
	expect_node_names(r, "nodes intact", "back\\slash,o'hara,x'; DROP TABLE flows; --");
	for (int i = 0; i < 3; i++)
		batch_free(&b[i]);
out:
	store_reader_close(r);
	store_close(s);
}

/* A record to itself is found once by its address and port; names compare without
 * regard to ASCII case only ("Ü" is not "ü"), and are shown lower case in ASCII only.
 * (The names are spelt with \u00fc for "ü" and \u00dc for "Ü".) */
static void test_self_connection_once_and_ascii_case_only(void)
{
	struct store *s = open_store("edges");
	struct store_reader *r = open_reader("edges");
	struct store_dns_filter df;
	struct store_filter f;
	struct wire_batch b;
	struct wire_dns d;
	bool dup;

	if (!s || !r)
		goto out;
	batch_init(&b, "n", "boot", 1, 1000, 2000, 3);
	rec_set(&b.records[0], 1, "10.0.0.9", 5000, "10.0.0.9", 5000, 6, "B\u00fccher.Example.com");
	rec_set(&b.records[1], 2, "10.0.0.1", 1, "10.0.0.9", 80, 6, "b\u00fccher.example.com");
	rec_set(&b.records[2], 3, "10.0.0.1", 2, "10.0.0.2", 80, 6, "B\u00dcCHER.example.com");
	dns_set(&d, 1, 1500, "B\u00fccher.example.com", 1, "10.0.0.9", "10.0.0.53");
	b.dns = &d;
	b.ndns = 1;
	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	batch_free(&b);

	f = (struct store_filter){.has_ip = true};
	addr(f.ip, "10.0.0.9");
	expect_rows(r, &f, "to itself: by address, once", "2,1", 2);
	f = (struct store_filter){.has_src_ip = true, .has_dst_ip = true};
	addr(f.src_ip, "10.0.0.9");
	addr(f.dst_ip, "10.0.0.9");
	expect_rows(r, &f, "to itself: by both addresses", "1", 1);
	f = (struct store_filter){.has_port = true, .port = 5000};
	expect_rows(r, &f, "to itself: by port, once", "1", 1);
	f = (struct store_filter){.has_ip = true, .has_port = true, .port = 5000};
	addr(f.ip, "10.0.0.9");
	expect_rows(r, &f, "to itself: by address and port, once", "1", 1);

	f = (struct store_filter){.domain = "b\u00fcCHER.example.COM"};
	expect_rows(r, &f, "ASCII case folded", "2,1", 2);
	f = (struct store_filter){.domain = "B\u00dcCHER.EXAMPLE.COM"};
	expect_rows(r, &f, "non-ASCII case kept", "3", 1);
	f = (struct store_filter){.domain = ".example.com"};
	expect_rows(r, &f, "all below example.com", "3,2,1", 3);
	expect_domains(r, 0, 10000, NULL, 10, "shown lower case in ASCII",
		       "b\u00fccher.example.com=600/5/2 b\u00dccher.example.com=300/4/1");
	df = (struct store_dns_filter){.name = "b\u00fcCHER.Example.com"};
	expect_dns(r, &df, "DNS: ASCII case folded", "1", 1);
	df = (struct store_dns_filter){.name = "B\u00dcCHER.example.com"};
	expect_dns(r, &df, "DNS: non-ASCII case kept", "", 0);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- DNS records ---- */

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
	d[3].server_port = 5353;
	for (int i = 0; i < WIRE_DNS_MAX_ANSWERS; i++)
		dns_answer(&d[3], 1, (uint32_t)i, "10.9.9.9");

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

static void same_dns(const struct wire_dns *got, const struct wire_dns *want)
{
	CHECK_EQ_U64(got->ts_ms, want->ts_ms);
	CHECK_EQ_STR(got->name, want->name);
	CHECK_EQ_INT(got->qtype, want->qtype);
	CHECK_EQ_INT(got->rcode, want->rcode);
	CHECK_EQ_INT(got->answered, want->answered);
	CHECK_EQ_U64(got->latency_us, want->latency_us);
	CHECK_EQ_INT(got->ip_version, want->ip_version);
	CHECK(memcmp(got->client_addr, want->client_addr, 16) == 0);
	CHECK(memcmp(got->server_addr, want->server_addr, 16) == 0);
	CHECK_EQ_INT(got->client_port, want->client_port);
	CHECK_EQ_INT(got->server_port, want->server_port);
	if (!CHECK_EQ_U64(got->nanswers, want->nanswers))
		return;
	for (size_t j = 0; j < got->nanswers; j++) {
		CHECK_EQ_INT(got->answers[j].type, want->answers[j].type);
		CHECK_EQ_U64(got->answers[j].ttl, want->answers[j].ttl);
		CHECK(memcmp(got->answers[j].addr, want->answers[j].addr, 16) == 0);
		CHECK_EQ_STR(got->answers[j].target, want->answers[j].target);
	}
}

static void test_dns_records_every_filter(void)
{
	struct store *s = open_store("dns");
	struct store_reader *r = open_reader("dns");
	struct store_dns_filter f;
	struct store_dns_result res = {0};
	struct wire_dns d[4];

	if (!s || !r)
		goto out;
	dns_fill(s, d);

	/* every field of every row, newest first */
	f = (struct store_dns_filter){0};
	if (CHECK_EQ_INT(store_query_dns(r, &f, &res), 0)) {
		CHECK_EQ_U64(res.total, 4);
		CHECK(!res.total_capped);
		if (CHECK_EQ_INT(res.n, 4)) {
			CHECK_EQ_STR(res.rows[0].node, "n2");
			CHECK_EQ_STR(res.rows[1].node, "n2");
			CHECK_EQ_STR(res.rows[2].node, "n1");
			CHECK_EQ_STR(res.rows[3].node, "n1");
			for (int i = 0; i < 4; i++)
				same_dns(&res.rows[i].dns, &d[3 - i]);
		}
		store_dns_result_fini(&res);
	}
	expect_dns(r, &f, "none", "4,3,2,1", 4);

	f = (struct store_dns_filter){.has_start = true, .start_ms = 1200};
	expect_dns(r, &f, "start (inclusive)", "4,3,2", 3);
	f = (struct store_dns_filter){
	    .has_start = true, .start_ms = 1200, .has_end = true, .end_ms = 2200};
	expect_dns(r, &f, "start+end (end exclusive)", "3,2", 2);
	f = (struct store_dns_filter){.has_end = true, .end_ms = 1100};
	expect_dns(r, &f, "end at the first", "", 0);
	f = (struct store_dns_filter){.node = "n1"};
	expect_dns(r, &f, "node", "2,1", 2);
	f = (struct store_dns_filter){.node = "n3"};
	expect_dns(r, &f, "unknown node", "", 0);
	f = (struct store_dns_filter){.has_client = true};
	addr(f.client_ip, "10.0.0.1");
	expect_dns(r, &f, "client v4", "3,1", 2);
	f = (struct store_dns_filter){.has_client = true};
	addr(f.client_ip, "fd00::1");
	expect_dns(r, &f, "client v6", "4", 1);
	f = (struct store_dns_filter){.has_client = true};
	addr(f.client_ip, "10.0.0.53"); /* a server, never a client */
	expect_dns(r, &f, "client is a server", "", 0);
	f = (struct store_dns_filter){.name = "example.com"};
	expect_dns(r, &f, "name exact", "2", 1);
	f = (struct store_dns_filter){.name = "WWW.example.com"};
	expect_dns(r, &f, "name exact, any case", "1", 1);
	f = (struct store_dns_filter){.name = "mixed.example.com"};
	expect_dns(r, &f, "name exact, stored in another case", "4", 1);
	f = (struct store_dns_filter){.name = ".example.com"};
	expect_dns(r, &f, "name suffix", "4,2,1", 3);
	f = (struct store_dns_filter){.name = ".EXAMPLE.com"};
	expect_dns(r, &f, "name suffix, any case", "4,2,1", 3);
	f = (struct store_dns_filter){.name = ".org"};
	expect_dns(r, &f, "name suffix .org", "3", 1);
	f = (struct store_dns_filter){.name = "ample.com"};
	expect_dns(r, &f, "name is not a substring", "", 0);
	f = (struct store_dns_filter){.name = ".ample.com"};
	expect_dns(r, &f, "suffix is whole labels", "", 0);
	f = (struct store_dns_filter){.name = ".example.com",
				      .node = "n1",
				      .has_client = true,
				      .has_end = true,
				      .end_ms = 1150};
	addr(f.client_ip, "10.0.0.1");
	expect_dns(r, &f, "name+node+client+end", "1", 1);
	f = (struct store_dns_filter){.node = "n2", .has_client = true};
	addr(f.client_ip, "10.0.0.1");
	expect_dns(r, &f, "node+client", "3", 1);
	f = (struct store_dns_filter){.node = "n2", .name = ".example.com"};
	expect_dns(r, &f, "node+name", "4", 1);
	f = (struct store_dns_filter){.has_start = true, .start_ms = 1150, .name = ".com"};
	expect_dns(r, &f, "start+name", "4,2", 2);
	f = (struct store_dns_filter){.limit = 2, .offset = 1};
	expect_dns(r, &f, "limit+offset", "3,2", 4);
	f = (struct store_dns_filter){.limit = 2, .offset = 4};
	expect_dns(r, &f, "offset past end", "", 4);
	f = (struct store_dns_filter){.limit = 2, .offset = UINT64_MAX};
	expect_dns(r, &f, "offset huge", "", 4);
	f = (struct store_dns_filter){.name = ".example.com", .limit = 1, .offset = 1};
	expect_dns(r, &f, "name+limit+offset", "2", 3);
	f = (struct store_dns_filter){.limit = STORE_HISTORY_LIMIT_MAX};
	expect_dns(r, &f, "limit max", "4,3,2,1", 4);

	f = (struct store_dns_filter){.limit = STORE_HISTORY_LIMIT_MAX + 1};
	CHECK_EQ_INT(store_query_dns(r, &f, &res), -EINVAL);
	CHECK(store_reader_last_error(r)[0] != '\0');
	f = (struct store_dns_filter){.name = "."};
	CHECK_EQ_INT(store_query_dns(r, &f, &res), -EINVAL);
	f = (struct store_dns_filter){.name = ""};
	CHECK_EQ_INT(store_query_dns(r, &f, &res), -EINVAL);
	f = (struct store_dns_filter){.name = too_long_name()};
	CHECK_EQ_INT(store_query_dns(r, &f, &res), -EINVAL);
	CHECK(res.rows == NULL && res.n == 0);
	f = (struct store_dns_filter){.has_start = true, .start_ms = UINT64_MAX};
	expect_dns(r, &f, "start at the end of time", "", 0);
	f = (struct store_dns_filter){.has_end = true, .end_ms = UINT64_MAX};
	expect_dns(r, &f, "end at the end of time", "4,3,2,1", 4);
out:
	store_reader_close(r);
	store_close(s);
}

/* Names of the longest length lib/wire lets through, stored and found whole. */
static void test_longest_names_stored_and_found(void)
{
	struct store *s = open_store("longest");
	struct store_reader *r = open_reader("longest");
	char node[WIRE_NAME_MAX + 1], domain[WIRE_NAME_MAX + 1], suffix[WIRE_NAME_MAX + 2];
	char want[WIRE_NAME_MAX + 32];
	struct store_dns_filter df;
	struct store_dns_result res;
	struct store_node *nodes = NULL;
	struct store_filter f;
	struct store_history h;
	struct wire_batch b;
	struct wire_dns d;
	size_t n = 0;
	bool dup;

	if (!s || !r)
		goto out;
	memset(node, 'n', WIRE_NAME_MAX);
	node[WIRE_NAME_MAX] = '\0';
	/* "xx...x.example.com", WIRE_NAME_MAX bytes */
	memset(domain, 'x', WIRE_NAME_MAX);
	memcpy(domain + WIRE_NAME_MAX - strlen(".example.com"), ".example.com",
	       strlen(".example.com") + 1);
	snprintf(suffix, sizeof(suffix), ".%s", domain);
	batch_init(&b, node, "", 1, 1000, 2000, 1);
	memset(b.boot_id, 'b', WIRE_BOOT_ID_MAX);
	b.boot_id[WIRE_BOOT_ID_MAX] = '\0';
	memset(b.agent_version, 'v', WIRE_VERSION_MAX);
	b.agent_version[WIRE_VERSION_MAX] = '\0';
	rec_set(&b.records[0], 1, "10.0.0.1", 1, "10.0.0.2", 443, 6, domain);
	memset(b.records[0].interface, 'i', sizeof(b.records[0].interface) - 1);
	b.records[0].interface[sizeof(b.records[0].interface) - 1] = '\0';
	snprintf(b.records[0].src_hostname, sizeof(b.records[0].src_hostname), "%s", domain);
	snprintf(b.records[0].dst_hostname, sizeof(b.records[0].dst_hostname), "%s", domain);
	dns_set(&d, 1, 1500, domain, 5, "10.0.0.1", "10.0.0.53");
	dns_answer(&d, 5, 60, domain);
	b.dns = &d;
	b.ndns = 1;
	CHECK_EQ_INT(append1(s, &b, &dup), 0);

	f = (struct store_filter){0};
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		if (CHECK_EQ_INT(h.n, 1)) {
			CHECK_EQ_STR(h.rows[0].node, node);
			CHECK_EQ_STR(h.rows[0].rec.domain, domain);
			CHECK_EQ_STR(h.rows[0].rec.interface, b.records[0].interface);
			CHECK_EQ_STR(h.rows[0].rec.src_hostname, domain);
			CHECK_EQ_STR(h.rows[0].rec.dst_hostname, domain);
		}
		store_history_fini(&h);
	}
	f = (struct store_filter){.node = node};
	expect_rows(r, &f, "longest node", "1", 1);
	f = (struct store_filter){.domain = domain};
	expect_rows(r, &f, "longest domain", "1", 1);
	f = (struct store_filter){.domain = suffix};
	expect_rows(r, &f, "longest domain as a suffix", "1", 1);
	f = (struct store_filter){.domain = ".example.com"};
	expect_rows(r, &f, "below example.com", "1", 1);
	df = (struct store_dns_filter){.name = suffix, .node = node};
	if (CHECK_EQ_INT(store_query_dns(r, &df, &res), 0)) {
		if (CHECK_EQ_INT(res.n, 1)) {
			CHECK_EQ_STR(res.rows[0].node, node);
			same_dns(&res.rows[0].dns, &d);
		}
		store_dns_result_fini(&res);
	}
	snprintf(want, sizeof(want), "%s=300/2/1", domain);
	expect_domains(r, 0, 10000, node, 10, "longest domain, of the longest node", want);
	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	if (CHECK_EQ_INT(n, 1)) {
		CHECK_EQ_STR(nodes[0].name, node);
		CHECK_EQ_STR(nodes[0].boot_id, b.boot_id);
		CHECK_EQ_STR(nodes[0].agent_version, b.agent_version);
	}
	store_nodes_free(nodes);
	batch_free(&b);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- top domains ---- */

static void test_top_domains_order_ties_node_range_limit(void)
{
	struct store *s = open_store("domains");
	struct store_reader *r = open_reader("domains");
	struct wire_batch b[3];
	const struct wire_batch *v[3] = {&b[0], &b[1], &b[2]};
	struct store_domains d = {0};
	bool dup[3];

	if (!s || !r)
		goto out;
	/* rec_set: packets = tag + 1; bytes set below */
	batch_init(&b[0], "n1", "boot", 1, 1000, 2000, 3);
	rec_set(&b[0].records[0], 10, "10.0.0.1", 1, "10.0.0.2", 443, 6, "example.com");
	b[0].records[0].bytes_sent = 1000;
	b[0].records[0].bytes_received = 4000;
	rec_set(&b[0].records[1], 20, "10.0.0.1", 2, "10.0.0.3", 443, 6, "a.example.com");
	rec_set(&b[0].records[2], 30, "10.0.0.1", 3, "10.0.0.4", 443, 6, ""); /* no domain */
	b[0].records[2].bytes_sent = 99999;
	batch_init(&b[1], "n1", "boot", 2, 2000, 3000, 2);
	rec_set(&b[1].records[0], 40, "10.0.0.1", 4, "10.0.0.2", 443, 6, "Example.COM");
	b[1].records[0].bytes_sent = 500;
	b[1].records[0].bytes_received = 500;
	rec_set(&b[1].records[1], 50, "10.0.0.1", 5, "10.0.0.5", 443, 6, "b.example.org");
	b[1].records[1].bytes_sent = 2000;
	b[1].records[1].bytes_received = 0;
	batch_init(&b[2], "n2", "boot", 1, 3000, 4000, 3);
	rec_set(&b[2].records[0], 60, "10.0.0.6", 6, "10.0.0.5", 443, 6, "b.example.org");
	b[2].records[0].bytes_sent = 1000;
	b[2].records[0].bytes_received = 1000;
	rec_set(&b[2].records[1], 70, "10.0.0.6", 7, "10.0.0.7", 443, 6, "c.example.net");
	b[2].records[1].bytes_sent = 50;
	b[2].records[1].bytes_received = 50;
	/* a tie with c.example.net: in the order of the reversed names (z.example.com first) */
	rec_set(&b[2].records[2], 80, "10.0.0.6", 8, "10.0.0.8", 443, 6, "z.example.com");
	b[2].records[2].bytes_sent = 100;
	b[2].records[2].bytes_received = 0;
	CHECK_EQ_INT(store_append(s, v, 3, dup), 0);
	for (int i = 0; i < 3; i++)
		batch_free(&b[i]);

	expect_domains(r, 0, 10000, NULL, 10, "all",
		       "example.com=6000/52/2 b.example.org=4000/112/2 a.example.com=300/21/1 "
		       "z.example.com=100/81/1 c.example.net=100/71/1");
	expect_domains(r, 0, 10000, NULL, 2, "limit",
		       "example.com=6000/52/2 b.example.org=4000/112/2");
	expect_domains(r, 0, 10000, NULL, 4, "limit inside a tie",
		       "example.com=6000/52/2 b.example.org=4000/112/2 a.example.com=300/21/1 "
		       "z.example.com=100/81/1");
	expect_domains(r, 0, 10000, NULL, STORE_DOMAINS_LIMIT_MAX, "limit max",
		       "example.com=6000/52/2 b.example.org=4000/112/2 a.example.com=300/21/1 "
		       "z.example.com=100/81/1 c.example.net=100/71/1");
	expect_domains(r, 2000, 3000, NULL, 10, "range",
		       "b.example.org=2000/51/1 example.com=1000/41/1");
	expect_domains(r, 1000, 2000, NULL, 10, "range: start inclusive, end exclusive",
		       "example.com=5000/11/1 a.example.com=300/21/1");
	expect_domains(r, 0, 10000, "n2", 10, "node",
		       "b.example.org=2000/61/1 z.example.com=100/81/1 c.example.net=100/71/1");
	expect_domains(r, 2000, 10000, "n1", 10, "node+range",
		       "b.example.org=2000/51/1 example.com=1000/41/1");
	expect_domains(r, 0, 10000, "n3", 10, "unknown node", "");
	expect_domains(r, 4000, 9000, NULL, 10, "empty range", "");
	expect_domains(r, 3000, 3000, NULL, 10, "start = end", "");
	expect_domains(r, UINT64_MAX, UINT64_MAX, NULL, 10, "at the end of time", "");
	expect_domains(r, 0, UINT64_MAX, NULL, 10, "the whole range of times",
		       "example.com=6000/52/2 b.example.org=4000/112/2 a.example.com=300/21/1 "
		       "z.example.com=100/81/1 c.example.net=100/71/1");
	CHECK_EQ_INT(store_query_domains(r, 0, 1, NULL, 0, &d), -EINVAL);
	CHECK(store_reader_last_error(r)[0] != '\0');
	CHECK_EQ_INT(store_query_domains(r, 0, 1, NULL, STORE_DOMAINS_LIMIT_MAX + 1, &d), -EINVAL);
	CHECK(d.rows == NULL && d.n == 0);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- nodes ---- */

/* Every field of every node: the newest batch's report (highest seq of the newest boot,
 * whatever the order of arrival), and the counts over all its batches. */
static void test_nodes_every_field_from_the_newest_batch(void)
{
	struct store *s = open_store("nodes");
	struct store_reader *r = open_reader("nodes");
	struct store_node *nodes = (struct store_node *)1;
	struct wire_batch b[6];
	struct wire_dns d;
	size_t n = 99;
	bool dup;

	if (!s || !r)
		goto out;
	/* no node yet: NULL and 0 */
	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	CHECK(nodes == NULL);
	CHECK_EQ_INT(n, 0);

	/* c-node: two boots, the second newer */
	batch_init(&b[0], "c-node", "boot-1", 9, 1000, 2000, 1);
	batch_init(&b[1], "c-node", "boot-2", 1, 2000, 3000, 2);
	snprintf(b[1].agent_version, sizeof(b[1].agent_version), "0.3.0");
	/* b-node: seq 3, then seq 2 late; the report stays seq 3's */
	batch_init(&b[2], "b-node", "boot", 3, 3000, 4000, 2);
	snprintf(b[2].agent_version, sizeof(b[2].agent_version), "0.2.0");
	batch_init(&b[3], "b-node", "boot", 2, 2000, 3000, 1);
	/* a-node: one batch without flow records (DNS only) */
	batch_init(&b[4], "a-node", "boot-a", 1, 5000, 6000, 0);
	dns_set(&d, 1, 5500, "example.com", 1, "10.0.0.1", "10.0.0.53");
	b[4].dns = &d;
	b[4].ndns = 1;
	b[4].total_packets = 0;
	b[4].total_bytes = 0;
	b[4].active_connections = 0;
	/* d-node: nothing but the batch (a node that saw no traffic) */
	batch_init(&b[5], "d-node", "boot-d", 7, 7000, 8000, 0);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ_INT(append1(s, &b[i], &dup), 0);
		CHECK(!dup);
	}
	CHECK_EQ_INT(append1(s, &b[5], &dup), 0);
	CHECK(dup); /* an empty batch is deduplicated too */

	nodes = NULL;
	n = 0;
	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	if (CHECK_EQ_INT(n, 4)) {
		const struct store_node *a = &nodes[0], *bn = &nodes[1], *c = &nodes[2];
		const struct store_node *dn = &nodes[3];

		CHECK_EQ_STR(a->name, "a-node");
		CHECK_EQ_STR(a->boot_id, "boot-a");
		CHECK_EQ_STR(a->agent_version, "0.1.0");
		CHECK_EQ_U64(a->last_seq, 1);
		CHECK_EQ_U64(a->first_seen_ms, 5000);
		CHECK_EQ_U64(a->last_seen_ms, 6000);
		CHECK_EQ_U64(a->total_packets, 0);
		CHECK_EQ_U64(a->total_bytes, 0);
		CHECK_EQ_U64(a->active_connections, 0);
		for (int i = 0; i < WIRE_LOSS_MAX; i++)
			CHECK_EQ_U64(a->lost[i], 10 + (uint64_t)i);
		CHECK_EQ_U64(a->batches, 1);
		CHECK_EQ_U64(a->records, 0);

		CHECK_EQ_STR(bn->name, "b-node");
		CHECK_EQ_STR(bn->boot_id, "boot");
		CHECK_EQ_STR(bn->agent_version, "0.2.0");
		CHECK_EQ_U64(bn->last_seq, 3);
		CHECK_EQ_U64(bn->first_seen_ms, 2000);
		CHECK_EQ_U64(bn->last_seen_ms, 4000);
		CHECK_EQ_U64(bn->total_packets, 1003);
		CHECK_EQ_U64(bn->total_bytes, 2003);
		CHECK_EQ_U64(bn->active_connections, 6);
		for (int i = 0; i < WIRE_LOSS_MAX; i++)
			CHECK_EQ_U64(bn->lost[i], 30 + (uint64_t)i);
		CHECK_EQ_U64(bn->batches, 2);
		CHECK_EQ_U64(bn->records, 3);

		CHECK_EQ_STR(c->name, "c-node");
		CHECK_EQ_STR(c->boot_id, "boot-2");
		CHECK_EQ_STR(c->agent_version, "0.3.0");
		CHECK_EQ_U64(c->last_seq, 1);
		CHECK_EQ_U64(c->first_seen_ms, 1000);
		CHECK_EQ_U64(c->last_seen_ms, 3000);
		CHECK_EQ_U64(c->total_packets, 1001);
		CHECK_EQ_U64(c->total_bytes, 2001);
		CHECK_EQ_U64(c->active_connections, 4);
		for (int i = 0; i < WIRE_LOSS_MAX; i++)
			CHECK_EQ_U64(c->lost[i], 10 + (uint64_t)i);
		CHECK_EQ_U64(c->batches, 2);
		CHECK_EQ_U64(c->records, 3);

		CHECK_EQ_STR(dn->name, "d-node");
		CHECK_EQ_STR(dn->boot_id, "boot-d");
		CHECK_EQ_U64(dn->last_seq, 7);
		CHECK_EQ_U64(dn->first_seen_ms, 7000);
		CHECK_EQ_U64(dn->last_seen_ms, 8000);
		CHECK_EQ_U64(dn->total_packets, 1007);
		CHECK_EQ_U64(dn->total_bytes, 2007);
		CHECK_EQ_U64(dn->active_connections, 10);
		for (int i = 0; i < WIRE_LOSS_MAX; i++)
			CHECK_EQ_U64(dn->lost[i], 70 + (uint64_t)i);
		CHECK_EQ_U64(dn->batches, 1);
		CHECK_EQ_U64(dn->records, 0);
	}
	store_nodes_free(nodes);
	for (int i = 0; i < 6; i++)
		batch_free(&b[i]);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- opening ---- */

static void test_reopen_keeps_data_and_dedup(void)
{
	struct store *s = open_store("reopen");
	struct store_reader *r = NULL;
	struct store_dns_filter df = {0};
	struct wire_batch b1, b2;
	struct wire_dns d;
	bool dup = true;

	if (!s)
		return;
	batch_init(&b1, "n", "boot", 1, 1000, 2000, 3);
	dns_set(&d, 7, 1500, "example.com", 1, "10.0.0.1", "10.0.0.53");
	b1.dns = &d;
	b1.ndns = 1;
	batch_init(&b2, "n", "boot", 2, 2000, 3000, 2);
	CHECK_EQ_INT(append1(s, &b1, &dup), 0);
	store_close(s);

	/* opened again: the schema is there already (not made twice), the data too */
	s = open_store("reopen");
	r = open_reader("reopen");
	if (s && r) {
		CHECK_EQ_U64(count_all(r), 3);
		expect_dns(r, &df, "DNS after reopening", "7", 1);
		CHECK_EQ_INT(append1(s, &b1, &dup), 0);
		CHECK(dup); /* the dedup set survived too */
		CHECK_EQ_INT(append1(s, &b2, &dup), 0);
		CHECK(!dup);
		CHECK_EQ_U64(count_all(r), 5);
	}
	store_reader_close(r);
	store_close(s);
	/* and a third time, with a reader first */
	r = open_reader("reopen");
	s = open_store("reopen");
	if (s && r) {
		struct store_filter f = {0};

		expect_rows(r, &f, "after the third opening", "2001,2000,1002,1001,1000", 5);
		expect_node_names(r, "one node", "n");
	}
	store_reader_close(r);
	store_close(s);
	batch_free(&b1);
	batch_free(&b2);
}

/* A reader opens only a store that a writer has made: ENOENT before, the store named. */
static void test_reader_needs_a_store_a_writer_made(void)
{
	struct store_config cfg;
	struct store_reader *r;
	struct store *s;
	char name[4200];
	char err[512];

	store_make("unmade"); /* a ClickHouse database without ayaflow's tables */
	if (!store_cfg("unmade", &cfg))
		return;
	store_url_format(&cfg.url, name, sizeof(name));
	err[0] = '\0';
	errno = 0;
	r = store_reader_open(&cfg, err, sizeof(err));
	CHECK(r == NULL);
	CHECK_EQ_INT(errno, ENOENT);
	CHECK_CONTAINS(err, name);
	store_reader_close(r);

	s = open_store("unmade");
	r = open_reader("unmade");
	if (r) {
		struct store_filter f = {0};
		struct store_dns_filter df = {0};

		expect_rows(r, &f, "new store", "", 0);
		expect_dns(r, &df, "new store, DNS", "", 0);
		expect_domains(r, 0, UINT64_MAX, NULL, 10, "new store, domains", "");
		expect_node_names(r, "new store, nodes", "");
	}
	store_reader_close(r);
	store_close(s);
}

/* ---- following other writers ---- */

static void follow_count(void *arg, const struct wire_batch *b)
{
	(void)b;
	(*(unsigned *)arg)++;
}

/* store_follow delivers what other collectors stored: a store written by this writer
 * alone has nothing to deliver, however often it is asked. */
static void test_follow_finds_no_batch_of_its_own(void)
{
	struct store *s = open_store("follow");
	struct wire_batch b;
	unsigned calls = 0;
	size_t n = 99;
	bool more = true;
	bool dup;

	if (!s)
		return;
	CHECK_EQ_STR(store_last_error(s), "");
	CHECK_EQ_INT(store_follow(s, follow_count, &calls, &n, &more), 0);
	CHECK_EQ_INT(n, 0);
	CHECK(!more);
	batch_init(&b, "n", "boot", 1, now_ms() - 5000, now_ms(), 3);
	CHECK_EQ_INT(append1(s, &b, &dup), 0);
	for (int i = 0; i < 2; i++) {
		n = 99;
		more = true;
		CHECK_EQ_INT(store_follow(s, follow_count, &calls, &n, &more), 0);
		CHECK_EQ_INT(n, 0);
		CHECK(!more);
	}
	CHECK_EQ_INT(calls, 0);
	batch_free(&b);
	store_close(s);
}

/* ---- readers beside the writer ---- */

/* A reader opened before the writer stores sees each append once it has returned. */
static void test_reader_sees_each_append_once_returned(void)
{
	struct store *s = open_store("visible");
	struct store_reader *r = open_reader("visible");
	struct store_reader *r2 = open_reader("visible");
	struct store_dns_filter df = {0};
	struct store_filter f = {0};
	struct wire_batch b;
	struct wire_dns d;
	bool dup;

	if (!s || !r || !r2)
		goto out;
	expect_rows(r, &f, "empty", "", 0);
	for (uint64_t seq = 1; seq <= 5; seq++) {
		batch_init(&b, "n", "boot", seq, seq * 1000, seq * 1000 + 1000, 2);
		dns_set(&d, (uint16_t)seq, seq * 1000 + 10, "example.com", 1, "10.0.0.1",
			"10.0.0.53");
		b.dns = &d;
		b.ndns = 1;
		CHECK_EQ_INT(append1(s, &b, &dup), 0);
		CHECK_EQ_U64(count_all(r), seq * 2);
		CHECK_EQ_U64(count_all(r2), seq * 2);
		if (seq == 3) {
			expect_rows(r, &f, "after 3", "3001,3000,2001,2000,1001,1000", 6);
			expect_dns(r2, &df, "DNS after 3", "3,2,1", 3);
		}
		batch_free(&b);
	}
	expect_dns(r, &df, "DNS after 5", "5,4,3,2,1", 5);
	{
		struct store_node *nodes = NULL;
		size_t n = 0;

		CHECK_EQ_INT(store_list_nodes(r2, &nodes, &n), 0);
		if (CHECK_EQ_INT(n, 1)) {
			CHECK_EQ_U64(nodes[0].last_seq, 5);
			CHECK_EQ_U64(nodes[0].batches, 5);
			CHECK_EQ_U64(nodes[0].records, 10);
		}
		store_nodes_free(nodes);
	}
out:
	store_reader_close(r2);
	store_reader_close(r);
	store_close(s);
}

#define BUSY_BATCHES 60
#define BUSY_RECORDS 10

static void *busy_writer(void *arg)
{
	struct store *s = arg;
	struct wire_batch b;
	long failures = 0;
	bool dup;

	for (uint64_t seq = 1; seq <= BUSY_BATCHES; seq++) {
		batch_init(&b, "busy", "boot", seq, seq * 1000, seq * 1000 + 1000, BUSY_RECORDS);
		if (append1(s, &b, &dup) != 0 || dup)
			failures++;
		batch_free(&b);
	}
	return (void *)failures;
}

/* While the writer stores, every query of a reader sees whole batches, never part of
 * one, and never fewer than an earlier query. */
static void test_readers_beside_a_busy_writer_see_whole_batches(void)
{
	struct store *s = open_store("busy");
	struct store_reader *r = open_reader("busy");
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
	if (!CHECK_EQ_INT(pthread_create(&writer, NULL, busy_writer, s), 0))
		goto out;
	while (last < BUSY_BATCHES * BUSY_RECORDS && queries < 1000000) {
		struct store_history h;

		if (store_query_history(r, &f, &h) != 0) {
			failed = true;
			break;
		}
		queries++;
		torn |= h.total % BUSY_RECORDS != 0 || h.n % 5 != 0;
		backwards |= h.total < last;
		last = h.total;
		store_history_fini(&h);
	}
	CHECK_EQ_INT(pthread_join(writer, &failures), 0);
	CHECK_EQ_INT((long)failures, 0);
	CHECK(!failed);
	CHECK(!torn);
	CHECK(!backwards);
	CHECK(queries > 1);
	CHECK_EQ_U64(count_all(r), BUSY_BATCHES * BUSY_RECORDS);
out:
	store_reader_close(r);
	store_close(s);
}

/* ---- retention ---- */

/* Retention to older_than_ms, step by step until a step deletes less than max_rows (as
 * ingest runs it; a backend may delete more than max_rows a step: store.h). The rows
 * deleted in all, or UINT64_MAX on an error. */
static uint64_t retain(struct store *s, uint64_t older_than_ms, unsigned max_rows)
{
	uint64_t total = 0;
	unsigned deleted = max_rows;
	unsigned steps = 0;

	while (deleted >= max_rows && steps++ < 10000) {
		if (!CHECK_EQ_INT(store_retention_step(s, older_than_ms, max_rows, &deleted), 0)) {
			fprintf(stderr, "    %s\n", store_last_error(s));
			return UINT64_MAX;
		}
		total += deleted;
	}
	CHECK(deleted < max_rows);
	return total;
}

/* Batches on day 10, 11 and 12: cutoffs where SQLite (every ts < cutoff goes) and
 * ClickHouse (a day goes once all of it is older than the cutoff) agree, since no record
 * lies between the start of the cutoff's day and the cutoff. The dedup entries stay
 * (they are younger than STORE_DEDUP_WINDOW_MS), the nodes keep their counts. */
static void test_retention_by_days_keeps_dedup_and_node_counts(void)
{
	struct store *s = open_store("retention");
	struct store_reader *r = open_reader("retention");
	struct wire_batch b10, b11, b12, b13;
	struct store_dns_filter df = {0};
	struct store_node *nodes = NULL;
	struct store_filter f;
	struct wire_dns d[3];
	unsigned deleted = 99;
	size_t n = 0;
	bool dup;

	if (!s || !r)
		goto out;
	batch_init(&b10, "n1", "boot", 1, 10 * DAY_MS + 1000, 10 * DAY_MS + 6000, 2);
	snprintf(b10.records[0].domain, sizeof(b10.records[0].domain), "example.com");
	dns_set(&d[0], 1, 10 * DAY_MS + 2000, "example.com", 1, "10.0.0.1", "10.0.0.53");
	b10.dns = &d[0];
	b10.ndns = 1;
	batch_init(&b11, "n1", "boot", 2, 11 * DAY_MS + 5000, 11 * DAY_MS + 10000, 3);
	snprintf(b11.records[0].domain, sizeof(b11.records[0].domain), "a.example.com");
	dns_set(&d[1], 2, 11 * DAY_MS + 7000, "a.example.com", 1, "10.0.0.1", "10.0.0.53");
	b11.dns = &d[1];
	b11.ndns = 1;
	batch_init(&b12, "n2", "boot", 1, 12 * DAY_MS, 12 * DAY_MS + 5000, 4); /* day 12's 1st ms */
	snprintf(b12.records[0].domain, sizeof(b12.records[0].domain), "example.com");
	dns_set(&d[2], 3, 12 * DAY_MS + 100, "example.com", 1, "10.0.0.1", "10.0.0.53");
	b12.dns = &d[2];
	b12.ndns = 1;
	batch_init(&b13, "n2", "boot", 2, 13 * DAY_MS, 13 * DAY_MS + 5000, 1);
	CHECK_EQ_INT(append1(s, &b10, &dup), 0);
	CHECK_EQ_INT(append1(s, &b11, &dup), 0);
	CHECK_EQ_INT(append1(s, &b12, &dup), 0);
	f = (struct store_filter){0};
	expect_rows(r, &f, "all", "1003,1002,1001,1000,2002,2001,2000,1001,1000", 9);

	/* nothing is deleted in a step of no rows */
	CHECK_EQ_INT(store_retention_step(s, UINT64_MAX, 0, &deleted), 0);
	CHECK_EQ_INT(deleted, 0);
	CHECK_EQ_U64(count_all(r), 9);
	/* nothing is older than the first day */
	CHECK_EQ_U64(retain(s, 10 * DAY_MS, 3), 0);
	CHECK_EQ_U64(count_all(r), 9);

	/* a cutoff inside day 11, before its records: day 10 goes, day 11 stays */
	CHECK(retain(s, 11 * DAY_MS + 3000, 3) > 0);
	f = (struct store_filter){0};
	expect_rows(r, &f, "day 10 gone", "1003,1002,1001,1000,2002,2001,2000", 7);
	expect_dns(r, &df, "day 10's DNS gone", "3,2", 2);
	f = (struct store_filter){.has_ip = true};
	addr(f.ip, "10.1.0.2");
	expect_rows(r, &f, "day 10 gone, by address", "1003,1002,1001,1000,2002,2001,2000", 7);
	f = (struct store_filter){.domain = ".example.com"};
	expect_rows(r, &f, "day 10 gone, by domain", "1000,2000", 2);
	expect_domains(r, 0, UINT64_MAX, NULL, 10, "day 10 gone, domains",
		       "example.com=300/1001/1 a.example.com=300/2001/1");

	/* the start of day 12: day 11 goes; a record at the cutoff stays */
	CHECK(retain(s, 12 * DAY_MS, 3) > 0);
	f = (struct store_filter){0};
	expect_rows(r, &f, "day 11 gone", "1003,1002,1001,1000", 4);
	f = (struct store_filter){.has_ip = true};
	addr(f.ip, "10.1.0.2");
	expect_rows(r, &f, "day 11 gone, by address", "1003,1002,1001,1000", 4);
	f = (struct store_filter){.has_src_ip = true};
	addr(f.src_ip, "10.1.0.1");
	expect_rows(r, &f, "day 11 gone, by source", "1003,1002,1001,1000", 4);
	f = (struct store_filter){.has_port = true, .port = 80};
	expect_rows(r, &f, "day 11 gone, by port", "1003,1002,1001,1000", 4);
	f = (struct store_filter){.has_proto = true, .proto = 6};
	expect_rows(r, &f, "day 11 gone, by protocol", "1003,1002,1001,1000", 4);
	f = (struct store_filter){.node = "n1"};
	expect_rows(r, &f, "day 11 gone, by node", "", 0);
	f = (struct store_filter){.domain = ".example.com"};
	expect_rows(r, &f, "day 11 gone, by domain", "1000", 1);
	expect_dns(r, &df, "day 11's DNS gone", "3", 1);
	expect_domains(r, 0, UINT64_MAX, NULL, 10, "day 11 gone, domains",
		       "example.com=300/1001/1");
	/* nothing more is due */
	CHECK_EQ_U64(retain(s, 12 * DAY_MS, 3), 0);
	CHECK_EQ_U64(count_all(r), 4);

	/* the nodes keep what they counted; the dedup entries stay: a retried old batch
	 * is still a duplicate, not stored again */
	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	if (CHECK_EQ_INT(n, 2)) {
		CHECK_EQ_STR(nodes[0].name, "n1");
		CHECK_EQ_U64(nodes[0].batches, 2);
		CHECK_EQ_U64(nodes[0].records, 5);
		CHECK_EQ_U64(nodes[0].last_seq, 2);
		CHECK_EQ_U64(nodes[0].first_seen_ms, 10 * DAY_MS + 1000);
		CHECK_EQ_U64(nodes[0].last_seen_ms, 11 * DAY_MS + 10000);
		CHECK_EQ_U64(nodes[0].total_packets, 1002);
		CHECK_EQ_STR(nodes[1].name, "n2");
		CHECK_EQ_U64(nodes[1].batches, 1);
		CHECK_EQ_U64(nodes[1].records, 4);
	}
	store_nodes_free(nodes);
	CHECK_EQ_INT(append1(s, &b10, &dup), 0);
	CHECK(dup);
	CHECK_EQ_INT(append1(s, &b11, &dup), 0);
	CHECK(dup);
	CHECK_EQ_U64(count_all(r), 4);
	expect_dns(r, &df, "retried batches store no DNS", "3", 1);

	/* everything: every record goes, the dedup entries and the nodes stay */
	CHECK(retain(s, UINT64_MAX, 3) > 0);
	CHECK_EQ_U64(count_all(r), 0);
	expect_dns(r, &df, "all DNS gone", "", 0);
	expect_domains(r, 0, UINT64_MAX, NULL, 10, "all gone, domains", "");
	f = (struct store_filter){.has_ip = true};
	addr(f.ip, "10.1.0.2");
	expect_rows(r, &f, "all gone, by address", "", 0);
	CHECK_EQ_INT(append1(s, &b12, &dup), 0);
	CHECK(dup);
	CHECK_EQ_INT(append1(s, &b10, &dup), 0);
	CHECK(dup);
	CHECK_EQ_U64(count_all(r), 0);
	nodes = NULL;
	CHECK_EQ_INT(store_list_nodes(r, &nodes, &n), 0);
	if (CHECK_EQ_INT(n, 2)) {
		CHECK_EQ_U64(nodes[0].batches, 2);
		CHECK_EQ_U64(nodes[0].records, 5);
		CHECK_EQ_U64(nodes[1].batches, 1);
		CHECK_EQ_U64(nodes[1].records, 4);
	}
	store_nodes_free(nodes);
	/* and a new batch is stored as ever */
	CHECK_EQ_INT(append1(s, &b13, &dup), 0);
	CHECK(!dup);
	f = (struct store_filter){0};
	expect_rows(r, &f, "a new batch after retention", "2000", 1);
	f = (struct store_filter){.has_dst_port = true, .dst_port = 80};
	expect_rows(r, &f, "a new batch after retention, by port", "2000", 1);
	batch_free(&b10);
	batch_free(&b11);
	batch_free(&b12);
	batch_free(&b13);
out:
	store_reader_close(r);
	store_close(s);
}

int main(void)
{
	if (!backend_setup())
		return 1;
	test_roundtrip_ipv4_ipv6_exact();
	test_duplicates_stored_once();
	test_failed_append_stores_nothing();
	test_history_filters_alone_and_combined();
	test_newest_first_whatever_the_order_stored();
	test_newest_first_near_now();
	test_totals_capped();
	test_quotes_backslashes_and_sql_are_data();
	test_longest_names_stored_and_found();
	test_self_connection_once_and_ascii_case_only();
	test_dns_records_every_filter();
	test_top_domains_order_ties_node_range_limit();
	test_nodes_every_field_from_the_newest_batch();
	test_reopen_keeps_data_and_dedup();
	test_reader_needs_a_store_a_writer_made();
	test_follow_finds_no_batch_of_its_own();
	test_reader_sees_each_append_once_returned();
	test_readers_beside_a_busy_writer_see_whole_batches();
	test_retention_by_days_keeps_dedup_and_node_counts();
	backend_cleanup();
	return check_exit();
}
