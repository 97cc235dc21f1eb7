/* resolve.c - asynchronous reverse DNS (see resolve.h). The cache and the rate limit
 * belong to the main thread; the request and answer rings are shared with the worker
 * under `lock`. At most RESOLVE_QUEUE_MAX lookups are in flight (queued, running or
 * answered but not collected), so neither ring can overflow. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmap.h"
#include "resolve.h"
#include "wire.h"

enum resolve_state {
	RESOLVE_PENDING = 0,
	RESOLVE_OK,
	RESOLVE_FAILED,
};

struct resolve_entry {
	uint64_t expires_ns; /* monotonic clock; pending entries never expire */
	uint8_t state;	     /* enum resolve_state */
	char name[WIRE_NAME_MAX + 1];
};

struct resolve_job {
	uint8_t addr[16];
	uint8_t ip_version;
	bool ok;
	char name[WIRE_NAME_MAX + 1];
};

struct resolve {
	struct kvmap *cache; /* main thread: addr -> struct resolve_entry */
	unsigned int rate;
	uint64_t window_ns; /* start of the current one-second window */
	unsigned int in_window;
	unsigned int inflight;	    /* main thread */
	struct resolve_stats stats; /* main thread, but lookups: under lock */
	int efd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;				     /* under lock */
	struct resolve_job queue[RESOLVE_QUEUE_MAX]; /* under lock: requests */
	size_t qhead;
	size_t qlen;
	struct resolve_job done[RESOLVE_QUEUE_MAX]; /* under lock: answers */
	size_t ndone;
	uint64_t lookups; /* under lock */
};

static void resolve_one(struct resolve_job *j)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (j->ip_version == 4) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, j->addr + 12, 4);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, j->addr, 16);
		sl = sizeof(*a);
	}
	j->ok = getnameinfo((struct sockaddr *)&ss, sl, j->name, sizeof(j->name), NULL, 0,
			    NI_NAMEREQD) == 0;
	if (!j->ok)
		j->name[0] = '\0';
}

static void *resolve_worker(void *arg)
{
	struct resolve *r = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct resolve_job j;

		while (!r->stop && r->qlen == 0)
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop)
			break;
		j = r->queue[r->qhead];
		r->qhead = (r->qhead + 1) % RESOLVE_QUEUE_MAX;
		r->qlen--;
		r->lookups++;
		pthread_mutex_unlock(&r->lock);

		resolve_one(&j);

		pthread_mutex_lock(&r->lock);
		r->done[r->ndone++] = j; /* cannot overflow: see the top of the file */
		if (write(r->efd, &one, sizeof(one)) < 0) {
			/* Saturated counter: the main thread collects anyway. */
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct resolve *resolve_new(size_t max_names, unsigned int rate)
{
	struct resolve *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return NULL;
	r->rate = rate ? rate : 1;
	r->efd = -1;
	r->cache = kvmap_new(16, sizeof(struct resolve_entry), max_names);
	if (!r->cache)
		goto fail;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0)
		goto fail;
	err = pthread_mutex_init(&r->lock, NULL);
	if (!err)
		err = pthread_cond_init(&r->cond, NULL);
	if (!err)
		err = pthread_create(&r->thread, NULL, resolve_worker, r);
	if (err) {
		errno = err;
		goto fail;
	}
	r->started = true;
	return r;
fail:
	err = errno;
	if (r->efd >= 0)
		close(r->efd);
	kvmap_free(r->cache);
	free(r);
	errno = err;
	return NULL;
}

void resolve_free(struct resolve *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
	}
	close(r->efd);
	kvmap_free(r->cache);
	free(r);
}

int resolve_fd(const struct resolve *r)
{
	return r->efd;
}

void resolve_collect(struct resolve *r, uint64_t now_ns)
{
	struct resolve_job done[RESOLVE_QUEUE_MAX];
	uint64_t v;
	size_t n;

	if (read(r->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing new. */
	}
	pthread_mutex_lock(&r->lock);
	n = r->ndone;
	memcpy(done, r->done, n * sizeof(done[0]));
	r->ndone = 0;
	r->stats.lookups = r->lookups;
	pthread_mutex_unlock(&r->lock);

	for (size_t i = 0; i < n; i++) {
		struct resolve_entry *e = kvmap_get(r->cache, done[i].addr);

		r->inflight--;
		if (!e)
			continue;
		if (done[i].ok) {
			e->state = RESOLVE_OK;
			snprintf(e->name, sizeof(e->name), "%s", done[i].name);
			e->expires_ns = now_ns + RESOLVE_POSITIVE_TTL_S * 1000000000ull;
			r->stats.resolved++;
		} else {
			e->state = RESOLVE_FAILED;
			e->name[0] = '\0';
			e->expires_ns = now_ns + RESOLVE_NEGATIVE_TTL_S * 1000000000ull;
			r->stats.failed++;
		}
	}
}

const char *resolve_lookup(struct resolve *r, const uint8_t addr[16], uint8_t ip_version,
			   uint64_t now_ns)
{
	struct resolve_entry *e = kvmap_get(r->cache, addr);
	struct resolve_job *j;
	bool created;

	/* A name being refreshed is still shown (pending entries keep the old one). */
	if (e && (e->state == RESOLVE_PENDING || e->expires_ns > now_ns))
		return e->name[0] ? e->name : NULL;
	/* Unknown or expired: ask, within the limits. */
	if (now_ns - r->window_ns >= 1000000000ull) {
		r->window_ns = now_ns;
		r->in_window = 0;
	}
	if (r->in_window >= r->rate || r->inflight >= RESOLVE_QUEUE_MAX) {
		r->stats.dropped++;
		return e && e->name[0] ? e->name : NULL;
	}
	e = kvmap_put(r->cache, addr, &created);
	if (!e) {
		r->stats.dropped++;
		return NULL;
	}
	e->state = RESOLVE_PENDING;
	r->in_window++;
	r->inflight++;
	pthread_mutex_lock(&r->lock);
	j = &r->queue[(r->qhead + r->qlen) % RESOLVE_QUEUE_MAX];
	memset(j, 0, sizeof(*j));
	memcpy(j->addr, addr, 16);
	j->ip_version = ip_version;
	r->qlen++;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

void resolve_get_stats(const struct resolve *r, struct resolve_stats *out)
{
	*out = r->stats;
}
