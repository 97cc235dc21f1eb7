/* http_client.h - ayaflowctl's HTTP client: the one module that speaks libcurl. A GET of a
 * collector API path with URL-encoded query parameters, a timeout, a bounded response
 * body and an optional bearer token; the result is the HTTP status and the body, or a
 * negative errno with a message saying what failed (curl's words, with the URL). Also a
 * WebSocket client (RFC 6455, framing in lib/ws.h) for `watch`: libcurl 7.88 has no ws://,
 * so the connection is CURLOPT_CONNECT_ONLY and the handshake and frames are ours. */
#ifndef AYAFLOW_CLI_HTTP_CLIENT_H
#define AYAFLOW_CLI_HTTP_CLIENT_H

#include <stddef.h>

#define HTTP_CLIENT_ERR_LEN 512

struct http_client_config {
	const char *base_url; /* "http://host:3000"; a trailing '/' is ignored */
	const char *token;    /* sent as "Authorization: Bearer TOKEN"; NULL or "" = none */
	long timeout_ms;      /* whole request, connect included */
	size_t max_body;      /* a longer body fails with -EMSGSIZE */
};

/* One query parameter; the value is URL-encoded by http_client_get. */
struct http_client_param {
	const char *name;
	const char *value;
};

struct http_client_response {
	long status; /* HTTP status code */
	char *body;  /* NUL-terminated (not counted in len); owned by the response */
	size_t len;
};

struct http_client;

/* Copies what it needs from cfg. NULL with errno set on failure (ENOMEM, EIO when
 * libcurl cannot start). Call at most one at a time per process: it initialises
 * libcurl's global state, and http_client_free releases it. */
struct http_client *http_client_new(const struct http_client_config *cfg);
void http_client_free(struct http_client *c);

/* GET base_url + path ("/api/history") + "?" + the n parameters. Any HTTP status is a
 * success (0): the caller decides what a 4xx means. On failure returns -ENOMEM,
 * -EMSGSIZE (body over max_body), -ETIMEDOUT, -ECONNREFUSED or -EIO and writes a message
 * ("GET http://...: Couldn't connect to server") to err. On success *resp owns a new
 * body (release it with http_client_response_fini); on failure *resp is untouched. */
int http_client_get(struct http_client *c, const char *path, const struct http_client_param *params,
		    size_t n, struct http_client_response *resp, char *err, size_t errlen);
void http_client_response_fini(struct http_client_response *resp);

struct http_client_ws;

/* Opens base_url + path as a WebSocket (its own connection; the token is sent as for
 * GET). 0 with *out; -EPROTO when the server answered without upgrading (*status is its
 * HTTP status, 0 when the answer was not HTTP); -ECONNREFUSED, -ETIMEDOUT, -EIO or
 * -ENOMEM when it cannot be reached or the handshake fails. err says what failed. */
int http_client_ws_open(struct http_client *c, const char *path, struct http_client_ws **out,
			long *status, char *err, size_t errlen);
/* Waits up to timeout_ms for the next text message, answering pings meanwhile. 0 with
 * *text (malloc'd, NUL-terminated; the caller frees it) and *len; -ETIMEDOUT; -EINTR when
 * a signal arrived; -ECONNRESET when the server closed (err gives its close code) or the
 * connection broke; -EPROTO on a malformed frame; -ENOMEM. */
int http_client_ws_recv(struct http_client_ws *ws, long timeout_ms, char **text, size_t *len,
			char *err, size_t errlen);
/* Sends a close frame (1000) when still open, closes the connection, frees. NULL is fine. */
void http_client_ws_close(struct http_client_ws *ws);

#endif
