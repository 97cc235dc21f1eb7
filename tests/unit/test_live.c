/* test_live.c - the node's live table: hash insert/update/remove (backward shift),
 * capacity, ended-connection selection, snapshot order and publisher references. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node/live.h"
#include "tests/unit/check.h"

static struct flow_key key_n(uint32_t n)
{
	struct flow_key k;

	memset(&k, 0, sizeof(k));
	k.addr_a[10] = k.addr_a[11] = 0xff;
	k.addr_b[10] = k.addr_b[11] = 0xff;
	k.addr_a[12] = 10;
	k.addr_b[12] = 10;
	memcpy(&k.addr_b[13], &n, 3);
	k.port_a = (uint16_t)(n & 0xffff);
	k.port_b = 443;
	k.proto = 6;
	k.ip_version = 4;
	k.ifindex = 2;
	return k;
}

static struct flow_value val_p(uint64_t pab, uint64_t pba, uint64_t last_ns)
{
	struct flow_value v;

	memset(&v, 0, sizeof(v));
	v.packets[FLOW_WAY_AB] = pab;
	v.packets[FLOW_WAY_BA] = pba;
	v.first_seen_ns = 1;
	v.last_seen_ns = last_ns;
	return v;
}

static void test_insert_update_remove(void)
{
	enum { N = 5000 };
	struct live_table *t = live_table_new(N);
	struct live_snapshot *s;
	bool ok = true;

	CHECK(t != NULL);
	for (uint32_t i = 0; i < N; i++) {
		struct flow_key k = key_n(i);
		struct flow_value v = val_p(i, 0, 10);

		ok &= live_table_update(t, &k, &v) == 0;
	}
	CHECK(ok);
	CHECK_EQ_U64(live_table_count(t), N);
	/* Table full: a new key is refused, an existing one still updates. */
	{
		struct flow_key k = key_n(N + 1), k0 = key_n(0);
		struct flow_value v = val_p(1, 1, 10);

		CHECK_EQ_INT(live_table_update(t, &k, &v), -ENOSPC);
		CHECK_EQ_INT(live_table_update(t, &k0, &v), 0);
		CHECK_EQ_U64(live_table_count(t), N);
	}
	/* Remove every third key; all others must still be found exactly once. */
	for (uint32_t i = 0; i < N; i += 3) {
		struct flow_key k = key_n(i);

		ok &= live_table_remove(t, &k) == 0;
	}
	CHECK(ok);
	{
		struct flow_key k = key_n(0);

		CHECK_EQ_INT(live_table_remove(t, &k), -ENOENT);
	}
	CHECK_EQ_U64(live_table_count(t), N - (N + 2) / 3);
	s = live_table_snapshot(t);
	CHECK(s != NULL);
	CHECK_EQ_U64(s->count, N - (N + 2) / 3);
	{
		/* Sorted by packets, descending: the values are the key numbers. */
		bool sorted = true, present = true;
		char *seen = calloc(N, 1);

		for (size_t i = 0; i < s->count; i++) {
			uint64_t p = s->conns[i].val.packets[FLOW_WAY_AB];

			if (i && s->conns[i - 1].val.packets[FLOW_WAY_AB] < p)
				sorted = false;
			if (p >= N || p % 3 == 0 || seen[p])
				present = false;
			else
				seen[p] = 1;
		}
		CHECK(sorted);
		CHECK(present);
		CHECK_EQ_U64(s->conns[0].val.packets[FLOW_WAY_AB], N - 1);
		free(seen);
	}
	free(s->conns);
	free(s);
	live_table_free(t);
}

static void test_closed(void)
{
	struct flow_value v = val_p(1, 1, 0);

	CHECK(!live_conn_closed(&v));
	v.tcp_flags[FLOW_WAY_AB] = FLOW_TCP_FIN | FLOW_TCP_ACK;
	CHECK(!live_conn_closed(&v));
	v.tcp_flags[FLOW_WAY_BA] = FLOW_TCP_FIN;
	CHECK(live_conn_closed(&v));
	v = val_p(1, 1, 0);
	v.tcp_flags[FLOW_WAY_BA] = FLOW_TCP_RST;
	CHECK(live_conn_closed(&v));
}

static void test_expired(void)
{
	const uint64_t s = 1000000000ull;
	struct live_table *t = live_table_new(16);
	struct flow_key k0 = key_n(0), k1 = key_n(1), k2 = key_n(2), out[16];
	struct flow_value idle = val_p(1, 0, 100 * s); /* quiet 60 s at now=160 s */
	struct flow_value busy = val_p(1, 0, 159 * s);
	struct flow_value closed = val_p(1, 1, 154 * s); /* quiet 6 s, closed */
	size_t n;

	closed.tcp_flags[FLOW_WAY_AB] = FLOW_TCP_RST;
	CHECK_EQ_INT(live_table_update(t, &k0, &idle), 0);
	CHECK_EQ_INT(live_table_update(t, &k1, &busy), 0);
	CHECK_EQ_INT(live_table_update(t, &k2, &closed), 0);

	n = live_table_expired(t, 160 * s, 60 * s, 5 * s, out, 16);
	CHECK_EQ_U64(n, 2);
	CHECK((memcmp(&out[0], &k0, sizeof(k0)) == 0 && memcmp(&out[1], &k2, sizeof(k2)) == 0) ||
	      (memcmp(&out[0], &k2, sizeof(k2)) == 0 && memcmp(&out[1], &k0, sizeof(k0)) == 0));
	/* Closed but not yet quiet for the closed timeout: stays. */
	n = live_table_expired(t, 160 * s, 60 * s, 7 * s, out, 16);
	CHECK_EQ_U64(n, 1);
	CHECK(memcmp(&out[0], &k0, sizeof(k0)) == 0);
	/* At most max keys are written. */
	n = live_table_expired(t, 1000 * s, 60 * s, 5 * s, out, 2);
	CHECK_EQ_U64(n, 2);
	live_table_free(t);
}

static void test_publisher(void)
{
	struct live_publisher p;
	struct live_table *t = live_table_new(4);
	struct live_snapshot *a, *b, *got;

	CHECK_EQ_INT(live_publisher_init(&p), 0);
	CHECK(live_publisher_get(&p) == NULL);
	a = live_table_snapshot(t);
	b = live_table_snapshot(t);
	live_publisher_set(&p, a);
	got = live_publisher_get(&p);
	CHECK(got == a);
	CHECK_EQ_INT(a->refs, 2);
	/* Replacing while a reader holds a: a survives until put (ASan checks the free). */
	live_publisher_set(&p, b);
	CHECK_EQ_INT(got->refs, 1);
	CHECK_EQ_U64(got->count, 0);
	live_publisher_put(&p, got);
	got = live_publisher_get(&p);
	CHECK(got == b);
	live_publisher_put(&p, got);
	live_publisher_fini(&p);
	live_table_free(t);
}

int main(void)
{
	test_insert_update_remove();
	test_closed();
	test_expired();
	test_publisher();
	return check_exit();
}
