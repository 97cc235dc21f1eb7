/* sqlite_schema.c - the SQLite backend's database: its schema and the migrations to it,
 * opening and closing the writer's connection (WAL, settings, migration, the writer's
 * statements prepared) and the readers' (read-only, the schema version checked), and the
 * ops table store.c dispatches through (backend.h).
 *
 * Schema (version in PRAGMA user_version, migrations below applied in order):
 *   nodes       one row per node name: its newest report and what was stored of it
 *   node_loss   (node, reason) -> the loss ledger of the node's newest batch
 *   batches     (node, boot_id, seq) of every batch stored: the dedup set
 *   flow_blocks one row per batch with flow records (version 3; version 1 and 2 had a
 *               row a record): the records as one BLOB (flowblock.h), ids
 *               id .. id + n - 1, their window, node and summed traffic
 *   flow_keys   one row per distinct key of a block (flowkeys.h): an address prefix,
 *               port prefix, protocol or domain, and which of the block's records have
 *               it. Writing one index row a key of a batch instead of eight index
 *               entries a record is what lets one writer store hundreds of thousands of
 *               records a second (BENCHMARKS.md, 5).
 *   dns         one row per DNS record (version 2); client_ip/server_ip as 16-byte
 *               BLOBs (IPv4 mapped), name_rev the name reversed for suffix search
 *               (flowkeys_domain_reverse); answers as compact text, one answer a line:
 *               "<type> <ttl> <value>", value the address (A, AAAA) or the target
 *               (CNAME), e.g. "5 60 edge.example.net\n1 300 93.184.216.34" ("" for
 *               none). Names are validated by lib/wire (no control characters), so a
 *               line break cannot occur inside a value.
 * The history query is in sqlite_history.c, the others in sqlite_query.c; every DNS
 * filter has an index (column, ts), and store_sqlite_explain_* lets the tests prove the
 * plans. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sqlite_internal.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define STORE_BUSY_TIMEOUT_MS 5000
/* Page cache of the writer: 128 MiB. 256 MiB bought nothing more at 1 M records and
 * ~15 % at 10 M (1 GiB); the collector's container has 768 MiB (k8s/), which the ingest
 * queue shares. */
#define STORE_WRITER_CACHE_KIB "-131072"

/* ---- schema ---- */

/* Migration i brings the schema from version i to i + 1. Append only: a released
 * migration is never edited. */
static const char *const store_migrations[] = {
    /* 1: initial schema */
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
    "CREATE INDEX flows_domain_ts ON flows(domain_rev, ts);",
    /* 2: reverse-DNS host names of flows; DNS records */
    "ALTER TABLE flows ADD COLUMN src_hostname TEXT;" /* NULL when unknown */
    "ALTER TABLE flows ADD COLUMN dst_hostname TEXT;"
    "CREATE TABLE dns ("
    " id INTEGER PRIMARY KEY,"
    " ts INTEGER NOT NULL," /* the query (or the lone response), Unix ms */
    " node_id INTEGER NOT NULL REFERENCES nodes(id),"
    " name TEXT NOT NULL,"
    " name_rev BLOB NOT NULL," /* as flows.domain_rev */
    " qtype INTEGER NOT NULL CHECK (qtype BETWEEN 0 AND 65535),"
    " rcode INTEGER NOT NULL CHECK (rcode BETWEEN 0 AND 15),"
    " answered INTEGER NOT NULL CHECK (answered IN (0, 1)),"
    " latency_us INTEGER NOT NULL,"
    " ip_version INTEGER NOT NULL CHECK (ip_version IN (4, 6)),"
    " client_ip BLOB NOT NULL CHECK (length(client_ip) = 16),"
    " server_ip BLOB NOT NULL CHECK (length(server_ip) = 16),"
    " client_port INTEGER NOT NULL,"
    " server_port INTEGER NOT NULL,"
    " answers TEXT NOT NULL);" /* "<type> <ttl> <value>" lines, see the top */
    "CREATE INDEX dns_ts ON dns(ts);"
    "CREATE INDEX dns_node_ts ON dns(node_id, ts);"
    "CREATE INDEX dns_client_ts ON dns(client_ip, ts);"
    "CREATE INDEX dns_name_ts ON dns(name_rev, ts);",
    /* 3: flows as blocks, one row a batch (collector/flowblock.h), found through
     * flow_keys, one row a distinct key of a batch (collector/flowkeys.h), instead of
     * one row a record in eight indexes; flows_migrate moves the stored flows and drops
     * the flows table. */
    "CREATE TABLE flow_blocks ("
    " id INTEGER PRIMARY KEY," /* the first record's id: records are id .. id + n - 1 */
    " ts INTEGER NOT NULL,"    /* window start, Unix ms */
    " window_end INTEGER NOT NULL,"
    " node_id INTEGER NOT NULL REFERENCES nodes(id),"
    " n INTEGER NOT NULL CHECK (n > 0),"
    " packets INTEGER NOT NULL," /* of all its records, sent + received */
    " bytes INTEGER NOT NULL,"
    " data BLOB NOT NULL);"
    "CREATE INDEX flow_blocks_ts ON flow_blocks(ts);"
    "CREATE INDEX flow_blocks_node_ts ON flow_blocks(node_id, ts);"
    "CREATE TABLE flow_keys ("
    " kind INTEGER NOT NULL,"	  /* enum flowkeys_kind */
    " value NOT NULL,"		  /* integer or BLOB, by kind */
    " ts INTEGER NOT NULL,"	  /* the block's */
    " first_id INTEGER NOT NULL," /* the block's id */
    " node_id INTEGER NOT NULL,"
    " n INTEGER NOT NULL,"	 /* entries */
    " packets INTEGER NOT NULL," /* summed over the entries (flowkeys.h) */
    " bytes INTEGER NOT NULL,"
    " entries BLOB NOT NULL,"
    " PRIMARY KEY (kind, value, ts, first_id)) WITHOUT ROWID;"
    "CREATE INDEX flow_keys_kind_ts ON flow_keys(kind, ts);",
};

_Static_assert(ARRAY_SIZE(store_migrations) == STORE_SQLITE_SCHEMA_VERSION,
	       "one migration per schema version");

/* Reads PRAGMA user_version into *version. */
static int read_user_version(sqlite3 *db, int *version, char *msg, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_db_fail(db, rc, msg, len, "reading the schema version");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int err = sqlite_db_fail(db, rc, msg, len, "reading the schema version");

		(void)sqlite3_finalize(st);
		return err;
	}
	*version = sqlite3_column_int(st, 0);
	(void)sqlite3_finalize(st);
	return 0;
}

static int exec_sql(sqlite3 *db, const char *sql, char *msg, size_t len, const char *what)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sqlite_db_fail(db, rc, msg, len, what);
	return 0;
}

/* ---- migration to version 3: the stored flows into blocks ---- */

/* A row of the version 2 flows table (V2_FLOWS_SQL) as a record. */
#define V2_FLOWS_SQL                                                                               \
	"SELECT id, ts, window_end, node_id, proto, ip_version, src_ip, dst_ip, src_port,"         \
	" dst_port, tcp_flags, packets_sent, packets_received, bytes_sent, bytes_received,"        \
	" first_seen, last_seen, interface, domain, src_hostname, dst_hostname"                    \
	" FROM flows ORDER BY id"

static int v2_flow_row(sqlite3_stmt *st, struct wire_record *r, char *msg, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->proto = (uint8_t)sqlite3_column_int(st, 4);
	r->ip_version = (uint8_t)sqlite3_column_int(st, 5);
	if (sqlite3_column_bytes(st, 6) != 16 || sqlite3_column_bytes(st, 7) != 16) {
		snprintf(msg, len, "flow %lld: address is not 16 bytes",
			 (long long)sqlite3_column_int64(st, 0));
		return -EIO;
	}
	memcpy(r->src_addr, sqlite3_column_blob(st, 6), 16);
	memcpy(r->dst_addr, sqlite3_column_blob(st, 7), 16);
	r->src_port = (uint16_t)sqlite3_column_int(st, 8);
	r->dst_port = (uint16_t)sqlite3_column_int(st, 9);
	r->tcp_flags = (uint32_t)sqlite3_column_int64(st, 10);
	r->packets_sent = (uint64_t)sqlite3_column_int64(st, 11);
	r->packets_received = (uint64_t)sqlite3_column_int64(st, 12);
	r->bytes_sent = (uint64_t)sqlite3_column_int64(st, 13);
	r->bytes_received = (uint64_t)sqlite3_column_int64(st, 14);
	r->first_seen_ms = (uint64_t)sqlite3_column_int64(st, 15);
	r->last_seen_ms = (uint64_t)sqlite3_column_int64(st, 16);
	sqlite_copy_text(r->interface, sizeof(r->interface), st, 17);
	sqlite_copy_text(r->domain, sizeof(r->domain), st, 18);
	sqlite_copy_text(r->src_hostname, sizeof(r->src_hostname), st, 19);
	sqlite_copy_text(r->dst_hostname, sizeof(r->dst_hostname), st, 20);
	return 0;
}

/* Migration to version 3: the stored flows into blocks, keeping their ids. A batch's
 * records are consecutive ids of one node and window: such runs (up to WIRE_MAX_RECORDS)
 * become one block each. Then the flows table (and its indexes) goes. */
static int flows_migrate(sqlite3 *db, char *msg, size_t len)
{
	struct sqlite_block_writer w = {.db = db, .msg = msg, .len = len};
	struct wire_record *recs = calloc(WIRE_MAX_RECORDS, sizeof(*recs));
	sqlite3_stmt *sel = NULL;
	int64_t first = 0, node = 0;
	uint64_t ts = 0, end = 0;
	size_t n = 0;
	int err = -ENOMEM;
	int rc;

	w.enc = flowblock_new();
	w.keys = flowkeys_new();
	if (!recs || !w.enc || !w.keys) {
		snprintf(msg, len, "out of memory");
		goto out;
	}
	rc = sqlite3_prepare_v2(db, V2_FLOWS_SQL, -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, sqlite_stmt_sql[ST_BLOCK_INSERT], -1, &w.block, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, sqlite_stmt_sql[ST_KEY_INSERT], -1, &w.key, NULL);
	if (rc != SQLITE_OK) {
		err = sqlite_db_fail(db, rc, msg, len, "preparing the flow migration");
		goto out;
	}
	err = 0;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(sel, 0);
		uint64_t t = (uint64_t)sqlite3_column_int64(sel, 1);
		uint64_t e = (uint64_t)sqlite3_column_int64(sel, 2);
		int64_t nd = sqlite3_column_int64(sel, 3);

		if (n && (id != first + (int64_t)n || t != ts || e != end || nd != node ||
			  n == WIRE_MAX_RECORDS)) {
			err = sqlite_block_write(&w, first, node, ts, end, recs, n);
			if (err)
				goto out;
			n = 0;
		}
		if (!n) {
			first = id;
			ts = t;
			end = e;
			node = nd;
		}
		err = v2_flow_row(sel, &recs[n++], msg, len);
		if (err)
			goto out;
	}
	if (rc != SQLITE_DONE)
		err = sqlite_db_fail(db, rc, msg, len, "reading flows to migrate");
	else if (n)
		err = sqlite_block_write(&w, first, node, ts, end, recs, n);
	if (!err) {
		(void)sqlite3_finalize(sel); /* DROP TABLE needs no statement reading it */
		sel = NULL;
		err = exec_sql(db, "DROP TABLE flows", msg, len, "dropping the migrated flows");
	}
out:
	(void)sqlite3_finalize(sel);
	(void)sqlite3_finalize(w.block);
	(void)sqlite3_finalize(w.key);
	flowblock_free(w.enc);
	flowkeys_free(w.keys);
	free(recs);
	return err;
}

/* ---- writer: open, migrate, close ---- */

static int store_migrate(sqlite3 *db, char *msg, size_t len)
{
	char sql[64];
	int version;
	int err;

	/* The version is read again inside the write transaction, so that two processes
	 * opening a new file at once cannot both run a migration. */
	err = exec_sql(db, "BEGIN IMMEDIATE", msg, len, "starting the migration");
	if (err)
		return err;
	err = read_user_version(db, &version, msg, len);
	if (err)
		goto rollback;
	if (version > STORE_SQLITE_SCHEMA_VERSION || version < 0) {
		snprintf(msg, len, "schema version %d is newer than this program's (%d)", version,
			 STORE_SQLITE_SCHEMA_VERSION);
		err = -EPROTO;
		goto rollback;
	}
	if (version == STORE_SQLITE_SCHEMA_VERSION) {
		err = exec_sql(db, "COMMIT", msg, len, "ending the migration check");
		goto out;
	}
	for (int v = version; v < STORE_SQLITE_SCHEMA_VERSION; v++) {
		char what[48];

		snprintf(what, sizeof(what), "migration to schema version %d", v + 1);
		err = exec_sql(db, store_migrations[v], msg, len, what);
		if (!err && v + 1 == 3)
			err = flows_migrate(db, msg, len);
		if (err)
			goto rollback;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SQLITE_SCHEMA_VERSION);
	err = exec_sql(db, sql, msg, len, "setting the schema version");
	if (err)
		goto rollback;
	err = exec_sql(db, "COMMIT", msg, len, "committing the migration");
	if (err)
		goto rollback;
	/* Version 3 left the old flows table's pages free: give them back to the file
	 * system (an older file without incremental auto_vacuum keeps them for reuse). */
	if (version >= 1 && version < 3)
		return exec_sql(db, "PRAGMA incremental_vacuum", msg, len, "giving space back");
	return 0;
rollback:
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); /* err says why */
out:
	return err;
}

/* The settings of the writer's connection, then the schema. */
static int store_setup(struct sqlite_store *s)
{
	char *msg = s->errmsg;
	size_t len = sizeof(s->errmsg);
	sqlite3_stmt *st = NULL;
	int version;
	int err;
	int rc;

	rc = sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return sqlite_db_fail(s->db, rc, msg, len, "setting the busy timeout");
	/* Refuse a newer database before changing anything in it (journal mode). */
	err = read_user_version(s->db, &version, msg, len);
	if (err)
		return err;
	if (version > STORE_SQLITE_SCHEMA_VERSION || version < 0) {
		snprintf(msg, len, "schema version %d is newer than this program's (%d)", version,
			 STORE_SQLITE_SCHEMA_VERSION);
		return -EPROTO;
	}
	/* Only takes effect on a new file, before its first table: lets retention give
	 * deleted pages back (PRAGMA incremental_vacuum). */
	err = exec_sql(s->db, "PRAGMA auto_vacuum = INCREMENTAL", msg, len, "setting auto_vacuum");
	if (err)
		return err;
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = sqlite_db_fail(s->db, rc, msg, len, "setting WAL mode");
		(void)sqlite3_finalize(st);
		return err;
	}
	if (sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		snprintf(msg, len, "WAL mode refused (journal mode stays %s)",
			 (const char *)sqlite3_column_text(st, 0));
		(void)sqlite3_finalize(st);
		return -EIO;
	}
	(void)sqlite3_finalize(st);
	/* NORMAL in WAL mode: a commit survives a crash of the process; a power loss may
	 * lose the last commits, never corrupt the file. */
	err = exec_sql(s->db, "PRAGMA synchronous = NORMAL", msg, len, "setting synchronous");
	if (err)
		return err;
	err = exec_sql(s->db, "PRAGMA foreign_keys = ON", msg, len, "enabling foreign keys");
	if (err)
		return err;
	err = store_migrate(s->db, msg, len);
	if (err)
		return err;
	/* Each flow record inserts into eight indexes, five of them at random places:
	 * with SQLite's default 2 MB page cache every insert read and wrote those pages
	 * through the OS. Pages are allocated as used, so a small database stays small
	 * in memory (BENCHMARKS.md, 5: +45 % records/s at 1 M records). */
	err = exec_sql(s->db, "PRAGMA cache_size = " STORE_WRITER_CACHE_KIB, msg, len,
		       "setting the cache size");
	if (err)
		return err;
	for (int i = 0; i < ST_MAX; i++) {
		rc = sqlite3_prepare_v3(s->db, sqlite_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&s->stmt[i], NULL);
		if (rc != SQLITE_OK)
			return sqlite_db_fail(s->db, rc, msg, len, "preparing a statement");
	}
	return 0;
}

/* Frees a writer, whatever of it was set up; accepts NULL. */
static void writer_free(struct sqlite_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST_MAX; i++)
		(void)sqlite3_finalize(s->stmt[i]); /* accepts NULL */
	/* The last connection to close checkpoints and removes the WAL file. */
	(void)sqlite3_close_v2(s->db); /* accepts NULL */
	flowkeys_free(s->keys);
	flowblock_free(s->block);
	free(s);
}

struct store *store_sqlite_open(const struct store_config *cfg, char *err, size_t errlen)
{
	const char *path = cfg->url.path;
	struct sqlite_store *s;
	int rc;
	int e;

	s = calloc(1, sizeof(*s));
	if (s) {
		s->base.ops = &sqlite_ops;
		s->keys = flowkeys_new();
		s->block = flowblock_new();
	}
	if (!s || !s->keys || !s->block) {
		snprintf(err, errlen, "out of memory");
		writer_free(s);
		errno = ENOMEM;
		return NULL;
	}
	rc = sqlite3_open_v2(
	    path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		e = sqlite_db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), "opening");
	else
		e = store_setup(s);
	if (e) {
		snprintf(err, errlen, "%s", s->errmsg);
		writer_free(s);
		errno = e == -EPROTO ? EPROTO : (e == -ENOMEM ? ENOMEM : EIO);
		return NULL;
	}
	return &s->base;
}

static void sqlite_close(struct store *base)
{
	writer_free(sqlite_store_of(base));
}

static const char *sqlite_last_error(const struct store *base)
{
	return ((const struct sqlite_store *)base)->errmsg; /* base is its first member */
}

/* ---- readers: open, close ---- */

#define READER_NODES_SQL                                                                           \
	"SELECT id, name, boot_id, agent_version, last_seq, first_seen_ms, last_seen_ms,"          \
	" total_packets, total_bytes, active_connections, batches, records"                        \
	" FROM nodes ORDER BY name"
#define READER_LOSS_SQL "SELECT reason, count FROM node_loss WHERE node_id = ?1"

static int reader_setup(struct sqlite_reader *r)
{
	char *msg = r->errmsg;
	size_t len = sizeof(r->errmsg);
	int version;
	int err;
	int rc;

	rc = sqlite3_busy_timeout(r->db, STORE_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return sqlite_db_fail(r->db, rc, msg, len, "setting the busy timeout");
	err = read_user_version(r->db, &version, msg, len);
	if (err)
		return err;
	if (version != STORE_SQLITE_SCHEMA_VERSION) {
		snprintf(msg, len, "schema version %d, this program reads version %d", version,
			 STORE_SQLITE_SCHEMA_VERSION);
		return -EPROTO;
	}
	rc = sqlite3_prepare_v3(r->db, READER_NODES_SQL, -1, SQLITE_PREPARE_PERSISTENT, &r->nodes,
				NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(r->db, READER_LOSS_SQL, -1, SQLITE_PREPARE_PERSISTENT,
					&r->loss, NULL);
	if (rc != SQLITE_OK)
		return sqlite_db_fail(r->db, rc, msg, len, "preparing a statement");
	return 0;
}

/* Frees a reader, whatever of it was set up; accepts NULL. */
static void reader_free(struct sqlite_reader *r)
{
	if (!r)
		return;
	(void)sqlite3_finalize(r->nodes);
	(void)sqlite3_finalize(r->loss);
	(void)sqlite3_close_v2(r->db);
	free(r);
}

struct store_reader *store_sqlite_reader_open(const struct store_config *cfg, char *err,
					      size_t errlen)
{
	const char *path = cfg->url.path;
	struct sqlite_reader *r;
	struct stat sb;
	int rc;
	int e;

	if (stat(path, &sb) != 0) {
		e = errno;
		snprintf(err, errlen, "%s", strerror(e));
		errno = e;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	r->base.ops = &sqlite_ops;
	rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		e = sqlite_db_fail(r->db, rc, r->errmsg, sizeof(r->errmsg), "opening");
	else
		e = reader_setup(r);
	if (e) {
		snprintf(err, errlen, "%s", r->errmsg);
		reader_free(r);
		errno = e == -EPROTO ? EPROTO : (e == -ENOMEM ? ENOMEM : EIO);
		return NULL;
	}
	return &r->base;
}

static void sqlite_reader_close(struct store_reader *base)
{
	reader_free(sqlite_reader_of(base));
}

static const char *sqlite_reader_last_error(const struct store_reader *base)
{
	return ((const struct sqlite_reader *)base)->errmsg; /* base is its first member */
}

/* ---- what store.c calls ---- */

const struct store_ops sqlite_ops = {
    .close = sqlite_close,
    .append = sqlite_append,
    .retention_step = sqlite_retention_step,
    .db_bytes = sqlite_db_bytes,
    .last_error = sqlite_last_error,
    .reader_close = sqlite_reader_close,
    .reader_last_error = sqlite_reader_last_error,
    .query_history = sqlite_query_history,
    .query_dns = sqlite_query_dns,
    .query_domains = sqlite_query_domains,
    .list_nodes = sqlite_list_nodes,
};
