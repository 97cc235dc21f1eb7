/* resolve.h - reverse DNS (PTR) names for addresses (--resolve-dns), asynchronous: the
 * main thread asks (resolve_lookup) and reads answers from a cache; one worker thread
 * calls getnameinfo(), so a slow resolver never blocks capture or the API. Bounded in
 * cache size, queue length and lookups per second; what is over is counted. Answers are
 * cached for RESOLVE_POSITIVE_TTL_S, failures for RESOLVE_NEGATIVE_TTL_S. */
#ifndef AYAFLOW_NODE_RESOLVE_H
#define AYAFLOW_NODE_RESOLVE_H

#include <stdint.h>

#define RESOLVE_POSITIVE_TTL_S 300
#define RESOLVE_NEGATIVE_TTL_S 60
#define RESOLVE_QUEUE_MAX      256

struct resolve_stats {
	uint64_t lookups;  /* getnameinfo calls made */
	uint64_t resolved; /* names learned */
	uint64_t failed;   /* no name (cached negatively) */
	uint64_t dropped;  /* not asked: queue full or over the rate */
};

struct resolve;

/* max_names: cache entries; rate: lookups per second. NULL with errno set. */
struct resolve *resolve_new(size_t max_names, unsigned int rate);
/* Stops the worker (waits for a lookup in progress) and frees. Accepts NULL. */
void resolve_free(struct resolve *r);
/* An fd readable when answers are waiting (an eventfd). */
int resolve_fd(const struct resolve *r);
/* Moves finished lookups into the cache. Main thread. */
void resolve_collect(struct resolve *r, uint64_t now_ns);
/* The name of addr (16 bytes; IPv4 as ::ffff:a.b.c.d) if known; else NULL, and a lookup
 * is queued unless one is pending, recently failed, or over the limits. Main thread;
 * the result is valid until the next resolve_collect. */
const char *resolve_lookup(struct resolve *r, const uint8_t addr[16], uint8_t ip_version,
			   uint64_t now_ns);
void resolve_get_stats(const struct resolve *r, struct resolve_stats *out);

#endif
