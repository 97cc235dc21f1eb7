/* http_client.c - ayaflowctl's libcurl adapter (see http_client.h). One easy handle per
 * client, reused by every request so that `watch` keeps its connection alive. Only
 * http and https are allowed, redirects are not followed (the bearer token never
 * leaves for another host), and the body is collected into a buffer that stops
 * growing at max_body. A WebSocket gets its own CONNECT_ONLY handle: curl connects (and
 * does TLS for https), we send the upgrade request and read frames with
 * curl_easy_send/curl_easy_recv, waiting in poll() on the socket. */
#include "http_client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "version.h"
#include "ws.h"

#define HTTP_CLIENT_WS_IN	(16 * 1024) /* also the bound of the 101's headers */
#define HTTP_CLIENT_WS_MSG_MAX	(1u << 20)
#define HTTP_CLIENT_WS_CLOSE_MS 1000

struct http_client {
	CURL *curl;
	struct curl_slist *headers; /* Authorization, when a token is given */
	char *base_url;		    /* without trailing '/' */
	char *auth;		    /* "Authorization: Bearer TOKEN" or NULL; wiped when freed */
	long timeout_ms;
	size_t max_body;
};

/* The body being received: grows by doubling, never past max + 1 bytes. */
struct http_client_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
	bool too_large;
	bool nomem;
};

struct http_client *http_client_new(const struct http_client_config *cfg)
{
	struct http_client *c;
	size_t n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		errno = EIO;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto err_global;
	c->base_url = strdup(cfg->base_url);
	if (!c->base_url)
		goto err_free;
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	c->timeout_ms = cfg->timeout_ms;
	c->max_body = cfg->max_body;
	if (cfg->token && *cfg->token) {
		char *hdr;

		if (asprintf(&hdr, "Authorization: Bearer %s", cfg->token) < 0)
			goto err_free;
		c->headers = curl_slist_append(NULL, hdr);
		c->auth = hdr; /* for the WebSocket handshake */
		if (!c->headers)
			goto err_free;
	}
	c->curl = curl_easy_init();
	if (!c->curl) {
		errno = EIO;
		goto err_free;
	}
	return c;

err_free:
	curl_slist_free_all(c->headers);
	if (c->auth) {
		/* the token stays out of freed heap memory */
		explicit_bzero(c->auth, strlen(c->auth));
		free(c->auth);
	}
	free(c->base_url);
	free(c);
	if (errno != EIO)
		errno = ENOMEM;
err_global:
	curl_global_cleanup();
	return NULL;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	if (c->auth) {
		explicit_bzero(c->auth, strlen(c->auth));
		free(c->auth);
	}
	free(c->base_url);
	free(c);
	curl_global_cleanup();
}

void http_client_response_fini(struct http_client_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

static size_t http_client_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_client_buf *b = userdata;
	size_t n = size * nmemb;

	if (n > b->max - b->len) {
		b->too_large = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		p = realloc(b->data, cap);
		if (!p) {
			b->nomem = true;
			return 0;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* base_url + path + "?name=value&..." with names and values URL-encoded. NULL on ENOMEM. */
static char *http_client_url(struct http_client *c, const char *path,
			     const struct http_client_param *params, size_t n)
{
	char *url = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&url, &len);
	bool ok = true;

	if (!f)
		return NULL;
	fprintf(f, "%s%s", c->base_url, path);
	for (size_t i = 0; i < n && ok; i++) {
		char *name = curl_easy_escape(c->curl, params[i].name, 0);
		char *value = curl_easy_escape(c->curl, params[i].value, 0);

		if (name && value)
			fprintf(f, "%c%s=%s", i == 0 ? '?' : '&', name, value);
		else
			ok = false;
		curl_free(name);
		curl_free(value);
	}
	if (fclose(f) != 0 || !ok) {
		free(url);
		return NULL;
	}
	return url;
}

static int http_client_errno(CURLcode rc, const struct http_client_buf *b)
{
	if (b->too_large)
		return -EMSGSIZE;
	if (b->nomem || rc == CURLE_OUT_OF_MEMORY)
		return -ENOMEM;
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

static int http_client_setopts(struct http_client *c, const char *url, struct http_client_buf *b)
{
	CURL *h = c->curl;

	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "ayaflowctl/" AYAFLOW_VERSION) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_client_write) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, b) != CURLE_OK)
		return -EIO;
	return 0;
}

int http_client_get(struct http_client *c, const char *path, const struct http_client_param *params,
		    size_t n, struct http_client_response *resp, char *err, size_t errlen)
{
	struct http_client_buf b = {.max = c->max_body};
	char curl_err[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	char *url;
	int ret;

	url = http_client_url(c, path, params, n);
	if (!url) {
		snprintf(err, errlen, "GET %s%s: out of memory", c->base_url, path);
		return -ENOMEM;
	}
	if (http_client_setopts(c, url, &b) < 0 ||
	    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, curl_err) != CURLE_OK) {
		snprintf(err, errlen, "GET %s: libcurl refused an option", url);
		ret = -EIO;
		goto out;
	}
	rc = curl_easy_perform(c->curl);
	/* curl_err lives on this stack frame: unhook it before returning */
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK) {
		ret = http_client_errno(rc, &b);
		if (ret == -EMSGSIZE)
			snprintf(err, errlen, "GET %s: response larger than %zu bytes", url,
				 c->max_body);
		else
			snprintf(err, errlen, "GET %s: %s", url,
				 curl_err[0] ? curl_err : curl_easy_strerror(rc));
		goto out;
	}
	if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) {
		snprintf(err, errlen, "GET %s: no HTTP status", url);
		ret = -EIO;
		goto out;
	}
	if (!b.data) {
		b.data = strdup("");
		if (!b.data) {
			snprintf(err, errlen, "GET %s: out of memory", url);
			ret = -ENOMEM;
			goto out;
		}
	}
	resp->status = status;
	resp->body = b.data;
	resp->len = b.len;
	b.data = NULL;
	ret = 0;
out:
	free(b.data);
	free(url);
	return ret;
}

/* --- WebSocket --- */

struct http_client_ws {
	CURL *curl;
	curl_socket_t fd;
	struct ws_decoder dec;
	bool closed; /* a close frame was sent or received */
	uint8_t in[HTTP_CLIENT_WS_IN];
	size_t in_off, in_len;
};

static uint64_t http_client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits until the socket is ready or the deadline. 0, -ETIMEDOUT or -EINTR. */
static int http_client_ws_wait(struct http_client_ws *ws, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = ws->fd, .events = events};
	uint64_t now = http_client_now_ms();
	int n;

	if (now >= deadline)
		return -ETIMEDOUT;
	n = poll(&p, 1, (int)(deadline - now > 60000 ? 60000 : deadline - now));
	if (n < 0)
		return errno == EINTR ? -EINTR : -EIO;
	return 0; /* ready, or a slice of the wait over: the caller tries again */
}

static int http_client_ws_send(struct http_client_ws *ws, const void *buf, size_t len,
			       uint64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(ws->curl, (const char *)buf + off, len - off, &n);
		int ret;

		if (rc == CURLE_AGAIN) {
			ret = http_client_ws_wait(ws, POLLOUT, deadline);
			if (ret < 0)
				return ret;
			continue;
		}
		if (rc != CURLE_OK)
			return -ECONNRESET;
		off += n;
	}
	return 0;
}

/* A masked control frame (clients mask every frame, with a fresh random mask). */
static int http_client_ws_control(struct http_client_ws *ws, enum ws_opcode op, uint16_t code,
				  const uint8_t *payload, size_t len, uint64_t deadline)
{
	uint8_t frame[WS_CONTROL_MAX + WS_HEADER_MAX], mask[WS_MASK_LEN];
	ssize_t n;

	if (ws_random(mask, sizeof(mask)) < 0)
		return -EIO;
	if (op == WS_OP_CLOSE)
		n = ws_close_encode(frame, sizeof(frame), code == WS_CLOSE_NO_STATUS ? 0 : code,
				    NULL, mask);
	else
		n = ws_frame_encode(frame, sizeof(frame), op, true, payload, len, mask);
	if (n < 0)
		return (int)n;
	return http_client_ws_send(ws, frame, (size_t)n, deadline);
}

/* Sends a close frame (best effort: the connection is over either way) and remembers
 * that no other may follow. */
static void http_client_ws_farewell(struct http_client_ws *ws, uint16_t code, uint64_t deadline)
{
	if (http_client_ws_control(ws, WS_OP_CLOSE, code, NULL, 0, deadline) < 0)
		ws->in_len = ws->in_off; /* nothing more will be read either */
	ws->closed = true;
}

/* Reads more into in[]. 0, -ETIMEDOUT, -EINTR, -ECONNRESET (closed or failed), -ENOBUFS
 * (in[] full: headers too long). */
static int http_client_ws_fill(struct http_client_ws *ws, uint64_t deadline)
{
	if (ws->in_off > 0) {
		memmove(ws->in, ws->in + ws->in_off, ws->in_len - ws->in_off);
		ws->in_len -= ws->in_off;
		ws->in_off = 0;
	}
	if (ws->in_len == sizeof(ws->in))
		return -ENOBUFS;
	for (;;) {
		size_t n = 0;
		CURLcode rc = curl_easy_recv(ws->curl, (char *)ws->in + ws->in_len,
					     sizeof(ws->in) - ws->in_len, &n);
		int ret;

		if (rc == CURLE_OK) {
			if (n == 0)
				return -ECONNRESET;
			ws->in_len += n;
			return 0;
		}
		if (rc != CURLE_AGAIN)
			return -ECONNRESET;
		ret = http_client_ws_wait(ws, POLLIN, deadline);
		if (ret < 0)
			return ret;
	}
}

/* The value of header name in the response head (NUL-terminated), trimmed, into out. */
static bool http_client_ws_header(const char *head, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
		size_t len;

		line += 2;
		if (strncasecmp(line, name, n) != 0 || line[n] != ':')
			continue;
		line += n + 1;
		line += strspn(line, " \t");
		len = strcspn(line, "\r");
		while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
			len--;
		if (len >= outlen)
			return false;
		memcpy(out, line, len);
		out[len] = '\0';
		return true;
	}
	return false;
}

/* The request line's target and the Host header from base_url + path. */
static int http_client_ws_target(const char *url, char **target, char **host)
{
	CURLU *u = curl_url();
	char *h = NULL, *port = NULL, *p = NULL;
	int ret = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK) {
		*target = strdup(p);
		if (asprintf(host, "%s:%s", h, port) < 0)
			*host = NULL;
		ret = *target && *host ? 0 : -ENOMEM;
		if (ret) {
			free(*target);
			free(*host);
		}
	}
	curl_free(h);
	curl_free(port);
	curl_free(p);
	curl_url_cleanup(u);
	return ret;
}

/* Sends the upgrade request and checks the 101 (RFC 6455 4.1). */
static int http_client_ws_handshake(struct http_client *c, struct http_client_ws *ws,
				    const char *url, long *status, char *err, size_t errlen)
{
	uint64_t deadline = http_client_now_ms() + (uint64_t)c->timeout_ms;
	char key[WS_KEY_LEN + 1], want[WS_ACCEPT_LEN + 1], got[64], *req = NULL;
	char *target = NULL, *host = NULL, *end;
	uint8_t nonce[16];
	int ret, n;

	ret = http_client_ws_target(url, &target, &host);
	if (ret < 0) {
		snprintf(err, errlen, "GET %s: cannot parse the URL", url);
		return ret == -ENOMEM ? -ENOMEM : -EIO;
	}
	if (ws_random(nonce, sizeof(nonce)) < 0 || ws_client_key(nonce, key) < 0 ||
	    ws_accept_key(key, want) < 0) {
		snprintf(err, errlen, "GET %s: cannot make a WebSocket key", url);
		ret = -EIO;
		goto out;
	}
	n = asprintf(&req,
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ayaflowctl/" AYAFLOW_VERSION
		     "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n%s%s\r\n",
		     target, host, key, c->auth ? c->auth : "", c->auth ? "\r\n" : "");
	if (n < 0) {
		req = NULL;
		snprintf(err, errlen, "GET %s: out of memory", url);
		ret = -ENOMEM;
		goto out;
	}
	ret = http_client_ws_send(ws, req, (size_t)n, deadline);
	explicit_bzero(req, (size_t)n);
	while (ret == 0 && !(end = memmem(ws->in, ws->in_len, "\r\n\r\n", 4)))
		ret = http_client_ws_fill(ws, deadline);
	if (ret < 0) {
		snprintf(err, errlen, "GET %s: %s", url,
			 ret == -ETIMEDOUT ? "timed out waiting for the WebSocket handshake"
			 : ret == -ENOBUFS ? "response headers too long"
			 : ret == -EINTR   ? "interrupted"
					   : "connection closed during the WebSocket handshake");
		if (ret == -ENOBUFS || ret == -ECONNRESET)
			ret = -EIO;
		goto out;
	}
	*end = '\0';
	ws->in_off = (size_t)((uint8_t *)end - ws->in) + 4;
	if (sscanf((char *)ws->in, "HTTP/1.%*1[01] %ld", status) != 1) {
		*status = 0;
		snprintf(err, errlen, "GET %s: the answer is not HTTP", url);
		ret = -EPROTO;
		goto out;
	}
	if (*status != 101) {
		snprintf(err, errlen, "GET %s: HTTP status %ld instead of a WebSocket upgrade", url,
			 *status);
		ret = -EPROTO;
		goto out;
	}
	if (!http_client_ws_header((char *)ws->in, "Sec-WebSocket-Accept", got, sizeof(got)) ||
	    strcmp(got, want) != 0) {
		snprintf(err, errlen, "GET %s: wrong Sec-WebSocket-Accept in the upgrade", url);
		ret = -EIO;
		goto out;
	}
	ret = 0;
out:
	free(req);
	free(target);
	free(host);
	return ret;
}

int http_client_ws_open(struct http_client *c, const char *path, struct http_client_ws **out,
			long *status, char *err, size_t errlen)
{
	struct http_client_buf none = {0};
	char curl_err[CURL_ERROR_SIZE] = "";
	struct http_client_ws *ws;
	CURLcode rc;
	char *url;
	int ret;

	*status = 0;
	if (asprintf(&url, "%s%s", c->base_url, path) < 0) {
		snprintf(err, errlen, "GET %s%s: out of memory", c->base_url, path);
		return -ENOMEM;
	}
	ws = calloc(1, sizeof(*ws));
	if (!ws || !(ws->curl = curl_easy_init())) {
		snprintf(err, errlen, "GET %s: out of memory", url);
		ret = -ENOMEM;
		goto fail;
	}
	ws->fd = CURL_SOCKET_BAD;
	ws_decoder_init(&ws->dec, false, HTTP_CLIENT_WS_MSG_MAX);
	if (curl_easy_setopt(ws->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(ws->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(ws->curl, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK ||
	    curl_easy_setopt(ws->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(ws->curl, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(ws->curl, CURLOPT_ERRORBUFFER, curl_err) != CURLE_OK) {
		snprintf(err, errlen, "GET %s: libcurl refused an option", url);
		ret = -EIO;
		goto fail;
	}
	rc = curl_easy_perform(ws->curl);
	curl_easy_setopt(ws->curl, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK) {
		ret = http_client_errno(rc, &none);
		snprintf(err, errlen, "GET %s: %s", url,
			 curl_err[0] ? curl_err : curl_easy_strerror(rc));
		goto fail;
	}
	if (curl_easy_getinfo(ws->curl, CURLINFO_ACTIVESOCKET, &ws->fd) != CURLE_OK ||
	    ws->fd == CURL_SOCKET_BAD) {
		snprintf(err, errlen, "GET %s: no socket", url);
		ret = -EIO;
		goto fail;
	}
	ret = http_client_ws_handshake(c, ws, url, status, err, errlen);
	if (ret < 0)
		goto fail;
	free(url);
	*out = ws;
	return 0;
fail:
	if (ws) {
		ws->closed = true; /* nothing to say to a server that did not upgrade */
		http_client_ws_close(ws);
	}
	free(url);
	return ret;
}

int http_client_ws_recv(struct http_client_ws *ws, long timeout_ms, char **text, size_t *len,
			char *err, size_t errlen)
{
	uint64_t deadline = http_client_now_ms() + (uint64_t)timeout_ms;
	struct ws_message m;
	size_t used;
	int ret;

	for (;;) {
		while (ws->in_off < ws->in_len) {
			ret = ws_decoder_feed(&ws->dec, ws->in + ws->in_off,
					      ws->in_len - ws->in_off, &used, &m);
			ws->in_off += used;
			if (ret < 0) {
				snprintf(err, errlen, "malformed WebSocket frame from the server");
				/* a last word (1002, 1007 or 1009); the connection ends either way
				 */
				if (!ws->closed)
					http_client_ws_farewell(ws, ws_close_code_of(ret),
								deadline);
				return ret == -ENOMEM ? -ENOMEM : -EPROTO;
			}
			if (ret == 0)
				break;
			if (m.op == WS_OP_TEXT) {
				char *t = malloc(m.len + 1);

				if (!t) {
					snprintf(err, errlen, "out of memory");
					return -ENOMEM;
				}
				memcpy(t, m.data, m.len);
				t[m.len] = '\0';
				*text = t;
				*len = m.len;
				return 0;
			}
			if (m.op == WS_OP_PING && http_client_ws_control(ws, WS_OP_PONG, 0, m.data,
									 m.len, deadline) < 0) {
				snprintf(err, errlen, "connection lost");
				return -ECONNRESET;
			}
			if (m.op == WS_OP_CLOSE) {
				if (m.code == WS_CLOSE_NO_STATUS)
					snprintf(err, errlen, "the server closed the stream");
				else
					snprintf(err, errlen,
						 "the server closed the stream (code %u%s%.*s)",
						 m.code, m.len ? ": " : "", (int)m.len,
						 (const char *)m.data);
				if (!ws->closed)
					http_client_ws_farewell(ws, m.code, deadline);
				return -ECONNRESET;
			}
		}
		ret = http_client_ws_fill(ws, deadline);
		if (ret < 0) {
			if (ret == -ETIMEDOUT)
				snprintf(err, errlen, "no message for %ld ms", timeout_ms);
			else if (ret == -EINTR)
				snprintf(err, errlen, "interrupted");
			else
				snprintf(err, errlen, "connection lost");
			return ret == -ENOBUFS ? -EPROTO : ret;
		}
	}
}

void http_client_ws_close(struct http_client_ws *ws)
{
	if (!ws)
		return;
	if (!ws->closed && ws->fd != CURL_SOCKET_BAD)
		http_client_ws_farewell(ws, WS_CLOSE_NORMAL,
					http_client_now_ms() + HTTP_CLIENT_WS_CLOSE_MS);
	curl_easy_cleanup(ws->curl);
	ws_decoder_fini(&ws->dec);
	free(ws);
}
