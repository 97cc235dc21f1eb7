/* http.c - HTTP server adapter over libmicrohttpd (see http.h).
 * libmicrohttpd runs one internal polling thread; handlers must be quick (they read
 * snapshots). Request bodies are discarded: every API here is GET.
 *
 * WebSocket streams: libmicrohttpd sends the 101 and hands over the socket in
 * http_ws_on_upgrade (on its thread); the client is queued for the stream thread (the
 * "hub"), which alone reads, writes and closes upgraded sockets from then on. Closing is
 * always MHD_upgrade_action(CLOSE), exactly once per socket (libmicrohttpd closes the fd
 * and must see every upgraded connection closed before MHD_stop_daemon). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "prom.h"
#include "ws.h"

#define HTTP_CONN_LIMIT	    512
#define HTTP_CONN_TIMEOUT_S 30	 /* AYAFLOW_HTTP_TIMEOUT_S overrides it (tests only) */
#define HTTP_TOKEN_MAX	    4096 /* bytes of an API token (and of its file) */
#define HTTP_CONN_MEMORY    (64 * 1024)
/* Clients only ever send control frames: a larger message is refused with 1009. */
#define HTTP_WS_IN_MAX	4096
#define HTTP_WS_TICK_MS 1000
#define HTTP_WS_EVENTS	64

/* One stream: what http_reply_stream named. Written once by libmicrohttpd's thread
 * before the first client of it is queued (the hub's lock orders the two). */
struct http_stream {
	http_stream_fn build;
	void *ctx;
};

/* One upgraded connection. Owned by the hub once queued. */
struct http_ws_client {
	int fd;
	struct MHD_UpgradeResponseHandle *urh;
	const struct http_stream *stream;
	struct ws_decoder dec;
	bool in_epoll;
	bool closed; /* MHD_upgrade_action(CLOSE) done; freed at the end of the round */
	struct http_ws_client *next; /* in the hub's pending list */
	size_t extra_len;	     /* bytes libmicrohttpd read after the request */
	uint8_t extra[];
};

/* The stream thread and what it shares with libmicrohttpd's thread (under lock:
 * pending, stopping, count; streams[] is written by libmicrohttpd's thread only). */
struct http_hub {
	pthread_t thread;
	bool running;
	int epfd, evfd, tfd;
	pthread_mutex_t lock;
	struct http_ws_client *pending; /* upgraded, not yet taken by the hub */
	bool stopping;
	size_t count; /* pending + active: the bound of HTTP_STREAM_CLIENTS_MAX */
	struct http_stream streams[HTTP_STREAMS_MAX];
	size_t nstreams;
	/* hub thread only */
	struct http_ws_client *clients[HTTP_STREAM_CLIENTS_MAX];
	size_t nclients;
	atomic_uint_least64_t messages;
};

struct http_server {
	struct MHD_Daemon *daemon; /* NULL until started */
	int listen_fd;		   /* owned by daemon once started */
	uint16_t port;
	const struct cidr_list *allow;
	http_handler_fn handler;
	void *ctx;
	struct http_hub hub;
	/* API bearer token (set before start, read-only after): NULL = no authentication */
	char *token;
	size_t token_len;
	bool health_open; /* /api/health answers without the token */
};

struct http_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	struct http_server *srv;
};

const char *http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *http_request_arg(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct http_unknown_arg {
	const char *const *known;
	size_t n;
	const char *found;
};

static enum MHD_Result http_check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct http_unknown_arg *u = cls;

	(void)kind;
	(void)value;
	for (size_t i = 0; i < u->n; i++) {
		if (strcmp(key, u->known[i]) == 0)
			return MHD_YES;
	}
	u->found = key;
	return MHD_NO; /* stop at the first unknown one */
}

const char *http_request_unknown_arg(const struct http_request *req, const char *const *known,
				     size_t n)
{
	struct http_unknown_arg u = {.known = known, .n = n, .found = NULL};

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, http_check_arg, &u);
	return u.found;
}

int http_request_arg_uint(const struct http_request *req, const char *name, uint64_t def,
			  uint64_t min, uint64_t max, uint64_t *out, struct http_reply *reply)
{
	const char *s = http_request_arg(req, name);
	unsigned long long v;
	char *end;

	if (!s) {
		*out = def;
		return 0;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *s == '+' || *end != '\0' || errno == ERANGE) {
		http_reply_error(reply, 400, "parameter '%s': '%.64s' is not a whole number", name,
				 s);
		return -EINVAL;
	}
	if (v < min || v > max) {
		http_reply_error(reply, 400, "parameter '%s': %llu is out of range %llu..%llu",
				 name, v, (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

void http_reply_text(struct http_reply *reply, unsigned int status, const char *content_type,
		     char *text, size_t len)
{
	free(reply->body);
	reply->status = status;
	reply->content_type = content_type;
	reply->body = text;
	reply->len = len;
}

int http_reply_json(struct http_reply *reply, unsigned int status, json_t *body)
{
	char *text;

	if (!body)
		return -ENOMEM;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return -ENOMEM;
	http_reply_text(reply, status, "application/json", text, strlen(text));
	return 0;
}

void http_reply_error(struct http_reply *reply, unsigned int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (http_reply_json(
		reply, status,
		json_pack("{s:{s:i, s:s}}", "error", "code", (int)status, "message", msg)) < 0) {
		free(reply->body);
		reply->body = NULL;
		reply->len = 0;
		reply->status = status;
	}
}

/* Queues reply with one extra header (name NULL: none). */
static enum MHD_Result http_queue_hdr(struct MHD_Connection *conn, struct http_reply *reply,
				      const char *name, const char *value);

static enum MHD_Result http_queue(struct MHD_Connection *conn, struct http_reply *reply)
{
	return http_queue_hdr(conn, reply, NULL, NULL);
}

static enum MHD_Result http_queue_hdr(struct MHD_Connection *conn, struct http_reply *reply,
				      const char *name, const char *value)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!reply->body) {
		/* Only on out-of-memory: an empty reply with the status. */
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else {
		resp =
		    MHD_create_response_from_buffer(reply->len, reply->body, MHD_RESPMEM_MUST_FREE);
		if (resp)
			reply->body = NULL; /* the response frees it now */
	}
	if (!resp) {
		free(reply->body);
		return MHD_NO;
	}
	if (reply->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (reply->content_security_policy) {
		MHD_add_response_header(resp, "Content-Security-Policy",
					reply->content_security_policy);
		MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	}
	if (name)
		MHD_add_response_header(resp, name, value);
	ret = MHD_queue_response(conn, reply->status ? reply->status : 500, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* --- WebSocket streams --- */

void http_reply_stream(const struct http_request *req, struct http_reply *reply,
		       http_stream_fn build, void *ctx)
{
	struct http_hub *hub = &req->srv->hub;
	size_t i;

	for (i = 0; i < hub->nstreams; i++) {
		if (hub->streams[i].build == build && hub->streams[i].ctx == ctx)
			break;
	}
	if (i == hub->nstreams) {
		if (i == HTTP_STREAMS_MAX) {
			http_reply_error(reply, 500, "too many streams on this server");
			return;
		}
		hub->streams[i].build = build;
		hub->streams[i].ctx = ctx;
		hub->nstreams++;
	}
	reply->stream = &hub->streams[i];
}

void http_request_stream_stats(const struct http_request *req, struct http_stream_stats *out)
{
	struct http_hub *hub = &req->srv->hub;

	pthread_mutex_lock(&hub->lock);
	out->clients = hub->count;
	pthread_mutex_unlock(&hub->lock);
	out->messages = atomic_load(&hub->messages);
}

int http_reply_append_stream_metrics(const struct http_request *req, struct http_reply *reply)
{
	struct http_stream_stats st;
	struct prom_writer w;
	char *text, *body;
	size_t len;

	if (reply->status != 200 || !reply->body)
		return 0;
	http_request_stream_stats(req, &st);
	prom_init(&w);
	prom_family(&w, "ayaflow_http_stream_clients", "gauge",
		    "WebSocket clients of /api/stream connected now.");
	prom_sample_u64(&w, "ayaflow_http_stream_clients", st.clients, NULL);
	prom_family(&w, "ayaflow_http_stream_messages_total", "counter",
		    "Messages sent to the WebSocket clients of /api/stream.");
	prom_sample_u64(&w, "ayaflow_http_stream_messages_total", st.messages, NULL);
	text = prom_take(&w, &len);
	prom_fini(&w);
	if (!text)
		return -ENOMEM;
	body = realloc(reply->body, reply->len + len + 1);
	if (!body) {
		free(text);
		return -ENOMEM;
	}
	memcpy(body + reply->len, text, len + 1);
	reply->body = body;
	reply->len += len;
	free(text);
	return 0;
}

/* Sends all of a frame at once or fails: a client whose socket buffer is full is too
 * slow to keep. 0 or -errno (-EAGAIN also for a partial write). */
static int http_ws_send(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EAGAIN;
}

/* Ends a client: a close frame with code first (0: none; WS_CLOSE_NO_STATUS: an empty
 * one), then the one MHD_upgrade_action(CLOSE). Freed by http_hub_reap. */
static void http_ws_close(struct http_hub *hub, struct http_ws_client *c, uint16_t code,
			  const char *reason)
{
	uint8_t frame[WS_CONTROL_MAX + 4];
	ssize_t n;

	if (c->closed)
		return;
	if (code) {
		n = ws_close_encode(frame, sizeof(frame), code == WS_CLOSE_NO_STATUS ? 0 : code,
				    reason, NULL);
		if (n > 0 && http_ws_send(c->fd, frame, (size_t)n) < 0)
			log_debug("http: stream client gone before the close frame");
	}
	if (c->in_epoll && epoll_ctl(hub->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
		log_debug("http: stream: epoll_ctl(DEL): %s", strerror(errno));
	c->in_epoll = false;
	if (MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE) != MHD_YES)
		log_warn("http: stream: libmicrohttpd refused to close an upgraded connection");
	c->closed = true;
}

/* Bytes from a client: answers ping and close, ignores the rest. -1 once it is closed. */
static int http_ws_input(struct http_hub *hub, struct http_ws_client *c, const uint8_t *data,
			 size_t len)
{
	uint8_t frame[WS_CONTROL_MAX + 4];
	struct ws_message m;
	size_t off = 0, used;
	ssize_t n;
	int ret;

	while (off < len) {
		ret = ws_decoder_feed(&c->dec, data + off, len - off, &used, &m);
		off += used;
		if (ret < 0) {
			log_debug("http: stream client sent a bad frame (%s)", strerror(-ret));
			http_ws_close(hub, c, ws_close_code_of(ret),
				      ret == -EMSGSIZE ? "message too big" : "bad frame");
			return -1;
		}
		if (ret == 0)
			break;
		if (m.op == WS_OP_PING) {
			n = ws_frame_encode(frame, sizeof(frame), WS_OP_PONG, true, m.data, m.len,
					    NULL);
			if (n < 0 || http_ws_send(c->fd, frame, (size_t)n) < 0) {
				http_ws_close(hub, c, 0, NULL);
				return -1;
			}
		} else if (m.op == WS_OP_CLOSE) {
			/* the closing handshake: echo the code, then the server closes TCP */
			http_ws_close(hub, c, m.code, NULL);
			return -1;
		}
	}
	return 0;
}

/* A client's socket is readable or failed. */
static void http_ws_on_event(struct http_hub *hub, struct http_ws_client *c, uint32_t events)
{
	uint8_t buf[4096];
	ssize_t n;

	if (c->closed)
		return;
	/* at most 16 reads a round, so that one busy client cannot starve the rest */
	for (int round = 0; round < 16; round++) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			if (http_ws_input(hub, c, buf, (size_t)n) < 0)
				return;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		http_ws_close(hub, c, 0, NULL); /* EOF or error: the client vanished */
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR))
		http_ws_close(hub, c, 0, NULL);
}

/* Moves the clients libmicrohttpd queued into the set (stop: tells the upgrade handler
 * to refuse new ones from now on). Returns whether the hub is stopping. */
static bool http_hub_take(struct http_hub *hub, bool stop)
{
	struct http_ws_client *list, *c;
	bool stopping;

	pthread_mutex_lock(&hub->lock);
	if (stop)
		hub->stopping = true;
	list = hub->pending;
	hub->pending = NULL;
	stopping = hub->stopping;
	pthread_mutex_unlock(&hub->lock);
	while (list) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

		c = list;
		list = c->next;
		c->next = NULL;
		/* room: count bounds pending + clients[] and was checked on queueing */
		hub->clients[hub->nclients++] = c;
		if (stopping)
			continue; /* the caller closes every client */
		ev.data.ptr = c;
		if (epoll_ctl(hub->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			log_warn("http: stream: epoll_ctl(ADD): %s", strerror(errno));
			http_ws_close(hub, c, WS_CLOSE_INTERNAL, NULL);
			continue;
		}
		c->in_epoll = true;
		if (c->extra_len > 0)
			http_ws_input(hub, c, c->extra, c->extra_len);
	}
	return stopping;
}

/* Frees the clients closed this round. */
static void http_hub_reap(struct http_hub *hub)
{
	size_t j = 0, freed = 0;

	for (size_t i = 0; i < hub->nclients; i++) {
		struct http_ws_client *c = hub->clients[i];

		if (!c->closed) {
			hub->clients[j++] = c;
			continue;
		}
		ws_decoder_fini(&c->dec);
		free(c);
		freed++;
	}
	hub->nclients = j;
	if (freed) {
		pthread_mutex_lock(&hub->lock);
		hub->count -= freed;
		pthread_mutex_unlock(&hub->lock);
	}
}

/* One second: each stream's message built once, sent to each of its clients. */
static void http_hub_tick(struct http_hub *hub)
{
	struct {
		const struct http_stream *stream;
		uint8_t *frame; /* NULL: nothing to send this second */
		size_t len;
	} built[HTTP_STREAMS_MAX];
	size_t nbuilt = 0;

	for (size_t i = 0; i < hub->nclients; i++) {
		struct http_ws_client *c = hub->clients[i];
		size_t b;

		if (c->closed)
			continue;
		for (b = 0; b < nbuilt && built[b].stream != c->stream; b++)
			;
		if (b == nbuilt) {
			json_t *msg = c->stream->build(c->stream->ctx);
			char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
			size_t tlen = text ? strlen(text) : 0;

			json_decref(msg);
			built[b].stream = c->stream;
			built[b].frame = text ? malloc(ws_frame_size(tlen, false)) : NULL;
			built[b].len = 0;
			if (built[b].frame) {
				built[b].len = (size_t)ws_frame_encode(
				    built[b].frame, ws_frame_size(tlen, false), WS_OP_TEXT, true,
				    text, tlen, NULL);
			} else {
				log_debug("http: stream: no message this second");
			}
			free(text);
			nbuilt++;
		}
		if (!built[b].frame)
			continue;
		if (http_ws_send(c->fd, built[b].frame, built[b].len) < 0) {
			log_debug("http: stream client too slow or gone: dropped");
			http_ws_close(hub, c, 0, NULL);
			continue;
		}
		atomic_fetch_add(&hub->messages, 1);
	}
	for (size_t b = 0; b < nbuilt; b++)
		free(built[b].frame);
}

static void *http_hub_main(void *arg)
{
	struct http_hub *hub = arg;
	struct epoll_event ev[HTTP_WS_EVENTS];
	bool stop = false;
	uint64_t v;

	while (!stop) {
		int n = epoll_wait(hub->epfd, ev, HTTP_WS_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("http: stream thread: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &hub->evfd) {
				if (read(hub->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("http: stream: eventfd: %s", strerror(errno));
				stop = http_hub_take(hub, false);
			} else if (p == &hub->tfd) {
				if (read(hub->tfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("http: stream: timerfd: %s", strerror(errno));
				http_hub_tick(hub);
			} else {
				http_ws_on_event(hub, p, ev[i].events);
			}
		}
		http_hub_reap(hub);
	}
	http_hub_take(hub, true);
	for (size_t i = 0; i < hub->nclients; i++)
		http_ws_close(hub, hub->clients[i], WS_CLOSE_GOING_AWAY, "server shutting down");
	http_hub_reap(hub);
	return NULL;
}

static void http_hub_fds_close(struct http_hub *hub)
{
	if (hub->epfd >= 0)
		close(hub->epfd);
	if (hub->evfd >= 0)
		close(hub->evfd);
	if (hub->tfd >= 0)
		close(hub->tfd);
	hub->epfd = hub->evfd = hub->tfd = -1;
}

static int http_hub_start(struct http_hub *hub)
{
	struct itimerspec its = {.it_interval = {HTTP_WS_TICK_MS / 1000, 0},
				 .it_value = {HTTP_WS_TICK_MS / 1000, 0}};
	struct epoll_event ev = {.events = EPOLLIN};
	int err;

	hub->epfd = epoll_create1(EPOLL_CLOEXEC);
	hub->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	hub->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (hub->epfd < 0 || hub->evfd < 0 || hub->tfd < 0 ||
	    timerfd_settime(hub->tfd, 0, &its, NULL) < 0)
		goto fail_errno;
	ev.data.ptr = &hub->evfd;
	if (epoll_ctl(hub->epfd, EPOLL_CTL_ADD, hub->evfd, &ev) < 0)
		goto fail_errno;
	ev.data.ptr = &hub->tfd;
	if (epoll_ctl(hub->epfd, EPOLL_CTL_ADD, hub->tfd, &ev) < 0)
		goto fail_errno;
	err = pthread_create(&hub->thread, NULL, http_hub_main, hub);
	if (err) {
		http_hub_fds_close(hub);
		return -err;
	}
	hub->running = true;
	return 0;

fail_errno:
	err = errno;
	http_hub_fds_close(hub);
	return -err;
}

/* Closes every client and joins the thread; libmicrohttpd refuses new ones after. */
static void http_hub_stop(struct http_hub *hub)
{
	uint64_t one = 1;

	if (!hub->running)
		return;
	pthread_mutex_lock(&hub->lock);
	hub->stopping = true;
	pthread_mutex_unlock(&hub->lock);
	if (write(hub->evfd, &one, sizeof(one)) < 0)
		log_error("http: cannot wake the stream thread: %s", strerror(errno));
	pthread_join(hub->thread, NULL);
	hub->running = false;
}

/* libmicrohttpd sent the 101: the socket is ours until MHD_upgrade_action(CLOSE). */
static void http_ws_on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls,
			       const char *extra_in, size_t extra_in_size, MHD_socket sock,
			       struct MHD_UpgradeResponseHandle *urh)
{
	struct http_hub *hub = &((struct http_server *)cls)->hub;
	struct http_ws_client *c;
	uint64_t one = 1;
	bool stopping, full;
	int flags;

	(void)conn;
	c = calloc(1, sizeof(*c) + extra_in_size);
	flags = fcntl(sock, F_GETFL);
	if (!c || flags < 0 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0) {
		log_warn("http: stream client dropped: %s", c ? strerror(errno) : "out of memory");
		free(c);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	c->fd = sock;
	c->urh = urh;
	c->stream = con_cls;
	ws_decoder_init(&c->dec, true, HTTP_WS_IN_MAX);
	if (extra_in_size > 0)
		memcpy(c->extra, extra_in, extra_in_size);
	c->extra_len = extra_in_size;
	pthread_mutex_lock(&hub->lock);
	stopping = hub->stopping || !hub->running;
	full = hub->count >= HTTP_STREAM_CLIENTS_MAX;
	if (!stopping && !full) {
		c->next = hub->pending;
		hub->pending = c;
		hub->count++;
	}
	pthread_mutex_unlock(&hub->lock);
	if (stopping || full) {
		c->in_epoll = false;
		http_ws_close(hub, c, stopping ? WS_CLOSE_GOING_AWAY : WS_CLOSE_TRY_AGAIN,
			      stopping ? "server shutting down" : "too many clients");
		ws_decoder_fini(&c->dec);
		free(c);
		return;
	}
	if (write(hub->evfd, &one, sizeof(one)) < 0)
		log_error("http: cannot wake the stream thread: %s", strerror(errno));
}

/* Whether the comma-separated header value lists token (case-insensitive). */
static bool http_has_token(const char *value, const char *token)
{
	size_t n = strlen(token);

	while (value && *value) {
		size_t len, l;

		value += strspn(value, " \t,");
		len = strcspn(value, ",");
		for (l = len; l > 0 && (value[l - 1] == ' ' || value[l - 1] == '\t'); l--)
			;
		if (l == n && strncasecmp(value, token, n) == 0)
			return true;
		value += len;
	}
	return false;
}

/* The answer to a request a route made a stream: 101 and the upgrade, or an error. */
static enum MHD_Result http_ws_answer(struct http_server *srv, struct MHD_Connection *conn,
				      const char *method, const char *path, void **con_cls,
				      struct http_reply *reply)
{
	struct http_hub *hub = &srv->hub;
	const char *upgrade, *connection, *version, *key;
	char accept[WS_ACCEPT_LEN + 1];
	struct MHD_Response *resp;
	bool stopping, full;
	enum MHD_Result ret;

	upgrade = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
	connection = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
	version = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	if (strcmp(method, "GET") != 0 || !http_has_token(upgrade, "websocket") ||
	    !http_has_token(connection, "upgrade")) {
		http_reply_error(reply, 400,
				 "%.128s is a WebSocket: send GET with Connection: Upgrade, "
				 "Upgrade: websocket, Sec-WebSocket-Version: 13 and a "
				 "Sec-WebSocket-Key",
				 path);
		return http_queue(conn, reply);
	}
	if (!version || strcmp(version, "13") != 0) {
		http_reply_error(reply, 400,
				 "Sec-WebSocket-Version '%.16s' is not supported (13 is)",
				 version ? version : "");
		return http_queue(conn, reply);
	}
	if (ws_accept_key(key, accept) < 0) {
		http_reply_error(reply, 400, "missing or malformed Sec-WebSocket-Key");
		return http_queue(conn, reply);
	}
	pthread_mutex_lock(&hub->lock);
	stopping = hub->stopping || !hub->running;
	full = hub->count >= HTTP_STREAM_CLIENTS_MAX;
	pthread_mutex_unlock(&hub->lock);
	if (stopping || full) {
		if (stopping)
			http_reply_error(reply, 503, "shutting down");
		else
			http_reply_error(reply, 503, "too many stream clients (at most %d)",
					 HTTP_STREAM_CLIENTS_MAX);
		return http_queue(conn, reply);
	}
	resp = MHD_create_response_for_upgrade(http_ws_on_upgrade, srv);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket") != MHD_YES ||
	    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	/* the upgrade handler gets con_cls: the stream this client follows */
	*con_cls = reply->stream;
	ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* --- API token --- */

bool http_token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	/* Every byte up to the longer length is compared, whatever differs first, so the
	 * time depends on the lengths only (out-of-range bytes read as 0 and the length
	 * difference is OR-ed in). */
	size_t n = alen > blen ? alen : blen;
	unsigned char diff = 0;
	size_t lendiff = alen ^ blen;

	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < alen ? (unsigned char)a[i] : 0;
		unsigned char y = i < blen ? (unsigned char)b[i] : 0;

		diff |= (unsigned char)(x ^ y);
	}
	return (diff | (lendiff != 0)) == 0;
}

int http_token_read(const char *path, char **out, char *err, size_t errlen)
{
	char buf[HTTP_TOKEN_MAX + 2];
	size_t len;
	FILE *f;
	int e;

	if (!path) {
		*out = NULL;
		return 0;
	}
	f = fopen(path, "re");
	if (!f) {
		e = errno;
		snprintf(err, errlen, "--api-token-file: %s: %s", path, strerror(e));
		return -e;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	e = ferror(f);
	fclose(f);
	if (e) {
		snprintf(err, errlen, "--api-token-file: %s: read error", path);
		return -EIO;
	}
	if (len > HTTP_TOKEN_MAX) {
		snprintf(err, errlen, "--api-token-file: %s: a token is at most %d bytes", path,
			 HTTP_TOKEN_MAX);
		return -EINVAL;
	}
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "--api-token-file: %s: empty token file", path);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f) {
			snprintf(err, errlen,
				 "%s: the token must be one line of printable characters without "
				 "spaces",
				 path);
			explicit_bzero(buf, sizeof(buf));
			return -EINVAL;
		}
	}
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int http_server_set_token(struct http_server *srv, const char *token, bool health_open)
{
	char *copy = NULL;

	if (token) {
		copy = strdup(token);
		if (!copy)
			return -ENOMEM;
	}
	if (srv->token) {
		explicit_bzero(srv->token, srv->token_len);
		free(srv->token);
	}
	srv->token = copy;
	srv->token_len = copy ? strlen(copy) : 0;
	srv->health_open = health_open;
	return 0;
}

/* Whether the request may go on: no token configured, a path that needs none (the
 * dashboard's page and assets: everything outside /api/ and /metrics; /api/health with
 * health_open), or the right token in "Authorization: Bearer <token>" (for the WebSocket
 * upgrade of /api/stream also as ?ayaflow_token=, since browsers cannot set headers on
 * a WebSocket). */
static bool http_authorized(const struct http_server *srv, struct MHD_Connection *conn,
			    const char *path)
{
	const char *auth, *given = NULL;

	if (!srv->token)
		return true;
	if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0 &&
	    strcmp(path, "/metrics") != 0)
		return true;
	if (srv->health_open && strcmp(path, "/api/health") == 0)
		return true;
	auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		given = auth + 7;
		while (*given == ' ')
			given++;
	} else if (strcmp(path, "/api/stream") == 0) {
		given = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "ayaflow_token");
	}
	if (!given)
		return false;
	return http_token_equal(given, strnlen(given, HTTP_TOKEN_MAX + 1), srv->token,
				srv->token_len);
}

static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_data_size,
				       void **con_cls)
{
	static int first_call_marker;
	struct http_server *srv = cls;
	struct http_reply reply = {0};
	struct http_request req = {.conn = conn, .method = method, .path = url, .srv = srv};
	const union MHD_ConnectionInfo *ci;

	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		*con_cls = &first_call_marker;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0; /* bodies are not used: discard */
		return MHD_YES;
	}

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (srv->allow && cidr_list_count(srv->allow) > 0 &&
	    (!ci || !ci->client_addr || !cidr_list_match(srv->allow, ci->client_addr))) {
		http_reply_error(&reply, 403, "client address is not in allowed_ips");
		return http_queue(conn, &reply);
	}
	if (!http_authorized(srv, conn, url)) {
		http_reply_error(&reply, 401, "missing or wrong API token (Authorization: Bearer)");
		return http_queue_hdr(conn, &reply, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				      "Bearer realm=\"ayaflow\"");
	}
	srv->handler(srv->ctx, &req, &reply);
	if (reply.stream)
		return http_ws_answer(srv, conn, method, url, con_cls, &reply);
	if (reply.status == 0 && !reply.body)
		http_reply_error(&reply, 500, "internal error");
	return http_queue(conn, &reply);
}

static void http_on_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void http_on_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("http: %s", msg);
}

static int http_listen(uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in6 a6 = {
	    .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
	struct sockaddr_in a4 = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
	int one = 1, zero = 0;
	int fd, e;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(fd, (struct sockaddr *)&a6, sizeof(a6)) < 0) {
			e = errno;
			close(fd);
			fd = -1;
			if (e != EADDRNOTAVAIL && e != EAFNOSUPPORT)
				goto fail_errno;
		}
	}
	if (fd < 0) {
		/* No IPv6 on this host: IPv4 only. */
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			e = errno;
			goto fail_errno;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(fd, (struct sockaddr *)&a4, sizeof(a4)) < 0) {
			e = errno;
			close(fd);
			goto fail_errno;
		}
	}
	if (listen(fd, 128) < 0) {
		e = errno;
		close(fd);
		goto fail_errno;
	}
	return fd;

fail_errno:
	if (e == EADDRINUSE)
		snprintf(err, errlen, "port %u is already in use", port);
	else if (e == EACCES)
		snprintf(err, errlen, "port %u: permission denied", port);
	else
		snprintf(err, errlen, "port %u: %s", port, strerror(e));
	return -e;
}

struct http_server *http_server_new(uint16_t port, const struct cidr_list *allow,
				    http_handler_fn handler, void *ctx, char *err, size_t errlen)
{
	struct http_server *srv;
	int fd;

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	fd = http_listen(port, err, errlen);
	if (fd < 0) {
		free(srv);
		errno = -fd;
		return NULL;
	}
	srv->listen_fd = fd;
	srv->port = port;
	srv->allow = allow;
	srv->handler = handler;
	srv->ctx = ctx;
	srv->hub.epfd = srv->hub.evfd = srv->hub.tfd = -1;
	atomic_init(&srv->hub.messages, 0);
	if (pthread_mutex_init(&srv->hub.lock, NULL) != 0) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		free(srv);
		errno = ENOMEM;
		return NULL;
	}
	return srv;
}

/* The per-connection idle timeout: HTTP_CONN_TIMEOUT_S, or AYAFLOW_HTTP_TIMEOUT_S
 * (1..3600) from the environment, which exists for tests that must not wait 30 s. */
static unsigned int http_conn_timeout_s(void)
{
	const char *v = getenv("AYAFLOW_HTTP_TIMEOUT_S");
	char *end;
	unsigned long t;

	if (!v || !*v)
		return HTTP_CONN_TIMEOUT_S;
	errno = 0;
	t = strtoul(v, &end, 10);
	if (errno || *end || t < 1 || t > 3600) {
		log_warn("AYAFLOW_HTTP_TIMEOUT_S='%s' ignored (1..3600)", v);
		return HTTP_CONN_TIMEOUT_S;
	}
	return (unsigned int)t;
}

int http_server_start(struct http_server *srv, char *err, size_t errlen)
{
	int ret;

	/* the stream thread first: the first upgrade may come at once */
	ret = http_hub_start(&srv->hub);
	if (ret < 0) {
		snprintf(err, errlen, "port %u: cannot start the stream thread: %s", srv->port,
			 strerror(-ret));
		return ret;
	}
	/* MHD_USE_ITC: MHD_upgrade_action(CLOSE) from the stream thread wakes libmicrohttpd's
	 * thread at once to finish the connection */
	srv->daemon = MHD_start_daemon(
	    MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_UPGRADE | MHD_USE_ITC |
		MHD_USE_ERROR_LOG,
	    0, NULL, NULL, http_on_request, srv, MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, http_conn_timeout_s(),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	    MHD_OPTION_EXTERNAL_LOGGER, http_on_log, NULL, MHD_OPTION_END);
	if (!srv->daemon) {
		snprintf(err, errlen, "port %u: cannot start the HTTP server", srv->port);
		return -EIO; /* http_server_free stops the stream thread */
	}
	return 0;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	/* every upgraded connection closed first, else MHD_stop_daemon complains */
	http_hub_stop(&srv->hub);
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon); /* closes the listening socket it was given */
	else
		close(srv->listen_fd);
	http_hub_fds_close(&srv->hub);
	pthread_mutex_destroy(&srv->hub.lock);
	if (srv->token) {
		explicit_bzero(srv->token, srv->token_len);
		free(srv->token);
	}
	free(srv);
}
