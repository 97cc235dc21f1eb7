/* sqlite_internal.h - the SQLite backend of the history store (store.h, backend.h),
 * private to its files: the writer's and the readers' structs, the writer's statements,
 * the helpers the files share and the ops table. The backend is the only module that
 * speaks sqlite3. Ingest's writer thread appends validated batches in one transaction
 * each call, with prepared statements reused for every row; HTTP threads query through
 * their own read-only connections, which WAL lets run beside the writer.
 *
 * Files: sqlite_schema.c (schema, migrations, opening and closing connections, the ops
 * table), sqlite_write.c (append, retention, size), sqlite_history.c (the history query),
 * sqlite_query.c (DNS records, top domains, nodes), sqlite_util.c (what they share);
 * flowblock.c and flowkeys.c encode a batch's records and its index keys.
 *
 * Integers are stored as SQLite's signed 64 bits: uint64_t values round-trip bit for
 * bit; times (Unix ms) are far below 2^63, and filter bounds above it are clamped. */
#ifndef AYAFLOW_COLLECTOR_STORE_SQLITE_INTERNAL_H
#define AYAFLOW_COLLECTOR_STORE_SQLITE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "backend.h"
#include "flowblock.h"
#include "flowkeys.h"
#include "sqlite.h"

/* ---- writer and reader ---- */

/* The writer's statements, prepared once at open (sqlite_schema.c). */
enum sqlite_stmt {
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

/* Their SQL (sqlite_write.c, beside the code that binds their parameters). */
extern const char *const sqlite_stmt_sql[ST_MAX];

/* Owned by the writer thread. */
struct sqlite_store {
	struct store base; /* first: store.c's struct store * points here */
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_MAX];
	struct flowkeys *keys;	 /* reused for every batch */
	struct flowblock *block; /* likewise */
	int64_t next_id;	 /* of the next block: past the newest block's records */
	char errmsg[256];
};

/* Owned by one HTTP thread. */
struct sqlite_reader {
	struct store_reader base; /* first: store.c's struct store_reader * points here */
	sqlite3 *db;
	sqlite3_stmt *nodes; /* prepared at open for store_list_nodes */
	sqlite3_stmt *loss;
	char errmsg[256];
};

_Static_assert(offsetof(struct sqlite_store, base) == 0, "a writer is its struct store");
_Static_assert(offsetof(struct sqlite_reader, base) == 0, "a reader is its struct store_reader");

/* store.c's calls into this backend (sqlite_schema.c). A writer or reader of this
 * backend has ops == &sqlite_ops. */
extern const struct store_ops sqlite_ops;

static inline struct sqlite_store *sqlite_store_of(struct store *s)
{
	return (struct sqlite_store *)s;
}

static inline struct sqlite_reader *sqlite_reader_of(struct store_reader *r)
{
	return (struct sqlite_reader *)r;
}

/* The ops: sqlite_write.c */
int sqlite_append(struct store *s, const struct wire_batch *const *batches, size_t n,
		  bool *duplicate);
int sqlite_retention_step(struct store *s, uint64_t older_than_ms, unsigned max_rows,
			  unsigned *deleted);
int64_t sqlite_db_bytes(struct store *s);
/* sqlite_history.c */
int sqlite_query_history(struct store_reader *r, const struct store_filter *f,
			 struct store_history *out);
/* sqlite_query.c */
int sqlite_query_dns(struct store_reader *r, const struct store_dns_filter *f,
		     struct store_dns_result *out);
int sqlite_query_domains(struct store_reader *r, uint64_t start_ms, uint64_t end_ms,
			 const char *node, unsigned limit, struct store_domains *out);
int sqlite_list_nodes(struct store_reader *r, struct store_node **nodes, size_t *n);

/* ---- flow blocks and their keys (sqlite_write.c; also the migration to version 3) ---- */

/* What writes one block: the prepared ST_BLOCK_INSERT and ST_KEY_INSERT, the encoders. */
struct sqlite_block_writer {
	sqlite3 *db;
	sqlite3_stmt *block;
	sqlite3_stmt *key;
	struct flowblock *enc;
	struct flowkeys *keys;
	char *msg;
	size_t len;
};

/* Writes recs[0..n) (n > 0) as the block id (records id .. id + n - 1) of a window of
 * node_id, and its keys. 0 or a negative errno, with the message in w->msg. */
int sqlite_block_write(struct sqlite_block_writer *w, int64_t id, int64_t node_id, uint64_t ts,
		       uint64_t window_end, const struct wire_record *recs, size_t n);

/* ---- helpers (sqlite_util.c, and inline here: the binders run for every row) ---- */

static inline int64_t sqlite_clamp_i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Binding helpers: each does nothing once *rc is an error, so a run of binds is checked
 * once at its end. */
static inline void sqlite_bind_i64(sqlite3_stmt *st, int i, int64_t v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_int64(st, i, v);
}

static inline void sqlite_bind_u64(sqlite3_stmt *st, int i, uint64_t v, int *rc)
{
	sqlite_bind_i64(st, i, (int64_t)v, rc); /* bit for bit; read back as uint64_t */
}

/* s: NUL-terminated within max bytes (a wire struct field); borrowed until reset. */
static inline void sqlite_bind_str(sqlite3_stmt *st, int i, const char *s, size_t max, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_text(st, i, s, (int)strnlen(s, max), SQLITE_STATIC);
}

static inline void sqlite_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
}

/* Records what failed ("what: SQLite's message") in msg and returns the negative errno
 * of rc: -ENOMEM, -EBUSY (busy, locked), -ENOSPC (full), -EINVAL (constraint, type,
 * size, range), -EROFS (read-only), -EIO (anything else). db may be NULL. */
int sqlite_db_fail(sqlite3 *db, int rc, char *msg, size_t len, const char *what);
/* The column's text (up to its first NUL), cut to size - 1 bytes; "" for NULL. */
void sqlite_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col);

/* sqlite_db_fail on a reader's connection and message. */
int sqlite_reader_fail(struct sqlite_reader *r, int rc, const char *what);
/* A read transaction makes the statements inside it see one committed state. */
int sqlite_reader_begin(struct sqlite_reader *r);
void sqlite_reader_end(struct sqlite_reader *r);

/* A name filter on reversed names (flowkeys_domain_reverse): "example.com" is lo
 * exactly; ".example.com" is [lo, hi) = [ "moc.elpmaxe." , "moc.elpmaxe/" ): the name
 * and every name below it. */
struct sqlite_name_range {
	uint8_t lo[WIRE_NAME_MAX + 2];
	uint8_t hi[WIRE_NAME_MAX + 2];
	size_t len; /* of lo and hi */
	bool suffix;
};

/* -EINVAL for "" and ".". */
int sqlite_name_range_of(const char *name, struct sqlite_name_range *d);
/* How many matching rows a query counts at most: enough to tell whether there is a page
 * after this one, and at least STORE_COUNT_CAP. */
int64_t sqlite_count_bound(uint64_t limit, uint64_t offset);
/* Appends the plan of sql (its parameters unbound) to plan[*used..len), one step a line;
 * -ENOSPC when it does not fit. */
int sqlite_explain_sql(struct sqlite_reader *r, const char *sql, char *plan, size_t len,
		       size_t *used);

#endif
