/* store_sqlite.c - the history store (store.h) on SQLite: the only file that speaks
 * sqlite3. Ingest's writer thread appends validated batches in one transaction each
 * call, with prepared statements reused for every row; HTTP threads query through
 * their own read-only connections, which WAL lets run beside the writer.
 *
 * Schema (version in PRAGMA user_version, migrations below applied in order):
 *   nodes       one row per node name: its newest report and what was stored of it
 *   node_loss   (node, reason) -> the loss ledger of the node's newest batch
 *   batches     (node, boot_id, seq) of every batch stored: the dedup set
 *   flow_blocks one row per batch with flow records (version 3; version 1 and 2 had a
 *               row a record): the records as one BLOB (collector/flowblock.h), ids
 *               id .. id + n - 1, their window, node and summed traffic
 *   flow_keys   one row per distinct key of a block (collector/flowkeys.h): an address
 *               prefix, port prefix, protocol or domain, and which of the block's
 *               records have it. Writing one index row a key of a batch instead of
 *               eight index entries a record is what lets one writer store hundreds of
 *               thousands of records a second (BENCHMARKS.md, 5).
 *   dns         one row per DNS record (version 2); client_ip/server_ip as 16-byte
 *               BLOBs (IPv4 mapped), name_rev the name reversed for suffix search
 *               (flowkeys_domain_reverse); answers as compact text, one answer a line:
 *               "<type> <ttl> <value>", value the address (A, AAAA) or the target
 *               (CNAME), e.g. "5 60 edge.example.net\n1 300 93.184.216.34" ("" for
 *               none). Names are validated by lib/wire (no control characters), so a
 *               line break cannot occur inside a value.
 * A history query walks the key rows of one filter's value (or the blocks, by time and
 * node), newest first, and reads only the records it returns or must check; every DNS
 * filter has an index (column, ts). store_explain_* lets the tests prove the plans.
 *
 * Integers are stored as SQLite's signed 64 bits: uint64_t values round-trip bit for
 * bit; times (Unix ms) are far below 2^63, and filter bounds above it are clamped. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "collector/store/flowblock.h"
#include "collector/store/flowkeys.h"
#include "collector/store.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_VACUUM_PAGES    "256" /* pages given back per retention step */
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

_Static_assert(ARRAY_SIZE(store_migrations) == STORE_SCHEMA_VERSION,
	       "one migration per schema version");
_Static_assert(FLOWKEYS_IP == 1 && FLOWKEYS_DOMAIN == 4 && FLOWKEYS_KINDS == 4,
	       "ST_RETAIN_KEYS lists every key kind");

/* ---- writer statements, prepared once ---- */

enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_NODE_GET,
	ST_NODE_INSERT,
	ST_NODE_SEEN,
	ST_NODE_LATEST,
	ST_LOSS_UPSERT,
	ST_BATCH_INSERT,
	ST_BLOCK_INSERT,
	ST_NEXT_ID,
	ST_DNS_INSERT,
	ST_KEY_INSERT,
	ST_RETAIN_BLOCKS,
	ST_RETAIN_KEYS,
	ST_RETAIN_DNS,
	ST_RETAIN_BATCHES,
	ST_VACUUM,
	ST_DB_BYTES,
	ST_MAX,
};

static const char *const store_stmt_sql[ST_MAX] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_NODE_GET] = "SELECT id, boot_id = ?2, last_seq, last_seen_ms FROM nodes WHERE name = ?1",
    [ST_NODE_INSERT] = "INSERT INTO nodes (name, boot_id, agent_version, last_seq,"
		       " first_seen_ms, last_seen_ms, total_packets, total_bytes,"
		       " active_connections, batches, records)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10)",
    [ST_NODE_SEEN] = "UPDATE nodes SET first_seen_ms = min(first_seen_ms, ?2),"
		     " last_seen_ms = max(last_seen_ms, ?3), batches = batches + 1,"
		     " records = records + ?4 WHERE id = ?1",
    [ST_NODE_LATEST] = "UPDATE nodes SET boot_id = ?2, agent_version = ?3, last_seq = ?4,"
		       " total_packets = ?5, total_bytes = ?6, active_connections = ?7"
		       " WHERE id = ?1",
    [ST_LOSS_UPSERT] = "INSERT INTO node_loss (node_id, reason, count) VALUES (?1, ?2, ?3)"
		       " ON CONFLICT (node_id, reason) DO UPDATE SET count = excluded.count",
    [ST_BATCH_INSERT] = "INSERT INTO batches (node_id, boot_id, seq, window_start_ms,"
			" window_end_ms, records, stored_ms)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    [ST_BLOCK_INSERT] = "INSERT INTO flow_blocks (id, ts, window_end, node_id, n, packets,"
			" bytes, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_NEXT_ID] = "SELECT id + n FROM flow_blocks ORDER BY id DESC LIMIT 1",
    [ST_DNS_INSERT] = "INSERT INTO dns (ts, node_id, name, name_rev, qtype, rcode, answered,"
		      " latency_us, ip_version, client_ip, server_ip, client_port, server_port,"
		      " answers)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_KEY_INSERT] = "INSERT INTO flow_keys (kind, value, ts, first_id, node_id, n, packets,"
		      " bytes, entries) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_RETAIN_BLOCKS] = "DELETE FROM flow_blocks WHERE id IN"
			 " (SELECT id FROM flow_blocks WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
    /* Only once no block of those times is left (store_retention_step). Every kind is
     * listed, so that the (kind, ts) index serves it (asserted below). */
    [ST_RETAIN_KEYS] = "DELETE FROM flow_keys WHERE (kind, value, ts, first_id) IN"
		       " (SELECT kind, value, ts, first_id FROM flow_keys"
		       " WHERE kind IN (1, 2, 3, 4) AND ts < ?1 LIMIT ?2)",
    [ST_RETAIN_DNS] = "DELETE FROM dns WHERE id IN"
		      " (SELECT id FROM dns WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
    [ST_RETAIN_BATCHES] = "DELETE FROM batches WHERE (node_id, boot_id, seq) IN"
			  " (SELECT node_id, boot_id, seq FROM batches WHERE stored_ms < ?1"
			  " ORDER BY stored_ms LIMIT ?2)",
    [ST_VACUUM] = "PRAGMA incremental_vacuum(" STORE_VACUUM_PAGES ")",
    [ST_DB_BYTES] = "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
};

/* Owned by the writer thread. */
struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_MAX];
	struct flowkeys *keys;	 /* reused for every batch */
	struct flowblock *block; /* likewise */
	int64_t next_id;	 /* of the next block: past the newest block's records */
	char errmsg[256];
};

/* Owned by one HTTP thread. */
struct store_reader {
	sqlite3 *db;
	sqlite3_stmt *nodes;
	sqlite3_stmt *loss;
	char errmsg[256];
};

/* ---- helpers ---- */

static int store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_READONLY:
		return -EROFS;
	default:
		return -EIO;
	}
}

/* Records what failed and returns the matching negative errno. */
static int db_fail(sqlite3 *db, int rc, char *msg, size_t len, const char *what)
{
	snprintf(msg, len, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return store_errno(rc);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t clamp_i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Binding helpers: each does nothing once *rc is an error, so a run of binds is checked
 * once at its end. */
static void bind_i64(sqlite3_stmt *st, int i, int64_t v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_int64(st, i, v);
}

static void bind_u64(sqlite3_stmt *st, int i, uint64_t v, int *rc)
{
	bind_i64(st, i, (int64_t)v, rc); /* bit for bit; read back as uint64_t */
}

/* s: NUL-terminated within max bytes (a wire struct field); borrowed until reset. */
static void bind_str(sqlite3_stmt *st, int i, const char *s, size_t max, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_text(st, i, s, (int)strnlen(s, max), SQLITE_STATIC);
}

static void bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
}

/* The column's text (up to its first NUL), cut to size - 1 bytes; "" for NULL. */
static void copy_text(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = t ? strnlen((const char *)t, (size_t)sqlite3_column_bytes(st, col)) : 0;

	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, t, n);
	dst[n] = '\0';
}

/* Reads PRAGMA user_version into *version. */
static int read_user_version(sqlite3 *db, int *version, char *msg, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, msg, len, "reading the schema version");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int err = db_fail(db, rc, msg, len, "reading the schema version");

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
		return db_fail(db, rc, msg, len, what);
	return 0;
}

/* ---- flow blocks and their keys (collector/flowblock.h, flowkeys.h) ---- */

/* What writes one block: the prepared ST_BLOCK_INSERT and ST_KEY_INSERT, the encoders. */
struct block_writer {
	sqlite3 *db;
	sqlite3_stmt *block;
	sqlite3_stmt *key;
	struct flowblock *enc;
	struct flowkeys *keys;
	char *msg;
	size_t len;
};

static int step_done(sqlite3_stmt *st, int rc)
{
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	(void)sqlite3_reset(st);
	return rc;
}

/* Writes recs[0..n) (n > 0) as the block id (records id .. id + n - 1) of a window of
 * node_id, and its keys. */
static int block_write(struct block_writer *w, int64_t id, int64_t node_id, uint64_t ts,
		       uint64_t window_end, const struct wire_record *recs, size_t n)
{
	struct flowkeys_key key;
	uint64_t packets = 0, bytes = 0;
	int rc = SQLITE_OK;
	int err;

	err = flowblock_encode(w->enc, recs, n);
	if (!err)
		err = flowkeys_build(w->keys, recs, n);
	if (err) {
		snprintf(w->msg, w->len, "encoding a batch's records: %s", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		packets += recs[i].packets_sent + recs[i].packets_received;
		bytes += recs[i].bytes_sent + recs[i].bytes_received;
	}
	bind_i64(w->block, 1, id, &rc);
	bind_u64(w->block, 2, ts, &rc);
	bind_u64(w->block, 3, window_end, &rc);
	bind_i64(w->block, 4, node_id, &rc);
	bind_i64(w->block, 5, (int64_t)n, &rc);
	bind_u64(w->block, 6, packets, &rc);
	bind_u64(w->block, 7, bytes, &rc);
	bind_blob(w->block, 8, flowblock_data(w->enc), flowblock_len(w->enc), &rc);
	rc = step_done(w->block, rc);
	if (rc != SQLITE_OK)
		return db_fail(w->db, rc, w->msg, w->len, "inserting flow records");
	for (size_t i = 0; i < flowkeys_count(w->keys); i++) {
		flowkeys_get(w->keys, i, &key);
		bind_i64(w->key, 1, key.kind, &rc);
		if (key.is_int)
			bind_i64(w->key, 2, key.ivalue, &rc);
		else
			bind_blob(w->key, 2, key.data, key.len, &rc);
		bind_u64(w->key, 3, ts, &rc);
		bind_i64(w->key, 4, id, &rc);
		bind_i64(w->key, 5, node_id, &rc);
		bind_i64(w->key, 6, (int64_t)key.n, &rc);
		bind_u64(w->key, 7, key.packets, &rc);
		bind_u64(w->key, 8, key.bytes, &rc);
		bind_blob(w->key, 9, key.entries, key.n * FLOWKEYS_ENTRY_BYTES, &rc);
		rc = step_done(w->key, rc);
		if (rc != SQLITE_OK)
			return db_fail(w->db, rc, w->msg, w->len, "inserting a flow key");
	}
	return 0;
}

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
	copy_text(r->interface, sizeof(r->interface), st, 17);
	copy_text(r->domain, sizeof(r->domain), st, 18);
	copy_text(r->src_hostname, sizeof(r->src_hostname), st, 19);
	copy_text(r->dst_hostname, sizeof(r->dst_hostname), st, 20);
	return 0;
}

/* Migration to version 3: the stored flows into blocks, keeping their ids. A batch's
 * records are consecutive ids of one node and window: such runs (up to WIRE_MAX_RECORDS)
 * become one block each. Then the flows table (and its indexes) goes. */
static int flows_migrate(sqlite3 *db, char *msg, size_t len)
{
	struct block_writer w = {.db = db, .msg = msg, .len = len};
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
		rc = sqlite3_prepare_v2(db, store_stmt_sql[ST_BLOCK_INSERT], -1, &w.block, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, store_stmt_sql[ST_KEY_INSERT], -1, &w.key, NULL);
	if (rc != SQLITE_OK) {
		err = db_fail(db, rc, msg, len, "preparing the flow migration");
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
			err = block_write(&w, first, node, ts, end, recs, n);
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
		err = db_fail(db, rc, msg, len, "reading flows to migrate");
	else if (n)
		err = block_write(&w, first, node, ts, end, recs, n);
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
	if (version > STORE_SCHEMA_VERSION || version < 0) {
		snprintf(msg, len, "schema version %d is newer than this program's (%d)", version,
			 STORE_SCHEMA_VERSION);
		err = -EPROTO;
		goto rollback;
	}
	if (version == STORE_SCHEMA_VERSION) {
		err = exec_sql(db, "COMMIT", msg, len, "ending the migration check");
		goto out;
	}
	for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
		char what[48];

		snprintf(what, sizeof(what), "migration to schema version %d", v + 1);
		err = exec_sql(db, store_migrations[v], msg, len, what);
		if (!err && v + 1 == 3)
			err = flows_migrate(db, msg, len);
		if (err)
			goto rollback;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
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
static int store_setup(struct store *s)
{
	char *msg = s->errmsg;
	size_t len = sizeof(s->errmsg);
	sqlite3_stmt *st = NULL;
	int version;
	int err;
	int rc;

	rc = sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return db_fail(s->db, rc, msg, len, "setting the busy timeout");
	/* Refuse a newer database before changing anything in it (journal mode). */
	err = read_user_version(s->db, &version, msg, len);
	if (err)
		return err;
	if (version > STORE_SCHEMA_VERSION || version < 0) {
		snprintf(msg, len, "schema version %d is newer than this program's (%d)", version,
			 STORE_SCHEMA_VERSION);
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
		err = db_fail(s->db, rc, msg, len, "setting WAL mode");
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
		rc = sqlite3_prepare_v3(s->db, store_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&s->stmt[i], NULL);
		if (rc != SQLITE_OK)
			return db_fail(s->db, rc, msg, len, "preparing a statement");
	}
	return 0;
}

struct store *store_open(const char *path, char *err, size_t errlen)
{
	struct store *s;
	int rc;
	int e;

	s = calloc(1, sizeof(*s));
	if (s) {
		s->keys = flowkeys_new();
		s->block = flowblock_new();
	}
	if (!s || !s->keys || !s->block) {
		snprintf(err, errlen, "%s: out of memory", path);
		store_close(s);
		errno = ENOMEM;
		return NULL;
	}
	rc = sqlite3_open_v2(
	    path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		e = db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), "opening");
	else
		e = store_setup(s);
	if (e) {
		snprintf(err, errlen, "%s: %s", path, s->errmsg);
		store_close(s);
		errno = e == -EPROTO ? EPROTO : (e == -ENOMEM ? ENOMEM : EIO);
		return NULL;
	}
	return s;
}

void store_close(struct store *s)
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

const char *store_last_error(const struct store *s)
{
	return s->errmsg;
}

/* ---- writer: append ---- */

/* Runs a prepared statement to its end and resets it. */
static int stmt_run(struct store *s, enum store_stmt which, const char *what)
{
	sqlite3_stmt *st = s->stmt[which];
	int rc;

	do
		rc = sqlite3_step(st);
	while (rc == SQLITE_ROW);
	if (rc != SQLITE_DONE) {
		int err = db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), what);

		(void)sqlite3_reset(st);
		return err;
	}
	(void)sqlite3_reset(st);
	return 0;
}

static int bind_done(struct store *s, int rc, const char *what)
{
	if (rc == SQLITE_OK)
		return 0;
	return db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), what);
}

/* The node's row, if any: its id, whether boot_id is the node's current one, and the
 * seq and last_seen of its newest batch. */
static int node_get(struct store *s, const struct wire_batch *b, bool *known, int64_t *id,
		    bool *same_boot, uint64_t *last_seq, uint64_t *last_seen)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_GET];
	int rc = SQLITE_OK;
	int err;

	bind_str(st, 1, b->node, sizeof(b->node), &rc);
	bind_str(st, 2, b->boot_id, sizeof(b->boot_id), &rc);
	err = bind_done(s, rc, "looking up the node");
	if (err)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*known = true;
		*id = sqlite3_column_int64(st, 0);
		*same_boot = sqlite3_column_int(st, 1) != 0;
		*last_seq = (uint64_t)sqlite3_column_int64(st, 2);
		*last_seen = (uint64_t)sqlite3_column_int64(st, 3);
	} else if (rc == SQLITE_DONE) {
		*known = false;
	} else {
		err = db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), "looking up the node");
		(void)sqlite3_reset(st);
		return err;
	}
	(void)sqlite3_reset(st);
	return 0;
}

static int node_insert(struct store *s, const struct wire_batch *b, int64_t *id)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_INSERT];
	int rc = SQLITE_OK;
	int err;

	bind_str(st, 1, b->node, sizeof(b->node), &rc);
	bind_str(st, 2, b->boot_id, sizeof(b->boot_id), &rc);
	bind_str(st, 3, b->agent_version, sizeof(b->agent_version), &rc);
	bind_u64(st, 4, b->seq, &rc);
	bind_u64(st, 5, b->window_start_ms, &rc);
	bind_u64(st, 6, b->window_end_ms, &rc);
	bind_u64(st, 7, b->total_packets, &rc);
	bind_u64(st, 8, b->total_bytes, &rc);
	bind_u64(st, 9, b->active_connections, &rc);
	bind_u64(st, 10, b->nrecords, &rc);
	err = bind_done(s, rc, "inserting the node");
	if (!err)
		err = stmt_run(s, ST_NODE_INSERT, "inserting the node");
	if (err)
		return err;
	*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int node_seen(struct store *s, int64_t id, const struct wire_batch *b)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_SEEN];
	int rc = SQLITE_OK;
	int err;

	bind_i64(st, 1, id, &rc);
	bind_u64(st, 2, b->window_start_ms, &rc);
	bind_u64(st, 3, b->window_end_ms, &rc);
	bind_u64(st, 4, b->nrecords, &rc);
	err = bind_done(s, rc, "updating the node");
	return err ? err : stmt_run(s, ST_NODE_SEEN, "updating the node");
}

static int node_latest(struct store *s, int64_t id, const struct wire_batch *b)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_LATEST];
	int rc = SQLITE_OK;
	int err;

	bind_i64(st, 1, id, &rc);
	bind_str(st, 2, b->boot_id, sizeof(b->boot_id), &rc);
	bind_str(st, 3, b->agent_version, sizeof(b->agent_version), &rc);
	bind_u64(st, 4, b->seq, &rc);
	bind_u64(st, 5, b->total_packets, &rc);
	bind_u64(st, 6, b->total_bytes, &rc);
	bind_u64(st, 7, b->active_connections, &rc);
	err = bind_done(s, rc, "updating the node's counters");
	return err ? err : stmt_run(s, ST_NODE_LATEST, "updating the node's counters");
}

static int node_loss(struct store *s, int64_t id, const struct wire_batch *b)
{
	sqlite3_stmt *st = s->stmt[ST_LOSS_UPSERT];

	for (int i = 0; i < WIRE_LOSS_MAX; i++) {
		int rc = SQLITE_OK;
		int err;

		bind_i64(st, 1, id, &rc);
		bind_i64(st, 2, i, &rc);
		bind_u64(st, 3, b->lost[i], &rc);
		err = bind_done(s, rc, "updating the loss ledger");
		if (!err)
			err = stmt_run(s, ST_LOSS_UPSERT, "updating the loss ledger");
		if (err)
			return err;
	}
	return 0;
}

/* Inserts the dedup entry; *inserted false when (node, boot, seq) was there already. */
static int batch_insert(struct store *s, int64_t node_id, const struct wire_batch *b, uint64_t now,
			bool *inserted)
{
	sqlite3_stmt *st = s->stmt[ST_BATCH_INSERT];
	int rc = SQLITE_OK;
	int err;

	bind_i64(st, 1, node_id, &rc);
	bind_str(st, 2, b->boot_id, sizeof(b->boot_id), &rc);
	bind_u64(st, 3, b->seq, &rc);
	bind_u64(st, 4, b->window_start_ms, &rc);
	bind_u64(st, 5, b->window_end_ms, &rc);
	bind_u64(st, 6, b->nrecords, &rc);
	bind_u64(st, 7, now, &rc);
	err = bind_done(s, rc, "inserting the batch");
	if (!err)
		err = stmt_run(s, ST_BATCH_INSERT, "inserting the batch");
	if (err)
		return err;
	*inserted = sqlite3_changes(s->db) == 1;
	return 0;
}

/* Loads s->next_id: past the newest block's records (1 for none), as a rowid would be. */
static int next_id_load(struct store *s)
{
	sqlite3_stmt *st = s->stmt[ST_NEXT_ID];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		s->next_id = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		s->next_id = 1;
	(void)sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), "finding the next flow id");
	return 0;
}

static int flows_append(struct store *s, int64_t node_id, const struct wire_batch *b)
{
	struct block_writer w = {.db = s->db,
				 .block = s->stmt[ST_BLOCK_INSERT],
				 .key = s->stmt[ST_KEY_INSERT],
				 .enc = s->block,
				 .keys = s->keys,
				 .msg = s->errmsg,
				 .len = sizeof(s->errmsg)};
	int err;

	if (!b->nrecords)
		return 0;
	err = block_write(&w, s->next_id, node_id, b->window_start_ms, b->window_end_ms, b->records,
			  b->nrecords);
	if (!err)
		s->next_id += (int64_t)b->nrecords;
	return err;
}

/* "<type> <ttl> <value>" lines (see the top of the file) into buf. */
static void dns_answers_text(const struct wire_dns *d, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t j = 0; j < d->nanswers && j < WIRE_DNS_MAX_ANSWERS; j++) {
		const struct wire_dns_answer *a = &d->answers[j];
		char value[WIRE_NAME_MAX + 1];
		int n;

		if (a->type == 1)
			inet_ntop(AF_INET, a->addr + 12, value, sizeof(value));
		else if (a->type == 28)
			inet_ntop(AF_INET6, a->addr, value, sizeof(value));
		else
			snprintf(value, sizeof(value), "%s", a->target);
		n = snprintf(buf + used, len - used, "%s%u %u %s", j ? "\n" : "",
			     (unsigned int)a->type, (unsigned int)a->ttl, value);
		if (n < 0 || (size_t)n >= len - used)
			break; /* cannot happen: len is sized for WIRE_DNS_MAX_ANSWERS */
		used += (size_t)n;
	}
}

/* Room for WIRE_DNS_MAX_ANSWERS lines of "65535 4294967295 <name>\n". */
#define DNS_ANSWERS_TEXT_LEN (WIRE_DNS_MAX_ANSWERS * (WIRE_NAME_MAX + 20))

static int dns_insert(struct store *s, int64_t node_id, const struct wire_dns *d)
{
	sqlite3_stmt *st = s->stmt[ST_DNS_INSERT];
	uint8_t rev[WIRE_NAME_MAX + 2];
	char answers[DNS_ANSWERS_TEXT_LEN];
	size_t nlen = strnlen(d->name, sizeof(d->name));
	int rc = SQLITE_OK;
	int err;

	dns_answers_text(d, answers, sizeof(answers));
	bind_u64(st, 1, d->ts_ms, &rc);
	bind_i64(st, 2, node_id, &rc);
	bind_str(st, 3, d->name, sizeof(d->name), &rc);
	bind_blob(st, 4, rev, flowkeys_domain_reverse(d->name, nlen, rev), &rc);
	bind_i64(st, 5, d->qtype, &rc);
	bind_i64(st, 6, d->rcode, &rc);
	bind_i64(st, 7, d->answered ? 1 : 0, &rc);
	bind_i64(st, 8, d->latency_us, &rc);
	bind_i64(st, 9, d->ip_version, &rc);
	bind_blob(st, 10, d->client_addr, sizeof(d->client_addr), &rc);
	bind_blob(st, 11, d->server_addr, sizeof(d->server_addr), &rc);
	bind_i64(st, 12, d->client_port, &rc);
	bind_i64(st, 13, d->server_port, &rc);
	bind_str(st, 14, answers, sizeof(answers), &rc);
	err = bind_done(s, rc, "inserting a DNS record");
	return err ? err : stmt_run(s, ST_DNS_INSERT, "inserting a DNS record");
}

static int append_one(struct store *s, const struct wire_batch *b, uint64_t now, bool *dup)
{
	uint64_t last_seq = 0;
	uint64_t last_seen = 0;
	bool same_boot = false;
	bool inserted = false;
	bool known = false;
	int64_t id = 0;
	int err;

	err = node_get(s, b, &known, &id, &same_boot, &last_seq, &last_seen);
	if (err)
		return err;
	if (known) {
		err = batch_insert(s, id, b, now, &inserted);
		if (err)
			return err;
		if (!inserted) {
			*dup = true;
			return 0;
		}
		err = node_seen(s, id, b);
		if (err)
			return err;
		/* Batches may arrive out of order (retries): only the newest one's
		 * cumulative counters and ledger describe the node now. */
		if (same_boot ? b->seq > last_seq : b->window_end_ms >= last_seen) {
			err = node_latest(s, id, b);
			if (!err)
				err = node_loss(s, id, b);
			if (err)
				return err;
		}
	} else {
		err = node_insert(s, b, &id);
		if (!err)
			err = batch_insert(s, id, b, now, &inserted);
		if (!err)
			err = node_loss(s, id, b);
		if (err)
			return err;
	}
	err = flows_append(s, id, b);
	if (err)
		return err;
	for (size_t i = 0; i < b->ndns; i++) {
		err = dns_insert(s, id, &b->dns[i]);
		if (err)
			return err;
	}
	*dup = false;
	return 0;
}

/* Ends a failed write transaction, keeping the first error's message. */
static void store_rollback(struct store *s)
{
	/* The transaction's blocks are gone with it: the next append finds the next id
	 * again (store_append). */
	s->next_id = 0;
	if (sqlite3_get_autocommit(s->db))
		return; /* SQLite rolled back already (e.g. SQLITE_FULL) */
	if (sqlite3_step(s->stmt[ST_ROLLBACK]) != SQLITE_DONE || !sqlite3_get_autocommit(s->db)) {
		/* Cannot happen short of a broken connection; make sure no later call
		 * commits this one's half. */
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	(void)sqlite3_reset(s->stmt[ST_ROLLBACK]);
}

int store_append(struct store *s, const struct wire_batch *const *batches, size_t n,
		 bool *duplicate)
{
	uint64_t now = now_ms();
	bool *dup;
	int err;

	s->errmsg[0] = '\0';
	if (n == 0)
		return 0;
	dup = calloc(n, sizeof(*dup));
	if (!dup) {
		snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
		return -ENOMEM;
	}
	err = stmt_run(s, ST_BEGIN, "beginning the transaction");
	if (err)
		goto out;
	if (!s->next_id) {
		err = next_id_load(s);
		if (err)
			goto rollback;
	}
	for (size_t i = 0; i < n; i++) {
		err = append_one(s, batches[i], now, &dup[i]);
		if (err)
			goto rollback;
	}
	err = stmt_run(s, ST_COMMIT, "committing");
	if (err)
		goto rollback;
	memcpy(duplicate, dup, n * sizeof(*dup));
	goto out;
rollback:
	store_rollback(s);
out:
	free(dup);
	return err;
}

/* ---- writer: retention, size ---- */

static int retain_delete(struct store *s, enum store_stmt which, int64_t before, unsigned max,
			 unsigned *deleted)
{
	sqlite3_stmt *st = s->stmt[which];
	int rc = SQLITE_OK;
	int err;

	bind_i64(st, 1, before, &rc);
	bind_i64(st, 2, max, &rc);
	err = bind_done(s, rc, "retention");
	if (!err)
		err = stmt_run(s, which, "retention");
	if (err)
		return err;
	*deleted = (unsigned)sqlite3_changes(s->db);
	return 0;
}

int store_retention_step(struct store *s, uint64_t older_than_ms, unsigned max_rows,
			 unsigned *deleted)
{
	uint64_t now = now_ms();
	uint64_t dedup_before = now > STORE_DEDUP_WINDOW_MS ? now - STORE_DEDUP_WINDOW_MS : 0;
	unsigned flows = 0;
	unsigned keys = 0;
	unsigned dns = 0;
	unsigned dedup = 0;
	int err;

	s->errmsg[0] = '\0';
	if (older_than_ms < dedup_before)
		dedup_before = older_than_ms;
	if (max_rows == 0) {
		*deleted = 0;
		return 0;
	}
	err = stmt_run(s, ST_BEGIN, "beginning retention");
	if (err)
		return err;
	err = retain_delete(s, ST_RETAIN_BLOCKS, clamp_i64(older_than_ms), max_rows, &flows);
	if (err)
		goto rollback;
	/* Keys go once their blocks are all gone, so that a key never misses a stored
	 * block (a query skips keys whose block is gone). */
	if (flows < max_rows) {
		err = retain_delete(s, ST_RETAIN_KEYS, clamp_i64(older_than_ms), max_rows - flows,
				    &keys);
		if (err)
			goto rollback;
	}
	if (flows + keys < max_rows) {
		err = retain_delete(s, ST_RETAIN_DNS, clamp_i64(older_than_ms),
				    max_rows - flows - keys, &dns);
		if (err)
			goto rollback;
	}
	if (flows + keys + dns < max_rows) {
		err = retain_delete(s, ST_RETAIN_BATCHES, clamp_i64(dedup_before),
				    max_rows - flows - keys - dns, &dedup);
		if (err)
			goto rollback;
	}
	if (flows + keys + dns + dedup) {
		err = stmt_run(s, ST_VACUUM, "incremental vacuum");
		if (err)
			goto rollback;
	}
	err = stmt_run(s, ST_COMMIT, "committing retention");
	if (err)
		goto rollback;
	*deleted = flows + keys + dns + dedup;
	return 0;
rollback:
	store_rollback(s);
	return err;
}

int64_t store_db_bytes(struct store *s)
{
	sqlite3_stmt *st = s->stmt[ST_DB_BYTES];
	int64_t bytes;
	int rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int err = db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), "database size");

		(void)sqlite3_reset(st);
		return err;
	}
	bytes = sqlite3_column_int64(st, 0);
	(void)sqlite3_reset(st);
	return bytes;
}

/* ---- readers ---- */

#define READER_NODES_SQL                                                                           \
	"SELECT id, name, boot_id, agent_version, last_seq, first_seen_ms, last_seen_ms,"          \
	" total_packets, total_bytes, active_connections, batches, records"                        \
	" FROM nodes ORDER BY name"
#define READER_LOSS_SQL "SELECT reason, count FROM node_loss WHERE node_id = ?1"

static int reader_setup(struct store_reader *r)
{
	char *msg = r->errmsg;
	size_t len = sizeof(r->errmsg);
	int version;
	int err;
	int rc;

	rc = sqlite3_busy_timeout(r->db, STORE_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return db_fail(r->db, rc, msg, len, "setting the busy timeout");
	err = read_user_version(r->db, &version, msg, len);
	if (err)
		return err;
	if (version != STORE_SCHEMA_VERSION) {
		snprintf(msg, len, "schema version %d, this program reads version %d", version,
			 STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	rc = sqlite3_prepare_v3(r->db, READER_NODES_SQL, -1, SQLITE_PREPARE_PERSISTENT, &r->nodes,
				NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(r->db, READER_LOSS_SQL, -1, SQLITE_PREPARE_PERSISTENT,
					&r->loss, NULL);
	if (rc != SQLITE_OK)
		return db_fail(r->db, rc, msg, len, "preparing a statement");
	return 0;
}

struct store_reader *store_reader_open(const char *path, char *err, size_t errlen)
{
	struct store_reader *r;
	struct stat sb;
	int rc;
	int e;

	if (stat(path, &sb) != 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "%s: out of memory", path);
		errno = ENOMEM;
		return NULL;
	}
	rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		e = db_fail(r->db, rc, r->errmsg, sizeof(r->errmsg), "opening");
	else
		e = reader_setup(r);
	if (e) {
		snprintf(err, errlen, "%s: %s", path, r->errmsg);
		store_reader_close(r);
		errno = e == -EPROTO ? EPROTO : (e == -ENOMEM ? ENOMEM : EIO);
		return NULL;
	}
	return r;
}

void store_reader_close(struct store_reader *r)
{
	if (!r)
		return;
	(void)sqlite3_finalize(r->nodes);
	(void)sqlite3_finalize(r->loss);
	(void)sqlite3_close_v2(r->db);
	free(r);
}

const char *store_reader_last_error(const struct store_reader *r)
{
	return r->errmsg;
}

static int reader_fail(struct store_reader *r, int rc, const char *what)
{
	return db_fail(r->db, rc, r->errmsg, sizeof(r->errmsg), what);
}

/* A read transaction makes the statements inside it see one committed state. */
static int reader_begin(struct store_reader *r)
{
	int rc = sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : reader_fail(r, rc, "beginning a read");
}

static void reader_end(struct store_reader *r)
{
	/* A read transaction has nothing to lose: an error here only means it is over. */
	if (!sqlite3_get_autocommit(r->db))
		(void)sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
}

/* ---- history, DNS and domain queries: SQL assembled from fixed fragments, every value
 * bound ---- */

#define HQ_MAX_PARAMS 16

/* A name filter on reversed names (flowkeys_domain_reverse): "example.com" is lo
 * exactly; ".example.com" is [lo, hi) = [ "moc.elpmaxe." , "moc.elpmaxe/" ): the name
 * and every name below it. */
struct name_range {
	uint8_t lo[WIRE_NAME_MAX + 2];
	uint8_t hi[WIRE_NAME_MAX + 2];
	size_t len; /* of lo and hi */
	bool suffix;
};

/* -EINVAL for "" and ".". */
static int name_range_of(const char *name, struct name_range *d)
{
	size_t len;

	d->suffix = name[0] == '.';
	if (d->suffix)
		name++;
	len = strlen(name);
	if (len == 0 || len > WIRE_NAME_MAX)
		return -EINVAL;
	d->len = flowkeys_domain_reverse(name, len, d->lo);
	memcpy(d->hi, d->lo, d->len);
	d->hi[d->len - 1] = '.' + 1;
	return 0;
}

struct hq_param {
	bool blob;
	int64_t i;
	const void *p;
	int n;
};

struct hq {
	const char *rows_sql;  /* a format with one %s: the WHERE clause */
	const char *count_sql; /* the same for the count; NULL: none */
	const char *what;      /* "history", "DNS", "domains": for error messages */
	char where[768];
	size_t wlen;
	struct hq_param param[HQ_MAX_PARAMS];
	int nparam;
	int64_t limit;	     /* rows wanted at most (capacity of the result) */
	int64_t tail[2];     /* bound after the conditions' values (rows query only) */
	int64_t count_bound; /* the count query counts at most this many rows */
	struct name_range dom;
};

/* Appends " WHERE cond" or " AND cond"; cond is a constant of this file. */
static void hq_cond(struct hq *q, const char *cond)
{
	int n = snprintf(q->where + q->wlen, sizeof(q->where) - q->wlen, "%s%s",
			 q->wlen ? " AND " : " WHERE ", cond);

	q->wlen += (size_t)n; /* the fragments fit: sizeof(where) > all of them */
}

static void hq_int(struct hq *q, int64_t v)
{
	q->param[q->nparam++] = (struct hq_param){.i = v};
}

static void hq_blob(struct hq *q, const void *p, size_t n)
{
	q->param[q->nparam++] = (struct hq_param){.blob = true, .p = p, .n = (int)n};
}

static void hq_text(struct hq *q, const char *s)
{
	q->param[q->nparam++] = (struct hq_param){.p = s, .n = (int)strlen(s)};
}

/* A name condition on col (a *_rev column): name exactly, or with a leading dot, the
 * name and every name below it. "" and "." are -EINVAL. */
static int hq_name(struct hq *q, const char *col, const char *name)
{
	struct name_range *d = &q->dom;
	char cond[128];

	if (name_range_of(name, d))
		return -EINVAL;
	if (!d->suffix) {
		snprintf(cond, sizeof(cond), "%s = ?", col);
		hq_cond(q, cond);
		hq_blob(q, d->lo, d->len);
	} else {
		/* The likelihood() tells the planner the range is narrow, so that it
		 * prefers the name index to the time index. */
		snprintf(cond, sizeof(cond),
			 "likelihood(%s >= ?, 0.01) AND likelihood(%s < ?, 0.01)", col, col);
		hq_cond(q, cond);
		hq_blob(q, d->lo, d->len);
		hq_blob(q, d->hi, d->len);
	}
	return 0;
}

/* Enough to tell whether there is a page after this one, and at least STORE_COUNT_CAP. */
static int64_t hq_count_bound(uint64_t limit, uint64_t offset)
{
	uint64_t b = offset + limit + 1;

	if (b < offset || b > INT64_MAX)
		return INT64_MAX;
	return (int64_t)(b > STORE_COUNT_CAP ? b : STORE_COUNT_CAP);
}

/* The SQL of q's rows (count false) or count query, prefixed by prefix. */
static void hq_sql(const struct hq *q, bool count, const char *prefix, char *sql, size_t len)
{
	/* The template's one "%s" is where the WHERE clause goes. */
	const char *tmpl = count ? q->count_sql : q->rows_sql;
	const char *at = strstr(tmpl, "%s");

	snprintf(sql, len, "%s%.*s%s%s", prefix, (int)(at - tmpl), tmpl, q->where, at + 2);
}

/* Prepares the rows (count false) or count query of q, prefixed by prefix, and binds. */
static int hq_prepare(struct store_reader *r, const struct hq *q, bool count, const char *prefix,
		      sqlite3_stmt **out)
{
	char sql[2048];
	char what[48];
	sqlite3_stmt *st = NULL;
	int rc;
	int i;

	hq_sql(q, count, prefix, sql, sizeof(sql));
	snprintf(what, sizeof(what), "preparing the %s query", q->what);
	rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return reader_fail(r, rc, what);
	for (i = 0; i < q->nparam && rc == SQLITE_OK; i++) {
		const struct hq_param *p = &q->param[i];

		if (!p->p)
			rc = sqlite3_bind_int64(st, i + 1, p->i);
		else if (p->blob)
			rc = sqlite3_bind_blob(st, i + 1, p->p, p->n, SQLITE_STATIC);
		else
			rc = sqlite3_bind_text(st, i + 1, p->p, p->n, SQLITE_STATIC);
	}
	if (count && rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, i + 1, q->count_bound);
	if (!count && rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, i + 1, q->tail[0]);
	if (!count && rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, i + 2, q->tail[1]);
	if (rc != SQLITE_OK) {
		int err = reader_fail(r, rc, "binding a query");

		(void)sqlite3_finalize(st);
		return err;
	}
	*out = st;
	return 0;
}

static int column_addr(sqlite3_stmt *st, int col, uint8_t out[16])
{
	if (sqlite3_column_bytes(st, col) != 16)
		return -EIO;
	memcpy(out, sqlite3_column_blob(st, col), 16);
	return 0;
}

static int hq_count(struct store_reader *r, const struct hq *q, uint64_t *total, bool *capped)
{
	sqlite3_stmt *st;
	int err;
	int rc;

	err = hq_prepare(r, q, true, "", &st);
	if (err)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*total = (uint64_t)sqlite3_column_int64(st, 0);
		*capped = (int64_t)*total >= q->count_bound;
	} else
		err = reader_fail(r, rc, "counting rows");
	(void)sqlite3_finalize(st);
	return err;
}

/* Runs the rows query of q: each row is read by row() into the next element (of size
 * bytes) of *rows (realloc'd, at most q->limit elements), *n counts them. */
static int hq_collect(struct store_reader *r, const struct hq *q, size_t size,
		      int (*row)(struct store_reader *, sqlite3_stmt *, void *), void **rows,
		      size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int err;
	int rc;

	err = hq_prepare(r, q, false, "", &st);
	if (err)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *grown;

			if (ncap > (size_t)q->limit)
				ncap = (size_t)q->limit;
			grown = realloc(*rows, ncap * size);
			if (!grown) {
				snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
				err = -ENOMEM;
				break;
			}
			*rows = grown;
			cap = ncap;
		}
		err = row(r, st, (char *)*rows + *n * size);
		if (err)
			break;
		(*n)++;
	}
	if (!err && rc != SQLITE_DONE)
		err = reader_fail(r, rc, "reading rows");
	(void)sqlite3_finalize(st);
	return err;
}

/* Appends the plan of sql (its parameters unbound), one step a line. */
static int explain_sql(struct store_reader *r, const char *sql, char *plan, size_t len,
		       size_t *used)
{
	char eqp[2048];
	sqlite3_stmt *st;
	int err = 0;
	int rc;

	snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
	rc = sqlite3_prepare_v2(r->db, eqp, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return reader_fail(r, rc, "explaining a query");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *detail = sqlite3_column_text(st, 3);
		int n =
		    snprintf(plan + *used, len - *used, "%s\n", detail ? (const char *)detail : "");

		if (n < 0 || (size_t)n >= len - *used) {
			err = -ENOSPC;
			break;
		}
		*used += (size_t)n;
	}
	if (!err && rc != SQLITE_DONE)
		err = reader_fail(r, rc, "explaining a query");
	(void)sqlite3_finalize(st);
	return err;
}

static int explain_hq(struct store_reader *r, const struct hq *q, char *plan, size_t len)
{
	char sql[2048];
	size_t used = 0;
	int err;

	if (len == 0)
		return -ENOSPC;
	plan[0] = '\0';
	hq_sql(q, false, "", sql, sizeof(sql));
	err = explain_sql(r, sql, plan, len, &used);
	if (!err && q->count_sql) {
		hq_sql(q, true, "", sql, sizeof(sql));
		err = explain_sql(r, sql, plan, len, &used);
	}
	return err;
}

/* ---- history: blocks, found through their keys ---- */

/* How a history query finds its records. A filter on an address, domain, port or
 * protocol is served by the key rows of its value (the first of those that the filter
 * has); without one, by the blocks themselves. The time range and the node are
 * conditions on the key or block rows; any further filter is checked on each
 * candidate record (residual). */
struct kq {
	enum flowkeys_kind kind; /* 0: the blocks themselves */
	bool is_int;
	int64_t ivalue;
	const uint8_t *value; /* BLOB value (or the low end of a domain range) */
	size_t len;
	bool range;	 /* value in [dom.lo, dom.hi) */
	bool match_last; /* an entry matches only with this last byte */
	uint8_t last;
	uint8_t sides; /* an entry matches only on one of these sides; 0: any */
	bool residual;
	int64_t limit;
	int64_t bound; /* count candidates up to here (hq_count_bound) */
	struct name_range dom;
};

static int kq_build(const struct store_filter *f, struct kq *k)
{
	int filters = f->has_ip + f->has_src_ip + f->has_dst_ip + (f->domain != NULL) +
		      f->has_port + f->has_src_port + f->has_dst_port + f->has_proto;

	memset(k, 0, sizeof(*k));
	if (f->limit > STORE_HISTORY_LIMIT_MAX)
		return -EINVAL;
	if (f->domain && name_range_of(f->domain, &k->dom))
		return -EINVAL;
	k->limit = f->limit ? f->limit : STORE_HISTORY_LIMIT_DEFAULT;
	k->bound = hq_count_bound((uint64_t)k->limit, f->offset);
	k->residual = filters > 1;
	if (f->has_ip || f->has_src_ip || f->has_dst_ip) {
		const uint8_t *addr = f->has_ip ? f->ip : f->has_src_ip ? f->src_ip : f->dst_ip;

		k->kind = FLOWKEYS_IP;
		k->value = addr;
		k->len = FLOWKEYS_IP_PREFIX;
		k->match_last = true;
		k->last = addr[15];
		k->sides = f->has_ip	   ? FLOWKEYS_SRC | FLOWKEYS_DST
			   : f->has_src_ip ? FLOWKEYS_SRC
					   : FLOWKEYS_DST;
	} else if (f->domain) {
		k->kind = FLOWKEYS_DOMAIN;
		k->value = k->dom.lo;
		k->len = k->dom.len;
		k->range = k->dom.suffix;
	} else if (f->has_port || f->has_src_port || f->has_dst_port) {
		int port = f->has_port ? f->port : f->has_src_port ? f->src_port : f->dst_port;

		k->kind = FLOWKEYS_PORT;
		k->is_int = true;
		k->ivalue = port >> 8;
		k->match_last = true;
		k->last = (uint8_t)port;
		k->sides = f->has_port	     ? FLOWKEYS_SRC | FLOWKEYS_DST
			   : f->has_src_port ? FLOWKEYS_SRC
					     : FLOWKEYS_DST;
	} else if (f->has_proto) {
		k->kind = FLOWKEYS_PROTO;
		k->is_int = true;
		k->ivalue = f->proto;
	}
	return 0;
}

/* The rows that give the candidates, newest block first, as (block id, n, entries, ts):
 * ?1 kind, ?2 value or the range's low end, ?3 its high end, ?4 start, ?5 end, ?6 node
 * id; only those that apply appear. Entries NULL: every record of the block. */
static void kq_source_sql(const struct store_filter *f, const struct kq *k, char *sql, size_t len)
{
	const char *start = f->has_start ? " AND ts >= ?4" : "";
	const char *end = f->has_end ? " AND ts < ?5" : "";
	const char *node = f->node ? " AND node_id = ?6" : "";

	if (!k->kind)
		snprintf(sql, len,
			 "SELECT id, n, NULL, ts FROM flow_blocks WHERE 1%s%s%s"
			 " ORDER BY ts DESC, id DESC",
			 start, end, node);
	else
		snprintf(
		    sql, len,
		    "SELECT first_id, n, entries, ts FROM flow_keys WHERE kind = ?1 AND %s%s%s%s"
		    " ORDER BY ts DESC, first_id DESC",
		    /* likelihood(): the range is narrow, so that the planner prefers
		     * it to the time index of all values */
		    k->range ? "likelihood(value >= ?2, 0.01) AND likelihood(value < ?3, 0.01)"
			     : "value = ?2",
		    start, end, node);
}

/* What the page's records need of their block. */
#define KQ_BLOCK_SQL                                                                               \
	"SELECT b.ts, b.window_end, (SELECT name FROM nodes WHERE id = b.node_id)"                 \
	" FROM flow_blocks AS b WHERE b.id = ?1"

/* One block open for reading (SQLite incremental BLOB I/O). */
struct kq_block {
	sqlite3_blob *blob; /* NULL: none open */
	int64_t id;
	size_t size;
	size_t n;
	bool gone; /* deleted by retention since its keys were read */
};

struct kq_page {
	int64_t block;
	uint16_t pos;
};

/* A query's progress over its candidates, newest first. */
struct kq_run {
	const struct store_filter *f;
	const struct kq *k;
	uint64_t offset;
	int64_t matched;
	struct kq_page *page; /* at most k->limit */
	size_t npage;
	uint16_t *pos; /* one block's matching positions */
	size_t npos;
	/* The oldest block: retention deletes blocks in (ts, id) order before their keys,
	 * so keys of an older one are of a deleted block. */
	uint64_t min_ts;
	int64_t min_id;
	struct kq_block blk;
	struct wire_record rec;
};

static int kq_blob_read(void *arg, size_t offset, void *buf, size_t len)
{
	if (offset > INT_MAX || len > INT_MAX)
		return -EBADMSG;
	return sqlite3_blob_read(arg, buf, (int)len, (int)offset) == SQLITE_OK ? 0 : -EIO;
}

/* Makes block id the open one; b->gone when it no longer exists. */
static int kq_block_open(struct store_reader *r, struct kq_block *b, int64_t id)
{
	int rc;
	int err;

	if (b->blob && b->id == id)
		return 0;
	b->id = id;
	b->gone = false;
	if (b->blob)
		rc = sqlite3_blob_reopen(b->blob, id);
	else
		rc = sqlite3_blob_open(r->db, "main", "flow_blocks", "data", id, 0, &b->blob);
	if (rc != SQLITE_OK) {
		/* SQLITE_ERROR: no such row. A failed handle is of no more use. */
		(void)sqlite3_blob_close(b->blob);
		b->blob = NULL;
		if (rc == SQLITE_ERROR) {
			b->gone = true;
			return 0;
		}
		return reader_fail(r, rc, "opening a flow block");
	}
	b->size = (size_t)sqlite3_blob_bytes(b->blob);
	err = flowblock_count(kq_blob_read, b->blob, b->size, &b->n);
	if (err) {
		snprintf(r->errmsg, sizeof(r->errmsg), "flow block %lld is malformed",
			 (long long)id);
		return err == -EBADMSG ? -EIO : err;
	}
	return 0;
}

/* Reads record pos of block id into *rec; *gone when the block no longer exists. */
static int kq_record(struct store_reader *r, struct kq_block *b, int64_t id, size_t pos,
		     struct wire_record *rec)
{
	char why[128];
	int err;

	err = kq_block_open(r, b, id);
	if (err || b->gone)
		return err;
	err = flowblock_record(kq_blob_read, b->blob, b->size, b->n, pos, rec, why, sizeof(why));
	if (err) {
		snprintf(r->errmsg, sizeof(r->errmsg), "flow %lld: %s",
			 (long long)(id + (int64_t)pos), err == -EBADMSG ? why : strerror(-err));
		return err == -EBADMSG ? -EIO : err;
	}
	return 0;
}

/* Does rec pass every filter of f (the time range and node are the block's)? */
static bool kq_match(const struct store_filter *f, const struct kq *k,
		     const struct wire_record *rec)
{
	if (f->has_ip && memcmp(rec->src_addr, f->ip, 16) && memcmp(rec->dst_addr, f->ip, 16))
		return false;
	if ((f->has_src_ip && memcmp(rec->src_addr, f->src_ip, 16)) ||
	    (f->has_dst_ip && memcmp(rec->dst_addr, f->dst_ip, 16)))
		return false;
	if (f->has_port && rec->src_port != f->port && rec->dst_port != f->port)
		return false;
	if ((f->has_src_port && rec->src_port != f->src_port) ||
	    (f->has_dst_port && rec->dst_port != f->dst_port) ||
	    (f->has_proto && rec->proto != f->proto))
		return false;
	if (f->domain) {
		uint8_t rev[WIRE_NAME_MAX + 2];
		size_t len = strnlen(rec->domain, sizeof(rec->domain));

		if (!len)
			return false;
		len = flowkeys_domain_reverse(rec->domain, len, rev);
		/* exact: the same name; suffix: it or a name below it (lo ends in '.') */
		if (k->dom.suffix ? len < k->dom.len : len != k->dom.len)
			return false;
		if (memcmp(rev, k->dom.lo, k->dom.len))
			return false;
	}
	return true;
}

static int kq_candidate(struct store_reader *r, struct kq_run *run, int64_t block, uint16_t pos)
{
	if (run->k->residual) {
		int err = kq_record(r, &run->blk, block, pos, &run->rec);

		if (err)
			return err;
		if (run->blk.gone || !kq_match(run->f, run->k, &run->rec))
			return 0;
	}
	run->matched++;
	if ((uint64_t)run->matched > run->offset && run->npage < (size_t)run->k->limit)
		run->page[run->npage++] = (struct kq_page){.block = block, .pos = pos};
	return 0;
}

static int pos_desc(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return (x < y) - (x > y);
}

/* Emits the candidates of one block (positions collected from rows source rows), newest
 * (highest position) first. */
static int kq_block_done(struct store_reader *r, struct kq_run *run, int64_t block, uint64_t ts,
			 int rows)
{
	int err = 0;

	if (ts < run->min_ts || (ts == run->min_ts && block < run->min_id)) {
		run->npos = 0;
		return 0;
	}
	if (rows > 1) /* a domain suffix: several domains' entries of one block */
		qsort(run->pos, run->npos, sizeof(*run->pos), pos_desc);
	else /* in position order: reverse */
		for (size_t i = 0; i < run->npos / 2; i++) {
			uint16_t t = run->pos[i];

			run->pos[i] = run->pos[run->npos - 1 - i];
			run->pos[run->npos - 1 - i] = t;
		}
	for (size_t i = 0; i < run->npos && !err && run->matched < run->k->bound; i++)
		if (i == 0 || run->pos[i] != run->pos[i - 1])
			err = kq_candidate(r, run, block, run->pos[i]);
	run->npos = 0;
	return err;
}

/* Adds the matching positions of one source row to run->pos. */
static int kq_entries(struct store_reader *r, struct kq_run *run, sqlite3_stmt *st)
{
	const struct kq *k = run->k;
	int64_t n = sqlite3_column_int64(st, 1);
	const uint8_t *e = sqlite3_column_blob(st, 2);
	size_t bytes = (size_t)sqlite3_column_bytes(st, 2);

	if (n < 0 || n > WIRE_MAX_RECORDS || run->npos + (size_t)n > 2 * WIRE_MAX_RECORDS ||
	    (k->kind && bytes != (size_t)n * FLOWKEYS_ENTRY_BYTES)) {
		snprintf(r->errmsg, sizeof(r->errmsg), "a stored flow key is malformed");
		return -EIO;
	}
	for (int64_t i = 0; i < n; i++) {
		struct flowkeys_entry en = {.pos = (uint16_t)i};

		if (k->kind)
			flowkeys_entry(e, (size_t)i, &en);
		if ((k->match_last && en.last != k->last) || (k->sides && !(en.sides & k->sides)))
			continue;
		run->pos[run->npos++] = en.pos;
	}
	return 0;
}

static int kq_bind(sqlite3_stmt *st, const struct store_filter *f, const struct kq *k,
		   int64_t node_id)
{
	int rc = SQLITE_OK;

	if (k->kind) {
		bind_i64(st, 1, k->kind, &rc);
		if (k->is_int)
			bind_i64(st, 2, k->ivalue, &rc);
		else
			bind_blob(st, 2, k->value, k->len, &rc);
		if (k->range)
			bind_blob(st, 3, k->dom.hi, k->dom.len, &rc);
	}
	if (f->has_start)
		bind_i64(st, 4, clamp_i64(f->start_ms), &rc);
	if (f->has_end)
		bind_i64(st, 5, clamp_i64(f->end_ms), &rc);
	if (f->node)
		bind_i64(st, 6, node_id, &rc);
	return rc;
}

/* Runs sql (one row of one or two integers, or none) with text ?1 (NULL: no parameter). */
static int kq_scalar(struct store_reader *r, const char *sql, const char *text, int64_t *v,
		     int64_t *v2, bool *found)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && text)
		rc = sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found) {
		*v = sqlite3_column_int64(st, 0);
		if (v2)
			*v2 = sqlite3_column_int64(st, 1);
	}
	(void)sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : reader_fail(r, rc, "reading history");
}

/* Walks the source rows, block by block, until the count bound. */
static int kq_walk(struct store_reader *r, struct kq_run *run, int64_t node_id)
{
	sqlite3_stmt *st = NULL;
	char sql[512];
	int64_t block = 0;
	uint64_t ts = 0;
	int rows = 0;
	int err = 0;
	int rc;

	kq_source_sql(run->f, run->k, sql, sizeof(sql));
	rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = kq_bind(st, run->f, run->k, node_id);
	if (rc != SQLITE_OK) {
		err = reader_fail(r, rc, "preparing the history query");
		goto out;
	}
	while (run->matched < run->k->bound && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);

		if (rows && id != block) {
			err = kq_block_done(r, run, block, ts, rows);
			rows = 0;
			if (err || run->matched >= run->k->bound)
				break;
		}
		block = id;
		ts = (uint64_t)sqlite3_column_int64(st, 3);
		rows++;
		err = kq_entries(r, run, st);
		if (err)
			break;
	}
	if (!err && rows && run->matched < run->k->bound)
		err = kq_block_done(r, run, block, ts, rows);
	if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = reader_fail(r, rc, "reading the history");
out:
	(void)sqlite3_finalize(st);
	return err;
}

/* The block's window and node name; *found false when it is gone. */
static int kq_block_meta(struct store_reader *r, sqlite3_stmt *st, int64_t id, uint64_t *ts,
			 uint64_t *end, char node[WIRE_NAME_MAX + 1], bool *found)
{
	int rc = sqlite3_bind_int64(st, 1, id);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found) {
		*ts = (uint64_t)sqlite3_column_int64(st, 0);
		*end = (uint64_t)sqlite3_column_int64(st, 1);
		copy_text(node, WIRE_NAME_MAX + 1, st, 2);
	}
	(void)sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
						     : reader_fail(r, rc, "reading a flow block");
}

/* Reads the page's records into h (those of a block deleted meanwhile are skipped). */
static int kq_fetch(struct store_reader *r, struct kq_run *run, struct store_history *h)
{
	char node[WIRE_NAME_MAX + 1] = "";
	sqlite3_stmt *st = NULL;
	uint64_t ts = 0, end = 0;
	bool found = false;
	int err = 0;
	int rc;

	if (!run->npage)
		return 0;
	h->rows = calloc(run->npage, sizeof(*h->rows));
	if (!h->rows) {
		snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
		return -ENOMEM;
	}
	rc = sqlite3_prepare_v2(r->db, KQ_BLOCK_SQL, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return reader_fail(r, rc, "preparing the history rows");
	for (size_t i = 0; i < run->npage && !err; i++) {
		const struct kq_page *p = &run->page[i];
		struct store_flow *o = &h->rows[h->n];

		if (i == 0 || p->block != run->page[i - 1].block)
			err = kq_block_meta(r, st, p->block, &ts, &end, node, &found);
		if (!err && found)
			err = kq_record(r, &run->blk, p->block, p->pos, &o->rec);
		if (err || !found || run->blk.gone)
			continue;
		o->id = p->block + p->pos;
		o->ts_ms = ts;
		o->window_end_ms = end;
		memcpy(o->node, node, sizeof(o->node));
		h->n++;
	}
	(void)sqlite3_finalize(st);
	return err;
}

static int kq_history(struct store_reader *r, const struct store_filter *f, const struct kq *k,
		      struct store_history *h)
{
	struct kq_run run = {.f = f, .k = k, .offset = f->offset};
	int64_t node_id = 0, oldest = 0;
	bool found = true;
	int err = 0;

	if (f->node)
		err = kq_scalar(r, "SELECT id FROM nodes WHERE name = ?1", f->node, &node_id, NULL,
				&found);
	if (!err && found)
		err = kq_scalar(r, "SELECT ts, id FROM flow_blocks ORDER BY ts, id LIMIT 1", NULL,
				&oldest, &run.min_id, &found);
	if (err || !found)
		return err;
	run.min_ts = (uint64_t)oldest;
	run.page = malloc((size_t)k->limit * sizeof(*run.page));
	run.pos = malloc(2 * WIRE_MAX_RECORDS * sizeof(*run.pos));
	if (!run.page || !run.pos) {
		snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
		err = -ENOMEM;
		goto out;
	}
	err = kq_walk(r, &run, node_id);
	if (!err)
		err = kq_fetch(r, &run, h);
	if (!err) {
		h->total = (uint64_t)run.matched;
		h->total_capped = run.matched >= k->bound;
	}
out:
	(void)sqlite3_blob_close(run.blk.blob); /* accepts NULL */
	free(run.page);
	free(run.pos);
	return err;
}

int store_query_history(struct store_reader *r, const struct store_filter *f,
			struct store_history *out)
{
	struct store_history h = {0};
	struct kq k;
	int err;

	r->errmsg[0] = '\0';
	err = kq_build(f, &k);
	if (err) {
		snprintf(r->errmsg, sizeof(r->errmsg), "invalid history filter (limit or domain)");
		return err;
	}
	err = reader_begin(r);
	if (err)
		return err;
	err = kq_history(r, f, &k, &h);
	reader_end(r);
	if (err) {
		store_history_fini(&h);
		return err;
	}
	*out = h;
	return 0;
}

void store_history_fini(struct store_history *h)
{
	free(h->rows);
	memset(h, 0, sizeof(*h));
}

int store_explain_history(struct store_reader *r, const struct store_filter *f, char *plan,
			  size_t len)
{
	char sql[512];
	size_t used = 0;
	struct kq k;
	int err;

	if (len == 0)
		return -ENOSPC;
	plan[0] = '\0';
	err = kq_build(f, &k);
	if (err)
		return err;
	/* The candidates' rows, then each page block's row (records: BLOB reads). */
	kq_source_sql(f, &k, sql, sizeof(sql));
	err = explain_sql(r, sql, plan, len, &used);
	if (!err)
		err = explain_sql(r, KQ_BLOCK_SQL, plan, len, &used);
	return err;
}

/* ---- DNS records ---- */

#define DQ_ROWS_SQL                                                                                \
	"SELECT d.id, d.ts, (SELECT name FROM nodes WHERE id = d.node_id), d.name, d.qtype,"       \
	" d.rcode, d.answered, d.latency_us, d.ip_version, d.client_ip, d.server_ip,"              \
	" d.client_port, d.server_port, d.answers FROM dns AS d%s"                                 \
	" ORDER BY d.ts DESC, d.id DESC LIMIT ? OFFSET ?"
#define DQ_COUNT_SQL "SELECT count(*) FROM (SELECT 1 FROM dns AS d%s LIMIT ?)"

static int dq_build(const struct store_dns_filter *f, struct hq *q)
{
	memset(q, 0, sizeof(*q));
	q->rows_sql = DQ_ROWS_SQL;
	q->count_sql = DQ_COUNT_SQL;
	q->what = "DNS";
	if (f->limit > STORE_HISTORY_LIMIT_MAX)
		return -EINVAL;
	q->limit = f->limit ? f->limit : STORE_HISTORY_LIMIT_DEFAULT;
	q->tail[0] = q->limit;
	q->tail[1] = clamp_i64(f->offset);
	q->count_bound = hq_count_bound(q->limit, f->offset);
	if (f->has_start) {
		hq_cond(q, "d.ts >= ?");
		hq_int(q, clamp_i64(f->start_ms));
	}
	if (f->has_end) {
		hq_cond(q, "d.ts < ?");
		hq_int(q, clamp_i64(f->end_ms));
	}
	if (f->node) {
		hq_cond(q, "d.node_id = (SELECT id FROM nodes WHERE name = ?)");
		hq_text(q, f->node);
	}
	if (f->has_client) {
		hq_cond(q, "d.client_ip = ?");
		hq_blob(q, f->client_ip, 16);
	}
	if (f->name)
		return hq_name(q, "d.name_rev", f->name);
	return 0;
}

/* Parses the answers text (see the top of the file) back into d. */
static int dns_answers_parse(const char *text, struct wire_dns *d)
{
	const char *p = text;

	d->nanswers = 0;
	while (*p) {
		struct wire_dns_answer *a;
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char line[WIRE_NAME_MAX + 24];
		unsigned int type, ttl;
		int used = 0;

		if (d->nanswers >= WIRE_DNS_MAX_ANSWERS || n >= sizeof(line))
			return -EIO;
		memcpy(line, p, n);
		line[n] = '\0';
		if (sscanf(line, "%u %u %n", &type, &ttl, &used) != 2 || used == 0 || type > 65535)
			return -EIO;
		a = &d->answers[d->nanswers];
		memset(a, 0, sizeof(*a));
		a->type = (uint16_t)type;
		a->ttl = ttl;
		if (type == 1) {
			a->addr[10] = a->addr[11] = 0xff;
			if (inet_pton(AF_INET, line + used, a->addr + 12) != 1)
				return -EIO;
		} else if (type == 28) {
			if (inet_pton(AF_INET6, line + used, a->addr) != 1)
				return -EIO;
		} else {
			snprintf(a->target, sizeof(a->target), "%s", line + used);
		}
		d->nanswers++;
		p += n + (end ? 1 : 0);
	}
	return 0;
}

static int dq_row(struct store_reader *r, sqlite3_stmt *st, void *out)
{
	struct store_dns_row *o = out;
	struct wire_dns *d = &o->dns;
	const unsigned char *answers;

	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(st, 0);
	d->ts_ms = (uint64_t)sqlite3_column_int64(st, 1);
	copy_text(o->node, sizeof(o->node), st, 2);
	copy_text(d->name, sizeof(d->name), st, 3);
	d->qtype = (uint16_t)sqlite3_column_int(st, 4);
	d->rcode = (uint8_t)sqlite3_column_int(st, 5);
	d->answered = (uint8_t)sqlite3_column_int(st, 6);
	d->latency_us = (uint32_t)sqlite3_column_int64(st, 7);
	d->ip_version = (uint8_t)sqlite3_column_int(st, 8);
	if (column_addr(st, 9, d->client_addr) || column_addr(st, 10, d->server_addr)) {
		snprintf(r->errmsg, sizeof(r->errmsg), "DNS record %lld: address is not 16 bytes",
			 (long long)o->id);
		return -EIO;
	}
	d->client_port = (uint16_t)sqlite3_column_int(st, 11);
	d->server_port = (uint16_t)sqlite3_column_int(st, 12);
	answers = sqlite3_column_text(st, 13);
	if (dns_answers_parse(answers ? (const char *)answers : "", d) < 0) {
		snprintf(r->errmsg, sizeof(r->errmsg), "DNS record %lld: unreadable answers",
			 (long long)o->id);
		return -EIO;
	}
	return 0;
}

int store_query_dns(struct store_reader *r, const struct store_dns_filter *f,
		    struct store_dns_result *out)
{
	struct store_dns_result res = {0};
	void *rows = NULL;
	struct hq q;
	int err;

	r->errmsg[0] = '\0';
	err = dq_build(f, &q);
	if (err) {
		snprintf(r->errmsg, sizeof(r->errmsg), "invalid DNS filter (limit or name)");
		return err;
	}
	err = reader_begin(r);
	if (err)
		return err;
	err = hq_count(r, &q, &res.total, &res.total_capped);
	if (!err)
		err = hq_collect(r, &q, sizeof(*res.rows), dq_row, &rows, &res.n);
	res.rows = rows;
	reader_end(r);
	if (err) {
		store_dns_result_fini(&res);
		return err;
	}
	*out = res;
	return 0;
}

void store_dns_result_fini(struct store_dns_result *res)
{
	free(res->rows);
	memset(res, 0, sizeof(*res));
}

int store_explain_dns(struct store_reader *r, const struct store_dns_filter *f, char *plan,
		      size_t len)
{
	struct hq q;
	int err;

	err = dq_build(f, &q);
	if (err)
		return err;
	return explain_hq(r, &q, plan, len);
}

/* ---- top domains ---- */

/* The newest STORE_DOMAINS_SCAN_MAX domain keys of the range (one a domain a block,
 * with its records' traffic summed), grouped by domain (the key is case-folded), most
 * bytes first and ties in the order of the reversed names (the subdomains of one domain
 * together); the window sum counts the keys summed, to tell a truncated scan. */
#define TQ_SQL                                                                                     \
	"SELECT value, sum(bytes), sum(packets), sum(n), sum(count(*)) OVER ()"                    \
	" FROM (SELECT k.value AS value, k.bytes AS bytes, k.packets AS packets, k.n AS n"         \
	" FROM flow_keys AS k%s ORDER BY k.ts DESC LIMIT ?)"                                       \
	" GROUP BY value ORDER BY 2 DESC, value LIMIT ?"

static int tq_build(uint64_t start_ms, uint64_t end_ms, const char *node, unsigned limit,
		    struct hq *q)
{
	char kind[32];

	memset(q, 0, sizeof(*q));
	q->rows_sql = TQ_SQL;
	q->what = "domains";
	if (limit == 0 || limit > STORE_DOMAINS_LIMIT_MAX)
		return -EINVAL;
	q->limit = limit;
	q->tail[0] = STORE_DOMAINS_SCAN_MAX;
	q->tail[1] = limit;
	snprintf(kind, sizeof(kind), "k.kind = %d", FLOWKEYS_DOMAIN);
	hq_cond(q, kind);
	hq_cond(q, "k.ts >= ?");
	hq_int(q, clamp_i64(start_ms));
	hq_cond(q, "k.ts < ?");
	hq_int(q, clamp_i64(end_ms));
	if (node) {
		hq_cond(q, "k.node_id = (SELECT id FROM nodes WHERE name = ?)");
		hq_text(q, node);
	}
	return 0;
}

/* One row of TQ_SQL; the scanned count goes to the row's flows field of a spare element
 * (see store_query_domains). */
struct tq_row {
	struct store_domain d;
	uint64_t scanned;
};

static int tq_row(struct store_reader *r, sqlite3_stmt *st, void *out)
{
	struct tq_row *o = out;
	const uint8_t *rev = sqlite3_column_blob(st, 0);
	int n = sqlite3_column_bytes(st, 0);

	memset(o, 0, sizeof(*o));
	/* domain_rev is "." + domain, reversed: reverse it back, without the dot. */
	if (!rev || n < 2 || n > WIRE_NAME_MAX + 1 || rev[n - 1] != '.') {
		snprintf(r->errmsg, sizeof(r->errmsg), "a stored domain_rev is malformed");
		return -EIO;
	}
	for (int i = 0; i < n - 1; i++)
		o->d.domain[i] = (char)rev[n - 2 - i];
	o->d.domain[n - 1] = '\0';
	o->d.bytes = (uint64_t)sqlite3_column_int64(st, 1);
	o->d.packets = (uint64_t)sqlite3_column_int64(st, 2);
	o->d.flows = (uint64_t)sqlite3_column_int64(st, 3);
	o->scanned = (uint64_t)sqlite3_column_int64(st, 4);
	return 0;
}

int store_query_domains(struct store_reader *r, uint64_t start_ms, uint64_t end_ms,
			const char *node, unsigned limit, struct store_domains *out)
{
	struct store_domains res = {0};
	void *rows = NULL;
	struct tq_row *t;
	size_t n = 0;
	struct hq q;
	int err;

	r->errmsg[0] = '\0';
	err = tq_build(start_ms, end_ms, node, limit, &q);
	if (err) {
		snprintf(r->errmsg, sizeof(r->errmsg), "invalid domains query (limit)");
		return err;
	}
	err = reader_begin(r);
	if (err)
		return err;
	err = hq_collect(r, &q, sizeof(struct tq_row), tq_row, &rows, &n);
	reader_end(r);
	t = rows;
	if (!err && n > 0) {
		res.rows = calloc(n, sizeof(*res.rows));
		if (!res.rows) {
			snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
			err = -ENOMEM;
		}
	}
	if (err) {
		free(rows);
		return err;
	}
	for (size_t i = 0; i < n; i++)
		res.rows[i] = t[i].d;
	res.n = n;
	res.truncated = n > 0 && t[0].scanned >= STORE_DOMAINS_SCAN_MAX;
	free(rows);
	*out = res;
	return 0;
}

void store_domains_fini(struct store_domains *d)
{
	free(d->rows);
	memset(d, 0, sizeof(*d));
}

int store_explain_domains(struct store_reader *r, uint64_t start_ms, uint64_t end_ms,
			  const char *node, unsigned limit, char *plan, size_t len)
{
	struct hq q;
	int err;

	err = tq_build(start_ms, end_ms, node, limit, &q);
	if (err)
		return err;
	return explain_hq(r, &q, plan, len);
}

/* ---- nodes ---- */

static int node_read_loss(struct store_reader *r, int64_t id, struct store_node *node)
{
	sqlite3_stmt *st = r->loss;
	int err = 0;
	int rc;

	rc = sqlite3_bind_int64(st, 1, id);
	if (rc != SQLITE_OK)
		return reader_fail(r, rc, "reading the loss ledger");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t reason = sqlite3_column_int64(st, 0);

		/* Reasons this program does not know cannot be in a database it opens
		 * (newer schemas are refused); skip rather than index out of range. */
		if (reason >= 0 && reason < WIRE_LOSS_MAX)
			node->lost[reason] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		err = reader_fail(r, rc, "reading the loss ledger");
	(void)sqlite3_reset(st);
	return err;
}

int store_list_nodes(struct store_reader *r, struct store_node **nodes, size_t *n)
{
	struct store_node *v = NULL;
	sqlite3_stmt *st = r->nodes;
	size_t cnt = 0;
	size_t cap = 0;
	int err;
	int rc;

	r->errmsg[0] = '\0';
	err = reader_begin(r);
	if (err)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_node *node;

		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct store_node *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		node = &v[cnt];
		memset(node, 0, sizeof(*node));
		copy_text(node->name, sizeof(node->name), st, 1);
		copy_text(node->boot_id, sizeof(node->boot_id), st, 2);
		copy_text(node->agent_version, sizeof(node->agent_version), st, 3);
		node->last_seq = (uint64_t)sqlite3_column_int64(st, 4);
		node->first_seen_ms = (uint64_t)sqlite3_column_int64(st, 5);
		node->last_seen_ms = (uint64_t)sqlite3_column_int64(st, 6);
		node->total_packets = (uint64_t)sqlite3_column_int64(st, 7);
		node->total_bytes = (uint64_t)sqlite3_column_int64(st, 8);
		node->active_connections = (uint64_t)sqlite3_column_int64(st, 9);
		node->batches = (uint64_t)sqlite3_column_int64(st, 10);
		node->records = (uint64_t)sqlite3_column_int64(st, 11);
		err = node_read_loss(r, sqlite3_column_int64(st, 0), node);
		if (err)
			break;
		cnt++;
	}
	if (!err && rc != SQLITE_DONE)
		err = reader_fail(r, rc, "listing nodes");
	(void)sqlite3_reset(st);
	reader_end(r);
	if (err) {
		free(v);
		return err;
	}
	*nodes = v;
	*n = cnt;
	return 0;
}

void store_nodes_free(struct store_node *nodes)
{
	free(nodes);
}
