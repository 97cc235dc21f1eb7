/* transport.h - request/reply between node (client) and collector (server).
 * The only module that speaks to nng (REQ/REP version 0, one context per request in
 * flight); everything else sees opaque handles, byte buffers and negative errno values.
 * The node's exporter sends each spooled batch with transport_client_send() and gets the
 * collector's acknowledgement in on_reply(); the collector's ingest gets each batch in
 * on_request() and answers it with transport_request_reply() after its commit.
 *
 * URLs: tcp://host:port (also tcp4://, tcp6://, ipc:///path) and tls+tcp://host:port
 * (also tls+tcp4://, tls+tcp6://; needs a struct transport_tls, see below). Port 1..65535;
 * a listener may leave the host empty (tcp://:7400).
 *
 * Threads: callbacks run on nng's threads, never on the caller's stack (except in
 * transport_client_free(), see there). They must not block for long: they hold an nng
 * worker thread. */
#ifndef AYAFLOW_TRANSPORT_H
#define AYAFLOW_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRANSPORT_MAX_URLS	   16
#define TRANSPORT_MAX_INFLIGHT	   1024		/* client contexts */
#define TRANSPORT_MAX_WORKERS	   1024		/* server contexts */
#define TRANSPORT_MAX_MSG	   (256u << 20) /* largest max_msg a server accepts */
#define TRANSPORT_MAX_REPLY	   (1u << 20)	/* replies bigger than this drop the connection */
#define TRANSPORT_RECONNECT_MIN_MS 100		/* dial retry backoff, doubled up to the max */
#define TRANSPORT_RECONNECT_MAX_MS 2000
#define TRANSPORT_HOLD_MAX_MS	   60000 /* longest hold of an unanswering server (below) */

/* Mutual TLS for tls+tcp:// URLs: each side presents cert_file/key_file and requires a
 * peer certificate signed by a CA in ca_file (nng's TLS with auth mode REQUIRED on both
 * sides). Files are PEM; they are read when the client or server is created, so an
 * unreadable or invalid file fails _new with a message naming it. Ignored for other
 * URLs. server_name (client only) is the name the server's certificate must carry (DNS
 * SAN or CN); NULL or empty: the host of each URL. */
struct transport_tls {
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	const char *server_name;
};

/* Checks, before anything starts, that the TLS files are named when any of the URLs is
 * tls+tcp://. 0, or -EINVAL with a message naming the missing flags, e.g. "a tls+tcp://
 * collector needs --tls-cert --tls-key" (what = "collector", "--listen URL", ...). */
int transport_tls_check(char *const *urls, size_t n, const struct transport_tls *tls,
			const char *what, char *err, size_t errlen);

/* ---- client (node) ---- */

struct transport_client;

/* Called exactly once for every send that returned 0, on an nng thread.
 * err is 0 with the reply in buf/len (valid only during the call), or a negative errno
 * with buf NULL and len 0: -ETIMEDOUT (no reply within timeout_ms of the send),
 * -ECONNRESET (the connection dropped before the reply), -ECANCELED
 * (transport_client_free()), another -errno for other failures. On any error the
 * request may or may not have reached the server; the caller resends.
 * The context becomes free again only after the callback returns, so a send from inside
 * the callback uses another context (or gets -EBUSY if inflight is 1). */
typedef void (*transport_reply_fn)(void *cb_ctx, uint64_t token, int err, const uint8_t *buf,
				   size_t len);

/* Opens a REQ socket dialing every URL in the background: a collector that is down at
 * start is fine, nng keeps redialing (backoff TRANSPORT_RECONNECT_MIN_MS doubling up to
 * TRANSPORT_RECONNECT_MAX_MS). With several URLs, requests go to whichever is connected.
 * inflight: 1..TRANSPORT_MAX_INFLIGHT requests at once; timeout_ms > 0 per request.
 *
 * Resend semantics: nng's own resend (NNG_OPT_REQ_RESENDTIME) is disabled, because the
 * caller keeps its own spool and resends after an error. With it disabled, nng 1.5 fails
 * a request whose connection drops while it waits for the reply at once with
 * -ECONNRESET (server restarted, or it dropped an oversize request); the caller resends
 * it and the new send waits for the next connection. (If the drop races with the
 * hand-off to the connection, the request fails with -ETIMEDOUT instead.) A request sent
 * while no connection is up waits for one, up to timeout_ms. A server may still see a
 * request twice (a reply lost in flight); the collector dedups by sequence number.
 *
 * Servers that stop answering: nng hands each request to whichever connection is ready,
 * and a server that stops replying but keeps its connection (a stopped process, a store
 * that hangs) stays ready, so it would keep getting its share of the requests and of the
 * resends. Hence, when a request times out after waiting at least timeout_ms / 2 for its
 * reply on a connection, every connection that was up when it was sent and has delivered
 * no reply since is closed (unless one closed this way since accounts for the request):
 * its other requests fail at once with -ECONNRESET, and the caller resends them to the
 * others. When another connection did deliver a reply meanwhile (never with inflight 1),
 * each closed one's URL is also held off: not redialed for timeout_ms, doubling with each
 * hold that follows without a reply in between, up to TRANSPORT_HOLD_MAX_MS (or
 * timeout_ms if longer); a hold ends early when no connection is left. Otherwise (a single
 * server, or none answering) it is redialed at once, as after a drop: nothing is lost,
 * the requests are resent over the new connection. A server that answers other requests
 * while one of its requests times out (slow, not stopped) is kept. A stopped process
 * cannot complete nng's connection handshake, so it stays out even when redialed, until
 * it runs again. Each closed connection is logged (at most one message every 10 s) and
 * counted in transport_client_get_stats().
 *
 * Returns NULL with errno set and a message naming the bad input in err on failure. */
struct transport_client *transport_client_new(char *const *urls, size_t n, unsigned inflight,
					      uint32_t timeout_ms, transport_reply_fn on_reply,
					      void *cb_ctx, char *err, size_t errlen);

/* The same with TLS settings for tls+tcp:// URLs (tls may be NULL when there are none;
 * a tls+tcp:// URL then fails with -EINVAL). tls is not kept after the call. */
struct transport_client *transport_client_new_tls(char *const *urls, size_t n, unsigned inflight,
						  uint32_t timeout_ms,
						  const struct transport_tls *tls,
						  transport_reply_fn on_reply, void *cb_ctx,
						  char *err, size_t errlen);

/* Copies buf and sends it on a free context. Returns 0 (on_reply will be called once for
 * token), -EBUSY when all contexts are busy, -EMSGSIZE for len 0 or over
 * TRANSPORT_MAX_MSG, -ECANCELED while transport_client_free() runs, -ENOMEM.
 * Any thread, including from on_reply. Not before/after/concurrently with _free. */
int transport_client_send(struct transport_client *c, uint64_t token, const uint8_t *buf,
			  size_t len);

/* True while at least one connection to a server is up. Any thread. */
bool transport_client_connected(const struct transport_client *c);

/* Contexts in use (sent, callback not yet returned). Any thread. */
unsigned transport_client_busy(const struct transport_client *c);

/* Cumulative counters of the failover above. */
struct transport_client_stats {
	uint64_t connections_closed; /* closed for delivering no reply within the timeout */
	uint64_t holds;		     /* of those, the ones whose URL was held off */
};

/* Copies the counters into *out. Any thread. */
void transport_client_get_stats(struct transport_client *c, struct transport_client_stats *out);

/* Cancels all requests and frees. Every request still in flight gets its on_reply with
 * -ECANCELED before this returns (called from an nng thread or from this thread, so the
 * caller must not hold a lock on_reply takes); no callback runs after it returns.
 * Must not be called from on_reply. Accepts NULL. */
void transport_client_free(struct transport_client *c);

/* ---- server (collector) ---- */

struct transport_server;
struct transport_request; /* one received request, owned by the server until replied */

/* Called on an nng thread for each request; buf/len are valid only during the call.
 * The callee must call transport_request_reply(req, ...) exactly once, from any thread,
 * now or later; until then the worker context that received it takes no new request. */
typedef void (*transport_request_fn)(void *cb_ctx, struct transport_request *req,
				     const uint8_t *buf, size_t len);

/* Opens a REP socket listening on every URL, with `workers` (1..TRANSPORT_MAX_WORKERS)
 * contexts each holding one request at a time, so at most `workers` requests wait for a
 * reply. max_msg (1..TRANSPORT_MAX_MSG) bounds a request: nng drops a bigger one
 * without on_request and closes that connection (the client gets -ECONNRESET).
 * Returns NULL with errno set and a message naming the URL in err (address in use,
 * malformed URL, ...). */
struct transport_server *transport_server_new(char *const *urls, size_t n, unsigned workers,
					      size_t max_msg, transport_request_fn on_request,
					      void *cb_ctx, char *err, size_t errlen);

/* The same with TLS settings for tls+tcp:// URLs (as transport_client_new_tls). */
struct transport_server *transport_server_new_tls(char *const *urls, size_t n, unsigned workers,
						  size_t max_msg, const struct transport_tls *tls,
						  transport_request_fn on_request, void *cb_ctx,
						  char *err, size_t errlen);

/* Sends the reply (copied) and lets the context take the next request. req is invalid
 * after the call, whatever it returns. Returns 0 (handed to nng; a reply to a client that
 * is gone is dropped), -ECANCELED if transport_server_free() has been called (nothing
 * sent; the request is released), -EINVAL if req is not awaiting a reply, -ENOMEM.
 * Rule: every request passed to on_request is replied exactly once, even after
 * transport_server_free(); the server's memory lives until the last one is. */
int transport_request_reply(struct transport_request *req, const uint8_t *buf, size_t len);

/* Connected clients. Any thread. */
unsigned transport_server_peers(const struct transport_server *s);

/* Stops listening, closes every connection and drops requests not yet replied (their
 * clients time out and resend). No on_request runs after this returns; pending requests
 * must still be passed to transport_request_reply() (which then returns -ECANCELED).
 * Must not be called from on_request. Accepts NULL. */
void transport_server_free(struct transport_server *s);

#endif
