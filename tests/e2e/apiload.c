/* apiload.c - the API clients of tests/e2e/load.sh: N concurrent HTTP clients in one
 * process (libcurl's multi interface), so that the load test measures the collector and
 * not the fork/exec of thousands of curl processes competing with it for the CPU.
 *
 *   apiload HOST PORT [--clients N] [--requests R] PATH...
 *
 * Each client sends R GET requests in a row, one at a time, over the paths round robin
 * (client c starts at PATH[c % count]), on a keep-alive connection: at most N
 * connections are open, each carrying one request at a time. A request fails on a
 * transport error (30 s timeout each) or an HTTP status other than 200; the first 20
 * failures are described on stderr. Latency is from starting a request to its
 * completion, on CLOCK_MONOTONIC; percentiles are nearest-rank over every request.
 *
 * Prints one line: "requests=.. ok=.. failed=.. connections=.. p50_ms=.. p99_ms=..
 * max_ms=.. seconds=..". Exit 0 when it ran (the caller checks failed=), 2 on a usage
 * error, 1 when setting up failed. This is a test tool: it speaks libcurl directly, like
 * wsclient speaks its own WebSocket, sharing nothing with the collector's HTTP code. */
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AL_CLIENTS     200
#define AL_REQUESTS    20
#define AL_MAX_CLIENTS 4096 /* each one a socket: stay well inside RLIMIT_NOFILE */
#define AL_TIMEOUT_S   30L
#define AL_REPORT_MAX  20
#define AL_URL_MAX     2048

struct al_client {
	CURL *h;
	unsigned int id;
	unsigned int sent; /* requests started so far */
	uint64_t start_ns; /* of the request in flight */
	char err[CURL_ERROR_SIZE];
};

struct al_ctx {
	const char *host, *port;
	char *const *paths;
	unsigned int npaths, nclients, nreqs;
	CURLM *multi;
	struct al_client *clients;
	unsigned int active; /* clients with a request in flight */
	double *lat_ms;	     /* one per completed request, failed ones included */
	size_t nlat;
	unsigned long ok, failed, connections;
};

static uint64_t al_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t al_discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static int al_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static const char *al_path(const struct al_ctx *ctx, const struct al_client *cl)
{
	return ctx->paths[(cl->id + cl->sent) % ctx->npaths];
}

/* Starts the client's next request: a finished easy handle must leave the multi and be
 * added again to run once more; it keeps its connection in the multi's pool meanwhile. */
static int al_start(struct al_ctx *ctx, struct al_client *cl)
{
	const char *path = al_path(ctx, cl);
	char url[AL_URL_MAX];
	int n;

	/* an IPv6 literal needs brackets in a URL */
	n = snprintf(url, sizeof(url),
		     strchr(ctx->host, ':') ? "http://[%s]:%s%s" : "http://%s:%s%s", ctx->host,
		     ctx->port, path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		fprintf(stderr, "apiload: URL too long for path %s\n", path);
		return -ENAMETOOLONG;
	}
	/* libcurl copies the URL string */
	if (curl_easy_setopt(cl->h, CURLOPT_URL, url) != CURLE_OK) {
		fprintf(stderr, "apiload: cannot set the URL %s\n", url);
		return -EINVAL;
	}
	cl->err[0] = '\0';
	cl->start_ns = al_now_ns();
	if (curl_multi_add_handle(ctx->multi, cl->h) != CURLM_OK) {
		fprintf(stderr, "apiload: cannot add client %u to the multi handle\n", cl->id);
		return -ENOMEM;
	}
	ctx->active++;
	return 0;
}

/* One request of cl completed with rc: counts it, then starts the client's next one. */
static int al_finish(struct al_ctx *ctx, struct al_client *cl, CURLcode rc)
{
	double ms = (double)(al_now_ns() - cl->start_ns) / 1e6;
	const char *path = al_path(ctx, cl);
	long status = 0, conns = 0;

	ctx->lat_ms[ctx->nlat++] = ms;
	/* NUM_CONNECTS: new connections this transfer opened (0 when it reused one) */
	if (curl_easy_getinfo(cl->h, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK)
		ctx->connections += (unsigned long)conns;
	if (rc == CURLE_OK &&
	    (curl_easy_getinfo(cl->h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK))
		status = 0;
	if (rc == CURLE_OK && status == 200) {
		ctx->ok++;
	} else {
		if (ctx->failed < AL_REPORT_MAX && rc != CURLE_OK)
			fprintf(stderr, "apiload: client %u %s: %s (%.0f ms)\n", cl->id, path,
				cl->err[0] ? cl->err : curl_easy_strerror(rc), ms);
		else if (ctx->failed < AL_REPORT_MAX)
			fprintf(stderr, "apiload: client %u %s: HTTP status %ld (%.0f ms)\n",
				cl->id, path, status, ms);
		ctx->failed++;
	}
	ctx->active--;
	if (curl_multi_remove_handle(ctx->multi, cl->h) != CURLM_OK) {
		fprintf(stderr, "apiload: cannot remove client %u from the multi handle\n", cl->id);
		return -EINVAL;
	}
	if (++cl->sent < ctx->nreqs)
		return al_start(ctx, cl);
	return 0;
}

static int al_client_init(struct al_client *cl, unsigned int id)
{
	cl->id = id;
	cl->h = curl_easy_init();
	if (!cl->h) {
		fprintf(stderr, "apiload: curl_easy_init failed for client %u\n", id);
		return -ENOMEM;
	}
	/* HTTP/1.1 without multiplexing: one request at a time on each connection, as a
	 * browser tab or ayaflowctl does; NOSIGNAL because a timeout must not raise SIGALRM */
	if (curl_easy_setopt(cl->h, CURLOPT_PRIVATE, cl) != CURLE_OK ||
	    curl_easy_setopt(cl->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) !=
		CURLE_OK ||
	    curl_easy_setopt(cl->h, CURLOPT_TIMEOUT, AL_TIMEOUT_S) != CURLE_OK ||
	    curl_easy_setopt(cl->h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(cl->h, CURLOPT_WRITEFUNCTION, al_discard) != CURLE_OK ||
	    curl_easy_setopt(cl->h, CURLOPT_ERRORBUFFER, cl->err) != CURLE_OK) {
		fprintf(stderr, "apiload: cannot set the options of client %u\n", id);
		return -EINVAL;
	}
	return 0;
}

/* Runs every client to its last request. Returns 0, or a negative errno when libcurl
 * itself failed (not when a request did). */
static int al_run(struct al_ctx *ctx)
{
	CURLMcode mc;
	CURLMsg *msg;
	int running, left, ret;

	for (unsigned int i = 0; i < ctx->nclients; i++) {
		ret = al_start(ctx, &ctx->clients[i]);
		if (ret < 0)
			return ret;
	}
	while (ctx->active > 0) {
		mc = curl_multi_perform(ctx->multi, &running);
		if (mc != CURLM_OK) {
			fprintf(stderr, "apiload: curl_multi_perform: %s\n",
				curl_multi_strerror(mc));
			return -EIO;
		}
		while ((msg = curl_multi_info_read(ctx->multi, &left))) {
			char *cl;

			if (msg->msg != CURLMSG_DONE)
				continue;
			if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &cl) != CURLE_OK)
				return -EINVAL;
			ret = al_finish(ctx, (struct al_client *)cl, msg->data.result);
			if (ret < 0)
				return ret;
		}
		if (ctx->active == 0)
			break;
		mc = curl_multi_poll(ctx->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK) {
			fprintf(stderr, "apiload: curl_multi_poll: %s\n", curl_multi_strerror(mc));
			return -EIO;
		}
	}
	return 0;
}

/* Nearest rank: the value at 1-based index ceil(n * pct / 100) of the sorted latencies. */
static double al_pct(const struct al_ctx *ctx, unsigned int pct)
{
	size_t rank = (ctx->nlat * pct + 99) / 100;

	return ctx->lat_ms[rank > 0 ? rank - 1 : 0];
}

static int al_parse_uint(const char *s, unsigned int max, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

static void al_usage(void)
{
	fprintf(stderr,
		"usage: apiload HOST PORT [--clients N] [--requests R] PATH...\n"
		"  N: 1..%d (default %d), R: 1..1000000 (default %d), each PATH starts with /\n",
		AL_MAX_CLIENTS, AL_CLIENTS, AL_REQUESTS);
}

/* Fills the options of ctx from argv; paths are gathered in place at the end of argv. */
static int al_parse(struct al_ctx *ctx, int argc, char **argv)
{
	int npaths = 0;

	if (argc < 4)
		return -EINVAL;
	ctx->host = argv[1];
	ctx->port = argv[2];
	ctx->nclients = AL_CLIENTS;
	ctx->nreqs = AL_REQUESTS;
	for (int a = 3; a < argc; a++) {
		if (strcmp(argv[a], "--clients") == 0 && a + 1 < argc) {
			if (al_parse_uint(argv[++a], AL_MAX_CLIENTS, &ctx->nclients) < 0) {
				fprintf(stderr, "apiload: --clients %s: not in 1..%d\n", argv[a],
					AL_MAX_CLIENTS);
				return -EINVAL;
			}
		} else if (strcmp(argv[a], "--requests") == 0 && a + 1 < argc) {
			if (al_parse_uint(argv[++a], 1000000, &ctx->nreqs) < 0) {
				fprintf(stderr, "apiload: --requests %s: not in 1..1000000\n",
					argv[a]);
				return -EINVAL;
			}
		} else if (argv[a][0] == '/') {
			argv[3 + npaths++] = argv[a];
		} else {
			fprintf(stderr, "apiload: unexpected argument %s\n", argv[a]);
			return -EINVAL;
		}
	}
	if (npaths == 0)
		return -EINVAL;
	ctx->paths = argv + 3;
	ctx->npaths = (unsigned int)npaths;
	return 0;
}

int main(int argc, char **argv)
{
	struct al_ctx ctx = {0};
	uint64_t t0, t1;
	int ret = 1;

	if (al_parse(&ctx, argc, argv) < 0) {
		al_usage();
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "apiload: curl_global_init failed\n");
		return 1;
	}
	ctx.multi = curl_multi_init();
	ctx.clients = calloc(ctx.nclients, sizeof(*ctx.clients));
	ctx.lat_ms = calloc((size_t)ctx.nclients * ctx.nreqs, sizeof(*ctx.lat_ms));
	if (!ctx.multi || !ctx.clients || !ctx.lat_ms) {
		fprintf(stderr, "apiload: out of memory for %u clients\n", ctx.nclients);
		goto out;
	}
	/* Room in the pool for every client's connection, so that none is closed between
	 * two requests of its client; no limit on the connections opened at once. */
	if (curl_multi_setopt(ctx.multi, CURLMOPT_MAXCONNECTS, (long)ctx.nclients) != CURLM_OK ||
	    curl_multi_setopt(ctx.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L) != CURLM_OK ||
	    curl_multi_setopt(ctx.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L) != CURLM_OK ||
	    curl_multi_setopt(ctx.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING) != CURLM_OK) {
		fprintf(stderr, "apiload: cannot set the multi handle's options\n");
		goto out;
	}
	for (unsigned int i = 0; i < ctx.nclients; i++) {
		if (al_client_init(&ctx.clients[i], i) < 0)
			goto out;
	}
	t0 = al_now_ns();
	if (al_run(&ctx) < 0)
		goto out;
	t1 = al_now_ns();
	qsort(ctx.lat_ms, ctx.nlat, sizeof(*ctx.lat_ms), al_cmp);
	printf("requests=%zu ok=%lu failed=%lu connections=%lu p50_ms=%.1f p99_ms=%.1f "
	       "max_ms=%.1f seconds=%.2f\n",
	       ctx.nlat, ctx.ok, ctx.failed, ctx.connections, al_pct(&ctx, 50), al_pct(&ctx, 99),
	       ctx.lat_ms[ctx.nlat - 1], (double)(t1 - t0) / 1e9);
	ret = 0;
out:
	if (ctx.clients) {
		for (unsigned int i = 0; i < ctx.nclients; i++) {
			if (!ctx.clients[i].h)
				continue;
			/* after an error some are still in the multi; removing one that is
			 * not is harmless */
			if (ctx.multi)
				(void)curl_multi_remove_handle(ctx.multi, ctx.clients[i].h);
			curl_easy_cleanup(ctx.clients[i].h);
		}
	}
	curl_multi_cleanup(ctx.multi);
	free(ctx.clients);
	free(ctx.lat_ms);
	curl_global_cleanup();
	return ret;
}
