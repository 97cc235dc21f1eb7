/* api.h - routes of the collector's cluster-wide HTTP API: /api/health, /api/stats,
 * /api/nodes, /api/live, /api/history and /metrics, in the node's JSON conventions and
 * error shape (lib/http.h). The history and the node list come from the store through a
 * store_reader; the live view and the counters from live.h and ingest.h.
 *
 * Threads: api_handle runs on libmicrohttpd's one internal polling thread (lib/http.c
 * starts it that way), so the one store_reader of struct api, opened lazily on first
 * use, is used by that thread only. api_free runs after http_server_free. */
#ifndef AYAFLOW_COLLECTOR_API_H
#define AYAFLOW_COLLECTOR_API_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "ingest.h"
#include "live.h"
#include "store/store.h"

#define API_LIVE_DEFAULT    50
#define API_LIVE_MAX	    1000
#define API_HISTORY_DEFAULT 100
#define API_HISTORY_MAX	    1000 /* larger limits are clamped to this */

struct api_config {
	const struct store_config *store; /* borrowed, outlives the api */
	struct live_view *live;
	struct ingest *ingest;
	uint64_t start_unix_ms;
	/* The effective configuration, shown in /api/stats as "runtime". */
	const struct config_option *options;
	size_t noptions;
	const void *opts;
};

struct api;

/* NULL with errno set. */
struct api *api_new(const struct api_config *cfg);
void api_free(struct api *api);
/* The http_handler_fn of the collector; ctx is the struct api. */
void api_handle(void *ctx, const struct http_request *req, struct http_reply *reply);

#endif
