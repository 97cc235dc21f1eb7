/* kvmap.c - bounded hash map whose memory follows its entries (see kvmap.h).
 *
 * entries: cap entries of entry_size bytes, the first count in use. They stay packed: a
 * removal moves the last entry into the hole, so iteration is a walk over count entries
 * and the untouched tail of the array costs no resident memory.
 * index: nslots 4-byte slots (a power of two, at least twice cap: probe runs stay short
 * and an empty slot always ends one), each the entry number + 1, or 0 when empty. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmap.h"

struct kvmap {
	size_t key_size;
	size_t val_off; /* within an entry */
	size_t entry_size;
	size_t max;
	size_t count;
	size_t cap;  /* entries allocated */
	size_t mask; /* nslots - 1 */
	uint8_t *entries;
	uint32_t *index;
};

static size_t kvmap_align(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static size_t kvmap_slots_for(size_t cap)
{
	size_t n = 16;

	while (n < cap * 2)
		n <<= 1;
	return n;
}

static size_t kvmap_home(const struct kvmap *m, const void *key)
{
	/* FNV-1a: keys are small and fixed-size. */
	const uint8_t *p = key;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < m->key_size; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return (h ^ (h >> 29)) & m->mask;
}

static uint8_t *kvmap_entry(const struct kvmap *m, size_t e)
{
	return m->entries + e * m->entry_size;
}

/* Rebuilds the index with nslots slots for the entries present. 0, or -ENOMEM with the
 * old index kept. */
static int kvmap_reindex(struct kvmap *m, size_t nslots)
{
	uint32_t *index = calloc(nslots, sizeof(*index));

	if (!index)
		return -ENOMEM;
	free(m->index);
	m->index = index;
	m->mask = nslots - 1;
	for (size_t e = 0; e < m->count; e++) {
		size_t i = kvmap_home(m, kvmap_entry(m, e));

		while (m->index[i])
			i = (i + 1) & m->mask;
		m->index[i] = (uint32_t)(e + 1);
	}
	return 0;
}

/* Room for cap entries (count <= cap <= max). 0, or -ENOMEM with the map as it was. */
static int kvmap_resize(struct kvmap *m, size_t cap)
{
	int err;

	if (cap > m->cap) {
		uint8_t *p = realloc(m->entries, cap * m->entry_size);

		if (!p)
			return -ENOMEM;
		/* A larger array than cap says is harmless if the index fails below. */
		m->entries = p;
		err = kvmap_reindex(m, kvmap_slots_for(cap));
		if (err)
			return err;
	} else {
		uint8_t *p;

		err = kvmap_reindex(m, kvmap_slots_for(cap));
		if (err)
			return err;
		/* Shrinking in place cannot fail in practice; if it does, the old block
		 * (larger) stays in use. */
		p = realloc(m->entries, cap * m->entry_size);
		if (p)
			m->entries = p;
	}
	m->cap = cap;
	return 0;
}

struct kvmap *kvmap_new(size_t key_size, size_t val_size, size_t max)
{
	struct kvmap *m;

	if (key_size == 0 || max == 0 || max > ((size_t)1 << 30)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->key_size = key_size;
	m->val_off = kvmap_align(key_size);
	m->entry_size = kvmap_align(m->val_off + val_size);
	m->max = max;
	m->cap = max < KVMAP_MIN_CAPACITY ? max : KVMAP_MIN_CAPACITY;
	m->entries = malloc(m->cap * m->entry_size);
	if (!m->entries || kvmap_reindex(m, kvmap_slots_for(m->cap)) < 0) {
		free(m->entries);
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

void kvmap_free(struct kvmap *m)
{
	if (!m)
		return;
	free(m->entries);
	free(m->index);
	free(m);
}

size_t kvmap_count(const struct kvmap *m)
{
	return m->count;
}

size_t kvmap_max(const struct kvmap *m)
{
	return m->max;
}

size_t kvmap_capacity(const struct kvmap *m)
{
	return m->cap;
}

/* The index slot of key (*found true), or the empty slot that ends its probe run. */
static size_t kvmap_find(const struct kvmap *m, const void *key, bool *found)
{
	size_t i = kvmap_home(m, key);

	for (;;) {
		uint32_t e = m->index[i];

		if (!e) {
			*found = false;
			return i;
		}
		if (memcmp(kvmap_entry(m, e - 1), key, m->key_size) == 0) {
			*found = true;
			return i;
		}
		i = (i + 1) & m->mask;
	}
}

void *kvmap_get(const struct kvmap *m, const void *key)
{
	bool found;
	size_t i = kvmap_find(m, key, &found);

	return found ? kvmap_entry(m, m->index[i] - 1) + m->val_off : NULL;
}

void *kvmap_put(struct kvmap *m, const void *key, bool *created)
{
	bool found;
	size_t i = kvmap_find(m, key, &found);
	uint8_t *s;

	if (!found) {
		if (m->count >= m->max) {
			errno = ENOSPC;
			return NULL;
		}
		if (m->count == m->cap) {
			size_t cap = m->cap * 2 < m->max ? m->cap * 2 : m->max;

			if (kvmap_resize(m, cap) < 0) {
				errno = ENOMEM;
				return NULL;
			}
			i = kvmap_find(m, key, &found); /* the index was rebuilt */
		}
		s = kvmap_entry(m, m->count);
		memset(s, 0, m->entry_size);
		memcpy(s, key, m->key_size);
		m->index[i] = (uint32_t)(++m->count);
	} else {
		s = kvmap_entry(m, m->index[i] - 1);
	}
	if (created)
		*created = !found;
	return s + m->val_off;
}

/* Empties index slot i. Backward shift: later members of the probe run move into the hole
 * unless their home slot lies cyclically within (hole, their slot]. */
static void kvmap_unlink(struct kvmap *m, size_t i)
{
	size_t j = i;

	m->index[i] = 0;
	for (;;) {
		uint32_t e;
		size_t home;

		j = (j + 1) & m->mask;
		e = m->index[j];
		if (!e)
			break;
		home = kvmap_home(m, kvmap_entry(m, e - 1));
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->index[i] = e;
			m->index[j] = 0;
			i = j;
		}
	}
}

/* Moves the last entry into the hole at entry number e, keeping the array packed. */
static void kvmap_fill_hole(struct kvmap *m, size_t e)
{
	size_t last = m->count; /* already decremented: the old last entry */
	size_t i;

	if (e == last)
		return;
	i = kvmap_home(m, kvmap_entry(m, last));
	while (m->index[i] != last + 1)
		i = (i + 1) & m->mask;
	m->index[i] = (uint32_t)(e + 1);
	memcpy(kvmap_entry(m, e), kvmap_entry(m, last), m->entry_size);
}

int kvmap_del(struct kvmap *m, const void *key)
{
	bool found;
	size_t i = kvmap_find(m, key, &found);
	size_t e;

	if (!found)
		return -ENOENT;
	e = m->index[i] - 1;
	kvmap_unlink(m, i);
	m->count--;
	kvmap_fill_hole(m, e);
	/* Halve at a quarter (not at a half) so that a count moving around one size does not
	 * resize at every put and del. A failure only leaves the map larger. */
	if (m->cap > KVMAP_MIN_CAPACITY && m->count <= m->cap / 4)
		(void)kvmap_resize(m, m->cap / 2 > KVMAP_MIN_CAPACITY ? m->cap / 2
								      : KVMAP_MIN_CAPACITY);
	return 0;
}

void kvmap_foreach(const struct kvmap *m, void (*fn)(void *arg, const void *key, void *val),
		   void *arg)
{
	for (size_t e = 0; e < m->count; e++) {
		uint8_t *s = kvmap_entry(m, e);

		fn(arg, s, s + m->val_off);
	}
}
