/* test_kvmap.c - the node's bounded hash map: growth by doubling up to max, the bound,
 * values and iteration after growth, removal (packing, backward shift) and shrinking,
 * checked against a plain array under a deterministic mix of puts and dels. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/kvmap.h"
#include "tests/unit/check.h"

struct sum {
	uint64_t keys;
	uint64_t vals;
	size_t n;
	bool consistent; /* every value is key * 7 */
};

static void sum_one(void *arg, const void *key, void *val)
{
	struct sum *s = arg;
	uint64_t k, v;

	memcpy(&k, key, sizeof(k));
	memcpy(&v, val, sizeof(v));
	s->keys += k;
	s->vals += v;
	s->n++;
	if (v != k * 7)
		s->consistent = false;
}

/* Puts key k with value k * 7; true when it was new. */
static bool put7(struct kvmap *m, uint64_t k)
{
	bool created = false;
	uint64_t *v = kvmap_put(m, &k, &created);

	if (!v)
		return false;
	*v = k * 7;
	return created;
}

static void test_grows_by_doubling_up_to_max(void)
{
	struct kvmap *m = kvmap_new(sizeof(uint64_t), sizeof(uint64_t), 1000);
	size_t caps[1000];
	bool ok = true;

	CHECK(m != NULL);
	CHECK_EQ_U64(kvmap_capacity(m), 64);
	CHECK_EQ_U64(kvmap_max(m), 1000);
	for (uint64_t k = 0; k < 1000; k++) {
		ok &= put7(m, k);
		caps[k] = kvmap_capacity(m);
	}
	CHECK(ok);
	CHECK_EQ_U64(kvmap_count(m), 1000);
	/* Capacity after the n-th put (n = index + 1). */
	CHECK_EQ_U64(caps[63], 64);
	CHECK_EQ_U64(caps[64], 128);
	CHECK_EQ_U64(caps[127], 128);
	CHECK_EQ_U64(caps[128], 256);
	CHECK_EQ_U64(caps[256], 512);
	CHECK_EQ_U64(caps[511], 512);
	CHECK_EQ_U64(caps[512], 1000); /* doubling stops at max */
	CHECK_EQ_U64(caps[999], 1000);

	/* Full: a new key is refused with ENOSPC, an existing one is still found. */
	{
		uint64_t k = 5000, old = 3;
		bool created = true;
		uint64_t *v;

		errno = 0;
		CHECK(kvmap_put(m, &k, NULL) == NULL);
		CHECK_EQ_INT(errno, ENOSPC);
		v = kvmap_put(m, &old, &created);
		CHECK(v != NULL && !created && *v == 21);
		CHECK_EQ_U64(kvmap_count(m), 1000);
		CHECK_EQ_U64(kvmap_capacity(m), 1000);
	}

	/* Every value survived the four reindexings; iteration sees each entry once. */
	{
		struct sum s = {0, 0, 0, true};
		bool found = true;

		for (uint64_t k = 0; k < 1000; k++) {
			const uint64_t *v = kvmap_get(m, &k);

			found &= v != NULL && *v == k * 7;
		}
		CHECK(found);
		kvmap_foreach(m, sum_one, &s);
		CHECK_EQ_U64(s.n, 1000);
		CHECK_EQ_U64(s.keys, 999 * 1000 / 2);
		CHECK_EQ_U64(s.vals, 7 * 999 * 1000 / 2);
		CHECK(s.consistent);
	}
	kvmap_free(m);
}

static void test_small_max_is_the_capacity(void)
{
	struct kvmap *m = kvmap_new(sizeof(uint64_t), sizeof(uint64_t), 10);
	bool ok = true;
	uint64_t k = 10;

	CHECK(m != NULL);
	CHECK_EQ_U64(kvmap_capacity(m), 10);
	for (uint64_t i = 0; i < 10; i++)
		ok &= put7(m, i);
	CHECK(ok);
	CHECK(kvmap_put(m, &k, NULL) == NULL);
	CHECK_EQ_U64(kvmap_count(m), 10);
	CHECK_EQ_U64(kvmap_capacity(m), 10);
	kvmap_free(m);
	errno = 0;
	CHECK(kvmap_new(sizeof(uint64_t), 8, 0) == NULL);
	CHECK_EQ_INT(errno, EINVAL);
}

static void test_removal_keeps_others_and_shrinks(void)
{
	struct kvmap *m = kvmap_new(sizeof(uint64_t), sizeof(uint64_t), 1000);
	size_t cap_at[1001];
	bool ok = true;

	for (uint64_t k = 0; k < 1000; k++)
		ok &= put7(m, k);
	CHECK(ok);
	/* Remove the even keys: the odd ones stay, with their values. */
	for (uint64_t k = 0; k < 1000; k += 2)
		ok &= kvmap_del(m, &k) == 0;
	CHECK(ok);
	CHECK_EQ_U64(kvmap_count(m), 500);
	CHECK_EQ_U64(kvmap_capacity(m), 1000);
	{
		uint64_t k = 0;
		struct sum s = {0, 0, 0, true};
		bool right = true;

		CHECK_EQ_INT(kvmap_del(m, &k), -ENOENT);
		for (k = 0; k < 1000; k++) {
			const uint64_t *v = kvmap_get(m, &k);

			right &= k % 2 ? v != NULL && *v == k * 7 : v == NULL;
		}
		CHECK(right);
		kvmap_foreach(m, sum_one, &s);
		CHECK_EQ_U64(s.n, 500);
		CHECK_EQ_U64(s.keys, 500 * 500); /* 1 + 3 + ... + 999 */
		CHECK(s.consistent);
	}
	/* Remove the rest: halves at a quarter of the capacity, never below 64. */
	for (uint64_t k = 1; k < 1000; k += 2) {
		ok &= kvmap_del(m, &k) == 0;
		cap_at[kvmap_count(m)] = kvmap_capacity(m);
	}
	CHECK(ok);
	CHECK_EQ_U64(kvmap_count(m), 0);
	CHECK_EQ_U64(cap_at[251], 1000);
	CHECK_EQ_U64(cap_at[250], 500);
	CHECK_EQ_U64(cap_at[126], 500);
	CHECK_EQ_U64(cap_at[125], 250);
	CHECK_EQ_U64(cap_at[63], 250);
	CHECK_EQ_U64(cap_at[62], 125);
	CHECK_EQ_U64(cap_at[32], 125);
	CHECK_EQ_U64(cap_at[31], 64);
	CHECK_EQ_U64(cap_at[0], 64);
	/* And grows again from there. */
	for (uint64_t k = 0; k < 65; k++)
		ok &= put7(m, k);
	CHECK(ok);
	CHECK_EQ_U64(kvmap_capacity(m), 128);
	kvmap_free(m);
}

/* A deterministic mix of puts and dels over a small key space (long probe runs, every
 * removal path) must agree with a plain presence array at every step. */
static void test_matches_reference_under_churn(void)
{
	enum { KEYS = 3000, STEPS = 200000, MAX = 2000 };
	struct kvmap *m = kvmap_new(sizeof(uint64_t), sizeof(uint64_t), MAX);
	bool *present = calloc(KEYS, sizeof(*present));
	uint64_t x = 88172645463325252ull;
	size_t count = 0, refused = 0;
	bool ok = true;

	for (int i = 0; i < STEPS; i++) {
		uint64_t k;

		x ^= x << 13; /* xorshift64 */
		x ^= x >> 7;
		x ^= x << 17;
		k = x % KEYS;
		if ((x >> 62) == 0) { /* a quarter dels: the map reaches MAX */
			int rc = kvmap_del(m, &k);

			ok &= rc == (present[k] ? 0 : -ENOENT);
			count -= present[k];
			present[k] = false;
		} else if (!present[k] && count == MAX) {
			ok &= kvmap_put(m, &k, NULL) == NULL;
			refused++;
		} else {
			count += !present[k];
			ok &= put7(m, k) == !present[k];
			present[k] = true;
		}
		ok &= kvmap_count(m) == count;
	}
	CHECK(ok);
	{
		struct sum s = {0, 0, 0, true};
		uint64_t want = 0;
		bool right = true;

		for (uint64_t k = 0; k < KEYS; k++) {
			const uint64_t *v = kvmap_get(m, &k);

			right &= present[k] ? v != NULL && *v == k * 7 : v == NULL;
			want += present[k] ? k : 0;
		}
		CHECK(right);
		kvmap_foreach(m, sum_one, &s);
		CHECK_EQ_U64(s.n, count);
		CHECK_EQ_U64(s.keys, want);
		CHECK(s.consistent);
		CHECK(kvmap_capacity(m) >= count && kvmap_capacity(m) <= MAX);
	}
	/* The sequence is fixed: these are its exact outcomes (the bound was hit). */
	CHECK_EQ_U64(count, 2000);
	CHECK_EQ_U64(refused, 16320);
	free(present);
	kvmap_free(m);
}

int main(void)
{
	test_grows_by_doubling_up_to_max();
	test_small_max_is_the_capacity();
	test_removal_keeps_others_and_shrinks();
	test_matches_reference_under_churn();
	return check_exit();
}
