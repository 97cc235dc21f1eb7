/* test_transport.c - the nng adapter over real TCP sockets on 127.0.0.1: request/reply
 * with replies from another thread, -EBUSY, a client started before its server, timeouts,
 * a server restarted under a request in flight (nng resends it on reconnect), oversize
 * requests, reply after server free, client free with requests in flight, URL errors,
 * and failover between two servers when one stops answering (or never handshakes).
 * Nothing asserts on timing but the failover runs' bound (FO_BOUND_MS, far above what
 * they take): waits are "eventually, within WAIT_MS". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/transport.h"
#include "tests/unit/check.h"

#define WAIT_MS	     20000
#define NTOKENS	     100
#define MAX_HELD     64
#define MAX_PAYLOAD  8192
#define LONG_TIMEOUT 20000

/* ---- helpers ---- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* A port nobody listens on right now: bind port 0, read it back, close. */
static unsigned free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	if (fd < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void make_url(char *buf, size_t len, unsigned port)
{
	snprintf(buf, len, "tcp://127.0.0.1:%u", port);
}

/* Polls cond(arg) every 10 ms for up to WAIT_MS. */
static bool eventually(bool (*cond)(void *), void *arg)
{
	for (int i = 0; i < WAIT_MS / 10; i++) {
		if (cond(arg))
			return true;
		sleep_ms(10);
	}
	return cond(arg);
}

/* ---- the server side: records requests, replies inline, later or from a thread ---- */

enum srv_mode {
	SRV_HOLD,   /* keep requests until the test releases them */
	SRV_INLINE, /* reply from inside on_request */
	SRV_THREAD, /* a replier thread replies after a short delay */
};

struct held {
	struct transport_request *req;
	size_t len;
	uint8_t buf[MAX_PAYLOAD];
};

struct srv {
	enum srv_mode mode;
	const char *prefix; /* replies are prefix + request */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct held held[MAX_HELD];
	size_t nheld;
	unsigned requests; /* on_request calls */
	size_t last_len;
	bool stop;
	pthread_t thread;
	bool thread_started;
	unsigned replied;
	unsigned reply_errors;
};

static int srv_reply(struct srv *sv, struct held *h)
{
	uint8_t out[MAX_PAYLOAD + 16];
	size_t plen = strlen(sv->prefix);

	memcpy(out, sv->prefix, plen);
	memcpy(out + plen, h->buf, h->len);
	return transport_request_reply(h->req, out, plen + h->len);
}

static void srv_on_request(void *arg, struct transport_request *req, const uint8_t *buf, size_t len)
{
	struct srv *sv = arg;
	struct held h;

	h.req = req;
	h.len = len < MAX_PAYLOAD ? len : MAX_PAYLOAD;
	memcpy(h.buf, buf, h.len);
	pthread_mutex_lock(&sv->lock);
	sv->requests++;
	sv->last_len = len;
	if (sv->mode != SRV_INLINE) {
		if (sv->nheld < MAX_HELD)
			sv->held[sv->nheld++] = h;
		pthread_cond_broadcast(&sv->cond);
		pthread_mutex_unlock(&sv->lock);
		return;
	}
	pthread_mutex_unlock(&sv->lock);
	if (srv_reply(sv, &h) != 0) {
		pthread_mutex_lock(&sv->lock);
		sv->reply_errors++;
		pthread_mutex_unlock(&sv->lock);
	}
}

static void *srv_thread(void *arg)
{
	struct srv *sv = arg;
	unsigned n = 0;

	pthread_mutex_lock(&sv->lock);
	for (;;) {
		struct held h;
		int rc;

		while (!sv->stop && sv->nheld == 0)
			pthread_cond_wait(&sv->cond, &sv->lock);
		if (sv->nheld == 0)
			break;
		h = sv->held[0];
		memmove(&sv->held[0], &sv->held[1], --sv->nheld * sizeof(sv->held[0]));
		pthread_mutex_unlock(&sv->lock);
		sleep_ms(1 + n++ % 5); /* "after a delay": replies complete out of order */
		rc = srv_reply(sv, &h);
		pthread_mutex_lock(&sv->lock);
		if (rc == 0)
			sv->replied++;
		else
			sv->reply_errors++;
	}
	pthread_mutex_unlock(&sv->lock);
	return NULL;
}

static void srv_init(struct srv *sv, enum srv_mode mode, const char *prefix)
{
	memset(sv, 0, sizeof(*sv));
	sv->mode = mode;
	sv->prefix = prefix;
	pthread_mutex_init(&sv->lock, NULL);
	pthread_cond_init(&sv->cond, NULL);
	if (mode == SRV_THREAD)
		sv->thread_started = pthread_create(&sv->thread, NULL, srv_thread, sv) == 0;
}

/* Replies to every held request; returns how many replies returned want. */
static unsigned srv_release(struct srv *sv, int want)
{
	unsigned ok = 0;

	pthread_mutex_lock(&sv->lock);
	while (sv->nheld) {
		struct held h = sv->held[--sv->nheld];

		pthread_mutex_unlock(&sv->lock);
		ok += srv_reply(sv, &h) == want;
		pthread_mutex_lock(&sv->lock);
	}
	pthread_mutex_unlock(&sv->lock);
	return ok;
}

static void srv_fini(struct srv *sv)
{
	if (sv->thread_started) {
		pthread_mutex_lock(&sv->lock);
		sv->stop = true;
		pthread_cond_broadcast(&sv->cond);
		pthread_mutex_unlock(&sv->lock);
		pthread_join(sv->thread, NULL);
	}
	pthread_cond_destroy(&sv->cond);
	pthread_mutex_destroy(&sv->lock);
}

static bool srv_has_requests(struct srv *sv, unsigned n)
{
	bool ok;

	pthread_mutex_lock(&sv->lock);
	ok = sv->requests >= n;
	pthread_mutex_unlock(&sv->lock);
	return ok;
}

static bool srv_has_one(void *arg)
{
	return srv_has_requests(arg, 1);
}

static bool srv_has_four(void *arg)
{
	return srv_has_requests(arg, 4);
}

static bool srv_has_five(void *arg)
{
	return srv_has_requests(arg, 5);
}

static bool srv_replied_all(void *arg)
{
	struct srv *sv = arg;
	bool ok;

	pthread_mutex_lock(&sv->lock);
	ok = sv->replied + sv->reply_errors >= NTOKENS;
	pthread_mutex_unlock(&sv->lock);
	return ok;
}

static struct transport_server *srv_start(struct srv *sv, const char *url, unsigned workers,
					  size_t max_msg)
{
	char *urls[] = {(char *)url};
	char err[256] = "";
	struct transport_server *s =
	    transport_server_new(urls, 1, workers, max_msg, srv_on_request, sv, err, sizeof(err));

	if (!s)
		fprintf(stderr, "server on %s: %s\n", url, err);
	return s;
}

/* ---- the client side: records every callback ---- */

struct cli {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const char *prefix; /* expected reply = prefix + request */
	unsigned calls[NTOKENS];
	int err[NTOKENS];
	bool content_ok[NTOKENS];
	unsigned total;
	unsigned bad_token;
	struct transport_client *client;
};

static void payload(uint64_t token, char *buf, size_t len)
{
	snprintf(buf, len, "request-%03llu", (unsigned long long)token);
}

static void cli_on_reply(void *arg, uint64_t token, int err, const uint8_t *buf, size_t len)
{
	struct cli *cl = arg;
	char want[64], req[32];

	pthread_mutex_lock(&cl->lock);
	if (token >= NTOKENS) {
		cl->bad_token++;
	} else {
		payload(token, req, sizeof(req));
		snprintf(want, sizeof(want), "%s%s", cl->prefix, req);
		cl->calls[token]++;
		cl->err[token] = err;
		cl->content_ok[token] =
		    err == 0 && len == strlen(want) && memcmp(buf, want, len) == 0;
	}
	cl->total++;
	pthread_cond_broadcast(&cl->cond);
	pthread_mutex_unlock(&cl->lock);
}

static void cli_init(struct cli *cl, const char *prefix)
{
	memset(cl, 0, sizeof(*cl));
	cl->prefix = prefix;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_cond_init(&cl->cond, NULL);
}

static void cli_fini(struct cli *cl)
{
	pthread_cond_destroy(&cl->cond);
	pthread_mutex_destroy(&cl->lock);
}

/* Waits until total callbacks >= n; false after WAIT_MS. */
static bool cli_wait_total(struct cli *cl, unsigned n)
{
	struct timespec ts;
	int rc = 0;
	bool ok;

	deadline_in(&ts, WAIT_MS);
	pthread_mutex_lock(&cl->lock);
	while (cl->total < n && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&cl->cond, &cl->lock, &ts);
	ok = cl->total >= n;
	pthread_mutex_unlock(&cl->lock);
	return ok;
}

static struct transport_client *cli_start(struct cli *cl, const char *url, unsigned inflight,
					  uint32_t timeout_ms)
{
	char *urls[] = {(char *)url};
	char err[256] = "";
	struct transport_client *c =
	    transport_client_new(urls, 1, inflight, timeout_ms, cli_on_reply, cl, err, sizeof(err));

	if (!c)
		fprintf(stderr, "client to %s: %s\n", url, err);
	cl->client = c;
	return c;
}

static int cli_send(struct cli *cl, uint64_t token)
{
	char buf[32];

	payload(token, buf, sizeof(buf));
	return transport_client_send(cl->client, token, (const uint8_t *)buf, strlen(buf));
}

static bool cli_connected(void *arg)
{
	return transport_client_connected(arg);
}

static bool cli_idle(void *arg)
{
	return transport_client_busy(arg) == 0;
}

static bool server_has_peer(void *arg)
{
	return transport_server_peers(arg) == 1;
}

static bool server_has_no_peer(void *arg)
{
	return transport_server_peers(arg) == 0;
}

/* ---- tests ---- */

/* 100 requests through 4 contexts to 8 workers replying from a thread: every token gets
 * exactly one reply, with its own content. */
static void test_many_requests_each_answered_once(void)
{
	char url[64];
	struct srv sv;
	struct cli cl;
	struct transport_server *s;
	struct transport_client *c;
	unsigned busy_seen = 0, once = 0, right = 0;

	make_url(url, sizeof(url), free_port());
	srv_init(&sv, SRV_THREAD, "ack:");
	cli_init(&cl, "ack:");
	s = srv_start(&sv, url, 8, 4096);
	c = cli_start(&cl, url, 4, LONG_TIMEOUT);
	CHECK(s != NULL);
	CHECK(c != NULL);
	if (!s || !c)
		goto out;
	CHECK(eventually(cli_connected, c));
	CHECK(eventually(server_has_peer, s));
	for (uint64_t t = 0; t < NTOKENS; t++) {
		int rc;

		for (int tries = 0; (rc = cli_send(&cl, t)) == -EBUSY && tries < WAIT_MS; tries++) {
			busy_seen++;
			sleep_ms(1); /* a context frees up once its callback has returned */
		}
		CHECK_EQ_INT(rc, 0);
		CHECK(transport_client_busy(c) <= 4);
	}
	CHECK(cli_wait_total(&cl, NTOKENS));
	for (unsigned t = 0; t < NTOKENS; t++) {
		once += cl.calls[t] == 1;
		right += cl.content_ok[t];
	}
	CHECK_EQ_INT(once, NTOKENS);
	CHECK_EQ_INT(right, NTOKENS);
	CHECK_EQ_INT(cl.bad_token, 0);
	CHECK(busy_seen > 0); /* 4 contexts for 100 requests: the sender did wait */
	CHECK(eventually(cli_idle, c));
	/* The replier counts after transport_request_reply() returns, maybe after the client
	 * has the reply. */
	CHECK(eventually(srv_replied_all, &sv));
	pthread_mutex_lock(&sv.lock);
	CHECK_EQ_INT(sv.requests, NTOKENS);
	CHECK_EQ_INT(sv.replied, NTOKENS);
	CHECK_EQ_INT(sv.reply_errors, 0);
	pthread_mutex_unlock(&sv.lock);
out:
	transport_client_free(c);
	transport_server_free(s);
	srv_fini(&sv);
	CHECK_EQ_INT(cl.total, NTOKENS); /* free added no callback */
	cli_fini(&cl);
}

/* All contexts busy -> -EBUSY; they free up once the replies come. */
static void test_busy_when_all_contexts_in_use(void)
{
	char url[64];
	struct srv sv;
	struct cli cl;
	struct transport_server *s;
	struct transport_client *c;

	make_url(url, sizeof(url), free_port());
	srv_init(&sv, SRV_HOLD, "ok:");
	cli_init(&cl, "ok:");
	s = srv_start(&sv, url, 8, 4096);
	c = cli_start(&cl, url, 4, LONG_TIMEOUT);
	CHECK(s != NULL && c != NULL);
	if (!s || !c)
		goto out;
	for (uint64_t t = 0; t < 4; t++)
		CHECK_EQ_INT(cli_send(&cl, t), 0);
	CHECK_EQ_INT(transport_client_busy(c), 4);
	CHECK_EQ_INT(cli_send(&cl, 4), -EBUSY);
	CHECK(eventually(srv_has_four, &sv));
	CHECK_EQ_INT(cli_send(&cl, 5), -EBUSY);
	CHECK_EQ_INT(srv_release(&sv, 0), 4);
	CHECK(cli_wait_total(&cl, 4));
	CHECK(eventually(cli_idle, c));
	for (unsigned t = 0; t < 4; t++) {
		CHECK_EQ_INT(cl.calls[t], 1);
		CHECK(cl.content_ok[t]);
	}
	CHECK_EQ_INT(cl.calls[4] + cl.calls[5], 0);
	CHECK_EQ_INT(cli_send(&cl, 6), 0);
	CHECK(eventually(srv_has_five, &sv));
	CHECK_EQ_INT(srv_release(&sv, 0), 1);
	CHECK(cli_wait_total(&cl, 5));
	CHECK(cl.content_ok[6]);
out:
	transport_client_free(c);
	transport_server_free(s);
	srv_fini(&sv);
	cli_fini(&cl);
}

/* The client starts first; its request waits, then completes once the server is up. */
static void test_client_before_server_connects_later(void)
{
	char url[64];
	struct srv sv;
	struct cli cl;
	struct transport_server *s = NULL;
	struct transport_client *c;

	make_url(url, sizeof(url), free_port());
	srv_init(&sv, SRV_INLINE, "late:");
	cli_init(&cl, "late:");
	c = cli_start(&cl, url, 2, LONG_TIMEOUT);
	CHECK(c != NULL);
	if (!c)
		goto out;
	CHECK(!transport_client_connected(c));
	CHECK_EQ_INT(cli_send(&cl, 7), 0);
	sleep_ms(300); /* a few failed dials */
	CHECK(!transport_client_connected(c));
	CHECK_EQ_INT(cl.total, 0);
	s = srv_start(&sv, url, 2, 4096);
	CHECK(s != NULL);
	if (!s)
		goto out;
	CHECK(eventually(cli_connected, c));
	CHECK(cli_wait_total(&cl, 1));
	CHECK_EQ_INT(cl.calls[7], 1);
	CHECK_EQ_INT(cl.err[7], 0);
	CHECK(cl.content_ok[7]);
	CHECK(eventually(cli_idle, c));
	/* Without a server the client says so. */
	transport_server_free(s);
	s = NULL;
	for (int i = 0; i < WAIT_MS / 10 && transport_client_connected(c); i++)
		sleep_ms(10);
	CHECK(!transport_client_connected(c));
out:
	transport_client_free(c);
	transport_server_free(s);
	srv_fini(&sv);
	cli_fini(&cl);
}

/* A server that never replies: -ETIMEDOUT, once; a reply after the timeout is ignored. */
static void test_no_reply_times_out(void)
{
	char url[64];
	struct srv sv;
	struct cli cl;
	struct transport_server *s;
	struct transport_client *c;

	make_url(url, sizeof(url), free_port());
	srv_init(&sv, SRV_HOLD, "x:");
	cli_init(&cl, "x:");
	s = srv_start(&sv, url, 2, 4096);
	c = cli_start(&cl, url, 2, 300);
	CHECK(s != NULL && c != NULL);
	if (!s || !c)
		goto out;
	CHECK(eventually(cli_connected, c));
	CHECK_EQ_INT(cli_send(&cl, 1), 0);
	CHECK(cli_wait_total(&cl, 1));
	CHECK_EQ_INT(cl.calls[1], 1);
	CHECK_EQ_INT(cl.err[1], -ETIMEDOUT);
	CHECK(eventually(cli_idle, c));
	/* The late reply goes out fine and the client drops it: no second callback. */
	CHECK(srv_has_requests(&sv, 1));
	CHECK_EQ_INT(srv_release(&sv, 0), 1);
	sleep_ms(200);
	CHECK_EQ_INT(cl.total, 1);
	/* Nobody listening at all: the send itself times out. */
	transport_server_free(s);
	s = NULL;
	for (int i = 0; i < WAIT_MS / 10 && transport_client_connected(c); i++)
		sleep_ms(10);
	CHECK_EQ_INT(cli_send(&cl, 2), 0);
	CHECK(cli_wait_total(&cl, 2));
	CHECK_EQ_INT(cl.err[2], -ETIMEDOUT);
out:
	transport_client_free(c);
	transport_server_free(s);
	srv_fini(&sv);
	cli_fini(&cl);
}

/* The server dies with the request in flight (received, not replied): the request fails
 * with -ECONNRESET (nng's resend is off), the dead server's pending request can still be
 * replied to (-ECANCELED, nothing sent), and the caller's resend reaches the server
 * restarted on the same URL. */
static void test_server_restart_request_fails_then_resend_works(void)
{
	char url[64];
	struct srv a, b;
	struct cli cl;
	struct transport_server *sa, *sb = NULL;
	struct transport_client *c;

	make_url(url, sizeof(url), free_port());
	srv_init(&a, SRV_HOLD, "A:");
	srv_init(&b, SRV_INLINE, "B:");
	cli_init(&cl, "B:");
	sa = srv_start(&a, url, 2, 4096);
	c = cli_start(&cl, url, 2, LONG_TIMEOUT);
	CHECK(sa != NULL && c != NULL);
	if (!sa || !c)
		goto out;
	CHECK(eventually(cli_connected, c));
	CHECK_EQ_INT(cli_send(&cl, 3), 0);
	CHECK(eventually(srv_has_one, &a));
	sleep_ms(100); /* let the client get from "sent" to "waiting for the reply" */
	transport_server_free(sa);
	sa = NULL;
	CHECK_EQ_INT(srv_release(&a, -ECANCELED), 1); /* reply after free is safe */
	CHECK(cli_wait_total(&cl, 1));
	CHECK_EQ_INT(cl.calls[3], 1);
	CHECK_EQ_INT(cl.err[3], -ECONNRESET);
	CHECK(eventually(cli_idle, c));
	/* The caller resends while the server is down; it is served once it is back. */
	CHECK_EQ_INT(cli_send(&cl, 3), 0);
	sb = srv_start(&b, url, 2, 4096);
	CHECK(sb != NULL);
	if (!sb)
		goto out;
	CHECK(cli_wait_total(&cl, 2));
	CHECK_EQ_INT(cl.calls[3], 2);
	CHECK_EQ_INT(cl.err[3], 0);
	CHECK(cl.content_ok[3]);
	pthread_mutex_lock(&b.lock);
	CHECK_EQ_INT(b.requests, 1);
	pthread_mutex_unlock(&b.lock);
out:
	transport_client_free(c);
	transport_server_free(sa);
	transport_server_free(sb);
	srv_fini(&a);
	srv_fini(&b);
	CHECK_EQ_INT(cl.total, 2);
	cli_fini(&cl);
}

/* A request over max_msg never reaches on_request (nng drops it and the connection; the
 * client gets -ECONNRESET); a small one afterwards goes through. */
static void test_oversize_not_delivered(void)
{
	char url[64];
	static uint8_t big[4096];
	struct srv sv;
	struct cli cl;
	struct transport_server *s;
	struct transport_client *c;

	make_url(url, sizeof(url), free_port());
	memset(big, 'z', sizeof(big));
	srv_init(&sv, SRV_INLINE, "ok:");
	cli_init(&cl, "ok:");
	s = srv_start(&sv, url, 2, 1024);
	c = cli_start(&cl, url, 2, LONG_TIMEOUT);
	CHECK(s != NULL && c != NULL);
	if (!s || !c)
		goto out;
	CHECK(eventually(cli_connected, c));
	CHECK_EQ_INT(transport_client_send(c, 9, big, sizeof(big)), 0);
	CHECK(cli_wait_total(&cl, 1));
	CHECK_EQ_INT(cl.err[9], -ECONNRESET);
	CHECK(!srv_has_requests(&sv, 1));
	/* The client redials; a request within the limit is served. */
	CHECK(eventually(cli_connected, c));
	CHECK(eventually(cli_idle, c));
	CHECK_EQ_INT(cli_send(&cl, 10), 0);
	CHECK(cli_wait_total(&cl, 2));
	CHECK_EQ_INT(cl.err[10], 0);
	CHECK(cl.content_ok[10]);
	pthread_mutex_lock(&sv.lock);
	CHECK_EQ_INT(sv.requests, 1);
	CHECK_EQ_U64(sv.last_len, strlen("request-010"));
	pthread_mutex_unlock(&sv.lock);
out:
	transport_client_free(c);
	transport_server_free(s);
	srv_fini(&sv);
	cli_fini(&cl);
}

/* Client freed with requests in flight: each gets -ECANCELED before free returns. The
 * server freed with requests pending: replying to them afterwards returns -ECANCELED. */
static void test_free_with_requests_in_flight(void)
{
	char url[64];
	struct srv sv;
	struct cli cl;
	struct transport_server *s;
	struct transport_client *c;

	make_url(url, sizeof(url), free_port());
	srv_init(&sv, SRV_HOLD, "h:");
	cli_init(&cl, "h:");
	s = srv_start(&sv, url, 4, 4096);
	c = cli_start(&cl, url, 4, LONG_TIMEOUT);
	CHECK(s != NULL && c != NULL);
	if (!s || !c)
		goto out;
	CHECK(eventually(server_has_peer, s));
	for (uint64_t t = 0; t < 4; t++)
		CHECK_EQ_INT(cli_send(&cl, t), 0);
	CHECK(eventually(srv_has_four, &sv));
	transport_client_free(c);
	c = NULL;
	CHECK(eventually(server_has_no_peer, s));
	CHECK_EQ_INT(cl.total, 4);
	for (unsigned t = 0; t < 4; t++) {
		CHECK_EQ_INT(cl.calls[t], 1);
		CHECK_EQ_INT(cl.err[t], -ECANCELED);
	}
	transport_server_free(s);
	s = NULL;
	CHECK_EQ_INT(srv_release(&sv, -ECANCELED), 4);
out:
	transport_client_free(c);
	transport_server_free(s);
	srv_fini(&sv);
	cli_fini(&cl);
}

/* A request not yet sent (no server) is cancelled by free too. */
static void test_free_while_unconnected(void)
{
	char url[64];
	struct cli cl;
	struct transport_client *c;

	make_url(url, sizeof(url), free_port());
	cli_init(&cl, "");
	c = cli_start(&cl, url, 2, LONG_TIMEOUT);
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(cli_send(&cl, 0), 0);
		CHECK_EQ_INT(cli_send(&cl, 1), 0);
		CHECK_EQ_INT(cli_send(&cl, 2), -EBUSY);
		transport_client_free(c);
		CHECK_EQ_INT(cl.total, 2);
		CHECK_EQ_INT(cl.err[0], -ECANCELED);
		CHECK_EQ_INT(cl.err[1], -ECANCELED);
	}
	cli_fini(&cl);
}

static bool cb_never_called;

static void on_request_unused(void *arg, struct transport_request *req, const uint8_t *buf,
			      size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	cb_never_called = false;
	if (transport_request_reply(req, NULL, 0) != 0)
		cb_never_called = false;
}

static void on_reply_unused(void *arg, uint64_t token, int err, const uint8_t *buf, size_t len)
{
	(void)arg;
	(void)token;
	(void)err;
	(void)buf;
	(void)len;
	cb_never_called = false;
}

/* Listening on a port someone else listens on names the URL and says why. */
static void test_listen_busy_port_names_url(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	char url[64], err[256] = "";
	char *urls[] = {url};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct transport_server *s;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	CHECK_EQ_INT(listen(fd, 4), 0);
	make_url(url, sizeof(url), ntohs(a.sin_port));
	errno = 0;
	s = transport_server_new(urls, 1, 2, 4096, on_request_unused, NULL, err, sizeof(err));
	CHECK(s == NULL);
	CHECK_EQ_INT(errno, EADDRINUSE);
	CHECK_CONTAINS(err, url);
	CHECK_CONTAINS(err, "in use");
	transport_server_free(s);
	close(fd);
}

/* Malformed and unsupported URLs are refused up front, naming the URL. */
static void test_bad_urls_refused(void)
{
	static const char *const bad[] = {
	    "tcp://127.0.0.1",	     "tcp://127.0.0.1:notaport",
	    "tcp://127.0.0.1:70000", "tcp://127.0.0.1:0",
	    "tcp//127.0.0.1:7400",   "http://127.0.0.1:7400",
	    "tls+tcp://host:7400",   "",
	    "tcp://::1:7400",
	};
	unsigned refused_s = 0, refused_c = 0, named = 0;

	cb_never_called = true;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *urls[] = {(char *)bad[i]};
		char err[256] = "";
		struct transport_server *s;
		struct transport_client *c;

		s = transport_server_new(urls, 1, 1, 1024, on_request_unused, NULL, err,
					 sizeof(err));
		refused_s += s == NULL && (errno == EINVAL || errno == ENOTSUP);
		named += bad[i][0] == '\0' || strstr(err, bad[i]) != NULL;
		if (!*bad[i])
			CHECK_CONTAINS(err, "empty URL");
		transport_server_free(s);
		err[0] = '\0';
		c = transport_client_new(urls, 1, 1, 1000, on_reply_unused, NULL, err, sizeof(err));
		refused_c += c == NULL && (errno == EINVAL || errno == ENOTSUP);
		named += bad[i][0] == '\0' || strstr(err, bad[i]) != NULL;
		transport_client_free(c);
	}
	CHECK_EQ_INT(refused_s, sizeof(bad) / sizeof(bad[0]));
	CHECK_EQ_INT(refused_c, sizeof(bad) / sizeof(bad[0]));
	CHECK_EQ_INT(named, 2 * sizeof(bad) / sizeof(bad[0]));
	{
		char *urls[] = {"tcp://127.0.0.1:notaport"};
		char err[256] = "";

		CHECK(transport_server_new(urls, 1, 1, 1024, on_request_unused, NULL, err,
					   sizeof(err)) == NULL);
		CHECK_EQ_STR(err, "tcp://127.0.0.1:notaport: malformed URL, port must be 1..65535");
	}
	/* Dialing needs a host; listening does not. */
	{
		char *urls[] = {"tcp://:7400"};
		char err[256] = "";

		CHECK(transport_client_new(urls, 1, 1, 1000, on_reply_unused, NULL, err,
					   sizeof(err)) == NULL);
		CHECK_CONTAINS(err, "no host");
	}
	/* Bounds. */
	{
		char url[64], err[256] = "";
		char *urls[] = {url};

		make_url(url, sizeof(url), free_port());
		CHECK(transport_client_new(urls, 1, 0, 1000, on_reply_unused, NULL, err,
					   sizeof(err)) == NULL);
		CHECK_EQ_INT(errno, EINVAL);
		CHECK(transport_client_new(urls, 1, 1, 0, on_reply_unused, NULL, err,
					   sizeof(err)) == NULL);
		CHECK(transport_client_new(urls, 0, 1, 1000, on_reply_unused, NULL, err,
					   sizeof(err)) == NULL);
		CHECK(transport_server_new(urls, 1, 0, 1024, on_request_unused, NULL, err,
					   sizeof(err)) == NULL);
		CHECK(transport_server_new(urls, 1, 1, 0, on_request_unused, NULL, err,
					   sizeof(err)) == NULL);
		CHECK_EQ_INT(errno, EINVAL);
	}
	CHECK(cb_never_called);
}

/* ---- TLS (tls+tcp://) ---- */

/* Makes two CAs with certificates under dir (scripts/make-test-ca.sh): a/ and b/. */
static bool tls_make_certs(const char *dir)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "command -v openssl >/dev/null && "
		 "sh %s/scripts/make-test-ca.sh %s/a --collector-name 127.0.0.1 --node n1 "
		 ">/dev/null && "
		 "sh %s/scripts/make-test-ca.sh %s/b --collector-name 127.0.0.1 --node n1 "
		 ">/dev/null && printf 'not a certificate\n' >%s/bad.pem",
		 AYAFLOW_SOURCE_DIR, dir, AYAFLOW_SOURCE_DIR, dir, dir);
	return system(cmd) == 0;
}

struct tls_files {
	char ca[256], cert[256], key[256];
	struct transport_tls tls;
};

static void tls_files(struct tls_files *f, const char *dir, const char *ca, const char *who)
{
	snprintf(f->ca, sizeof(f->ca), "%s/%s/ca.crt", dir, ca);
	snprintf(f->cert, sizeof(f->cert), "%s/%s.crt", dir, who);
	snprintf(f->key, sizeof(f->key), "%s/%s.key", dir, who);
	f->tls = (struct transport_tls){.ca_file = f->ca, .cert_file = f->cert, .key_file = f->key};
}

/* A client that must never get a connection to s: waits a while, then checks. */
static void tls_check_refused(const char *what, const char *url, const struct transport_tls *tls,
			      struct transport_server *s)
{
	char *urls[] = {(char *)url};
	char err[256] = "";
	struct transport_client *c;

	c = transport_client_new_tls(urls, 1, 1, 1000, tls, on_reply_unused, NULL, err,
				     sizeof(err));
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "%s: %s\n", what, err);
		return;
	}
	sleep_ms(1500); /* several dial attempts */
	if (transport_client_connected(c) || transport_server_peers(s) != 0)
		fprintf(stderr, "%s: connected, expected a refusal\n", what);
	CHECK(!transport_client_connected(c));
	CHECK_EQ_INT(transport_server_peers(s), 0);
	transport_client_free(c);
}

/* Mutual TLS: a client with a certificate of the server's CA gets every request
 * answered; a certificate of another CA, a wrong server name and plain tcp:// never
 * connect; missing, unreadable and invalid files fail _new naming the file. */
static void test_tls(void)
{
	char dir[] = "/tmp/test_transport_tls.XXXXXX", url[64], tcpurl[64], cmd[300];
	struct tls_files srvf, clif, otherf;
	char *urls[] = {url};
	struct transport_server *s = NULL;
	struct transport_client *c;
	struct srv sv;
	struct cli cl;
	char err[512];
	unsigned port, right = 0;

	if (!mkdtemp(dir)) {
		CHECK(false);
		return;
	}
	if (!tls_make_certs(dir)) {
		fprintf(stderr, "test_tls: cannot make certificates (openssl?): skipped\n");
		goto out_dir;
	}
	port = free_port();
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%u", port);
	make_url(tcpurl, sizeof(tcpurl), port);
	tls_files(&srvf, dir, "a", "a/collector");
	tls_files(&clif, dir, "a", "a/n1");
	tls_files(&otherf, dir, "b", "b/n1");

	/* Without TLS settings, a tls+tcp:// URL is refused. */
	err[0] = '\0';
	CHECK(transport_server_new(urls, 1, 1, 1024, on_request_unused, NULL, err, sizeof(err)) ==
	      NULL);
	CHECK_EQ_INT(errno, EINVAL);
	CHECK_CONTAINS(err, "needs a CA file");
	/* Unreadable and invalid files are named. */
	{
		struct tls_files f = srvf;

		f.tls.ca_file = "/nonexistent/ca.crt";
		CHECK(transport_server_new_tls(urls, 1, 1, 1024, &f.tls, on_request_unused, NULL,
					       err, sizeof(err)) == NULL);
		CHECK_CONTAINS(err, "/nonexistent/ca.crt");
		snprintf(f.ca, sizeof(f.ca), "%s/bad.pem", dir);
		f.tls.ca_file = f.ca;
		CHECK(transport_client_new_tls(urls, 1, 1, 1000, &f.tls, on_reply_unused, NULL, err,
					       sizeof(err)) == NULL);
		CHECK_CONTAINS(err, "bad.pem");
		f = srvf;
		f.tls.key_file = f.ca; /* a certificate, not a key */
		CHECK(transport_server_new_tls(urls, 1, 1, 1024, &f.tls, on_request_unused, NULL,
					       err, sizeof(err)) == NULL);
		CHECK_CONTAINS(err, "invalid");
	}

	srv_init(&sv, SRV_INLINE, "tls:");
	cli_init(&cl, "tls:");
	s = transport_server_new_tls(urls, 1, 4, 4096, &srvf.tls, srv_on_request, &sv, err,
				     sizeof(err));
	CHECK(s != NULL);
	if (!s) {
		fprintf(stderr, "tls server: %s\n", err);
		goto out;
	}
	/* The refused ones first, while the server has no peer. */
	tls_check_refused("client of another CA", url, &otherf.tls, s);
	{
		struct tls_files f = clif;

		f.tls.ca_file = otherf.ca; /* our certificate is fine, but we distrust the server */
		tls_check_refused("client trusting another CA", url, &f.tls, s);
		f = clif;
		f.tls.server_name = "wrong.example";
		tls_check_refused("client expecting another server name", url, &f.tls, s);
	}
	tls_check_refused("plain tcp:// client", tcpurl, NULL, s);

	c = transport_client_new_tls(urls, 1, 2, LONG_TIMEOUT, &clif.tls, cli_on_reply, &cl, err,
				     sizeof(err));
	cl.client = c;
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "tls client: %s\n", err);
		goto out;
	}
	CHECK(eventually(cli_connected, c));
	CHECK(eventually(server_has_peer, s));
	for (uint64_t t = 0; t < 10; t++) {
		int rc;

		for (int tries = 0; (rc = cli_send(&cl, t)) == -EBUSY && tries < WAIT_MS; tries++)
			sleep_ms(1);
		CHECK_EQ_INT(rc, 0);
	}
	CHECK(cli_wait_total(&cl, 10));
	for (unsigned t = 0; t < 10; t++)
		right += cl.calls[t] == 1 && cl.content_ok[t];
	CHECK_EQ_INT(right, 10);
	transport_client_free(c);
out:
	transport_server_free(s);
	srv_fini(&sv);
	cli_fini(&cl);
out_dir:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---- failover between two servers ---- */

#define FO_TOKENS   100
#define FO_INFLIGHT 4
#define FO_TIMEOUT  2000  /* ms: also the first hold of an abandoned server */
#define FO_BOUND_MS 10000 /* the run must finish within this */
#define FO_MAX_REQS 1024

/* A server that takes every request and never answers (a collector whose store hangs;
 * TRANSPORT_MAX_WORKERS contexts, so that every request that reaches it is seen). Its
 * requests are replied to (-ECANCELED) only after the server is freed. */
struct silent_srv {
	pthread_mutex_t lock;
	struct transport_request *reqs[FO_MAX_REQS];
	unsigned n;
	unsigned overflow;
};

static void silent_on_request(void *arg, struct transport_request *req, const uint8_t *buf,
			      size_t len)
{
	struct silent_srv *sv = arg;

	(void)buf;
	(void)len;
	pthread_mutex_lock(&sv->lock);
	if (sv->n < FO_MAX_REQS)
		sv->reqs[sv->n++] = req;
	else
		sv->overflow++;
	pthread_mutex_unlock(&sv->lock);
}

static unsigned silent_count(struct silent_srv *sv)
{
	unsigned n;

	pthread_mutex_lock(&sv->lock);
	n = sv->n;
	pthread_mutex_unlock(&sv->lock);
	return n;
}

/* After transport_server_free(): every held request is released (-ECANCELED). */
static unsigned silent_release(struct silent_srv *sv)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < sv->n; i++)
		ok += transport_request_reply(sv->reqs[i], NULL, 0) == -ECANCELED;
	return ok;
}

/* The answering server: replies inline with "A:" + the request and counts each token. */
struct count_srv {
	pthread_mutex_t lock;
	const char *prefix;
	unsigned per_token[FO_TOKENS];
	unsigned requests;
	unsigned bad;
	unsigned reply_errors;
	bool hold_first;		 /* keep the first request until the test replies */
	struct transport_request *first; /* that request */
	uint64_t first_token;
	unsigned delay_ms; /* before each inline reply */
};

static void count_on_request(void *arg, struct transport_request *req, const uint8_t *buf,
			     size_t len)
{
	struct count_srv *sv = arg;
	char txt[32], out[64];
	unsigned long long token;
	bool hold = false;
	int n;

	n = snprintf(txt, sizeof(txt), "%.*s", (int)(len < 31 ? len : 31), (const char *)buf);
	pthread_mutex_lock(&sv->lock);
	sv->requests++;
	if (n > 0 && sscanf(txt, "request-%llu", &token) == 1 && token < FO_TOKENS)
		sv->per_token[token]++;
	else
		sv->bad++;
	if (sv->hold_first && !sv->first) {
		sv->first = req;
		sv->first_token = token;
		hold = true;
	}
	pthread_mutex_unlock(&sv->lock);
	if (hold)
		return;
	if (sv->delay_ms)
		sleep_ms(sv->delay_ms);
	n = snprintf(out, sizeof(out), "%s%s", sv->prefix, txt);
	if (transport_request_reply(req, (const uint8_t *)out, (size_t)n) != 0) {
		pthread_mutex_lock(&sv->lock);
		sv->reply_errors++;
		pthread_mutex_unlock(&sv->lock);
	}
}

/* The client side of a failover run: sends FO_TOKENS requests through FO_INFLIGHT
 * contexts and resends each failed one (as node/export.c resends from its spool). */
struct fo_run {
	pthread_mutex_t lock;
	struct transport_client *client;
	struct silent_srv *silent; /* NULL: none */
	uint64_t queue[FO_TOKENS * 64];
	size_t qhead, qlen;
	unsigned acked[FO_TOKENS];
	unsigned acked_total;
	unsigned wrong_reply;
	unsigned timeouts, resets, other_errors;
	bool timed_out;		    /* a request timed out */
	unsigned silent_at_timeout; /* the silent server's requests at the first timeout */
	const char *prefix;	    /* every reply must carry it */
};

static void fo_push(struct fo_run *r, uint64_t token)
{
	if (r->qlen < sizeof(r->queue) / sizeof(r->queue[0]))
		r->queue[(r->qhead + r->qlen++) % (sizeof(r->queue) / sizeof(r->queue[0]))] = token;
}

static void fo_on_reply(void *arg, uint64_t token, int err, const uint8_t *buf, size_t len)
{
	struct fo_run *r = arg;
	char want[64], req[32];

	pthread_mutex_lock(&r->lock);
	if (err == 0) {
		payload(token, req, sizeof(req));
		snprintf(want, sizeof(want), "%s%s", r->prefix, req);
		if (token >= FO_TOKENS || len != strlen(want) || memcmp(buf, want, len) != 0) {
			r->wrong_reply++;
		} else {
			r->acked[token]++;
			r->acked_total++;
		}
	} else {
		if (err == -ETIMEDOUT) {
			r->timeouts++;
			if (!r->timed_out && r->silent)
				r->silent_at_timeout = silent_count(r->silent);
			r->timed_out = true;
		} else if (err == -ECONNRESET) {
			r->resets++;
		} else {
			r->other_errors++;
		}
		fo_push(r, token);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Sends every token, resending on error, until all are acknowledged or bound_ms passes.
 * Returns the elapsed ms. */
static uint64_t fo_drive(struct fo_run *r, unsigned bound_ms)
{
	struct timespec t0, t1;
	uint64_t elapsed = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&r->lock);
	for (uint64_t t = 0; t < FO_TOKENS; t++)
		fo_push(r, t);
	while (r->acked_total < FO_TOKENS && elapsed < bound_ms) {
		uint64_t token;
		char buf[32];
		int rc;

		if (r->qlen == 0) {
			pthread_mutex_unlock(&r->lock);
			sleep_ms(1);
		} else {
			token = r->queue[r->qhead];
			r->qhead = (r->qhead + 1) % (sizeof(r->queue) / sizeof(r->queue[0]));
			r->qlen--;
			pthread_mutex_unlock(&r->lock);
			payload(token, buf, sizeof(buf));
			rc = transport_client_send(r->client, token, (const uint8_t *)buf,
						   strlen(buf));
			if (rc != 0) {
				CHECK_EQ_INT(rc, -EBUSY);
				pthread_mutex_lock(&r->lock);
				fo_push(r, token);
				pthread_mutex_unlock(&r->lock);
				sleep_ms(1);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		elapsed = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000 +
			  (uint64_t)((t1.tv_nsec - t0.tv_nsec) / 1000000);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return elapsed;
}

static bool fo_client_idle(void *arg)
{
	return transport_client_busy(arg) == 0;
}

static bool fo_silent_has_peer(void *arg)
{
	return transport_server_peers(arg) == 1;
}

/* Two servers; B takes requests and never answers (its connection stays up). Every request
 * is acknowledged exactly once, by A, within the bound, and after the first timeout B is
 * given at most FO_INFLIGHT more requests: the client closed B's connection and held its
 * URL off (one of each in the counters). Once the hold has passed, B is dialed again, and
 * the same happens once more. */
static void test_unanswering_server_abandoned_for_the_other(void)
{
	char url_a[64], url_b[64];
	char *urls[] = {url_b, url_a};
	char *url_a1[] = {url_a}, *url_b1[] = {url_b};
	struct silent_srv b = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct count_srv a = {.lock = PTHREAD_MUTEX_INITIALIZER, .prefix = "A:"};
	struct fo_run r = {.lock = PTHREAD_MUTEX_INITIALIZER, .silent = &b, .prefix = "A:"};
	struct transport_server *sa, *sb;
	struct transport_client_stats st;
	char err[256] = "";
	unsigned once = 0, a_seen = 0, b_total, after;
	unsigned before[FO_TOKENS];
	uint64_t ms;

	make_url(url_a, sizeof(url_a), free_port());
	make_url(url_b, sizeof(url_b), free_port());
	sa = transport_server_new(url_a1, 1, 16, 4096, count_on_request, &a, err, sizeof(err));
	sb = transport_server_new(url_b1, 1, TRANSPORT_MAX_WORKERS, 4096, silent_on_request, &b,
				  err, sizeof(err));
	r.client = transport_client_new(urls, 2, FO_INFLIGHT, FO_TIMEOUT, fo_on_reply, &r, err,
					sizeof(err));
	CHECK(sa != NULL && sb != NULL && r.client != NULL);
	if (!sa || !sb || !r.client) {
		fprintf(stderr, "failover setup: %s\n", err);
		goto out;
	}
	/* Both connected before the first request, so that B gets its share. */
	CHECK(eventually(server_has_peer, sa));
	CHECK(eventually(server_has_peer, sb));

	ms = fo_drive(&r, FO_BOUND_MS);
	CHECK(eventually(fo_client_idle, r.client));
	pthread_mutex_lock(&r.lock);
	b_total = silent_count(&b);
	after = r.timed_out ? b_total - r.silent_at_timeout : 0;
	for (unsigned t = 0; t < FO_TOKENS; t++) {
		once += r.acked[t] == 1;
		a_seen += a.per_token[t] >= 1;
	}
	fprintf(stderr,
		"failover: %u of %u acknowledged in %llu ms (bound %u ms); silent server got %u "
		"requests, %u after the first timeout; %u timeouts, %u resets\n",
		r.acked_total, FO_TOKENS, (unsigned long long)ms, FO_BOUND_MS, b_total, after,
		r.timeouts, r.resets);
	CHECK_EQ_INT(r.acked_total, FO_TOKENS);
	CHECK_EQ_INT(once, FO_TOKENS); /* none lost, none acknowledged twice */
	/* A saw each request; twice only where the client gave up on it (a reply slower than
	 * the timeout on a loaded machine) and resent it: at-least-once, as specified. */
	CHECK_EQ_INT(a_seen, FO_TOKENS);
	CHECK(a.requests >= FO_TOKENS && a.requests <= FO_TOKENS + r.timeouts + r.resets);
	CHECK_EQ_INT(a.bad + a.reply_errors, 0);
	CHECK_EQ_INT(r.wrong_reply + r.other_errors, 0);
	CHECK(r.timed_out); /* B did get requests, and they timed out */
	CHECK(after <= FO_INFLIGHT);
	pthread_mutex_unlock(&r.lock);
	transport_client_get_stats(r.client, &st);
	CHECK_EQ_U64(st.connections_closed, 1);
	CHECK_EQ_U64(st.holds, 1);
	/* The hold ends: B is connected again. A second round: B, still silent, gets at most
	 * FO_INFLIGHT requests (they are stuck until the first times out), then is closed and
	 * held off again; A answers everything once more. */
	CHECK(eventually(fo_silent_has_peer, sb));
	CHECK(transport_client_connected(r.client));
	pthread_mutex_lock(&r.lock);
	memset(r.acked, 0, sizeof(r.acked));
	r.acked_total = 0;
	r.timed_out = false;
	b_total = silent_count(&b);
	memcpy(before, a.per_token, sizeof(before));
	pthread_mutex_unlock(&r.lock);
	ms = fo_drive(&r, FO_BOUND_MS);
	CHECK(eventually(fo_client_idle, r.client));
	pthread_mutex_lock(&r.lock);
	once = a_seen = 0;
	for (unsigned t = 0; t < FO_TOKENS; t++) {
		once += r.acked[t] == 1;
		a_seen += a.per_token[t] > before[t];
	}
	fprintf(stderr,
		"failover, second round: %u of %u acknowledged in %llu ms; the silent server got "
		"%u more requests\n",
		r.acked_total, FO_TOKENS, (unsigned long long)ms, silent_count(&b) - b_total);
	CHECK_EQ_INT(once, FO_TOKENS);
	CHECK_EQ_INT(a_seen, FO_TOKENS);
	CHECK(r.timed_out);
	CHECK(silent_count(&b) - b_total <= FO_INFLIGHT);
	CHECK_EQ_INT(r.wrong_reply + r.other_errors, 0);
	pthread_mutex_unlock(&r.lock);
	transport_client_get_stats(r.client, &st);
	CHECK_EQ_U64(st.connections_closed, 2);
	CHECK_EQ_U64(st.holds, 2);
out:
	transport_client_free(r.client);
	transport_server_free(sa);
	transport_server_free(sb);
	CHECK_EQ_INT(silent_release(&b), b.n);
	CHECK_EQ_INT(b.overflow, 0);
}

/* Two servers that both answer, but A holds its first request past the timeout: that one
 * request times out and is resent, and A, which answered others meanwhile, keeps its
 * connection (nothing closed, nothing held). Its late reply is dropped. */
static void test_one_slow_reply_keeps_the_server(void)
{
	char url_a[64], url_b[64];
	char *urls[] = {url_a, url_b};
	char *url_a1[] = {url_a}, *url_b1[] = {url_b};
	struct count_srv a = {
	    .lock = PTHREAD_MUTEX_INITIALIZER, .prefix = "ok:", .hold_first = true};
	struct count_srv b = {.lock = PTHREAD_MUTEX_INITIALIZER, .prefix = "ok:"};
	struct fo_run r = {.lock = PTHREAD_MUTEX_INITIALIZER, .prefix = "ok:"};
	struct transport_server *sa, *sb;
	struct transport_client_stats st;
	char err[256] = "";
	unsigned once = 0, seen = 0;
	uint64_t ms;

	make_url(url_a, sizeof(url_a), free_port());
	make_url(url_b, sizeof(url_b), free_port());
	sa = transport_server_new(url_a1, 1, 16, 4096, count_on_request, &a, err, sizeof(err));
	sb = transport_server_new(url_b1, 1, 16, 4096, count_on_request, &b, err, sizeof(err));
	r.client = transport_client_new(urls, 2, FO_INFLIGHT, FO_TIMEOUT / 2, fo_on_reply, &r, err,
					sizeof(err));
	CHECK(sa != NULL && sb != NULL && r.client != NULL);
	if (!sa || !sb || !r.client) {
		fprintf(stderr, "slow reply setup: %s\n", err);
		goto out;
	}
	CHECK(eventually(server_has_peer, sa));
	CHECK(eventually(server_has_peer, sb));
	ms = fo_drive(&r, FO_BOUND_MS);
	CHECK(eventually(fo_client_idle, r.client));
	pthread_mutex_lock(&r.lock);
	for (unsigned t = 0; t < FO_TOKENS; t++) {
		once += r.acked[t] == 1;
		seen += a.per_token[t] + b.per_token[t];
	}
	fprintf(stderr,
		"one slow reply: %u of %u acknowledged in %llu ms; %u timeouts, %u resets\n",
		r.acked_total, FO_TOKENS, (unsigned long long)ms, r.timeouts, r.resets);
	CHECK_EQ_INT(once, FO_TOKENS);
	CHECK_EQ_INT(r.timeouts, 1); /* the held request, once */
	CHECK_EQ_INT(r.resets + r.other_errors + r.wrong_reply, 0);
	CHECK_EQ_INT(seen, FO_TOKENS + 1); /* the held one was sent twice */
	CHECK(a.first != NULL);
	CHECK(a.requests > 1); /* A kept getting requests after the held one */
	pthread_mutex_unlock(&r.lock);
	transport_client_get_stats(r.client, &st);
	CHECK_EQ_U64(st.connections_closed, 0);
	CHECK_EQ_U64(st.holds, 0);
	CHECK_EQ_INT(transport_server_peers(sa), 1);
	/* The late reply goes out and is dropped by the client. */
	if (a.first) {
		char out[64];
		int n = snprintf(out, sizeof(out), "ok:request-%03llu",
				 (unsigned long long)a.first_token);

		CHECK_EQ_INT(transport_request_reply(a.first, (const uint8_t *)out, (size_t)n), 0);
		a.first = NULL;
	}
	sleep_ms(200);
	pthread_mutex_lock(&r.lock);
	CHECK_EQ_INT(r.acked_total, FO_TOKENS);
	CHECK_EQ_INT(r.wrong_reply, 0);
	pthread_mutex_unlock(&r.lock);
out:
	transport_client_free(r.client);
	transport_server_free(sa);
	transport_server_free(sb);
	if (a.first)
		CHECK_EQ_INT(transport_request_reply(a.first, NULL, 0), -ECANCELED);
}

static bool fo_connected(void *arg)
{
	return transport_client_connected(arg);
}

/* One server, which holds its first request: that request times out, the connection is
 * closed and redialed at once (no other server to prefer: no hold), and the resend is
 * answered on the new connection. Nothing is lost; the server saw the request twice. */
static void test_single_unanswering_server_redialed(void)
{
	char url[64];
	char *urls[] = {url};
	struct count_srv s1 = {
	    .lock = PTHREAD_MUTEX_INITIALIZER, .prefix = "ok:", .hold_first = true};
	struct fo_run r = {.lock = PTHREAD_MUTEX_INITIALIZER, .prefix = "ok:"};
	struct transport_server *s;
	struct transport_client_stats st;
	char err[256] = "", buf[32];

	make_url(url, sizeof(url), free_port());
	s = transport_server_new(urls, 1, 4, 4096, count_on_request, &s1, err, sizeof(err));
	r.client = transport_client_new(urls, 1, 2, 300, fo_on_reply, &r, err, sizeof(err));
	CHECK(s != NULL && r.client != NULL);
	if (!s || !r.client) {
		fprintf(stderr, "single server setup: %s\n", err);
		goto out;
	}
	CHECK(eventually(fo_connected, r.client));
	payload(5, buf, sizeof(buf));
	CHECK_EQ_INT(transport_client_send(r.client, 5, (const uint8_t *)buf, strlen(buf)), 0);
	CHECK(eventually(fo_client_idle, r.client));
	pthread_mutex_lock(&r.lock);
	CHECK_EQ_INT(r.timeouts, 1);
	CHECK_EQ_INT(r.acked_total, 0);
	pthread_mutex_unlock(&r.lock);
	transport_client_get_stats(r.client, &st);
	CHECK_EQ_U64(st.connections_closed, 1);
	CHECK_EQ_U64(st.holds, 0);
	/* Redialed: the resend waits for the new connection and is answered. */
	CHECK_EQ_INT(transport_client_send(r.client, 5, (const uint8_t *)buf, strlen(buf)), 0);
	CHECK(eventually(fo_client_idle, r.client));
	pthread_mutex_lock(&r.lock);
	CHECK_EQ_INT(r.acked[5], 1);
	CHECK_EQ_INT(r.timeouts + r.resets + r.other_errors + r.wrong_reply, 1);
	pthread_mutex_unlock(&r.lock);
	pthread_mutex_lock(&s1.lock);
	CHECK_EQ_INT(s1.per_token[5], 2);
	CHECK_EQ_INT(s1.requests, 2);
	pthread_mutex_unlock(&s1.lock);
	CHECK(transport_client_connected(r.client));
	transport_client_get_stats(r.client, &st);
	CHECK_EQ_U64(st.connections_closed, 1);
out:
	transport_client_free(r.client);
	transport_server_free(s);
	if (s1.first)
		CHECK_EQ_INT(transport_request_reply(s1.first, NULL, 0), -ECANCELED);
}

/* B is a TCP listener that never accepts, like a stopped process: the kernel completes
 * the TCP handshake, but nng's own (each side sends an 8-byte SP header) never does, so
 * nng never makes B a connection and every request goes to A: none times out. The
 * connection the client opened waits in B's backlog with the client's header in it. */
static void test_listener_that_never_handshakes_is_not_used(void)
{
	struct sockaddr_in sa_in = {.sin_family = AF_INET};
	socklen_t alen = sizeof(sa_in);
	char url_a[64], url_b[64];
	char *urls[] = {url_b, url_a};
	char *url_a1[] = {url_a};
	struct count_srv a = {.lock = PTHREAD_MUTEX_INITIALIZER, .prefix = "ok:"};
	struct fo_run r = {.lock = PTHREAD_MUTEX_INITIALIZER, .prefix = "ok:"};
	struct transport_server *sa = NULL;
	struct transport_client_stats st;
	unsigned char hdr[8] = {0};
	static const unsigned char want_hdr[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0}; /* REQ v0 */
	char err[256] = "";
	int lfd, cfd = -1;
	unsigned once = 0;
	uint64_t ms;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	sa_in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ_INT(bind(lfd, (struct sockaddr *)&sa_in, sizeof(sa_in)), 0);
	CHECK_EQ_INT(getsockname(lfd, (struct sockaddr *)&sa_in, &alen), 0);
	CHECK_EQ_INT(listen(lfd, 16), 0);
	make_url(url_b, sizeof(url_b), ntohs(sa_in.sin_port));
	make_url(url_a, sizeof(url_a), free_port());
	sa = transport_server_new(url_a1, 1, 16, 4096, count_on_request, &a, err, sizeof(err));
	r.client = transport_client_new(urls, 2, FO_INFLIGHT, FO_TIMEOUT / 2, fo_on_reply, &r, err,
					sizeof(err));
	CHECK(sa != NULL && r.client != NULL);
	if (!sa || !r.client) {
		fprintf(stderr, "handshake setup: %s\n", err);
		goto out;
	}
	CHECK(eventually(server_has_peer, sa));
	sleep_ms(200); /* the client has dialed B too by now */
	ms = fo_drive(&r, FO_BOUND_MS);
	CHECK(eventually(fo_client_idle, r.client));
	pthread_mutex_lock(&r.lock);
	for (unsigned t = 0; t < FO_TOKENS; t++)
		once += r.acked[t] == 1 && a.per_token[t] == 1;
	fprintf(stderr, "no handshake: %u of %u acknowledged by A in %llu ms; %u timeouts\n",
		r.acked_total, FO_TOKENS, (unsigned long long)ms, r.timeouts);
	CHECK_EQ_INT(once, FO_TOKENS);
	CHECK_EQ_INT(r.timeouts + r.resets + r.other_errors + r.wrong_reply, 0);
	pthread_mutex_unlock(&r.lock);
	transport_client_get_stats(r.client, &st);
	CHECK_EQ_U64(st.connections_closed, 0);
	/* The client did connect to B at the TCP level and sent its half of the handshake. */
	cfd = accept(lfd, NULL, NULL);
	CHECK(cfd >= 0);
	if (cfd >= 0) {
		CHECK_EQ_INT(recv(cfd, hdr, sizeof(hdr), MSG_WAITALL), 8);
		CHECK(memcmp(hdr, want_hdr, sizeof(hdr)) == 0);
	}
out:
	transport_client_free(r.client);
	transport_server_free(sa);
	if (cfd >= 0)
		close(cfd);
	close(lfd);
}

int main(void)
{
	test_bad_urls_refused();
	test_listen_busy_port_names_url();
	test_many_requests_each_answered_once();
	test_busy_when_all_contexts_in_use();
	test_client_before_server_connects_later();
	test_no_reply_times_out();
	test_server_restart_request_fails_then_resend_works();
	test_oversize_not_delivered();
	test_free_with_requests_in_flight();
	test_free_while_unconnected();
	test_tls();
	test_unanswering_server_abandoned_for_the_other();
	test_one_slow_reply_keeps_the_server();
	test_single_unanswering_server_redialed();
	test_listener_that_never_handshakes_is_not_used();
	return check_exit();
}
