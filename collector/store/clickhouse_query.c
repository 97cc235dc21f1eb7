/* clickhouse_query.c - the ClickHouse backend's readers: history, DNS, top domains and
 * nodes, each one SELECT (or a few) answered in RowBinary.
 *
 * A query reads the table sorted by its most selective filter (flows_addr for an
 * address, flows_domain for a domain, else flows by node and time). 18.16 cannot read a
 * table in reverse key order, so "newest first" sorts what the conditions select, after
 * finding the page's oldest time from the ts column alone (ch_newest). The total is counted
 * separately, bounded (store.h, STORE_COUNT_CAP). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clickhouse_internal.h"
#include "grow.h"

static struct ch_reader *ch_reader_of(struct store_reader *r)
{
	return (struct ch_reader *)r;
}

void ch_reader_close(struct store_reader *base)
{
	struct ch_reader *r = ch_reader_of(base);

	if (!r)
		return;
	ch_conn_free(r->conn);
	free(r->sql);
	free(r);
}

const char *ch_reader_last_error(const struct store_reader *r)
{
	return ((const struct ch_reader *)r)->errmsg;
}

static int ch_rfail(struct ch_reader *r, int err, const char *what)
{
	snprintf(r->errmsg, sizeof(r->errmsg), "%s: %s", what,
		 err == -ENOMEM && !ch_conn_error(r->conn)[0] ? "out of memory"
							      : ch_conn_error(r->conn));
	return err;
}

static int ch_rmalformed(struct ch_reader *r, const char *what)
{
	snprintf(r->errmsg, sizeof(r->errmsg), "%s: malformed answer (or a stored value too long)",
		 what);
	return -EIO;
}

/* Enough to tell whether there is a page after this one, and at least STORE_COUNT_CAP
 * (as the SQLite backend counts). */
static uint64_t ch_count_bound(uint64_t limit, uint64_t offset)
{
	uint64_t b = offset + limit + 1;

	if (b < offset || b > INT64_MAX)
		return INT64_MAX;
	return b > STORE_COUNT_CAP ? b : STORE_COUNT_CAP;
}

/* A name filter (store_filter.domain, store_dns_filter.name) on a reversed-name column
 * or expression: "example.com" exactly, ".example.com" it and every name below it, as
 * a key range. -EINVAL for "" and ".". */
static int ch_sql_name(struct ch_sql *q, const char *col, const char *name)
{
	char rev[WIRE_NAME_MAX + 2];
	bool suffix = name[0] == '.';
	size_t len;

	if (suffix)
		name++;
	len = strlen(name);
	if (len == 0 || len > WIRE_NAME_MAX)
		return -EINVAL;
	len = ch_name_reverse(name, rev);
	ch_sql_add(q, " AND %s >= ", col);
	ch_sql_str(q, rev);
	if (!suffix)
		ch_sql_add(q, " AND %s <= ", col); /* = as a range: the key is used either way */
	else {
		rev[len - 1] = '.' + 1;
		ch_sql_add(q, " AND %s < ", col);
	}
	ch_sql_str(q, rev);
	return 0;
}

/* ---- history ---- */

void ch_get_flow(struct ch_in *in, struct store_flow *fl)
{
	struct wire_record *r = &fl->rec;

	memset(fl, 0, sizeof(*fl));
	fl->ts_ms = ch_get_u64(in);
	fl->window_end_ms = ch_get_u64(in);
	ch_get_str(in, fl->node, sizeof(fl->node));
	fl->id = (int64_t)ch_get_u64(in);
	r->proto = ch_get_u8(in);
	r->ip_version = ch_get_u8(in);
	ch_get_bytes(in, r->src_addr, 16);
	ch_get_bytes(in, r->dst_addr, 16);
	r->src_port = ch_get_u16(in);
	r->dst_port = ch_get_u16(in);
	r->tcp_flags = ch_get_u32(in);
	r->packets_sent = ch_get_u64(in);
	r->packets_received = ch_get_u64(in);
	r->bytes_sent = ch_get_u64(in);
	r->bytes_received = ch_get_u64(in);
	r->first_seen_ms = ch_get_u64(in);
	r->last_seen_ms = ch_get_u64(in);
	ch_get_str(in, r->interface, sizeof(r->interface));
	ch_get_str(in, r->domain, sizeof(r->domain));
	ch_get_str(in, r->src_hostname, sizeof(r->src_hostname));
	ch_get_str(in, r->dst_hostname, sizeof(r->dst_hostname));
}

/* The table and WHERE conditions (after "WHERE 1") of a history filter. */
static int ch_history_where(const struct store_filter *f, struct ch_sql *q, const char **table)
{
	*table = "flows";
	if (f->has_ip || f->has_src_ip || f->has_dst_ip) {
		/* flows_addr holds a record once per distinct address, so one address
		 * condition on addr finds each matching record once. */
		*table = "flows_addr";
		ch_sql_add(q, " AND addr = ");
		ch_sql_addr(q, f->has_ip ? f->ip : f->has_src_ip ? f->src_ip : f->dst_ip);
	} else if (f->domain) {
		*table = "flows_domain";
	}
	if (f->has_start)
		ch_sql_add(q, " AND ts >= %llu", (unsigned long long)f->start_ms);
	if (f->has_end)
		ch_sql_add(q, " AND ts < %llu", (unsigned long long)f->end_ms);
	if (f->node) {
		ch_sql_add(q, " AND node = ");
		ch_sql_str(q, f->node);
	}
	if (f->has_ip) {
		ch_sql_add(q, " AND (src_ip = ");
		ch_sql_addr(q, f->ip);
		ch_sql_add(q, " OR dst_ip = ");
		ch_sql_addr(q, f->ip);
		ch_sql_add(q, ")");
	}
	if (f->has_src_ip) {
		ch_sql_add(q, " AND src_ip = ");
		ch_sql_addr(q, f->src_ip);
	}
	if (f->has_dst_ip) {
		ch_sql_add(q, " AND dst_ip = ");
		ch_sql_addr(q, f->dst_ip);
	}
	if (f->has_port)
		ch_sql_add(q, " AND (src_port = %u OR dst_port = %u)", f->port, f->port);
	if (f->has_src_port)
		ch_sql_add(q, " AND src_port = %u", f->src_port);
	if (f->has_dst_port)
		ch_sql_add(q, " AND dst_port = %u", f->dst_port);
	if (f->has_proto)
		ch_sql_add(q, " AND proto = %u", f->proto);
	if (f->domain &&
	    ch_sql_name(q,
			!strcmp(*table, "flows_domain") ? "domain_rev"
							: "reverse(concat('.', lower(domain)))",
			f->domain) < 0)
		return -EINVAL;
	return q->failed ? -ENOMEM : 0;
}

/* Counts the rows of table under where, up to bound. */
static int ch_count(struct ch_reader *r, const char *table, const char *where, uint64_t bound,
		    uint64_t *total, bool *capped)
{
	struct ch_sql q;
	const uint8_t *ans;
	struct ch_in in;
	size_t len;
	int err;

	ch_sql_start(&q, &r->sql, &r->sqlcap);
	ch_sql_add(&q,
		   "SELECT count() FROM (SELECT 1 FROM %s.%s WHERE 1%s LIMIT %llu)"
		   " FORMAT RowBinary",
		   r->db, table, where, (unsigned long long)bound);
	if (q.failed)
		return ch_rfail(r, -ENOMEM, "count query");
	err = ch_conn_query(r->conn, r->sql, NULL, 0, &ans, &len);
	if (err)
		return ch_rfail(r, err, "counting rows");
	ch_in_init(&in, ans, len);
	*total = ch_get_u64(&in);
	if (in.failed)
		return ch_rmalformed(r, "counting rows");
	*capped = *total >= bound;
	return 0;
}

/* The look-back windows of the cutoff search, widest last (0: unbounded). */
static const uint64_t ch_cutoff_windows_ms[] = {3600000, 86400000, 0};

/* The window start of the (offset + limit)-th newest row under where, into *cutoff;
 * false when there are fewer rows. Reads the ts column alone, first of the last hour
 * before ref, then of the last day, then of all: the rank-th newest row of a window
 * that has that many is the rank-th newest of all, and the key (or the partitions)
 * keep a window's read small. */
static int ch_cutoff(struct ch_reader *r, const char *table, const char *where, uint64_t ref,
		     uint64_t rank, bool *found, uint64_t *cutoff, const char *what)
{
	for (size_t w = 0; w < sizeof(ch_cutoff_windows_ms) / sizeof(ch_cutoff_windows_ms[0]);
	     w++) {
		uint64_t lb = ch_cutoff_windows_ms[w];
		const uint8_t *ans;
		struct ch_sql q;
		struct ch_in in;
		size_t len;
		int err;

		if (lb && ref <= lb)
			continue;
		ch_sql_start(&q, &r->sql, &r->sqlcap);
		ch_sql_add(&q, "SELECT ts FROM %s.%s WHERE 1%s", r->db, table, where);
		if (lb)
			ch_sql_add(&q, " AND ts >= %llu", (unsigned long long)(ref - lb));
		ch_sql_add(&q, " ORDER BY ts DESC LIMIT %llu, 1 FORMAT RowBinary",
			   (unsigned long long)(rank - 1));
		if (q.failed)
			return ch_rfail(r, -ENOMEM, what);
		err = ch_conn_query(r->conn, r->sql, NULL, 0, &ans, &len);
		if (err)
			return ch_rfail(r, err, what);
		if (!len)
			continue;
		ch_in_init(&in, ans, len);
		*cutoff = ch_get_u64(&in);
		if (in.failed || in.left)
			return ch_rmalformed(r, what);
		*found = true;
		return 0;
	}
	*found = false;
	return 0;
}

/* Runs "SELECT <cols> FROM table WHERE 1<where> ORDER BY ts DESC, id DESC LIMIT offset,
 * limit"; row() reads each row into the next element of *rows (size bytes each).
 * 18.16 would read and sort every column of every row under where (it cannot read a
 * table backwards, and a busy address or node has millions of rows), so the page's
 * oldest window start is found first from the ts column alone, and only the rows from
 * it on are read whole: the same page, a fraction of the bytes. */
static int ch_newest(struct ch_reader *r, const char *cols, const char *table, const char *where,
		     bool has_end, uint64_t end, uint64_t limit, uint64_t offset, size_t size,
		     void (*row)(struct ch_in *, void *), void **rows, size_t *n, const char *what)
{
	uint64_t cutoff = 0;
	bool bounded = false;
	const uint8_t *ans;
	struct ch_sql q;
	struct ch_in in;
	size_t len, cap = 0, got = 0;
	int err;

	if (offset + limit >= offset) {
		struct timespec now;
		uint64_t ref;

		clock_gettime(CLOCK_REALTIME, &now);
		ref = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
		if (has_end && end < ref)
			ref = end;
		err = ch_cutoff(r, table, where, ref, offset + limit, &bounded, &cutoff, what);
		if (err)
			return err;
	}
	ch_sql_start(&q, &r->sql, &r->sqlcap);
	ch_sql_add(&q, "SELECT %s FROM %s.%s WHERE 1%s", cols, r->db, table, where);
	if (bounded)
		ch_sql_add(&q, " AND ts >= %llu", (unsigned long long)cutoff);
	ch_sql_add(&q, " ORDER BY ts DESC, id DESC LIMIT %llu, %llu FORMAT RowBinary",
		   (unsigned long long)offset, (unsigned long long)limit);
	if (q.failed)
		return ch_rfail(r, -ENOMEM, what);
	err = ch_conn_query(r->conn, r->sql, NULL, 0, &ans, &len);
	if (err)
		return ch_rfail(r, err, what);
	ch_in_init(&in, ans, len);
	while (in.left && !in.failed && got < limit) {
		if (grow_reserve(rows, &cap, got + 1, size, 64) < 0) {
			snprintf(r->errmsg, sizeof(r->errmsg), "%s: out of memory", what);
			return -ENOMEM;
		}
		row(&in, (char *)*rows + got * size);
		got++;
	}
	if (in.failed || in.left)
		return ch_rmalformed(r, what);
	*n = got;
	return 0;
}

static void ch_row_flow(struct ch_in *in, void *out)
{
	ch_get_flow(in, out);
}

int ch_query_history(struct store_reader *base, const struct store_filter *f,
		     struct store_history *out)
{
	struct ch_reader *r = ch_reader_of(base);
	uint64_t limit = f->limit ? f->limit : STORE_HISTORY_LIMIT_DEFAULT;
	uint64_t bound = ch_count_bound(limit, f->offset);
	struct store_history h = {0};
	char *where = NULL;
	size_t wcap = 0;
	const char *table;
	struct ch_sql q;
	void *rows = NULL;
	int err;

	r->errmsg[0] = '\0';
	if (f->limit > STORE_HISTORY_LIMIT_MAX)
		goto invalid;
	ch_sql_start(&q, &where, &wcap);
	err = ch_history_where(f, &q, &table);
	if (err == -EINVAL)
		goto invalid;
	if (err) {
		free(where);
		return ch_rfail(r, err, "history query");
	}
	err = ch_newest(r, CH_FLOW_SELECT, table, where, f->has_end, f->end_ms, limit, f->offset,
			sizeof(struct store_flow), ch_row_flow, &rows, &h.n, "history query");
	if (!err)
		err = ch_count(r, table, where, bound, &h.total, &h.total_capped);
	free(where);
	h.rows = rows;
	if (err) {
		store_history_fini(&h);
		return err;
	}
	*out = h;
	return 0;
invalid:
	free(where);
	snprintf(r->errmsg, sizeof(r->errmsg), "invalid history filter (limit or domain)");
	return -EINVAL;
}

/* ---- DNS ---- */

#define CH_DNS_SELECT                                                                              \
	"ts, node, id, name, qtype, rcode, answered, latency_us, ip_version, client_ip,"           \
	" server_ip, client_port, server_port, answer_type, answer_ttl, answer_addr,"              \
	" answer_target"

/* An Array's count, which must be the same for the four answer arrays. */
static size_t ch_get_answers(struct ch_in *in, size_t expect)
{
	uint64_t n = ch_get_varint(in);

	if (n > WIRE_DNS_MAX_ANSWERS || (expect != SIZE_MAX && n != expect))
		in->failed = true;
	return in->failed ? 0 : (size_t)n;
}

static void ch_row_dns(struct ch_in *in, void *out)
{
	struct store_dns_row *row = out;
	struct wire_dns *d = &row->dns;
	size_t na;

	memset(row, 0, sizeof(*row));
	d->ts_ms = ch_get_u64(in);
	ch_get_str(in, row->node, sizeof(row->node));
	row->id = (int64_t)ch_get_u64(in);
	ch_get_str(in, d->name, sizeof(d->name));
	d->qtype = ch_get_u16(in);
	d->rcode = ch_get_u8(in);
	d->answered = ch_get_u8(in);
	d->latency_us = ch_get_u32(in);
	d->ip_version = ch_get_u8(in);
	ch_get_bytes(in, d->client_addr, 16);
	ch_get_bytes(in, d->server_addr, 16);
	d->client_port = ch_get_u16(in);
	d->server_port = ch_get_u16(in);
	na = ch_get_answers(in, SIZE_MAX);
	for (size_t j = 0; j < na; j++)
		d->answers[j].type = ch_get_u16(in);
	na = ch_get_answers(in, na);
	for (size_t j = 0; j < na; j++)
		d->answers[j].ttl = ch_get_u32(in);
	na = ch_get_answers(in, na);
	for (size_t j = 0; j < na; j++)
		ch_get_bytes(in, d->answers[j].addr, 16);
	na = ch_get_answers(in, na);
	for (size_t j = 0; j < na; j++)
		ch_get_str(in, d->answers[j].target, sizeof(d->answers[j].target));
	d->nanswers = na;
}

int ch_query_dns(struct store_reader *base, const struct store_dns_filter *f,
		 struct store_dns_result *out)
{
	struct ch_reader *r = ch_reader_of(base);
	uint64_t limit = f->limit ? f->limit : STORE_HISTORY_LIMIT_DEFAULT;
	struct store_dns_result res = {0};
	char *where = NULL;
	size_t wcap = 0;
	struct ch_sql q;
	void *rows = NULL;
	int err;

	r->errmsg[0] = '\0';
	if (f->limit > STORE_HISTORY_LIMIT_MAX)
		goto invalid;
	ch_sql_start(&q, &where, &wcap);
	if (f->has_start)
		ch_sql_add(&q, " AND ts >= %llu", (unsigned long long)f->start_ms);
	if (f->has_end)
		ch_sql_add(&q, " AND ts < %llu", (unsigned long long)f->end_ms);
	if (f->node) {
		ch_sql_add(&q, " AND node = ");
		ch_sql_str(&q, f->node);
	}
	if (f->has_client) {
		ch_sql_add(&q, " AND client_ip = ");
		ch_sql_addr(&q, f->client_ip);
	}
	if (f->name && ch_sql_name(&q, "name_rev", f->name) < 0)
		goto invalid;
	if (q.failed) {
		free(where);
		return ch_rfail(r, -ENOMEM, "DNS query");
	}
	err = ch_newest(r, CH_DNS_SELECT, "dns", where, f->has_end, f->end_ms, limit, f->offset,
			sizeof(struct store_dns_row), ch_row_dns, &rows, &res.n, "DNS query");
	if (!err)
		err = ch_count(r, "dns", where, ch_count_bound(limit, f->offset), &res.total,
			       &res.total_capped);
	free(where);
	res.rows = rows;
	if (err) {
		store_dns_result_fini(&res);
		return err;
	}
	*out = res;
	return 0;
invalid:
	free(where);
	snprintf(r->errmsg, sizeof(r->errmsg), "invalid DNS filter (limit or name)");
	return -EINVAL;
}

/* ---- top domains ---- */

int ch_query_domains(struct store_reader *base, uint64_t start_ms, uint64_t end_ms,
		     const char *node, unsigned limit, struct store_domains *out)
{
	struct ch_reader *r = ch_reader_of(base);
	struct store_domains res = {0};
	size_t cap = 0;
	const uint8_t *ans;
	struct ch_sql q;
	struct ch_in in;
	size_t len;
	int err;

	r->errmsg[0] = '\0';
	if (limit == 0 || limit > STORE_DOMAINS_LIMIT_MAX) {
		snprintf(r->errmsg, sizeof(r->errmsg), "invalid domains limit");
		return -EINVAL;
	}
	/* domain_rev is "." + domain reversed: reversed back and without the dot, it is
	 * the domain in lower case. Ties in domain_rev order, as the SQLite backend. */
	ch_sql_start(&q, &r->sql, &r->sqlcap);
	ch_sql_add(&q,
		   "SELECT substring(reverse(domain_rev), 2) AS d,"
		   " sum(bytes_sent + bytes_received) AS b, sum(packets_sent + packets_received),"
		   " toUInt64(count()) FROM %s.flows_domain WHERE ts >= %llu AND ts < %llu",
		   r->db, (unsigned long long)start_ms, (unsigned long long)end_ms);
	if (node) {
		ch_sql_add(&q, " AND node = ");
		ch_sql_str(&q, node);
	}
	ch_sql_add(&q, " GROUP BY domain_rev ORDER BY b DESC, domain_rev LIMIT %u FORMAT RowBinary",
		   limit);
	if (q.failed)
		return ch_rfail(r, -ENOMEM, "domains query");
	err = ch_conn_query(r->conn, r->sql, NULL, 0, &ans, &len);
	if (err)
		return ch_rfail(r, err, "domains query");
	ch_in_init(&in, ans, len);
	while (in.left && !in.failed && res.n < limit) {
		struct store_domain *d;

		if (grow_reserve((void **)&res.rows, &cap, res.n + 1, sizeof(*res.rows), 16) < 0) {
			store_domains_fini(&res);
			return ch_rfail(r, -ENOMEM, "domains query");
		}
		d = &res.rows[res.n++];
		ch_get_str(&in, d->domain, sizeof(d->domain));
		d->bytes = ch_get_u64(&in);
		d->packets = ch_get_u64(&in);
		d->flows = ch_get_u64(&in);
	}
	if (in.failed || in.left) {
		store_domains_fini(&res);
		return ch_rmalformed(r, "domains query");
	}
	*out = res;
	return 0;
}

/* ---- nodes ---- */

int ch_list_nodes(struct store_reader *base, struct store_node **nodes, size_t *n)
{
	struct ch_reader *r = ch_reader_of(base);
	struct store_node *v = NULL;
	size_t cap = 0, count = 0;
	const uint8_t *ans;
	struct ch_in in;
	char sql[1024];
	size_t len;
	int err;

	r->errmsg[0] = '\0';
	snprintf(
	    sql, sizeof(sql),
	    "SELECT node, argMaxMerge(boot_id), argMaxMerge(agent_version),"
	    " argMaxMerge(last_seq), minMerge(first_seen), maxMerge(last_seen),"
	    " argMaxMerge(total_packets), argMaxMerge(total_bytes),"
	    " argMaxMerge(active_connections), argMaxMerge(lost), toUInt64(countMerge(batches)),"
	    " sumMerge(records) FROM %s.nodes GROUP BY node ORDER BY node FORMAT RowBinary",
	    r->db);
	err = ch_conn_query(r->conn, sql, NULL, 0, &ans, &len);
	if (err)
		return ch_rfail(r, err, "listing nodes");
	ch_in_init(&in, ans, len);
	while (in.left && !in.failed) {
		struct store_node *x;
		uint64_t nlost;

		if (grow_reserve((void **)&v, &cap, count + 1, sizeof(*v), 16) < 0) {
			free(v);
			return ch_rfail(r, -ENOMEM, "listing nodes");
		}
		x = &v[count++];
		memset(x, 0, sizeof(*x));
		ch_get_str(&in, x->name, sizeof(x->name));
		ch_get_str(&in, x->boot_id, sizeof(x->boot_id));
		ch_get_str(&in, x->agent_version, sizeof(x->agent_version));
		x->last_seq = ch_get_u64(&in);
		x->first_seen_ms = ch_get_u64(&in);
		x->last_seen_ms = ch_get_u64(&in);
		x->total_packets = ch_get_u64(&in);
		x->total_bytes = ch_get_u64(&in);
		x->active_connections = ch_get_u64(&in);
		/* Reasons this program does not know (a newer writer's) are skipped. */
		nlost = ch_get_varint(&in);
		for (uint64_t i = 0; i < nlost && !in.failed; i++) {
			uint64_t c = ch_get_u64(&in);

			if (i < WIRE_LOSS_MAX)
				x->lost[i] = c;
		}
		x->batches = ch_get_u64(&in);
		x->records = ch_get_u64(&in);
	}
	if (in.failed) {
		free(v);
		return ch_rmalformed(r, "listing nodes");
	}
	*nodes = count ? v : NULL;
	*n = count;
	if (!count)
		free(v);
	return 0;
}
