/* ch_http.c - ClickHouse's HTTP interface over libcurl (see ch_http.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ch_http.h"
#include "grow.h"
#include "version.h"

struct ch_conn {
	CURL *curl;
	/* http[s]://host:port/?database=db&wait_end_of_query=1: the server buffers the
	 * answer, so that an error after the first rows is still an error status */
	char base[STORE_HOST_MAX + 128];
	char *url; /* base + "&query=..." for requests with a body */
	size_t urlcap;
	char *password;
	uint8_t *ans; /* the last answer */
	size_t anslen;
	size_t anscap;
	char errmsg[512];
};

static size_t ch_write(char *p, size_t size, size_t n, void *arg)
{
	struct ch_conn *c = arg;
	size_t len = size * n;

	if (c->anslen + len + 1 > CH_HTTP_ANSWER_MAX ||
	    grow_reserve((void **)&c->ans, &c->anscap, c->anslen + len + 1, 1, 64 * 1024) < 0)
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	memcpy(c->ans + c->anslen, p, len);
	c->anslen += len;
	c->ans[c->anslen] = '\0';
	return len;
}

struct ch_conn *ch_conn_new(const struct store_url *u, const char *password, unsigned timeout_ms,
			    char *err, size_t errlen)
{
	struct ch_conn *c = calloc(1, sizeof(*c));
	bool v6 = strchr(u->host, ':') != NULL;

	if (!c || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto nomem;
	c->curl = curl_easy_init();
	if (!c->curl)
		goto nomem;
	if (password) {
		c->password = strdup(password);
		if (!c->password)
			goto nomem;
	}
	snprintf(c->base, sizeof(c->base), "%s://%s%s%s:%u/?database=%s&wait_end_of_query=1",
		 u->tls ? "https" : "http", v6 ? "[" : "", u->host, v6 ? "]" : "",
		 (unsigned)u->port, u->database);
	if (curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "ayaflow-collector/" AYAFLOW_VERSION) !=
		CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, ch_write) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL) != CURLE_OK)
		goto nomem;
	/* Basic authentication: both 18.16 and current servers take it, and it keeps the
	 * password out of the URL (and so out of any log of URLs). */
	if (u->user[0] || c->password) {
		if (curl_easy_setopt(c->curl, CURLOPT_USERNAME, u->user[0] ? u->user : "default") !=
			CURLE_OK ||
		    curl_easy_setopt(c->curl, CURLOPT_PASSWORD, c->password ? c->password : "") !=
			CURLE_OK ||
		    curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK)
			goto nomem;
	}
	return c;
nomem:
	snprintf(err, errlen, "out of memory for the HTTP client");
	ch_conn_free(c);
	errno = ENOMEM;
	return NULL;
}

void ch_conn_free(struct ch_conn *c)
{
	if (!c)
		return;
	if (c->curl) {
		curl_easy_cleanup(c->curl);
		curl_global_cleanup();
	}
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->url);
	free(c->ans);
	free(c);
}

const char *ch_conn_error(const struct ch_conn *c)
{
	return c->errmsg;
}

/* The errno of a server's "Code: N" (ClickHouse's ErrorCodes, stable across versions). */
static int ch_code_errno(long code)
{
	switch (code) {
	case 81: /* UNKNOWN_DATABASE */
	case 60: /* UNKNOWN_TABLE */
		return -ENOENT;
	case 192: /* UNKNOWN_USER */
	case 193: /* WRONG_PASSWORD */
	case 194: /* REQUIRED_PASSWORD */
	case 195: /* IP_ADDRESS_NOT_ALLOWED */
	case 497: /* ACCESS_DENIED */
	case 516: /* AUTHENTICATION_FAILED */
		return -EACCES;
	case 159: /* TIMEOUT_EXCEEDED */
	case 202: /* TOO_MANY_SIMULTANEOUS_QUERIES */
	case 252: /* TOO_MANY_PARTS: inserts throttled until merges catch up */
	case 209: /* SOCKET_TIMEOUT */
	case 210: /* NETWORK_ERROR */
		return -EAGAIN;
	case 241: /* MEMORY_LIMIT_EXCEEDED */
		return -ENOMEM;
	case 243: /* NOT_ENOUGH_SPACE */
		return -ENOSPC;
	default:
		return -EIO;
	}
}

/* A failed answer: its code and first line (the server's text, which may be long). */
static int ch_answer_error(struct ch_conn *c, long status)
{
	const char *text = c->ans ? (const char *)c->ans : "";
	const char *p = strstr(text, "Code: ");
	long code = p ? strtol(p + 6, NULL, 10) : 0;
	size_t n = strcspn(text, "\r\n");

	if (n > 300)
		n = 300;
	snprintf(c->errmsg, sizeof(c->errmsg), "ClickHouse answered HTTP %ld: %.*s", status, (int)n,
		 text);
	if (code)
		return ch_code_errno(code);
	if (status == 401 || status == 403)
		return -EACCES;
	return status == 503 || status == 502 || status == 504 ? -EAGAIN : -EIO;
}

static int ch_curl_error(struct ch_conn *c, CURLcode rc, const char *detail)
{
	snprintf(c->errmsg, sizeof(c->errmsg), "ClickHouse: %s%s%s", curl_easy_strerror(rc),
		 detail[0] ? ": " : "", detail);
	switch (rc) {
	case CURLE_WRITE_ERROR:
		snprintf(c->errmsg, sizeof(c->errmsg),
			 "ClickHouse: answer over %u bytes or out of memory", CH_HTTP_ANSWER_MAX);
		return -E2BIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* A failure of a reused connection before any answer came. */
static bool ch_stale(struct ch_conn *c, CURLcode rc)
{
	long fresh = 0;

	if (rc != CURLE_SEND_ERROR && rc != CURLE_RECV_ERROR && rc != CURLE_GOT_NOTHING)
		return false;
	return curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &fresh) == CURLE_OK &&
	       fresh == 0 && c->anslen == 0;
}

int ch_conn_query(struct ch_conn *c, const char *sql, const void *data, size_t len,
		  const uint8_t **out, size_t *outlen)
{
	char detail[CURL_ERROR_SIZE] = "";
	const char *url = c->base;
	const char *body = sql;
	size_t bodylen = strlen(sql);
	long status = 0;
	CURLcode rc;

	c->errmsg[0] = '\0';
	c->anslen = 0;
	if (data) {
		/* The statement goes in the URL, the rows in the body. */
		char *esc = curl_easy_escape(c->curl, sql, (int)strlen(sql));
		size_t need;

		if (!esc)
			goto nomem;
		need = strlen(c->base) + strlen("&query=") + strlen(esc) + 1;
		if (grow_reserve((void **)&c->url, &c->urlcap, need, 1, 1024) < 0) {
			curl_free(esc);
			goto nomem;
		}
		snprintf(c->url, c->urlcap, "%s&query=%s", c->base, esc);
		curl_free(esc);
		url = c->url;
		body = data;
		bodylen = len;
	}
	if (curl_easy_setopt(c->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen) !=
		CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, detail) != CURLE_OK)
		goto nomem;
	rc = curl_easy_perform(c->curl);
	if (ch_stale(c, rc)) {
		/* The server closed the kept-alive connection as we reused it (its
		 * keep_alive_timeout is a few seconds): once more on a new one. The server
		 * closed before reading the request, so an INSERT is not run twice; were it
		 * ever, its copies merge away (clickhouse_schema.c, CH_RECORD_KEY). */
		c->anslen = 0;
		detail[0] = '\0';
		curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, 1L);
		rc = curl_easy_perform(c->curl);
		curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, 0L);
	}
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK)
		return ch_curl_error(c, rc, detail);
	if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if (status != 200)
		return ch_answer_error(c, status);
	if (out)
		*out = c->ans ? c->ans : (const uint8_t *)"";
	if (outlen)
		*outlen = c->anslen;
	return 0;
nomem:
	snprintf(c->errmsg, sizeof(c->errmsg), "out of memory");
	return -ENOMEM;
}
