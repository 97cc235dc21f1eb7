/* export.c - window records -> batches -> spool -> collector (see export.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "live.h"
#include "log.h"
#include "spool.h"
#include "transport.h"
#include "wire.h"

/* Records per batch. The pending records are wire_records (880 bytes: three names held
 * inline) and all of them are written in a busy window, so this is resident memory:
 * 512 (440 KiB) instead of 2048 (1.8 MiB); a window of 10 000 active connections is 20
 * batches of ~32 KiB on the wire. */
#define EXPORT_BATCH_RECORDS  512
#define EXPORT_BACKOFF_MIN_MS 100  /* resends after a failure wait this, doubling ... */
#define EXPORT_BACKOFF_MAX_MS 5000 /* ... up to this, until a batch is acknowledged */
#define EXPORT_BATCH_DNS      256  /* DNS records per batch */

struct export_done {
	uint64_t seq;
	int err; /* transport error, or 0 with ack */
	struct wire_ack ack;
};

struct export
{
	struct export_config cfg;
	char boot_id[WIRE_BOOT_ID_MAX + 1];
	uint64_t next_seq;
	uint64_t window_start_ms;    /* of the window being filled */
	struct wire_batch batch;     /* header of the next batch; records below */
	struct wire_record *records; /* EXPORT_BATCH_RECORDS, or NULL while none pend */
	size_t nrecords;
	uint64_t record_packets; /* packets in records[] */
	struct wire_dns *dns;	 /* EXPORT_BATCH_DNS, or NULL while none pend */
	size_t ndns;
	bool warned_oom;			    /* export_buffers_get failed once */
	struct flow_total totals[FLOW_TOTAL_SLOTS]; /* latest cumulative, for mid-window batches */
	uint64_t counters[FLOW_CNT_MAX];
	uint64_t active;
	struct spool *spool;
	uint64_t backoff_ms;  /* 0: not backing off */
	uint64_t retry_at_ms; /* CLOCK_MONOTONIC; no send before */
	struct transport_client *client;
	struct export_stats stats; /* main thread */
	int efd;
	/* Replies from nng threads, under lock. */
	pthread_mutex_t lock;
	struct export_done *done;
	size_t ndone;
	size_t done_cap;
	bool lost_replies;
};

static void export_on_reply(void *arg, uint64_t token, int err, const uint8_t *buf, size_t len)
{
	struct export *x = arg;
	struct export_done d = {.seq = token, .err = err};
	uint64_t one = 1;

	if (!err && wire_decode_ack(buf, len, &d.ack) < 0)
		d.err = -EPROTO;
	/* REQ/REP pairs the reply with its request; a rejection of a batch the collector
	 * could not decode cannot name the seq (it says 0). */
	if (!err && !d.err && d.ack.ok && d.ack.seq != token)
		d.err = -EPROTO;
	pthread_mutex_lock(&x->lock);
	if (x->ndone == x->done_cap) {
		/* More replies than contexts between two drains: grow (bounded by the spool,
		 * since each reply answers one spooled batch). */
		size_t cap = x->done_cap * 2;
		struct export_done *p = realloc(x->done, cap * sizeof(*p));

		if (p) {
			x->done = p;
			x->done_cap = cap;
		}
	}
	if (x->ndone < x->done_cap)
		x->done[x->ndone++] = d;
	else
		x->lost_replies = true; /* out of memory: main thread resends all in flight */
	pthread_mutex_unlock(&x->lock);
	if (write(x->efd, &one, sizeof(one)) < 0) {
		/* The counter only saturates; the main thread still drains the queue. */
	}
}

static int export_read_boot_id(char *buf, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/uuid", "re");
	char line[64];

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	snprintf(buf, len, "%s", line);
	return 0;
}

struct export *export_new(const struct export_config *cfg, char *err, size_t errlen)
{
	struct export *x = calloc(1, sizeof(*x));
	int rc;

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->cfg = *cfg;
	x->efd = -1;
	x->next_seq = 1;
	x->done_cap = cfg->inflight ? cfg->inflight : 1;
	x->done = calloc(x->done_cap, sizeof(*x->done));
	x->spool = spool_new(cfg->spool_bytes);
	if (!x->done || !x->spool) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_mutex_init(&x->lock, NULL);
	if (rc)
		goto fail_nolock;
	rc = export_read_boot_id(x->boot_id, sizeof(x->boot_id));
	if (rc) {
		snprintf(err, errlen, "cannot read a boot id: %s", strerror(-rc));
		goto fail;
	}
	x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->efd < 0) {
		rc = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-rc));
		goto fail;
	}
	x->client = transport_client_new_tls(cfg->urls, cfg->nurls, cfg->inflight, cfg->timeout_ms,
					     cfg->tls, export_on_reply, x, err, errlen);
	if (!x->client) {
		rc = -errno;
		goto fail;
	}
	return x;

fail:
	pthread_mutex_destroy(&x->lock);
fail_nolock:
	if (x->efd >= 0)
		close(x->efd);
	spool_free(x->spool);
	free(x->records);
	free(x->dns);
	free(x->done);
	free(x);
	errno = rc ? -rc : EINVAL;
	return NULL;
}

void export_free(struct export *x)
{
	if (!x)
		return;
	transport_client_free(x->client); /* no callbacks after this */
	pthread_mutex_destroy(&x->lock);
	close(x->efd);
	spool_free(x->spool);
	free(x->records);
	free(x->dns);
	free(x->done);
	free(x);
}

int export_fd(const struct export *x)
{
	return x->efd;
}

static uint64_t export_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A failed send or a "could not store" answer: resend later, not in a tight loop. */
static void export_back_off(struct export *x)
{
	x->backoff_ms = x->backoff_ms ? x->backoff_ms * 2 : EXPORT_BACKOFF_MIN_MS;
	if (x->backoff_ms > EXPORT_BACKOFF_MAX_MS)
		x->backoff_ms = EXPORT_BACKOFF_MAX_MS;
	x->retry_at_ms = export_mono_ms() + x->backoff_ms;
}

static void export_send_queued(struct export *x)
{
	struct spool_entry *e;

	if (x->retry_at_ms && export_mono_ms() < x->retry_at_ms)
		return; /* backing off; the next tick tries again */
	while ((e = spool_next_queued(x->spool))) {
		int rc = transport_client_send(x->client, e->seq, e->buf, e->len);

		if (rc == -EBUSY)
			break;
		if (rc < 0) {
			log_warn("export: sending batch %llu: %s", (unsigned long long)e->seq,
				 strerror(-rc));
			break;
		}
		e->in_flight = true;
		if (e->attempts++ == 0) {
			x->stats.batches_sent++;
			x->stats.records_sent += e->records;
		} else {
			x->stats.batches_resent++;
		}
	}
}

/* The spool drops only batches never sent (spool.h), so their packets are lost for sure. */
static void export_on_drop(void *arg, const struct spool_entry *e)
{
	struct export *x = arg;

	x->stats.lost_spool_full += e->packets;
	x->stats.batches_dropped++;
}

/* Encodes the pending records as one batch into the spool. */
static void export_flush(struct export *x, uint64_t end_ms)
{
	static const int loss_map[FLOW_LOSS_MAX] = {
	    [FLOW_LOSS_UNPARSABLE] = WIRE_LOSS_UNPARSABLE,
	    [FLOW_LOSS_FLOW_MAP_FULL] = WIRE_LOSS_FLOW_MAP_FULL,
	    [FLOW_LOSS_IPV6_DISABLED] = WIRE_LOSS_IPV6_DISABLED,
	    [FLOW_LOSS_PAYLOAD_RINGBUF_FULL] = WIRE_LOSS_PAYLOAD_RINGBUF_FULL,
	};
	struct wire_batch *b = &x->batch;
	uint64_t dropped_before = x->stats.batches_dropped;
	uint8_t *buf;
	size_t len;
	int rc;

	memset(b, 0, sizeof(*b));
	snprintf(b->node, sizeof(b->node), "%s", x->cfg.node_name);
	snprintf(b->boot_id, sizeof(b->boot_id), "%s", x->boot_id);
	snprintf(b->agent_version, sizeof(b->agent_version), "%s", x->cfg.agent_version);
	b->seq = x->next_seq++;
	b->window_start_ms = x->window_start_ms;
	b->window_end_ms = end_ms > x->window_start_ms ? end_ms : x->window_start_ms + 1;
	for (int i = 0; i < FLOW_TOTAL_SLOTS; i++) {
		b->total_packets += x->totals[i].packets;
		b->total_bytes += x->totals[i].bytes;
	}
	b->active_connections = x->active;
	for (int i = 0; i < FLOW_LOSS_MAX; i++)
		b->lost[loss_map[i]] = x->counters[i];
	b->lost[WIRE_LOSS_EXPORT_SPOOL_FULL] = x->stats.lost_spool_full;
	b->lost[WIRE_LOSS_COLLECTOR_REJECTED] = x->stats.lost_collector_rejected;
	b->nrecords = x->nrecords;
	b->records = x->records;
	b->ndns = x->ndns;
	b->dns = x->dns;

	rc = wire_encode_batch(b, &buf, &len);
	b->records = NULL; /* records[] and dns[] stay ours */
	b->dns = NULL;
	if (rc < 0) {
		/* Cannot happen for records we built; count them rather than lose silently. */
		log_error("export: encoding batch %llu: %s", (unsigned long long)b->seq,
			  strerror(-rc));
		x->stats.lost_spool_full += x->record_packets;
		x->stats.batches_dropped++;
	} else {
		spool_push(x->spool, b->seq, buf, len, x->record_packets, x->nrecords,
			   export_on_drop, x);
		if (x->stats.batches_dropped != dropped_before)
			log_warn("export: spool full, %llu batches dropped so far (%llu packets)",
				 (unsigned long long)x->stats.batches_dropped,
				 (unsigned long long)x->stats.lost_spool_full);
	}
	x->nrecords = 0;
	x->record_packets = 0;
	x->ndns = 0;
}

/* The pending-record (records) or DNS buffer, allocated when the first one comes: a
 * window's buffers are returned at its end (export_buffers_put), so between windows
 * they cost nothing; with glibc's mmap threshold fixed (main.c) they are unmapped.
 * 0 or -ENOMEM (logged once). */
static int export_buffers_get(struct export *x, bool records)
{
	if (records)
		x->records = malloc(EXPORT_BATCH_RECORDS * sizeof(*x->records));
	else
		x->dns = malloc(EXPORT_BATCH_DNS * sizeof(*x->dns));
	if (records ? x->records != NULL : x->dns != NULL)
		return 0;
	if (!x->warned_oom)
		log_error("export: out of memory for %s (packets counted as export_spool_full)",
			  records ? "flow records" : "DNS records");
	x->warned_oom = true;
	return -ENOMEM;
}

/* Frees the buffers once nothing is pending in them. */
static void export_buffers_put(struct export *x)
{
	if (x->nrecords == 0) {
		free(x->records);
		x->records = NULL;
	}
	if (x->ndns == 0) {
		free(x->dns);
		x->dns = NULL;
	}
}

static uint64_t export_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Appends the delta of f since its last export (*e) as a record, if there is any, and
 * moves *e up to f's counters. */
static void export_add(struct export *x, const struct live_flow *f, struct live_counts *e,
		       int64_t mono_to_unix_ns)
{
	const struct flow_value *v = &f->val;
	struct live_orient o;
	struct wire_record *r;
	uint64_t ps, pr;

	live_flow_orient(f, &o);
	ps = v->packets[o.fwd] - e->packets[o.fwd];
	pr = v->packets[!o.fwd] - e->packets[!o.fwd];
	if (ps == 0 && pr == 0)
		return;
	if (x->nrecords == EXPORT_BATCH_RECORDS)
		export_flush(x, export_now_ms());
	if (!x->records && export_buffers_get(x, true) < 0) {
		/* No record to put them in: counted, and marked exported so that the next
		 * window does not count them a second time. */
		x->stats.lost_spool_full += ps + pr;
		memcpy(e->packets, v->packets, sizeof(e->packets));
		memcpy(e->bytes, v->bytes, sizeof(e->bytes));
		return;
	}
	r = &x->records[x->nrecords++];
	memset(r, 0, sizeof(*r));
	memcpy(r->src_addr, o.src_addr, 16);
	memcpy(r->dst_addr, o.dst_addr, 16);
	r->src_port = o.src_port;
	r->dst_port = o.dst_port;
	r->proto = f->key.proto;
	r->ip_version = f->key.ip_version;
	r->tcp_flags = v->tcp_flags[0] | v->tcp_flags[1];
	r->packets_sent = ps;
	r->packets_received = pr;
	r->bytes_sent = v->bytes[o.fwd] - e->bytes[o.fwd];
	r->bytes_received = v->bytes[!o.fwd] - e->bytes[!o.fwd];
	r->first_seen_ms = (uint64_t)((int64_t)v->first_seen_ns + mono_to_unix_ns) / 1000000;
	r->last_seen_ms = (uint64_t)((int64_t)v->last_seen_ns + mono_to_unix_ns) / 1000000;
	if (x->cfg.ifname) {
		const char *n = x->cfg.ifname(x->cfg.ifname_arg, f->key.ifindex);

		if (n)
			snprintf(r->interface, sizeof(r->interface), "%s", n);
	}
	if (x->cfg.domain) {
		const char *n = x->cfg.domain(x->cfg.ifname_arg, f);

		if (n)
			snprintf(r->domain, sizeof(r->domain), "%s", n);
	}
	if (x->cfg.hostname) {
		const char *s = x->cfg.hostname(x->cfg.ifname_arg, o.src_addr, r->ip_version);
		const char *d = x->cfg.hostname(x->cfg.ifname_arg, o.dst_addr, r->ip_version);

		if (s)
			snprintf(r->src_hostname, sizeof(r->src_hostname), "%s", s);
		if (d)
			snprintf(r->dst_hostname, sizeof(r->dst_hostname), "%s", d);
	}
	x->record_packets += ps + pr;
	memcpy(e->packets, v->packets, sizeof(e->packets));
	memcpy(e->bytes, v->bytes, sizeof(e->bytes));
}

void export_add_dns(struct export *x, const struct wire_dns *d)
{
	if (x->ndns == EXPORT_BATCH_DNS)
		export_flush(x, export_now_ms());
	if (!x->dns && export_buffers_get(x, false) < 0)
		return; /* DNS records are not in the packet ledger; logged once */
	x->dns[x->ndns++] = *d;
}

void export_add_final(struct export *x, const struct live_flow *f,
		      const struct live_counts *exported, int64_t mono_to_unix_ns)
{
	struct live_counts e = *exported;

	export_add(x, f, &e, mono_to_unix_ns);
}

struct export_walk {
	struct export *x;
	struct live_table *t;
	int64_t mono_to_unix_ns;
};

static void export_walk_one(void *arg, const struct live_flow *f)
{
	struct export_walk *w = arg;
	struct live_conn *c = live_table_find(w->t, &f->key);

	/* Not in the table: new since the drain read the map; the next window has it, its
	 * counters cumulative. */
	if (c)
		export_add(w->x, f, &c->exported, w->mono_to_unix_ns);
}

int export_window(struct export *x, struct live_table *t, export_walk_fn walk, void *walk_arg,
		  uint64_t start_ms, uint64_t end_ms, int64_t mono_to_unix_ns,
		  const struct flow_total *totals, const uint64_t *counters)
{
	struct export_walk w = {x, t, mono_to_unix_ns};
	int err;

	if (x->window_start_ms == 0)
		x->window_start_ms = start_ms;
	memcpy(x->totals, totals, sizeof(x->totals));
	memcpy(x->counters, counters, sizeof(x->counters));
	x->active = live_table_count(t);
	/* A failed walk leaves the rest for the next window (their exported counters are
	 * unchanged); this window's batch still goes out. */
	err = walk(walk_arg, export_walk_one, &w);
	/* Every window sends a batch, even without records: it carries the ledger and
	 * tells the collector the node is alive. */
	export_flush(x, end_ms);
	export_buffers_put(x);
	x->window_start_ms = end_ms;
	export_send_queued(x);
	return err < 0 ? err : 0;
}

void export_process(struct export *x)
{
	struct export_done done[64];
	uint64_t v;
	size_t n;

	if (read(x->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing new; the queue is checked anyway. */
	}
	do {
		bool lost;

		pthread_mutex_lock(&x->lock);
		lost = x->lost_replies;
		x->lost_replies = false;
		n = x->ndone < 64 ? x->ndone : 64;
		memcpy(done, x->done, n * sizeof(done[0]));
		memmove(x->done, x->done + n, (x->ndone - n) * sizeof(done[0]));
		x->ndone -= n;
		pthread_mutex_unlock(&x->lock);
		if (lost) {
			/* Some reply could not be queued: resend everything in flight; the
			 * collector acknowledges duplicates without storing them twice. */
			spool_requeue_all(x->spool);
		}

		for (size_t i = 0; i < n; i++) {
			struct export_done *d = &done[i];
			struct spool_entry *e = spool_find(x->spool, d->seq);

			if (!e)
				continue; /* answered already (a resend's second reply) */
			if (d->err) {
				log_debug("export: batch %llu: %s (will resend)",
					  (unsigned long long)d->seq, strerror(-d->err));
				e->in_flight = false;
				export_back_off(x);
			} else if (d->ack.ok) {
				x->backoff_ms = 0;
				x->retry_at_ms = 0;
				x->stats.batches_acked++;
				x->stats.records_acked += e->records;
				if (d->ack.duplicate)
					x->stats.batches_duplicate++;
				spool_remove(x->spool, d->seq);
			} else if (d->ack.reason == WIRE_REJECT_STORE) {
				log_warn("export: collector could not store batch %llu: %s "
					 "(will resend)",
					 (unsigned long long)d->seq, d->ack.message);
				e->in_flight = false;
				export_back_off(x);
			} else {
				log_error("export: collector rejected batch %llu (%s): %s",
					  (unsigned long long)d->seq,
					  wire_reject_name(d->ack.reason), d->ack.message);
				x->stats.batches_rejected++;
				x->stats.lost_collector_rejected += e->packets;
				spool_remove(x->spool, d->seq);
			}
		}
	} while (n == 64);
	export_send_queued(x);
}

void export_get_stats(struct export *x, struct export_stats *out)
{
	struct transport_client_stats ts;

	transport_client_get_stats(x->client, &ts);
	*out = x->stats;
	out->spool_bytes = spool_bytes(x->spool);
	out->spool_batches = spool_count(x->spool);
	out->connections_closed = ts.connections_closed;
	out->collector_holds = ts.holds;
	out->connected = transport_client_connected(x->client);
}
