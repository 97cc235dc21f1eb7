/* http.c - HTTP server adapter over libmicrohttpd (see http.h).
 * libmicrohttpd runs one internal polling thread; handlers must be quick (they read
 * snapshots). Request bodies are discarded: every API here is GET. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "http.h"
#include "log.h"

#define HTTP_CONN_LIMIT	    512
#define HTTP_CONN_TIMEOUT_S 30
#define HTTP_CONN_MEMORY    (64 * 1024)

struct http_server {
	struct MHD_Daemon *daemon; /* NULL until started */
	int listen_fd;		   /* owned by daemon once started */
	uint16_t port;
	const struct cidr_list *allow;
	http_handler_fn handler;
	void *ctx;
};

struct http_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
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

static enum MHD_Result http_queue(struct MHD_Connection *conn, struct http_reply *reply)
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
	ret = MHD_queue_response(conn, reply->status ? reply->status : 500, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_data_size,
				       void **con_cls)
{
	static int first_call_marker;
	struct http_server *srv = cls;
	struct http_reply reply = {0};
	struct http_request req = {.conn = conn, .method = method, .path = url};
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
	srv->handler(srv->ctx, &req, &reply);
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
	return srv;
}

int http_server_start(struct http_server *srv, char *err, size_t errlen)
{
	srv->daemon = MHD_start_daemon(
	    MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, http_on_request, srv, MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONN_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	    MHD_OPTION_EXTERNAL_LOGGER, http_on_log, NULL, MHD_OPTION_END);
	if (!srv->daemon) {
		snprintf(err, errlen, "port %u: cannot start the HTTP server", srv->port);
		return -EIO;
	}
	return 0;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon); /* closes the listening socket it was given */
	else
		close(srv->listen_fd);
	free(srv);
}
