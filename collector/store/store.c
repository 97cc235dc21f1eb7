/* store.c - the store's front: parses the store URL and dispatches store.h's calls to the
 * backend the URL names (backend.h). Everything backend-neutral lives here: the URL, the
 * store's name in front of a constructor's message, the result structs' release. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#define SQLITE_SCHEME	"sqlite://"
#define CH_SCHEME	"clickhouse://"
#define CH_HTTPS_SCHEME "clickhouse+https://"
#define CH_PORT_HTTP	8123
#define CH_PORT_HTTPS	8443

const char *store_kind_name(enum store_kind kind)
{
	return kind == STORE_CLICKHOUSE ? "clickhouse" : "sqlite";
}

static int url_fail(char *err, size_t errlen, const char *url, const char *why)
{
	snprintf(err, errlen, "store URL '%s': %s", url, why);
	return -EINVAL;
}

/* [A-Za-z0-9_.-]+ for a user, [A-Za-z0-9_]+ for a database: what goes into a URL and a
 * query without quoting. */
static bool url_word(const char *s, size_t n, bool dots)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '_' && !(dots && (c == '.' || c == '-')))
			return false;
	}
	return true;
}

static int url_parse_clickhouse(const char *url, const char *rest, bool tls, struct store_url *u,
				char *err, size_t errlen)
{
	const char *at, *colon, *slash, *host, *hend, *port = NULL;
	size_t hlen;

	/* user:password@ is refused first, and the message shows the URL without the
	 * password, which may hold any character ('/' and '@' too): a ':' before the last
	 * '@' (a user name has none). */
	at = strrchr(rest, '@');
	colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
	if (colon) {
		char shown[512];

		snprintf(shown, sizeof(shown), "%.*s:***%s", (int)(colon - url), url, at);
		return url_fail(err, errlen, shown,
				"a password does not belong in the URL: use --store-password-file");
	}
	u->kind = STORE_CLICKHOUSE;
	u->tls = tls;
	u->port = tls ? CH_PORT_HTTPS : CH_PORT_HTTP;
	slash = strchr(rest, '/');
	if (!slash)
		return url_fail(err, errlen, url,
				"no database (clickhouse://[user@]host:port/database)");
	at = memchr(rest, '@', (size_t)(slash - rest));
	host = rest;
	if (at) {
		if ((size_t)(at - rest) > STORE_USER_MAX ||
		    !url_word(rest, (size_t)(at - rest), true))
			return url_fail(err, errlen, url, "bad user name");
		memcpy(u->user, rest, (size_t)(at - rest));
		u->user[at - rest] = '\0';
		host = at + 1;
	}
	if (*host == '[') {
		hend = memchr(host, ']', (size_t)(slash - host));
		if (!hend)
			return url_fail(err, errlen, url, "unclosed '[' in the host");
		host++;
		hlen = (size_t)(hend - host);
		if (hend[1] == ':')
			port = hend + 2;
		else if (hend + 1 != slash)
			return url_fail(err, errlen, url, "bad host");
	} else {
		hend = memchr(host, ':', (size_t)(slash - host));
		if (hend)
			port = hend + 1;
		else
			hend = slash;
		hlen = (size_t)(hend - host);
	}
	if (hlen == 0 || hlen > STORE_HOST_MAX)
		return url_fail(err, errlen, url, "no host");
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)host[i];

		if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '_')
			return url_fail(err, errlen, url, "bad host");
	}
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';
	if (port) {
		unsigned long v = 0;

		if (port == slash)
			return url_fail(err, errlen, url, "empty port");
		for (const char *p = port; p < slash; p++) {
			if (!isdigit((unsigned char)*p) || v > 65535)
				return url_fail(err, errlen, url, "bad port");
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v == 0 || v > 65535)
			return url_fail(err, errlen, url, "bad port");
		u->port = (uint16_t)v;
	}
	if (strlen(slash + 1) > STORE_DB_MAX || !url_word(slash + 1, strlen(slash + 1), false))
		return url_fail(err, errlen, url,
				"bad database name (letters, digits and '_' after the '/')");
	snprintf(u->database, sizeof(u->database), "%s", slash + 1);
	return 0;
}

int store_url_parse(const char *url, struct store_url *out, char *err, size_t errlen)
{
	struct store_url u = {0};
	const char *path = url;
	int e;

	if (!url || !*url)
		return url_fail(err, errlen, "", "empty");
	if (!strncmp(url, CH_SCHEME, strlen(CH_SCHEME))) {
		e = url_parse_clickhouse(url, url + strlen(CH_SCHEME), false, &u, err, errlen);
		if (e)
			return e;
		*out = u;
		return 0;
	}
	if (!strncmp(url, CH_HTTPS_SCHEME, strlen(CH_HTTPS_SCHEME))) {
		e = url_parse_clickhouse(url, url + strlen(CH_HTTPS_SCHEME), true, &u, err, errlen);
		if (e)
			return e;
		*out = u;
		return 0;
	}
	if (!strncmp(url, SQLITE_SCHEME, strlen(SQLITE_SCHEME)))
		path = url + strlen(SQLITE_SCHEME);
	else if (strstr(url, "://"))
		return url_fail(err, errlen, url,
				"unknown scheme (sqlite://, clickhouse:// or clickhouse+https://)");
	if (!*path)
		return url_fail(err, errlen, url, "no file");
	if (strlen(path) >= sizeof(u.path))
		return url_fail(err, errlen, url, "path too long");
	u.kind = STORE_SQLITE;
	snprintf(u.path, sizeof(u.path), "%s", path);
	*out = u;
	return 0;
}

void store_url_format(const struct store_url *u, char *buf, size_t len)
{
	if (u->kind == STORE_SQLITE) {
		snprintf(buf, len, "%s%s", SQLITE_SCHEME, u->path);
		return;
	}
	snprintf(buf, len, "%s%s%s%s%s%s:%u/%s", u->tls ? CH_HTTPS_SCHEME : CH_SCHEME, u->user,
		 u->user[0] ? "@" : "", strchr(u->host, ':') ? "[" : "", u->host,
		 strchr(u->host, ':') ? "]" : "", (unsigned)u->port, u->database);
}

/* Puts the store's name in front of a constructor's message. */
static void store_name_error(const struct store_config *cfg, char *err, size_t errlen)
{
	char name[sizeof(cfg->url.path) + 16];
	char *why = strdup(err);

	store_url_format(&cfg->url, name, sizeof(name));
	snprintf(err, errlen, "%s: %s", name, why ? why : "failed");
	free(why);
}

struct store *store_open(const struct store_config *cfg, char *err, size_t errlen)
{
	struct store *s;
	int e;

	err[0] = '\0';
	s = cfg->url.kind == STORE_CLICKHOUSE ? store_clickhouse_open(cfg, err, errlen)
					      : store_sqlite_open(cfg, err, errlen);
	if (!s) {
		e = errno;
		store_name_error(cfg, err, errlen);
		errno = e;
	}
	return s;
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

int store_append(struct store *s, const struct wire_batch *const *batches, size_t n,
		 bool *duplicate)
{
	return s->ops->append(s, batches, n, duplicate);
}

int store_retention_step(struct store *s, uint64_t older_than_ms, unsigned max_rows,
			 unsigned *deleted)
{
	return s->ops->retention_step(s, older_than_ms, max_rows, deleted);
}

int64_t store_db_bytes(struct store *s)
{
	return s->ops->db_bytes(s);
}

int store_follow(struct store *s, store_follow_fn fn, void *arg, size_t *n, bool *more)
{
	if (!s->ops->follow) {
		*n = 0;
		*more = false;
		return 0;
	}
	return s->ops->follow(s, fn, arg, n, more);
}

const char *store_last_error(const struct store *s)
{
	return s->ops->last_error(s);
}

struct store_reader *store_reader_open(const struct store_config *cfg, char *err, size_t errlen)
{
	struct store_reader *r;
	int e;

	err[0] = '\0';
	r = cfg->url.kind == STORE_CLICKHOUSE ? store_clickhouse_reader_open(cfg, err, errlen)
					      : store_sqlite_reader_open(cfg, err, errlen);
	if (!r) {
		e = errno;
		store_name_error(cfg, err, errlen);
		errno = e;
	}
	return r;
}

void store_reader_close(struct store_reader *r)
{
	if (r)
		r->ops->reader_close(r);
}

const char *store_reader_last_error(const struct store_reader *r)
{
	return r->ops->reader_last_error(r);
}

int store_query_history(struct store_reader *r, const struct store_filter *f,
			struct store_history *out)
{
	return r->ops->query_history(r, f, out);
}

void store_history_fini(struct store_history *h)
{
	free(h->rows);
	memset(h, 0, sizeof(*h));
}

int store_query_dns(struct store_reader *r, const struct store_dns_filter *f,
		    struct store_dns_result *out)
{
	return r->ops->query_dns(r, f, out);
}

void store_dns_result_fini(struct store_dns_result *res)
{
	free(res->rows);
	memset(res, 0, sizeof(*res));
}

int store_query_domains(struct store_reader *r, uint64_t start_ms, uint64_t end_ms,
			const char *node, unsigned limit, struct store_domains *out)
{
	return r->ops->query_domains(r, start_ms, end_ms, node, limit, out);
}

void store_domains_fini(struct store_domains *d)
{
	free(d->rows);
	memset(d, 0, sizeof(*d));
}

int store_list_nodes(struct store_reader *r, struct store_node **nodes, size_t *n)
{
	return r->ops->list_nodes(r, nodes, n);
}

void store_nodes_free(struct store_node *nodes)
{
	free(nodes);
}
