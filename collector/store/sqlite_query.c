/* sqlite_query.c - the SQLite backend's other reader queries: DNS records
 * (store_query_dns), the top domains by bytes (store_query_domains, from the domain keys
 * of flow_keys) and the nodes (store_list_nodes), and the plans of the first two
 * (store_sqlite_explain_dns, _domains). Each query's SQL is assembled from fixed
 * fragments (struct hq), every value bound; every DNS filter has an index (column, ts). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_internal.h"

/* ---- DNS and domain queries: SQL assembled from fixed fragments, every value bound ---- */

#define HQ_MAX_PARAMS 16

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
	struct sqlite_name_range dom;
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
	struct sqlite_name_range *d = &q->dom;
	char cond[128];

	if (sqlite_name_range_of(name, d))
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

/* The SQL of q's rows (count false) or count query, prefixed by prefix. */
static void hq_sql(const struct hq *q, bool count, const char *prefix, char *sql, size_t len)
{
	/* The template's one "%s" is where the WHERE clause goes. */
	const char *tmpl = count ? q->count_sql : q->rows_sql;
	const char *at = strstr(tmpl, "%s");

	snprintf(sql, len, "%s%.*s%s%s", prefix, (int)(at - tmpl), tmpl, q->where, at + 2);
}

/* Prepares the rows (count false) or count query of q, prefixed by prefix, and binds. */
static int hq_prepare(struct sqlite_reader *r, const struct hq *q, bool count, const char *prefix,
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
		return sqlite_reader_fail(r, rc, what);
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
		int err = sqlite_reader_fail(r, rc, "binding a query");

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

static int hq_count(struct sqlite_reader *r, const struct hq *q, uint64_t *total, bool *capped)
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
		err = sqlite_reader_fail(r, rc, "counting rows");
	(void)sqlite3_finalize(st);
	return err;
}

/* Runs the rows query of q: each row is read by row() into the next element (of size
 * bytes) of *rows (realloc'd, at most q->limit elements), *n counts them. */
static int hq_collect(struct sqlite_reader *r, const struct hq *q, size_t size,
		      int (*row)(struct sqlite_reader *, sqlite3_stmt *, void *), void **rows,
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
		err = sqlite_reader_fail(r, rc, "reading rows");
	(void)sqlite3_finalize(st);
	return err;
}

static int explain_hq(struct sqlite_reader *r, const struct hq *q, char *plan, size_t len)
{
	char sql[2048];
	size_t used = 0;
	int err;

	if (len == 0)
		return -ENOSPC;
	plan[0] = '\0';
	hq_sql(q, false, "", sql, sizeof(sql));
	err = sqlite_explain_sql(r, sql, plan, len, &used);
	if (!err && q->count_sql) {
		hq_sql(q, true, "", sql, sizeof(sql));
		err = sqlite_explain_sql(r, sql, plan, len, &used);
	}
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
	q->tail[1] = sqlite_clamp_i64(f->offset);
	q->count_bound = sqlite_count_bound(q->limit, f->offset);
	if (f->has_start) {
		hq_cond(q, "d.ts >= ?");
		hq_int(q, sqlite_clamp_i64(f->start_ms));
	}
	if (f->has_end) {
		hq_cond(q, "d.ts < ?");
		hq_int(q, sqlite_clamp_i64(f->end_ms));
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

/* Parses the answers text (the dns table, sqlite_schema.c) back into d. */
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

static int dq_row(struct sqlite_reader *r, sqlite3_stmt *st, void *out)
{
	struct store_dns_row *o = out;
	struct wire_dns *d = &o->dns;
	const unsigned char *answers;

	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(st, 0);
	d->ts_ms = (uint64_t)sqlite3_column_int64(st, 1);
	sqlite_copy_text(o->node, sizeof(o->node), st, 2);
	sqlite_copy_text(d->name, sizeof(d->name), st, 3);
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

int sqlite_query_dns(struct store_reader *base, const struct store_dns_filter *f,
		     struct store_dns_result *out)
{
	struct sqlite_reader *r = sqlite_reader_of(base);
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
	err = sqlite_reader_begin(r);
	if (err)
		return err;
	err = hq_count(r, &q, &res.total, &res.total_capped);
	if (!err)
		err = hq_collect(r, &q, sizeof(*res.rows), dq_row, &rows, &res.n);
	res.rows = rows;
	sqlite_reader_end(r);
	if (err) {
		store_dns_result_fini(&res);
		return err;
	}
	*out = res;
	return 0;
}

int store_sqlite_explain_dns(struct store_reader *base, const struct store_dns_filter *f,
			     char *plan, size_t len)
{
	struct hq q;
	int err;

	if (base->ops != &sqlite_ops)
		return -EINVAL;
	err = dq_build(f, &q);
	if (err)
		return err;
	return explain_hq(sqlite_reader_of(base), &q, plan, len);
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
	hq_int(q, sqlite_clamp_i64(start_ms));
	hq_cond(q, "k.ts < ?");
	hq_int(q, sqlite_clamp_i64(end_ms));
	if (node) {
		hq_cond(q, "k.node_id = (SELECT id FROM nodes WHERE name = ?)");
		hq_text(q, node);
	}
	return 0;
}

/* One row of TQ_SQL; the scanned count goes to the row's flows field of a spare element
 * (see sqlite_query_domains). */
struct tq_row {
	struct store_domain d;
	uint64_t scanned;
};

static int tq_row(struct sqlite_reader *r, sqlite3_stmt *st, void *out)
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

int sqlite_query_domains(struct store_reader *base, uint64_t start_ms, uint64_t end_ms,
			 const char *node, unsigned limit, struct store_domains *out)
{
	struct sqlite_reader *r = sqlite_reader_of(base);
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
	err = sqlite_reader_begin(r);
	if (err)
		return err;
	err = hq_collect(r, &q, sizeof(struct tq_row), tq_row, &rows, &n);
	sqlite_reader_end(r);
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

int store_sqlite_explain_domains(struct store_reader *base, uint64_t start_ms, uint64_t end_ms,
				 const char *node, unsigned limit, char *plan, size_t len)
{
	struct hq q;
	int err;

	if (base->ops != &sqlite_ops)
		return -EINVAL;
	err = tq_build(start_ms, end_ms, node, limit, &q);
	if (err)
		return err;
	return explain_hq(sqlite_reader_of(base), &q, plan, len);
}

/* ---- nodes ---- */

static int node_read_loss(struct sqlite_reader *r, int64_t id, struct store_node *node)
{
	sqlite3_stmt *st = r->loss;
	int err = 0;
	int rc;

	rc = sqlite3_bind_int64(st, 1, id);
	if (rc != SQLITE_OK)
		return sqlite_reader_fail(r, rc, "reading the loss ledger");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t reason = sqlite3_column_int64(st, 0);

		/* Reasons this program does not know cannot be in a database it opens
		 * (newer schemas are refused); skip rather than index out of range. */
		if (reason >= 0 && reason < WIRE_LOSS_MAX)
			node->lost[reason] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		err = sqlite_reader_fail(r, rc, "reading the loss ledger");
	(void)sqlite3_reset(st);
	return err;
}

int sqlite_list_nodes(struct store_reader *base, struct store_node **nodes, size_t *n)
{
	struct sqlite_reader *r = sqlite_reader_of(base);
	struct store_node *v = NULL;
	sqlite3_stmt *st = r->nodes;
	size_t cnt = 0;
	size_t cap = 0;
	int err;
	int rc;

	r->errmsg[0] = '\0';
	err = sqlite_reader_begin(r);
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
		sqlite_copy_text(node->name, sizeof(node->name), st, 1);
		sqlite_copy_text(node->boot_id, sizeof(node->boot_id), st, 2);
		sqlite_copy_text(node->agent_version, sizeof(node->agent_version), st, 3);
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
		err = sqlite_reader_fail(r, rc, "listing nodes");
	(void)sqlite3_reset(st);
	sqlite_reader_end(r);
	if (err) {
		free(v);
		return err;
	}
	*nodes = v;
	*n = cnt;
	return 0;
}
