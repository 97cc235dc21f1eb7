/* http_client.c - ayaflowctl's libcurl adapter (see http_client.h). One easy handle per
 * client, reused by every request so that `watch` keeps its connection alive. Only
 * http and https are allowed, redirects are not followed (the bearer token never
 * leaves for another host), and the body is collected into a buffer that stops
 * growing at max_body. */
#include "http_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "version.h"

struct http_client {
	CURL *curl;
	struct curl_slist *headers; /* Authorization, when a token is given */
	char *base_url;		    /* without trailing '/' */
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
		/* the token stays out of freed heap memory */
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
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
