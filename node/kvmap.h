/* kvmap.h - a bounded hash map of fixed-size keys and values: the node's live table and its
 * deep-inspection and reverse-DNS caches.
 *
 * Memory follows the entries present, not the bound: entries are packed in one array
 * (key, then value) and found through an index of 4-byte entry numbers (open addressing,
 * linear probing, backward-shift deletion). Both start small, double when the entries
 * fill them (never beyond max) and halve when a quarter is used, so a node configured for
 * 262 144 flows that sees 10 000 holds about 10 000. A map at max refuses new keys (and so
 * does one whose growth finds no memory): callers count what they could not track.
 * Not thread-safe: one owner thread. */
#ifndef AYAFLOW_NODE_KVMAP_H
#define AYAFLOW_NODE_KVMAP_H

#include <stdbool.h>
#include <stddef.h>

/* An entry is its key followed by its value, which starts at the key size rounded up to
 * 8 (the live table relies on it: a struct live_conn, key first, is one entry, the key
 * not stored twice). */

/* Entries allocated at creation (fewer when max is smaller), and the least kept. */
#define KVMAP_MIN_CAPACITY 64

struct kvmap;

/* At most max entries. NULL with errno set on failure. */
struct kvmap *kvmap_new(size_t key_size, size_t val_size, size_t max);
void kvmap_free(struct kvmap *m);
size_t kvmap_count(const struct kvmap *m);
size_t kvmap_max(const struct kvmap *m);
/* Entries allocated now: count <= capacity <= max. */
size_t kvmap_capacity(const struct kvmap *m);
/* The value of key, or NULL. Valid until the next put or del. */
void *kvmap_get(const struct kvmap *m, const void *key);
/* The value slot of key, inserted zeroed (*created = true) when absent. NULL with errno
 * ENOSPC when the map holds max entries, ENOMEM when it could not grow. Valid until the
 * next put or del. */
void *kvmap_put(struct kvmap *m, const void *key, bool *created);
/* 0, or -ENOENT. May move other entries (and shrink the map). */
int kvmap_del(struct kvmap *m, const void *key);
/* Calls fn on every entry; fn must not put or del. */
void kvmap_foreach(const struct kvmap *m, void (*fn)(void *arg, const void *key, void *val),
		   void *arg);

#endif
