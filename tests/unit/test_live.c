/* test_live.c - the node's live table: insert/update/remove, the bound, ended-connection
 * selection (in passes of a bounded buffer), the snapshot's busiest connections, their
 * order and what a snapshot covers (the values read since the last), publisher references. */
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
	/* The busiest were chosen as they were read (4000..4999): those removed since leave
	 * their places empty, 333 multiples of 3. */
	s = live_table_snapshot(t);
	CHECK(s != NULL);
	CHECK_EQ_U64(s->count, N - (N + 2) / 3);
	CHECK_EQ_U64(s->nconns, LIVE_SNAPSHOT_CONNS - 333);
	free(s->conns);
	free(s);
	/* The next read of the remaining connections fills the snapshot again. */
	for (uint32_t i = 0; i < N; i++) {
		struct flow_key k = key_n(i);
		struct flow_value v = val_p(i, 0, 10);

		if (i % 3)
			ok &= live_table_update(t, &k, &v) == 0;
	}
	CHECK(ok);
	CHECK_EQ_U64(live_table_count(t), N - (N + 2) / 3);
	s = live_table_snapshot(t);
	CHECK(s != NULL);
	CHECK_EQ_U64(s->count, N - (N + 2) / 3);
	CHECK_EQ_U64(s->nconns, LIVE_SNAPSHOT_CONNS);
	{
		/* The busiest LIVE_SNAPSHOT_CONNS, most packets first: the values are the key
		 * numbers, so they are N - 1, N - 2, ... without the multiples of 3. */
		uint64_t want = N - 1;
		bool exact = true;

		for (size_t i = 0; i < s->nconns; i++, want--) {
			struct flow_key k;

			if (want % 3 == 0)
				want--;
			k = key_n((uint32_t)want);
			exact &= s->conns[i].val.packets[FLOW_WAY_AB] == want &&
				 memcmp(&s->conns[i].key, &k, sizeof(k)) == 0;
		}
		CHECK(exact);
		CHECK_EQ_U64(s->conns[0].val.packets[FLOW_WAY_AB], N - 1);
	}
	free(s->conns);
	free(s);
	live_table_free(t);
}

/* Equal packet counts sort oldest first; fewer connections than LIVE_SNAPSHOT_CONNS are
 * all in the snapshot. */
static void test_snapshot_small_and_ties(void)
{
	struct live_table *t = live_table_new(262144);
	struct live_snapshot *s;

	for (uint32_t i = 0; i < 10; i++) {
		struct flow_key k = key_n(i);
		struct flow_value v = val_p(5, 0, 10);

		v.first_seen_ns = 100 - i; /* key 9 is the oldest */
		CHECK_EQ_INT(live_table_update(t, &k, &v), 0);
	}
	s = live_table_snapshot(t);
	CHECK(s != NULL);
	CHECK_EQ_U64(s->count, 10);
	CHECK_EQ_U64(s->nconns, 10);
	for (size_t i = 0; i < s->nconns; i++)
		CHECK_EQ_U64(s->conns[i].val.first_seen_ns, 91 + i);
	free(s->conns);
	free(s);
	live_table_free(t);
}

/* The exported counters start at zero and survive the table growing around them. */
static void test_exported_kept_across_growth(void)
{
	struct live_table *t = live_table_new(1024);
	struct flow_key k0 = key_n(0);
	struct flow_value v = val_p(7, 3, 10);
	struct live_conn *c;

	CHECK_EQ_INT(live_table_update(t, &k0, &v), 0);
	c = live_table_find(t, &k0);
	CHECK(c != NULL);
	CHECK_EQ_U64(c->exported.packets[FLOW_WAY_AB], 0);
	CHECK(memcmp(&c->key, &k0, sizeof(k0)) == 0);
	c->exported.packets[FLOW_WAY_AB] = 7;
	c->exported.bytes[FLOW_WAY_BA] = 99;
	for (uint32_t i = 1; i < 1000; i++) {
		struct flow_key k = key_n(i);

		CHECK_EQ_INT(live_table_update(t, &k, &v), 0);
	}
	c = live_table_find(t, &k0);
	CHECK(c != NULL);
	CHECK_EQ_U64(c->exported.packets[FLOW_WAY_AB], 7);
	CHECK_EQ_U64(c->exported.bytes[FLOW_WAY_BA], 99);
	CHECK_EQ_U64(c->last_seen_s, 1); /* 10 ns, rounded up */
	CHECK_EQ_U64(c->closed, 0);
	CHECK(memcmp(&c->key, &k0, sizeof(k0)) == 0);
	live_table_free(t);
}

/* A snapshot holds the values read since the previous one: a key read twice appears once,
 * with its newer value; a key removed since it was read does not appear; the table keeps
 * the last read time and whether the connection closed. */
static void test_snapshot_since_last(void)
{
	struct live_table *t = live_table_new(64);
	struct flow_key k0 = key_n(0), k1 = key_n(1), k2 = key_n(2);
	struct flow_value v0 = val_p(5, 0, 10), v1 = val_p(3, 0, 11), v2 = val_p(4, 0, 12);
	struct live_snapshot *s;
	struct live_conn *c;

	CHECK_EQ_INT(live_table_update(t, &k0, &v0), 0);
	CHECK_EQ_INT(live_table_update(t, &k1, &v1), 0);
	CHECK_EQ_INT(live_table_update(t, &k2, &v2), 0);
	v1 = val_p(9, 1, 20000000001ull); /* k1 read again, now the busiest */
	v1.tcp_flags[FLOW_WAY_BA] = FLOW_TCP_RST;
	CHECK_EQ_INT(live_table_update(t, &k1, &v1), 0);
	CHECK_EQ_INT(live_table_remove(t, &k2), 0);
	c = live_table_find(t, &k1);
	CHECK(c != NULL);
	CHECK_EQ_U64(c->last_seen_s, 21); /* 20.000000001 s, rounded up */
	CHECK_EQ_U64(c->closed, 1);
	s = live_table_snapshot(t);
	CHECK(s != NULL);
	CHECK_EQ_U64(s->count, 2);
	CHECK_EQ_U64(s->nconns, 2);
	CHECK(memcmp(&s->conns[0].key, &k1, sizeof(k1)) == 0);
	CHECK_EQ_U64(s->conns[0].val.packets[FLOW_WAY_AB], 9);
	CHECK_EQ_U64(s->conns[0].val.packets[FLOW_WAY_BA], 1);
	CHECK(memcmp(&s->conns[1].key, &k0, sizeof(k0)) == 0);
	CHECK_EQ_U64(s->conns[1].val.packets[FLOW_WAY_AB], 5);
	free(s->conns);
	free(s);
	/* Nothing read since: the count, no connections. */
	s = live_table_snapshot(t);
	CHECK(s != NULL);
	CHECK_EQ_U64(s->count, 2);
	CHECK_EQ_U64(s->nconns, 0);
	CHECK(s->conns == NULL);
	free(s);
	/* Read again: k0 alone this time. */
	v0 = val_p(6, 0, 30);
	CHECK_EQ_INT(live_table_update(t, &k0, &v0), 0);
	s = live_table_snapshot(t);
	CHECK(s != NULL);
	CHECK_EQ_U64(s->nconns, 1);
	CHECK_EQ_U64(s->conns[0].val.packets[FLOW_WAY_AB], 6);
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

	/* The table keeps whole seconds, rounded up: a connection last seen at 100.5 s is
	 * idle for 60 s from 161 s on, never before 160.5 s. */
	t = live_table_new(16);
	idle = val_p(1, 0, 100 * s + s / 2);
	CHECK_EQ_INT(live_table_update(t, &k0, &idle), 0);
	CHECK_EQ_U64(live_table_expired(t, 160 * s + s / 2, 60 * s, 5 * s, out, 16), 0);
	CHECK_EQ_U64(live_table_expired(t, 161 * s - 1, 60 * s, 5 * s, out, 16), 0);
	CHECK_EQ_U64(live_table_expired(t, 161 * s, 60 * s, 5 * s, out, 16), 1);
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
	test_snapshot_small_and_ties();
	test_exported_kept_across_growth();
	test_snapshot_since_last();
	test_closed();
	test_expired();
	test_publisher();
	return check_exit();
}
