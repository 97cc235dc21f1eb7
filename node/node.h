/* node.h - the one context struct of ayaflow-node and its options. main.c owns it;
 * the HTTP thread (api.c) reads only the options (immutable after start), the
 * attach set (immutable once published, through node_attach_set) and snapshots from the
 * publisher. */
#ifndef AYAFLOW_NODE_NODE_H
#define AYAFLOW_NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "live.h"

struct node_opts {
	char *config;
	struct config_list interface;
	uint64_t port;
	uint64_t connection_timeout;
	uint64_t closed_timeout;
	uint64_t aggregation_window;
	bool enable_ipv6;
	struct config_list allowed_ips;
	char *node_name;
	uint64_t max_flows;
	char *attach; /* "auto", "tcx" or "tc" (attach.h) */
	bool deep_inspect;
	bool resolve_dns;
	struct config_list collector;
	uint64_t spool_size;
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	char *tls_server_name;
	char *api_token_file;
	bool api_health_open;
	bool quiet;
	bool verbose;
};

extern const struct config_option node_options[];
extern const size_t node_options_count;

struct node_ctx {
	struct node_opts opts;
	char node_name[256]; /* resolved: --node-name, NODE_NAME, host name */
	uint64_t start_unix_ms;
	struct attach_set *attach; /* set once by main; other threads use node_attach_set */
	struct live_publisher publisher;
};

/* The attach set for the HTTP thread: NULL until main has attached (the server starts
 * first, so that a busy port leaves no interface touched). */
static inline const struct attach_set *node_attach_set(const struct node_ctx *ctx)
{
	return __atomic_load_n(&ctx->attach, __ATOMIC_ACQUIRE);
}

#endif
