/* ch_http.h - the ClickHouse backend's client of ClickHouse's HTTP interface: the only
 * module of the collector that speaks libcurl. One struct ch_conn is one kept-alive
 * connection (libcurl reuses it between requests), used by one thread.
 *
 * A request is one SQL statement; for an INSERT, the rows follow as the request's body
 * (RowBinary, see ch_rowbin.h). The server's answer is read whole into memory, bounded
 * by CH_HTTP_ANSWER_MAX. Every non-200 answer is an error; its "Code: N" is mapped to an
 * errno (ch_http.c lists which), and the first line of its text kept as the message. */
#ifndef AYAFLOW_COLLECTOR_CH_HTTP_H
#define AYAFLOW_COLLECTOR_CH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A query's answer larger than this is an error (-E2BIG): every read is bounded by its
 * LIMIT, so this is far above any answer ayaflow asks for. */
#define CH_HTTP_ANSWER_MAX (256u << 20)

struct ch_conn;

/* A connection to the server of u (its database is not checked here). password: NULL
 * or the user's password (copied). timeout_ms bounds each request, connecting included.
 * NULL with errno set (ENOMEM) and err written. */
struct ch_conn *ch_conn_new(const struct store_url *u, const char *password, unsigned timeout_ms,
			    char *err, size_t errlen);
/* Accepts NULL; wipes the password copy. */
void ch_conn_free(struct ch_conn *c);

/* Runs one statement. data/len: the body after it (INSERT rows), or NULL/0. On success
 * 0, and *out and *outlen (either may be NULL) the answer's bytes, owned by c and valid until the
 * next call. Else a negative errno, the reason in ch_conn_error: -EAGAIN unreachable,
 * timed out or overloaded (try later); -EACCES user or password refused; -ENOENT an
 * unknown database or table; -ENOSPC the server's disk is full; -ENOMEM; -E2BIG answer
 * over CH_HTTP_ANSWER_MAX; -EIO anything else (a syntax error: a bug of ours). */
int ch_conn_query(struct ch_conn *c, const char *sql, const void *data, size_t len,
		  const uint8_t **out, size_t *outlen);
/* The last failure's message, "" after a success. Owned by c. */
const char *ch_conn_error(const struct ch_conn *c);

#endif
