/* kvmap.c - bounded open-addressing hash map (see kvmap.h). Slots: a used byte, the key,
 * the value, each aligned to 8; twice as many slots as entries keeps probes short. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmap.h"

struct kvmap {
	size_t key_size;
	size_t val_size;
	size_t val_off; /* within a slot */
	size_t slot_size;
	size_t max;
	size_t count;
	size_t mask; /* slots - 1, a power of two */
	uint8_t *slots;
};

static size_t kvmap_align(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static uint64_t kvmap_hash(const struct kvmap *m, const void *key)
{
	/* FNV-1a: keys are small and fixed-size. */
	const uint8_t *p = key;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < m->key_size; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static uint8_t *kvmap_slot(const struct kvmap *m, size_t i)
{
	return m->slots + i * m->slot_size;
}

struct kvmap *kvmap_new(size_t key_size, size_t val_size, size_t max)
{
	struct kvmap *m;
	size_t slots = 16;

	if (key_size == 0 || max == 0 || max > ((size_t)1 << 30)) {
		errno = EINVAL;
		return NULL;
	}
	while (slots < max * 2)
		slots <<= 1;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->key_size = key_size;
	m->val_size = val_size;
	m->val_off = kvmap_align(8 + key_size);
	m->slot_size = kvmap_align(m->val_off + val_size);
	m->max = max;
	m->mask = slots - 1;
	m->slots = calloc(slots, m->slot_size);
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

void kvmap_free(struct kvmap *m)
{
	if (!m)
		return;
	free(m->slots);
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

/* The slot holding key, or the empty slot where it would go (*found false). */
static size_t kvmap_find(const struct kvmap *m, const void *key, bool *found)
{
	size_t i = kvmap_hash(m, key) & m->mask;

	for (;;) {
		uint8_t *s = kvmap_slot(m, i);

		if (!s[0]) {
			*found = false;
			return i;
		}
		if (memcmp(s + 8, key, m->key_size) == 0) {
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

	return found ? kvmap_slot(m, i) + m->val_off : NULL;
}

void *kvmap_put(struct kvmap *m, const void *key, bool *created)
{
	bool found;
	size_t i = kvmap_find(m, key, &found);
	uint8_t *s = kvmap_slot(m, i);

	if (!found) {
		if (m->count >= m->max)
			return NULL;
		memset(s, 0, m->slot_size);
		s[0] = 1;
		memcpy(s + 8, key, m->key_size);
		m->count++;
	}
	if (created)
		*created = !found;
	return s + m->val_off;
}

int kvmap_del(struct kvmap *m, const void *key)
{
	bool found;
	size_t i = kvmap_find(m, key, &found);
	size_t j = i;

	if (!found)
		return -ENOENT;
	kvmap_slot(m, i)[0] = 0;
	m->count--;
	/* Backward shift: move later members of the probe run into the hole when their
	 * home slot is not cyclically within (i, j]. */
	for (;;) {
		uint8_t *sj;
		size_t home;

		j = (j + 1) & m->mask;
		sj = kvmap_slot(m, j);
		if (!sj[0])
			break;
		home = kvmap_hash(m, sj + 8) & m->mask;
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			memcpy(kvmap_slot(m, i), sj, m->slot_size);
			sj[0] = 0;
			i = j;
		}
	}
	return 0;
}

void kvmap_foreach(const struct kvmap *m, void (*fn)(void *arg, const void *key, void *val),
		   void *arg)
{
	for (size_t i = 0; i <= m->mask; i++) {
		uint8_t *s = kvmap_slot(m, i);

		if (s[0])
			fn(arg, s + 8, s + m->val_off);
	}
}
