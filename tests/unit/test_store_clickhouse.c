/* test_store_clickhouse.c - what only the ClickHouse backend does, on a real
 * clickhouse-server that tests/clickhouse/server.sh started for this run
 * (AYAFLOW_TEST_CLICKHOUSE=clickhouse://127.0.0.1:PORT/, CH_DIR its directory, CH_PID
 * its pid). Each test uses a database of its own, created and dropped here over HTTP.
 * The behaviour both backends share is tests/unit/test_store.c's conformance suite.
 *
 * Checked here: opening errors (missing database, wrong password, unreachable server)
 * name the store and never the password; a newer schema is refused; two collectors
 * opening one database at once both migrate it; dedup holds across writers; a batch a
 * killed writer left half written is completed once, never stored twice; retention drops
 * whole days; the public schema's columns; a hung server is an -EAGAIN in bounded time. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "collector/store/clickhouse.h"
#include "collector/store/store.h"
#include "tests/unit/check.h"

static char base_url[256]; /* clickhouse://127.0.0.1:PORT/ */
static char http_url[256]; /* http://127.0.0.1:PORT/ */
static char password[128]; /* of user ayaflow */
static char answer[65536];
static size_t answer_len;

static size_t sql_write(char *p, size_t size, size_t n, void *arg)
{
	size_t len = size * n;

	(void)arg;
	if (answer_len + len >= sizeof(answer))
		len = sizeof(answer) - 1 - answer_len;
	memcpy(answer + answer_len, p, len);
	answer_len += len;
	answer[answer_len] = '\0';
	return size * n;
}

/* Runs one statement as the default user; the answer in `answer`. true on HTTP 200. */
static bool sql(const char *stmt)
{
	CURL *c = curl_easy_init();
	long status = 0;
	CURLcode rc;

	answer_len = 0;
	answer[0] = '\0';
	if (!c)
		return false;
	curl_easy_setopt(c, CURLOPT_URL, http_url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, stmt);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sql_write);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (status != 200)
		fprintf(stderr, "    SQL failed (%s): %s\n    %s\n", curl_easy_strerror(rc), stmt,
			answer);
	return status == 200;
}

static uint64_t sql_u64(const char *stmt)
{
	return sql(stmt) ? strtoull(answer, NULL, 10) : UINT64_MAX;
}

static void config_for(struct store_config *cfg, const char *db)
{
	char url[300];
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	snprintf(url, sizeof(url), "%s%s", base_url, db);
	CHECK_EQ_INT(store_url_parse(url, &cfg->url, err, sizeof(err)), 0);
}

/* A fresh database named db. */
static void db_fresh(const char *db)
{
	char stmt[200];

	snprintf(stmt, sizeof(stmt), "DROP DATABASE IF EXISTS %s", db);
	CHECK(sql(stmt));
	snprintf(stmt, sizeof(stmt), "CREATE DATABASE %s", db);
	CHECK(sql(stmt));
}

static void db_drop(const char *db)
{
	char stmt[200];

	snprintf(stmt, sizeof(stmt), "DROP DATABASE IF EXISTS %s", db);
	CHECK(sql(stmt));
}

static struct store *open_store(const char *db)
{
	struct store_config cfg;
	char err[512];
	struct store *s;

	config_for(&cfg, db);
	s = store_open(&cfg, err, sizeof(err));
	if (!CHECK(s != NULL))
		fprintf(stderr, "    %s\n", err);
	return s;
}

static void batch_init(struct wire_batch *b, const char *node, const char *boot, uint64_t seq,
		       uint64_t start, size_t nrecords)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->node, sizeof(b->node), "%s", node);
	snprintf(b->boot_id, sizeof(b->boot_id), "%s", boot);
	snprintf(b->agent_version, sizeof(b->agent_version), "0.1.0");
	b->seq = seq;
	b->window_start_ms = start;
	b->window_end_ms = start + 5000;
	b->nrecords = nrecords;
	b->records = calloc(nrecords ? nrecords : 1, sizeof(*b->records));
	CHECK(b->records != NULL);
	for (size_t i = 0; i < nrecords; i++) {
		struct wire_record *r = &b->records[i];

		r->ip_version = 4;
		r->src_addr[10] = r->src_addr[11] = r->dst_addr[10] = r->dst_addr[11] = 0xff;
		r->src_addr[12] = r->dst_addr[12] = 10;
		r->src_addr[15] = 1;
		r->dst_addr[15] = 2;
		r->proto = 6;
		r->src_port = (uint16_t)(40000 + i);
		r->dst_port = 443;
		r->packets_sent = 1;
		r->bytes_sent = 100;
		snprintf(r->interface, sizeof(r->interface), "eth0");
	}
}

static int append1(struct store *s, const struct wire_batch *b, bool *dup)
{
	const struct wire_batch *v[1] = {b};

	return store_append(s, v, 1, dup);
}

static uint64_t db_count(const char *db, const char *table)
{
	char stmt[200];

	snprintf(stmt, sizeof(stmt), "SELECT count() FROM %s.%s", db, table);
	return sql_u64(stmt);
}

/* ---- opening ---- */

static void test_open_errors(void)
{
	struct store_config cfg;
	char err[512];
	char url[300];
	struct store *s;

	/* no such database: named, with the way out */
	config_for(&cfg, "ayaflow_test_absent");
	errno = 0;
	s = store_open(&cfg, err, sizeof(err));
	CHECK(s == NULL);
	CHECK_EQ_INT(errno, ENOENT);
	CHECK_CONTAINS(err, "/ayaflow_test_absent: database 'ayaflow_test_absent' does not exist");

	/* user ayaflow: a wrong password is refused, the right one lets in */
	db_fresh("ayaflow_test_auth");
	snprintf(url, sizeof(url), "clickhouse://ayaflow@%s", base_url + strlen("clickhouse://"));
	strcat(url, "ayaflow_test_auth");
	CHECK_EQ_INT(store_url_parse(url, &cfg.url, err, sizeof(err)), 0);
	cfg.password = "not-the-password";
	errno = 0;
	s = store_open(&cfg, err, sizeof(err));
	CHECK(s == NULL);
	CHECK_EQ_INT(errno, EACCES);
	CHECK_CONTAINS(err, "clickhouse://ayaflow@127.0.0.1:");
	CHECK_CONTAINS(err, "user or password refused");
	CHECK(strstr(err, "not-the-password") == NULL);
	cfg.password = password;
	s = store_open(&cfg, err, sizeof(err));
	if (!CHECK(s != NULL))
		fprintf(stderr, "    %s\n", err);
	store_close(s);
	db_drop("ayaflow_test_auth");

	/* nothing listens: unreachable, which a later call may get past */
	CHECK_EQ_INT(store_url_parse("clickhouse://127.0.0.1:1/x", &cfg.url, err, sizeof(err)), 0);
	cfg.password = NULL;
	errno = 0;
	s = store_open(&cfg, err, sizeof(err));
	CHECK(s == NULL);
	CHECK_EQ_INT(errno, EAGAIN);
	CHECK_CONTAINS(err, "clickhouse://127.0.0.1:1/x: server unreachable");
}

static void test_newer_schema_refused(void)
{
	struct store_config cfg;
	struct store_reader *r;
	struct store *s;
	char err[512];

	db_fresh("ayaflow_test_newer");
	s = open_store("ayaflow_test_newer");
	store_close(s);
	CHECK_EQ_U64(sql_u64("SELECT max(version) FROM ayaflow_test_newer.ayaflow_schema"),
		     STORE_CLICKHOUSE_SCHEMA_VERSION);
	CHECK(sql("INSERT INTO ayaflow_test_newer.ayaflow_schema VALUES (99, 0)"));
	config_for(&cfg, "ayaflow_test_newer");
	errno = 0;
	s = store_open(&cfg, err, sizeof(err));
	CHECK(s == NULL);
	CHECK_EQ_INT(errno, EPROTO);
	CHECK_CONTAINS(err, "schema version 99 is newer than this program's (1)");
	errno = 0;
	r = store_reader_open(&cfg, err, sizeof(err));
	CHECK(r == NULL);
	CHECK_EQ_INT(errno, EPROTO);
	store_reader_close(r);

	/* a database ayaflow never wrote: a reader says so */
	db_fresh("ayaflow_test_newer");
	errno = 0;
	r = store_reader_open(&cfg, err, sizeof(err));
	CHECK(r == NULL);
	CHECK_EQ_INT(errno, ENOENT);
	CHECK_CONTAINS(err, "no ayaflow history in database 'ayaflow_test_newer'");
	db_drop("ayaflow_test_newer");
}

/* The columns users query (README, "ClickHouse schema"): a change here is a change of a
 * public interface, and needs a migration and the README. */
static void test_public_schema(void)
{
	struct store *s;

	db_fresh("ayaflow_test_schema");
	s = open_store("ayaflow_test_schema");
	CHECK(sql("SELECT groupArray(concat(name, ' ', type)) FROM (SELECT name, type FROM"
		  " system.columns WHERE database = 'ayaflow_test_schema' AND table = 'flows')"));
	CHECK_EQ_STR(answer,
		     "['ts UInt64','window_end UInt64','node String','boot_id String','seq UInt64',"
		     "'idx UInt32','id UInt64','proto UInt8','ip_version UInt8','src_ip "
		     "FixedString(16)','dst_ip FixedString(16)','src_port UInt16','dst_port "
		     "UInt16','tcp_flags UInt32','packets_sent UInt64','packets_received UInt64',"
		     "'bytes_sent UInt64','bytes_received UInt64','first_seen UInt64','last_seen "
		     "UInt64','interface String','domain String','src_hostname String',"
		     "'dst_hostname String','time DateTime']\n");
	CHECK(sql("SELECT groupArray(name) FROM (SELECT name FROM system.tables WHERE database ="
		  " 'ayaflow_test_schema' ORDER BY name)"));
	CHECK_EQ_STR(
	    answer,
	    "['ayaflow_schema','batch_log','batch_log_mv','batches','dns','flows','flows_addr',"
	    "'flows_addr_mv','flows_domain','flows_domain_mv','nodes','nodes_mv']\n");
	CHECK(
	    sql("SELECT groupArray(concat(name, ':', engine, ':', sorting_key, ':', partition_key))"
		" FROM (SELECT name, engine, sorting_key, partition_key FROM system.tables WHERE"
		" database = 'ayaflow_test_schema' AND engine LIKE '%MergeTree' ORDER BY name)"));
	CHECK_EQ_STR(
	    answer,
	    "['ayaflow_schema:MergeTree:version:',"
	    "'batch_log:MergeTree:stored_ms:intDiv(stored_ms, 86400000)',"
	    "'batches:MergeTree:node, boot_id, seq:intDiv(stored_ms, 86400000)',"
	    "'dns:ReplacingMergeTree:node, ts, boot_id, seq, idx:intDiv(ts, 86400000)',"
	    "'flows:ReplacingMergeTree:node, ts, boot_id, seq, idx:intDiv(ts, 86400000)',"
	    "'flows_addr:ReplacingMergeTree:addr, ts, node, boot_id, seq, idx:intDiv(ts, "
	    "86400000)',"
	    "'flows_domain:ReplacingMergeTree:domain_rev, ts, node, boot_id, seq, idx:intDiv(ts, "
	    "86400000)',"
	    "'nodes:AggregatingMergeTree:node:']\n");
	store_close(s);
	db_drop("ayaflow_test_schema");
}

/* ---- several collectors, one store ---- */

struct opener {
	struct store *s;
	char err[512];
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;
	struct store_config cfg;

	config_for(&cfg, "ayaflow_test_two");
	o->s = store_open(&cfg, o->err, sizeof(o->err));
	return NULL;
}

static void test_two_writers(void)
{
	struct opener a = {0}, b = {0};
	pthread_t ta, tb;
	struct wire_batch x, y;
	bool dup = true;

	db_fresh("ayaflow_test_two");
	/* both migrate the new database at once */
	CHECK_EQ_INT(pthread_create(&ta, NULL, open_thread, &a), 0);
	CHECK_EQ_INT(pthread_create(&tb, NULL, open_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (!CHECK(a.s != NULL) || !CHECK(b.s != NULL)) {
		fprintf(stderr, "    %s | %s\n", a.err, b.err);
		goto out;
	}
	batch_init(&x, "node-a", "boot-1", 1, 86400000ull * 3, 3);
	batch_init(&y, "node-a", "boot-1", 2, 86400000ull * 3 + 5000, 2);
	CHECK_EQ_INT(append1(a.s, &x, &dup), 0);
	CHECK(!dup);
	/* the node resends x to the other collector: recognised, not stored again */
	CHECK_EQ_INT(append1(b.s, &x, &dup), 0);
	CHECK(dup);
	CHECK_EQ_INT(append1(b.s, &y, &dup), 0);
	CHECK(!dup);
	CHECK_EQ_INT(append1(a.s, &y, &dup), 0);
	CHECK(dup);
	CHECK_EQ_U64(db_count("ayaflow_test_two", "flows"), 5);
	CHECK_EQ_U64(db_count("ayaflow_test_two", "batches"), 2);
	CHECK_EQ_U64(sql_u64("SELECT max(version) FROM ayaflow_test_two.ayaflow_schema"), 1);
	free(x.records);
	free(y.records);
out:
	store_close(a.s);
	store_close(b.s);
	db_drop("ayaflow_test_two");
}

/* ---- following the other collectors (the live view) ---- */

struct followed {
	size_t n;
	char what[512]; /* "node/seq:records:total_packets " per batch */
};

static void follow_cb(void *arg, const struct wire_batch *b)
{
	struct followed *f = arg;
	size_t len = strlen(f->what);
	uint64_t ps = 0;

	for (size_t i = 0; i < b->nrecords; i++)
		ps += b->records[i].src_port;
	snprintf(f->what + len, sizeof(f->what) - len, "%s/%llu:%zu:%llu:%llu ", b->node,
		 (unsigned long long)b->seq, b->nrecords, (unsigned long long)b->total_packets,
		 (unsigned long long)ps);
	f->n++;
}

static struct store *open_named(const char *db, const char *name)
{
	struct store_config cfg;
	char err[512];
	struct store *s;

	config_for(&cfg, db);
	cfg.collector = name;
	s = store_open(&cfg, err, sizeof(err));
	if (!CHECK(s != NULL))
		fprintf(stderr, "    %s\n", err);
	return s;
}

static void test_follow(void)
{
	struct store *a, *b;
	struct followed fa = {0}, fb = {0};
	struct wire_batch x, y;
	uint64_t now = (uint64_t)time(NULL) * 1000;
	size_t n = 99;
	bool dup, more = true;

	db_fresh("ayaflow_test_follow");
	a = open_named("ayaflow_test_follow", "host-a:3000");
	b = open_named("ayaflow_test_follow", "host-b:3000");
	if (!a || !b)
		goto out;
	batch_init(&x, "node-a", "boot-1", 1, now - 10000, 3);
	x.total_packets = 77;
	batch_init(&y, "node-b", "boot-9", 4, now - 5000, 2);
	CHECK_EQ_INT(append1(a, &x, &dup), 0);
	CHECK_EQ_INT(append1(b, &y, &dup), 0);
	/* b sees a's batch, with its records and counters; not its own */
	CHECK_EQ_INT(store_follow(b, follow_cb, &fb, &n, &more), 0);
	CHECK_EQ_INT(n, 1);
	CHECK(!more);
	CHECK_EQ_STR(fb.what, "node-a/1:3:77:120003 ");
	/* each once */
	CHECK_EQ_INT(store_follow(b, follow_cb, &fb, &n, &more), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(fb.n, 1);
	CHECK_EQ_INT(store_follow(a, follow_cb, &fa, &n, &more), 0);
	CHECK_EQ_STR(fa.what, "node-b/4:2:0:80001 ");
	/* a batch stored before the window is not news */
	CHECK(sql("INSERT INTO ayaflow_test_follow.batches (node, boot_id, seq, window_start,"
		  " window_end, records, stored_ms, collector) VALUES ('node-c', 'b', 1, 1, 2, 0,"
		  " 1000, 'host-c:3000')"));
	CHECK_EQ_INT(store_follow(b, follow_cb, &fb, &n, &more), 0);
	CHECK_EQ_INT(n, 0);
	free(x.records);
	free(y.records);
out:
	store_close(a);
	store_close(b);
	db_drop("ayaflow_test_follow");
}

/* A writer killed between its flows INSERT and the batch's mark leaves rows without the
 * mark; the batch, sent again, is completed, not stored twice. */
static void test_half_written_batch(void)
{
	struct store *s;
	struct store_reader *r;
	struct store_config cfg;
	struct store_filter f = {0};
	struct store_history h;
	struct wire_batch x;
	char err[512];
	bool dup = true;

	db_fresh("ayaflow_test_half");
	s = open_store("ayaflow_test_half");
	if (!s)
		return;
	batch_init(&x, "node-a", "boot-1", 7, 1000000, 3);
	/* what the killed writer managed: the three flow rows, no batch mark */
	CHECK(
	    sql("INSERT INTO ayaflow_test_half.flows (ts, window_end, node, boot_id, seq, idx, id,"
		" ip_version, src_ip, dst_ip, interface) SELECT 1000000, 1005000, 'node-a',"
		" 'boot-1', 7, number, number + 1, 4, toFixedString(unhex("
		"'00000000000000000000ffff0a000001'), 16), toFixedString(unhex("
		"'00000000000000000000ffff0a000002'), 16), 'eth0' FROM system.numbers LIMIT 3"));
	CHECK_EQ_INT(append1(s, &x, &dup), 0);
	CHECK(!dup);
	CHECK_EQ_U64(db_count("ayaflow_test_half", "flows"), 3);
	CHECK_EQ_U64(db_count("ayaflow_test_half", "flows_addr"), 6);
	CHECK_EQ_U64(db_count("ayaflow_test_half", "batches"), 1);
	config_for(&cfg, "ayaflow_test_half");
	r = store_reader_open(&cfg, err, sizeof(err));
	if (CHECK(r != NULL) && CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.total, 3);
		store_history_fini(&h);
	}
	store_reader_close(r);
	/* and once marked, it is a duplicate */
	CHECK_EQ_INT(append1(s, &x, &dup), 0);
	CHECK(dup);
	CHECK_EQ_U64(db_count("ayaflow_test_half", "flows"), 3);

	/* a batch with part of its rows is not something we made: refused, named */
	x.seq = 8;
	CHECK(sql("INSERT INTO ayaflow_test_half.flows (ts, node, boot_id, seq, ip_version)"
		  " VALUES (1000000, 'node-a', 'boot-1', 8, 4)"));
	CHECK_EQ_INT(append1(s, &x, &dup), -EIO);
	CHECK_CONTAINS(store_last_error(s), "batch 8 of node node-a is partly stored (1 of 3");
	free(x.records);
	store_close(s);
	db_drop("ayaflow_test_half");
}

/* The flows of batch N of node-a as a late INSERT would write them (3 records). */
#define LATE_COPY                                                                                  \
	"INSERT INTO ayaflow_test_late.flows (ts, window_end, node, boot_id, seq, idx, id,"        \
	" ip_version, src_ip, dst_ip, interface) SELECT 2000000, 2005000, 'node-a', 'boot-1',"     \
	" %d, number, number + 100, 4,"                                                            \
	" toFixedString(unhex('00000000000000000000ffff0a000001'), 16),"                           \
	" toFixedString(unhex('00000000000000000000ffff0a000002'), 16), 'eth0'"                    \
	" FROM system.numbers LIMIT 3"

/* An INSERT the server ran after the collector had given up on it (timeout) lands
 * beside the batch's rewrite: both copies count until ClickHouse merges their parts,
 * then one (ReplacingMergeTree on the record's identity). A batch whose rows are there
 * twice without the mark is complete, not "partly stored". */
static void test_late_insert_merges_away(void)
{
	struct store_config cfg;
	struct store_reader *r = NULL;
	struct store_filter f = {0};
	struct store_history h;
	struct wire_batch x;
	char stmt[600];
	char err[512];
	struct store *s;
	bool dup = true;

	db_fresh("ayaflow_test_late");
	s = open_store("ayaflow_test_late");
	if (!s)
		return;
	batch_init(&x, "node-a", "boot-1", 1, 2000000, 3);
	CHECK_EQ_INT(append1(s, &x, &dup), 0);
	snprintf(stmt, sizeof(stmt), LATE_COPY, 1);
	CHECK(sql(stmt)); /* the late copy of batch 1 */
	config_for(&cfg, "ayaflow_test_late");
	r = store_reader_open(&cfg, err, sizeof(err));
	if (CHECK(r != NULL) && CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.total, 6); /* both copies, until the merge */
		store_history_fini(&h);
	}
	CHECK(sql("OPTIMIZE TABLE ayaflow_test_late.flows FINAL"));
	CHECK(sql("OPTIMIZE TABLE ayaflow_test_late.flows_addr FINAL"));
	if (r && CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.total, 3);
		store_history_fini(&h);
	}
	f.has_ip = true;
	memcpy(f.ip, x.records[0].dst_addr, 16);
	if (r && CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.total, 3);
		store_history_fini(&h);
	}
	/* batch 2's rows twice and no mark: complete, marked, not written a third time */
	snprintf(stmt, sizeof(stmt), LATE_COPY, 2);
	CHECK(sql(stmt));
	CHECK(sql(stmt));
	x.seq = 2;
	CHECK_EQ_INT(append1(s, &x, &dup), 0);
	CHECK(!dup);
	CHECK_EQ_U64(db_count("ayaflow_test_late", "flows"), 9);
	CHECK_EQ_U64(db_count("ayaflow_test_late", "batches"), 2);
	free(x.records);
	store_reader_close(r);
	store_close(s);
	db_drop("ayaflow_test_late");
}

/* ---- retention: whole days ---- */

static void test_retention_days(void)
{
	const uint64_t day = 86400000ull;
	struct store *s;
	struct wire_batch b[3];
	const struct wire_batch *v[3] = {&b[0], &b[1], &b[2]};
	bool dup[3];
	unsigned deleted = 0;

	db_fresh("ayaflow_test_days");
	s = open_store("ayaflow_test_days");
	if (!s)
		return;
	batch_init(&b[0], "n", "boot", 1, 10 * day + 1000, 2); /* day 10 */
	batch_init(&b[1], "n", "boot", 2, 11 * day + 5000, 3); /* day 11 */
	batch_init(&b[2], "n", "boot", 3, 12 * day, 4);	       /* day 12, its first ms */
	snprintf(b[1].records[0].domain, sizeof(b[1].records[0].domain), "example.com");
	b[0].ndns = 1;
	b[0].dns = calloc(1, sizeof(*b[0].dns));
	if (!CHECK(b[0].dns != NULL))
		return;
	b[0].dns[0].ts_ms = 10 * day + 2000;
	b[0].dns[0].ip_version = 4;
	snprintf(b[0].dns[0].name, sizeof(b[0].dns[0].name), "example.com");
	CHECK_EQ_INT(store_append(s, v, 3, dup), 0);
	CHECK_EQ_U64(db_count("ayaflow_test_days", "flows"), 9);

	/* a cutoff inside day 12 keeps all of day 12; days 10 and 11 go whole */
	CHECK_EQ_INT(store_retention_step(s, 12 * day + 3600000, 1000, &deleted), 0);
	CHECK_EQ_INT(deleted, 6); /* 5 flow records and 1 DNS record */
	CHECK_EQ_U64(db_count("ayaflow_test_days", "flows"), 4);
	CHECK_EQ_U64(db_count("ayaflow_test_days", "flows_addr"), 8);
	CHECK_EQ_U64(db_count("ayaflow_test_days", "flows_domain"), 0);
	CHECK_EQ_U64(db_count("ayaflow_test_days", "dns"), 0);
	/* the dedup marks were stored today: kept a day at least */
	CHECK_EQ_U64(db_count("ayaflow_test_days", "batches"), 3);
	CHECK_EQ_INT(append1(s, &b[0], dup), 0);
	CHECK(dup[0]);
	/* nothing more is due */
	CHECK_EQ_INT(store_retention_step(s, 12 * day + 3600000, 1000, &deleted), 0);
	CHECK_EQ_INT(deleted, 0);
	CHECK(store_db_bytes(s) > 0);
	for (int i = 0; i < 3; i++) {
		free(b[i].records);
		free(b[i].dns);
	}
	store_close(s);
	db_drop("ayaflow_test_days");
}

/* ---- a store that hangs ---- */

static void test_hung_server(void)
{
	const char *pid_text = getenv("CH_PID");
	pid_t pid = pid_text ? (pid_t)atoi(pid_text) : 0;
	struct store_config cfg;
	struct store_reader *r;
	struct store_filter f = {0};
	struct store_history h;
	struct timespec t0, t1;
	struct store *s;
	struct wire_batch x;
	char err[512];
	bool dup;
	double secs;
	int e;

	if (!CHECK(pid > 1))
		return;
	db_fresh("ayaflow_test_hung");
	config_for(&cfg, "ayaflow_test_hung");
	cfg.timeout_ms = 1500;
	s = store_open(&cfg, err, sizeof(err));
	r = store_reader_open(&cfg, err, sizeof(err));
	if (!CHECK(s != NULL) || !CHECK(r != NULL))
		goto out;
	batch_init(&x, "n", "boot", 1, 5000, 2);
	CHECK(kill(pid, SIGSTOP) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = store_query_history(r, &f, &h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_EQ_INT(e, -EAGAIN);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(secs < 10); /* bounded by the timeout: not a speed target, a hang check */
	CHECK_EQ_INT(append1(s, &x, &dup), -EAGAIN);
	CHECK_CONTAINS(store_last_error(s), "Timeout was reached");
	CHECK(kill(pid, SIGCONT) == 0);
	/* back: the same handles work again, and the batch is stored once */
	for (int i = 0; i < 50 && (e = append1(s, &x, &dup)) == -EAGAIN; i++)
		usleep(200000);
	CHECK_EQ_INT(e, 0);
	CHECK(!dup);
	if (CHECK_EQ_INT(store_query_history(r, &f, &h), 0)) {
		CHECK_EQ_U64(h.total, 2);
		store_history_fini(&h);
	}
	free(x.records);
out:
	kill(pid, SIGCONT);
	store_reader_close(r);
	store_close(s);
	db_drop("ayaflow_test_hung");
}

int main(void)
{
	const char *url = getenv("AYAFLOW_TEST_CLICKHOUSE");
	const char *dir = getenv("CH_DIR");
	char path[300];
	FILE *fp;

	if (!url || !dir) {
		fprintf(stderr, "test_store_clickhouse: run it through tests/clickhouse/server.sh "
				"run (AYAFLOW_TEST_CLICKHOUSE and CH_DIR not set)\n");
		return 1;
	}
	snprintf(base_url, sizeof(base_url), "%s", url);
	snprintf(http_url, sizeof(http_url), "http://%s", url + strlen("clickhouse://"));
	snprintf(path, sizeof(path), "%s/password", dir);
	fp = fopen(path, "r");
	if (!fp || !fgets(password, sizeof(password), fp)) {
		fprintf(stderr, "test_store_clickhouse: cannot read %s\n", path);
		return 1;
	}
	fclose(fp);
	password[strcspn(password, "\r\n")] = '\0';
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_open_errors();
	test_newer_schema_refused();
	test_public_schema();
	test_two_writers();
	test_follow();
	test_half_written_batch();
	test_late_insert_merges_away();
	test_retention_days();
	test_hung_server();
	curl_global_cleanup();
	return check_exit();
}
