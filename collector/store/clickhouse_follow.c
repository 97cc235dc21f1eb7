/* clickhouse_follow.c - store_follow for the ClickHouse backend: the batches other
 * collectors stored, for this collector's live view, so that every collector of a shared
 * store answers /api/live, /api/stats and /api/stream for the whole cluster.
 *
 * Each call reads the batch marks of the last STORE_FOLLOW_BACK_MS by the other
 * collectors (a mark's stored_ms is its writer's clock, and it becomes visible only when
 * the writer's INSERT ends, so a window rather than a cursor), delivers those not
 * delivered by the last call, and remembers the window's delivered ones for the next.
 * Their flow records are read by (node, window start) and batch identity, the key of
 * flows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clickhouse_internal.h"
#include "grow.h"

#define CH_FOLLOW_MAX_BATCHES 1024

struct ch_mark {
	struct wire_batch b; /* records filled later */
	uint64_t hash;
	size_t filled; /* records read */
};

static uint64_t ch_follow_hash(const char *node, const char *boot, uint64_t seq)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	const char *parts[2] = {node, boot};

	for (int i = 0; i < 2; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull; /* not a byte of UTF-8: a separator */
	}
	for (int i = 0; i < 8; i++)
		h = (h ^ (uint8_t)(seq >> (8 * i))) * 1099511628211ull;
	return h;
}

static int ch_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool ch_followed(const struct ch_store *s, uint64_t h)
{
	return s->nfollowed &&
	       bsearch(&h, s->followed, s->nfollowed, sizeof(h), ch_u64_cmp) != NULL;
}

static int ch_follow_fail(struct ch_store *s, int err, const char *what)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what,
		 ch_conn_error(s->conn)[0] ? ch_conn_error(s->conn) : strerror(-err));
	return err;
}

/* Reads the marks of the window; *window gets every mark's hash, *marks the new ones. */
static int ch_follow_marks(struct ch_store *s, uint64_t since, struct ch_mark **marks,
			   size_t *nmarks, uint64_t **window, size_t *nwindow, bool *more)
{
	size_t mcap = 0, wcap = 0, records = 0;
	const uint8_t *ans;
	struct ch_sql q;
	struct ch_in in;
	size_t len;
	int err;

	ch_sql_start(&q, &s->sql, &s->sqlcap);
	ch_sql_add(&q,
		   "SELECT node, boot_id, seq, window_start, window_end, agent_version,"
		   " total_packets, total_bytes, active_connections, lost, records FROM %s.batches"
		   " WHERE stored_ms >= %llu AND collector != ",
		   s->db, (unsigned long long)since);
	ch_sql_str(&q, s->collector);
	ch_sql_add(&q, " ORDER BY stored_ms FORMAT RowBinary");
	if (q.failed)
		return ch_follow_fail(s, -ENOMEM, "following the other collectors");
	err = ch_conn_query(s->conn, s->sql, NULL, 0, &ans, &len);
	if (err)
		return ch_follow_fail(s, err, "following the other collectors");
	ch_in_init(&in, ans, len);
	while (in.left && !in.failed) {
		struct wire_batch b;
		uint64_t nlost, h;

		memset(&b, 0, sizeof(b));
		ch_get_str(&in, b.node, sizeof(b.node));
		ch_get_str(&in, b.boot_id, sizeof(b.boot_id));
		b.seq = ch_get_u64(&in);
		b.window_start_ms = ch_get_u64(&in);
		b.window_end_ms = ch_get_u64(&in);
		ch_get_str(&in, b.agent_version, sizeof(b.agent_version));
		b.total_packets = ch_get_u64(&in);
		b.total_bytes = ch_get_u64(&in);
		b.active_connections = ch_get_u64(&in);
		nlost = ch_get_varint(&in);
		for (uint64_t i = 0; i < nlost && !in.failed; i++) {
			uint64_t c = ch_get_u64(&in);

			if (i < WIRE_LOSS_MAX)
				b.lost[i] = c;
		}
		b.nrecords = ch_get_u64(&in);
		if (in.failed)
			break;
		h = ch_follow_hash(b.node, b.boot_id, b.seq);
		if (ch_followed(s, h)) {
			if (grow_reserve((void **)window, &wcap, *nwindow + 1, sizeof(**window),
					 256) < 0)
				return ch_follow_fail(s, -ENOMEM, "following");
			(*window)[(*nwindow)++] = h;
			continue;
		}
		if (*nmarks >= CH_FOLLOW_MAX_BATCHES || b.nrecords > WIRE_MAX_RECORDS ||
		    (*nmarks && records + b.nrecords > STORE_FOLLOW_MAX_RECORDS)) {
			*more = true; /* left for the next call: not in the window's set */
			continue;
		}
		if (grow_reserve((void **)marks, &mcap, *nmarks + 1, sizeof(**marks), 64) < 0 ||
		    grow_reserve((void **)window, &wcap, *nwindow + 1, sizeof(**window), 256) < 0)
			return ch_follow_fail(s, -ENOMEM, "following");
		(*window)[(*nwindow)++] = h;
		(*marks)[*nmarks].b = b;
		(*marks)[*nmarks].hash = h;
		(*marks)[*nmarks].filled = 0;
		(*nmarks)++;
		records += b.nrecords;
	}
	if (in.failed) {
		snprintf(s->errmsg, sizeof(s->errmsg), "following: malformed answer");
		return -EIO;
	}
	return 0;
}

/* Reads the flow records of the marks into their batches. */
static int ch_follow_records(struct ch_store *s, struct ch_mark *m, size_t n)
{
	const uint8_t *ans;
	struct ch_sql q;
	struct ch_in in;
	size_t len;
	int err;

	for (size_t i = 0; i < n; i++) {
		m[i].b.records =
		    calloc(m[i].b.nrecords ? m[i].b.nrecords : 1, sizeof(*m[i].b.records));
		if (!m[i].b.records)
			return ch_follow_fail(s, -ENOMEM, "following");
	}
	ch_sql_start(&q, &s->sql, &s->sqlcap);
	ch_sql_add(
	    &q, "SELECT boot_id, seq, idx, " CH_FLOW_SELECT " FROM %s.flows WHERE (node, ts) IN (",
	    s->db);
	for (size_t i = 0; i < n; i++) {
		ch_sql_add(&q, "%s(", i ? ", " : "");
		ch_sql_str(&q, m[i].b.node);
		ch_sql_add(&q, ", %llu)", (unsigned long long)m[i].b.window_start_ms);
	}
	ch_sql_add(&q, ") AND (node, boot_id, seq) IN (");
	for (size_t i = 0; i < n; i++) {
		ch_sql_add(&q, "%s(", i ? ", " : "");
		ch_sql_str(&q, m[i].b.node);
		ch_sql_add(&q, ", ");
		ch_sql_str(&q, m[i].b.boot_id);
		ch_sql_add(&q, ", %llu)", (unsigned long long)m[i].b.seq);
	}
	ch_sql_add(&q, ") FORMAT RowBinary");
	if (q.failed)
		return ch_follow_fail(s, -ENOMEM, "following");
	err = ch_conn_query(s->conn, s->sql, NULL, 0, &ans, &len);
	if (err)
		return ch_follow_fail(s, err, "reading the other collectors' records");
	ch_in_init(&in, ans, len);
	while (in.left && !in.failed) {
		char boot[WIRE_BOOT_ID_MAX + 1];
		struct store_flow fl;
		uint64_t seq;
		uint32_t idx;

		ch_get_str(&in, boot, sizeof(boot));
		seq = ch_get_u64(&in);
		idx = ch_get_u32(&in);
		ch_get_flow(&in, &fl);
		if (in.failed)
			break;
		for (size_t i = 0; i < n; i++) {
			struct ch_mark *x = &m[i];

			if (x->b.seq != seq || strcmp(x->b.node, fl.node) ||
			    strcmp(x->b.boot_id, boot))
				continue;
			if (idx < x->b.nrecords) {
				x->b.records[idx] = fl.rec;
				x->filled++;
			}
			break;
		}
	}
	if (in.failed) {
		snprintf(s->errmsg, sizeof(s->errmsg), "following: malformed answer");
		return -EIO;
	}
	return 0;
}

int ch_store_follow(struct store *base, store_follow_fn fn, void *arg, size_t *n, bool *more)
{
	struct ch_store *s = (struct ch_store *)base;
	struct ch_mark *marks = NULL;
	uint64_t *window = NULL;
	size_t nmarks = 0, nwindow = 0;
	struct timespec now;
	uint64_t now_ms;
	int err;

	s->errmsg[0] = '\0';
	*more = false;
	clock_gettime(CLOCK_REALTIME, &now);
	now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	err = ch_follow_marks(s, now_ms > STORE_FOLLOW_BACK_MS ? now_ms - STORE_FOLLOW_BACK_MS : 0,
			      &marks, &nmarks, &window, &nwindow, more);
	if (!err && nmarks)
		err = ch_follow_records(s, marks, nmarks);
	if (!err) {
		*n = 0;
		for (size_t i = 0; i < nmarks; i++) {
			/* Marks are written after the records, so all of them are there,
			 * unless retention dropped them since: then only the counters. */
			marks[i].b.nrecords =
			    marks[i].filled == marks[i].b.nrecords ? marks[i].b.nrecords : 0;
			fn(arg, &marks[i].b);
			(*n)++;
		}
		/* An empty window has no array (NULL), which qsort must not be given
		 * even for no elements. */
		if (nwindow)
			qsort(window, nwindow, sizeof(*window), ch_u64_cmp);
		free(s->followed);
		s->followed = window;
		s->nfollowed = nwindow;
		window = NULL;
	}
	for (size_t i = 0; i < nmarks; i++)
		free(marks[i].b.records);
	free(marks);
	free(window);
	return err;
}
