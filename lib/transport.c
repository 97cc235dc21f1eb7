/* transport.c - the nng adapter (see transport.h): REQ contexts for the node's exporter,
 * REP contexts for the collector's ingest. The only file that includes nng.h; nng's
 * handles and error numbers do not leave it.
 *
 * Client: each slot is one REQ context with its own aio, driven as a two-step machine
 * (send, then receive on the same context). A slot is taken by transport_client_send()
 * and given back after on_reply returns; free slots sit on a stack under c->lock.
 * One REQ socket dials every URL, and nng hands each request to whichever connection is
 * ready; a server that stops answering but keeps its connection stays "ready". So each
 * connection's last reply is tracked (nng_msg_get_pipe), and a request that times out
 * has the connections that stayed silent meanwhile closed, and their URLs held off when
 * another one answered (client_judge; transport.h says what a caller sees).
 *
 * Server: each worker is one REP context with its own aio, cycling receive ->
 * on_request -> (caller) transport_request_reply -> send -> receive. The struct
 * transport_request handed to the caller is the worker itself. The server's memory is
 * reference counted (the owner plus one per request awaiting its reply) so that a reply
 * after transport_server_free() finds valid memory and only releases it. */
#include "transport.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "log.h"

/* ---- shared helpers ---- */

static void transport_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void transport_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* nng error number -> negative errno. Closed sockets and contexts read as -ECANCELED. */
static int transport_errno(int rv)
{
	if (rv & NNG_ESYSERR)
		return -(rv & ~NNG_ESYSERR);
	if (rv & NNG_ETRANERR)
		return -EIO;
	switch (rv) {
	case 0:
		return 0;
	case NNG_EINTR:
		return -EINTR;
	case NNG_ENOMEM:
		return -ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOARG:
	case NNG_EAMBIGUOUS:
	case NNG_EBADTYPE:
	case NNG_EWRITEONLY:
		return -EINVAL;
	case NNG_EBUSY:
		return -EBUSY;
	case NNG_ETIMEDOUT:
		return -ETIMEDOUT;
	case NNG_ECONNREFUSED:
		return -ECONNREFUSED;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return -ECANCELED;
	case NNG_EAGAIN:
		return -EAGAIN;
	case NNG_ENOTSUP:
		return -ENOTSUP;
	case NNG_EADDRINUSE:
		return -EADDRINUSE;
	case NNG_ESTATE:
		return -EPROTO;
	case NNG_ENOENT:
		return -ENOENT;
	case NNG_EPROTO:
		return -EPROTO;
	case NNG_EUNREACHABLE:
		return -EHOSTUNREACH;
	case NNG_EPERM:
		return -EPERM;
	case NNG_EMSGSIZE:
		return -EMSGSIZE;
	case NNG_ECONNABORTED:
		return -ECONNABORTED;
	case NNG_ECONNRESET:
		return -ECONNRESET;
	case NNG_ENOFILES:
		return -EMFILE;
	case NNG_ENOSPC:
		return -ENOSPC;
	case NNG_EEXIST:
		return -EEXIST;
	case NNG_EREADONLY:
		return -EROFS;
	case NNG_ECRYPTO:
	case NNG_EPEERAUTH:
		return -EACCES;
	case NNG_ECONNSHUT:
		return -ESHUTDOWN;
	default:
		return -EIO;
	}
}

static uint64_t transport_now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail on Linux; a zero time would only shorten a timeout. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Checks the parts of a URL nng would accept with a vague message or silently (a missing
 * port means "any port" to a listener). listen allows an empty host (all addresses). */
static int transport_check_url(const char *url, bool listen, char *err, size_t errlen)
{
	static const char *const tcp_schemes[] = {"tcp://", "tcp4://", "tcp6://"};
	const char *hostport = NULL, *colon, *p;
	unsigned long port = 0;

	if (!url || !*url) {
		transport_errf(err, errlen, "empty URL");
		return -EINVAL;
	}
	if (strncmp(url, "tls+", 4) == 0) {
		hostport = url + 4; /* tls+tcp://, tls+tcp4://, tls+tcp6:// */
		if (strncmp(hostport, "tcp", 3) != 0) {
			transport_errf(err, errlen,
				       "%s: unsupported URL, expected tls+tcp://host:port", url);
			return -EINVAL;
		}
		url = hostport;
		hostport = NULL;
	}
	if (strncmp(url, "ipc://", 6) == 0) {
		if (!url[6]) {
			transport_errf(err, errlen, "%s: ipc:// needs a path", url);
			return -EINVAL;
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(tcp_schemes) / sizeof(tcp_schemes[0]); i++)
		if (strncmp(url, tcp_schemes[i], strlen(tcp_schemes[i])) == 0)
			hostport = url + strlen(tcp_schemes[i]);
	if (!hostport) {
		transport_errf(err, errlen, "%s: unsupported URL, expected tcp://host:port", url);
		return -EINVAL;
	}
	if (hostport[0] == '[') {
		const char *close = strchr(hostport, ']');

		colon = close && close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strchr(hostport, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 address: needs [brackets] */
	}
	if (!colon || !colon[1]) {
		transport_errf(err, errlen, "%s: malformed URL, expected tcp://host:port", url);
		return -EINVAL;
	}
	for (p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9' || port > 65535) {
			port = 0;
			break;
		}
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535) {
		transport_errf(err, errlen, "%s: malformed URL, port must be 1..65535", url);
		return -EINVAL;
	}
	if (colon == hostport && !listen) {
		transport_errf(err, errlen, "%s: malformed URL, no host to dial", url);
		return -EINVAL;
	}
	return 0;
}

static bool transport_is_tls(const char *url)
{
	return strncmp(url, "tls+", 4) == 0;
}

/* Reads a whole PEM file (at most 1 MiB) as a string. NULL with a message naming the
 * file (and what it is for: `what`) on failure. The caller frees. */
static char *transport_read_pem(const char *what, const char *path, char *err, size_t errlen)
{
	enum { PEM_MAX = 1 << 20 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		transport_errf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	buf = malloc(PEM_MAX + 1);
	if (!buf) {
		transport_errf(err, errlen, "out of memory");
		goto fail;
	}
	len = fread(buf, 1, PEM_MAX + 1, f);
	if (ferror(f)) {
		transport_errf(err, errlen, "%s %s: read error", what, path);
		goto fail;
	}
	if (len > PEM_MAX || len == 0) {
		transport_errf(err, errlen, "%s %s: %s", what, path,
			       len ? "larger than 1 MiB" : "empty file");
		goto fail;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

/* The host of a URL checked by transport_check_url into out ("" for none). */
static void transport_url_host(const char *url, char *out, size_t outlen)
{
	const char *h = strstr(url, "://"), *end;

	h = h ? h + 3 : url;
	if (*h == '[') {
		h++;
		end = strchr(h, ']');
	} else {
		end = strrchr(h, ':');
	}
	if (!end)
		end = h + strlen(h);
	snprintf(out, outlen, "%.*s", (int)(end - h), h);
}

/* A TLS configuration for one endpoint: mutual TLS (our certificate, the peer's verified
 * against the CA). url names the endpoint in messages and gives the default server name.
 * 0 and *out (the caller frees it with nng_tls_config_free) or -errno with a message. */
static int transport_tls_config(const struct transport_tls *tls, bool server, const char *url,
				nng_tls_config **out, char *err, size_t errlen)
{
	char *ca = NULL, *cert = NULL, *key = NULL;
	nng_tls_config *cfg = NULL;
	char host[256];
	int rc, rv;

	if (!tls || !tls->ca_file || !*tls->ca_file || !tls->cert_file || !*tls->cert_file ||
	    !tls->key_file || !*tls->key_file) {
		transport_errf(err, errlen,
			       "%s: tls+tcp:// needs a CA file, a certificate and a key", url);
		return -EINVAL;
	}
	rc = -EINVAL;
	ca = transport_read_pem("CA file", tls->ca_file, err, errlen);
	if (ca)
		cert = transport_read_pem("certificate file", tls->cert_file, err, errlen);
	if (cert)
		key = transport_read_pem("key file", tls->key_file, err, errlen);
	if (!key)
		goto out;
	rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv) {
		rc = transport_errno(rv);
		transport_errf(err, errlen, "%s: cannot set up TLS: %s", url, nng_strerror(rv));
		goto out;
	}
	rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	if (rv) {
		transport_errf(err, errlen, "%s: TLS auth mode: %s", url, nng_strerror(rv));
		goto out;
	}
	rv = nng_tls_config_ca_chain(cfg, ca, NULL);
	if (rv) {
		transport_errf(err, errlen, "CA file %s: no valid PEM certificate (%s)",
			       tls->ca_file, nng_strerror(rv));
		goto out;
	}
	rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
	if (rv) {
		transport_errf(err, errlen,
			       "certificate %s / key %s: invalid PEM certificate or key (%s)",
			       tls->cert_file, tls->key_file, nng_strerror(rv));
		goto out;
	}
	if (!server) {
		if (tls->server_name && *tls->server_name)
			snprintf(host, sizeof(host), "%s", tls->server_name);
		else
			transport_url_host(url, host, sizeof(host));
		rv = nng_tls_config_server_name(cfg, host);
		if (rv) {
			transport_errf(err, errlen, "%s: TLS server name '%s': %s", url, host,
				       nng_strerror(rv));
			goto out;
		}
	}
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	if (cfg)
		nng_tls_config_free(cfg);
	free(ca);
	free(cert);
	if (key) {
		explicit_bzero(key, strlen(key)); /* private key material */
		free(key);
	}
	return rc;
}

static int transport_check_urls(char *const *urls, size_t n, bool listen, char *err, size_t errlen)
{
	if (!urls || n < 1 || n > TRANSPORT_MAX_URLS) {
		transport_errf(err, errlen, "need 1..%d URLs, got %zu", TRANSPORT_MAX_URLS, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = transport_check_url(urls[i], listen, err, errlen);

		if (rc)
			return rc;
	}
	return 0;
}

/* One connected pipe. url: the index of the client URL whose dialer made it (-1 on a
 * server, or when the dialer is no longer the URL's); added_ms and reply_ms (0: none yet)
 * on CLOCK_MONOTONIC; closing: client_judge() is closing it. */
struct transport_pipe {
	uint32_t id;
	int url;
	bool closing;
	uint64_t added_ms;
	uint64_t reply_ms;
};

struct transport_client;

/* Connected pipes, by id: nng reports REM_POST for a pipe whose ADD_POST it skipped (one
 * closed between ADD_PRE and ADD_POST), so a bare counter could drift; the set cannot.
 * Written by nng's pipe callbacks under lock (and, on a client, the reply and judgement
 * paths, which also keep the URLs' state under it); count is read without it. */
struct transport_pipes {
	pthread_mutex_t lock;
	struct transport_pipe *v;
	size_t cap;
	size_t len;
	atomic_uint count;
	struct transport_client *client; /* NULL on a server */
};

static int transport_pipes_init(struct transport_pipes *ps)
{
	memset(ps, 0, sizeof(*ps));
	atomic_init(&ps->count, 0);
	return -pthread_mutex_init(&ps->lock, NULL);
}

static void transport_pipes_fini(struct transport_pipes *ps)
{
	pthread_mutex_destroy(&ps->lock);
	free(ps->v);
}

/* The pipe of id, or NULL. Under ps->lock. */
static struct transport_pipe *transport_pipes_find(struct transport_pipes *ps, uint32_t id)
{
	for (size_t i = 0; i < ps->len; i++)
		if (ps->v[i].id == id)
			return &ps->v[i];
	return NULL;
}

static int client_url_of_dialer(struct transport_client *c, int dialer_id);
static void client_pipes_changed(struct transport_client *c);

static void transport_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct transport_pipes *ps = arg;
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	bool untracked = false, removed = false;
	int dialer_id = -1;

	if (ps->client && ev == NNG_PIPE_EV_ADD_POST)
		dialer_id = nng_dialer_id(nng_pipe_dialer(pipe));
	pthread_mutex_lock(&ps->lock);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		if (ps->len == ps->cap) {
			size_t cap = ps->cap ? ps->cap * 2 : 8;
			struct transport_pipe *v = realloc(ps->v, cap * sizeof(*v));

			if (v) {
				ps->v = v;
				ps->cap = cap;
			}
		}
		if (ps->len < ps->cap) {
			ps->v[ps->len++] = (struct transport_pipe){
			    .id = id,
			    .url = ps->client ? client_url_of_dialer(ps->client, dialer_id) : -1,
			    .added_ms = transport_now_ms(),
			};
		} else {
			untracked = true;
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		struct transport_pipe *p = transport_pipes_find(ps, id);

		if (p) {
			*p = ps->v[--ps->len];
			removed = true;
		}
	}
	atomic_store(&ps->count, (unsigned)ps->len);
	pthread_mutex_unlock(&ps->lock);
	/* Out of memory: a connection we cannot count is not kept. */
	if (untracked && nng_pipe_close(pipe) != 0) {
		/* Already closing: its REM_POST finds nothing to remove. */
	}
	if (removed && ps->client)
		client_pipes_changed(ps->client);
}

/* Common socket setup: pipe tracking and the receive limit. */
static int transport_socket_setup(nng_socket sock, struct transport_pipes *ps, size_t max_msg,
				  char *err, size_t errlen)
{
	int rv;

	rv = nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, transport_pipe_cb, ps);
	if (rv == 0)
		rv = nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, transport_pipe_cb, ps);
	if (rv) {
		transport_errf(err, errlen, "nng_pipe_notify: %s", nng_strerror(rv));
		return transport_errno(rv);
	}
	rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, max_msg);
	if (rv) {
		transport_errf(err, errlen, "setting %s: %s", NNG_OPT_RECVMAXSZ, nng_strerror(rv));
		return transport_errno(rv);
	}
	return 0;
}

/* ---- client ---- */

/* At most one message per this interval about connections closed for not answering. */
#define CLIENT_LOG_EVERY_MS 10000
/* Connections one judgement may close: one per URL, and for a moment the one replaced. */
#define CLIENT_JUDGE_MAX (2 * TRANSPORT_MAX_URLS)

/* One REQ context. token, deadline_ms, sent_ms and receiving are written by the thread
 * that owns the slot at that moment (transport_client_send(), then nng's callback, in
 * sequence). */
struct client_slot {
	struct transport_client *c;
	unsigned index;
	bool ctx_open;
	nng_ctx ctx;
	nng_aio *aio;
	uint64_t token;
	uint64_t deadline_ms;
	uint64_t sent_ms; /* handed to a connection (our callback's time) */
	bool receiving;
};

/* One URL the client dials. url, tls and timer are set up by transport_client_new_tls()
 * and fixed after; the rest is under c->pipes.lock. While held, the URL has no dialer:
 * timer (nng_sleep_aio) ends the hold by dialing again. */
struct client_url {
	struct transport_client *c;
	char *url;
	nng_tls_config *tls; /* our reference, for dialing again; NULL for tcp:// */
	nng_aio *timer;
	nng_dialer dialer;
	int dialer_id; /* -1 while held (no dialer) */
	bool held;
	bool was_held;	       /* held since its last reply: its next reply is logged */
	uint32_t next_hold_ms; /* of its next hold */
};

struct transport_client {
	nng_socket sock;
	bool sock_open;
	uint32_t timeout_ms;
	uint32_t hold_max_ms;
	transport_reply_fn on_reply;
	void *cb_ctx;
	struct client_slot *slots;
	unsigned nslots;
	/* Free slots and the closing flag, under lock; busy mirrors nslots - nfree. */
	pthread_mutex_t lock;
	unsigned *free_stack;
	unsigned nfree;
	bool closing;
	atomic_uint busy;
	struct transport_pipes pipes;
	/* The URLs (nurls of them set up, so far), and under pipes.lock the counters and the
	 * log limit of client_judge(). */
	struct client_url *urls;
	size_t nurls;
	struct transport_client_stats stats;
	struct log_limit judge_log;
	struct {
		uint64_t added_ms;
		uint64_t closed_ms;
	} judged[CLIENT_JUDGE_MAX]; /* the connections client_judge() closed last, a ring */
	size_t judged_next;
	/* Held through each client_judge(), closing included, and around each nng_ctx_send()
	 * (see client_judge). */
	pthread_mutex_t judge_lock;
};

/* Under c->pipes.lock (from the pipe callback): the URL whose dialer has this id, or -1. */
static int client_url_of_dialer(struct transport_client *c, int dialer_id)
{
	for (size_t i = 0; i < c->nurls; i++)
		if (dialer_id >= 0 && c->urls[i].dialer_id == dialer_id)
			return (int)i;
	return -1;
}

/* Dials u (again). 0, or -errno with a message naming the URL. */
static int client_url_dial(struct client_url *u, char *err, size_t errlen)
{
	struct transport_client *c = u->c;
	nng_dialer d;
	int rv;

	/* Non-blocking: a server that is not up yet is redialed in the background. The dialer
	 * belongs to the socket (closed with it) and holds its own reference to the TLS
	 * configuration. */
	rv = nng_dialer_create(&d, c->sock, u->url);
	if (rv == 0 && u->tls)
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, u->tls);
	if (rv == 0) {
		/* Before it starts, so that its first connection is known as this URL's. */
		pthread_mutex_lock(&c->pipes.lock);
		u->dialer = d;
		u->dialer_id = nng_dialer_id(d);
		u->held = false;
		pthread_mutex_unlock(&c->pipes.lock);
		rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	}
	if (rv) {
		transport_errf(err, errlen, "cannot dial %s: %s", u->url, nng_strerror(rv));
		return transport_errno(rv);
	}
	return 0;
}

/* nng thread: a hold of u ended (its time passed, or it was cut short because no
 * connection is left; or the client is being freed). */
static void client_url_timer_cb(void *arg)
{
	struct client_url *u = arg;
	struct transport_client *c = u->c;
	char err[256];
	bool closing;

	pthread_mutex_lock(&c->lock);
	closing = c->closing;
	pthread_mutex_unlock(&c->lock);
	if (closing)
		return;
	if (client_url_dial(u, err, sizeof(err)) != 0) {
		/* Out of memory, most likely: try again after as long. */
		log_warn("transport: %s; trying again in %u ms", err, c->timeout_ms);
		nng_sleep_aio((nng_duration)c->timeout_ms, u->timer);
	}
}

/* After a connection went away (not under a lock): with none left, held URLs are dialed
 * at once, since there is nothing better to send to. */
static void client_pipes_changed(struct transport_client *c)
{
	bool held[TRANSPORT_MAX_URLS] = {false};
	bool none;

	pthread_mutex_lock(&c->pipes.lock);
	none = c->pipes.len == 0;
	for (size_t i = 0; none && i < c->nurls; i++)
		held[i] = c->urls[i].held;
	pthread_mutex_unlock(&c->pipes.lock);
	for (size_t i = 0; none && i < c->nurls; i++)
		if (held[i])
			nng_aio_cancel(c->urls[i].timer);
}

/* nng thread: a reply came on pipe id: that connection answers. */
static void client_note_reply(struct transport_client *c, uint32_t id)
{
	struct transport_pipes *ps = &c->pipes;
	const char *again = NULL;
	struct transport_pipe *p;

	pthread_mutex_lock(&ps->lock);
	p = transport_pipes_find(ps, id);
	if (p) {
		p->reply_ms = transport_now_ms();
		if (p->url >= 0) {
			struct client_url *u = &c->urls[p->url];

			u->next_hold_ms = c->timeout_ms;
			if (u->was_held)
				again = u->url;
			u->was_held = false;
		}
	}
	pthread_mutex_unlock(&ps->lock);
	if (again)
		log_info("transport: collector %s answers again", again);
}

/* nng thread: a request sent (transport_client_send) at since_ms and handed to a
 * connection at sent_ms got no reply within the timeout. Which connection it went to, nng
 * does not say; but it went to one that was up at since_ms or came up later, and one that
 * replied to anything since then is alive (maybe slow: it stays). Every connection up at
 * since_ms that delivered nothing since is closed: that takes a stopped server out of
 * nng's choice, and its other requests fail at once (-ECONNRESET) instead of each waiting
 * out its timeout. When another connection did reply, the silent ones' URLs are also held
 * off (their dialers closed, redialed after next_hold_ms), since a server whose process
 * runs but whose store hangs would take the redial at once. With no such connection they
 * are redialed at once: holding off the only servers there are would gain nothing.
 *
 * since_ms, not sent_ms: our callback may run well after nng's hand-over, and a reply
 * another connection delivered in between must count. Some requests judge nobody: one
 * that waited more than half its timeout for a connection (the one it got had little
 * time to answer), and one a connection closed by an earlier judgement accounts for (up
 * at since_ms, closed after it). Requests stuck together on a stopped server time out
 * together, and by the later ones' reckoning a healthy connection left idle meanwhile
 * (every context was stuck on the stopped one) would look just as silent.
 *
 * Under judge_lock, closing included, which transport_client_send() also takes around
 * nng_ctx_send(), and before the request's on_reply: no request is handed to nng while a
 * connection is being closed, and those timing out together are resent once it is out of
 * nng's choice. nng 1.5 leaks the message of a send it hands to a connection in the
 * middle of closing (its issue #1713, fixed in 1.6); other sends could still meet one
 * that nng itself closes (the peer's drop), as before. */
static void client_judge(struct transport_client *c, uint64_t since_ms, uint64_t sent_ms)
{
	struct transport_pipes *ps = &c->pipes;
	struct {
		nng_pipe pipe;
		int url;
		uint32_t hold_ms;
		nng_dialer dialer;
	} act[CLIENT_JUDGE_MAX];
	uint64_t now = transport_now_ms(), held_back = 0;
	size_t nact = 0;
	bool answered = false, log_it = false;
	char more[64] = "";

	if (now < sent_ms + c->timeout_ms / 2)
		return;
	pthread_mutex_lock(&c->judge_lock);
	pthread_mutex_lock(&ps->lock);
	for (size_t i = 0; i < CLIENT_JUDGE_MAX; i++) {
		if (c->judged[i].closed_ms >= since_ms && c->judged[i].added_ms <= since_ms) {
			pthread_mutex_unlock(&ps->lock);
			pthread_mutex_unlock(&c->judge_lock);
			return;
		}
	}
	for (size_t i = 0; i < ps->len; i++)
		answered |= !ps->v[i].closing && ps->v[i].reply_ms >= since_ms;
	for (size_t i = 0; i < ps->len && nact < CLIENT_JUDGE_MAX; i++) {
		struct transport_pipe *p = &ps->v[i];
		struct client_url *u = p->url >= 0 ? &c->urls[p->url] : NULL;

		if (p->closing || p->added_ms > since_ms || p->reply_ms >= since_ms)
			continue;
		p->closing = true;
		c->stats.connections_closed++;
		c->judged[c->judged_next].added_ms = p->added_ms;
		c->judged[c->judged_next].closed_ms = now;
		c->judged_next = (c->judged_next + 1) % CLIENT_JUDGE_MAX;
		act[nact].pipe = (nng_pipe)NNG_PIPE_INITIALIZER;
		act[nact].pipe.id = p->id;
		act[nact].url = p->url;
		act[nact].hold_ms = 0;
		if (answered && u && !u->held) {
			act[nact].hold_ms = u->next_hold_ms;
			act[nact].dialer = u->dialer;
			u->held = true;
			u->was_held = true;
			u->dialer_id = -1;
			u->next_hold_ms = u->next_hold_ms > c->hold_max_ms / 2
					      ? c->hold_max_ms
					      : 2 * u->next_hold_ms;
			c->stats.holds++;
		}
		nact++;
	}
	if (nact)
		log_it = log_limit_pass(&c->judge_log, &held_back);
	pthread_mutex_unlock(&ps->lock);

	for (size_t i = 0; i < nact; i++) {
		if (act[i].hold_ms) {
			/* Closes its connection too; client_url_timer_cb dials again. */
			if (nng_dialer_close(act[i].dialer) != 0) {
				/* Already closed along with the socket. */
			}
			nng_sleep_aio((nng_duration)act[i].hold_ms, c->urls[act[i].url].timer);
		} else if (nng_pipe_close(act[i].pipe) != 0) {
			/* Gone already. */
		}
	}
	pthread_mutex_unlock(&c->judge_lock);
	if (!log_it)
		return;
	if (held_back)
		snprintf(more, sizeof(more), " (%llu similar messages held back)",
			 (unsigned long long)held_back);
	for (size_t i = 0; i < nact; i++) {
		const char *url = act[i].url >= 0 ? c->urls[act[i].url].url : "(unknown URL)";

		if (act[i].hold_ms)
			log_warn("transport: collector %s sent no reply for %llu ms while another "
				 "one did: connection closed, not redialed for %u ms%s",
				 url, (unsigned long long)(now - since_ms), act[i].hold_ms, more);
		else
			log_warn("transport: collector %s sent no reply for %llu ms: connection "
				 "closed and redialed%s",
				 url, (unsigned long long)(now - since_ms), more);
	}
}

static void client_slot_release(struct client_slot *slot)
{
	struct transport_client *c = slot->c;

	pthread_mutex_lock(&c->lock);
	c->free_stack[c->nfree++] = slot->index;
	atomic_store(&c->busy, c->nslots - c->nfree);
	pthread_mutex_unlock(&c->lock);
}

static void client_slot_finish(struct client_slot *slot, int err, const uint8_t *buf, size_t len)
{
	struct transport_client *c = slot->c;

	c->on_reply(c->cb_ctx, slot->token, err, buf, len);
	client_slot_release(slot);
}

/* nng thread: the send or the receive of this slot's request completed. */
static void client_slot_cb(void *arg)
{
	struct client_slot *slot = arg;
	int rv = nng_aio_result(slot->aio);
	nng_msg *msg;

	if (!slot->receiving) {
		if (rv) {
			/* Not sent: the message is still ours. */
			msg = nng_aio_get_msg(slot->aio);
			nng_aio_set_msg(slot->aio, NULL);
			if (msg)
				nng_msg_free(msg);
			client_slot_finish(slot, transport_errno(rv), NULL, 0);
			return;
		}
		/* Handed to a connection; wait for the reply for what is left of the timeout. At
		 * least 1 ms: a zero timeout would fail the receive without resetting the context,
		 * which would then keep the request. */
		uint64_t now = transport_now_ms();
		nng_duration left =
		    slot->deadline_ms > now ? (nng_duration)(slot->deadline_ms - now) : 1;

		slot->receiving = true;
		slot->sent_ms = now;
		nng_aio_set_timeout(slot->aio, left);
		nng_ctx_recv(slot->ctx, slot->aio);
		return;
	}
	if (rv) {
		if (rv == NNG_ETIMEDOUT)
			client_judge(slot->c, slot->deadline_ms - slot->c->timeout_ms,
				     slot->sent_ms);
		client_slot_finish(slot, transport_errno(rv), NULL, 0);
		return;
	}
	msg = nng_aio_get_msg(slot->aio);
	nng_aio_set_msg(slot->aio, NULL);
	client_note_reply(slot->c, (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg)));
	client_slot_finish(slot, 0, nng_msg_body(msg), nng_msg_len(msg));
	nng_msg_free(msg);
}

/* Tears down what transport_client_new() built, in reverse; stops callbacks first. */
static void client_destroy(struct transport_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_mutex_unlock(&c->lock);
	/* Cancels each request in flight; its callback reports -ECANCELED and we wait for it.
	 * A stopped aio fails any new operation at once, so nothing restarts. */
	for (unsigned i = 0; i < c->nslots; i++)
		if (c->slots[i].aio)
			nng_aio_stop(c->slots[i].aio);
	/* Ends the holds (the requests, which start them, are stopped); a timer callback
	 * running now sees closing, or dials on the socket that is still open. */
	for (size_t i = 0; i < c->nurls; i++)
		if (c->urls[i].timer)
			nng_aio_stop(c->urls[i].timer);
	/* Closes the contexts and connections; pipe callbacks are done when it returns. */
	if (c->sock_open && nng_close(c->sock) != 0) {
		/* Only fails for a socket that is already closed. */
	}
	for (unsigned i = 0; i < c->nslots; i++)
		if (c->slots[i].aio)
			nng_aio_free(c->slots[i].aio);
	for (size_t i = 0; i < c->nurls; i++) {
		if (c->urls[i].timer)
			nng_aio_free(c->urls[i].timer);
		if (c->urls[i].tls)
			nng_tls_config_free(c->urls[i].tls);
		free(c->urls[i].url);
	}
	free(c->urls);
	pthread_mutex_destroy(&c->judge_lock);
	transport_pipes_fini(&c->pipes);
	pthread_mutex_destroy(&c->lock);
	free(c->free_stack);
	free(c->slots);
	free(c);
}

struct transport_client *transport_client_new(char *const *urls, size_t n, unsigned inflight,
					      uint32_t timeout_ms, transport_reply_fn on_reply,
					      void *cb_ctx, char *err, size_t errlen)
{
	return transport_client_new_tls(urls, n, inflight, timeout_ms, NULL, on_reply, cb_ctx, err,
					errlen);
}

static bool transport_set(const char *s)
{
	return s && *s;
}

int transport_tls_check(char *const *urls, size_t n, const struct transport_tls *tls,
			const char *what, char *err, size_t errlen)
{
	bool any = false;

	for (size_t i = 0; i < n; i++)
		any |= strncmp(urls[i], "tls+", 4) == 0;
	if (!any || (transport_set(tls->ca_file) && transport_set(tls->cert_file) &&
		     transport_set(tls->key_file)))
		return 0;
	snprintf(err, errlen, "a tls+tcp:// %s needs%s%s%s", what,
		 transport_set(tls->ca_file) ? "" : " --tls-ca",
		 transport_set(tls->cert_file) ? "" : " --tls-cert",
		 transport_set(tls->key_file) ? "" : " --tls-key");
	return -EINVAL;
}

struct transport_client *transport_client_new_tls(char *const *urls, size_t n, unsigned inflight,
						  uint32_t timeout_ms,
						  const struct transport_tls *tls,
						  transport_reply_fn on_reply, void *cb_ctx,
						  char *err, size_t errlen)
{
	struct transport_client *c;
	int rc, rv;

	rc = transport_check_urls(urls, n, false, err, errlen);
	if (rc)
		goto fail_early;
	if (inflight < 1 || inflight > TRANSPORT_MAX_INFLIGHT || timeout_ms < 1 ||
	    timeout_ms > INT32_MAX || !on_reply) {
		transport_errf(err, errlen,
			       "transport client: inflight must be 1..%d and timeout_ms > 0",
			       TRANSPORT_MAX_INFLIGHT);
		rc = -EINVAL;
		goto fail_early;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = -ENOMEM;
		transport_errf(err, errlen, "out of memory");
		goto fail_early;
	}
	c->timeout_ms = timeout_ms;
	c->hold_max_ms = timeout_ms > TRANSPORT_HOLD_MAX_MS ? timeout_ms : TRANSPORT_HOLD_MAX_MS;
	c->judge_log = (struct log_limit)LOG_LIMIT_INIT(CLIENT_LOG_EVERY_MS);
	c->on_reply = on_reply;
	c->cb_ctx = cb_ctx;
	atomic_init(&c->busy, 0);
	rc = -pthread_mutex_init(&c->lock, NULL);
	if (rc) {
		free(c);
		transport_errf(err, errlen, "pthread_mutex_init: %s", strerror(-rc));
		goto fail_early;
	}
	rc = transport_pipes_init(&c->pipes);
	if (rc == 0) {
		rc = -pthread_mutex_init(&c->judge_lock, NULL);
		if (rc)
			transport_pipes_fini(&c->pipes);
	}
	if (rc) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		transport_errf(err, errlen, "pthread_mutex_init: %s", strerror(-rc));
		goto fail_early;
	}
	c->pipes.client = c;
	/* From here on client_destroy() undoes whatever was built. */
	c->slots = calloc(inflight, sizeof(*c->slots));
	c->free_stack = calloc(inflight, sizeof(*c->free_stack));
	c->urls = calloc(n, sizeof(*c->urls));
	if (!c->slots || !c->free_stack || !c->urls) {
		rc = -ENOMEM;
		transport_errf(err, errlen, "out of memory");
		goto fail;
	}
	rv = nng_req0_open(&c->sock);
	if (rv) {
		rc = transport_errno(rv);
		transport_errf(err, errlen, "cannot open an nng REQ socket: %s", nng_strerror(rv));
		goto fail;
	}
	c->sock_open = true;
	rc = transport_socket_setup(c->sock, &c->pipes, TRANSPORT_MAX_REPLY, err, errlen);
	if (rc)
		goto fail;
	/* The caller resends from its spool; nng's timed resend would only duplicate that.
	 * Disabled, it also makes a dropped connection fail its requests with
	 * NNG_ECONNRESET instead of resending them (see transport.h). */
	rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, TRANSPORT_RECONNECT_MIN_MS);
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, TRANSPORT_RECONNECT_MAX_MS);
	if (rv) {
		rc = transport_errno(rv);
		transport_errf(err, errlen, "setting REQ socket options: %s", nng_strerror(rv));
		goto fail;
	}
	for (unsigned i = 0; i < inflight; i++) {
		struct client_slot *slot = &c->slots[i];

		slot->c = c;
		slot->index = i;
		rv = nng_aio_alloc(&slot->aio, client_slot_cb, slot);
		if (rv == 0) {
			c->nslots = i + 1; /* destroy frees this aio from now on */
			rv = nng_ctx_open(&slot->ctx, c->sock);
		}
		if (rv == 0) {
			slot->ctx_open = true;
			rv = nng_ctx_set_ms(slot->ctx, NNG_OPT_REQ_RESENDTIME,
					    NNG_DURATION_INFINITE);
		}
		if (rv) {
			rc = transport_errno(rv);
			transport_errf(err, errlen, "preparing REQ context %u: %s", i,
				       nng_strerror(rv));
			goto fail;
		}
		c->free_stack[c->nfree++] = inflight - 1 - i; /* slot 0 is used first */
	}
	for (size_t i = 0; i < n; i++) {
		struct client_url *u = &c->urls[i];

		u->c = c;
		u->dialer_id = -1;
		u->next_hold_ms = timeout_ms;
		c->nurls = i + 1; /* destroy frees what this URL has from now on */
		u->url = strdup(urls[i]);
		if (!u->url) {
			rc = -ENOMEM;
			transport_errf(err, errlen, "out of memory");
			goto fail;
		}
		rv = nng_aio_alloc(&u->timer, client_url_timer_cb, u);
		if (rv) {
			rc = transport_errno(rv);
			transport_errf(err, errlen, "cannot dial %s: %s", urls[i],
				       nng_strerror(rv));
			goto fail;
		}
		if (transport_is_tls(urls[i])) {
			rc = transport_tls_config(tls, false, urls[i], &u->tls, err, errlen);
			if (rc)
				goto fail;
		}
	}
	for (size_t i = 0; i < n; i++) {
		rc = client_url_dial(&c->urls[i], err, errlen);
		if (rc)
			goto fail;
	}
	return c;

fail:
	client_destroy(c);
fail_early:
	errno = -rc;
	return NULL;
}

int transport_client_send(struct transport_client *c, uint64_t token, const uint8_t *buf,
			  size_t len)
{
	struct client_slot *slot;
	nng_msg *msg;
	int rv;

	if (len > TRANSPORT_MAX_MSG)
		return -EMSGSIZE;
	pthread_mutex_lock(&c->lock);
	if (c->closing) {
		pthread_mutex_unlock(&c->lock);
		return -ECANCELED;
	}
	if (c->nfree == 0) {
		pthread_mutex_unlock(&c->lock);
		return -EBUSY;
	}
	slot = &c->slots[c->free_stack[--c->nfree]];
	atomic_store(&c->busy, c->nslots - c->nfree);
	pthread_mutex_unlock(&c->lock);

	rv = nng_msg_alloc(&msg, len);
	if (rv) {
		client_slot_release(slot);
		return transport_errno(rv);
	}
	if (len)
		memcpy(nng_msg_body(msg), buf, len);
	slot->token = token;
	slot->receiving = false;
	slot->deadline_ms = transport_now_ms() + c->timeout_ms;
	nng_aio_set_msg(slot->aio, msg);
	/* The send waits for a connection for up to the whole timeout. Not while a judgement
	 * closes connections (client_judge). */
	nng_aio_set_timeout(slot->aio, (nng_duration)c->timeout_ms);
	pthread_mutex_lock(&c->judge_lock);
	nng_ctx_send(slot->ctx, slot->aio);
	pthread_mutex_unlock(&c->judge_lock);
	return 0;
}

bool transport_client_connected(const struct transport_client *c)
{
	return atomic_load(&c->pipes.count) > 0;
}

unsigned transport_client_busy(const struct transport_client *c)
{
	return atomic_load(&c->busy);
}

void transport_client_get_stats(struct transport_client *c, struct transport_client_stats *out)
{
	pthread_mutex_lock(&c->pipes.lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->pipes.lock);
}

void transport_client_free(struct transport_client *c)
{
	if (c)
		client_destroy(c);
}

/* ---- server ---- */

enum worker_state {
	WORKER_IDLE = 0, /* no operation (not started, or stopped) */
	WORKER_RECV,	 /* waiting for a request */
	WORKER_HANDLER,	 /* request given to on_request, waiting for its reply */
	WORKER_SEND,	 /* reply being sent */
};

/* One REP context. state moves IDLE -> RECV -> HANDLER -> SEND -> RECV ...; each step is
 * taken by whoever owns the worker at that moment (nng's callback, or the replier). */
struct transport_request {
	struct transport_server *s;
	bool ctx_open;
	nng_ctx ctx;
	nng_aio *aio;
	atomic_int state;
};

struct transport_server {
	nng_socket sock;
	bool sock_open;
	transport_request_fn on_request;
	void *cb_ctx;
	struct transport_request *workers;
	unsigned nworkers;
	/* closed and refs under lock: refs is 1 (the owner, until transport_server_free) plus
	 * one per request in WORKER_HANDLER; memory is freed when it reaches 0. */
	pthread_mutex_t lock;
	bool closed;
	unsigned long refs;
	struct transport_pipes pipes;
};

static void server_destroy(struct transport_server *s)
{
	/* Every aio was stopped by server_close(); none has a callback left to run. */
	for (unsigned i = 0; i < s->nworkers; i++)
		if (s->workers[i].aio)
			nng_aio_free(s->workers[i].aio);
	transport_pipes_fini(&s->pipes);
	pthread_mutex_destroy(&s->lock);
	free(s->workers);
	free(s);
}

static void server_unref(struct transport_server *s)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last)
		server_destroy(s);
}

static void server_worker_recv(struct transport_request *w)
{
	atomic_store(&w->state, WORKER_RECV);
	nng_ctx_recv(w->ctx, w->aio);
}

/* nng thread: a receive or a reply's send of this worker completed. */
static void server_worker_cb(void *arg)
{
	struct transport_request *w = arg;
	struct transport_server *s = w->s;
	int rv = nng_aio_result(w->aio);
	nng_msg *msg;

	if (atomic_load(&w->state) == WORKER_SEND) {
		if (rv) {
			/* Not sent (closing): the reply is still ours. A client that went away
			 * is not an error here, nng drops such a reply itself. */
			msg = nng_aio_get_msg(w->aio);
			nng_aio_set_msg(w->aio, NULL);
			if (msg)
				nng_msg_free(msg);
		}
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			atomic_store(&w->state, WORKER_IDLE);
			return;
		}
		server_worker_recv(w);
		return;
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		atomic_store(&w->state, WORKER_IDLE);
		return;
	}
	if (rv) {
		/* A transient failure (out of memory): keep serving. */
		server_worker_recv(w);
		return;
	}
	msg = nng_aio_get_msg(w->aio);
	nng_aio_set_msg(w->aio, NULL);
	pthread_mutex_lock(&s->lock);
	if (s->closed) {
		pthread_mutex_unlock(&s->lock);
		atomic_store(&w->state, WORKER_IDLE);
		nng_msg_free(msg);
		return;
	}
	s->refs++;
	atomic_store(&w->state, WORKER_HANDLER);
	pthread_mutex_unlock(&s->lock);
	/* From here w may be replied to, and even reused for the next request, on another
	 * thread: touch nothing of it after the call, only our own msg. */
	s->on_request(s->cb_ctx, w, nng_msg_body(msg), nng_msg_len(msg));
	nng_msg_free(msg);
}

/* Stops every worker and closes the socket; drops the owner's reference. */
static void server_close(struct transport_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->closed = true;
	pthread_mutex_unlock(&s->lock);
	/* Waits for callbacks running (including on_request) and fails any new operation. */
	for (unsigned i = 0; i < s->nworkers; i++)
		if (s->workers[i].aio)
			nng_aio_stop(s->workers[i].aio);
	if (s->sock_open && nng_close(s->sock) != 0) {
		/* Only fails for a socket that is already closed. */
	}
	server_unref(s);
}

struct transport_server *transport_server_new(char *const *urls, size_t n, unsigned workers,
					      size_t max_msg, transport_request_fn on_request,
					      void *cb_ctx, char *err, size_t errlen)
{
	return transport_server_new_tls(urls, n, workers, max_msg, NULL, on_request, cb_ctx, err,
					errlen);
}

struct transport_server *transport_server_new_tls(char *const *urls, size_t n, unsigned workers,
						  size_t max_msg, const struct transport_tls *tls,
						  transport_request_fn on_request, void *cb_ctx,
						  char *err, size_t errlen)
{
	struct transport_server *s;
	int rc, rv;

	rc = transport_check_urls(urls, n, true, err, errlen);
	if (rc)
		goto fail_early;
	if (workers < 1 || workers > TRANSPORT_MAX_WORKERS || max_msg < 1 ||
	    max_msg > TRANSPORT_MAX_MSG || !on_request) {
		transport_errf(err, errlen,
			       "transport server: workers must be 1..%d, max_msg 1..%u bytes",
			       TRANSPORT_MAX_WORKERS, TRANSPORT_MAX_MSG);
		rc = -EINVAL;
		goto fail_early;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = -ENOMEM;
		transport_errf(err, errlen, "out of memory");
		goto fail_early;
	}
	s->on_request = on_request;
	s->cb_ctx = cb_ctx;
	s->refs = 1;
	rc = -pthread_mutex_init(&s->lock, NULL);
	if (rc) {
		free(s);
		transport_errf(err, errlen, "pthread_mutex_init: %s", strerror(-rc));
		goto fail_early;
	}
	rc = transport_pipes_init(&s->pipes);
	if (rc) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		transport_errf(err, errlen, "pthread_mutex_init: %s", strerror(-rc));
		goto fail_early;
	}
	/* From here on server_close() undoes whatever was built. */
	s->workers = calloc(workers, sizeof(*s->workers));
	if (!s->workers) {
		rc = -ENOMEM;
		transport_errf(err, errlen, "out of memory");
		goto fail;
	}
	rv = nng_rep0_open(&s->sock);
	if (rv) {
		rc = transport_errno(rv);
		transport_errf(err, errlen, "cannot open an nng REP socket: %s", nng_strerror(rv));
		goto fail;
	}
	s->sock_open = true;
	/* Before listening, so that every connection inherits the limit. */
	rc = transport_socket_setup(s->sock, &s->pipes, max_msg, err, errlen);
	if (rc)
		goto fail;
	for (unsigned i = 0; i < workers; i++) {
		struct transport_request *w = &s->workers[i];

		w->s = s;
		atomic_init(&w->state, WORKER_IDLE);
		rv = nng_aio_alloc(&w->aio, server_worker_cb, w);
		if (rv == 0) {
			s->nworkers = i + 1;
			rv = nng_ctx_open(&w->ctx, s->sock);
		}
		if (rv) {
			rc = transport_errno(rv);
			transport_errf(err, errlen, "preparing REP context %u: %s", i,
				       nng_strerror(rv));
			goto fail;
		}
		w->ctx_open = true;
	}
	for (size_t i = 0; i < n; i++) {
		nng_tls_config *tcfg = NULL;
		nng_listener l;

		if (transport_is_tls(urls[i])) {
			rc = transport_tls_config(tls, true, urls[i], &tcfg, err, errlen);
			if (rc)
				goto fail;
		}
		/* The listener belongs to the socket and holds its own reference to tcfg. */
		rv = nng_listener_create(&l, s->sock, urls[i]);
		if (rv == 0 && tcfg)
			rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tcfg);
		if (rv == 0)
			rv = nng_listener_start(l, 0);
		if (tcfg)
			nng_tls_config_free(tcfg);
		if (rv) {
			rc = transport_errno(rv);
			transport_errf(err, errlen, "cannot listen on %s: %s", urls[i],
				       nng_strerror(rv));
			goto fail;
		}
	}
	for (unsigned i = 0; i < s->nworkers; i++)
		server_worker_recv(&s->workers[i]);
	return s;

fail:
	server_close(s);
fail_early:
	errno = -rc;
	return NULL;
}

int transport_request_reply(struct transport_request *req, const uint8_t *buf, size_t len)
{
	struct transport_server *s = req->s;
	int expect = WORKER_HANDLER;
	nng_msg *msg = NULL;
	int rv;

	if (!atomic_compare_exchange_strong(&req->state, &expect, WORKER_SEND))
		return -EINVAL;
	rv = len > TRANSPORT_MAX_MSG ? NNG_EMSGSIZE : nng_msg_alloc(&msg, len);
	if (rv == 0 && len)
		memcpy(nng_msg_body(msg), buf, len);
	/* Under lock so that transport_server_free() either sees this send (and cancels it)
	 * or has closed before it and nothing reaches nng. nng runs no callback of ours
	 * synchronously from nng_ctx_send or nng_ctx_recv. */
	pthread_mutex_lock(&s->lock);
	if (s->closed) {
		atomic_store(&req->state, WORKER_IDLE);
		pthread_mutex_unlock(&s->lock);
		if (msg)
			nng_msg_free(msg);
		server_unref(s);
		return -ECANCELED;
	}
	if (rv) {
		/* No reply: drop this request (its client times out) and take the next. */
		server_worker_recv(req);
	} else {
		nng_aio_set_msg(req->aio, msg);
		nng_ctx_send(req->ctx, req->aio);
	}
	pthread_mutex_unlock(&s->lock);
	server_unref(s);
	return transport_errno(rv);
}

unsigned transport_server_peers(const struct transport_server *s)
{
	return atomic_load(&s->pipes.count);
}

void transport_server_free(struct transport_server *s)
{
	if (s)
		server_close(s);
}
