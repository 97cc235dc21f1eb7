/* live.c - the cluster-wide live view (see live.h): a fixed array of nodes and a
 * chained hash table of connections keyed by (node, protocol, addresses, ports), both
 * bounded, under one mutex. Expiry runs on the writer thread at most once a second;
 * readers also skip connections older than the timeout, so what they see never lags. */
#include "live.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_EXPIRE_EVERY_MS 1000

struct live_conn {
	struct live_conn *next; /* hash chain */
	uint32_t node;		/* index into v->nodes */
	uint8_t src_addr[16];
	uint8_t dst_addr[16];
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto;
	uint8_t ip_version;
	uint32_t tcp_flags;
	uint64_t packets_sent;
	uint64_t packets_received;
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t first_seen_ms;
	uint64_t last_seen_ms;
	char interface[WIRE_IFNAME_MAX];
	char *domain;	    /* NULL when unknown; owned */
	char *src_hostname; /* reverse DNS; NULL when unknown; owned */
	char *dst_hostname;
};

struct live_node {
	struct live_node_info info; /* connected, rates: computed when read */
	uint64_t window_ms;	    /* length of its latest window */
	/* The previous batch, for rates. */
	bool has_prev;
	uint64_t prev_packets;
	uint64_t prev_bytes;
	uint64_t prev_end_ms;
};

/* Everything below is written by the writer thread under lock; readers take lock. */
struct live_view {
	pthread_mutex_t lock;
	uint64_t timeout_ms;
	size_t max_conns;
	size_t max_nodes;
	struct live_conn **buckets;
	size_t nbuckets; /* power of two */
	size_t nconns;
	struct live_node *nodes; /* max_nodes slots, nnodes used; never removed */
	size_t nnodes;
	uint64_t conns_over;
	uint64_t nodes_over;
	uint64_t last_expire_ms;
};

struct live_view *live_view_new(size_t max_conns, size_t max_nodes, uint64_t timeout_ms)
{
	struct live_view *v;
	int err = ENOMEM;

	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->timeout_ms = timeout_ms;
	v->max_conns = max_conns;
	v->max_nodes = max_nodes;
	v->nbuckets = 16;
	while (v->nbuckets < max_conns && v->nbuckets < ((size_t)1 << 24))
		v->nbuckets <<= 1;
	v->buckets = calloc(v->nbuckets, sizeof(*v->buckets));
	v->nodes = calloc(max_nodes ? max_nodes : 1, sizeof(*v->nodes));
	if (!v->buckets || !v->nodes)
		goto fail;
	err = pthread_mutex_init(&v->lock, NULL);
	if (err)
		goto fail;
	return v;
fail:
	free(v->buckets);
	free(v->nodes);
	free(v);
	errno = err;
	return NULL;
}

static void live_conn_free(struct live_conn *c)
{
	free(c->domain);
	free(c->src_hostname);
	free(c->dst_hostname);
	free(c);
}

void live_view_free(struct live_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nbuckets; i++) {
		struct live_conn *c = v->buckets[i], *next;

		for (; c; c = next) {
			next = c->next;
			live_conn_free(c);
		}
	}
	pthread_mutex_destroy(&v->lock);
	free(v->buckets);
	free(v->nodes);
	free(v);
}

/* FNV-1a over the key fields. */
static size_t live_hash(uint32_t node, const struct wire_record *r)
{
	uint64_t h = 1469598103934665603ull;
	uint8_t buf[4 + 16 + 16 + 2 + 2 + 1];
	size_t i;

	memcpy(buf, &node, 4);
	memcpy(buf + 4, r->src_addr, 16);
	memcpy(buf + 20, r->dst_addr, 16);
	memcpy(buf + 36, &r->src_port, 2);
	memcpy(buf + 38, &r->dst_port, 2);
	buf[40] = r->proto;
	for (i = 0; i < sizeof(buf); i++) {
		h ^= buf[i];
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static bool live_key_eq(const struct live_conn *c, uint32_t node, const struct wire_record *r)
{
	return c->node == node && c->proto == r->proto && c->src_port == r->src_port &&
	       c->dst_port == r->dst_port && memcmp(c->src_addr, r->src_addr, 16) == 0 &&
	       memcmp(c->dst_addr, r->dst_addr, 16) == 0;
}

static bool live_conn_expired(const struct live_view *v, const struct live_conn *c, uint64_t now_ms)
{
	return c->last_seen_ms + v->timeout_ms < now_ms;
}

static void live_expire(struct live_view *v, uint64_t now_ms)
{
	for (size_t i = 0; i < v->nbuckets; i++) {
		struct live_conn **pp = &v->buckets[i];

		while (*pp) {
			struct live_conn *c = *pp;

			if (live_conn_expired(v, c, now_ms)) {
				*pp = c->next;
				live_conn_free(c);
				v->nconns--;
			} else {
				pp = &c->next;
			}
		}
	}
	v->last_expire_ms = now_ms;
}

static struct live_node *live_node_get(struct live_view *v, const char *name)
{
	struct live_node *n;

	for (size_t i = 0; i < v->nnodes; i++) {
		if (strcmp(v->nodes[i].info.name, name) == 0)
			return &v->nodes[i];
	}
	if (v->nnodes >= v->max_nodes)
		return NULL;
	n = &v->nodes[v->nnodes++];
	memset(n, 0, sizeof(*n));
	snprintf(n->info.name, sizeof(n->info.name), "%s", name);
	return n;
}

/* A name the latest record knows replaces the one kept; "" keeps it. */
static void live_set_label(char **kept, const char *name)
{
	if (name[0] && (!*kept || strcmp(*kept, name) != 0)) {
		char *d = strdup(name);

		if (d) { /* else keep the old name: only a label is lost */
			free(*kept);
			*kept = d;
		}
	}
}

static void live_add_record(struct live_view *v, uint32_t node, const struct wire_record *r)
{
	size_t h = live_hash(node, r) & (v->nbuckets - 1);
	struct live_conn *c;

	for (c = v->buckets[h]; c; c = c->next) {
		if (live_key_eq(c, node, r))
			break;
	}
	if (!c) {
		if (v->nconns >= v->max_conns) {
			v->conns_over++;
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			v->conns_over++;
			return;
		}
		c->node = node;
		memcpy(c->src_addr, r->src_addr, 16);
		memcpy(c->dst_addr, r->dst_addr, 16);
		c->src_port = r->src_port;
		c->dst_port = r->dst_port;
		c->proto = r->proto;
		c->ip_version = r->ip_version;
		c->first_seen_ms = r->first_seen_ms;
		c->next = v->buckets[h];
		v->buckets[h] = c;
		v->nconns++;
	}
	c->tcp_flags |= r->tcp_flags;
	c->packets_sent += r->packets_sent;
	c->packets_received += r->packets_received;
	c->bytes_sent += r->bytes_sent;
	c->bytes_received += r->bytes_received;
	if (r->first_seen_ms < c->first_seen_ms)
		c->first_seen_ms = r->first_seen_ms;
	if (r->last_seen_ms > c->last_seen_ms)
		c->last_seen_ms = r->last_seen_ms;
	memcpy(c->interface, r->interface, sizeof(c->interface));
	c->interface[sizeof(c->interface) - 1] = '\0';
	live_set_label(&c->domain, r->domain);
	live_set_label(&c->src_hostname, r->src_hostname);
	live_set_label(&c->dst_hostname, r->dst_hostname);
}

void live_view_add(struct live_view *v, const struct wire_batch *b, uint64_t now_ms)
{
	struct live_node *n;
	uint32_t idx;

	pthread_mutex_lock(&v->lock);
	if (now_ms >= v->last_expire_ms + LIVE_EXPIRE_EVERY_MS)
		live_expire(v, now_ms);
	n = live_node_get(v, b->node);
	if (!n) {
		v->nodes_over++;
		goto out;
	}
	idx = (uint32_t)(n - v->nodes);
	/* An older batch arriving late (a retry) adds its records but not its totals. */
	if (n->info.batches == 0 || strcmp(n->info.boot_id, b->boot_id) != 0 ||
	    b->window_end_ms >= n->info.last_seen_ms) {
		bool same_boot = n->info.batches > 0 && strcmp(n->info.boot_id, b->boot_id) == 0;

		n->has_prev = same_boot;
		n->prev_packets = n->info.total_packets;
		n->prev_bytes = n->info.total_bytes;
		n->prev_end_ms = n->info.last_seen_ms;
		snprintf(n->info.boot_id, sizeof(n->info.boot_id), "%s", b->boot_id);
		snprintf(n->info.agent_version, sizeof(n->info.agent_version), "%s",
			 b->agent_version);
		n->info.total_packets = b->total_packets;
		n->info.total_bytes = b->total_bytes;
		n->info.active_connections = b->active_connections;
		memcpy(n->info.lost, b->lost, sizeof(n->info.lost));
		n->info.last_seen_ms = b->window_end_ms;
		n->window_ms = b->window_end_ms - b->window_start_ms;
	}
	n->info.last_received_ms = now_ms;
	n->info.batches++;
	for (size_t i = 0; i < b->nrecords; i++)
		live_add_record(v, idx, &b->records[i]);
out:
	pthread_mutex_unlock(&v->lock);
}

void live_view_restore_node(struct live_view *v, const struct live_node_info *info)
{
	struct live_node *n;

	pthread_mutex_lock(&v->lock);
	n = live_node_get(v, info->name);
	if (!n) {
		v->nodes_over++;
	} else {
		n->info = *info;
		n->info.batches = 0; /* the next batch replaces all of it */
		n->info.last_received_ms = 0;
	}
	pthread_mutex_unlock(&v->lock);
}

static void live_node_finish(const struct live_node *n, uint64_t now_ms, struct live_node_info *out)
{
	uint64_t window3 = 3 * n->window_ms;
	uint64_t limit = window3 > LIVE_CONNECTED_MIN_MS ? window3 : LIVE_CONNECTED_MIN_MS;

	*out = n->info;
	out->connected = now_ms <= n->info.last_received_ms + limit;
	out->packets_per_second = 0;
	out->bytes_per_second = 0;
	if (n->has_prev && n->info.last_seen_ms > n->prev_end_ms &&
	    n->info.total_packets >= n->prev_packets && n->info.total_bytes >= n->prev_bytes) {
		double secs = (double)(n->info.last_seen_ms - n->prev_end_ms) / 1000.0;

		out->packets_per_second = (double)(n->info.total_packets - n->prev_packets) / secs;
		out->bytes_per_second = (double)(n->info.total_bytes - n->prev_bytes) / secs;
	}
}

static int live_node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct live_node_info *)a)->name,
		      ((const struct live_node_info *)b)->name);
}

int live_view_nodes(struct live_view *v, uint64_t now_ms, struct live_node_info **out, size_t *n)
{
	struct live_node_info *arr = NULL;
	size_t count;

	pthread_mutex_lock(&v->lock);
	count = v->nnodes;
	if (count) {
		arr = malloc(count * sizeof(*arr));
		if (!arr) {
			pthread_mutex_unlock(&v->lock);
			return -ENOMEM;
		}
		for (size_t i = 0; i < count; i++)
			live_node_finish(&v->nodes[i], now_ms, &arr[i]);
	}
	pthread_mutex_unlock(&v->lock);
	if (count)
		qsort(arr, count, sizeof(*arr), live_node_cmp);
	*out = arr;
	*n = count;
	return 0;
}

static uint64_t live_conn_packets(const struct live_conn *c)
{
	return c->packets_sent + c->packets_received;
}

/* Min-heap on packets of the `limit` biggest connections seen so far. */
static void live_heap_down(const struct live_conn **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct live_conn *t;

		if (l < n && live_conn_packets(h[l]) < live_conn_packets(h[m]))
			m = l;
		if (r < n && live_conn_packets(h[r]) < live_conn_packets(h[m]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void live_heap_up(const struct live_conn **h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		const struct live_conn *t;

		if (live_conn_packets(h[p]) <= live_conn_packets(h[i]))
			return;
		t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static int live_conn_info_cmp(const void *a, const void *b)
{
	const struct live_conn_info *x = a, *y = b;
	uint64_t px = x->packets_sent + x->packets_received;
	uint64_t py = y->packets_sent + y->packets_received;
	int c;

	if (px != py)
		return px > py ? -1 : 1;
	c = strcmp(x->node, y->node);
	if (c)
		return c;
	c = memcmp(x->src_addr, y->src_addr, 16);
	if (c)
		return c;
	c = memcmp(x->dst_addr, y->dst_addr, 16);
	if (c)
		return c;
	if (x->src_port != y->src_port)
		return x->src_port < y->src_port ? -1 : 1;
	if (x->dst_port != y->dst_port)
		return x->dst_port < y->dst_port ? -1 : 1;
	return (int)x->proto - (int)y->proto;
}

int live_view_top(struct live_view *v, const char *node, size_t limit, uint64_t now_ms,
		  struct live_conn_info **out, size_t *n)
{
	const struct live_conn **heap = NULL;
	struct live_conn_info *arr = NULL;
	size_t used = 0;
	int64_t want = -1; /* node index wanted, -1 all */

	if (limit) {
		heap = malloc(limit * sizeof(*heap));
		arr = calloc(limit, sizeof(*arr));
		if (!heap || !arr) {
			free(heap);
			free(arr);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&v->lock);
	if (node) {
		want = -2; /* unknown node: nothing matches */
		for (size_t i = 0; i < v->nnodes; i++) {
			if (strcmp(v->nodes[i].info.name, node) == 0)
				want = (int64_t)i;
		}
	}
	for (size_t b = 0; limit && want != -2 && b < v->nbuckets; b++) {
		for (const struct live_conn *c = v->buckets[b]; c; c = c->next) {
			if (want >= 0 && c->node != (uint32_t)want)
				continue;
			if (live_conn_expired(v, c, now_ms))
				continue;
			if (used < limit) {
				heap[used++] = c;
				live_heap_up(heap, used - 1);
			} else if (live_conn_packets(c) > live_conn_packets(heap[0])) {
				heap[0] = c;
				live_heap_down(heap, used, 0);
			}
		}
	}
	for (size_t i = 0; i < used; i++) {
		const struct live_conn *c = heap[i];
		struct live_conn_info *o = &arr[i];

		snprintf(o->node, sizeof(o->node), "%s", v->nodes[c->node].info.name);
		memcpy(o->interface, c->interface, sizeof(o->interface));
		snprintf(o->domain, sizeof(o->domain), "%s", c->domain ? c->domain : "");
		snprintf(o->src_hostname, sizeof(o->src_hostname), "%s",
			 c->src_hostname ? c->src_hostname : "");
		snprintf(o->dst_hostname, sizeof(o->dst_hostname), "%s",
			 c->dst_hostname ? c->dst_hostname : "");
		memcpy(o->src_addr, c->src_addr, 16);
		memcpy(o->dst_addr, c->dst_addr, 16);
		o->src_port = c->src_port;
		o->dst_port = c->dst_port;
		o->proto = c->proto;
		o->ip_version = c->ip_version;
		o->tcp_flags = c->tcp_flags;
		o->packets_sent = c->packets_sent;
		o->packets_received = c->packets_received;
		o->bytes_sent = c->bytes_sent;
		o->bytes_received = c->bytes_received;
		o->first_seen_ms = c->first_seen_ms;
		o->last_seen_ms = c->last_seen_ms;
	}
	pthread_mutex_unlock(&v->lock);
	free(heap);
	if (used)
		qsort(arr, used, sizeof(*arr), live_conn_info_cmp);
	if (!used) {
		free(arr);
		arr = NULL;
	}
	*out = arr;
	*n = used;
	return 0;
}

void live_view_counts(struct live_view *v, struct live_view_counts *out)
{
	pthread_mutex_lock(&v->lock);
	out->connections = v->nconns;
	out->nodes = v->nnodes;
	out->conns_over = v->conns_over;
	out->nodes_over = v->nodes_over;
	pthread_mutex_unlock(&v->lock);
}
