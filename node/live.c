/* live.c - live connection table and snapshots (see live.h).
 * The table is an open-addressing hash (linear probing, backward-shift deletion) sized
 * to twice the capacity, so probes stay short and nothing is allocated after start. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "live.h"

struct live_slot {
	bool used;
	struct live_conn conn;
};

struct live_table {
	size_t max;
	size_t count;
	size_t mask; /* slots - 1, slots a power of two */
	struct live_slot *slots;
};

static uint64_t live_hash(const struct flow_key *k)
{
	/* FNV-1a over the key bytes: keys are small and fixed, this is cheap enough. */
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < sizeof(*k); i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

struct live_table *live_table_new(size_t max)
{
	struct live_table *t;
	size_t slots = 16;

	if (max == 0 || max > (SIZE_MAX / 4) / sizeof(struct live_slot)) {
		errno = EINVAL;
		return NULL;
	}
	while (slots < max * 2)
		slots <<= 1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->slots = calloc(slots, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->max = max;
	t->mask = slots - 1;
	return t;
}

void live_table_free(struct live_table *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t);
}

size_t live_table_count(const struct live_table *t)
{
	return t->count;
}

static size_t live_find(const struct live_table *t, const struct flow_key *key, bool *found)
{
	size_t i = live_hash(key) & t->mask;

	while (t->slots[i].used) {
		if (memcmp(&t->slots[i].conn.key, key, sizeof(*key)) == 0) {
			*found = true;
			return i;
		}
		i = (i + 1) & t->mask;
	}
	*found = false;
	return i;
}

int live_table_update(struct live_table *t, const struct flow_key *key,
		      const struct flow_value *val)
{
	bool found;
	size_t i = live_find(t, key, &found);

	if (!found) {
		if (t->count >= t->max)
			return -ENOSPC;
		t->slots[i].used = true;
		t->slots[i].conn.key = *key;
		memset(&t->slots[i].conn.exported, 0, sizeof(t->slots[i].conn.exported));
		t->count++;
	}
	t->slots[i].conn.val = *val;
	return 0;
}

int live_table_remove(struct live_table *t, const struct flow_key *key)
{
	bool found;
	size_t i = live_find(t, key, &found);
	size_t j;

	if (!found)
		return -ENOENT;
	t->slots[i].used = false;
	t->count--;
	/* Backward-shift: move later members of the probe run into the hole. */
	j = i;
	for (;;) {
		size_t home;

		j = (j + 1) & t->mask;
		if (!t->slots[j].used)
			break;
		home = live_hash(&t->slots[j].conn.key) & t->mask;
		/* Move j to i if its home is not cyclically within (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			t->slots[i] = t->slots[j];
			t->slots[j].used = false;
			i = j;
		}
	}
	return 0;
}

void live_table_foreach(struct live_table *t, void (*fn)(void *arg, struct live_conn *c), void *arg)
{
	for (size_t i = 0; i <= t->mask; i++) {
		if (t->slots[i].used)
			fn(arg, &t->slots[i].conn);
	}
}

struct live_conn *live_table_find(struct live_table *t, const struct flow_key *key)
{
	bool found;
	size_t i = live_find(t, key, &found);

	return found ? &t->slots[i].conn : NULL;
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

size_t live_table_expired(const struct live_table *t, uint64_t now_ns, uint64_t idle_ns,
			  uint64_t closed_ns, struct flow_key *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i <= t->mask && n < max; i++) {
		const struct live_conn *c = &t->slots[i].conn;
		uint64_t quiet;

		if (!t->slots[i].used)
			continue;
		quiet = now_ns > c->val.last_seen_ns ? now_ns - c->val.last_seen_ns : 0;
		if (quiet >= idle_ns || (quiet >= closed_ns && live_conn_closed(&c->val)))
			out[n++] = c->key;
	}
	return n;
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

struct live_snapshot *live_table_snapshot(const struct live_table *t)
{
	struct live_snapshot *s;
	size_t n = 0;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->refs = 1;
	if (t->count) {
		s->conns = malloc(t->count * sizeof(*s->conns));
		if (!s->conns) {
			free(s);
			return NULL;
		}
	}
	for (size_t i = 0; i <= t->mask; i++) {
		if (t->slots[i].used)
			s->conns[n++] = t->slots[i].conn;
	}
	s->count = n;
	if (n > 1)
		qsort(s->conns, n, sizeof(*s->conns), live_cmp_packets_desc);
	return s;
}

static void live_snapshot_free(struct live_snapshot *s)
{
	if (!s)
		return;
	free(s->conns);
	free(s);
}

int live_publisher_init(struct live_publisher *p)
{
	p->current = NULL;
	p->export_enabled = false;
	memset(&p->export, 0, sizeof(p->export));
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
