/* clickhouse_write.c - the ClickHouse backend's writer: batches in, retention, size.
 *
 * ClickHouse has no transactions, so store_append's "all or nothing, exactly once" is
 * built from what it does have: an INSERT into one table is one block, whose rows of
 * one partition become one part, visible all at once or not at all (a batch's records
 * share their window start, so they are in one part). The batch's row in `batches` is
 * written last and is what marks it stored. A call that failed half way (or a collector
 * killed half way) leaves a batch's flows or DNS rows without that mark; the retry,
 * through this collector or another, finds them by (node, boot_id, seq) and writes
 * only what is missing. So a batch is counted once however often it is sent, provided
 * that one collector's write of it has ended before another starts: nodes send a
 * batch to one collector at a time and resend only after their request timed out,
 * which is longer than a store request may take here (STORE_TIMEOUT_MS_DEFAULT). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clickhouse_internal.h"
#include "grow.h"

/* ids: the stored time in ms, shifted, plus a counter, so that rows stored later have
 * higher ids (the order of rows of one window) without a shared sequence. */
#define CH_ID_SHIFT 20

static uint64_t ch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct ch_store *ch_store_of(struct store *s)
{
	return (struct ch_store *)s;
}

void ch_store_close(struct store *base)
{
	struct ch_store *s = ch_store_of(base);

	if (!s)
		return;
	ch_conn_free(s->conn);
	ch_out_fini(&s->rows);
	free(s->followed);
	free(s->sql);
	free(s);
}

const char *ch_store_last_error(const struct store *s)
{
	return ((const struct ch_store *)s)->errmsg;
}

static int ch_fail(struct ch_store *s, int err, const char *what)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what,
		 err == -ENOMEM && !ch_conn_error(s->conn)[0] ? "out of memory"
							      : ch_conn_error(s->conn));
	return err;
}

static bool ch_same_batch(const struct wire_batch *a, const struct wire_batch *b)
{
	return a->seq == b->seq && !strcmp(a->node, b->node) && !strcmp(a->boot_id, b->boot_id);
}

/* (node, boot_id, seq) of every batch i with want[i], comma-separated. */
static void ch_sql_batch_keys(struct ch_sql *q, const struct wire_batch *const *b, size_t n,
			      const bool *want)
{
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		if (!want[i])
			continue;
		ch_sql_add(q, "%s(", first ? "" : ", ");
		ch_sql_str(q, b[i]->node);
		ch_sql_add(q, ", ");
		ch_sql_str(q, b[i]->boot_id);
		ch_sql_add(q, ", %llu)", (unsigned long long)b[i]->seq);
		first = false;
	}
}

/* Reads (node, boot_id, seq[, count]) rows and calls back with the batch index each
 * names (rows naming none are ignored). */
static int ch_read_keys(struct ch_store *s, const uint8_t *ans, size_t len, bool with_count,
			const struct wire_batch *const *b, size_t n, uint64_t *counts)
{
	struct ch_in in;

	ch_in_init(&in, ans, len);
	while (in.left && !in.failed) {
		struct wire_batch k;
		uint64_t count;

		ch_get_str(&in, k.node, sizeof(k.node));
		ch_get_str(&in, k.boot_id, sizeof(k.boot_id));
		k.seq = ch_get_u64(&in);
		count = with_count ? ch_get_u64(&in) : 1;
		if (in.failed)
			break;
		for (size_t i = 0; i < n; i++)
			if (ch_same_batch(b[i], &k))
				counts[i] = count;
	}
	if (in.failed) {
		snprintf(s->errmsg, sizeof(s->errmsg), "malformed answer to a dedup query");
		return -EIO;
	}
	return 0;
}

/* Sets stored[i] for the batches the store has marked stored. */
static int ch_find_stored(struct ch_store *s, const struct wire_batch *const *b, size_t n,
			  const bool *fresh, uint64_t *stored)
{
	struct ch_sql q;
	const uint8_t *ans;
	size_t len;
	int err;

	ch_sql_start(&q, &s->sql, &s->sqlcap);
	ch_sql_add(&q, "SELECT node, boot_id, seq FROM %s.batches WHERE (node, boot_id, seq) IN (",
		   s->db);
	ch_sql_batch_keys(&q, b, n, fresh);
	ch_sql_add(&q, ") FORMAT RowBinary");
	if (q.failed)
		return ch_fail(s, -ENOMEM, "dedup query");
	err = ch_conn_query(s->conn, s->sql, NULL, 0, &ans, &len);
	if (err)
		return ch_fail(s, err, "dedup query");
	return ch_read_keys(s, ans, len, false, b, n, stored);
}

/* counts[i]: rows of batch i already in table (flows or dns), for the batches in want. */
static int ch_find_rows(struct ch_store *s, const char *table, const struct wire_batch *const *b,
			size_t n, const bool *want, uint64_t *counts)
{
	bool flows = !strcmp(table, "flows");
	struct ch_sql q;
	const uint8_t *ans;
	bool first = true;
	size_t len;
	int err;

	/* One key range of (node, ts) per batch, so that the key finds the few granules
	 * of each, however far apart the batches' times are (a node's resent batches
	 * beside another's new ones): a batch's flows share its window start; its DNS
	 * records lie between their earliest and latest times. Records are counted by
	 * their index: copies not yet merged away (clickhouse_schema.c) count once. */
	ch_sql_start(&q, &s->sql, &s->sqlcap);
	ch_sql_add(&q, "SELECT node, boot_id, seq, toUInt64(uniqExact(idx)) FROM %s.%s WHERE (",
		   s->db, table);
	for (size_t i = 0; i < n; i++) {
		uint64_t lo = b[i]->window_start_ms, hi = lo;

		if (!want[i])
			continue;
		for (size_t j = 0; !flows && j < b[i]->ndns; j++) {
			if (j == 0 || b[i]->dns[j].ts_ms < lo)
				lo = b[i]->dns[j].ts_ms;
			if (j == 0 || b[i]->dns[j].ts_ms > hi)
				hi = b[i]->dns[j].ts_ms;
		}
		ch_sql_add(&q, "%s(node = ", first ? "" : " OR ");
		ch_sql_str(&q, b[i]->node);
		ch_sql_add(&q, " AND ts >= %llu AND ts <= %llu)", (unsigned long long)lo,
			   (unsigned long long)hi);
		first = false;
	}
	if (first)
		return 0;
	ch_sql_add(&q, ") AND (node, boot_id, seq) IN (");
	ch_sql_batch_keys(&q, b, n, want);
	ch_sql_add(&q, ") GROUP BY node, boot_id, seq FORMAT RowBinary");
	if (q.failed)
		return ch_fail(s, -ENOMEM, "dedup query");
	err = ch_conn_query(s->conn, s->sql, NULL, 0, &ans, &len);
	if (err)
		return ch_fail(s, err, "looking for a batch's earlier rows");
	return ch_read_keys(s, ans, len, true, b, n, counts);
}

static void ch_put_flow(struct ch_out *o, const struct wire_batch *b, uint32_t idx, uint64_t id)
{
	const struct wire_record *r = &b->records[idx];

	ch_put_u64(o, b->window_start_ms);
	ch_put_u64(o, b->window_end_ms);
	ch_put_str(o, b->node);
	ch_put_str(o, b->boot_id);
	ch_put_u64(o, b->seq);
	ch_put_u32(o, idx);
	ch_put_u64(o, id);
	ch_put_u8(o, r->proto);
	ch_put_u8(o, r->ip_version);
	ch_put_bytes(o, r->src_addr, 16);
	ch_put_bytes(o, r->dst_addr, 16);
	ch_put_u16(o, r->src_port);
	ch_put_u16(o, r->dst_port);
	ch_put_u32(o, r->tcp_flags);
	ch_put_u64(o, r->packets_sent);
	ch_put_u64(o, r->packets_received);
	ch_put_u64(o, r->bytes_sent);
	ch_put_u64(o, r->bytes_received);
	ch_put_u64(o, r->first_seen_ms);
	ch_put_u64(o, r->last_seen_ms);
	ch_put_str(o, r->interface);
	ch_put_str(o, r->domain);
	ch_put_str(o, r->src_hostname);
	ch_put_str(o, r->dst_hostname);
}

static void ch_put_dns(struct ch_out *o, const struct wire_batch *b, uint32_t idx, uint64_t id)
{
	const struct wire_dns *d = &b->dns[idx];
	size_t na = d->nanswers < WIRE_DNS_MAX_ANSWERS ? d->nanswers : WIRE_DNS_MAX_ANSWERS;

	ch_put_u64(o, d->ts_ms);
	ch_put_str(o, b->node);
	ch_put_str(o, b->boot_id);
	ch_put_u64(o, b->seq);
	ch_put_u32(o, idx);
	ch_put_u64(o, id);
	ch_put_str(o, d->name);
	ch_put_u16(o, d->qtype);
	ch_put_u8(o, d->rcode);
	ch_put_u8(o, d->answered);
	ch_put_u32(o, d->latency_us);
	ch_put_u8(o, d->ip_version);
	ch_put_bytes(o, d->client_addr, 16);
	ch_put_bytes(o, d->server_addr, 16);
	ch_put_u16(o, d->client_port);
	ch_put_u16(o, d->server_port);
	ch_put_varint(o, na);
	for (size_t j = 0; j < na; j++)
		ch_put_u16(o, d->answers[j].type);
	ch_put_varint(o, na);
	for (size_t j = 0; j < na; j++)
		ch_put_u32(o, d->answers[j].ttl);
	ch_put_varint(o, na);
	for (size_t j = 0; j < na; j++)
		ch_put_bytes(o, d->answers[j].addr, 16);
	ch_put_varint(o, na);
	for (size_t j = 0; j < na; j++)
		ch_put_str(o, d->answers[j].target);
}

static void ch_put_batch(struct ch_out *o, const struct wire_batch *b, uint64_t now,
			 const char *collector)
{
	ch_put_str(o, b->node);
	ch_put_str(o, b->boot_id);
	ch_put_u64(o, b->seq);
	ch_put_u64(o, b->window_start_ms);
	ch_put_u64(o, b->window_end_ms);
	ch_put_str(o, b->agent_version);
	ch_put_u64(o, b->total_packets);
	ch_put_u64(o, b->total_bytes);
	ch_put_u64(o, b->active_connections);
	ch_put_varint(o, WIRE_LOSS_MAX);
	for (int i = 0; i < WIRE_LOSS_MAX; i++)
		ch_put_u64(o, b->lost[i]);
	ch_put_u64(o, b->nrecords);
	ch_put_u64(o, b->ndns);
	ch_put_u64(o, now);
	ch_put_str(o, collector);
}

static int ch_insert(struct ch_store *s, const char *table, const char *columns, const char *what)
{
	char sql[512];
	int err;

	if (s->rows.failed)
		return ch_fail(s, -ENOMEM, what);
	if (!s->rows.len)
		return 0;
	snprintf(sql, sizeof(sql), "INSERT INTO %s.%s (%s) FORMAT RowBinary", s->db, table,
		 columns);
	err = ch_conn_query(s->conn, sql, s->rows.p, s->rows.len, NULL, NULL);
	return err ? ch_fail(s, err, what) : 0;
}

/* What a call must write for each batch, found by ch_store_append's lookups. */
struct ch_plan {
	bool *fresh;	  /* not stored before, nor earlier in this call */
	bool *has_flows;  /* fresh with records */
	bool *has_dns;	  /* fresh with DNS records */
	uint64_t *stored; /* nonzero: marked stored */
	uint64_t *nflows; /* flows rows found */
	uint64_t *ndns;	  /* dns rows found */
};

/* What the schema cannot hold, refused before anything is written (as the SQLite
 * backend's encoder refuses it): a window that ends before it starts, an IP version
 * other than 4 or 6, a string without its NUL. */
static int ch_check(struct ch_store *s, const struct wire_batch *b)
{
	if (b->window_start_ms >= b->window_end_ms) {
		snprintf(s->errmsg, sizeof(s->errmsg),
			 "batch %llu of node %s: window ends before it starts",
			 (unsigned long long)b->seq, b->node);
		return -EINVAL;
	}
	for (size_t i = 0; i < b->nrecords; i++) {
		const struct wire_record *r = &b->records[i];

		if ((r->ip_version != 4 && r->ip_version != 6) ||
		    !memchr(r->interface, '\0', sizeof(r->interface)) ||
		    !memchr(r->domain, '\0', sizeof(r->domain)) ||
		    !memchr(r->src_hostname, '\0', sizeof(r->src_hostname)) ||
		    !memchr(r->dst_hostname, '\0', sizeof(r->dst_hostname))) {
			snprintf(
			    s->errmsg, sizeof(s->errmsg),
			    "batch %llu of node %s: record %zu cannot be stored (IP version %u)",
			    (unsigned long long)b->seq, b->node, i, r->ip_version);
			return -EINVAL;
		}
	}
	return 0;
}

static int ch_plan(struct ch_store *s, const struct wire_batch *const *b, size_t n,
		   struct ch_plan *p)
{
	bool any = false;
	int err;

	for (size_t i = 0; i < n; i++) {
		err = ch_check(s, b[i]);
		if (err)
			return err;
	}
	for (size_t i = 0; i < n; i++) {
		p->fresh[i] = true;
		for (size_t j = 0; j < i && p->fresh[i]; j++)
			if (p->fresh[j] && ch_same_batch(b[i], b[j]))
				p->fresh[i] = false;
		any |= p->fresh[i];
	}
	if (!any)
		return 0;
	err = ch_find_stored(s, b, n, p->fresh, p->stored);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		if (p->stored[i])
			p->fresh[i] = false;
		p->has_flows[i] = p->fresh[i] && b[i]->nrecords;
		p->has_dns[i] = p->fresh[i] && b[i]->ndns;
	}
	err = ch_find_rows(s, "flows", b, n, p->has_flows, p->nflows);
	if (!err)
		err = ch_find_rows(s, "dns", b, n, p->has_dns, p->ndns);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		if ((p->nflows[i] && p->nflows[i] != b[i]->nrecords) ||
		    (p->ndns[i] && p->ndns[i] != b[i]->ndns)) {
			snprintf(
			    s->errmsg, sizeof(s->errmsg),
			    "batch %llu of node %s is partly stored (%llu of %zu records, %llu "
			    "of %zu DNS records): remove its rows to store it again",
			    (unsigned long long)b[i]->seq, b[i]->node,
			    (unsigned long long)p->nflows[i], b[i]->nrecords,
			    (unsigned long long)p->ndns[i], b[i]->ndns);
			return -EIO;
		}
	}
	return 0;
}

int ch_store_append(struct store *base, const struct wire_batch *const *b, size_t n,
		    bool *duplicate)
{
	struct ch_store *s = ch_store_of(base);
	uint64_t now = ch_now_ms();
	struct ch_plan p;
	void *mem;
	int err;

	s->errmsg[0] = '\0';
	if (n == 0)
		return 0;
	mem = calloc(n, 3 * sizeof(bool) + 3 * sizeof(uint64_t));
	if (!mem) {
		snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
		return -ENOMEM;
	}
	p.stored = mem;
	p.nflows = p.stored + n;
	p.ndns = p.nflows + n;
	p.fresh = (bool *)(p.ndns + n);
	p.has_flows = p.fresh + n;
	p.has_dns = p.has_flows + n;
	err = ch_plan(s, b, n, &p);
	if (err)
		goto out;
	if (s->next_id < now << CH_ID_SHIFT)
		s->next_id = now << CH_ID_SHIFT;

	ch_out_reset(&s->rows);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; p.has_flows[i] && !p.nflows[i] && j < b[i]->nrecords; j++)
			ch_put_flow(&s->rows, b[i], (uint32_t)j, s->next_id++);
	err = ch_insert(s, "flows", CH_FLOW_COLUMNS, "inserting flow records");
	if (err)
		goto out;
	ch_out_reset(&s->rows);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; p.has_dns[i] && !p.ndns[i] && j < b[i]->ndns; j++)
			ch_put_dns(&s->rows, b[i], (uint32_t)j, s->next_id++);
	err = ch_insert(s, "dns", CH_DNS_COLUMNS, "inserting DNS records");
	if (err)
		goto out;
	ch_out_reset(&s->rows);
	for (size_t i = 0; i < n; i++)
		if (p.fresh[i])
			ch_put_batch(&s->rows, b[i], now, s->collector);
	err = ch_insert(s, "batches", CH_BATCH_COLUMNS, "marking the batches stored");
	if (err)
		goto out;
	for (size_t i = 0; i < n; i++)
		duplicate[i] = !p.fresh[i];
out:
	free(mem);
	return err;
}

/* ---- retention ---- */

/* Drops table's day partitions older than before_ms; adds the rows they held. */
static int ch_drop_days(struct ch_store *s, const char *table, uint64_t before_ms, uint64_t *rows)
{
	uint64_t before_day = before_ms / CH_DAY_MS;
	struct {
		uint64_t day, rows;
	} *drop = NULL;
	size_t nd = 0, cap = 0;
	const uint8_t *ans;
	struct ch_in in;
	char sql[400];
	size_t len;
	int err;

	/* The partition is text ('20000' for our integer day keys); compared here rather
	 * than in SQL, which would also convert other tables' 'tuple()'. */
	snprintf(sql, sizeof(sql),
		 "SELECT partition, toUInt64(sum(rows)) FROM system.parts WHERE database = '%s'"
		 " AND table = '%s' AND active GROUP BY partition FORMAT RowBinary",
		 s->db, table);
	err = ch_conn_query(s->conn, sql, NULL, 0, &ans, &len);
	if (err)
		return ch_fail(s, err, "listing partitions");
	/* The answer is overwritten by the next query: take the days first. */
	ch_in_init(&in, ans, len);
	while (in.left && !in.failed) {
		char part[32], *end;
		uint64_t day, count;

		ch_get_str(&in, part, sizeof(part));
		count = ch_get_u64(&in);
		if (in.failed)
			break;
		day = strtoull(part, &end, 10);
		if (end == part || *end || day >= before_day)
			continue;
		if (grow_reserve((void **)&drop, &cap, nd + 1, sizeof(*drop), 64) < 0) {
			free(drop);
			snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
			return -ENOMEM;
		}
		drop[nd].day = day;
		drop[nd++].rows = count;
	}
	if (in.failed) {
		snprintf(s->errmsg, sizeof(s->errmsg), "malformed answer listing partitions");
		err = -EIO;
	}
	for (size_t i = 0; i < nd && !err; i++) {
		snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s DROP PARTITION %llu", s->db, table,
			 (unsigned long long)drop[i].day);
		err = ch_conn_query(s->conn, sql, NULL, 0, NULL, NULL);
		if (err)
			err = ch_fail(s, err, "dropping a day of history");
		else
			*rows += drop[i].rows;
	}
	free(drop);
	return err;
}

int ch_store_retention_step(struct store *base, uint64_t older_than_ms, unsigned max_rows,
			    unsigned *deleted)
{
	static const char *const tables[] = {"flows", "flows_addr", "flows_domain", "dns"};
	struct ch_store *s = ch_store_of(base);
	uint64_t now = ch_now_ms();
	uint64_t dedup_before = now > STORE_DEDUP_WINDOW_MS ? now - STORE_DEDUP_WINDOW_MS : 0;
	uint64_t rows = 0, copies = 0;
	int err = 0;

	s->errmsg[0] = '\0';
	if (max_rows == 0) {
		*deleted = 0;
		return 0;
	}
	if (older_than_ms < dedup_before)
		dedup_before = older_than_ms;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]) && !err; i++)
		err = ch_drop_days(s, tables[i], older_than_ms, i == 1 || i == 2 ? &copies : &rows);
	if (!err)
		err = ch_drop_days(s, "batches", dedup_before, &rows);
	if (!err)
		err = ch_drop_days(s, "batch_log", dedup_before, &copies);
	if (err)
		return err;
	*deleted = rows > UINT32_MAX ? UINT32_MAX : (unsigned)rows;
	return 0;
}

int64_t ch_store_db_bytes(struct store *base)
{
	struct ch_store *s = ch_store_of(base);
	const uint8_t *ans;
	struct ch_in in;
	char sql[200];
	uint64_t bytes;
	size_t len;
	int err;

	snprintf(sql, sizeof(sql),
		 "SELECT toUInt64(sum(bytes_on_disk)) FROM system.parts WHERE database = '%s'"
		 " AND active FORMAT RowBinary",
		 s->db);
	err = ch_conn_query(s->conn, sql, NULL, 0, &ans, &len);
	if (err)
		return ch_fail(s, err, "size of the history");
	ch_in_init(&in, ans, len);
	bytes = ch_get_u64(&in);
	if (in.failed) {
		snprintf(s->errmsg, sizeof(s->errmsg), "malformed answer to the size query");
		return -EIO;
	}
	return bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes;
}
