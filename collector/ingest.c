/* ingest.c - batches from the nodes to SQLite and back to an acknowledgement (see
 * ingest.h). Pipeline: transport (nng thread) -> wire_decode_batch -> bounded queue ->
 * writer thread -> store_append (one transaction per group) -> live view -> acks.
 * The acknowledgement of a batch is sent only after store_append returned 0, i.e. after
 * the COMMIT holding it; a batch answered with WIRE_REJECT_STORE is resent by its node,
 * and store_append's duplicate detection makes that safe. */
#include "ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "transport.h"

#define INGEST_MAINT_EVERY_MS 1000 /* retention step and database size when idle */
#define INGEST_LOG_EVERY_MS   1000 /* at most one message a second of each kind below */

const double ingest_commit_bounds[INGEST_COMMIT_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

struct ingest_item {
	struct transport_request *req; /* replied exactly once, by the writer */
	struct wire_batch batch;
};

struct ingest {
	struct transport_server *server; /* NULL once stopped */
	struct store *store;		 /* writer thread only */
	struct live_view *live;
	uint64_t retention_ms;
	pthread_t writer;
	bool writer_running; /* main thread only */

	/* The queue: pushed by nng threads, popped by the writer, both under qlock. */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;	   /* signalled on push and on stop */
	struct ingest_item *queue; /* ring of INGEST_QUEUE_MAX */
	size_t qhead;
	size_t qcount;
	size_t qrecords;
	bool stopping; /* set after the server is freed: the writer drains and exits */

	/* Counters: written by nng threads and the writer, read by anyone, under slock. */
	pthread_mutex_t slock;
	struct ingest_stats stats;
	struct log_limit reject_log; /* rejected batches */
	struct log_limit store_log;  /* failed commits (a full disk fails every one) */
	struct log_limit follow_log; /* failed store_follow calls */
	/* Why the store is failing (stats.store_failing is either), writer thread only:
	 * the latest append failed; the latest upkeep (size, following) failed, which
	 * tells an unreachable store even when no batch comes. */
	bool append_failing;
	bool upkeep_failing;
};

static uint64_t ingest_clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double ingest_clock_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends one acknowledgement; req is released whatever happens. */
static void ingest_send_ack(struct transport_request *req, uint64_t seq, bool ok, bool duplicate,
			    enum wire_reject reason, const char *msg)
{
	struct wire_ack a = {.seq = seq, .ok = ok, .duplicate = duplicate};
	uint8_t *out = NULL;
	size_t len = 0;
	int err;

	a.reason = ok ? WIRE_REJECT_NONE : reason;
	if (!ok)
		snprintf(a.message, sizeof(a.message), "%s", msg ? msg : "");
	err = wire_encode_ack(&a, &out, &len);
	if (err) {
		/* An empty reply: the node cannot decode it and resends the batch. */
		log_error("encoding the acknowledgement of batch %llu: %s", (unsigned long long)seq,
			  strerror(-err));
		out = NULL;
		len = 0;
	}
	err = transport_request_reply(req, out ? out : (const uint8_t *)"", len);
	if (err && err != -ECANCELED)
		log_debug("replying to batch %llu: %s", (unsigned long long)seq, strerror(-err));
	free(out);
}

/* The tail of a rate-limited message: how many like it were not logged. The text is in
 * a caller-owned buffer. */
static const char *ingest_held(uint64_t held, char *buf, size_t len)
{
	if (!held)
		return "";
	snprintf(buf, len, " (%llu more like it in the last second, not logged)",
		 (unsigned long long)held);
	return buf;
}

/* Counts and answers a batch that is not stored (invalid, or to be retried). */
static void ingest_reject(struct ingest *ing, struct transport_request *req, uint64_t seq,
			  enum wire_reject reason, const char *msg, bool queue_full)
{
	uint64_t suppressed = 0;
	char held[80];
	bool say = false;

	if ((unsigned)reason >= WIRE_REJECT_MAX || reason == WIRE_REJECT_NONE)
		reason = WIRE_REJECT_DECODE;
	pthread_mutex_lock(&ing->slock);
	ing->stats.by_reason[reason]++;
	if (reason == WIRE_REJECT_STORE)
		ing->stats.retry++;
	else
		ing->stats.rejected++;
	if (queue_full)
		ing->stats.queue_full++;
	say = log_limit_pass(&ing->reject_log, &suppressed);
	pthread_mutex_unlock(&ing->slock);
	if (say)
		log_warn(
		    "batch %llu %s (%s): %s%s", (unsigned long long)seq,
		    reason == WIRE_REJECT_STORE ? "not stored now, the node retries" : "rejected",
		    wire_reject_name(reason), msg, ingest_held(suppressed, held, sizeof(held)));
	ingest_send_ack(req, seq, false, false, reason, msg);
}

/* nng thread: decode, validate, queue. Never touches the store. */
static void ingest_on_request(void *arg, struct transport_request *req, const uint8_t *buf,
			      size_t len)
{
	struct ingest *ing = arg;
	enum wire_reject reason = WIRE_REJECT_DECODE;
	struct wire_batch b;
	char msg[256] = "";
	bool full = false;
	int err;

	pthread_mutex_lock(&ing->slock);
	ing->stats.received++;
	pthread_mutex_unlock(&ing->slock);

	memset(&b, 0, sizeof(b));
	err = wire_decode_batch(buf, len, &b, &reason, msg, sizeof(msg));
	if (err) {
		if (err == -ENOMEM)
			reason = WIRE_REJECT_STORE;
		ingest_reject(ing, req, 0, reason, msg[0] ? msg : "cannot decode the batch", false);
		return;
	}

	pthread_mutex_lock(&ing->qlock);
	/* A batch bigger than the record budget still goes through an empty queue. DNS
	 * records count against the same budget as flow records. */
	if (ing->qcount >= INGEST_QUEUE_MAX ||
	    (ing->qcount > 0 && ing->qrecords + b.nrecords + b.ndns > INGEST_QUEUE_MAX_RECORDS)) {
		full = true;
	} else {
		struct ingest_item *it = &ing->queue[(ing->qhead + ing->qcount) % INGEST_QUEUE_MAX];

		it->req = req;
		it->batch = b; /* the queue owns the records now */
		ing->qcount++;
		ing->qrecords += b.nrecords + b.ndns;
		pthread_cond_signal(&ing->qcond);
	}
	pthread_mutex_unlock(&ing->qlock);
	if (full) {
		uint64_t seq = b.seq;

		wire_batch_fini(&b);
		ingest_reject(ing, req, seq, WIRE_REJECT_STORE,
			      "the collector's ingest queue is full", true);
	}
}

static void ingest_count_commit(struct ingest *ing, double secs)
{
	size_t i;

	for (i = 0; i < INGEST_COMMIT_BUCKETS; i++) {
		if (secs <= ingest_commit_bounds[i])
			break;
	}
	ing->stats.commit_buckets[i]++; /* i == INGEST_COMMIT_BUCKETS: +Inf */
	ing->stats.commit_count++;
	ing->stats.commit_seconds_sum += secs;
}

/* Writer thread: one transaction for the group, then the acknowledgements. */
static void ingest_commit(struct ingest *ing, struct ingest_item *items, size_t n)
{
	const struct wire_batch *batches[INGEST_GROUP_MAX];
	bool dup[INGEST_GROUP_MAX];
	uint64_t now_ms, records = 0, dns = 0, stored = 0, dups = 0;
	double t0, secs;
	int err;

	for (size_t i = 0; i < n; i++) {
		batches[i] = &items[i].batch;
		dup[i] = false;
	}
	t0 = ingest_clock_s();
	err = store_append(ing->store, batches, n, dup);
	secs = ingest_clock_s() - t0;
	now_ms = ingest_clock_ms(CLOCK_REALTIME);

	if (err) {
		char msg[256], heldmsg[80];
		uint64_t held = 0;
		bool say;

		snprintf(msg, sizeof(msg), "the collector could not store the batch now: %s",
			 strerror(-err));
		pthread_mutex_lock(&ing->slock);
		say = log_limit_pass(&ing->store_log, &held);
		ing->stats.store_errors++;
		if (err == -ENOSPC)
			ing->stats.store_errors_full++;
		ing->append_failing = true;
		ing->stats.store_failing = true;
		snprintf(ing->stats.store_error, sizeof(ing->stats.store_error), "%s (%s)",
			 strerror(-err), store_last_error(ing->store));
		ingest_count_commit(ing, secs);
		pthread_mutex_unlock(&ing->slock);
		if (say)
			log_error("storing %zu batch(es) failed: %s (%s); the nodes will resend "
				  "them%s",
				  n, strerror(-err), store_last_error(ing->store),
				  ingest_held(held, heldmsg, sizeof(heldmsg)));
		for (size_t i = 0; i < n; i++) {
			ingest_reject(ing, items[i].req, items[i].batch.seq, WIRE_REJECT_STORE, msg,
				      false);
			wire_batch_fini(&items[i].batch);
		}
		return;
	}

	/* Committed: the live view and the counters first, so that whoever sees the
	 * acknowledgement also sees its effect on the API. */
	for (size_t i = 0; i < n; i++) {
		if (dup[i]) {
			dups++;
			continue;
		}
		stored++;
		records += items[i].batch.nrecords;
		dns += items[i].batch.ndns;
		live_view_add(ing->live, &items[i].batch, now_ms);
	}
	pthread_mutex_lock(&ing->slock);
	ing->stats.stored += stored;
	ing->stats.duplicate += dups;
	ing->stats.records_stored += records;
	ing->stats.dns_records_stored += dns;
	ing->append_failing = false;
	ing->stats.store_failing = ing->upkeep_failing;
	ingest_count_commit(ing, secs);
	pthread_mutex_unlock(&ing->slock);

	for (size_t i = 0; i < n; i++) {
		ingest_send_ack(items[i].req, items[i].batch.seq, true, dup[i], WIRE_REJECT_NONE,
				NULL);
		wire_batch_fini(&items[i].batch);
	}
}

/* Writer thread: the outcome of the upkeep's store calls (err 0: all went well). */
static void ingest_upkeep_result(struct ingest *ing, int err)
{
	pthread_mutex_lock(&ing->slock);
	ing->upkeep_failing = err != 0;
	if (err)
		snprintf(ing->stats.store_error, sizeof(ing->stats.store_error), "%s (%s)",
			 strerror(-err), store_last_error(ing->store));
	ing->stats.store_failing = ing->append_failing || ing->upkeep_failing;
	pthread_mutex_unlock(&ing->slock);
}

/* Writer thread, from store_follow: another collector's batch. */
static void ingest_follow_add(void *arg, const struct wire_batch *b)
{
	struct ingest *ing = arg;

	live_view_add(ing->live, b, ingest_clock_ms(CLOCK_REALTIME));
}

/* Writer thread: the batches other collectors stored since the last call into the live
 * view. Returns true when more are waiting; *err the outcome. */
static bool ingest_follow(struct ingest *ing, int *errp)
{
	bool more = false;
	uint64_t held;
	size_t n = 0;
	int err;

	err = store_follow(ing->store, ingest_follow_add, ing, &n, &more);
	pthread_mutex_lock(&ing->slock);
	if (err)
		ing->stats.follow_errors++;
	else
		ing->stats.followed += n;
	pthread_mutex_unlock(&ing->slock);
	if (err && log_limit_pass(&ing->follow_log, &held))
		log_warn("live view: reading the other collectors' batches: %s (%s)%s",
			 strerror(-err), store_last_error(ing->store), held ? " (and more)" : "");
	*errp = err;
	return !err && more;
}

/* Writer thread: one retention step, the database size and the other collectors'
 * batches. Returns true while retention or following has more to do right away. */
static bool ingest_maintain(struct ingest *ing)
{
	unsigned deleted = 0;
	int64_t bytes;
	bool more;
	int err;

	if (ing->retention_ms) {
		uint64_t now = ingest_clock_ms(CLOCK_REALTIME);
		uint64_t cutoff = now > ing->retention_ms ? now - ing->retention_ms : 0;

		err = store_retention_step(ing->store, cutoff, INGEST_RETENTION_ROWS, &deleted);
		if (err) {
			log_error("retention step failed: %s (%s)", strerror(-err),
				  store_last_error(ing->store));
			deleted = 0;
		}
	}
	bytes = store_db_bytes(ing->store);
	pthread_mutex_lock(&ing->slock);
	ing->stats.retention_deleted += deleted;
	if (bytes >= 0)
		ing->stats.db_bytes = bytes;
	pthread_mutex_unlock(&ing->slock);
	/* A store that did not answer the size query in time is not asked again at once:
	 * the writer would wait a second timeout before saying it fails. */
	if (bytes == -EAGAIN) {
		more = false;
		err = (int)bytes;
	} else {
		more = ingest_follow(ing, &err);
		if (bytes < 0)
			err = (int)bytes;
	}
	ingest_upkeep_result(ing, err);
	return more || deleted == INGEST_RETENTION_ROWS;
}

static void *ingest_writer_main(void *arg)
{
	struct ingest *ing = arg;
	struct ingest_item group[INGEST_GROUP_MAX];
	uint64_t next_maint = 0;
	bool more_retention = false;

	for (;;) {
		size_t n = 0;
		bool stopping;

		pthread_mutex_lock(&ing->qlock);
		while (ing->qcount == 0 && !ing->stopping && !more_retention &&
		       ingest_clock_ms(CLOCK_MONOTONIC) < next_maint) {
			struct timespec until;

			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += 100 * 1000000; /* re-check the clock every 100 ms */
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&ing->qcond, &ing->qlock, &until);
		}
		while (n < INGEST_GROUP_MAX && ing->qcount > 0) {
			group[n] = ing->queue[ing->qhead];
			ing->qhead = (ing->qhead + 1) % INGEST_QUEUE_MAX;
			ing->qcount--;
			ing->qrecords -= group[n].batch.nrecords + group[n].batch.ndns;
			n++;
		}
		stopping = ing->stopping;
		pthread_mutex_unlock(&ing->qlock);

		if (n)
			ingest_commit(ing, group, n);
		else if (stopping)
			break; /* drained: nothing queued, nothing can come */
		if (!stopping &&
		    (more_retention || ingest_clock_ms(CLOCK_MONOTONIC) >= next_maint)) {
			more_retention = ingest_maintain(ing);
			next_maint = ingest_clock_ms(CLOCK_MONOTONIC) + INGEST_MAINT_EVERY_MS;
		}
	}
	return NULL;
}

struct ingest *ingest_new(const struct ingest_config *cfg, char *err, size_t errlen)
{
	struct ingest *ing;
	pthread_condattr_t ca;
	int e;

	ing = calloc(1, sizeof(*ing));
	if (ing) {
		ing->reject_log = (struct log_limit)LOG_LIMIT_INIT(INGEST_LOG_EVERY_MS);
		ing->store_log = (struct log_limit)LOG_LIMIT_INIT(INGEST_LOG_EVERY_MS);
		ing->follow_log = (struct log_limit)LOG_LIMIT_INIT(INGEST_LOG_EVERY_MS);
	}
	if (!ing)
		goto oom;
	ing->queue = calloc(INGEST_QUEUE_MAX, sizeof(*ing->queue));
	if (!ing->queue) {
		free(ing);
		goto oom;
	}
	ing->store = cfg->store;
	ing->live = cfg->live;
	ing->retention_ms = cfg->retention_s * 1000;
	ing->stats.db_bytes = -1;
	/* Default attributes: these cannot fail on Linux, but say so if they ever do. */
	e = pthread_mutex_init(&ing->qlock, NULL);
	if (!e)
		e = pthread_mutex_init(&ing->slock, NULL);
	if (!e)
		e = pthread_condattr_init(&ca);
	if (!e) {
		e = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if (!e)
			e = pthread_cond_init(&ing->qcond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (e) {
		snprintf(err, errlen, "cannot set up the ingest queue: %s", strerror(e));
		free(ing->queue);
		free(ing);
		errno = e;
		return NULL;
	}

	e = pthread_create(&ing->writer, NULL, ingest_writer_main, ing);
	if (e) {
		snprintf(err, errlen, "cannot start the writer thread: %s", strerror(e));
		ingest_free(ing);
		errno = e;
		return NULL;
	}
	ing->writer_running = true;

	ing->server =
	    transport_server_new_tls(cfg->urls, cfg->nurls, INGEST_WORKERS, WIRE_MAX_BATCH_BYTES,
				     cfg->tls, ingest_on_request, ing, err, errlen);
	if (!ing->server) {
		e = errno;
		ingest_free(ing);
		errno = e;
		return NULL;
	}
	return ing;
oom:
	snprintf(err, errlen, "out of memory");
	errno = ENOMEM;
	return NULL;
}

void ingest_stop(struct ingest *ing)
{
	if (!ing)
		return;
	/* No on_request after this; requests held by the queue are answered below. */
	transport_server_free(ing->server);
	ing->server = NULL;
	pthread_mutex_lock(&ing->qlock);
	ing->stopping = true;
	pthread_cond_signal(&ing->qcond);
	pthread_mutex_unlock(&ing->qlock);
	if (ing->writer_running) {
		pthread_join(ing->writer, NULL);
		ing->writer_running = false;
	}
}

void ingest_free(struct ingest *ing)
{
	if (!ing)
		return;
	ingest_stop(ing);
	pthread_cond_destroy(&ing->qcond);
	pthread_mutex_destroy(&ing->qlock);
	pthread_mutex_destroy(&ing->slock);
	free(ing->queue);
	free(ing);
}

void ingest_stats_get(struct ingest *ing, struct ingest_stats *out)
{
	pthread_mutex_lock(&ing->slock);
	*out = ing->stats;
	pthread_mutex_unlock(&ing->slock);
	pthread_mutex_lock(&ing->qlock);
	out->queue_depth = ing->qcount;
	out->queue_records = ing->qrecords;
	pthread_mutex_unlock(&ing->qlock);
}
