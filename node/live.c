/* live.c - live connection table and snapshots (see live.h).
 * The table is a kvmap that grows with the connections present, up to the kernel map's
 * size; a snapshot holds only what the API can show (LIVE_SNAPSHOT_CONNS), chosen while
 * the drain reads the kernel map. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvmap.h"
#include "live.h"

/* A kvmap entry is the key, then the value at the key size rounded up to 8 (kvmap.h):
 * with the key first in live_conn, an entry is a whole live_conn and the key is kept
 * once. */
_Static_assert(offsetof(struct live_conn, exported) == sizeof(struct flow_key) &&
		   sizeof(struct flow_key) % 8 == 0,
	       "live_conn must be one kvmap entry: key, then the value");
_Static_assert(sizeof(struct live_conn) == 88, "live_conn: 88 bytes a connection");
#define LIVE_NS		1000000000ull
#define LIVE_GEN_MAX	0x7fffffffu /* live_conn.gen is 31 bits */
#define LIVE_VALUE_SIZE (sizeof(struct live_conn) - offsetof(struct live_conn, exported))

/* The busiest values offered since the last snapshot, chosen in one pass: a heap of at
 * most LIVE_SNAPSHOT_CONNS whose root is the one that sorts last, replaced whenever a value
 * sorts before it. Allocated at the first offer (mapped: only the entries used are
 * resident), handed to the snapshot. */
struct live_top {
	struct live_flow *heap;
	size_t n;
};

struct live_table {
	struct kvmap *map;
	struct live_top top;
	uint32_t gen; /* the selection in progress (31 bits); a live_conn with this gen is in it */
};

/* The connection whose kvmap value (its part after the key) is at val. */
static struct live_conn *live_conn_of(void *val)
{
	return (struct live_conn *)((char *)val - offsetof(struct live_conn, exported));
}

struct live_table *live_table_new(size_t max)
{
	struct live_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->map = kvmap_new(sizeof(struct flow_key), LIVE_VALUE_SIZE, max);
	if (!t->map) {
		free(t);
		return NULL;
	}
	t->gen = 1; /* new entries are zeroed: gen 0 is never the current selection */
	return t;
}

void live_table_free(struct live_table *t)
{
	if (!t)
		return;
	kvmap_free(t->map);
	free(t->top.heap);
	free(t);
}

size_t live_table_count(const struct live_table *t)
{
	return kvmap_count(t->map);
}

static uint64_t live_packets(const struct live_flow *f)
{
	return f->val.packets[FLOW_WAY_AB] + f->val.packets[FLOW_WAY_BA];
}

static int live_cmp_packets_desc(const void *a, const void *b)
{
	const struct live_flow *fa = a, *fb = b;
	uint64_t pa = live_packets(fa), pb = live_packets(fb);

	if (pa != pb)
		return pa < pb ? 1 : -1;
	/* Stable order for equal counts: oldest first. */
	if (fa->val.first_seen_ns != fb->val.first_seen_ns)
		return fa->val.first_seen_ns < fb->val.first_seen_ns ? -1 : 1;
	return memcmp(&fa->key, &fb->key, sizeof(fa->key));
}

static void live_top_swap(struct live_top *h, size_t i, size_t j)
{
	struct live_flow tmp = h->heap[i];

	h->heap[i] = h->heap[j];
	h->heap[j] = tmp;
}

static void live_top_sift_down(struct live_top *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, last = i;

		if (l < h->n && live_cmp_packets_desc(&h->heap[l], &h->heap[last]) > 0)
			last = l;
		if (r < h->n && live_cmp_packets_desc(&h->heap[r], &h->heap[last]) > 0)
			last = r;
		if (last == i)
			return;
		live_top_swap(h, i, last);
		i = last;
	}
}

static void live_top_sift_up(struct live_top *h, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (live_cmp_packets_desc(&h->heap[i], &h->heap[parent]) <= 0)
			return;
		live_top_swap(h, i, parent);
		i = parent;
	}
}

static void live_top_offer(struct live_top *h, const struct flow_key *key,
			   const struct flow_value *val)
{
	struct live_flow f = {*key, *val};

	if (h->n < LIVE_SNAPSHOT_CONNS) {
		h->heap[h->n] = f;
		live_top_sift_up(h, h->n++);
	} else if (live_cmp_packets_desc(&f, &h->heap[0]) < 0) {
		h->heap[0] = f;
		live_top_sift_down(h, 0);
	}
}

/* A key read twice in one selection (the drain reads each once; a caller may not): its
 * newer value replaces the older if that is still among the busiest. */
static void live_top_reoffer(struct live_top *h, const struct flow_key *key,
			     const struct flow_value *val)
{
	for (size_t i = 0; i < h->n; i++) {
		if (memcmp(&h->heap[i].key, key, sizeof(*key)) == 0) {
			h->heap[i].val = *val;
			live_top_sift_up(h, i);
			live_top_sift_down(h, i);
			return;
		}
	}
	live_top_offer(h, key, val);
}

int live_table_update(struct live_table *t, const struct flow_key *key,
		      const struct flow_value *val)
{
	struct live_conn *c;
	void *v;

	if (!t->top.heap) {
		t->top.heap = malloc(LIVE_SNAPSHOT_CONNS * sizeof(*t->top.heap));
		if (!t->top.heap)
			return -ENOMEM;
	}
	v = kvmap_put(t->map, key, NULL);
	if (!v)
		return -errno; /* ENOSPC (full) or ENOMEM (could not grow) */
	/* A new entry has its key written, the rest zeroed by kvmap_put. */
	c = live_conn_of(v);
	c->last_seen_s = (uint32_t)((val->last_seen_ns + LIVE_NS - 1) / LIVE_NS);
	c->closed = live_conn_closed(val);
	if (c->gen == t->gen) {
		live_top_reoffer(&t->top, key, val);
	} else {
		c->gen = t->gen;
		live_top_offer(&t->top, key, val);
	}
	return 0;
}

int live_table_remove(struct live_table *t, const struct flow_key *key)
{
	return kvmap_del(t->map, key);
}

struct live_conn *live_table_find(struct live_table *t, const struct flow_key *key)
{
	void *v = kvmap_get(t->map, key);

	return v ? live_conn_of(v) : NULL;
}

void live_flow_orient(const struct live_flow *f, struct live_orient *o)
{
	bool b_src = f->val.flags & FLOW_F_INITIATOR_BA;

	o->src_addr = b_src ? f->key.addr_b : f->key.addr_a;
	o->dst_addr = b_src ? f->key.addr_a : f->key.addr_b;
	o->src_port = b_src ? f->key.port_b : f->key.port_a;
	o->dst_port = b_src ? f->key.port_a : f->key.port_b;
	o->fwd = b_src ? FLOW_WAY_BA : FLOW_WAY_AB;
}

bool live_conn_closed(const struct flow_value *val)
{
	uint32_t ab = val->tcp_flags[FLOW_WAY_AB], ba = val->tcp_flags[FLOW_WAY_BA];

	return ((ab | ba) & FLOW_TCP_RST) || ((ab & FLOW_TCP_FIN) && (ba & FLOW_TCP_FIN));
}

struct live_expired {
	uint64_t now_ns, idle_ns, closed_ns;
	struct flow_key *out;
	size_t max, n;
};

static void live_expired_one(void *arg, const void *key, void *val)
{
	struct live_expired *e = arg;
	const struct live_conn *c = live_conn_of(val);
	uint64_t last_ns = (uint64_t)c->last_seen_s * LIVE_NS, quiet;

	(void)key;
	if (e->n >= e->max)
		return;
	quiet = e->now_ns > last_ns ? e->now_ns - last_ns : 0;
	if (quiet >= e->idle_ns || (quiet >= e->closed_ns && c->closed))
		e->out[e->n++] = c->key;
}

size_t live_table_expired(const struct live_table *t, uint64_t now_ns, uint64_t idle_ns,
			  uint64_t closed_ns, struct flow_key *out, size_t max)
{
	struct live_expired e = {now_ns, idle_ns, closed_ns, out, max, 0};

	kvmap_foreach(t->map, live_expired_one, &e);
	return e.n;
}

struct live_snapshot *live_table_snapshot(struct live_table *t)
{
	struct live_snapshot *s = calloc(1, sizeof(*s));
	struct live_top *h = &t->top;
	size_t n = 0;

	if (!s)
		return NULL;
	s->refs = 1;
	s->count = kvmap_count(t->map);
	/* Connections removed since they were read (ended) are not shown. */
	for (size_t i = 0; i < h->n; i++)
		if (kvmap_get(t->map, &h->heap[i].key))
			h->heap[n++] = h->heap[i];
	if (n) {
		qsort(h->heap, n, sizeof(*h->heap), live_cmp_packets_desc);
		s->conns = h->heap;
		s->nconns = n;
	} else {
		free(h->heap);
	}
	h->heap = NULL;
	h->n = 0;
	t->gen = t->gen == LIVE_GEN_MAX ? 1 : t->gen + 1;
	return s;
}

static void live_snapshot_free(struct live_snapshot *s)
{
	if (!s)
		return;
	free(s->conns);
	free(s->names);
	free(s->arena);
	free(s);
}

int live_publisher_init(struct live_publisher *p)
{
	p->current = NULL;
	p->export_enabled = false;
	memset(&p->export, 0, sizeof(p->export));
	p->inspect_enabled = false;
	memset(&p->inspect, 0, sizeof(p->inspect));
	return -pthread_mutex_init(&p->lock, NULL);
}

void live_publisher_fini(struct live_publisher *p)
{
	live_snapshot_free(p->current);
	p->current = NULL;
	pthread_mutex_destroy(&p->lock);
}

void live_publisher_set(struct live_publisher *p, struct live_snapshot *snap)
{
	struct live_snapshot *old;

	pthread_mutex_lock(&p->lock);
	old = p->current;
	p->current = snap;
	if (old && --old->refs > 0)
		old = NULL; /* a reader still holds it and frees it on put */
	pthread_mutex_unlock(&p->lock);
	live_snapshot_free(old);
}

struct live_snapshot *live_publisher_get(struct live_publisher *p)
{
	struct live_snapshot *s;

	pthread_mutex_lock(&p->lock);
	s = p->current;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&p->lock);
	return s;
}

void live_publisher_put(struct live_publisher *p, struct live_snapshot *snap)
{
	bool last;

	if (!snap)
		return;
	pthread_mutex_lock(&p->lock);
	last = --snap->refs == 0;
	pthread_mutex_unlock(&p->lock);
	if (last)
		live_snapshot_free(snap);
}

void live_publisher_set_export(struct live_publisher *p, const struct export_stats *x)
{
	pthread_mutex_lock(&p->lock);
	p->export = *x;
	p->export_enabled = true;
	pthread_mutex_unlock(&p->lock);
}

bool live_publisher_get_export(struct live_publisher *p, struct export_stats *out)
{
	bool enabled;

	pthread_mutex_lock(&p->lock);
	*out = p->export;
	enabled = p->export_enabled;
	pthread_mutex_unlock(&p->lock);
	return enabled;
}

void live_publisher_set_inspect(struct live_publisher *p, const struct inspect_stats *x)
{
	pthread_mutex_lock(&p->lock);
	p->inspect = *x;
	p->inspect_enabled = true;
	pthread_mutex_unlock(&p->lock);
}

bool live_publisher_get_inspect(struct live_publisher *p, struct inspect_stats *out)
{
	bool enabled;

	pthread_mutex_lock(&p->lock);
	*out = p->inspect;
	enabled = p->inspect_enabled;
	pthread_mutex_unlock(&p->lock);
	return enabled;
}
