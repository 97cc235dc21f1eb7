/* spool.c - bounded FIFO of encoded batches (see spool.h). A singly linked list: the
 * spool holds at most a few hundred batches, so lookups by seq (and the sum of the sent
 * ones, on a push) walk it. */
#include <errno.h>
#include <stdlib.h>

#include "spool.h"

struct spool {
	size_t max_bytes;
	size_t bytes;
	size_t count;
	struct spool_entry *head; /* oldest */
	struct spool_entry *tail;
};

struct spool *spool_new(size_t max_bytes)
{
	struct spool *s = calloc(1, sizeof(*s));

	if (s)
		s->max_bytes = max_bytes;
	return s;
}

static void spool_entry_free(struct spool_entry *e)
{
	free(e->buf);
	free(e);
}

void spool_free(struct spool *s)
{
	if (!s)
		return;
	while (s->head) {
		struct spool_entry *e = s->head;

		s->head = e->next;
		spool_entry_free(e);
	}
	free(s);
}

/* Takes e out of the list; prev is its predecessor (NULL for the head). */
static void spool_unlink(struct spool *s, struct spool_entry *prev, struct spool_entry *e)
{
	if (prev)
		prev->next = e->next;
	else
		s->head = e->next;
	if (s->tail == e)
		s->tail = prev;
	s->bytes -= e->len;
	s->count--;
}

/* Bytes of the batches that were ever sent: they stay until answered. */
static size_t spool_sent_bytes(const struct spool *s)
{
	size_t n = 0;

	for (const struct spool_entry *e = s->head; e; e = e->next) {
		if (e->attempts)
			n += e->len;
	}
	return n;
}

/* Drops the oldest never-sent batches until len more bytes fit. Only called when they
 * can: the sent batches alone leave room for len. */
static void spool_make_room(struct spool *s, size_t len, spool_drop_fn on_drop, void *arg)
{
	struct spool_entry *prev = NULL;
	struct spool_entry *e = s->head;

	while (e && s->bytes + len > s->max_bytes) {
		struct spool_entry *next = e->next;

		if (e->attempts) {
			prev = e;
		} else {
			spool_unlink(s, prev, e);
			on_drop(arg, e);
			spool_entry_free(e);
		}
		e = next;
	}
}

int spool_push(struct spool *s, uint64_t seq, uint8_t *buf, size_t len, uint64_t packets,
	       uint64_t records, spool_drop_fn on_drop, void *arg)
{
	struct spool_entry *e = NULL;
	int err = 0;

	if (len > s->max_bytes)
		err = -E2BIG;
	else if (spool_sent_bytes(s) + len > s->max_bytes)
		err = -ENOSPC;
	else if (!(e = calloc(1, sizeof(*e))))
		err = -ENOMEM;
	if (err) {
		struct spool_entry lost = {
		    .seq = seq, .len = len, .packets = packets, .records = records};

		free(buf);
		on_drop(arg, &lost);
		return err;
	}
	spool_make_room(s, len, on_drop, arg);
	e->seq = seq;
	e->buf = buf;
	e->len = len;
	e->packets = packets;
	e->records = records;
	if (s->tail)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	s->bytes += len;
	s->count++;
	return 0;
}

struct spool_entry *spool_next_queued(struct spool *s)
{
	for (struct spool_entry *e = s->head; e; e = e->next) {
		if (!e->in_flight)
			return e;
	}
	return NULL;
}

struct spool_entry *spool_find(struct spool *s, uint64_t seq)
{
	for (struct spool_entry *e = s->head; e; e = e->next) {
		if (e->seq == seq)
			return e;
	}
	return NULL;
}

int spool_remove(struct spool *s, uint64_t seq)
{
	struct spool_entry *prev = NULL;

	for (struct spool_entry *e = s->head; e; prev = e, e = e->next) {
		if (e->seq != seq)
			continue;
		spool_unlink(s, prev, e);
		spool_entry_free(e);
		return 0;
	}
	return -ENOENT;
}

void spool_requeue_all(struct spool *s)
{
	for (struct spool_entry *e = s->head; e; e = e->next)
		e->in_flight = false;
}

size_t spool_bytes(const struct spool *s)
{
	return s->bytes;
}

size_t spool_count(const struct spool *s)
{
	return s->count;
}
