/* clickhouse_schema.c - the ClickHouse backend's schema, its migrations, and opening a
 * writer or a reader (the other files of the backend do the rest).
 *
 * The SQL here is what both Debian 12's server (18.16) and current releases accept:
 * MergeTree() with PARTITION BY / ORDER BY (not the legacy MergeTree(date, key, 8192)),
 * FixedString(16) addresses (18.16 has no IPv6 type), integer day partitions that
 * retention drops (18.16 has no TTL), AggregatingMergeTree and materialized views
 * with TO. Every statement is idempotent (IF NOT EXISTS), because several collectors
 * may start at once on one database: each runs the migrations it finds missing, and
 * the version is max(version) of ayaflow_schema. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clickhouse.h"
#include "clickhouse_internal.h"

/* The flow columns, shared by flows and the two tables made from it. A DateTime alias of
 * the window start, "time", is there for Grafana's time filters; it costs nothing. */
#define CH_FLOW_COLUMN_DEFS                                                                        \
	"ts UInt64, window_end UInt64, node String, boot_id String, seq UInt64, idx UInt32,"       \
	" id UInt64, proto UInt8, ip_version UInt8, src_ip FixedString(16),"                       \
	" dst_ip FixedString(16), src_port UInt16, dst_port UInt16, tcp_flags UInt32,"             \
	" packets_sent UInt64, packets_received UInt64, bytes_sent UInt64,"                        \
	" bytes_received UInt64, first_seen UInt64, last_seen UInt64, interface String,"           \
	" domain String, src_hostname String, dst_hostname String,"                                \
	" time DateTime ALIAS toDateTime(intDiv(ts, 1000))"
#define CH_BY_DAY(col) " PARTITION BY intDiv(" col ", 86400000)"
/* The end of the record tables' sort keys: a record's identity, so that the copies of a
 * record written twice (an INSERT the server ran after the collector had given up on
 * it, and the batch's rewrite: clickhouse_write.c) become one when ClickHouse merges
 * their parts (ReplacingMergeTree). Filters use the key's head only. */
#define CH_RECORD_KEY	", boot_id, seq, idx"
#define CH_ARGMAX(type) "AggregateFunction(argMax, " type ", Tuple(UInt64, UInt64))"
#define CH_NEWEST	"(window_end, seq)"

/* Migration i brings the schema from version i to i + 1; "{db}" is the database.
 * Append only: a released migration is never edited. */
/* One line a column or clause, which clang-format would rewrap. */
/* clang-format off */
static const char *const ch_migration_1[] = {
	"CREATE TABLE IF NOT EXISTS {db}.flows (" CH_FLOW_COLUMN_DEFS ")"
	" ENGINE = ReplacingMergeTree()" CH_BY_DAY("ts") " ORDER BY (node, ts" CH_RECORD_KEY ")",
	"CREATE TABLE IF NOT EXISTS {db}.flows_addr ("
		"addr FixedString(16), side UInt8, " CH_FLOW_COLUMN_DEFS ")"
	" ENGINE = ReplacingMergeTree()" CH_BY_DAY("ts")
	" ORDER BY (addr, ts, node" CH_RECORD_KEY ")",
	/* side: 1 the address is src, 2 dst, 3 both (a record to itself is there once) */
	"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flows_addr_mv TO {db}.flows_addr AS"
	" SELECT addr, if(src_ip = dst_ip, 3, if(addr = src_ip, 1, 2)) AS side, "
		CH_FLOW_COLUMNS
	" FROM {db}.flows ARRAY JOIN if(src_ip = dst_ip, [src_ip], [src_ip, dst_ip]) AS addr",
	"CREATE TABLE IF NOT EXISTS {db}.flows_domain ("
		"domain_rev String, " CH_FLOW_COLUMN_DEFS ")"
	" ENGINE = ReplacingMergeTree()" CH_BY_DAY("ts")
	" ORDER BY (domain_rev, ts, node" CH_RECORD_KEY ")",
	/* domain_rev: "." + domain, reversed, ASCII lower case ("a.Example.com" ->
	 * "moc.elpmaxe.a."): a domain and its subdomains are one key range */
	"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flows_domain_mv TO {db}.flows_domain AS"
	" SELECT reverse(concat('.', lower(domain))) AS domain_rev, " CH_FLOW_COLUMNS
	" FROM {db}.flows WHERE domain != ''",
	"CREATE TABLE IF NOT EXISTS {db}.dns ("
		"ts UInt64, node String, boot_id String, seq UInt64, idx UInt32, id UInt64,"
		" name String, name_rev String MATERIALIZED reverse(concat('.', lower(name))),"
		" qtype UInt16, rcode UInt8, answered UInt8, latency_us UInt32, ip_version UInt8,"
		" client_ip FixedString(16), server_ip FixedString(16),"
		" client_port UInt16, server_port UInt16,"
		" answer_type Array(UInt16), answer_ttl Array(UInt32),"
		" answer_addr Array(FixedString(16)), answer_target Array(String),"
		" time DateTime ALIAS toDateTime(intDiv(ts, 1000)))"
	" ENGINE = ReplacingMergeTree()" CH_BY_DAY("ts") " ORDER BY (node, ts" CH_RECORD_KEY ")",
	/* lost: the loss ledger indexed by reason (enum wire_loss, values only added) */
	"CREATE TABLE IF NOT EXISTS {db}.batches ("
		"node String, boot_id String, seq UInt64, window_start UInt64, window_end UInt64,"
		" agent_version String, total_packets UInt64, total_bytes UInt64,"
		" active_connections UInt64, lost Array(UInt64), records UInt64, dns_records UInt64,"
		" stored_ms UInt64, collector String)"
	" ENGINE = MergeTree()" CH_BY_DAY("stored_ms") " ORDER BY (node, boot_id, seq)",
	"CREATE TABLE IF NOT EXISTS {db}.nodes ("
		"node String,"
		" first_seen AggregateFunction(min, UInt64),"
		" last_seen AggregateFunction(max, UInt64),"
		" batches AggregateFunction(count),"
		" records AggregateFunction(sum, UInt64),"
		" boot_id " CH_ARGMAX("String") ","
		" agent_version " CH_ARGMAX("String") ","
		" last_seq " CH_ARGMAX("UInt64") ","
		" total_packets " CH_ARGMAX("UInt64") ","
		" total_bytes " CH_ARGMAX("UInt64") ","
		" active_connections " CH_ARGMAX("UInt64") ","
		" lost " CH_ARGMAX("Array(UInt64)") ")"
	" ENGINE = AggregatingMergeTree() ORDER BY node",
	"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.nodes_mv TO {db}.nodes AS SELECT node,"
	" minState(window_start) AS first_seen, maxState(window_end) AS last_seen,"
	" countState() AS batches, sumState(records) AS records,"
	" argMaxState(boot_id, " CH_NEWEST ") AS boot_id,"
	" argMaxState(agent_version, " CH_NEWEST ") AS agent_version,"
	" argMaxState(seq, " CH_NEWEST ") AS last_seq,"
	" argMaxState(total_packets, " CH_NEWEST ") AS total_packets,"
	" argMaxState(total_bytes, " CH_NEWEST ") AS total_bytes,"
	" argMaxState(active_connections, " CH_NEWEST ") AS active_connections,"
	" argMaxState(lost, " CH_NEWEST ") AS lost FROM {db}.batches GROUP BY node",
	/* the batches in the order they were stored, for store_follow's "what is new" */
	"CREATE TABLE IF NOT EXISTS {db}.batch_log ("
		"stored_ms UInt64, collector String, node String, boot_id String, seq UInt64,"
		" records UInt64)"
	" ENGINE = MergeTree()" CH_BY_DAY("stored_ms") " ORDER BY stored_ms",
	"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.batch_log_mv TO {db}.batch_log AS"
	" SELECT stored_ms, collector, node, boot_id, seq, records FROM {db}.batches",
	NULL,
};
/* clang-format on */

static const char *const *const ch_migrations[] = {ch_migration_1};

_Static_assert(sizeof(ch_migrations) / sizeof(ch_migrations[0]) == STORE_CLICKHOUSE_SCHEMA_VERSION,
	       "one migration per schema version");

const struct store_ops ch_ops = {
    .close = ch_store_close,
    .append = ch_store_append,
    .retention_step = ch_store_retention_step,
    .db_bytes = ch_store_db_bytes,
    .last_error = ch_store_last_error,
    .follow = ch_store_follow,
    .reader_close = ch_reader_close,
    .reader_last_error = ch_reader_last_error,
    .query_history = ch_query_history,
    .query_dns = ch_query_dns,
    .query_domains = ch_query_domains,
    .list_nodes = ch_list_nodes,
};

/* Runs one statement of the schema, "{db}" replaced by the database. */
static int ch_schema_exec(struct ch_conn *c, const char *db, const char *tmpl, char **buf,
			  size_t *cap)
{
	struct ch_sql q;
	const char *p = tmpl, *m;

	ch_sql_start(&q, buf, cap);
	while ((m = strstr(p, "{db}"))) {
		ch_sql_add(&q, "%.*s%s", (int)(m - p), p, db);
		p = m + 4;
	}
	ch_sql_add(&q, "%s", p);
	if (q.failed)
		return -ENOMEM;
	return ch_conn_query(c, *buf, NULL, 0, NULL, NULL);
}

/* The schema version of db: 0 when ayaflow never ran there. */
static int ch_schema_version(struct ch_conn *c, const char *db, unsigned *version)
{
	char sql[160];
	const uint8_t *ans;
	size_t len;
	int err;

	snprintf(sql, sizeof(sql), "SELECT max(version) FROM %s.ayaflow_schema FORMAT TSV", db);
	err = ch_conn_query(c, sql, NULL, 0, &ans, &len);
	if (err == -ENOENT) {
		/* The database was checked first: it is the table that is missing. */
		*version = 0;
		return 0;
	}
	if (err)
		return err;
	*version = (unsigned)strtoul((const char *)ans, NULL, 10);
	return 0;
}

/* Connects and checks the server answers, the user is let in and the database exists. */
static struct ch_conn *ch_connect(const struct store_config *cfg, char *err, size_t errlen)
{
	unsigned timeout = cfg->timeout_ms ? cfg->timeout_ms : STORE_TIMEOUT_MS_DEFAULT;
	struct ch_conn *c = ch_conn_new(&cfg->url, cfg->password, timeout, err, errlen);
	int e;

	if (!c)
		return NULL;
	e = ch_conn_query(c, "SELECT version() FORMAT TSV", NULL, 0, NULL, NULL);
	if (e) {
		if (e == -ENOENT)
			snprintf(err, errlen,
				 "database '%s' does not exist (create it: CREATE DATABASE %s)",
				 cfg->url.database, cfg->url.database);
		else if (e == -EACCES)
			snprintf(err, errlen, "user or password refused (%s)", ch_conn_error(c));
		else if (e == -EAGAIN)
			snprintf(err, errlen, "server unreachable (%s)", ch_conn_error(c));
		else
			snprintf(err, errlen, "%s", ch_conn_error(c));
		ch_conn_free(c);
		errno = e == -ENOENT || e == -EACCES || e == -EAGAIN || e == -ENOMEM ? -e : EIO;
		return NULL;
	}
	return c;
}

static int ch_migrate(struct ch_store *s)
{
	unsigned version = 0;
	int err;

	err = ch_schema_version(s->conn, s->db, &version);
	if (err) {
		snprintf(s->errmsg, sizeof(s->errmsg), "reading the schema version: %s",
			 ch_conn_error(s->conn));
		return err;
	}
	if (version > STORE_CLICKHOUSE_SCHEMA_VERSION) {
		snprintf(s->errmsg, sizeof(s->errmsg),
			 "schema version %u is newer than this program's (%d): upgrade ayaflow",
			 version, STORE_CLICKHOUSE_SCHEMA_VERSION);
		return -EPROTO;
	}
	err = ch_schema_exec(s->conn, s->db,
			     "CREATE TABLE IF NOT EXISTS {db}.ayaflow_schema (version UInt32,"
			     " applied_ms UInt64) ENGINE = MergeTree() ORDER BY version",
			     &s->sql, &s->sqlcap);
	for (; !err && version < STORE_CLICKHOUSE_SCHEMA_VERSION; version++) {
		const char *const *m = ch_migrations[version];
		struct timespec now;
		char sql[200];

		for (size_t i = 0; m[i] && !err; i++)
			err = ch_schema_exec(s->conn, s->db, m[i], &s->sql, &s->sqlcap);
		if (err)
			break;
		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(sql, sizeof(sql),
			 "INSERT INTO %s.ayaflow_schema (version, applied_ms) VALUES (%u, %llu)",
			 s->db, version + 1,
			 (unsigned long long)now.tv_sec * 1000 +
			     (unsigned long long)now.tv_nsec / 1000000);
		err = ch_conn_query(s->conn, sql, NULL, 0, NULL, NULL);
	}
	if (err)
		snprintf(s->errmsg, sizeof(s->errmsg), "migrating to schema version %u: %s",
			 version + 1, ch_conn_error(s->conn));
	return err;
}

struct store *store_clickhouse_open(const struct store_config *cfg, char *err, size_t errlen)
{
	struct ch_store *s = calloc(1, sizeof(*s));
	int e;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	s->base.ops = &ch_ops;
	snprintf(s->db, sizeof(s->db), "%s", cfg->url.database);
	snprintf(s->collector, sizeof(s->collector), "%s", cfg->collector ? cfg->collector : "");
	s->conn = ch_connect(cfg, err, errlen);
	if (!s->conn) {
		e = errno;
		free(s);
		errno = e;
		return NULL;
	}
	e = ch_migrate(s);
	if (e) {
		snprintf(err, errlen, "%s", s->errmsg);
		ch_store_close(&s->base);
		errno = e == -EPROTO || e == -EAGAIN || e == -EACCES || e == -ENOMEM ? -e : EIO;
		return NULL;
	}
	return &s->base;
}

struct store_reader *store_clickhouse_reader_open(const struct store_config *cfg, char *err,
						  size_t errlen)
{
	struct ch_reader *r = calloc(1, sizeof(*r));
	unsigned version = 0;
	int e;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	r->base.ops = &ch_ops;
	snprintf(r->db, sizeof(r->db), "%s", cfg->url.database);
	r->conn = ch_connect(cfg, err, errlen);
	if (!r->conn) {
		e = errno;
		free(r);
		errno = e;
		return NULL;
	}
	e = ch_schema_version(r->conn, r->db, &version);
	if (e) {
		snprintf(err, errlen, "reading the schema version: %s", ch_conn_error(r->conn));
		e = e == -EAGAIN || e == -EACCES || e == -ENOMEM ? -e : EIO;
	} else if (version == 0) {
		snprintf(err, errlen, "no ayaflow history in database '%s' yet", r->db);
		e = ENOENT;
	} else if (version != STORE_CLICKHOUSE_SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %u, this program reads version %d", version,
			 STORE_CLICKHOUSE_SCHEMA_VERSION);
		e = EPROTO;
	}
	if (e) {
		ch_reader_close(&r->base);
		errno = e;
		return NULL;
	}
	return &r->base;
}
