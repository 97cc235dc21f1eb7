/* live.h - the collector's cluster-wide live view: for every node, the counters of its
 * latest batch (totals, loss ledger, rates from its last two batches), and the
 * connections of the nodes' latest windows that were active in the last
 * --connection-timeout seconds, summed per connection key (node, protocol, addresses,
 * ports). Fed by the ingest writer thread after each commit; read by the HTTP thread.
 *
 * Bounded: at most max_conns connections and max_nodes nodes; records and batches over
 * that are counted (live_view_counts), not stored.
 *
 * Threads: the ingest writer thread is the only writer (live_view_add); readers (the
 * HTTP thread) copy what they need out under the view's mutex, never holding pointers
 * into it. */
#ifndef AYAFLOW_COLLECTOR_LIVE_H
#define AYAFLOW_COLLECTOR_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define LIVE_CONNECTED_MIN_MS 30000 /* connected: a batch within this or 3 windows */

struct live_view;

/* timeout_ms: connections whose last packet is older than this leave the view. NULL
 * with errno set on failure. */
struct live_view *live_view_new(size_t max_conns, size_t max_nodes, uint64_t timeout_ms);
void live_view_free(struct live_view *v);

/* Adds a stored (committed, not duplicate) batch received at now_ms (collector clock).
 * Writer thread only. */
void live_view_add(struct live_view *v, const struct wire_batch *b, uint64_t now_ms);

struct live_node_info;

/* Seeds a node known from the store before any batch of this run (a restart): its
 * latest totals and ledger, not connected until its next batch. Before ingest starts. */
void live_view_restore_node(struct live_view *v, const struct live_node_info *info);

/* A node as the view knows it (a copy). */
struct live_node_info {
	char name[WIRE_NAME_MAX + 1];
	char boot_id[WIRE_BOOT_ID_MAX + 1];
	char agent_version[WIRE_VERSION_MAX + 1];
	uint64_t total_packets; /* cumulative, from its latest batch */
	uint64_t total_bytes;
	uint64_t active_connections;
	uint64_t lost[WIRE_LOSS_MAX];
	double packets_per_second; /* between its last two batches of the same boot */
	double bytes_per_second;
	uint64_t last_seen_ms;	   /* window end of its latest batch (node clock) */
	uint64_t last_received_ms; /* when that batch arrived (collector clock) */
	uint64_t batches;	   /* batches added since the collector started */
	bool connected;		   /* a batch within 3 of its windows or LIVE_CONNECTED_MIN_MS */
};

/* Copies every node, ordered by name: *out (malloc'd, free()) and *n; NULL and 0 when
 * there is none. 0 or -ENOMEM. */
int live_view_nodes(struct live_view *v, uint64_t now_ms, struct live_node_info **out, size_t *n);

/* One live connection (a copy), summed over the windows it was seen in. */
struct live_conn_info {
	char node[WIRE_NAME_MAX + 1];
	char interface[WIRE_IFNAME_MAX];
	char domain[WIRE_NAME_MAX + 1];	      /* "" when unknown */
	char src_hostname[WIRE_NAME_MAX + 1]; /* reverse DNS; "" when unknown */
	char dst_hostname[WIRE_NAME_MAX + 1];
	uint8_t src_addr[16];
	uint8_t dst_addr[16];
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto;
	uint8_t ip_version;
	uint32_t tcp_flags;
	uint64_t packets_sent;
	uint64_t packets_received;
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t first_seen_ms;
	uint64_t last_seen_ms;
};

/* The top `limit` connections by packets (both ways), of one node (node != NULL) or of
 * all: *out (malloc'd, free()) and *n, most packets first. 0 or -ENOMEM. */
int live_view_top(struct live_view *v, const char *node, size_t limit, uint64_t now_ms,
		  struct live_conn_info **out, size_t *n);

struct live_view_counts {
	uint64_t connections; /* in the view now */
	uint64_t nodes;
	uint64_t conns_over; /* records not added: the view was full */
	uint64_t nodes_over; /* batches not added: too many nodes */
};

void live_view_counts(struct live_view *v, struct live_view_counts *out);

#endif
