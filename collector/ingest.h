/* ingest.h - the collector's ingest pipeline: the nng REP server (lib/transport) gets
 * each batch, decodes and validates it (lib/wire) and either answers at once (invalid:
 * ok=0 with the reason; queue full: WIRE_REJECT_STORE, the node retries) or queues it
 * for the writer thread. The writer thread owns the struct store: it takes up to
 * INGEST_GROUP_MAX queued batches, stores them with one store_append (one transaction),
 * and only after that returned 0 acknowledges each (duplicate flag set for batches
 * stored before) and adds the new ones to the live view; on a store error it answers
 * every batch of the group with WIRE_REJECT_STORE. Between appends, or once a second
 * when idle, it runs one small retention step, and adds to the live view the batches
 * other collectors stored into a shared store (store_follow), so that the live view of
 * every collector of a ClickHouse store is the whole cluster's.
 *
 * Threads: on_request runs on nng threads and never touches the store; the writer
 * thread alone calls store_* on the store; the statistics are read by any thread
 * through ingest_stats_get (copied under the ingest's stats mutex). */
#ifndef AYAFLOW_COLLECTOR_INGEST_H
#define AYAFLOW_COLLECTOR_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "live.h"
#include "transport.h"
#include "store/store.h"
#include "wire.h"

#define INGEST_QUEUE_MAX	 768	/* batches waiting for the writer */
#define INGEST_QUEUE_MAX_RECORDS 200000 /* records waiting (bounds the memory) */
#define INGEST_GROUP_MAX	 256	/* batches per transaction */
#define INGEST_WORKERS		 1024 /* requests nng holds at once (> queue: a full queue is seen) */
#define INGEST_RETENTION_ROWS	 1000 /* rows per retention step */
#define INGEST_COMMIT_BUCKETS	 12

/* Upper bounds (seconds) of the commit latency histogram buckets (+Inf is implied). */
extern const double ingest_commit_bounds[INGEST_COMMIT_BUCKETS];

struct ingest_stats {
	uint64_t received;     /* requests */
	uint64_t stored;       /* batches committed */
	uint64_t duplicate;    /* batches acknowledged again, not stored twice */
	uint64_t rejected;     /* invalid batches, answered ok=0 (not retried) */
	uint64_t retry;	       /* answered WIRE_REJECT_STORE: queue full, store error, memory */
	uint64_t queue_full;   /* of retry: the queue was full */
	uint64_t store_errors; /* store_append calls that failed */
	uint64_t store_errors_full; /* of store_errors: the disk was full (SQLITE_FULL) */
	bool store_failing;    /* the latest store_append, or the latest upkeep (size, following
				* the other collectors), failed: until it succeeds again */
	char store_error[160]; /* what the latest failing store call said */
	uint64_t by_reason[WIRE_REJECT_MAX]; /* every answer with ok=0, by reason */
	uint64_t records_stored;
	uint64_t dns_records_stored;
	uint64_t queue_depth;	    /* batches queued now */
	uint64_t queue_records;	    /* records queued now (flow and DNS records) */
	uint64_t retention_deleted; /* rows deleted by retention */
	uint64_t followed;	    /* batches of other collectors added to the live view */
	uint64_t follow_errors;	    /* store_follow calls that failed */
	int64_t db_bytes;	    /* latest store_db_bytes, -1 before the first */
	uint64_t commit_buckets[INGEST_COMMIT_BUCKETS + 1]; /* per bucket (not cumulative) */
	uint64_t commit_count;
	double commit_seconds_sum;
};

struct ingest;

struct ingest_config {
	char *const *urls; /* --listen */
	size_t nurls;
	const struct transport_tls *tls; /* for tls+tcp:// URLs (transport.h); NULL: none */
	struct store *store;	/* borrowed: used by the writer thread only, until ingest_stop */
	struct live_view *live; /* borrowed */
	uint64_t retention_s;	/* 0: keep everything */
};

/* Starts the writer thread, then listens. NULL with errno set and a message in err
 * (e.g. naming the URL whose address is in use). */
struct ingest *ingest_new(const struct ingest_config *cfg, char *err, size_t errlen);

/* Stops accepting (every pending request is still answered), stores and acknowledges
 * what is queued, and joins the writer thread. After it the store is the caller's
 * again. Idempotent. */
void ingest_stop(struct ingest *ing);

/* Stops if needed, frees. Accepts NULL. */
void ingest_free(struct ingest *ing);

/* A copy of the counters. Any thread. */
void ingest_stats_get(struct ingest *ing, struct ingest_stats *out);

#endif
