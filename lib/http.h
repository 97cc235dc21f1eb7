/* http.h - the HTTP server of every program (the only user of libmicrohttpd):
 * a listening socket we bind ourselves (so "port in use" is a clear error), the CIDR
 * allowlist applied to every request (403), JSON replies and errors in one shape:
 * {"error":{"code":N,"message":"..."}}, and WebSocket streams on the same port. Handlers
 * run on libmicrohttpd's threads. */
#ifndef AYAFLOW_HTTP_H
#define AYAFLOW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cidr.h"

struct http_server;
struct http_request; /* opaque: read it through the functions below */

struct http_reply {
	unsigned int status;
	char *body; /* malloc'd; the server frees it after sending */
	size_t len;
	const char *content_type; /* static string */
	/* Content-Security-Policy header (static string), or NULL for none: set by routes
	 * that serve a page. */
	const char *content_security_policy;
	/* Set by http_reply_stream: the request becomes a WebSocket of this stream. */
	struct http_stream *stream;
};

/* Fills reply; called once per request, on a server thread. */
typedef void (*http_handler_fn)(void *ctx, const struct http_request *req,
				struct http_reply *reply);

const char *http_request_method(const struct http_request *req);
const char *http_request_path(const struct http_request *req);
/* The query argument, or NULL when absent. */
const char *http_request_arg(const struct http_request *req, const char *name);

/* The name of the first query argument that is not in known[0..n), or NULL when every
 * argument is known: lets an endpoint answer a typo with a 400 naming it. The string is
 * valid during the request. */
const char *http_request_unknown_arg(const struct http_request *req, const char *const *known,
				     size_t n);

/* Reads ?name= as an unsigned integer: absent -> def; not a number or out of
 * [min, max] -> writes a 400 reply naming the parameter and returns -EINVAL. */
int http_request_arg_uint(const struct http_request *req, const char *name, uint64_t def,
			  uint64_t min, uint64_t max, uint64_t *out, struct http_reply *reply);

/* Serialises body (reference stolen) as the reply. Returns 0 or -ENOMEM. */
int http_reply_json(struct http_reply *reply, unsigned int status, json_t *body);
/* Takes ownership of text (malloc'd). */
void http_reply_text(struct http_reply *reply, unsigned int status, const char *content_type,
		     char *text, size_t len);
void http_reply_error(struct http_reply *reply, unsigned int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- WebSocket streams (RFC 6455, framing in ws.h) ---
 * A route answers with http_reply_stream; the server then checks the upgrade request
 * (GET, Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13, a valid
 * Sec-WebSocket-Key; else 400), its room (HTTP_STREAM_CLIENTS_MAX clients, else 503)
 * and answers 101. The allowlist (403) applies as to every request. From then on one
 * server thread, the stream thread, owns the socket: once a second it calls build once
 * per stream and sends the text to every client of that stream; it answers ping with
 * pong and close with close, and drops clients that send garbage (closing with the
 * RFC's code), vanish, or cannot take a message at once (a full socket buffer: a slow
 * client never delays the others). */
#define HTTP_STREAM_CLIENTS_MAX 256
#define HTTP_STREAMS_MAX	4 /* distinct (build, ctx) pairs per server */

/* Called on the stream thread, never on libmicrohttpd's, about once a second while the
 * stream has clients: a new reference to the message to send, or NULL to skip this
 * second. ctx must stay valid until http_server_free returns. */
typedef json_t *(*http_stream_fn)(void *ctx);

/* Makes reply a WebSocket upgrade to the stream (build, ctx); the same pair names the same
 * stream on every call. Fails only when the server already has HTTP_STREAMS_MAX others
 * (then the reply is a 500). */
void http_reply_stream(const struct http_request *req, struct http_reply *reply,
		       http_stream_fn build, void *ctx);

struct http_stream_stats {
	uint64_t clients;  /* WebSocket clients connected now */
	uint64_t messages; /* messages sent by the stream thread since start */
};

/* The stream counters of the server that serves req (for /metrics). */
void http_request_stream_stats(const struct http_request *req, struct http_stream_stats *out);
/* Appends them to a 200 /metrics reply in the Prometheus text format:
 * ayaflow_http_stream_clients (gauge), ayaflow_http_stream_messages_total (counter). Any
 * other reply is left as it is. 0 or -ENOMEM (the reply is then unchanged). */
int http_reply_append_stream_metrics(const struct http_request *req, struct http_reply *reply);

/* Binds [::]:port (dual stack; IPv4 only where IPv6 is off) without serving yet, so a
 * busy port is found before anything else is touched and the listening socket exists
 * before privileges are dropped. allow may be NULL or empty (everybody) and must outlive
 * the server. On failure returns NULL with errno set and a message in err (e.g. "port
 * 3001 is already in use"). */
struct http_server *http_server_new(uint16_t port, const struct cidr_list *allow,
				    http_handler_fn handler, void *ctx, char *err, size_t errlen);
/* --- API bearer token ---
 * With a token set, every request to /api/... and /metrics needs the header
 * "Authorization: Bearer <token>" (the WebSocket upgrade of /api/stream may carry it as
 * ?ayaflow_token=<token> instead, since browsers cannot set headers there); otherwise
 * the answer is 401 with "WWW-Authenticate: Bearer realm="ayaflow"" and the JSON error.
 * The dashboard's page and assets (every other path) stay open: they hold no data.
 * health_open lets /api/health answer without the token (for probes). */

/* Sets (copies) the token before http_server_start; NULL: no authentication. 0 or
 * -ENOMEM. */
int http_server_set_token(struct http_server *srv, const char *token, bool health_open);

/* Reads the token from a file holding one line (a trailing newline is dropped; at most
 * 4096 printable characters without spaces). 0 and *out (malloc'd, the caller frees; NULL
 * when path is NULL: no token) or -errno with a message naming --api-token-file and the
 * file in err (unreadable, empty, malformed). */
int http_token_read(const char *path, char **out, char *err, size_t errlen);

/* Compares two tokens in time that depends only on their lengths, not on where they
 * differ (for secrets). True when equal. */
bool http_token_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Starts serving on libmicrohttpd's own thread. 0 or -errno with a message in err. */
int http_server_start(struct http_server *srv, char *err, size_t errlen);
/* Stops serving: closes every WebSocket client (close 1001) and stops the stream thread,
 * then waits for handlers in flight, closes the socket, frees. Accepts NULL. */
void http_server_free(struct http_server *srv);

#endif
