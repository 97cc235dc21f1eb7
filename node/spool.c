/* spool.c - bounded FIFO of encoded batches (see spool.h). A singly linked list: the
 * spool holds at most a few hundred batches, so lookups by seq walk it. */
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

static void spool_drop_oldest(struct spool *s, spool_drop_fn on_drop, void *arg)
{
	struct spool_entry *e = s->head;

	s->head = e->next;
	if (!s->head)
		s->tail = NULL;
	s->bytes -= e->len;
	s->count--;
	on_drop(arg, e);
	spool_entry_free(e);
}

int spool_push(struct spool *s, uint64_t seq, uint8_t *buf, size_t len, uint64_t packets,
	       uint64_t records, spool_drop_fn on_drop, void *arg)
{
	struct spool_entry *e = len <= s->max_bytes ? calloc(1, sizeof(*e)) : NULL;

	if (!e) {
		struct spool_entry lost = {
		    .seq = seq, .len = len, .packets = packets, .records = records};

		free(buf);
		on_drop(arg, &lost);
		return len > s->max_bytes ? -E2BIG : -ENOMEM;
	}
	while (s->head && s->bytes + len > s->max_bytes)
		spool_drop_oldest(s, on_drop, arg);
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
		if (prev)
			prev->next = e->next;
		else
			s->head = e->next;
		if (s->tail == e)
			s->tail = prev;
		s->bytes -= e->len;
		s->count--;
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
