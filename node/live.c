/* live.c - live connection table and snapshots (see live.h).
 * The table is a kvmap sized at start: nothing is allocated while capturing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvmap.h"
#include "live.h"

/* The map's value is the whole live_conn (its key repeated) so that callers get one
 * pointer with both. */
struct live_table {
	struct kvmap *map;
};

struct live_table *live_table_new(size_t max)
{
	struct live_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->map = kvmap_new(sizeof(struct flow_key), sizeof(struct live_conn), max);
	if (!t->map) {
		free(t);
		return NULL;
	}
	return t;
}

void live_table_free(struct live_table *t)
{
	if (!t)
		return;
	kvmap_free(t->map);
	free(t);
}

size_t live_table_count(const struct live_table *t)
{
	return kvmap_count(t->map);
}

int live_table_update(struct live_table *t, const struct flow_key *key,
		      const struct flow_value *val)
{
	bool created;
	struct live_conn *c = kvmap_put(t->map, key, &created);

	if (!c)
		return -ENOSPC;
	if (created)
		c->key = *key;
	c->val = *val;
	return 0;
}

int live_table_remove(struct live_table *t, const struct flow_key *key)
{
	return kvmap_del(t->map, key);
}

struct live_foreach {
	void (*fn)(void *arg, struct live_conn *c);
	void *arg;
};

static void live_foreach_one(void *arg, const void *key, void *val)
{
	struct live_foreach *f = arg;

	(void)key;
	f->fn(f->arg, val);
}

void live_table_foreach(struct live_table *t, void (*fn)(void *arg, struct live_conn *c), void *arg)
{
	struct live_foreach f = {fn, arg};

	kvmap_foreach(t->map, live_foreach_one, &f);
}

struct live_conn *live_table_find(struct live_table *t, const struct flow_key *key)
{
	return kvmap_get(t->map, key);
}

void live_conn_orient(const struct live_conn *c, struct live_orient *o)
{
	bool b_src = c->val.flags & FLOW_F_INITIATOR_BA;

	o->src_addr = b_src ? c->key.addr_b : c->key.addr_a;
	o->dst_addr = b_src ? c->key.addr_a : c->key.addr_b;
	o->src_port = b_src ? c->key.port_b : c->key.port_a;
	o->dst_port = b_src ? c->key.port_a : c->key.port_b;
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
	const struct live_conn *c = val;
	uint64_t quiet;

	(void)key;
	if (e->n >= e->max)
		return;
	quiet = e->now_ns > c->val.last_seen_ns ? e->now_ns - c->val.last_seen_ns : 0;
	if (quiet >= e->idle_ns || (quiet >= e->closed_ns && live_conn_closed(&c->val)))
		e->out[e->n++] = c->key;
}

size_t live_table_expired(const struct live_table *t, uint64_t now_ns, uint64_t idle_ns,
			  uint64_t closed_ns, struct flow_key *out, size_t max)
{
	struct live_expired e = {now_ns, idle_ns, closed_ns, out, max, 0};

	kvmap_foreach(t->map, live_expired_one, &e);
	return e.n;
}

static uint64_t live_packets(const struct live_conn *c)
{
	return c->val.packets[FLOW_WAY_AB] + c->val.packets[FLOW_WAY_BA];
}

static int live_cmp_packets_desc(const void *a, const void *b)
{
	uint64_t pa = live_packets(a), pb = live_packets(b);

	if (pa != pb)
		return pa < pb ? 1 : -1;
	/* Stable order for equal counts: oldest first. */
	const struct live_conn *ca = a, *cb = b;

	if (ca->val.first_seen_ns != cb->val.first_seen_ns)
		return ca->val.first_seen_ns < cb->val.first_seen_ns ? -1 : 1;
	return memcmp(&ca->key, &cb->key, sizeof(ca->key));
}

struct live_copy {
	struct live_conn *out;
	size_t n;
};

static void live_copy_one(void *arg, const void *key, void *val)
{
	struct live_copy *c = arg;

	(void)key;
	c->out[c->n++] = *(const struct live_conn *)val;
}

struct live_snapshot *live_table_snapshot(const struct live_table *t)
{
	struct live_snapshot *s;
	struct live_copy copy = {NULL, 0};
	size_t count = kvmap_count(t->map);

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->refs = 1;
	if (count) {
		s->conns = malloc(count * sizeof(*s->conns));
		if (!s->conns) {
			free(s);
			return NULL;
		}
	}
	copy.out = s->conns;
	kvmap_foreach(t->map, live_copy_one, &copy);
	s->count = copy.n;
	if (copy.n > 1)
		qsort(s->conns, copy.n, sizeof(*s->conns), live_cmp_packets_desc);
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
