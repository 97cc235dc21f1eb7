/* sqlite_write.c - the SQLite backend's writer (store.h's writer side): store_append's
 * one transaction a call, each batch's flow records as one block with its index keys
 * (flowblock.h, flowkeys.h), its DNS records, the dedup entry and the node's state; the
 * retention steps; the database's size. Runs on ingest's writer thread only, with the
 * statements sqlite_schema.c prepared at open, reused for every row. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite_internal.h"

#define STORE_VACUUM_PAGES "256" /* pages given back per retention step */

/* ---- writer statements, prepared once (sqlite_schema.c) ---- */

const char *const sqlite_stmt_sql[ST_MAX] = {
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

_Static_assert(FLOWKEYS_IP == 1 && FLOWKEYS_DOMAIN == 4 && FLOWKEYS_KINDS == 4,
	       "ST_RETAIN_KEYS lists every key kind");

static uint64_t now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- flow blocks and their keys (flowblock.h, flowkeys.h) ---- */

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
int sqlite_block_write(struct sqlite_block_writer *w, int64_t id, int64_t node_id, uint64_t ts,
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
	sqlite_bind_i64(w->block, 1, id, &rc);
	sqlite_bind_u64(w->block, 2, ts, &rc);
	sqlite_bind_u64(w->block, 3, window_end, &rc);
	sqlite_bind_i64(w->block, 4, node_id, &rc);
	sqlite_bind_i64(w->block, 5, (int64_t)n, &rc);
	sqlite_bind_u64(w->block, 6, packets, &rc);
	sqlite_bind_u64(w->block, 7, bytes, &rc);
	sqlite_bind_blob(w->block, 8, flowblock_data(w->enc), flowblock_len(w->enc), &rc);
	rc = step_done(w->block, rc);
	if (rc != SQLITE_OK)
		return sqlite_db_fail(w->db, rc, w->msg, w->len, "inserting flow records");
	for (size_t i = 0; i < flowkeys_count(w->keys); i++) {
		flowkeys_get(w->keys, i, &key);
		sqlite_bind_i64(w->key, 1, key.kind, &rc);
		if (key.is_int)
			sqlite_bind_i64(w->key, 2, key.ivalue, &rc);
		else
			sqlite_bind_blob(w->key, 2, key.data, key.len, &rc);
		sqlite_bind_u64(w->key, 3, ts, &rc);
		sqlite_bind_i64(w->key, 4, id, &rc);
		sqlite_bind_i64(w->key, 5, node_id, &rc);
		sqlite_bind_i64(w->key, 6, (int64_t)key.n, &rc);
		sqlite_bind_u64(w->key, 7, key.packets, &rc);
		sqlite_bind_u64(w->key, 8, key.bytes, &rc);
		sqlite_bind_blob(w->key, 9, key.entries, key.n * FLOWKEYS_ENTRY_BYTES, &rc);
		rc = step_done(w->key, rc);
		if (rc != SQLITE_OK)
			return sqlite_db_fail(w->db, rc, w->msg, w->len, "inserting a flow key");
	}
	return 0;
}

/* ---- writer: append ---- */

/* Runs a prepared statement to its end and resets it. */
static int stmt_run(struct sqlite_store *s, enum sqlite_stmt which, const char *what)
{
	sqlite3_stmt *st = s->stmt[which];
	int rc;

	do
		rc = sqlite3_step(st);
	while (rc == SQLITE_ROW);
	if (rc != SQLITE_DONE) {
		int err = sqlite_db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), what);

		(void)sqlite3_reset(st);
		return err;
	}
	(void)sqlite3_reset(st);
	return 0;
}

static int bind_done(struct sqlite_store *s, int rc, const char *what)
{
	if (rc == SQLITE_OK)
		return 0;
	return sqlite_db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), what);
}

/* The node's row, if any: its id, whether boot_id is the node's current one, and the
 * seq and last_seen of its newest batch. */
static int node_get(struct sqlite_store *s, const struct wire_batch *b, bool *known, int64_t *id,
		    bool *same_boot, uint64_t *last_seq, uint64_t *last_seen)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_GET];
	int rc = SQLITE_OK;
	int err;

	sqlite_bind_str(st, 1, b->node, sizeof(b->node), &rc);
	sqlite_bind_str(st, 2, b->boot_id, sizeof(b->boot_id), &rc);
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
		err =
		    sqlite_db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), "looking up the node");
		(void)sqlite3_reset(st);
		return err;
	}
	(void)sqlite3_reset(st);
	return 0;
}

static int node_insert(struct sqlite_store *s, const struct wire_batch *b, int64_t *id)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_INSERT];
	int rc = SQLITE_OK;
	int err;

	sqlite_bind_str(st, 1, b->node, sizeof(b->node), &rc);
	sqlite_bind_str(st, 2, b->boot_id, sizeof(b->boot_id), &rc);
	sqlite_bind_str(st, 3, b->agent_version, sizeof(b->agent_version), &rc);
	sqlite_bind_u64(st, 4, b->seq, &rc);
	sqlite_bind_u64(st, 5, b->window_start_ms, &rc);
	sqlite_bind_u64(st, 6, b->window_end_ms, &rc);
	sqlite_bind_u64(st, 7, b->total_packets, &rc);
	sqlite_bind_u64(st, 8, b->total_bytes, &rc);
	sqlite_bind_u64(st, 9, b->active_connections, &rc);
	sqlite_bind_u64(st, 10, b->nrecords, &rc);
	err = bind_done(s, rc, "inserting the node");
	if (!err)
		err = stmt_run(s, ST_NODE_INSERT, "inserting the node");
	if (err)
		return err;
	*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int node_seen(struct sqlite_store *s, int64_t id, const struct wire_batch *b)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_SEEN];
	int rc = SQLITE_OK;
	int err;

	sqlite_bind_i64(st, 1, id, &rc);
	sqlite_bind_u64(st, 2, b->window_start_ms, &rc);
	sqlite_bind_u64(st, 3, b->window_end_ms, &rc);
	sqlite_bind_u64(st, 4, b->nrecords, &rc);
	err = bind_done(s, rc, "updating the node");
	return err ? err : stmt_run(s, ST_NODE_SEEN, "updating the node");
}

static int node_latest(struct sqlite_store *s, int64_t id, const struct wire_batch *b)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_LATEST];
	int rc = SQLITE_OK;
	int err;

	sqlite_bind_i64(st, 1, id, &rc);
	sqlite_bind_str(st, 2, b->boot_id, sizeof(b->boot_id), &rc);
	sqlite_bind_str(st, 3, b->agent_version, sizeof(b->agent_version), &rc);
	sqlite_bind_u64(st, 4, b->seq, &rc);
	sqlite_bind_u64(st, 5, b->total_packets, &rc);
	sqlite_bind_u64(st, 6, b->total_bytes, &rc);
	sqlite_bind_u64(st, 7, b->active_connections, &rc);
	err = bind_done(s, rc, "updating the node's counters");
	return err ? err : stmt_run(s, ST_NODE_LATEST, "updating the node's counters");
}

static int node_loss(struct sqlite_store *s, int64_t id, const struct wire_batch *b)
{
	sqlite3_stmt *st = s->stmt[ST_LOSS_UPSERT];

	for (int i = 0; i < WIRE_LOSS_MAX; i++) {
		int rc = SQLITE_OK;
		int err;

		sqlite_bind_i64(st, 1, id, &rc);
		sqlite_bind_i64(st, 2, i, &rc);
		sqlite_bind_u64(st, 3, b->lost[i], &rc);
		err = bind_done(s, rc, "updating the loss ledger");
		if (!err)
			err = stmt_run(s, ST_LOSS_UPSERT, "updating the loss ledger");
		if (err)
			return err;
	}
	return 0;
}

/* Inserts the dedup entry; *inserted false when (node, boot, seq) was there already. */
static int batch_insert(struct sqlite_store *s, int64_t node_id, const struct wire_batch *b,
			uint64_t now, bool *inserted)
{
	sqlite3_stmt *st = s->stmt[ST_BATCH_INSERT];
	int rc = SQLITE_OK;
	int err;

	sqlite_bind_i64(st, 1, node_id, &rc);
	sqlite_bind_str(st, 2, b->boot_id, sizeof(b->boot_id), &rc);
	sqlite_bind_u64(st, 3, b->seq, &rc);
	sqlite_bind_u64(st, 4, b->window_start_ms, &rc);
	sqlite_bind_u64(st, 5, b->window_end_ms, &rc);
	sqlite_bind_u64(st, 6, b->nrecords, &rc);
	sqlite_bind_u64(st, 7, now, &rc);
	err = bind_done(s, rc, "inserting the batch");
	if (!err)
		err = stmt_run(s, ST_BATCH_INSERT, "inserting the batch");
	if (err)
		return err;
	*inserted = sqlite3_changes(s->db) == 1;
	return 0;
}

/* Loads s->next_id: past the newest block's records (1 for none), as a rowid would be. */
static int next_id_load(struct sqlite_store *s)
{
	sqlite3_stmt *st = s->stmt[ST_NEXT_ID];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		s->next_id = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		s->next_id = 1;
	(void)sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg),
				      "finding the next flow id");
	return 0;
}

static int flows_append(struct sqlite_store *s, int64_t node_id, const struct wire_batch *b)
{
	struct sqlite_block_writer w = {.db = s->db,
					.block = s->stmt[ST_BLOCK_INSERT],
					.key = s->stmt[ST_KEY_INSERT],
					.enc = s->block,
					.keys = s->keys,
					.msg = s->errmsg,
					.len = sizeof(s->errmsg)};
	int err;

	if (!b->nrecords)
		return 0;
	err = sqlite_block_write(&w, s->next_id, node_id, b->window_start_ms, b->window_end_ms,
				 b->records, b->nrecords);
	if (!err)
		s->next_id += (int64_t)b->nrecords;
	return err;
}

/* "<type> <ttl> <value>" lines (the dns table, sqlite_schema.c) into buf. */
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

static int dns_insert(struct sqlite_store *s, int64_t node_id, const struct wire_dns *d)
{
	sqlite3_stmt *st = s->stmt[ST_DNS_INSERT];
	uint8_t rev[WIRE_NAME_MAX + 2];
	char answers[DNS_ANSWERS_TEXT_LEN];
	size_t nlen = strnlen(d->name, sizeof(d->name));
	int rc = SQLITE_OK;
	int err;

	dns_answers_text(d, answers, sizeof(answers));
	sqlite_bind_u64(st, 1, d->ts_ms, &rc);
	sqlite_bind_i64(st, 2, node_id, &rc);
	sqlite_bind_str(st, 3, d->name, sizeof(d->name), &rc);
	sqlite_bind_blob(st, 4, rev, flowkeys_domain_reverse(d->name, nlen, rev), &rc);
	sqlite_bind_i64(st, 5, d->qtype, &rc);
	sqlite_bind_i64(st, 6, d->rcode, &rc);
	sqlite_bind_i64(st, 7, d->answered ? 1 : 0, &rc);
	sqlite_bind_i64(st, 8, d->latency_us, &rc);
	sqlite_bind_i64(st, 9, d->ip_version, &rc);
	sqlite_bind_blob(st, 10, d->client_addr, sizeof(d->client_addr), &rc);
	sqlite_bind_blob(st, 11, d->server_addr, sizeof(d->server_addr), &rc);
	sqlite_bind_i64(st, 12, d->client_port, &rc);
	sqlite_bind_i64(st, 13, d->server_port, &rc);
	sqlite_bind_str(st, 14, answers, sizeof(answers), &rc);
	err = bind_done(s, rc, "inserting a DNS record");
	return err ? err : stmt_run(s, ST_DNS_INSERT, "inserting a DNS record");
}

static int append_one(struct sqlite_store *s, const struct wire_batch *b, uint64_t now, bool *dup)
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
static void store_rollback(struct sqlite_store *s)
{
	/* The transaction's blocks are gone with it: the next append finds the next id
	 * again (sqlite_append). */
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

int sqlite_append(struct store *base, const struct wire_batch *const *batches, size_t n,
		  bool *duplicate)
{
	struct sqlite_store *s = sqlite_store_of(base);
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

static int retain_delete(struct sqlite_store *s, enum sqlite_stmt which, int64_t before,
			 unsigned max, unsigned *deleted)
{
	sqlite3_stmt *st = s->stmt[which];
	int rc = SQLITE_OK;
	int err;

	sqlite_bind_i64(st, 1, before, &rc);
	sqlite_bind_i64(st, 2, max, &rc);
	err = bind_done(s, rc, "retention");
	if (!err)
		err = stmt_run(s, which, "retention");
	if (err)
		return err;
	*deleted = (unsigned)sqlite3_changes(s->db);
	return 0;
}

int sqlite_retention_step(struct store *base, uint64_t older_than_ms, unsigned max_rows,
			  unsigned *deleted)
{
	struct sqlite_store *s = sqlite_store_of(base);
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
	err = retain_delete(s, ST_RETAIN_BLOCKS, sqlite_clamp_i64(older_than_ms), max_rows, &flows);
	if (err)
		goto rollback;
	/* Keys go once their blocks are all gone, so that a key never misses a stored
	 * block (a query skips keys whose block is gone). */
	if (flows < max_rows) {
		err = retain_delete(s, ST_RETAIN_KEYS, sqlite_clamp_i64(older_than_ms),
				    max_rows - flows, &keys);
		if (err)
			goto rollback;
	}
	if (flows + keys < max_rows) {
		err = retain_delete(s, ST_RETAIN_DNS, sqlite_clamp_i64(older_than_ms),
				    max_rows - flows - keys, &dns);
		if (err)
			goto rollback;
	}
	if (flows + keys + dns < max_rows) {
		err = retain_delete(s, ST_RETAIN_BATCHES, sqlite_clamp_i64(dedup_before),
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

int64_t sqlite_db_bytes(struct store *base)
{
	struct sqlite_store *s = sqlite_store_of(base);
	sqlite3_stmt *st = s->stmt[ST_DB_BYTES];
	int64_t bytes;
	int rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int err = sqlite_db_fail(s->db, rc, s->errmsg, sizeof(s->errmsg), "database size");

		(void)sqlite3_reset(st);
		return err;
	}
	bytes = sqlite3_column_int64(st, 0);
	(void)sqlite3_reset(st);
	return bytes;
}
