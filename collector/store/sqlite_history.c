/* sqlite_history.c - the SQLite backend's history query (store_query_history) and its
 * plan (store_sqlite_explain_history). A query walks the key rows of one filter's value
 * (flow_keys, flowkeys.h), or the blocks by time and node, newest first, and reads only
 * the records it returns or must check, each by its position in its block's BLOB
 * (flowblock.h) through SQLite's incremental BLOB I/O. The tests prove the plans. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_internal.h"

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
	int64_t bound; /* count candidates up to here (sqlite_count_bound) */
	struct sqlite_name_range dom;
};

static int kq_build(const struct store_filter *f, struct kq *k)
{
	int filters = f->has_ip + f->has_src_ip + f->has_dst_ip + (f->domain != NULL) +
		      f->has_port + f->has_src_port + f->has_dst_port + f->has_proto;

	memset(k, 0, sizeof(*k));
	if (f->limit > STORE_HISTORY_LIMIT_MAX)
		return -EINVAL;
	if (f->domain && sqlite_name_range_of(f->domain, &k->dom))
		return -EINVAL;
	k->limit = f->limit ? f->limit : STORE_HISTORY_LIMIT_DEFAULT;
	k->bound = sqlite_count_bound((uint64_t)k->limit, f->offset);
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
static int kq_block_open(struct sqlite_reader *r, struct kq_block *b, int64_t id)
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
		return sqlite_reader_fail(r, rc, "opening a flow block");
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
static int kq_record(struct sqlite_reader *r, struct kq_block *b, int64_t id, size_t pos,
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

static int kq_candidate(struct sqlite_reader *r, struct kq_run *run, int64_t block, uint16_t pos)
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
static int kq_block_done(struct sqlite_reader *r, struct kq_run *run, int64_t block, uint64_t ts,
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
static int kq_entries(struct sqlite_reader *r, struct kq_run *run, sqlite3_stmt *st)
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
		sqlite_bind_i64(st, 1, k->kind, &rc);
		if (k->is_int)
			sqlite_bind_i64(st, 2, k->ivalue, &rc);
		else
			sqlite_bind_blob(st, 2, k->value, k->len, &rc);
		if (k->range)
			sqlite_bind_blob(st, 3, k->dom.hi, k->dom.len, &rc);
	}
	if (f->has_start)
		sqlite_bind_i64(st, 4, sqlite_clamp_i64(f->start_ms), &rc);
	if (f->has_end)
		sqlite_bind_i64(st, 5, sqlite_clamp_i64(f->end_ms), &rc);
	if (f->node)
		sqlite_bind_i64(st, 6, node_id, &rc);
	return rc;
}

/* Runs sql (one row of one or two integers, or none) with text ?1 (NULL: no parameter). */
static int kq_scalar(struct sqlite_reader *r, const char *sql, const char *text, int64_t *v,
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
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
						     : sqlite_reader_fail(r, rc, "reading history");
}

/* Walks the source rows, block by block, until the count bound. */
static int kq_walk(struct sqlite_reader *r, struct kq_run *run, int64_t node_id)
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
		err = sqlite_reader_fail(r, rc, "preparing the history query");
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
		err = sqlite_reader_fail(r, rc, "reading the history");
out:
	(void)sqlite3_finalize(st);
	return err;
}

/* The block's window and node name; *found false when it is gone. */
static int kq_block_meta(struct sqlite_reader *r, sqlite3_stmt *st, int64_t id, uint64_t *ts,
			 uint64_t *end, char node[WIRE_NAME_MAX + 1], bool *found)
{
	int rc = sqlite3_bind_int64(st, 1, id);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found) {
		*ts = (uint64_t)sqlite3_column_int64(st, 0);
		*end = (uint64_t)sqlite3_column_int64(st, 1);
		sqlite_copy_text(node, WIRE_NAME_MAX + 1, st, 2);
	}
	(void)sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		   ? 0
		   : sqlite_reader_fail(r, rc, "reading a flow block");
}

/* Reads the page's records into h (those of a block deleted meanwhile are skipped). */
static int kq_fetch(struct sqlite_reader *r, struct kq_run *run, struct store_history *h)
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
		return sqlite_reader_fail(r, rc, "preparing the history rows");
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

static int kq_history(struct sqlite_reader *r, const struct store_filter *f, const struct kq *k,
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

int sqlite_query_history(struct store_reader *base, const struct store_filter *f,
			 struct store_history *out)
{
	struct sqlite_reader *r = sqlite_reader_of(base);
	struct store_history h = {0};
	struct kq k;
	int err;

	r->errmsg[0] = '\0';
	err = kq_build(f, &k);
	if (err) {
		snprintf(r->errmsg, sizeof(r->errmsg), "invalid history filter (limit or domain)");
		return err;
	}
	err = sqlite_reader_begin(r);
	if (err)
		return err;
	err = kq_history(r, f, &k, &h);
	sqlite_reader_end(r);
	if (err) {
		store_history_fini(&h);
		return err;
	}
	*out = h;
	return 0;
}

int store_sqlite_explain_history(struct store_reader *base, const struct store_filter *f,
				 char *plan, size_t len)
{
	struct sqlite_reader *r;
	char sql[512];
	size_t used = 0;
	struct kq k;
	int err;

	if (base->ops != &sqlite_ops)
		return -EINVAL;
	r = sqlite_reader_of(base);
	if (len == 0)
		return -ENOSPC;
	plan[0] = '\0';
	err = kq_build(f, &k);
	if (err)
		return err;
	/* The candidates' rows, then each page block's row (records: BLOB reads). */
	kq_source_sql(f, &k, sql, sizeof(sql));
	err = sqlite_explain_sql(r, sql, plan, len, &used);
	if (!err)
		err = sqlite_explain_sql(r, KQ_BLOCK_SQL, plan, len, &used);
	return err;
}
