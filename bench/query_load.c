/* query_load.c - HTTP query latency of bench/queries.sh: sends GET requests one after
 * another over one keep-alive connection (libcurl) and prints latency percentiles.
 *
 *   query_load BASE_URL --n N [--warmup W] PATH...
 *
 * The paths are cycled (request i uses PATH[i % count]); each request's time is from
 * the call to the complete body (curl_easy_perform). A non-200 answer is an error.
 * Prints: "n=N p50_ms=.. p95_ms=.. p99_ms=.. max_ms=.. errors=E bytes_avg=B".
 * Exit 1 when no request succeeded. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t ql_sink(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	*(size_t *)ud += size * n;
	return size * n;
}

static double ql_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ql_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *base = NULL;
	const char *paths[256];
	int npaths = 0, n = 100, warm = 5, a, i, errors = 0, ok = 0;
	double *lat;
	size_t bytes = 0, total_bytes = 0;
	char url[4096];
	CURL *c;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--n") && a + 1 < argc)
			n = atoi(argv[++a]);
		else if (!strcmp(argv[a], "--warmup") && a + 1 < argc)
			warm = atoi(argv[++a]);
		else if (!base)
			base = argv[a];
		else if (npaths < 256)
			paths[npaths++] = argv[a];
	}
	if (!base || !npaths || n <= 0) {
		fprintf(stderr, "usage: query_load BASE_URL --n N [--warmup W] PATH...\n");
		return 2;
	}
	lat = calloc((size_t)n, sizeof(double));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (!lat || !c)
		return 1;
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ql_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &bytes);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	for (i = -warm; i < n; i++) {
		long code = 0;
		double t;
		CURLcode rc;

		snprintf(url, sizeof(url), "%s%s", base, paths[((i % npaths) + npaths) % npaths]);
		curl_easy_setopt(c, CURLOPT_URL, url);
		bytes = 0;
		t = ql_now();
		rc = curl_easy_perform(c);
		t = ql_now() - t;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (i < 0)
			continue;
		if (rc != CURLE_OK || code != 200) {
			if (errors++ < 3)
				fprintf(stderr, "query_load: %s: %s (HTTP %ld)\n", url,
					curl_easy_strerror(rc), code);
			continue;
		}
		lat[ok++] = t;
		total_bytes += bytes;
	}
	curl_easy_cleanup(c);
	curl_global_cleanup();
	if (!ok) {
		fprintf(stderr, "query_load: no request succeeded\n");
		free(lat);
		return 1;
	}
	qsort(lat, (size_t)ok, sizeof(double), ql_cmp);
	printf("n=%d p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d bytes_avg=%zu\n", ok,
	       lat[ok / 2] * 1000, lat[(int)((ok - 1) * 0.95)] * 1000,
	       lat[(int)((ok - 1) * 0.99)] * 1000, lat[ok - 1] * 1000, errors,
	       total_bytes / (size_t)ok);
	free(lat);
	return 0;
}
