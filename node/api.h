/* api.h - the node's local HTTP API: /api/health, /api/stats, /api/live, /metrics.
 * Handlers run on the HTTP thread and read snapshots only. */
#ifndef AYAFLOW_NODE_API_H
#define AYAFLOW_NODE_API_H

#include "http.h"
#include "node.h"

/* An http_handler_fn; ctx is the struct node_ctx. */
void api_handle(void *ctx, const struct http_request *req, struct http_reply *reply);

#endif
