/* spool.h - the node's bounded export spool: encoded batches wait here until the
 * collector acknowledges them (at-least-once). When a new batch does not fit, the oldest
 * batches that were never sent are dropped and their packets reported so that the caller
 * counts them in the loss ledger (export_spool_full). A batch once sent stays until it is
 * answered: it may have reached the collector (a timed-out request's bytes can still be
 * delivered), so dropping it could not be counted exactly; if the sent batches alone leave
 * no room, the new batch is the one dropped. Main thread only. */
#ifndef AYAFLOW_NODE_SPOOL_H
#define AYAFLOW_NODE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spool_entry {
	uint64_t seq;
	uint8_t *buf; /* owned by the spool */
	size_t len;
	uint64_t packets; /* packets in the batch's records, for the loss ledger */
	uint64_t records;
	bool in_flight;
	uint64_t sent_ns;	  /* when last handed to the transport */
	unsigned int attempts;	  /* times sent; never dropped once > 0 */
	struct spool_entry *next; /* oldest first */
};

/* Called for each batch the spool drops, just before it is freed. */
typedef void (*spool_drop_fn)(void *arg, const struct spool_entry *e);

struct spool;

struct spool *spool_new(size_t max_bytes);
/* Frees every entry. Accepts NULL. */
void spool_free(struct spool *s);
/* Appends a batch; the spool takes buf (malloc'd) in every case. The oldest never-sent
 * batches are dropped until it fits, each passed to on_drop. A batch larger than the
 * whole spool (-E2BIG), one the sent batches leave no room for (-ENOSPC) or one there is
 * no memory for (-ENOMEM) is itself passed to on_drop and not kept; else 0. */
int spool_push(struct spool *s, uint64_t seq, uint8_t *buf, size_t len, uint64_t packets,
	       uint64_t records, spool_drop_fn on_drop, void *arg);
/* The oldest batch not in flight, or NULL. */
struct spool_entry *spool_next_queued(struct spool *s);
/* The batch with this seq, or NULL (dropped meanwhile). */
struct spool_entry *spool_find(struct spool *s, uint64_t seq);
/* Removes and frees the batch with this seq. 0 or -ENOENT. */
int spool_remove(struct spool *s, uint64_t seq);
/* Marks every batch as not in flight (to be sent again). */
void spool_requeue_all(struct spool *s);
size_t spool_bytes(const struct spool *s);
size_t spool_count(const struct spool *s);

#endif
