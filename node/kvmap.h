/* kvmap.h - a bounded hash map of fixed-size keys and values (open addressing, linear
 * probing, backward-shift deletion): the node's live table and its deep-inspection
 * caches. All memory is allocated at creation; a full map refuses new keys. Not
 * thread-safe: one owner thread. */
#ifndef AYAFLOW_NODE_KVMAP_H
#define AYAFLOW_NODE_KVMAP_H

#include <stdbool.h>
#include <stddef.h>

struct kvmap;

/* At most max entries. NULL with errno set on failure. */
struct kvmap *kvmap_new(size_t key_size, size_t val_size, size_t max);
void kvmap_free(struct kvmap *m);
size_t kvmap_count(const struct kvmap *m);
size_t kvmap_max(const struct kvmap *m);
/* The value of key, or NULL. Valid until the next put or del. */
void *kvmap_get(const struct kvmap *m, const void *key);
/* The value slot of key, inserted zeroed (*created = true) when absent; NULL when the map
 * is full. Valid until the next put or del. */
void *kvmap_put(struct kvmap *m, const void *key, bool *created);
/* 0, or -ENOENT. */
int kvmap_del(struct kvmap *m, const void *key);
/* Calls fn on every entry; fn must not put or del. */
void kvmap_foreach(const struct kvmap *m, void (*fn)(void *arg, const void *key, void *val),
		   void *arg);

#endif
