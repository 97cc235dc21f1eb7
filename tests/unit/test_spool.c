/* test_spool.c - the export spool: FIFO order, in-flight skipping, removal by seq,
 * and exact accounting of what is dropped when it is full: never a batch once sent. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "node/spool.h"
#include "tests/unit/check.h"

struct dropped {
	uint64_t batches;
	uint64_t records;
	uint64_t packets;
	uint64_t sent; /* of those batches: must stay 0 */
};

static void on_drop(void *arg, const struct spool_entry *e)
{
	struct dropped *d = arg;

	d->batches++;
	d->records += e->records;
	d->packets += e->packets;
	d->sent += e->attempts > 0 || e->in_flight;
}

static uint8_t *blob(size_t len)
{
	uint8_t *b = malloc(len);

	memset(b, 0xab, len);
	return b;
}

static void test_fifo(void)
{
	struct spool *s = spool_new(1000);
	struct dropped d = {0};
	struct spool_entry *e;

	CHECK_EQ_INT(spool_push(s, 1, blob(100), 100, 10, 1, on_drop, &d), 0);
	CHECK_EQ_INT(spool_push(s, 2, blob(200), 200, 20, 2, on_drop, &d), 0);
	CHECK_EQ_INT(spool_push(s, 3, blob(300), 300, 30, 3, on_drop, &d), 0);
	CHECK_EQ_U64(spool_bytes(s), 600);
	CHECK_EQ_U64(spool_count(s), 3);
	e = spool_next_queued(s);
	CHECK_EQ_U64(e->seq, 1);
	e->in_flight = true;
	e = spool_next_queued(s);
	CHECK_EQ_U64(e->seq, 2);
	CHECK(spool_find(s, 3) != NULL);
	CHECK(spool_find(s, 4) == NULL);
	CHECK_EQ_INT(spool_remove(s, 2), 0);
	CHECK_EQ_INT(spool_remove(s, 2), -ENOENT);
	CHECK_EQ_U64(spool_bytes(s), 400);
	CHECK_EQ_INT(spool_remove(s, 3), 0); /* the tail */
	CHECK_EQ_INT(spool_push(s, 4, blob(50), 50, 5, 1, on_drop, &d), 0);
	CHECK_EQ_U64(spool_count(s), 2);
	CHECK_EQ_U64(spool_next_queued(s)->seq, 4);
	CHECK_EQ_U64(d.batches, 0);
	spool_free(s);
}

/* Marks the batch as handed to the transport, as export.c does. */
static void sent(struct spool *s, uint64_t seq, bool in_flight)
{
	struct spool_entry *e = spool_find(s, seq);

	e->attempts++;
	e->in_flight = in_flight;
}

static void test_full(void)
{
	struct spool *s = spool_new(1000);
	struct dropped d = {0};

	CHECK_EQ_INT(spool_push(s, 1, blob(400), 400, 40, 4, on_drop, &d), 0);
	CHECK_EQ_INT(spool_push(s, 2, blob(400), 400, 41, 5, on_drop, &d), 0);
	sent(s, 1, true);
	/* 800 + 300 > 1000: the oldest never sent (seq 2) goes, not the sent seq 1. */
	CHECK_EQ_INT(spool_push(s, 3, blob(300), 300, 42, 6, on_drop, &d), 0);
	CHECK_EQ_U64(d.batches, 1);
	CHECK_EQ_U64(d.packets, 41);
	CHECK_EQ_U64(d.records, 5);
	CHECK(spool_find(s, 1) != NULL);
	CHECK(spool_find(s, 2) == NULL);
	CHECK_EQ_U64(spool_bytes(s), 700);
	/* The sent 400 + 1000 cannot fit whatever is dropped: the new batch is dropped. */
	CHECK_EQ_INT(spool_push(s, 4, blob(1000), 1000, 100, 10, on_drop, &d), -ENOSPC);
	CHECK_EQ_U64(d.batches, 2);
	CHECK_EQ_U64(d.packets, 41 + 100);
	CHECK_EQ_U64(spool_count(s), 2);
	CHECK_EQ_U64(spool_bytes(s), 700);
	/* 400 + 600 fits once seq 3 (never sent) is gone: exactly full. */
	CHECK_EQ_INT(spool_push(s, 5, blob(600), 600, 43, 7, on_drop, &d), 0);
	CHECK_EQ_U64(d.batches, 3);
	CHECK_EQ_U64(d.packets, 41 + 100 + 42);
	CHECK_EQ_U64(spool_count(s), 2);
	CHECK_EQ_U64(spool_bytes(s), 1000);
	/* A send that timed out (no longer in flight) still holds its place. */
	CHECK_EQ_INT(spool_remove(s, 1), 0);
	sent(s, 5, false);
	CHECK_EQ_INT(spool_push(s, 6, blob(500), 500, 44, 8, on_drop, &d), -ENOSPC);
	CHECK_EQ_U64(d.batches, 4);
	CHECK_EQ_U64(d.packets, 41 + 100 + 42 + 44);
	CHECK_EQ_U64(spool_next_queued(s)->seq, 5);
	/* Larger than the spool: dropped itself, the rest stays. */
	CHECK_EQ_INT(spool_push(s, 7, blob(1001), 1001, 7, 1, on_drop, &d), -E2BIG);
	CHECK_EQ_U64(d.batches, 5);
	CHECK_EQ_U64(d.packets, 41 + 100 + 42 + 44 + 7);
	CHECK_EQ_U64(spool_count(s), 1);
	CHECK_EQ_U64(spool_bytes(s), 600);
	CHECK_EQ_U64(d.sent, 0);
	spool_free(s);
}

int main(void)
{
	test_fifo();
	test_full();
	return check_exit();
}
